//! Pre-flight: right before a migration runs, on its own session and inside its
//! transaction (a `Check`, so it rides the pipelined batch and costs no round trip when it
//! finds nothing), look for other sessions that hold or wait for a lock conflicting with
//! what the migration needs, in a transaction open longer than its lock_timeout. Such a
//! session would make the migration wait, and the waiting migration would block every
//! reader queued behind it; pgfleet refuses up front instead, naming each session.

use super::check::Check;
use super::sql::literal;
use crate::migration::locks::{migration_waits_for_old_transactions, strongest_locks};
use crate::migration::{Migration, Timeout};

/// The pre-flight check of a run; `lock_timeout` is the run's (a file's marker wins).
pub struct Preflight {
    lock_timeout: Timeout,
}

impl Preflight {
    pub fn new(lock_timeout: Timeout) -> Preflight {
        Preflight { lock_timeout }
    }
}

impl Check for Preflight {
    fn name(&self) -> &str {
        "pre-flight"
    }

    fn sql(&self, migration: &Migration) -> Option<String> {
        let wanted = strongest_locks(migration);
        if wanted.is_empty() {
            return None;
        }
        let conflicting: Vec<String> = wanted
            .iter()
            .map(|lock| {
                let modes: Vec<String> = lock
                    .mode
                    .conflicts()
                    .iter()
                    .map(|m| literal(m.pg_locks_name()))
                    .collect();
                format!(
                    "(l.relation = to_regclass({}) and l.mode = any(array[{}]))",
                    literal(&lock.relation),
                    modes.join(", ")
                )
            })
            .collect();
        let timeout = migration
            .up
            .first()
            .and_then(|s| s.options.lock_timeout)
            .unwrap_or(self.lock_timeout);
        let existing: Vec<String> = wanted
            .iter()
            .map(|lock| format!("to_regclass({})", literal(&lock.relation)))
            .collect();
        // CREATE INDEX CONCURRENTLY and the like wait for every transaction holding an
        // older snapshot, whatever it touches.
        let snapshots = if migration_waits_for_old_transactions(migration) {
            format!(
                "
  select string_agg(a.pid::text, ', ' order by a.pid) into found
    from pg_stat_activity a
   where a.datname = current_database() and a.pid <> pg_backend_pid()
     and a.backend_xmin is not null
     and a.xact_start < clock_timestamp() - interval '{millis} milliseconds';
  if found is not null then
    raise exception using errcode = 'P0001',
      message = 'transactions older than lock_timeout hold snapshots that a concurrent index build waits for: pid ' || found;
  end if;",
                millis = timeout.millis
            )
        } else {
            String::new()
        };
        // Cheapest first: relations that do not exist yet (made by this batch) or no
        // conflicting lock at all end it before pg_stat_activity is read.
        Some(format!(
            "do $pgfleet$
declare found text;
begin
  if coalesce({existing}) is null then return; end if;{snapshots}
  if not exists (select 1 from pg_locks l
                  where l.locktype = 'relation' and l.pid <> pg_backend_pid()
                    and ({conflicting})) then return; end if;
  select string_agg(a.pid::text, ', ' order by a.pid)
    into found
    from pg_stat_activity a
   where a.pid in (select l.pid from pg_locks l
                    where l.locktype = 'relation' and l.pid <> pg_backend_pid()
                      and ({conflicting}))
     and a.xact_start < clock_timestamp() - interval '{millis} milliseconds';
  if found is not null then
    raise exception using errcode = 'P0001',
      message = 'sessions in transactions older than lock_timeout hold or wait for locks it needs: pid ' || found;
  end if;
end $pgfleet$",
            existing = existing.join(", "),
            conflicting = conflicting.join(" or "),
            millis = timeout.millis
        ))
    }
}
