//! hot's HTTP side of a session: the proxy in front of the app, or the error page server.

use std::sync::mpsc::Sender;

use crate::config::{Config, Route, Upstream};
use crate::error::Error;
use crate::event::Event;
use crate::listen::Listeners;
use crate::proxy::host::AllowedHosts;
use crate::proxy::{Front, Proxy};

/// hot's HTTP side for this route: the private sockets the app gets instead of the public ones
/// (when proxied), and the proxy or error page server (when there is anything for it to do).
pub fn http_side(
    config: &Config,
    route: Route,
    public: &Listeners,
    events: Sender<Event>,
) -> Result<(Option<Listeners>, Option<Proxy>), Error> {
    let error_page = config.run.as_ref().is_some_and(|r| r.error_page);
    let copies = || {
        public
            .copies()
            .map_err(|e| Error::io("cannot copy the listening sockets", e))
    };
    let (private, fronts) = match route {
        Route::Direct if !error_page || public.is_empty() => return Ok((None, None)),
        // hot answers on the app's sockets only after a failure, on copies taken then.
        Route::Direct => (None, Vec::new()),
        Route::Proxy(Upstream::Private) => {
            let private = Listeners::bind_private(&config.listen)?;
            let fronts = copies()?
                .into_iter()
                .zip(private.tcp_addrs())
                .map(|(socket, addr)| Front {
                    socket,
                    target: addr,
                })
                .collect();
            (Some(private), fronts)
        }
        Route::Proxy(Upstream::AppAddr(addr)) => {
            let fronts = copies()?
                .into_iter()
                .map(|socket| Front {
                    socket,
                    target: Some(addr),
                })
                .collect();
            (None, fronts)
        }
    };
    let proxy = Proxy::start(
        fronts,
        config.reload,
        error_page,
        config.root.clone(),
        AllowedHosts::new(&config.allowed_hosts),
        events,
    )
    .map_err(|e| Error::io("cannot start hot's HTTP side", e))?;
    Ok((private, Some(proxy)))
}
