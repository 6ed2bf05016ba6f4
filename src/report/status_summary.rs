//! `status` on a fleet whose matrix is wider than the terminal: one line per migration (or
//! run of consecutive migrations in the same state on every target) saying where it is
//! applied and where not, long lists of targets shortened by host, the targets that could
//! not be read grouped by reason, and the counts. Every line fits the width it is given.

use console::style;

use super::plural;
use super::tables::{VersionRow, agreement, disagree, needing_adoption, not_read, reachable};
use crate::error::ExitCode;
use crate::plan::State;
use crate::runner::Output;
use crate::runner::fleet::{Finished, TargetResult};

/// What a target has of a version, in the order the parts of a line name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Applied,
    Pending,
    Changed,
    NoFile,
    BelowBaseline,
}

impl Kind {
    fn of(state: &State) -> Kind {
        match state {
            // A missing checksum is `verify`'s business; the version is applied.
            State::Applied | State::Unverified => Kind::Applied,
            State::Pending => Kind::Pending,
            State::Changed { .. } => Kind::Changed,
            State::NoFile => Kind::NoFile,
            State::BelowBaseline => Kind::BelowBaseline,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Kind::Applied => "applied",
            Kind::Pending => "pending",
            Kind::Changed => "changed since applied",
            Kind::NoFile => "applied with no file",
            Kind::BelowBaseline => "below the baseline",
        }
    }
}

/// The summary, for `width` columns.
pub(super) fn status_summary(
    ids: &[String],
    ends: &[Finished<Output>],
    code: ExitCode,
    color: bool,
    width: usize,
) -> Vec<String> {
    let rows = super::tables::version_rows(ids.len(), ends);
    let read = reachable(ends);
    let adopt = needing_adoption(ends);
    let hosts = Hosts::new(ids);

    // Consecutive versions in the same state on every target read share a line.
    let mut groups: Vec<(Vec<&VersionRow<'_>>, String, bool)> = Vec::new();
    let key = |row: &VersionRow<'_>| -> Vec<Option<Kind>> {
        read.iter().map(|&t| row.states[t].map(Kind::of)).collect()
    };
    for row in &rows {
        match groups.last_mut() {
            Some((members, _, _))
                if key(members[0]) == key(row) && members[0].used_by == row.used_by =>
            {
                members.push(row)
            }
            _ => {
                let text = where_text(row, &read, ids.len(), &hosts, width);
                let text = format!("{text}{}", super::used_by_note(row.used_by));
                groups.push((vec![row], text, disagree(row, &read)));
            }
        }
    }
    let labels: Vec<String> = groups
        .iter()
        .map(|(members, _, _)| match members[..] {
            [one] => one.label.clone(),
            [first, .., last] => format!(
                "{} … {} ({} migrations)",
                version_of(&first.label),
                version_of(&last.label),
                members.len()
            ),
            [] => String::new(),
        })
        .collect();
    // The labels make a column; a line whose text does not fit beside its label has the
    // text on the lines below it, where it has the width.
    let lw = labels
        .iter()
        .map(|l| l.chars().count())
        .filter(|&n| 2 + n + 2 + 30 <= width)
        .max()
        .unwrap_or(0)
        .max("MIGRATION".len());
    let mut lines = Vec::new();
    if !groups.is_empty() {
        lines.push(fit(&format!("  {:lw$}  WHERE", "MIGRATION"), width));
    }
    for ((_, text, differs), label) in groups.iter().zip(&labels) {
        let mark = if *differs { "*" } else { " " };
        let beside = format!("{mark} {label:lw$}  {text}");
        let block = if label.chars().count() <= lw && beside.chars().count() <= width {
            vec![beside]
        } else {
            let mut block = vec![fit(&format!("{mark} {label}"), width)];
            block.extend(wrap(&" ".repeat(6), 6, text, width));
            block
        };
        lines.extend(block.into_iter().map(|l| {
            if *differs && color {
                style(l).yellow().force_styling(true).to_string()
            } else {
                l
            }
        }));
    }

    // The targets not read, one entry per reason.
    let mut reasons: Vec<(String, Vec<usize>)> = Vec::new();
    for (t, (id, end)) in ids.iter().zip(ends).enumerate() {
        if let Some(reason) = not_read(id, &end.result) {
            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, targets)) => targets.push(t),
                None => reasons.push((reason, vec![t])),
            }
        }
    }
    if !reasons.is_empty() {
        let unread = ids.len() - read.len();
        lines.push(String::new());
        lines.push(fit(
            &format!("Not read ({unread} of {} targets):", ids.len()),
            width,
        ));
        for (reason, targets) in &reasons {
            lines.extend(wrap("  ", 2, reason, width));
            lines.extend(wrap("    ", 4, &hosts.shorten(targets, width), width));
        }
    }

    lines.push(String::new());
    let disagreeing = rows.iter().filter(|r| disagree(r, &read)).count();
    lines.extend(wrap(
        "",
        0,
        &agreement(disagreeing, read.len(), adopt.len(), ids.len()),
        width,
    ));
    lines.extend(wrap(
        "",
        0,
        "The matrix of every migration on every target: `pgfleet status --matrix`.",
        width,
    ));
    lines.extend(wrap("", 0, &counts(ids, ends, rows.len(), code), width));
    lines
}

