//! Saves as programs really write them: in several calls, with pauses, held open. Every save
//! is built exactly once, never half-written, and none is ever lost.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::thread;
use std::time::Duration;

use crate::support::*;

/// A project whose build fails on a half-written `src/main.txt` (no `end` line yet) and keeps
/// a log of every complete file it built.
fn strict_build() -> Project {
    let project = Project::python_app(AppOpts {
        build: "grep -qx end src/main.txt || { echo 'half-written main.txt' >&2; exit 1; }; \
                cat src/main.txt >> tmp/built.log",
        ..AppOpts::default()
    });
    project.write("src/main.txt", "0\nend\n");
    project
}

/// Writes `content` in place the way a formatter or a descheduled editor does: one open with
/// O_TRUNC, half the bytes, a pause, the rest, close. The pause is the writer under test, not a
/// wait for hot: nothing is asserted about time, and a longer pause (a busy machine) must give
/// the same single build.
fn split_save(project: &Project, rel: &str, content: &str, pause: Duration) {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(project.path(rel))
        .expect("open for writing");
    let (first, rest) = content.split_at(content.len() / 2);
    file.write_all(first.as_bytes()).expect("first half");
    thread::sleep(pause);
    file.write_all(rest.as_bytes()).expect("second half");
}

#[test]
#[cfg_attr(
    feature = "portable",
    ignore = "inotify only: FSEvents, kqueue and polling cannot see a writer close a file"
)]
fn a_save_paused_half_way_is_built_once_and_only_when_complete() {
    let project = strict_build();
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("build_ok");
    let saves = 30;
    let mut expected = String::from("0\nend\n");
    for i in 1..=saves {
        let content = format!("{i}\nend\n");
        split_save(
            &project,
            "src/main.txt",
            &content,
            Duration::from_millis(300),
        );
        expected.push_str(&content);
        hot.wait("build_ok");
    }
    let transcript = hot.transcript();
    assert_eq!(
        hot.count("build_failed"),
        0,
        "a half-written file was built:\n{transcript}"
    );
    assert_eq!(hot.count("build_cancelled"), 0, "{transcript}");
    assert_eq!(
        hot.count("build_start"),
        saves + 1,
        "one build per save:\n{transcript}"
    );
    assert_eq!(
        project.read("tmp/built.log"),
        expected,
        "every save, whole, in order"
    );
}

#[test]
#[cfg_attr(
    feature = "portable",
    ignore = "inotify only: FSEvents, kqueue and polling cannot see a writer close a file"
)]
fn a_file_held_open_builds_once_at_the_cap_and_says_which() {
    let project = strict_build();
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("build_ok");
    let mut held = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(project.path("src/main.txt"))
        .expect("open");
    held.write_all(b"1\nend\n").expect("write");
    let note = hot.wait_for("note", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("still open for writing"))
    });
    assert!(
        note["message"]
            .as_str()
            .is_some_and(|m| m.contains("src/main.txt")),
        "the note names the file: {note}"
    );
    hot.wait("build_ok");
    assert_eq!(hot.count("build_start"), 2, "{}", hot.transcript());
    // Its close is a change of its own; the content is what was built, so nothing more runs.
    // A barrier proves it: the next build is for the barrier alone.
    drop(held);
    project.write("src/version.txt", "2\n");
    one_change(&mut hot, &["src/version.txt"]);
    assert_eq!(hot.count("build_start"), 3, "{}", hot.transcript());
}

/// 30 saves written in two calls each, with 0-4 ms between them: half as two opens (truncate,
/// then write: the file is empty in between), half as one open with two writes. After each,
/// the app must serve exactly what was saved: a lost save leaves it on an older version.
fn two_call_saves_are_never_lost(watch: &'static str) {
    let project = Project::python_app(AppOpts {
        watch,
        // Copy first, then take a moment: a build that started on the empty file finishes with
        // the empty file, so only a later build can serve the save.
        build: "cp src/version.txt tmp/version.txt; sleep 0.02",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");
    let path = project.path("src/version.txt");
    for i in 1..=30u64 {
        let content = format!("{i}\n");
        let gap = Duration::from_millis(i % 5);
        if i % 2 == 0 {
            fs::write(&path, "").expect("truncate");
            // The gap between the two calls is the input (0-4 ms), not a wait for hot.
            thread::sleep(gap);
            fs::write(&path, &content).expect("write");
        } else {
            split_save(&project, "src/version.txt", &content, gap);
        }
        let served = get_until_or(&addr, DEADLINE, |b| version_of(b) == i.to_string());
        assert!(
            served,
            "save {i} was never built (the app serves {:?})\n{}",
            match get(&addr) {
                Reply::Ok(body) => version_of(&body),
                other => format!("{other:?}"),
            },
            hot.transcript()
        );
    }
}

#[test]
fn two_call_saves_are_never_lost_at_debounce_zero() {
    two_call_saves_are_never_lost("paths = [\"src\"]\ndebounce_ms = 0");
}

#[test]
fn two_call_saves_are_never_lost_at_the_default_debounce() {
    two_call_saves_are_never_lost("paths = [\"src\"]");
}
