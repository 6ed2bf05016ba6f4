//! dbmate's schema dump: pg_dump's schema, its leading comments trimmed, trailing white
//! space cut, and the applied versions appended as an INSERT.

use super::Database;
use crate::error::Error;

/// The pg_dump flags dbmate uses.
pub const DUMP_ARGS: [&str; 5] = [
    "--format=plain",
    "--encoding=UTF8",
    "--schema-only",
    "--no-privileges",
    "--no-owner",
];

/// Dumps the schema as dbmate does. `schemas` are the URL's search_path entries.
/// `restrict_key` is true when pg_dump writes `\restrict` lines (15.14+, 16.10+, 17.6+):
/// a fixed key, as dbmate passes, keeps the file identical from run to run.
pub async fn dbmate_schema_dump(
    db: &mut Database,
    schemas: &[String],
    restrict_key: bool,
) -> Result<String, Error> {
    let mut args: Vec<&str> = DUMP_ARGS.to_vec();
    if restrict_key {
        args.push("--restrict-key=dbmate");
    }
    for schema in schemas {
        args.push("--schema");
        args.push(schema);
    }
    let schema = db.pg_dump(&args).await?;
    let versions: Vec<String> = db.applied().await?.into_iter().map(|r| r.version).collect();
    let table = db.tables().migrations.clone();
    let mut text = schema;
    text.push_str("\n--\n-- Dbmate schema migrations\n--\n\n");
    if !versions.is_empty() {
        let values: Vec<String> = versions
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect();
        text.push_str(&format!(
            "INSERT INTO {table} (version) VALUES\n    ({});\n",
            values.join("),\n    (")
        ));
    }
    Ok(trim_leading_comments(&text))
}

/// The live schema for a baseline: pg_dump's schema without the tracking tables and
/// `exclude` (legacy history tables), ownership or privileges (roles differ between hosts),
/// cleaned by `clean_for_baseline`.
pub async fn baseline_dump(db: &mut Database, exclude: &[String]) -> Result<String, Error> {
    let tables = db.tables().clone();
    let mut args: Vec<String> = DUMP_ARGS.iter().map(|a| a.to_string()).collect();
    for table in [&tables.migrations, &tables.pgfleet]
        .into_iter()
        .chain(exclude)
    {
        args.push(format!("--exclude-table={table}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(clean_for_baseline(&db.pg_dump(&args).await?))
}

/// Settings pg_dump sets for its own session that must not outlive the migration's
/// transaction, or override pgfleet's timeouts.
const DROPPED_SETTINGS: [&str; 5] = [
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "transaction_timeout",
    "client_encoding",
];

/// Makes pg_dump's text a migration: no psql meta-commands (`\restrict` and the like),
/// no header comments (they name versions and times, so the file would change from run
/// to run), session settings made local to the migration's transaction (a baseline must
/// not leave `search_path` empty for the migrations after it in the same session), and
/// no runs of blank lines.
pub fn clean_for_baseline(dump: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut header = true;
    for line in dump.lines() {
        let line = line.trim_end();
        if line.starts_with('\\') {
            continue;
        }
        if header && (line.is_empty() || line.starts_with("--")) {
            continue;
        }
        if line == "-- PostgreSQL database dump complete" {
            continue;
        }
        header = false;
        let line = if let Some(setting) = line.strip_prefix("SET ") {
            let name = setting.split([' ', '=']).next().unwrap_or_default();
            if DROPPED_SETTINGS.contains(&name) {
                continue;
            }
            format!("SET LOCAL {setting}")
        } else if line.starts_with("SELECT pg_catalog.set_config(") {
            line.replace(", false);", ", true);")
        } else {
            line.to_string()
        };
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    // The trailer's comment frame ("--" lines) goes with it.
    while out.last().is_some_and(|l| l.is_empty() || l == "--") {
        out.pop();
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// dbmate's TrimLeadingSQLComments: drops the header (comment and blank lines, which hold
/// host-specific versions) and the trailing white space of every line.
fn trim_leading_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut preamble = true;
    for line in text.lines() {
        if preamble && (line.is_empty() || line.starts_with("--")) {
            continue;
        }
        preamble = false;
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dump_becomes_a_migration() {
        let dump = "\\restrict abc123\n--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.14\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSET check_function_bodies = false;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n\n\n--\n-- Name: users; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.users (\n    id integer NOT NULL\n);\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc123\n";
        assert_eq!(
            super::clean_for_baseline(dump),
            "SET LOCAL check_function_bodies = false;\nSELECT pg_catalog.set_config('search_path', '', true);\n\n--\n-- Name: users; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.users (\n    id integer NOT NULL\n);\n"
        );
    }

    #[test]
    fn trims_the_header_and_trailing_space() {
        assert_eq!(
            super::trim_leading_comments("--\n-- PostgreSQL dump\n\nSET x = 1;  \n\n-- keep\n"),
            "SET x = 1;\n\n-- keep\n"
        );
    }
}
