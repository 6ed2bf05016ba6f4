//! The directives that are checks on the migration's own session, right before it and
//! inside its transaction (so they ride the pipelined batch like pre-flight):
//! `precondition` (a query that must return true) and `quiesce` (the exclusive side of an
//! advisory lock that batch workers hold shared for the length of a batch).

use super::check::Check;
use super::sql::literal;
use crate::migration::Migration;
use crate::migration::directive::Directive;

/// The advisory lock key of `quiesce NAME`, as SQL: the first 64 bits of md5(NAME), which
/// any worker can compute too (README: "Workloads").
pub fn quiesce_key(name: &str) -> String {
    format!(
        "('x' || substr(md5({}), 1, 16))::bit(64)::bigint",
        literal(name)
    )
}

/// `-- pgfleet:precondition SQL`: false or null refuses the migration.
pub struct Preconditions;

impl Check for Preconditions {
    fn name(&self) -> &str {
        "precondition"
    }

    fn sql(&self, migration: &Migration) -> Option<String> {
        let checks: Vec<String> = migration
            .directives
            .iter()
            .filter_map(|d| match &d.directive {
                Directive::Precondition { sql } => Some(format!(
                    "  execute {query} into ok;
  if ok is not true then
    raise exception using errcode = 'P0001',
      message = format('line %s: %s returned %s', {line}, {shown}, coalesce(ok::text, 'null'));
  end if;",
                    query = literal(sql.trim().trim_end_matches(';')),
                    line = d.line,
                    shown = literal(sql.trim()),
                )),
                _ => None,
            })
            .collect();
        if checks.is_empty() {
            return None;
        }
        Some(format!(
            "do $pgfleet$\ndeclare ok boolean;\nbegin\n{}\nend $pgfleet$",
            checks.join("\n")
        ))
    }
}

/// `-- pgfleet:quiesce NAME`: takes the exclusive transaction-level advisory lock of NAME
/// with a try (never a blocking wait: a blocked advisory-lock waiter deadlocks with
/// CREATE INDEX CONCURRENTLY), released when the migration commits or rolls back. Not
/// taken means a worker is in a batch: the migration is refused, and the runner tries
/// again until the wait is over.
pub struct Quiesce;

impl Check for Quiesce {
    fn name(&self) -> &str {
        "quiesce"
    }

    fn sql(&self, migration: &Migration) -> Option<String> {
        let takes: Vec<String> = migration
            .directives
            .iter()
            .filter_map(|d| match &d.directive {
                Directive::Quiesce { name } => Some(format!(
                    "  if not pg_try_advisory_xact_lock({key}) then
    raise exception using errcode = 'P0001',
      message = format('line %s: a worker holds %s (a batch is in progress)', {line}, {shown});
  end if;",
                    key = quiesce_key(name),
                    line = d.line,
                    shown = literal(name),
                )),
                _ => None,
            })
            .collect();
        if takes.is_empty() {
            return None;
        }
        Some(format!(
            "do $pgfleet$\nbegin\n{}\nend $pgfleet$",
            takes.join("\n")
        ))
    }
}
