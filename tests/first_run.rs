//! The first five minutes: `hot init`, zero config, `hot --once`, air migration, key flags.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Copies `fixtures/<name>` (all files, recursively) into a fresh project.
fn sample(name: &str) -> Project {
    let project = Project::new();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
        &project.dir,
    );
    project
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            if entry.file_name() != "target" && entry.file_name() != "tmp" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        || Command::new(tool)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
    !skip_without(found, &format!("`{tool}`"), "see the README")
}

/// `hot ARGS` in `dir` to completion: (exit code, everything it printed).
fn hot(dir: &Path, args: &[&str]) -> (i32, String) {
    let (status, output) = run_to_exit(dir, args);
    (status.code().unwrap_or(-1), output)
}

fn init_then_once(name: &str) {
    let project = sample(name);
    let (code, output) = hot(&project.dir, &["init"]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("wrote"), "{output}");
    assert!(project.path(".hot.toml").is_file());
    let (code, output) = hot(&project.dir, &["--once", "--listen", "127.0.0.1:0"]);
    assert_eq!(
        code, 0,
        "hot --once failed for the {name} sample:\n{output}"
    );
    assert!(output.contains("--once ok"), "{output}");
}

#[test]
fn init_then_once_python() {
    init_then_once("python");
}

#[test]
fn init_then_once_rust() {
    init_then_once("rust");
}

/// A shared cargo target directory (`CARGO_TARGET_DIR`): `hot init` asks cargo where the
/// binary will be, and `hot --once` finds it there.
#[test]
fn init_then_once_rust_with_a_shared_target_dir() {
    let project = sample("rust");
    let shared = Project::new();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
        cmd.args(args)
            .current_dir(&project.dir)
            .env("CARGO_TARGET_DIR", &shared.dir);
        let mut hot = Hot::spawn(cmd);
        let status = hot.wait_exit();
        (status.code().unwrap_or(-1), hot.transcript())
    };
    let (code, output) = run(&["init"]);
    assert_eq!(code, 0, "{output}");
    let config = project.read(".hot.toml");
    let expected = format!("cmd = \"{}/debug/hot-sample\"", shared.dir.display());
    assert!(config.contains(&expected), "{expected} in:\n{config}");
    let (code, output) = run(&["--once", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 0, "{output}");
    assert!(shared.path("debug/hot-sample").is_file());
}

#[test]
fn init_then_once_go() {
    if have("go") {
        init_then_once("go");
    }
}

/// A Go workspace (`go.work`) of two server modules and a library one of them imports:
/// `hot init` writes an app for each, and both build in workspace mode and serve.
#[test]
fn init_then_once_go_workspace() {
    if !have("go") {
        return;
    }
    let project = Project::new();
    let main_go =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/go/main.go"))
            .expect("the Go sample");
    project.write(
        "go.work",
        "go 1.19\n\nuse (\n\t./api\n\t./site // the web site\n\t./lib\n)\n",
    );
    project.write(
        "api/go.mod",
        "module example.com/api\n\ngo 1.19\n\nrequire example.com/lib v0.0.0\n",
    );
    project.write(
        "api/main.go",
        &main_go.replacen("import (", "import (\n\t_ \"example.com/lib\"", 1),
    );
    project.write("site/go.mod", "module example.com/site\n\ngo 1.19\n");
    project.write("site/cmd/web/main.go", &main_go);
    project.write("lib/go.mod", "module example.com/lib\n\ngo 1.19\n");
    project.write("lib/lib.go", "package lib\n");
    let (code, output) = hot(&project.dir, &["init"]);
    assert_eq!(code, 0, "{output}");
    let config = project.read(".hot.toml");
    assert!(
        config.contains("[apps.api]") && config.contains("[apps.web]"),
        "{config}"
    );
    let (code, output) = hot(&project.dir, &["--once", "--listen", "127.0.0.1:0"]);
    assert_eq!(
        code, 0,
        "hot --once failed for the Go workspace:\n{output}\n{config}"
    );
    assert!(project.path("tmp/api").is_file() && project.path("tmp/web").is_file());
}

#[test]
fn init_then_once_node() {
    if have("node") {
        init_then_once("node");
    }
}

/// A Rack app: `hot init` writes a puma command that takes hot's socket.
#[test]
fn init_then_once_ruby() {
    if have("puma") {
        init_then_once("ruby");
    }
}

