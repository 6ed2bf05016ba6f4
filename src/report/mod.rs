//! The only place that prints. With `--url` (one database) the lines follow dbmate's
//! wording, so scripts and eyes used to dbmate read pgfleet the same way. On a fleet:
//! progress on stderr (`live`), then a summary on stdout (`tables`). `--format json` gives
//! documents instead (`json`), and `--log-dir` keeps an audit file of each run (`audit`).

mod adopt;
mod audit;
mod json;
mod live;
mod tables;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, ExitCode};
use crate::inventory::{self, Connection, ContainerRef, Inventory, Target};
use crate::plan::{State, StatusRow};
use crate::runner::fleet::{Finished, TargetResult};
use crate::runner::{Event, Output, Plan, RunEvent, RunStart, Sink};
use crate::schema::Difference;
use crate::settings::{DryRun, Format, Verb};

pub use json::SCHEMA_VERSION;
pub use live::Mode as ProgressMode;

/// What one step of a verb is called in summaries ("applied", …).
pub(super) fn done_word(verb: Verb) -> &'static str {
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

/// What is known of one target while it runs.
#[derive(Debug, Default, Clone)]
struct Record {
    planned: Vec<String>,
    done: Vec<String>,
    not_rehearsable: Vec<String>,
    created: bool,
}

/// The state of a run in progress, set when it starts.
struct Run {
    verb: Verb,
    /// `plan` / `up --dry-run`: what the dry run shows.
    dry_run: Option<DryRun>,
    /// One database reached by `--url`: dbmate's lines instead of bars and tables.
    single: bool,
    ids: Vec<String>,
    live: live::Live,
    records: Mutex<Vec<Record>>,
    audit: Option<audit::Audit>,
}

impl Run {
    /// What each target's events recorded so far.
    fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Prints events and results.
#[derive(Default)]
pub struct Report {
    settings: crate::settings::Output,
    run: OnceLock<Run>,
}

impl Report {
    pub fn new(settings: crate::settings::Output) -> Report {
        Report {
            settings,
            run: OnceLock::new(),
        }
    }

    fn text(&self) -> bool {
        self.settings.format == Format::Text
    }

