//! Adopting existing databases (`baseline`) and catching hand-made changes (`drift`).
//! Live schemas are read from the catalog (`schema::SNAPSHOT_SQL`); the schema that
//! migrations should produce is built by running them in a scratch database, created
//! beside the target (or on `--shadow-url`'s server) and dropped afterwards.

use std::path::{Path, PathBuf};

use super::builds::{Build, Builds};
use super::event::Event;
use super::event::Output;
use super::fleet::{Finished, TargetResult};
use super::migrate::{RunSettings, apply_told, locked, step_error};
use crate::error::Error;
use crate::migration::{self, Migration};
use crate::plan::{self, State};
use crate::schema::{self, Difference, Draft, Schema};
use crate::settings::{Action, Shadow, Target};
use crate::tracking::{self, Database, Missing, StepError, adopt, first_value};
use crate::transport::Backend;

/// The live schema, without the tracking tables (legacy history tables are left out by
/// the snapshot itself).
pub async fn snapshot(db: &mut Database) -> Result<Schema, Error> {
    let rows = db
        .query_text(
            schema::SNAPSHOT_SQL,
            "cannot read the schema from the catalog",
        )
        .await?;
    let target = db.target().to_string();
    let text = first_value(rows).ok_or_else(|| Error::Schema {
        target: target.clone(),
        why: "the catalog query returned nothing".into(),
    })?;
    let live = Schema::from_json(&text).map_err(|e| Error::Schema {
        target: target.clone(),
        why: format!("cannot read the catalog snapshot: {e}"),
    })?;
    let names = db.tables().names();
    let tables: Vec<(&str, &str)> = names
        .iter()
        .map(|(s, t)| (s.as_str(), t.as_str()))
        .collect();
    Ok(live.without_tables(&tables))
}

/// What a build in a scratch database yields.
pub struct Built {
    /// The schema the migrations produce on an empty database.
    pub expected: Schema,
    /// With `then`: the schema after that SQL ran on top.
    pub after: Option<Schema>,
    /// With `live`: the target's own schema, read while the scratch database was built.
    pub live: Option<Schema>,
}

/// The schema `migrations` produce on an empty database, built in a scratch database that
/// is dropped again whatever happens; with `then`, that SQL run on top and the schema
/// after it too (`change` drafts its down section from the two); with `live`, the target's
/// own schema read meanwhile on its session, which is idle while the scratch one replays.
pub async fn expected(
    db: &mut Database,
    shadow: &Shadow,
    migrations: &[&Migration],
    settings: &RunSettings,
    then: Option<&str>,
    live: bool,
) -> Result<Built, Error> {
    let name = scratch_name(db.dbname());
    let target = db.target().to_string();
    let cannot_create = |e: Error| Error::Schema {
        target: target.clone(),
        why: format!(
            "cannot create a scratch database to build the expected schema in ({e}); pass --shadow-url postgres://… naming a server where pgfleet may create databases"
        ),
    };
    // Created from a session already open (the target's own, or one on the shadow
    // server), so the scratch database costs one more connection, not three.
    let create = format!("create database {}", schema::quote_ident(&name));
    where_scratch_lives(db, shadow, &create, "cannot create the scratch database")
        .await
        .map_err(cannot_create)?;
    let built = async {
        let scratch = match shadow {
            Shadow::SameServer => db.sibling(&name).await?,
            Shadow::Url(url) => {
                let backend = Backend::Native(Box::new(url.with_dbname(&name)));
                tracking::open(backend, None, Missing::Fail, &mut |_| {}).await?
            }
        };
        let replay = replay(scratch, &target, &name, migrations, settings, then);
        if live {
            let (built, live) = tokio::join!(replay, snapshot(db));
            let (expected, after) = built?;
            Ok(Built {
                expected,
                after,
                live: Some(live?),
            })
        } else {
            let (expected, after) = replay.await?;
            Ok::<_, Error>(Built {
                expected,
                after,
                live: None,
            })
        }
    }
    .await;
    let drop = format!(
        "drop database if exists {} with (force)",
        schema::quote_ident(&name)
    );
    let dropped = where_scratch_lives(db, shadow, &drop, "cannot drop the scratch database").await;
    let built = built?;
    dropped?;
    Ok(built)
}

