//! The containers beside a target's database, through its host's Docker API: who the
//! sessions that pre-flight, a lock retry or `plan` find are (their client address is a
//! container's), and the directives that act on workloads — `stop` (stopped before the
//! migration, started again after, whatever happens), `requires` (refuse until the
//! container runs the wanted image or label) and `used-by` (its sessions named first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::Event;
use crate::error::Error;
use crate::migration::Migration;
use crate::migration::directive::{Directive, Requirement, Selector};
use crate::migration::locks::{migration_waits_for_old_transactions, strongest_locks};
use crate::tracking::{self, Activity, Database};
use crate::transport::docker::{DockerApi, Workload};

/// How long the sessions of stopped containers may take to leave pg_stat_activity.
const DRAIN_WAIT: Duration = Duration::from_secs(30);

/// A target's docker host (a `--url` target has none).
#[derive(Clone)]
pub struct Host {
    pub docker: Arc<DockerApi>,
}

impl Host {
    fn name(&self) -> &str {
        self.docker.host()
    }

    async fn workloads(&self, target: &str) -> Result<Vec<Workload>, Error> {
        self.docker
            .workloads()
            .await
            .map_err(|e| workload_error(target, e.to_string()))
    }
}

fn workload_error(target: &str, reason: String) -> Error {
    Error::Refused {
        target: target.to_string(),
        reason: format!("cannot read the host's containers: {reason}"),
    }
}

/// Does `selector` name this container?
pub(super) fn matches(w: &Workload, selector: &Selector) -> bool {
    match selector {
        Selector::Name(n) => w.name == *n,
        Selector::Label { key, value } => w
            .labels
            .get(key)
            .is_some_and(|v| value.as_ref().is_none_or(|want| v == want)),
    }
}

/// The `used-by` selectors of a migration.
pub(super) fn used_by(migration: &Migration) -> Vec<&Selector> {
    migration
        .directives
        .iter()
        .filter_map(|d| match &d.directive {
            Directive::UsedBy { selector, .. } => Some(selector),
            _ => None,
        })
        .collect()
}

/// Names each session's container from its client address, and puts the sessions of
/// containers a `used-by` directive declares first.
pub(super) fn name_sessions(
    sessions: &mut [Activity],
    workloads: &[Workload],
    declared: &[&Selector],
) {
    for s in sessions.iter_mut() {
        s.container = s.client_addr.as_ref().and_then(|addr| {
            workloads
                .iter()
                .find(|w| w.addresses.iter().any(|a| a == addr))
                .map(|w| w.name.clone())
        });
    }
    let is_declared = |s: &Activity| {
        s.container.as_ref().is_some_and(|c| {
            workloads
                .iter()
                .any(|w| &w.name == c && declared.iter().any(|sel| matches(w, sel)))
        })
    };
    sessions.sort_by_key(|s| (!is_declared(s), s.pid));
}

/// The other sessions whose locks conflict with what `migration` needs (held or queued) —
/// or, for a migration that waits for old transactions (CREATE INDEX CONCURRENTLY), that
/// hold a snapshot — in transactions open at least `older_than` seconds (None: any), named
/// by container when the host is known.
pub(super) async fn blockers(
    db: &mut Database,
    host: Option<&Host>,
    migration: &Migration,
    older_than: Option<f64>,
) -> Result<Vec<Activity>, Error> {
    let wanted = strongest_locks(migration);
    let snapshots = migration_waits_for_old_transactions(migration);
    let relations: Vec<String> = wanted.iter().map(|l| l.relation.clone()).collect();
    let mut found: Vec<Activity> = tracking::sessions(db, &relations)
        .await?
        .into_iter()
        .filter(|a| a.conflicts_with(&wanted).next().is_some() || (snapshots && a.holds_snapshot))
        .filter(|a| older_than.is_none_or(|secs| a.older_than(secs)))
        .collect();
    name(db.target(), host, &mut found, &used_by(migration)).await;
    Ok(found)
}

/// Names sessions by container, if the host is known and answers (a failure to ask leaves
/// them named by address: they are still worth showing).
pub(super) async fn name(
    target: &str,
    host: Option<&Host>,
    sessions: &mut [Activity],
    declared: &[&Selector],
) {
    if sessions.is_empty() {
        return;
    }
    let workloads = match host {
        Some(h) => h.workloads(target).await.unwrap_or_default(),
        None => Vec::new(),
    };
    name_sessions(sessions, &workloads, declared);
}

