//! Wrong outcomes found by issue 12's tries, each pinned: what used to succeed silently
//! or fail on the wrong thing now says what it is.

use std::time::Duration;

use crate::harness::{self, Cmd};

const T: (&str, &str) = (
    "20240101000001_t.sql",
    "-- migrate:up\ncreate table t (id int);\n-- migrate:down\ndrop table t;\n",
);

fn pgfleet(url: &str, dir: &std::path::Path) -> Cmd {
    Cmd::new().args(["--url", url, "-d"]).arg(dir)
}

/// A duration without a unit would mean milliseconds (`--lock-timeout 5` = 5 ms): refused
/// in flags and in marker options, as the inventory refuses it.
#[test]
fn durations_need_a_unit() {
    let db = harness::fresh_db("out_units");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[T]);
    pgfleet(db.url(), dir.path())
        .args(["up", "--lock-timeout", "5"])
        .run()
        .code_is(3)
        .stderr_has("'5' needs a unit: 5s for seconds, 5ms for milliseconds");
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000002_u.sql",
            "-- migrate:up lock_timeout:5\ncreate table u (id int);\n-- migrate:down\ndrop table u;\n",
        )],
    );
    pgfleet(db.url(), dir.path())
        .arg("up")
        .run()
        .code_is(3)
        .stderr_has("20240101000002_u.sql:1")
        .stderr_has("a duration with a unit (a bare number would mean milliseconds): 5s or 5ms");
    assert!(db.tables("public").is_empty());
}

/// `new` twice within a second gives two versions; an empty name is refused.
#[test]
fn new_never_writes_two_files_with_one_version() {
    let dir = harness::tempdir();
    for name in ["a", "b", "c"] {
        Cmd::new()
            .arg("-d")
            .arg(dir.path())
            .args(["new", name])
            .run()
            .success();
    }
    let mut versions: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.split('_').next().unwrap().to_string()
        })
        .collect();
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), 3, "{versions:?}");
    Cmd::new()
        .arg("-d")
        .arg(dir.path())
        .args(["new", ""])
        .run()
        .code_is(3)
        .stderr_has("`new` needs a name");
}

/// `-n` is a count of one or more; `-n 0` used to roll back nothing and call it done.
#[test]
fn rollback_counts_are_one_or_more() {
    for n in ["0", "-1"] {
        Cmd::new()
            .args(["--url", "postgres://u@127.0.0.1:1/x", "rollback", "-n", n])
            .run()
            .code_is(3)
            .stderr_has("is not a count of 1 or more");
    }
}

/// The first rollback on a database dbmate migrated works (it failed on pgfleet's own
/// table, which dbmate does not make).
#[test]
fn the_first_rollback_after_dbmate_works() {
    let db = harness::fresh_db("out_dbmate_rb");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[T]);
    Cmd::dbmate()
        .args(["--url", db.url(), "-d"])
        .arg(dir.path())
        .args(["--no-dump-schema", "up"])
        .run()
        .success();
    pgfleet(db.url(), dir.path())
        .arg("rollback")
        .run()
        .success()
        .stdout_has("Rolled back: 20240101000001_t.sql");
    assert!(db.tables("public").iter().all(|t| t != "t"));
}

/// A rehearsal needs a database to rehearse on: a missing one is refused, not reported as
/// rehearsed.
#[test]
fn rehearsing_a_missing_database_is_refused() {
    let db = harness::missing_db("out_rehearse");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[T]);
    let out = pgfleet(db.url(), dir.path())
        .args(["plan", "--rehearse"])
        .timeout(Duration::from_secs(30))
        .run();
    out.code_is(4)
        .stderr_has("cannot rehearse: the database does not exist");
    assert!(!out.stdout.contains("rolled back"), "{out}");
    assert!(!db.exists());
}

/// Rolling back a migration whose down section is empty undoes nothing: said, not hidden.
#[test]
fn an_empty_down_section_is_said_when_rolled_back() {
    let db = harness::fresh_db("out_empty_down");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_seed.sql",
            "-- migrate:up\ncreate table seeded (id int);\n-- migrate:down\n-- nothing\n",
        )],
    );
    pgfleet(db.url(), dir.path()).arg("up").run().success();
    pgfleet(db.url(), dir.path())
        .arg("rollback")
        .run()
        .success()
        .stderr_has("Warning: 20240101000001_seed.sql: its down section is empty, so rolling it back undoes nothing");
}

