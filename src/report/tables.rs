//! What a fleet run prints on stdout at the end: the summary table, the status matrix,
//! per-target blocks. Pure functions from results to lines, so they are unit-tested.

use std::collections::BTreeMap;
use std::time::Duration;

use console::style;

use super::{Record, plural, used_by_note};
use crate::error::{Error, ExitCode};
use crate::migration::directive::Selector;
use crate::plan::{State, StatusRow};
use crate::runner::Output;
use crate::runner::fleet::{Finished, Skipped, TargetResult};
use crate::settings::Verb;
use crate::stop::StopReason;

/// One line saying where and why a target failed: `file:line:column: message` for SQL.
pub(super) fn short_error(error: &Error, id: &str) -> String {
    let text = match error {
        Error::Migration { failure, .. } => format!(
            "{}:{}:{}: {}",
            failure
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            failure.line,
            failure.column,
            failure.error.message
        ),
        other => {
            let text = crate::transport::redact(&other.to_string());
            let first = text.lines().next().unwrap_or_default().to_string();
            // "alpha/app (tunnel): …" or "alpha: …": the row already names the target.
            let host = id.split('/').next().unwrap_or(id);
            [
                format!("{id} (tunnel): "),
                format!("{id} (exec): "),
                format!("{id}: "),
                format!("{host}: "),
            ]
            .iter()
            .find_map(|p| first.strip_prefix(p.as_str()).map(str::to_string))
            .unwrap_or(first)
        }
    };
    const MAX: usize = 110;
    if text.chars().count() > MAX {
        format!("{}…", text.chars().take(MAX - 1).collect::<String>())
    } else {
        text
    }
}

pub(super) fn skipped_text(s: Skipped) -> &'static str {
    match s {
        Skipped::CanaryFailed => "skipped: a canary target failed",
        Skipped::Stopped(StopReason::FailFast) => "skipped: --fail-fast after a failure",
        Skipped::Stopped(StopReason::Interrupted) => "skipped: interrupted",
    }
}

fn paint(
    text: &str,
    color: bool,
    f: impl Fn(console::StyledObject<&str>) -> console::StyledObject<&str>,
) -> String {
    if color {
        f(style(text)).force_styling(true).to_string()
    } else {
        text.to_string()
    }
}

/// A table's duration: `850µs`, `12ms`, `1.2s`, `75s`.
fn short_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{}µs", d.as_micros())
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 10_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        format!("{:.0}s", ms / 1000.0)
    }
}

/// `up` / `rollback` / `verify --record` on a fleet: one row per target, then totals.
pub(super) fn run_table<T>(
    verb: Verb,
    ids: &[String],
    ends: &[Finished<T>],
    records: &[Record],
    code: ExitCode,
    color: bool,
) -> Vec<String> {
    let done_head = match verb {
        Verb::Rollback => "ROLLED BACK",
        Verb::RecordChecksums => "RECORDED",
        _ => "APPLIED",
    };
    let left_head = match verb {
        Verb::Rollback => "LEFT",
        _ => "PENDING",
    };
    let w = ids
        .iter()
        .map(|i| i.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut lines = vec![
        String::new(),
        format!(
            "{:w$}  {:11}  {:>dw$}  {:>7}  {:>6}  {:>7}  DETAIL",
            "TARGET",
            "RESULT",
            done_head,
            left_head,
            "FAILED",
            "TIME",
            dw = done_head.len().max(7)
        ),
    ];
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for ((id, end), record) in ids.iter().zip(ends).zip(records) {
        let done = record.done.len();
        let left = record.left(matches!(end.result, TargetResult::Done(_)));
        let (result, failed, detail) = match &end.result {
            TargetResult::Done(_) if done == 0 => ("= up to date", 0, String::new()),
            TargetResult::Done(_) => ("✓ ok", 0, String::new()),
            TargetResult::Failed(Error::Stopped { reason, next, .. }) => (
                if *reason == StopReason::Interrupted {
                    "✗ interrupted"
                } else {
                    "✗ stopped"
                },
                0,
                match next {
                    Some(next) => format!("stopped before {next}"),
                    None => "stopped before any migration ran".to_string(),
                },
            ),
            TargetResult::Failed(e) => (
                "✗ failed",
                usize::from(matches!(e, Error::Migration { .. })),
                short_error(e, id),
            ),
            TargetResult::Skipped(s) => (
                "- skipped",
                0,
                skipped_text(*s).trim_start_matches("skipped: ").to_string(),
            ),
        };
        *counts
            .entry(result.split_once(' ').map_or(result, |(_, r)| r))
            .or_default() += 1;
        let result_cell = format!("{result:11}");
        let result_cell = match result.chars().next() {
            Some('✓') => paint(&result_cell, color, |s| s.green()),
            Some('✗') => paint(&result_cell, color, |s| s.red()),
            Some('-') => paint(&result_cell, color, |s| s.yellow()),
            _ => result_cell,
        };
        let took = match end.result {
            TargetResult::Skipped(_) => "-".to_string(),
            _ => short_duration(end.took),
        };
        lines.push(
            format!(
                "{id:w$}  {result_cell}  {done:>dw$}  {left:>7}  {failed:>6}  {took:>7}  {detail}",
                dw = done_head.len().max(7)
            )
            .trim_end()
            .to_string(),
        );
    }
    let total: usize = records.iter().map(|r| r.done.len()).sum();
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    lines.push(String::new());
    lines.push(format!(
        "{} target{}: {}; {} migration{} {} · exit {}",
        ids.len(),
        plural(ids.len()),
        parts.join(", "),
        total,
        plural(total),
        super::done_word(verb),
        code as u8
    ));
    lines
}

/// One letter per state, for the matrix.
fn cell(state: &State) -> &'static str {
    match state {
        State::Applied => "X",
        State::Unverified => "x",
        State::Pending => ".",
        State::Changed { .. } => "!",
        State::NoFile => "?",
        State::BelowBaseline => "b",
    }
}

