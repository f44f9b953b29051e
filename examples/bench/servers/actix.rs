//! actix-web 4 on the socket from `listenfd`; actix stops gracefully on SIGTERM by itself.
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut fds = listenfd::ListenFd::from_env();
    let listener = fds.take_tcp_listener(0)?.expect("no socket from LISTEN_FDS");
    let body = format!("ok {}\n", std::process::id());
    actix_web::HttpServer::new(move || {
        let body = body.clone();
        let echo = body.clone();
        // GET answers; POST reads its body first, as a form or JSON handler does.
        actix_web::App::new()
            .route("/", actix_web::web::get().to(move || {
                let body = body.clone();
                async move { body }
            }))
            .route("/", actix_web::web::post().to(move |_form: String| {
                let body = echo.clone();
                async move { body }
            }))
    })
    .workers(2)
    .listen(listener)?
    .run()
    .await
}
