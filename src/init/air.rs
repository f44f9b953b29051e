//! Translating an `.air.toml` into a `.hot.toml`, so air users switch in one command.
//!
//! air's settings are read loosely (any types air accepts), mapped key by key, and every
//! setting without an equivalent is listed for the user rather than silently dropped.

use std::fmt::Write as _;
use std::path::Path;

use toml::{Table, Value};

use crate::config::toml_error;
use crate::error::Error;

use super::DEFAULT_LISTEN;

/// air's defaults (`runner/config.go`, `defaultConfig`). air merges a file over them, and a
/// setting left empty, zero or false in the file keeps the default.
const AIR_CMD: &str = "go build -o ./tmp/main .";
const AIR_BIN: &str = "./tmp/main";
const AIR_INCLUDE_EXT: &[&str] = &["go", "tpl", "tmpl", "html"];
const AIR_EXCLUDE_DIR: &[&str] = &["assets", "tmp", "vendor", "testdata"];
const AIR_EXCLUDE_REGEX: &[&str] = &["_test.go"];
const AIR_DEFAULT_DELAY_MS: i64 = 1000;
/// air's own minimum polling interval.
const AIR_MIN_POLL_MS: i64 = 500;

/// Every setting air knows, by table ("" for the top level).
const AIR_KEYS: &[(&str, &[&str])] = &[
    ("", &["root", "tmp_dir", "testdata_dir", "env_files"]),
    (
        "build",
        &[
            "pre_cmd",
            "cmd",
            "post_cmd",
            "bin",
            "entrypoint",
            "full_bin",
            "args_bin",
            "log",
            "include_ext",
            "exclude_dir",
            "include_dir",
            "exclude_file",
            "include_file",
            "exclude_regex",
            "exclude_unchanged",
            "follow_symlink",
            "poll",
            "poll_interval",
            "delay",
            "stop_on_error",
            "send_interrupt",
            "kill_delay",
            "rerun",
            "rerun_delay",
        ],
    ),
    ("log", &["time", "main_only", "silent"]),
    ("color", &["main", "watcher", "build", "runner", "app"]),
    ("misc", &["clean_on_exit"]),
    ("screen", &["clear_on_rebuild", "keep_scroll"]),
    (
        "proxy",
        &["enabled", "proxy_port", "app_port", "app_start_timeout"],
    ),
];

#[derive(Debug, Default)]
pub struct Translation {
    pub toml: String,
    /// Settings that change what air does and have no equivalent in hot (or are not air's).
    pub dropped: Vec<String>,
    pub notes: Vec<String>,
}

