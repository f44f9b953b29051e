//! What tells hot that a started app is ready: one plan per session, from `[run] ready` (and,
//! under `--once`, the `[once]` probe).

use std::time::Duration;

use crate::config::{Config, Probe, Ready, Route, Upstream};
use crate::event::ReadyVia;
use crate::listen::Listeners;
use crate::ready::ProbeTarget;
use crate::ui::{human, millis};

use super::Purpose;

/// How hot learns that an app is ready.
#[derive(Debug)]
pub enum Awaited {
    /// Started is ready.
    Nothing,
    /// Still running after this long is ready (`--once` without an HTTP probe).
    Settle(Duration),
    /// Its READY=1 on the notify socket.
    Notify,
    Probe(ProbeTarget),
}

impl Awaited {
    /// The report that makes the app count as ready.
    pub fn via(&self) -> ReadyVia {
        match self {
            Awaited::Nothing | Awaited::Settle(_) => ReadyVia::Started,
            Awaited::Notify => ReadyVia::Notify,
            Awaited::Probe(ProbeTarget::Http { .. }) => ReadyVia::Http,
            Awaited::Probe(ProbeTarget::Connect(_) | ProbeTarget::Accepted { .. }) => ReadyVia::Tcp,
        }
    }

    /// What was awaited, for "no … within 30 s".
    pub fn describe(&self, within: Duration) -> String {
        let within = human(millis(within));
        match self {
            Awaited::Nothing | Awaited::Settle(_) => {
                format!("the app did not settle within {within}")
            }
            Awaited::Notify => format!(
                "the app sent no READY=1 to $NOTIFY_SOCKET within {within} ([run] ready = \"notify\")"
            ),
            Awaited::Probe(ProbeTarget::Http { addr, path, expect }) => {
                let want = expect.map_or("HTTP answer below 500".to_owned(), |e| {
                    format!("HTTP {e} answer")
                });
                format!("no {want} for GET {path} on {addr} within {within}")
            }
            Awaited::Probe(ProbeTarget::Connect(addr) | ProbeTarget::Accepted { addr, .. }) => {
                format!("the app accepted no connection on {addr} within {within}")
            }
        }
    }
}

/// What to await from an app started on `sockets`. `notify`: whether hot has a notify socket.
pub fn plan(config: &Config, purpose: Purpose, notify: bool, sockets: &Listeners) -> Awaited {
    let Some(run) = &config.run else {
        return Awaited::Nothing;
    };
    let own_port = match config.route() {
        Route::Proxy(Upstream::AppAddr(addr)) => Some(addr),
        _ => None,
    };
    let http = |path: &str, expect: Option<u16>| {
        own_port.or_else(|| sockets.first_tcp()).map(|addr| {
            Awaited::Probe(ProbeTarget::Http {
                addr,
                path: path.to_owned(),
                expect,
            })
        })
    };
    let awaited = match &run.ready {
        Ready::Notify if notify => Some(Awaited::Notify),
        // The caller warns: the notify socket could not be created.
        Ready::Notify => None,
        Ready::Http(path) => http(path, None),
        Ready::Tcp => match own_port {
            Some(addr) => Some(Awaited::Probe(ProbeTarget::Connect(addr))),
            None => sockets
                .first_tcp_fd()
                .map(|(addr, listener)| Awaited::Probe(ProbeTarget::Accepted { addr, listener })),
        },
        // `--once` needs more than "started": its own probe.
        Ready::Started => match purpose {
            Purpose::Develop => Some(Awaited::Nothing),
            Purpose::SmokeTest => match &config.once.probe {
                Probe::Http { path, expect } => http(path, *expect),
                Probe::None => None,
            },
        },
    };
    awaited.unwrap_or(match purpose {
        Purpose::Develop => Awaited::Nothing,
        Purpose::SmokeTest => Awaited::Settle(config.once.settle),
    })
}
