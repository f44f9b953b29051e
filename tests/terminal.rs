//! hot on a terminal of its own (a pseudo-terminal it has as its controlling terminal, as in a
//! terminal emulator): the live status line of a session of several apps.

use crate::support::tty::Tty;
use crate::support::*;

/// The spinner's frames: a status line starts with one.
const FRAMES: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

fn is_frame(line: &str) -> bool {
    line.chars().next().is_some_and(|c| FRAMES.contains(c))
}

/// Two apps build at once: the status line shows both, and when one build ends it goes on
/// showing the other's (it used to vanish with the first build to end). On a narrow terminal
/// the line is cut to its width instead of wrapping (a wrapped line cannot be erased). `1`
/// rebuilds the first app alone; `q` quits cleanly.
#[test]
fn the_status_line_shows_every_build_in_progress_until_its_own_end() {
    let project = Project::new();
    // Each build waits for a token file the test hands it, and uses it up.
    let build = |app: &str| {
        format!(
            "while [ ! -e tmp/go-{app} ]; do sleep 0.02; done; rm tmp/go-{app}; echo built {app}"
        )
    };
    project.write("src/api/a.txt", "1");
    project.write("src/web/w.txt", "1");
    project.write("tmp/.keep", "");
    project.write(
        ".hot.toml",
        &format!(
            "[run]\ncmd = \"sleep 1000\"\nstop_timeout_ms = 5000\n\
             [apps.api]\nlisten = [\"127.0.0.1:0\"]\nwatch.paths = [\"src/api\"]\nbuild.cmd = {:?}\n\
             [apps.web]\nlisten = [\"127.0.0.1:0\"]\nwatch.paths = [\"src/web\"]\nbuild.cmd = {:?}\n",
            build("api"),
            build("web")
        ),
    );
    let mut tty = Tty::start(&project, 200);
    let both = tty.wait_line(0, "a status line with both builds", |l| {
        is_frame(l) && l.contains("api: building") && l.contains("web: building")
    });
    project.write("tmp/go-api", "");
    let api_up = tty.wait_line(both, "api started", |l| {
        l.starts_with("hot: api") && l.contains("app started")
    });
    // After api's build ended, the line is web's alone, and still drawn.
    let after = tty.wait_line(api_up, "web's status after api's build ended", is_frame);
    let lines = tty.lines();
    assert!(
        lines[after].contains("web: building") && !lines[after].contains("api:"),
        "{}",
        lines[after]
    );
    project.write("tmp/go-web", "");
    let web_up = tty.wait_line(after, "web started", |l| {
        l.starts_with("hot: web") && l.contains("app started")
    });

    // A narrow terminal: the line is cut to fit.
    tty.resize(30);
    project.write("src/web/w.txt", "2");
    let narrow = tty.wait_line(web_up, "web's status on a narrow terminal", is_frame);
    project.write("tmp/go-web", "");
    let restarted = tty.wait_line(narrow, "web restarted", |l| {
        l.starts_with("hot: web") && l.contains("restarted")
    });
    for line in &tty.lines()[narrow..restarted] {
        if is_frame(line) {
            assert!(
                line.chars().count() <= 29,
                "a status line wider than the terminal: {line:?}"
            );
        }
    }

    // `1` rebuilds the first app alone (numbered in the file's order, as the hint says).
    assert!(
        tty.lines()
            .iter()
            .any(|l| l == "hot: keys: r rebuild all · 1 api · 2 web · c clear · q quit"),
        "{}",
        tty.lines().join("\n")
    );
    tty.resize(200);
    tty.press("1");
    let asked = tty.wait_line(restarted, "api's rebuild", |l| {
        is_frame(l) && l.contains("api: building · rebuild requested")
    });
    project.write("tmp/go-api", "");
    let api_again = tty.wait_line(asked, "api restarted", |l| {
        l.starts_with("hot: api") && l.contains("restarted")
    });
    for line in &tty.lines()[restarted + 1..api_again] {
        assert!(!line.contains("web"), "web rebuilt too: {line:?}");
    }

    // A number no app has: said so, nothing rebuilt.
    tty.press("7");
    tty.wait_line(api_again, "the answer to key 7", |l| {
        l.contains("key 7: no such app; 1–2 rebuild the apps")
    });

    tty.press("q");
    let status = tty.wait_exit();
    assert!(status.success(), "{status:?}\n{}", tty.lines().join("\n"));
}