/// `20240101120000_users.sql` → `20240101120000`: a run of versions is named by its ends.
fn version_of(label: &str) -> &str {
    label.split_once('_').map_or(label, |(v, _)| v)
}

/// Where a version is applied, pending…: the largest group counted, the others named.
fn where_text(
    row: &VersionRow<'_>,
    read: &[usize],
    all: usize,
    hosts: &Hosts<'_>,
    width: usize,
) -> String {
    let mut kinds: Vec<(Kind, Vec<usize>)> = Vec::new();
    let mut absent = Vec::new();
    for &t in read {
        match row.states[t] {
            Some(state) => {
                let kind = Kind::of(state);
                match kinds.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, targets)) => targets.push(t),
                    None => kinds.push((kind, vec![t])),
                }
            }
            None => absent.push(t),
        }
    }
    kinds.sort_by_key(|(k, _)| *k);
    // The largest group first (the first kind on a tie), counted rather than named.
    let Some(main) = (0..kinds.len()).max_by_key(|&i| (kinds[i].1.len(), std::cmp::Reverse(i)))
    else {
        return format!(
            "not among the migrations of {}",
            hosts.shorten(&absent, width)
        );
    };
    let (kind, targets) = kinds.remove(main);
    let n = read.len();
    // With targets not read, the counts say they are of those read.
    let read_word = if n == all { "" } else { " read" };
    let mut parts = vec![if n == 1 {
        format!("{} on {}", kind.words(), hosts.ids[targets[0]])
    } else if targets.len() == n {
        format!("{} on all {n}{read_word}", kind.words())
    } else if n == all {
        format!("{} on {} of {n}", kind.words(), targets.len())
    } else {
        format!("{} on {} of the {n} read", kind.words(), targets.len())
    }];
    for (kind, targets) in &kinds {
        parts.push(format!(
            "{} on {}",
            kind.words(),
            hosts.shorten(targets, width)
        ));
    }
    if !absent.is_empty() {
        parts.push(format!(
            "not among the migrations of {}",
            hosts.shorten(&absent, width)
        ));
    }
    parts.join("; ")
}

