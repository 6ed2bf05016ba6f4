//! Runs that overlap, against the real server: two pgfleet runners, pgfleet against
//! `dbmate --migration-lock`, a run that finds the lock taken, and the per-migration
//! `lock_timeout` / `statement_timeout` that keep a migration from queueing forever.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{self, Cmd, Output, TestDb};

/// The advisory lock key of pgfleet and `dbmate --migration-lock`.
const LOCK_KEY: i64 = 48_372_615;

/// The pid holding the migration lock on the current database, if any.
fn lock_holder_sql() -> String {
    format!(
        "select pid from pg_locks where locktype = 'advisory' and granted \
           and classid = 0 and objid = {LOCK_KEY} and objsubid = 1 \
           and database = (select oid from pg_database where datname = current_database())"
    )
}

/// The pid holding an ACCESS EXCLUSIVE lock on table `t`, if any.
const TABLE_LOCK_SQL: &str = "select pid from pg_locks where locktype = 'relation' and granted \
     and mode = 'AccessExclusiveLock' and relation = 't'::regclass";

/// A psql session kept open in the background: it runs what it is sent, as it is sent, and
/// keeps its locks (and open transaction) until it is dropped.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Session {
    fn open(db: &TestDb) -> Session {
        let mut cmd = Command::new(harness::pg_bin("psql"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db.url()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("PG") && !k.starts_with("PGFLEET") {
                cmd.env_remove(&key);
            }
        }
        let mut child = cmd.spawn().expect("start a psql session");
        let stdin = child.stdin.take();
        Session { child, stdin }
    }

    /// Sends one line of SQL; psql runs it as soon as it reads the line.
    fn send(&mut self, sql: &str) {
        let stdin = self.stdin.as_mut().expect("session is open");
        writeln!(stdin, "{sql}")
            .and_then(|()| stdin.flush())
            .expect("write to the psql session");
    }
}

impl Drop for Session {
    /// Ends the session (EOF makes psql quit, which releases its locks), killing psql if
    /// it does not go within a few seconds.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `sql` until it returns a row and gives that row's first value; panics after
/// `timeout` or as soon as `give_up()` is true (the thing waited for can no longer happen).
fn wait_for_row(db: &TestDb, sql: &str, timeout: Duration, give_up: impl Fn() -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(row) = db.query(sql).into_iter().next() {
            return row.into_iter().next().flatten().unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline && !give_up(),
            "no row from {sql:?} within {timeout:?}"
        );
        thread::sleep(Duration::from_millis(25));
    }
}

fn versions(db: &TestDb) -> Vec<String> {
    db.query("select version from schema_migrations order by version")
        .into_iter()
        .filter_map(|mut row| row.remove(0))
        .collect()
}

fn up(db: &TestDb, dir: &Path) -> Cmd {
    Cmd::new()
        .args(["--url", db.url(), "-d"])
        .arg(dir)
        .arg("up")
}

/// Times `cmd.run()`.
fn timed(cmd: Cmd) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.run();
    (out, started.elapsed())
}

