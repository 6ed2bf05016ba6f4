//! The tracking SQL, as text with values inlined as literals, so that both
//! implementations — native protocol and psql in a container — send the same statements.

use std::time::Duration;

use super::Tables;
use crate::migration::{Direction, Migration};

/// `'text'` with quotes doubled (standard_conforming_strings is on since PostgreSQL 9.1).
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Who holds the advisory lock `key`: pid, application, user, client, session start.
pub(crate) fn lock_holder(key: i64) -> String {
    let (hi, lo) = (i64::from((key >> 32) as u32), i64::from(key as u32));
    format!(
        "select a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
                coalesce(host(a.client_addr), 'local socket'),
                coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '?')
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and l.granted
            and l.database = (select oid from pg_database where datname = current_database())
            and l.classid::bigint = {hi} and l.objid::bigint = {lo} and l.objsubid = 1
          limit 1"
    )
}

/// Whether dbmate's table and ours exist, whether dbmate's has its `version` column (a
/// table without it was made by hand), and its columns.
pub(crate) fn tables_exist(tables: &Tables) -> String {
    let (m, p) = (literal(&tables.migrations), literal(&tables.pgfleet));
    format!(
        "select to_regclass({m}) is not null, to_regclass({p}) is not null,
                coalesce(bool_or(attname = 'version'), false),
                string_agg(attname, ', ' order by attnum)
           from (select 1) one
           left join pg_attribute on attrelid = to_regclass({m}) and attnum > 0 and not attisdropped"
    )
}

/// dbmate-shaped history tables other than `tables`, none when `tables` exists.
pub(crate) fn other_histories(tables: &Tables) -> String {
    format!(
        "select format('%I.%I', n.nspname, c.relname)
           from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'version' and not a.attisdropped
          where c.relkind in ('r', 'p') and c.relname like '%migrations%'
            and c.relname not like '%\\_pgfleet'
            and n.nspname not in ('pg_catalog', 'information_schema')
            and to_regclass({m}) is null
            and c.oid is distinct from to_regclass({m})
          order by 1",
        m = literal(&tables.migrations)
    )
}

/// The applied versions, joined with pgfleet's table when it exists (`ours`).
pub(crate) fn applied(tables: &Tables, ours: bool) -> String {
    if ours {
        format!(
            "select m.version::text, p.checksum, to_char(p.applied_at, 'YYYY-MM-DD HH24:MI:SS TZ'),
                    p.duration_ms, p.applied_by, p.pgfleet_version
               from {} m left join {} p on p.version = m.version order by m.version",
            tables.migrations, tables.pgfleet
        )
    } else {
        format!(
            "select version::text, null::text, null::text, null::bigint, null::text, null::text
               from {} order by version",
            tables.migrations
        )
    }
}

/// dbmate's table exactly as dbmate 2.37 creates it, and ours beside it.
pub(crate) fn create_tables(tables: &Tables, create_schema: bool) -> String {
    let mut sql = String::new();
    if create_schema {
        let quoted_schema = tables.migrations.rsplit_once('.').map_or("", |(s, _)| s);
        sql.push_str(&format!("create schema if not exists {quoted_schema};\n"));
    }
    sql.push_str(&format!(
        "create table if not exists {} (version varchar primary key);
         create table if not exists {} (
             version varchar primary key,
             checksum text,
             file_name text,
             applied_at timestamptz not null default now(),
             duration_ms bigint,
             applied_by text,
             pgfleet_version text
         );",
        tables.migrations, tables.pgfleet
    ));
    sql
}

