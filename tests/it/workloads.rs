//! Workloads that share a database with a migration, for real: issue 11's classification
//! worker runs in a container of the fleet, next to `alpha-app`, while pgfleet migrates.
//!
//! The story: the worker marks a batch of emails `in_progress`, works a few seconds, then
//! inserts the results and clears the flag. A column rename lands mid-batch, the final
//! INSERT fails, and the batch's rows stay `in_progress` for ever.
//!
//! [`Incident`] plays that story with any pgfleet command and says what came of it, so a
//! test of a coordination directive is a few lines:
//!
//! ```ignore
//! let out = Incident::new("quiesce")
//!     .quiesce("classifier")
//!     .header("-- pgfleet:quiesce classifier\n")
//!     .run(|pgfleet| pgfleet.arg("up"));
//! assert_eq!((out.stranded, out.applied), (0, true), "{out}");
//! ```
//!
//! The pieces ([`StoryDb`], [`Worker`], [`sleeping_batch`], [`stranded`]) serve other
//! scenarios too. The worker is `tests/fixtures/workloads/classifier.sh`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::fleet::{fleet, unique_db};
use crate::harness::{Cmd, Output, tempdir, write_migrations};
use tempfile::TempDir;

/// The worker: a busybox sh loop around one psql session per batch.
const CLASSIFIER: &str = include_str!("../fixtures/workloads/classifier.sh");

/// The fleet's postgres image: it has psql and busybox's sh, all the worker needs.
const IMAGE: &str = "pgfleet/postgres:15";

/// The container the story's database lives in.
const TARGET: &str = "alpha-app";

/// The schema the worker expects, with 200 emails to classify.
pub(crate) const SCHEMA: (&str, &str) = (
    "20260101000000_emails.sql",
    "-- migrate:up
create table email_messages (
    id serial primary key,
    subject text,
    status text not null default 'new',
    claimed_by int
);
insert into email_messages (subject) select 'email ' || g from generate_series(1, 200) g;
create table classifications (
    email_id int not null,
    label text not null,
    classified_at timestamptz not null default now()
);
-- migrate:down
drop table classifications;
drop table email_messages;
",
);

/// The migration of the incident: harmless between batches (the next one reads the new
/// name), fatal to a batch in flight.
pub(crate) const RENAME_VERSION: &str = "20260102000000";
const RENAME_FILE: &str = "20260102000000_rename_label.sql";
const RENAME_BODY: &str = "-- migrate:up
alter table classifications rename column label to category;
-- migrate:down
alter table classifications rename column category to label;
";

// ---------------------------------------------------------------------------------------
// docker and psql

/// Runs `docker ARGS`, panicking with its stderr when it fails.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"));
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `sql` with psql inside `container` (over its socket: no password), unaligned and
/// tuples only, and returns what it printed, trimmed.
pub(crate) fn psql(container: &str, db: &str, sql: &str) -> String {
    docker(&[
        "exec",
        container,
        "psql",
        "-U",
        "postgres",
        "-d",
        db,
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ])
    .trim()
    .to_string()
}

/// The container's address on the default bridge.
fn bridge_ip(container: &str) -> String {
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container,
    ]);
    let ip = ip.trim().to_string();
    assert!(!ip.is_empty(), "{container} has no bridge address");
    ip
}

/// The value of `key` in the container's environment (never printed).
fn container_env(container: &str, key: &str) -> String {
    let env = docker(&[
        "inspect",
        "-f",
        "{{range .Config.Env}}{{println .}}{{end}}",
        container,
    ]);
    env.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{container} has no {key} in its environment"))
        .to_string()
}