#[test]
fn two_runners_at_once_apply_every_migration_once() {
    let db = harness::fresh_db("conc_two_runners");
    let dir = harness::tempdir();
    let files = [
        "20240101000001_create_runs.sql",
        "20240101000002_slow.sql",
        "20240101000003_three.sql",
        "20240101000004_four.sql",
        "20240101000005_five.sql",
    ];
    let mut contents = vec![
        "-- migrate:up\ncreate table runs (n int);\ninsert into runs values (1);\n\n\
         -- migrate:down\ndrop table runs;\n"
            .to_string(),
        // The pause keeps the first runner on the lock while the second one arrives.
        "-- migrate:up\nselect pg_sleep(1);\ninsert into runs values (2);\n\n\
         -- migrate:down\ndelete from runs where n = 2;\n"
            .to_string(),
    ];
    for n in 3..=5 {
        contents.push(format!(
            "-- migrate:up\ninsert into runs values ({n});\n\n\
             -- migrate:down\ndelete from runs where n = {n};\n"
        ));
    }
    let set: Vec<(&str, &str)> = files
        .iter()
        .copied()
        .zip(contents.iter().map(String::as_str))
        .collect();
    harness::write_migrations(dir.path(), &set);

    let start = Arc::new(Barrier::new(2));
    let runners: Vec<_> = (0..2)
        .map(|_| {
            let cmd = up(&db, dir.path()).timeout(Duration::from_secs(60));
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                cmd.run()
            })
        })
        .collect();
    let outs: Vec<Output> = runners
        .into_iter()
        .map(|r| r.join().expect("runner thread"))
        .collect();

    for out in &outs {
        out.success();
    }
    // Each file applied by exactly one of the two, all by the one that got the lock first.
    for file in files {
        let applied = outs
            .iter()
            .filter(|o| o.stdout.contains(&format!("Applied: {file} in ")))
            .count();
        assert_eq!(
            applied, 1,
            "{file} applied {applied} times\n{}\n{}",
            outs[0], outs[1]
        );
    }
    let waiters: Vec<&Output> = outs
        .iter()
        .filter(|o| o.stderr.contains("Waiting: the migration lock"))
        .collect();
    assert_eq!(
        waiters.len(),
        1,
        "exactly one runner should have waited for the other\n{}\n{}",
        outs[0],
        outs[1]
    );
    let waiter = waiters[0];
    waiter
        .stderr_has("is held by pid ")
        .stderr_has("(pgfleet, user postgres")
        .stderr_has("waiting up to --lock-wait");
    assert!(
        !waiter.stdout.contains("Applying:"),
        "the runner that waited found nothing left to apply\n{waiter}"
    );

    let rows = db.query("select n, count(*) from runs group by n order by n");
    let expected: Vec<Vec<Option<String>>> = (1..=5)
        .map(|n| vec![Some(n.to_string()), Some("1".to_owned())])
        .collect();
    assert_eq!(rows, expected, "every migration's insert ran exactly once");
    let expected_versions: Vec<String> = files.iter().map(|f| f[..14].to_owned()).collect();
    assert_eq!(versions(&db), expected_versions);
    assert_eq!(
        db.scalar("select count(*) from schema_migrations_pgfleet where checksum is not null")
            .as_deref(),
        Some("5")
    );
}

#[test]
fn lock_held_longer_than_lock_wait_refuses_with_exit_4() {
    let db = harness::fresh_db("conc_lock_wait");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_create_things.sql",
            "-- migrate:up\ncreate table things (id int);\n\n-- migrate:down\ndrop table things;\n",
        )],
    );
    let mut holder = Session::open(&db);
    holder.send(&format!("select pg_advisory_lock({LOCK_KEY});"));
    let pid = wait_for_row(&db, &lock_holder_sql(), Duration::from_secs(10), || false);

    let (out, took) = timed(
        up(&db, dir.path())
            .args(["--lock-wait", "1s"])
            .timeout(Duration::from_secs(30)),
    );
    out.code_is(4)
        .stderr_has("held the migration lock for longer than --lock-wait")
        .stderr_has(&format!("held by pid {pid} (psql, user postgres"))
        .stderr_has("Waiting: the migration lock on ");
    assert!(
        !out.stdout.contains("Applying:"),
        "nothing may run without the lock\n{out}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "gave up after {took:?}, expected about 1 s\n{out}"
    );
    // The tracking tables are created only under the lock: nothing at all was written.
    assert!(db.tables("public").is_empty(), "{:?}", db.tables("public"));
    drop(holder);

    // Once the lock is free, the same run goes through.
    up(&db, dir.path())
        .args(["--lock-wait", "1s"])
        .run()
        .success();
    assert_eq!(versions(&db), ["20240101000001"]);
}

