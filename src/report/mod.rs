//! The only place that prints. With `--url` (one database) the lines follow dbmate's
//! wording, so scripts and eyes used to dbmate read pgfleet the same way. On a fleet:
//! progress on stderr, then a summary on stdout. `--format json` gives documents instead,
//! and `--log-dir` keeps an audit file of each run.
//!
//! `Report` only fans out (after nextest's reporter): it keeps what each target's events
//! recorded, and hands every event to one renderer per output, chosen once when the run
//! starts (`renderers`): bars or lines and errors on stderr (`live`), dbmate's lines for one
//! database (`dbmate`), the text at the end on stdout (`summary`, from `tables`,
//! `status_summary`, `adopt`, `dry_run`, `inventory`, `query`), the JSON documents and
//! events (`json`), `query`'s CSV, the audit log (`audit`). Each writes to the stream it is
//! given, so tests read what it wrote.

mod adopt;
mod audit;
mod check;
mod dbmate;
mod discover;
mod dry_run;
mod inventory;
mod json;
mod live;
mod query;
mod status_summary;
mod summary;
mod tables;
#[cfg(test)]
mod tests;

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::Error;
use crate::migration::directive::Selector;
use crate::runner::fleet::TargetResult;
use crate::runner::{Event, RunEvent, RunStart, Sink};
use crate::settings::{self, DryRun, Format, Verb};

pub use json::SCHEMA_VERSION;

/// What one step of a verb is called in summaries ("applied", …).
fn done_word(verb: Verb) -> &'static str {
    match verb {
        Verb::Rollback => "rolled back",
        Verb::RecordChecksums => "recorded",
        _ => "applied",
    }
}

/// dbmate prints Go durations: `123µs`, `4.5ms`, `1.2s`.
pub fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{}ms", trim_fraction(micros as f64 / 1000.0))
    } else {
        format!("{}s", trim_fraction(d.as_secs_f64()))
    }
}