/// Polls `probe` every `every` until it gives a value or `timeout` has passed.
fn poll<T>(timeout: Duration, every: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

// ---------------------------------------------------------------------------------------
// the database

/// A fresh database in `alpha-app` with the story's schema, made by pgfleet `up` through
/// an inventory of its own (host alpha, target `alpha/app`); dropped when this goes, unless
/// the test failed (then it is kept to look at).
pub(crate) struct StoryDb {
    /// Holds the inventory and migrations for as long as the database is used.
    pub(crate) _dir: TempDir,
    pub(crate) db: String,
    pub(crate) inventory: PathBuf,
    pub(crate) migrations: PathBuf,
}

impl StoryDb {
    /// `method`: `tunnel` or `exec`.
    pub(crate) fn create(hint: &str, method: &str) -> Self {
        let fleet = fleet();
        let dir = tempdir();
        let db = unique_db(hint);
        let migrations = dir.path().join("migrations");
        write_migrations(&migrations, &[SCHEMA]);
        let inventory = dir.path().join("inventory.yml");
        std::fs::write(
            &inventory,
            format!(
                "defaults:\n  user: pgfleet\n  identity_file: {key}\n  known_hosts: {known}\n  connect_timeout: 3s\n  migrations: {migrations}\n  password: {{ container: POSTGRES_PASSWORD }}\n  method: {method}\nhosts:\n  alpha:\n    address: 127.0.0.1\n    port: 22201\n    databases:\n      app:\n        container: {TARGET}\n        database: {db}\n",
                key = fleet.join("id_ed25519").display(),
                known = fleet.join("known_hosts").display(),
                migrations = migrations.display(),
            ),
        )
        .unwrap();
        let story = StoryDb {
            _dir: dir,
            db,
            inventory,
            migrations,
        };
        story.pgfleet().arg("up").run().success();
        story
    }

    /// `pgfleet -i INVENTORY`, for the caller to add a command to.
    pub(crate) fn pgfleet(&self) -> Cmd {
        Cmd::new().arg("-i").arg(&self.inventory)
    }

    pub(crate) fn psql(&self, sql: &str) -> String {
        psql(TARGET, &self.db, sql)
    }

    /// Adds the rename migration, `header` (directives, each line `-- pgfleet:…`) on top.
    pub(crate) fn add_rename(&self, header: &str) {
        write_migrations(
            &self.migrations,
            &[(RENAME_FILE, &format!("{header}{RENAME_BODY}"))],
        );
    }

    /// The rename is recorded as applied and the column has its new name.
    pub(crate) fn rename_applied(&self) -> bool {
        self.psql(&format!(
            "select exists (select from schema_migrations where version = '{RENAME_VERSION}')
                and exists (select from information_schema.columns
                             where table_name = 'classifications' and column_name = 'category')"
        )) == "t"
    }
}

impl Drop for StoryDb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = Command::new("docker")
                .args(["exec", TARGET, "psql", "-U", "postgres", "-Xqc"])
                .arg(format!(
                    "drop database if exists \"{}\" with (force)",
                    self.db
                ))
                .output();
        }
    }
}

/// Rows `in_progress` whose claiming session is gone: nobody will ever finish them.
pub(crate) fn stranded(container: &str, db: &str) -> i64 {
    psql(
        container,
        db,
        "select count(*) from email_messages m where status = 'in_progress'
            and not exists (select from pg_stat_activity a where a.pid = m.claimed_by)",
    )
    .parse()
    .expect("a count")
}

/// The worker's session that is in its work phase (`select pg_sleep…`), if any: its pid and
/// for how many seconds it has been sleeping.
pub(crate) fn sleeping_batch(container: &str, db: &str) -> Option<(i32, f64)> {
    let row = psql(
        container,
        db,
        "select pid || ' ' || extract(epoch from clock_timestamp() - query_start)
           from pg_stat_activity
          where datname = current_database() and application_name = 'classifier'
            and state = 'active' and query like 'select pg_sleep%'",
    );
    let (pid, secs) = row.lines().next()?.split_once(' ')?;
    Some((pid.parse().ok()?, secs.parse().ok()?))
}

// ---------------------------------------------------------------------------------------
// the worker

