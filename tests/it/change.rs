//! `pgfleet change`: a schema change written as a migration (the down section drafted in a
//! scratch database), checked, planned and applied as `up` applies it; on one database by
//! URL and across hosts of the local fleet.

use crate::harness::by_url;

use std::path::Path;

use crate::harness::{Cmd, fresh_db, tempdir, write_migrations};

const TABLE: (&str, &str) = (
    "20240101000000_create_orders.sql",
    "-- migrate:up\ncreate table orders (id bigint primary key, status text not null default 'new');\n-- migrate:down\ndrop table orders;\n",
);

/// The one file `change` wrote in `dir` (besides TABLE), and its text.
fn written(dir: &Path) -> (String, String) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != TABLE.0)
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = names.pop().unwrap();
    let text = std::fs::read_to_string(dir.join(&name)).unwrap();
    (name, text)
}

#[test]
fn a_change_from_stdin_is_written_with_a_drafted_down_and_checked_but_not_applied_in_a_dry_run() {
    let db = fresh_db("change_dry");
    let dir = tempdir();
    write_migrations(dir.path(), &[TABLE]);
    by_url(&db, dir.path()).arg("up").run().success();
    let out = by_url(&db, dir.path())
        .args(["change", "--dry-run"])
        .stdin("ALTER TABLE orders ADD COLUMN extracted_at timestamptz;\n")
        .run();
    out.success()
        .stdout_has("Writing migration: ")
        .stdout_has("down section drafted")
        .stdout_has("Checked 1 file: no findings");
    let (name, text) = written(dir.path());
    assert!(name.ends_with("_add_extracted_at_to_orders.sql"), "{name}");
    assert!(
        text.starts_with("-- migrate:up\nALTER TABLE orders ADD COLUMN extracted_at timestamptz;\n\n-- migrate:down\n"),
        "{text}"
    );
    assert!(
        text.contains("ALTER TABLE public.orders DROP COLUMN IF EXISTS extracted_at;"),
        "{text}"
    );
    // A dry run touches no database: the column is not there, nothing was recorded.
    assert_eq!(
        db.scalar(
            "select count(*) from information_schema.columns where column_name = 'extracted_at'"
        )
        .as_deref(),
        Some("0")
    );
    assert_eq!(
        db.scalar("select count(*) from schema_migrations")
            .as_deref(),
        Some("1")
    );
    // The scratch database was dropped again (this test's: the server is shared with
    // tests building their own at the same time).
    assert_eq!(
        db.scalar(&format!(
            "select count(*) from pg_database where datname like 'pgfleet\\_shadow\\_%\\_{}'",
            db.name()
        ))
        .as_deref(),
        Some("0")
    );
    // In JSON, a dry run is check's document for the file.
    let doc = by_url(&db, dir.path())
        .args([
            "change",
            "--dry-run",
            "--format",
            "json",
            "alter table orders add column y int",
        ])
        .run()
        .json();
    assert_eq!(doc["command"], "check");
    assert_eq!(doc["files_checked"], 1);
}

