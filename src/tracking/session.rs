//! What a backend implements: a database session that runs steps and reads rows
//! (`Session`), and the way to open such sessions again (`Opener`). The two backends —
//! PostgreSQL's native protocol (`native`) and psql inside the container (`psql`) — differ
//! only here; the tracking protocol above them (`protocol`) is written once.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ResultSet, Rows};
use crate::error::{Error, SqlError};

/// How the steps of a script may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode<'a> {
    /// All at once, in one round trip. Only for steps that make a failure harmless to the
    /// steps after it: inside transactions, each starting with a guard, a failed step
    /// leaves the rest of its transaction aborted and the next guard refusing.
    ///
    /// `ends` cuts the steps into groups, each ending at a step listed there (ascending;
    /// the steps after the last one listed are a group too). A group may go as one
    /// message, so its answers come back together rather than one packet per step; a
    /// failure then skips the rest of its group, its COMMIT too. So a group of several
    /// steps must lie inside an explicit transaction (begun by its first step or before):
    /// outside one, PostgreSQL runs a message's statements as one implicit transaction,
    /// which some statements refuse and which a failure would undo whole.
    Pipelined { ends: &'a [usize] },
    /// One after another, stopping at the first error: statements outside a transaction
    /// (`transaction:false`), where nothing else would stop the next one.
    OneByOne,
}

/// A script stopped at step `step` (an index into its steps, or the number of steps when
/// the session ended after the last one); `error.position` counts from that step's text.
#[derive(Debug)]
pub struct Failed {
    pub step: usize,
    pub error: SqlError,
}

/// One database session. Its server-side state (advisory locks, `SET`) lasts as long as
/// the value; after a failed script it may be gone (psql ends at the first error), and
/// a failed `Pipelined` script leaves no transaction open.
#[async_trait]
pub trait Session: Send {
    /// Runs `steps` in order, each one statement. `done(i)` is called as each step whose
    /// index is in `watch` (ascending) completes, while the script still runs, so progress
    /// shows as a pipelined script's answers stream in.
    async fn run(
        &mut self,
        steps: &[String],
        mode: Mode<'_>,
        watch: &[usize],
        done: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), Failed>;

    /// Runs `sql` (one or more statements, outside any transaction of ours) and returns
    /// the rows it yields as text, NULL as None.
    async fn rows(&mut self, sql: &str) -> Result<Rows, SqlError>;

    /// Runs one statement and returns its result with the column names (`query`).
    async fn result_set(&mut self, sql: &str) -> Result<ResultSet, SqlError>;
}

/// How one database is reached: sessions on it (or on another database of its server,
/// reached the same way), and pg_dump. Cloned as an `Arc`, so a second session can be
/// opened while the first one runs a script (the stop lock).
#[async_trait]
pub trait Opener: Send + Sync {
    /// As shown to users; never with a password.
    fn target(&self) -> String;
    fn dbname(&self) -> &str;
    /// Schemas of the URL's `search_path`, which place the migrations table.
    fn search_path(&self) -> &[String];
    /// A session on `dbname` (this database, or `postgres` to create it). A server that
    /// refuses or cannot be reached is `Error::Connect`.
    async fn open(&self, dbname: &str) -> Result<Box<dyn Session>, Error>;
    /// Runs pg_dump with `args` against this database and returns what it wrote.
    async fn pg_dump(&self, args: &[&str]) -> Result<String, Error>;
    /// Another database on the same server, reached the same way.
    fn sibling(&self, dbname: &str) -> Arc<dyn Opener>;
}
