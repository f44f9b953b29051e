//! Bad configuration: a specific message naming file, key and line:column, and exit status 2.

use std::net::TcpListener;

use crate::support::*;

fn fails_with(config: &str, expected: &[&str]) {
    let project = Project::new();
    project.write(".hot.toml", config);
    let (status, output) = run_to_exit(&project.dir, &[]);
    assert_eq!(
        status.code(),
        Some(2),
        "config:\n{config}\noutput:\n{output}"
    );
    for needle in expected {
        assert!(output.contains(needle), "expected {needle:?} in:\n{output}");
    }
    assert!(!output.contains("panicked"), "{output}");
}

#[test]
fn unknown_key() {
    fails_with(
        "[run]\ncmd = \"x\"\n[build]\ncmdd = \"go build\"\n",
        &[".hot.toml:4:1", "build.cmdd", "unknown field"],
    );
}

#[test]
fn wrong_type() {
    fails_with(
        "[run]\ncmd = \"x\"\nstop_timeout_ms = \"soon\"\n",
        &[".hot.toml:3:19", "run.stop_timeout_ms", "invalid type"],
    );
}

#[test]
fn bad_glob() {
    fails_with(
        "[run]\ncmd = \"x\"\n[watch]\nexclude = [\"a[b\"]\n",
        &[".hot.toml:4:12", "watch.exclude", "bad glob"],
    );
}

#[test]
fn bad_address() {
    fails_with(
        "listen = [\"localhost\"]\n[run]\ncmd = \"x\"\n",
        &[".hot.toml:1:11", "listen[0]", "HOST:PORT"],
    );
}

#[test]
fn bad_signal() {
    fails_with(
        "[run]\ncmd = \"x\"\nstop_signal = \"SIGNOPE\"\n",
        &[".hot.toml:3:15", "run.stop_signal"],
    );
}

#[test]
fn toml_syntax_error() {
    fails_with("[run]\ncmd = \"x\n", &[".hot.toml:2:"]);
}

/// A watched path that does not exist yet is a warning, and is watched once it appears.
#[test]
fn missing_watch_path_is_watched_once_it_appears() {
    let project = Project::python_app(AppOpts {
        watch: "paths = [\"src\", \"gen\"]",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let warning = hot.wait("warning");
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`watch.paths`: \"gen\" does not exist yet"),
        "{message}"
    );
    hot.wait("start");
    project.write("gen/api.go", "package gen\n");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!(["gen/api.go"]),
        "{}",
        hot.transcript()
    );
    project.write("gen/api.go", "package gen // 2\n");
    let change = hot.wait("change");
    assert_eq!(change["paths"], serde_json::json!(["gen/api.go"]));
}

#[test]
fn missing_config_files() {
    let project = Project::new();
    let (status, output) = run_to_exit(&project.dir, &[]);
    assert_eq!(status.code(), Some(2));
    assert!(output.contains("no .hot.toml in"), "{output}");
    let (status, output) = run_to_exit(&project.dir, &["-c", "other.toml"]);
    assert_eq!(status.code(), Some(2));
    assert!(output.contains("other.toml not found"), "{output}");
}

#[test]
fn port_in_use_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    fails_with(
        &format!("listen = [{addr:?}]\n[run]\ncmd = \"x\"\n"),
        &[&addr, "already in use"],
    );
}

#[test]
fn unix_socket_in_a_missing_directory() {
    fails_with(
        "listen = [\"unix:nodir/app.sock\"]\n[run]\ncmd = \"x\"\n",
        &["nodir", "does not exist"],
    );
}

#[test]
fn bad_listen_flag() {
    let project = Project::new();
    project.write(".hot.toml", "[run]\ncmd = \"x\"\n");
    let (status, output) = run_to_exit(&project.dir, &["--listen", "nope"]);
    assert_eq!(status.code(), Some(2));
    assert!(output.contains("--listen: \"nope\""), "{output}");
}

#[test]
fn example_config_is_valid_for_hot_itself() {
    // .hot.toml.example must load in a project (its watch path "." exists anywhere).
    let project = Project::new();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.hot.toml.example"))
            .expect("example");
    // Point the example at a free port and a command that exists, then stop hot at once.
    let text = example
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("go build -o ./tmp/app .", "true");
    project.write(".hot.toml", &text);
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.signal(libc::SIGTERM);
    assert_eq!(hot.wait_exit().code(), Some(143));
}

#[test]
fn truncated_configs_exit_2_without_a_panic() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.hot.toml.example"))
            .expect("example");
    for cut in [40, 333, 777, 1201] {
        let cut = (0..=cut.min(example.len()))
            .rev()
            .find(|i| example.is_char_boundary(*i))
            .unwrap_or(0);
        let text = &example[..cut];
        let project = Project::new();
        project.write(".hot.toml", text);
        let (status, output) = run_to_exit(&project.dir, &[]);
        assert!(!output.contains("panicked"), "{output}");
        assert_eq!(status.code(), Some(2), "cut at {cut}:\n{output}");
    }
}