pub fn translate(source: &str, path: &Path, root: &Path) -> Result<Translation, Error> {
    let air: Table = source
        .parse()
        .map_err(|e: toml::de::Error| toml_error(path, source, &e))?;
    let mut t = Translation::default();
    check_keys(&air, &mut t);
    let empty = Table::new();
    let section = |name: &str| air.get(name).and_then(Value::as_table).unwrap_or(&empty);
    let build = section("build");
    let proxy = section("proxy");

    let watch = watch_lines(&air, build, &mut t);

    // The build: pre_cmd, then cmd (air's default when the file leaves it out).
    let mut build_lines = Vec::new();
    // A multi-line TOML string keeps its indentation and final newline: not part of the command.
    let cmd = build
        .get("cmd")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(AIR_CMD);
    let cmd = unix_command(cmd, "build.cmd", &mut t);
    let full = strings(build.get("pre_cmd"))
        .iter()
        .map(|c| unix_command(c, "build.pre_cmd", &mut t))
        .chain([cmd])
        .collect::<Vec<_>>()
        .join(" && ");
    build_lines.push(format!("cmd = {full:?}"));
    let tmp_dir = air
        .get("tmp_dir")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .unwrap_or("tmp");
    if tmp_dir != "tmp" {
        build_lines.push(format!("tmp_dir = {tmp_dir:?}"));
    }

    let run = run_lines(&air, build, &mut t);
    let mut ui = Vec::new();
    if section("screen")
        .get("clear_on_rebuild")
        .and_then(Value::as_bool)
        == Some(true)
    {
        ui.push("clear_on_rebuild = true".to_owned());
    }

    // What changes behaviour and has no equivalent. Settings equal to air's defaults, and the
    // ones that only change air's own output ([log], [color], build.log, screen.keep_scroll,
    // misc.clean_on_exit), are not worth a line.
    if let Some(post) = build.get("post_cmd").filter(|v| !is_off(v)) {
        t.dropped.push(format!(
            "build.post_cmd = {post} (hot runs nothing after it exits: run it yourself)"
        ));
    }
    if build.get("stop_on_error").and_then(Value::as_bool) == Some(true) {
        t.dropped.push(
            "build.stop_on_error = true (hot keeps the old app serving when a build fails, and \
             shows the build's output to the browser)"
                .into(),
        );
    }
    if build.get("follow_symlink").and_then(Value::as_bool) == Some(true) {
        t.dropped.push(
            "build.follow_symlink = true (hot does not follow symlinked directories: list them \
             in watch.paths)"
                .into(),
        );
    }

    let mut browser = Vec::new();
    let mut proxy_lines = Vec::new();
    let listen = if proxy.get("enabled").and_then(Value::as_bool) == Some(true) {
        let proxy_port = int(proxy.get("proxy_port")).filter(|p| *p > 0);
        let app_port = int(proxy.get("app_port")).filter(|p| *p > 0);
        match (proxy_port, app_port) {
            (Some(proxy_port), Some(app_port)) => {
                proxy_lines.push(format!("app_port = {app_port}"));
                browser.push("reload = true".into());
                t.notes.push(format!(
                    "[proxy]: hot answers on {proxy_port} and passes requests to the app on \
                     {app_port}, reloading open pages after every restart, as air's proxy does"
                ));
                Some(format!("127.0.0.1:{proxy_port}"))
            }
            _ => {
                t.dropped.push(
                    "[proxy] enabled without both proxy_port and app_port (air needs both too)"
                        .into(),
                );
                None
            }
        }
    } else {
        None
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# .hot.toml translated from {} by `hot init`. Every key: .hot.toml.example.\n",
        path.display()
    );
    if let Some(addr) = listen {
        let _ = writeln!(
            out,
            "# hot's proxy answers here; the app keeps its own port ([proxy] app_port).\nlisten = [{addr:?}]\n"
        );
    } else if app_takes_socket(root) {
        let _ = writeln!(
            out,
            "# The app takes its socket from hot (fd 3), so restarts refuse no connection.\nlisten = [\"{DEFAULT_LISTEN}\"]\n"
        );
    } else {
        let _ = writeln!(
            out,
            "# Like air, hot now just restarts the app, which binds its own port. Make the app take\n\
             # fd 3 (see the README), then uncomment this line so no connection is refused while it\n\
             # restarts:\n# listen = [\"{DEFAULT_LISTEN}\"]\n"
        );
        t.notes.push(
            "`listen` is commented out because the app binds its own port: make it take fd 3, then enable `listen`"
                .into(),
        );
    }
    for (name, lines) in [
        ("watch", &watch),
        ("build", &build_lines),
        ("run", &run),
        ("proxy", &proxy_lines),
        ("browser", &browser),
        ("ui", &ui),
    ] {
        if !lines.is_empty() {
            let _ = writeln!(out, "[{name}]\n{}\n", lines.join("\n"));
        }
    }
    t.toml = out;
    Ok(t)
}

/// Names settings air does not know (a typo is a setting silently ignored by air, and a user
/// who thinks it is on), with the closest real one.
fn check_keys(air: &Table, t: &mut Translation) {
    let known = |table: &str| {
        AIR_KEYS
            .iter()
            .find(|(name, _)| *name == table)
            .map(|(_, keys)| *keys)
    };
    let tables: Vec<&str> = AIR_KEYS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !n.is_empty())
        .collect();
    for (name, value) in air {
        match value {
            Value::Table(table) => {
                let Some(keys) = known(name) else {
                    t.dropped.push(format!(
                        "[{name}] is not an air table{}",
                        suggest(name, &tables)
                    ));
                    continue;
                };
                for key in table.keys() {
                    if !keys.contains(&key.as_str()) {
                        t.dropped.push(format!(
                            "`{name}.{key}` is not an air setting{}",
                            suggest(key, keys)
                        ));
                    }
                }
            }
            _ => {
                let top = known("").unwrap_or_default();
                if !top.contains(&name.as_str()) {
                    t.dropped.push(format!(
                        "`{name}` is not an air setting{}",
                        suggest(name, top)
                    ));
                }
            }
        }
    }
}

