//! What editors, formatters and git actually do to files: one build per save, none for a save
//! that changes nothing, and the file stays watched afterwards.

use std::fs;
use std::process::Command;

use crate::support::*;

/// A project watching src/ with hot started and its first app up.
fn started() -> (Project, Hot) {
    let project = Project::python_app(AppOpts::default());
    project.write("src/main.go", "package main // v0\n");
    // As a checkout made before hot starts: a file written within a clock tick of startup may
    // have been written after it, and is not taken as the baseline of "unchanged".
    assert!(
        Command::new("touch")
            .args(["-d", "1 minute ago"])
            .arg(project.path("src/main.go"))
            .status()
            .expect("touch")
            .success()
    );
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");
    (project, hot)
}

/// Proves that nothing before it triggered a build: the next change lists only the barrier.
fn barrier(project: &Project, hot: &mut Hot, n: u32) {
    project.write("src/version.txt", &format!("barrier {n}\n"));
    one_change(hot, &["src/version.txt"]);
}

fn save_twice(save: impl Fn(&Project, &str)) {
    let (project, mut hot) = started();
    for n in 1..=2 {
        save(&project, &format!("package main // v{n}\n"));
        one_change(&mut hot, &["src/main.go"]);
    }
    barrier(&project, &mut hot, 1);
    assert_eq!(
        hot.count("build_start"),
        4,
        "startup, two saves, the barrier:\n{}",
        hot.transcript()
    );
}

#[test]
fn vim_atomic_save_builds_once_and_keeps_watching() {
    save_twice(|p, content| {
        // vim: probe the directory with 4913, rename the file to a backup, write anew, fsync,
        // remove the backup.
        fs::write(p.path("src/4913"), "").expect("probe");
        fs::remove_file(p.path("src/4913")).expect("probe");
        fs::rename(p.path("src/main.go"), p.path("src/main.go~")).expect("backup");
        fs::write(p.path("src/main.go"), content).expect("write");
        fs::File::open(p.path("src/main.go"))
            .and_then(|f| f.sync_all())
            .expect("fsync");
        fs::remove_file(p.path("src/main.go~")).expect("rm backup");
    });
}

#[test]
fn jetbrains_safe_write_builds_once() {
    save_twice(|p, content| {
        fs::write(p.path("src/main.go___jb_tmp___"), content).expect("tmp");
        fs::rename(p.path("src/main.go"), p.path("src/main.go___jb_old___")).expect("old");
        fs::rename(p.path("src/main.go___jb_tmp___"), p.path("src/main.go")).expect("swap");
        fs::remove_file(p.path("src/main.go___jb_old___")).expect("rm old");
    });
}

#[test]
fn vscode_in_place_write_builds_once() {
    save_twice(|p, content| fs::write(p.path("src/main.go"), content).expect("write"));
}

#[test]
fn sed_in_place_builds_once_without_its_temp_file() {
    save_twice(|p, content| {
        let version = content.trim_start_matches("package main // ").trim();
        let status = Command::new("sed")
            .args(["-i", &format!("s|// v.*|// {version}|")])
            .arg(p.path("src/main.go"))
            .status()
            .expect("sed");
        assert!(status.success());
    });
}

/// A temp file written, closed, and only renamed over the file a moment later (a slow `sed -i`,
/// a formatter on a busy machine): its creation and its rename reach hot in two notification
/// batches, within one debounce window. The change is the file, never the temp file, which by
/// then no longer exists.
#[test]
fn a_temp_file_renamed_over_after_a_pause_is_not_a_change() {
    // A long window, so that both halves surely fall into it however busy the machine is.
    let project = Project::python_app(AppOpts {
        watch: "paths = [\"src\"]\ndebounce_ms = 1000",
        ..AppOpts::default()
    });
    project.write("src/main.go", "package main // v0\n");
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");
    for (n, temp) in ["sedX1a2b3", "main.go.tmp.4711", ".#main.go"]
        .iter()
        .enumerate()
    {
        // v1, v2, v3: each differs from what main.go held before.
        fs::write(
            project.path(&format!("src/{temp}")),
            format!("package main // v{}\n", n + 1),
        )
        .expect("temp");
        // The pause is the input (the two halves in separate batches), not a wait for hot.
        std::thread::sleep(std::time::Duration::from_millis(30));
        fs::rename(
            project.path(&format!("src/{temp}")),
            project.path("src/main.go"),
        )
        .expect("rename");
        one_change(&mut hot, &["src/main.go"]);
    }
}

/// Writes `content` over `path` in place, in one write and without truncating first (the file
/// already has this length): with hot's 2 ms debounce, `fs::write`'s truncate-then-write can be
/// judged in between on a busy machine, and an empty file is a real change.
fn rewrite_in_place(path: &std::path::Path, content: &str) {
    use std::io::Write;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open to rewrite");
    assert_eq!(file.metadata().expect("stat").len(), content.len() as u64);
    file.write_all(content.as_bytes()).expect("rewrite");
}

