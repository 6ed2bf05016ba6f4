//! The commands that change one database (`up`, `rollback`, `verify --record`) and the
//! dry run: each takes the run lock, plans, runs through `tracking`, and tells what happens
//! through events. Nothing here prints.

use std::time::Duration;

use super::event::Event;
use super::workloads::{self, Host};
use crate::error::Error;
use crate::migration::locks::{Lock, LockMode, Locks, statement_locks};
use crate::migration::{Migration, Statement};
use crate::plan::{self, Refusal, RollbackTo, UpOptions};
use crate::stop::Stop;
use crate::tracking::{
    self, ApplySettings, Applying, Database, LockHolder, Measured, StepError, TakenLock,
};

/// Settings of a run that changes the database.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub lock_wait: Duration,
    pub apply: ApplySettings,
    /// Asked to stop (Ctrl-C, `--fail-fast`): nothing new starts; a running migration
    /// finishes or rolls back.
    pub stop: Stop,
    /// What `check`'s rules find in each migration file, by path (empty: `--no-check`).
    pub findings:
        std::sync::Arc<std::collections::HashMap<std::path::PathBuf, Vec<crate::check::Finding>>>,
}

/// `check`'s gate before `up` (and its plan): a pending file with an `error` finding that is
/// not allowed refuses the target before anything runs; warnings are told.
fn check_gate<'m>(
    target: &str,
    pending: impl IntoIterator<Item = &'m Migration>,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(), Error> {
    use crate::check::Severity;
    for m in pending {
        let Some(findings) = settings.findings.get(&m.path) else {
            continue;
        };
        if let Some(f) = findings.iter().find(|f| f.denied(Severity::Error)) {
            let more = findings
                .iter()
                .filter(|f| f.denied(Severity::Error))
                .count()
                - 1;
            return Err(Error::Refused {
                target: target.to_string(),
                reason: format!(
                    "{}:{}:{}: {} [{}]{}. Nothing ran. Fix the file — {} — or allow the finding with a reason (`-- pgfleet:allow {} REASON`), or pass --no-check; `pgfleet check` lists every finding",
                    f.file.display(),
                    f.line,
                    f.column,
                    f.message,
                    f.rule,
                    if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    },
                    f.help,
                    f.rule,
                ),
            });
        }
        let warnings: Vec<crate::check::Finding> = findings
            .iter()
            .filter(|f| f.allowed.is_none() && f.severity == Severity::Warning)
            .cloned()
            .collect();
        if !warnings.is_empty() {
            emit(Event::CheckWarnings {
                file: &m.file_name,
                findings: &warnings,
            });
        }
    }
    Ok(())
}

/// Counts of what a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub done: usize,
}

