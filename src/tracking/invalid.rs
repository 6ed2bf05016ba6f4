//! INVALID indexes: what an interrupted `CREATE INDEX CONCURRENTLY` leaves behind. A re-run
//! of `… IF NOT EXISTS` would skip it and record the migration as done over a broken index,
//! so a migration that would do that is refused (a `Check`), and a failed
//! `transaction:false` file names the INVALID indexes it left, with the statement that
//! drops each.

use super::Database;
use super::check::Check;
use super::sql::literal;
use crate::error::Error;
use crate::migration::Migration;
use crate::migration::locks::concurrent_if_not_exists_indexes;

/// An INVALID index of `pg_index i` as both places show it: its name and its DROP.
const SHOWN: &str = "format('%s (drop it: DROP INDEX CONCURRENTLY %s;)', i.indexrelid::regclass, i.indexrelid::regclass)";

/// Refuses a migration whose `CREATE INDEX CONCURRENTLY IF NOT EXISTS` would skip an
/// INVALID index of that name.
pub struct InvalidIndexes;

impl Check for InvalidIndexes {
    fn name(&self) -> &str {
        "invalid index check"
    }

    fn sql(&self, migration: &Migration) -> Option<String> {
        let names = concurrent_if_not_exists_indexes(migration);
        if names.is_empty() {
            return None;
        }
        let names: Vec<String> = names.iter().map(|n| literal(n)).collect();
        Some(format!(
            "do $pgfleet$
declare found text;
begin
  select string_agg({SHOWN}, '; ')
    into found
    from unnest(array[{}]::text[]) n
    join pg_index i on i.indexrelid = to_regclass(n)
   where not i.indisvalid;
  if found is not null then
    raise exception using errcode = 'P0001',
      message = 'an interrupted concurrent build left INVALID indexes that CREATE INDEX CONCURRENTLY IF NOT EXISTS would skip: ' || found;
  end if;
end $pgfleet$",
            names.join(", "),
        ))
    }
}

/// The database's INVALID indexes, each with the statement that drops it.
pub async fn invalid_indexes(db: &mut Database) -> Result<Vec<String>, Error> {
    let rows = db
        .query_text(
            &format!("select {SHOWN} from pg_index i where not i.indisvalid order by 1"),
            "cannot look for INVALID indexes",
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}
