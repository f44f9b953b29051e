//! Several apps in one session: `[apps.NAME]` tables, one hot, one watcher.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;

use crate::support::*;

/// An API and a web app (tests/support/app.py, each serving its own version file), sharing
/// `shared/`: the API watches `api/` and `shared/`, the web app `web/` and `shared/`. `extra`
/// goes at the end (more keys for an app's tables).
fn monorepo(extra: &str) -> Project {
    let p = Project::new();
    p.write("api/version.txt", "1\n");
    p.write("web/version.txt", "1\n");
    p.write("shared/lib.txt", "x\n");
    p.write(
        ".hot.toml",
        &format!(
            "[watch]\nexclude = [\"node_modules/**\"]\n\
             [run]\ncmd = \"python3 {APP_PY}\"\n\
             \n[apps.api]\nlisten = [\"127.0.0.1:0\"]\nwatch.paths = [\"api\", \"shared\"]\n\
             build.cmd = \"echo building-api; cat api/version.txt > tmp/api.txt\"\n\
             run.env = {{ APP_VERSION_FILE = \"tmp/api.txt\", APP_INFO_DIR = \"tmp/info\" }}\n\
             \n[apps.web]\nlisten = [\"127.0.0.1:0\"]\nwatch.paths = [\"web\", \"shared\"]\n\
             build.cmd = \"echo building-web; cat web/version.txt > tmp/web.txt\"\n\
             run.env = {{ APP_VERSION_FILE = \"tmp/web.txt\", APP_INFO_DIR = \"tmp/info\" }}\n\
             {extra}"
        ),
    );
    p
}

/// hot's events, by app: waits until both apps are ready and returns each one's address and
/// app pid.
fn both_ready(hot: &mut Hot) -> BTreeMap<String, (String, Value)> {
    let mut apps = BTreeMap::new();
    for _ in 0..2 {
        let watching = hot.wait("watching");
        let name = watching["app"].as_str().expect("an app name").to_owned();
        apps.insert(name, (Hot::addr(&watching, 0), Value::Null));
    }
    while apps.values().any(|(_, pid)| pid.is_null()) {
        let ready = hot.wait("ready");
        let name = ready["app"].as_str().expect("an app name").to_owned();
        if let Some(entry) = apps.get_mut(&name) {
            entry.1 = ready["pid"].clone();
        }
    }
    apps
}

/// The pids of the `start` events of `app` so far.
fn starts(hot: &Hot, app: &str) -> Vec<Value> {
    hot.events()
        .into_iter()
        .filter(|e| e["event"] == "start" && e["app"] == app)
        .map(|e| e["pid"].clone())
        .collect()
}

#[test]
fn an_edit_restarts_only_its_app_and_a_shared_path_restarts_both() {
    let project = monorepo("");
    let mut hot = Hot::start(&project, &[]);
    let apps = both_ready(&mut hot);
    let (api, web) = (&apps["api"].0, &apps["web"].0);
    assert_eq!(version_of(&get_until(api, |_| true)), "1");
    assert_eq!(version_of(&get_until(web, |_| true)), "1");

    // The API's own file: the API rebuilds and restarts; the web app is not touched.
    project.write("api/version.txt", "2\n");
    let change = hot.wait("change");
    assert_eq!(change["app"], "api", "{change}");
    let start = hot.wait_for("start", |e| e["app"] == "api");
    hot.wait_for("ready", |e| e["pid"] == start["pid"]);
    assert_eq!(version_of(&get_until(api, |b| version_of(b) == "2")), "2");
    assert_eq!(starts(&hot, "web").len(), 1, "{}", hot.transcript());
    assert!(
        !hot.events()
            .iter()
            .any(|e| e["event"] == "change" && e["app"] == "web"),
        "{}",
        hot.transcript()
    );

    // A shared file: both rebuild and restart.
    let before = ready_pids(&hot);
    project.write("shared/lib.txt", "y\n");
    both_restarted(&mut hot, &before);
    assert_eq!(starts(&hot, "web").len(), 2, "{}", hot.transcript());
    assert_eq!(starts(&hot, "api").len(), 3, "{}", hot.transcript());
}

/// The pid each app was last ready with.
fn ready_pids(hot: &Hot) -> BTreeMap<String, Value> {
    let mut pids = BTreeMap::new();
    for e in hot.events().into_iter().filter(|e| e["event"] == "ready") {
        if let Some(app) = e["app"].as_str() {
            pids.insert(app.to_owned(), e["pid"].clone());
        }
    }
    pids
}

/// Waits, in whichever order they come, until both apps are ready with new processes.
fn both_restarted(hot: &mut Hot, before: &BTreeMap<String, Value>) {
    let mut renewed = std::collections::BTreeSet::new();
    while renewed.len() < 2 {
        let ready = hot.wait("ready");
        let app = ready["app"].as_str().expect("an app name").to_owned();
        if before.get(&app) != Some(&ready["pid"]) {
            renewed.insert(app);
        }
    }
}

