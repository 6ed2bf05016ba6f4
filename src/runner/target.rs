//! One target's job: reach its database, choose the backend, run the command on it.

use std::path::Path;
use std::sync::OnceLock;

use super::RunSettings;
use super::adopt::{self, BaselineOptions};
use super::event::{Event, Output};
use super::migrate::dry_run_plan;
use crate::error::Error;
use crate::migration::Migration;
use crate::plan::{self, StatusRow, UpOptions};
use crate::settings::{Action, Address, DryRun, Run, Target};
use crate::tracking::{self, Database, Missing, Preflight, dbmate_schema_dump};
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
pub(super) async fn connect(
    backend: Backend,
    table: Option<&str>,
    missing: Missing,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Database, Error> {
    let mut on_create = |name: &str| emit(Event::CreatingDatabase { name });
    tracking::open(backend, table, missing, &mut on_create).await
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
            let db = match connect(backend, table, Missing::Fail, emit).await {
                Ok(db) => Some(db),
                // A missing database reads as "everything pending" (`up` would create it).
                Err(Error::Connect { error, .. }) if error.is_code("3D000") => None,
                Err(e) => return Err(e),
            };
            let rehearse = *mode == DryRun::Rehearse;
            let plan =
                dry_run_plan(db, &target_name, files, *options, rehearse, settings, emit).await?;
            Ok(Output::Plan(plan))
        }
        Action::Rollback { to } => {
            let mut db = connect(backend, table, Missing::Fail, emit).await?;
            super::rollback(&mut db, files, to, settings, emit).await?;
            Ok(Output::Changed)
        }
        Action::Status { .. } | Action::Verify { record: false } => {
            let mut db = connect(backend, table, Missing::Fail, emit).await?;
            let applied = db.applied().await?;
            Ok(Output::Status(status_rows(files, &applied)))
        }
        Action::Verify { record: true } => {
            let mut db = connect(backend, table, Missing::Fail, emit).await?;
            super::record_checksums(&mut db, files, settings, emit).await?;
            let applied = db.applied().await?;
            Ok(Output::Status(status_rows(files, &applied)))
        }
        Action::Dump => {
            let search_path = backend.search_path();
            let mut db = connect(backend, table, Missing::Fail, emit).await?;
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
                taken: run.taken,
            };
            // The first target is the source: `--from`'s, or the URL's database.
            let source = index == 0 && (from.is_some() || run.single);
            let missing = if source {
                Missing::Fail
            } else {
                Missing::Create
            };
            let mut db = connect(backend, table, missing, emit).await?;
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
                taken: run.taken,
            };
            let migration = shared
                .to_register
                .get()
                .ok_or_else(|| Error::Config("no migration to register".into()))?;
            let mut db = connect(backend, table, Missing::Fail, emit).await?;
            let adopted =
                adopt::register_where_matching(&mut db, files, migration, &options, settings, emit)
                    .await?;
            Ok(Output::Adopted(adopted))
        }
        Action::Drift { between, .. } if !between.is_empty() => {
            let mut db = connect(backend, table, Missing::Fail, emit).await?;
            Ok(Output::Snapshot(Box::new(adopt::snapshot(&mut db).await?)))
        }
        Action::Drift {
            write_migration, ..
        } => {
            let mut db = connect(backend, table, Missing::Fail, emit).await?;
            let drift = adopt::drift(
                &mut db,
                files,
                &run.shadow,
                *write_migration,
                settings,
                emit,
            )
            .await?;
            Ok(Output::Drift(drift))
        }
        Action::New { .. } | Action::Wait | Action::Inventory => Err(Error::Config(
            "this command does not run on databases".into(),
        )),
    }
}

/// `up`, with a migration that gives up on a lock (55P03, rolled back with its
/// transaction) tried again after a backoff, up to `--lock-retries` times. Each try reaches
/// and locks the database again and re-plans from what is applied, so the run resumes at
/// that migration; with psql, the failure also ended the session and its run lock.
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
    let mut backend = Some(backend);
    let mut attempt = 0;
    loop {
        let next = match backend.take() {
            Some(b) => b,
            None => reach(target, shared).await?,
        };
        let mut db = connect(next, table, Missing::Create, emit).await?;
        if run.preflight {
            db.check_before_each(Box::new(Preflight::new(run.apply.lock_timeout)));
        }
        let (id, mut failure) = match super::up(&mut db, files, options, settings, emit).await {
            Err(Error::Migration { target, failure })
                if failure.error.is_code("55P03") && failure.transactional =>
            {
                (target, failure)
            }
            other => return other.map(|_| ()),
        };
        let holders = match lock_holders(&mut db, files, &failure.file).await {
            Ok(holders) => holders,
            // psql's session ended with the failure: ask on a session of its own.
            Err(_) => {
                drop(db);
                let again = reach(target, shared).await?;
                let mut db = connect(again, table, Missing::Fail, emit).await?;
                lock_holders(&mut db, files, &failure.file)
                    .await
                    .unwrap_or_default()
            }
        };
        attempt += 1;
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
        let file = failure
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        emit(Event::LockRetry {
            migration: &file,
            attempt,
            retries: run.lock_retries,
            wait,
            holders: &holders.join("; "),
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            reason = settings.stop.requested() => {
                return Err(Error::Stopped { target: id, reason, next: Some(file) });
            }
        }
    }
}

/// Who holds a lock on what the migration in `file` touches, as sentences.
async fn lock_holders(
    db: &mut Database,
    files: &[Migration],
    file: &Path,
) -> Result<Vec<String>, Error> {
    let Some(migration) = files.iter().find(|m| m.path == file) else {
        return Ok(Vec::new());
    };
    let relations = crate::migration::locks::relations(migration);
    tracking::relation_lock_holders(db, &relations).await
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
