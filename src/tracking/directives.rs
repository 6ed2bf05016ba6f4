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

/// One DO block of `each`'s statement for every directive it picks, or None when it picks
/// none (a migration without these directives gets no check at all).
fn do_block(
    migration: &Migration,
    declare: &str,
    each: impl Fn(&Directive, usize) -> Option<String>,
) -> Option<String> {
    let body: Vec<String> = migration
        .directives
        .iter()
        .filter_map(|d| each(&d.directive, d.line))
        .collect();
    if body.is_empty() {
        return None;
    }
    Some(format!(
        "do $pgfleet$\n{declare}begin\n{}\nend $pgfleet$",
        body.join("\n")
    ))
}

/// `-- pgfleet:precondition SQL`: false or null refuses the migration.
pub struct Preconditions;

impl Check for Preconditions {
    fn name(&self) -> &str {
        "precondition"
    }

    fn sql(&self, migration: &Migration) -> Option<String> {
        do_block(
            migration,
            "declare ok boolean;\n",
            |directive, line| match directive {
                Directive::Precondition { sql } => Some(format!(
                    "  execute {query} into ok;
  if ok is not true then
    raise exception using errcode = 'P0001',
      message = format('line %s: %s returned %s', {line}, {shown}, coalesce(ok::text, 'null'));
  end if;",
                    query = literal(sql.trim().trim_end_matches(';')),
                    shown = literal(sql.trim()),
                )),
                _ => None,
            },
        )
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
        do_block(migration, "", |directive, line| match directive {
            Directive::Quiesce { name } => Some(format!(
                "  if not pg_try_advisory_xact_lock({key}) then
    raise exception using errcode = 'P0001',
      message = format('line %s: a worker holds %s (a batch is in progress)', {line}, {shown});
  end if;",
                key = quiesce_key(name),
                shown = literal(name),
            )),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(text: &str) -> Migration {
        crate::migration::parse(std::path::Path::new("1_m.sql"), text.as_bytes()).unwrap()
    }

    #[test]
    fn a_migration_without_these_directives_gets_no_check() {
        let plain =
            migration("-- pgfleet:used-by worker\n-- migrate:up\nselect 1;\n-- migrate:down\n");
        assert_eq!(Preconditions.sql(&plain), None);
        assert_eq!(Quiesce.sql(&plain), None);
        let both = migration(
            "-- pgfleet:precondition select true\n-- pgfleet:quiesce batch\n-- migrate:up\nselect 1;\n-- migrate:down\n",
        );
        let pre = Preconditions.sql(&both).unwrap();
        assert!(pre.contains("execute 'select true' into ok;"), "{pre}");
        assert!(
            pre.contains("format('line %s: %s returned %s', 1,"),
            "{pre}"
        );
        let quiesce = Quiesce.sql(&both).unwrap();
        assert!(
            quiesce.contains(
                "pg_try_advisory_xact_lock(('x' || substr(md5('batch'), 1, 16))::bit(64)::bigint)"
            ),
            "{quiesce}"
        );
    }
}