#[test]
fn a_change_that_destroys_data_says_its_down_cannot_restore_it() {
    let db = fresh_db("change_lossy");
    let dir = tempdir();
    write_migrations(dir.path(), &[TABLE]);
    by_url(&db, dir.path()).arg("up").run().success();
    let out = by_url(&db, dir.path())
        .args([
            "change",
            "--dry-run",
            "alter table orders drop column status",
        ])
        .run();
    out.success()
        .stdout_has("not a full reverse: the up section drops column orders.status")
        .stdout_has("warning[ban-drop-column]");
    let (name, text) = written(dir.path());
    assert!(name.ends_with("_drop_status_from_orders.sql"), "{name}");
    assert!(
        text.contains("-- pgfleet: not a full reverse: the up section drops column orders.status; this re-creates it, empty: its data is not restored"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("add column status text"),
        "{text}"
    );
}

#[test]
fn a_change_applies_as_up_does_and_its_down_rolls_it_back() {
    let db = fresh_db("change_apply");
    let dir = tempdir();
    write_migrations(dir.path(), &[TABLE]);
    by_url(&db, dir.path()).arg("up").run().success();
    let out = by_url(&db, dir.path())
        .args([
            "change",
            "--yes",
            "--name",
            "orders_note",
            "alter table orders add column note text",
        ])
        .run();
    out.success()
        .stdout_has("Applying: ")
        .stdout_has("git add ")
        .stdout_has("_orders_note.sql && git commit -m ");
    let (name, _) = written(dir.path());
    let version = &name[..14];
    assert_eq!(
        db.scalar(&format!(
            "select checksum from schema_migrations_pgfleet where version = '{version}'"
        )),
        Some(pgfleet::migration::checksum(
            &std::fs::read_to_string(dir.path().join(&name)).unwrap()
        ))
    );
    by_url(&db, dir.path()).arg("drift").run().success();
    by_url(&db, dir.path()).arg("rollback").run().success();
    assert_eq!(
        db.scalar("select count(*) from information_schema.columns where column_name = 'note'")
            .as_deref(),
        Some("0")
    );
    by_url(&db, dir.path()).arg("drift").run().success();
}

#[test]
fn without_a_terminal_change_needs_yes_and_refuses_bad_sql_before_writing() {
    let dir = tempdir();
    write_migrations(dir.path(), &[TABLE]);
    let db = fresh_db("change_bad");
    by_url(&db, dir.path())
        .args(["change", "alter table orders add column x int"])
        .run()
        .code_is(3)
        .stderr_has("pass --yes");
    by_url(&db, dir.path())
        .args(["change", "--yes", "alter tabel orders add column x int"])
        .run()
        .code_is(3)
        .stderr_has("does not parse");
    by_url(&db, dir.path())
        .args([
            "change",
            "--yes",
            "alter table orders add column x int; commit",
        ])
        .run()
        .code_is(3)
        .stderr_has("BEGIN, COMMIT or ROLLBACK");
    // Nothing was written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_change_lands_on_two_hosts_of_the_fleet_and_rolls_back_without_drift() {
    let dir = tempdir();
    let migrations = dir.path().join("migrations");
    write_migrations(&migrations, &[TABLE]);
    let db = crate::fleet::unique_db("change");
    let inv = crate::fleet::inventory_with(
        dir.path(),
        &db,
        &crate::fleet::fleet().join("known_hosts"),
        "",
        "tunnel",
        &migrations,
    );
    let pgfleet = || {
        Cmd::new()
            .arg("-i")
            .arg(&inv)
            .args(["--limit", "alpha/app,beta/app"])
    };
    pgfleet().arg("up").run().success();
    let out = pgfleet()
        .args([
            "change",
            "--yes",
            "create index concurrently orders_status on orders (status)",
        ])
        .run();
    out.success().stdout_has("git add ");
    let (name, text) = written(&migrations);
    assert!(name.ends_with("_create_index_orders_status.sql"), "{name}");
    // It cannot run in a transaction: the file says so, and idempotence is checked.
    assert!(
        text.starts_with("-- migrate:up transaction:false\n"),
        "{text}"
    );
    let status = pgfleet().args(["status", "--format", "json"]).run().json();
    for t in status["targets"].as_array().unwrap() {
        let states: Vec<&str> = t["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["applied", "applied"], "{t}");
    }
    pgfleet().arg("drift").run().success();
    pgfleet().arg("rollback").run().success();
    pgfleet().arg("drift").run().success();
    // gamma was not selected: it never had the database.
    Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["status", "--limit", "gamma"])
        .run()
        .code_is(2);
}

/// Runs pgfleet under a pseudo-terminal (`script`) with `keys` typed.
fn on_a_terminal(args: &str, keys: &str) -> crate::harness::Output {
    Cmd::program("script")
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_pgfleet")),
            "/dev/null",
        ])
        .env("TERM", "xterm")
        .stdin(keys)
        .run()
}

#[test]
fn on_a_terminal_change_asks_with_one_key() {
    let db = fresh_db("change_ask");
    let dir = tempdir();
    write_migrations(dir.path(), &[TABLE]);
    by_url(&db, dir.path()).arg("up").run().success();
    let args = |column: &str| {
        format!(
            "--url '{}' -d {} change 'alter table orders add column {column} int'",
            db.url(),
            dir.path().display()
        )
    };
    let out = on_a_terminal(&args("a"), "n");
    out.code_is(4)
        .stdout_has("as `up` does? [y/N]")
        .stdout_has("Not applied.");
    assert_eq!(
        db.scalar("select count(*) from information_schema.columns where column_name = 'a'")
            .as_deref(),
        Some("0")
    );
    let out = on_a_terminal(&args("b"), "y");
    out.success().stdout_has("git add ");
    assert_eq!(
        db.scalar("select count(*) from information_schema.columns where column_name = 'b'")
            .as_deref(),
        Some("1")
    );
}
