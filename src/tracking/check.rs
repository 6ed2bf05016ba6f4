//! Checks run right before each migration that `apply_all` applies, on the migration's
//! own session (see `Database::check_before_each`). None are set today.
//!
//! A check is one SQL statement placed in the migration's script: inside its transaction
//! right after the guard (so it is skipped with the migration after a failure or a stop)
//! and before its timeouts and its first statement. In a pipelined batch it travels with
//! the rest, so a check that finds nothing to report costs no round trip of its own. It
//! refuses the migration by raising an error, which comes back as
//! `StepError::Refused` naming the check. For a `transaction:false` file it is the first
//! statement run.
//!
//! Meant for: sessions holding locks that the migration is about to need
//! (`pg_locks` / `pg_stat_activity`), which the check may wait for or refuse over.

use crate::migration::Migration;

pub trait Check: Send + Sync {
    /// What the check is, for the message when it refuses.
    fn name(&self) -> &str;

    /// The statement to run before `migration`, or None when there is nothing to check
    /// for it. It must raise to refuse; anything it returns is ignored.
    fn sql(&self, migration: &Migration) -> Option<String>;
}