/// Replays `migrations` in scratch database `name` (then `then`), and reads its schema.
/// The session ends here, before the scratch database is dropped.
async fn replay(
    mut scratch: Database,
    target: &str,
    name: &str,
    migrations: &[&Migration],
    settings: &RunSettings,
    then: Option<&str>,
) -> Result<(Schema, Option<Schema>), Error> {
    scratch.scratch();
    // Nothing built here outlives the run: commits need not wait for the disk.
    scratch
        .query_text(
            "set synchronous_commit = off",
            "cannot set up the scratch database",
        )
        .await?;
    scratch.ensure_tables().await?;
    // A failure here is the migrations', not the live database's: say where it ran.
    let scratch_target =
        format!("{target}, building the expected schema in scratch database {name}");
    tracking::apply_all(
        &mut scratch,
        migrations,
        &settings.apply,
        &settings.stop,
        &mut |_| {},
    )
    .await
    .map_err(|(i, e)| match e {
        // Dropped mid-batch: which migration was running is not known, nor needed.
        StepError::Stopped(reason) => Error::Stopped {
            target: target.to_string(),
            reason,
            next: None,
        },
        e => step_error(e, &scratch_target, migrations[i]),
    })?;
    let before = snapshot(&mut scratch).await?;
    let after = match then {
        Some(sql) => {
            scratch
                .query_text(
                    sql,
                    &format!(
                        "the SQL fails on a database built from the migrations ({scratch_target})"
                    ),
                )
                .await?;
            Some(snapshot(&mut scratch).await?)
        }
        None => None,
    };
    Ok((before, after))
}

/// `pgfleet_shadow_<random>_<database>`, within PostgreSQL's 63 bytes: a leftover (after a
/// second Ctrl-C) says whose it was.
fn scratch_name(dbname: &str) -> String {
    let mut name = format!(
        "pgfleet_shadow_{:08x}_{dbname}",
        crate::transport::exec::rand_token() as u32
    );
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// Runs one statement on the server scratch databases live on: in the target's own
/// session, or in a session of its own on the `--shadow-url` server.
async fn where_scratch_lives(
    db: &mut Database,
    shadow: &Shadow,
    sql: &str,
    context: &str,
) -> Result<(), Error> {
    let url = match shadow {
        Shadow::SameServer => return db.query_text(sql, context).await.map(|_| ()),
        Shadow::Url(url) => url,
    };
    let backend = Backend::Native(url.clone());
    let mut shadow_db = tracking::open(backend, None, Missing::Fail, &mut |_| {}).await?;
    shadow_db.query_text(sql, context).await.map(|_| ())
}

/// What `drift` found on one target.
#[derive(Debug, Clone)]
pub struct Drift {
    pub differences: Vec<Difference>,
    /// What limits the comparison (applied versions without a file, …).
    pub notes: Vec<String>,
    /// With `--write-migration`: SQL from the tracked schema to the live one and back.
    pub draft: Option<Draft>,
    /// The expected schema it was compared with.
    pub build: Build,
}

/// `drift`: the live schema against the one its applied migrations produce (from the
/// newest applied baseline on; older versions are history the baseline stands for),
/// built once for every target of the same set (`builds`); `id` names this target.
#[allow(clippy::too_many_arguments)]
pub async fn drift(
    id: &str,
    builds: &Builds,
    db: &mut Database,
    files: &[Migration],
    shadow: &Shadow,
    write: bool,
    ignore: &[schema::Ignore],
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Drift, Error> {
    let applied = db.applied().await?;
    let mut notes = Vec::new();
    let migrations = applied_chain(files, &applied, &mut notes);
    let what = format!(
        "building the expected schema from {} migration{}",
        migrations.len(),
        if migrations.len() == 1 { "" } else { "s" }
    );
    emit(Event::Step { what: &what });
    let (expected, build, live) = builds
        .expected(id, db, shadow, &migrations, settings, true)
        .await?;
    let live = match live {
        Some(live) => live,
        None => {
            emit(Event::Step {
                what: "reading the live schema",
            });
            snapshot(db).await?
        }
    };
    if applied.is_empty() && !live.is_empty() {
        notes.push(
            "no migration is applied here, so every object counts as drift: if this database predates pgfleet, take a baseline of it (`pgfleet baseline --from`) or register an existing one on it (`pgfleet baseline --apply-to`)".to_string(),
        );
    }
    let mut ignore = ignore.to_vec();
    let shadowed = shadow_ignores(shadow);
    if !shadowed.is_empty() {
        for i in shadowed {
            if !ignore.contains(&i) {
                ignore.push(i);
            }
        }
        notes.push("owners and privileges are not compared: the expected schema was built on --shadow-url's server, whose roles are not this one's (drift without --shadow-url compares them)".to_string());
    }
    let differences = schema::Ignore::filter(&ignore, schema::compare(&live, &expected));
    let draft = (write && !differences.is_empty()).then(|| {
        let strip = |s: Schema| schema::Ignore::strip(&ignore, s);
        schema::draft(&strip(live), &strip(Schema::clone(&expected)))
    });
    Ok(Drift {
        differences,
        notes,
        draft,
        build,
    })
}

/// What a comparison must leave out: built on another server by another role (--shadow-url),
/// the expected schema's owners and grants are that server's, and would differ everywhere.
fn shadow_ignores(shadow: &Shadow) -> Vec<schema::Ignore> {
    match shadow {
        Shadow::Url(_) => vec![schema::Ignore::Owners, schema::Ignore::Privileges],
        Shadow::SameServer => Vec::new(),
    }
}

/// The applied migrations that make the schema: from the newest applied baseline on
/// (older versions are history it stands for), in file order. `notes` says what limits it.
fn applied_chain<'a>(
    files: &'a [Migration],
    applied: &'a [crate::plan::AppliedRow],
    notes: &mut Vec<String>,
) -> Vec<&'a Migration> {
    let from = if applied.is_empty() {
        None
    } else {
        plan::baseline(files, applied).map(|b| b.version.clone())
    };
    plan::status(files, applied)
        .into_iter()
        .filter(|e| e.is_applied() && from.as_ref().is_none_or(|b| e.version >= *b))
        .filter_map(|e| {
            if e.file.is_none() {
                notes.push(format!(
                    "version {} is applied but has no file: the expected schema leaves it out",
                    e.version
                ));
            }
            if matches!(e.state, State::Changed { .. }) {
                notes.push(format!(
                    "{} was edited since it was applied: the expected schema follows the file as it is now",
                    e.name()
                ));
            }
            e.file
        })
        .collect()
}

