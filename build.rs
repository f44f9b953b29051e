//! One name for "Linux, with its own mechanisms": `linux_native`. Without it (macOS, the BSDs, or
//! Linux built with `--features portable`) hot uses the code paths that work everywhere, so that
//! the paths macOS and the BSDs run are built and tested on Linux too.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(linux_native)");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let portable = std::env::var_os("CARGO_FEATURE_PORTABLE").is_some();
    if linux && !portable {
        println!("cargo::rustc-cfg=linux_native");
    }
    println!("cargo::rerun-if-changed=build.rs");

    // `hot --version` names the commit: HOT_COMMIT when the release script (or a package
    // build without .git) sets it, else git's, else "unknown".
    println!("cargo::rerun-if-env-changed=HOT_COMMIT");
    println!("cargo::rerun-if-changed=.git/HEAD");
    println!("cargo::rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("HOT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=HOT_COMMIT={commit}");
}