#[test]
fn pgfleet_waits_for_dbmate_migration_lock() {
    let db = harness::fresh_db("conc_dbmate_lock");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_slow.sql",
            "-- migrate:up\nselect pg_sleep(2);\ncreate table slow (id int);\n\
             insert into slow values (1);\n\n-- migrate:down\ndrop table slow;\n",
        )],
    );
    let dbmate = {
        let cmd = Cmd::dbmate()
            .args(["--url", db.url(), "-d"])
            .arg(dir.path())
            .args(["--migration-lock", "--no-dump-schema", "up"])
            .timeout(Duration::from_secs(60));
        thread::spawn(move || cmd.run())
    };
    // dbmate takes the same advisory key: seen here before its migration is done.
    let pid = wait_for_row(&db, &lock_holder_sql(), Duration::from_secs(20), || {
        dbmate.is_finished()
    });

    let out = up(&db, dir.path())
        .args(["--lock-wait", "30s"])
        .timeout(Duration::from_secs(60))
        .run();
    let dbmate = dbmate.join().expect("dbmate thread");
    dbmate
        .success()
        .stdout_has("Applied: 20240101000001_slow.sql");
    out.success()
        .stderr_has("Waiting: the migration lock on ")
        .stderr_has(&format!("held by pid {pid} "));
    assert!(
        !out.stdout.contains("Applying:"),
        "pgfleet found the migration applied by dbmate\n{out}"
    );
    assert_eq!(db.scalar("select count(*) from slow").as_deref(), Some("1"));
    assert_eq!(versions(&db), ["20240101000001"]);
    Cmd::new()
        .args(["--url", db.url(), "-d"])
        .arg(dir.path())
        .arg("status")
        .run()
        .success()
        .stdout_has("[X] 20240101000001_slow.sql  (unverified: applied without a checksum)")
        .stdout_has("Pending: 0");
}

/// A table `t` whose ACCESS EXCLUSIVE lock is held by an open transaction of another
/// session, until the returned session is dropped.
fn table_locked_elsewhere(db: &TestDb) -> Session {
    db.exec("create table t (id int)");
    let mut session = Session::open(db);
    session.send("begin;");
    session.send("lock table t in access exclusive mode;");
    wait_for_row(db, TABLE_LOCK_SQL, Duration::from_secs(10), || false);
    session
}

fn assert_alter_timed_out(db: &TestDb, out: &Output, took: Duration) {
    out.code_is(2)
        .stderr_has("55P03")
        .stderr_has("lock timeout")
        .stderr_has("20240101000002_alter.sql:2:1")
        .stderr_has("alter table t add column c int")
        .stdout_has("Applied: 20240101000001_create_u.sql");
    assert!(
        took < Duration::from_secs(6),
        "lock_timeout should have fired after about 1 s, took {took:?}\n{out}"
    );
    assert_eq!(
        versions(db),
        ["20240101000001"],
        "the failed one is not recorded"
    );
    assert_eq!(
        db.scalar(
            "select count(*) from information_schema.columns \
             where table_name = 't' and column_name = 'c'"
        )
        .as_deref(),
        Some("0")
    );
}

const CREATE_U: (&str, &str) = (
    "20240101000001_create_u.sql",
    "-- migrate:up\ncreate table u (id int);\n\n-- migrate:down\ndrop table u;\n",
);

#[test]
fn lock_timeout_flag_stops_a_blocked_alter() {
    let db = harness::fresh_db("conc_lock_timeout");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[
            CREATE_U,
            (
                "20240101000002_alter.sql",
                "-- migrate:up\nalter table t add column c int;\n\n\
                 -- migrate:down\nalter table t drop column c;\n",
            ),
        ],
    );
    let session = table_locked_elsewhere(&db);
    let (out, took) = timed(
        up(&db, dir.path())
            // One try: this is about lock_timeout itself (retries have their own tests).
            .args([
                "--lock-timeout",
                "1s",
                "--lock-retries",
                "0",
                "--no-preflight",
            ])
            .timeout(Duration::from_secs(20)),
    );
    assert_alter_timed_out(&db, &out, took);
    drop(session);
}

#[test]
fn lock_timeout_marker_option_overrides_the_flag() {
    let db = harness::fresh_db("conc_lock_timeout_marker");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[
            CREATE_U,
            (
                "20240101000002_alter.sql",
                "-- migrate:up lock_timeout:1s\nalter table t add column c int;\n\n\
                 -- migrate:down\nalter table t drop column c;\n",
            ),
        ],
    );
    let session = table_locked_elsewhere(&db);
    // With the flag's minute the run would outlast the command's timeout.
    let (out, took) = timed(
        up(&db, dir.path())
            .args([
                "--lock-timeout",
                "1min",
                "--lock-retries",
                "0",
                "--no-preflight",
            ])
            .timeout(Duration::from_secs(20)),
    );
    assert_alter_timed_out(&db, &out, took);
    drop(session);
}