/// "; did you mean `x`?" for the closest of `candidates` that is close: a few letters apart,
/// or sharing the first word (`tmp_folder` → `tmp_dir`).
fn suggest(word: &str, candidates: &[&str]) -> String {
    let first = |w: &str| w.split('_').next().unwrap_or(w).to_owned();
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 3 || first(c) == first(word))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A command written for Windows' `cmd.exe` will not run here: say so, and use the Unix form
/// where it is plain (`cmd /c X` → `X`, `tmp\main.exe` → `tmp/main.exe`). Only a word that
/// looks like a Windows path is touched: a backslash inside quotes or next to `$` or `=` is a
/// Unix escape (`-ldflags "-X main.v=\"1\""`), and stays.
fn unix_command(cmd: &str, key: &str, t: &mut Translation) -> String {
    let lower = cmd.to_ascii_lowercase();
    let stripped = ["cmd /c ", "cmd.exe /c "]
        .iter()
        .find_map(|p| lower.starts_with(p).then(|| &cmd[p.len()..]));
    // `cmd /c "a && b"`: the quotes hold cmd.exe's one argument, which is `a && b` for sh too.
    let rest = match stripped.map(str::trim) {
        Some(r) if r.len() >= 2 && r.starts_with('"') && r.ends_with('"') => &r[1..r.len() - 1],
        Some(r) => r,
        None => cmd,
    };
    let windows_path = |w: &str| w.contains('\\') && !w.contains(['"', '\'', '$', '=']);
    // A name ending in .exe is no problem by itself: `go build -o tmp/main.exe` works here.
    if stripped.is_none() && !rest.split(' ').any(windows_path) {
        return cmd.to_owned();
    }
    let unix = rest
        .split(' ')
        .map(|w| {
            if windows_path(w) {
                w.replace('\\', "/")
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    t.notes.push(format!(
        "`{key}` = {cmd:?} is written for Windows and will not run here: translated as {unix:?}; \
         check it"
    ));
    unix
}

fn watch_lines(air: &Table, build: &Table, t: &mut Translation) -> Vec<String> {
    let mut watch = Vec::new();
    let root_dir = match air.get("root").and_then(Value::as_str) {
        None | Some("") => ".",
        Some(abs) if abs.starts_with('/') => {
            // A path inside a container (`/app` in a Dockerfile's WORKDIR): here, the project.
            t.notes.push(format!(
                "root = {abs:?} is an absolute path (inside a container?): translated as the \
                 directory of the .air.toml, where hot runs"
            ));
            "."
        }
        Some(dir) => dir.trim_end_matches('/'),
    };
    let include_dirs = strings(build.get("include_dir"));
    let include_files = strings(build.get("include_file"));
    if !include_dirs.is_empty() {
        let mut paths: Vec<String> = include_dirs.iter().map(|d| join(root_dir, d)).collect();
        // air watches an include_file wherever it is; hot watches only under `paths`.
        for file in &include_files {
            let file = join(root_dir, file);
            if !paths.iter().any(|p| Path::new(&file).starts_with(p)) {
                paths.push(file);
            }
        }
        watch.push(format!("paths = {}", list(&paths)));
    } else if root_dir != "." {
        watch.push(format!("paths = [{root_dir:?}]"));
    }
    let exts = non_empty_or(strings(build.get("include_ext")), AIR_INCLUDE_EXT);
    watch.push(format!("include_ext = {}", list(&exts)));
    if !include_files.is_empty() {
        watch.push(format!("include = {}", list(&include_files)));
    }
    let mut exclude = non_empty_or(strings(build.get("exclude_dir")), AIR_EXCLUDE_DIR);
    exclude.extend(strings(build.get("exclude_file")));
    if let Some(testdata) = air
        .get("testdata_dir")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        if !exclude.iter().any(|e| e == testdata) {
            exclude.push(testdata.to_owned());
        }
    }
    // hot never watches its tmp dir; listing it again would only be noise.
    let tmp_dir = air.get("tmp_dir").and_then(Value::as_str).unwrap_or("tmp");
    exclude.retain(|e| e != tmp_dir && e != "tmp");
    if !exclude.is_empty() {
        watch.push(format!("exclude = {}", list(&exclude)));
    }
    let regexes = non_empty_or(strings(build.get("exclude_regex")), AIR_EXCLUDE_REGEX);
    watch.push(format!("exclude_regex = {}", list(&regexes)));
    match int(build.get("delay")) {
        Some(ms) if ms > 0 && ms != AIR_DEFAULT_DELAY_MS => {
            watch.push(format!("debounce_ms = {ms}"));
            t.notes.push(format!(
                "build.delay = {ms} kept as watch.debounce_ms (hot's default is 2 ms, and a save \
                 is built once its writer has closed the file)"
            ));
        }
        _ => {}
    }
    if build.get("poll").and_then(Value::as_bool) == Some(true) {
        watch.push("poll = true".into());
        if let Some(ms) = int(build.get("poll_interval")).filter(|ms| *ms > 0) {
            watch.push(format!("poll_interval_ms = {}", ms.max(AIR_MIN_POLL_MS)));
        }
    }
    watch
}

fn run_lines(air: &Table, build: &Table, t: &mut Translation) -> Vec<String> {
    let mut run = Vec::new();
    let (mut env, program) = if let Some(full) = build
        .get("full_bin")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        // A shell line; air runs it through `sh -c`, so a bare name is looked up on PATH.
        let full = unix_command(full, "build.full_bin", t);
        split_assignments(&full)
    } else if let Some(entry) = build.get("entrypoint").filter(|e| !is_off(e)) {
        let words = match entry {
            Value::Array(_) => strings(Some(entry)),
            Value::String(s) => shlex::split(s).unwrap_or_else(|| vec![s.clone()]),
            _ => Vec::new(),
        };
        (
            Vec::new(),
            shlex::try_join(words.iter().map(String::as_str)).unwrap_or_default(),
        )
    } else {
        let bin = build
            .get("bin")
            .and_then(Value::as_str)
            .filter(|b| !b.is_empty())
            .unwrap_or(AIR_BIN);
        let bin = unix_command(bin, "build.bin", t);
        // air on Windows appends .exe to `bin`; a config written there builds NAME.exe, which
        // is what exists here too.
        let built = build.get("cmd").and_then(Value::as_str).unwrap_or(AIR_CMD);
        let bare = bin.trim_start_matches("./");
        let bin = if !bin.ends_with(".exe")
            && built
                .split_whitespace()
                .any(|w| w.trim_start_matches("./").replace('\\', "/") == format!("{bare}.exe"))
        {
            t.notes.push(format!(
                "build.bin = {bin:?} runs as {bin}.exe: the build writes that name (air adds .exe \
                 on Windows)"
            ));
            format!("{bin}.exe")
        } else {
            bin
        };
        // air runs `bin` relative to the project root, a bare name included; a program
        // without a slash would be looked up on PATH.
        let bin = if bin.contains('/') {
            bin
        } else {
            format!("./{bin}")
        };
        (Vec::new(), bin)
    };
    let args = strings(build.get("args_bin"));
    let cmd = if args.is_empty() {
        program
    } else {
        format!(
            "{program} {}",
            shlex::try_join(args.iter().map(String::as_str)).unwrap_or_default()
        )
    };
    run.push(format!("cmd = {cmd:?}"));
    if build.get("send_interrupt").and_then(Value::as_bool) == Some(true) {
        run.push("stop_signal = \"SIGINT\"".into());
        if let Some(ms) = kill_delay_ms(build.get("kill_delay")).filter(|ms| *ms > 0) {
            run.push(format!("stop_timeout_ms = {ms}"));
        }
    } else {
        // air's default: SIGKILL at once, kill_delay unused.
        t.notes.push(
            "air kills the app at once (send_interrupt = false); hot sends SIGTERM and gives it \
             3 s to finish its requests. For air's behaviour set [run] stop_timeout_ms = 0"
                .into(),
        );
    }
    if build.get("rerun").and_then(Value::as_bool) == Some(true) {
        run.push("restart = \"always\"".into());
        t.notes.push(
            "build.rerun = true translated as [run] restart = \"always\": hot starts the app again \
             when it exits, waiting 100 ms, then longer while it keeps exiting (not rerun_delay)"
                .into(),
        );
    }
    let env_files = strings(air.get("env_files"));
    if !env_files.is_empty() {
        run.push(format!("env_files = {}", list(&env_files)));
    }
    env.sort();
    if !env.is_empty() {
        let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
        run.push(format!("env = {{ {} }}", pairs.join(", ")));
    }
    run
}

fn non_empty_or(values: Vec<String>, default: &[&str]) -> Vec<String> {
    if values.is_empty() {
        default.iter().map(|s| (*s).to_owned()).collect()
    } else {
        values
    }
}

/// Whether the sources in `root` already accept a socket from hot or systemd.
fn app_takes_socket(root: &Path) -> bool {
    let entries = [root.to_path_buf(), root.join("src")]
        .into_iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten());
    entries.into_iter().any(|e| {
        e.path().extension().is_some_and(|x| x == "go" || x == "rs")
            && std::fs::read_to_string(e.path()).is_ok_and(|s| {
                [
                    "LISTEN_FDS",
                    "NewFile(3",
                    "activation.Listeners",
                    "listenfd",
                ]
                .iter()
                .any(|m| s.contains(m))
            })
    })
}

