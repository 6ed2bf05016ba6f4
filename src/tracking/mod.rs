//! The database side of migrations, behind one small trait: the tracking tables, the
//! run lock, applying and reverting a migration. The planner and runner never see a
//! connection; each transport (URL, SSH tunnel, psql in a container) implements this.
//!
//! Tables: dbmate's `schema_migrations(version)` — untouched in shape, so dbmate reads a
//! database pgfleet migrated — and `<table>_pgfleet` beside it with what dbmate does not
//! keep (checksum, timings, who). A version counts as applied when it is in dbmate's table;
//! a row of ours without one is stale (dbmate rolled it back) and ignored.

pub mod adopt;
mod dump;
pub mod native;
pub mod psql;
mod sql;

use std::time::Duration;

use async_trait::async_trait;

pub use dump::{DUMP_ARGS, baseline_dump, clean_for_baseline, dbmate_schema_dump};
pub use native::NativeDatabase;

use crate::error::{Error, MigrationFailure, SqlError};
use crate::migration::{Direction, Migration, Section, Timeout};
use crate::plan::AppliedRow;

/// Where the tracking tables live, resolved on the server (quote_ident, as dbmate does, so
/// dumps match dbmate's byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub schema: String,
    /// dbmate's table, unquoted (`schema_migrations`); ours is `<table>_pgfleet`.
    pub table: String,
    /// Quoted `schema.schema_migrations`.
    pub migrations: String,
    /// Quoted `schema.schema_migrations_pgfleet`.
    pub pgfleet: String,
}

/// Settings that hold for every migration of a run, unless a file's marker overrides them.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    pub lock_timeout: Timeout,
    pub statement_timeout: Timeout,
    /// `user@machine`, recorded with each migration.
    pub applied_by: String,
}

/// Who holds the run lock, for the message a waiting runner prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: i32,
    pub application_name: String,
    pub user: String,
    pub client: String,
    pub since: String,
}

impl Tables {
    /// Both tables as unquoted (schema, name) pairs: what schema comparisons leave out.
    pub fn names(&self) -> [(String, String); 2] {
        [
            (self.schema.clone(), self.table.clone()),
            (self.schema.clone(), format!("{}_pgfleet", self.table)),
        ]
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "held by pid {} ({}, user {}, from {}) since {}",
            self.pid, self.application_name, self.user, self.client, self.since
        )
    }
}

/// The outcome of applying or reverting one migration.
#[derive(Debug)]
pub enum StepError {
    /// The migration's SQL failed; the database is as before it (or, for
    /// `transaction:false`, the failure says which statements ran).
    Failed(Box<MigrationFailure>),
    /// The bookkeeping or the connection failed.
    Database(Error),
    /// The run was asked to stop before this migration started.
    Stopped(crate::stop::StopReason),
}

/// Progress through `apply_all`: migration `i` of the list started, or committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applying {
    Started(usize),
    Applied(usize, Duration),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Database(e)
    }
}

/// Applies `migrations` in order until one fails (its index comes with the error): runs of
/// transactional ones as batches (`apply_batch`), `transaction:false` ones alone. Once
/// `stop` is requested nothing new starts.
pub async fn apply_all(
    db: &mut dyn Database,
    migrations: &[&Migration],
    settings: &ApplySettings,
    stop: &crate::stop::Stop,
    progress: &mut (dyn FnMut(Applying) + Send),
) -> Result<(), (usize, StepError)> {
    let mut i = 0;
    while i < migrations.len() {
        if let Some(reason) = stop.reason() {
            return Err((i, StepError::Stopped(reason)));
        }
        let batch = migrations[i..]
            .iter()
            .take_while(|m| m.up_transactional())
            .count();
        if batch == 0 {
            progress(Applying::Started(i));
            let took = db
                .apply_outside_transaction(migrations[i], settings)
                .await
                .map_err(|e| (i, e))?;
            progress(Applying::Applied(i, took));
            i += 1;
            continue;
        }
        let offset = |p: Applying| match p {
            Applying::Started(k) => Applying::Started(i + k),
            Applying::Applied(k, took) => Applying::Applied(i + k, took),
        };
        db.apply_batch(&migrations[i..i + batch], settings, stop, &mut |p| {
            progress(offset(p))
        })
        .await
        .map_err(|(k, e)| (i + k, e))?;
        i += batch;
    }
    Ok(())
}

/// Takes the run lock, waiting up to `wait`; `on_wait` is told who holds it the first
/// time it is found taken. Past `wait`, the run is refused naming the holder.
pub async fn lock(
    db: &mut dyn Database,
    wait: Duration,
    on_wait: &mut (dyn for<'h> FnMut(&'h LockHolder) + Send),
) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + wait;
    let mut told = false;
    loop {
        if db.try_lock().await? {
            return Ok(());
        }
        let holder = db.lock_holder().await?;
        if !told {
            if let Some(h) = &holder {
                on_wait(h);
                told = true;
            }
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Err(Error::LockBusy {
                target: db.target().to_string(),
                waited: wait,
                holder: holder
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "released just now".into()),
            });
        }
        tokio::time::sleep(Duration::from_millis(250).min(deadline - now)).await;
    }
}

