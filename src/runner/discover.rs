//! `discover HOST…`: each host visited over its one SSH connection (in parallel, as
//! targets are), its PostgreSQL containers and their databases listed through the Docker
//! API, and the inventory that reaches them written (`inventory::write`) — to stdout by
//! the report, or atomically to `--write`'s file here. A host that fails is reported and
//! left out as a comment; the others still give their part.
//!
//! What it decides, so that the file works as written:
//! - every database that takes connections and is not a template is a target; `postgres`,
//!   the maintenance database, is one only when it is the container's only database, and
//!   otherwise is written commented out;
//! - a target is named after its database, or after its container (`CONTAINER-DATABASE`
//!   when the container has several) where names would repeat on the host;
//! - `password: { container: POSTGRES_PASSWORD }` and `method: tunnel` when the container
//!   has that variable and a network address (the tunnel needs no published port: it goes
//!   through SSH to the container's address); otherwise `method: exec`, which needs no
//!   password (psql over the container's local socket). A password is never written.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::event::{Event, Output, RunEvent, RunStart, Sink};
use super::fleet::{self, Finished, TargetResult};
use crate::error::{Ending, Error, ExitCode};
use crate::inventory::write::{DatabaseEntry, HostEntry, render};
use crate::inventory::{Host, Method, PasswordSource};
use crate::settings::{DiscoverJob, Run, Verb};
use crate::stop::{Stop, StopReason};
use crate::transport::discover::{Databases, MatchedBy, PgContainer, postgres_containers};
use crate::transport::fleet::Connections;

/// What one host gave.
#[derive(Debug)]
pub struct Discovered {
    /// Its part of the inventory.
    pub entry: HostEntry,
    /// Its PostgreSQL containers, as found.
    pub containers: Vec<PgContainer>,
}

impl Discovered {
    /// Databases written as targets (not commented out).
    pub fn targets(&self) -> usize {
        self.entry
            .databases
            .iter()
            .filter(|d| d.commented.is_none())
            .count()
    }
}

