//! What `plan` and `up --dry-run` print: per target, what would run, its SQL (or its first
//! lines), the locks it takes and its header directives, then on a fleet a line of totals.

use super::{format_duration, plural, tables::failed_footer};
use crate::error::ExitCode;
use crate::migration::locks::Lock;
use crate::runner::fleet::{Finished, TargetResult};
use crate::runner::{Output, Plan, RehearsedStatement};
use crate::settings::DryRun;

/// One target's plan and the SQL that would run.
pub(super) fn plan_lines(
    target: &str,
    plan: &Plan,
    mode: DryRun,
    not_rehearsable: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    let what = match mode {
        DryRun::Rehearse => "Rehearsal",
        _ => "Dry run",
    };
    let promise = match mode {
        DryRun::Rehearse => {
            "the pending migrations ran in one transaction that was rolled back: nothing was kept, nothing recorded, and no run lock was taken."
        }
        _ => "nothing is written and no lock is taken.",
    };
    out.push(format!("{what} on {target}: {promise}"));
    if plan.creates_database {
        out.push("The database does not exist: `up` would create it.".to_string());
    }
    for m in &plan.pending {
        let how = if m.up_transactional() {
            "in one transaction"
        } else {
            "statement by statement, outside a transaction"
        };
        let verb = if mode == DryRun::Rehearse && not_rehearsable.contains(&m.file_name) {
            "Not rehearsable (transaction:false, cannot run inside the rehearsal's transaction)"
        } else if mode == DryRun::Rehearse {
            "Rehearsed"
        } else {
            "Would apply"
        };
        out.push(format!("{verb}: {} ({how})", m.file_name));
        let lines: Vec<&str> =
            m.up.iter()
                .flat_map(|section| section.sql.trim_end().lines())
                // A preview is the SQL itself: no blank lines, no `-- migrate:` markers.
                .filter(|l| {
                    mode == DryRun::Full || !(l.trim().is_empty() || l.starts_with("-- migrate:"))
                })
                .collect();
        let shown = match mode {
            DryRun::Full => lines.len(),
            _ => lines.len().min(3),
        };
        for line in &lines[..shown] {
            out.push(format!("    {line}"));
        }
        if shown < lines.len() {
            out.push(format!("    … ({} more lines)", lines.len() - shown));
        }
        for (statement, locks) in crate::migration::locks::migration_locks(m) {
            let name = |r: &str| {
                plan.relations
                    .get(r)
                    .cloned()
                    .unwrap_or_else(|| r.to_string())
            };
            out.push(format!("    locks: {statement} → {}", locks.describe(name)));
        }
        let rehearsed = plan.rehearsed.iter().flat_map(|r| &r.statements);
        for statement in rehearsed.filter(|s| s.file == m.file_name) {
            out.push(format!("    measured: {}", measured(statement)));
        }
        for declared in &m.directives {
            out.push(format!("    {}", declared.directive.describe()));
        }
        out.extend(in_use(plan, m));
    }
    out.extend(connected(plan));
    out.push(
        match (
            plan.pending.len(),
            mode,
            plan.rehearsed.as_ref().map(|r| r.took),
        ) {
            (0, _, _) => "Nothing to apply: the database is up to date.".to_string(),
            (n, DryRun::Rehearse, Some(took)) => format!(
                "Rehearsed {} of {n} pending migration{} in {}; rolled back, nothing kept.",
                n - not_rehearsable.len(),
                plural(n),
                format_duration(took)
            ),
            (n, _, _) => format!("Would apply {n} migration{}.", plural(n)),
        },
    );
    out
}

