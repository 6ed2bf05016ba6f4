//! `--format json` / `json-lines`: documents and events for scripts. The shape is
//! versioned by `schema` and documented in docs/json.md; a change that breaks a reader
//! raises SCHEMA_VERSION.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Record, Renderer, Run, Stream, adopt, live::timestamp};
use crate::error::{Error, ExitCode};
use crate::migration::directive::{Declared, Directive, Requirement};
use crate::plan::State;
use crate::runner::fleet::{Finished, Skipped, TargetResult};
use crate::runner::{Event, Output, RehearsedStatement, RunEvent};
use crate::schema::{Difference, Expected};
use crate::settings::{DryRun, Verb};
use crate::stop::StopReason;
use crate::transport::url::DbUrl;

pub const SCHEMA_VERSION: u32 = 1;

/// One JSON document at the end on stdout; with `json-lines`, each event before it.
pub(super) struct Json {
    out: Stream,
    lines: bool,
}

impl Json {
    pub(super) fn new(out: Stream, lines: bool) -> Json {
        Json { out, lines }
    }

    fn print(&self, doc: &Value) {
        self.out.line(&doc.to_string());
    }
}

impl Renderer for Json {
    fn event(&mut self, run: Option<&Run>, event: &RunEvent<'_>) {
        if let RunEvent::Checked {
            checked,
            deny,
            code,
            ..
        } = event
        {
            if self.lines {
                for f in &checked.findings {
                    let mut line = json!({"schema": SCHEMA_VERSION, "event": "finding"});
                    extend(&mut line, super::check::finding_json(f));
                    self.print(&line);
                }
            }
            let mut doc = Value::Object(head("check", *code));
            doc["targets"] = json!([]);
            extend(&mut doc, super::check::document_fields(checked, *deny));
            self.print(&doc);
            return;
        }
        if let RunEvent::Inventory { targets, inventory } = event {
            self.print(&super::inventory::json(targets, inventory));
            return;
        }
        if let RunEvent::Discovered {
            ends,
            inventory,
            write,
            found,
            code,
        } = event
            && let Some(run) = run
        {
            let mut doc = with_fields(
                "discover",
                &run.ids,
                ends,
                *code,
                super::discover::json_fields,
            );
            extend(
                &mut doc,
                super::discover::document_fields(inventory, *write, *found),
            );
            self.print(&doc);
            return;
        }
        let Some(run) = run else { return };
        match event {
            RunEvent::Target { target, event } if self.lines => {
                self.print(&event_line(&run.ids[*target], event))
            }
            RunEvent::Finished {
                ends,
                code,
                drafts,
                between,
            } => {
                if let Some(doc) = document(run, ends, *code, drafts, *between) {
                    self.print(&doc);
                }
            }
            _ => {}
        }
    }

    fn fatal(&mut self, verb: Option<Verb>, error: &Error) {
        self.print(&failed_run(verb.map(Verb::name), error));
    }
}

/// The document a command ends with.
fn document(
    run: &Run,
    ends: &[Finished<Output>],
    code: ExitCode,
    drafts: &[(PathBuf, Vec<String>)],
    between: Option<&[Difference]>,
) -> Option<Value> {
    let ids = &run.ids[..];
    Some(match run.verb {
        Verb::Up | Verb::Rollback => run_doc(run.verb, ids, ends, &run.records, code),
        Verb::Status | Verb::Verify | Verb::RecordChecksums => status(run.verb, ids, ends, code),
        Verb::Plan => plans(
            ids,
            ends,
            &run.records,
            run.dry_run.unwrap_or(DryRun::Full),
            code,
        ),
        Verb::Dump => dumps(ids, ends, code),
        Verb::Baseline | Verb::Register => {
            // `register` compares with what the applied migrations and its one make.
            let expected = match run.verb {
                Verb::Register => Expected::Migrations,
                _ => Expected::Baseline,
            };
            with_fields(run.verb.name(), ids, ends, code, |id, end| {
                adopt::adoption_json(id, end, expected)
            })
        }
        Verb::Drift => {
            let mut doc = with_fields("drift", ids, ends, code, adopt::drift_json);
            doc["written"] = json!(
                drafts
                    .iter()
                    .map(|(p, ids)| json!({ "file": p.display().to_string(), "targets": ids }))
                    .collect::<Vec<_>>()
            );
            doc
        }
        Verb::Between => {
            let (a, b) = (&ids[0], &ids[1]);
            let mut doc = with_fields("drift", ids, ends, code, |_, _| None);
            doc["between"] = json!([a, b]);
            doc["differences"] = json!(between.map(|d| {
                d.iter()
                    .map(|x| adopt::difference_json(x, a, Expected::Target(b)))
                    .collect::<Vec<_>>()
            }));
            doc
        }
        Verb::Query => with_fields("query", ids, ends, code, super::query::json_fields),
        // `discover`'s document comes with its own event, which carries the inventory.
        Verb::New | Verb::Wait | Verb::Inventory | Verb::Check | Verb::Change | Verb::Discover => {
            return None;
        }
    })
}

