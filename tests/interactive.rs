//! `[run] stdin = "app"`: apps that read the terminal, draw full-screen frames and take Ctrl-C,
//! across restarts, on a real pseudo-terminal; and piped stdin without one.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::tty::{Events, Tty};
use crate::support::*;

const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/interactive.py");

/// A project whose app is `interactive.py MODE`, reading the terminal; `build` fails on a
/// version.txt that says "bad".
fn project(mode: &str) -> Project {
    let project = Project::new();
    project.write("src/version.txt", "1\n");
    project.write(
        ".hot.toml",
        &format!(
            "[run]\ncmd = \"python3 -u {APP} {mode}\"\nstdin = \"app\"\nstop_timeout_ms = 5000\n\
             [build]\ncmd = \"! grep -q bad src/version.txt\"\n\
             [watch]\npaths = [\"src\"]\n"
        ),
    );
    project
}

/// Whether process `pid` still exists (a zombie counts as gone).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn pid(event: &serde_json::Value) -> u64 {
    event["pid"].as_u64().expect("pid")
}

#[test]
fn an_app_reads_what_is_typed_before_and_after_a_restart() {
    let project = project("reader");
    let mut tty = Tty::start_with(&project, 120, &[], Events::Piped);
    let first = pid(&tty.hot.wait("start"));
    let at = tty.wait_text(0, "ready 1 tty=True");
    // A line typed in two pieces, with a pause, is still one line for the app.
    tty.press("hel");
    tty.press("lo\r");
    let at = tty.wait_text(at, "got 1: hello");
    project.write("src/version.txt", "2\n");
    let second = pid(&tty.hot.wait("start"));
    assert_ne!(first, second);
    let at = tty.wait_text(at, "ready 2 tty=True");
    tty.press("again\r");
    tty.wait_text(at, "got 2: again");
    // The prefix then `r` is hot's: a rebuild, and nothing typed reaches the app.
    tty.press("\x14r");
    let change = tty.hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!([]),
        "a requested rebuild"
    );
    let third = pid(&tty.hot.wait("start"));
    // The prefix twice types it once.
    let at = tty.wait_text(at, "ready 2 tty=True");
    tty.press("a\x14\x14b\r");
    tty.wait_text(at, "got 2: a\x14b");
    // And the prefix then `q` stops hot, and the app with it.
    tty.press("\x14q");
    let status = tty.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", tty.hot.transcript());
    for pid in [first, second, third] {
        assert!(!alive(pid), "app {pid} outlived hot");
    }
}

/// What is typed while no app runs (the last one ended, the next is not started) waits for
/// the next one; a resize of the real terminal reaches the app's.
#[test]
fn typed_ahead_keys_reach_the_next_app_and_resizes_the_current_one() {
    let project = project("file");
    project.write("src/mode.txt", "interrupt\n");
    let mut tty = Tty::start_with(&project, 120, &[], Events::Piped);
    tty.hot.wait("start");
    let at = tty.wait_text(0, "ready 1");
    tty.resize(77);
    let at = tty.wait_text(at, "size 77x40");
    tty.press("\x03");
    tty.hot.wait("exit");
    // No app runs now.
    tty.press("typed ");
    tty.press("early\r");
    project.write("src/mode.txt", "reader\n");
    tty.hot.wait("start");
    tty.wait_text(at, "got 1: typed early");
    tty.press("\x14q");
    assert_eq!(tty.wait_exit().code(), Some(0), "{}", tty.hot.transcript());
}

/// hot killed outright (SIGKILL) while an app has the terminal: the app goes too.
#[test]
fn a_killed_hot_leaves_no_app_on_a_terminal_behind() {
    let project = project("stubborn");
    let mut tty = Tty::start_with(&project, 120, &[], Events::Piped);
    let app = pid(&tty.hot.wait("start"));
    tty.wait_text(0, "ready 1");
    tty.hot.signal(libc::SIGKILL);
    tty.wait_exit();
    wait_until("the app is gone", || !alive(app));
}

#[test]
fn a_full_screen_app_killed_by_a_rebuild_leaves_the_terminal_as_it_was() {
    let project = project("screen");
    let mut tty = Tty::start_with(&project, 120, &[], Events::Piped);
    tty.hot.wait("start");
    let at = tty.wait_text(0, "ready 1");
    let first_app_settings = app_settings(&tty, 0);
    let at = tty.wait_text(at, "frame 1");
    // The app switched its own terminal to raw mode; hot's stays as hot keeps it.
    let while_drawing = tty.stty();
    project.write("src/version.txt", "2\n");
    tty.hot.wait("start");
    let next = tty.wait_text(at, "ready 2");
    // Between the dead app's frame and the next app, everything it left on is undone.
    let between = String::from_utf8_lossy(&tty.raw()[at..next]).into_owned();
    for undo in ["\x1b[?1049l", "\x1b[?25h", "\x1b[?1000l"] {
        assert!(
            between.contains(undo),
            "{undo:?} missing after the killed app: {between:?}"
        );
    }
    assert_eq!(tty.stty(), while_drawing, "the terminal's settings changed");
    assert_eq!(
        app_settings(&tty, at),
        first_app_settings,
        "the next app's terminal does not start as the first one's did"
    );
    let drawn = tty.wait_text(next, "frame 2");
    tty.press("\x14q");
    assert_eq!(tty.wait_exit().code(), Some(0), "{}", tty.hot.transcript());
    // hot quit while the app drew: its screen is undone too, and the settings are the user's.
    let after = String::from_utf8_lossy(&tty.raw()[drawn..]).into_owned();
    assert!(after.contains("\x1b[?1049l"), "{after:?}");
    assert_eq!(tty.stty(), tty.before, "hot left the terminal changed");
    assert_ne!(while_drawing, tty.before, "hot relays in raw mode");
}

