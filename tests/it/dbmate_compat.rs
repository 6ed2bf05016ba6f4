//! pgfleet and the real dbmate on the same database: each takes over where the other
//! stopped, each reads what the other wrote, and `dump` writes what dbmate writes.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::harness::{self, Cmd, Output, TestDb};

/// Four migrations; dbmate or pgfleet applies the first two, the other tool the rest.
const SET: [(&str, &str); 4] = [
    (
        "20240101000001_create_authors.sql",
        "-- migrate:up\ncreate table authors (id int primary key, name text not null);\n\n\
         -- migrate:down\ndrop table authors;\n",
    ),
    (
        "20240101000002_create_books.sql",
        "-- migrate:up\ncreate table books (id int primary key, author_id int references authors);\n\n\
         -- migrate:down\ndrop table books;\n",
    ),
    (
        "20240101000003_add_title.sql",
        "-- migrate:up\nalter table books add column title text;\n\n\
         -- migrate:down\nalter table books drop column title;\n",
    ),
    (
        "20240101000004_seed.sql",
        "-- migrate:up\ninsert into authors values (1, 'Ada');\n\n\
         -- migrate:down\ndelete from authors where id = 1;\n",
    ),
];

fn pgfleet(db_url: &str, dir: &Path) -> Cmd {
    Cmd::new().args(["--url", db_url, "-d"]).arg(dir)
}

fn dbmate(db_url: &str, dir: &Path) -> Cmd {
    Cmd::dbmate()
        .args(["--url", db_url, "-d"])
        .arg(dir)
        .arg("--no-dump-schema")
}

/// The `[X] file` / `[ ] file` lines of a status, without pgfleet's notes.
fn marks(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("[X] ") || l.starts_with("[ ] "))
        .map(|l| l.split("  (").next().unwrap_or(l).to_owned())
        .collect()
}