/// A NUL byte is a parse error at its line, before anything is sent (the server used to
/// drop the connection over it, reported as a lost connection).
#[test]
fn a_nul_byte_is_caught_when_parsing() {
    let db = harness::fresh_db("out_nul");
    let dir = harness::tempdir();
    std::fs::write(
        dir.path().join("20240101000001_nul.sql"),
        b"-- migrate:up\ncreate table n (id int);\nselect '\0';\n-- migrate:down\ndrop table n;\n",
    )
    .unwrap();
    pgfleet(db.url(), dir.path())
        .arg("up")
        .run()
        .code_is(3)
        .stderr_has("20240101000001_nul.sql:3")
        .stderr_has("a NUL byte");
    assert!(db.tables("public").is_empty());
}

/// JSON as docs/json.md has it: with `--url`, `host` is empty and `database` is the
/// database's name (not the URL); `duration_ms` is a whole number everywhere.
#[test]
fn json_fields_are_what_the_docs_say() {
    let db = harness::fresh_db("out_json");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[T]);
    let out = pgfleet(db.url(), dir.path())
        .args(["--format", "json-lines", "up"])
        .run();
    out.success();
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let applied = lines
        .iter()
        .find(|e| e["event"] == "applied")
        .expect("an applied event");
    assert!(applied["duration_ms"].is_u64(), "{applied}");
    let doc = lines.last().unwrap();
    let target = &doc["targets"][0];
    assert_eq!(target["host"], "", "{doc}");
    assert_eq!(target["database"], db.name(), "{doc}");
    assert!(target["duration_ms"].is_u64(), "{doc}");
}

/// A typo in `--migrations-table` used to start a second history (and run migration 1
/// again); `a.b.c` reached the server.
#[test]
fn a_migrations_table_typo_does_not_start_a_second_history() {
    let db = harness::fresh_db("out_table");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[T]);
    pgfleet(db.url(), dir.path()).arg("up").run().success();
    pgfleet(db.url(), dir.path())
        .args(["--migrations-table", "schema_migration", "up"])
        .run()
        .code_is(4)
        .stderr_has(
            "does not exist here, but public.schema_migrations does: a typo in --migrations-table?",
        );
    assert!(db.tables("public").iter().all(|t| t != "schema_migration"));
    pgfleet(db.url(), dir.path())
        .args(["--migrations-table", "a.b.c", "status"])
        .run()
        .code_is(3)
        .stderr_has("write `table` or `schema.table`");
    // On a database with no history at all, another table name is simply used.
    let fresh = harness::fresh_db("out_table_new");
    pgfleet(fresh.url(), dir.path())
        .args(["--migrations-table", "app.history", "up"])
        .run()
        .success();
    assert_eq!(
        fresh.scalar("select count(*) from app.history"),
        Some("1".into())
    );
}

/// A concurrent index build that fails leaves an INVALID index: the failure names it with
/// its DROP, and a re-run of `… IF NOT EXISTS`, which would skip it and record the
/// migration over a broken index, is refused until it is dropped.
#[test]
fn an_invalid_index_is_named_and_never_skipped() {
    let db = harness::fresh_db("out_invalid");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_index.sql",
            "-- migrate:up transaction:false\ncreate unique index concurrently if not exists t_u on t (id);\n-- migrate:down transaction:false\ndrop index concurrently if exists t_u;\n",
        )],
    );
    db.exec("create table t (id int); insert into t values (1), (1);");
    pgfleet(db.url(), dir.path())
        .arg("up")
        .run()
        .code_is(2)
        .stderr_has("INVALID indexes in the database")
        .stderr_has("t_u (drop it: DROP INDEX CONCURRENTLY t_u;)");
    db.exec("delete from t where ctid = (select max(ctid) from t)");
    pgfleet(db.url(), dir.path())
        .arg("up")
        .run()
        .code_is(4)
        .stderr_has("invalid index check refused 20240101000001_index.sql")
        .stderr_has("would skip: t_u (drop it: DROP INDEX CONCURRENTLY t_u;)");
    db.exec("drop index t_u");
    pgfleet(db.url(), dir.path()).arg("up").run().success();
    assert_eq!(
        db.scalar("select indisvalid from pg_index where indexrelid = 't_u'::regclass"),
        Some("t".into())
    );
}
