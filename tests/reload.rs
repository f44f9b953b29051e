//! `.hot.toml` edited while hot runs: a valid edit is applied (sockets kept unless `listen`
//! changed); an invalid one is reported and changes nothing.

use crate::support::*;

#[test]
fn valid_edit_restarts_with_the_new_config_on_the_same_socket() {
    let opts = AppOpts::default();
    let project = Project::python_app(AppOpts {
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let first = hot.wait("start")["pid"].as_u64().expect("pid");
    get_until(&addr, |b| version_of(b) == "1");

    // Same listen address, now explicit; a new variable for the app.
    let edited = AppOpts {
        listen: vec![Box::leak(addr.clone().into_boxed_str())],
        env: vec![("HOT_TEST_MARK", "reloaded")],
        ..opts
    };
    project.write(".hot.toml", &edited.toml());
    let note = hot.wait_for("note", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("reloaded"))
    });
    assert!(
        note["message"]
            .as_str()
            .is_some_and(|m| m.contains(".hot.toml")),
        "{note}"
    );
    let watching = hot.wait("watching");
    assert_eq!(Hot::addr(&watching, 0), addr, "the socket is kept");
    hot.wait_for("exit", |e| e["pid"] == first);
    let second = hot.wait("start")["pid"].as_u64().expect("pid");
    let info = project.app_info(second);
    assert_eq!(info["env"]["HOT_TEST_MARK"], "reloaded", "{info}");
    get_until(&addr, |_| true);
}

#[test]
fn invalid_edit_keeps_the_running_config_and_app() {
    let project = Project::python_app(AppOpts::default());
    let good = project.read(".hot.toml");
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let first = hot.wait("start")["pid"].as_u64().expect("pid");

    project.write(
        ".hot.toml",
        &good.replace("[run]", "[run]\nstop_timeout_ms = \"soon\""),
    );
    let warning = hot.wait("warning");
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(".hot.toml:") && message.contains("run.stop_timeout_ms"),
        "{message}"
    );
    assert!(
        message.contains("keeps the running configuration"),
        "{message}"
    );
    // Still serving, never stopped; changes still build with the old config.
    get_until(&addr, |b| version_of(b) == "1");
    project.write("src/version.txt", "2\n");
    hot.wait("build_ok");
    hot.wait_for("exit", |e| e["pid"] == first);
    hot.wait("start");
    get_until(&addr, |b| version_of(b) == "2");

    // Fixing the file applies it.
    project.write(".hot.toml", &good);
    hot.wait_for("note", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("reloaded"))
    });
}

#[test]
fn changing_listen_moves_the_socket() {
    let project = Project::python_app(AppOpts::default());
    let mut hot = Hot::start(&project, &[]);
    let old = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let new = probe.local_addr().expect("addr").to_string();
    drop(probe);
    let edited = AppOpts {
        listen: vec![Box::leak(new.clone().into_boxed_str())],
        ..AppOpts::default()
    };
    project.write(".hot.toml", &edited.toml());
    let watching = hot.wait("watching");
    assert_eq!(Hot::addr(&watching, 0), new);
    hot.wait("start");
    get_until(&new, |b| version_of(b) == "1");
    assert_eq!(get(&old), Reply::Refused, "the old address is closed");
}
