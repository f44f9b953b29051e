//! `hot init`: detect the project in a directory and write a `.hot.toml` tuned to it, or
//! translate an `.air.toml`. The same templates are hot's zero-config defaults.

pub mod air;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::FILE_NAME;
use crate::error::Error;

/// The address every template listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What was detected, with what the template needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stack {
    Go {
        gin: bool,
        /// The main package a one-app config builds: "." for a module, `./api` for the one
        /// server of a `go.work` workspace.
        main: String,
    },
    Rust {
        bin: String,
        note: Option<String>,
        /// Where cargo puts what it builds, as `run.cmd` should name it.
        target_dir: String,
    },
    Node {
        main: String,
        build_script: bool,
    },
    Python {
        run: String,
        server: PythonServer,
    },
    /// A Rack app (`config.ru`), Rails included, served by puma.
    Ruby {
        rails: bool,
        bundler: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonServer {
    Gunicorn,
    Uvicorn,
    Plain,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub stack: Stack,
    /// What else in the project a user of its stack would expect `hot init` to notice.
    pub notes: Vec<String>,
    /// Several servers in one repository (Go `cmd/*`, a Cargo workspace or package with
    /// several binaries, npm workspaces): the config offers one `[apps.NAME]` each.
    pub entries: Vec<Entry>,
    /// The port the app serves on as it is written: read from its code, else its framework's
    /// default; and where that came from ("main.go:14", "Flask's default").
    pub port: (u16, String),
    /// The code already takes its socket from hot (fd 3, `LISTEN_FDS`).
    pub fd3_in_code: bool,
    /// The terminal UI library the project uses (bubbletea, ratatui, textual...): the app reads
    /// the keyboard and draws on the screen, so the config gives it the terminal.
    pub terminal_ui: Option<&'static str>,
}

/// One server of a repository with several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// What it watches: its own directory and the shared ones.
    pub paths: Vec<String>,
    pub build: Option<String>,
    pub run: String,
}

