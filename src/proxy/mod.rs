//! hot's HTTP side: the 503 page while no app runs after a failure, the proxy in front of the
//! app (for live reload, and for apps that bind their own port), and the event stream that
//! reloads open pages once the new app is ready.
//!
//! It runs on its own tokio runtime; the app loop drives it through `Proxy`'s methods, which
//! only change shared state or broadcast to the browsers (never wait on the network), except
//! `app_starting`, which must know that hot has stopped accepting before the app gets the socket.

pub mod host;
mod inject;
mod page;
mod pool;
mod quickack;
mod websocket;

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited, StreamBody};
use hyper::body::{Body as _, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use page::Failure;

use crate::event::Event;
use crate::listen::{HeldSocket, Listeners};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// The live-reload client, served at `/__hot/client.js`.
const CLIENT_JS: &str = include_str!("client.js");
/// How long a request waits for an app that binds its own port to accept connections again.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
const CONNECT_RETRY: Duration = Duration::from_millis(5);
/// An app that has run this long and still refuses connections is not about to bind its port.
const BIND_GRACE: Duration = Duration::from_secs(10);
/// The largest HTML page the script is injected into; a bigger one passes through as it is.
const MAX_HTML: usize = 32 << 20;
/// Sent on the event stream so that proxies and browsers keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Times a safe request (GET, HEAD, OPTIONS without a body) is sent again when the app closed
/// the connection without answering: it was restarting.
const RETRIES: usize = 6;
/// The wait before the first of those, doubling each time (1.3 s in all): an app that binds its
/// own port may still be dying when the request is sent again, and take it down with it.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// The largest request body hot keeps a copy of while the app answers, so that a request the
/// app left unread (a server stopping gracefully closes what it accepted and had not read) can
/// be sent again whatever its method. Bigger or unsized bodies stream through, sent once.
const KEPT_BODY: usize = 64 << 10;

/// A socket hot accepts on, and the app's address its requests go to: `None` for a socket the
/// app takes itself (hot only answers there while no app runs).
///
/// The app's address is a private socket hot holds and hands to the app (connections queue there
/// while it restarts) or a port the app binds itself (refused connections are retried while it
/// restarts): the proxy treats both the same.
#[derive(Debug)]
pub struct Front {
    pub socket: HeldSocket,
    pub target: Option<SocketAddr>,
}

/// What open pages are told.
#[derive(Debug, Clone)]
enum BrowserEvent {
    Reload,
    Css,
    /// JSON `{"output": "..."}`.
    BuildFailed(Arc<str>),
    BuildOk,
}

#[derive(Debug, Default)]
struct State {
    failure: Option<Failure>,
    /// The event replayed to a page that connects while the build is broken.
    overlay: Option<Arc<str>>,
    /// When the current app started; `None` while none runs.
    app_since: Option<Instant>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    browsers: broadcast::Sender<BrowserEvent>,
    /// Bumped whenever hot starts answering for a failed app: a safe request still waiting for
    /// an app that will not come is answered with the failure instead of hanging until a fix.
    failed: tokio::sync::watch::Sender<u64>,
    /// Inject the live-reload script into the app's HTML.
    reload: bool,
    /// No proxy: hot answers on the app's own sockets, and only while no app runs.
    direct: bool,
    /// Kept-alive connections to the app.
    pool: Arc<pool::Pool>,
    /// The project directory: only its files are linked and opened.
    root: std::path::PathBuf,
    /// A secret in the pages hot serves, which a request to open a file must carry: no other
    /// site can read it, so no other site can make hot open files. `None` if the system gave
    /// no randomness (opening is then off).
    token: Option<String>,
    /// Where requests to open a file in the editor go (the app loop).
    events: std::sync::mpsc::Sender<Event>,
    /// Which hosts may see hot's own pages (the app's traffic passes whatever its host).
    hosts: host::AllowedHosts,
}

impl Shared {
    /// The token for pages ("" when there is none: no request can match it).
    fn token(&self) -> &str {
        self.token.as_deref().unwrap_or("")
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated (plain stores).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The handle the app loop holds.
#[derive(Debug)]
pub struct Proxy {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    /// Accept loops running now.
    acceptors: Vec<JoinHandle<()>>,
    error_page: bool,
}

impl Proxy {
    /// Starts accepting on `fronts` (the public sockets, when proxying), or, with none, stands
    /// by to answer on the app's own sockets while no app runs.
    ///
    /// `reload`: inject the live-reload script into HTML. `error_page`: answer with the 503
    /// page while no app runs after a failure.
    pub fn start(
        fronts: Vec<Front>,
        reload: bool,
        error_page: bool,
        root: std::path::PathBuf,
        hosts: host::AllowedHosts,
        events: std::sync::mpsc::Sender<Event>,
    ) -> io::Result<Proxy> {
        let proxied = !fronts.is_empty();
        let (browsers, _) = broadcast::channel(16);
        let mut proxy = Proxy {
            // Made when first needed: most sessions never show the error page, and they keep
            // hot's footprint without a runtime's threads.
            runtime: None,
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                browsers,
                failed: tokio::sync::watch::Sender::new(0),
                reload,
                direct: !proxied,
                pool: Arc::default(),
                root,
                token: random_token(),
                events,
                hosts,
            }),
            acceptors: Vec::new(),
            error_page,
        };
        proxy.accept(fronts)?;
        Ok(proxy)
    }

    /// Starts an accept loop on each of `fronts`; each owns its copy of the socket and closes it
    /// when it ends (hot's held socket stays).
    fn accept(&mut self, fronts: Vec<Front>) -> io::Result<()> {
        if fronts.is_empty() {
            return Ok(());
        }
        let runtime = match &mut self.runtime {
            Some(runtime) => runtime,
            slot => slot.insert(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("hot-http")
                    .enable_all()
                    .build()?,
            ),
        };
        for front in fronts {
            let listening = {
                let _entered = runtime.enter();
                Listening::new(front.socket)?
            };
            let shared = Arc::clone(&self.shared);
            let target = front.target;
            self.acceptors
                .push(runtime.spawn(accept_loop(listening, target, shared)));
        }
        Ok(())
    }

    /// No app runs, because of `failure`: pages get the 503 page (with live reload). Without a
    /// proxy, hot starts answering on `app_sockets`, the sockets the app takes itself.
    pub fn show_failure(&mut self, failure: Failure, app_sockets: &Listeners) -> io::Result<()> {
        let mut state = self.shared.state();
        state.app_since = None;
        if !self.error_page {
            return Ok(());
        }
        state.failure = Some(failure);
        self.shared.failed.send_modify(|n| *n += 1);
        drop(state);
        if self.shared.direct && self.acceptors.is_empty() {
            self.accept(fronts_on(app_sockets)?)?;
        }
        Ok(())
    }

    /// The app's own sockets changed (a reloaded `listen`): answer on the new ones if hot was
    /// answering on the old ones.
    pub fn sockets_moved(&mut self, app_sockets: &Listeners) -> io::Result<()> {
        if self.shared.direct && !self.acceptors.is_empty() {
            self.stop_accepting();
            self.accept(fronts_on(app_sockets)?)?;
        }
        Ok(())
    }

    /// An app is about to start: requests go to it again. On sockets the app takes itself, hot
    /// has stopped accepting when this returns.
    pub fn app_starting(&mut self) {
        self.shared.pool.clear();
        {
            let mut state = self.shared.state();
            state.failure = None;
            state.app_since = Some(Instant::now());
        }
        if self.shared.direct {
            self.stop_accepting();
        }
    }

    /// App `app` is being stopped: requests no longer go to it over kept-alive connections,
    /// and none are kept until it has exited (see `pool`).
    pub fn app_stopping(&self, app: u64) {
        self.shared.pool.stopping(app);
    }

    /// App `app` exited.
    pub fn app_gone(&self, app: u64) {
        self.shared.pool.gone(app);
    }

    /// The stopping app `app` closed its listening sockets (`restart_mode = "drain"`): it
    /// accepts nothing more, so for new connections it is as good as gone while it finishes
    /// the requests it has.
    pub fn app_released(&self, app: u64) {
        self.shared.pool.gone(app);
    }

    fn stop_accepting(&mut self) {
        let acceptors = std::mem::take(&mut self.acceptors);
        if let Some(runtime) = &self.runtime {
            for task in &acceptors {
                task.abort();
            }
            // Joining the aborted loops drops their sockets: only then may the app accept.
            runtime.block_on(async {
                for task in acceptors {
                    let _ = task.await;
                }
            });
        }
    }

    /// The new app is ready: reload open pages (or only their stylesheets).
    pub fn app_ready(&self, css_only: bool) {
        let _ = self.shared.browsers.send(if css_only {
            BrowserEvent::Css
        } else {
            BrowserEvent::Reload
        });
    }

    /// A build failed: open pages show the failure view over the page.
    pub fn build_failed(&self, failure: &Failure) {
        let view = page::view(failure, &self.shared.root, self.shared.token());
        let data: Arc<str> = serde_json::json!({ "view": view }).to_string().into();
        self.shared.state().overlay = Some(Arc::clone(&data));
        let _ = self.shared.browsers.send(BrowserEvent::BuildFailed(data));
    }

    /// A build succeeded: the overlay goes away (the reload follows once the app is ready).
    pub fn build_ok(&self) {
        let had = self.shared.state().overlay.take().is_some();
        if had {
            let _ = self.shared.browsers.send(BrowserEvent::BuildOk);
        }
    }
}

/// hot answering on the app's own sockets: no target, the 503 page only.
fn fronts_on(app_sockets: &Listeners) -> io::Result<Vec<Front>> {
    Ok(app_sockets
        .copies()?
        .into_iter()
        .map(|socket| Front {
            socket,
            target: None,
        })
        .collect())
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A tokio listener on a copy of a held socket.
enum Listening {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

impl Listening {
    fn new(socket: HeldSocket) -> io::Result<Listening> {
        // O_NONBLOCK is shared with every copy: the app loop clears it before an app starts.
        Ok(match socket {
            HeldSocket::Tcp(l) => {
                l.set_nonblocking(true)?;
                Listening::Tcp(tokio::net::TcpListener::from_std(l)?)
            }
            HeldSocket::Unix(l) => {
                l.set_nonblocking(true)?;
                Listening::Unix(tokio::net::UnixListener::from_std(l)?)
            }
        })
    }
}

async fn accept_loop(listening: Listening, target: Option<SocketAddr>, shared: Arc<Shared>) {
    loop {
        let accepted = match &listening {
            Listening::Tcp(l) => l.accept().await.map(|(s, peer)| {
                let _ = s.set_nodelay(true);
                tokio::spawn(serve(s, Some(peer.ip()), target, Arc::clone(&shared)));
            }),
            Listening::Unix(l) => l.accept().await.map(|(s, _)| {
                tokio::spawn(serve(s, None, target, Arc::clone(&shared)));
            }),
        };
        if accepted.is_err() {
            // Out of fds, or a connection reset before it was accepted: try again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve<S>(stream: S, peer: Option<IpAddr>, target: Option<SocketAddr>, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(req, peer, target, &shared).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        // A client may shut down its side once it has sent its request (`nc -q`, some load
        // tools): it still gets the answer. Without this, hyper drops the request at the EOF,
        // after it may have reached the app (which then acted on a request nobody saw answered).
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

async fn handle(
    req: Request<Incoming>,
    peer: Option<IpAddr>,
    target: Option<SocketAddr>,
    shared: &Shared,
) -> Response<Body> {
    let response = answer(req, peer, target, shared).await;
    if shared.direct {
        // hot answers on the app's own socket only for a while: a browser's keep-alive
        // connection must not stay with hot once the app is back.
        close_after(response)
    } else {
        response
    }
}

async fn answer(
    req: Request<Incoming>,
    peer: Option<IpAddr>,
    target: Option<SocketAddr>,
    shared: &Shared,
) -> Response<Body> {
    let path = req.uri().path();
    let own_surface = path.starts_with("/__hot/");
    let failure = shared.state().failure.clone();
    // hot's own pages and the failure view (the build's output, the page's token) answer only
    // hot's own hosts: never a page of another site that resolved to this machine. The app's
    // own answers pass whatever the host.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let viewer = Viewer {
        allowed: shared.hosts.allows_host(host),
        host: host.to_owned(),
        html: wants_html(req.headers()),
    };
    if (own_surface || failure.is_some()) && !viewer.allowed {
        return viewer.refused();
    }
    match path {
        "/__hot/events" => return events(shared),
        "/__hot/open" => return open(req, shared).await,
        "/__hot/client.js" => {
            return no_store(plain(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                CLIENT_JS,
            ));
        }
        _ => {}
    }
    match (failure, target) {
        (Some(failure), _) => failure_page(&failure, viewer.html, shared),
        (None, Some(target)) => forward(req, peer, target, &viewer, shared).await,
        // Accepted just as an app was starting: it has the socket now.
        (None, None) => {
            let mut r = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "hot: the app is starting; try again\n",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Who asked, as far as hot's own pages care: whether its `Host` is one of hot's, and whether
/// it wants HTML.
struct Viewer {
    allowed: bool,
    host: String,
    html: bool,
}

impl Viewer {
    fn refused(&self) -> Response<Body> {
        text(
            StatusCode::FORBIDDEN,
            host::AllowedHosts::refusal("Host", &self.host),
        )
    }

    /// The failure view for a request that was waiting for the app, if this viewer may see it.
    fn failure(&self, failure: &Failure, shared: &Shared) -> Response<Body> {
        if self.allowed {
            failure_page(failure, self.html, shared)
        } else {
            self.refused()
        }
    }
}

fn failure_page(failure: &Failure, html: bool, shared: &Shared) -> Response<Body> {
    let mut r = if html {
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/html; charset=utf-8",
            page::failure_html(failure, &shared.root, shared.token()),
        )
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, page::failure_text(failure))
    };
    let headers = r.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Forwards one request to the app and its answer back, streaming both bodies, except HTML
/// that gets the live-reload script and a small answer to a safe request, read whole first so
/// that a cut one is asked for again.
async fn forward(
    mut req: Request<Incoming>,
    peer: Option<IpAddr>,
    target: SocketAddr,
    viewer: &Viewer,
    shared: &Shared,
) -> Response<Body> {
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    if let Some(ip) = peer {
        append_forwarded_for(req.headers_mut(), ip);
    }
    let (mut parts, body) = req.into_parts();
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && body.is_end_stream();
    // An upgrade takes its connection over; every other request may share one.
    let pooled = safe && client_upgrade.is_none();
    if client_upgrade.is_none() {
        // Each side's connection is its own: a client's `Connection: close` must not close a
        // kept-alive connection to the app.
        strip_hop_by_hop(&mut parts.headers);
    }
    if !safe || client_upgrade.is_some() {
        // Sent once, so never to an app that may close it unread.
        shared.pool.none_stopping(CONNECT_PATIENCE).await;
    }
    // A small body of a request that is sent once: kept, so that the request can go again if
    // the app resets the connection without having read it.
    let keep = !safe
        && client_upgrade.is_none()
        && content_length(&parts.headers).is_some_and(|n| n <= KEPT_BODY);
    let (kept, mut body) = if keep {
        match Limited::new(body, KEPT_BODY).collect().await {
            Ok(collected) => (Some(collected.to_bytes()), None),
            Err(e) => {
                let mut r = text(
                    StatusCode::BAD_REQUEST,
                    format!("hot: reading the request's body failed: {e}\n"),
                );
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        }
    } else {
        (None, Some(body.map_err(BoxError::from).boxed()))
    };
    let mut attempt = 0;
    let answer = loop {
        let idle = if pooled { shared.pool.take() } else { None };
        let lease = match idle {
            Some(lease) => lease,
            None => {
                let generation = shared.pool.generation();
                let stream = match connect(target, shared).await {
                    Ok(s) => s,
                    Err(Refusal::Failed(failure)) => {
                        return viewer.failure(&failure, shared);
                    }
                    Err(Refusal::Unreachable(why)) => return bad_gateway(&why),
                };
                match handshake(stream, !pooled).await {
                    Ok(sender) => pool::Lease {
                        sender,
                        generation,
                        reused: false,
                    },
                    Err(e) => {
                        return bad_gateway(&format!("cannot talk HTTP/1.1 to the app: {e}"));
                    }
                }
            }
        };
        let pool::Lease {
            mut sender,
            generation,
            reused,
        } = lease;
        if reused && sender.ready().await.is_err() {
            // Closed by the app since it went idle: take another.
            continue;
        }
        let mut out = Request::new(match &kept {
            Some(bytes) => full(bytes.clone()),
            None => body.take().unwrap_or_else(empty),
        });
        *out.method_mut() = parts.method.clone();
        *out.uri_mut() = parts.uri.clone();
        *out.version_mut() = hyper::Version::HTTP_11;
        *out.headers_mut() = parts.headers.clone();
        let mut failed = shared.failed.subscribe();
        // A failure shown before the subscription is not a change to wait for: look first.
        if safe {
            let failure = shared.state().failure.clone();
            if let Some(failure) = failure {
                return viewer.failure(&failure, shared);
            }
        }
        let sent = tokio::select! {
            sent = sender.try_send_request(out) => sent,
            // No app will take this request: the build failed (or the app crashed) while it
            // waited in the backlog. A safe request gets the failure; any other keeps waiting,
            // since the next app may still read it and a second answer must not follow a first.
            Ok(()) = failed.changed(), if safe => {
                let failure = shared.state().failure.clone();
                match failure {
                    Some(failure) => return viewer.failure(&failure, shared),
                    None => continue,
                }
            }
        };
        let mut unsent = None;
        let sent = sent.map_err(|mut e| {
            unsent = e.take_message();
            e.into_error()
        });
        match sent {
            Ok(r) => {
                let lease = pooled.then(|| (sender, generation, Arc::clone(&shared.pool)));
                let r = r.map(|b| pool::Returning::new(b, lease));
                if !(safe && whole_before_passed_on(&parts.method, &r)) {
                    break Answer::Streaming(r);
                }
                // Read whole first: an app killed half-way through its answer (its
                // Content-Length not reached) fails the read, and the request goes again
                // instead of the client getting a cut answer.
                match read_whole(r).await {
                    Ok(whole) => break Answer::Whole(whole),
                    Err(_) if attempt < RETRIES => {
                        tokio::time::sleep(RETRY_PAUSE * (1 << attempt)).await;
                        attempt += 1;
                    }
                    Err(e) => {
                        return bad_gateway(&format!(
                            "the app's answer ended half-way ({e}); it may have been restarting"
                        ));
                    }
                }
            }
            // A kept-alive connection the app closed while it was idle: not a failure of the
            // app, and the request never reached it.
            Err(_) if pooled && reused => {}
            // The connection ended before a byte of the request was written: any request,
            // a POST too, may go again, on another connection.
            Err(_) if unsent.is_some() && attempt < RETRIES => {
                attempt += 1;
                body = unsent.map(Request::into_body);
            }
            Err(_) if safe && attempt < RETRIES => {
                tokio::time::sleep(RETRY_PAUSE * (1 << attempt)).await;
                attempt += 1;
            }
            // Reset, no answer: the app closed the connection with the request unread in it.
            Err(e) if kept.is_some() && reset_unread(&e) && attempt < RETRIES => {
                tokio::time::sleep(RETRY_PAUSE * (1 << attempt)).await;
                attempt += 1;
            }
            Err(e) => {
                return bad_gateway(&format!(
                    "the app closed the connection without answering ({e}); it may have been \
                     restarting"
                ));
            }
        }
    };
    let mut response = match answer {
        Answer::Streaming(response) => response,
        Answer::Whole(mut response) => {
            strip_hop_by_hop(response.headers_mut());
            let html = shared.reload && is_html(&response);
            let (head, bytes) = response.into_parts();
            return if html {
                script_into(head, bytes)
            } else {
                Response::from_parts(head, full(bytes))
            };
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            let app = hyper::upgrade::on(&mut response);
            tokio::spawn(websocket::tunnel(client, app));
        }
        return response.map(|_| empty());
    }
    strip_hop_by_hop(response.headers_mut());
    if shared.reload && parts.method != Method::HEAD && is_html(&response) {
        return with_script(response).await;
    }
    response.map(|b| b.map_err(BoxError::from).boxed())
}

/// The app's answer as it is passed on.
enum Answer {
    /// Streamed as it comes.
    Streaming(Response<pool::Returning>),
    /// Read whole first (see `whole_before_passed_on`).
    Whole(Response<Bytes>),
}

async fn read_whole(response: Response<pool::Returning>) -> Result<Response<Bytes>, hyper::Error> {
    let (head, body) = response.into_parts();
    let whole = body.collect().await?.to_bytes();
    Ok(Response::from_parts(head, whole))
}

/// Whether the app's answer to a safe request is read whole before any of it is passed on: a
/// small one of a declared length (up to `KEPT_BODY`), which cannot be a stream that must flow
/// as it comes (those are chunked or unsized).
fn whole_before_passed_on<B>(method: &Method, response: &Response<B>) -> bool {
    *method != Method::HEAD
        && response.status() != StatusCode::SWITCHING_PROTOCOLS
        && content_length(response.headers()).is_some_and(|n| n > 0 && n <= KEPT_BODY)
}

enum Refusal {
    Failed(Failure),
    Unreachable(String),
}

/// Connects to the app, waiting while it restarts (an app that binds its own port refuses
/// connections in between).
async fn connect(addr: SocketAddr, shared: &Shared) -> Result<TcpStream, Refusal> {
    let deadline = Instant::now() + CONNECT_PATIENCE;
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            // Refused: nothing listens yet. Reset: the old app closed its socket with this
            // connection still queued. Both mean "restarting": wait for the next app.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                ) =>
            {
                let (failure, bound_late) = {
                    let state = shared.state();
                    let late = state.app_since.is_some_and(|t| t.elapsed() > BIND_GRACE);
                    (state.failure.clone(), late)
                };
                if let Some(failure) = failure {
                    return Err(Refusal::Failed(failure));
                }
                if bound_late || Instant::now() >= deadline {
                    return Err(Refusal::Unreachable(format!(
                        "nothing accepts connections on {addr}: is it the address the app \
                         listens on ([run] app_addr / [browser] app_port)?"
                    )));
                }
                tokio::time::sleep(CONNECT_RETRY).await;
            }
            Err(e) => {
                return Err(Refusal::Unreachable(format!(
                    "cannot connect to the app at {addr}: {e}"
                )));
            }
        }
    }
}

/// An HTTP/1.1 connection to the app over `stream`; `upgrades`: it may be taken over (a
/// WebSocket).
async fn handshake(
    stream: TcpStream,
    upgrades: bool,
) -> Result<hyper::client::conn::http1::SendRequest<Body>, hyper::Error> {
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(quickack::AppStream(stream))).await?;
    if upgrades {
        tokio::spawn(connection.with_upgrades());
    } else {
        tokio::spawn(connection);
    }
    Ok(sender)
}

/// Headers that belong to one connection, not to the request or answer (RFC 9110 7.6.1): the
/// ones `Connection` names, and the usual ones.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<header::HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| header::HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::HeaderName::from_static("keep-alive"),
        header::HeaderName::from_static("proxy-connection"),
        header::TE,
        header::TRAILER,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("upgrade"))
}

fn append_forwarded_for(headers: &mut HeaderMap, ip: IpAddr) {
    let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {ip}"),
        None => ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert("x-forwarded-for", v);
    }
}

fn is_html<B>(response: &Response<B>) -> bool {
    let status = response.status();
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// The app's HTML page, decoded and with the live-reload script; sent uncompressed (hot and the
/// browser are on the same machine). A page that is too big or in an unknown encoding passes
/// through untouched.
async fn with_script(response: Response<pool::Returning>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_HTML) {
        return Response::from_parts(parts, body.map_err(BoxError::from).boxed());
    }
    let bytes = match Limited::new(body, MAX_HTML).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return bad_gateway(&format!("reading the app's HTML page failed: {e}")),
    };
    script_into(parts, bytes)
}

/// An HTML page with the live-reload script in it (decoded first), or as it is in an encoding
/// hot cannot read.
fn script_into(mut parts: hyper::http::response::Parts, bytes: Bytes) -> Response<Body> {
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(html) = inject::decode(encoding.as_deref(), &bytes) else {
        return Response::from_parts(parts, full(bytes));
    };
    let page = inject::inject(&html);
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, page.len().into());
    Response::from_parts(parts, full(Bytes::from(page)))
}