/// What the migrations table holds: the applied versions, or none where a hand-made
/// history table sits in pgfleet's place (its columns come back: it holds nothing pgfleet
/// can read). Such a table without a `legacy` name to move it to is refused. Nothing is
/// changed here.
async fn readable_history(
    db: &mut Database,
    legacy: Option<&str>,
) -> Result<(Vec<crate::plan::AppliedRow>, Option<String>), Error> {
    match db.applied().await {
        Err(Error::HandMadeHistory { columns, .. }) if legacy.is_none() => {
            Err(adopt::hand_made_refusal(db, &columns))
        }
        Err(Error::HandMadeHistory { columns, .. }) => Ok((Vec::new(), Some(columns))),
        other => Ok((other?, None)),
    }
}

/// Moves history aside once the target is to be taken over: with a `legacy` name, the
/// hand-made table found by `readable_history` is renamed (or a table of that name marked).
async fn keep_history(
    db: &mut Database,
    legacy: Option<&str>,
    hand_made: Option<&str>,
    taken: &str,
) -> Result<Option<String>, Error> {
    match legacy {
        Some(name) => adopt::keep_legacy(db, hand_made, name, taken).await,
        None => Ok(None),
    }
}

/// What `baseline` or `register` did on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// The source: the baseline file was written and registered.
    Written(PathBuf),
    /// The live schema matched the baseline's: registered, not run.
    Registered,
    /// An empty database: the baseline ran.
    Executed,
    /// The version was already applied here: nothing to do.
    AlreadyRegistered,
    /// The live schema differs from the baseline's: left untouched.
    Differs,
    /// Registered with `--force` although the schemas differ.
    Forced,
}

/// What `baseline` or `register` did on one target, for the report.
#[derive(Debug, Clone)]
pub struct Adopted {
    pub outcome: Adoption,
    /// What happened to a hand-made history table, if anything.
    pub legacy: Option<String>,
    /// For `Differs` and `Forced`: how the live schema differs from the baseline's. For
    /// `Written`: what the baseline fails to rebuild (nothing, normally).
    pub differences: Vec<Difference>,
}