/// A setting left "off" loses nothing when dropped.
fn is_off(v: &Value) -> bool {
    match v {
        Value::Boolean(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Integer(i) => *i == 0,
        Value::Table(t) => t.is_empty(),
        _ => false,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(i)) => Some(*i),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// air's `kill_delay`: a Go duration string ("500ms", "2s"), or an integer, which air reads as
/// nanoseconds but as milliseconds when it is under a millisecond's worth (so `500` is 500 ms).
fn kill_delay_ms(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(n)) if *n < 1_000_000 => Some(*n),
        Some(Value::Integer(ns)) => Some(ns / 1_000_000),
        other => duration_ms(other),
    }
}

/// A Go duration string ("500ms", "1.5s") in milliseconds.
fn duration_ms(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::String(s)) => {
            let s = s.trim();
            let (num, unit) =
                s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
            let n: f64 = num.parse().ok()?;
            let ms = match unit {
                "ns" => n / 1e6,
                "us" | "µs" => n / 1e3,
                "ms" => n,
                "s" | "" => n * 1e3,
                "m" => n * 60e3,
                _ => return None,
            };
            Some(ms.round() as i64)
        }
        _ => None,
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn join(root: &str, dir: &str) -> String {
    if root == "." {
        dir.to_owned()
    } else {
        format!("{root}/{dir}")
    }
}

