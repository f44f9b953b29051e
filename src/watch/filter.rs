//! Which paths matter: `.git`, the tmp dir and editor temp files never do; then `exclude`,
//! `.gitignore` / `.ignore` rules, and finally `include_ext` / `include`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use globset::GlobSet;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::config::WatchConfig;

/// Version-control metadata directories: never watched, never a trigger.
const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".jj"];
/// Files that hold ignore rules, per directory.
const IGNORE_FILES: &[&str] = &[".gitignore", ".ignore"];

#[derive(Debug, Clone)]
pub struct Filter {
    root: PathBuf,
    /// Each app's rules (one in a one-app session): a file matters if an app wants it, and a
    /// directory is left out only if no app wants to look inside.
    rules: Vec<Rules>,
    /// `None` when no app uses `.gitignore` rules.
    ignores: Option<IgnoreRules>,
}

/// One app's `[watch]` settings, compiled.
#[derive(Debug, Clone)]
struct Rules {
    /// What the app watches (its `paths`).
    roots: Vec<PathBuf>,
    tmp_dir: PathBuf,
    include_ext: Vec<String>,
    include: Option<GlobSet>,
    exclude: GlobSet,
    exclude_regex: Option<regex::RegexSet>,
    gitignore: bool,
}

#[derive(Debug, Clone, Default)]
struct IgnoreRules {
    /// `.gitignore` / `.ignore` rules by the directory that holds them.
    by_dir: HashMap<PathBuf, Gitignore>,
    /// `.git/info/exclude` and the user's global excludes file, consulted last.
    fallback: Vec<Gitignore>,
}

impl Filter {
    pub fn new(config: &WatchConfig, root: &Path, tmp_dir: &Path) -> Filter {
        Filter::union(&[(config, tmp_dir)], root)
    }

