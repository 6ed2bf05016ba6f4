//! The engine end to end on a real PostgreSQL: up, status, rollback, failures, checksums,
//! ordering, dry runs and configuration.

use std::path::Path;

use crate::harness::{self, Cmd, TestDb};

const USERS: (&str, &str) = (
    "20240101000001_users.sql",
    "-- migrate:up\ncreate table users (id int primary key, email text);\n\n-- migrate:down\ndrop table users;\n",
);
const POSTS: (&str, &str) = (
    "20240101000002_posts.sql",
    "-- migrate:up\ncreate table posts (id int primary key, user_id int references users (id));\n\n-- migrate:down\ndrop table posts;\n",
);
const TAGS: (&str, &str) = (
    "20240101000003_tags.sql",
    "-- migrate:up\ncreate table tags (name text primary key);\n\n-- migrate:down\ndrop table tags;\n",
);

fn pgfleet(db: &TestDb, dir: &Path) -> Cmd {
    Cmd::new()
        .args(["--url", db.url(), "--migrations-dir"])
        .arg(dir)
}

fn versions(db: &TestDb) -> Vec<String> {
    db.query("select version from schema_migrations order by version")
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

#[test]
fn up_status_rollback_and_to() {
    let db = harness::fresh_db("engine_cycle");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS, POSTS, TAGS]);

    let status = pgfleet(&db, dir.path())
        .args(["status", "--exit-code"])
        .run();
    status
        .code_is(1)
        .stdout_has("[ ] 20240101000001_users.sql\n");
    status.stdout_has("\nApplied: 0\nPending: 3\n");

    pgfleet(&db, dir.path())
        .arg("up")
        .run()
        .success()
        .stdout_has("Applying: 20240101000001_users.sql\nApplied: 20240101000001_users.sql in ");
    assert_eq!(
        versions(&db),
        ["20240101000001", "20240101000002", "20240101000003"]
    );
    assert_eq!(
        db.tables("public"),
        [
            "posts",
            "schema_migrations",
            "schema_migrations_pgfleet",
            "tags",
            "users"
        ]
    );
    let row = db.query(
        "select checksum, file_name, applied_by, pgfleet_version, duration_ms >= 0 from schema_migrations_pgfleet where version = '20240101000002'",
    );
    let row = &row[0];
    assert_eq!(row[0].as_ref().map(String::len), Some(64));
    assert_eq!(row[1].as_deref(), Some("20240101000002_posts.sql"));
    assert!(
        row[2].as_deref().unwrap_or("").contains('@'),
        "applied_by: {row:?}"
    );
    assert_eq!(row[3].as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(row[4].as_deref(), Some("t"));

    pgfleet(&db, dir.path())
        .args(["status", "--exit-code"])
        .run()
        .success()
        .stdout_has("[X] 20240101000003_tags.sql\n\nApplied: 3\nPending: 0\n");
    // A second `up` has nothing to do.
    let again = pgfleet(&db, dir.path()).arg("up").run();
    again.success();
    assert!(!again.stdout.contains("Applying"), "{again}");

    pgfleet(&db, dir.path())
        .arg("rollback")
        .run()
        .success()
        .stdout_has(
            "Rolling back: 20240101000003_tags.sql\nRolled back: 20240101000003_tags.sql in ",
        );
    assert_eq!(versions(&db), ["20240101000001", "20240101000002"]);
    assert!(!db.tables("public").contains(&"tags".to_string()));
    assert_eq!(
        db.scalar("select count(*) from schema_migrations_pgfleet")
            .as_deref(),
        Some("2")
    );

    pgfleet(&db, dir.path()).arg("up").run().success();
    pgfleet(&db, dir.path())
        .args(["down", "--to", "20240101000001"])
        .run()
        .success()
        .stdout_has("Rolled back: 20240101000003_tags.sql")
        .stdout_has("Rolled back: 20240101000002_posts.sql");
    assert_eq!(versions(&db), ["20240101000001"]);

    pgfleet(&db, dir.path())
        .args(["rollback", "--to", "20991231000000"])
        .run()
        .code_is(3)
        .stderr_has("it is not applied here");
    pgfleet(&db, dir.path()).args(["up"]).run().success();
    pgfleet(&db, dir.path())
        .args(["rollback", "-n", "2"])
        .run()
        .success();
    assert_eq!(versions(&db), ["20240101000001"]);
    pgfleet(&db, dir.path())
        .args(["rollback", "--to", "0"])
        .run()
        .success();
    assert!(versions(&db).is_empty());
    assert_eq!(
        db.tables("public"),
        ["schema_migrations", "schema_migrations_pgfleet"]
    );
}

