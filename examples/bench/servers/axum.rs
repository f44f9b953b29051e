//! axum 0.8 on the socket from `listenfd`, with graceful shutdown on SIGTERM.
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() {
    let mut fds = listenfd::ListenFd::from_env();
    let std_listener = fds.take_tcp_listener(0).ok().flatten().expect("no socket from LISTEN_FDS");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
    let body = format!("ok {}\n", std::process::id());
    let echo = body.clone();
    // GET answers; POST reads its body first, as a form or JSON handler does.
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { body })
            .post(move |_form: String| async move { echo }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term = signal(SignalKind::terminate()).expect("signal");
            term.recv().await;
        })
        .await
        .expect("serve");
}
