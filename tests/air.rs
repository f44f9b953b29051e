//! An air user's `.air.toml`, translated by `hot init` and run by `hot`: it does what it did
//! under air.

use std::os::unix::fs::PermissionsExt;

use crate::browser::WEB_PY;
use crate::support::*;

/// Writes `.air.toml`, runs `hot init` (exit 0), and starts `hot` on the result.
fn init_and_start(project: &Project, air: &str) -> Hot {
    project.write(".air.toml", air);
    let (status, output) = run_to_exit(&project.dir, &["init"]);
    assert_eq!(status.code(), Some(0), "{output}");
    Hot::start(project, &[])
}

#[test]
fn an_include_file_outside_the_include_dirs_builds() {
    let project = Project::new();
    project.write("cmd/api/api.go", "package api\n");
    project.write("main.go", "package main // 1\n");
    project.write("sleep-forever", "#!/bin/sh\nexec sleep 600\n");
    set_executable(&project.path("sleep-forever"));
    let mut hot = init_and_start(
        &project,
        "[build]\ncmd = \"cp main.go tmp/built.txt\"\nbin = \"sleep-forever\"\n\
         include_dir = [\"cmd\", \"models\"]\ninclude_file = [\"main.go\"]\n",
    );
    // "models" does not exist: a warning, not a refusal.
    let warning = hot.wait("warning");
    assert!(
        warning["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"models\" does not exist yet")),
        "{warning}"
    );
    hot.wait("build_ok");
    project.write("main.go", "package main // 2\n");
    one_change(&mut hot, &["main.go"]);
    assert_eq!(project.read("tmp/built.txt"), "package main // 2\n");
}

#[test]
fn a_bare_bin_runs_from_the_project_and_exclude_regex_holds() {
    let project = Project::new();
    project.write("main.go", "package main\n");
    project.write(
        "gitea",
        "#!/bin/sh\necho started > tmp/started\nexec sleep 600\n",
    );
    set_executable(&project.path("gitea"));
    let mut hot = init_and_start(
        &project,
        "[build]\ncmd = \"true\"\nbin = \"gitea\"\nexclude_regex = [\"_templ\\\\.go$\"]\n",
    );
    hot.wait("start");
    wait_until("./gitea to run", || project.path("tmp/started").exists());
    // A generated file the regex excludes, then a barrier: the next change is the barrier's.
    project.write("views_templ.go", "package main\n");
    project.write("main.go", "package main // barrier\n");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!(["main.go"]),
        "{}",
        hot.transcript()
    );
}

#[test]
fn airs_proxy_becomes_hots_proxy_in_front_of_the_apps_own_port() {
    let project = Project::new();
    project.write("src/version.txt", "7\n");
    let proxy_port = free_port();
    let app_port = free_port();
    let mut hot = init_and_start(
        &project,
        &format!(
            "[build]\ncmd = \"cp src/version.txt tmp/version.txt\"\n\
             full_bin = \"APP_PORT={app_port} python3 {WEB_PY}\"\ninclude_ext = [\"txt\"]\n\
             [proxy]\nenabled = true\nproxy_port = {proxy_port}\napp_port = {app_port}\n"
        ),
    );
    hot.wait("start");
    let addr = format!("127.0.0.1:{proxy_port}");
    get_until(&addr, |b| b.contains("version=7"));
}

#[test]
fn invalid_toml_in_an_air_config_names_file_line_and_column() {
    let project = Project::new();
    project.write(".air.toml", "[build]\ncmd = \"go build\n");
    let (status, output) = run_to_exit(&project.dir, &["init"]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains(".air.toml:2:"), "{output}");
    assert!(!project.path(".hot.toml").exists());
}

fn set_executable(path: &std::path::Path) {
    let mut perms = std::fs::metadata(path).expect("stat").permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).expect("chmod");
}
