//! What every mode needs first: the project directory, its settings (and how to load them
//! again), the sockets.

use std::path::{Path, PathBuf};

use crate::cli::Cli;
use crate::config::{AppConfig, Config, FILE_NAME, Overrides, Source};
use crate::error::Error;
use crate::listen::Listeners;
use crate::ui::Reporter;

/// What every mode needs first: the project directory, each app's settings and sockets.
pub struct Prepared {
    pub root: PathBuf,
    pub apps: Vec<PreparedApp>,
    /// How to load the config again, and which file to watch for that.
    pub loader: Loader,
}

pub struct PreparedApp {
    pub name: Option<String>,
    pub config: Config,
    pub listeners: Listeners,
}

/// The config file as loaded: every app's settings, and for each a fingerprint of the TOML it
/// comes from (the top-level keys and its own table), which tells a reload which apps changed.
pub struct Loaded {
    pub apps: Vec<AppConfig>,
    pub fingerprints: Vec<String>,
    pub source: Source,
}

/// Everything needed to load the settings again when the config file changes.
pub struct Loader {
    root: PathBuf,
    file_arg: Option<PathBuf>,
    overrides: Overrides,
    /// `--app NAME`: only these apps.
    wanted: Vec<String>,
    pub file: PathBuf,
}

impl Loader {
    /// Loads `file`, or `<root>/.hot.toml`, or, when there is neither, the defaults `hot init`
    /// would write for the detected project; then applies `HOT_*` variables and flags.
    pub fn load(&self) -> Result<Loaded, Error> {
        let (root, file, overrides) = (&self.root, self.file_arg.as_deref(), &self.overrides);
        let path = match file {
            Some(f) => root.join(f),
            None => root.join(FILE_NAME),
        };
        let (text, source) = match std::fs::read_to_string(&path) {
            Ok(text) => (text, Source::File(path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if file.is_some() {
                    return Err(Error::Usage(format!(
                        "config file {} not found",
                        path.display()
                    )));
                }
                match crate::init::detect(root) {
                    Some(project) => (project.template(), Source::Detected(project.stack_name())),
                    None => {
                        return Err(Error::Usage(format!(
                            "no {FILE_NAME} in {} and no Go, Rust, Node, Python or Ruby project detected: \
                             run `hot init` to write a config to fill in (every key is documented in \
                             .hot.toml.example), or pass -c FILE",
                            root.display()
                        )));
                    }
                }
            }
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        let label = match &source {
            Source::File(p) => p.clone(),
            Source::Detected(stack) => PathBuf::from(format!("<built-in {stack} defaults>")),
        };
        let apps = Config::apps_from_toml(root, &label, &text, overrides)?;
        let fingerprints = fingerprints(&text, &apps);
        Ok(Loaded {
            apps,
            fingerprints,
            source,
        })
    }

    /// Keeps the apps named `wanted` (`--app`), in the file's order.
    pub fn only(&self, loaded: &mut Loaded) -> Result<(), Error> {
        if self.wanted.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = loaded.apps.iter().filter_map(|a| a.name.clone()).collect();
        if let Some(unknown) = self.wanted.iter().find(|w| !names.contains(w)) {
            return Err(Error::Usage(if names.is_empty() {
                format!("--app {unknown}: the config has no [apps]; it runs one app")
            } else {
                format!(
                    "--app {unknown}: no such app; the apps are {}",
                    names.join(", ")
                )
            }));
        }
        let keep: Vec<bool> = loaded
            .apps
            .iter()
            .map(|a| a.name.as_ref().is_some_and(|n| self.wanted.contains(n)))
            .collect();
        let mut flags = keep.iter();
        loaded.apps.retain(|_| *flags.next().unwrap_or(&false));
        let mut flags = keep.iter();
        loaded
            .fingerprints
            .retain(|_| *flags.next().unwrap_or(&false));
        Ok(())
    }
}

/// Per app, the TOML it is made of: the top-level keys and its own `[apps.NAME]` table.
fn fingerprints(text: &str, apps: &[AppConfig]) -> Vec<String> {
    let mut table: toml::Table = text.parse().unwrap_or_default();
    let own = table.remove("apps");
    let top = format!("{table:?}");
    apps.iter()
        .map(|app| {
            let mine = app
                .name
                .as_ref()
                .and_then(|n| own.as_ref().and_then(|o| o.get(n)))
                .map(|v| format!("{v:?}"))
                .unwrap_or_default();
            format!("{top}|{mine}")
        })
        .collect()
}

/// Moves to `-C DIR`, loads the settings (saying where they came from), creates the tmp dir and
/// binds the sockets.
pub fn prepare(cli: &Cli, reporter: &Reporter) -> Result<(Prepared, Vec<String>), Error> {
    let root = enter_dir(cli)?;
    let overrides = Overrides {
        keys: cli.key_overrides(),
        app_args: cli.app_args.clone(),
    };
    let loader = Loader {
        root: root.clone(),
        file_arg: cli.config.clone(),
        file: root.join(cli.config.as_deref().unwrap_or(Path::new(FILE_NAME))),
        overrides,
        wanted: cli.apps.clone(),
    };
    let mut loaded = loader.load()?;
    loader.only(&mut loaded)?;
    if let Source::Detected(stack) = loaded.source {
        reporter.note(format!(
            "no {FILE_NAME}: using {stack} defaults; `hot init` writes them out"
        ));
    }
    let mut apps = Vec::new();
    for AppConfig { name, config } in loaded.apps {
        // Before binding, so that `unix:./tmp/app.sock` works on a fresh checkout.
        std::fs::create_dir_all(&config.tmp_dir).map_err(|e| {
            Error::io(
                format!("cannot create the tmp dir {}", config.tmp_dir.display()),
                e,
            )
        })?;
        let listeners = Listeners::bind(&config.listen)?;
        apps.push(PreparedApp {
            name,
            config,
            listeners,
        });
    }
    Ok((Prepared { root, apps, loader }, loaded.fingerprints))
}

/// Applies `-C DIR` and returns the (absolute) project directory.
pub fn enter_dir(cli: &Cli) -> Result<PathBuf, Error> {
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| Error::Usage(format!("-C {}: {e}", dir.display())))?;
    }
    std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))
}
