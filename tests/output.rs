//! What hot prints stays machine-readable whatever the app prints.

use std::process::{Command, Stdio};

use crate::support::*;

const PARTIAL_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/partial.py");

fn partial_project() -> Project {
    let project = Project::new();
    project.write("src/version.txt", "1\n");
    project.write(
        ".hot.toml",
        &format!(
            "[watch]\npaths = [\"src\"]\n[build]\ncmd = \"cp src/version.txt tmp/version.txt\"\n\
             [run]\ncmd = \"python3 {PARTIAL_PY}\"\n"
        ),
    );
    project
}

/// Restarts the app twice while it has partial lines out, then checks every line of `hot`'s
/// output: an event is a whole line, never the tail of an app's line.
fn events_stay_whole_lines(mut hot: Hot, project: &Project) {
    for n in 2..=3 {
        let start = hot.wait("start");
        let pid = start["pid"].as_u64().expect("pid");
        let marker = project.path(&format!("tmp/partial-{pid}"));
        wait_until("the app's partial lines", || marker.exists());
        project.write("src/version.txt", &format!("{n}\n"));
        hot.wait("build_ok");
    }
    hot.wait("start");
    hot.signal(libc::SIGTERM);
    hot.wait_exit();
    let transcript = hot.transcript();
    let mut events = 0;
    for line in transcript.lines() {
        let line = line.strip_prefix("[stdout] ").unwrap_or(line);
        if let Some(at) = line.find("{\"event\"") {
            assert_eq!(
                at, 0,
                "an event glued onto app output: {line:?}\n{transcript}"
            );
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("not one JSON event ({e}): {line:?}"));
            events += 1;
        }
    }
    assert!(events >= 10, "{transcript}");
    // The app's text is all there, only ended where an event had to go.
    assert!(transcript.contains("partial err line"), "{transcript}");
    assert!(
        transcript.contains("...rest of the err line"),
        "{transcript}"
    );
    assert!(transcript.contains("partial out line"), "{transcript}");
}

#[test]
fn json_events_are_never_glued_onto_an_apps_partial_line() {
    let project = partial_project();
    let hot = Hot::start(&project, &[]);
    events_stay_whole_lines(hot, &project);
}

/// The same when stdout and stderr are one file (`2>&1`, an IDE's run panel).
#[test]
fn json_events_stay_whole_lines_when_stdout_and_stderr_are_one_file() {
    let project = partial_project();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "exec \"$0\" --json 2>&1", env!("CARGO_BIN_EXE_hot")])
        .current_dir(&project.dir)
        .stderr(Stdio::piped());
    let hot = Hot::spawn_merged(cmd);
    events_stay_whole_lines(hot, &project);
}
