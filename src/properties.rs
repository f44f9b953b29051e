//! Property tests of every parser a user, a compiler or a page feeds hot: `.hot.toml`,
//! `.air.toml`, the ANSI → HTML converter, `path:line:col` detection, the file targets the
//! failure view sends back, and, for an app that reads the terminal, its output as the relay
//! tracks it and what is typed as the prefix decoder splits it. `proptest` generates the inputs (from fragments of real files and
//! hostile bytes), shrinks a failure to a small case and keeps it under `proptest-regressions/`
//! so that it replays; `PROPTEST_CASES=N` runs more of them.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::config::{Config, Overrides};
use crate::error::Error;
use crate::terminal::screen::Screen;
use crate::ui::keys::{Prefixed, Typed};

/// Pieces real config files are made of, and pieces that break them.
const TOML_PIECES: &[&str] = &[
    "listen = [\"127.0.0.1:8080\"]\n",
    "listen = [\":0\"]\n",
    "listen = [\"unix:./tmp/app.sock\"]\n",
    "listen = [{ addr = \"127.0.0.1:0\", name = \"web\" }]\n",
    "listen = 8080\n",
    "listen = [\"256.0.0.1:80\"]\n",
    "[watch]\n",
    "paths = [\"src\", \"..\", \"/\"]\n",
    "include_ext = [\"go\", \"\"]\n",
    "exclude = [\"**/[\", \"*_test.go\"]\n",
    "exclude_regex = [\"(\"]\n",
    "debounce_ms = 18446744073709551615\n",
    "debounce_ms = -1\n",
    "poll = true\n",
    "[build]\n",
    "cmd = \"go build -o ./tmp/app .\"\n",
    "cmd = \"\"\n",
    "tmp_dir = \"../outside\"\n",
    "[run]\n",
    "cmd = \"./tmp/app --flag 'quoted arg'\"\n",
    "cmd = \"'unterminated\"\n",
    "stop_signal = \"SIGWHAT\"\n",
    "stop_timeout_ms = 0\n",
    "restart = \"sometimes\"\n",
    "ready = \"http:/health\"\n",
    "ready = \"http:no-slash\"\n",
    "restart_mode = \"overlap\"\n",
    "kill_mode = \"group\"\n",
    "app_addr = \"localhost:99999\"\n",
    "port_env = \"PORT\"\n",
    "port_env = \"1BAD\"\n",
    "hold_ports = \"yes\"\n",
    "stdin = \"app\"\n",
    "stdin = \"tty\"\n",
    "env = { A = \"1\" }\n",
    "env_files = [\".env\"]\n",
    "[proxy]\n",
    "enabled = true\n",
    "app_port = 0\n",
    "allowed_hosts = [\"all\"]\n",
    "[browser]\n",
    "reload = true\n",
    "[once]\n",
    "probe = \"nope\"\n",
    "expect_status = 999\n",
    "[apps.api]\n",
    "[apps.web]\n",
    "[apps]\n",
    "run.cmd = \"./tmp/api\"\n",
    "unknown_key = 1\n",
    "[[run]]\n",
    "= \"\"\n",
    "\"\u{0}\" = 1\n",
    "[watch\n",
    "é = \"ü\"\n",
    "\t\r\n",
    "# a comment with \u{202e} and \u{feff}\n",
];

/// Pieces of `.air.toml` files as public projects write them, and broken ones.
const AIR_PIECES: &[&str] = &[
    "root = \".\"\n",
    "root = \"/app\"\n",
    "tmp_dir = \"tmp\"\n",
    "testdata_dir = \"testdata\"\n",
    "[build]\n",
    "cmd = \"go build -o ./tmp/main .\"\n",
    "cmd = \"make build\"\n",
    "bin = \"./tmp/main\"\n",
    "bin = \"tmp\\\\main.exe\"\n",
    "full_bin = \"APP_ENV=dev APP_USER=air ./tmp/main\"\n",
    "args_bin = [\"serve\", \"--port\", \"8080\"]\n",
    "include_ext = [\"go\", \"tpl\"]\n",
    "exclude_dir = [\"assets\", \"vendor\"]\n",
    "exclude_regex = [\"_test.go\", \"(\"]\n",
    "delay = 1000\n",
    "delay = \"soon\"\n",
    "kill_delay = \"0.5s\"\n",
    "kill_delay = 500000000\n",
    "send_interrupt = true\n",
    "pre_cmd = [\"echo pre\"]\n",
    "post_cmd = [\"echo post\"]\n",
    "entrypoint = [\"./tmp/main\", \"serve\"]\n",
    "stop_on_root = true\n",
    "poll = true\n",
    "poll_interval = 10\n",
    "[proxy]\n",
    "enabled = true\n",
    "proxy_port = 8090\n",
    "app_port = 8080\n",
    "app_port = \"x\"\n",
    "[log]\n",
    "time = true\n",
    "[screen]\n",
    "clear_on_rebuild = true\n",
    "[misc]\n",
    "clean_on_exit = true\n",
    "[build\n",
    "cmd = \n",
    "= 1\n",
];