fn assert_sleep_timed_out(db: &TestDb, out: &Output, took: Duration) {
    out.code_is(2)
        .stderr_has("57014")
        .stderr_has("statement timeout")
        .stderr_has("20240101000001_sleep.sql:2:1");
    assert!(
        took < Duration::from_millis(2500),
        "statement_timeout should have fired after 0.5 s, took {took:?}\n{out}"
    );
    assert_eq!(
        db.scalar("select count(*) from schema_migrations")
            .as_deref(),
        Some("0")
    );
    assert!(!db.tables("public").contains(&"never".to_owned()));
}

#[test]
fn statement_timeout_flag_stops_a_long_statement() {
    let db = harness::fresh_db("conc_statement_timeout");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_sleep.sql",
            "-- migrate:up\nselect pg_sleep(3);\ncreate table never (id int);\n\n\
             -- migrate:down\ndrop table never;\n",
        )],
    );
    let (out, took) = timed(up(&db, dir.path()).args(["--statement-timeout", "500ms"]));
    assert_sleep_timed_out(&db, &out, took);
}

#[test]
fn statement_timeout_marker_option_applies_without_the_flag() {
    let db = harness::fresh_db("conc_statement_timeout_marker");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_sleep.sql",
            "-- migrate:up statement_timeout:500ms\nselect pg_sleep(3);\n\
             create table never (id int);\n\n-- migrate:down\ndrop table never;\n",
        )],
    );
    let (out, took) = timed(up(&db, dir.path()));
    assert_sleep_timed_out(&db, &out, took);
}

const ALTER_T: (&str, &str) = (
    "20240101000002_alter.sql",
    "-- migrate:up\nalter table t add column c int;\n\n-- migrate:down\nalter table t drop column c;\n",
);

/// A migration that gives up on a lock is rolled back and tried again, naming who holds
/// the lock each time, and goes through once that transaction ends.
#[test]
fn a_migration_blocked_by_a_lock_is_retried_until_it_goes_through() {
    let db = harness::fresh_db("conc_lock_retry");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[CREATE_U, ALTER_T]);
    let session = table_locked_elsewhere(&db);
    let release = thread::spawn(move || {
        thread::sleep(Duration::from_millis(2500));
        drop(session);
    });
    let out = up(&db, dir.path())
        // Without pre-flight, which would refuse the old holder up front (its own test).
        .args([
            "--lock-timeout",
            "300ms",
            "--lock-retries",
            "20",
            "--no-preflight",
        ])
        .timeout(Duration::from_secs(60))
        .run();
    release.join().unwrap();
    out.success()
        .stderr_has("Retrying: 20240101000002_alter.sql gave up on a lock (lock_timeout) and was rolled back; held by pid ")
        .stderr_has("(psql, user postgres, idle in transaction for ")
        .stderr_has("(retry 1 of 20)")
        .stdout_has("Applied: 20240101000002_alter.sql");
    assert_eq!(versions(&db), ["20240101000001", "20240101000002"]);
}

/// Retries exhausted: the usual failure, with who held the lock and what to do.
#[test]
fn retries_exhausted_fail_cleanly_naming_the_holder() {
    let db = harness::fresh_db("conc_lock_retry_out");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[CREATE_U, ALTER_T]);
    let session = table_locked_elsewhere(&db);
    let out = up(&db, dir.path())
        .args([
            "--lock-timeout",
            "200ms",
            "--lock-retries",
            "2",
            "--no-preflight",
        ])
        .timeout(Duration::from_secs(60))
        .run();
    out.code_is(2)
        .stderr_has("(retry 2 of 2)")
        .stderr_has("55P03")
        .stderr_has("HINT: held by pid ")
        .stderr_has("raise --lock-retries or --lock-timeout, or end that transaction")
        .stderr_has("the file is not at fault: run the command again once that lock is free");
    assert!(!out.stderr.contains("(retry 3 of 2)"), "{out}");
    assert_eq!(versions(&db), ["20240101000001"]);
    drop(session);
}