/// The bookkeeping of one migration: its rows inserted (up) or deleted (down). Without
/// `elapsed`, the duration is the server's time since the transaction began.
pub(crate) fn record(
    tables: &Tables,
    migration: &Migration,
    direction: Direction,
    elapsed: Option<Duration>,
    applied_by: &str,
) -> Vec<String> {
    let version = literal(&migration.version);
    let duration = match elapsed {
        Some(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX).to_string(),
        None => "(extract(epoch from clock_timestamp() - now()) * 1000)::bigint".to_string(),
    };
    match direction {
        Direction::Up => vec![
            format!("insert into {} (version) values ({version})", tables.migrations),
            format!(
                "insert into {} (version, checksum, file_name, applied_at, duration_ms, applied_by, pgfleet_version)
                 values ({version}, {}, {}, clock_timestamp(), {}, {}, {})
                 on conflict (version) do update set checksum = excluded.checksum,
                    file_name = excluded.file_name, applied_at = excluded.applied_at,
                    duration_ms = excluded.duration_ms, applied_by = excluded.applied_by,
                    pgfleet_version = excluded.pgfleet_version",
                tables.pgfleet,
                literal(&migration.checksum),
                literal(&migration.file_name),
                duration,
                literal(applied_by),
                literal(env!("CARGO_PKG_VERSION")),
            ),
        ],
        Direction::Down => [&tables.migrations, &tables.pgfleet]
            .iter()
            .map(|t| format!("delete from {t} where version = {version}"))
            .collect(),
    }
}

/// Records a checksum for a version applied without one.
pub(crate) fn record_checksum(tables: &Tables, version: &str, checksum: &str) -> String {
    format!(
        "insert into {} (version, checksum, applied_at) values ({}, {}, now())
         on conflict (version) do update set checksum = excluded.checksum",
        tables.pgfleet,
        literal(version),
        literal(checksum)
    )
}

/// With the runner's backend pid as the second key: the advisory lock that tells a
/// pipelined run to start nothing new (see `guard`).
pub(crate) const STOP_KEY: i32 = 48_372_616;

/// What the guard raises when the stop lock is taken.
pub(crate) const STOPPED: &str = "pgfleet: the run was asked to stop";

/// The lease: held by a companion session of the live run while a batch runs (`LEASE_KEY`,
/// a token drawn for the run). When pgfleet or its connection is gone, the companion's
/// session ends with it, and the next guard refuses: what psql (or the server's input
/// buffer) still holds of the batch stops within one migration.
pub(crate) const LEASE_KEY: i32 = 48_372_617;

/// What a guard raises when the lease is gone.
pub(crate) const LEASE_LOST: &str = "pgfleet: the run that sent this batch is gone";

/// The first statement of each transaction of a batch (`apply_batch`, both databases):
/// raise when asked to stop, when the lease is gone, or when the migration before
/// (`previous`: its table and version) did not commit — applying, its row is not there
/// yet; reverting (`direction` Down), its row is still there.
pub(crate) fn guard(
    pid: Option<i32>,
    previous: Option<(&str, &str)>,
    direction: Direction,
    lease: Option<i32>,
) -> String {
    let uncommitted = match direction {
        Direction::Up => "not exists",
        Direction::Down => "exists",
    };
    let previous = previous
        .map(|(table, version)| {
            format!(
                " if {uncommitted} (select 1 from {table} where version = {}) then raise exception 'pgfleet: the migration before did not commit'; end if;",
                literal(version)
            )
        })
        .unwrap_or_default();
    let lease = match lease {
        // objid is an oid: the token's bits, read unsigned.
        Some(token) => format!(
            " if not exists (select 1 from pg_locks where locktype = 'advisory' and classid = {LEASE_KEY} and objid = {} and objsubid = 2 and granted) then raise exception '{LEASE_LOST}'; end if;",
            token as u32
        ),
        None => String::new(),
    };
    // A scratch database's batch (no pid) has no stop lock to look for.
    let stop = match pid {
        Some(pid) => format!(
            " if exists (select 1 from pg_locks where locktype = 'advisory' and classid = {STOP_KEY} and objid = {pid} and objsubid = 2) then raise exception '{STOPPED}'; end if;"
        ),
        None => String::new(),
    };
    format!("do $pgfleet$ begin{stop}{lease}{previous} end $pgfleet$")
}

/// Each of `relations` (as written) with its schema-qualified name, when it exists.
pub(crate) fn qualified_relations(relations: &[String]) -> String {
    let names: Vec<String> = relations.iter().map(|r| literal(r)).collect();
    format!(
        "select n, quote_ident(s.nspname) || '.' || quote_ident(c.relname)
           from unnest(array[{}]::text[]) n
           join pg_class c on c.oid = to_regclass(n)
           join pg_namespace s on s.oid = c.relnamespace",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(super::literal("it's"), "'it''s'");
    }
}