/// The choices `baseline` runs with.
pub struct BaselineOptions<'a> {
    pub legacy: Option<&'a str>,
    pub force: bool,
    pub shadow: &'a Shadow,
    /// The run's expected schemas, shared by the targets `--apply-to` names.
    pub builds: &'a Builds,
    /// The target, as the report names it.
    pub id: &'a str,
    /// When the baseline is taken (`2026-11-24 10:00:00 UTC`), for the file and comments.
    pub taken: chrono::DateTime<chrono::Utc>,
}

/// `baseline --from`: dumps the live schema into a new baseline file in `dir` and
/// registers it here without running it. Checks that the file rebuilds the schema.
pub async fn take_baseline(
    db: &mut Database,
    files: &[Migration],
    dir: &Path,
    source: &str,
    options: &BaselineOptions<'_>,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(Adopted, Migration), Error> {
    locked(db, settings, emit, async |db, emit| {
        let taken = options.taken.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        let (applied, hand_made) = readable_history(db, options.legacy).await?;
        let refuse = |reason: String| Error::Refused {
            target: source.to_string(),
            reason,
        };
        if !options.force {
            if let Some(newest) = applied.iter().rev().find(|r| r.pgfleet_version.is_some()) {
                return Err(refuse(format!(
                    "it already has pgfleet history (newest {}): a baseline is for a database pgfleet does not manage yet. Use `pgfleet drift` to see what changed by hand, or pass --force to take a baseline anyway",
                    newest.version
                )));
            }
            let pending: Vec<String> = plan::status(files, &applied)
                .iter()
                .filter(|e| e.state == State::Pending)
                .map(|e| format!("    {}", e.name()))
                .collect();
            if !pending.is_empty() {
                return Err(refuse(format!(
                    "these migration files are not applied here, and once a baseline stands for the schema they would never run:\n{}\napply them first (`pgfleet up`), move them out of the migrations folder, or pass --force",
                    pending.join("\n")
                )));
            }
        }
        emit(Event::Step {
            what: "reading the live schema",
        });
        let live = snapshot(db).await?;
        if live.is_empty() {
            return Err(refuse(
                "it has no schema to take a baseline of (no tables, views, functions or types); write migrations and run `pgfleet up` instead".into(),
            ));
        }
        // Only now, with every refusal behind, is a hand-made history table moved aside.
        let legacy = keep_history(db, options.legacy, hand_made.as_deref(), &taken).await?;
        emit(Event::Step {
            what: "dumping the schema (pg_dump in the container)",
        });
        let exclude = adopt::legacy_tables(db).await?;
        let sql = tracking::baseline_dump(db, &exclude).await?;
        let text = migration::baseline_text(source, &taken, &sql);
        let path = migration::write_new(dir, "baseline", options.taken, &text).map_err(
            |error| Error::Io {
                what: format!("cannot write the baseline into {}", dir.display()),
                error,
            },
        )?;
        let baseline = migration::parse(&path, text.as_bytes())?;
        emit(Event::Step {
            what: "checking that the baseline rebuilds the schema",
        });
        let rebuilt = expected(db, options.shadow, &[&baseline], settings, None, false)
            .await?
            .expected;
        let differences =
            schema::Ignore::filter(&shadow_ignores(options.shadow), schema::compare(&live, &rebuilt));
        adopt::register(db, &baseline, &settings.apply.applied_by).await?;
        Ok((
            Adopted {
                outcome: Adoption::Written(path),
                legacy,
                differences,
            },
            baseline,
        ))
    })
    .await
}

