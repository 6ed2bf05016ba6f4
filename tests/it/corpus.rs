//! The bad-input corpus: each case a command line (and migration files, env) that must be
//! refused with its exit code and a message saying what is wrong and where (file:line when
//! there is a file), before anything is contacted. A start toward issue 12's ≥150 cases;
//! add a row per new refusal.

use crate::harness::{self, Cmd};

/// A URL nothing listens on: a case that reached it would fail with exit 2, not 3.
const URL: &str = "postgres://u:pw@127.0.0.1:1/x?sslmode=disable";

/// (arguments after `--url URL -d DIR`, exit code, text the message must hold).
const FLAGS: &[(&[&str], i32, &str)] = &[
    (&["up", "--lock-timeout", "5x"], 3, "'5x' is not a duration"),
    (&["up", "--lock-timeout", "5"], 3, "'5' needs a unit"),
    (
        &["up", "--statement-timeout", "-3s"],
        3,
        "'-3s' is not a duration",
    ),
    (
        &["up", "--lock-wait", "soon"],
        3,
        "'soon' is not a duration",
    ),
    (&["up", "--wait-for-quiet", "5"], 3, "'5' needs a unit"),
    (&["up", "--parallel", "0"], 3, "0 is not in 1..=65535"),
    (&["up", "--parallel", "-1"], 3, "-1 is not in 1..=65535"),
    (
        &["up", "--canary", "x"],
        3,
        "invalid value 'x' for '--canary <N>'",
    ),
    (
        &["up", "--lock-retries", "-1"],
        3,
        "invalid value '-1' for '--lock-retries <N>'",
    ),
    (
        &["up", "--dry-run=maybe"],
        3,
        "[possible values: full, summary, rehearse]",
    ),
    (
        &["rollback", "-n", "0"],
        3,
        "'0' is not a count of 1 or more",
    ),
    (
        &["rollback", "-n", "-1"],
        3,
        "'-1' is not a count of 1 or more",
    ),
    (
        &["rollback", "-n", "2x"],
        3,
        "'2x' is not a count of 1 or more",
    ),
    (
        &["rollback", "-n", "1", "--to", "2"],
        3,
        "cannot be used with",
    ),
    (
        &["--format", "yaml", "status"],
        3,
        "[possible values: text, json, json-lines]",
    ),
    (
        &["--migrations-table", "", "status"],
        3,
        "write `table` or `schema.table`",
    ),
    (
        &["--migrations-table", "a.b.c", "status"],
        3,
        "write `table` or `schema.table`",
    ),
    (
        &["--migrations-table", "1st", "status"],
        3,
        "not starting with a digit",
    ),
    (
        &["--migrations-table", "x y", "status"],
        3,
        "write `table` or `schema.table`",
    ),
    (&["bogus"], 3, "unrecognized subcommand 'bogus'"),
    (&["new"], 3, "<NAME>"),
    (&["new", ""], 3, "`new` needs a name"),
    (&["new", "../escape"], 3, "`new` needs a name"),
    (&["new", ".hidden"], 3, "`new` needs a name"),
    (&["wait", "--wait-timeout", "x"], 3, "'x' is not a duration"),
];

/// (URL, text the message must hold): refused before connecting, exit 3.
const URLS: &[(&str, &str)] = &[
    (
        "mysql://u@h/db",
        "the scheme must be postgres:// or postgresql://",
    ),
    (
        "postgres://u@h/db?sslmode=require",
        "sslmode=require needs TLS",
    ),
    (
        "postgres://u@h/db?sslmode=verify-full",
        "sslmode=verify-full needs TLS",
    ),
    (
        "postgres://u@h/db?connect_timeout=x",
        "connect_timeout is not a number of seconds",
    ),
    ("postgres://u@h:99999/db", "invalid database URL"),
    ("postgres://u@h:54x/db", "invalid database URL"),
    ("postgres://u@h:0/db", "port 0 is not a port"),
    ("not a url", "invalid database URL"),
    ("", "invalid database URL"),
];