/// Five files, each with its table; 003's down fails on its second statement.
const FIVE: [(&str, &str); 5] = [
    (
        "001_one.sql",
        "-- migrate:up\ncreate table one (id int);\n-- migrate:down\ndrop table one;\n",
    ),
    (
        "002_two.sql",
        "-- migrate:up\ncreate table two (id int);\n-- migrate:down\ndrop table two;\n",
    ),
    (
        "003_three.sql",
        "-- migrate:up\ncreate table three (id int);\n-- migrate:down\ndrop table three;\n\nselect * from nope;\n",
    ),
    (
        "004_four.sql",
        "-- migrate:up\ncreate table four (id int);\n-- migrate:down\ndrop table four;\n",
    ),
    (
        "005_five.sql",
        "-- migrate:up\ncreate table five (id int);\n-- migrate:down\ndrop table five;\n",
    ),
];

/// The five go back in one pipelined batch: the two before the failure are reverted with
/// their rows, the failing one and the ones after it (which the guards stop) stay applied.
#[test]
fn a_rollback_batch_stops_at_the_failing_down() {
    let db = harness::fresh_db("engine_rollback_batch");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &FIVE);
    pgfleet(&db, dir.path()).arg("up").run().success();
    let out = pgfleet(&db, dir.path())
        .args(["rollback", "--to", "0"])
        .run();
    out.code_is(2)
        .stdout_has("Rolled back: 005_five.sql in ")
        .stdout_has("Rolled back: 004_four.sql in ")
        .stdout_has("Rolling back: 003_three.sql")
        .stderr_has("down of 003_three.sql failed at ")
        .stderr_has("003_three.sql:6:15")
        .stderr_has("ERROR 42P01: relation \"nope\" does not exist")
        .stderr_has("nothing of 003_three.sql was kept");
    assert!(!out.stdout.contains("Rolled back: 003"), "{out}");
    assert!(!out.stdout.contains("002_two.sql"), "{out}");
    assert_eq!(versions(&db), ["001", "002", "003"]);
    assert_eq!(
        db.scalar(
            "select string_agg(version, ',' order by version) from schema_migrations_pgfleet"
        )
        .as_deref(),
        Some("001,002,003")
    );
    assert_eq!(
        db.tables("public"),
        [
            "one",
            "schema_migrations",
            "schema_migrations_pgfleet",
            "three",
            "two"
        ]
    );
}

/// A `transaction:false` down in the middle goes alone, between the batches around it.
#[test]
fn a_rollback_runs_a_transaction_false_down_between_batches() {
    let db = harness::fresh_db("engine_rollback_mixed");
    let dir = harness::tempdir();
    let index = (
        "003_three.sql",
        "-- migrate:up transaction:false\ncreate index concurrently two_id on two (id);\n-- migrate:down transaction:false\ndrop index concurrently two_id;\n",
    );
    harness::write_migrations(dir.path(), &[FIVE[0], FIVE[1], index, FIVE[3], FIVE[4]]);
    pgfleet(&db, dir.path()).arg("up").run().success();
    let out = pgfleet(&db, dir.path()).args(["rollback", "-n", "4"]).run();
    out.success();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Roll"))
        .map(|l| l.split(" in ").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "Rolling back: 005_five.sql",
            "Rolled back: 005_five.sql",
            "Rolling back: 004_four.sql",
            "Rolled back: 004_four.sql",
            "Rolling back: 003_three.sql",
            "Rolled back: 003_three.sql",
            "Rolling back: 002_two.sql",
            "Rolled back: 002_two.sql",
        ],
        "{out}"
    );
    assert_eq!(versions(&db), ["001"]);
    assert_eq!(
        db.tables("public"),
        ["one", "schema_migrations", "schema_migrations_pgfleet"]
    );
    pgfleet(&db, dir.path())
        .args(["status"])
        .run()
        .success()
        .stdout_has("[X] 001_one.sql\n[ ] 002_two.sql\n");
}

