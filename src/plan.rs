//! Pure planning: migration files + applied rows → what status shows and what a command
//! would do. No I/O here, so every rule is unit-tested without a database.

use std::collections::{BTreeMap, BTreeSet};

use crate::migration::Migration;
use crate::migration::directive::{self, Selector};

/// One applied version, as read from the tracking tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRow {
    pub version: String,
    /// None for versions applied by dbmate (or before pgfleet recorded checksums).
    pub checksum: Option<String>,
    pub applied_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub applied_by: Option<String>,
    pub pgfleet_version: Option<String>,
}

/// What is known of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Pending,
    /// Applied, and the file's checksum matches the recorded one.
    Applied,
    /// Applied by dbmate or before checksums were recorded: nothing to compare with.
    Unverified,
    /// Applied, but the file was edited since.
    Changed {
        recorded: String,
    },
    /// In the database, with no file in the migrations folder.
    NoFile,
    /// Not applied, and older than the baseline that stands for this database's schema
    /// (applied here, or about to run on an empty database): history, never run.
    BelowBaseline,
}

#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub version: String,
    pub file: Option<&'a Migration>,
    pub applied: Option<&'a AppliedRow>,
    pub state: State,
}

impl Entry<'_> {
    pub fn is_applied(&self) -> bool {
        !matches!(self.state, State::Pending | State::BelowBaseline)
    }

    /// The file name, or the bare version for rows with no file.
    pub fn name(&self) -> &str {
        self.file
            .map_or(self.version.as_str(), |f| f.file_name.as_str())
    }
}

/// An `Entry` that owns its data, for reports made after the target's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub version: String,
    pub file: Option<String>,
    /// The file's checksum now.
    pub checksum: Option<String>,
    pub state: State,
    /// The file's `-- pgfleet:used-by` selectors: who else reads or writes what it changes.
    pub used_by: Vec<Selector>,
}

impl StatusRow {
    pub fn is_applied(&self) -> bool {
        !matches!(self.state, State::Pending | State::BelowBaseline)
    }

    /// The file name, or the bare version for rows with no file.
    pub fn name(&self) -> &str {
        self.file.as_deref().unwrap_or(&self.version)
    }
}

impl From<&Entry<'_>> for StatusRow {
    fn from(e: &Entry<'_>) -> Self {
        StatusRow {
            version: e.version.clone(),
            file: e.file.map(|f| f.file_name.clone()),
            checksum: e.file.map(|f| f.checksum.clone()),
            state: e.state.clone(),
            used_by: e
                .file
                .map(|f| directive::used_by(&f.directives))
                .unwrap_or_default(),
        }
    }
}

/// The baseline that stands for the database's schema: the newest applied baseline file;
/// on a database with nothing applied, the newest baseline file (it will run first).
pub fn baseline<'a>(files: &'a [Migration], applied: &[AppliedRow]) -> Option<&'a Migration> {
    let baselines = files.iter().filter(|f| f.baseline);
    if applied.is_empty() {
        return baselines.max_by(|a, b| a.version.cmp(&b.version));
    }
    baselines
        .filter(|f| applied.iter().any(|r| r.version == f.version))
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// Every version, files in file-name order, then versions found only in the database.
pub fn status<'a>(files: &'a [Migration], applied: &'a [AppliedRow]) -> Vec<Entry<'a>> {
    let rows: BTreeMap<&str, &AppliedRow> =
        applied.iter().map(|r| (r.version.as_str(), r)).collect();
    let baseline = baseline(files, applied).map(|b| b.version.as_str());
    let mut entries: Vec<Entry<'a>> = files
        .iter()
        .map(|file| {
            let row = rows.get(file.version.as_str()).copied();
            let state = match row {
                None if baseline.is_some_and(|b| file.version.as_str() < b) => State::BelowBaseline,
                None => State::Pending,
                Some(r) => match &r.checksum {
                    None => State::Unverified,
                    Some(c) if *c == file.checksum => State::Applied,
                    Some(c) => State::Changed {
                        recorded: c.clone(),
                    },
                },
            };
            Entry {
                version: file.version.clone(),
                file: Some(file),
                applied: row,
                state,
            }
        })
        .collect();
    let known: BTreeSet<&str> = files.iter().map(|f| f.version.as_str()).collect();
    entries.extend(
        applied
            .iter()
            .filter(|r| !known.contains(r.version.as_str()))
            .map(|r| Entry {
                version: r.version.clone(),
                file: None,
                applied: Some(r),
                state: State::NoFile,
            }),
    );
    entries
}

#[derive(Debug, Clone, Copy, Default)]
pub struct UpOptions {
    pub strict: bool,
    pub allow_changed: bool,
}

/// Why `up` refuses to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Changed(Vec<String>),
    OutOfOrder {
        newest: String,
        files: Vec<String>,
    },
    /// A baseline would run on a database that already has migrations applied (and so,
    /// most likely, the schema it creates).
    BaselineNotRegistered {
        file: String,
    },
}