fn versions(db: &TestDb, table: &str) -> Vec<String> {
    db.query(&format!("select version from {table} order by version"))
        .into_iter()
        .filter_map(|mut row| row.remove(0))
        .collect()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A folder holding `files`, plus one holding all of `SET`.
fn folders(first: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir) {
    let part = harness::tempdir();
    harness::write_migrations(part.path(), first);
    let full = harness::tempdir();
    harness::write_migrations(full.path(), &SET);
    (part, full)
}

#[test]
fn pgfleet_takes_over_a_database_dbmate_started() {
    let db = harness::fresh_db("compat_dbmate_then_pgfleet");
    let (half, full) = folders(&SET[..2]);

    dbmate(db.url(), half.path())
        .arg("up")
        .run()
        .success()
        .stdout_has("Applied: 20240101000002_create_books.sql");
    let out = pgfleet(db.url(), full.path()).arg("up").run();
    out.success()
        .stdout_has("Applied: 20240101000003_add_title.sql")
        .stdout_has("Applied: 20240101000004_seed.sql");
    assert!(
        !out.stdout.contains("20240101000001") && !out.stdout.contains("20240101000002"),
        "pgfleet re-applied what dbmate applied\n{out}"
    );
    let all: Vec<String> = SET.iter().map(|(f, _)| f[..14].to_owned()).collect();
    assert_eq!(versions(&db, "schema_migrations"), all);

    let status = dbmate(db.url(), full.path()).arg("status").run();
    status
        .success()
        .stdout_has("Applied: 4")
        .stdout_has("Pending: 0");
    let expected: Vec<String> = SET.iter().map(|(f, _)| format!("[X] {f}")).collect();
    assert_eq!(marks(&status), expected, "{status}");

    let ours = pgfleet(db.url(), full.path()).arg("status").run();
    ours.success()
        .stdout_has(
            "[X] 20240101000001_create_authors.sql  (unverified: applied without a checksum)",
        )
        .stdout_has("[X] 20240101000002_create_books.sql  (unverified: applied without a checksum)")
        .stdout_has("Applied: 4\nPending: 0\nUnverified: 2");
    assert!(
        ours.stdout
            .lines()
            .filter(|l| l.contains("unverified"))
            .count()
            == 2,
        "only dbmate's versions are unverified\n{ours}"
    );
    assert_eq!(marks(&ours), expected);

    pgfleet(db.url(), full.path())
        .args(["verify", "--record"])
        .run()
        .success()
        .stdout_has("Recorded checksum: 20240101000001_create_authors.sql")
        .stdout_has("Recorded checksum: 20240101000002_create_books.sql")
        .stdout_has("Verified: 4 applied migrations match their files");
    let after = pgfleet(db.url(), full.path()).arg("status").run();
    after.success().stdout_has("Applied: 4\nPending: 0");
    assert!(!after.stdout.contains("nverified"), "{after}");

    let rows = db.query("select version, checksum from schema_migrations_pgfleet order by version");
    let expected_rows: Vec<Vec<Option<String>>> = SET
        .iter()
        .map(|(f, text)| vec![Some(f[..14].to_owned()), Some(sha256_hex(text))])
        .collect();
    assert_eq!(rows, expected_rows, "a checksum of each file, as it is");
}

#[test]
fn dbmate_takes_over_a_database_pgfleet_started() {
    let db = harness::fresh_db("compat_pgfleet_then_dbmate");
    let (half, full) = folders(&SET[..2]);

    pgfleet(db.url(), half.path())
        .arg("up")
        .run()
        .success()
        .stdout_has("Applied: 20240101000002_create_books.sql");
    let out = dbmate(db.url(), full.path()).arg("up").run();
    out.success()
        .stdout_has("Applying: 20240101000003_add_title.sql")
        .stdout_has("Applying: 20240101000004_seed.sql");
    assert!(
        !out.stdout.contains("20240101000001") && !out.stdout.contains("20240101000002"),
        "dbmate re-applied what pgfleet applied\n{out}"
    );
    assert_eq!(
        db.scalar("select name from authors").as_deref(),
        Some("Ada")
    );

    let theirs = dbmate(db.url(), full.path()).arg("status").run();
    theirs
        .success()
        .stdout_has("Applied: 4")
        .stdout_has("Pending: 0");
    let ours = pgfleet(db.url(), full.path()).arg("status").run();
    ours.success()
        .stdout_has("Applied: 4\nPending: 0\nUnverified: 2")
        .stdout_has("[X] 20240101000004_seed.sql  (unverified: applied without a checksum)");
    assert_eq!(marks(&ours), marks(&theirs), "{ours}\n{theirs}");
    assert_eq!(marks(&theirs).len(), 4);

    // dbmate rolls back its own newest, then one pgfleet applied.
    dbmate(db.url(), full.path())
        .arg("rollback")
        .run()
        .success()
        .stdout_has("Rolled back: 20240101000004_seed.sql");
    dbmate(db.url(), full.path())
        .arg("rollback")
        .run()
        .success()
        .stdout_has("Rolled back: 20240101000003_add_title.sql");
    dbmate(db.url(), full.path())
        .arg("rollback")
        .run()
        .success()
        .stdout_has("Rolled back: 20240101000002_create_books.sql");
    assert!(
        !db.tables("public").contains(&"books".to_owned()),
        "the down section of a migration pgfleet applied ran"
    );
    assert_eq!(
        versions(&db, "schema_migrations"),
        ["20240101000001"],
        "dbmate deleted the version pgfleet recorded"
    );

    // Our row for 2 is left behind; it no longer counts.
    let status = pgfleet(db.url(), full.path()).arg("status").run();
    status
        .success()
        .stdout_has("[X] 20240101000001_create_authors.sql\n")
        .stdout_has("[ ] 20240101000002_create_books.sql\n")
        .stdout_has("[ ] 20240101000003_add_title.sql\n")
        .stdout_has("Applied: 1\nPending: 3\n");
    assert!(!status.stdout.contains("no file"), "{status}");

    // And pgfleet applies it again over its stale row.
    pgfleet(db.url(), full.path())
        .arg("up")
        .run()
        .success()
        .stdout_has("Applied: 20240101000002_create_books.sql");
    let all: Vec<String> = SET.iter().map(|(f, _)| f[..14].to_owned()).collect();
    assert_eq!(versions(&db, "schema_migrations"), all);
    assert_eq!(
        db.scalar("select count(*) from schema_migrations_pgfleet where checksum is not null")
            .as_deref(),
        Some("4")
    );
}

const SCHEMA_SET: [(&str, &str); 2] = [
    (
        "20240101000001_types_and_tables.sql",
        "-- migrate:up\n\
         create type mood as enum ('sad', 'ok', 'happy');\n\
         create table people (\n  id bigint generated always as identity primary key,\n  \
           name text not null,\n  mood mood default 'ok'\n);\n\
         create index people_name_idx on people (lower(name));\n\n\
         -- migrate:down\ndrop table people;\ndrop type mood;\n",
    ),
    (
        "20240101000002_function.sql",
        "-- migrate:up\n\
         create function greet(who text) returns text\n  language sql immutable\n  \
           as $$ select 'hello, ' || who $$;\n\n\
         -- migrate:down\ndrop function greet(text);\n",
    ),
];

/// `pgfleet dump` and `dbmate dump` of `url`, as written to their schema files.
fn both_dumps(url: &str) -> (String, String) {
    let dir = harness::tempdir();
    let ours = dir.path().join("ours.sql");
    let theirs = dir.path().join("theirs.sql");
    Cmd::new()
        .args(["--url", url, "-s"])
        .arg(&ours)
        .arg("dump")
        .run()
        .success()
        .stdout_has("Writing: ");
    Cmd::dbmate()
        .args(["--url", url, "-s"])
        .arg(&theirs)
        .arg("dump")
        .run()
        .success();
    let read = |p: &Path| {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    };
    (read(&ours), read(&theirs))
}

fn assert_same_dump(ours: &str, theirs: &str) {
    if ours != theirs {
        let line = ours
            .lines()
            .zip(theirs.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| ours.lines().count().min(theirs.lines().count()));
        panic!(
            "pgfleet's dump differs from dbmate's from line {}\n--- pgfleet ---\n{ours}\n--- dbmate ---\n{theirs}",
            line + 1
        );
    }
}

#[test]
fn dump_is_byte_equal_to_dbmates() {
    let db = harness::fresh_db("compat_dump");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &SCHEMA_SET);
    pgfleet(db.url(), dir.path()).arg("up").run().success();

    let (ours, theirs) = both_dumps(db.url());
    assert_same_dump(&ours, &theirs);
    for part in [
        "CREATE TYPE public.mood AS ENUM",
        "CREATE TABLE public.people",
        "CREATE INDEX people_name_idx ON public.people",
        "CREATE FUNCTION public.greet(who text) RETURNS text",
        "CREATE TABLE public.schema_migrations (",
        "-- Dbmate schema migrations\n--\n\nINSERT INTO public.schema_migrations (version) VALUES\n    ('20240101000001'),\n    ('20240101000002');\n",
    ] {
        assert!(ours.contains(part), "dump lacks {part:?}:\n{ours}");
    }
    assert!(
        !ours.starts_with("--"),
        "leading comments are trimmed:\n{ours}"
    );
}