#[async_trait]
pub trait Database: Send {
    /// The target as shown to users (passwords redacted).
    fn target(&self) -> &str;

    /// Where the tracking tables are.
    fn tables(&self) -> &Tables;

    /// The database's name on its server.
    fn dbname(&self) -> &str;

    /// Reads applied versions; an empty list when the tables do not exist yet.
    async fn applied(&mut self) -> Result<Vec<AppliedRow>, Error>;

    /// Creates the tracking tables (and their schema) when missing.
    async fn ensure_tables(&mut self) -> Result<(), Error>;

    /// Tries once to take the run's session-level advisory lock (`pg_try_advisory_lock`).
    async fn try_lock(&mut self) -> Result<bool, Error>;

    /// Who holds the run lock, if anyone.
    async fn lock_holder(&mut self) -> Result<Option<LockHolder>, Error>;

    async fn unlock(&mut self) -> Result<(), Error>;

    /// Runs the up sections of a `transaction:false` migration statement by statement,
    /// then records the version (transactional ones go through `apply_batch`). Returns
    /// how long the SQL took.
    async fn apply_outside_transaction(
        &mut self,
        migration: &Migration,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError>;

    /// Applies consecutive transactional migrations in order until one fails (its index
    /// in `batch` comes with the error), each with its tracking row in its own
    /// transaction, saying through `progress` when each starts and commits. They may be
    /// sent ahead together, as long as a failure keeps every later one from running and,
    /// once `stop` is requested, nothing new starts.
    async fn apply_batch(
        &mut self,
        batch: &[&Migration],
        settings: &ApplySettings,
        stop: &crate::stop::Stop,
        progress: &mut (dyn FnMut(Applying) + Send),
    ) -> Result<(), (usize, StepError)>;

    /// Runs the down sections and deletes the version, atomically when transactional.
    async fn revert(
        &mut self,
        migration: &Migration,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError>;

    /// Runs the up sections of these transactional migrations, in order, in one
    /// transaction that is then rolled back: nothing is kept, and no version is recorded.
    async fn rehearse(
        &mut self,
        migrations: &[&Migration],
        settings: &ApplySettings,
    ) -> Result<Duration, StepError>;

    /// Records checksums for applied versions that have none (taken over from dbmate).
    async fn record_checksums(&mut self, rows: &[(String, String)]) -> Result<(), Error>;

    /// Runs `pg_dump` with `args` (and the connection's own) against this database.
    async fn pg_dump(&mut self, args: &[&str]) -> Result<String, Error>;

    /// Runs SQL outside any transaction of ours and returns the rows it yields as text
    /// (NULL as None); `context` says what failed, for the error.
    async fn query_text(&mut self, sql: &str, context: &str) -> Result<Rows, Error>;

    /// Another database on the same server, reached the same way (the scratch database
    /// `drift` and `baseline` build expected schemas in).
    async fn sibling(&mut self, dbname: &str) -> Result<Box<dyn Database>, Error>;
}

/// Rows of text, as `query_text` returns them.
pub type Rows = Vec<Vec<Option<String>>>;

/// The first column of the first row, if any.
pub fn first_value(rows: Rows) -> Option<String> {
    rows.into_iter().next()?.into_iter().next()?
}

pub(crate) fn sections(migration: &Migration, direction: Direction) -> &[Section] {
    match direction {
        Direction::Up => &migration.up,
        Direction::Down => &migration.down,
    }
}

/// `SET [LOCAL]` statements for the section's timeouts: its marker options, else the run's.
pub(crate) fn timeouts(section: &Section, settings: &ApplySettings, set: &str) -> Vec<String> {
    let lock = section
        .options
        .lock_timeout
        .unwrap_or(settings.lock_timeout);
    let statement = section
        .options
        .statement_timeout
        .unwrap_or(settings.statement_timeout);
    vec![
        format!("{set} lock_timeout = '{}'", lock.as_setting()),
        format!("{set} statement_timeout = '{}'", statement.as_setting()),
    ]
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn failure(
    migration: &Migration,
    direction: Direction,
    section: &Section,
    stmt_offset: usize,
    stmt_sql: &str,
    error: SqlError,
    transactional: bool,
    ran_before: Vec<String>,
) -> MigrationFailure {
    let stmt = crate::migration::Statement {
        sql: stmt_sql,
        offset: stmt_offset,
    };
    // The server counts characters from the start of the statement we sent.
    let char_offset = match error.position {
        Some(p) => section.sql[..stmt_offset].chars().count() + p.saturating_sub(1),
        None => section.sql[..stmt.body_offset()].chars().count(),
    };
    let (line, column) = section.file_position(char_offset);
    MigrationFailure {
        file: migration.path.clone(),
        direction: match direction {
            Direction::Up => "up",
            Direction::Down => "down",
        },
        line,
        column,
        statement: stmt.summary(),
        error,
        transactional,
        ran_before,
    }
}