/// One version of `status` on a fleet: its label (the file name, else the version), each
/// target's state (`None`: not among that target's migrations), its file's used-by selectors.
pub(super) struct VersionRow<'a> {
    pub(super) label: String,
    pub(super) states: Vec<Option<&'a State>>,
    pub(super) used_by: &'a [Selector],
}

/// The versions of every target read, in order. Targets may read different folders: a
/// version's label and used-by come from any target that has its file.
pub(super) fn version_rows(targets: usize, ends: &[Finished<Output>]) -> Vec<VersionRow<'_>> {
    let mut rows: BTreeMap<&str, VersionRow<'_>> = BTreeMap::new();
    for (t, end) in ends.iter().enumerate() {
        if let TargetResult::Done(Output::Status(list)) = &end.result {
            for r in list {
                let row = rows.entry(&r.version).or_insert_with(|| VersionRow {
                    label: r.name().to_string(),
                    states: vec![None; targets],
                    used_by: &[],
                });
                if r.file.is_some() {
                    row.label = r.name().to_string();
                }
                if !r.used_by.is_empty() {
                    row.used_by = &r.used_by;
                }
                row.states[t] = Some(&r.state);
            }
        }
    }
    rows.into_values().collect()
}

/// Whether the targets read disagree on a version (those without it have no say; applied
/// with or without a checksum is the same).
pub(super) fn disagree(row: &VersionRow<'_>, reachable: &[usize]) -> bool {
    let kinds: Vec<&str> = reachable
        .iter()
        .filter_map(|&t| row.states[t].map(cell))
        .map(|c| if c == "x" { "X" } else { c })
        .collect();
    kinds.windows(2).any(|w| w[0] != w[1])
}

/// The targets whose state was read.
pub(super) fn reachable(ends: &[Finished<Output>]) -> Vec<usize> {
    ends.iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.result, TargetResult::Done(_)))
        .map(|(i, _)| i)
        .collect()
}

/// The targets that need adoption (a hand-made history table) rather than reaching.
pub(super) fn needing_adoption(ends: &[Finished<Output>]) -> Vec<usize> {
    ends.iter()
        .enumerate()
        .filter(|(_, e)| matches!(&e.result, TargetResult::Failed(e) if needs_adoption(e)))
        .map(|(i, _)| i)
        .collect()
}

/// Why a target's state is not known, or `None` when it was read.
pub(super) fn not_read(id: &str, result: &TargetResult<Output>) -> Option<String> {
    Some(match result {
        TargetResult::Done(_) => return None,
        TargetResult::Failed(Error::HandMadeHistory { table, columns, .. }) => format!(
            "needs adoption: {table} is a hand-made history table ({columns}); `pgfleet baseline --legacy-table NAME` takes it over"
        ),
        TargetResult::Failed(e) => format!("unreachable: {}", short_error(e, id)),
        TargetResult::Skipped(s) => skipped_text(*s).to_string(),
    })
}