#[test]
fn up_creates_a_missing_database_and_global_flags_go_anywhere() {
    let db = harness::missing_db("engine_create");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS]);
    // Flags after the subcommand, as dbmate accepts them.
    Cmd::new()
        .args(["up", "--url", db.url(), "-d"])
        .arg(dir.path())
        .run()
        .success()
        .stdout_has(&format!(
            "Creating: {}\nApplying: 20240101000001_users.sql",
            db.name()
        ));
    assert!(db.exists());
    assert_eq!(versions(&db), ["20240101000001"]);
}

#[test]
fn several_sections_apply_together_and_record_once() {
    let db = harness::fresh_db("engine_sections");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_two_pairs.sql",
            "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n\n-- migrate:up\ncreate table b (id int);\n-- migrate:down\ndrop table b;\n",
        )],
    );
    pgfleet(&db, dir.path()).arg("up").run().success();
    assert_eq!(versions(&db), ["20240101000001"]);
    assert!(
        db.tables("public")
            .starts_with(&["a".to_string(), "b".to_string()])
    );
    pgfleet(&db, dir.path()).arg("rollback").run().success();
    assert_eq!(
        db.tables("public"),
        ["schema_migrations", "schema_migrations_pgfleet"]
    );

    // When the second section fails, the first one's table is not kept either.
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_two_pairs.sql",
            "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n\n-- migrate:up\ncreate table b (id nonsense_type);\n-- migrate:down\ndrop table b;\n",
        )],
    );
    pgfleet(&db, dir.path())
        .arg("up")
        .run()
        .code_is(2)
        .stderr_has("20240101000001_two_pairs.sql:7:20")
        .stderr_has("ERROR 42704: type \"nonsense_type\" does not exist");
    assert!(!db.tables("public").contains(&"a".to_string()));
    assert!(versions(&db).is_empty());
}

#[test]
fn transaction_false_runs_concurrently_created_indexes() {
    let db = harness::fresh_db("engine_concurrently");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[
            USERS,
            (
                "20240101000002_index.sql",
                "-- migrate:up transaction:false\ncreate index concurrently users_email on users (email);\ncreate index concurrently users_id_email on users (id, email);\n\n-- migrate:down transaction:false\ndrop index concurrently users_id_email;\ndrop index concurrently users_email;\n",
            ),
        ],
    );
    pgfleet(&db, dir.path()).arg("up").run().success();
    let indexes = || {
        db.query("select indexname from pg_indexes where tablename = 'users' and indexname like 'users_%email' order by 1")
    };
    assert_eq!(indexes().len(), 2);
    assert_eq!(
        db.scalar("select bool_and(indisvalid) from pg_index where indrelid = 'users'::regclass")
            .as_deref(),
        Some("t")
    );
    pgfleet(&db, dir.path()).arg("rollback").run().success();
    assert!(indexes().is_empty());
    assert_eq!(versions(&db), ["20240101000001"]);

    // The same statement in a transactional file fails, as PostgreSQL requires.
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000002_index.sql",
            "-- migrate:up\ncreate index concurrently users_email on users (email);\n-- migrate:down\n",
        )],
    );
    // `check` refuses it before sending (tests/it/check.rs); past it, the server's error.
    pgfleet(&db, dir.path())
        .args(["up", "--no-check"])
        .run()
        .code_is(2)
        .stderr_has("25001")
        .stderr_has("CREATE INDEX CONCURRENTLY cannot run inside a transaction block");
}

#[test]
fn transaction_false_failure_says_what_ran() {
    let db = harness::fresh_db("engine_nontx_fail");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[
            USERS,
            (
                "20240101000002_partial.sql",
                "-- migrate:up transaction:false\ncreate index concurrently users_email on users (email);\ninsert into users values (1, 'a');\nselect * from missing_table;\ninsert into users values (2, 'b');\n-- migrate:down\n",
            ),
        ],
    );
    let out = pgfleet(&db, dir.path()).arg("up").run();
    out.code_is(2)
        .stderr_has("20240101000002_partial.sql:4:15")
        .stderr_has("ERROR 42P01: relation \"missing_table\" does not exist")
        .stderr_has("statement: select * from missing_table")
        .stderr_has("these earlier statements of it DID run and were not undone")
        .stderr_has("    create index concurrently users_email on users (email)")
        .stderr_has("    insert into users values (1, 'a')");
    assert_eq!(versions(&db), ["20240101000001"]);
    assert_eq!(
        db.scalar("select count(*) from users").as_deref(),
        Some("1")
    );
}

