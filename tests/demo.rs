//! README command one: the bundled demo, built with plain rustc, served through hot.

use crate::support::*;

#[test]
fn demo_project_builds_serves_and_reloads() {
    let project = Project::new();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo");
    for rel in [".hot.toml", "src/main.rs"] {
        project.write(
            rel,
            &std::fs::read_to_string(format!("{demo}/{rel}")).expect("demo file"),
        );
    }
    // Port 0 instead of 8080, so the test never collides with a developer's running demo.
    let mut hot = Hot::start(&project, &["--listen", "127.0.0.1:0"]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("build_ok");
    hot.wait("start");
    get_until(&addr, |b| b.starts_with("Hello from the hot demo"));

    let source = project
        .read("src/main.rs")
        .replace("Hello from the hot demo", "Edited demo");
    project.write("src/main.rs", &source);
    hot.wait("build_ok");
    hot.wait("start");
    get_until(&addr, |b| b.starts_with("Edited demo"));
}