/// `status` on a fleet: migrations down, targets across (numbered, named below), rows
/// where the reachable targets disagree marked with `*`.
pub(super) fn status_matrix(
    ids: &[String],
    ends: &[Finished<Output>],
    code: ExitCode,
    color: bool,
) -> Vec<String> {
    let rows = version_rows(ids.len(), ends);
    let reachable = reachable(ends);
    let adopt = needing_adoption(ends);
    let cols = ids.len();
    let cw = cols.to_string().len().max(1) + 1;
    let lw = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    let mut lines = vec![format!(
        "  {:lw$} {}",
        "MIGRATION",
        (1..=cols).map(|c| format!("{c:>cw$}")).collect::<String>()
    )];
    let mut disagreeing = 0;
    for row in &rows {
        let differs = disagree(row, &reachable);
        if differs {
            disagreeing += 1;
        }
        let cells: String = (0..cols)
            .map(|t| {
                let c = if reachable.contains(&t) {
                    row.states[t].map_or(" ", cell)
                } else if adopt.contains(&t) {
                    "a"
                } else {
                    "-"
                };
                format!("{c:>cw$}")
            })
            .collect();
        let line = format!(
            "{} {:lw$} {cells}{}",
            if differs { "*" } else { " " },
            row.label,
            used_by_note(row.used_by)
        )
        .trim_end()
        .to_string();
        lines.push(if differs {
            paint(&line, color, |s| s.yellow())
        } else {
            line
        });
    }
    lines.push(String::new());
    let iw = ids.iter().map(|i| i.chars().count()).max().unwrap_or(0);
    for (t, (id, end)) in ids.iter().zip(ends).enumerate() {
        let text = match &end.result {
            TargetResult::Done(Output::Status(list)) => {
                let n = |f: &dyn Fn(&State) -> bool| list.iter().filter(|r| f(&r.state)).count();
                let mut parts = vec![
                    format!(
                        "{} applied",
                        n(&|s| !matches!(s, State::Pending | State::BelowBaseline))
                    ),
                    format!("{} pending", n(&|s| *s == State::Pending)),
                ];
                for (label, k) in [
                    ("below the baseline", n(&|s| *s == State::BelowBaseline)),
                    ("changed", n(&|s| matches!(s, State::Changed { .. }))),
                    ("unverified", n(&|s| *s == State::Unverified)),
                    ("without a file", n(&|s| *s == State::NoFile)),
                ] {
                    if k > 0 {
                        parts.push(format!("{k} {label}"));
                    }
                }
                parts.join(", ")
            }
            result => not_read(id, result).unwrap_or_default(),
        };
        lines.push(
            format!("{:>w$}  {id:iw$}  {text}", t + 1, w = cw)
                .trim_end()
                .to_string(),
        );
    }
    lines.push(String::new());
    lines.push(
        "X applied  x applied, no checksum  . pending  ! changed since applied  ? applied, no file  b below the baseline (history)  a needs adoption (hand-made history table)  - unreachable  (blank: not among the target's migrations)"
            .to_string(),
    );
    lines.push(format!(
        "{} · exit {}",
        agreement(disagreeing, reachable.len(), adopt.len(), cols),
        code as u8
    ));
    lines
}

/// Whether the targets agree, said only of those whose state is known: a target that needs
/// adoption or could not be read has no say, and the sentence says how many those are.
pub(super) fn agreement(disagree: usize, known: usize, adopt: usize, all: usize) -> String {
    let unknown = all - known;
    if unknown == 0 {
        return match disagree {
            0 => "The targets agree on every version.".to_string(),
            n => format!("* the targets disagree on {n} version{}.", plural(n)),
        };
    }
    let mut unknowns = Vec::new();
    if adopt > 0 {
        let s = if adopt == 1 { "s" } else { "" };
        unknowns.push(format!("{adopt} need{s} adoption"));
    }
    if unknown > adopt {
        unknowns.push(format!("{} could not be read", unknown - adopt));
    }
    let unknowns = unknowns.join(", ");
    let s = plural(known);
    match (known, disagree) {
        (0, _) => format!("No target's state is known ({unknowns})."),
        (_, 0) => format!(
            "The {known} target{s} that could be read agree{} on every version; the state of {unknown} other{} is unknown ({unknowns}).",
            if known == 1 { "s" } else { "" },
            plural(unknown)
        ),
        (_, n) => format!(
            "* the {known} target{s} that could be read disagree on {n} version{}; the state of {unknown} other{} is unknown ({unknowns}).",
            plural(n),
            plural(unknown)
        ),
    }
}

/// A target whose history table was made by hand: it needs taking over, not reaching.
fn needs_adoption(e: &Error) -> bool {
    match e {
        Error::HandMadeHistory { .. } => true,
        Error::Shared(e) => needs_adoption(e),
        _ => false,
    }
}