#[test]
fn a_failed_build_of_one_app_leaves_the_other_serving_and_refusing_nothing() {
    let project = monorepo("");
    let mut hot = Hot::start(&project, &[]);
    let apps = both_ready(&mut hot);
    let (api, web) = (apps["api"].0.clone(), apps["web"].0.clone());
    // Both ports under load while the apps restart.
    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = [api.clone(), web.clone()]
        .into_iter()
        .map(|addr| {
            let (done, failures) = (done.clone(), failures.clone());
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if let reply @ (Reply::Refused | Reply::Reset | Reply::Other(_)) = get(&addr) {
                        failures
                            .lock()
                            .expect("lock")
                            .push(format!("{addr}: {reply:?}"));
                    }
                }
            })
        })
        .collect();
    // The shared file restarts both, under load.
    let before = ready_pids(&hot);
    project.write("shared/lib.txt", "y\n");
    both_restarted(&mut hot, &before);
    done.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client");
    }
    assert!(
        failures.lock().expect("lock").is_empty(),
        "{:?}",
        failures.lock().expect("lock")
    );

    // The API's build breaks: the API keeps its old app, the web app is not touched at all.
    let web_starts = starts(&hot, "web").len();
    project.write(
        ".hot.toml",
        &project
            .read(".hot.toml")
            .replace("echo building-api;", "echo building-api; exit 3;"),
    );
    let failed = hot.wait("build_failed");
    assert_eq!(failed["app"], "api", "{failed}");
    assert_eq!(version_of(&get_until(&web, |_| true)), "1");
    assert_eq!(version_of(&get_until(&api, |_| true)), "1");
    project.write("web/version.txt", "5\n");
    assert_eq!(version_of(&get_until(&web, |b| version_of(b) == "5")), "5");
    assert_eq!(
        starts(&hot, "web").len(),
        web_starts + 1,
        "{}",
        hot.transcript()
    );
}

#[test]
fn output_is_labelled_and_app_picks_apps_and_once_checks_every_app() {
    let project = monorepo("");
    // Text output (not a terminal): hot's lines and each build's lines name their app.
    let (status, output) = run_to_exit(&project.dir, &["--once"]);
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(output.contains("api │ building-api"), "{output}");
    assert!(output.contains("web │ building-web"), "{output}");
    assert!(output.contains("api: --once ok"), "{output}");
    assert!(output.contains("web: --once ok"), "{output}");

    // --app: only that one.
    let (status, output) = run_to_exit(&project.dir, &["--once", "--app", "web"]);
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(!output.contains("api"), "{output}");
    let (status, output) = run_to_exit(&project.dir, &["--once", "--app", "worker"]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("the apps are api, web"), "{output}");

    // The worst outcome, naming the app: a failed build (1), a crash (3).
    let broken = monorepo("");
    broken.write(
        ".hot.toml",
        &broken
            .read(".hot.toml")
            .replace("echo building-api;", "exit 4;"),
    );
    let (status, output) = run_to_exit(&broken.dir, &["--once"]);
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("api: --once failed: the build exited with code 4"),
        "{output}"
    );
    assert!(output.contains("web: --once ok"), "{output}");
    let crashing = monorepo("");
    crashing.write(
        ".hot.toml",
        &crashing.read(".hot.toml").replace(
            "building-web; cat web/version.txt > tmp/web.txt\"",
            "building-web\"\nrun.cmd = \"sh -c 'exit 5'\"",
        ),
    );
    let (status, output) = run_to_exit(&crashing.dir, &["--once"]);
    assert_eq!(status.code(), Some(3), "{output}");
    assert!(
        output.contains("web: --once failed: the app exited with code 5"),
        "{output}"
    );
}

#[test]
fn a_signal_stops_every_app_and_leaves_nothing() {
    let project = monorepo("");
    let mut hot = Hot::start(&project, &[]);
    let apps = both_ready(&mut hot);
    let pids: Vec<u64> = apps
        .values()
        .map(|(_, pid)| pid.as_u64().expect("pid"))
        .collect();
    hot.signal(libc::SIGTERM);
    assert_eq!(hot.wait_exit().code(), Some(143), "{}", hot.transcript());
    for pid in pids {
        assert!(process_gone(pid), "app {pid} outlived hot");
    }
    let stops: Vec<Value> = hot
        .events()
        .into_iter()
        .filter(|e| e["event"] == "stop")
        .collect();
    assert_eq!(stops.len(), 2, "{}", hot.transcript());
}

#[test]
fn editing_one_apps_table_restarts_only_that_app() {
    let project = monorepo("");
    let mut hot = Hot::start(&project, &[]);
    let apps = both_ready(&mut hot);
    let text = project.read(".hot.toml");
    project.write(
        ".hot.toml",
        &text.replace(
            "APP_VERSION_FILE = \"tmp/web.txt\"",
            "APP_VERSION_FILE = \"tmp/web.txt\", EXTRA = \"1\"",
        ),
    );
    let start = hot.wait_for("start", |e| e["app"] == "web" && e["pid"] != apps["web"].1);
    hot.wait_for("ready", |e| e["pid"] == start["pid"]);
    assert_eq!(starts(&hot, "api").len(), 1, "{}", hot.transcript());
}

#[test]
fn config_errors_name_the_app() {
    let project = monorepo("");
    project.write(
        ".hot.toml",
        &project.read(".hot.toml").replace(
            "run.env = { APP_VERSION_FILE = \"tmp/web.txt\"",
            "run.ready = \"sometimes\"\nrun.env = { APP_VERSION_FILE = \"tmp/web.txt\"",
        ),
    );
    let (status, output) = run_to_exit(&project.dir, &["--once"]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("apps.web.run.ready"), "{output}");
    let project = Project::new();
    project.write(
        ".hot.toml",
        "[run]\ncmd = \"true\"\n[apps.a]\nlisten = [\"127.0.0.1:18999\"]\n[apps.b]\nlisten = [\"127.0.0.1:18999\"]\n",
    );
    let (status, output) = run_to_exit(&project.dir, &["--once"]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("apps.a and apps.b both listen on 127.0.0.1:18999"),
        "{output}"
    );
}
