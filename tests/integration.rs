//! Integration tests: the real `hot` binary against real processes, sockets and files.
//! Every wait is on an event (a `--json` line, a socket answering, a file appearing) under
//! one generous deadline; no test asserts on a fixed sleep.

mod support;

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
mod output;
mod reload;
mod restart;
mod saves;