/// The settings (`stty -g`) the app printed at its start, the first time after byte `from`.
fn app_settings(tty: &Tty, from: usize) -> String {
    let raw = tty.raw();
    let text = String::from_utf8_lossy(&raw[from..]);
    let at = text.find("stty=").expect("the app printed its settings") + 5;
    text[at..]
        .split(['\r', '\n'])
        .next()
        .expect("a line")
        .to_owned()
}

/// While the app draws a full-screen frame, hot's lines wait: a failed build rings the bell and
/// is told once the app gives the screen back.
#[test]
fn hots_lines_wait_while_the_app_draws_and_a_failed_build_rings() {
    let project = project("screen");
    let mut tty = Tty::start(&project, 200);
    let at = tty.wait_text(0, "frame 1");
    project.write("src/version.txt", "bad\n");
    let rang = tty.wait_text(at, "\x07");
    let shown = String::from_utf8_lossy(&tty.raw()[at..]).into_owned();
    assert!(
        !shown.contains("build failed"),
        "hot wrote into the app's frame: {shown:?}"
    );
    tty.press("x");
    let left = tty.wait_text(rang, "\x1b[?1049l");
    let told = tty.wait_text(rang, "build failed");
    assert!(
        told > left,
        "the failure was told before the app left its screen"
    );
    tty.press("\x14q");
    assert_eq!(tty.wait_exit().code(), Some(0));
}

/// `--json` events are for a program reading the terminal's lines (an IDE, a test): they come
/// as they happen, frame or not.
#[test]
fn json_events_are_never_held_for_a_frame() {
    let project = project("screen");
    let mut tty = Tty::start_with(&project, 200, &["--json"], Events::OnTheTerminal);
    let at = tty.wait_text(0, "frame 1");
    project.write("src/version.txt", "bad\n");
    tty.wait_text(at, "{\"event\":\"build_failed\"");
    tty.press("\x14q");
    assert_eq!(tty.wait_exit().code(), Some(0));
}

/// A line editor at its prompt reads keys one by one too, but draws no frame: hot's lines are
/// shown as they come, on a line of their own.
#[test]
fn hots_lines_show_beside_a_prompt_that_reads_keys() {
    let project = project("prompt");
    let mut tty = Tty::start(&project, 200);
    let at = tty.wait_text(0, "prompt 1> ");
    tty.press("ab");
    let at = tty.wait_text(at, "ab");
    project.write("src/version.txt", "bad\n");
    let told = tty.wait_text(at, "build failed");
    let shown = String::from_utf8_lossy(&tty.raw()[at..told]).into_owned();
    assert!(
        shown.contains("\r\n"),
        "not on a line of its own: {shown:?}"
    );
    tty.press("\x14q");
    assert_eq!(tty.wait_exit().code(), Some(0));
}

#[test]
fn ctrl_c_is_the_apps_and_hot_restarts_it_on_the_next_save() {
    let project = project("interrupt");
    let mut tty = Tty::start_with(&project, 120, &[], Events::Piped);
    let first = pid(&tty.hot.wait("start"));
    let at = tty.wait_text(0, "ready 1");
    tty.press("\x03");
    let at = tty.wait_text(at, "interrupted 1");
    let exit = tty.hot.wait("exit");
    assert_eq!((pid(&exit), exit["code"].as_i64()), (first, Some(0)));
    project.write("src/version.txt", "2\n");
    tty.hot.wait("start");
    tty.wait_text(at, "ready 2");
    tty.press("\x14q");
    assert_eq!(tty.wait_exit().code(), Some(0), "{}", tty.hot.transcript());
}

#[test]
fn ctrl_c_twice_stops_hot_whatever_the_app_does() {
    let project = project("stubborn");
    let mut tty = Tty::start_with(&project, 120, &[], Events::Piped);
    let app = pid(&tty.hot.wait("start"));
    let at = tty.wait_text(0, "ready 1");
    tty.press("\x03");
    tty.wait_text(at, "ignored 1");
    // The second within a second of the first: the one before it may have been typed long ago.
    tty.press("\x03\x03");
    let status = tty.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", tty.hot.transcript());
    assert!(!alive(app), "the app outlived hot");
}

#[test]
fn without_a_terminal_piped_stdin_reaches_the_app_and_its_end_too() {
    let project = project("reader");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
    cmd.arg("--json").current_dir(&project.dir);
    let mut hot = Hot::spawn_with_stdin(cmd);
    hot.wait("start");
    wait_until("the app started", || {
        hot.transcript().contains("ready 1 tty=False")
    });
    let mut stdin = hot.take_stdin();
    stdin.write_all(b"first line\n").expect("write");
    stdin.flush().expect("flush");
    wait_until("the app read the line", || {
        hot.transcript().contains("got 1: first line")
    });
    drop(stdin);
    wait_until("the app read the end", || {
        hot.transcript().contains("eof 1")
    });
    hot.wait("exit");
}

#[test]
fn two_apps_cannot_both_read_the_terminal() {
    let project = Project::new();
    project.write(
        ".hot.toml",
        "[run]\ncmd = \"sleep 100\"\nstdin = \"app\"\n[apps.api]\n[apps.cli]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_hot"))
        .arg("--once")
        .current_dir(&project.dir)
        .stdin(Stdio::null())
        .output()
        .expect("run hot");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("api and cli both set [run] stdin = \"app\""),
        "{text}"
    );
}