pub(super) async fn run(
    run: &Run,
    job: &DiscoverJob,
    sink: &dyn Sink,
    stop: &Stop,
) -> Result<ExitCode, Error> {
    let visited = job.given.len();
    let hosts = &job.inventory.hosts;
    let ids: Vec<String> = hosts[..visited].iter().map(|h| h.name.clone()).collect();
    sink.start(RunStart {
        verb: Verb::Discover,
        dry_run: None,
        single: false,
        ids: &ids,
        applied_by: &run.apply.applied_by,
        sql: None,
    })?;
    let connections = Connections::new(&job.inventory, run.accept_new_host_keys);
    let ends = fleet::run(visited, run.schedule, stop, |i| {
        let (connections, host) = (&connections, &hosts[i]);
        async move {
            let emit = |event: Event<'_>| sink.event(RunEvent::Target { target: i, event });
            emit(Event::Connecting);
            let started = Instant::now();
            let result = async {
                let docker = tokio::select! {
                    biased;
                    reason = stop.requested() => {
                        return Err(Error::Stopped { target: host.name.clone(), reason, next: None });
                    }
                    docker = connections.host_docker(&host.name) => docker?,
                };
                emit(Event::Connected {
                    via: &format!("ssh {}", job.given[i]),
                });
                let containers = postgres_containers(&docker).await?;
                let found = Discovered {
                    entry: entry(host, &containers),
                    containers,
                };
                for line in &found.entry.trailing {
                    emit(Event::Warning { text: line });
                }
                Ok(Output::Discovered(Box::new(found)))
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
    let entries = entries(hosts, &ends);
    let found: usize = ends
        .iter()
        .filter_map(|e| match &e.result {
            TargetResult::Done(Output::Discovered(d)) => Some(d.targets()),
            _ => None,
        })
        .sum();
    let text = render(&header(&job.given), &entries);
    // An inventory with no target does not load: nothing is written.
    if let Some(path) = &job.write
        && found > 0
    {
        write_atomically(path, &text, job.force)?;
    }
    let mut endings: Vec<Ending> = ends
        .iter()
        .map(|end| match &end.result {
            TargetResult::Done(_) => Ending::Ok,
            TargetResult::Failed(e) => Ending::Failed(e.exit_code()),
            TargetResult::Skipped(_) => Ending::Skipped,
        })
        .collect();
    if found == 0 {
        endings.push(Ending::Flagged);
    }
    let code = ExitCode::of_run(&endings, stop.reason() == Some(StopReason::Interrupted));
    sink.event(RunEvent::Discovered {
        ends: &ends,
        inventory: &text,
        write: job.write.as_deref(),
        found,
        code,
    });
    sink.event(RunEvent::Finished {
        ends: &ends,
        code,
        drafts: &[],
        between: None,
    });
    Ok(code)
}

/// The file's first lines: how it was made, and what to do with it.
fn header(given: &[String]) -> Vec<String> {
    vec![
        format!(
            "pgfleet inventory, written by `pgfleet discover {}` on {}.",
            given.join(" "),
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        ),
        "Check it with `pgfleet -i FILE inventory`, then set `migrations:` (default ./migrations)"
            .into(),
        "per database, or for all of them under `defaults:`. No password is written here:".into(),
        "`password: { container: POSTGRES_PASSWORD }` reads it from the container each run.".into(),
    ]
}

/// Every host's part, in the order given: what it gave, or why it gave nothing; then the
/// jump hosts of `-i`'s inventory, as it has them.
fn entries(hosts: &[Host], ends: &[Finished<Output>]) -> Vec<HostEntry> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, host)| match ends.get(i).map(|e| &e.result) {
            Some(TargetResult::Done(Output::Discovered(d))) => d.entry.clone(),
            Some(TargetResult::Failed(e)) => unreached(
                host,
                format!(
                    "not reached: {}\nFix that and run discover again.",
                    crate::transport::redact(&e.to_string())
                ),
            ),
            Some(_) => unreached(host, "not visited (interrupted)".into()),
            None => unreached(host, "a jump host".into()),
        })
        .collect()
}

fn unreached(host: &Host, why: String) -> HostEntry {
    HostEntry {
        host: host.clone(),
        notes: vec![why],
        databases: Vec::new(),
        trailing: Vec::new(),
    }
}

/// A host's part of the inventory from its containers (see the module's comment).
fn entry(host: &Host, containers: &[PgContainer]) -> HostEntry {
    let mut databases = Vec::new();
    let mut trailing = Vec::new();
    for c in containers {
        let listed = match &c.databases {
            Databases::Listed(names) => names,
            Databases::NotListed => {
                trailing.push(format!(
                    "{}: {} ({}): start it (`docker start {}`) and run discover again",
                    c.state, c.name, c.image, c.name
                ));
                continue;
            }
            Databases::Failed(why) if c.matched_by == MatchedBy::Settings => {
                trailing.push(format!(
                    "left out: {} ({}) has POSTGRES_* settings, but psql in it did not list databases ({why}); if it is a PostgreSQL server, fix that and run discover again",
                    c.name, c.image
                ));
                continue;
            }
            Databases::Failed(why) => {
                trailing.push(format!(
                    "left out: {} ({}): its databases could not be listed ({why}); fix that and run discover again",
                    c.name, c.image
                ));
                continue;
            }
        };
        if listed.is_empty() {
            trailing.push(format!(
                "left out: {} ({}) has no database that takes connections",
                c.name, c.image
            ));
        }
        let (password, method) = match &c.password_variable {
            Some(var) if c.has_address => (PasswordSource::Container(var.clone()), Method::Tunnel),
            _ => (PasswordSource::None, Method::Exec),
        };
        let mut notes = Vec::new();
        if let Some((project, service)) = &c.compose {
            notes.push(format!(
                "docker compose project {project}, service {service}"
            ));
        }
        if !c.published.is_empty() {
            notes.push(format!(
                "published on {} (pgfleet does not need it: it goes through SSH)",
                c.published.join(", ")
            ));
        }
        if c.password_file {
            notes
                .push("its password is in a file (POSTGRES_PASSWORD_FILE): exec needs none".into());
        }
        for db in listed {
            let maintenance = db == "postgres" && listed.len() > 1;
            databases.push(DatabaseEntry {
                name: db.clone(),
                container: c.name.clone(),
                database: db.clone(),
                user: c.user.clone(),
                password: password.clone(),
                method,
                port: c.port,
                note: (!notes.is_empty()).then(|| notes.join("; ")),
                commented: maintenance.then(|| {
                    format!(
                        "postgres, the maintenance database of {}: uncomment to manage it too",
                        c.name
                    )
                }),
            });
        }
    }
    name_targets(&mut databases);
    HostEntry {
        host: host.clone(),
        notes: if databases.is_empty() && trailing.is_empty() {
            vec!["no PostgreSQL container here".into()]
        } else {
            Vec::new()
        },
        databases,
        trailing,
    }
}

/// Target names unique on the host and valid in an inventory: the database's name, or
/// where several containers have one of that name, the container's (`CONTAINER-DATABASE`
/// when the container has several databases).
fn name_targets(databases: &mut [DatabaseEntry]) {
    let count = |f: &dyn Fn(&DatabaseEntry) -> bool| databases.iter().filter(|d| f(d)).count();
    let names: Vec<String> = databases
        .iter()
        .map(|d| {
            if count(&|o| o.database == d.database) == 1 {
                d.database.clone()
            } else if count(&|o| o.container == d.container && o.commented.is_none()) == 1
                && d.commented.is_none()
            {
                d.container.clone()
            } else {
                format!("{}-{}", d.container, d.database)
            }
        })
        .collect();
    let mut used: Vec<String> = Vec::new();
    for (d, name) in databases.iter_mut().zip(names) {
        let base: String = name
            .chars()
            .map(|c| {
                if c.is_whitespace() || "/,!*?[]{}".contains(c) {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let mut name = base.clone();
        let mut n = 1;
        while used.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        used.push(name.clone());
        d.name = name;
    }
}

/// Writes the file whole or not at all: a temporary file beside it, synced, then put in
/// its place — with `force` by renaming over it, else by a hard link that fails if a file
/// appeared there since the run started.
fn write_atomically(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    let io = |what: String| move |error| Error::Io { what, error };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = folder.join(format!(".{name}.pgfleet-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    let placed = written.and_then(|()| {
        if force {
            std::fs::rename(&temp, path)
        } else {
            std::fs::hard_link(&temp, path)
        }
    });
    let _ = std::fs::remove_file(&temp);
    placed.map_err(io(format!(
        "cannot write the inventory to {} (pass --force to replace a file that exists)",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(container: &str, database: &str, commented: bool) -> DatabaseEntry {
        DatabaseEntry {
            name: String::new(),
            container: container.into(),
            database: database.into(),
            user: "postgres".into(),
            password: PasswordSource::None,
            method: Method::Exec,
            port: None,
            note: None,
            commented: commented.then(String::new),
        }
    }

    #[test]
    fn targets_are_named_by_database_then_by_container() {
        let mut dbs = vec![
            db("alpha-app", "app", false),
            db("alpha-app", "postgres", true),
            db("alpha-billing", "billing", false),
            db("beta-app", "app", false),
            db("beta-app", "postgres", true),
            db("lone", "postgres", false),
            db("two", "a b", false),
            db("two", "x/y", false),
            db("x_y", "x_y", false),
        ];
        name_targets(&mut dbs);
        let names: Vec<&str> = dbs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "alpha-app",
                "alpha-app-postgres",
                "billing",
                "beta-app",
                "beta-app-postgres",
                "lone",
                "a_b",
                "x_y",
                "x_y-2"
            ]
        );
    }
}