#[test]
fn third_of_five_fails_cleanly() {
    let db = harness::fresh_db("engine_third");
    let dir = harness::tempdir();
    let files = [
        (
            "001_one.sql",
            "-- migrate:up\ncreate table one (id int);\n-- migrate:down\n",
        ),
        (
            "002_two.sql",
            "-- migrate:up\ncreate table two (id int);\n-- migrate:down\n",
        ),
        (
            "003_three.sql",
            "-- migrate:up\ncreate table three (id int);\ninsert into three values (1);\n\ninsert into three values ('not a number');\n-- migrate:down\n",
        ),
        (
            "004_four.sql",
            "-- migrate:up\ncreate table four (id int);\n-- migrate:down\n",
        ),
        (
            "005_five.sql",
            "-- migrate:up\ncreate table five (id int);\n-- migrate:down\n",
        ),
    ];
    harness::write_migrations(dir.path(), &files);
    let out = pgfleet(&db, dir.path()).arg("up").run();
    out.code_is(2)
        .stdout_has("Applied: 002_two.sql")
        .stderr_has("up of 003_three.sql failed at ")
        .stderr_has("003_three.sql:5:27")
        .stderr_has("ERROR 22P02: invalid input syntax for type integer: \"not a number\"")
        .stderr_has("nothing of 003_three.sql was kept");
    assert!(!out.stdout.contains("004_four.sql"), "{out}");
    assert_eq!(versions(&db), ["001", "002"]);
    let tables = db.tables("public");
    assert!(tables.contains(&"two".to_string()));
    for absent in ["three", "four", "five"] {
        assert!(
            !tables.contains(&absent.to_string()),
            "{absent} exists: {tables:?}"
        );
    }
    assert_eq!(
        db.scalar("select count(*) from schema_migrations_pgfleet")
            .as_deref(),
        Some("2")
    );
}

#[test]
fn errors_carry_detail_and_hint() {
    let db = harness::fresh_db("engine_detail");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "001_dup.sql",
            "-- migrate:up\ncreate table u (id int primary key);\ninsert into u values (1);\ninsert into u values (1);\n-- migrate:down\n",
        )],
    );
    pgfleet(&db, dir.path())
        .arg("up")
        .run()
        .code_is(2)
        .stderr_has("ERROR 23505: duplicate key value violates unique constraint \"u_pkey\"")
        .stderr_has("DETAIL: Key (id)=(1) already exists.")
        // No position from the server: the statement's own start is named.
        .stderr_has("001_dup.sql:4:1");
    harness::write_migrations(
        dir.path(),
        &[(
            "001_dup.sql",
            "-- migrate:up\nselect lenght('x');\n-- migrate:down\n",
        )],
    );
    pgfleet(&db, dir.path())
        .arg("up")
        .run()
        .code_is(2)
        .stderr_has("001_dup.sql:2:8")
        .stderr_has("HINT: No function matches the given name and argument types.");
}

#[test]
fn edited_applied_files_stop_up_before_anything_runs() {
    let db = harness::fresh_db("engine_changed");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS]);
    pgfleet(&db, dir.path()).arg("up").run().success();

    harness::write_migrations(
        dir.path(),
        &[
            (
                USERS.0,
                &USERS.1.replace("email text", "email text not null"),
            ),
            POSTS,
        ],
    );
    pgfleet(&db, dir.path())
        .arg("up")
        .run()
        .code_is(4)
        .stderr_has("edited since they were applied")
        .stderr_has("    20240101000001_users.sql")
        .stderr_has("--allow-changed");
    assert_eq!(versions(&db), ["20240101000001"]);
    pgfleet(&db, dir.path())
        .arg("status")
        .run()
        .success()
        .stdout_has("[X] 20240101000001_users.sql  (changed since applied)")
        .stdout_has("Changed: 1");
    pgfleet(&db, dir.path())
        .arg("verify")
        .run()
        .code_is(1)
        .stdout_has("changed:    20240101000001_users.sql");

    pgfleet(&db, dir.path())
        .args(["up", "--allow-changed"])
        .run()
        .success()
        .stdout_has("Applied: 20240101000002_posts.sql");
    assert_eq!(versions(&db), ["20240101000001", "20240101000002"]);
}

