//! The keys that can be set from the command line (`--build.cmd`) and the environment
//! (`HOT_BUILD_CMD`), and how such a setting becomes a layer over the file.

use std::path::Path;

use crate::error::Error;

use super::file::*;

/// The type of a config key, to turn a flag's text into a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated on the command line.
    List,
    /// `K=V,K2=V2` on the command line.
    Map,
}

/// Every key that can be set from the command line (`--build.cmd`) or the environment
/// (`HOT_BUILD_CMD`).
pub(super) const KEYS: &[(&str, Kind)] = &[
    ("listen", Kind::List),
    ("listen_mode", Kind::Str),
    ("watch.paths", Kind::List),
    ("watch.include_ext", Kind::List),
    ("watch.include", Kind::List),
    ("watch.exclude", Kind::List),
    ("watch.exclude_regex", Kind::List),
    ("watch.gitignore", Kind::Bool),
    ("watch.debounce_ms", Kind::Int),
    ("watch.poll", Kind::Bool),
    ("watch.poll_interval_ms", Kind::Int),
    ("build.cmd", Kind::Str),
    ("build.tmp_dir", Kind::Str),
    ("build.env", Kind::Map),
    ("build.color", Kind::Bool),
    ("run.cmd", Kind::Str),
    ("run.env", Kind::Map),
    ("run.env_files", Kind::List),
    ("run.stop_signal", Kind::Str),
    ("run.stop_timeout_ms", Kind::Int),
    ("run.restart", Kind::Str),
    ("once.probe", Kind::Str),
    ("once.probe_path", Kind::Str),
    ("once.timeout_ms", Kind::Int),
    ("once.expect_status", Kind::Int),
    ("once.settle_ms", Kind::Int),
    ("run.ready", Kind::Str),
    ("run.restart_mode", Kind::Str),
    ("run.kill_mode", Kind::Str),
    ("run.error_page", Kind::Bool),
    ("run.app_addr", Kind::Str),
    ("run.hold_ports", Kind::Bool),
    ("run.port_env", Kind::Str),
    ("run.stdin", Kind::Str),
    ("ui.clear_on_rebuild", Kind::Bool),
    ("browser.reload", Kind::Bool),
    ("browser.app_port", Kind::Int),
    ("browser.editor", Kind::Str),
    ("proxy.enabled", Kind::Bool),
    ("proxy.app_port", Kind::Int),
    ("proxy.allowed_hosts", Kind::List),
];

/// Whether `key` ("build.cmd") is a key flags and the environment can set.
pub fn is_key(key: &str) -> bool {
    KEYS.iter().any(|(k, _)| *k == key)
}

pub fn key_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(k, _)| *k)
}

/// `HOT_BUILD_CMD` for `build.cmd`.
pub(super) fn env_name(key: &str) -> String {
    format!("HOT_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Reads the `HOT_*` variables that name config keys.
pub fn env_overrides() -> Vec<(String, String)> {
    KEYS.iter()
        .filter_map(|(key, _)| {
            std::env::var(env_name(key))
                .ok()
                .map(|v| (key.to_string(), v))
        })
        .collect()
}

/// One key set from outside the file, as a one-key ConfigFile layer.
pub(super) fn layer(key: &str, raw: &str, origin: &str) -> Result<ConfigFile, Error> {
    let kind = KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{origin}: unknown key `{key}` (keys: {})",
                key_names().collect::<Vec<_>>().join(", ")
            ))
        })?;
    let bad = |what: &str| Error::Usage(format!("{origin}: expected {what}, got {raw:?}"));
    let list = || {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.to_owned()))
    };
    let value = match kind {
        Kind::Str => toml::Value::String(raw.to_owned()),
        Kind::Int => toml::Value::Integer(raw.trim().parse().map_err(|_| bad("a whole number"))?),
        Kind::Bool => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad("true or false")),
        }),
        Kind::List => toml::Value::Array(list().collect()),
        Kind::Map => {
            let mut table = toml::Table::new();
            for pair in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| bad("KEY=VALUE pairs separated by commas"))?;
                table.insert(k.trim().to_owned(), toml::Value::String(v.to_owned()));
            }
            toml::Value::Table(table)
        }
    };
    let mut doc = toml::Table::new();
    match key.split_once('.') {
        Some((section, leaf)) => {
            let mut inner = toml::Table::new();
            inner.insert(leaf.to_owned(), value);
            doc.insert(section.to_owned(), toml::Value::Table(inner));
        }
        None => {
            doc.insert(key.to_owned(), value);
        }
    }
    let text = toml::to_string(&doc).map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
    parse(Path::new(origin), &text).map_err(|e| match e {
        Error::Config { message, .. } => Error::Usage(format!("{origin} {raw:?}: {message}")),
        other => other,
    })
}