#[test]
fn touch_chmod_and_identical_rewrites_do_not_build() {
    let (project, mut hot) = started();
    let main = project.path("src/main.go");
    assert!(
        Command::new("touch")
            .arg(&main)
            .status()
            .expect("touch")
            .success()
    );
    assert!(
        Command::new("chmod")
            .arg("600")
            .arg(&main)
            .status()
            .expect("chmod")
            .success()
    );
    rewrite_in_place(&main, "package main // v0\n");
    barrier(&project, &mut hot, 1);
    // A changed file rewritten with its new content again: still nothing.
    rewrite_in_place(&main, "package main // v1\n");
    one_change(&mut hot, &["src/main.go"]);
    rewrite_in_place(&main, "package main // v1\n");
    barrier(&project, &mut hot, 2);
    assert_eq!(hot.count("build_start"), 4, "{}", hot.transcript());
}

#[test]
fn git_checkout_of_hundreds_of_files_builds_once_after_git_is_done() {
    let git = |project: &Project, args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(&project.dir)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let project = Project::python_app(AppOpts::default());
    project.write(".gitignore", "tmp/\n");
    for i in 0..300 {
        project.write(&format!("src/pkg{}/f{i}.go", i % 10), "package a\n");
    }
    git(&project, &["init", "-q"]);
    git(&project, &["add", "."]);
    git(&project, &["commit", "-qm", "a"]);
    git(&project, &["checkout", "-qb", "other"]);
    for i in 0..300 {
        project.write(&format!("src/pkg{}/f{i}.go", i % 10), "package b\n");
        project.write(&format!("src/newdir{}/g{i}.go", i % 7), "package c\n");
    }
    fs::remove_dir_all(project.path("src/pkg9")).expect("rm");
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "-qm", "b"]);
    git(&project, &["checkout", "-q", "main"]);

    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");
    git(&project, &["checkout", "-q", "other"]);
    let change = hot.wait("change");
    let n = change["paths"].as_array().map_or(0, Vec::len);
    assert!(
        n >= 600,
        "one change event for the whole checkout, got {n} paths"
    );
    hot.wait("build_ok");
    // New directories are watched.
    project.write("src/newdir3/after.go", "package c\n");
    one_change(&mut hot, &["src/newdir3/after.go"]);
    assert_eq!(hot.count("build_start"), 3, "{}", hot.transcript());
}

#[test]
fn a_deleted_and_recreated_root_is_watched_again() {
    let (project, mut hot) = started();
    fs::remove_dir_all(project.path("src")).expect("rm src");
    hot.wait("change");
    hot.wait("build_failed");
    project.write("src/version.txt", "5\n");
    let change = hot.wait("change");
    assert!(
        change["paths"]
            .as_array()
            .is_some_and(|p| p.contains(&serde_json::json!("src/version.txt"))),
        "{change}"
    );
    hot.wait("build_ok");
    project.write("src/version.txt", "6\n");
    one_change(&mut hot, &["src/version.txt"]);
}

#[test]
fn odd_file_names_and_symlink_loops_do_not_break_watching() {
    use std::os::unix::ffi::OsStrExt;
    let (project, mut hot) = started();
    let odd = project
        .dir
        .join(std::ffi::OsStr::from_bytes(b"src/caf\xe9 with space.go"));
    fs::write(&odd, "x").expect("non-UTF-8 name");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!(["src/caf\u{fffd} with space.go"])
    );
    hot.wait("build_ok");
    // New entries are a change; what matters is that hot neither loops nor stops watching.
    std::os::unix::fs::symlink(project.path("src"), project.path("src/loop"))
        .expect("symlink loop");
    std::os::unix::fs::symlink("/nonexistent", project.path("src/dangling")).expect("dangling");
    // The two links may arrive in one burst or in two (a busy machine): wait until both were
    // reported and the last build they caused is done, then read past those builds.
    let settled = |hot: &Hot| {
        let events = hot.events();
        let reported = |name: &str| {
            events.iter().any(|e| {
                e["event"] == "change"
                    && e["paths"]
                        .as_array()
                        .is_some_and(|p| p.iter().any(|p| p == name))
            })
        };
        let last_build = events.iter().rev().find(|e| {
            [
                "change",
                "build_start",
                "build_ok",
                "build_failed",
                "build_cancelled",
            ]
            .iter()
            .any(|n| e["event"] == *n)
        });
        reported("src/loop")
            && reported("src/dangling")
            && last_build.is_some_and(|e| e["event"] == "build_ok")
    };
    wait_until("both links reported and built", || settled(&hot));
    hot.skip_seen();
    fs::create_dir_all(project.path("src/after link")).expect("mkdir");
    project.write("src/after link/x.go", "x");
    one_change(&mut hot, &["src/after link/x.go"]);
    barrier(&project, &mut hot, 1);
}

#[test]
fn file_names_never_reach_a_shell() {
    let project = Project::python_app(AppOpts {
        build: "printf '%s' \"$HOT_CHANGED\" > tmp/changed.txt; cp src/version.txt tmp/version.txt",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");
    let evil = "src/$(touch PWNED);`touch PWNED2`.go";
    project.write(evil, "x");
    one_change(&mut hot, &[evil]);
    assert_eq!(project.read("tmp/changed.txt"), evil);
    assert!(
        !project.path("PWNED").exists()
            && !project.path("src/PWNED").exists()
            && !project.path("PWNED2").exists()
    );
}
