//! What adopting an existing database asks of the tracking tables: recording a version
//! without running it (a baseline, or a drafted migration whose changes are already
//! there), and keeping a hand-made history table as history.

use super::sql::literal;
use super::{Database, first_value};
use crate::error::Error;
use crate::migration::Migration;
use crate::schema::quote_ident;

/// How a kept history table's comment starts; schema comparisons and baselines leave
/// such tables out (they are history, not schema).
pub const LEGACY_COMMENT: &str = "pgfleet: legacy migration history";

/// Records `migration` as applied without running it, both rows in one statement (so
/// both or neither). The pgfleet row says it was registered: no duration.
pub async fn register(
    db: &mut Database,
    migration: &Migration,
    applied_by: &str,
) -> Result<(), Error> {
    db.ensure_tables().await?;
    let t = db.tables().clone();
    let version = literal(&migration.version);
    let sql = format!(
        "with dbmate as (insert into {m} (version) values ({version}) on conflict do nothing)
         insert into {p} (version, checksum, file_name, applied_at, duration_ms, applied_by, pgfleet_version)
         values ({version}, {checksum}, {file}, clock_timestamp(), null, {by}, {ours})
         on conflict (version) do update set checksum = excluded.checksum,
            file_name = excluded.file_name, applied_at = excluded.applied_at,
            duration_ms = null, applied_by = excluded.applied_by,
            pgfleet_version = excluded.pgfleet_version",
        m = t.migrations,
        p = t.pgfleet,
        checksum = literal(&migration.checksum),
        file = literal(&migration.file_name),
        by = literal(&format!("{applied_by} (registered, not run)")),
        ours = literal(env!("CARGO_PKG_VERSION")),
    );
    db.query_text(&sql, "cannot register the migration").await?;
    Ok(())
}

/// The refusal for a hand-made history table (`columns`) in pgfleet's place when no
/// `--legacy-table` name was given to move it to.
pub fn hand_made_refusal(db: &Database, columns: &str) -> Error {
    Error::Refused {
        target: db.target().to_string(),
        reason: format!(
            "{} exists but is not a dbmate migrations table (its columns: {columns}); pass --legacy-table NAME to keep it as history under NAME, and pgfleet's tables take its place",
            db.tables().migrations
        ),
    }
}

/// Keeps history under `name`: the hand-made migrations table (`hand_made`: its columns,
/// as `Database::applied` found them) is renamed to `name`, and a table already called
/// `name` is marked as history. Says what it did, if anything.
pub async fn keep_legacy(
    db: &mut Database,
    hand_made: Option<&str>,
    name: &str,
    taken: &str,
) -> Result<Option<String>, Error> {
    let tables = db.tables().clone();
    let who = db.target().to_string();
    let refuse = |reason: String| Error::Refused {
        target: who.clone(),
        reason,
    };
    let target = format!("{}.{}", quote_ident(&tables.schema), quote_ident(name));
    let exists = first_value(
        db.query_text(
            &format!(
                "select coalesce(obj_description(c, 'pg_class'), '') from to_regclass({t}) c where c is not null",
                t = literal(&target)
            ),
            "cannot look for the legacy table",
        )
        .await?,
    );
    let comment = format!(
        "comment on table {target} is {}",
        literal(&format!(
            "{LEGACY_COMMENT} (kept by pgfleet baseline on {taken}; not part of the schema)"
        ))
    );
    match (hand_made, exists) {
        (Some(_), Some(_)) => Err(refuse(format!(
            "cannot keep {} as {target}: {target} exists already (choose another --legacy-table name)",
            tables.migrations
        ))),
        (Some(columns), None) => {
            db.query_text(
                &format!(
                    "begin; alter table {} rename to {}; {comment}; commit",
                    tables.migrations,
                    quote_ident(name)
                ),
                "cannot rename the hand-made migrations table",
            )
            .await?;
            Ok(Some(format!(
                "kept the hand-made {} ({columns}) as {target}",
                tables.migrations
            )))
        }
        (None, Some(c)) if c.starts_with(LEGACY_COMMENT) => Ok(None),
        (None, Some(_)) => {
            db.query_text(&comment, "cannot mark the legacy table")
                .await?;
            Ok(Some(format!("marked {target} as legacy history")))
        }
        (None, None) => Ok(None),
    }
}

/// Quoted names of the tables marked as legacy history and of the sequences their
/// columns own (a renamed `serial` keeps its old sequence name), for pg_dump to leave out.
pub async fn legacy_tables(db: &mut Database) -> Result<Vec<String>, Error> {
    let sql = format!(
        "with legacy as (
             select c.oid from pg_class c
              where c.relkind in ('r', 'p') and obj_description(c.oid, 'pg_class') like {})
         select quote_ident(n.nspname) || '.' || quote_ident(c.relname)
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.oid in (select oid from legacy)
             or c.oid in (select d.objid from pg_depend d
                           where d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i')
                             and d.refobjid in (select oid from legacy)
                             and (select relkind from pg_class where oid = d.objid) = 'S')",
        literal(&format!("{LEGACY_COMMENT}%"))
    );
    Ok(db
        .query_text(&sql, "cannot look for legacy tables")
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}
