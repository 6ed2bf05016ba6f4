//! One target's job: reach its database, choose the backend, run the command on it.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::RunSettings;
use super::adopt::{self, BaselineOptions};
use super::builds::Builds;
use super::event::{Event, Output};
use super::migrate::dry_run_plan;
use super::workloads::{self, Host};
use crate::error::Error;
use crate::migration::Migration;
use crate::migration::locks::migration_waits_for_old_transactions;
use crate::plan::{self, StatusRow, UpOptions};
use crate::settings::{Action, Address, DryRun, Run, Target};
use crate::stop::Stop;
use crate::tracking::{
    self, Database, InvalidIndexes, Missing, Preconditions, Preflight, Quiesce, dbmate_schema_dump,
};
use crate::transport::Backend;
use crate::transport::fleet::Connections;

/// What every target's job shares.
pub(super) struct Shared<'a> {
    pub run: &'a Run,
    pub settings: &'a RunSettings,
    pub connections: Option<Connections<'a>>,
    /// The migration `baseline`/`register` registers: known before the run, or (with
    /// `--from`) written by the first target.
    pub to_register: OnceLock<Migration>,
    /// The expected schemas built so far (`drift`, `baseline --apply-to`).
    pub builds: Builds,
}

impl<'a> Shared<'a> {
    /// The run's connections (one per host, made on first use), nothing registered yet.
    pub(super) fn new(run: &'a Run, settings: &'a RunSettings) -> Shared<'a> {
        Shared {
            run,
            settings,
            connections: run
                .inventory
                .as_ref()
                .map(|inv| Connections::new(inv, run.accept_new_host_keys)),
            to_register: OnceLock::new(),
            builds: Builds::default(),
        }
    }
}

/// How to reach a target's database: its URL, or through its host's (shared) connection.
pub(super) async fn reach(target: &Target, shared: &Shared<'_>) -> Result<Backend, Error> {
    match (&target.address, &shared.connections) {
        (Address::Url(url), _) => Ok(Backend::Native(Box::new(url.clone()))),
        (Address::Inventory(t), Some(connections)) => connections.backend(t).await,
        (Address::Inventory(t), None) => {
            Err(Error::Config(format!("{}: no inventory loaded", t.id())))
        }
    }
}

