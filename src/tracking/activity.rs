//! Who else is on the database now: the other client sessions, with the locks each holds
//! or waits for on the relations a migration touches. Read in one query; which of them
//! matter (a conflicting lock, an old transaction) is decided here in Rust, from the
//! migration's lock classification and PostgreSQL's conflict table, so that pre-flight's
//! refusal, a lock retry and `plan` name sessions the same way.

use super::Database;
use super::sql::literal;
use crate::error::Error;
use crate::migration::locks::{Lock, LockMode};

/// One other client session on the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub pid: i32,
    pub application: String,
    pub user: String,
    /// `active`, `idle in transaction`, …
    pub state: String,
    /// Where it connects from (None over the server's unix socket).
    pub client_addr: Option<String>,
    /// How long its transaction has been open, in seconds (None: not in one).
    pub transaction_secs: Option<i64>,
    /// Its current (or last) query, on one line and truncated.
    pub query: String,
    /// Its locks on the relations asked about.
    pub locks: Vec<HeldLock>,
    /// It holds a snapshot (`backend_xmin`): CREATE INDEX CONCURRENTLY waits for it.
    pub holds_snapshot: bool,
    /// The container it comes from, when the host's Docker API could say (filled by the
    /// runner, which holds the host's connection).
    pub container: Option<String>,
}

/// A lock of another session on a relation a migration touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    /// As the migration names the relation.
    pub relation: String,
    pub mode: LockMode,
    /// False: it is queued for the lock.
    pub granted: bool,
}

impl Activity {
    /// The locks of this session that conflict with `wanted` (held or waited for).
    pub fn conflicts_with<'a>(&'a self, wanted: &'a [Lock]) -> impl Iterator<Item = &'a HeldLock> {
        self.locks.iter().filter(move |held| {
            wanted
                .iter()
                .any(|w| w.relation == held.relation && w.mode.conflicts().contains(&held.mode))
        })
    }

    /// In a transaction open for at least `secs` seconds.
    pub fn older_than(&self, secs: f64) -> bool {
        self.transaction_secs.is_some_and(|t| t as f64 >= secs)
    }
}

impl std::fmt::Display for Activity {
    /// "pid 42 (classifier, user app, idle in transaction for 12 s, from container
    /// worker-1: update email_messages …)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}, user {}, {}",
            self.pid, self.application, self.user, self.state
        )?;
        if let Some(t) = self.transaction_secs {
            write!(f, " for {t} s")?;
        }
        match (&self.container, &self.client_addr) {
            (Some(c), _) => write!(f, ", from container {c}")?,
            (None, Some(a)) => write!(f, ", from {a}")?,
            (None, None) => write!(f, ", local socket")?,
        }
        let waits: Vec<String> = self
            .locks
            .iter()
            .filter(|l| !l.granted)
            .map(|l| format!("{} on {}", l.mode.name(), l.relation))
            .collect();
        if !waits.is_empty() {
            write!(f, ", waiting for {}", waits.join(", "))?;
        }
        write!(f, ": {})", self.query)
    }
}

/// The other client sessions on this database, each with its relation locks among
/// `relations` (as migrations name them), ordered by pid.
pub async fn sessions(db: &mut Database, relations: &[String]) -> Result<Vec<Activity>, Error> {
    let rows = db
        .query_text(
            &sessions_sql(relations),
            "cannot read who is using the database",
        )
        .await?;
    let mut out: Vec<Activity> = Vec::new();
    for r in rows {
        let f = |i: usize| r.get(i).cloned().flatten();
        let pid: i32 = f(0).and_then(|p| p.parse().ok()).unwrap_or_default();
        if out.last().is_none_or(|a| a.pid != pid) {
            out.push(Activity {
                pid,
                application: f(1).filter(|a| !a.is_empty()).unwrap_or_else(|| "?".into()),
                user: f(2).unwrap_or_else(|| "?".into()),
                state: f(3).unwrap_or_else(|| "?".into()),
                client_addr: f(4),
                transaction_secs: f(5).and_then(|s| s.parse().ok()),
                query: shown_query(&f(6).unwrap_or_default()),
                locks: Vec::new(),
                holds_snapshot: matches!(f(10).as_deref(), Some("t" | "true")),
                container: None,
            });
        }
        if let (Some(relation), Some(mode), Some(activity)) = (
            f(7),
            f(8).and_then(|m| LockMode::from_pg_locks_name(&m)),
            out.last_mut(),
        ) {
            activity.locks.push(HeldLock {
                relation,
                mode,
                granted: matches!(f(9).as_deref(), Some("t" | "true")),
            });
        }
    }
    Ok(out)
}

/// Another session's query as pgfleet shows it: its constants replaced by `$n` (libpg_query's
/// normalisation — another session's SQL may carry a password or personal data), on one
/// line, truncated. Text that does not parse (cut off by track_activity_query_size) is
/// shown up to its first literal.
fn shown_query(query: &str) -> String {
    const SHOWN: usize = 60;
    let text = match pg_query::normalize(query) {
        Ok(normalized) => normalized,
        Err(_) => {
            let cut = query.find(['\'', '$', '"']).unwrap_or(query.len());
            format!("{}…", &query[..cut])
        }
    };
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}

/// One row per (session, lock on an asked relation), or one row with empty lock columns
/// for a session holding none of them.
fn sessions_sql(relations: &[String]) -> String {
    let names: Vec<String> = relations.iter().map(|r| literal(r)).collect();
    let asked = if names.is_empty() {
        "select null::text as n, null::oid as oid where false".to_string()
    } else {
        format!(
            "select n, to_regclass(n)::oid as oid from unnest(array[{}]::text[]) n",
            names.join(", ")
        )
    };
    format!(
        "with asked as ({asked})
         select a.pid, a.application_name, coalesce(a.usename::text, '?'), coalesce(a.state, '?'),
                host(a.client_addr),
                extract(epoch from clock_timestamp() - a.xact_start)::bigint,
                coalesce(a.query, ''),
                asked.n, l.mode, l.granted, a.backend_xmin is not null
           from pg_stat_activity a
           left join pg_locks l on l.pid = a.pid and l.locktype = 'relation'
                and l.relation in (select oid from asked where oid is not null)
           left join asked on asked.oid = l.relation
          where a.pid <> pg_backend_pid() and a.datname = current_database()
            and a.backend_type = 'client backend'
          order by a.pid, asked.n, l.mode"
    )
}

#[cfg(test)]
mod tests {
    use super::shown_query;

    #[test]
    fn other_sessions_queries_are_shown_without_their_literals() {
        assert_eq!(
            shown_query("alter role app password 'hunter2'"),
            "alter role app password $1"
        );
        assert_eq!(
            shown_query("select *\n  from t where secret = 'x' and n = 42"),
            "select * from t where secret = $1 and n = $2"
        );
        // Cut off mid-literal: not parseable, shown up to the literal.
        assert_eq!(
            shown_query("insert into t values ('s3cr"),
            "insert into t values (…"
        );
        assert_eq!(shown_query(&"select 1, ".repeat(20)).chars().count(), 61);
    }
}
