//! Checks of the harness itself, so a broken setup fails here and not in every other module.

use crate::harness::{self, Cmd};

#[test]
fn fresh_db_answers_queries() {
    let db = harness::fresh_db("smoke_query");
    let rows =
        db.query("select 1, null, '', 'a,\"b\"', e'x\\ny' union all select 2, 'n', ' ', '', ''");
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        rows,
        [
            vec![some("1"), None, some(""), some("a,\"b\""), some("x\ny")],
            vec![some("2"), some("n"), some(" "), some(""), some("")],
        ]
    );
    assert!(db.query("select 1 where false").is_empty());
    assert_eq!(
        db.scalar("select current_database()").as_deref(),
        Some(db.name())
    );
    assert!(db.try_query("select * from no_such_table").is_err());
}

#[test]
fn fresh_dbs_are_separate() {
    let one = harness::fresh_db("smoke_one");
    let two = harness::fresh_db("smoke_two");
    assert_ne!(one.name(), two.name());
    one.exec("create table only_in_one (id int)");
    assert_eq!(one.tables("public"), ["only_in_one"]);
    assert!(two.tables("public").is_empty());
    let missing = harness::missing_db("smoke_missing");
    assert!(one.exists() && !missing.exists());
}

#[test]
fn pgfleet_waits_for_the_server() {
    let db = harness::fresh_db("smoke_wait");
    Cmd::new()
        .args(["--url", db.url(), "wait"])
        .run()
        .success()
        .never_prints(harness::server().password().unwrap_or("\0"));
}

#[test]
fn dbmate_applies_a_migration() {
    let db = harness::fresh_db("smoke_dbmate");
    let dir = harness::tempdir();
    harness::write_migrations(
        &dir.path().join("db/migrations"),
        &[(
            "20240101000000_create_things.sql",
            "-- migrate:up\ncreate table things (id int);\n\n-- migrate:down\ndrop table things;\n",
        )],
    );
    Cmd::dbmate()
        .dir(dir.path())
        .args(["--url", db.url(), "--no-dump-schema", "up"])
        .run()
        .success()
        .stdout_has("Applied: 20240101000000_create_things.sql");
    assert_eq!(db.tables("public"), ["schema_migrations", "things"]);
    assert_eq!(
        db.scalar("select version from schema_migrations")
            .as_deref(),
        Some("20240101000000")
    );
}
