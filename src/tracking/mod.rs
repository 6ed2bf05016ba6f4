//! The database side of migrations: the tracking tables, the run lock, applying and
//! reverting migrations. The planner and runner never see a connection, only a
//! [`Database`].
//!
//! Tables: dbmate's `schema_migrations(version)` — untouched in shape, so dbmate reads a
//! database pgfleet migrated — and `<table>_pgfleet` beside it with what dbmate does not
//! keep (checksum, timings, who). A version counts as applied when it is in dbmate's table;
//! a row of ours without one is stale (dbmate rolled it back) and ignored.
//!
//! Layout:
//! - `session`: what a backend implements — a `Session` that runs a script of steps
//!   (pipelined in one round trip, or one by one) and reads rows, and the `Opener` that
//!   opens sessions on the same server the same way.
//! - `native` (tokio-postgres over an `Endpoint`: a URL or an SSH tunnel) and `psql`
//!   (psql inside the container, through the Docker exec API): the two backends. They
//!   differ only in how a session runs steps and reads rows.
//! - `protocol`: everything else, written once over a `Session` — `Database`, which steps
//!   each operation sends in which mode, and what a failure at step N means.
//! - `check`: the hook for checks run right before each migration, in its own script.
//! - `rehearsal`: what a rehearsal measures of each statement (its time, its locks).
//! - `query`: `pgfleet query`'s SQL, checked, and its read-only transaction.
//! - `sql`: the tracking SQL as text; `dump` and `adopt`: dumps and adoption over a
//!   `Database`.

pub mod activity;
pub mod adopt;
pub mod check;
pub mod directives;
mod dump;
pub mod invalid;
mod native;
mod preflight;
mod protocol;
mod psql;
mod query;
pub mod rehearsal;
pub mod session;
mod sql;

use std::time::Duration;

pub use activity::{Activity, HeldLock, sessions};
pub use check::Check;
pub use directives::{Preconditions, Quiesce};
pub use dump::{DUMP_ARGS, baseline_dump, clean_for_baseline, dbmate_schema_dump};
pub use invalid::{InvalidIndexes, invalid_indexes};
pub use preflight::Preflight;
pub use protocol::{DBMATE_LOCK_KEY, Database, Missing, apply_all, lock, revert_all};
pub use query::Query;
pub use rehearsal::{Measured, TakenLock};

use crate::error::{Error, MigrationFailure, SqlError};
use crate::migration::Timeout;
use crate::transport::Backend;

/// Opens the database `backend` reaches, with the backend it names: the only place the
/// backend is chosen. Creates the database when it is missing and `missing` says so
/// (`on_create` is told); `table_override` is `--migrations-table`.
pub async fn open(
    backend: Backend,
    table_override: Option<&str>,
    missing: Missing,
    on_create: &mut (dyn FnMut(&str) + Send),
) -> Result<Database, Error> {
    let opener = match backend {
        Backend::Native(endpoint) => native::opener(endpoint),
        Backend::Psql {
            target,
            docker,
            container,
            user,
            dbname,
        } => psql::opener(docker, container, user, dbname, target),
    };
    Database::open(opener, table_override, missing, on_create).await
}

/// `relations` as statements name them → `schema.name` as this database's search_path
/// resolves them; names of relations that do not exist (yet) are left out.
pub async fn qualified_relations(
    db: &mut Database,
    relations: &[String],
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    if relations.is_empty() {
        return Ok(Default::default());
    }
    let rows = db
        .query_text(
            &sql::qualified_relations(relations),
            "cannot resolve the relations the migrations lock",
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match (r.first(), r.get(1)) {
            (Some(Some(written)), Some(Some(qualified))) => {
                Some((written.clone(), qualified.clone()))
            }
            _ => None,
        })
        .collect())
}

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
    /// A check run before the migration (`Check`, named here) refused it; the migration
    /// did not start.
    Refused { check: String, error: Box<SqlError> },
}

/// Progress through `apply_all` (or `revert_all`): migration `i` of the list started, or
/// committed (applied, or reverted).
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

/// Rows of text, as `query_text` returns them.
pub type Rows = Vec<Vec<Option<String>>>;

/// A statement's result as `pgfleet query` shows it: its column names, and its rows as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Rows,
}

/// The first column of the first row, if any.
pub fn first_value(rows: Rows) -> Option<String> {
    rows.into_iter().next()?.into_iter().next()?
}
