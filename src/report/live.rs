//! Progress while a fleet runs, on stderr: indicatif bars on a terminal, timestamped
//! one-line events anywhere else (CI logs, cron mail, pipes), nothing with `--quiet`.
//! Only the targets running have a bar; a finished target leaves one line above the bars,
//! so a fleet of a hundred hosts fits any terminal. Errors and Ctrl-C notices go to stderr
//! here too, above the bars, so they do not tear them.

use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Renderer, Run, Stream, done_word, error_line, format_duration, plural};
use crate::error::Error;
use crate::runner::{Event, Output, RunEvent, RunStart};
use crate::settings::{self, Format, Verb};

const INTERRUPTED: &str = "Interrupted: starting nothing new; running migrations finish or roll back (Ctrl-C again to abort at once)";
const ABORTED: &str = "Aborted: a migration already sent finishes or rolls back on the server by itself, as one transaction with its tracking row, so each database is before or after it, never in between; run `pgfleet status` to see where each target stands";

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Bars,
    Lines,
    Off,
}

impl Mode {
    /// Bars on a terminal that draws (`terminal`), lines elsewhere, for a fleet in text.
    pub(super) fn choose(
        settings: &settings::Output,
        start: Option<&RunStart<'_>>,
        terminal: bool,
    ) -> Mode {
        let Some(start) = start else {
            return Mode::Off;
        };
        if start.single || settings.quiet || settings.format != Format::Text {
            Mode::Off
        } else if terminal {
            Mode::Bars
        } else if settings.verbose
            || matches!(
                start.verb,
                Verb::Up | Verb::Rollback | Verb::RecordChecksums | Verb::Baseline | Verb::Register
            )
        {
            // Logs of commands that change databases say each step; a read-only command's
            // log has its result on stdout and only its errors on stderr.
            Mode::Lines
        } else {
            Mode::Off
        }
    }
}

