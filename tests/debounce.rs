//! Bursts coalesce into one build; ignored files trigger nothing.

use crate::support::*;

#[test]
fn five_hundred_files_in_one_burst_build_once() {
    let project = Project::python_app(AppOpts::default());
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");

    // A new directory and 250 files in it, plus 250 files in an existing one, under git's
    // index lock: a `git checkout`, however long the machine makes it pause between files.
    project.write(".git/index.lock", "");
    for i in 0..250 {
        project.write(&format!("src/burst/new_{i}.txt"), "x");
        project.write(&format!("src/old_{i}.txt"), "x");
    }
    std::fs::remove_file(project.path(".git/index.lock")).expect("unlock");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"].as_array().map(Vec::len),
        Some(500),
        "one change event with every file"
    );
    hot.wait("build_ok");
    hot.wait("start");

    // Barrier: one more write. If the burst had produced a second build, its change event
    // would come before this one.
    project.write("src/burst/new_0.txt", "y");
    let next = hot.wait("change");
    assert_eq!(
        next["paths"],
        serde_json::json!(["src/burst/new_0.txt"]),
        "the new directory is watched"
    );
    hot.wait("build_ok");
    assert_eq!(
        hot.count("build_start"),
        3,
        "startup, the burst, the barrier:\n{}",
        hot.transcript()
    );
}

#[test]
fn ignored_excluded_and_tmp_files_trigger_nothing() {
    let project = Project::python_app(AppOpts {
        watch: "exclude = [\"skip\", \"*.gen.go\"]",
        ..AppOpts::default()
    });
    project.write(".gitignore", "*.log\nignored_dir/\n");
    project.write("src/main.go", "package main\n");
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");

    for rel in [
        "src/debug.log",
        "src/ignored_dir/a.go",
        "skip/a.go",
        "src/x.gen.go",
        "tmp/out.bin",
        "src/.main.go.swp",
        "src/main.go~",
        "src/4913",
        "src/main.go___jb_tmp___",
        "src/#main.go#",
        ".git/index",
    ] {
        project.write(rel, "x");
    }
    project.write("src/version.txt", "2\n");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!(["src/version.txt"]),
        "{}",
        hot.transcript()
    );
    hot.wait("build_ok");
    assert_eq!(hot.count("build_start"), 2);
}

#[test]
fn a_change_during_a_build_cancels_it_and_builds_again() {
    // The build marks when it has read the file and is running slow, so the test changes the
    // file only then: a change the build already saw is not a reason to cancel it.
    let project = Project::python_app(AppOpts {
        build: "if grep -q slow src/version.txt; then touch tmp/build-running; sleep 60; fi; cp src/version.txt tmp/version.txt",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");

    project.write("src/version.txt", "slow\n");
    let slow = hot.wait("build_start");
    wait_until("the slow build to run", || {
        project.path("tmp/build-running").exists()
    });
    project.write("src/version.txt", "3\n");
    hot.wait("build_cancelled");
    wait_until("the cancelled build to be gone", || {
        process_gone(slow["pid"].as_u64().expect("pid"))
    });
    hot.wait("build_ok");
    hot.wait("start");
    get_until(&addr, |b| version_of(b) == "3");
}

#[test]
fn polling_sees_edits_new_directories_and_ignores_tmp() {
    let project = Project::python_app(AppOpts {
        watch: "paths = [\"src\"]\npoll = true\npoll_interval_ms = 50",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let note = hot.wait("note");
    assert!(
        note["message"]
            .as_str()
            .is_some_and(|m| m.contains("polling")),
        "{note}"
    );
    hot.wait("start");
    project.write("src/version.txt", "22\n");
    let change = hot.wait("change");
    assert_eq!(change["paths"], serde_json::json!(["src/version.txt"]));
    get_until(&addr, |b| version_of(b) == "22");
    project.write("src/new/dir/file.go", "x");
    let change = hot.wait("change");
    assert_eq!(change["paths"], serde_json::json!(["src/new/dir/file.go"]));
}
