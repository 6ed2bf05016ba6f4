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
    db: &mut dyn Database,
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
    fn trims_the_header_and_trailing_space() {
        assert_eq!(
            super::trim_leading_comments("--\n-- PostgreSQL dump\n\nSET x = 1;  \n\n-- keep\n"),
            "SET x = 1;\n\n-- keep\n"
        );
    }
}
