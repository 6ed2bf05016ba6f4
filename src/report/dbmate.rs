//! One database named by `--url`: the lines dbmate prints as it works (`Applying: …`), on
//! stdout, and its error after the summary, on stderr; `status`'s `[X]` listing.

use super::{Renderer, Run, Stream, error_line, format_duration, used_by_note};
use crate::plan::{State, StatusRow};
use crate::runner::fleet::{Finished, TargetResult};
use crate::runner::{Event, RunEvent};

pub(super) struct Dbmate {
    /// stdout, or nowhere with `--quiet`.
    out: Stream,
    err: Stream,
    verbose: bool,
}

impl Dbmate {
    pub(super) fn new(out: Stream, err: Stream, verbose: bool) -> Dbmate {
        Dbmate { out, err, verbose }
    }

    fn line(&self, event: &Event<'_>) {
        match event {
            Event::CreatingDatabase { name } => self.out.line(&format!("Creating: {name}")),
            Event::WaitingForLock { target, holder } => self.err.line(&format!(
                "Waiting: the migration lock on {target} is {holder}; waiting up to --lock-wait"
            )),
            Event::Applying { migration, .. } => {
                self.out.line(&format!("Applying: {}", migration.file_name))
            }
            Event::Applied { migration, took } => self.out.line(&format!(
                "Applied: {} in {}",
                migration.file_name,
                format_duration(*took)
            )),
            Event::RollingBack { migration, .. } => self
                .out
                .line(&format!("Rolling back: {}", migration.file_name)),
            Event::RolledBack { migration, took } => self.out.line(&format!(
                "Rolled back: {} in {}",
                migration.file_name,
                format_duration(*took)
            )),
            Event::ChecksumRecorded { file } => {
                self.out.line(&format!("Recorded checksum: {file}"))
            }
            Event::Connected { via } if self.verbose => self.err.line(&format!("Connected: {via}")),
            Event::LockRetry {
                migration,
                attempt,
                retries,
                wait,
                holders,
            } => self.err.line(&format!(
                "Retrying: {}",
                super::retry_text(migration, *attempt, *retries, *wait, holders)
            )),
            Event::QuietWait {
                migration,
                check,
                why,
                waited,
                limit,
            } => self.err.line(&format!(
                "Waiting: {}",
                super::quiet_text(migration, check, why, *waited, *limit)
            )),
            Event::Workload {
                action,
                container,
                detail,
            } => self.err.line(&format!(
                "Workload: {}",
                super::workload_text(action, container, detail)
            )),
            Event::Warning { text } => self.err.line(&format!("Warning: {text}")),
            Event::CheckWarnings { findings, .. } => {
                for f in *findings {
                    self.err
                        .line(&format!("Warning: {}", super::check::one_line(f)));
                }
            }
            Event::DirectiveHeld { migration, what } if self.verbose => {
                self.err.line(&format!("Directive: {migration}: {what}"))
            }
            Event::Step { what } if self.verbose => self.err.line(&format!("{what}…")),
            Event::Connecting
            | Event::Connected { .. }
            | Event::Planned { .. }
            | Event::Rehearsing { .. }
            | Event::Rehearsed { .. }
            | Event::StatementRehearsed { .. }
            | Event::NotRehearsable { .. }
            | Event::DirectiveHeld { .. }
            | Event::Step { .. } => {}
        }
    }
}

impl Renderer for Dbmate {
    fn event(&mut self, _run: Option<&Run>, event: &RunEvent<'_>) {
        match event {
            RunEvent::Target { event, .. } => self.line(event),
            RunEvent::Finished { ends, .. } => {
                if let Some(Finished {
                    result: TargetResult::Failed(e),
                    ..
                }) = ends.first()
                {
                    self.err.line(&error_line(e));
                }
            }
            _ => {}
        }
    }
}

/// `status` for one database: dbmate's `[X]` / `[ ]` lines, with what dbmate cannot tell
/// beside them.
pub(super) fn status_lines(rows: &[StatusRow]) -> Vec<String> {
    let mut lines = Vec::new();
    for e in rows {
        let mark = if e.is_applied() { "[X]" } else { "[ ]" };
        let note = match &e.state {
            State::Pending | State::Applied => "",
            State::Unverified => "  (unverified: applied without a checksum)",
            State::Changed { .. } => "  (changed since applied)",
            State::NoFile => "  (applied in the database, no file)",
            State::BelowBaseline => "  (below the baseline: history, not run here)",
        };
        lines.push(format!(
            "{mark} {}{note}{}",
            e.name(),
            used_by_note(&e.used_by)
        ));
    }
    let count = |f: &dyn Fn(&State) -> bool| rows.iter().filter(|e| f(&e.state)).count();
    lines.push(String::new());
    lines.push(format!(
        "Applied: {}",
        count(&|s| !matches!(s, State::Pending | State::BelowBaseline))
    ));
    lines.push(format!("Pending: {}", count(&|s| *s == State::Pending)));
    for (label, n) in [
        ("Changed", count(&|s| matches!(s, State::Changed { .. }))),
        ("Unverified", count(&|s| *s == State::Unverified)),
        ("No file", count(&|s| *s == State::NoFile)),
        ("Below the baseline", count(&|s| *s == State::BelowBaseline)),
    ] {
        if n > 0 {
            lines.push(format!("{label}: {n}"));
        }
    }
    lines
}
