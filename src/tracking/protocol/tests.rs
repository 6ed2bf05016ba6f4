//! The order of the steps the protocol sends, against a fake session without a server.
//! What the steps do on a real server is tested by the integration tests (`engine`,
//! `concurrency`, `fleet`, …) on PostgreSQL and psql in containers.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::*;
use crate::migration::Timeout;
use crate::tracking::{ResultSet, rehearsal};

/// Each script the fake was given, with its mode, and its groups' ends when pipelined.
type Log = Arc<Mutex<Vec<(Kind, Vec<String>, Vec<usize>)>>>;

/// `Mode` without what it borrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pipelined,
    OneByOne,
}

/// Records the scripts it is given and runs them all, except step `.1` of script `.0` of
/// `fail`, which fails with the error given.
struct Fake {
    log: Log,
    fail: Option<(usize, usize, SqlError)>,
}

#[async_trait]
impl Session for Fake {
    async fn run(
        &mut self,
        steps: &[String],
        mode: Mode<'_>,
        watch: &[usize],
        done: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), Failed> {
        let script = {
            let mut log = self.log.lock().unwrap();
            let (kind, ends) = match mode {
                Mode::Pipelined { ends } => (Kind::Pipelined, ends.to_vec()),
                Mode::OneByOne => (Kind::OneByOne, Vec::new()),
            };
            log.push((kind, steps.to_vec(), ends));
            log.len() - 1
        };
        for i in 0..steps.len() {
            if let Some((_, _, error)) = self.fail.as_ref().filter(|f| (f.0, f.1) == (script, i)) {
                return Err(Failed {
                    step: i,
                    error: error.clone(),
                });
            }
            if watch.contains(&i) {
                done(i);
            }
        }
        Ok(())
    }

    /// After each statement of a rehearsal, the locks it holds: none.
    async fn rows(&mut self, sql: &str) -> Result<Rows, SqlError> {
        assert_eq!(sql, rehearsal::OWN_LOCKS, "the only query of these tests");
        Ok(Vec::new())
    }

    /// Logged as a script of its own (one statement); one column, one row.
    async fn result_set(&mut self, sql: &str) -> Result<ResultSet, SqlError> {
        self.log
            .lock()
            .unwrap()
            .push((Kind::OneByOne, vec![sql.to_string()], Vec::new()));
        Ok(ResultSet {
            columns: vec!["a".into()],
            rows: vec![vec![None]],
        })
    }
}

/// Second sessions: refused (`None`: batches then run without a lease), or each one
/// recording what it is asked.
struct Companions(Option<Arc<Mutex<Vec<String>>>>);

