//! The file as written: every leaf an `Option`, so that layers (file, `HOT_*`, flags) can be
//! laid over each other before anything is resolved.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::Error;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<Vec<Spanned<ListenEntry>>>,
    pub listen_mode: Option<Spanned<String>>,
    #[serde(default)]
    pub watch: WatchSection,
    #[serde(default)]
    pub build: BuildSection,
    #[serde(default)]
    pub run: RunSection,
    #[serde(default)]
    pub once: OnceSection,
    #[serde(default)]
    pub ui: UiSection,
    #[serde(default)]
    pub browser: BrowserSection,
    #[serde(default)]
    pub proxy: ProxySection,
    /// `[apps.NAME]`: several apps in one session, each with the keys above; the top-level
    /// keys are the defaults every app's own keys override.
    pub apps: Option<BTreeMap<String, Spanned<ConfigFile>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "an address string like \"127.0.0.1:8080\" or a table like { addr = \"127.0.0.1:8080\", name = \"web\" }"
)]
pub enum ListenEntry {
    Addr(String),
    Named(NamedListen),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedListen {
    pub addr: String,
    pub name: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSection {
    pub paths: Option<Vec<Spanned<String>>>,
    pub include_ext: Option<Vec<String>>,
    pub include: Option<Vec<Spanned<String>>>,
    pub exclude: Option<Vec<Spanned<String>>>,
    pub exclude_regex: Option<Vec<Spanned<String>>>,
    pub gitignore: Option<bool>,
    pub debounce_ms: Option<u64>,
    pub poll: Option<bool>,
    pub poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    pub cmd: Option<Spanned<String>>,
    pub tmp_dir: Option<Spanned<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub color: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub cmd: Option<Spanned<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<Spanned<String>>,
    pub stop_timeout_ms: Option<u64>,
    pub env_files: Option<Vec<Spanned<String>>>,
    pub restart: Option<Spanned<String>>,
    pub ready: Option<Spanned<String>>,
    pub restart_mode: Option<Spanned<String>>,
    pub kill_mode: Option<Spanned<String>>,
    pub error_page: Option<bool>,
    pub app_addr: Option<Spanned<String>>,
    pub hold_ports: Option<bool>,
    pub port_env: Option<Spanned<String>>,
    pub stdin: Option<Spanned<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnceSection {
    pub probe: Option<Spanned<String>>,
    pub probe_path: Option<Spanned<String>>,
    pub timeout_ms: Option<u64>,
    pub expect_status: Option<u16>,
    pub settle_ms: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSection {
    pub clear_on_rebuild: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSection {
    pub reload: Option<bool>,
    pub app_port: Option<Spanned<u16>>,
    pub editor: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    pub enabled: Option<bool>,
    pub app_port: Option<Spanned<u16>>,
    pub allowed_hosts: Option<Vec<String>>,
}

impl ConfigFile {
    /// This layer with every key that `top` sets replaced by `top`'s value.
    pub(super) fn overlay(self, top: ConfigFile) -> ConfigFile {
        ConfigFile {
            listen: top.listen.or(self.listen),
            listen_mode: top.listen_mode.or(self.listen_mode),
            watch: WatchSection {
                paths: top.watch.paths.or(self.watch.paths),
                include_ext: top.watch.include_ext.or(self.watch.include_ext),
                include: top.watch.include.or(self.watch.include),
                exclude: top.watch.exclude.or(self.watch.exclude),
                exclude_regex: top.watch.exclude_regex.or(self.watch.exclude_regex),
                gitignore: top.watch.gitignore.or(self.watch.gitignore),
                debounce_ms: top.watch.debounce_ms.or(self.watch.debounce_ms),
                poll: top.watch.poll.or(self.watch.poll),
                poll_interval_ms: top.watch.poll_interval_ms.or(self.watch.poll_interval_ms),
            },
            build: BuildSection {
                cmd: top.build.cmd.or(self.build.cmd),
                tmp_dir: top.build.tmp_dir.or(self.build.tmp_dir),
                env: top.build.env.or(self.build.env),
                color: top.build.color.or(self.build.color),
            },
            run: RunSection {
                cmd: top.run.cmd.or(self.run.cmd),
                env: top.run.env.or(self.run.env),
                stop_signal: top.run.stop_signal.or(self.run.stop_signal),
                stop_timeout_ms: top.run.stop_timeout_ms.or(self.run.stop_timeout_ms),
                env_files: top.run.env_files.or(self.run.env_files),
                restart: top.run.restart.or(self.run.restart),
                ready: top.run.ready.or(self.run.ready),
                restart_mode: top.run.restart_mode.or(self.run.restart_mode),
                kill_mode: top.run.kill_mode.or(self.run.kill_mode),
                error_page: top.run.error_page.or(self.run.error_page),
                app_addr: top.run.app_addr.or(self.run.app_addr),
                hold_ports: top.run.hold_ports.or(self.run.hold_ports),
                port_env: top.run.port_env.or(self.run.port_env),
                stdin: top.run.stdin.or(self.run.stdin),
            },
            once: OnceSection {
                probe: top.once.probe.or(self.once.probe),
                probe_path: top.once.probe_path.or(self.once.probe_path),
                timeout_ms: top.once.timeout_ms.or(self.once.timeout_ms),
                expect_status: top.once.expect_status.or(self.once.expect_status),
                settle_ms: top.once.settle_ms.or(self.once.settle_ms),
            },
            ui: UiSection {
                clear_on_rebuild: top.ui.clear_on_rebuild.or(self.ui.clear_on_rebuild),
            },
            browser: BrowserSection {
                reload: top.browser.reload.or(self.browser.reload),
                app_port: top.browser.app_port.or(self.browser.app_port),
                editor: top.browser.editor.or(self.browser.editor),
            },
            proxy: ProxySection {
                enabled: top.proxy.enabled.or(self.proxy.enabled),
                app_port: top.proxy.app_port.or(self.proxy.app_port),
                allowed_hosts: top.proxy.allowed_hosts.or(self.proxy.allowed_hosts),
            },
            apps: top.apps.or(self.apps),
        }
    }
}

/// A TOML syntax error, located in its file.
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
    Error::Config {
        path: path.to_path_buf(),
        line,
        column,
        key: None,
        message: e.message().trim_end().to_owned(),
    }
}

/// Parses the TOML, reporting the failing key and its line and column.
pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, Error> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(path, text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = inner.span().map_or((1, 1), |s| line_col(text, s.start));
        Error::Config {
            path: path.to_path_buf(),
            line,
            column,
            key: (key != "." && !key.is_empty()).then_some(key),
            message: inner.message().trim_end().to_owned(),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