#[test]
fn versions_in_the_database_without_a_file_show_up() {
    let db = harness::fresh_db("engine_nofile");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS, POSTS]);
    pgfleet(&db, dir.path()).arg("up").run().success();
    std::fs::remove_file(dir.path().join(POSTS.0)).unwrap();
    pgfleet(&db, dir.path())
        .arg("status")
        .run()
        .success()
        .stdout_has("[X] 20240101000002  (applied in the database, no file)")
        .stdout_has("No file: 1");
    pgfleet(&db, dir.path())
        .arg("verify")
        .run()
        .code_is(1)
        .stdout_has("no file:    20240101000002");
    pgfleet(&db, dir.path())
        .arg("rollback")
        .run()
        .code_is(3)
        .stderr_has("version 20240101000002: it is applied but has no file");
}

#[test]
fn older_pending_files_run_unless_strict() {
    let db = harness::fresh_db("engine_strict");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS, TAGS]);
    pgfleet(&db, dir.path()).arg("up").run().success();
    harness::write_migrations(dir.path(), &[POSTS]);

    pgfleet(&db, dir.path())
        .args(["up", "--strict"])
        .run()
        .code_is(4)
        .stderr_has("--strict refuses pending migrations older than the newest applied one (20240101000003)")
        .stderr_has("    20240101000002_posts.sql");
    assert_eq!(versions(&db).len(), 2);
    pgfleet(&db, dir.path())
        .arg("up")
        .run()
        .success()
        .stdout_has("Applied: 20240101000002_posts.sql");
}

#[test]
fn dry_run_writes_nothing_and_takes_no_lock() {
    let db = harness::fresh_db("engine_dry");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS, POSTS]);
    // Another session holds pgfleet's lock: a dry run must not wait for it.
    let holder = db.url().to_string();
    let hold = std::thread::spawn(move || {
        Cmd::program("/usr/lib/postgresql/15/bin/psql")
            .args([
                holder.as_str(),
                "-c",
                "select pg_advisory_lock(48372615), pg_sleep(3)",
            ])
            .run()
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = pgfleet(&db, dir.path())
        .args(["up", "--dry-run", "--lock-wait", "1s"])
        .run();
    out.success()
        .stdout_has("nothing is written and no lock is taken")
        .stdout_has("Would apply: 20240101000001_users.sql (in one transaction)\n    -- migrate:up\n    create table users")
        .stdout_has("Would apply 2 migrations.");
    assert!(
        db.tables("public").is_empty(),
        "a dry run created {:?}",
        db.tables("public")
    );
    hold.join().unwrap();

    pgfleet(&db, dir.path()).arg("up").run().success();
    harness::write_migrations(dir.path(), &[TAGS]);
    pgfleet(&db, dir.path())
        .args(["migrate", "--dry-run"])
        .run()
        .success()
        .stdout_has("Would apply: 20240101000003_tags.sql")
        .stdout_has("Would apply 1 migration.");
    assert_eq!(versions(&db).len(), 2);

    let missing = harness::missing_db("engine_dry_missing");
    pgfleet(&missing, dir.path())
        .args(["up", "--dry-run"])
        .run()
        .success()
        .stdout_has("The database does not exist: `up` would create it.");
    assert!(!missing.exists());
}

#[test]
fn new_writes_dbmates_template() {
    let dir = harness::tempdir();
    let out = Cmd::new().dir(dir.path()).args(["new", "add_users"]).run();
    out.success()
        .stdout_has("Creating migration: ./migrations/");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1);
    let name = &files[0];
    assert!(
        name.len() == "20240101000000_add_users.sql".len() && name.ends_with("_add_users.sql"),
        "{name}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("migrations").join(name)).unwrap(),
        "-- migrate:up\n\n\n-- migrate:down\n\n"
    );
}

