//! Where a compiler points (`src/main.rs:12:5`), and opening the developer's editor there.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

/// A place in a file of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Relative to the project directory.
    pub path: PathBuf,
    pub line: u32,
    pub column: Option<u32>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

/// `path:line[:col]` (rustc, Go, gcc, tsc --pretty, eslint, Ruby), `path(line,col)` (tsc) and
/// `File "path", line N` (Python).
fn pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(
            r#"(?:File "(?P<py>[^"]+)", line (?P<pyline>\d+))|(?P<path>(?:[A-Za-z0-9_@+~.-]*/)*[A-Za-z0-9_@+~.-]*[A-Za-z0-9_]\.[A-Za-z0-9]+)(?::(?P<line>\d+)(?::(?P<col>\d+))?|\((?P<tline>\d+),(?P<tcol>\d+)\))"#,
        )
        .unwrap_or_else(|_| unreachable!("the pattern is a literal that compiles"))
    })
}

/// The locations in `text` that name a file inside `root` (a file that does not exist there,
/// such as a toolchain's own source, is not a location of the project).
pub fn locations(text: &str, root: &Path) -> Vec<(std::ops::Range<usize>, Location)> {
    let mut found = Vec::new();
    for caps in pattern().captures_iter(text) {
        let (path, line, column, whole) = match (caps.name("py"), caps.name("path")) {
            (Some(py), _) => (py, caps.name("pyline"), None, py.start()..py.end()),
            (None, Some(path)) => {
                let line = caps.name("line").or(caps.name("tline"));
                let column = caps.name("col").or(caps.name("tcol"));
                let end = column.or(line).map_or(path.end(), |m| m.end());
                let end = if caps.name("tcol").is_some() {
                    end + 1
                } else {
                    end
                };
                (path, line, column, path.start()..end)
            }
            (None, None) => continue,
        };
        let Some(line) = line.and_then(|l| l.as_str().parse().ok()) else {
            continue;
        };
        let column = column.and_then(|c| c.as_str().parse().ok());
        if let Some(path) = inside(root, Path::new(path.as_str())) {
            found.push((whole, Location { path, line, column }));
        }
    }
    found
}

/// Where the first error points in `output` (plain text: no escape sequences): the first
/// location on or after the first line that says "error" (rustc puts it on the next line),
/// else the first location at all.
pub fn first_error(output: &str, root: &Path) -> Option<Location> {
    let mut seen_error = false;
    let mut first = None;
    for line in output.lines() {
        seen_error = seen_error || line.to_ascii_lowercase().contains("error");
        if let Some((_, location)) = locations(line, root).into_iter().next() {
            if seen_error {
                return Some(location);
            }
            first.get_or_insert(location);
        }
    }
    first
}

/// `path` (relative to `root`, or absolute) as a path relative to `root`, if it is a file
/// inside it once symlinks and `..` are resolved.
pub fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let full = root.join(path).canonicalize().ok()?;
    if !full.is_file() {
        return None;
    }
    full.strip_prefix(&root).ok().map(Path::to_path_buf)
}

/// Parses `path:line[:col]` as the page sends it back.
pub fn parse_target(target: &str) -> Option<(PathBuf, u32, Option<u32>)> {
    let mut parts = target.rsplitn(3, ':');
    let last = parts.next()?;
    let middle = parts.next()?;
    match (parts.next(), middle.parse::<u32>(), last.parse::<u32>()) {
        (Some(path), Ok(line), Ok(column)) => Some((path.into(), line, Some(column))),
        (None, Ok(_), Ok(_)) => None,
        (rest, _, Ok(line)) => {
            let path = match rest {
                Some(rest) => format!("{rest}:{middle}"),
                None => middle.to_owned(),
            };
            Some((path.into(), line, None))
        }
        _ => None,
    }
}