/// The classification worker in a container of its own (labels `pgfleet.fleet=1`, so that
/// `scripts/fleet down` takes it too, and `pgfleet.worker=NAME`), on the default bridge,
/// reaching its database over TCP. Removed (`docker rm -f`) when dropped, failed test or not.
pub(crate) struct Worker {
    name: String,
}

impl Worker {
    /// A unique container name for a worker.
    pub(crate) fn unique_name(hint: &str) -> String {
        unique_db(hint)
            .replace('_', "-")
            .replacen("it-", "it-worker-", 1)
    }

    /// Starts the worker against `db` in `container`; `work_seconds` is each batch's work
    /// phase, `quiesce` the name of the advisory lock each batch holds shared.
    pub(crate) fn start(
        name: &str,
        container: &str,
        db: &str,
        work_seconds: f64,
        quiesce: Option<&str>,
    ) -> Worker {
        let worker = Worker {
            name: name.to_string(),
        };
        let mut cmd = Command::new("docker");
        cmd.args(["run", "-d", "--name", name])
            .args(["--label", "pgfleet.fleet=1", "--label"])
            .arg(format!("pgfleet.worker={name}"))
            // The image's STOPSIGNAL is SIGINT (for postgres); the worker traps both.
            .args(["--stop-signal", "SIGTERM"])
            .arg("-e")
            .arg(format!("PGHOST={}", bridge_ip(container)))
            .arg("-e")
            .arg(format!("PGDATABASE={db}"))
            .args(["-e", "PGUSER=postgres", "-e", "PGPASSWORD"])
            .env("PGPASSWORD", container_env(container, "POSTGRES_PASSWORD"))
            .arg("-e")
            .arg(format!("WORK_SECONDS={work_seconds}"));
        if let Some(lock) = quiesce {
            cmd.arg("-e").arg(format!("QUIESCE={lock}"));
        }
        cmd.args(["--entrypoint", "/bin/sh", IMAGE, "-c", CLASSIFIER]);
        let out = cmd.output().expect("run docker run");
        assert!(
            out.status.success(),
            "cannot start the worker {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        worker
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// What it printed so far (stdout and stderr), every run of the container included.
    pub(crate) fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.name])
            .output()
            .expect("run docker logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Batches finished without error so far.
    pub(crate) fn batches_done(&self) -> usize {
        self.logs()
            .lines()
            .filter(|l| l.starts_with("batch ") && l.ends_with(": done"))
            .count()
    }

    /// Waits until `n` batches are done; false after `timeout`.
    pub(crate) fn wait_for_batches(&self, n: usize, timeout: Duration) -> bool {
        poll(timeout, Duration::from_millis(100), || {
            (self.batches_done() >= n).then_some(())
        })
        .is_some()
    }

    /// `docker stop -t 20`: SIGTERM, the batch in flight finishes, the loop ends. Panics
    /// when it did not go that way (killed, or a non-zero exit).
    pub(crate) fn stop_gracefully(&self) {
        docker(&["stop", "-t", "20", &self.name]);
        let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &self.name]);
        let logs = self.logs();
        assert!(
            code.trim() == "0" && logs.trim_end().ends_with("stopping after it, as asked"),
            "worker {} did not stop gracefully (exit code {})\n--- worker log ---\n{logs}",
            self.name,
            code.trim()
        );
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

// ---------------------------------------------------------------------------------------
// the scenario

/// Issue 11's incident, with the pgfleet command (and the rename's directives) chosen by
/// the test. See [`Incident::run`] for the steps.
pub(crate) struct Incident {
    hint: String,
    worker: String,
    header: String,
    quiesce: Option<String>,
    work_seconds: f64,
    method: String,
}

/// What came of it.
pub(crate) struct Outcome {
    /// Rows left `in_progress` by a session that is gone (after the worker was stopped).
    pub(crate) stranded: i64,
    /// The rename is recorded in schema_migrations and the column is renamed.
    pub(crate) applied: bool,
    /// The caller's pgfleet command.
    pub(crate) output: Output,
    /// How long that command took.
    pub(crate) took: Duration,
    /// Batches the worker finished after the command ended (it carries on, or is started
    /// again after a `stop`).
    pub(crate) batches_after: usize,
    /// Seconds the batch had been in its work phase when the command started.
    pub(crate) started_into_work: f64,
    /// The worker's whole log.
    pub(crate) worker_log: String,
    /// The database in `alpha-app` (kept when the test fails).
    pub(crate) db: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stranded: {}, rename applied: {}, batches after the command: {}, \
             command started {:.2} s into a batch's work and took {:.2} s \
             (database {} in {TARGET})\n--- pgfleet ---\n{}\n--- worker log ---\n{}",
            self.stranded,
            self.applied,
            self.batches_after,
            self.started_into_work,
            self.took.as_secs_f64(),
            self.db,
            self.output,
            self.worker_log
        )
    }
}