#[test]
fn the_url_comes_from_env_and_dotenv_and_never_shows_its_password() {
    let db = harness::fresh_db("engine_env");
    let dir = harness::tempdir();
    harness::write_migrations(&dir.path().join("migrations"), &[USERS]);
    std::fs::write(
        dir.path().join(".env"),
        format!("DATABASE_URL={}\n", db.url()),
    )
    .unwrap();
    Cmd::new()
        .dir(dir.path())
        .arg("up")
        .run()
        .success()
        .stdout_has("Applied: 20240101000001_users.sql");

    // A wrong password: a clear error, the URL redacted.
    let wrong = db.url().replacen(harness::PASSWORD, "wrong-pw-123", 1);
    Cmd::new()
        .dir(dir.path())
        .env("DATABASE_URL", &wrong)
        .arg("status")
        .run()
        .code_is(2)
        .stderr_has("password authentication failed")
        .stderr_has("********")
        .never_prints("wrong-pw-123");

    Cmd::new()
        .args(["status", "--env-file", "missing.env"])
        .run()
        .code_is(3)
        .stderr_has("cannot load the env file missing.env");
    Cmd::new()
        .args(["status"])
        .run()
        .code_is(3)
        .stderr_has("no database: pass --url");
    Cmd::new()
        .args([
            "up",
            "--url",
            "postgres://u:topsecret@h/db?sslmode=verify-full",
        ])
        .run()
        .code_is(3)
        .stderr_has(
            "sslmode=verify-full checks the server's certificate against a CA, and none was given",
        )
        .never_prints("topsecret");
    Cmd::new()
        .args(["up", "--lock-timeout", "soon"])
        .run()
        .code_is(3)
        .stderr_has("'soon' is not a duration");
}

#[test]
fn status_quiet_prints_nothing_and_an_unreachable_server_is_explained() {
    let db = harness::fresh_db("engine_quiet");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS]);
    let out = pgfleet(&db, dir.path()).args(["status", "--quiet"]).run();
    out.code_is(1);
    assert!(out.stdout.is_empty(), "{out}");
    pgfleet(&db, dir.path()).arg("up").run().success();
    let out = pgfleet(&db, dir.path()).args(["status", "-q"]).run();
    out.success();
    assert!(out.stdout.is_empty(), "{out}");

    Cmd::new()
        .args(["--url", "postgres://u:p@127.0.0.1:1/db", "status", "-d"])
        .arg(dir.path())
        .run()
        .code_is(2)
        .stderr_has("cannot connect to postgres://u:********@127.0.0.1:1/db")
        .stderr_has("is the server running");
    Cmd::new()
        .args([
            "--url",
            "postgres://u:p@127.0.0.1:1/db",
            "wait",
            "--wait-timeout",
            "1s",
        ])
        .run()
        .code_is(2)
        .stdout_has("Waiting for postgres://u:********@127.0.0.1:1/db");
}

#[test]
fn migrations_table_follows_search_path_and_the_flag() {
    let db = harness::fresh_db("engine_schema");
    let dir = harness::tempdir();
    // Two, so that the second one's guard reads the table where it really is.
    harness::write_migrations(dir.path(), &[USERS, POSTS]);
    let url = format!("{}&search_path=app", db.url());
    Cmd::new()
        .args(["--url", &url, "-d"])
        .arg(dir.path())
        .arg("up")
        .run()
        .success();
    assert_eq!(
        db.tables("app"),
        [
            "posts",
            "schema_migrations",
            "schema_migrations_pgfleet",
            "users"
        ]
    );

    let db = harness::fresh_db("engine_table_flag");
    pgfleet(&db, dir.path())
        .args(["--migrations-table", "meta.applied", "up"])
        .run()
        .success();
    assert_eq!(db.tables("meta"), ["applied", "applied_pgfleet"]);
    assert_eq!(db.tables("public"), ["posts", "users"]);
}