/// `baseline --apply-to` and `register`: records `migration` as applied where the live
/// schema is what the applied migrations and it make, and leaves the others untouched
/// (unless `force`). A baseline stands alone (older history is not replayed) and runs
/// on an empty database.
pub async fn register_where_matching(
    db: &mut Database,
    files: &[Migration],
    baseline: &Migration,
    options: &BaselineOptions<'_>,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Adopted, Error> {
    locked(db, settings, emit, async |db, emit| {
        let taken = options.taken.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        // A hand-made history table in pgfleet's place is only moved aside on a database
        // that is registered or built; one left untouched keeps it.
        let (applied, hand_made) = readable_history(db, options.legacy).await?;
        if applied.iter().any(|r| r.version == baseline.version) {
            return Ok(Adopted {
                outcome: Adoption::AlreadyRegistered,
                legacy: None,
                differences: Vec::new(),
            });
        }
        emit(Event::Step {
            what: "reading the live schema",
        });
        let live = snapshot(db).await?;
        if live.is_empty() && baseline.baseline {
            let legacy = keep_history(db, options.legacy, hand_made.as_deref(), &taken).await?;
            db.ensure_tables().await?;
            apply_told(db, &[baseline], 0..1, settings, emit).await?;
            return Ok(Adopted {
                outcome: Adoption::Executed,
                legacy,
                differences: Vec::new(),
            });
        }
        let chain = if baseline.baseline {
            vec![baseline]
        } else {
            let mut chain = applied_chain(files, &applied, &mut Vec::new());
            chain.push(baseline);
            chain
        };
        emit(Event::Step {
            what: "building the expected schema in a scratch database",
        });
        let (expected, _, _) = options
            .builds
            .expected(options.id, db, options.shadow, &chain, settings, false)
            .await?;
        let differences = schema::Ignore::filter(
            &shadow_ignores(options.shadow),
            schema::compare(&live, &expected),
        );
        let outcome = match (differences.is_empty(), options.force) {
            (true, _) => Adoption::Registered,
            (false, true) => Adoption::Forced,
            (false, false) => Adoption::Differs,
        };
        let mut legacy = None;
        if outcome != Adoption::Differs {
            legacy = keep_history(db, options.legacy, hand_made.as_deref(), &taken).await?;
            adopt::register(db, baseline, &settings.apply.applied_by).await?;
        }
        Ok(Adopted {
            outcome,
            legacy,
            differences,
        })
    })
    .await
}

/// `drift --between A B`: the differences of A's live schema from B's (`extra`: only on A),
/// once both are read, less what `--ignore` (else either target's `drift_ignore`) leaves out.
pub(super) fn between(
    action: &Action,
    targets: &[Target],
    ends: &[Finished<Output>],
) -> Option<Vec<schema::Difference>> {
    let Action::Drift {
        between, ignore, ..
    } = action
    else {
        return None;
    };
    match (between.is_empty(), ends) {
        (
            false,
            [
                Finished {
                    result: TargetResult::Done(Output::Snapshot(a)),
                    ..
                },
                Finished {
                    result: TargetResult::Done(Output::Snapshot(b)),
                    ..
                },
            ],
        ) => {
            let mut ignore = ignore.clone();
            if ignore.is_empty() {
                for t in targets {
                    if let crate::settings::Address::Inventory(t) = &t.address {
                        ignore.extend(&t.drift_ignore);
                    }
                }
            }
            Some(schema::Ignore::filter(&ignore, schema::compare(a, b)))
        }
        _ => None,
    }
}

/// `drift --write-migration`: one file per distinct draft (targets that drifted alike
/// share one), into the first such target's migrations folder.
pub(super) fn write_drafts(
    targets: &[Target],
    ends: &[Finished<Output>],
    taken: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(PathBuf, Vec<String>)>, Error> {
    let mut groups: Vec<(&schema::Draft, &Path, Vec<String>)> = Vec::new();
    for (target, end) in targets.iter().zip(ends) {
        let TargetResult::Done(Output::Drift(d)) = &end.result else {
            continue;
        };
        let Some(draft) = &d.draft else { continue };
        match groups
            .iter_mut()
            .find(|(g, _, _)| g.up == draft.up && g.down == draft.down)
        {
            Some((_, _, ids)) => ids.push(target.name()),
            None => groups.push((draft, &target.migrations_dir, vec![target.name()])),
        }
    }
    let mut written = Vec::new();
    for (k, (draft, dir, ids)) in groups.into_iter().enumerate() {
        let name: String = format!("drift_{}", ids[0])
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let text = migration::drafted_text(
            &ids.join(", "),
            &taken.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            &draft.up,
            &draft.down,
        );
        // One second apart: each draft needs its own version.
        let at = taken + chrono::Duration::seconds(k as i64);
        let path = migration::write_new(dir, &name, at, &text).map_err(|error| Error::Io {
            what: format!("cannot write the drafted migration into {}", dir.display()),
            error,
        })?;
        written.push((path, ids));
    }
    Ok(written)
}
