//! `query`'s rows: one table with a `target` column first (text), `columns` and `rows` per
//! target (JSON), or CSV. Targets whose results have other columns (a `select *` on tables
//! that differ) get a table, or a CSV header, of their own.

use serde_json::{Value, json};

use super::{Renderer, Run, Stream, error_line, plural, tables};
use crate::error::ExitCode;
use crate::runner::fleet::{Finished, TargetResult};
use crate::runner::{Output, RunEvent};
use crate::tracking::ResultSet;

/// How NULL shows in the text table; JSON and CSV tell NULL from any text exactly.
const NULL: &str = "<null>";

/// Column names, and the targets (id, result) that returned them.
type Group<'a> = (&'a [String], Vec<(&'a str, &'a ResultSet)>);

/// The targets that returned rows, in order, grouped by their column names (in the order
/// each list first appears).
fn by_columns<'a>(ids: &'a [String], ends: &'a [Finished<Output>]) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for (id, end) in ids.iter().zip(ends) {
        let TargetResult::Done(Output::Rows(set)) = &end.result else {
            continue;
        };
        match groups.iter_mut().find(|(c, _)| *c == &set.columns[..]) {
            Some((_, members)) => members.push((id, set)),
            None => groups.push((&set.columns, vec![(id, set)])),
        }
    }
    groups
}

/// A value as one line of the text table: NULL marked, line breaks and tabs escaped so
/// that a row stays one line.
fn cell(value: &Option<String>) -> String {
    match value {
        None => NULL.to_string(),
        Some(v) => v
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t"),
    }
}

/// Rows as aligned columns, two spaces apart.
fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let width = |s: &str| console::measure_text_width(s);
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width(c)),
                None => widths.push(width(c)),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (c, w) in row.iter().zip(&widths) {
                line.push_str(c);
                line.push_str(&" ".repeat(w - width(c) + 2));
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// The text on stdout: the table(s), then (on a fleet) how many rows from how many
/// targets and which did not finish. One database (`--url`) has no target column, and
/// psql's `(N rows)`.
pub(super) fn text(
    ids: &[String],
    ends: &[Finished<Output>],
    single: bool,
    code: ExitCode,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut total = 0;
    // A result without columns (the last statement was a SET, say) has no table.
    for (columns, members) in by_columns(ids, ends)
        .into_iter()
        .filter(|(c, _)| !c.is_empty())
    {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        let head = (!single).then(|| "target".to_string());
        rows.push(head.into_iter().chain(columns.iter().cloned()).collect());
        for (id, set) in members {
            total += set.rows.len();
            for row in &set.rows {
                let target = (!single).then(|| id.to_string());
                rows.push(target.into_iter().chain(row.iter().map(cell)).collect());
            }
        }
        lines.extend(aligned(&rows));
    }
    if single {
        if !lines.is_empty() {
            lines.push(format!("({total} row{})", plural(total)));
        }
        return lines;
    }
    let mut footer = tables::failed_footer(ids, ends, code);
    if let Some(last) = footer.last_mut() {
        *last = format!("{total} row{} from {last}", plural(total));
    }
    lines.extend(footer);
    lines
}

/// A target's fields in the JSON document: its columns and rows (values as text, NULL as
/// null), both null when it returned nothing.
pub(super) fn json_fields(_id: &str, end: &Finished<Output>) -> Option<Vec<(String, Value)>> {
    let (columns, rows) = match &end.result {
        TargetResult::Done(Output::Rows(set)) => (json!(set.columns), json!(set.rows)),
        _ => (Value::Null, Value::Null),
    };
    Some(vec![("columns".into(), columns), ("rows".into(), rows)])
}

/// `--format csv`: a header `target,COLUMN…`, then every target's rows (`field`); a header
/// again where a target's columns differ from the ones before. Failed and skipped targets
/// are told on stderr, as `Error: …`.
pub(super) struct Csv {
    out: Stream,
    err: Stream,
}

impl Csv {
    pub(super) fn new(out: Stream, err: Stream) -> Csv {
        Csv { out, err }
    }

    /// One record; `Stream::line` ends it, after the redaction.
    fn record<'a>(&self, fields: impl IntoIterator<Item = Option<&'a str>>) {
        let fields: Vec<String> = fields.into_iter().map(field).collect();
        self.out.line(&fields.join(","));
    }
}