/// `full_bin = "APP_ENV=dev PORT=1 ./tmp/main"` → the assignments and the program line.
fn split_assignments(line: &str) -> (Vec<(String, String)>, String) {
    let words =
        shlex::split(line).unwrap_or_else(|| line.split_whitespace().map(str::to_owned).collect());
    let mut env = Vec::new();
    let mut rest = words.as_slice();
    while let Some((first, tail)) = rest.split_first() {
        match first.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                env.push((k.to_owned(), v.to_owned()));
                rest = tail;
            }
            _ => break,
        }
    }
    (
        env,
        shlex::try_join(rest.iter().map(String::as_str)).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    const AIR: &str = r#"
root = "."
testdata_dir = "testdata"
tmp_dir = "build"
env_files = [".env"]

[build]
  pre_cmd = ["go generate ./..."]
  cmd = "go build -o ./build/main ."
  post_cmd = ["echo bye"]
  bin = "./build/main"
  full_bin = "APP_ENV=dev ./build/main"
  args_bin = ["--port", "8081"]
  include_ext = ["go", "tpl", "tmpl", "html"]
  exclude_dir = ["assets", "build", "vendor", "testdata"]
  exclude_file = ["gen.go"]
  exclude_regex = ["_test\\.go$", "^(a|b)"]
  delay = 250
  kill_delay = "500ms"
  send_interrupt = true
  stop_on_error = true
  log = "build-errors.log"

[misc]
  clean_on_exit = true

[screen]
  clear_on_rebuild = true
"#;

    fn load(t: &Translation, root: &Path) -> Config {
        Config::from_toml(root, Path::new(".hot.toml"), &t.toml, &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", t.toml))
    }

    #[test]
    fn every_air_key_translates_or_is_listed() {
        let root = std::env::temp_dir();
        let t = translate(AIR, Path::new(".air.toml"), &root).expect("translates");
        let c = load(&t, &root);
        let build = c.build.expect("build");
        assert_eq!(build.cmd, "go generate ./... && go build -o ./build/main .");
        assert_eq!(c.tmp_dir, root.join("build"));
        let run = c.run.expect("run");
        assert_eq!(run.program, "./build/main");
        assert_eq!(run.args, ["--port", "8081"]);
        assert_eq!(run.env.get("APP_ENV").map(String::as_str), Some("dev"));
        assert_eq!(run.stop_signal, nix::sys::signal::Signal::SIGINT);
        assert_eq!(run.stop_timeout.as_millis(), 500);
        assert_eq!(run.env_files, [root.join(".env")]);
        assert_eq!(c.watch.debounce.as_millis(), 250);
        assert_eq!(c.watch.include_ext, ["go", "tpl", "tmpl", "html"]);
        let regex = c.watch.exclude_regex.expect("exclude_regex");
        assert!(regex.is_match("pkg/a_test.go"));
        assert!(regex.is_match("a.go"), "^(a|b) is kept as a regex");
        assert!(c.watch.exclude.is_match("gen.go"));
        assert!(c.watch.exclude.is_match("vendor"));
        assert!(c.ui.clear_on_rebuild);
        let dropped = t.dropped.join("\n");
        for key in ["post_cmd", "stop_on_error"] {
            assert!(
                dropped.contains(key),
                "{key} should be listed as dropped:\n{dropped}"
            );
        }
        for noise in ["build.log", "clean_on_exit"] {
            assert!(!dropped.contains(noise), "{noise} is noise:\n{dropped}");
        }
    }

    #[test]
    fn omitted_keys_take_airs_defaults() {
        let root = std::env::temp_dir();
        let t = translate(
            "[build]\npre_cmd = [\"templ generate\"]\n",
            Path::new(".air.toml"),
            &root,
        )
        .expect("translates");
        let c = load(&t, &root);
        assert_eq!(
            c.build.expect("build").cmd,
            "templ generate && go build -o ./tmp/main ."
        );
        assert_eq!(c.run.expect("run").program, "./tmp/main");
        assert_eq!(c.watch.include_ext, ["go", "tpl", "tmpl", "html"]);
        assert!(c.watch.exclude.is_match("assets"));
        assert!(c.watch.exclude.is_match("vendor"));
        assert!(c.watch.exclude_regex.expect("regex").is_match("x_test.go"));
    }

    #[test]
    fn include_files_outside_the_include_dirs_are_watched_too() {
        let root = std::env::temp_dir();
        let t = translate(
            "[build]\ninclude_dir = [\"cmd\", \"models\"]\ninclude_file = [\"main.go\", \"cmd/x.go\"]\n",
            Path::new(".air.toml"),
            &root,
        )
        .expect("translates");
        let c = load(&t, &root);
        assert_eq!(
            c.watch.paths,
            [root.join("cmd"), root.join("models"), root.join("main.go")]
        );
    }

    #[test]
    fn bins_proxy_rerun_kill_delay_windows_and_absolute_roots() {
        let root = std::env::temp_dir();
        let air = "root = \"/app\"\n[build]\nbin = \"gitea\"\nsend_interrupt = true\nkill_delay = 500\nrerun = true\n\
                   [proxy]\nenabled = true\nproxy_port = 8090\napp_port = 8080\n";
        let t = translate(air, Path::new(".air.toml"), &root).expect("translates");
        let c = load(&t, &root);
        assert_eq!(c.watch.paths, std::slice::from_ref(&root));
        let run = c.run.expect("run");
        assert_eq!(run.program, "./gitea");
        assert_eq!(run.stop_timeout.as_millis(), 500);
        assert_eq!(run.restart, crate::config::Restart::Always);
        assert_eq!(c.listen.len(), 1);
        assert!(c.reload);
        assert!(t.toml.contains("app_port = 8080"), "{}", t.toml);
        assert_eq!(
            kill_delay_ms(Some(&Value::Integer(2_000_000_000))),
            Some(2000)
        );
        assert_eq!(
            kill_delay_ms(Some(&Value::String("1.5s".into()))),
            Some(1500)
        );
        let windows =
            "[build]\ncmd = \"cmd /c go build -o tmp\\\\main.exe .\"\nbin = \"tmp\\\\main.exe\"\n";
        let t = translate(windows, Path::new(".air.toml"), &root).expect("translates");
        let c = load(&t, &root);
        assert_eq!(c.build.expect("build").cmd, "go build -o tmp/main.exe .");
        assert_eq!(c.run.expect("run").program, "tmp/main.exe");
        assert!(
            t.notes.iter().any(|n| n.contains("written for Windows")),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn unix_escapes_in_commands_are_not_taken_for_windows_paths() {
        let mut t = Translation::default();
        let ldflags = r#"go build -ldflags "-X main.version=\"1.2\"" -o ./tmp/main ."#;
        assert_eq!(unix_command(ldflags, "build.cmd", &mut t), ldflags);
        assert!(t.notes.is_empty(), "{:?}", t.notes);
        assert_eq!(
            unix_command("cmd /c go build -o tmp\\main.exe .", "build.cmd", &mut t),
            "go build -o tmp/main.exe ."
        );
        assert_eq!(
            unix_command(
                "cmd /c \"npm run build && go build -o tmp/main.exe ./cmd/server\"",
                "build.cmd",
                &mut t
            ),
            "npm run build && go build -o tmp/main.exe ./cmd/server"
        );
        assert_eq!(t.notes.len(), 2);
    }

    #[test]
    fn a_build_of_name_exe_runs_name_exe_as_air_does_on_windows() {
        let root = std::env::temp_dir();
        let t = translate(
            "[build]\ncmd = \"go build -o ./tmp/main.exe .\"\n",
            Path::new(".air.toml"),
            &root,
        )
        .expect("translates");
        assert_eq!(load(&t, &root).run.expect("run").program, "./tmp/main.exe");
        let t = translate(
            "[build]\ncmd = \"\"\"\n  templ generate &&\n  go build -o ./tmp/main .\n\"\"\"\n",
            Path::new(".air.toml"),
            &root,
        )
        .expect("translates");
        assert_eq!(
            load(&t, &root).build.expect("build").cmd,
            "templ generate &&\n  go build -o ./tmp/main ."
        );
    }

    #[test]
    fn typos_are_named_with_the_setting_meant() {
        let root = std::env::temp_dir();
        let t = translate(
            "tmp_folder = \"x\"\n[build]\nstop_on_root = true\n[coalor]\nmain = \"red\"\n",
            Path::new(".air.toml"),
            &root,
        )
        .expect("translates");
        let dropped = t.dropped.join("\n");
        assert!(
            dropped.contains(
                "`build.stop_on_root` is not an air setting; did you mean `stop_on_error`?"
            ),
            "{dropped}"
        );
        assert!(
            dropped.contains("`tmp_folder` is not an air setting; did you mean `tmp_dir`?"),
            "{dropped}"
        );
        assert!(
            dropped.contains("[coalor] is not an air table; did you mean `color`?"),
            "{dropped}"
        );
    }

    /// Every file of fixtures/air-corpus translates, and hot accepts the result.
    #[test]
    fn the_corpus_translates_and_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/air-corpus");
        let root = std::env::temp_dir();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus") {
            let path = entry.expect("entry").path();
            if !path.extension().is_some_and(|e| e == "toml" || e == "conf") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("read");
            let t = translate(&source, &path, &root)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            load(&t, &root);
            seen += 1;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let dropped = t.dropped.join("\n");
            match name {
                "air-init-defaults.toml" => {
                    assert!(
                        t.dropped.is_empty(),
                        "air's defaults are not news:\n{dropped}"
                    )
                }
                "typos.toml" => {
                    for typo in ["stop_on_root", "tmp_folder", "exclude_dirs", "coalor"] {
                        assert!(dropped.contains(typo), "{typo}:\n{dropped}");
                    }
                }
                _ => {}
            }
        }
        assert!(seen >= 10, "only {seen} corpus files");
    }

    #[test]
    fn split_assignments_keeps_the_program_line() {
        assert_eq!(
            split_assignments("A=1 B=x ./tmp/main -v"),
            (
                vec![("A".into(), "1".into()), ("B".into(), "x".into())],
                "./tmp/main -v".into()
            )
        );
    }
}