#[test]
fn a_dropped_connection_leaves_the_database_before_the_migration() {
    let db = harness::fresh_db("engine_dropped");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "001_slow.sql",
            "-- migrate:up\ncreate table slow (id int);\nselect pg_sleep(30);\n-- migrate:down\n",
        )],
    );
    let url = db.url().to_string();
    let path = dir.path().to_path_buf();
    let run = std::thread::spawn(move || {
        Cmd::new()
            .args(["--url", url.as_str(), "-d"])
            .arg(&path)
            .arg("up")
            .run()
    });
    // Cut the session while the migration runs, as a dropped network would. By what it
    // waits for: its query is the whole migration's message, cut at 1 kB there.
    let started = std::time::Instant::now();
    loop {
        let killed = db.scalar(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = current_database() and application_name = 'pgfleet' and wait_event = 'PgSleep'",
        );
        if killed.as_deref() == Some("1") {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 20,
            "pgfleet never reached the slow statement"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = run.join().unwrap();
    out.code_is(2)
        .stderr_has("the server ended the session during 001_slow.sql, before it committed")
        .stderr_has("nothing of it was kept");
    assert!(!db.tables("public").contains(&"slow".to_string()));
    assert_eq!(
        db.scalar("select count(*) from schema_migrations")
            .as_deref(),
        Some("0")
    );
}

#[test]
fn rollback_with_nothing_applied_says_so() {
    let db = harness::fresh_db("engine_nothing");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS]);
    pgfleet(&db, dir.path())
        .arg("rollback")
        .run()
        .code_is(3)
        .stderr_has("cannot roll back anything: no migration is applied");
}

/// A `schema_migrations` made by hand (no dbmate `version` column) is named for what it is,
/// with what to do, by every command that reads history; and `up` refuses it without
/// touching the database.
#[test]
fn a_hand_made_history_table_is_named_and_left_untouched() {
    let db = harness::fresh_db("engine_hand_made");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[USERS]);
    db.exec(
        "create table schema_migrations (id serial primary key, filename text, ran_at timestamptz default now());
         insert into schema_migrations (filename) values ('001_users.sql');",
    );
    for command in ["status", "up", "plan", "verify", "rollback"] {
        pgfleet(&db, dir.path())
            .arg(command)
            .run()
            .code_is(4)
            .stderr_has(
                "is a hand-made history table, not dbmate's (its columns: id, filename, ran_at)",
            )
            .stderr_has("pgfleet baseline --legacy-table NAME");
    }
    assert_eq!(db.tables("public"), ["schema_migrations"]);
    assert_eq!(
        db.scalar("select count(*) from schema_migrations")
            .as_deref(),
        Some("1")
    );
}

/// A batch sends each migration as one message: a failure inside one is still located in
/// its file (by the server's position when it gives one, counted in characters, else by
/// the statements that completed before it, those returning rows too), the migrations
/// before it stay applied and none after it runs.
#[test]
fn a_failure_inside_a_batched_migration_is_located_in_its_file() {
    let cases = [
        // Positioned, after two-byte characters on its line and in the message before it.
        ("select 'é' || nope from two;", "4:15", "42703"),
        // Positioned by the parser: the message's other statements never ran.
        ("create table bad (id int,);", "4:26", "42601"),
        // No position: the statement's start.
        ("select 1 / 0;", "4:1", "22012"),
        ("insert into two values (1);", "4:1", "23505"),
    ];
    for (failing, at, code) in cases {
        let db = harness::fresh_db("engine_batched");
        let dir = harness::tempdir();
        let two = format!(
            "-- migrate:up\ncreate table two (id int primary key);\ninsert into two values (1) returning id; select 'ü' as u, g from generate_series(1, 3) g;\n{failing}\ninsert into two values (2);\n-- migrate:down\n"
        );
        harness::write_migrations(
            dir.path(),
            &[
                (
                    "001_one.sql",
                    "-- migrate:up\ncreate table one (id int);\nselect 'one' as a, 2 as b;\n-- migrate:down\n",
                ),
                ("002_two.sql", &two),
                (
                    "003_three.sql",
                    "-- migrate:up\ncreate table three (id int);\n-- migrate:down\n",
                ),
            ],
        );
        // Past the checks, which would refuse the syntax error before anything runs.
        let out = pgfleet(&db, dir.path()).args(["up", "--no-check"]).run();
        out.code_is(2)
            .stdout_has("Applied: 001_one.sql")
            .stderr_has("up of 002_two.sql failed at ")
            .stderr_has(&format!("002_two.sql:{at}"))
            .stderr_has(&format!("ERROR {code}"))
            // The session is usable after the failure: the lock is released.
            .never_prints("cannot release");
        assert!(!out.stdout.contains("003_three.sql"), "{out}");
        assert_eq!(versions(&db), ["001"], "{failing}");
        let tables = db.tables("public");
        assert!(tables.contains(&"one".to_string()), "{failing}: {tables:?}");
        for absent in ["two", "three", "bad"] {
            assert!(
                !tables.contains(&absent.to_string()),
                "{failing}: {tables:?}"
            );
        }
    }
}