struct Companion(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Session for Companion {
    async fn run(
        &mut self,
        _: &[String],
        _: Mode<'_>,
        _: &[usize],
        _: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), Failed> {
        unreachable!("a companion runs no script")
    }

    async fn rows(&mut self, sql: &str) -> Result<Rows, SqlError> {
        self.0.lock().unwrap().push(sql.to_string());
        Ok(Vec::new())
    }

    async fn result_set(&mut self, _: &str) -> Result<ResultSet, SqlError> {
        unreachable!("a companion runs no query")
    }
}

#[async_trait]
impl Opener for Companions {
    fn target(&self) -> String {
        "fake".into()
    }

    fn dbname(&self) -> &str {
        "fake"
    }

    fn search_path(&self) -> &[String] {
        &[]
    }

    async fn open(&self, _: &str) -> Result<Box<dyn Session>, Error> {
        match &self.0 {
            Some(asked) => Ok(Box::new(Companion(asked.clone()))),
            None => Err(Error::Config("no second session here".into())),
        }
    }

    async fn pg_dump(&self, _: &[&str]) -> Result<String, Error> {
        unreachable!("no dump in these tests")
    }

    fn sibling(&self, _: &str) -> Arc<dyn Opener> {
        Arc::new(Companions(None))
    }
}

fn database(fail: Option<(usize, usize, SqlError)>) -> (Database, Log) {
    let log = Log::default();
    let db = Database {
        session: Box::new(Fake {
            log: log.clone(),
            fail,
        }),
        opener: Arc::new(Companions(None)),
        target: "fake".into(),
        tables: Tables {
            schema: "public".into(),
            table: "schema_migrations".into(),
            migrations: "public.schema_migrations".into(),
            pgfleet: "public.schema_migrations_pgfleet".into(),
        },
        pid: 4242,
        checks: Vec::new(),
        lease: None,
        scratch: false,
        server: (15, "fake".into()),
        tables_exist: false,
    };
    (db, log)
}

fn error(position: Option<usize>, message: &str) -> SqlError {
    SqlError {
        code: Some("42P01".into()),
        message: message.into(),
        detail: None,
        hint: None,
        position,
    }
}

fn migration(name: &str, text: &str) -> Migration {
    crate::migration::parse(Path::new(name), text.as_bytes()).unwrap()
}

/// 1 and 2 transactional, 3 `transaction:false`, 4 transactional and failing on a server.
fn files() -> Vec<Migration> {
    vec![
        migration(
            "1_a.sql",
            "-- migrate:up\ncreate table a (id int);\ninsert into a values (1);\n-- migrate:down\ndrop table a;\n",
        ),
        migration(
            "2_b.sql",
            "-- migrate:up\n-- the b table\ncreate table b (id int);\n-- migrate:down\ndrop table b;\n",
        ),
        migration(
            "3_c.sql",
            "-- migrate:up transaction:false\ncreate index concurrently a_id on a (id);\nvacuum a;\n-- migrate:down\ndrop index a_id;\n",
        ),
        migration(
            "4_d.sql",
            "-- migrate:up\ninsert into nope values (1);\n-- migrate:down\n",
        ),
    ]
}

fn settings() -> ApplySettings {
    ApplySettings {
        lock_timeout: Timeout { millis: 5000 },
        statement_timeout: Timeout { millis: 0 },
        applied_by: "me@here".into(),
    }
}

/// Steps as short labels: pgfleet's own by what they do, statements as sent.
fn shape(steps: &[String]) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            if s.starts_with("do $pgfleet$") {
                "guard".to_string()
            } else if s.starts_with("insert into public.schema_migrations") {
                s.split(" (").next().unwrap().to_string()
            } else {
                s.split(" = ").next().unwrap().to_string()
            }
        })
        .collect()
}

fn scripts(log: &Log) -> Vec<(Kind, Vec<String>)> {
    let log = log.lock().unwrap();
    log.iter().map(|(k, s, _)| (*k, shape(s))).collect()
}