/// `url` with `search_path=app` added.
fn with_search_path(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}search_path=app")
}

#[test]
fn dump_with_search_path_is_byte_equal_to_dbmates() {
    let set: Vec<(&str, &str)> = vec![
        SCHEMA_SET[0],
        SCHEMA_SET[1],
        (
            "20240101000003_qualified.sql",
            "-- migrate:up\ncreate table app.notes (id int primary key, body text);\n\n\
             -- migrate:down\ndrop table app.notes;\n",
        ),
    ];
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &set);
    let by_pgfleet = harness::fresh_db("compat_dump_sp_pgfleet");
    let by_dbmate = harness::fresh_db("compat_dump_sp_dbmate");
    let url_p = with_search_path(by_pgfleet.url());
    let url_d = with_search_path(by_dbmate.url());
    pgfleet(&url_p, dir.path()).arg("up").run().success();
    dbmate(&url_d, dir.path()).arg("up").run().success();

    // Both tools put their tables in the URL's first search_path schema, created if missing.
    let app_tables = [
        (
            &by_pgfleet,
            &[
                "notes",
                "people",
                "schema_migrations",
                "schema_migrations_pgfleet",
            ][..],
        ),
        (&by_dbmate, &["notes", "people", "schema_migrations"][..]),
    ];
    for (db, tables) in app_tables {
        assert_eq!(db.tables("app"), tables, "{}", db.name());
        assert!(db.tables("public").is_empty(), "{:?}", db.tables("public"));
        assert_eq!(versions(db, "app.schema_migrations").len(), 3);
    }

    let (ours, theirs) = both_dumps(&url_p);
    assert_same_dump(&ours, &theirs);
    assert!(
        ours.contains("INSERT INTO app.schema_migrations (version) VALUES"),
        "{ours}"
    );
    assert!(ours.contains("CREATE TYPE app.mood"), "{ours}");
    let (ours, theirs) = both_dumps(&url_d);
    assert_same_dump(&ours, &theirs);
    assert!(
        ours.contains("INSERT INTO app.schema_migrations (version) VALUES"),
        "{ours}"
    );
}