impl Incident {
    /// Work phase 2 s, no quiesce lock, method tunnel, no directives.
    pub(crate) fn new(hint: &str) -> Self {
        Incident {
            hint: hint.to_string(),
            worker: Worker::unique_name(hint),
            header: String::new(),
            quiesce: None,
            work_seconds: 2.0,
            method: "tunnel".into(),
        }
    }

    /// The worker's container name (also its label `pgfleet.worker=NAME`).
    pub(crate) fn worker(&self) -> &str {
        &self.worker
    }

    /// Header lines for the rename migration, e.g. `"-- pgfleet:stop {worker}\n"`;
    /// `{worker}` stands for the worker's container name.
    pub(crate) fn header(mut self, lines: &str) -> Self {
        self.header = lines.replace("{worker}", &self.worker);
        self
    }

    /// The worker holds advisory lock `name` shared for each batch (`-- pgfleet:quiesce`).
    pub(crate) fn quiesce(mut self, name: &str) -> Self {
        self.quiesce = Some(name.to_string());
        self
    }

    /// `tunnel` (default) or `exec`.
    pub(crate) fn method(mut self, method: &str) -> Self {
        self.method = method.to_string();
        self
    }

    /// Plays the incident:
    /// 1. a fresh database with the schema, through pgfleet `up`;
    /// 2. the worker starts and finishes one batch;
    /// 3. the rename migration (with the header) is added;
    /// 4. once a batch has *just* entered its work phase (≤ 0.3 s in, seen in
    ///    pg_stat_activity), `command(pgfleet -i INVENTORY)` runs (killed after 40 s);
    /// 5. the worker is given time for one more batch (it may be stopped or waiting);
    /// 6. it is stopped gracefully, and the stranded rows are counted.
    ///
    /// Panics, with the worker's log, only when the stage could not be set (no first batch,
    /// no batch in flight to aim at, or no graceful stop); what pgfleet did is the caller's
    /// to judge.
    pub(crate) fn run(self, command: impl FnOnce(Cmd) -> Cmd) -> Outcome {
        let story = StoryDb::create(&self.hint, &self.method);
        let worker = Worker::start(
            &self.worker,
            TARGET,
            &story.db,
            self.work_seconds,
            self.quiesce.as_deref(),
        );
        let batch = Duration::from_secs_f64(self.work_seconds + 1.0);
        assert!(
            worker.wait_for_batches(1, batch * 4),
            "the worker finished no batch\n--- worker log ---\n{}",
            worker.logs()
        );
        story.add_rename(&self.header);

        // Aim at a batch that has just started its work: the command then has the rest of
        // the work phase (work_seconds - 0.3 s at least) to land in it.
        let into_work = poll(batch * 2, Duration::from_millis(20), || {
            sleeping_batch(TARGET, &story.db).and_then(|(_, secs)| (secs <= 0.3).then_some(secs))
        })
        .unwrap_or_else(|| {
            panic!(
                "no batch entered its work phase\n--- worker log ---\n{}",
                worker.logs()
            )
        });
        let started = Instant::now();
        let output = command(story.pgfleet())
            .timeout(Duration::from_secs(40))
            .run();
        let took = started.elapsed();

        let done = worker.batches_done();
        worker.wait_for_batches(done + 1, batch * 2);
        let batches_after = worker.batches_done() - done;
        worker.stop_gracefully();
        Outcome {
            stranded: stranded(TARGET, &story.db),
            applied: story.rename_applied(),
            output,
            took,
            batches_after,
            started_into_work: into_work,
            worker_log: worker.logs(),
            db: story.db.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// the tests

/// Today's pgfleet knows nothing of the worker: the rename lands while a batch works, that
/// batch's INSERT names the old column, and its five rows stay `in_progress` for ever.
#[test]
fn the_incident_strands_rows_without_coordination() {
    let started = Instant::now();
    let out = Incident::new("incident").run(|pgfleet| pgfleet.arg("up"));
    eprintln!("{out}");
    out.output.success();
    assert!(out.applied, "the rename was not applied\n{out}");
    assert!(
        out.worker_log
            .contains("ERROR:  column \"label\" of relation \"classifications\" does not exist"),
        "the batch in flight did not fail on the renamed column\n{out}"
    );
    assert_eq!(
        out.stranded, 5,
        "expected the five rows of the batch in flight to be stranded\n{out}"
    );
    // Between batches the rename does no harm: the next batch learns the new name.
    assert!(
        out.batches_after >= 1 && out.worker_log.contains("results go to column category"),
        "the worker did not carry on with the new column\n{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// What the `stop` directive will count on: `docker stop` lets the batch in flight finish
/// (the shell's trap runs once psql returns), so a stop mid-batch strands nothing.
#[test]
fn the_worker_finishes_its_batch_when_stopped() {
    let story = StoryDb::create("worker_stop", "tunnel");
    let worker = Worker::start(&Worker::unique_name("stop"), TARGET, &story.db, 2.0, None);
    let (pid, _) = poll(Duration::from_secs(10), Duration::from_millis(20), || {
        sleeping_batch(TARGET, &story.db).filter(|&(_, secs)| secs <= 0.5)
    })
    .unwrap_or_else(|| panic!("no batch entered its work phase\n{}", worker.logs()));
    worker.stop_gracefully();
    let logs = worker.logs();
    // "batch N: claimed 5 rows (…) as pid PID, …" names the batch that was in flight.
    let in_flight = logs
        .lines()
        .find(|l| l.contains(&format!(" as pid {pid},")))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no batch ran as pid {pid}\n{logs}"));
    let tail: Vec<&str> = logs.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            format!("{in_flight}: stopping after it, as asked"),
            format!("{in_flight}: done")
        ],
        "the batch in flight did not finish before the worker stopped\n{logs}"
    );
    assert_eq!(stranded(TARGET, &story.db), 0, "{logs}");
    assert_eq!(
        story.psql("select count(*) from classifications"),
        "5",
        "{logs}"
    );
}

// ---------------------------------------------------------------------------------------
// the incident prevented, by each mechanism

const IN_PROGRESS_NONE: &str = "-- pgfleet:precondition select not exists (select 1 from email_messages where status = 'in_progress')\n";

/// `stop`: the worker is stopped (its batch in flight finishes on SIGTERM), the rename runs
/// once its sessions are gone, and the worker is started again and carries on with the new
/// column.
#[test]
fn a_stop_directive_lets_the_batch_finish_and_starts_the_worker_again() {
    let incident = Incident::new("stop_dir").header("-- pgfleet:stop {worker}\n");
    let worker = incident.worker().to_string();
    let out = incident.run(|pgfleet| pgfleet.arg("up"));
    out.output
        .success()
        .stderr_has(&format!("container {worker} stopping for {RENAME_FILE}"))
        .stderr_has(&format!("container {worker} stopped"))
        .stderr_has(&format!("container {worker} started"));
    assert_eq!((out.stranded, out.applied), (0, true), "{out}");
    assert!(
        out.batches_after >= 1 && out.worker_log.contains("results go to column category"),
        "the worker did not carry on after its restart\n{out}"
    );
}

/// `quiesce`: pgfleet waits for the batch in flight to release its shared lock, renames
/// while holding it exclusively (no new batch starts), and releases it at commit. Through
/// psql in the container (method exec), so the check is known to ride that backend too.
#[test]
fn a_quiesce_directive_waits_for_the_batch_in_flight() {
    let out = Incident::new("quiesce_dir")
        .method("exec")
        .quiesce("classifier")
        .header("-- pgfleet:quiesce classifier\n")
        .run(|pgfleet| pgfleet.arg("up"));
    out.output
        .success()
        .stderr_has(&format!("waiting before {RENAME_FILE} (quiesce"));
    assert_eq!((out.stranded, out.applied), (0, true), "{out}");
    // It waited out the rest of the batch's work rather than landing in it.
    let rest = 2.0 - out.started_into_work;
    assert!(
        out.took.as_secs_f64() >= rest - 0.2,
        "returned before the batch could end\n{out}"
    );
    assert!(
        out.worker_log.contains("results go to column category"),
        "{out}"
    );
}

/// `precondition`: while a batch is in flight it is false, and the migration is refused
/// before it runs (nothing stranded, nothing applied); with `--wait-for-quiet` the same
/// file waits until it holds, then runs. The look is one moment: a batch the worker starts
/// after it may still be stranded (seen under load), which only `quiesce` or `stop` prevent.
#[test]
fn a_precondition_refuses_mid_batch_and_wait_for_quiet_waits_for_it() {
    let out = Incident::new("precond_dir")
        .header(IN_PROGRESS_NONE)
        .run(|pgfleet| pgfleet.arg("up"));
    out.output
        .code_is(4)
        .stderr_has(&format!("precondition refused {RENAME_FILE}"))
        .stderr_has("returned false")
        .stderr_has("--wait-for-quiet");
    assert_eq!((out.stranded, out.applied), (0, false), "{out}");

    let out = Incident::new("precond_wait")
        .header(IN_PROGRESS_NONE)
        .run(|pgfleet| pgfleet.args(["up", "--wait-for-quiet", "30s"]));
    out.output
        .success()
        .stderr_has(&format!("waiting before {RENAME_FILE} (precondition"));
    assert!(out.applied, "{out}");
}

/// A session from another container holding a lock on what the migration changes.
struct Blocker {
    name: String,
    db: String,
}

impl Blocker {
    /// Holds ACCESS SHARE on `classifications` in a transaction for `seconds`, over TCP
    /// from a container of its own (application `reporting`).
    fn start(db: &str, seconds: u32) -> Blocker {
        let name = Worker::unique_name("blocker");
        let blocker = Blocker {
            name: name.clone(),
            db: db.to_string(),
        };
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "pgfleet.fleet=1",
            "-e",
            &format!("PGHOST={}", bridge_ip(TARGET)),
            "-e",
            &format!("PGDATABASE={db}"),
            "-e",
            "PGUSER=postgres",
            "-e",
            &format!("PGPASSWORD={}", container_env(TARGET, "POSTGRES_PASSWORD")),
            "-e",
            "PGAPPNAME=reporting",
            "--entrypoint",
            "psql",
            IMAGE,
            "-Xc",
            &format!(
                "begin; lock table classifications in access share mode; select pg_sleep({seconds}); commit;"
            ),
        ]);
        // Holding the lock before the test goes on.
        poll(Duration::from_secs(10), Duration::from_millis(50), || {
            (psql(
                TARGET,
                db,
                "select count(*) from pg_locks l join pg_stat_activity a using (pid)
                  where a.application_name = 'reporting' and l.granted
                    and l.relation = 'classifications'::regclass",
            ) == "1")
                .then_some(())
        })
        .expect("the blocker holds its lock");
        blocker
    }
}

impl Drop for Blocker {
    /// Ends its transaction, then its container: a backend in pg_sleep notices a vanished
    /// client only when the sleep ends, and would keep its lock until then.
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["exec", TARGET, "psql", "-U", "postgres", "-Xq", "-d", &self.db, "-c"])
            .arg("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'reporting'")
            .output();
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// A transaction from another container holds a lock the rename needs: `plan` says who,
/// by container; pre-flight refuses naming it; without pre-flight the migration retries,
/// names it each time, and fails cleanly naming it when the retries run out; once such a
/// transaction ends while retrying, the migration goes through.
#[test]
fn a_blocking_transaction_is_named_by_container_retried_and_waited_out() {
    let story = StoryDb::create("blocker", "tunnel");
    story.add_rename("");
    let blocker = Blocker::start(&story.db, 60);
    let from = format!("from container {}", blocker.name);

    let plan = story.pgfleet().arg("plan").run();
    plan.success()
        .stdout_has("in use now: pid ")
        .stdout_has(&from)
        .stdout_has("holds ACCESS SHARE on public.classifications; conflicts: the migration would wait for it");
    let json = story.pgfleet().args(["--format", "json", "plan"]).run();
    let doc = json.json();
    let sessions = doc["targets"][0]["sessions"].as_array().expect("sessions");
    assert!(
        sessions.iter().any(
            |s| s["container"] == blocker.name.as_str() && s["application_name"] == "reporting"
        ),
        "{doc}"
    );
    assert_eq!(
        doc["targets"][0]["pending"][0]["in_use_by"][0]["conflicts"], true,
        "{doc}"
    );

    std::thread::sleep(Duration::from_millis(600));
    story
        .pgfleet()
        .args(["up", "--lock-timeout", "500ms"])
        .run()
        .code_is(4)
        .stderr_has(&format!("pre-flight refused {RENAME_FILE}"))
        .stderr_has("(reporting, user postgres, ")
        .stderr_has(&from);

    story
        .pgfleet()
        .args([
            "up",
            "--no-preflight",
            "--lock-timeout",
            "300ms",
            "--lock-retries",
            "1",
        ])
        .run()
        .code_is(2)
        .stderr_has("(retry 1 of 1)")
        .stderr_has("HINT: held by pid ")
        .stderr_has(&from);
    assert!(!story.rename_applied());
    drop(blocker);

    let blocker = Blocker::start(&story.db, 3);
    let out = story
        .pgfleet()
        .args([
            "up",
            "--no-preflight",
            "--lock-timeout",
            "300ms",
            "--lock-retries",
            "10",
        ])
        .timeout(Duration::from_secs(60))
        .run();
    out.success()
        .stderr_has("gave up on a lock (lock_timeout) and was rolled back; held by pid ")
        .stderr_has(&format!("from container {}", blocker.name));
    assert!(story.rename_applied());
}

/// `requires`: refused until the running worker is at the image or label asked for; and a
/// `--url` run refuses the directives that need a docker host.
#[test]
fn requires_refuses_until_the_workload_is_deployed() {
    let story = StoryDb::create("requires", "tunnel");
    let worker = Worker::start(&Worker::unique_name("req"), TARGET, &story.db, 0.5, None);
    let selector = format!("label=pgfleet.worker={}", worker.name());

    story.add_rename(&format!(
        "-- pgfleet:requires {selector} image=classifier:2.1\n"
    ));
    story
        .pgfleet()
        .arg("up")
        .run()
        .code_is(4)
        .stderr_has(&format!(
            "requires `{selector}` at image=classifier:2.1, but container {} runs image {IMAGE}: deploy the updated workload first",
            worker.name()
        ));
    story.add_rename(&format!("-- pgfleet:requires {selector} label=version=2\n"));
    story
        .pgfleet()
        .arg("up")
        .run()
        .code_is(4)
        .stderr_has("has no label version");
    assert!(!story.rename_applied());

    story.add_rename(&format!("-- pgfleet:requires {selector} image={IMAGE}\n"));
    story.pgfleet().arg("up").run().success();
    assert!(story.rename_applied());
}

#[test]
fn a_url_run_refuses_directives_that_need_a_docker_host() {
    let db = crate::harness::fresh_db("url_stop");
    let dir = tempdir();
    write_migrations(
        dir.path(),
        &[(
            "20260101000000_t.sql",
            "-- pgfleet:stop worker\n-- migrate:up\ncreate table t (id int);\n-- migrate:down\ndrop table t;\n",
        )],
    );
    Cmd::new()
        .args(["--url", db.url(), "-d"])
        .arg(dir.path())
        .arg("up")
        .run()
        .code_is(4)
        .stderr_has("20260101000000_t.sql:1: `worker` names containers on the target's docker host, and a --url target has none");
    assert!(db.tables("public").is_empty());
}

/// Whether the container runs now.
fn running(name: &str) -> bool {
    docker(&["inspect", "-f", "{{.State.Running}}", name]).trim() == "true"
}

/// What `stop` stopped is started again whatever happens to the migration: after it fails,
/// and after a Ctrl-C that came while the worker was being stopped (the migration then
/// does not run).
#[test]
fn stopped_workloads_are_started_again_after_a_failure_and_a_ctrl_c() {
    let story = StoryDb::create("stop_fail", "tunnel");
    let worker = Worker::start(&Worker::unique_name("stopf"), TARGET, &story.db, 0.5, None);
    assert!(
        worker.wait_for_batches(1, Duration::from_secs(10)),
        "{}",
        worker.logs()
    );
    let name = worker.name().to_string();

    write_migrations(
        &story.migrations,
        &[(
            "20260103000000_broken.sql",
            &format!(
                "-- pgfleet:stop {name}\n-- migrate:up\nalter table classifications add column x int;\nselect no_such_function();\n-- migrate:down\n"
            ),
        )],
    );
    let logs = tempdir();
    let out = story
        .pgfleet()
        .args(["--format", "json", "--log-dir"])
        .arg(logs.path())
        .arg("up")
        .run();
    out.code_is(2).stdout_has("no_such_function");
    // Each action is in the JSON document and in the audit log.
    let doc = out.json();
    let actions: Vec<&str> = doc["targets"][0]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        actions.iter().any(|a| a.starts_with(&format!(
            "container {name} stopping for 20260103000000_broken.sql"
        ))) && actions.contains(&format!("container {name} stopped").as_str())
            && actions.contains(&format!("container {name} started").as_str()),
        "{doc}"
    );
    let log = std::fs::read_dir(logs.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    for action in ["stopping", "stopped", "started"] {
        assert!(
            log.contains(&format!("event=workload action={action} container={name}")),
            "{log}"
        );
    }
    assert!(running(&name), "{} was left stopped", name);

    std::fs::remove_file(story.migrations.join("20260103000000_broken.sql")).unwrap();
    // A misspelt container would leave the worker running through the migration.
    story.add_rename(&format!("-- pgfleet:stop {name}x\n"));
    story
        .pgfleet()
        .arg("up")
        .run()
        .code_is(4)
        .stderr_has(&format!(
            "stop `{name}x` matches no container on alpha (there: "
        ));

    story.add_rename(&format!("-- pgfleet:stop {name}\n"));
    story
        .pgfleet()
        .arg("up")
        .interrupt_when(&format!("container {name} stopping"), 1)
        .timeout(Duration::from_secs(60))
        .run()
        .code_is(130)
        .stderr_has(&format!("container {name} started"));
    assert!(running(&name), "{} was left stopped after Ctrl-C", name);
    assert!(!story.rename_applied());
    assert!(worker.wait_for_batches(worker.batches_done() + 1, Duration::from_secs(10)));
}
