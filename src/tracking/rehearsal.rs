//! What a rehearsal measures of each statement: how long it ran, and the table locks its
//! session took for it, read from pg_locks right after it inside the rehearsal's
//! transaction (`Database::rehearse` sends the steps).

use std::time::Duration;

use super::Rows;
use crate::migration::locks::LockMode;

/// This session's granted relation locks, schema-qualified, with what an unqualified name
/// resolves to (the name as `split_statements`' statements write it, to match predictions).
/// Indexes and TOAST tables are left out: their locks follow their table's, and a new
/// index's ACCESS EXCLUSIVE would only hide the table lock that matters. A relation the
/// statement dropped is not seen: its pg_class row is gone by then.
pub(super) const OWN_LOCKS: &str = "select quote_ident(n.nspname) || '.' || quote_ident(c.relname), n.nspname, c.relname, pg_table_is_visible(c.oid), l.mode
  from pg_locks l join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace
 where l.pid = pg_backend_pid() and l.locktype = 'relation' and l.granted
   and c.relnamespace <> 'pg_catalog'::regnamespace and c.relkind not in ('i', 'I', 't')
 order by 1, 5";

/// A lock a rehearsed statement took on a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenLock {
    /// `schema.name`, quoted where needed.
    pub relation: String,
    pub schema: String,
    pub name: String,
    /// An unqualified `name` resolves to it on the session's search_path.
    pub visible: bool,
    pub mode: LockMode,
}

impl TakenLock {
    /// Whether a statement naming `written` (`name` or `schema.name`, as libpg_query gives
    /// it) means this relation.
    pub fn is(&self, written: &str) -> bool {
        match written.split_once('.') {
            Some((schema, name)) => schema == self.schema && name == self.name,
            None => self.visible && written == self.name,
        }
    }
}

/// One statement of a rehearsal, run alone and measured.
#[derive(Debug, Clone)]
pub struct Measured<'a> {
    /// Its migration's index in the rehearsed list.
    pub migration: usize,
    /// 1-based line, in the file, of its first code character.
    pub line: usize,
    /// The statement as sent.
    pub sql: &'a str,
    /// From sending it to its answer: one round trip more than the server's time.
    pub took: Duration,
    /// From its start to the end of its migration's last statement: how long a real `up`,
    /// which commits each migration, would hold what it took.
    pub held: Duration,
    /// The locks that were new after it (locks pile up until the transaction ends, so a
    /// lock an earlier statement already took is not seen again), the strongest on each
    /// relation.
    pub locks: Vec<TakenLock>,
}

/// The rows of `OWN_LOCKS`, as locks (modes that are not table lock modes left out).
pub(super) fn parse(rows: Rows) -> Vec<TakenLock> {
    rows.into_iter()
        .filter_map(|r| {
            let f = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Some(TakenLock {
                relation: f(0),
                schema: f(1),
                name: f(2),
                visible: f(3) == "t",
                mode: LockMode::from_pg_locks_name(&f(4))?,
            })
        })
        .collect()
}

/// The locks in `after` that are not in `before`, the strongest on each relation, in
/// `after`'s order.
pub(super) fn new_locks(before: &[TakenLock], after: &[TakenLock]) -> Vec<TakenLock> {
    let mut out: Vec<TakenLock> = Vec::new();
    let seen = |l: &TakenLock| {
        before
            .iter()
            .any(|b| b.relation == l.relation && b.mode == l.mode)
    };
    for lock in after.iter().filter(|l| !seen(l)) {
        match out.iter_mut().find(|l| l.relation == lock.relation) {
            Some(l) => l.mode = l.mode.max(lock.mode),
            None => out.push(lock.clone()),
        }
    }
    out
}

/// Each statement's `held`: its own time and that of the statements after it in its
/// migration. `measured` is in order, one migration's statements together.
pub(super) fn fill_held(measured: &mut [Measured<'_>]) {
    let mut held = Duration::ZERO;
    let mut migration = None;
    for m in measured.iter_mut().rev() {
        if migration != Some(m.migration) {
            held = Duration::ZERO;
            migration = Some(m.migration);
        }
        held += m.took;
        m.held = held;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(relation: &str, mode: LockMode) -> TakenLock {
        let (schema, name) = relation.split_once('.').unwrap();
        TakenLock {
            relation: relation.into(),
            schema: schema.into(),
            name: name.into(),
            visible: schema == "public",
            mode,
        }
    }

    #[test]
    fn a_statements_locks_are_the_new_ones_strongest_per_relation() {
        use LockMode::*;
        let before = [lock("public.t", AccessExclusive)];
        let after = [
            lock("public.t", AccessExclusive),
            lock("public.t", AccessShare),
            lock("public.u", RowShare),
            lock("public.u", ShareRowExclusive),
        ];
        assert_eq!(
            new_locks(&before, &after),
            [
                lock("public.t", AccessShare),
                lock("public.u", ShareRowExclusive)
            ]
        );
    }

    #[test]
    fn a_lock_is_matched_to_a_name_as_a_statement_writes_it() {
        let public = lock("public.t", LockMode::Share);
        assert!(public.is("t") && public.is("public.t") && !public.is("other.t"));
        let hidden = lock("other.t", LockMode::Share);
        assert!(!hidden.is("t") && hidden.is("other.t"));
    }

    #[test]
    fn held_runs_to_the_end_of_the_statements_migration() {
        let ms = Duration::from_millis;
        let at = |migration, took| Measured {
            migration,
            line: 1,
            sql: "",
            took: ms(took),
            held: Duration::ZERO,
            locks: Vec::new(),
        };
        let mut measured = [at(0, 1), at(0, 2), at(1, 4), at(1, 8)];
        fill_held(&mut measured);
        let held: Vec<_> = measured.iter().map(|m| m.held).collect();
        assert_eq!(held, [ms(3), ms(2), ms(12), ms(8)]);
    }
}