fn pieces(from: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(from), 0..12).prop_map(|p| p.concat())
}

/// Whether `err` says where the problem is: a line and column inside `text` of `path`, or at
/// least the file's name.
fn located(err: &Error, path: &Path, text: &str) -> bool {
    match err {
        Error::Config {
            path: p,
            line,
            column,
            ..
        } => p == path && *line >= 1 && *column >= 1 && *line <= text.lines().count() + 1,
        other => other.to_string().contains(&path.display().to_string()),
    }
}

/// A root that exists, so paths resolve as in a project.
fn root() -> PathBuf {
    std::env::temp_dir()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A `.hot.toml` made of any of those pieces, in any order, never panics, and an error
    /// always says where: file, line and column, or at least the file.
    #[test]
    fn any_hot_toml_loads_or_is_refused_with_its_place(text in pieces(TOML_PIECES)) {
        let path = root().join("prop.hot.toml");
        if let Err(err) = Config::apps_from_toml(&root(), &path, &text, &Overrides::default()) {
            prop_assert!(located(&err, &path, &text), "{err} for\n{text}");
        }
    }

    /// Bytes that are not TOML at all, likewise.
    #[test]
    fn any_text_as_hot_toml_never_panics(text in any::<String>()) {
        let path = root().join("prop.hot.toml");
        if let Err(err) = Config::apps_from_toml(&root(), &path, &text, &Overrides::default()) {
            prop_assert!(located(&err, &path, &text), "{err}");
        }
    }

    /// An `.air.toml` of any of those pieces translates or is refused naming the file, and a
    /// translation is itself a `.hot.toml` hot loads (or refuses with its place).
    #[test]
    fn any_air_toml_translates_to_a_config_hot_reads(text in pieces(AIR_PIECES)) {
        let path = root().join("prop.air.toml");
        match crate::init::air::translate(&text, &path, &root()) {
            Ok(translation) => {
                let hot = root().join("prop-from-air.hot.toml");
                let loaded = Config::apps_from_toml(
                    &root(), &hot, &translation.toml, &Overrides::default());
                if let Err(err) = loaded {
                    prop_assert!(located(&err, &hot, &translation.toml),
                        "{err}\nfrom\n{text}\nas\n{}", translation.toml);
                }
            }
            Err(err) => prop_assert!(located(&err, &path, &text), "{err} for\n{text}"),
        }
    }

    /// Whatever a compiler prints, the HTML holds no markup the converter did not make: its
    /// own spans and links, balanced, with attribute values that cannot break out.
    #[test]
    fn compiler_output_becomes_html_with_only_the_converters_markup(
        parts in prop::collection::vec(prop::sample::select(vec![
            "\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[38;5;9m", "\x1b[38;2;1;2;3m", "\x1b[48;5;300m",
            "\x1b[", "\x1b]8;;http://x\x07", "\x1b]0;title\x1b\\", "\x1b", "\x1b[2K", "\x1b[?25l",
            "<script>alert(1)</script>", "\"onmouseover=\"x", "'", "&amp;", "<", ">", "&",
            "src/main.rs:3:5", "main.go:12:7: undefined", "  File \"app.py\", line 4",
            "é", "\u{0}", "\n", " ", "error[E0308]: mismatched types", "data-hot-open=\"",
        ]), 0..40)
    ) {
        let text = parts.concat();
        let html = crate::ui::ansi::to_html(&text, |run| {
            // Links wherever the real detector finds them, with targets made of the run.
            crate::editor::locations(run, &root())
                .into_iter()
                .map(|(range, _)| crate::ui::ansi::Link {
                    target: run[range.clone()].to_owned(),
                    range,
                })
                .collect()
        });
        prop_assert!(only_own_markup(&html), "{html:?}\nfrom {text:?}");
    }

    /// Locations found in any text are byte ranges of it on character boundaries.
    #[test]
    fn locations_are_ranges_of_the_text(
        parts in prop::collection::vec(prop::sample::select(vec![
            "Cargo.toml", ":", "1", "12", ":7", " ", "é", "\n", "line ", "File \"", "\"",
            "Cargo.toml:", "(", ")", "../", "/etc/passwd", "\u{0}",
        ]), 0..30)
    ) {
        let text = parts.concat();
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (range, location) in crate::editor::locations(&text, here) {
            prop_assert!(text.get(range.clone()).is_some(), "{range:?} of {text:?}");
            prop_assert!(location.line > 0 || text.contains(":0"), "{location:?}");
            prop_assert!(location.path.is_relative(), "{location:?}");
        }
    }

    /// `path:line[:col]` as the page sends it back parses to what was sent, whatever the
    /// path holds (colons included), and any other text is refused, never a panic.
    #[test]
    fn file_targets_parse_back(
        path in "[a-zA-Z0-9_./:é -]{1,30}",
        line in 1u32..100_000,
        column in proptest::option::of(1u32..1000),
        junk in any::<String>(),
    ) {
        let _ = crate::editor::parse_target(&junk);
        let target = match column {
            Some(c) => format!("{path}:{line}:{c}"),
            None => format!("{path}:{line}"),
        };
        let parsed = crate::editor::parse_target(&target);
        // Without a column, a path that is a number or ends in `:NUMBER` is ambiguous (it
        // reads as `line:col` or `path:line:col`); every other target comes back whole.
        let ambiguous = column.is_none()
            && (path.parse::<u32>().is_ok()
                || path.rsplit_once(':').is_some_and(|(_, n)| n.parse::<u32>().is_ok()));
        if !ambiguous {
            prop_assert_eq!(parsed, Some((PathBuf::from(&path), line, column)), "{}", target);
        }
    }
}