/// Each migration of a batch reaches the server as ONE message, its transaction whole
/// (the server logs a message's statements as one entry): its answers come back in one
/// burst rather than one packet per statement.
#[test]
fn a_batch_sends_each_migration_as_one_message() {
    let log = harness::server().log();
    if log.is_empty() {
        eprintln!("skipped: an external server's log cannot be read");
        return;
    }
    let db = harness::fresh_db("engine_messages");
    db.exec(&format!(
        "alter database {} set log_statement = 'all'",
        db.name()
    ));
    let dir = harness::tempdir();
    let tables = ["msg_one", "msg_two", "msg_three"];
    let files: Vec<(String, String)> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                format!("00{}_{t}.sql", i + 1),
                format!(
                    "-- migrate:up\ncreate table {t} (id int);\ninsert into {t} values (1);\n-- migrate:down\ndrop table {t};\n"
                ),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    harness::write_migrations(dir.path(), &files);
    pgfleet(&db, dir.path()).arg("up").run().success();
    let log = harness::server().log();
    for t in tables {
        // An entry runs until the next line with the log's `%m [%p]` prefix.
        let messages: Vec<String> = log
            .split("LOG:  statement: ")
            .map(|m| {
                m.lines()
                    .take_while(|l| !(l.starts_with("20") && l.contains("] ")))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .filter(|m| m.contains(&format!("create table {t} ")))
            .collect();
        assert_eq!(messages.len(), 1, "{t}: {messages:#?}");
        let m = &messages[0];
        for part in ["begin", "do $pgfleet$", "insert into", "commit"] {
            assert!(m.contains(part), "{t}: no {part:?} in {m}");
        }
    }
}

/// The failed migration's COMMIT is skipped with the rest of its message: the session
/// ends the transaction it left aborted, so its next query runs (the run lock's release,
/// say) rather than being refused.
#[test]
fn after_a_failed_batch_the_session_runs_its_next_query() {
    use pgfleet::migration::{Migration, Timeout, load_dir};
    use pgfleet::stop::Stop;
    use pgfleet::tracking::{self, ApplySettings, Missing, apply_all};
    use pgfleet::transport::{Backend, DbUrl};

    let db = harness::fresh_db("engine_after_failure");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[
            USERS,
            (
                "20240101000002_fails.sql",
                "-- migrate:up\nselect 1 / 0;\n-- migrate:down\n",
            ),
        ],
    );
    let migrations = load_dir(dir.path()).unwrap();
    let migrations: Vec<&Migration> = migrations.iter().collect();
    let settings = ApplySettings {
        lock_timeout: Timeout { millis: 5000 },
        statement_timeout: Timeout { millis: 0 },
        applied_by: "test".into(),
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let url = DbUrl::parse(db.url()).unwrap();
        let backend = Backend::Native(Box::new(url));
        let mut database = tracking::open(backend, None, Missing::Fail, &mut |_| {})
            .await
            .unwrap();
        database.ensure_tables().await.unwrap();
        let outcome = apply_all(
            &mut database,
            &migrations,
            &settings,
            &Stop::default(),
            &mut |_| {},
        )
        .await;
        assert_eq!(outcome.err().map(|(i, _)| i), Some(1));
        let rows = database.query_text("select 1", "the next query").await;
        assert_eq!(rows.unwrap(), [[Some("1".to_string())]]);
    });
    assert_eq!(versions(&db), ["20240101000001"]);
}
