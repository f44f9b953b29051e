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

/// air's own default debounce: present in every `air init` file, so not a user's choice.
const AIR_DEFAULT_DELAY_MS: i64 = 1000;

/// Top-level keys and sections handled below (others are listed as dropped).
const HANDLED_TOP: &[&str] = &[
    "root",
    "tmp_dir",
    "testdata_dir",
    "env_files",
    "build",
    "screen",
];

/// `[build]` keys handled below.
const HANDLED_BUILD: &[&str] = &[
    "cmd",
    "pre_cmd",
    "bin",
    "full_bin",
    "entrypoint",
    "args_bin",
    "include_ext",
    "include_dir",
    "include_file",
    "exclude_dir",
    "exclude_file",
    "exclude_regex",
    "delay",
    "kill_delay",
    "send_interrupt",
    "poll",
    "poll_interval",
];

#[derive(Debug, Default)]
pub struct Translation {
    pub toml: String,
    /// `section.key = value` settings hot has no equivalent for.
    pub dropped: Vec<String>,
    pub notes: Vec<String>,
}

pub fn translate(source: &str, path: &Path, root: &Path) -> Result<Translation, Error> {
    let air: Table = source
        .parse()
        .map_err(|e: toml::de::Error| toml_error(path, source, &e))?;
    let mut t = Translation::default();
    let empty = Table::new();
    let section = |name: &str| air.get(name).and_then(Value::as_table).unwrap_or(&empty);
    let build = section("build");

    let watch = watch_lines(&air, build, &mut t);

    let mut build_lines = Vec::new();
    if let Some(cmd) = build.get("cmd").and_then(Value::as_str) {
        // pre_cmd runs before every build in air: the same as chaining it in front.
        let pre = strings(build.get("pre_cmd"));
        let full = pre
            .iter()
            .map(String::as_str)
            .chain([cmd])
            .collect::<Vec<_>>()
            .join(" && ");
        build_lines.push(format!("cmd = {full:?}"));
    }
    let tmp_dir = air.get("tmp_dir").and_then(Value::as_str).unwrap_or("tmp");
    if tmp_dir != "tmp" {
        build_lines.push(format!("tmp_dir = {tmp_dir:?}"));
    }

    let run = run_lines(&air, build);
    let mut ui = Vec::new();
    if section("screen")
        .get("clear_on_rebuild")
        .and_then(Value::as_bool)
        == Some(true)
    {
        ui.push("clear_on_rebuild = true".to_owned());
    }

    // Everything else air knows, and what becomes of it.
    for (key, value) in build {
        if !HANDLED_BUILD.contains(&key.as_str()) && !is_off(value) {
            t.dropped
                .push(format!("build.{key} = {value}{}", explain(key)));
        }
    }
    for (key, value) in section("screen") {
        if key != "clear_on_rebuild" && !is_off(value) {
            t.dropped.push(format!("screen.{key} = {value}"));
        }
    }
    for (name, value) in &air {
        if HANDLED_TOP.contains(&name.as_str()) {
            continue;
        }
        match value {
            Value::Table(table) => {
                for (key, v) in table.iter().filter(|(_, v)| !is_off(v)) {
                    t.dropped
                        .push(format!("{name}.{key} = {v}{}", explain(key)));
                }
            }
            other if !is_off(other) => t.dropped.push(format!("{name} = {other}")),
            _ => {}
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# .hot.toml translated from {} by `hot init`. Every key: .hot.toml.example.\n",
        path.display()
    );
    if app_takes_socket(root) {
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
        ("ui", &ui),
    ] {
        if !lines.is_empty() {
            let _ = writeln!(out, "[{name}]\n{}\n", lines.join("\n"));
        }
    }
    t.toml = out;
    Ok(t)
}

fn watch_lines(air: &Table, build: &Table, t: &mut Translation) -> Vec<String> {
    let mut watch = Vec::new();
    let root_dir = air.get("root").and_then(Value::as_str).unwrap_or(".");
    let include_dirs = strings(build.get("include_dir"));
    if !include_dirs.is_empty() {
        let dirs: Vec<String> = include_dirs.iter().map(|d| join(root_dir, d)).collect();
        watch.push(format!("paths = {}", list(&dirs)));
    } else if root_dir != "." {
        watch.push(format!("paths = [{root_dir:?}]"));
    }
    let exts = strings(build.get("include_ext"));
    if !exts.is_empty() {
        watch.push(format!("include_ext = {}", list(&exts)));
    }
    let include_files = strings(build.get("include_file"));
    if !include_files.is_empty() {
        watch.push(format!("include = {}", list(&include_files)));
    }
    let mut exclude: Vec<String> = strings(build.get("exclude_dir"));
    exclude.extend(strings(build.get("exclude_file")));
    if let Some(testdata) = air.get("testdata_dir").and_then(Value::as_str) {
        if !exclude.iter().any(|e| e == testdata) {
            exclude.push(testdata.to_owned());
        }
    }
    for regex in strings(build.get("exclude_regex")) {
        match regex_to_glob(&regex) {
            Some(glob) => exclude.push(glob),
            None => t.dropped.push(format!(
                "build.exclude_regex {regex:?} (not expressible as a glob; add an exclude glob by hand)"
            )),
        }
    }
    // hot never watches its tmp dir; listing it again would only be noise.
    let tmp_dir = air.get("tmp_dir").and_then(Value::as_str).unwrap_or("tmp");
    exclude.retain(|e| e != tmp_dir);
    if !exclude.is_empty() {
        watch.push(format!("exclude = {}", list(&exclude)));
    }
    match int(build.get("delay")) {
        Some(ms) if ms != AIR_DEFAULT_DELAY_MS => {
            watch.push(format!("debounce_ms = {ms}"));
            t.notes.push(format!("build.delay = {ms} kept as watch.debounce_ms (hot's default is 2 ms)"));
        }
        Some(_) => t.notes.push(
            "build.delay = 1000 (air's default) left out: hot builds as soon as the files stop changing (2 ms)"
                .into(),
        ),
        None => {}
    }
    if build.get("poll").and_then(Value::as_bool) == Some(true) {
        watch.push("poll = true".into());
        if let Some(ms) = int(build.get("poll_interval")).filter(|ms| *ms > 0) {
            // air's own minimum.
            watch.push(format!("poll_interval_ms = {}", ms.max(500)));
        }
    }
    watch
}

fn run_lines(air: &Table, build: &Table) -> Vec<String> {
    let mut run = Vec::new();
    let (mut env, program) = if let Some(full) = build
        .get("full_bin")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        split_assignments(full)
    } else if let Some(entry) = build.get("entrypoint") {
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
            .unwrap_or("./tmp/main");
        (Vec::new(), bin.to_owned())
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
    // air's default is an immediate SIGKILL; hot's default (SIGTERM, then grace) is kinder, so
    // only an explicit send_interrupt changes the signal.
    if build.get("send_interrupt").and_then(Value::as_bool) == Some(true) {
        run.push("stop_signal = \"SIGINT\"".into());
    }
    if let Some(ms) = duration_ms(build.get("kill_delay")).filter(|ms| *ms > 0) {
        run.push(format!("stop_timeout_ms = {ms}"));
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

fn explain(key: &str) -> &'static str {
    match key {
        "post_cmd" => " (run it yourself after hot exits)",
        "stop_on_error" => " (hot keeps the old app serving when a build fails)",
        "rerun" | "rerun_delay" => " (hot restarts the app on the next change)",
        "follow_symlink" => " (hot does not follow symlinked directories)",
        "log" => " (build output goes to the terminal)",
        "clean_on_exit" => " (remove the tmp dir yourself)",
        "enabled" | "proxy_port" | "app_port" | "app_start_timeout" => {
            " (hot has no live-reload proxy yet)"
        }
        _ => "",
    }
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

/// air durations: an integer of nanoseconds, or a Go duration string ("500ms", "1s").
fn duration_ms(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(ns)) => Some(ns / 1_000_000),
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

/// The simple regexes air configs use ("_test.go", "_test\\.go$", "^mock_") as globs.
fn regex_to_glob(regex: &str) -> Option<String> {
    let anchored_start = regex.starts_with('^');
    let anchored_end = regex.ends_with('$');
    let core = regex
        .trim_start_matches('^')
        .trim_end_matches('$')
        .replace("\\.", ".");
    if core.is_empty() || core.chars().any(|c| "\\[](){}*+?|^$".contains(c)) {
        return None;
    }
    let lead = if anchored_start { "" } else { "*" };
    let tail = if anchored_end { "" } else { "*" };
    Some(format!("{lead}{core}{tail}"))
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

    #[test]
    fn every_air_key_translates_or_is_listed() {
        let root = std::env::temp_dir();
        let t = translate(AIR, Path::new(".air.toml"), &root).expect("translates");
        let c = Config::from_toml(
            &root,
            Path::new(".hot.toml"),
            &t.toml,
            &Overrides::default(),
        )
        .expect(&t.toml);
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
        assert!(c.watch.exclude.is_match("pkg/a_test.go"));
        assert!(c.watch.exclude.is_match("gen.go"));
        assert!(c.watch.exclude.is_match("vendor"));
        assert!(c.ui.clear_on_rebuild);
        let dropped = t.dropped.join("\n");
        for key in [
            "post_cmd",
            "stop_on_error",
            "log",
            "clean_on_exit",
            "^(a|b)",
        ] {
            assert!(
                dropped.contains(key),
                "{key} should be listed as dropped:\n{dropped}"
            );
        }
    }

    #[test]
    fn regexes_durations_and_assignments() {
        assert_eq!(regex_to_glob("_test\\.go$").as_deref(), Some("*_test.go"));
        assert_eq!(regex_to_glob("_test.go").as_deref(), Some("*_test.go*"));
        assert_eq!(regex_to_glob("^mock_").as_deref(), Some("mock_*"));
        assert_eq!(regex_to_glob("a|b"), None);
        assert_eq!(
            split_assignments("A=1 B=x ./tmp/main -v"),
            (
                vec![("A".into(), "1".into()), ("B".into(), "x".into())],
                "./tmp/main -v".into()
            )
        );
        assert_eq!(
            duration_ms(Some(&Value::Integer(2_000_000_000))),
            Some(2000)
        );
        assert_eq!(duration_ms(Some(&Value::String("1.5s".into()))), Some(1500));
    }
}