/// Opens the target's database with the backend its backend names (`tracking::open`).
/// A stop (the first Ctrl-C) ends the wait for a server that does not answer.
pub(super) async fn connect(
    backend: Backend,
    table: Option<&str>,
    missing: Missing,
    stop: &Stop,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Database, Error> {
    let target = backend.target();
    let mut on_create = |name: &str| emit(Event::CreatingDatabase { name });
    tokio::select! {
        biased;
        reason = stop.requested() => Err(Error::Stopped { target, reason, next: None }),
        db = tracking::open(backend, table, missing, &mut on_create) => db,
    }
}

/// The command on one target, whatever reaches it.
pub(super) async fn on_target(
    backend: Backend,
    target: &Target,
    index: usize,
    shared: &Shared<'_>,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Output, Error> {
    let run = shared.run;
    let settings = shared.settings;
    let files = &target.migrations[..];
    let table = run.migrations_table.as_deref();
    match &run.action {
        Action::Up { options } => {
            up_with_retries(backend, target, shared, *options, emit).await?;
            Ok(Output::Changed)
        }
        Action::Plan { options, mode } => {
            let target_name = backend.target();
            let db = match connect(backend, table, Missing::Fail, &settings.stop, emit).await {
                Ok(db) => Some(db),
                // A missing database reads as "everything pending" (`up` would create it).
                Err(Error::Connect { error, .. }) if error.is_code("3D000") => None,
                Err(e) => return Err(e),
            };
            let rehearse = *mode == DryRun::Rehearse;
            let host = host_of(target, shared).await?;
            let plan = dry_run_plan(
                db,
                &target_name,
                files,
                *options,
                rehearse,
                settings,
                host.as_ref(),
                emit,
            )
            .await?;
            Ok(Output::Plan(plan))
        }
        Action::Rollback { to } => {
            let mut db = connect(backend, table, Missing::Fail, &settings.stop, emit).await?;
            super::rollback(&mut db, files, to, settings, emit).await?;
            Ok(Output::Changed)
        }
        Action::Status { .. } | Action::Verify { record: false } => {
            let mut db = connect(backend, table, Missing::Fail, &settings.stop, emit).await?;
            let applied = db.applied().await?;
            Ok(Output::Status(status_rows(files, &applied)))
        }
        Action::Verify { record: true } => {
            let mut db = connect(backend, table, Missing::Fail, &settings.stop, emit).await?;
            super::record_checksums(&mut db, files, settings, emit).await?;
            let applied = db.applied().await?;
            Ok(Output::Status(status_rows(files, &applied)))
        }
        Action::Dump => {
            let search_path = backend.search_path();
            let mut db = connect(backend, table, Missing::Fail, &settings.stop, emit).await?;
            let restrict = db
                .pg_dump(&["--help"])
                .await
                .map(|help| help.contains("--restrict-key"))?;
            let schema = dbmate_schema_dump(&mut db, &search_path, restrict).await?;
            write_schema(&target.schema_file, &schema)?;
            Ok(Output::Dump(target.schema_file.clone()))
        }
        Action::Baseline {
            from,
            legacy_table,
            force,
            ..
        } => {
            let options = BaselineOptions {
                legacy: legacy_table.as_deref(),
                force: *force,
                shadow: &run.shadow,
                builds: &shared.builds,
                id: &target.id,
                taken: run.taken,
            };
            // The first target is the source: `--from`'s, or the URL's database.
            let source = index == 0 && (from.is_some() || run.single);
            let missing = if source {
                Missing::Fail
            } else {
                Missing::Create
            };
            let mut db = connect(backend, table, missing, &settings.stop, emit).await?;
            if source {
                let (adopted, baseline) = adopt::take_baseline(
                    &mut db,
                    files,
                    &target.migrations_dir,
                    &target.name(),
                    &options,
                    settings,
                    emit,
                )
                .await?;
                let _ = shared.to_register.set(baseline);
                return Ok(Output::Adopted(adopted));
            }
            let baseline = shared.to_register.get().ok_or_else(|| {
                Error::Config("no baseline to register: the source did not write one".into())
            })?;
            let adopted =
                adopt::register_where_matching(&mut db, files, baseline, &options, settings, emit)
                    .await?;
            Ok(Output::Adopted(adopted))
        }
        Action::Register { force, .. } => {
            let options = BaselineOptions {
                legacy: None,
                force: *force,
                shadow: &run.shadow,
                builds: &shared.builds,
                id: &target.id,
                taken: run.taken,
            };
            let migration = shared
                .to_register
                .get()
                .ok_or_else(|| Error::Config("no migration to register".into()))?;
            let mut db = connect(backend, table, Missing::Fail, &settings.stop, emit).await?;
            let adopted =
                adopt::register_where_matching(&mut db, files, migration, &options, settings, emit)
                    .await?;
            Ok(Output::Adopted(adopted))
        }
        Action::Drift { between, .. } if !between.is_empty() => {
            let mut db = connect(backend, table, Missing::Fail, &settings.stop, emit).await?;
            Ok(Output::Snapshot(Box::new(adopt::snapshot(&mut db).await?)))
        }
        Action::Drift {
            write_migration,
            ignore,
            ..
        } => {
            // `--ignore` replaces the inventory's `drift_ignore`.
            let ignore = match &target.address {
                Address::Inventory(t) if ignore.is_empty() => &t.drift_ignore,
                _ => ignore,
            };
            let mut db = connect(backend, table, Missing::Fail, &settings.stop, emit).await?;
            let drift = adopt::drift(
                &target.id,
                &shared.builds,
                &mut db,
                files,
                &run.shadow,
                *write_migration,
                ignore,
                settings,
                emit,
            )
            .await?;
            Ok(Output::Drift(drift))
        }
        Action::Query(_) => {
            let query = run
                .query
                .as_ref()
                .ok_or_else(|| Error::Config("query: no SQL was read".into()))?;
            // No tracking table is made and no lock taken: only the query runs.
            let mut db = connect(backend, None, Missing::Fail, &settings.stop, emit).await?;
            Ok(Output::Rows(db.read_only(query).await?))
        }
        Action::New { .. }
        | Action::Wait
        | Action::Inventory
        | Action::Check(_)
        | Action::Discover(_)
        | Action::Change(_) => Err(Error::Config(
            "this command does not run on databases".into(),
        )),
    }
}

/// The docker host beside the target's database (None for a `--url` target).
pub(super) async fn host_of(target: &Target, shared: &Shared<'_>) -> Result<Option<Host>, Error> {
    match (&target.address, &shared.connections) {
        (Address::Inventory(t), Some(connections)) => Ok(Some(Host {
            docker: connections.docker(t).await?,
        })),
        _ => Ok(None),
    }
}

/// `up`, tried again where waiting can help: a migration that gave up on a lock (55P03,
/// rolled back with its transaction) after a backoff, up to `--lock-retries` times; a
/// migration a check found the database busy for (pre-flight, a precondition, a quiesce
/// lock) after a short pause, until `--wait-for-quiet` (a quiesce lock: or `--lock-wait`)
/// has passed. Each try reaches and locks the database again and re-plans from what is
/// applied, so the run resumes at that migration; with psql, the failure also ended the
/// session and its run lock.
async fn up_with_retries(
    backend: Backend,
    target: &Target,
    shared: &Shared<'_>,
    options: UpOptions,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(), Error> {
    let (run, settings) = (shared.run, shared.settings);
    let files = &target.migrations[..];
    let table = run.migrations_table.as_deref();
    let host = host_of(target, shared).await?;
    let mut backend = Some(backend);
    let mut attempt = 0;
    // The migration waited for and since when, and what was last said about it.
    let mut waiting: Option<(String, Instant, String, Instant)> = None;
    loop {
        let next = match backend.take() {
            Some(b) => b,
            None => reach(target, shared).await?,
        };
        let mut db = connect(next, table, Missing::Create, &settings.stop, emit).await?;
        if run.preflight {
            db.check_before_each(Box::new(Preflight::new(run.apply.lock_timeout)));
        }
        db.check_before_each(Box::new(Preconditions));
        db.check_before_each(Box::new(Quiesce));
        db.check_before_each(Box::new(InvalidIndexes));
        let result = super::up(&mut db, files, options, settings, host.as_ref(), emit).await;
        let (wait, stopped_at) = match result {
            Err(Error::Migration {
                target: id,
                failure,
            }) if failure.error.is_code("55P03") && failure.transactional => {
                let file = failure.file.clone();
                let migration = files.iter().find(|m| m.path == file);
                let holders = match migration {
                    Some(m) => holders(&mut db, target, shared, host.as_ref(), m, None, emit).await,
                    None => Vec::new(),
                };
                attempt += 1;
                let mut failure = failure;
                if attempt > run.lock_retries {
                    if !holders.is_empty() {
                        failure.error.hint = Some(format!(
                            "held by {}; raise --lock-retries or --lock-timeout, or end that transaction",
                            holders.join("; ")
                        ));
                    }
                    return Err(Error::Migration {
                        target: id,
                        failure,
                    });
                }
                let wait = backoff(attempt);
                let file = migration.map(|m| m.file_name.clone()).unwrap_or_default();
                emit(Event::LockRetry {
                    migration: &file,
                    attempt,
                    retries: run.lock_retries,
                    wait,
                    holders: &holders.join("; "),
                });
                (wait, (id, file))
            }
            Err(Error::NotQuiet {
                target: id,
                file,
                check,
                why,
            }) => {
                let migration = files.iter().find(|m| m.file_name == file);
                let mut why = why;
                if check == "pre-flight"
                    && let Some(m) = migration
                {
                    let older = run.apply.lock_timeout.millis as f64 / 1000.0;
                    let found =
                        holders(&mut db, target, shared, host.as_ref(), m, Some(older), emit).await;
                    if !found.is_empty() {
                        let what = if migration_waits_for_old_transactions(m) {
                            "hold or wait for locks it needs, or hold snapshots its concurrent index build waits for"
                        } else {
                            "hold or wait for locks it needs"
                        };
                        why = format!(
                            "sessions in transactions older than lock_timeout {what}: {}",
                            found.join("; ")
                        );
                    }
                }
                // Waiting helps a busy database, not a broken one (an INVALID index).
                let limit = match (check.as_str(), run.wait_for_quiet) {
                    ("pre-flight" | "precondition" | "quiesce", Some(limit)) => Some(limit),
                    ("quiesce", None) => Some(run.lock_wait),
                    _ => None,
                };
                let since = match &waiting {
                    Some((f, since, _, _)) if *f == file => *since,
                    _ => Instant::now(),
                };
                let waited = since.elapsed();
                match limit {
                    Some(limit) if waited < limit => {
                        // Said again when the reason changes, or every 10 s.
                        let said = match &waiting {
                            Some((f, _, said, at))
                                if *f == file
                                    && *said == why
                                    && at.elapsed() < Duration::from_secs(10) =>
                            {
                                *at
                            }
                            _ => {
                                emit(Event::QuietWait {
                                    migration: &file,
                                    check: &check,
                                    why: &why,
                                    waited,
                                    limit,
                                });
                                Instant::now()
                            }
                        };
                        waiting = Some((file.clone(), since, why, said));
                        (quiet_poll(), (id, file))
                    }
                    _ => {
                        return Err(Error::NotQuiet {
                            target: id,
                            file,
                            why: not_quiet_advice(&check, why, limit.map(|_| waited)),
                            check,
                        });
                    }
                }
            }
            // A transaction:false file that failed may have left INVALID indexes behind
            // (an interrupted concurrent build): each is named, with its DROP.
            Err(Error::Migration {
                target: id,
                mut failure,
            }) if !failure.transactional => {
                let left = after_failure(&mut db, target, shared, emit, async |db| {
                    tracking::invalid_indexes(db).await
                })
                .await;
                if !left.is_empty() {
                    let said = format!(
                        "INVALID indexes in the database (an interrupted concurrent build leaves one, and CREATE INDEX CONCURRENTLY IF NOT EXISTS would skip it): {}",
                        left.join("; ")
                    );
                    failure.error.hint = Some(match failure.error.hint.take() {
                        Some(hint) => format!("{hint}\n{said}"),
                        None => said,
                    });
                }
                return Err(Error::Migration {
                    target: id,
                    failure,
                });
            }
            other => return other.map(|_| ()),
        };
        drop(db);
        let (id, file) = stopped_at;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            reason = settings.stop.requested() => {
                return Err(Error::Stopped { target: id, reason, next: Some(file) });
            }
        }
    }
}

/// How long before a busy database is looked at again: 0.25 to 0.75 s, at random. A fixed
/// period can fall in step with a worker's batch loop and only ever look while a batch
/// runs (seen: 2.3 s batches against a 0.77 s cycle never met the 0.35 s gap between them).
fn quiet_poll() -> Duration {
    Duration::from_millis(250 + crate::transport::exec::rand_token() % 500)
}

/// The sessions whose locks conflict with what `migration` needs (`older_than`: in
/// transactions open that long), as sentences naming their containers.
async fn holders(
    db: &mut Database,
    target: &Target,
    shared: &Shared<'_>,
    host: Option<&Host>,
    migration: &Migration,
    older_than: Option<f64>,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Vec<String> {
    let found = after_failure(db, target, shared, emit, async |db| {
        workloads::blockers(db, host, migration, older_than).await
    })
    .await;
    found.iter().map(ToString::to_string).collect()
}

/// Asks `ask` on `db` after a migration failed there — or, when psql's session ended with
/// the failure, on a session of its own. Nothing (empty) when neither can answer: what is
/// asked only adds to a failure already reported.
async fn after_failure<T: Default>(
    db: &mut Database,
    target: &Target,
    shared: &Shared<'_>,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
    ask: impl AsyncFn(&mut Database) -> Result<T, Error>,
) -> T {
    if let Ok(answer) = ask(db).await {
        return answer;
    }
    let table = shared.run.migrations_table.as_deref();
    let Ok(again) = reach(target, shared).await else {
        return T::default();
    };
    let Ok(mut db) = connect(again, table, Missing::Fail, &shared.settings.stop, emit).await else {
        return T::default();
    };
    ask(&mut db).await.unwrap_or_default()
}

/// What to do about a busy database, after what was found.
fn not_quiet_advice(check: &str, why: String, waited: Option<Duration>) -> String {
    let waited = waited
        .map(|w| format!(" (waited {} s)", w.as_secs()))
        .unwrap_or_default();
    match check {
        "pre-flight" => format!(
            "{why}{waited}; wait for them to finish (or end them), or run with --wait-for-quiet DURATION to wait here; up --no-preflight leaves it to lock_timeout and --lock-retries"
        ),
        "precondition" => format!(
            "{why}{waited}; the migration waits for it to hold with --wait-for-quiet DURATION"
        ),
        "quiesce" => format!(
            "{why}{waited}; a worker's batch did not end in time: raise --wait-for-quiet, or check that the worker releases its shared lock between batches"
        ),
        _ => format!("{why}{waited}"),
    }
}

/// Exponential from half a second, capped at 8 s, with ±25% jitter so that runners retrying
/// against one database do not retry in step.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(4));
    let jitter = crate::transport::exec::rand_token() % (base / 2 + 1);
    std::time::Duration::from_millis(base - base / 4 + jitter)
}

fn status_rows(files: &[Migration], applied: &[plan::AppliedRow]) -> Vec<StatusRow> {
    plan::status(files, applied)
        .iter()
        .map(StatusRow::from)
        .collect()
}

fn write_schema(path: &Path, schema: &str) -> Result<(), Error> {
    let io = |error| Error::Io {
        what: format!("cannot write {}", path.display()),
        error,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, schema).map_err(io)
}