pub(super) struct Live {
    mode: Mode,
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    bars: Vec<Option<ProgressBar>>,
    ids: Vec<String>,
    width: usize,
    err: Stream,
    verbose: bool,
    /// Each target's failure is told as it ends (a fleet in text; one database has its
    /// error after its summary).
    failures: bool,
    /// Files whose `check` warnings were told: once per file, however many targets.
    warned: std::collections::HashSet<String>,
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix} {wide_msg} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.cyan} {prefix} [{bar:20.cyan/blue}] {pos}/{len} {wide_msg} {elapsed:>4}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl Live {
    /// Bars draw on the process's stderr (indicatif needs the terminal itself); `Bars` is
    /// only chosen when that is the stream given as `err`.
    pub(super) fn new(
        mode: Mode,
        ids: &[String],
        err: Stream,
        verbose: bool,
        failures: bool,
    ) -> Live {
        let width = ids.iter().map(|i| i.chars().count()).max().unwrap_or(0);
        let multi = MultiProgress::with_draw_target(if mode == Mode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let overall = (mode == Mode::Bars && ids.len() > 1).then(|| {
            let bar = multi.add(ProgressBar::new(ids.len() as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {prefix} [{bar:20.green/white}] {pos}/{len} targets {elapsed:>4}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{:width$}", "fleet"));
            // Otherwise redrawn only when a target ends: its elapsed time stood still, at 0s
            // until the first one did.
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        Live {
            mode,
            multi,
            overall,
            bars: vec![None; ids.len()],
            ids: ids.to_vec(),
            width,
            err,
            verbose,
            failures,
            warned: Default::default(),
        }
    }

    fn bar(&mut self, target: usize) -> Option<ProgressBar> {
        if self.mode != Mode::Bars {
            return None;
        }
        let slot = self.bars.get_mut(target)?;
        Some(
            slot.get_or_insert_with(|| {
                let bar = match &self.overall {
                    Some(overall) => self
                        .multi
                        .insert_before(overall, ProgressBar::new_spinner()),
                    None => self.multi.add(ProgressBar::new_spinner()),
                };
                bar.set_style(spinner_style());
                bar.set_prefix(format!("{:w$}", self.ids[target], w = self.width));
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone(),
        )
    }

    /// A step of a target: a bar's message, or a timestamped line.
    fn step(&mut self, target: usize, text: &str) {
        match self.mode {
            Mode::Bars => {
                if let Some(bar) = self.bar(target) {
                    bar.set_message(crate::transport::redact(text));
                }
            }
            Mode::Lines => self.line(target, text),
            Mode::Off => {}
        }
    }

    /// A step worth keeping on screen (`--verbose`, lock waits): above the bars, or a line.
    fn note(&mut self, target: usize, text: &str) {
        match self.mode {
            Mode::Bars => self.println(&format!("  {}  {text}", self.ids[target])),
            Mode::Lines => self.line(target, text),
            Mode::Off => {}
        }
    }

    fn planned(&mut self, target: usize, total: usize) {
        if let Some(bar) = self.bar(target) {
            bar.set_style(bar_style());
            bar.set_length(total as u64);
            bar.set_position(0);
        }
    }

    fn advance(&mut self, target: usize, position: usize) {
        if let Some(bar) = self.bar(target) {
            bar.set_position(position as u64);
        }
    }

    /// The target's end: its bar gives way to one line.
    fn finish(&mut self, target: usize, ok: Option<bool>, text: &str) {
        let mark = match ok {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "=",
        };
        match self.mode {
            Mode::Bars => {
                if let Some(bar) = self.bars.get_mut(target).and_then(Option::take) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let mark = match ok {
                    Some(true) => style(mark).green().to_string(),
                    Some(false) => style(mark).red().to_string(),
                    None => style(mark).dim().to_string(),
                };
                let id = format!("{:w$}", self.ids[target], w = self.width);
                self.println(&format!("{mark} {id}  {text}"));
                if let Some(overall) = &self.overall {
                    overall.inc(1);
                }
            }
            Mode::Lines => self.line(target, &format!("{mark} {text}")),
            Mode::Off => {}
        }
    }

    /// A line for the whole run (interrupts).
    fn run_line(&self, text: &str) {
        match self.mode {
            Mode::Bars => self.println(text),
            Mode::Lines => self.err.line(&format!("{} {text}", timestamp())),
            Mode::Off => self.err.line(text),
        }
    }

    /// Any stderr text while bars may be drawn (errors), so it does not tear them.
    fn println(&self, text: &str) {
        if self.mode == Mode::Bars {
            let _ = self.multi.println(crate::transport::redact(text));
        } else {
            self.err.line(text);
        }
    }

    /// Clears the bars before the summary is printed.
    fn end(&mut self) {
        if let Some(overall) = &self.overall {
            overall.finish_and_clear();
        }
        for bar in self.bars.iter_mut().filter_map(Option::take) {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn line(&self, target: usize, text: &str) {
        self.err.line(&format!(
            "{} {:w$}  {text}",
            timestamp(),
            self.ids[target],
            w = self.width
        ));
    }

    /// What a target is doing.
    fn progress(&mut self, run: &Run, target: usize, event: &Event<'_>) {
        match event {
            Event::Connecting => self.step(target, "connecting"),
            Event::Connected { via } => {
                if self.verbose {
                    self.note(target, &format!("connected: {via}"));
                } else {
                    self.step(target, "connected");
                }
            }
            Event::CreatingDatabase { name } => {
                self.note(target, &format!("creating database {name}"))
            }
            Event::WaitingForLock { holder, .. } => self.note(
                target,
                &format!("waiting for the migration lock, {holder} (up to --lock-wait)"),
            ),
            Event::Planned { files } => {
                self.planned(target, files.len());
                if self.mode == Mode::Lines || self.verbose {
                    let text = match (files.len(), run.verb) {
                        (0, Verb::Plan) => "nothing to rehearse".to_string(),
                        (0, _) => "up to date".to_string(),
                        (n, Verb::Rollback) => format!("{n} to roll back"),
                        (n, Verb::Plan) => format!("{n} to rehearse"),
                        (n, _) => format!("{n} pending"),
                    };
                    self.step(target, &text);
                }
            }
            Event::Applying {
                migration,
                index,
                total,
            }
            | Event::RollingBack {
                migration,
                index,
                total,
            } => {
                let verb = if matches!(event, Event::Applying { .. }) {
                    "applying"
                } else {
                    "rolling back"
                };
                self.advance(target, *index);
                let text = format!("{verb} {}", migration.file_name);
                // A bar has the count beside it; a line says it.
                if self.mode == Mode::Bars {
                    self.step(target, &text);
                } else {
                    self.step(target, &format!("{text} ({index}/{total})"));
                }
            }
            Event::Applied { migration, took } | Event::RolledBack { migration, took } => {
                // Files run in the planned order: the count done is the file's ordinal.
                let done = run.records.get(target).map_or(0, |r| r.done.len());
                self.advance(target, done);
                let verb = if matches!(event, Event::Applied { .. }) {
                    "applied"
                } else {
                    "rolled back"
                };
                let text = format!("{verb} {} in {}", migration.file_name, format_duration(*took));
                // Kept above the bars with --verbose; a line says it once.
                if self.verbose && self.mode == Mode::Bars {
                    self.note(target, &text);
                }
                self.step(target, &text);
            }
            Event::ChecksumRecorded { file } => {
                let done = run.records.get(target).map_or(0, |r| r.done.len());
                self.advance(target, done);
                self.step(target, &format!("recorded the checksum of {file}"))
            }
            Event::Rehearsing { files } => self.step(
                target,
                &format!(
                    "rehearsing {} migration{} in one transaction",
                    files.len(),
                    plural(files.len())
                ),
            ),
            Event::Rehearsed { files, took } => {
                self.advance(target, files.len());
                self.step(
                    target,
                    &format!(
                        "rehearsed {} in {}; rolled back, nothing kept",
                        files.len(),
                        format_duration(*took)
                    ),
                );
            }
            Event::StatementRehearsed {
                migration,
                statement,
            } => self.step(
                target,
                &format!(
                    "rehearsed {} {}",
                    migration.file_name,
                    super::dry_run::measured(statement)
                ),
            ),
            Event::NotRehearsable { migration } => self.note(
                target,
                &format!(
                    "not rehearsable: {} (transaction:false cannot run inside the rehearsal's transaction)",
                    migration.file_name
                ),
            ),
            Event::Step { what } => self.step(target, what),
            Event::QuietWait {
                migration,
                check,
                why,
                waited,
                limit,
            } => self.step(
                target,
                &super::quiet_text(migration, check, why, *waited, *limit),
            ),
            Event::Workload {
                action,
                container,
                detail,
            } => self.note(target, &super::workload_text(action, container, detail)),
            Event::DirectiveHeld { migration, what } => {
                self.note(target, &format!("{migration}: {what}"))
            }
            Event::Warning { text } => self.note(target, &format!("warning: {text}")),
            Event::CheckWarnings { file, findings } => {
                if self.warned.insert(file.to_string()) {
                    for f in *findings {
                        self.note(target, &super::check::one_line(f));
                    }
                }
            }
            Event::LockRetry {
                migration,
                attempt,
                retries,
                wait,
                holders,
            } => self.note(
                target,
                &super::retry_text(migration, *attempt, *retries, *wait, holders),
            ),
        }
    }

    /// A target's run ended: its bar gives way to a line, a failure is told in full.
    fn target_done(
        &mut self,
        run: &Run,
        target: usize,
        result: &Result<Output, Error>,
        took: Duration,
    ) {
        let done = run.records.get(target).map_or(0, |r| r.done.len());
        let changes = matches!(run.verb, Verb::Up | Verb::Rollback | Verb::RecordChecksums);
        match result {
            Ok(_) => {
                let text = if !changes {
                    format!("done in {}", format_duration(took))
                } else if done == 0 {
                    format!("up to date ({})", format_duration(took))
                } else {
                    counted(done, done_word(run.verb), took)
                };
                let nothing = done == 0 && changes;
                self.finish(target, if nothing { None } else { Some(true) }, &text);
            }
            Err(e) => {
                let mut text = super::tables::short_error(e, &run.ids[target]);
                // What did not run, `?` where no plan was read (a target not reached).
                if let Some(record) = run.records.get(target).filter(|_| changes) {
                    let left = if run.verb == Verb::Rollback {
                        "left"
                    } else {
                        "pending"
                    };
                    text = format!(
                        "{done} {}, {} {left}: {text}",
                        done_word(run.verb),
                        record.left(false)
                    );
                }
                self.finish(target, Some(false), &text);
                self.println(&error_line(e));
            }
        }
    }
}

impl Renderer for Live {
    fn event(&mut self, run: Option<&Run>, event: &RunEvent<'_>) {
        match (event, run) {
            (RunEvent::Target { target, event }, Some(run)) => self.progress(run, *target, event),
            (
                RunEvent::TargetFinished {
                    target,
                    result,
                    took,
                },
                Some(run),
            ) if self.failures => self.target_done(run, *target, result, *took),
            (RunEvent::Interrupted, _) => self.run_line(INTERRUPTED),
            (RunEvent::Aborting, _) => {
                self.run_line(ABORTED);
                self.end();
            }
            (RunEvent::Finished { .. }, _) => self.end(),
            // The question comes after the plan's summary, on stderr like the bars.
            (RunEvent::Asking { path, targets }, _) => self.err.line(&format!(
                "Apply {} to {targets} target{}, as `up` does? [y/N]",
                path.display(),
                if *targets == 1 { "" } else { "s" }
            )),
            _ => {}
        }
    }

    fn fatal(&mut self, _verb: Option<Verb>, error: &Error) {
        self.end();
        self.println(&error_line(error));
    }
}

pub(super) fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// "4 applied in 1.2s"-style phrases.
fn counted(n: usize, what: &str, took: Duration) -> String {
    format!("{n} {what} in {}", format_duration(took))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::migration::Migration;

    fn migration(file_name: &str) -> Migration {
        let text = "-- migrate:up\nselect 1;\n-- migrate:down\n";
        crate::migration::parse(Path::new(file_name), text.as_bytes()).unwrap()
    }

    /// The events reach the run's records first, then the bars, as `Report` hands them.
    fn send(live: &mut Live, run: &mut Run, target: usize, event: Event<'_>) {
        run.record(target, &event);
        live.progress(run, target, &event);
    }

    #[test]
    fn a_bars_count_is_the_ordinal_of_the_file_it_names() {
        let ids = vec!["a/app".to_string(), "b/app".to_string()];
        let sink = Stream::new(Box::new(std::io::sink()));
        let mut live = Live::new(Mode::Bars, &ids, sink, false, true);
        live.multi.set_draw_target(ProgressDrawTarget::hidden());
        let mut run = Run {
            verb: Verb::Up,
            dry_run: None,
            single: false,
            ids: ids.clone(),
            records: vec![Default::default(); 2],
        };
        let files = [
            migration("1_a.sql"),
            migration("2_b.sql"),
            migration("3_c.sql"),
        ];
        let planned: Vec<&Migration> = files.iter().collect();
        send(&mut live, &mut run, 0, Event::Planned { files: &planned });
        let bar = live.bars[0].clone().unwrap();
        assert_eq!((bar.position(), bar.length()), (0, Some(3)));
        let mut seen = Vec::new();
        for (i, m) in files.iter().enumerate() {
            let (index, total) = (i + 1, 3);
            send(
                &mut live,
                &mut run,
                0,
                Event::Applying {
                    migration: m,
                    index,
                    total,
                },
            );
            seen.push((bar.position(), bar.message()));
            let took = Duration::from_millis(2);
            send(
                &mut live,
                &mut run,
                0,
                Event::Applied { migration: m, took },
            );
            seen.push((bar.position(), bar.message()));
        }
        assert_eq!(
            seen,
            [
                (1, "applying 1_a.sql".to_string()),
                (1, "applied 1_a.sql in 2ms".to_string()),
                (2, "applying 2_b.sql".to_string()),
                (2, "applied 2_b.sql in 2ms".to_string()),
                (3, "applying 3_c.sql".to_string()),
                (3, "applied 3_c.sql in 2ms".to_string()),
            ]
        );
    }
}
