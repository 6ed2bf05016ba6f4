//! `check`'s input: the files named (or the migrations folder), their folders' names for
//! the history rules, and with `--since` what git says changed. Bad input (a path that is
//! not there or not a migration, an unknown rule, a ref git does not know) is refused
//! here, before anything is checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Format, Options};
use crate::check::{Config, Folder, Input, Severity, Since};
use crate::error::Error;
use crate::migration::version_of;

/// `check`'s flags, as given.
#[derive(Debug, Clone)]
pub struct CheckArgs {
    pub paths: Vec<PathBuf>,
    pub deny: Severity,
    pub enable: Vec<String>,
    pub disable: Vec<String>,
    pub pg_version: u32,
    pub since: Option<String>,
}

/// What `check` runs on, read and validated.
#[derive(Debug)]
pub struct CheckJob {
    pub inputs: Vec<Input>,
    pub folders: Vec<Folder>,
    pub since: Option<Since>,
    pub config: Config,
    pub deny: Severity,
    /// For `--format github|sarif`: each file's path from the repository's root, which is
    /// how GitHub places an annotation.
    pub repo_paths: BTreeMap<PathBuf, String>,
}

pub(super) fn read(args: &CheckArgs, o: &Options) -> Result<CheckJob, Error> {
    let config = Config::new(&args.enable, &args.disable, args.pg_version).map_err(Error::Usage)?;
    let paths = if args.paths.is_empty() {
        vec![o.migrations_dir.clone()]
    } else {
        args.paths.clone()
    };
    // Folder → the files of it to check (None: all of them).
    let mut wanted: BTreeMap<PathBuf, Option<Vec<String>>> = BTreeMap::new();
    for path in &paths {
        if path.is_dir() {
            wanted.insert(path.clone(), None);
            continue;
        }
        if !path.exists() {
            return Err(Error::Usage(format!(
                "{} does not exist: name migration files or folders (default: --migrations-dir)",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if version_of(&name).is_none() {
            return Err(Error::Usage(format!(
                "{} is not a migration file: its name must be the version digits, then .sql (dbmate's VERSION_name.sql)",
                path.display()
            )));
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if let Some(names) = wanted.entry(dir).or_insert_with(|| Some(Vec::new())) {
            names.push(name);
        }
    }
    let since = args.since.as_ref().map(|r| Since {
        reference: r.clone(),
    });
    let mut folders = Vec::new();
    let mut inputs = Vec::new();
    for (dir, only) in wanted {
        let names = migration_names(&dir)?;
        let mut files = Vec::with_capacity(names.len());
        for name in &names {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|error| Error::Io {
                what: format!("cannot read {}", path.display()),
                error,
            })?;
            files.push((name.clone(), bytes));
        }
        let mut folder = Folder {
            dir: dir.clone(),
            names: names.clone(),
            ..Folder::default()
        };
        let mut chosen = only.unwrap_or_else(|| names.clone());
        if let Some(since) = &since {
            let git = Git::at(&dir, &since.reference)?;
            let at_ref = git.names_at_ref()?;
            let changed = git.changed()?;
            folder.edited = changed
                .iter()
                .filter(|n| at_ref.contains(n))
                .cloned()
                .collect();
            chosen.retain(|n| changed.contains(n));
            folder.at_ref = Some(at_ref);
        }
        chosen.sort();
        chosen.dedup();
        for name in chosen {
            let path = dir.join(&name);
            let bytes = match files.iter().find(|(n, _)| *n == name) {
                Some((_, bytes)) => bytes.clone(),
                None => std::fs::read(&path).map_err(|error| Error::Io {
                    what: format!("cannot read {}", path.display()),
                    error,
                })?,
            };
            inputs.push(Input { path, bytes });
        }
        folder.files = files;
        folders.push(folder);
    }
    let repo_paths = if matches!(o.output.format, Format::Github | Format::Sarif) {
        repo_paths(&inputs)
    } else {
        BTreeMap::new()
    };
    Ok(CheckJob {
        inputs,
        folders,
        since,
        config,
        deny: args.deny,
        repo_paths,
    })
}

/// `up`'s gate: what the default rules find in each migration file the targets have,
/// files without findings left out. Each folder is read once.
pub(super) fn findings(
    targets: &[super::Target],
) -> Result<std::collections::HashMap<PathBuf, Vec<crate::check::Finding>>, Error> {
    let mut seen = std::collections::HashSet::new();
    let mut inputs = Vec::new();
    for m in targets.iter().flat_map(|t| t.migrations.iter()) {
        if seen.insert(m.path.clone()) {
            let bytes = std::fs::read(&m.path).map_err(|error| Error::Io {
                what: format!("cannot read {}", m.path.display()),
                error,
            })?;
            inputs.push(Input {
                path: m.path.clone(),
                bytes,
            });
        }
    }
    let checked = crate::check::check(&inputs, &[], None, &Config::default());
    let mut by_file: std::collections::HashMap<PathBuf, Vec<crate::check::Finding>> =
        std::collections::HashMap::new();
    for f in checked.findings {
        by_file.entry(f.file.clone()).or_default().push(f);
    }
    Ok(by_file)
}

/// The migration file names directly in `dir`, sorted.
fn migration_names(dir: &Path) -> Result<Vec<String>, Error> {
    let shown = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let entries = std::fs::read_dir(shown).map_err(|error| Error::Io {
        what: format!("cannot read the folder {}", shown.display()),
        error,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| version_of(n).is_some())
        .collect();
    names.sort();
    Ok(names)
}

/// git, asked about one folder and one ref.
struct Git<'a> {
    dir: &'a Path,
    reference: &'a str,
}

impl<'a> Git<'a> {
    /// Checks that `dir` is in a git work tree and that `reference` names a commit there.
    fn at(dir: &'a Path, reference: &'a str) -> Result<Git<'a>, Error> {
        let git = Git { dir, reference };
        git.run(&["rev-parse", "--is-inside-work-tree"])
            .map_err(|why| {
                Error::Usage(format!(
                    "--since needs a git repository, and {} is not in one ({why})",
                    git.shown().display()
                ))
            })?;
        git.run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ])
        .map_err(|_| {
            Error::Usage(format!(
                "--since {reference}: git knows no commit of that name in {} (fetch it, e.g. `git fetch origin main`; in CI, check out with fetch-depth: 0)",
                git.shown().display()
            ))
        })?;
        Ok(git)
    }

    fn shown(&self) -> &Path {
        if self.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            self.dir
        }
    }

    /// Runs git in the folder; its stdout, or what it said on stderr.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.shown())
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    fn names(&self, args: &[&str]) -> Result<Vec<String>, Error> {
        let out = self.run(args).map_err(|why| {
            Error::Usage(format!(
                "git {} failed in {}: {why}",
                args.join(" "),
                self.shown().display()
            ))
        })?;
        Ok(out
            .split('\0')
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .filter(|n| version_of(n).is_some())
            .map(str::to_string)
            .collect())
    }

    /// The migration files the folder had at the ref.
    fn names_at_ref(&self) -> Result<Vec<String>, Error> {
        self.names(&["ls-tree", "-z", "--name-only", self.reference, "--", "."])
    }

    /// Files changed since the ref (committed, staged or not) and files git does not
    /// track yet: what a pull request or a commit about to be made adds.
    fn changed(&self) -> Result<Vec<String>, Error> {
        let mut names = self.names(&[
            "diff",
            "-z",
            "--name-only",
            "--relative",
            self.reference,
            "--",
            ".",
        ])?;
        names.extend(self.names(&[
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
            "--",
            ".",
        ])?);
        Ok(names)
    }
}

/// Each input's path from the root of its git repository; the path as given outside one.
fn repo_paths(inputs: &[Input]) -> BTreeMap<PathBuf, String> {
    let root = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .and_then(|r| r.canonicalize().ok());
    inputs
        .iter()
        .map(|i| {
            let shown = root
                .as_ref()
                .and_then(|root| {
                    let full = i.path.canonicalize().ok()?;
                    Some(full.strip_prefix(root).ok()?.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| i.path.to_string_lossy().into_owned());
            (i.path.clone(), shown)
        })
        .collect()
}
