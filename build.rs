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
}