/// `verify` on one database: one line per applied version that is not as recorded.
pub(super) fn verify_lines(rows: &[StatusRow]) -> Vec<String> {
    let mut lines = Vec::new();
    for e in rows {
        let line = match &e.state {
            State::Changed { recorded } => format!(
                "changed:    {} (recorded {}…, file {}…)",
                e.name(),
                &recorded[..recorded.len().min(12)],
                &e.checksum.as_deref().unwrap_or("")
                    [..e.checksum.as_ref().map_or(0, |c| c.len().min(12))]
            ),
            State::NoFile => format!("no file:    {} (applied in the database)", e.version),
            State::Unverified => format!("unverified: {} (no checksum recorded)", e.name()),
            State::Applied | State::Pending | State::BelowBaseline => continue,
        };
        lines.push(line);
    }
    let applied = rows.iter().filter(|e| e.is_applied()).count();
    if lines.is_empty() {
        lines.push(format!(
            "Verified: {applied} applied migrations match their files"
        ));
    } else if rows.iter().any(|e| e.state == State::Unverified) {
        lines.push(
            "Run `pgfleet verify --record` to record the checksums of unverified files as they are now."
                .to_string(),
        );
    }
    lines
}

/// `verify` on a fleet: a block per target.
pub(super) fn verify_blocks(
    ids: &[String],
    ends: &[Finished<Output>],
    code: ExitCode,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (id, end) in ids.iter().zip(ends) {
        lines.push(format!("== {id}"));
        match &end.result {
            TargetResult::Done(Output::Status(rows)) => lines.extend(verify_lines(rows)),
            TargetResult::Done(_) => {}
            TargetResult::Failed(e) => lines.push(format!("failed: {}", short_error(e, id))),
            TargetResult::Skipped(s) => lines.push(skipped_text(*s).to_string()),
        }
    }
    lines.extend(failed_footer(ids, ends, code));
    lines
}

/// The last line of a fleet run that has no table: how many targets, which failed.
pub(super) fn failed_footer<T>(
    ids: &[String],
    ends: &[Finished<T>],
    code: ExitCode,
) -> Vec<String> {
    let failed: Vec<&str> = ids
        .iter()
        .zip(ends)
        .filter(|(_, e)| !matches!(e.result, TargetResult::Done(_)))
        .map(|(id, _)| id.as_str())
        .collect();
    let mut line = format!("{} target{}", ids.len(), plural(ids.len()));
    if !failed.is_empty() {
        line.push_str(&format!(
            "; {} did not finish: {}",
            failed.len(),
            failed.join(", ")
        ));
    }
    line.push_str(&format!(" · exit {}", code as u8));
    vec![String::new(), line]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: &str, state: State) -> StatusRow {
        StatusRow {
            version: version.into(),
            file: Some(format!("{version}_x.sql")),
            checksum: Some("c".repeat(64)),
            state,
            used_by: Vec::new(),
        }
    }

    fn done<T>(value: T) -> Finished<T> {
        Finished {
            took: Duration::from_millis(5),
            result: TargetResult::Done(value),
        }
    }

    #[test]
    fn the_matrix_marks_versions_where_targets_disagree() {
        let ids = vec![
            "a/app".to_string(),
            "b/app".to_string(),
            "c/app".to_string(),
        ];
        let ends = vec![
            done(Output::Status(vec![
                row("1", State::Applied),
                row("2", State::Applied),
                row("3", State::Applied),
            ])),
            done(Output::Status(vec![
                row("1", State::Applied),
                row("2", State::Pending),
            ])),
            Finished {
                took: Duration::ZERO,
                result: TargetResult::Failed(Error::Config("c: cannot connect".into())),
            },
        ];
        let lines = status_matrix(&ids, &ends, ExitCode::Failed, false);
        assert!(
            lines.contains(&"  1_x.sql    X X -".to_string()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"* 2_x.sql    X . -".to_string()),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == " 3  c/app  unreachable: cannot connect"),
            "{lines:#?}"
        );
        // Version 3 is not among b's migrations: no disagreement, a blank cell.
        assert!(
            lines.contains(&"  3_x.sql    X   -".to_string()),
            "{lines:#?}"
        );
        assert!(lines.last().unwrap().contains("disagree on 1 version"));
    }

    #[test]
    fn the_run_table_counts_per_target() {
        let ids = vec!["a/app".to_string(), "b/app".to_string()];
        let ends: Vec<Finished<()>> = vec![
            done(()),
            Finished {
                took: Duration::ZERO,
                result: TargetResult::Skipped(Skipped::CanaryFailed),
            },
        ];
        let records = vec![
            Record {
                planned: vec!["1".into(), "2".into()],
                plan_read: true,
                done: vec!["1".into(), "2".into()],
                ..Record::default()
            },
            Record::default(),
        ];
        let lines = run_table(Verb::Up, &ids, &ends, &records, ExitCode::Failed, false);
        assert_eq!(
            lines[2],
            "a/app   ✓ ok               2        0       0      5ms"
        );
        assert_eq!(
            lines[3],
            "b/app   - skipped          0        ?       0        -  a canary target failed"
        );
        assert_eq!(
            lines.last().unwrap(),
            "2 targets: 1 ok, 1 skipped; 2 migrations applied · exit 2"
        );
    }
}
