//! The text on stdout at the end of each command: the tables, matrix and footers of a
//! fleet, dbmate's listings for one database, the dry run, the inventory. Which command
//! prints what is decided here, in one `match` on the verb.

use std::path::PathBuf;

use super::{
    Renderer, Run, Stream, adopt, check, dbmate, discover, dry_run, inventory, query,
    status_summary, tables,
};
use crate::error::ExitCode;
use crate::runner::fleet::{Finished, TargetResult};
use crate::runner::{Output, RunEvent};
use crate::schema::{Difference, Expected};
use crate::settings::{DryRun, Verb};

pub(super) struct Summary {
    out: Stream,
    /// stdout is a terminal: the tables may be coloured.
    terminal: bool,
    /// Columns a line may take: a `status` matrix wider than this gives way to a summary.
    width: usize,
    /// `status --matrix`: the matrix however wide.
    matrix: bool,
}

impl Summary {
    pub(super) fn new(out: Stream, terminal: bool, width: usize, matrix: bool) -> Summary {
        Summary {
            out,
            terminal,
            width,
            matrix,
        }
    }

    /// The run is over: each command's own summary.
    fn finished(
        &self,
        run: &Run,
        ends: &[Finished<Output>],
        code: ExitCode,
        drafts: &[(PathBuf, Vec<String>)],
        between: Option<&[Difference]>,
    ) -> Vec<String> {
        let color = self.terminal && console::colors_enabled();
        let (ids, single) = (&run.ids[..], run.single);
        let first_rows = match ends.first().map(|e| &e.result) {
            Some(TargetResult::Done(Output::Status(rows))) => Some(rows),
            _ => None,
        };
        // A fleet ends with a footer saying which targets did not finish; one database has
        // its error on stderr instead.
        let footer = |mut lines: Vec<String>| {
            if !single {
                lines.extend(tables::failed_footer(ids, ends, code));
            }
            lines
        };
        match run.verb {
            Verb::Up | Verb::Rollback => {
                let mut lines = if single {
                    Vec::new()
                } else {
                    tables::run_table(run.verb, ids, ends, &run.records, code, color)
                };
                // By name, since the error itself only knows the migration in flight.
                for ((id, end), record) in ids.iter().zip(ends).zip(&run.records) {
                    let (_, unknown) = record.unconfirmed(&end.result);
                    if !unknown.is_empty() {
                        let files: Vec<&str> = unknown.iter().map(|f| f.as_str()).collect();
                        lines.push(format!(
                            "Unknown on {id} (sent, not confirmed: each may have committed; `pgfleet status` tells): {}",
                            files.join(", ")
                        ));
                    }
                }
                lines
            }
            Verb::Status if single => first_rows.map_or_else(Vec::new, |r| dbmate::status_lines(r)),
            Verb::Status => {
                let matrix = tables::status_matrix(ids, ends, code, color);
                // The header row is as wide as the grid.
                let wide = matrix.first().map_or(0, |h| h.chars().count()) > self.width;
                if wide && !self.matrix {
                    status_summary::status_summary(ids, ends, code, color, self.width)
                } else {
                    matrix
                }
            }
            Verb::Verify | Verb::RecordChecksums if single => {
                first_rows.map_or_else(Vec::new, |r| tables::verify_lines(r))
            }
            Verb::Verify | Verb::RecordChecksums => tables::verify_blocks(ids, ends, code),
            Verb::Plan => {
                let mode = run.dry_run.unwrap_or(DryRun::Full);
                let mut lines = Vec::new();
                for ((id, end), record) in ids.iter().zip(ends).zip(&run.records) {
                    if let TargetResult::Done(Output::Plan(plan)) = &end.result {
                        lines.extend(dry_run::plan_lines(id, plan, mode, &record.not_rehearsable));
                    }
                }
                if !single {
                    lines.extend(dry_run::plan_footer(ids, ends, mode, code));
                }
                lines
            }
            Verb::Dump => footer(
                ends.iter()
                    .filter_map(|end| match &end.result {
                        TargetResult::Done(Output::Dump(path)) => {
                            Some(format!("Writing: {}", path.display()))
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            Verb::Baseline | Verb::Register => {
                // `register` compares with what the applied migrations and its one make.
                let expected = match run.verb {
                    Verb::Register => Expected::Migrations,
                    _ => Expected::Baseline,
                };
                let mut lines = Vec::new();
                for (id, end) in ids.iter().zip(ends) {
                    if let TargetResult::Done(Output::Adopted(a)) = &end.result {
                        lines.extend(adopt::adoption_lines(id, a, expected));
                    }
                }
                footer(lines)
            }
            Verb::Drift => {
                let mut lines = Vec::new();
                for (id, end) in ids.iter().zip(ends) {
                    if let TargetResult::Done(Output::Drift(d)) = &end.result {
                        lines.extend(adopt::drift_lines(id, d, !single));
                    }
                }
                if !single {
                    lines.extend(adopt::builds_line(ends));
                }
                lines.extend(adopt::written_lines(drafts, single));
                let drift_found = ends.iter().any(|e| {
                    matches!(&e.result, TargetResult::Done(Output::Drift(d)) if !d.differences.is_empty())
                });
                if drift_found && drafts.is_empty() {
                    // Adopting what was done, and the way that keeps the record next time.
                    lines.push(
                        "Adopt these changes with `pgfleet drift --write-migration` (then `register` where they are); next time, make the change with `pgfleet change \"ALTER …\"`: it writes the migration and applies it in one step".into(),
                    );
                }
                if !single {
                    let drifted = ends
                        .iter()
                        .filter(|e| {
                            matches!(&e.result, TargetResult::Done(Output::Drift(d)) if !d.differences.is_empty())
                        })
                        .count();
                    let mut footer = tables::failed_footer(ids, ends, code);
                    if let Some(last) = footer.last_mut() {
                        *last = format!("Drift on {drifted} of {last}");
                    }
                    lines.extend(footer);
                }
                lines
            }
            // `drift --between a b`: how b differs from a; failures as for any run.
            Verb::Between => match between {
                Some(d) => adopt::between_lines(&ids[0], &ids[1], d),
                None => tables::failed_footer(ids, ends, code),
            },
            Verb::Query => query::text(ids, ends, single, code),
            // `discover` says what it found with its own event.
            Verb::New
            | Verb::Wait
            | Verb::Inventory
            | Verb::Check
            | Verb::Change
            | Verb::Discover => Vec::new(),
        }
    }
}

impl Renderer for Summary {
    fn event(&mut self, run: Option<&Run>, event: &RunEvent<'_>) {
        let lines = match event {
            RunEvent::Finished {
                ends,
                code,
                drafts,
                between,
            } => match run {
                Some(run) => self.finished(run, ends, *code, drafts, *between),
                None => return,
            },
            RunEvent::Created { path } => vec![format!("Creating migration: {}", path.display())],
            RunEvent::Waiting { url } => vec![format!("Waiting for {url}")],
            RunEvent::Inventory { targets, inventory } => inventory::listing(targets, inventory),
            RunEvent::ChangeWritten {
                path,
                drafted,
                lossy,
            } => {
                let mut lines = vec![format!(
                    "Writing migration: {} (down section {})",
                    path.display(),
                    if *drafted {
                        "drafted from a scratch database built from the migrations: review it"
                    } else {
                        "as given"
                    }
                )];
                lines.extend(lossy.iter().map(|l| format!("  not a full reverse: {l}")));
                lines
            }
            RunEvent::Asking { .. } => return,
            RunEvent::ChangeDone { path, applied } => {
                let shown = path.display();
                if *applied {
                    vec![
                        format!("Applied {shown}. Commit it with the change that needs it:"),
                        format!(
                            "  git add {shown} && git commit -m \"{}\"",
                            path.file_stem()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        ),
                    ]
                } else {
                    vec![format!(
                        "Not applied. {shown} is written: `pgfleet up` applies it; delete it to drop the change"
                    )]
                }
            }
            RunEvent::Discovered {
                ends,
                inventory,
                write,
                found,
                ..
            } => match run {
                Some(run) => discover::text(&run.ids, ends, inventory, *write, *found),
                None => return,
            },
            RunEvent::Checked { checked, deny, .. } => {
                check::text(checked, *deny, self.terminal && console::colors_enabled())
            }
            RunEvent::Target { .. }
            | RunEvent::TargetFinished { .. }
            | RunEvent::Interrupted
            | RunEvent::Aborting => return,
        };
        self.out.lines(lines);
    }
}
