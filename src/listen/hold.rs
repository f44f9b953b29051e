//! The ports an app binds itself, held by hot across its restarts: which socket a bind gets.
//!
//! An app written the way its framework's README writes it binds its own port
//! (`http.ListenAndServe(":8080", …)`, `app.listen(3000)`). On Linux hot sees each of those
//! `bind()` calls (`intercept`): the first bind of an address goes through on the app's own
//! socket, of which hot keeps a copy; a later app's bind of the same address gets that socket
//! put in place of its own, already bound and listening. Connections made while the app
//! restarts wait in the socket's backlog, as with fd 3.
//!
//! This module is the bookkeeping, free of system calls so that it can be tested on every
//! platform: which held socket answers which bind, and when one nobody binds any more is let go.

// Only Linux answers binds with it; it is built and tested everywhere all the same.
#![cfg_attr(not(linux_native), allow(dead_code))]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one bind asks for. Go binds `[::]:PORT` dual-stack, Python `0.0.0.0:PORT`: sockets
/// that differ in family, address or `IPV6_V6ONLY` are different sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BindKey {
    pub addr: SocketAddr,
    /// `IPV6_V6ONLY` (false for IPv4).
    pub v6only: bool,
}

impl BindKey {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// Where a held socket came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// One of `listen`, bound by hot at start: held for the whole session whatever the app
    /// does, and given to an app that binds its port, whatever address it names (the user
    /// chose the address).
    Pinned,
    /// Learned from the app's first bind: held while apps keep binding it.
    Learned,
}

/// Which app process a bind came from: each start is a new generation.
pub type Generation = u64;

#[derive(Debug)]
struct Held<S> {
    key: BindKey,
    socket: S,
    origin: Origin,
    /// The newest generation that bound it.
    claimed_by: Generation,
}

/// How a bind is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer<'a, S> {
    /// Put this held socket in place of the app's; `Origin` says which kind it is.
    Hand(&'a S, Origin),
    /// Bind the app's own socket (and learn it); first let go of these held sockets of an
    /// older generation on the same port, which would make that bind fail.
    Bind { release: Vec<BindKey> },
}

/// When a generation's unclaimed sockets are let go: once it has bound what it binds. Apps
/// bind all their ports within moments of each other at start; a slow one (a framework that
/// loads for seconds before binding) may bind nothing for a while, and its old sockets stay
/// meanwhile, holding the connections that wait for it.
#[derive(Debug, Clone, Copy)]
pub struct SweepRule {
    /// Quiet after the generation's latest bind.
    pub after_last_bind: Duration,
    /// Since its start, even if it bound nothing.
    pub after_start: Duration,
}

impl SweepRule {
    pub const DEFAULT: SweepRule = SweepRule {
        after_last_bind: Duration::from_secs(3),
        after_start: Duration::from_secs(60),
    };

    /// Whether a generation started at `started`, whose latest bind was at `last_bind`, has
    /// settled by `now`.
    pub fn settled(&self, started: Instant, last_bind: Option<Instant>, now: Instant) -> bool {
        last_bind.is_some_and(|t| now.duration_since(t) >= self.after_last_bind)
            || now.duration_since(started) >= self.after_start
    }
}

/// Every socket held for one app, pinned and learned. `S` is the socket (an fd in hot, a plain
/// value in tests).
#[derive(Debug)]
pub struct HeldPorts<S> {
    held: Vec<Held<S>>,
    newest: Generation,
}

impl<S> Default for HeldPorts<S> {
    fn default() -> Self {
        HeldPorts {
            held: Vec::new(),
            newest: 0,
        }
    }
}

impl<S> HeldPorts<S> {
    /// A new app process is starting: its generation.
    pub fn next_generation(&mut self) -> Generation {
        self.newest += 1;
        self.newest
    }

    /// Replaces the pinned sockets (hot's `listen`, which a config reload may change).
    pub fn pin(&mut self, sockets: impl IntoIterator<Item = (BindKey, S)>) {
        self.held.retain(|h| h.origin != Origin::Pinned);
        for (key, socket) in sockets {
            self.held.push(Held {
                key,
                socket,
                origin: Origin::Pinned,
                claimed_by: 0,
            });
        }
    }