/// Applies `files`, returning the outcome and the progress told (S: started, A: applied).
async fn apply(db: &mut Database, files: &[Migration]) -> (Result<(), (usize, StepError)>, String) {
    let migrations: Vec<&Migration> = files.iter().collect();
    let mut told = Vec::new();
    let outcome = apply_all(db, &migrations, &settings(), &Stop::default(), &mut |p| {
        told.push(match p {
            Applying::Started(i) => format!("S{i}"),
            Applying::Applied(i, _) => format!("A{i}"),
        })
    })
    .await;
    (outcome, told.join(" "))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const RECORD_ROWS: [&str; 2] = [
    "insert into public.schema_migrations",
    "insert into public.schema_migrations_pgfleet",
];

fn transactional(statements: &[&str]) -> Vec<String> {
    let mut steps = strings(&[
        "begin",
        "guard",
        "set local lock_timeout",
        "set local statement_timeout",
    ]);
    steps.extend(strings(statements));
    steps.extend(strings(&RECORD_ROWS));
    steps.push("commit".into());
    steps
}

#[tokio::test]
async fn transactional_runs_are_one_pipelined_script_and_transaction_false_goes_alone() {
    let (mut db, log) = database(None);
    let (outcome, told) = apply(&mut db, &files()).await;
    assert!(outcome.is_ok());
    assert_eq!(told, "S0 A0 S1 A1 S2 A2 S3 A3");
    let mut batch = transactional(&["create table a (id int)", "insert into a values (1)"]);
    batch.extend(transactional(&["create table b (id int)"]));
    let mut book = strings(&["begin"]);
    book.extend(strings(&RECORD_ROWS));
    book.push("commit".into());
    assert_eq!(
        scripts(&log),
        vec![
            (Kind::Pipelined, batch),
            (
                Kind::OneByOne,
                strings(&[
                    "set lock_timeout",
                    "set statement_timeout",
                    "create index concurrently a_id on a (id)",
                    "vacuum a"
                ])
            ),
            (
                Kind::Pipelined,
                strings(&[
                    "set lock_timeout to default",
                    "set statement_timeout to default"
                ])
            ),
            (Kind::Pipelined, book),
            (
                Kind::Pipelined,
                transactional(&["insert into nope values (1)"])
            ),
        ]
    );
    // The guard refuses on the stop lock of this session, and after the first migration
    // of a batch also when the one before did not commit.
    let log = log.lock().unwrap();
    let (first, second) = (&log[0].1[1], &log[0].1[10]);
    assert!(first.contains("objid = 4242") && !first.contains("where version"));
    assert!(second.contains("objid = 4242") && second.contains("where version = '1'"));
    // Pipelined, each transaction is one group (a message of the native session): the
    // batch's migrations end at their commits, the bookkeeping is one, and the timeouts'
    // reset, outside a transaction, goes step by step.
    let ends: Vec<&[usize]> = log.iter().map(|(_, _, e)| e.as_slice()).collect();
    assert_eq!(ends, [&[8, 16][..], &[], &[0], &[], &[7]]);
}

#[tokio::test]
async fn a_failed_statement_is_located_in_its_migrations_file() {
    // Script 0 is the batch 1, 2; 4_d is alone after 3_c (scripts 1–3), at step 4.
    let (mut db, _) = database(Some((
        4,
        4,
        error(Some(13), "relation \"nope\" does not exist"),
    )));
    let (outcome, told) = apply(&mut db, &files()).await;
    assert_eq!(told, "S0 A0 S1 A1 S2 A2 S3");
    let Err((3, StepError::Failed(f))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(f.file, Path::new("4_d.sql"));
    assert_eq!((f.line, f.column), (2, 13));
    assert_eq!(f.statement, "insert into nope values (1)");
    assert!(f.transactional && f.ran_before.is_empty());

    // In a batch: the second migration's statement, without a position.
    let (mut db, _) = database(Some((0, 13, error(None, "no"))));
    let (outcome, _) = apply(&mut db, &files()).await;
    let Err((1, StepError::Failed(f))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (f.file.as_path(), f.line, f.column),
        (Path::new("2_b.sql"), 3, 1)
    );
}

#[tokio::test]
async fn a_transaction_false_failure_says_what_ran_before_it() {
    let (mut db, log) = database(Some((1, 3, error(None, "no"))));
    let (outcome, _) = apply(&mut db, &files()).await;
    let Err((2, StepError::Failed(f))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((f.line, f.column), (3, 1));
    assert!(!f.transactional);
    assert_eq!(f.ran_before, ["create index concurrently a_id on a (id)"]);
    // The timeouts are reset, and nothing is recorded.
    let scripts = scripts(&log);
    assert_eq!(scripts.len(), 3);
    assert_eq!(scripts[2].1[0], "set lock_timeout to default");
}

/// With a second session to be had, it takes the lease before the batch is sent, and
/// every guard requires it: a batch outliving its run stops within one migration.
#[tokio::test]
async fn a_companion_holds_the_lease_every_guard_requires() {
    let (mut db, log) = database(None);
    let asked = Arc::new(Mutex::new(Vec::new()));
    db.opener = Arc::new(Companions(Some(asked.clone())));
    let files = files();
    let (outcome, _) = apply(&mut db, &files[..2]).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let token: i32 = asked[0]
        .strip_prefix("select pg_advisory_lock(48372617, ")
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{asked:?}"));
    let scripts = log.lock().unwrap();
    let guards: Vec<&String> = scripts[0]
        .1
        .iter()
        .filter(|s| s.contains("pg_locks"))
        .collect();
    assert_eq!(guards.len(), 2, "{scripts:?}");
    for guard in guards {
        assert!(
            guard.contains(&format!("classid = 48372617 and objid = {} and objsubid = 2 and granted) then raise exception 'pgfleet: the run that sent this batch is gone'", token as u32)),
            "{guard}"
        );
    }
}

/// A scratch database's batch goes without the lease and the stop lock: no second
/// session, no pid asked for, and guards that only look for the migration before.
#[tokio::test]
async fn a_scratch_database_batch_goes_without_lease_or_stop_lock() {
    let (mut db, log) = database(None);
    let asked = Arc::new(Mutex::new(Vec::new()));
    db.opener = Arc::new(Companions(Some(asked.clone())));
    db.scratch();
    let files = files();
    let (outcome, _) = apply(&mut db, &files[..2]).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(asked.lock().unwrap().is_empty(), "{asked:?}");
    let scripts = log.lock().unwrap();
    let guards: Vec<&String> = scripts[0]
        .1
        .iter()
        .filter(|s| s.starts_with("do $pgfleet$"))
        .collect();
    assert_eq!(guards.len(), 2, "{scripts:?}");
    assert!(guards.iter().all(|g| !g.contains("pg_locks")), "{guards:?}");
    assert!(guards[1].contains("the migration before did not commit"));
}

#[tokio::test]
async fn the_guard_refusing_on_the_stop_lock_is_a_stop() {
    let (mut db, _) = database(Some((0, 10, error(None, STOPPED))));
    let (outcome, _) = apply(&mut db, &files()).await;
    assert!(
        matches!(outcome, Err((1, StepError::Stopped(_)))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_connection_lost_under_pgfleets_own_sql_says_to_look_with_status() {
    let lost = |code: Option<&str>| SqlError {
        code: code.map(str::to_string),
        ..error(None, "psql stopped without a message")
    };
    // The guard of 2_b.sql, then the COMMIT of 1_a.sql.
    for step in [10, 9] {
        for (code, unknown) in [(None, true), (Some("08006"), true), (Some("57P01"), false)] {
            let (mut db, _) = database(Some((0, step, lost(code))));
            let (outcome, _) = apply(&mut db, &files()).await;
            let Err((_, StepError::Database(e))) = &outcome else {
                panic!("{outcome:?}");
            };
            let message = e.to_string();
            assert_eq!(
                message.contains("run `pgfleet status`"),
                unknown,
                "{step} {code:?}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn a_rehearsal_sends_each_statement_alone_and_ends_in_rollback() {
    let (mut db, log) = database(None);
    let files = files();
    let mut measured = Vec::new();
    db.rehearse(&[&files[0], &files[3]], &settings(), &mut |m| {
        measured.push((m.migration, m.line, m.sql))
    })
    .await
    .unwrap();
    let pipelined = |steps: &[&str]| (Kind::Pipelined, strings(steps));
    assert_eq!(
        scripts(&log),
        vec![
            pipelined(&[
                "begin",
                "set local lock_timeout",
                "set local statement_timeout"
            ]),
            pipelined(&["create table a (id int)"]),
            pipelined(&["insert into a values (1)"]),
            pipelined(&["set local lock_timeout", "set local statement_timeout"]),
            pipelined(&["insert into nope values (1)"]),
            pipelined(&["rollback"]),
        ]
    );
    assert_eq!(
        measured,
        [
            (0, 2, "create table a (id int)"),
            (0, 3, "insert into a values (1)"),
            (1, 2, "insert into nope values (1)")
        ]
    );
}

#[tokio::test]
async fn a_rehearsal_that_fails_points_into_the_file_and_rolls_back() {
    // The fifth script: 4_d's statement.
    let (mut db, log) = database(Some((
        4,
        0,
        error(Some(13), "relation \"nope\" does not exist"),
    )));
    let files = files();
    let outcome = db
        .rehearse(&[&files[0], &files[3]], &settings(), &mut |_| {})
        .await;
    let Err(StepError::Failed(failure)) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (failure.file.as_path(), failure.line, failure.column),
        (Path::new("4_d.sql"), 2, 13)
    );
    assert_eq!(scripts(&log).last().unwrap().1, ["rollback"]);
}

/// Refuses every migration but 2_b.
struct Picky;

impl Check for Picky {
    fn name(&self) -> &str {
        "picky"
    }

    fn sql(&self, migration: &Migration) -> Option<String> {
        (migration.version != "2").then(|| format!("check {}", migration.version))
    }
}

#[tokio::test]
async fn checks_run_after_the_guard_and_before_the_migration() {
    let (mut db, log) = database(None);
    db.check_before_each(Box::new(Picky));
    let (outcome, _) = apply(&mut db, &files()).await;
    assert!(outcome.is_ok());
    let scripts = scripts(&log);
    assert_eq!(&scripts[0].1[..3], ["begin", "guard", "check 1"]);
    assert_eq!(
        &scripts[0].1[10..13],
        ["begin", "guard", "set local lock_timeout"]
    );
    assert_eq!(scripts[1].1[0], "check 3");
    assert_eq!(&scripts[4].1[..3], ["begin", "guard", "check 4"]);

    let (mut db, _) = database(Some((0, 2, error(None, "busy"))));
    db.check_before_each(Box::new(Picky));
    let (outcome, _) = apply(&mut db, &files()).await;
    let Err((0, StepError::Refused { check, error })) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((check.as_str(), error.message.as_str()), ("picky", "busy"));
}

#[tokio::test]
async fn a_query_runs_in_a_read_only_transaction_and_rolls_back() {
    let t = Timeout { millis: 30_000 };
    let query = crate::tracking::Query::parse("set search_path = app; select 2", t, t).unwrap();
    let (mut db, log) = database(None);
    let set = db.read_only(&query).await.unwrap();
    assert_eq!(set.columns, ["a"]);
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (
                Kind::Pipelined,
                vec![
                    "begin read only".to_string(),
                    "set local statement_timeout = '30000ms'".into(),
                    "set local lock_timeout = '30000ms'".into(),
                    "select 1".into(),
                    "set search_path = app".into(),
                ],
                // One group: all of it inside the transaction.
                vec![]
            ),
            // The last statement alone, for its rows and column names.
            (Kind::OneByOne, vec!["select 2".to_string()], vec![]),
            (Kind::OneByOne, vec!["rollback".to_string()], vec![]),
        ]
    );

    // A statement before the last one fails: named, with the server's error, and nothing
    // after it is sent.
    let (mut db, log) = database(Some((0, 4, error(None, "read-only"))));
    let e = db.read_only(&query).await.unwrap_err().to_string();
    assert_eq!(
        e,
        "statement 1 of 2 (`set search_path = app`) failed on fake: ERROR 42P01: read-only"
    );
    assert_eq!(log.lock().unwrap().len(), 1);
}

/// Reverts `files` in the order given, returning the outcome and the progress told (S:
/// started, A: reverted).
async fn revert(
    db: &mut Database,
    files: &[&Migration],
) -> (Result<(), (usize, StepError)>, String) {
    let mut told = Vec::new();
    let outcome = revert_all(db, files, &settings(), &Stop::default(), &mut |p| {
        told.push(match p {
            Applying::Started(i) => format!("S{i}"),
            Applying::Applied(i, _) => format!("A{i}"),
        })
    })
    .await;
    (outcome, told.join(" "))
}

const DELETE_ROWS: [&str; 2] = [
    "delete from public.schema_migrations where version",
    "delete from public.schema_migrations_pgfleet where version",
];

fn reverting(statements: &[&str]) -> Vec<String> {
    let mut steps = strings(&[
        "begin",
        "guard",
        "set local lock_timeout",
        "set local statement_timeout",
    ]);
    steps.extend(strings(statements));
    steps.extend(strings(&DELETE_ROWS));
    steps.push("commit".into());
    steps
}

#[tokio::test]
async fn a_rollback_of_transactional_downs_is_one_pipelined_script() {
    let (mut db, log) = database(None);
    db.check_before_each(Box::new(Picky));
    let files = files();
    // Newest first, as planned; 3_c's down is transactional (only its up is not).
    let (outcome, told) = revert(&mut db, &[&files[3], &files[2], &files[1], &files[0]]).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(told, "S0 A0 S1 A1 S2 A2 S3 A3");
    let mut batch = reverting(&[]);
    batch.extend(reverting(&["drop index a_id"]));
    batch.extend(reverting(&["drop table b"]));
    batch.extend(reverting(&["drop table a"]));
    // One round trip, and no check: a rollback undoes what they let through.
    assert_eq!(scripts(&log), vec![(Kind::Pipelined, batch)]);
    // Reverting, the migration before committed when its row is gone.
    let log = log.lock().unwrap();
    let (first, second) = (&log[0].1[1], &log[0].1[8]);
    assert!(first.contains("objid = 4242") && !first.contains("where version"));
    assert!(
        second.contains(
            " if exists (select 1 from public.schema_migrations where version = '4') then raise exception 'pgfleet: the migration before did not commit'"
        ),
        "{second}"
    );
}

/// 1 and 3 with transactional downs, 2's down `transaction:false`.
fn downs() -> Vec<Migration> {
    vec![
        migration(
            "1_a.sql",
            "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n",
        ),
        migration(
            "2_b.sql",
            "-- migrate:up\ncreate index b on a (id);\n-- migrate:down transaction:false\ndrop index concurrently b;\n",
        ),
        migration(
            "3_c.sql",
            "-- migrate:up\ncreate table c (id int);\n-- migrate:down\n\n-- c goes\ndrop table c;\ndrop table nope;\n",
        ),
    ]
}

#[tokio::test]
async fn a_transaction_false_down_goes_alone_between_batches() {
    let (mut db, log) = database(None);
    let files = downs();
    let (outcome, told) = revert(&mut db, &[&files[2], &files[1], &files[0]]).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(told, "S0 A0 S1 A1 S2 A2");
    let mut book = strings(&["begin"]);
    book.extend(strings(&DELETE_ROWS));
    book.push("commit".into());
    assert_eq!(
        scripts(&log),
        vec![
            (
                Kind::Pipelined,
                reverting(&["drop table c", "drop table nope"])
            ),
            (
                Kind::OneByOne,
                strings(&[
                    "set lock_timeout",
                    "set statement_timeout",
                    "drop index concurrently b"
                ])
            ),
            (
                Kind::Pipelined,
                strings(&[
                    "set lock_timeout to default",
                    "set statement_timeout to default"
                ])
            ),
            (Kind::Pipelined, book),
            (Kind::Pipelined, reverting(&["drop table a"])),
        ]
    );
}

#[tokio::test]
async fn a_failed_down_statement_is_located_in_the_down_section() {
    // 3_c's second statement, step 5 of the first script.
    let (mut db, log) = database(Some((
        0,
        5,
        error(Some(12), "table \"nope\" does not exist"),
    )));
    let files = downs();
    let (outcome, told) = revert(&mut db, &[&files[2], &files[1], &files[0]]).await;
    assert_eq!(told, "S0");
    let Err((0, StepError::Failed(f))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (f.file.as_path(), f.direction, f.line, f.column),
        (Path::new("3_c.sql"), "down", 7, 12)
    );
    assert_eq!(f.statement, "drop table nope");
    assert!(f.transactional);
    // Nothing after the failure is sent.
    assert_eq!(log.lock().unwrap().len(), 1);
}