    /// What any of several apps (their `[watch]` and tmp dir) wants.
    pub fn union(apps: &[(&WatchConfig, &Path)], root: &Path) -> Filter {
        let rules: Vec<Rules> = apps
            .iter()
            .map(|(config, tmp_dir)| Rules {
                roots: config.paths.clone(),
                tmp_dir: tmp_dir.to_path_buf(),
                include_ext: config.include_ext.clone(),
                include: config.include.clone(),
                exclude: config.exclude.clone(),
                exclude_regex: config.exclude_regex.clone(),
                gitignore: config.gitignore,
            })
            .collect();
        let mut filter = Filter {
            root: root.to_path_buf(),
            ignores: rules.iter().any(|r| r.gitignore).then(IgnoreRules::default),
            rules,
        };
        if let Some(ignores) = &mut filter.ignores {
            let mut exclude = GitignoreBuilder::new(root);
            exclude.add(root.join(".git/info/exclude"));
            let (global, _) = GitignoreBuilder::new(root).build_global();
            ignores.fallback = [exclude.build().ok(), Some(global)]
                .into_iter()
                .flatten()
                .filter(|gi| !gi.is_empty())
                .collect();
        }
        filter.learn_dir(root);
        filter
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads the ignore files of `dir`, if any, replacing what was known of them.
    pub fn learn_dir(&mut self, dir: &Path) {
        let Some(ignores) = &mut self.ignores else {
            return;
        };
        let mut builder = GitignoreBuilder::new(dir);
        let mut any = false;
        for name in IGNORE_FILES {
            let file = dir.join(name);
            if file.is_file() {
                // A rule that fails to parse is skipped, as git does.
                let _ = builder.add(file);
                any = true;
            }
        }
        match builder.build() {
            Ok(gi) if any => {
                ignores.by_dir.insert(dir.to_path_buf(), gi);
            }
            _ => {
                ignores.by_dir.remove(dir);
            }
        }
    }

    /// Whether a directory is outside what `hot` watches: never walked, never watched.
    pub fn prunes_dir(&self, dir: &Path) -> bool {
        self.rules.iter().all(|r| {
            !r.reaches(dir)
                || self.always_ignored(r, dir)
                || self.excluded(r, dir)
                || (r.gitignore && self.ignored(dir, true))
        })
    }

    /// Whether a change to this file should trigger a build (of some app).
    pub fn wants_file(&self, path: &Path) -> bool {
        !is_editor_temp(path) && self.rules.iter().any(|r| self.wanted_by(r, path))
    }

    fn wanted_by(&self, r: &Rules, path: &Path) -> bool {
        if !r.covers(path)
            || self.always_ignored(r, path)
            || self.excluded(r, path)
            || (r.gitignore && self.ignored(path, false))
        {
            return false;
        }
        if r.include_ext.is_empty() && r.include.is_none() {
            return true;
        }
        let ext_ok = path
            .extension()
            .and_then(OsStr::to_str)
            .is_some_and(|e| r.include_ext.iter().any(|x| x == e));
        ext_ok
            || r.include
                .as_ref()
                .is_some_and(|set| set.is_match(self.relative(path)))
    }

    /// Whether `path` names an ignore-rule file, whose change means re-reading its directory.
    pub fn is_ignore_file(path: &Path) -> bool {
        path.file_name()
            .and_then(OsStr::to_str)
            .is_some_and(|n| IGNORE_FILES.contains(&n))
    }

    fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    fn always_ignored(&self, r: &Rules, path: &Path) -> bool {
        path.starts_with(&r.tmp_dir)
            || self.relative(path).components().any(|c| match c {
                Component::Normal(name) => name.to_str().is_some_and(|n| VCS_DIRS.contains(&n)),
                _ => false,
            })
    }

    /// `exclude` globs match the path or any of its parent directories, so `vendor` or
    /// `vendor/**` both exclude everything below vendor/.
    fn excluded(&self, r: &Rules, path: &Path) -> bool {
        let rel = self.relative(path);
        if let Some(set) = &r.exclude_regex {
            if set.is_match(&rel.to_string_lossy()) {
                return true;
            }
        }
        if r.exclude.is_empty() {
            return false;
        }
        rel.ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .any(|a| r.exclude.is_match(a))
    }

    /// The deepest directory with a decisive rule wins, as in git.
    fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        let Some(ignores) = &self.ignores else {
            return false;
        };
        if !path.starts_with(&self.root) {
            return false;
        }
        for dir in path.ancestors().skip(1) {
            if let Some(gi) = ignores.by_dir.get(dir) {
                let m = gi.matched_path_or_any_parents(path, is_dir);
                if m.is_ignore() {
                    return true;
                }
                if m.is_whitelist() {
                    return false;
                }
            }
            if dir == self.root {
                break;
            }
        }
        ignores
            .fallback
            .iter()
            .any(|gi| gi.matched_path_or_any_parents(path, is_dir).is_ignore())
    }
}

impl Rules {
    /// Whether `path` is one of the app's roots or below one.
    fn covers(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| path.starts_with(root))
    }

    /// Whether the walk must enter `dir` for this app: it is a root, below one, or above one.
    fn reaches(&self, dir: &Path) -> bool {
        self.roots
            .iter()
            .any(|root| dir.starts_with(root) || root.starts_with(dir))
    }
}

/// Files editors write next to the real one while saving: vim's swap and backup files and its
/// `4913` write probe, JetBrains' safe-write copies, emacs autosave and lock files.
pub fn is_editor_temp(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(OsStr::to_str) else {
        return false;
    };
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swo")
        || name.ends_with(".swx")
        || name.contains("___jb_tmp___")
        || name.contains("___jb_old___")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name.starts_with(".#")
        || name == ".DS_Store"
        || is_vim_probe(name)
        || is_sed_temp(name)
}

