//! Runs a plan against one database and emits events; it never prints. Several targets in
//! parallel build on this (one `Database` each).

use std::time::Duration;

use crate::error::Error;
use crate::migration::Migration;
use crate::plan::{self, Refusal, RollbackTo, UpOptions};
use crate::tracking::{self, ApplySettings, Database, LockHolder, StepError};

/// What the runner tells the report about.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    CreatingDatabase {
        name: &'a str,
    },
    WaitingForLock {
        target: &'a str,
        holder: &'a LockHolder,
    },
    Applying {
        file: &'a str,
    },
    Applied {
        file: &'a str,
        took: Duration,
    },
    RollingBack {
        file: &'a str,
    },
    RolledBack {
        file: &'a str,
        took: Duration,
    },
    ChecksumRecorded {
        file: &'a str,
    },
}

/// Settings of a run that changes the database.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub lock_wait: Duration,
    pub apply: ApplySettings,
}

/// Counts of what a run did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub done: usize,
}

/// Holds the run lock for the body, and releases it whatever the body returns. A dropped
/// connection releases a session lock by itself, so an unlock error after a failure is
/// not worth reporting over the failure.
async fn locked<T>(
    db: &mut dyn Database,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
    body: impl AsyncFnOnce(&mut dyn Database, &mut (dyn FnMut(Event<'_>) + Send)) -> Result<T, Error>,
) -> Result<T, Error> {
    let target = db.target().to_string();
    tracking::lock(db, settings.lock_wait, &mut |holder| {
        emit(Event::WaitingForLock {
            target: &target,
            holder,
        })
    })
    .await?;
    let result = body(db, emit).await;
    let unlocked = db.unlock().await;
    let value = result?;
    unlocked?;
    Ok(value)
}

fn step_error(e: StepError, target: &str) -> Error {
    match e {
        StepError::Failed(failure) => Error::Migration {
            target: target.to_string(),
            failure,
        },
        StepError::Database(e) => e,
    }
}

/// `up`: applies pending migrations in file-name order, each in its own transaction,
/// stopping at the first failure.
pub async fn up(
    db: &mut dyn Database,
    files: &[Migration],
    options: UpOptions,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Outcome, Error> {
    locked(db, settings, emit, async |db, emit| {
        db.ensure_tables().await?;
        let applied = db.applied().await?;
        let target = db.target().to_string();
        let pending = plan::up(files, &applied, options).map_err(|r| match r {
            Refusal::Changed(files) => Error::Changed {
                target: target.clone(),
                files,
            },
            Refusal::OutOfOrder { newest, files } => Error::OutOfOrder {
                target: target.clone(),
                newest,
                files,
            },
        })?;
        for migration in &pending {
            emit(Event::Applying {
                file: &migration.file_name,
            });
            let took = db
                .apply(migration, &settings.apply)
                .await
                .map_err(|e| step_error(e, &target))?;
            emit(Event::Applied {
                file: &migration.file_name,
                took,
            });
        }
        Ok(Outcome {
            done: pending.len(),
        })
    })
    .await
}

/// `rollback`: reverts the newest applied migrations (file-name order), one transaction
/// each.
pub async fn rollback(
    db: &mut dyn Database,
    files: &[Migration],
    to: &RollbackTo,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Outcome, Error> {
    locked(db, settings, emit, async |db, emit| {
        let applied = db.applied().await?;
        let target = db.target().to_string();
        let chosen = plan::rollback(files, &applied, to).map_err(|what| Error::Rollback {
            target: target.clone(),
            what,
        })?;
        for migration in &chosen {
            emit(Event::RollingBack {
                file: &migration.file_name,
            });
            let took = db
                .revert(migration, &settings.apply)
                .await
                .map_err(|e| step_error(e, &target))?;
            emit(Event::RolledBack {
                file: &migration.file_name,
                took,
            });
        }
        Ok(Outcome { done: chosen.len() })
    })
    .await
}

/// `verify --record`: stores the current checksum of applied files that have none.
pub async fn record_checksums(
    db: &mut dyn Database,
    files: &[Migration],
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Outcome, Error> {
    locked(db, settings, emit, async |db, emit| {
        let applied = db.applied().await?;
        let unverified: Vec<&Migration> = plan::status(files, &applied)
            .into_iter()
            .filter(|e| e.state == plan::State::Unverified)
            .filter_map(|e| e.file)
            .collect();
        let rows: Vec<(String, String)> = unverified
            .iter()
            .map(|m| (m.version.clone(), m.checksum.clone()))
            .collect();
        if !rows.is_empty() {
            db.record_checksums(&rows).await?;
        }
        for m in &unverified {
            emit(Event::ChecksumRecorded { file: &m.file_name });
        }
        Ok(Outcome {
            done: unverified.len(),
        })
    })
    .await
}