/// The pending migrations, in file-name order, or why nothing may run.
pub fn up<'a>(
    files: &'a [Migration],
    applied: &'a [AppliedRow],
    options: UpOptions,
) -> Result<Vec<&'a Migration>, Refusal> {
    let entries = status(files, applied);
    let changed: Vec<String> = entries
        .iter()
        .filter(|e| matches!(e.state, State::Changed { .. }))
        .map(|e| e.name().to_string())
        .collect();
    if !changed.is_empty() && !options.allow_changed {
        return Err(Refusal::Changed(changed));
    }
    let pending: Vec<&Migration> = entries
        .iter()
        .filter(|e| e.state == State::Pending)
        .filter_map(|e| e.file)
        .collect();
    if !applied.is_empty()
        && let Some(b) = pending.iter().find(|m| m.baseline)
    {
        return Err(Refusal::BaselineNotRegistered {
            file: b.file_name.clone(),
        });
    }
    if options.strict
        && let Some(newest) = applied.iter().map(|r| r.version.as_str()).max()
    {
        let older: Vec<String> = pending
            .iter()
            .filter(|m| m.version.as_str() < newest)
            .map(|m| m.file_name.clone())
            .collect();
        if !older.is_empty() {
            return Err(Refusal::OutOfOrder {
                newest: newest.to_string(),
                files: older,
            });
        }
    }
    Ok(pending)
}

/// How far `rollback` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// The newest N applied migrations.
    Count(usize),
    /// Every applied migration newer than this version (`0`: all of them).
    Version(String),
}