/// `/__hot/open`: a click on a `file:line` of the failure view. Answered only for a POST from
/// a page of this origin carrying the page's token, and only for a file inside the project;
/// the app loop then runs the editor.
async fn open(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "hot: POST only\n");
    }
    // A browser names the page's origin on every POST, and the only caller is hot's own
    // failure view: a request without an Origin (not from a browser page) is refused, and so is
    // one from a page of a host that is not hot's.
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !shared.hosts.allows_origin(origin) {
        return text(
            StatusCode::FORBIDDEN,
            host::AllowedHosts::refusal("Origin", origin),
        );
    }
    let body = match Limited::new(req.into_body(), 4096).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "hot: too large\n"),
    };
    let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let token_ok = shared
        .token
        .as_deref()
        .is_some_and(|t| asked["token"].as_str() == Some(t));
    if !token_ok {
        return text(
            StatusCode::FORBIDDEN,
            "hot: refused: only hot's own failure view may open files\n",
        );
    }
    let Some((path, line, column)) = asked["target"]
        .as_str()
        .and_then(crate::editor::parse_target)
    else {
        return text(StatusCode::BAD_REQUEST, "hot: expected path:line[:col]\n");
    };
    let Some(path) = crate::editor::inside(&shared.root, &path) else {
        return text(
            StatusCode::FORBIDDEN,
            "hot: refused: not a file of the project\n",
        );
    };
    let location = crate::editor::Location { path, line, column };
    if shared.events.send(Event::OpenInEditor(location)).is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "hot: shutting down\n");
    }
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// 128 random bits as hex, from the system's generator.
fn random_token() -> Option<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `/__hot/events`: a Server-Sent Events stream of reload, css, build-failed and build-ok.
fn events(shared: &Shared) -> Response<Body> {
    let mut browsers = shared.browsers.subscribe();
    let overlay = shared.state().overlay.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(16);
    tokio::spawn(async move {
        let frame = |text: String| Ok(Frame::data(Bytes::from(text)));
        // A page whose stream broke (hot restarted) reconnects after a second.
        if tx.send(frame("retry: 1000\n\n".into())).await.is_err() {
            return;
        }
        if let Some(data) = overlay {
            let _ = tx
                .send(frame(format!("event: build-failed\ndata: {data}\n\n")))
                .await;
        }
        loop {
            let text = tokio::select! {
                event = browsers.recv() => match event {
                    Ok(BrowserEvent::Reload) => "event: reload\ndata: \n\n".to_owned(),
                    Ok(BrowserEvent::Css) => "event: css\ndata: \n\n".to_owned(),
                    Ok(BrowserEvent::BuildFailed(data)) => format!("event: build-failed\ndata: {data}\n\n"),
                    Ok(BrowserEvent::BuildOk) => "event: build-ok\ndata: \n\n".to_owned(),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = tokio::time::sleep(KEEPALIVE) => ": keepalive\n\n".to_owned(),
                () = tx.closed() => return,
            };
            if tx.send(frame(text)).await.is_err() {
                return;
            }
        }
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut r = Response::new(BodyExt::boxed(body));
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn no_store(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn close_after(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// A request's declared body length (`Transfer-Encoding` wins over it, RFC 9112 6.3).
fn content_length(headers: &HeaderMap) -> Option<usize> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the app reset the connection before answering: a socket closed with data unread
/// in it is reset (a plain close after reading everything is not), so the app never read the
/// whole request.
fn reset_unread(e: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return io.kind() == io::ErrorKind::ConnectionReset;
        }
        source = cause.source();
    }
    false
}

fn bad_gateway(why: &str) -> Response<Body> {
    text(StatusCode::BAD_GATEWAY, format!("hot: {why}\n"))
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    plain(status, "text/plain; charset=utf-8", body)
}

fn plain(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}