/// The last line: how the targets stand, and the exit code.
fn counts(ids: &[String], ends: &[Finished<Output>], versions: usize, code: ExitCode) -> String {
    let (mut current, mut pending, mut changed, mut unread) = (0, 0, 0, 0);
    for end in ends {
        match &end.result {
            TargetResult::Done(Output::Status(list)) => {
                if list.iter().any(|r| r.state == State::Pending) {
                    pending += 1;
                } else if list
                    .iter()
                    .any(|r| matches!(r.state, State::Changed { .. } | State::NoFile))
                {
                    changed += 1;
                } else {
                    current += 1;
                }
            }
            TargetResult::Done(_) => current += 1,
            _ => unread += 1,
        }
    }
    let mut parts = Vec::new();
    for (n, what) in [
        (current, "up to date"),
        (pending, "with migrations pending"),
        (changed, "with changed files or versions with no file"),
        (unread, "not read"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "{} target{}: {}; {versions} migration{} · exit {}",
        ids.len(),
        plural(ids.len()),
        parts.join(", "),
        plural(versions),
        code as u8
    )
}

/// The targets' names by host (`host/database`), to shorten lists of them.
struct Hosts<'a> {
    ids: &'a [String],
    /// Each host, in inventory order, with its number of targets.
    totals: Vec<(&'a str, usize)>,
}

fn host_of(id: &str) -> &str {
    id.split_once('/').map_or(id, |(h, _)| h)
}

impl<'a> Hosts<'a> {
    fn new(ids: &'a [String]) -> Hosts<'a> {
        let mut totals: Vec<(&str, usize)> = Vec::new();
        for id in ids {
            let host = host_of(id);
            match totals.iter_mut().find(|(h, _)| *h == host) {
                Some((_, n)) => *n += 1,
                None => totals.push((host, 1)),
            }
        }
        Hosts { ids, totals }
    }

    /// `lab (12 of 14 databases), nas/app, gamma/app … and 40 more`: a host with more than
    /// two of the targets named once, and about a line of names at most.
    fn shorten(&self, targets: &[usize], width: usize) -> String {
        let mut items: Vec<(String, usize)> = Vec::new();
        for &(host, total) in &self.totals {
            let here: Vec<&str> = targets
                .iter()
                .map(|&t| self.ids[t].as_str())
                .filter(|id| host_of(id) == host)
                .collect();
            match here.len() {
                0 => {}
                1 | 2 => items.extend(here.iter().map(|id| (id.to_string(), 1))),
                k if k == total => items.push((format!("{host} (all {k} databases)"), k)),
                k => items.push((format!("{host} ({k} of {total} databases)"), k)),
            }
        }
        let budget = width.max(40);
        let mut shown = Vec::new();
        let mut length = 0;
        let mut named = 0;
        for (i, (text, n)) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            // Room is kept for "… and N more" unless this is the last item.
            let need = length + text.chars().count() + if last { 0 } else { 16 };
            if !shown.is_empty() && need > budget {
                break;
            }
            length += text.chars().count() + 2;
            named += n;
            shown.push(text.as_str());
        }
        let rest = targets.len() - named;
        if rest > 0 {
            format!("{} … and {rest} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    }
}

/// `text` after `first` (already as wide as `indent`), broken into lines of at most `width`
/// columns, at `, ` and `; ` where it can, else at spaces; what still does not fit is cut
/// with `…`. Continuation lines are indented by `indent`.
fn wrap(first: &str, indent: usize, text: &str, width: usize) -> Vec<String> {
    let width = width.max(indent + 10);
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut fresh = true;
    let len = |s: &str| s.chars().count();
    for piece in text.split_inclusive([',', ';']) {
        let piece = if fresh { piece.trim_start() } else { piece };
        if len(&line) + len(piece) <= width {
            line.push_str(piece);
            fresh = false;
            continue;
        }
        // On a line of its own, or word by word when even that is too narrow.
        if !fresh {
            lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
        }
        let piece = piece.trim_start();
        if indent + len(piece) <= width {
            line.push_str(piece);
            fresh = false;
            continue;
        }
        for word in piece.split(' ') {
            let sep = if len(&line) > indent { " " } else { "" };
            if len(&line) + sep.len() + len(word) > width && len(&line) > indent {
                lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
                line.push_str(&fit(word, width - indent));
            } else {
                line.push_str(sep);
                let room = width.saturating_sub(len(&line));
                line.push_str(&fit(word, room));
            }
        }
        fresh = false;
    }
    lines.push(line);
    lines.into_iter().map(|l| fit(&l, width)).collect()
}

/// `text` cut to `width` columns, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Error;
    use crate::plan::StatusRow;
    use crate::runner::fleet::Skipped;
    use crate::stop::StopReason;

    const NAMES: [&str; 10] = [
        "users",
        "orders",
        "order_items",
        "invoices",
        "payments",
        "refunds",
        "audit_log",
        "add_the_email_verified_at_column_to_users",
        "index_orders_by_customer_and_created_at",
        "backfill_the_invoice_totals_from_the_payments_table_for_every_customer_since_2019",
    ];

    fn file(i: usize) -> String {
        format!("2024010{i}120000_{}.sql", NAMES[i])
    }

    /// 128 targets: `lab` with 14 databases, `nas/app`, and 113 hosts with long names.
    fn fleet() -> Vec<String> {
        let mut ids: Vec<String> = (1..=14).map(|i| format!("lab/db{i:02}")).collect();
        ids.push("nas/app".into());
        ids.extend((1..=113).map(|i| format!("edge-site-{i:03}.region.example.com/app")));
        ids
    }

    /// Every target has versions 0..=6; version 7 is pending on two of lab's databases,
    /// version 8 on twelve of them and nas, version 9 on every edge site after the 40th.
    /// Two edge sites cannot be reached, one was skipped.
    fn results(ids: &[String]) -> Vec<Finished<Output>> {
        ids.iter()
            .map(|id| {
                let result = match id.as_str() {
                    "edge-site-005.region.example.com/app"
                    | "edge-site-006.region.example.com/app" => TargetResult::Failed(
                        Error::Config(format!("{id}: could not connect: connection refused")),
                    ),
                    "edge-site-113.region.example.com/app" => {
                        TargetResult::Skipped(Skipped::Stopped(StopReason::Interrupted))
                    }
                    _ => {
                        let pending = |v: usize| match v {
                            7 => ["lab/db03", "lab/db07"].contains(&id.as_str()),
                            8 => {
                                id == "nas/app"
                                    || (id.starts_with("lab/")
                                        && !["lab/db01", "lab/db02"].contains(&id.as_str()))
                            }
                            9 => id
                                .strip_prefix("edge-site-")
                                .is_some_and(|n| n[..3].parse::<usize>().unwrap() > 40),
                            _ => false,
                        };
                        TargetResult::Done(Output::Status(
                            (0..10)
                                .map(|v| StatusRow {
                                    version: format!("2024010{v}120000"),
                                    file: Some(file(v)),
                                    checksum: None,
                                    state: if pending(v) {
                                        State::Pending
                                    } else {
                                        State::Applied
                                    },
                                    used_by: Vec::new(),
                                })
                                .collect(),
                        ))
                    }
                };
                Finished {
                    took: Duration::from_millis(3),
                    result,
                }
            })
            .collect()
    }

    #[test]
    fn a_hundred_and_twenty_eight_targets_read_on_eighty_columns() {
        let ids = fleet();
        let ends = results(&ids);
        let lines = status_summary(&ids, &ends, ExitCode::Failed, false, 80);
        let text = lines.join("\n");
        for line in &lines {
            assert!(line.chars().count() <= 80, "{line:?} is too wide\n{text}");
        }
        let expected = "  MIGRATION                                       WHERE
  20240100120000 … 20240106120000 (7 migrations)  applied on all 125 read
* 20240107120000_add_the_email_verified_at_column_to_users.sql
      applied on 123 of the 125 read; pending on lab/db03, lab/db07
* 20240108120000_index_orders_by_customer_and_created_at.sql
      applied on 112 of the 125 read; pending on lab (12 of 14 databases),
      nas/app
* 20240109120000_backfill_the_invoice_totals_from_the_payments_table_for_every_…
      pending on 72 of the 125 read; applied on lab (all 14 databases),
      nas/app … and 38 more

Not read (3 of 128 targets):
  unreachable: could not connect: connection refused
    edge-site-005.region.example.com/app, edge-site-006.region.example.com/app
  skipped: interrupted
    edge-site-113.region.example.com/app

* the 125 targets that could be read disagree on 3 versions;
the state of 3 others is unknown (3 could not be read).
The matrix of every migration on every target: `pgfleet status --matrix`.
128 targets: 40 up to date, 85 with migrations pending, 3 not read;
10 migrations · exit 2";
        assert_eq!(text, expected);
    }
}
