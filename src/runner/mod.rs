//! Runs a validated `settings::Run`: each target's job (reach, connect, choose the backend,
//! run the command) on the schedule `fleet` keeps, and everything that happens as events
//! to a `Sink`, from `RunStart` to `RunEvent::Finished`. It never prints; the exit code
//! comes from `ExitCode::of_run`.

pub mod adopt;
pub mod builds;
pub mod change;
pub mod discover;
pub mod event;
pub mod fleet;
mod migrate;
mod target;
pub mod workloads;

use std::time::{Duration, Instant};

pub use event::{Event, Output, RunEvent, RunStart, Sink};
pub use migrate::{
    Outcome, Plan, Rehearsal, RehearsedStatement, RunSettings, plan, record_checksums, rehearse,
    rollback, up,
};

use crate::error::{Ending, Error, ExitCode};
use crate::inventory;
use crate::migration;
use crate::plan::State;
use crate::settings::{Action, Address, ExitRule, Run, Schedule};
use crate::stop::{Stop, StopReason};
use crate::transport::DbUrl;
use fleet::{Finished, TargetResult};
use target::Shared;

/// Runs the command. Ctrl-C (or SIGTERM) once: start nothing new, let running migrations
/// finish or roll back, report, exit 130. Twice: the run is dropped at once — every
/// connection closes, and the server rolls back whatever transaction was open.
pub async fn run(run: &Run, sink: &dyn Sink) -> Result<ExitCode, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let stop = Stop::default();
    let work = dispatch(run, sink, &stop);
    tokio::pin!(work);
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return work.await;
    };
    let mut seen = 0;
    loop {
        tokio::select! {
            biased;
            done = &mut work => return done,
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        seen += 1;
        if seen == 1 {
            stop.request(StopReason::Interrupted);
            sink.event(RunEvent::Interrupted);
        } else {
            sink.event(RunEvent::Aborting);
            return Ok(ExitCode::of_run(&[], true));
        }
    }
}

async fn dispatch(run: &Run, sink: &dyn Sink, stop: &Stop) -> Result<ExitCode, Error> {
    match &run.action {
        Action::New { name } => {
            let dir = &run.migrations_dir;
            if name.trim().is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(Error::Usage(format!(
                    "`new` needs a name for the file, without / or a leading dot (e.g. `pgfleet new add_orders`), not {name:?}"
                )));
            }
            let path = migration::create_new(dir, name, chrono::Utc::now()).map_err(|error| {
                Error::Io {
                    what: format!("cannot create a migration in {}", dir.display()),
                    error,
                }
            })?;
            sink.event(RunEvent::Created { path: &path });
            Ok(ExitCode::Ok)
        }
        Action::Wait => match &run.url {
            Some(url) => wait(url, run.wait_timeout, sink, stop).await,
            None => Err(Error::Config("wait needs --url or DATABASE_URL".into())),
        },
        Action::Check(_) => {
            let Some(job) = &run.check else {
                return Err(Error::Config("check: nothing was read".into()));
            };
            let checked =
                crate::check::check(&job.inputs, &job.folders, job.since.as_ref(), &job.config);
            // 1, as for drift: the files were read, and some fail the rules.
            let code = if checked.denied(job.deny) > 0 {
                ExitCode::Pending
            } else {
                ExitCode::Ok
            };
            sink.event(RunEvent::Checked {
                checked: &checked,
                deny: job.deny,
                code,
                repo_paths: &job.repo_paths,
            });
            Ok(code)
        }
        Action::Inventory => {
            let targets: Vec<&inventory::Target> = run
                .targets
                .iter()
                .filter_map(|t| match &t.address {
                    Address::Inventory(t) => Some(t),
                    Address::Url(_) => None,
                })
                .collect();
            if let Some(inventory) = &run.inventory {
                sink.event(RunEvent::Inventory {
                    targets: &targets,
                    inventory,
                });
            }
            Ok(ExitCode::Ok)
        }
        Action::Discover(_) => match &run.discover {
            Some(job) => discover::run(run, job, sink, stop).await,
            None => Err(Error::Config("discover: no hosts were read".into())),
        },
        _ => on_targets(run, sink, stop).await,
    }
}