fn trim_fraction(n: f64) -> String {
    format!("{n:.3}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Errors go to stderr as `Error: …`, like dbmate's, with any URL password redacted.
fn error_line(error: &Error) -> String {
    format!("Error: {}", crate::transport::redact(&error.to_string()))
}

/// One output stream (stdout, stderr), shared by the renderers that write to it. They run
/// one at a time under `Report`'s lock, so their lines never interleave.
#[derive(Clone)]
struct Stream(Arc<Mutex<Box<dyn Write + Send>>>);

impl Stream {
    fn new(writer: Box<dyn Write + Send>) -> Stream {
        Stream(Arc::new(Mutex::new(writer)))
    }

    fn line(&self, text: &str) {
        let mut writer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Every line out goes through the one redaction: whatever a message quotes (a URL
        // that did not parse, a server's error), no password leaves.
        // A closed pipe (`pgfleet status | head`) is not an error worth a panic.
        let _ = writeln!(writer, "{}", crate::transport::redact(text));
    }

    fn lines<S: AsRef<str>>(&self, lines: impl IntoIterator<Item = S>) {
        for line in lines {
            self.line(line.as_ref());
        }
    }
}

/// Where the renderers write, and what those places are.
struct Outputs {
    out: Stream,
    err: Stream,
    /// stdout is a terminal: summary tables may be coloured.
    out_terminal: bool,
    /// How wide stdout's lines may be (`out_width`).
    out_width: usize,
    /// stderr is a terminal that draws: progress may be bars.
    err_terminal: bool,
}

/// What is known of one target while it runs.
#[derive(Debug, Default, Clone)]
struct Record {
    planned: Vec<String>,
    /// A plan arrived: until one does (a target not reached), what is pending is unknown.
    plan_read: bool,
    done: Vec<String>,
    not_rehearsable: Vec<String>,
    created: bool,
    /// A migration was sent to the server (an `applying` or `rolling back` event): from
    /// then on, a failure that is not the server's own error about a migration leaves its
    /// outcome unknown.
    sent: bool,
    /// What was done about the workloads sharing the database (containers stopped and
    /// started, checks that held, waits, lock retries), one sentence each, in order.
    actions: Vec<String>,
}

impl Record {
    /// How many planned files did not run, or `?` when no plan was read and the target did
    /// not finish (`verify --record` has no plan, and a target it read has nothing left).
    fn left(&self, finished: bool) -> String {
        if self.plan_read || finished {
            self.planned
                .len()
                .saturating_sub(self.done.len())
                .to_string()
        } else {
            "?".to_string()
        }
    }

    /// The planned files that were not confirmed, as (did not run, may have committed). After
    /// a connection that went away mid-batch nothing unconfirmed is known not to have run:
    /// psql in the container, or the server's input buffer, may have committed it.
    fn unconfirmed<T>(&self, result: &TargetResult<T>) -> (Vec<&String>, Vec<&String>) {
        let rest: Vec<&String> = self
            .planned
            .iter()
            .filter(|f| !self.done.contains(f))
            .collect();
        // Only the server's own error about a migration (a statement refused, the session
        // ended) or a stop the guards carried out tells that the rest of the batch did not run.
        let lost = matches!(
            result,
            TargetResult::Failed(e) if e.outcome_unknown()
                || (self.sent && !matches!(e, Error::Migration { .. } | Error::Stopped { .. }))
        );
        if lost {
            (Vec::new(), rest)
        } else {
            (rest, Vec::new())
        }
    }
}

/// A run's facts and what each target's events recorded so far: what renderers may read.
struct Run {
    verb: Verb,
    /// `plan` / `up --dry-run`: what the dry run shows.
    dry_run: Option<DryRun>,
    /// One database reached by `--url`: dbmate's lines instead of bars and tables.
    single: bool,
    ids: Vec<String>,
    records: Vec<Record>,
}

impl Run {
    fn record(&mut self, target: usize, event: &Event<'_>) {
        let Some(r) = self.records.get_mut(target) else {
            return;
        };
        match event {
            Event::Planned { files } => {
                r.planned = files.iter().map(|m| m.file_name.clone()).collect();
                r.plan_read = true;
            }
            Event::Applying { .. } | Event::RollingBack { .. } => r.sent = true,
            Event::Applied { migration, .. } | Event::RolledBack { migration, .. } => {
                r.done.push(migration.file_name.clone())
            }
            Event::ChecksumRecorded { file } => r.done.push(file.to_string()),
            Event::NotRehearsable { migration } => {
                r.not_rehearsable.push(migration.file_name.clone())
            }
            Event::CreatingDatabase { .. } => r.created = true,
            Event::Workload {
                action,
                container,
                detail,
            } => r.actions.push(workload_text(action, container, detail)),
            Event::DirectiveHeld { migration, what } => {
                r.actions.push(format!("{migration}: {what}"))
            }
            Event::Warning { text } => r.actions.push(format!("warning: {text}")),
            Event::QuietWait {
                migration,
                check,
                why,
                waited,
                limit,
            } => r
                .actions
                .push(quiet_text(migration, check, why, *waited, *limit)),
            Event::LockRetry {
                migration,
                attempt,
                retries,
                wait,
                holders,
            } => r
                .actions
                .push(retry_text(migration, *attempt, *retries, *wait, holders)),
            _ => {}
        }
    }
}

/// One output. `Report` hands it every event, in order, with the run (`None` before a run
/// starts: `new`, `wait`, `inventory`, and errors found before any target).
trait Renderer: Send {
    fn event(&mut self, run: Option<&Run>, event: &RunEvent<'_>);

    /// The run failed as a whole (bad input, an unwritable log folder…).
    fn fatal(&mut self, _verb: Option<Verb>, _error: &Error) {}
}

/// The renderers, decided once from the settings and the run (`None`: no run yet). In
/// this order: the JSON document is out before the bars end and the summary is printed.
fn renderers(
    settings: &settings::Output,
    outputs: &Outputs,
    start: Option<&RunStart<'_>>,
    audit: Option<audit::Audit>,
) -> Vec<Box<dyn Renderer>> {
    let text = settings.format == Format::Text;
    let single = start.is_some_and(|s| s.single);
    let mut list: Vec<Box<dyn Renderer>> = Vec::new();
    if let Some(audit) = audit {
        list.push(Box::new(audit));
    }
    if matches!(settings.format, Format::Github | Format::Sarif) {
        list.push(Box::new(check::CheckFormats::new(
            outputs.out.clone(),
            settings.format,
        )));
    }
    if settings.format == Format::Csv {
        list.push(Box::new(query::Csv::new(
            outputs.out.clone(),
            outputs.err.clone(),
        )));
    }
    if matches!(settings.format, Format::Json | Format::JsonLines) {
        list.push(Box::new(json::Json::new(
            outputs.out.clone(),
            settings.format == Format::JsonLines,
        )));
    }
    list.push(Box::new(live::Live::new(
        live::Mode::choose(settings, start, outputs.err_terminal),
        start.map_or(&[], |s| s.ids),
        outputs.err.clone(),
        settings.verbose,
        text && !single,
    )));
    if text && !settings.quiet {
        list.push(Box::new(summary::Summary::new(
            outputs.out.clone(),
            outputs.out_terminal,
            outputs.out_width,
            settings.matrix,
        )));
    }
    if text && single {
        let out = if settings.quiet {
            Stream::new(Box::new(std::io::sink()))
        } else {
            outputs.out.clone()
        };
        list.push(Box::new(dbmate::Dbmate::new(
            out,
            outputs.err.clone(),
            settings.verbose,
        )));
    }
    list
}

struct State {
    run: Option<Run>,
    renderers: Vec<Box<dyn Renderer>>,
}

/// Renders a run's events on stdout, stderr and the audit log.
pub struct Report {
    settings: settings::Output,
    outputs: Outputs,
    state: Mutex<State>,
}

impl Report {
    /// Renders on this process's stdout and stderr.
    pub fn new(settings: settings::Output) -> Report {
        let err_terminal =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Report::with(
            settings,
            Outputs {
                out: Stream::new(Box::new(std::io::stdout())),
                err: Stream::new(Box::new(std::io::stderr())),
                out_terminal: std::io::stdout().is_terminal(),
                out_width: out_width(),
                err_terminal,
            },
        )
    }

    /// Renders into these writers (tests): neither is a terminal, so no bars, no colour.
    pub fn with_writers(
        settings: settings::Output,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> Report {
        Report::with(
            settings,
            Outputs {
                out: Stream::new(out),
                err: Stream::new(err),
                out_terminal: false,
                out_width: 80,
                err_terminal: false,
            },
        )
    }

    fn with(settings: settings::Output, outputs: Outputs) -> Report {
        let renderers = renderers(&settings, &outputs, None, None);
        Report {
            settings,
            outputs,
            state: Mutex::new(State {
                run: None,
                renderers,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run failed as a whole (bad input found before any target, an unwritable log
    /// folder…): `Error: …` on stderr, and under `--format json` also a document saying so.
    pub fn fatal(&self, verb: Option<Verb>, error: &Error) {
        for renderer in &mut self.state().renderers {
            renderer.fatal(verb, error);
        }
    }
}

impl Sink for Report {
    /// Opens the audit file when `--log-dir` is given, and picks the renderers of the run.
    fn start(&self, start: RunStart<'_>) -> Result<(), Error> {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        let audit = match &self.settings.log_dir {
            Some(dir) => Some(audit::Audit::open(dir, &start, self.outputs.err.clone())?),
            None => None,
        };
        let renderers = renderers(&self.settings, &self.outputs, Some(&start), audit);
        *self.state() = State {
            run: Some(Run {
                verb: start.verb,
                dry_run: start.dry_run,
                single: start.single,
                ids: start.ids.to_vec(),
                records: vec![Record::default(); start.ids.len()],
            }),
            renderers,
        };
        Ok(())
    }

    fn event(&self, event: RunEvent<'_>) {
        let mut state = self.state();
        let State { run, renderers } = &mut *state;
        if let (Some(run), RunEvent::Target { target, event }) = (run.as_mut(), &event) {
            run.record(*target, event);
        }
        for renderer in renderers {
            renderer.event(run.as_ref(), &event);
        }
    }
}

/// How wide stdout's lines may be, decided as git does: `COLUMNS` when set, else the
/// terminal's width, else 80 (what is piped to `less` or a file reads as on a terminal).
fn out_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, w)| usize::from(w))
        })
        .unwrap_or(80)
}

/// `  (used by worker, label=app=x)` for a file with `used-by` directives, else nothing:
/// `status` puts it at the end of a row, so a `[X] file` line still starts as dbmate's.
fn used_by_note(used_by: &[Selector]) -> String {
    if used_by.is_empty() {
        return String::new();
    }
    let names: Vec<String> = used_by.iter().map(Selector::to_string).collect();
    format!("  (used by {})", names.join(", "))
}

/// `up` is trying a migration again after it gave up on a lock: one sentence, for the bars,
/// the plain lines and dbmate's lines alike.
/// A wait for quiet, as one line.
fn quiet_text(
    migration: &str,
    check: &str,
    why: &str,
    waited: Duration,
    limit: Duration,
) -> String {
    format!(
        "waiting before {migration} ({check}, {} of {}): {why}",
        format_duration(waited),
        format_duration(limit)
    )
}

/// What a directive did to a container, as one line.
fn workload_text(action: &str, container: &str, detail: &str) -> String {
    if detail.is_empty() {
        format!("container {container} {action}")
    } else {
        format!("container {container} {action} {detail}")
    }
}

fn retry_text(
    migration: &str,
    attempt: u32,
    retries: u32,
    wait: Duration,
    holders: &str,
) -> String {
    let who = if holders.is_empty() {
        "the lock was free again when looked at".to_string()
    } else {
        format!("held by {holders}")
    };
    format!(
        "{migration} gave up on a lock (lock_timeout) and was rolled back; {who}; trying again in {} (retry {attempt} of {retries})",
        format_duration(wait)
    )
}