    fn out(&self, line: &str) {
        if !self.settings.quiet && self.text() {
            // A closed pipe (`pgfleet status | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }

    fn err(&self, line: &str) {
        match self.run.get() {
            Some(run) => run.live.println(line),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    /// Starts a run (`single`: one database named by `--url`). Opens the audit file when
    /// `--log-dir` is given.
    fn begin(&self, start: RunStart<'_>) -> Result<(), Error> {
        let RunStart {
            verb,
            dry_run,
            single,
            ids,
            applied_by,
        } = start;
        let mode = if single || self.settings.quiet || !self.text() {
            live::Mode::Off
        } else if std::io::stderr().is_terminal()
            && std::env::var("TERM").map_or(true, |t| t != "dumb")
        {
            live::Mode::Bars
        } else if self.settings.verbose
            || matches!(
                verb,
                Verb::Up | Verb::Rollback | Verb::RecordChecksums | Verb::Baseline | Verb::Register
            )
        {
            // Logs of commands that change databases say each step; a read-only command's
            // log has its result on stdout and only its errors on stderr.
            live::Mode::Lines
        } else {
            live::Mode::Off
        };
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        let audit = match &self.settings.log_dir {
            Some(dir) => Some(audit::Audit::open(dir, verb, ids, applied_by)?),
            None => None,
        };
        let run = Run {
            verb,
            dry_run,
            single,
            live: live::Live::new(mode, ids),
            records: Mutex::new(vec![Record::default(); ids.len()]),
            ids: ids.to_vec(),
            audit,
        };
        // A second `begin` keeps the first run: one run per process.
        let _ = self.run.set(run);
        Ok(())
    }

    fn record<R>(&self, target: usize, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let run = self.run.get()?;
        let mut records = run.records.lock().unwrap_or_else(|e| e.into_inner());
        records.get_mut(target).map(f)
    }

    /// Ctrl-C the first time: say what happens now.
    fn interrupted(&self) {
        let text = "Interrupted: starting nothing new; running migrations finish or roll back (Ctrl-C again to abort at once)";
        match self.run.get() {
            Some(run) => {
                run.live.run_line(text);
                if let Some(a) = &run.audit {
                    a.run_event("interrupted", "");
                }
            }
            None => self.err(text),
        }
    }

    /// Ctrl-C the second time, just before the process exits.
    fn aborting(&self) {
        let text = "Aborted: a migration already sent finishes or rolls back on the server by itself, as one transaction with its tracking row, so each database is before or after it, never in between; run `pgfleet status` to see where each target stands";
        match self.run.get() {
            Some(run) => {
                run.live.run_line(text);
                run.live.end();
                if let Some(a) = &run.audit {
                    a.run_event("aborted", "");
                }
            }
            None => self.err(text),
        }
    }

    /// A target's run ended: its bar gives way to a line, a failure is told in full.
    fn target_done<T>(&self, target: usize, result: &Result<T, Error>, took: Duration) {
        let Some(run) = self.run.get() else { return };
        let record = self.record(target, |r| r.clone()).unwrap_or_default();
        if let Some(a) = &run.audit {
            a.target_end(&run.ids[target], result.as_ref().err(), took, &record.done);
        }
        if run.single {
            return;
        }
        match result {
            Ok(_) => {
                let text = match run.verb {
                    Verb::Up | Verb::Rollback | Verb::RecordChecksums if record.done.is_empty() => {
                        format!("up to date ({})", format_duration(took))
                    }
                    Verb::Up | Verb::Rollback | Verb::RecordChecksums => {
                        live::counted(record.done.len(), done_word(run.verb), took)
                    }
                    _ => format!("done in {}", format_duration(took)),
                };
                let nothing = record.done.is_empty()
                    && matches!(run.verb, Verb::Up | Verb::Rollback | Verb::RecordChecksums);
                run.live
                    .finish(target, if nothing { None } else { Some(true) }, &text);
            }
            Err(e) => {
                run.live.finish(
                    target,
                    Some(false),
                    &tables::short_error(e, &run.ids[target]),
                );
                if self.text() {
                    self.error(e);
                }
            }
        }
    }

    /// The run is over: the bars go, the audit log gets its last line.
    fn end<T>(&self, ends: &[Finished<T>], code: ExitCode) -> Option<&Run> {
        let run = self.run.get()?;
        run.live.end();
        if let Some(a) = &run.audit {
            a.run_end(ends, code);
        }
        Some(run)
    }

    /// The run failed as a whole (bad input found before any target, an unwritable log
    /// folder…): `Error: …` on stderr, and under `--format json` also a document saying so.
    pub fn fatal(&self, verb: Option<Verb>, error: &Error) {
        if let Some(run) = self.run.get() {
            run.live.end();
        }
        if !self.text() {
            json::print(&json::failed_run(verb.map(Verb::name), error));
        }
        self.error(error);
    }

    /// Errors go to stderr as `Error: …`, like dbmate's, with any URL password redacted.
    fn error(&self, error: &Error) {
        self.err(&format!(
            "Error: {}",
            crate::transport::redact(&error.to_string())
        ));
    }

    /// Ends a run that changed databases (up, rollback, verify --record): the summary
    /// table, or the JSON document.
    fn run_summary<T>(&self, ends: &[Finished<T>], code: ExitCode) {
        let Some(run) = self.end(ends, code) else {
            return;
        };
        let records = run.records();
        match self.settings.format {
            Format::Text if run.single => {}
            Format::Text => {
                if !self.settings.quiet {
                    let color = std::io::stdout().is_terminal() && console::colors_enabled();
                    for line in tables::run_table(run.verb, &run.ids, ends, &records, code, color) {
                        self.out(&line);
                    }
                }
            }
            _ => json::print(&json::run(run.verb, &run.ids, ends, &records, code)),
        }
    }

    /// `status` (and `verify`): dbmate's lines for one database, a matrix for a fleet, or
    /// the JSON document.
    fn statuses(&self, ends: &[Finished<Output>], code: ExitCode) {
        let Some(run) = self.end(ends, code) else {
            return;
        };
        match self.settings.format {
            Format::Text if run.single => {
                if let Some(TargetResult::Done(Output::Status(rows))) =
                    ends.first().map(|e| &e.result)
                {
                    match run.verb {
                        Verb::Verify | Verb::RecordChecksums => self.verify(rows),
                        _ => self.status(rows),
                    }
                }
            }
            Format::Text => {
                let color = std::io::stdout().is_terminal() && console::colors_enabled();
                let lines = match run.verb {
                    Verb::Verify | Verb::RecordChecksums => {
                        tables::verify_blocks(&run.ids, ends, code)
                    }
                    _ => tables::status_matrix(&run.ids, ends, code, color),
                };
                for line in lines {
                    self.out(&line);
                }
            }
            _ => json::print(&json::status(run.verb, &run.ids, ends, code)),
        }
    }

    /// `up --dry-run` / `plan`: per target, what would run.
    fn plans(&self, ends: &[Finished<Output>], code: ExitCode) {
        let Some(run) = self.end(ends, code) else {
            return;
        };
        let mode = run.dry_run.unwrap_or(DryRun::Full);
        let records = run.records();
        match self.settings.format {
            Format::Text => {
                for (i, end) in ends.iter().enumerate() {
                    if let TargetResult::Done(Output::Plan(plan)) = &end.result {
                        self.dry_run(&run.ids[i], plan, mode, &records[i].not_rehearsable);
                    }
                }
                if !run.single {
                    for line in tables::plan_footer(&run.ids, ends, mode, code) {
                        self.out(&line);
                    }
                }
            }
            _ => json::print(&json::plans(&run.ids, ends, &records, mode, code)),
        }
    }

    /// `dump`: where each schema went.
    fn dumps(&self, ends: &[Finished<Output>], code: ExitCode) {
        let Some(run) = self.end(ends, code) else {
            return;
        };
        match self.settings.format {
            Format::Text => {
                for end in ends {
                    if let TargetResult::Done(Output::Dump(path)) = &end.result {
                        self.out(&format!("Writing: {}", path.display()));
                    }
                }
                if !run.single {
                    for line in tables::failed_footer(&run.ids, ends, code) {
                        self.out(&line);
                    }
                }
            }
            _ => json::print(&json::dumps(&run.ids, ends, code)),
        }
    }

    /// `baseline` and `register`: what was done on each target, and how the ones left
    /// untouched differ.
    fn adoptions(&self, ends: &[Finished<Output>], code: ExitCode) {
        let Some(run) = self.end(ends, code) else {
            return;
        };
        // `register` compares with what the applied migrations and its one make.
        let expected = match run.verb {
            Verb::Register => crate::schema::Expected::Migrations,
            _ => crate::schema::Expected::Baseline,
        };
        match self.settings.format {
            Format::Text => {
                for (id, end) in run.ids.iter().zip(ends) {
                    if let TargetResult::Done(Output::Adopted(a)) = &end.result {
                        for line in adopt::adoption_lines(id, a, expected) {
                            self.out(&line);
                        }
                    }
                }
                if !run.single {
                    for line in tables::failed_footer(&run.ids, ends, code) {
                        self.out(&line);
                    }
                }
            }
            _ => json::print(&json::with_fields(
                run.verb.name(),
                &run.ids,
                ends,
                code,
                |id, end| adopt::adoption_json(id, end, expected),
            )),
        }
    }

    /// `drift`: each target's differences from its migrations, and the drafts written.
    fn drifts(
        &self,
        ends: &[Finished<Output>],
        code: ExitCode,
        written: &[(PathBuf, Vec<String>)],
    ) {
        let Some(run) = self.end(ends, code) else {
            return;
        };
        match self.settings.format {
            Format::Text => {
                for (id, end) in run.ids.iter().zip(ends) {
                    if let TargetResult::Done(Output::Drift(d)) = &end.result {
                        for line in adopt::drift_lines(id, &d.differences, &d.notes) {
                            self.out(&line);
                        }
                    }
                }
                for line in adopt::written_lines(written) {
                    self.out(&line);
                }
                if !run.single {
                    let drifted = ends
                        .iter()
                        .filter(|e| {
                            matches!(&e.result, TargetResult::Done(Output::Drift(d)) if !d.differences.is_empty())
                        })
                        .count();
                    let mut lines = tables::failed_footer(&run.ids, ends, code);
                    if let Some(last) = lines.last_mut() {
                        *last = format!("Drift on {drifted} of {last}");
                    }
                    for line in lines {
                        self.out(&line);
                    }
                }
            }
            _ => {
                let mut doc = json::with_fields("drift", &run.ids, ends, code, adopt::drift_json);
                doc["written"] = serde_json::json!(
                    written
                        .iter()
                        .map(|(p, ids)| serde_json::json!({ "file": p.display().to_string(), "targets": ids }))
                        .collect::<Vec<_>>()
                );
                json::print(&doc);
            }
        }
    }

    /// `drift --between a b`: how b differs from a; failures as for any run.
    fn between(
        &self,
        ends: &[Finished<Output>],
        differences: Option<&[Difference]>,
        code: ExitCode,
    ) {
        let Some(run) = self.end(ends, code) else {
            return;
        };
        let (a, b) = (&run.ids[0], &run.ids[1]);
        match self.settings.format {
            Format::Text => match differences {
                Some(d) => {
                    for line in adopt::between_lines(a, b, d) {
                        self.out(&line);
                    }
                }
                None => {
                    for line in tables::failed_footer(&run.ids, ends, code) {
                        self.out(&line);
                    }
                }
            },
            _ => {
                let mut doc = json::with_fields("drift", &run.ids, ends, code, |_, _| None);
                doc["between"] = serde_json::json!([a, b]);
                doc["differences"] = serde_json::json!(differences.map(|d| {
                    d.iter()
                        .map(|x| adopt::difference_json(x, a, crate::schema::Expected::Target(b)))
                        .collect::<Vec<_>>()
                }));
                json::print(&doc);
            }
        }
    }

    /// `status` for one database: dbmate's `[X]` / `[ ]` lines, with what dbmate cannot
    /// tell beside them.
    fn status(&self, rows: &[StatusRow]) {
        for e in rows {
            let mark = if e.is_applied() { "[X]" } else { "[ ]" };
            let note = match &e.state {
                State::Pending | State::Applied => "",
                State::Unverified => "  (unverified: applied without a checksum)",
                State::Changed { .. } => "  (changed since applied)",
                State::NoFile => "  (applied in the database, no file)",
                State::BelowBaseline => "  (below the baseline: history, not run here)",
            };
            self.out(&format!("{mark} {}{note}", e.name()));
        }
        let count = |f: &dyn Fn(&State) -> bool| rows.iter().filter(|e| f(&e.state)).count();
        self.out("");
        self.out(&format!(
            "Applied: {}",
            count(&|s| !matches!(s, State::Pending | State::BelowBaseline))
        ));
        self.out(&format!("Pending: {}", count(&|s| *s == State::Pending)));
        for (label, n) in [
            ("Changed", count(&|s| matches!(s, State::Changed { .. }))),
            ("Unverified", count(&|s| *s == State::Unverified)),
            ("No file", count(&|s| *s == State::NoFile)),
            ("Below the baseline", count(&|s| *s == State::BelowBaseline)),
        ] {
            if n > 0 {
                self.out(&format!("{label}: {n}"));
            }
        }
    }

    /// `verify` for one database: one line per applied version that is not as recorded.
    fn verify(&self, rows: &[StatusRow]) {
        for line in tables::verify_lines(rows) {
            self.out(&line);
        }
    }

    /// `up --dry-run` on one target: the plan and the SQL that would run.
    fn dry_run(&self, target: &str, plan: &Plan, mode: DryRun, not_rehearsable: &[String]) {
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
        self.out(&format!("{what} on {target}: {promise}"));
        if plan.creates_database {
            self.out("The database does not exist: `up` would create it.");
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
            self.out(&format!("{verb}: {} ({how})", m.file_name));
            let lines: Vec<&str> = m
                .up
                .iter()
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
                self.out(&format!("    {line}"));
            }
            if shown < lines.len() {
                self.out(&format!("    … ({} more lines)", lines.len() - shown));
            }
        }
        match (plan.pending.len(), mode, plan.rehearsed) {
            (0, _, _) => self.out("Nothing to apply: the database is up to date."),
            (n, DryRun::Rehearse, Some(took)) => self.out(&format!(
                "Rehearsed {} of {n} pending migration{} in {}; rolled back, nothing kept.",
                n - not_rehearsable.len(),
                plural(n),
                format_duration(took)
            )),
            (n, _, _) => self.out(&format!("Would apply {n} migration{}.", plural(n))),
        }
    }

    /// `inventory`: one block per target, saying where each setting landed. Passwords are
    /// shown as their source (`env NAME`, …), never read.
    fn inventory(&self, targets: &[&Target], inv: &Inventory) {
        for t in targets {
            let host = inv.host(&t.host);
            let connection = match host.map(|h| &h.connection) {
                Some(Connection::Local) => "local docker".to_owned(),
                Some(Connection::Ssh(ssh)) => {
                    let mut text = String::from("ssh ");
                    if let Some(user) = &ssh.user {
                        text.push_str(&format!("{user}@"));
                    }
                    match ssh.port {
                        Some(port) if ssh.address.contains(':') => {
                            text.push_str(&format!("[{}]:{port}", ssh.address))
                        }
                        Some(port) => text.push_str(&format!("{}:{port}", ssh.address)),
                        None => text.push_str(&ssh.address),
                    }
                    if let Some(jump) = &ssh.jump {
                        text.push_str(&format!(" via {jump}"));
                    }
                    text
                }
                None => "?".to_owned(),
            };
            self.out(&t.id());
            self.out(&format!("  connection  {connection}"));
            if let Some(h) = host {
                if h.docker_socket != inventory::DEFAULT_DOCKER_SOCKET {
                    self.out(&format!("  docker      {}", h.docker_socket));
                }
                if !h.groups.is_empty() {
                    self.out(&format!("  groups      {}", h.groups.join(", ")));
                }
            }
            let container = match &t.container {
                ContainerRef::Name(name) => name.clone(),
                ContainerRef::Label(label) => format!("label {label}"),
            };
            self.out(&format!("  container   {container}, port {}", t.port));
            self.out(&format!(
                "  database    {}",
                t.database
                    .as_deref()
                    .unwrap_or("from the container (POSTGRES_DB, else the user)")
            ));
            self.out(&format!(
                "  user        {}",
                t.user
                    .as_deref()
                    .unwrap_or("from the container (POSTGRES_USER)")
            ));
            self.out(&format!("  password    {}", t.password));
            self.out(&format!("  method      {}", t.method));
            self.out(&format!("  migrations  {}", t.migrations.display()));
            self.out("");
        }
        let hosts = {
            let mut names: Vec<&str> = targets.iter().map(|t| t.host.as_str()).collect();
            names.dedup();
            names.len()
        };
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let mut summary = format!(
            "{} on {}",
            plural(targets.len(), "target"),
            plural(hosts, "host")
        );
        if targets.len() < inv.targets.len() {
            summary.push_str(&format!(
                " (of {} in the inventory)",
                plural(inv.targets.len(), "target")
            ));
        }
        self.out(&summary);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Sink for Report {
    fn start(&self, run: RunStart<'_>) -> Result<(), Error> {
        self.begin(run)
    }

    fn event(&self, event: RunEvent<'_>) {
        match event {
            RunEvent::Target { target, event } => self.target_event(target, event),
            RunEvent::TargetFinished {
                target,
                result,
                took,
            } => self.target_done(target, result, took),
            RunEvent::Interrupted => self.interrupted(),
            RunEvent::Aborting => self.aborting(),
            RunEvent::Finished {
                ends,
                code,
                drafts,
                between,
            } => self.finished(ends, code, drafts, between),
            RunEvent::Created { path } => {
                self.out(&format!("Creating migration: {}", path.display()))
            }
            RunEvent::Waiting { url } => self.out(&format!("Waiting for {url}")),
            RunEvent::Inventory { targets, inventory } => self.inventory(targets, inventory),
        }
    }
}

impl Report {
    /// The run is over: each command's own summary, then (one database, in text) its
    /// error as dbmate prints it.
    fn finished(
        &self,
        ends: &[Finished<Output>],
        code: ExitCode,
        drafts: &[(PathBuf, Vec<String>)],
        between: Option<&[Difference]>,
    ) {
        let Some(run) = self.run.get() else { return };
        let (verb, single) = (run.verb, run.single);
        match verb {
            Verb::Status | Verb::Verify | Verb::RecordChecksums => self.statuses(ends, code),
            Verb::Plan => self.plans(ends, code),
            Verb::Dump => self.dumps(ends, code),
            Verb::Up | Verb::Rollback => self.run_summary(ends, code),
            Verb::Baseline | Verb::Register => self.adoptions(ends, code),
            Verb::Between => self.between(ends, between, code),
            Verb::Drift => self.drifts(ends, code, drafts),
            Verb::New | Verb::Wait | Verb::Inventory => {}
        }
        if single && self.text() {
            if let Some(Finished {
                result: TargetResult::Failed(e),
                ..
            }) = ends.first()
            {
                self.error(e);
            }
        }
    }

    fn target_event(&self, target: usize, event: Event<'_>) {
        let Some(run) = self.run.get() else { return };
        if let Some(a) = &run.audit {
            a.event(&run.ids[target], &event);
        }
        if self.settings.format == Format::JsonLines {
            json::print_event(&run.ids[target], &event);
        }
        match &event {
            Event::Planned { files } => {
                self.record(target, |r| {
                    r.planned = files.iter().map(|m| m.file_name.clone()).collect()
                });
            }
            Event::Applied { migration, .. } | Event::RolledBack { migration, .. } => {
                self.record(target, |r| r.done.push(migration.file_name.clone()));
            }
            Event::ChecksumRecorded { file } => {
                self.record(target, |r| r.done.push(file.to_string()));
            }
            Event::NotRehearsable { migration } => {
                self.record(target, |r| {
                    r.not_rehearsable.push(migration.file_name.clone())
                });
            }
            Event::CreatingDatabase { .. } => {
                self.record(target, |r| r.created = true);
            }
            _ => {}
        }
        if run.single {
            self.dbmate_line(&event);
        } else {
            self.progress(run, target, &event);
        }
    }
}

impl Report {
    /// One database: the lines dbmate prints, on stdout.
    fn dbmate_line(&self, event: &Event<'_>) {
        match event {
            Event::CreatingDatabase { name } => self.out(&format!("Creating: {name}")),
            Event::WaitingForLock { target, holder } => self.err(&format!(
                "Waiting: the migration lock on {target} is {holder}; waiting up to --lock-wait"
            )),
            Event::Applying { migration, .. } => {
                self.out(&format!("Applying: {}", migration.file_name))
            }
            Event::Applied { migration, took } => self.out(&format!(
                "Applied: {} in {}",
                migration.file_name,
                format_duration(*took)
            )),
            Event::RollingBack { migration, .. } => {
                self.out(&format!("Rolling back: {}", migration.file_name))
            }
            Event::RolledBack { migration, took } => self.out(&format!(
                "Rolled back: {} in {}",
                migration.file_name,
                format_duration(*took)
            )),
            Event::ChecksumRecorded { file } => self.out(&format!("Recorded checksum: {file}")),
            Event::Connected { via } if self.settings.verbose => {
                self.err(&format!("Connected: {via}"))
            }
            Event::Step { what } if self.settings.verbose => self.err(&format!("{what}…")),
            Event::Connecting
            | Event::Connected { .. }
            | Event::Planned { .. }
            | Event::Rehearsing { .. }
            | Event::Rehearsed { .. }
            | Event::NotRehearsable { .. }
            | Event::Step { .. } => {}
        }
    }

    /// A fleet: bars or timestamped lines on stderr.
    fn progress(&self, run: &Run, target: usize, event: &Event<'_>) {
        let live = &run.live;
        match event {
            Event::Connecting => live.step(target, "connecting"),
            Event::Connected { via } => {
                if self.settings.verbose {
                    live.note(target, &format!("connected: {via}"));
                } else {
                    live.step(target, "connected");
                }
            }
            Event::CreatingDatabase { name } => {
                live.note(target, &format!("creating database {name}"))
            }
            Event::WaitingForLock { holder, .. } => live.note(
                target,
                &format!("waiting for the migration lock, {holder} (up to --lock-wait)"),
            ),
            Event::Planned { files } => {
                live.planned(target, files.len());
                if live.mode() == ProgressMode::Lines || self.settings.verbose {
                    let text = match (files.len(), run.verb) {
                        (0, Verb::Plan) => "nothing to rehearse".to_string(),
                        (0, _) => "up to date".to_string(),
                        (n, Verb::Rollback) => format!("{n} to roll back"),
                        (n, Verb::Plan) => format!("{n} to rehearse"),
                        (n, _) => format!("{n} pending"),
                    };
                    live.step(target, &text);
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
                live.advance(target, index - 1);
                live.step(
                    target,
                    &format!("{verb} {} ({index}/{total})", migration.file_name),
                );
            }
            Event::Applied { migration, took } | Event::RolledBack { migration, took } => {
                let done = self.record(target, |r| r.done.len()).unwrap_or(0);
                live.advance(target, done);
                let verb = if matches!(event, Event::Applied { .. }) {
                    "applied"
                } else {
                    "rolled back"
                };
                let text = format!("{verb} {} in {}", migration.file_name, format_duration(*took));
                if live.mode() == ProgressMode::Lines {
                    live.step(target, &text);
                } else if self.settings.verbose {
                    live.note(target, &text);
                }
            }
            Event::ChecksumRecorded { file } => {
                live.step(target, &format!("recorded the checksum of {file}"))
            }
            Event::Rehearsing { files } => live.step(
                target,
                &format!(
                    "rehearsing {} migration{} in one transaction",
                    files.len(),
                    plural(files.len())
                ),
            ),
            Event::Rehearsed { files, took } => {
                live.advance(target, files.len());
                live.step(
                    target,
                    &format!(
                        "rehearsed {} in {}; rolled back, nothing kept",
                        files.len(),
                        format_duration(*took)
                    ),
                );
            }
            Event::NotRehearsable { migration } => live.note(
                target,
                &format!(
                    "not rehearsable: {} (transaction:false cannot run inside the rehearsal's transaction)",
                    migration.file_name
                ),
            ),
            Event::Step { what } => live.step(target, what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dbmates() {
        assert_eq!(format_duration(Duration::from_micros(123)), "123µs");
        assert_eq!(format_duration(Duration::from_micros(4500)), "4.5ms");
        assert_eq!(format_duration(Duration::from_millis(1200)), "1.2s");
    }
}
