//! The only place that prints. Lines follow dbmate's wording where dbmate has one, so
//! scripts and eyes used to dbmate read pgfleet the same way.

use std::io::Write;
use std::time::Duration;

use crate::error::Error;
use crate::inventory::{self, Connection, ContainerRef, Inventory, Target};
use crate::migration::Migration;
use crate::plan::{Entry, State};
use crate::runner::Event;

/// Prints events and results; `quiet` keeps stdout empty (errors still go to stderr).
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    pub quiet: bool,
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

impl Report {
    fn out(&self, line: &str) {
        if !self.quiet {
            // A closed pipe (`pgfleet status | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }

    fn err(&self, line: &str) {
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    pub fn event(&self, event: Event<'_>) {
        match event {
            Event::CreatingDatabase { name } => self.out(&format!("Creating: {name}")),
            Event::WaitingForLock { target, holder } => self.err(&format!(
                "Waiting: the migration lock on {target} is {holder}; waiting up to --lock-wait"
            )),
            Event::Applying { file } => self.out(&format!("Applying: {file}")),
            Event::Applied { file, took } => {
                self.out(&format!("Applied: {file} in {}", format_duration(took)))
            }
            Event::RollingBack { file } => self.out(&format!("Rolling back: {file}")),
            Event::RolledBack { file, took } => {
                self.out(&format!("Rolled back: {file} in {}", format_duration(took)))
            }
            Event::ChecksumRecorded { file } => self.out(&format!("Recorded checksum: {file}")),
        }
    }

    /// `status`: dbmate's `[X]` / `[ ]` lines, with what dbmate cannot tell beside them.
    pub fn status(&self, entries: &[Entry<'_>]) {
        for e in entries {
            let mark = if e.is_applied() { "[X]" } else { "[ ]" };
            let note = match &e.state {
                State::Pending | State::Applied => "",
                State::Unverified => "  (unverified: applied without a checksum)",
                State::Changed { .. } => "  (changed since applied)",
                State::NoFile => "  (applied in the database, no file)",
            };
            self.out(&format!("{mark} {}{note}", e.name()));
        }
        let count = |f: &dyn Fn(&State) -> bool| entries.iter().filter(|e| f(&e.state)).count();
        self.out("");
        self.out(&format!("Applied: {}", count(&|s| *s != State::Pending)));
        self.out(&format!("Pending: {}", count(&|s| *s == State::Pending)));
        for (label, n) in [
            ("Changed", count(&|s| matches!(s, State::Changed { .. }))),
            ("Unverified", count(&|s| *s == State::Unverified)),
            ("No file", count(&|s| *s == State::NoFile)),
        ] {
            if n > 0 {
                self.out(&format!("{label}: {n}"));
            }
        }
    }

    /// `verify`: one line per applied version that is not as recorded.
    pub fn verify(&self, entries: &[Entry<'_>]) {
        let mut problems = 0;
        for e in entries {
            let line = match &e.state {
                State::Changed { recorded } => format!(
                    "changed:    {} (recorded {}…, file {}…)",
                    e.name(),
                    &recorded[..recorded.len().min(12)],
                    &e.file.map(|f| f.checksum.as_str()).unwrap_or("")[..12]
                ),
                State::NoFile => format!("no file:    {} (applied in the database)", e.version),
                State::Unverified => format!("unverified: {} (no checksum recorded)", e.name()),
                State::Applied | State::Pending => continue,
            };
            problems += 1;
            self.out(&line);
        }
        let applied = entries.iter().filter(|e| e.is_applied()).count();
        if problems == 0 {
            self.out(&format!(
                "Verified: {applied} applied migrations match their files"
            ));
        } else if entries.iter().any(|e| e.state == State::Unverified) {
            self.out("Run `pgfleet verify --record` to record the checksums of unverified files as they are now.");
        }
    }

    /// `up --dry-run`: the plan and the SQL that would run.
    pub fn dry_run(&self, target: &str, creates_database: bool, pending: &[&Migration]) {
        self.out(&format!(
            "Dry run on {target}: nothing is written and no lock is taken."
        ));
        if creates_database {
            self.out("The database does not exist: `up` would create it.");
        }
        for m in pending {
            let how = if m.up_transactional() {
                "in one transaction"
            } else {
                "statement by statement, outside a transaction"
            };
            self.out(&format!("Would apply: {} ({how})", m.file_name));
            for section in &m.up {
                for line in section.sql.trim_end().lines() {
                    self.out(&format!("    {line}"));
                }
            }
        }
        match pending.len() {
            0 => self.out("Nothing to apply: the database is up to date."),
            n => self.out(&format!(
                "Would apply {n} migration{}.",
                if n == 1 { "" } else { "s" }
            )),
        }
    }

    /// `inventory`: one block per target, saying where each setting landed. Passwords are
    /// shown as their source (`env NAME`, …), never read.
    pub fn inventory(&self, targets: &[&Target], inv: &Inventory) {
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

    /// Heads the output of one target of an inventory run.
    pub fn target(&self, id: &str) {
        self.out(&format!("== {id}"));
    }

    /// Ends an inventory run in which some targets failed.
    pub fn failed_targets(&self, ids: &[String]) {
        self.err(&format!(
            "Failed: {} target{}: {}",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", ")
        ));
    }

    pub fn line(&self, text: &str) {
        self.out(text);
    }

    /// Errors go to stderr as `Error: …`, like dbmate's, with any URL password redacted.
    pub fn error(&self, error: &Error) {
        self.err(&format!(
            "Error: {}",
            crate::transport::redact(&error.to_string())
        ));
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
