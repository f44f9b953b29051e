//! hot's own surfaces answer only hot's own hosts: a page of another site whose name resolves to
//! 127.0.0.1 (DNS rebinding) gets no build output, no token and no editor from hot.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::browser::web_project;
use crate::support::*;

/// Sends `request` as is on a fresh connection; the status and the body.
fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(addr: &str, path: &str, host: &str) -> (u16, String) {
    raw(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
        ),
    )
}

fn open(addr: &str, host: &str, origin: Option<&str>, body: &str) -> (u16, String) {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    raw(
        addr,
        &format!(
            "POST /__hot/open HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// A session whose build failed (the failure view holds the build's output and the token),
/// behind the proxy with live reload, allowing one custom name.
fn failing() -> (Project, Hot, String) {
    let project = web_project(
        "grep -qx ok src/status || { echo 'main.go:3:7: SECRET_IN_OUTPUT' >&2; exit 2; }; cp src/version.txt tmp/version.txt",
        &[],
        "",
        "[proxy]\nenabled = true\nallowed_hosts = [\"myapp.test\"]\n[browser]\nreload = true",
    );
    project.write("src/status", "broken\n");
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("build_failed");
    (project, hot, addr)
}

#[test]
fn a_foreign_host_gets_neither_the_failure_view_nor_the_event_stream() {
    let (_project, hot, addr) = failing();
    let port = addr.rsplit_once(':').map(|(_, p)| p).unwrap_or("0");
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("localhost.evil.example:{port}"),
        format!("10.255.255.1:{port}"),
        String::new(),
    ] {
        for path in ["/", "/__hot/events", "/__hot/client.js", "/any/page"] {
            let (status, body) = get(&addr, path, &host);
            assert_eq!(
                status,
                403,
                "{path} for Host {host:?} at {addr}: {}\n{}",
                &body[..body.len().min(200)],
                hot.transcript()
            );
            assert!(
                !body.contains("SECRET_IN_OUTPUT") && !body.contains("data-token"),
                "{path} leaked to {host:?}: {body}\n{}",
                hot.transcript()
            );
            assert!(body.contains("allowed_hosts"), "{body}");
        }
    }
    for host in [
        addr.clone(),
        format!("localhost:{port}"),
        format!("app.localhost:{port}"),
        format!("[::1]:{port}"),
        format!("myapp.test:{port}"),
    ] {
        let (status, body) = get(&addr, "/", &host);
        assert_eq!(status, 503, "Host {host:?}: {body}");
        assert!(body.contains("SECRET_IN_OUTPUT"), "{body}");
        let (status, _) = get(&addr, "/__hot/client.js", &host);
        assert_eq!(status, 200, "Host {host:?}");
    }
}

#[test]
fn only_hots_own_page_may_open_files() {
    let (_project, hot, addr) = failing();
    let port = addr.rsplit_once(':').map(|(_, p)| p).unwrap_or("0");
    let (_, page) = get(&addr, "/", &addr);
    let token = page
        .split("data-token=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the failure view carries a token")
        .to_owned();
    // A target outside the project: an allowed request gets past the host and token checks
    // and is refused for that alone (so no editor starts in this test).
    let body = format!("{{\"token\":\"{token}\",\"target\":\"/etc/passwd:1\"}}");
    let own = format!("http://localhost:{port}");
    let evil = format!("http://evil.example:{port}");
    let cases = [
        // (Host, Origin, refused for its host)
        (format!("evil.example:{port}"), Some(evil.clone()), true),
        (format!("localhost:{port}"), Some(evil.clone()), true),
        (format!("localhost:{port}"), None, true),
        (format!("localhost:{port}"), Some("null".to_owned()), true),
        (format!("localhost:{port}"), Some(own.clone()), false),
    ];
    for (host, origin, refused) in cases {
        let (status, answer) = open(&addr, &host, origin.as_deref(), &body);
        assert_eq!(status, 403, "{host} {origin:?}: {answer}");
        assert_eq!(
            answer.contains("allowed_hosts"),
            refused,
            "{host} {origin:?}: {answer}\n{}",
            hot.transcript()
        );
        if !refused {
            assert!(answer.contains("not a file of the project"), "{answer}");
        }
    }
    assert_eq!(hot.count("editor"), 0);
}

/// A request of a foreign host that waits for an app while the build runs, and is answered
/// when the build fails: it gets the refusal, not the failure view.
#[test]
fn a_foreign_request_waiting_for_the_app_is_refused_when_the_build_fails() {
    let project = web_project(
        "while [ ! -f src/fail ]; do sleep 0.02; done; echo 'main.go:3:7: SECRET_IN_OUTPUT' >&2; exit 2",
        &[],
        "",
        "[proxy]\nenabled = true",
    );
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("build_start");
    let port = addr
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    let waiting = {
        let addr = addr.clone();
        std::thread::spawn(move || get(&addr, "/", &format!("evil.example:{port}")))
    };
    // The request usually reaches hot first and waits there for the app; if the failure comes
    // first, it is refused at once. Either way the answer must be the refusal.
    project.write("src/fail", "");
    hot.wait("build_failed");
    let (status, body) = waiting.join().expect("client");
    assert_eq!(status, 403, "{body}\n{}", hot.transcript());
    assert!(!body.contains("SECRET_IN_OUTPUT"), "{body}");
}