/// `L12 alter table email_messages … — ACCESS EXCLUSIVE on public.email_messages: 1.8s,
/// held 2.1s until commit`, and where the locks exceed what was predicted.
pub(super) fn measured(s: &RehearsedStatement) -> String {
    let describe = |locks: &mut dyn Iterator<Item = &Lock>| {
        locks
            .map(|l| format!("{} on {}", l.mode.name(), l.relation))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let locks = if s.locks.is_empty() {
        "no new table lock".to_string()
    } else {
        describe(&mut s.locks.iter())
    };
    let mut text = format!(
        "L{} {} — {locks}: {}, held {} until commit",
        s.line,
        s.summary,
        format_duration(s.took),
        format_duration(s.held)
    );
    if !s.stronger_than_predicted.is_empty() {
        let predicted: Vec<Lock> = s
            .stronger_than_predicted
            .iter()
            .map(|(l, mode)| Lock {
                relation: l.relation.clone(),
                mode: *mode,
            })
            .collect();
        text.push_str(&format!(
            "; measured stronger than predicted (predicted: {})",
            describe(&mut predicted.iter())
        ));
    }
    text
}

/// Who holds or waits for a lock on what `m` touches, now: one line each, saying whether
/// the migration would have to wait for it.
fn in_use(plan: &Plan, m: &crate::migration::Migration) -> Vec<String> {
    let wanted = crate::migration::locks::strongest_locks(m);
    plan.sessions
        .iter()
        .filter_map(|a| {
            let held: Vec<String> = a
                .locks
                .iter()
                .filter(|l| wanted.iter().any(|w| w.relation == l.relation))
                .map(|l| {
                    let relation = plan.relations.get(&l.relation).unwrap_or(&l.relation);
                    let how = if l.granted { "holds" } else { "waits for" };
                    format!("{how} {} on {relation}", l.mode.name())
                })
                .collect();
            if held.is_empty() {
                return None;
            }
            let verdict = if a.conflicts_with(&wanted).next().is_some() {
                "conflicts: the migration would wait for it"
            } else {
                "no conflict"
            };
            Some(format!(
                "    in use now: {a}, {}; {verdict}",
                held.join(", ")
            ))
        })
        .collect()
}

/// The other sessions on the database, by container, with the long transactions marked.
fn connected(plan: &Plan) -> Vec<String> {
    const SHOWN: usize = 10;
    if plan.sessions.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "Connected now: {} other session{}:",
        plan.sessions.len(),
        plural(plan.sessions.len())
    )];
    for a in plan.sessions.iter().take(SHOWN) {
        let long = if a.older_than(plan.long_transaction_secs) {
            " — a long transaction: a lock request on a table it touches would queue behind it"
        } else {
            ""
        };
        out.push(format!("    {a}{long}"));
    }
    if plan.sessions.len() > SHOWN {
        out.push(format!("    … and {} more", plan.sessions.len() - SHOWN));
    }
    out
}

/// The end of `up --dry-run` on a fleet.
pub(super) fn plan_footer(
    ids: &[String],
    ends: &[Finished<Output>],
    mode: DryRun,
    code: ExitCode,
) -> Vec<String> {
    let mut lines = Vec::new();
    let pending: usize = ends
        .iter()
        .map(|e| match &e.result {
            TargetResult::Done(Output::Plan(p)) => p.pending.len(),
            _ => 0,
        })
        .sum();
    let with: usize = ends
        .iter()
        .filter(
            |e| matches!(&e.result, TargetResult::Done(Output::Plan(p)) if !p.pending.is_empty()),
        )
        .count();
    lines.push(String::new());
    let what = if mode == DryRun::Rehearse {
        "rehearsed"
    } else {
        "would apply"
    };
    lines.push(format!(
        "{with} of {} target{} {what} {pending} migration{} in all; nothing was kept.",
        ids.len(),
        plural(ids.len()),
        plural(pending)
    ));
    let mut footer = failed_footer(ids, ends, code);
    footer.remove(0);
    lines.extend(footer);
    lines
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::migration::locks::LockMode;

    #[test]
    fn a_measured_statement_names_its_locks_times_and_what_exceeds_the_prediction() {
        let lock = |relation: &str, mode| Lock {
            relation: relation.into(),
            mode,
        };
        let mut s = RehearsedStatement {
            file: "001_x.sql".into(),
            line: 12,
            summary: "alter table email_messages …".into(),
            took: Duration::from_millis(1800),
            held: Duration::from_millis(2100),
            locks: vec![lock("public.email_messages", LockMode::AccessExclusive)],
            stronger_than_predicted: Vec::new(),
        };
        assert_eq!(
            measured(&s),
            "L12 alter table email_messages … — ACCESS EXCLUSIVE on public.email_messages: 1.8s, held 2.1s until commit"
        );
        s.stronger_than_predicted = vec![(s.locks[0].clone(), LockMode::Share)];
        assert!(
            measured(&s).ends_with(
                "until commit; measured stronger than predicted (predicted: SHARE on public.email_messages)"
            ),
            "{}",
            measured(&s)
        );
        s.locks.clear();
        assert!(measured(&s).contains(" — no new table lock: 1.8s"));
    }
}
