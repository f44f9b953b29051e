//! What hot's proxy sends to the app again, and what it never does: a request the app closed
//! without having read it goes to the next app, whatever its method; a POST the app read and
//! then left unanswered is never sent twice; a GET whose answer was cut short is asked again.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

use crate::support::*;

const UNREAD_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/unread.py");
const CUT_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/cut.py");

/// hot with tests/support/unread.py behind its proxy; the first app does `first`.
fn project(first: &str) -> Project {
    let project = Project::new();
    project.write("src/version.txt", "1\n");
    project.write("tmp/.keep", "");
    project.write(
        ".hot.toml",
        &format!(
            "listen = [\"127.0.0.1:0\"]\n[watch]\npaths = [\"src\"]\n[build]\n\
             cmd = \"cp src/version.txt tmp/version.txt\"\n[run]\ncmd = \"python3 {UNREAD_PY}\"\n\
             env = {{ APP_FIRST = {first:?} }}\nstop_timeout_ms = 10000\n[proxy]\nenabled = true\n"
        ),
    );
    project
}

/// POSTs `body` on a connection of its own; the whole answer.
fn post(addr: String, body: &'static str) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut stream = TcpStream::connect(&addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        write!(
            stream,
            "POST /orders HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
    })
}

/// The POST waits in an app that accepted it and never read it; hot restarts the app, which
/// closes the connection unread (reset). hot sends the POST to the next app: one answer, and
/// the request was read once, by the new app.
#[test]
fn a_post_the_stopping_app_left_unread_goes_to_the_next_app() {
    let project = project("unread");
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let first = hot.wait("start")["pid"].clone();
    let client = post(addr, "two pancakes");
    wait_until("the first app to hold the connection", || {
        project.path("tmp/accepted").exists()
    });
    project.write("src/version.txt", "2\n");
    let next = hot.wait_for("start", |e| e["pid"] != first)["pid"].clone();
    let answer = client.join().expect("client");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with(&format!("pid={next} len=12\n")),
        "{answer}\n{}",
        hot.transcript()
    );
    assert_eq!(
        project.read("tmp/requests.log"),
        format!("{next} POST /orders 12\n"),
        "read once, by the next app"
    );
}

/// The first app reads the POST, then closes the connection without answering when it is
/// stopped: it may have acted on it, so hot answers 502 and does not send it again.
#[test]
fn a_post_the_app_read_is_never_sent_twice() {
    let project = project("read");
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let first = hot.wait("start")["pid"].clone();
    let client = post(addr, "two pancakes");
    wait_until("the first app to read the request", || {
        project.path("tmp/accepted").exists()
    });
    project.write("src/version.txt", "2\n");
    hot.wait_for("start", |e| e["pid"] != first);
    let answer = client.join().expect("client");
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert_eq!(
        project.read("tmp/requests.log"),
        format!("{first} POST /orders 12\n"),
        "read once, by the first app, and not sent again"
    );
}

/// The app's answer to a GET ends before its Content-Length (an app killed half-way through
/// writing it): the client never sees the cut answer; hot asks again and passes on the whole.
#[test]
fn a_get_whose_answer_was_cut_short_is_asked_again() {
    let project = Project::new();
    project.write("tmp/.keep", "");
    project.write(
        ".hot.toml",
        &format!(
            "listen = [\"127.0.0.1:0\"]\n[run]\ncmd = \"python3 {CUT_PY}\"\n[proxy]\nenabled = true\n"
        ),
    );
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("ready");
    match get(&addr) {
        Reply::Ok(body) => assert_eq!(body, "the whole answer...."),
        other => panic!("{other:?}\n{}", hot.transcript()),
    }
    assert_eq!(
        project.read("tmp/answered"),
        "2",
        "asked once more, not more"
    );
}