#[test]
fn init_never_overwrites_without_force_and_can_print() {
    let project = sample("python");
    project.write(".hot.toml", "# mine\n");
    let (code, output) = hot(&project.dir, &["init"]);
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("already exists"), "{output}");
    assert_eq!(
        project.read(".hot.toml"),
        "# mine\n",
        "the existing file was touched"
    );
    let (code, output) = hot(&project.dir, &["init", "--stdout"]);
    assert_eq!(code, 0);
    assert!(output.contains("python3 app.py"), "{output}");
    assert_eq!(project.read(".hot.toml"), "# mine\n");
    let (code, _) = hot(&project.dir, &["init", "--force"]);
    assert_eq!(code, 0);
    assert!(
        project
            .read(".hot.toml")
            .contains("listen = [\"127.0.0.1:8080\"]")
    );
}

#[test]
fn init_for_an_unknown_project_writes_todos() {
    let project = Project::new();
    let (code, output) = hot(&project.dir, &["init"]);
    assert_eq!(code, 0, "{output}");
    assert!(project.read(".hot.toml").contains("TODO"));
}

#[test]
fn air_config_translates_and_runs_the_rust_sample() {
    let project = sample("rust");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/air"),
        &project.dir,
    );
    let (code, output) = hot(&project.dir, &["init"]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("translated"), "{output}");
    for dropped in ["post_cmd", "stop_on_error"] {
        assert!(
            output.contains(dropped),
            "{dropped} not reported as dropped:\n{output}"
        );
    }
    // They only change air's own output or its tmp dir: not worth a line.
    for noise in ["clean_on_exit", "keep_scroll", "build-errors.log"] {
        assert!(!output.contains(noise), "{noise} is noise:\n{output}");
    }
    let config = project.read(".hot.toml");
    assert!(
        config.contains("cmd = \"echo pre && cargo build\""),
        "{config}"
    );
    assert!(config.contains("SAMPLE_MODE = \"air\""), "{config}");
    assert!(config.contains("env_files = [\".env\"]"), "{config}");
    assert!(
        config.contains("listen = [\"127.0.0.1:8080\"]"),
        "the sample takes fd 3, so listen is on:\n{config}"
    );
    let (code, output) = hot(&project.dir, &["--once", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 0, "{output}");
}

#[test]
fn once_exit_codes() {
    let cases: [(&str, &str, i32, &str); 4] = [
        ("good app", "", 0, "--once ok"),
        (
            "broken build",
            "--build.cmd=exit 7",
            1,
            "build exited with code 7",
        ),
        (
            "crashes at start",
            "--run.cmd=sh -c 'echo boom >&2; exit 1'",
            3,
            "exited with code 1",
        ),
        (
            "never answers",
            "--run.cmd=sleep 60",
            3,
            "no HTTP answer below 500 for GET / on 127.0.0.1:",
        ),
    ];
    for (what, flag, expected, message) in cases {
        let project = Project::python_app(AppOpts {
            run: "[once]\ntimeout_ms = 1500",
            ..AppOpts::default()
        });
        let mut args = vec!["--once"];
        if !flag.is_empty() {
            args.push(flag);
        }
        let (code, output) = hot(&project.dir, &args);
        assert_eq!(code, expected, "{what}:\n{output}");
        assert!(
            output.contains(message),
            "{what}: expected {message:?} in:\n{output}"
        );
    }
    let project = Project::new();
    project.write(".hot.toml", "[run]\ncmd = 5\n");
    assert_eq!(hot(&project.dir, &["--once"]).0, 2);
}

#[test]
fn once_without_listen_settles_or_accepts_a_clean_exit() {
    let project = Project::new();
    project.write(
        ".hot.toml",
        "[run]\ncmd = \"sleep 30\"\n[once]\nsettle_ms = 200\n",
    );
    let (code, output) = hot(&project.dir, &["--once"]);
    assert_eq!(code, 0, "{output}");
    let (code, output) = hot(&project.dir, &["--once", "--run.cmd", "true"]);
    assert_eq!(code, 0, "{output}");
    let (code, output) = hot(&project.dir, &["--once", "--run.cmd", "false"]);
    assert_eq!(code, 3, "{output}");
}

