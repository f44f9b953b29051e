//! Integration tests: the real `hot` binary against real processes, sockets and files.
//! Every wait is on an event (a `--json` line, a socket answering, a file appearing) under
//! one generous deadline; no test asserts on a fixed sleep.
//!
//! They run on Linux (they read `/proc` to see what is left behind). The code paths macOS and
//! the BSDs take are run here too: `cargo test --features portable`.
#![cfg(target_os = "linux")]

mod support;

mod air;
mod apps;
mod browser;
mod chromium;
mod cleanup;
mod config_errors;
mod debounce;
mod demo;
mod editors;
mod environment;
mod faults;
mod first_run;
mod handoff;
mod heads;
mod hosts;
mod interactive;
mod output;
mod own_port;
mod reload;
mod restart;
mod retry;
mod saves;
mod servers;
mod terminal;