/// GNU `sed -i` writes to `sedXXXXXX` (mkstemp) in the file's directory, then renames it over
/// the file. Random names are told from words like "sediments" by the mix of cases and digits.
fn is_sed_temp(name: &str) -> bool {
    name.strip_prefix("sed").is_some_and(|rest| {
        rest.len() == 6
            && rest.chars().all(|c| c.is_ascii_alphanumeric())
            && rest
                .chars()
                .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

/// vim probes a directory's writability with a file named 4913, then 5036, 5159, ... if taken.
fn is_vim_probe(name: &str) -> bool {
    name.parse::<u32>()
        .is_ok_and(|n| (4913..4913 + 123 * 100).contains(&n) && (n - 4913) % 123 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{WatchBackend, WatchConfig};
    use globset::{Glob, GlobSetBuilder};
    use std::time::Duration;

    fn globs(patterns: &[&str]) -> GlobSet {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            b.add(Glob::new(p).expect("glob"));
        }
        b.build().expect("set")
    }

    fn filter(include_ext: &[&str], exclude: &[&str]) -> Filter {
        let config = WatchConfig {
            paths: vec![PathBuf::from("/p")],
            include_ext: include_ext.iter().map(|s| s.to_string()).collect(),
            include: None,
            exclude: globs(exclude),
            exclude_regex: None,
            gitignore: false,
            debounce: Duration::ZERO,
            backend: WatchBackend::Native,
        };
        Filter::new(&config, Path::new("/p"), Path::new("/p/tmp"))
    }

    #[test]
    fn tmp_vcs_and_editor_files_never_trigger() {
        let f = filter(&[], &[]);
        assert!(f.wants_file(Path::new("/p/main.go")));
        for p in [
            "/p/tmp/app",
            "/p/.git/index",
            "/p/a/.main.go.swp",
            "/p/main.go~",
            "/p/4913",
            "/p/5036",
            "/p/main.go___jb_tmp___",
            "/p/main.go___jb_old___",
            "/p/#main.go#",
            "/p/.#main.go",
        ] {
            assert!(!f.wants_file(Path::new(p)), "{p} should be ignored");
        }
        assert!(f.wants_file(Path::new("/p/4914")));
        assert!(!f.wants_file(Path::new("/p/src/sed3Spit9")));
        assert!(f.wants_file(Path::new("/p/src/sediments")));
        assert!(f.prunes_dir(Path::new("/p/.git")));
        assert!(f.prunes_dir(Path::new("/p/tmp")));
    }

    #[test]
    fn include_ext_and_exclude_globs() {
        let f = filter(&["go", "html"], &["*_test.go", "vendor"]);
        assert!(f.wants_file(Path::new("/p/pkg/a.go")));
        assert!(f.wants_file(Path::new("/p/templates/index.html")));
        assert!(!f.wants_file(Path::new("/p/README.md")));
        assert!(!f.wants_file(Path::new("/p/pkg/a_test.go")));
        assert!(!f.wants_file(Path::new("/p/vendor/x/y.go")));
        assert!(f.prunes_dir(Path::new("/p/vendor")));
    }

    #[test]
    fn gitignore_rules_apply_per_directory() {
        let dir = std::env::temp_dir().join(format!("hot-filter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join(".gitignore"), "*.log\nbuild/\n").expect("write");
        std::fs::write(dir.join("sub/.gitignore"), "!keep.log\n").expect("write");
        let config = WatchConfig {
            paths: vec![dir.clone()],
            include_ext: vec![],
            include: None,
            exclude: GlobSet::empty(),
            exclude_regex: None,
            gitignore: true,
            debounce: Duration::ZERO,
            backend: WatchBackend::Native,
        };
        let mut f = Filter::new(&config, &dir, &dir.join("tmp"));
        f.learn_dir(&dir.join("sub"));
        assert!(!f.wants_file(&dir.join("x.log")));
        assert!(f.wants_file(&dir.join("x.go")));
        assert!(!f.wants_file(&dir.join("build/out.go")));
        assert!(f.prunes_dir(&dir.join("build")));
        assert!(f.wants_file(&dir.join("sub/keep.log")));
        assert!(!f.wants_file(&dir.join("sub/other.log")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