/// Looks at the files in `root` to tell which kind of project it is.
pub fn detect(root: &Path) -> Option<Project> {
    let has = |name: &str| root.join(name).is_file();
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_default();
    let go_work = GoWorkspace::read(root);
    let stack = if has("go.mod") || !go_work.modules.is_empty() {
        let gin = std::iter::once(root.to_path_buf())
            .chain(go_work.modules.iter().map(|m| root.join(m)))
            .any(|dir| {
                std::fs::read_to_string(dir.join("go.mod"))
                    .is_ok_and(|m| m.contains("github.com/gin-gonic/gin"))
            });
        let main = match (has("main.go"), go_work.servers.as_slice()) {
            (false, [only]) => format!("./{}", only.package),
            _ => ".".to_owned(),
        };
        Stack::Go { gin, main }
    } else if has("Cargo.toml") {
        let (bin, note) = rust_binary(&read("Cargo.toml"), root);
        Stack::Rust {
            bin,
            note,
            target_dir: cargo_target_dir(root),
        }
    } else if has("config.ru") {
        Stack::Ruby {
            rails: has("config/application.rb") || read("Gemfile").contains("\"rails\""),
            bundler: has("Gemfile"),
        }
    } else if has("package.json") {
        let pkg: serde_json::Value =
            serde_json::from_str(&read("package.json")).unwrap_or_default();
        Stack::Node {
            main: pkg["main"].as_str().unwrap_or("index.js").to_owned(),
            build_script: pkg["scripts"]["build"].is_string(),
        }
    } else if [
        "pyproject.toml",
        "requirements.txt",
        "manage.py",
        "app.py",
        "main.py",
    ]
    .iter()
    .any(|f| has(f))
    {
        let deps = format!("{}\n{}", read("requirements.txt"), read("pyproject.toml"))
            .to_ascii_lowercase();
        let (run, server) = python_command(root, &deps);
        Stack::Python { run, server }
    } else {
        return None;
    };
    let mut notes = Vec::new();
    if has("go.work") && go_work.servers.is_empty() {
        notes.push(
            "go.work: no module of the workspace has a main package (main.go or cmd/NAME/main.go); \
             point [build] cmd at the one to run (`go build -o ./tmp/app ./api`)"
                .to_owned(),
        );
    }
    let makefile = read("Makefile");
    let targets: Vec<&str> = ["build", "run", "dev"]
        .into_iter()
        .filter(|t| makefile.lines().any(|l| l.starts_with(&format!("{t}:"))))
        .collect();
    if !targets.is_empty() {
        notes.push(format!(
            "the Makefile has {}: [build] cmd = \"make build\" works too; keep [run] cmd the \
             binary itself (not `make run`), so that it gets the socket with its own pid",
            targets
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let entries = entries(&stack, root, &go_work);
    let port = usual_port(&stack, root);
    let fd3_in_code = takes_fd3_in_code(&stack, root);
    let terminal_ui = terminal_ui(&stack, root, &go_work);
    Some(Project {
        stack,
        notes,
        entries,
        port,
        fd3_in_code,
        terminal_ui,
    })
}

/// The terminal UI library among the project's dependencies, if any: a CLI or TUI project
/// (which may serve HTTP too) rather than a plain server.
fn terminal_ui(stack: &Stack, root: &Path, go_work: &GoWorkspace) -> Option<&'static str> {
    let (manifest, libraries): (String, &[(&str, &'static str)]) = match stack {
        Stack::Go { .. } => (
            std::iter::once(root.to_path_buf())
                .chain(go_work.modules.iter().map(|m| root.join(m)))
                .filter_map(|dir| std::fs::read_to_string(dir.join("go.mod")).ok())
                .collect(),
            &[
                ("github.com/charmbracelet/bubbletea", "bubbletea"),
                ("github.com/rivo/tview", "tview"),
                ("github.com/gdamore/tcell", "tcell"),
            ],
        ),
        Stack::Rust { .. } => (
            // Dependency names as keys (`ratatui = "0.29"`, `crossterm.workspace = true`).
            read_lower(root, "Cargo.toml")
                .lines()
                .map(|l| {
                    let l = l
                        .trim()
                        .trim_start_matches("[dependencies.")
                        .trim_start_matches("[dev-dependencies.");
                    l.split(['=', '.', ' ', ']'])
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                        + "\n"
                })
                .collect(),
            &[
                ("\nratatui\n", "ratatui"),
                ("\ncrossterm\n", "crossterm"),
                ("\ncursive\n", "cursive"),
            ],
        ),
        Stack::Python { .. } => (
            format!(
                "{}\n{}",
                read_lower(root, "requirements.txt"),
                read_lower(root, "pyproject.toml")
            )
            .replace('-', "_"),
            &[
                ("textual", "textual"),
                ("prompt_toolkit", "prompt_toolkit"),
                ("urwid", "urwid"),
            ],
        ),
        Stack::Node { .. } => {
            let pkg: serde_json::Value =
                serde_json::from_str(&read_lower(root, "package.json")).unwrap_or_default();
            let deps = ["dependencies", "devDependencies"]
                .iter()
                .filter_map(|k| pkg[k].as_object())
                .flat_map(|d| d.keys().map(|k| format!("\n{k}\n")))
                .collect();
            (deps, &[("\nink\n", "ink"), ("\nblessed\n", "blessed")])
        }
        Stack::Ruby { .. } => return None,
    };
    let manifest = format!("\n{manifest}");
    libraries
        .iter()
        .find(|(marker, _)| manifest.contains(marker))
        .map(|(_, name)| *name)
}

/// The port an app listens on as its code is written: the first port-looking number in its
/// main source (`":8080"`, `listen(3000)`, `port=5000`, `"127.0.0.1:7878"`), else the
/// framework's default. hot keeps it, so the app answers where its README says.
fn usual_port(stack: &Stack, root: &Path) -> (u16, String) {
    for rel in main_sources(stack, root) {
        let Ok(text) = std::fs::read_to_string(root.join(&rel)) else {
            continue;
        };
        if let Some((port, line)) = port_in(&text) {
            let rel = rel.trim_start_matches("./");
            return (port, format!("{rel}:{line}"));
        }
    }
    usual_default(stack, root)
}

/// Whether the app's code already takes its socket from hot (or systemd): `LISTEN_FDS`, fd 3,
/// go-systemd's activation, the listenfd crate. Such an app needs no proxy in front and no
/// `PORT`.
fn takes_fd3_in_code(stack: &Stack, root: &Path) -> bool {
    const MARKERS: [&str; 7] = [
        "LISTEN_FDS",
        "NewFile(3",
        "activation.Listeners",
        "listenfd",
        "fileno=3",
        "fd: 3",
        "from_raw_fd(3)",
    ];
    main_sources(stack, root).iter().any(|rel| {
        std::fs::read_to_string(root.join(rel)).is_ok_and(|t| MARKERS.iter().any(|m| t.contains(m)))
    })
}

/// The files where a server of this stack binds its port, main first.
fn main_sources(stack: &Stack, root: &Path) -> Vec<String> {
    match stack {
        Stack::Go { main, .. } => go_files(root, main),
        Stack::Rust { .. } => vec!["src/main.rs".into(), "src/bin/main.rs".into()],
        Stack::Node { main, .. } => vec![
            main.clone(),
            "server.js".into(),
            "app.js".into(),
            "index.js".into(),
            "bin/www".into(),
        ],
        Stack::Python { .. } => vec!["app.py".into(), "main.py".into(), "server.py".into()],
        Stack::Ruby { .. } => vec!["config/puma.rb".into()],
    }
}

/// The framework's default port, where the code names none.
fn usual_default(stack: &Stack, root: &Path) -> (u16, String) {
    let (port, whose): (u16, &str) = match stack {
        Stack::Go { gin: true, .. } => (8080, "Gin's default"),
        Stack::Go { gin: false, .. } => (8080, "hot's default"),
        Stack::Rust { .. } => (8080, "hot's default"),
        Stack::Node { .. } => (3000, "Express's default"),
        Stack::Python {
            server: PythonServer::Plain,
            run,
        } if run.contains("flask")
            || ["requirements.txt", "pyproject.toml", "app.py"]
                .iter()
                .any(|f| read_lower(root, f).contains("flask")) =>
        {
            (5000, "Flask's default")
        }
        Stack::Python { .. } => (8000, "uvicorn's, gunicorn's and Django's default"),
        Stack::Ruby { rails: true, .. } => (3000, "Rails' default"),
        Stack::Ruby { rails: false, .. } => (9292, "puma's default"),
    };
    (port, whose.to_owned())
}

fn read_lower(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join(name))
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The .go files of the main package (relative to the project), main.go first.
fn go_files(root: &Path, main: &str) -> Vec<String> {
    let dir = main.trim_start_matches("./").trim_start_matches('.');
    let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".go") && !name.ends_with("_test.go"))
        .map(|name| match dir {
            "" => name,
            dir => format!("{dir}/{name}"),
        })
        .collect();
    files.sort_by_key(|f| (!(f == "main.go" || f.ends_with("/main.go")), f.clone()));
    files
}

/// The first port a server's source names, and its line (1-based).
fn port_in(text: &str) -> Option<(u16, usize)> {
    static PATTERN: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let pattern = PATTERN
        .get_or_init(|| {
            regex::Regex::new(
                r#"(?i)(?:\bport\b["']?\s*(?:=|:|\|\||\?\?|,)\s*|\.listen\(\s*|\.run\(\s*["']?[\w.\[\]]*:|["'][\w.\[\]-]*:|["'],\s*|\?[^;\n]*?:\s*)(\d{4,5})\b"#,
            )
            .ok()
        })
        .as_ref()?;
    text.lines().enumerate().find_map(|(i, line)| {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with('#') {
            return None;
        }
        pattern
            .captures_iter(line)
            .filter_map(|c| c.get(1)?.as_str().parse::<u16>().ok())
            .find(|p| *p >= 1024)
            .map(|p| (p, i + 1))
    })
}

/// The servers of a repository that has several: `cmd/NAME/main.go` (Go), binaries of the
/// package or of the workspace's members (Rust), npm workspaces with a `main` (Node). Fewer
/// than two: none (a one-app config).
fn entries(stack: &Stack, root: &Path, go_work: &GoWorkspace) -> Vec<Entry> {
    let dirs_in = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    // Top-level directories every app may use (internal/, pkg/, templates/, …).
    let shared = |own_parent: &str| -> Vec<String> {
        dirs_in(root)
            .into_iter()
            .filter(|d| {
                !d.starts_with('.')
                    && d != own_parent
                    && !["tmp", "vendor", "node_modules", "target", "dist"].contains(&d.as_str())
            })
            .collect()
    };
    let found: Vec<Entry> = match stack {
        Stack::Go { .. } if !go_work.modules.is_empty() => {
            // Modules without a server: libraries the servers share.
            let libraries: Vec<&String> = go_work
                .modules
                .iter()
                .filter(|m| *m != "." && !go_work.servers.iter().any(|s| s.module == **m))
                .collect();
            go_work
                .servers
                .iter()
                .map(|server| Entry {
                    name: server.name.clone(),
                    // Its whole module (a command's package uses the module's others).
                    paths: std::iter::once(server.module.clone())
                        .chain(libraries.iter().map(|m| (*m).clone()))
                        .collect(),
                    build: Some(format!(
                        "go build -o ./tmp/{} ./{}",
                        server.name, server.package
                    )),
                    run: format!("./tmp/{}", server.name),
                })
                .collect()
        }
        Stack::Go { .. } => dirs_in(&root.join("cmd"))
            .into_iter()
            .filter(|name| root.join("cmd").join(name).join("main.go").is_file())
            .map(|name| Entry {
                paths: std::iter::once(format!("cmd/{name}"))
                    .chain(shared("cmd"))
                    .collect(),
                build: Some(format!("go build -o ./tmp/{name} ./cmd/{name}")),
                run: format!("./tmp/{name}"),
                name,
            })
            .collect(),
        Stack::Rust { target_dir, .. } => rust_binaries(root)
            .into_iter()
            .map(|(name, package, dir)| Entry {
                paths: vec![dir],
                build: Some(match package {
                    Some(package) => format!("cargo build -p {package} --bin {name}"),
                    None => format!("cargo build --bin {name}"),
                }),
                run: format!("{target_dir}/debug/{name}"),
                name,
            })
            .collect(),
        Stack::Node { .. } => npm_workspaces(root),
        _ => Vec::new(),
    };
    if found.len() < 2 { Vec::new() } else { found }
}

/// A Go workspace (`go.work`): the modules it uses and the servers among them. Empty without
/// a go.work.
#[derive(Debug, Default)]
struct GoWorkspace {
    /// Paths relative to the root, without `./`, in the file's order.
    modules: Vec<String>,
    servers: Vec<GoServer>,
}

/// A main package of a workspace module.
#[derive(Debug)]
struct GoServer {
    /// The module directory's name for its `main.go`, the command's for `cmd/NAME/main.go`;
    /// a name two modules share is prefixed with its module's.
    name: String,
    /// The package directory, relative to the root.
    package: String,
    /// Its module's directory.
    module: String,
}

impl GoWorkspace {
    fn read(root: &Path) -> GoWorkspace {
        let modules = GoWorkspace::modules(root);
        let servers = GoWorkspace::servers(root, &modules);
        GoWorkspace { modules, servers }
    }

    /// The modules of `use ./api` lines and `use ( … )` blocks; none outside the root.
    fn modules(root: &Path) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(root.join("go.work")) else {
            return Vec::new();
        };
        let mut modules = Vec::new();
        let mut in_block = false;
        for line in text.lines() {
            let line = line.split("//").next().unwrap_or("").trim();
            let path = if in_block {
                if line == ")" {
                    in_block = false;
                    continue;
                }
                line
            } else if let Some(rest) = line
                .strip_prefix("use")
                .filter(|r| r.starts_with(char::is_whitespace) || r.starts_with('('))
            {
                let rest = rest.trim();
                if rest == "(" {
                    in_block = true;
                    continue;
                }
                rest
            } else {
                continue;
            };
            let path = path.trim_matches(|c| c == '"' || c == '`');
            let path = path
                .strip_prefix("./")
                .unwrap_or(path)
                .trim_end_matches('/');
            if !path.is_empty() && !path.starts_with("..") && !Path::new(path).is_absolute() {
                modules.push(path.to_owned());
            }
        }
        modules
    }

    fn servers(root: &Path, modules: &[String]) -> Vec<GoServer> {
        let base = |module: &str| -> String {
            Path::new(module)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(module)
                .to_owned()
        };
        let mut found = Vec::new();
        for module in modules.iter().filter(|m| *m != ".") {
            if root.join(module).join("main.go").is_file() {
                found.push(GoServer {
                    name: base(module),
                    package: module.clone(),
                    module: module.clone(),
                });
            }
            let mut commands: Vec<String> = std::fs::read_dir(root.join(module).join("cmd"))
                .map(|d| {
                    d.flatten()
                        .filter(|e| e.path().join("main.go").is_file())
                        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            commands.sort();
            for command in commands {
                found.push(GoServer {
                    package: format!("{module}/cmd/{command}"),
                    name: command,
                    module: module.clone(),
                });
            }
        }
        let names: Vec<String> = found.iter().map(|s| s.name.clone()).collect();
        for server in &mut found {
            let module = base(&server.module);
            if names.iter().filter(|n| **n == server.name).count() > 1 && server.name != module {
                server.name = format!("{module}-{}", server.name);
            }
        }
        found
    }
}

/// The names of a manifest's `[[bin]]` targets.
fn bin_names(manifest: &toml::Table) -> Vec<String> {
    manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// (binary, its package when in a workspace member, the directory it lives in).
fn rust_binaries(root: &Path) -> Vec<(String, Option<String>, String)> {
    let read = |path: &Path| -> toml::Table {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .parse()
            .unwrap_or_default()
    };
    let manifest = read(&root.join("Cargo.toml"));
    let bins_of = |manifest: &toml::Table, dir: &Path| -> Vec<String> {
        let package = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str());
        let mut bins = bin_names(manifest);
        if let Some(package) = package {
            if dir.join("src/main.rs").is_file() && !bins.iter().any(|b| b == package) {
                bins.insert(0, package.to_owned());
            }
        }
        bins
    };
    let members: Vec<String> = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if members.is_empty() {
        return bins_of(&manifest, root)
            .into_iter()
            .map(|b| (b, None, "src".to_owned()))
            .collect();
    }
    let mut found = Vec::new();
    for member in members.iter().filter(|m| !m.contains('*')) {
        let dir = root.join(member);
        let m = read(&dir.join("Cargo.toml"));
        let package = m
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_owned);
        for bin in bins_of(&m, &dir) {
            found.push((bin, package.clone(), member.clone()));
        }
    }
    found
}

/// npm workspaces (`"workspaces": ["apps/*", "api"]`) whose package.json names a `main`.
fn npm_workspaces(root: &Path) -> Vec<Entry> {
    let pkg: serde_json::Value = std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let patterns: Vec<String> = pkg["workspaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut dirs = Vec::new();
    for pattern in patterns {
        match pattern.strip_suffix("/*") {
            Some(parent) => {
                let mut found: Vec<String> = std::fs::read_dir(root.join(parent))
                    .map(|d| {
                        d.flatten()
                            .filter(|e| e.path().is_dir())
                            .filter_map(|e| e.file_name().to_str().map(|n| format!("{parent}/{n}")))
                            .collect()
                    })
                    .unwrap_or_default();
                found.sort();
                dirs.extend(found);
            }
            None => dirs.push(pattern),
        }
    }
    dirs.into_iter()
        .filter_map(|dir| {
            let pkg: serde_json::Value =
                std::fs::read_to_string(root.join(&dir).join("package.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())?;
            let main = pkg["main"].as_str()?;
            let name = Path::new(&dir).file_name()?.to_str()?.to_owned();
            Some(Entry {
                name,
                paths: vec![dir.clone()],
                build: pkg["scripts"]["build"]
                    .is_string()
                    .then(|| format!("npm run build --workspace {dir}")),
                run: format!("node {dir}/{main}"),
            })
        })
        .collect()
}

/// The binary `cargo build` produces that `hot` should run: `default-run`, else the package's
/// own binary, else the first `[[bin]]`.
fn rust_binary(manifest: &str, root: &Path) -> (String, Option<String>) {
    let doc: toml::Table = manifest.parse().unwrap_or_default();
    let package = doc.get("package").and_then(|p| p.as_table());
    let name = package
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("app")
        .to_owned();
    let bins = bin_names(&doc);
    if let Some(default) = package
        .and_then(|p| p.get("default-run"))
        .and_then(|d| d.as_str())
    {
        return (default.to_owned(), None);
    }
    let mut candidates = Vec::new();
    if bins.is_empty() || root.join("src/main.rs").is_file() {
        candidates.push(name);
    }
    for bin in bins {
        if !candidates.contains(&bin) {
            candidates.push(bin);
        }
    }
    let chosen = candidates[0].clone();
    let note = (candidates.len() > 1).then(|| {
        format!(
            "several binaries ({}); running `{chosen}`: change [run] cmd to pick another",
            candidates.join(", ")
        )
    });
    (chosen, note)
}

/// cargo's target directory for the project in `root`, as cargo itself reports it (so a
/// `CARGO_TARGET_DIR`, a `build.target-dir` in `.cargo/config.toml` or a workspace's shared
/// `target/` are all honoured): `./target` style when it is inside the project, absolute when
/// not. `./target` if cargo cannot say.
fn cargo_target_dir(root: &Path) -> String {
    let reported = std::process::Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["target_directory"].as_str().map(std::path::PathBuf::from));
    let Some(dir) = reported else {
        return "./target".to_owned();
    };
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    match dir.strip_prefix(&root) {
        Ok(rel) => format!("./{}", rel.display()),
        Err(_) => dir.display().to_string(),
    }
}

fn python_command(root: &Path, deps: &str) -> (String, PythonServer) {
    let module = ["app", "main", "server", "wsgi", "asgi"]
        .into_iter()
        .find(|m| root.join(format!("{m}.py")).is_file());
    if root.join("manage.py").is_file() {
        // Django: the WSGI module lives in the project package next to settings.py.
        let package = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.path().join("wsgi.py").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned());
        if let Some(package) = package {
            if deps.contains("gunicorn") {
                return (format!("gunicorn {package}.wsgi"), PythonServer::Gunicorn);
            }
        }
        // Django's own server, on its own port (hot holds it); hot restarts it, so Django's
        // reloader would only restart it a second time.
        return (
            "python3 manage.py runserver 127.0.0.1:$PORT --noreload".to_owned(),
            PythonServer::Plain,
        );
    }
    let module_text = module
        .map(|m| std::fs::read_to_string(root.join(format!("{m}.py"))).unwrap_or_default())
        .unwrap_or_default();
    let flask = deps.contains("flask") || module_text.contains("from flask import");
    let target = format!("{}:app", module.unwrap_or("app"));
    if deps.contains("uvicorn") {
        (format!("uvicorn --fd 3 {target}"), PythonServer::Uvicorn)
    } else if deps.contains("gunicorn") {
        // gunicorn reads LISTEN_FDS / LISTEN_PID itself.
        (format!("gunicorn {target}"), PythonServer::Gunicorn)
    } else if flask {
        // Flask's own command, as its quickstart runs an app, with the port hot gives it (its
        // `--debug` reloader would restart the app a second time: hot does that).
        (
            format!("flask --app {} run --port $PORT", module.unwrap_or("app")),
            PythonServer::Plain,
        )
    } else {
        (
            format!("python3 {}.py", module.unwrap_or("app")),
            PythonServer::Plain,
        )
    }
}

impl Project {
    pub fn stack_name(&self) -> &'static str {
        match self.stack {
            Stack::Go { .. } => "Go",
            Stack::Rust { .. } => "Rust",
            Stack::Node { .. } => "Node",
            Stack::Python { .. } => "Python",
            Stack::Ruby { rails: true, .. } => "Rails",
            Stack::Ruby { rails: false, .. } => "Rack",
        }
    }

    /// A commented `.hot.toml` for this project: one app, or one `[apps.NAME]` per server.
    pub fn template(&self) -> String {
        if !self.entries.is_empty() {
            return self.apps_template();
        }
        let (port, from) = &self.port;
        let mut t = format!(
            "# .hot.toml for a {} project, written by `hot init`. Every key: .hot.toml.example.\n\n",
            self.stack_name()
        );
        if !self.serves() {
            // A terminal app with no port in its code: nothing to listen on.
        } else if self.takes_fd3() {
            let _ = write!(
                t,
                "# The app's usual port ({from}). hot binds it and hands it to the app as fd 3\n\
                 # (LISTEN_FDS=1), so the browser never sees \"connection refused\" while it restarts.\n\
                 listen = [\"127.0.0.1:{port}\"]\n\n"
            );
        } else {
            let _ = write!(
                t,
                "# The app's usual port ({from}), which it binds itself as it always has: nothing to\n\
                 # change in the app. hot holds the port across restarts (Linux: it sees the app's\n\
                 # bind), so the browser never sees \"connection refused\", and its proxy answers there,\n\
                 # sending again a request that a stopping app dropped, so none fails.\n\
                 listen = [\"127.0.0.1:{port}\"]\n\n\
                 [proxy]\n\
                 enabled = true\n\n"
            );
        }
        let (watch, build, run) = match &self.stack {
            Stack::Go { main, .. } => (
                "include_ext = [\"go\", \"tpl\", \"tmpl\", \"html\"]\nexclude = [\"*_test.go\", \"vendor\"]",
                Some(format!("go build -o ./tmp/app {main}")),
                "./tmp/app".to_owned(),
            ),
            Stack::Rust {
                bin, target_dir, ..
            } => (
                "include_ext = [\"rs\", \"toml\", \"html\"]\nexclude = [\"target\"]",
                Some("cargo build".to_owned()),
                format!("{target_dir}/debug/{bin}"),
            ),
            Stack::Node { main, build_script } => (
                "include_ext = [\"js\", \"mjs\", \"cjs\", \"ts\", \"json\", \"html\"]\nexclude = [\"node_modules\", \"dist\"]",
                build_script.then(|| "npm run build".to_owned()),
                format!("node {main}"),
            ),
            Stack::Python { run, .. } => (
                "include_ext = [\"py\", \"html\", \"jinja\", \"jinja2\"]\nexclude = [\"__pycache__\", \".venv\", \"venv\"]",
                None,
                run.clone(),
            ),
            // puma takes systemd's sockets and binds nothing of its own with this flag.
            Stack::Ruby { bundler, .. } => (
                "include_ext = [\"rb\", \"ru\", \"erb\", \"haml\", \"slim\", \"yml\"]\nexclude = [\"log\", \"storage\", \"vendor\", \"node_modules\", \"public/assets\"]",
                None,
                format!(
                    "{}puma --bind-to-activated-sockets only config.ru",
                    if *bundler { "bundle exec " } else { "" }
                ),
            ),
        };
        let _ = write!(t, "[watch]\n{watch}\n\n[build]\n");
        match build {
            Some(cmd) => {
                let _ = writeln!(
                    t,
                    "# Runs with `sh -c`; the old app keeps serving until it succeeds.\ncmd = {cmd:?}"
                );
            }
            None => t.push_str("# No build step: a change restarts the app.\n# cmd = \"\"\n"),
        }
        let _ = write!(
            t,
            "\n[run]\n# Executed directly (no shell), so LISTEN_PID is the app's own pid.\ncmd = {run:?}\n"
        );
        if let Some(library) = self.terminal_ui {
            let _ = write!(
                t,
                "# The app uses the terminal ({library}): it gets the keyboard and the screen, through a\n\
                 # terminal of its own that hot relays. hot's keys follow Ctrl-T (Ctrl-T q quits); Ctrl-C\n\
                 # is the app's (twice within a second stops hot).\n\
                 stdin = \"app\"\n"
            );
        }
        if self.serves() && !self.takes_fd3() {
            t.push_str(
                "# The app's port, by its stack's convention (and $PORT in `cmd`): the `listen` port\n\
                 # where hot holds the app's binds (Linux), else a private one behind the proxy.\n\
                 port_env = \"PORT\"\n",
            );
        }
        if self.serves() && self.takes_fd3() {
            t.push_str(PROXY_HINT);
        }
        t
    }

    /// Whether the app is a server: any project but a terminal app whose code names no port.
    fn serves(&self) -> bool {
        // A port read from the code is located `file:line`; a framework default is not.
        self.terminal_ui.is_none() || self.port.1.contains(':')
    }

    /// Whether the app takes hot's socket by itself: its code does already, or the command
    /// `hot init` writes makes it (gunicorn reads LISTEN_FDS, uvicorn gets `--fd 3`, puma
    /// `--bind-to-activated-sockets`). Then it needs no proxy in front and no `PORT`. Every
    /// other app binds its own port.
    fn takes_fd3(&self) -> bool {
        self.fd3_in_code
            || matches!(
                self.stack,
                Stack::Ruby { .. }
                    | Stack::Python {
                        server: PythonServer::Gunicorn | PythonServer::Uvicorn,
                        ..
                    }
            )
    }

    /// The config of a repository with several servers: shared `[watch]` defaults, then one
    /// table per server, each with its own port, build, binary and paths.
    fn apps_template(&self) -> String {
        let single = Project {
            entries: Vec::new(),
            ..self.clone()
        }
        .template();
        // The one-app template's [watch] section is the shared default.
        let watch = single
            .split("[watch]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .unwrap_or_default();
        let mut t = format!(
            "# .hot.toml for a {} repository with {} servers, written by `hot init`. Every key:\n\
             # .hot.toml.example. Top-level keys are defaults for every app; an app's own keys\n\
             # override them. A change rebuilds and restarts only the apps whose paths it is in.\n\
             # `hot --app NAME` runs some of them; remove `listen` from an app that serves nothing.\n\n\
             [watch]\n{watch}\n",
            self.stack_name(),
            self.entries.len()
        );
        let port = DEFAULT_LISTEN
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .unwrap_or(8080);
        let host = DEFAULT_LISTEN
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h);
        for (i, entry) in self.entries.iter().enumerate() {
            let _ = write!(
                t,
                "\n[apps.{}]\nlisten = [\"{host}:{}\"]\nwatch.paths = {:?}\n",
                entry.name,
                port + i as u16,
                entry.paths
            );
            if let Some(build) = &entry.build {
                let _ = writeln!(t, "build.cmd = {build:?}");
            }
            let _ = writeln!(t, "run.cmd = {:?}", entry.run);
        }
        t.push_str(PROXY_HINT);
        t
    }

    /// What to tell the user after writing the config: the lines the app needs.
    pub fn next_steps(&self) -> String {
        let mut s = String::new();
        if let Stack::Rust {
            note: Some(note), ..
        } = &self.stack
        {
            let _ = writeln!(s, "note: {note}");
        }
        for note in &self.notes {
            let _ = writeln!(s, "note: {note}");
        }
        if let Some(library) = self.terminal_ui {
            let _ = writeln!(
                s,
                "note: the app uses the terminal ({library}): [run] stdin = \"app\" gives it the \
                 keyboard and the screen; hot's keys then follow Ctrl-T (Ctrl-T q quits)"
            );
            if !self.serves() {
                s.push_str("Run `hot`.");
                return s;
            }
        }
        if self.fd3_in_code {
            s.push_str(
                "The app already takes its listening socket from hot (fd 3): nothing to change. \
                 Run `hot`.",
            );
            return s;
        }
        if self.takes_fd3() {
            s.push_str("Next: ");
        } else if self.entries.is_empty() {
            let _ = writeln!(
                s,
                "Nothing to change in the app: run `hot`, and open http://127.0.0.1:{}/.",
                self.port.0
            );
            s.push_str(
                "Optional, the fastest restarts and the way that holds the port on macOS and the \
                 BSDs too: take the listening socket from hot (fd 3). ",
            );
        } else {
            s.push_str(
                "Each app binds its own port as it always has (hot holds it on Linux). Optional, \
                 the fastest restarts and the way that works on every OS: take the listening \
                 socket from hot (fd 3). ",
            );
        }
        s.push_str(match &self.stack {
            Stack::Go { gin: true, .. } => {
                "In main.go:\n\n\
                 \tl, err := net.FileListener(os.NewFile(3, \"listener\"))\n\
                 \tif err != nil { l, err = net.Listen(\"tcp\", \":8080\") } // without hot\n\
                 \tif err != nil { log.Fatal(err) }\n\
                 \tr := gin.Default()\n\
                 \t// ... routes ...\n\
                 \tsrv := &http.Server{Handler: r}\n\
                 \tgo func() { <-stop; srv.Shutdown(context.Background()) }() // stop: signal.Notify(stop, syscall.SIGTERM)\n\
                 \tsrv.Serve(l) // or r.RunListener(l), which cannot drain requests on stop\n"
            }
            Stack::Go { gin: false, .. } => {
                "In main.go:\n\n\
                 \tl, err := net.FileListener(os.NewFile(3, \"listener\"))\n\
                 \tif err != nil { l, err = net.Listen(\"tcp\", \":8080\") } // without hot\n\
                 \tsrv := &http.Server{Handler: mux}\n\
                 \tgo func() { <-stop; srv.Shutdown(context.Background()) }() // stop: signal.Notify(stop, syscall.SIGTERM)\n\
                 \tsrv.Serve(l)\n"
            }
            Stack::Rust { .. } => {
                "With the listenfd crate:\n\n\
                 \tlet listener = match listenfd::ListenFd::from_env().take_tcp_listener(0)? {\n\
                 \t    Some(l) => l,\n\
                 \t    None => std::net::TcpListener::bind(\"127.0.0.1:8080\")?,\n\
                 \t};\n\
                 \tlistener.set_nonblocking(true)?; // then tokio::net::TcpListener::from_std(listener)\n"
            }
            Stack::Node { .. } => {
                "In your server:\n\n\
                 \tserver.listen(process.env.LISTEN_FDS ? { fd: 3 } : 8080);\n\
                 \tprocess.on(\"SIGTERM\", () => server.close(() => process.exit(0)));\n"
            }
            Stack::Python { server: PythonServer::Gunicorn, .. } => {
                "gunicorn reads LISTEN_FDS itself: nothing to change.\n"
            }
            Stack::Python { server: PythonServer::Uvicorn, .. } => "uvicorn takes it with `--fd 3`: nothing to change.\n",
            Stack::Ruby { .. } => {
                "puma takes it with `--bind-to-activated-sockets only` (puma 5 or later): nothing \
                 to change. Rails: remove a `port` line from config/puma.rb, or hot's socket and \
                 puma's own port are both bound.\n"
            }
            Stack::Python { server: PythonServer::Plain, .. } => {
                "In app.py:\n\n\
                 \tsock = socket.socket(fileno=3) if os.environ.get(\"LISTEN_FDS\") else None\n\
                 \t# http.server: HTTPServer(addr, Handler, bind_and_activate=False); server.socket = sock\n"
            }
        });
        if self.takes_fd3() {
            s.push_str("Then run `hot`.");
        }
        s
    }
}

/// A template for a project hot cannot recognise.
pub fn generic_template() -> String {
    format!(
        "# .hot.toml written by `hot init`. Every key: .hot.toml.example.\n\n\
         # hot binds this address and hands it to the app as fd 3 (LISTEN_FDS=1).\n\
         listen = [\"{DEFAULT_LISTEN}\"]\n\n\
         [watch]\n\
         # TODO: the extensions of your sources (empty: any file).\n\
         include_ext = []\n\n\
         [build]\n\
         # TODO: your build command, or remove it if there is no build step.\n\
         cmd = \"make\"\n\n\
         [run]\n\
         # TODO: the server to run (executed directly, no shell).\n\
         cmd = \"./tmp/app\"\n{PROXY_HINT}"
    )
}

/// The proxy, off, with when to turn it on.
const PROXY_HINT: &str = "\n[proxy]\n\
    # Turn on if a request fails while the app restarts: some servers (axum, actix-web,\n\
    # hypercorn) drop connections they accepted but had not read yet when they stop.\n\
    # enabled = true\n";

/// What `hot init` was asked to do.
#[derive(Debug)]
pub struct InitRequest {
    pub force: bool,
    pub stdout: bool,
    pub from_air: Option<PathBuf>,
}

/// Runs `hot init` in `root`; returns the exit status.
pub fn run(root: &Path, request: &InitRequest) -> Result<u8, Error> {
    let target = root.join(FILE_NAME);
    if target.exists() && !request.force && !request.stdout {
        return Err(Error::Usage(format!(
            "{} already exists: not overwriting it (use --force to replace it, or --stdout to print)",
            target.display()
        )));
    }
    let air_file = request.from_air.clone().or_else(|| {
        [".air.toml", ".air.conf"]
            .into_iter()
            .map(|name| root.join(name))
            .find(|p| p.is_file())
    });
    let (text, steps, summary) = if let Some(air_file) = air_file {
        let source = std::fs::read_to_string(root.join(&air_file))
            .map_err(|e| Error::io(format!("cannot read {}", air_file.display()), e))?;
        let translation = air::translate(&source, &air_file, root)?;
        let mut steps = String::new();
        if !translation.dropped.is_empty() {
            steps.push_str("These .air.toml settings were not translated:\n");
            for d in &translation.dropped {
                let _ = writeln!(steps, "  - {d}");
            }
        }
        for n in &translation.notes {
            let _ = writeln!(steps, "note: {n}");
        }
        if let Some(project) = detect(root) {
            steps.push_str(&project.next_steps());
        }
        (
            translation.toml,
            steps,
            format!("translated {}", air_file.display()),
        )
    } else if let Some(project) = detect(root) {
        (
            project.template(),
            project.next_steps(),
            format!("detected a {} project", project.stack_name()),
        )
    } else {
        (
            generic_template(),
            "No Go, Rust, Node, Python or Ruby project detected: fill in the TODOs.".to_owned(),
            "no known project type".to_owned(),
        )
    };
    if request.stdout {
        // The config alone on stdout (to redirect or pipe); what was left out, on stderr.
        print!("{text}");
        eprintln!("{steps}");
        return Ok(0);
    }
    std::fs::write(&target, &text)
        .map_err(|e| Error::io(format!("cannot write {}", target.display()), e))?;
    eprintln!("hot: {summary}; wrote {}", target.display());
    eprintln!("{steps}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    fn project(files: &[(&str, &str)]) -> PathBuf {
        // One directory per call: tests run in parallel, and several start with `go.work`.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hot-init-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            files[0].0.replace('/', "_")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, content) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, content).expect("write");
        }
        dir
    }

    fn loads(dir: &Path) -> Config {
        let p = detect(dir).expect("detected");
        Config::from_toml(
            dir,
            Path::new(".hot.toml"),
            &p.template(),
            &Overrides::default(),
        )
        .expect("template parses")
    }

    #[test]
    fn terminal_apps_get_the_terminal_and_no_port_unless_their_code_has_one() {
        let tui = [
            (
                vec![
                    (
                        "go.mod",
                        "module x\nrequire github.com/charmbracelet/bubbletea v1.1.0\n",
                    ),
                    (
                        "main.go",
                        "package main\nfunc main() { tea.NewProgram(m{}).Run() }\n",
                    ),
                ],
                "bubbletea",
            ),
            (
                vec![
                    (
                        "Cargo.toml",
                        "[package]\nname = \"t\"\n[dependencies.ratatui]\nversion = \"0.29\"\n",
                    ),
                    ("src/main.rs", "fn main() {}\n"),
                ],
                "ratatui",
            ),
            (
                vec![
                    ("requirements.txt", "Textual==0.80\n"),
                    ("app.py", "App().run()\n"),
                ],
                "textual",
            ),
            (
                vec![("pyproject.toml", "dependencies = [\"prompt-toolkit>=3\"]\n")],
                "prompt_toolkit",
            ),
        ];
        for (files, library) in tui {
            let dir = project(&files);
            let p = detect(&dir).expect("detected");
            assert_eq!(p.terminal_ui, Some(library), "{files:?}");
            let text = p.template();
            assert!(text.contains("stdin = \"app\""), "{text}");
            assert!(
                !text.contains("listen ="),
                "a port the app does not have: {text}"
            );
            let config = loads(&dir);
            assert_eq!(
                config.run.as_ref().map(|r| r.stdin),
                Some(crate::config::Stdin::App)
            );
            assert!(p.next_steps().contains("Ctrl-T q"), "{}", p.next_steps());
        }
        // A server with a terminal UI too keeps its port.
        let dir = project(&[
            ("requirements.txt", "flask\nrich\nprompt_toolkit\n"),
            ("app.py", "app.run(port=5001)\n"),
        ]);
        let text = detect(&dir).expect("python").template();
        assert!(
            text.contains("stdin = \"app\"") && text.contains(":5001"),
            "{text}"
        );
        // A plain server is left as it was; crossterm only as a dependency's name.
        let dir = project(&[(
            "Cargo.toml",
            "[package]\nname = \"crossterm-free\"\n[dependencies]\naxum = \"0.8\"\n",
        )]);
        assert_eq!(detect(&dir).expect("rust").terminal_ui, None);
    }

    #[test]
    fn go_with_gin() {
        let dir = project(&[(
            "go.mod",
            "module x\nrequire github.com/gin-gonic/gin v1.9.1\n",
        )]);
        assert_eq!(
            detect(&dir).expect("go").stack,
            Stack::Go {
                gin: true,
                main: ".".into()
            }
        );
        let c = loads(&dir);
        assert_eq!(c.build.expect("build").cmd, "go build -o ./tmp/app .");
        assert!(
            detect(&dir)
                .expect("go")
                .next_steps()
                .contains("RunListener")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn rust_picks_default_run_or_package() {
        let dir = project(&[
            ("Cargo.toml", "[package]\nname = \"web\"\n"),
            ("src/main.rs", ""),
        ]);
        // Where cargo builds depends on the environment (CARGO_TARGET_DIR); the name does not.
        assert_eq!(
            loads(&dir).run.expect("run").program,
            format!("{}/debug/web", cargo_target_dir(&dir))
        );
        let _ = std::fs::remove_dir_all(&dir);
        let dir = project(&[(
            "Cargo.toml",
            "[package]\nname = \"ws\"\n[[bin]]\nname = \"a\"\n[[bin]]\nname = \"b\"\n",
        )]);
        match detect(&dir).expect("rust").stack {
            Stack::Rust { bin, note, .. } => {
                assert_eq!(bin, "a");
                assert!(note.expect("note").contains("a, b"));
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn node_and_python() {
        let dir = project(&[(
            "package.json",
            r#"{"main": "server.js", "scripts": {"build": "tsc"}}"#,
        )]);
        let c = loads(&dir);
        assert_eq!(c.run.expect("run").args, ["server.js"]);
        assert_eq!(c.build.expect("build").cmd, "npm run build");
        let _ = std::fs::remove_dir_all(&dir);
        let dir = project(&[("requirements.txt", "fastapi\nuvicorn\n"), ("main.py", "")]);
        let run = loads(&dir).run.expect("run");
        assert_eq!(
            (run.program.as_str(), run.args.join(" ")),
            ("uvicorn", "--fd 3 main:app".to_owned())
        );
        let _ = std::fs::remove_dir_all(&dir);
        let dir = project(&[("app.py", "")]);
        assert_eq!(loads(&dir).run.expect("run").args, ["app.py"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_port_comes_from_the_code_as_each_stack_writes_it() {
        let cases = [
            ("\thttp.ListenAndServe(\":8081\", nil)", Some(8081)),
            ("\tr.Run(\":9000\")", Some(9000)),
            ("\te.Logger.Fatal(e.Start(\":1323\"))", Some(1323)),
            ("\tlog.Fatal(app.Listen(\":3001\"))", Some(3001)),
            ("app.listen(3000, () => {})", Some(3000)),
            ("const port = process.env.PORT || 4000", Some(4000)),
            (
                "server.listen(process.env.LISTEN_FDS ? { fd: 3 } : 8080);",
                Some(8080),
            ),
            ("    app.run(debug=True, port=5001)", Some(5001)),
            (
                "    uvicorn.run(app, host=\"0.0.0.0\", port=8001)",
                Some(8001),
            ),
            ("HTTPServer((\"127.0.0.1\", 8080), Handler)", Some(8080)),
            (
                "    let listener = TcpListener::bind(\"127.0.0.1:7878\").unwrap();",
                Some(7878),
            ),
            ("// listens on :8080", None),
            ("# port = 8080", None),
            ("sleep(1000)", None),
            ("app.run()", None),
            ("report = 8080", None),
        ];
        for (line, want) in cases {
            assert_eq!(port_in(line).map(|(p, _)| p), want, "{line}");
        }
    }

    #[test]
    fn flask_and_django_get_the_port_through_their_own_flags() {
        let flask = project(&[
            ("app.py", "from flask import Flask\napp = Flask(__name__)\n"),
            ("requirements.txt", "flask\n"),
        ]);
        let p = detect(&flask).expect("detected");
        assert_eq!(p.port, (5000, "Flask's default".to_owned()));
        let config = loads(&flask);
        let run = config.run.expect("run");
        assert_eq!(run.program, "flask");
        assert_eq!(run.args, ["--app", "app", "run", "--port", "$PORT"]);
        assert_eq!(run.port_env.as_deref(), Some("PORT"));
        assert_eq!(run.with_port("PORT", 5000).args[4], "5000");

        let django = project(&[
            ("manage.py", "import django\n"),
            ("site/wsgi.py", "application = None\n"),
        ]);
        let run = loads(&django).run.expect("run");
        assert_eq!(
            run.args,
            ["manage.py", "runserver", "127.0.0.1:$PORT", "--noreload"]
        );
        assert_eq!(
            run.with_port("PORT", 8000).args[2],
            "127.0.0.1:8000",
            "runserver gets the port hot gives"
        );
    }

    #[test]
    fn generic_template_parses() {
        Config::from_toml(
            Path::new("/"),
            Path::new(".hot.toml"),
            &generic_template(),
            &Overrides::default(),
        )
        .expect("generic template parses");
    }

    /// The apps `hot init` writes for a repository with several servers, as hot loads them.
    fn apps_of(dir: &Path) -> Vec<(String, String, Option<String>, Vec<String>)> {
        let project = detect(dir).expect("detected");
        let text = project.template();
        crate::config::Config::apps_from_toml(
            dir,
            &dir.join(".hot.toml"),
            &text,
            &crate::config::Overrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .into_iter()
        .map(|a| {
            let run = a.config.run.expect("run");
            (
                a.name.expect("a name"),
                format!("{} {}", run.program, run.args.join(" "))
                    .trim()
                    .to_owned(),
                a.config.build.map(|b| b.cmd),
                a.config
                    .watch
                    .paths
                    .iter()
                    .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                    .collect(),
            )
        })
        .collect()
    }

    #[test]
    fn go_work_use_directives_are_read_in_order() {
        let dir = project(&[(
            "go.work",
            "go 1.22\n\nuse ./api // the API\nuse (\n\t./web\n\t\"./libs/shared/\" // quoted\n\t// ./old\n\t.\n)\n\
             toolchain go1.22.1\nuse ../elsewhere\n",
        )]);
        assert_eq!(
            GoWorkspace::modules(&dir),
            ["api", "web", "libs/shared", "."]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_go_workspace_gets_one_app_per_server_module_and_watches_its_libraries() {
        let dir = project(&[
            ("go.work", "go 1.22\nuse (\n\t./api\n\t./site\n\t./lib\n)\n"),
            (
                "api/go.mod",
                "module example.com/api\nrequire github.com/gin-gonic/gin v1.9.1\n",
            ),
            ("api/main.go", "package main\n"),
            ("site/go.mod", "module example.com/site\n"),
            ("site/cmd/web/main.go", "package main\n"),
            ("site/cmd/admin/main.go", "package main\n"),
            ("site/internal/pages/pages.go", "package pages\n"),
            ("lib/go.mod", "module example.com/lib\n"),
            ("lib/lib.go", "package lib\n"),
        ]);
        let project_found = detect(&dir).expect("go");
        assert!(
            matches!(project_found.stack, Stack::Go { gin: true, .. }),
            "gin is found in a module's go.mod"
        );
        assert!(project_found.notes.is_empty(), "{:?}", project_found.notes);
        let apps = apps_of(&dir);
        let app = |name: &str, dir: &str, paths: &[&str]| {
            (
                name.to_owned(),
                format!("./tmp/{name}"),
                Some(format!("go build -o ./tmp/{name} ./{dir}")),
                paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            apps,
            [
                app("api", "api", &["api", "lib"]),
                app("admin", "site/cmd/admin", &["site", "lib"]),
                app("web", "site/cmd/web", &["site", "lib"]),
            ]
        );
        let _ = std::fs::remove_dir_all(dir);

        // Two modules with a command of one name: each is named after its module too.
        let dir = project(&[
            ("go.work", "use ./billing\nuse ./users\n"),
            ("billing/go.mod", "module b\n"),
            ("billing/cmd/api/main.go", "package main\n"),
            ("users/go.mod", "module u\n"),
            ("users/cmd/api/main.go", "package main\n"),
        ]);
        let names: Vec<String> = apps_of(&dir).into_iter().map(|a| a.0).collect();
        assert_eq!(names, ["billing-api", "users-api"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_go_workspace_with_one_server_builds_it() {
        let dir = project(&[
            ("go.work", "use (\n\t./server\n\t./lib\n)\n"),
            ("server/go.mod", "module s\n"),
            ("server/main.go", "package main\n"),
            ("lib/go.mod", "module l\n"),
        ]);
        let c = loads(&dir);
        assert_eq!(
            c.build.expect("build").cmd,
            "go build -o ./tmp/app ./server"
        );
        let _ = std::fs::remove_dir_all(dir);

        // No server at all: a note says where to point the build.
        let dir = project(&[("go.work", "use ./lib\n"), ("lib/go.mod", "module l\n")]);
        let found = detect(&dir).expect("go");
        assert!(
            found.notes.iter().any(|n| n.starts_with("go.work:")),
            "{:?}",
            found.notes
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_go_module_with_several_commands_gets_one_app_each() {
        let dir = project(&[
            ("go.mod", "module x\n"),
            ("cmd/api/main.go", "package main\n"),
            ("cmd/worker/main.go", "package main\n"),
            ("internal/db/db.go", "package db\n"),
        ]);
        let apps = apps_of(&dir);
        assert_eq!(
            apps,
            [
                (
                    "api".to_owned(),
                    "./tmp/api".to_owned(),
                    Some("go build -o ./tmp/api ./cmd/api".to_owned()),
                    vec!["cmd/api".to_owned(), "internal".to_owned()]
                ),
                (
                    "worker".to_owned(),
                    "./tmp/worker".to_owned(),
                    Some("go build -o ./tmp/worker ./cmd/worker".to_owned()),
                    vec!["cmd/worker".to_owned(), "internal".to_owned()]
                ),
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_cargo_workspace_and_npm_workspaces_get_one_app_each() {
        let dir = project(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"api\", \"admin\", \"lib\"]\n",
            ),
            ("api/Cargo.toml", "[package]\nname = \"api\"\n"),
            ("api/src/main.rs", ""),
            ("admin/Cargo.toml", "[package]\nname = \"admin\"\n"),
            ("admin/src/main.rs", ""),
            ("lib/Cargo.toml", "[package]\nname = \"lib\"\n"),
            ("lib/src/lib.rs", ""),
        ]);
        let apps = apps_of(&dir);
        let names: Vec<&str> = apps.iter().map(|a| a.0.as_str()).collect();
        // In the workspace's order of members.
        assert_eq!(names, ["api", "admin"]);
        assert_eq!(apps[0].2.as_deref(), Some("cargo build -p api --bin api"));
        assert!(apps[0].1.ends_with("/debug/api"), "{}", apps[0].1);
        assert_eq!(apps[1].3, ["admin"]);
        let _ = std::fs::remove_dir_all(dir);

        let dir = project(&[
            ("package.json", "{\"workspaces\": [\"apps/*\"]}"),
            ("apps/web/package.json", "{\"main\": \"server.js\"}"),
            (
                "apps/api/package.json",
                "{\"main\": \"index.js\", \"scripts\": {\"build\": \"tsc\"}}",
            ),
            ("apps/docs/README.md", ""),
        ]);
        let apps = apps_of(&dir);
        assert_eq!(
            apps.iter()
                .map(|a| (a.0.as_str(), a.1.as_str()))
                .collect::<Vec<_>>(),
            [
                ("api", "node apps/api/index.js"),
                ("web", "node apps/web/server.js")
            ]
        );
        assert_eq!(
            apps[0].2.as_deref(),
            Some("npm run build --workspace apps/api")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