/// Pre-flight: a session whose transaction is older than lock_timeout and holds a lock the
/// migration needs refuses the migration up front, named, before anything of it runs.
#[test]
fn pre_flight_refuses_a_migration_an_old_transaction_would_block() {
    let db = harness::fresh_db("conc_preflight");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[CREATE_U, ALTER_T]);
    db.exec("create table t (id int)");
    let mut session = Session::open(&db);
    session.send("begin;");
    session.send("select count(*) from t;");
    thread::sleep(Duration::from_millis(1200));
    let (out, took) = timed(
        up(&db, dir.path())
            .args(["--lock-timeout", "500ms"])
            .timeout(Duration::from_secs(30)),
    );
    out.code_is(4)
        .stderr_has("pre-flight refused 20240101000002_alter.sql")
        .stderr_has("sessions in transactions older than lock_timeout hold or wait for locks it needs: pid ")
        .stderr_has("--wait-for-quiet DURATION")
        .stderr_has("(psql, user postgres, idle in transaction")
        .stderr_has("select count(*) from t;")
        .stdout_has("Applied: 20240101000001_create_u.sql");
    assert!(
        took < Duration::from_secs(5),
        "refused up front, took {took:?}"
    );
    assert_eq!(versions(&db), ["20240101000001"]);
    drop(session);
    // Once that transaction is over, the same run goes through.
    up(&db, dir.path()).run().success();
    assert_eq!(versions(&db), ["20240101000001", "20240101000002"]);
}

/// `--wait-for-quiet`: the migration pre-flight refuses is looked at again, the wait is
/// said (with who is in the way), and it runs once that transaction is over; a wait that
/// runs out refuses as without it, saying how long it waited.
#[test]
fn wait_for_quiet_waits_out_an_old_transaction() {
    let db = harness::fresh_db("conc_quiet");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[CREATE_U, ALTER_T]);
    db.exec("create table t (id int)");
    let mut session = Session::open(&db);
    session.send("begin;");
    session.send("select count(*) from t;");
    thread::sleep(Duration::from_millis(800));

    let out = up(&db, dir.path())
        .args(["--lock-timeout", "500ms", "--wait-for-quiet", "1s"])
        .timeout(Duration::from_secs(30))
        .run();
    out.code_is(4)
        .stderr_has("Waiting: waiting before 20240101000002_alter.sql (pre-flight")
        .stderr_has("(psql, user postgres, idle in transaction")
        .stderr_has("(waited 1 s)");
    assert_eq!(versions(&db), ["20240101000001"]);

    // The transaction ends while the run waits: it goes through.
    let ender = thread::spawn(move || {
        thread::sleep(Duration::from_secs(2));
        session.send("commit;");
        session
    });
    let (out, took) = timed(
        up(&db, dir.path())
            .args(["--lock-timeout", "500ms", "--wait-for-quiet", "30s"])
            .timeout(Duration::from_secs(60)),
    );
    out.success()
        .stderr_has("Waiting: waiting before 20240101000002_alter.sql (pre-flight")
        .stdout_has("Applied: 20240101000002_alter.sql");
    assert!(took < Duration::from_secs(15), "waited {took:?}");
    assert_eq!(versions(&db), ["20240101000001", "20240101000002"]);
    drop(ender.join());
}

/// A concurrent index build waits for every transaction holding an older snapshot, not only
/// for conflicting locks: pre-flight refuses it while one has been open longer than
/// lock_timeout, even on another table, naming it.
#[test]
fn pre_flight_refuses_a_concurrent_index_build_an_old_snapshot_would_stall() {
    let db = harness::fresh_db("conc_cic");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_index.sql",
            "-- migrate:up transaction:false\ncreate index concurrently t_id on t (id);\n\n-- migrate:down transaction:false\ndrop index concurrently t_id;\n",
        )],
    );
    db.exec("create table t (id int); create table other (id int)");
    let mut session = Session::open(&db);
    // Repeatable read keeps its snapshot while idle: what a concurrent build waits for.
    session.send("begin isolation level repeatable read;");
    session.send("select count(*) from other;");
    thread::sleep(Duration::from_millis(800));
    up(&db, dir.path())
        .args(["--lock-timeout", "500ms"])
        .timeout(Duration::from_secs(30))
        .run()
        .code_is(4)
        .stderr_has("pre-flight refused 20240101000001_index.sql")
        .stderr_has("hold snapshots its concurrent index build waits for: pid ")
        .stderr_has("select count(*) from other;");
    assert_eq!(
        db.scalar("select count(*) from pg_indexes where indexname = 't_id'"),
        Some("0".into())
    );
    drop(session);
    up(&db, dir.path()).run().success();
}