/// Holds the run lock for the body, and releases it whatever the body returns. A dropped
/// connection releases a session lock by itself, so an unlock error after a failure is
/// not worth reporting over the failure. Waiting for the lock ends early when the run is
/// asked to stop.
pub(super) async fn locked<T>(
    db: &mut Database,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
    body: impl AsyncFnOnce(&mut Database, &mut (dyn FnMut(Event<'_>) + Send)) -> Result<T, Error>,
) -> Result<T, Error> {
    let target = db.target().to_string();
    let mut on_wait = |holder: &LockHolder| {
        emit(Event::WaitingForLock {
            target: &target,
            holder,
        })
    };
    let lock = tracking::lock(db, settings.lock_wait, &mut on_wait);
    tokio::select! {
        biased;
        reason = settings.stop.requested() => {
            return Err(Error::Stopped { target, reason, next: None });
        }
        locked = lock => locked?,
    }
    let result = body(db, emit).await;
    let unlocked = db.unlock().await;
    let value = result?;
    unlocked?;
    Ok(value)
}

pub(super) fn step_error(e: StepError, target: &str, migration: &Migration) -> Error {
    match e {
        StepError::Failed(failure) => Error::Migration {
            target: target.to_string(),
            failure,
        },
        StepError::Database(e) => e,
        StepError::Stopped(reason) => Error::Stopped {
            target: target.to_string(),
            reason,
            next: Some(migration.file_name.clone()),
        },
        StepError::Refused { check, error } => Error::NotQuiet {
            target: target.to_string(),
            file: migration.file_name.clone(),
            check,
            why: error.message.clone(),
        },
    }
}

/// Refuses to start the next migration once the run was asked to stop.
fn check_stop(settings: &RunSettings, target: &str, next: &Migration) -> Result<(), Error> {
    match settings.stop.reason() {
        Some(reason) => Err(Error::Stopped {
            target: target.to_string(),
            reason,
            next: Some(next.file_name.clone()),
        }),
        None => Ok(()),
    }
}

fn refusal(target: &str, r: Refusal) -> Error {
    let target = target.to_string();
    match r {
        Refusal::Changed(files) => Error::Changed { target, files },
        Refusal::OutOfOrder { newest, files } => Error::OutOfOrder {
            target,
            newest,
            files,
        },
        Refusal::BaselineNotRegistered { file } => Error::Refused {
            target,
            reason: format!(
                "{file} is a baseline (the whole schema) and is not registered here, but this database already has migrations applied: running it would collide with the schema it has. Register it where the schema matches with `pgfleet baseline --apply-to <targets>`"
            ),
        },
    }
}

/// `up`: applies pending migrations in file-name order, each in its own transaction,
/// stopping at the first failure.
pub async fn up(
    db: &mut Database,
    files: &[Migration],
    options: UpOptions,
    settings: &RunSettings,
    host: Option<&Host>,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Outcome, Error> {
    locked(db, settings, emit, async |db, emit| {
        // Every refusal comes before the tracking tables are made: a refused run leaves
        // the database exactly as it was.
        let applied = db.applied().await?;
        let target = db.target().to_string();
        let pending = plan::up(files, &applied, options).map_err(|r| refusal(&target, r))?;
        check_gate(&target, pending.iter().copied(), settings, emit)?;
        // The batch's companion connects while the rest is checked and the tables made;
        // an up-to-date database costs no second session.
        if !pending.is_empty() {
            db.start_lease();
        }
        if let Some(baseline) = pending.first().filter(|m| m.baseline) {
            // Nothing applied, so the baseline would run: only on a database without a schema.
            if !super::adopt::snapshot(db).await?.is_empty() {
                return Err(Error::Refused {
                    target,
                    reason: format!(
                        "{} is a baseline (the whole schema) and this database already has a schema, but no history: running it would collide with that schema. Register it where the schema matches with `pgfleet baseline --apply-to <targets>` (which shows how the others differ)",
                        baseline.file_name
                    ),
                });
            }
        }
        workloads::refusals(&target, host, &pending).await?;
        if applied.is_empty() {
            let others = db.other_histories().await?;
            if !others.is_empty() {
                return Err(Error::Refused {
                    target,
                    reason: format!(
                        "the migrations table {} does not exist here, but {} does: a typo in --migrations-table? Running would start a second history and apply every migration again. Name the right table with --migrations-table (to start a second history on purpose, create that table first, as dbmate makes it)",
                        db.tables().migrations,
                        others.join(", ")
                    ),
                });
            }
        }
        db.ensure_tables().await?;
        emit(Event::Planned { files: &pending });
        // A migration with `stop` directives runs alone, between the stop and the start of
        // its containers; the others go in pipelined batches around it.
        let mut from = 0;
        while from < pending.len() {
            let alone = workloads::stops(pending[from]);
            let to = if alone {
                from + 1
            } else {
                (from..pending.len())
                    .find(|&i| workloads::stops(pending[i]))
                    .unwrap_or(pending.len())
            };
            match host.filter(|_| alone) {
                Some(host) => {
                    let migration = pending[from];
                    workloads::with_stopped(db, host, migration, emit, async |db, emit| {
                        apply_told(db, &pending, from..to, settings, emit).await
                    })
                    .await?
                }
                None => apply_told(db, &pending, from..to, settings, emit).await?,
            }
            from = to;
        }
        Ok(Outcome {
            done: pending.len(),
        })
    })
    .await
}

/// Applies `all[range]` in order (`tracking::apply_all`), telling each start and commit
/// (counted within `all`), and what each one's checking directives held to.
pub(super) async fn apply_told(
    db: &mut Database,
    all: &[&Migration],
    range: std::ops::Range<usize>,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(), Error> {
    let target = db.target().to_string();
    let total = all.len();
    let migrations = &all[range.clone()];
    let mut progress = |p: Applying| match p {
        Applying::Started(i) => emit(Event::Applying {
            migration: migrations[i],
            index: range.start + i + 1,
            total,
        }),
        Applying::Applied(i, took) => {
            let migration = migrations[i];
            emit(Event::Applied { migration, took });
            for held in held_directives(migration) {
                emit(Event::DirectiveHeld {
                    migration: &migration.file_name,
                    what: &held,
                });
            }
        }
    };
    tracking::apply_all(
        db,
        migrations,
        &settings.apply,
        &settings.stop,
        &mut progress,
    )
    .await
    .map_err(|(i, e)| step_error(e, &target, migrations[i]))
}

/// What the checking directives of a committed migration held to, one sentence each (they
/// ran inside its transaction, so its commit says they passed).
fn held_directives(migration: &Migration) -> Vec<String> {
    use crate::migration::directive::Directive;
    migration
        .directives
        .iter()
        .filter_map(|d| match &d.directive {
            Directive::Precondition { sql } => Some(format!(
                "precondition held (line {}): {}",
                d.line,
                sql.trim()
            )),
            Directive::Quiesce { name } => Some(format!(
                "quiesce lock {name} taken (line {}), released at commit",
                d.line
            )),
            _ => None,
        })
        .collect()
}

/// `rollback`: reverts the newest applied migrations (file-name order), one transaction
/// each, consecutive transactional ones sent together (`tracking::revert_all`).
pub async fn rollback(
    db: &mut Database,
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
        let total = chosen.len();
        // A database dbmate migrated has no table of ours yet: made here, as `up` does,
        // so the first rollback there does not fail on it. The batch's companion connects
        // meanwhile.
        if total > 0 {
            db.start_lease();
            db.ensure_tables().await?;
        }
        emit(Event::Planned { files: &chosen });
        let mut progress = |p: Applying| match p {
            Applying::Started(i) => {
                let migration = chosen[i];
                emit(Event::RollingBack {
                    migration,
                    index: i + 1,
                    total,
                });
                if migration.down.iter().all(|s| s.is_empty()) {
                    emit(Event::Warning {
                        text: &format!(
                            "{}: its down section is empty, so rolling it back undoes nothing: only its version is removed, and `up` will run it again",
                            migration.file_name
                        ),
                    });
                }
            }
            Applying::Applied(i, took) => emit(Event::RolledBack {
                migration: chosen[i],
                took,
            }),
        };
        tracking::revert_all(
            db,
            &chosen,
            &settings.apply,
            &settings.stop,
            &mut progress,
        )
        .await
        .map_err(|(i, e)| step_error(e, &target, chosen[i]))?;
        Ok(Outcome { done: total })
    })
    .await
}

/// `verify --record`: stores the current checksum of applied files that have none.
pub async fn record_checksums(
    db: &mut Database,
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

/// What `up --dry-run` found on one target.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The database does not exist yet: `up` would create it.
    pub creates_database: bool,
    pub pending: Vec<Migration>,
    /// For `rehearse`: what the rehearsal measured (rolled back after).
    pub rehearsed: Option<Rehearsal>,
    /// The relations the pending migrations lock, as they name them → schema-qualified as
    /// the target's search_path resolves them (those that exist there already).
    pub relations: std::collections::BTreeMap<String, String>,
    /// The other sessions on the database now, with their locks on those relations and
    /// their containers: who is using what the migrations change.
    pub sessions: Vec<tracking::Activity>,
    /// A transaction open this long (the run's lock_timeout) is a long one: a migration's
    /// ACCESS EXCLUSIVE request would queue behind it if it touches the table, and block
    /// every reader queued behind that.
    pub long_transaction_secs: f64,
}

/// What `up --dry-run=rehearse` measured.
#[derive(Debug, Clone, Default)]
pub struct Rehearsal {
    /// The rehearsed statements' time, summed.
    pub took: Duration,
    /// Each statement that ran, in order.
    pub statements: Vec<RehearsedStatement>,
}

/// One statement of a rehearsal: what it took, measured, and where that exceeds what
/// `migration::locks` predicts.
#[derive(Debug, Clone)]
pub struct RehearsedStatement {
    pub file: String,
    /// 1-based, in the file.
    pub line: usize,
    /// Its first line, with ` …` when more follows.
    pub summary: String,
    /// How long it ran, with one round trip.
    pub took: Duration,
    /// How long `up` would hold its locks: to the end of its migration's statements.
    pub held: Duration,
    /// The locks it took (not those earlier statements had taken already), the strongest
    /// on each relation, schema-qualified.
    pub locks: Vec<Lock>,
    /// Of `locks`, those stronger than predicted on a relation the prediction names, with
    /// the predicted mode.
    pub stronger_than_predicted: Vec<(Lock, LockMode)>,
}

impl RehearsedStatement {
    fn new(migration: &Migration, measured: Measured<'_>) -> RehearsedStatement {
        let predicted = match statement_locks(measured.sql) {
            Locks::Takes(locks) => locks,
            Locks::Unknown(_) => Vec::new(),
        };
        let stronger_than_predicted = measured
            .locks
            .iter()
            .filter_map(|taken| {
                let p = predicted.iter().find(|p| taken.is(&p.relation))?;
                (taken.mode > p.mode).then(|| (lock(taken), p.mode))
            })
            .collect();
        let stmt = Statement {
            sql: measured.sql,
            offset: 0,
        };
        // As `locks::migration_locks` shows it in the plan.
        let summary = stmt.summary_line();
        RehearsedStatement {
            file: migration.file_name.clone(),
            line: measured.line,
            summary,
            took: measured.took,
            held: measured.held,
            locks: measured.locks.iter().map(lock).collect(),
            stronger_than_predicted,
        }
    }
}

fn lock(taken: &TakenLock) -> Lock {
    Lock {
        relation: taken.relation.clone(),
        mode: taken.mode,
    }
}

/// `up --dry-run`: from what is applied (nothing when the database does not exist yet),
/// what `up` would do.
pub fn plan(
    target: &str,
    applied: &[crate::plan::AppliedRow],
    exists: bool,
    files: &[Migration],
    options: UpOptions,
) -> Result<Plan, Error> {
    let pending = plan::up(files, applied, options).map_err(|r| refusal(target, r))?;
    Ok(Plan {
        creates_database: !exists,
        pending: pending.into_iter().cloned().collect(),
        rehearsed: None,
        relations: Default::default(),
        sessions: Vec::new(),
        long_transaction_secs: 0.0,
    })
}

/// `up --dry-run=rehearse`: runs the pending transactional migrations for real, in order,
/// inside one transaction that is rolled back, proving they apply to the live data.
/// `transaction:false` files are skipped (said by an event). Takes no run lock: nothing is
/// kept, but the migrations' own locks are held until the rollback.
pub async fn rehearse(
    db: &mut Database,
    mut plan: Plan,
    settings: &RunSettings,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Plan, Error> {
    let target = db.target().to_string();
    let runnable: Vec<&Migration> = plan
        .pending
        .iter()
        .filter(|m| {
            let ok = m.up_transactional();
            if !ok {
                emit(Event::NotRehearsable { migration: m });
            }
            ok
        })
        .collect();
    emit(Event::Planned { files: &runnable });
    if let Some(first) = runnable.first() {
        check_stop(settings, &target, first)?;
        emit(Event::Rehearsing { files: &runnable });
        let mut statements = Vec::new();
        let took = db
            .rehearse(&runnable, &settings.apply, &mut |measured| {
                let migration = runnable[measured.migration];
                let statement = RehearsedStatement::new(migration, measured);
                emit(Event::StatementRehearsed {
                    migration,
                    statement: &statement,
                });
                statements.push(statement);
            })
            .await
            .map_err(|e| step_error(e, &target, first))?;
        emit(Event::Rehearsed {
            files: &runnable,
            took,
        });
        plan.rehearsed = Some(Rehearsal { took, statements });
    } else {
        plan.rehearsed = Some(Rehearsal::default());
    }
    Ok(plan)
}

/// `up --dry-run`: the plan, without writing anything or taking the lock; with `rehearse`,
/// the pending migrations also run in a transaction that is rolled back. No database
/// (`db` None: it does not exist yet) reads as "everything pending"; it cannot be
/// rehearsed against.
#[allow(clippy::too_many_arguments)]
pub(super) async fn dry_run_plan(
    db: Option<Database>,
    target: &str,
    files: &[Migration],
    options: UpOptions,
    rehearse: bool,
    settings: &RunSettings,
    host: Option<&Host>,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Plan, Error> {
    let Some(mut db) = db else {
        if rehearse {
            return Err(Error::Refused {
                target: target.to_string(),
                reason: "cannot rehearse: the database does not exist (up would create it), so there is no live data to prove the migrations against; plan without --rehearse shows what up would do".into(),
            });
        }
        let planned = plan(target, &[], false, files, options)?;
        check_gate(target, &planned.pending, settings, emit)?;
        return Ok(planned);
    };
    let applied = db.applied().await?;
    let mut planned = plan(target, &applied, true, files, options)?;
    check_gate(target, &planned.pending, settings, emit)?;
    let written: Vec<String> = planned
        .pending
        .iter()
        .flat_map(crate::migration::locks::relations)
        .collect();
    planned.relations = tracking::qualified_relations(&mut db, &written).await?;
    planned.sessions = tracking::sessions(&mut db, &written).await?;
    let declared: Vec<_> = planned
        .pending
        .iter()
        .flat_map(workloads::used_by)
        .cloned()
        .collect();
    let declared: Vec<_> = declared.iter().collect();
    workloads::name(target, host, &mut planned.sessions, &declared).await;
    planned.long_transaction_secs = settings.apply.lock_timeout.millis as f64 / 1000.0;
    if rehearse {
        self::rehearse(&mut db, planned, settings, emit).await
    } else {
        Ok(planned)
    }
}