/// The migrations to revert, newest first in file-name order (dbmate's rule), or what
/// stands in the way.
pub fn rollback<'a>(
    files: &'a [Migration],
    applied: &'a [AppliedRow],
    to: &RollbackTo,
) -> Result<Vec<&'a Migration>, String> {
    let entries = status(files, applied);
    let mut done: Vec<&Entry<'_>> = entries.iter().filter(|e| e.is_applied()).collect();
    // Versions with no file sort among the files by version.
    done.sort_by(|a, b| a.name().cmp(b.name()));
    done.reverse();
    if done.is_empty() {
        return Err("anything: no migration is applied".to_string());
    }
    // Versions below an applied baseline were never run here: they are not to undo.
    if let Some(b) = baseline(files, applied) {
        done.retain(|e| e.version.as_str() >= b.version.as_str());
    }
    let chosen: Vec<&Entry<'_>> = match to {
        RollbackTo::Count(n) => done.into_iter().take(*n).collect(),
        RollbackTo::Version(v) => {
            if v != "0" && !applied.iter().any(|r| r.version == *v) {
                return Err(format!(
                    "to version {v}: it is not applied here (give an applied version to keep, or 0 to roll back everything)"
                ));
            }
            done.into_iter()
                .filter(|e| e.version.as_str() > v.as_str())
                .collect()
        }
    };
    if let Some(b) = chosen.iter().find_map(|e| e.file.filter(|f| f.baseline)) {
        return Err(format!(
            "{}: it is a baseline, the whole schema as it was, and has no down section to run (roll back to its version to keep it: --to {})",
            b.file_name, b.version
        ));
    }
    chosen
        .into_iter()
        .map(|e| {
            e.file.ok_or_else(|| {
                format!(
                    "version {}: it is applied but has no file in the migrations folder, so its down section is unknown (restore the file)",
                    e.version
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(name: &str) -> Migration {
        crate::migration::parse(
            Path::new(name),
            format!("-- migrate:up\nselect '{name}';\n-- migrate:down\n").as_bytes(),
        )
        .unwrap()
    }

    fn row(version: &str, checksum: Option<&str>) -> AppliedRow {
        AppliedRow {
            version: version.into(),
            checksum: checksum.map(str::to_string),
            applied_at: None,
            duration_ms: None,
            applied_by: None,
            pgfleet_version: None,
        }
    }

    #[test]
    fn status_tells_every_state() {
        let files = vec![
            file("1_a.sql"),
            file("2_b.sql"),
            file("3_c.sql"),
            file("4_d.sql"),
        ];
        let applied = vec![
            row("1", Some(&files[0].checksum)),
            row("2", None),
            row("3", Some("edited")),
            row("9", None),
        ];
        let states: Vec<(String, State)> = status(&files, &applied)
            .into_iter()
            .map(|e| (e.name().to_string(), e.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("1_a.sql".into(), State::Applied),
                ("2_b.sql".into(), State::Unverified),
                (
                    "3_c.sql".into(),
                    State::Changed {
                        recorded: "edited".into()
                    }
                ),
                ("4_d.sql".into(), State::Pending),
                ("9".into(), State::NoFile),
            ]
        );
    }

    #[test]
    fn up_refuses_changed_files_unless_allowed() {
        let files = vec![file("1_a.sql"), file("2_b.sql")];
        let applied = vec![row("1", Some("old"))];
        assert_eq!(
            up(&files, &applied, UpOptions::default()),
            Err(Refusal::Changed(vec!["1_a.sql".into()]))
        );
        let plan = up(
            &files,
            &applied,
            UpOptions {
                allow_changed: true,
                strict: false,
            },
        )
        .unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].file_name, "2_b.sql");
    }

    #[test]
    fn older_pending_runs_by_default_and_is_refused_with_strict() {
        let files = vec![file("1_a.sql"), file("2_b.sql"), file("3_c.sql")];
        let applied = vec![row("2", None)];
        let names: Vec<&str> = up(&files, &applied, UpOptions::default())
            .unwrap()
            .iter()
            .map(|m| m.file_name.as_str())
            .collect();
        assert_eq!(names, ["1_a.sql", "3_c.sql"]);
        assert_eq!(
            up(
                &files,
                &applied,
                UpOptions {
                    strict: true,
                    allow_changed: false
                }
            ),
            Err(Refusal::OutOfOrder {
                newest: "2".into(),
                files: vec!["1_a.sql".into()]
            })
        );
    }

    #[test]
    fn files_order_as_strings() {
        let files = vec![file("10_b.sql"), file("9_a.sql")];
        let mut sorted = files.clone();
        sorted.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        assert_eq!(sorted[0].file_name, "10_b.sql");
    }

    #[test]
    fn rollback_goes_newest_first_by_file_name() {
        let files = vec![file("1_a.sql"), file("2_b.sql"), file("3_c.sql")];
        let applied = vec![row("3", None), row("1", None), row("2", None)];
        let names = |v: Vec<&Migration>| v.iter().map(|m| m.file_name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(rollback(&files, &applied, &RollbackTo::Count(1)).unwrap()),
            ["3_c.sql"]
        );
        assert_eq!(
            names(rollback(&files, &applied, &RollbackTo::Count(5)).unwrap()),
            ["3_c.sql", "2_b.sql", "1_a.sql"]
        );
        assert_eq!(
            names(rollback(&files, &applied, &RollbackTo::Version("1".into())).unwrap()),
            ["3_c.sql", "2_b.sql"]
        );
        assert_eq!(
            names(rollback(&files, &applied, &RollbackTo::Version("0".into())).unwrap()).len(),
            3
        );
        assert!(rollback(&files, &applied, &RollbackTo::Version("7".into())).is_err());
    }

    fn baseline_file(name: &str) -> Migration {
        crate::migration::parse(
            Path::new(name),
            format!("-- pgfleet:baseline\n-- migrate:up\nselect '{name}';\n-- migrate:down\n")
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn older_files_are_history_below_a_baseline() {
        let files = vec![
            file("1_a.sql"),
            file("2_b.sql"),
            baseline_file("3_baseline.sql"),
            file("4_d.sql"),
        ];
        let names = |v: Vec<&Migration>| v.iter().map(|m| m.file_name.clone()).collect::<Vec<_>>();
        // An empty database: the baseline, then what follows it.
        assert_eq!(
            names(up(&files, &[], UpOptions::default()).unwrap()),
            ["3_baseline.sql", "4_d.sql"]
        );
        assert_eq!(status(&files, &[])[0].state, State::BelowBaseline);
        // Registered with part of the old history: the rest is history too.
        let applied = vec![row("1", None), row("3", None)];
        assert_eq!(
            names(up(&files, &applied, UpOptions::default()).unwrap()),
            ["4_d.sql"]
        );
        assert_eq!(status(&files, &applied)[1].state, State::BelowBaseline);
        // History but no baseline: running it would collide with the schema.
        assert_eq!(
            up(&files, &[row("1", None)], UpOptions::default()),
            Err(Refusal::BaselineNotRegistered {
                file: "3_baseline.sql".into()
            })
        );
        // Rolling back stops above the baseline, and the baseline itself is refused.
        let applied = vec![row("1", None), row("3", None), row("4", None)];
        assert!(rollback(&files, &applied, &RollbackTo::Version("0".into())).is_err());
        assert_eq!(
            names(rollback(&files, &applied, &RollbackTo::Count(1)).unwrap()),
            ["4_d.sql"]
        );
        let e = rollback(&files, &applied, &RollbackTo::Count(2)).unwrap_err();
        assert!(e.contains("3_baseline.sql: it is a baseline"), "{e}");
    }

    #[test]
    fn rollback_of_a_version_without_file_is_refused() {
        let files = vec![file("1_a.sql")];
        let applied = vec![row("1", None), row("5", None)];
        let e = rollback(&files, &applied, &RollbackTo::Count(1)).unwrap_err();
        assert!(e.contains("version 5"), "{e}");
    }
}