/// Refuses, before anything runs, pending migrations whose directives cannot be honoured:
/// `stop`/`requires` without a docker host (a `--url` target), a `stop` that matches no
/// container, `requires` not met by the running container, `quiesce` in a file without a transaction (the lock would end with
/// its first statement).
pub(super) async fn refusals(
    target: &str,
    host: Option<&Host>,
    pending: &[&Migration],
) -> Result<(), Error> {
    let refuse = |reason: String| Error::Refused {
        target: target.to_string(),
        reason,
    };
    // The host's containers, listed once when a pending migration names any.
    let names_containers = pending.iter().flat_map(|m| &m.directives).any(|d| {
        matches!(
            d.directive,
            Directive::Stop { .. } | Directive::Requires { .. }
        )
    });
    let all = match host {
        Some(h) if names_containers => h.workloads(target).await?,
        _ => Vec::new(),
    };
    for m in pending {
        for d in &m.directives {
            let at = format!("{}:{}", m.file_name, d.line);
            match (&d.directive, host) {
                (Directive::Quiesce { name }, _) if !m.up_transactional() => {
                    return Err(refuse(format!(
                        "{at}: quiesce {name} needs the migration's transaction (its lock is released at commit), and this file is transaction:false: split the change so the quiesced part runs in a transaction"
                    )));
                }
                (Directive::Stop { selector } | Directive::Requires { selector, .. }, None) => {
                    return Err(refuse(format!(
                        "{at}: `{selector}` names containers on the target's docker host, and a --url target has none: run it through an inventory (-i), or stop/deploy the workload by hand and remove the directive"
                    )));
                }
                // A `stop` that names nothing is most likely a typo, and would let the
                // workload run through the migration: the very incident it is there for.
                (Directive::Stop { selector }, Some(h))
                    if !all.iter().any(|w| matches(w, selector)) =>
                {
                    let mut names: Vec<&str> = all.iter().map(|w| w.name.as_str()).collect();
                    names.sort();
                    return Err(refuse(format!(
                        "{at}: stop `{selector}` matches no container on {} (there: {}): correct the selector, or remove the directive if that workload is gone",
                        h.name(),
                        names.join(", ")
                    )));
                }
                (
                    Directive::Requires {
                        selector,
                        requirement,
                    },
                    Some(h),
                ) => {
                    let running: Vec<&Workload> = all
                        .iter()
                        .filter(|w| w.running && matches(w, selector))
                        .collect();
                    if running.is_empty() {
                        return Err(refuse(format!(
                            "{at}: requires `{selector}` at {requirement}, and no running container on {} matches `{selector}`: deploy it first",
                            h.name()
                        )));
                    }
                    for w in running {
                        if let Some(why) = unmet(h, w, requirement).await? {
                            return Err(refuse(format!(
                                "{at}: requires `{selector}` at {requirement}, but container {} {why}: deploy the updated workload first, then run again",
                                w.name
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Why the container does not meet the requirement, or None when it does. An image
/// reference matches the name the container was created from, or the image id that
/// reference has on the host now.
async fn unmet(
    host: &Host,
    w: &Workload,
    requirement: &Requirement,
) -> Result<Option<String>, Error> {
    Ok(match requirement {
        Requirement::Image(reference) => {
            if w.image == *reference || w.image_id == *reference {
                None
            } else {
                let id = host
                    .docker
                    .image_id(reference)
                    .await
                    .map_err(|e| workload_error(host.name(), e.to_string()))?;
                if id.as_deref() == Some(w.image_id.as_str()) {
                    None
                } else {
                    Some(format!("runs image {}", w.image))
                }
            }
        }
        Requirement::Label { key, value } => match w.labels.get(key) {
            Some(v) if v == value => None,
            Some(v) => Some(format!("has label {key}={v}")),
            None => Some(format!("has no label {key}")),
        },
    })
}

/// The containers `migration`'s `stop` directives name, running now.
fn to_stop<'a>(migration: &Migration, all: &'a [Workload]) -> Vec<&'a Workload> {
    let selectors: Vec<&Selector> = migration
        .directives
        .iter()
        .filter_map(|d| match &d.directive {
            Directive::Stop { selector } => Some(selector),
            _ => None,
        })
        .collect();
    all.iter()
        .filter(|w| w.running && selectors.iter().any(|s| matches(w, s)))
        .collect()
}

/// True when the migration has `stop` directives: it runs on its own, between a stop and
/// a start of those containers.
pub(super) fn stops(migration: &Migration) -> bool {
    migration
        .directives
        .iter()
        .any(|d| matches!(d.directive, Directive::Stop { .. }))
}

/// Runs `body` (the migration) with the containers its `stop` directives name stopped:
/// `docker stop` (their grace period lets a worker finish its batch), then until their
/// sessions have left the database, then `body`, then `docker start` — after a failure or
/// an interrupt too. A container that cannot be started again is a loud error with the
/// command to do it by hand.
pub(super) async fn with_stopped<T>(
    db: &mut Database,
    host: &Host,
    migration: &Migration,
    emit: &mut (dyn FnMut(Event<'_>) + Send),
    body: impl AsyncFnOnce(&mut Database, &mut (dyn FnMut(Event<'_>) + Send)) -> Result<T, Error>,
) -> Result<T, Error> {
    let target = db.target().to_string();
    let all = host.workloads(&target).await?;
    let chosen: Vec<&Workload> = to_stop(migration, &all);
    let names: Vec<String> = chosen.iter().map(|w| w.name.clone()).collect();
    let mut stopped: Vec<String> = Vec::new();
    let mut result: Result<(), Error> = Ok(());
    for w in &chosen {
        emit(Event::Workload {
            action: "stopping",
            container: &w.name,
            detail: &format!(
                "for {}; pgfleet starts it again after (by hand: `docker start {}` on {})",
                migration.file_name,
                w.name,
                host.name()
            ),
        });
        match host.docker.stop(&w.name, None).await {
            Ok(()) => {
                stopped.push(w.name.clone());
                emit(Event::Workload {
                    action: "stopped",
                    container: &w.name,
                    detail: "",
                });
            }
            Err(e) => {
                result = Err(Error::Refused {
                    target: target.clone(),
                    reason: format!(
                        "{}: cannot stop container {} on {}: {e}; nothing was migrated",
                        migration.file_name,
                        w.name,
                        host.name()
                    ),
                });
                break;
            }
        }
    }
    let addresses: Vec<String> = chosen.iter().flat_map(|w| w.addresses.clone()).collect();
    if result.is_ok() {
        result = drained(db, &addresses, &names, &migration.file_name).await;
    }
    let outcome = match result {
        Ok(()) => body(db, emit).await,
        Err(e) => Err(e),
    };
    let mut not_started = Vec::new();
    for name in &stopped {
        match host.docker.start(name).await {
            Ok(()) => emit(Event::Workload {
                action: "started",
                container: name,
                detail: "",
            }),
            Err(e) => not_started.push(format!("{name} ({e})")),
        }
    }
    if not_started.is_empty() {
        return outcome;
    }
    let migrated = match &outcome {
        Ok(_) => format!("{} was applied", migration.file_name),
        Err(e) => format!("{} was not applied: {e}", migration.file_name),
    };
    Err(Error::NotRestarted {
        target,
        host: host.name().to_string(),
        containers: not_started.join(", "),
        command: format!("docker start {}", stopped.join(" ")),
        migrated,
    })
}

/// Waits until no session comes from the stopped containers' addresses any more.
async fn drained(
    db: &mut Database,
    addresses: &[String],
    names: &[String],
    file: &str,
) -> Result<(), Error> {
    if addresses.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    loop {
        let left: Vec<Activity> = tracking::sessions(db, &[])
            .await?
            .into_iter()
            .filter(|a| {
                a.client_addr
                    .as_ref()
                    .is_some_and(|c| addresses.contains(c))
            })
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if started.elapsed() > DRAIN_WAIT {
            let list: Vec<String> = left.iter().map(|a| a.to_string()).collect();
            return Err(Error::Refused {
                target: db.target().to_string(),
                reason: format!(
                    "{file}: {} stopped, but their sessions are still on the database after {} s: {}; nothing was migrated",
                    names.join(", "),
                    DRAIN_WAIT.as_secs(),
                    list.join("; ")
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(name: &str, address: &str, labels: &[(&str, &str)]) -> Workload {
        Workload {
            name: name.into(),
            addresses: vec![address.into()],
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            running: true,
            ..Default::default()
        }
    }

    fn session(pid: i32, addr: Option<&str>) -> Activity {
        Activity {
            pid,
            application: "x".into(),
            user: "app".into(),
            state: "idle".into(),
            client_addr: addr.map(String::from),
            transaction_secs: None,
            query: String::new(),
            locks: Vec::new(),
            holds_snapshot: false,
            container: None,
        }
    }

    #[test]
    fn selectors_match_by_name_label_and_label_value() {
        let w = workload("classifier-1", "172.17.0.9", &[("app", "classifier")]);
        let label = |key: &str, value: Option<&str>| Selector::Label {
            key: key.into(),
            value: value.map(String::from),
        };
        assert!(matches(&w, &Selector::Name("classifier-1".into())));
        assert!(!matches(&w, &Selector::Name("classifier".into())));
        assert!(matches(&w, &label("app", None)));
        assert!(matches(&w, &label("app", Some("classifier"))));
        assert!(!matches(&w, &label("app", Some("billing"))));
        assert!(!matches(&w, &label("tier", None)));
    }

    #[test]
    fn sessions_are_named_by_address_and_declared_workloads_come_first() {
        let workloads = [
            workload("web", "172.17.0.5", &[]),
            workload("classifier-1", "172.17.0.9", &[("app", "classifier")]),
        ];
        let mut sessions = [
            session(10, Some("172.17.0.5")),
            session(20, None),
            session(30, Some("172.17.0.9")),
            session(40, Some("10.0.0.1")),
        ];
        let declared = Selector::Label {
            key: "app".into(),
            value: None,
        };
        name_sessions(&mut sessions, &workloads, &[&declared]);
        let order: Vec<(i32, Option<&str>)> = sessions
            .iter()
            .map(|s| (s.pid, s.container.as_deref()))
            .collect();
        assert_eq!(
            order,
            [
                (30, Some("classifier-1")),
                (10, Some("web")),
                (20, None),
                (40, None)
            ]
        );
        assert!(
            sessions[0]
                .to_string()
                .contains("from container classifier-1")
        );
        assert!(sessions[2].to_string().contains("local socket"));
        assert!(sessions[3].to_string().contains("from 10.0.0.1"));
    }
}
