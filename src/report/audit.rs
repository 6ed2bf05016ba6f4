//! `--log-dir DIR`: one file per run, one `key=value` line per fact (logfmt), written as it
//! happens, so a run killed halfway still leaves its record. Who ran what, where, when,
//! with which checksum, for how long, and how it ended: the history ad-hoc psql never
//! leaves. Secrets never get here: URLs are redacted.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Renderer, Run, Stream, live::timestamp};
use crate::error::{Error, ExitCode};
use crate::runner::fleet::{Finished, TargetResult};
use crate::runner::{Event, RunEvent, RunStart};

pub(super) struct Audit {
    file: File,
    path: PathBuf,
    by: String,
    /// Where a failure to write the file is told.
    err: Stream,
}

/// A logfmt value: bare when it can be, else quoted with `"` and `\` escaped.
fn value(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
    {
        v.to_string()
    } else {
        format!(
            "\"{}\"",
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    }
}

impl Audit {
    pub(super) fn open(dir: &Path, start: &RunStart<'_>, err: Stream) -> Result<Audit, Error> {
        let RunStart {
            verb,
            ids,
            applied_by: by,
            sql,
            ..
        } = *start;
        // The flag names a folder that cannot take the log: bad input, said before connecting.
        let io = |what: String| {
            move |error| {
                Error::Usage(format!(
                    "{what}: {error}; give --log-dir a folder you can write to"
                ))
            }
        };
        std::fs::create_dir_all(dir).map_err(io(format!(
            "cannot create the log folder {} (--log-dir)",
            dir.display()
        )))?;
        let name = format!(
            "pgfleet-{}-{}-{}.log",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            verb.name().replace(' ', "").replace("--", "-"),
            std::process::id()
        );
        let path = dir.join(name);
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io(format!("cannot create the log file {}", path.display())))?;
        let audit = Audit {
            file,
            path,
            by: by.to_string(),
            err,
        };
        let args: Vec<String> = std::env::args().collect();
        audit.write(&[
            ("event", "run_start"),
            ("command", verb.name()),
            ("pgfleet", env!("CARGO_PKG_VERSION")),
            ("by", by),
            ("pid", &std::process::id().to_string()),
            ("targets", &ids.join(",")),
            ("args", &crate::transport::redact(&args.join(" "))),
        ]);
        if let Some(sql) = sql {
            audit.write(&[("event", "query"), ("sql", sql)]);
        }
        Ok(audit)
    }

    fn write(&self, fields: &[(&str, &str)]) {
        let mut line = format!("ts={}", timestamp());
        for (k, v) in fields {
            line.push(' ');
            line.push_str(k);
            line.push('=');
            line.push_str(&value(&crate::transport::redact(v)));
        }
        line.push('\n');
        // `&File` is a writer too: writing a line needs no `&mut self`.
        if let Err(e) = (&self.file).write_all(line.as_bytes()) {
            // The run goes on; losing the audit trail must not go unnoticed, though.
            self.err.line(&format!(
                "Warning: cannot write the log file {}: {e}",
                self.path.display()
            ));
        }
    }

    fn target_event(&self, id: &str, event: &Event<'_>) {
        // Whole milliseconds, as in the JSON document.
        let ms = |d: &Duration| d.as_millis().to_string();
        match event {
            Event::Applied { migration, took } | Event::RolledBack { migration, took } => {
                let kind = if matches!(event, Event::Applied { .. }) {
                    "applied"
                } else {
                    "rolled_back"
                };
                self.write(&[
                    ("target", id),
                    ("event", kind),
                    ("file", &migration.file_name),
                    ("version", &migration.version),
                    ("checksum", &migration.checksum),
                    ("duration_ms", &ms(took)),
                    ("by", &self.by),
                ]);
            }
            Event::Applying { migration, .. } | Event::RollingBack { migration, .. } => {
                let kind = if matches!(event, Event::Applying { .. }) {
                    "applying"
                } else {
                    "rolling_back"
                };
                self.write(&[
                    ("target", id),
                    ("event", kind),
                    ("file", &migration.file_name),
                    ("checksum", &migration.checksum),
                ]);
            }
            Event::CreatingDatabase { name } => self.write(&[
                ("target", id),
                ("event", "creating_database"),
                ("name", name),
            ]),
            Event::WaitingForLock { holder, .. } => self.write(&[
                ("target", id),
                ("event", "waiting_for_lock"),
                ("holder", &holder.to_string()),
            ]),
            Event::ChecksumRecorded { file } => self.write(&[
                ("target", id),
                ("event", "checksum_recorded"),
                ("file", file),
            ]),
            Event::Rehearsed { files, took } => {
                let names: Vec<&str> = files.iter().map(|m| m.file_name.as_str()).collect();
                self.write(&[
                    ("target", id),
                    ("event", "rehearsed"),
                    ("files", &names.join(",")),
                    ("duration_ms", &ms(took)),
                    ("kept", "false"),
                ]);
            }
            Event::Connected { via } => {
                self.write(&[("target", id), ("event", "connected"), ("via", via)])
            }
            Event::LockRetry {
                migration,
                attempt,
                retries,
                wait,
                holders,
            } => self.write(&[
                ("target", id),
                ("event", "lock_retry"),
                ("file", migration),
                ("attempt", &attempt.to_string()),
                ("retries", &retries.to_string()),
                ("wait_ms", &ms(wait)),
                ("holders", holders),
            ]),
            Event::QuietWait {
                migration,
                check,
                why,
                waited,
                limit,
            } => self.write(&[
                ("target", id),
                ("event", "quiet_wait"),
                ("file", migration),
                ("check", check),
                ("why", why),
                ("waited_ms", &ms(waited)),
                ("limit_ms", &ms(limit)),
            ]),
            Event::Workload {
                action,
                container,
                detail,
            } => self.write(&[
                ("target", id),
                ("event", "workload"),
                ("action", action),
                ("container", container),
                ("detail", detail),
            ]),
            Event::Warning { text } => {
                self.write(&[("target", id), ("event", "warning"), ("text", text)])
            }
            Event::CheckWarnings { file, findings } => {
                for f in *findings {
                    let at = format!("{}:{}", f.line, f.column);
                    self.write(&[
                        ("target", id),
                        ("event", "check_warning"),
                        ("file", file),
                        ("rule", f.rule),
                        ("at", &at),
                        ("text", &f.message),
                    ]);
                }
            }
            Event::DirectiveHeld { migration, what } => self.write(&[
                ("target", id),
                ("event", "directive"),
                ("file", migration),
                ("what", what),
            ]),
            Event::Connecting
            | Event::Planned { .. }
            | Event::Rehearsing { .. }
            | Event::StatementRehearsed { .. }
            | Event::NotRehearsable { .. }
            | Event::Step { .. } => {}
        }
    }

    fn target_end(&self, id: &str, error: Option<&Error>, took: Duration, done: &[String]) {
        let took = took.as_millis().to_string();
        let count = done.len().to_string();
        match error {
            None => self.write(&[
                ("target", id),
                ("event", "target_end"),
                ("outcome", "ok"),
                ("done", &count),
                ("duration_ms", &took),
            ]),
            Some(e) => {
                let mut fields = vec![
                    ("target", id),
                    ("event", "target_end"),
                    ("outcome", "failed"),
                    ("done", count.as_str()),
                    ("duration_ms", took.as_str()),
                ];
                let position;
                if let Error::Migration { failure, .. } = e {
                    position = format!(
                        "{}:{}:{}",
                        failure.file.display(),
                        failure.line,
                        failure.column
                    );
                    fields.push(("at", &position));
                }
                let message = e.to_string();
                fields.push(("error", &message));
                self.write(&fields);
            }
        }
    }

    fn run_event(&self, kind: &str, text: &str) {
        self.write(&[("event", kind), ("detail", text)]);
    }

    fn run_end<T>(&self, ends: &[Finished<T>], code: ExitCode) {
        let count = |f: &dyn Fn(&TargetResult<T>) -> bool| {
            ends.iter().filter(|e| f(&e.result)).count().to_string()
        };
        self.write(&[
            ("event", "run_end"),
            ("exit_code", &(code as u8).to_string()),
            ("ok", &count(&|r| matches!(r, TargetResult::Done(_)))),
            ("failed", &count(&|r| matches!(r, TargetResult::Failed(_)))),
            (
                "skipped",
                &count(&|r| matches!(r, TargetResult::Skipped(_))),
            ),
        ]);
    }
}

impl Renderer for Audit {
    fn event(&mut self, run: Option<&Run>, event: &RunEvent<'_>) {
        let Some(run) = run else { return };
        match event {
            RunEvent::Target { target, event } => self.target_event(&run.ids[*target], event),
            RunEvent::TargetFinished {
                target,
                result,
                took,
            } => self.target_end(
                &run.ids[*target],
                result.as_ref().err(),
                *took,
                &run.records[*target].done,
            ),
            RunEvent::Interrupted => self.run_event("interrupted", ""),
            RunEvent::Aborting => self.run_event("aborted", ""),
            RunEvent::Finished { ends, code, .. } => self.run_end(ends, *code),
            RunEvent::Created { .. }
            | RunEvent::Waiting { .. }
            | RunEvent::Inventory { .. }
            | RunEvent::Checked { .. }
            | RunEvent::Discovered { .. }
            | RunEvent::ChangeWritten { .. }
            | RunEvent::Asking { .. }
            | RunEvent::ChangeDone { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_quoted_only_when_needed() {
        assert_eq!(super::value("alpha/app"), "alpha/app");
        assert_eq!(super::value("a b"), "\"a b\"");
        assert_eq!(super::value("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(super::value(""), "\"\"");
    }
}