    /// How a bind of `key` by `generation` is answered. A socket handed out counts as claimed.
    pub fn answer(&mut self, key: BindKey, generation: Generation) -> Answer<'_, S> {
        let exact = self.held.iter().position(|h| h.key == key);
        let pinned_port = || {
            self.held
                .iter()
                .position(|h| h.origin == Origin::Pinned && h.key.port() == key.port())
        };
        if let Some(i) = exact.or_else(pinned_port) {
            let held = &mut self.held[i];
            held.claimed_by = held.claimed_by.max(generation);
            return Answer::Hand(&self.held[i].socket, self.held[i].origin);
        }
        let release = self
            .held
            .iter()
            .filter(|h| {
                h.origin == Origin::Learned
                    && h.key.port() == key.port()
                    && h.claimed_by < generation
            })
            .map(|h| h.key)
            .collect();
        Answer::Bind { release }
    }

    /// Lets go of the sockets held for `keys` (dropping them closes hot's copies).
    pub fn release(&mut self, keys: &[BindKey]) -> Vec<S> {
        let (gone, kept) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.origin == Origin::Learned && keys.contains(&h.key));
        self.held = kept;
        gone.into_iter().map(|h| h.socket).collect()
    }

    /// The app's own bind of `key` went through: hold its socket from now on.
    pub fn learn(&mut self, key: BindKey, socket: S, generation: Generation) {
        self.held.retain(|h| h.key != key);
        self.held.push(Held {
            key,
            socket,
            origin: Origin::Learned,
            claimed_by: generation,
        });
    }

    /// `generation` has settled: learned sockets that neither it nor a newer one bound are
    /// let go. Returns what was let go.
    pub fn sweep(&mut self, generation: Generation) -> Vec<(BindKey, S)> {
        let (gone, kept) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.origin == Origin::Learned && h.claimed_by < generation);
        self.held = kept;
        gone.into_iter().map(|h| (h.key, h.socket)).collect()
    }

    /// What `generation` made of the sockets: the learned ones it bound, and the pinned ones
    /// (hot's `listen`) it did not bind. An app that bound ports of its own and none of hot's
    /// may be serving somewhere else than where hot takes its connections.
    pub fn bound_by(&self, generation: Generation) -> (Vec<BindKey>, Vec<&S>) {
        let learned = self
            .held
            .iter()
            .filter(|h| h.origin == Origin::Learned && h.claimed_by == generation)
            .map(|h| h.key)
            .collect();
        let unclaimed = self
            .held
            .iter()
            .filter(|h| h.origin == Origin::Pinned && h.claimed_by < generation)
            .map(|h| &h.socket)
            .collect();
        (learned, unclaimed)
    }

    /// Whether `is` picks out a held socket.
    pub fn holds(&self, is: impl Fn(&S) -> bool) -> bool {
        self.held.iter().any(|h| is(&h.socket))
    }

    pub fn sockets(&self) -> impl Iterator<Item = (&BindKey, &S)> {
        self.held.iter().map(|h| (&h.key, &h.socket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(addr: &str, v6only: bool) -> BindKey {
        BindKey {
            addr: addr.parse().unwrap(),
            v6only,
        }
    }

    #[test]
    fn the_first_bind_goes_through_and_the_next_app_gets_the_same_socket() {
        let mut ports: HeldPorts<u32> = HeldPorts::default();
        let first = ports.next_generation();
        let go = key("[::]:8080", false);
        assert_eq!(ports.answer(go, first), Answer::Bind { release: vec![] });
        ports.learn(go, 7, first);
        let second = ports.next_generation();
        assert_eq!(ports.answer(go, second), Answer::Hand(&7, Origin::Learned));
        // A v6-only socket on the same address is another socket.
        assert_eq!(
            ports.answer(key("[::]:8080", true), second),
            Answer::Bind { release: vec![] }
        );
    }

    #[test]
    fn a_pinned_socket_serves_any_bind_of_its_port() {
        let mut ports: HeldPorts<u32> = HeldPorts::default();
        ports.pin([(key("127.0.0.1:8080", false), 1)]);
        let g = ports.next_generation();
        assert_eq!(
            ports.answer(key("[::]:8080", false), g),
            Answer::Hand(&1, Origin::Pinned)
        );
        assert_eq!(
            ports.answer(key("0.0.0.0:8080", false), g),
            Answer::Hand(&1, Origin::Pinned)
        );
        assert_eq!(
            ports.answer(key("0.0.0.0:8081", false), g),
            Answer::Bind { release: vec![] }
        );
        let (learned, unclaimed) = ports.bound_by(g);
        assert!(learned.is_empty() && unclaimed.is_empty());
        // Sweeping never lets a pinned socket go.
        assert!(ports.sweep(g + 5).is_empty());
    }

    #[test]
    fn an_app_that_binds_its_own_port_and_not_hots_is_told_apart() {
        let mut ports: HeldPorts<u32> = HeldPorts::default();
        ports.pin([(key("127.0.0.1:8080", false), 1)]);
        let g = ports.next_generation();
        ports.learn(key("127.0.0.1:3000", false), 2, g);
        let (learned, unclaimed) = ports.bound_by(g);
        assert_eq!(learned, vec![key("127.0.0.1:3000", false)]);
        assert_eq!(unclaimed, vec![&1]);
    }

    #[test]
    fn an_app_that_moves_to_another_address_on_the_same_port_frees_the_old_socket_first() {
        let mut ports: HeldPorts<u32> = HeldPorts::default();
        let first = ports.next_generation();
        ports.learn(key("0.0.0.0:5000", false), 3, first);
        let second = ports.next_generation();
        let moved = key("127.0.0.1:5000", false);
        assert_eq!(
            ports.answer(moved, second),
            Answer::Bind {
                release: vec![key("0.0.0.0:5000", false)]
            }
        );
        assert_eq!(ports.release(&[key("0.0.0.0:5000", false)]), vec![3]);
        ports.learn(moved, 4, second);
        assert_eq!(ports.sockets().count(), 1);
    }

    #[test]
    fn a_socket_the_settled_generation_did_not_bind_is_let_go() {
        let mut ports: HeldPorts<u32> = HeldPorts::default();
        let first = ports.next_generation();
        ports.learn(key("127.0.0.1:3000", false), 1, first);
        ports.learn(key("127.0.0.1:9229", false), 2, first);
        let second = ports.next_generation();
        assert_eq!(
            ports.answer(key("127.0.0.1:3000", false), second),
            Answer::Hand(&1, Origin::Learned)
        );
        let gone = ports.sweep(second);
        assert_eq!(gone, vec![(key("127.0.0.1:9229", false), 2)]);
        // An older generation settling late lets go of nothing the newer one holds.
        assert!(ports.sweep(first).is_empty());
    }

    #[test]
    fn settling_waits_for_quiet_after_the_last_bind_or_a_long_time() {
        let rule = SweepRule::DEFAULT;
        let t0 = Instant::now();
        assert!(!rule.settled(t0, None, t0 + Duration::from_secs(59)));
        assert!(rule.settled(t0, None, t0 + Duration::from_secs(60)));
        let bind = t0 + Duration::from_secs(10);
        assert!(!rule.settled(t0, Some(bind), bind + Duration::from_secs(2)));
        assert!(rule.settled(t0, Some(bind), bind + Duration::from_secs(3)));
    }

    /// Seeded random schedules of generations binding ports: whatever the order, no two held
    /// sockets answer one key, a bind of a held key is always handed the socket, and a pinned
    /// socket is never let go. Replay with HOT_HOLD_SEED.
    #[test]
    fn random_schedules_keep_the_invariants() {
        let seeds: Vec<u64> = match std::env::var("HOT_HOLD_SEED") {
            Ok(s) => vec![s.parse().expect("HOT_HOLD_SEED is a number")],
            Err(_) => (0..500).collect(),
        };
        for seed in seeds {
            let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let mut next = |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let addrs = ["127.0.0.1", "0.0.0.0", "[::]", "[::1]"];
            let mut ports: HeldPorts<u32> = HeldPorts::default();
            if next(2) == 0 {
                ports.pin([(key("127.0.0.1:8080", false), 0)]);
            }
            let mut generation = ports.next_generation();
            let mut socket = 1;
            for _ in 0..200 {
                match next(10) {
                    0 => generation = ports.next_generation(),
                    1 => {
                        ports.sweep(generation);
                    }
                    _ => {
                        let addr = format!("{}:{}", addrs[next(4) as usize], 8080 + next(3));
                        let k = key(&addr, next(2) == 0 && addr.starts_with('['));
                        let held_before = ports.sockets().any(|(hk, _)| *hk == k);
                        match ports.answer(k, generation) {
                            Answer::Hand(..) => {}
                            Answer::Bind { release } => {
                                assert!(!held_before, "seed {seed}: {k:?} held but not handed");
                                ports.release(&release);
                                ports.learn(k, socket, generation);
                                socket += 1;
                            }
                        }
                    }
                }
                let keys: Vec<BindKey> = ports.sockets().map(|(k, _)| *k).collect();
                for (i, k) in keys.iter().enumerate() {
                    assert!(!keys[i + 1..].contains(k), "seed {seed}: {k:?} held twice");
                }
            }
            if ports.held.iter().any(|h| h.origin == Origin::Pinned) {
                ports.sweep(generation + 1);
                assert!(
                    ports.holds(|s| *s == 0),
                    "seed {seed}: the pinned socket went"
                );
            }
        }
    }
}
