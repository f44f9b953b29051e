//! Kept-alive connections to the app, so that a request through hot costs a write and a read
//! instead of a connect, an accept and a close on both sides.
//!
//! Emptied whenever an app is started or stopped, and not used at all while an app is being
//! stopped: until it has exited it may still accept a new connection (its stop signal is
//! handled a moment later), and a connection kept alive to it would keep it busy, and alive,
//! until SIGKILL. So a request never reaches a stopping app over a kept connection. Only safe requests (GET, HEAD, OPTIONS without a
//! body) use the pool: a connection the app closed while it sat idle fails the request before
//! any answer, and only a safe request may then be sent again.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;

use super::Body;

/// Idle connections kept at most; more are closed when their request is done.
const MAX_IDLE: usize = 64;

#[derive(Debug)]
pub struct Pool {
    inner: Mutex<Inner>,
    /// Apps stopped and not gone yet: while there is one, no connection is kept, and requests
    /// that may not be sent twice wait (a watch, so that they can).
    stopping: tokio::sync::watch::Sender<Vec<u64>>,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            inner: Mutex::default(),
            stopping: tokio::sync::watch::Sender::new(Vec::new()),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped at every start and stop of an app: connections of an older generation are
    /// closed instead of coming back.
    generation: u64,
    idle: Vec<SendRequest<Body>>,
}

/// A connection out of the pool or new, and the generation it belongs to.
pub struct Lease {
    pub sender: SendRequest<Body>,
    pub generation: u64,
    /// It served a request before (so the app may have closed it meanwhile).
    pub reused: bool,
}

impl Pool {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Plain pushes and pops: a panic cannot leave it half-updated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection that is still open. It may still be finishing its last answer:
    /// wait for `sender.ready()` before sending on it.
    pub fn take(&self) -> Option<Lease> {
        let mut inner = self.inner();
        let generation = inner.generation;
        while let Some(sender) = inner.idle.pop() {
            if !sender.is_closed() {
                return Some(Lease {
                    sender,
                    generation,
                    reused: true,
                });
            }
        }
        None
    }

    pub fn generation(&self) -> u64 {
        self.inner().generation
    }

    /// A connection whose answer has been read to the end, for the next request.
    pub fn give_back(&self, sender: SendRequest<Body>, generation: u64) {
        let mut inner = self.inner();
        if generation == inner.generation
            && self.stopping.borrow().is_empty()
            && inner.idle.len() < MAX_IDLE
            && !sender.is_closed()
        {
            inner.idle.push(sender);
        }
    }

    /// An app is starting: no idle connection is used again.
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.generation += 1;
        inner.idle.clear();
    }

    /// App `app` is being stopped: drop the kept connections, and keep none until it is gone.
    pub fn stopping(&self, app: u64) {
        let mut inner = self.inner();
        inner.generation += 1;
        inner.idle.clear();
        self.stopping.send_if_modified(|stopping| {
            let new = !stopping.contains(&app);
            if new {
                stopping.push(app);
            }
            new
        });
    }

    /// App `app` exited.
    pub fn gone(&self, app: u64) {
        self.stopping.send_if_modified(|stopping| {
            let before = stopping.len();
            stopping.retain(|a| *a != app);
            stopping.len() != before
        });
    }

    /// Returns once no app is being stopped (at once if none is), or after `patience`.
    ///
    /// A stopping app may still accept a connection from the socket it shares with the next
    /// one, and a server that stops gracefully closes what it accepted and had not read yet
    /// (hyper, actix-web): a request that cannot be sent twice must not go to it. With
    /// stop-then-start nothing is lost by waiting (the next app starts after the old one
    /// exits); with overlap, such a request waits for the old app's exit.
    pub async fn none_stopping(&self, patience: std::time::Duration) {
        let mut stopping = self.stopping.subscribe();
        let _ = tokio::time::timeout(patience, stopping.wait_for(Vec::is_empty)).await;
    }
}

/// The app's answer body, which puts a pooled connection back once it was read to the end (no task per request: the answer's own end does it). A client that goes away half-way
/// drops it unfinished, and the connection with it.
pub struct Returning {
    inner: Incoming,
    lease: Option<(SendRequest<Body>, u64, Arc<Pool>)>,
    ended: bool,
}

impl Returning {
    /// `lease`: the connection to give back, its generation and its pool; `None` for a
    /// connection that is not pooled.
    pub fn new(inner: Incoming, lease: Option<(SendRequest<Body>, u64, Arc<Pool>)>) -> Self {
        Returning {
            inner,
            lease,
            ended: false,
        }
    }
}

impl HttpBody for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if self.ended || self.inner.is_end_stream() {
            if let Some((sender, generation, pool)) = self.lease.take() {
                pool.give_back(sender, generation);
            }
        }
    }
}