#[test]
fn file_with_two_sections_is_applied_and_rolled_back_whole() {
    let db = harness::fresh_db("compat_two_sections");
    let dir = harness::tempdir();
    let file = "20240101000001_two_pairs.sql";
    harness::write_migrations(
        dir.path(),
        &[(
            file,
            "-- migrate:up\ncreate table first_half (id int);\n\n\
             -- migrate:down\ndrop table first_half;\n\n\
             -- migrate:up\ncreate table second_half (id int);\n\n\
             -- migrate:down\ndrop table second_half;\n",
        )],
    );
    pgfleet(db.url(), dir.path())
        .arg("up")
        .run()
        .success()
        .stdout_has(&format!("Applied: {file}"));
    assert_eq!(
        db.tables("public"),
        [
            "first_half",
            "schema_migrations",
            "schema_migrations_pgfleet",
            "second_half"
        ]
    );
    assert_eq!(versions(&db, "schema_migrations"), ["20240101000001"]);

    let theirs = dbmate(db.url(), dir.path()).arg("status").run();
    theirs
        .success()
        .stdout_has(&format!("[X] {file}"))
        .stdout_has("Applied: 1")
        .stdout_has("Pending: 0");

    pgfleet(db.url(), dir.path())
        .arg("rollback")
        .run()
        .success()
        .stdout_has(&format!("Rolled back: {file}"));
    assert_eq!(
        db.tables("public"),
        ["schema_migrations", "schema_migrations_pgfleet"],
        "both down sections ran"
    );
    assert!(versions(&db, "schema_migrations").is_empty());
    dbmate(db.url(), dir.path())
        .arg("status")
        .run()
        .success()
        .stdout_has(&format!("[ ] {file}"))
        .stdout_has("Pending: 1");
}

/// The shape of `schema_migrations`: columns, and its indexes and constraints.
fn table_shape(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.query(
        "select 'column', column_name::text, data_type::text, \
                coalesce(character_maximum_length::text, '-'), is_nullable::text, \
                coalesce(column_default::text, '-') \
           from information_schema.columns \
          where table_schema = 'public' and table_name = 'schema_migrations' \
         union all \
         select 'index', indexname::text, indexdef, '', '', '' \
           from pg_indexes where schemaname = 'public' and tablename = 'schema_migrations' \
         union all \
         select 'constraint', conname::text, pg_get_constraintdef(oid), '', '', '' \
           from pg_constraint where conrelid = 'public.schema_migrations'::regclass \
         order by 1, 2",
    )
}

#[test]
fn schema_migrations_has_dbmates_shape() {
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &SET[..1]);
    let by_dbmate = harness::fresh_db("compat_shape_dbmate");
    let by_pgfleet = harness::fresh_db("compat_shape_pgfleet");
    dbmate(by_dbmate.url(), dir.path())
        .arg("up")
        .run()
        .success();
    pgfleet(by_pgfleet.url(), dir.path())
        .arg("up")
        .run()
        .success();

    let theirs = table_shape(&by_dbmate);
    let ours = table_shape(&by_pgfleet);
    assert_eq!(ours, theirs);
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        theirs[0],
        [
            some("column"),
            some("version"),
            some("character varying"),
            some("-"),
            some("NO"),
            some("-")
        ],
        "dbmate's own table, as this test expects it"
    );
}