/// Adds `more`'s fields to `doc` (both objects).
fn extend(doc: &mut Value, more: Value) {
    if let (Value::Object(doc), Value::Object(more)) = (doc, more) {
        doc.extend(more);
    }
}

pub(super) fn head(command: &str, code: ExitCode) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("schema".into(), json!(SCHEMA_VERSION));
    m.insert("pgfleet".into(), json!(env!("CARGO_PKG_VERSION")));
    m.insert("command".into(), json!(command));
    m.insert("exit_code".into(), json!(code as u8));
    m.insert("finished_at".into(), json!(timestamp()));
    m
}

/// The other sessions on the database when the plan was made (`plan`'s "connected now").
fn sessions_json(plan: &crate::runner::Plan) -> Value {
    plan.sessions
        .iter()
        .map(|a| {
            json!({
                "pid": a.pid,
                "application_name": a.application,
                "user": a.user,
                "state": a.state,
                "client_addr": a.client_addr,
                "container": a.container,
                "transaction_seconds": a.transaction_secs,
                "long_transaction": a.older_than(plan.long_transaction_secs),
                "query": a.query,
                "locks": a.locks.iter().map(|l| json!({
                    "relation": plan.relations.get(&l.relation).unwrap_or(&l.relation),
                    "mode": l.mode.name(),
                    "granted": l.granted,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The sessions holding or waiting for a lock on what `m` touches: pid, and whether the
/// migration would wait for it.
fn in_use_by(plan: &crate::runner::Plan, m: &crate::migration::Migration) -> Value {
    let wanted = crate::migration::locks::strongest_locks(m);
    plan.sessions
        .iter()
        .filter(|a| {
            a.locks
                .iter()
                .any(|l| wanted.iter().any(|w| w.relation == l.relation))
        })
        .map(|a| {
            json!({
                "pid": a.pid,
                "container": a.container,
                "conflicts": a.conflicts_with(&wanted).next().is_some(),
            })
        })
        .collect()
}

/// Per statement of a pending migration: its summary and the locks it takes, or why they
/// are not known.
fn locks_json(
    migration: &crate::migration::Migration,
    qualified: &std::collections::BTreeMap<String, String>,
) -> Value {
    use crate::migration::locks::{Locks, migration_locks};
    migration_locks(migration)
        .iter()
        .map(|(statement, locks)| match locks {
            Locks::Takes(locks) => json!({
                "statement": statement,
                "locks": locks
                    .iter()
                    .map(|l| {
                        json!({
                            "relation": qualified.get(&l.relation).unwrap_or(&l.relation),
                            "as_written": l.relation,
                            "mode": l.mode.name(),
                        })
                    })
                    .collect::<Vec<_>>(),
                "unclassified": null,
            }),
            Locks::Unknown(kind) => json!({
                "statement": statement,
                "locks": null,
                "unclassified": kind,
            }),
        })
        .collect()
}

/// A rehearsed statement, as measured. Its times in milliseconds with their fraction: most
/// statements take less than one.
fn statement_json(s: &RehearsedStatement) -> Value {
    let ms = |d: Duration| (d.as_micros() as f64) / 1000.0;
    json!({
        "line": s.line,
        "summary": s.summary,
        "took_ms": ms(s.took),
        "held_ms": ms(s.held),
        "locks": s.locks.iter().map(|l| json!({
            "relation": l.relation,
            "mode": l.mode.name(),
            "stronger_than_predicted": s
                .stronger_than_predicted
                .iter()
                .find(|(taken, _)| taken == l)
                .map(|(_, predicted)| predicted.name()),
        })).collect::<Vec<_>>(),
    })
}

/// A header directive: its name and line, and its words as fields.
fn directive_json(declared: &Declared) -> Value {
    let mut e = json!({ "directive": declared.directive.name(), "line": declared.line });
    match &declared.directive {
        Directive::UsedBy { selector, note } => {
            e["selector"] = json!(selector.to_string());
            e["note"] = json!(note);
        }
        Directive::Stop { selector } => e["selector"] = json!(selector.to_string()),
        Directive::Requires {
            selector,
            requirement,
        } => {
            e["selector"] = json!(selector.to_string());
            match requirement {
                Requirement::Image(image) => e["image"] = json!(image),
                Requirement::Label { key, value } => e["label"] = json!(format!("{key}={value}")),
            }
        }
        Directive::Precondition { sql } => e["sql"] = json!(sql),
        Directive::Quiesce { name } => e["name"] = json!(name),
    }
    e
}

/// A run that failed before or outside its targets (bad input, an unwritable log folder):
/// the common fields, no targets, and the error.
fn failed_run(command: Option<&str>, e: &Error) -> Value {
    let mut doc = head("", e.exit_code());
    // Null when the flags did not parse, so the command is not known.
    doc.insert("command".into(), json!(command));
    doc.insert("targets".into(), json!([]));
    doc.insert("error".into(), error(e));
    Value::Object(doc)
}

fn error(e: &Error) -> Value {
    let message = crate::transport::redact(&e.to_string());
    match e {
        Error::Migration { failure, .. } => json!({
            "message": message,
            "file": failure.file.display().to_string(),
            "line": failure.line,
            "column": failure.column,
            "direction": failure.direction,
            "statement": failure.statement,
            "sqlstate": failure.error.code,
            "error": failure.error.message,
            "detail": failure.error.detail,
            "hint": failure.error.hint,
            "transactional": failure.transactional,
        }),
        Error::HandMadeHistory { table, columns, .. } => json!({
            "message": message,
            "needs_adoption": true,
            "table": table,
            "columns": columns,
        }),
        _ => json!({ "message": message }),
    }
}

fn skipped(s: Skipped) -> &'static str {
    match s {
        Skipped::CanaryFailed => "canary_failed",
        Skipped::Stopped(StopReason::FailFast) => "fail_fast",
        Skipped::Stopped(StopReason::Interrupted) => "interrupted",
    }
}

/// The two halves of a target id: `host/database` from an inventory; for a `--url` target
/// (its redacted URL) no host and the URL's database name, not the URL split at its first `/`.
fn host_and_database(id: &str) -> (String, String) {
    if id.contains("://") {
        let database = DbUrl::parse(id).map(|u| u.dbname).unwrap_or_default();
        return (String::new(), database);
    }
    match id.split_once('/') {
        Some((host, database)) => (host.to_string(), database.to_string()),
        None => (String::new(), id.to_string()),
    }
}

/// The common part of a target's entry: id, result, time, error or why it was skipped.
fn target<T>(id: &str, end: &Finished<T>, done_nothing: bool) -> serde_json::Map<String, Value> {
    let (host, name) = host_and_database(id);
    let mut m = serde_json::Map::new();
    m.insert("target".into(), json!(id));
    m.insert("host".into(), json!(host));
    m.insert("database".into(), json!(name));
    let result = match &end.result {
        TargetResult::Done(_) if done_nothing => "up_to_date",
        TargetResult::Done(_) => "ok",
        TargetResult::Failed(Error::Stopped {
            reason: StopReason::Interrupted,
            ..
        }) => "interrupted",
        TargetResult::Failed(Error::Stopped { .. }) => "stopped",
        TargetResult::Failed(_) => "failed",
        TargetResult::Skipped(_) => "skipped",
    };
    m.insert("result".into(), json!(result));
    m.insert("duration_ms".into(), json!(end.took.as_millis() as u64));
    m.insert(
        "error".into(),
        match &end.result {
            TargetResult::Failed(e) => error(e),
            _ => Value::Null,
        },
    );
    m.insert(
        "skipped".into(),
        match &end.result {
            TargetResult::Skipped(s) => json!(skipped(*s)),
            _ => Value::Null,
        },
    );
    m
}

/// `up`, `rollback`, `verify --record`.
fn run_doc<T>(
    verb: Verb,
    ids: &[String],
    ends: &[Finished<T>],
    records: &[Record],
    code: ExitCode,
) -> Value {
    let mut doc = head(verb.name(), code);
    let targets: Vec<Value> = ids
        .iter()
        .zip(ends)
        .zip(records)
        .map(|((id, end), r)| {
            let mut m = target(id, end, r.done.is_empty());
            let (remaining, unknown) = r.unconfirmed(&end.result);
            m.insert("done".into(), json!(r.done));
            m.insert("remaining".into(), json!(remaining));
            m.insert("unknown".into(), json!(unknown));
            m.insert("created_database".into(), json!(r.created));
            m.insert("actions".into(), json!(r.actions));
            Value::Object(m)
        })
        .collect();
    doc.insert("interrupted".into(), json!(code == ExitCode::Interrupted));
    doc.insert("targets".into(), json!(targets));
    Value::Object(doc)
}

fn state(s: &State) -> &'static str {
    match s {
        State::Pending => "pending",
        State::Applied => "applied",
        State::Unverified => "unverified",
        State::Changed { .. } => "changed",
        State::NoFile => "no_file",
        State::BelowBaseline => "below_baseline",
    }
}

/// `status` and `verify`: each target's versions, and the versions where targets disagree.
fn status(verb: Verb, ids: &[String], ends: &[Finished<Output>], code: ExitCode) -> Value {
    let mut doc = head(verb.name(), code);
    let mut versions: std::collections::BTreeMap<&str, serde_json::Map<String, Value>> =
        Default::default();
    let targets: Vec<Value> = ids
        .iter()
        .zip(ends)
        .map(|(id, end)| {
            let mut m = target(id, end, false);
            if let TargetResult::Done(Output::Status(rows)) = &end.result {
                m.insert(
                    "migrations".into(),
                    rows.iter()
                        .map(|r| {
                            versions
                                .entry(&r.version)
                                .or_default()
                                .insert(id.clone(), json!(state(&r.state)));
                            let mut e = json!({
                                "version": r.version,
                                "file": r.file,
                                "state": state(&r.state),
                            });
                            if !r.used_by.is_empty() {
                                e["used_by"] = json!(
                                    r.used_by.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                                );
                            }
                            e
                        })
                        .collect(),
                );
            }
            Value::Object(m)
        })
        .collect();
    // Among the targets whose migrations include the version.
    let disagreeing: Vec<&str> = versions
        .iter()
        .filter(|(_, per)| {
            let applied = per.values().filter(|s| *s != "pending").count();
            applied != 0 && applied != per.len()
                || per.values().any(|s| *s == "changed" || *s == "no_file")
        })
        .map(|(v, _)| *v)
        .collect();
    doc.insert("targets".into(), json!(targets));
    doc.insert("disagreeing_versions".into(), json!(disagreeing));
    Value::Object(doc)
}

/// `plan` / `up --dry-run`.
fn plans(
    ids: &[String],
    ends: &[Finished<Output>],
    records: &[Record],
    mode: DryRun,
    code: ExitCode,
) -> Value {
    let mut doc = head("plan", code);
    doc.insert(
        "mode".into(),
        json!(match mode {
            DryRun::Full => "full",
            DryRun::Summary => "summary",
            DryRun::Rehearse => "rehearse",
        }),
    );
    let targets: Vec<Value> = ids
        .iter()
        .zip(ends)
        .zip(records)
        .map(|((id, end), r)| {
            let mut m = target(id, end, false);
            if let TargetResult::Done(Output::Plan(plan)) = &end.result {
                m.insert("creates_database".into(), json!(plan.creates_database));
                m.insert(
                    "pending".into(),
                    plan.pending
                        .iter()
                        .map(|p| {
                            let sql: String = p.up.iter().map(|s| s.sql.as_str()).collect();
                            let mut e = json!({
                                "version": p.version,
                                "file": p.file_name,
                                "checksum": p.checksum,
                                "transactional": p.up_transactional(),
                                "sql": sql,
                                "locks": locks_json(p, &plan.relations),
                                "in_use_by": in_use_by(plan, p),
                                "directives": p.directives.iter().map(directive_json).collect::<Vec<_>>(),
                            });
                            if mode == DryRun::Rehearse {
                                e["rehearsed"] = json!(!r.not_rehearsable.contains(&p.file_name));
                                e["statements"] = plan
                                    .rehearsed
                                    .iter()
                                    .flat_map(|r| &r.statements)
                                    .filter(|s| s.file == p.file_name)
                                    .map(statement_json)
                                    .collect();
                            }
                            e
                        })
                        .collect(),
                );
                if let Some(rehearsal) = &plan.rehearsed {
                    m.insert(
                        "rehearsal_ms".into(),
                        json!(rehearsal.took.as_millis() as u64),
                    );
                }
                m.insert("sessions".into(), sessions_json(plan));
            }
            Value::Object(m)
        })
        .collect();
    doc.insert("targets".into(), json!(targets));
    Value::Object(doc)
}

/// `dump`.
fn dumps(ids: &[String], ends: &[Finished<Output>], code: ExitCode) -> Value {
    let mut doc = head("dump", code);
    let targets: Vec<Value> = ids
        .iter()
        .zip(ends)
        .map(|(id, end)| {
            let mut m = target(id, end, false);
            if let TargetResult::Done(Output::Dump(path)) = &end.result {
                m.insert("schema_file".into(), json!(path.display().to_string()));
            }
            Value::Object(m)
        })
        .collect();
    doc.insert("targets".into(), json!(targets));
    Value::Object(doc)
}

/// A document whose targets carry the fields `fields` gives for each finished one.
fn with_fields(
    command: &str,
    ids: &[String],
    ends: &[Finished<Output>],
    code: ExitCode,
    fields: impl Fn(&str, &Finished<Output>) -> Option<Vec<(String, Value)>>,
) -> Value {
    let mut doc = head(command, code);
    let targets: Vec<Value> = ids
        .iter()
        .zip(ends)
        .map(|(id, end)| {
            let mut m = target(id, end, false);
            for (k, v) in fields(id, end).unwrap_or_default() {
                m.insert(k, v);
            }
            Value::Object(m)
        })
        .collect();
    doc.insert("targets".into(), json!(targets));
    Value::Object(doc)
}

/// `--format json-lines`: one object per event.
fn event_line(id: &str, event: &Event<'_>) -> Value {
    let mut e = match event {
        Event::Connecting => json!({ "event": "connecting" }),
        Event::CheckWarnings { file, findings } => json!({
            "event": "check_warnings",
            "file": file,
            "findings": findings.iter().map(super::check::finding_json).collect::<Vec<_>>(),
        }),
        Event::Connected { via } => json!({ "event": "connected", "via": via }),
        Event::CreatingDatabase { name } => json!({ "event": "creating_database", "name": name }),
        Event::WaitingForLock { holder, .. } => {
            json!({ "event": "waiting_for_lock", "holder": holder.to_string() })
        }
        Event::Planned { files } => json!({
            "event": "planned",
            "files": files.iter().map(|m| m.file_name.as_str()).collect::<Vec<_>>(),
        }),
        Event::Applying {
            migration,
            index,
            total,
        } => json!({
            "event": "applying", "file": migration.file_name, "index": index, "total": total,
        }),
        Event::Applied { migration, took } => json!({
            "event": "applied", "file": migration.file_name, "checksum": migration.checksum,
            "duration_ms": took.as_millis() as u64,
        }),
        Event::RollingBack {
            migration,
            index,
            total,
        } => json!({
            "event": "rolling_back", "file": migration.file_name, "index": index, "total": total,
        }),
        Event::RolledBack { migration, took } => json!({
            "event": "rolled_back", "file": migration.file_name,
            "duration_ms": took.as_millis() as u64,
        }),
        Event::ChecksumRecorded { file } => json!({ "event": "checksum_recorded", "file": file }),
        Event::Rehearsing { files } => json!({
            "event": "rehearsing",
            "files": files.iter().map(|m| m.file_name.as_str()).collect::<Vec<_>>(),
        }),
        Event::Rehearsed { files, took } => json!({
            "event": "rehearsed",
            "files": files.iter().map(|m| m.file_name.as_str()).collect::<Vec<_>>(),
            "duration_ms": took.as_millis() as u64,
            "kept": false,
        }),
        Event::StatementRehearsed {
            migration,
            statement,
        } => {
            let mut e = statement_json(statement);
            e["event"] = json!("statement_rehearsed");
            e["file"] = json!(migration.file_name);
            e
        }
        Event::NotRehearsable { migration } => {
            json!({ "event": "not_rehearsable", "file": migration.file_name })
        }
        Event::Step { what } => json!({ "event": "step", "what": what }),
        Event::LockRetry {
            migration,
            attempt,
            retries,
            wait,
            holders,
        } => json!({
            "event": "lock_retry",
            "file": migration,
            "attempt": attempt,
            "retries": retries,
            "wait_ms": wait.as_millis() as u64,
            "holders": holders,
        }),
        Event::QuietWait {
            migration,
            check,
            why,
            waited,
            limit,
        } => json!({
            "event": "quiet_wait",
            "file": migration,
            "check": check,
            "why": why,
            "waited_ms": waited.as_millis() as u64,
            "limit_ms": limit.as_millis() as u64,
        }),
        Event::Workload {
            action,
            container,
            detail,
        } => json!({
            "event": "workload",
            "action": action,
            "container": container,
            "detail": detail,
        }),
        Event::DirectiveHeld { migration, what } => {
            json!({ "event": "directive", "file": migration, "what": what })
        }
        Event::Warning { text } => json!({ "event": "warning", "text": text }),
    };
    e["schema"] = json!(SCHEMA_VERSION);
    e["at"] = json!(timestamp());
    e["target"] = json!(id);
    e
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::StatusRow;

    fn target(rows: &[(&str, State)]) -> Finished<Output> {
        Finished {
            took: Duration::from_millis(3),
            result: TargetResult::Done(Output::Status(
                rows.iter()
                    .map(|(v, state)| StatusRow {
                        version: v.to_string(),
                        file: Some(format!("{v}_x.sql")),
                        checksum: None,
                        state: state.clone(),
                        used_by: Vec::new(),
                    })
                    .collect(),
            )),
        }
    }

    #[test]
    fn status_names_the_versions_targets_disagree_on() {
        let ids = vec![
            "a/app".to_string(),
            "a/billing".to_string(),
            "b/app".to_string(),
        ];
        let ends = vec![
            target(&[("1", State::Applied), ("2", State::Applied)]),
            // Another migrations folder: versions 1 and 2 are none of its business.
            target(&[("9", State::Applied)]),
            target(&[("1", State::Applied), ("2", State::Pending)]),
        ];
        let doc = status(Verb::Status, &ids, &ends, ExitCode::Ok);
        assert_eq!(doc["schema"], SCHEMA_VERSION);
        assert_eq!(doc["command"], "status");
        assert_eq!(doc["disagreeing_versions"], json!(["2"]));
        assert_eq!(doc["targets"][2]["migrations"][1]["state"], "pending");
        assert_eq!(doc["targets"][1]["host"], "a");
        assert_eq!(doc["targets"][1]["database"], "billing");
    }
}
