//! Which `Host` and `Origin` may reach hot's own surfaces: `/__hot/*`, the event stream and the
//! failure page.
//!
//! hot listens on a developer's laptop, beside a browser that visits any site. A page on
//! another site whose name resolves to 127.0.0.1 (DNS rebinding) reaches hot with its own name
//! in `Host`; the browser then treats hot's answers as that site's, readable by its scripts. So
//! hot answers its own surfaces only for names that can only mean this machine: loopback
//! addresses, `localhost` and `*.localhost` (which browsers resolve to loopback themselves), the
//! machine's own name and addresses, and the names the user allows (`[proxy] allowed_hosts`,
//! for a tunnel or a custom development domain; `"all"` to opt out). The app's own traffic is
//! the app's business and passes untouched.

use std::net::IpAddr;

/// The names and addresses that may reach hot's own surfaces.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    /// `"all"` was listed: every host (the user opted out).
    all: bool,
    /// Lowercase names; `*.example.test` allows every name under `example.test`.
    names: Vec<String>,
    /// The machine's own addresses (its interfaces), beside loopback.
    addresses: Vec<IpAddr>,
}

impl AllowedHosts {
    /// `configured`: `[proxy] allowed_hosts`. The machine's name and addresses are read here.
    pub fn new(configured: &[String]) -> AllowedHosts {
        let mut names: Vec<String> = configured
            .iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        let all = names.iter().any(|n| n == "all");
        if let Ok(name) = nix::unistd::gethostname() {
            if let Some(name) = name.to_str() {
                let name = name.to_ascii_lowercase();
                // The short name and, as macOS answers for it, NAME.local.
                names.push(format!("{name}.local"));
                names.push(name);
            }
        }
        let addresses = nix::ifaddrs::getifaddrs()
            .map(|addrs| {
                addrs
                    .filter_map(|a| a.address)
                    .filter_map(|a| {
                        a.as_sockaddr_in()
                            .map(|v4| IpAddr::V4(v4.ip()))
                            .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                    })
                    .collect()
            })
            .unwrap_or_default();
        AllowedHosts {
            all,
            names,
            addresses,
        }
    }

    /// Only what is fixed: loopback and `localhost`, and `names` (for tests).
    #[cfg(test)]
    pub fn fixed(names: &[&str]) -> AllowedHosts {
        AllowedHosts {
            all: names.contains(&"all"),
            names: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            addresses: Vec::new(),
        }
    }

    /// Whether a `Host` header (`name`, `name:port`, `[v6]:port`, `v4:port`) is one of hot's.
    /// A missing or malformed one is not.
    pub fn allows_host(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        match split_host(host) {
            Some(name) => self.allows_name(&name),
            None => false,
        }
    }

    /// Whether an `Origin` header (`http://name:port`) names one of hot's hosts. `null` (a
    /// sandboxed frame, a file) and anything but http(s) are not.
    pub fn allows_origin(&self, origin: &str) -> bool {
        if self.all {
            return true;
        }
        let Some(rest) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        // An origin is scheme://host[:port], never a path.
        if rest.contains('/') || rest.contains('@') {
            return false;
        }
        self.allows_host(rest)
    }

    fn allows_name(&self, name: &str) -> bool {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback() || self.addresses.contains(&ip) || mapped_loopback(ip);
        }
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        self.names
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(domain) => name
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
                None => allowed == name,
            })
    }

    /// The line a refused request gets: what was refused, and how to allow it.
    pub fn refusal(what: &str, value: &str) -> String {
        let shown: String = value
            .chars()
            .take(100)
            .filter(|c| !c.is_control())
            .collect();
        format!(
            "hot: refused: {what} {shown:?} is not one of hot's own hosts (loopback, localhost, \
             *.localhost, this machine's name and addresses). To reach hot's pages through \
             another name (a tunnel, a development domain), add it to [proxy] allowed_hosts in \
             .hot.toml.\n"
        )
    }
}

/// `::ffff:127.0.0.1` is loopback too.
fn mapped_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(_) => false,
    }
}

/// The host part of a `Host` header, lowercase, without a port or a trailing dot; `None` if
/// it is not a host name or address.
fn split_host(host: &str) -> Option<String> {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside.to_owned()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name.to_owned(),
            Some(_) => return None,
            None => host.to_owned(),
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'));
    valid.then_some(name)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_localhost_and_allowed_names_pass() {
        let hosts = AllowedHosts::fixed(&["myapp.test", "*.ngrok.app"]);
        for ok in [
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
            "localhost:3000",
            "LOCALHOST",
            "localhost.",
            "app.localhost:8080",
            "myapp.test:8080",
            "abc.ngrok.app",
        ] {
            assert!(hosts.allows_host(ok), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "localhost.evil.example",
            "evillocalhost",
            "ngrok.app",
            ".ngrok.app",
            "myapp.test.evil.example",
            "10.9.8.7:8080",
            "",
            "localhost:80:80",
            "[::1",
            "local host",
            "localhost:99999999",
        ] {
            assert!(!hosts.allows_host(refused), "{refused:?}");
        }
    }

    #[test]
    fn origins_are_checked_by_their_host() {
        let hosts = AllowedHosts::fixed(&[]);
        assert!(hosts.allows_origin("http://localhost:8080"));
        assert!(hosts.allows_origin("https://127.0.0.1:8443"));
        assert!(!hosts.allows_origin("http://evil.example:8080"));
        assert!(!hosts.allows_origin("null"));
        assert!(!hosts.allows_origin("file://"));
        assert!(!hosts.allows_origin("http://localhost:8080/path"));
        assert!(!hosts.allows_origin("http://user@localhost:8080"));
    }

    #[test]
    fn all_opts_out() {
        let hosts = AllowedHosts::fixed(&["all"]);
        assert!(hosts.allows_host("evil.example"));
        assert!(hosts.allows_origin("http://evil.example"));
    }

    /// Whatever bytes a page puts in Host or Origin, the check never panics, and a name that
    /// is neither loopback nor localhost nor allowed is never let through. Seeded; replay with
    /// HOT_HOST_SEED.
    #[test]
    fn random_hosts_never_panic_and_foreign_names_never_pass() {
        let seeds: Vec<u64> = match std::env::var("HOT_HOST_SEED") {
            Ok(s) => vec![s.parse().expect("HOT_HOST_SEED is a number")],
            Err(_) => (1..3000).collect(),
        };
        let hosts = AllowedHosts::fixed(&["dev.test"]);
        let alphabet = b"abcxyz0189.:-[]_%@/ \t\x00\xc3\xa9LOCALHOST";
        for seed in seeds {
            let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut next = |n: usize| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % n as u64) as usize
            };
            let len = next(30);
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            for candidate in [text.clone(), format!("{text}.evil.example:80")] {
                let passed = hosts.allows_host(&candidate);
                let _ = hosts.allows_origin(&format!("http://{candidate}"));
                if passed {
                    let name = split_host(&candidate).expect("a passing host parses");
                    let local = name
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback() || mapped_loopback(ip))
                        || name == "localhost"
                        || name.ends_with(".localhost")
                        || name == "dev.test";
                    assert!(local, "seed {seed}: {candidate:?} passed as {name:?}");
                }
            }
        }
    }
}