/// (file name, file text, text the message must hold, besides `name:line`).
const FILES: &[(&str, &str, &str)] = &[
    (
        "001_a.sql",
        "-- only a comment\n",
        "no '-- migrate:up' section",
    ),
    (
        "001_a.sql",
        "-- migrate:up\nselect 1;\n",
        "no '-- migrate:down' section",
    ),
    (
        "001_a.sql",
        "-- migrate:down\n-- migrate:up\n",
        "comes before the first '-- migrate:up'",
    ),
    (
        "001_a.sql",
        "create table t (id int);\n-- migrate:up\n-- migrate:down\n",
        "SQL before the first '-- migrate:up'",
    ),
    (
        "001_a.sql",
        "-- migrate:up transaction:maybe\n-- migrate:down\n",
        "transaction",
    ),
    (
        "001_a.sql",
        "-- migrate:up lock_timout:3s\n-- migrate:down\n",
        "lock_timout",
    ),
    (
        "001_a.sql",
        "-- migrate:up lock_timeout:5\n-- migrate:down\n",
        "a duration with a unit",
    ),
    (
        "001_a.sql",
        "-- migrate:up statement_timeout:soon\n-- migrate:down\n",
        "a duration such as",
    ),
    (
        "001_a.sql",
        "-- migrate:up\nselect 1;\n-- migrate:down\n-- migrate:up transaction:false\nselect 2;\n-- migrate:down\n",
        "mix 'transaction:false'",
    ),
    (
        "001_a.sql",
        "-- pgfleet:stopp worker\n-- migrate:up\n-- migrate:down\n",
        "did you mean 'stop'?",
    ),
    (
        "001_a.sql",
        "-- pgfleet:stop\n-- migrate:up\n-- migrate:down\n",
        "stop",
    ),
    (
        "001_a.sql",
        "-- pgfleet:precondition delete from t\n-- migrate:up\n-- migrate:down\n",
        "precondition",
    ),
    (
        "001_a.sql",
        "-- pgfleet:requires worker image\n-- migrate:up\n-- migrate:down\n",
        "requires",
    ),
    (
        "001_a.sql",
        "-- pgfleet:quiesce two words\n-- migrate:up\n-- migrate:down\n",
        "quiesce",
    ),
    (
        "001_a.sql",
        "-- migrate:up\n-- pgfleet:stop worker\n-- migrate:down\n",
        "directives go before it",
    ),
    (
        "001_a.sql",
        "-- migrate:up\nselect '\u{0}';\n-- migrate:down\n",
        "a NUL byte",
    ),
];

fn refused(args: &[&str], dir: &std::path::Path, code: i32, text: &str) {
    let out = Cmd::new()
        .args(["--url", URL, "-d"])
        .arg(dir)
        .args(args)
        .run();
    assert_eq!(
        out.code,
        Some(code),
        "{args:?}: expected exit {code}\n{out}"
    );
    assert!(
        out.stderr.contains(text) || out.stdout.contains(text),
        "{args:?}: the message lacks {text:?}\n{out}"
    );
}

#[test]
fn bad_flags_are_refused_saying_what() {
    let dir = harness::tempdir();
    for (args, code, text) in FLAGS {
        refused(args, dir.path(), *code, text);
    }
}

#[test]
fn bad_urls_are_refused_before_connecting() {
    let dir = harness::tempdir();
    for (url, text) in URLS {
        let out = Cmd::new()
            .args(["--url", url, "-d"])
            .arg(dir.path())
            .arg("status")
            .run();
        assert_eq!(out.code, Some(3), "{url:?}\n{out}");
        assert!(out.stderr.contains(text), "{url:?}: lacks {text:?}\n{out}");
    }
}

#[test]
fn bad_files_are_refused_with_file_and_line() {
    for (name, text, expected) in FILES {
        let dir = harness::tempdir();
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = Cmd::new()
            .args(["--url", URL, "-d"])
            .arg(dir.path())
            .arg("up")
            .run();
        assert_eq!(out.code, Some(3), "{text:?}\n{out}");
        assert!(
            out.stderr.contains(expected),
            "{text:?}: lacks {expected:?}\n{out}"
        );
        assert!(
            out.stderr.contains(name),
            "{text:?}: the file is not named\n{out}"
        );
    }
}
