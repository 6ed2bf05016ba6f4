//! The migration-file corpus through the real binary: every broken set is refused before
//! any database is contacted, with the file, line and what to do; line endings and a BOM
//! do not change a checksum.

use std::path::{Path, PathBuf};

use crate::harness::{self, Cmd};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs `status` on a broken set. The URL points at a port nobody listens on: a parse
/// error must come first, without connecting.
fn refused(set: &str) -> String {
    let dir = fixture(&format!("broken/{set}"));
    let out = Cmd::new()
        .args([
            "--url",
            "postgres://u:topsecret@127.0.0.1:1/db",
            "status",
            "-d",
        ])
        .arg(&dir)
        .run();
    out.code_is(3).never_prints("topsecret");
    assert!(out.stdout.is_empty(), "{out}");
    out.stderr
}

#[test]
fn every_broken_file_is_named_with_its_line() {
    let cases = [
        (
            "missing_up",
            "001_missing_up.sql: no '-- migrate:up' section",
        ),
        (
            "missing_down",
            "001_missing_down.sql: no '-- migrate:down' section",
        ),
        (
            "down_before_up",
            "001_down_first.sql:1:1: '-- migrate:down' comes before the first '-- migrate:up'",
        ),
        (
            "sql_before_marker",
            "001_sql_first.sql:3:1: SQL before the first '-- migrate:up' marker",
        ),
        (
            "bad_option_value",
            "001_bad_option.sql:1:15: invalid value 'flase' for 'transaction': expected true or false",
        ),
        (
            "unknown_option",
            "001_unknown_option.sql:3:17: unknown marker option 'lock_timout'",
        ),
        (
            "duplicate_version",
            "001_two.sql: version 001 is also used by 001_one.sql",
        ),
        (
            "not_utf8",
            "001_latin1.sql:2:12: the file is not valid UTF-8",
        ),
    ];
    for (set, expected) in cases {
        let stderr = refused(set);
        assert!(
            stderr.starts_with("Error: ") && stderr.contains(expected),
            "{set}: expected {expected:?} in:\n{stderr}"
        );
    }
    assert!(refused("unknown_option").contains("did you mean 'lock_timeout'?"));
}

#[test]
fn an_unreadable_file_is_named() {
    let dir = harness::tempdir();
    std::os::unix::fs::symlink("/nonexistent/target.sql", dir.path().join("001_gone.sql")).unwrap();
    Cmd::new()
        .args(["--url", "postgres://u:p@127.0.0.1:1/db", "status", "-d"])
        .arg(dir.path())
        .run()
        .code_is(3)
        .stderr_has("001_gone.sql: cannot read the file");
}

#[test]
fn a_missing_migrations_folder_is_bad_input() {
    Cmd::new()
        .args([
            "--url",
            "postgres://u:p@127.0.0.1:1/db",
            "up",
            "-d",
            "no/such/dir",
        ])
        .run()
        .code_is(3)
        .stderr_has("the migrations folder no/such/dir does not exist");
}

#[test]
fn crlf_and_bom_files_apply_and_count_as_unchanged() {
    let db = harness::fresh_db("parser_line_endings");
    Cmd::new()
        .args(["--url", db.url(), "up", "-d"])
        .arg(fixture("line_endings/crlf"))
        .run()
        .success()
        .stdout_has("Applied: 001_le.sql");
    let recorded = db.scalar("select checksum from schema_migrations_pgfleet");
    // The same migration checked out with LF or with a BOM is not an edit.
    for set in ["line_endings/lf", "line_endings/bom", "line_endings/crlf"] {
        Cmd::new()
            .args(["--url", db.url(), "verify", "-d"])
            .arg(fixture(set))
            .run()
            .success()
            .stdout_has("Verified: 1 applied migrations match their files");
    }
    assert_eq!(recorded.map(|c| c.len()), Some(64));
    assert!(
        std::fs::read(fixture("line_endings/crlf/001_le.sql"))
            .unwrap()
            .windows(2)
            .any(|w| w == b"\r\n"),
        "the CRLF fixture lost its CRLF line ends (check .gitattributes)"
    );
}