/// A database command on every target, `--parallel` at a time. A failed target is
/// reported and the others still run; the exit code is decided at the end.
async fn on_targets(run: &Run, sink: &dyn Sink, stop: &Stop) -> Result<ExitCode, Error> {
    let settings = RunSettings {
        lock_wait: run.lock_wait,
        apply: run.apply.clone(),
        stop: stop.clone(),
        findings: run.findings.clone(),
    };
    let ids: Vec<String> = run.targets.iter().map(|t| t.id.clone()).collect();
    sink.start(RunStart {
        verb: run.action.verb(),
        dry_run: match &run.action {
            Action::Plan { mode, .. } => Some(*mode),
            _ => None,
        },
        single: run.single,
        ids: &ids,
        applied_by: &run.apply.applied_by,
        sql: run.query.as_ref().map(|q| q.text.as_str()),
    })?;
    let shared = Shared::new(run, &settings);
    if let Some(m) = &run.to_register {
        let _ = shared.to_register.set(m.clone());
    }
    let takes_baseline =
        matches!(&run.action, Action::Baseline { from, .. } if from.is_some() || run.single);
    let schedule = Schedule {
        // The targets that register a new baseline wait for the one that writes it.
        canary: if takes_baseline {
            1
        } else {
            run.schedule.canary
        },
        ..run.schedule
    };
    let ends = fleet::run(run.targets.len(), schedule, stop, |i| {
        let (shared, target) = (&shared, &run.targets[i]);
        async move {
            let mut emit = |event: Event<'_>| sink.event(RunEvent::Target { target: i, event });
            emit(Event::Connecting);
            let started = Instant::now();
            let result = async {
                let backend = tokio::select! {
                    biased;
                    reason = stop.requested() => {
                        return Err(Error::Stopped { target: target.id.clone(), reason, next: None });
                    }
                    backend = target::reach(target, shared) => backend?,
                };
                emit(Event::Connected {
                    via: &backend.target(),
                });
                target::on_target(backend, target, i, shared, &mut emit).await
            }
            .await;
            sink.event(RunEvent::TargetFinished {
                target: i,
                result: &result,
                took: started.elapsed(),
            });
            result
        }
    })
    .await;
    let between = adopt::between(&run.action, &run.targets, &ends);
    let drafts = match &run.action {
        Action::Drift {
            write_migration: true,
            ..
        } => adopt::write_drafts(&run.targets, &ends, run.taken)?,
        _ => Vec::new(),
    };
    let mut endings: Vec<Ending> = ends
        .iter()
        .map(|end| ending(run.action.exit_rule(), end))
        .collect();
    if between.as_ref().is_some_and(|d| !d.is_empty()) {
        endings.push(Ending::Flagged);
    }
    let code = ExitCode::of_run(&endings, stop.reason() == Some(StopReason::Interrupted));
    sink.event(RunEvent::Finished {
        ends: &ends,
        code,
        drafts: &drafts,
        between: between.as_deref(),
    });
    Ok(code)
}

/// How a target ended, under the command's exit rule.
fn ending(rule: ExitRule, end: &Finished<Output>) -> Ending {
    let output = match &end.result {
        TargetResult::Done(output) => output,
        TargetResult::Failed(e) => return Ending::Failed(e.exit_code()),
        TargetResult::Skipped(_) => return Ending::Skipped,
    };
    let flagged = match (rule, output) {
        (ExitRule::Pending, Output::Status(rows)) => rows.iter().any(|r| r.state == State::Pending),
        (ExitRule::Changed, Output::Status(rows)) => rows
            .iter()
            .any(|r| matches!(r.state, State::Changed { .. } | State::NoFile)),
        (ExitRule::Differs, Output::Adopted(a)) => a.outcome == adopt::Adoption::Differs,
        (ExitRule::Drift, Output::Drift(d)) => !d.differences.is_empty(),
        _ => false,
    };
    if flagged { Ending::Flagged } else { Ending::Ok }
}

/// `wait`: like dbmate's, a server that answers "database does not exist" is up.
async fn wait(
    url: &DbUrl,
    timeout: Duration,
    sink: &dyn Sink,
    stop: &Stop,
) -> Result<ExitCode, Error> {
    let deadline = Instant::now() + timeout;
    let mut said = false;
    loop {
        // Each try ends with the wait (a server that accepts and never answers), or at the
        // first Ctrl-C.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(200));
        let attempt = tokio::select! {
            biased;
            _ = stop.requested() => return Ok(ExitCode::of_run(&[], true)),
            attempt = tokio::time::timeout(left, url.open()) => {
                attempt.unwrap_or_else(|_| {
                    Err(crate::transport::no_answer(left, crate::transport::RAISE_IN_URL))
                })
            }
        };
        match attempt {
            Ok(_) => return Ok(ExitCode::Ok),
            Err(e) if e.is_code("3D000") => return Ok(ExitCode::Ok),
            Err(error) if Instant::now() >= deadline => {
                return Err(Error::Connect {
                    target: url.to_string(),
                    error: Box::new(error),
                });
            }
            Err(_) => {
                if !said {
                    sink.event(RunEvent::Waiting {
                        url: &url.to_string(),
                    });
                    said = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.requested() => return Ok(ExitCode::of_run(&[], true)),
                }
            }
        }
    }
}
