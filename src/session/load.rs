//! What every mode needs first: the project directory, its settings (and how to load them
//! again), the sockets.

use std::path::{Path, PathBuf};

use crate::cli::Cli;
use crate::config::{Config, FILE_NAME, Overrides, Source};
use crate::error::Error;
use crate::listen::Listeners;
use crate::ui::Reporter;

/// What every mode needs first: the project directory, its settings, the sockets.
pub struct Prepared {
    pub root: PathBuf,
    pub config: Config,
    pub listeners: Listeners,
    /// How to load the config again, and which file to watch for that.
    pub loader: Loader,
}

/// Everything needed to load the settings again when the config file changes.
pub struct Loader {
    root: PathBuf,
    file_arg: Option<PathBuf>,
    overrides: Overrides,
    pub file: PathBuf,
}

impl Loader {
    /// Loads `file`, or `<root>/.hot.toml`, or, when there is neither, the defaults `hot init`
    /// would write for the detected project; then applies `HOT_*` variables and flags.
    pub fn load(&self) -> Result<(Config, Source), Error> {
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
        let config = Config::from_toml(root, &label, &text, overrides)?;
        Ok((config, source))
    }
}

/// Moves to `-C DIR`, loads the settings (saying where they came from), creates the tmp dir and
/// binds the sockets.
pub fn prepare(cli: &Cli, reporter: &Reporter) -> Result<Prepared, Error> {
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
    };
    let (config, source) = loader.load()?;
    if let Source::Detected(stack) = source {
        reporter.note(format!(
            "no {FILE_NAME}: using {stack} defaults; `hot init` writes them out"
        ));
    }
    // Before binding, so that `unix:./tmp/app.sock` works on a fresh checkout.
    std::fs::create_dir_all(&config.tmp_dir).map_err(|e| {
        Error::io(
            format!("cannot create the tmp dir {}", config.tmp_dir.display()),
            e,
        )
    })?;
    let listeners = Listeners::bind(&config.listen)?;
    Ok(Prepared {
        root,
        config,
        listeners,
        loader,
    })
}

/// Applies `-C DIR` and returns the (absolute) project directory.
pub fn enter_dir(cli: &Cli) -> Result<PathBuf, Error> {
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| Error::Usage(format!("-C {}: {e}", dir.display())))?;
    }
    std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))
}