/// A field as PostgreSQL's `COPY … CSV` writes it: NULL as nothing and '' as `""`, so the
/// two differ; anything else quoted by the csv crate where RFC 4180 needs it (a comma, a
/// quote, a line break).
fn field(value: Option<&str>) -> String {
    match value {
        None => String::new(),
        Some("") => "\"\"".to_string(),
        Some(v) => {
            // A record of one field (the writer closes a quote only at a record's end),
            // without its line end.
            let mut writer = csv::Writer::from_writer(Vec::new());
            let bytes = writer
                .write_record([v])
                .ok()
                .and_then(|()| writer.into_inner().ok())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            text.strip_suffix('\n').unwrap_or(&text).to_string()
        }
    }
}

impl Renderer for Csv {
    fn event(&mut self, run: Option<&Run>, event: &RunEvent<'_>) {
        let (Some(run), RunEvent::Finished { ends, .. }) = (run, event) else {
            return;
        };
        let mut header: Option<&[String]> = None;
        for (id, end) in run.ids.iter().zip(*ends) {
            match &end.result {
                TargetResult::Done(Output::Rows(set)) => {
                    if !set.columns.is_empty() && header != Some(&set.columns[..]) {
                        let names = set.columns.iter().map(|c| Some(c.as_str()));
                        self.record(std::iter::once(Some("target")).chain(names));
                        header = Some(&set.columns);
                    }
                    for row in &set.rows {
                        let values = row.iter().map(Option::as_deref);
                        self.record(std::iter::once(Some(id.as_str())).chain(values));
                    }
                }
                TargetResult::Done(_) => {}
                TargetResult::Failed(e) => self.err.line(&error_line(e)),
                TargetResult::Skipped(s) => self
                    .err
                    .line(&format!("Error: {id}: {}", tables::skipped_text(*s))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Error;

    fn rows(columns: &[&str], rows: &[&[Option<&str>]]) -> Finished<Output> {
        Finished {
            took: Duration::from_millis(1),
            result: TargetResult::Done(Output::Rows(ResultSet {
                columns: columns.iter().map(|c| c.to_string()).collect(),
                rows: rows
                    .iter()
                    .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                    .collect(),
            })),
        }
    }

    #[test]
    fn csv_fields_quote_as_copy_does() {
        assert_eq!(field(None), "");
        assert_eq!(field(Some("")), "\"\"");
        assert_eq!(field(Some("plain")), "plain");
        assert_eq!(field(Some("a,\"b\"\nc")), "\"a,\"\"b\"\"\nc\"");
    }

    #[test]
    fn one_table_with_the_target_first_and_null_marked() {
        let ids: Vec<String> = ["alpha/app", "beta/app", "gamma/app", "delta/app"]
            .map(String::from)
            .to_vec();
        let ends = vec![
            rows(
                &["id", "note"],
                &[&[Some("1"), None], &[Some("22"), Some("a\nb")]],
            ),
            Finished {
                took: Duration::ZERO,
                result: TargetResult::Failed(Error::Config("beta/app: refused".into())),
            },
            rows(&["id", "note"], &[&[Some("3"), Some("")]]),
            rows(&["other"], &[&[Some("x")]]),
        ];
        assert_eq!(
            text(&ids, &ends, false, ExitCode::Failed),
            [
                "target     id  note",
                "alpha/app  1   <null>",
                "alpha/app  22  a\\nb",
                "gamma/app  3",
                "",
                "target     other",
                "delta/app  x",
                "",
                "4 rows from 4 targets; 1 did not finish: beta/app · exit 2",
            ]
        );
        assert_eq!(
            text(&ids[..1], &ends[..1], true, ExitCode::Ok),
            ["id  note", "1   <null>", "22  a\\nb", "(2 rows)"]
        );
    }
}