/// What a TUI's output is made of, whole and cut, and bytes that are no sequence at all.
const SCREEN_PIECES: &[&str] = &[
    "\x1b[?1049h",
    "\x1b[?1049l",
    "\x1b[?47h",
    "\x1b[?1047l",
    "\x1b[?25l",
    "\x1b[?25h",
    "\x1b[?1000;1006h",
    "\x1b[?1002l",
    "\x1b[?2004h",
    "\x1b[?2026h",
    "\x1b[?2026l",
    "\x1b[?7l",
    "\x1b[?1h",
    "\x1b=",
    "\x1b>",
    "\x1b[>1u",
    "\x1b[<u",
    "\x1b[<3u",
    "\x1b[1;31m",
    "\x1b[m",
    "\x1b[38;5;0m",
    "\x1b[0m",
    "\x1b[2;20r",
    "\x1b[r",
    "\x1b[2J",
    "\x1b[H",
    "\x1b[12;40H",
    "\x1b]0;title\x07",
    "\x1b]8;;http://x\x1b\\",
    "\x1bP+q\x1b\\",
    "\x1b(B",
    "\x1b#8",
    "\x1bc",
    "\x1b[",
    "\x1b[?10",
    "\x1b]2;cut",
    "\x1b",
    "\x18",
    "\x1a",
    "\x07",
    "frame",
    "é",
    "\u{1F600}",
    "\r\n",
    "\n",
    "\r",
    "\t",
    "\x08",
    " ",
    "\x1b[?1049;25h",
    "\x1b[?$p",
    "\x1b[99999999999m",
];