/// The command that opens `file` (absolute) at `line` and `column` in `editor`: a template
/// with `{file}`, `{line}` and `{col}` (`[browser] editor`), or a command such as `code` or
/// `vim -p` whose line syntax is known; any other editor just gets the file.
pub fn command(editor: &str, file: &Path, line: u32, column: Option<u32>) -> Option<Vec<String>> {
    let words = shlex::split(editor).filter(|w| !w.is_empty())?;
    let file = file.display().to_string();
    let col = column.unwrap_or(1).to_string();
    let line = line.to_string();
    if editor.contains("{file}") {
        return Some(
            words
                .iter()
                .map(|w| {
                    w.replace("{file}", &file)
                        .replace("{line}", &line)
                        .replace("{col}", &col)
                })
                .collect(),
        );
    }
    let program = Path::new(&words[0])
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let mut command = words;
    let at = |sep: &str| format!("{file}{sep}{line}{sep}{col}");
    match program.as_str() {
        "code" | "code-insiders" | "codium" | "cursor" | "windsurf" => {
            command.extend(["-g".into(), at(":")]);
        }
        "vim" | "nvim" | "vi" | "gvim" | "mvim" | "kak" => {
            command.extend([format!("+{line}"), file]);
        }
        "emacs" | "emacsclient" => command.extend([format!("+{line}:{col}"), file]),
        "nano" | "micro" => command.extend([format!("+{line},{col}"), file]),
        "subl" | "sublime_text" | "zed" | "zeditor" | "hx" | "helix" => command.push(at(":")),
        "idea" | "goland" | "rustrover" | "webstorm" | "pycharm" | "clion" | "phpstorm"
        | "rubymine" | "idea.sh" => {
            command.extend(["--line".into(), line, "--column".into(), col, file]);
        }
        "mate" => command.extend(["-l".into(), line, file]),
        _ => command.push(file),
    }
    Some(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project of its own for each test (they run at once).
    fn project(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hot-editor-{test}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").expect("write");
        std::fs::write(dir.join("main.go"), "package main\n").expect("write");
        std::fs::write(dir.join("app.py"), "x\n").expect("write");
        std::fs::write(dir.join("app.ts"), "x\n").expect("write");
        dir
    }

    #[test]
    fn compilers_locations_are_found_in_the_project_only() {
        let root = project("locations");
        let found = |text: &str| -> Vec<String> {
            locations(text, &root)
                .into_iter()
                .map(|(range, l)| format!("{}={l}", &text[range]))
                .collect()
        };
        assert_eq!(
            found(" --> src/main.rs:3:5"),
            ["src/main.rs:3:5=src/main.rs:3:5"]
        );
        assert_eq!(
            found("./main.go:12:2: undefined: x"),
            ["./main.go:12:2=main.go:12:2"]
        );
        assert_eq!(
            found("app.ts(4,9): error TS2304"),
            ["app.ts(4,9)=app.ts:4:9"]
        );
        assert_eq!(
            found("  File \"app.py\", line 7, in <module>"),
            ["app.py=app.py:7"]
        );
        // Not in the project: the toolchain's own file, a file elsewhere, a version number.
        assert!(found("/usr/lib/go/src/fmt/print.go:12:3 rustc 1.95.0").is_empty());
        assert!(found("../../etc/passwd:1").is_empty());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn the_first_error_wins_over_earlier_warnings() {
        let root = project("first-error");
        let output =
            "warning: unused\n --> app.ts:1:1\nerror[E0425]: cannot find x\n --> src/main.rs:3:5\n";
        assert_eq!(
            first_error(output, &root).map(|l| l.to_string()),
            Some("src/main.rs:3:5".into())
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn editors_get_their_own_line_syntax() {
        let file = Path::new("/p/src/main.rs");
        let cmd = |editor: &str| command(editor, file, 12, Some(5)).map(|c| c.join(" "));
        assert_eq!(
            cmd("code --wait").as_deref(),
            Some("code --wait -g /p/src/main.rs:12:5")
        );
        assert_eq!(
            cmd("/usr/bin/nvim").as_deref(),
            Some("/usr/bin/nvim +12 /p/src/main.rs")
        );
        assert_eq!(
            cmd("emacsclient -n").as_deref(),
            Some("emacsclient -n +12:5 /p/src/main.rs")
        );
        assert_eq!(cmd("subl").as_deref(), Some("subl /p/src/main.rs:12:5"));
        assert_eq!(cmd("zed").as_deref(), Some("zed /p/src/main.rs:12:5"));
        assert_eq!(
            cmd("idea").as_deref(),
            Some("idea --line 12 --column 5 /p/src/main.rs")
        );
        assert_eq!(
            cmd("my-editor --goto {file}@{line}.{col}").as_deref(),
            Some("my-editor --goto /p/src/main.rs@12.5")
        );
        assert_eq!(cmd("ed").as_deref(), Some("ed /p/src/main.rs"));
        assert_eq!(cmd("  "), None);
    }

    #[test]
    fn targets_parse_back() {
        assert_eq!(
            parse_target("src/main.rs:3:5"),
            Some(("src/main.rs".into(), 3, Some(5)))
        );
        assert_eq!(parse_target("app.py:7"), Some(("app.py".into(), 7, None)));
        assert_eq!(parse_target("app.py"), None);
        assert_eq!(parse_target("x:y:z"), None);
    }
}