#[test]
fn flags_beat_environment_beat_file() {
    let project = Project::python_app(AppOpts {
        build: "exit 9",
        ..AppOpts::default()
    });
    // The file's build fails; the variable fixes it; a flag breaks it again.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
    cmd.args(["--once"])
        .current_dir(&project.dir)
        .env("HOT_BUILD_CMD", "cp src/version.txt tmp/version.txt");
    let mut run = Hot::spawn(cmd);
    assert_eq!(run.wait_exit().code(), Some(0), "{}", run.transcript());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
    cmd.args(["--once", "--build.cmd", "exit 4"])
        .current_dir(&project.dir)
        .env("HOT_BUILD_CMD", "true");
    let mut run = Hot::spawn(cmd);
    assert_eq!(run.wait_exit().code(), Some(1), "{}", run.transcript());
    assert!(run.transcript().contains("code 4"));
    // A bad flag value names the flag.
    let (code, output) = hot(&project.dir, &["--once", "--watch.debounce_ms", "soon"]);
    assert_eq!(code, 2);
    assert!(output.contains("--watch.debounce_ms"), "{output}");
    let (code, output) = hot(&project.dir, &["--once", "--build.cmdd", "x"]);
    assert_eq!(code, 2);
    assert!(output.contains("unknown flag --build.cmdd"), "{output}");
}

#[test]
fn zero_config_uses_the_detected_defaults_and_says_so() {
    let project = sample("python");
    let (code, output) = hot(&project.dir, &["--once", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("no .hot.toml: using Python defaults; `hot init` writes them out"),
        "{output}"
    );
    assert!(
        !project.path(".hot.toml").exists(),
        "zero config must not write files"
    );

    let empty = Project::new();
    let (code, output) = hot(&empty.dir, &[]);
    assert_eq!(code, 2);
    assert!(output.contains("hot init"), "{output}");
}

#[test]
fn once_in_ci_prints_no_terminal_sequences() {
    let project = Project::python_app(AppOpts::default());
    let (code, output) = hot(&project.dir, &["--once"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        !output.contains('\u{1b}'),
        "escape sequences in CI output:\n{output:?}"
    );
}

#[test]
fn keys_rebuild_and_quit_and_the_terminal_is_restored() {
    let project = Project::python_app(AppOpts::default());
    let Some(mut hot) = Hot::start_on_tty(&project, "") else {
        return;
    };
    hot.wait("watching");
    hot.wait("start");
    hot.press("r");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!([]),
        "a manual rebuild has no changed paths"
    );
    hot.wait("build_ok");
    hot.wait("start");
    hot.press("q");
    hot.wait_for("stop", |e| e["reason"] == "shutdown");
    wait_until("hot to quit with status 0", || {
        hot.transcript().contains("hot-exit=0")
    });
    wait_until("stty output", || hot.transcript().contains("icanon"));
    let transcript = hot.transcript();
    let stty = &transcript[transcript.find("hot-exit=0").expect("exit line")..];
    assert!(
        !stty.contains("-icanon") && !stty.contains("-echo "),
        "terminal left in cbreak mode:\n{stty}"
    );
}

#[test]
fn the_build_is_asked_for_colour_and_hot_removes_it_where_no_terminal_shows_it() {
    // The build reports what it was given, then fails in colour as rustc does.
    let project = Project::python_app(AppOpts {
        build: "echo \"vars=$CARGO_TERM_COLOR/$FORCE_COLOR/$CLICOLOR_FORCE\"; \
                printf '\\033[1;31merror\\033[0m: broken\\n' >&2; exit 1",
        ..AppOpts::default()
    });
    for args in [&["--once"][..], &["--once", "--json"]] {
        let (code, output) = hot(&project.dir, args);
        assert_eq!(code, 1, "{output}");
        assert!(output.contains("vars=always/1/1"), "{output}");
        assert!(output.contains("error: broken"), "{output}");
        assert!(
            !output.contains('\u{1b}'),
            "{args:?}: escape sequences left:\n{output:?}"
        );
    }
    // NO_COLOR: not asked for at all.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
    cmd.arg("--once")
        .current_dir(&project.dir)
        .env("NO_COLOR", "1");
    let mut run = Hot::spawn(cmd);
    assert_eq!(run.wait_exit().code(), Some(1));
    assert!(run.transcript().contains("vars=//"), "{}", run.transcript());
}