/// Bytes as a split point list cuts them.
fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for at in points {
        out.push(&bytes[from..at]);
        from = at;
    }
    out.push(&bytes[from..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// However the app's output is cut into reads, the relay ends up knowing the same, and
    /// what `restore` writes leaves the terminal clean, between sequences, at no mode the app
    /// switched on.
    #[test]
    fn the_screen_relay_is_the_same_however_output_is_cut_and_always_restorable(
        parts in prop::collection::vec(prop::sample::select(SCREEN_PIECES), 0..40),
        noise in prop::collection::vec(any::<u8>(), 0..16),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut bytes = parts.concat().into_bytes();
        bytes.extend_from_slice(&noise);
        let mut whole = Screen::new();
        whole.feed(&bytes);
        let mut cut = Screen::new();
        for chunk in chunks(&bytes, &cuts) {
            cut.feed(chunk);
        }
        prop_assert_eq!(&whole, &cut, "{:?}", String::from_utf8_lossy(&bytes));
        let restore = whole.restore();
        let mut after = whole.clone();
        after.feed(&restore);
        prop_assert!(after.is_clean() && after.at_boundary() && !after.full_screen(),
            "{:?} left {:?} after {:?}", String::from_utf8_lossy(&bytes), after,
            String::from_utf8_lossy(&restore));
    }

    /// The alternate screen is on exactly when the last of the app's switches turned it on.
    #[test]
    fn full_screen_follows_the_last_switch(
        switches in prop::collection::vec((prop::sample::select(vec![47u16, 1047, 1049]),
            any::<bool>(), prop::sample::select(vec!["", "text\r\n", "\x1b[1m", "\x1b]0;t\x07"])), 0..12),
    ) {
        let mut screen = Screen::new();
        let mut on = false;
        for (mode, set, between) in &switches {
            screen.feed(format!("\x1b[?{mode}{}{between}", if *set { 'h' } else { 'l' }).as_bytes());
            on = *set;
        }
        prop_assert_eq!(screen.full_screen(), on);
    }

    /// Whatever is typed, however it arrives: the app gets every byte but the prefix and what
    /// follows it, in order (a doubled prefix once), and hot its keys; the same as typed all
    /// at once.
    #[test]
    fn typing_reaches_the_app_whole_and_hot_gets_only_prefixed_keys(
        typed in prop::collection::vec(prop::sample::select(vec![
            b'a', b'r', b'q', b'1', b'\r', 0x14, 0x14, 0x03, 0x1b, 0x7f, 0xc3, 0xa9, 0x00,
        ]), 0..60),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let t = std::time::Instant::now();
        let mut at_once = Prefixed::default();
        let whole = merged(at_once.feed(&typed, t));
        let mut pieces = Prefixed::default();
        let mut cut = Vec::new();
        for chunk in chunks(&typed, &cuts) {
            cut.extend(pieces.feed(chunk, t));
        }
        prop_assert_eq!(&whole, &merged(cut));
        // The model: walk the bytes, taking the byte after each prefix for hot.
        let mut app = Vec::new();
        let mut keys = 0;
        let mut bytes = typed.iter().peekable();
        while let Some(&b) = bytes.next() {
            match b {
                0x14 => match bytes.next() {
                    Some(0x14) => app.push(0x14),
                    Some(_) => keys += 1,
                    None => {}
                },
                other => app.push(other),
            }
        }
        let for_hot = whole.iter().filter(|t| matches!(t, Typed::Key(_) | Typed::Unknown(_))).count();
        prop_assert_eq!(for_hot, keys);
        let sent: Vec<u8> = whole.iter().flat_map(|t| match t {
            Typed::App(bytes) => bytes.clone(),
            Typed::Interrupt { .. } => vec![0x03],
            Typed::Key(_) | Typed::Unknown(_) => Vec::new(),
        }).collect();
        prop_assert_eq!(sent, app);
    }
}

/// Adjacent bytes for the app as one piece: reads cut them anywhere.
fn merged(typed: Vec<Typed>) -> Vec<Typed> {
    let mut out: Vec<Typed> = Vec::new();
    for t in typed {
        match (out.last_mut(), t) {
            (Some(Typed::App(last)), Typed::App(more)) => last.extend(more),
            (_, t) => out.push(t),
        }
    }
    out
}

/// Whether `html` holds only the converter's own markup: `<span style="...">`, `</span>`,
/// `<a href="#" class="hot-open" data-hot-open="...">`, `</a>`, balanced, with no `<`, `>` or
/// `"` in any attribute value or text (those are escaped).
fn only_own_markup(html: &str) -> bool {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = html;
    loop {
        let Some(at) = rest.find(['<', '>', '"']) else {
            return open.is_empty();
        };
        if !rest[at..].starts_with('<') {
            return false;
        }
        rest = &rest[at..];
        let Some(end) = rest.find('>') else {
            return false;
        };
        let tag = &rest[..=end];
        let attr_ok = |value: &str| !value.contains(['<', '>', '"']);
        if let Some(style) = tag
            .strip_prefix("<span style=\"")
            .and_then(|t| t.strip_suffix("\">"))
        {
            if !attr_ok(style)
                || !style
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":;#-. ".contains(c))
            {
                return false;
            }
            open.push("span");
        } else if let Some(target) = tag
            .strip_prefix("<a href=\"#\" class=\"hot-open\" data-hot-open=\"")
            .and_then(|t| t.strip_suffix("\">"))
        {
            if !attr_ok(target) {
                return false;
            }
            open.push("a");
        } else if tag == "</span>" {
            if open.pop() != Some("span") {
                return false;
            }
        } else if tag == "</a>" {
            if open.pop() != Some("a") {
                return false;
            }
        } else {
            return false;
        }
        rest = &rest[end + 1..];
    }
}
