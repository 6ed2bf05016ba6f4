//! `-- pgfleet:` header directives through the real binaries: dbmate runs a file that
//! carries every form (to it they are comments), `plan` shows them, and a typo or a
//! misplaced one is refused before any database is contacted.

use std::path::Path;

use serde_json::json;

use crate::harness::{self, Cmd};

const FILE: &str = "20240101000001_documents.sql";

/// Every directive form, before `-- migrate:up`, as a file's author would write them.
const TEXT: &str = "\
-- Documents get their classification column; the classifier writes it.
-- pgfleet:used-by worker classification pipeline
-- pgfleet:used-by label=app
--pgfleet:stop label=app=classifier
-- pgfleet:requires classifier image=classifier:2.1
--   pgfleet:requires classifier label=schema=v7
-- pgfleet:precondition select not exists (select 1 from pg_stat_activity where application_name = 'classifier')
-- pgfleet:quiesce classifier.batch
-- migrate:up
create table documents (id int primary key, classification text);

-- migrate:down
drop table documents;
";

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), files);
    dir
}

fn dbmate(url: &str, dir: &Path) -> Cmd {
    Cmd::dbmate()
        .args(["--url", url, "-d"])
        .arg(dir)
        .arg("--no-dump-schema")
}

fn pgfleet(url: &str, dir: &Path) -> Cmd {
    Cmd::new().args(["--url", url, "-d"]).arg(dir)
}

#[test]
fn dbmate_applies_and_rolls_back_a_file_with_every_directive() {
    let db = harness::fresh_db("directives_dbmate");
    let dir = folder(&[(FILE, TEXT)]);
    dbmate(db.url(), dir.path())
        .arg("up")
        .run()
        .success()
        .stdout_has(&format!("Applied: {FILE}"));
    assert_eq!(db.tables("public"), ["documents", "schema_migrations"]);
    // pgfleet reads the same file, directives and all, on what dbmate applied.
    pgfleet(db.url(), dir.path())
        .arg("status")
        .run()
        .success()
        .stdout_has(&format!(
            "[X] {FILE}  (unverified: applied without a checksum)  (used by worker, label=app)\n"
        ));
    dbmate(db.url(), dir.path())
        .arg("rollback")
        .run()
        .success()
        .stdout_has(&format!("Rolled back: {FILE}"));
    assert_eq!(db.tables("public"), ["schema_migrations"]);
}

#[test]
fn plan_shows_the_directives() {
    let db = harness::fresh_db("directives_plan");
    let dir = folder(&[(FILE, TEXT)]);
    let plan = || pgfleet(db.url(), dir.path()).arg("plan");
    plan().run().success().stdout_has(
        "    used by: worker (classification pipeline)\n\
         \x20   used by: label=app\n\
         \x20   stops: label=app=classifier\n\
         \x20   requires: classifier at image=classifier:2.1\n\
         \x20   requires: classifier at label=schema=v7\n\
         \x20   precondition: select not exists (select 1 from pg_stat_activity where application_name = 'classifier')\n\
         \x20   quiesce: classifier.batch\n\
         Would apply 1 migration.\n",
    );
    let doc = plan().args(["--format", "json"]).run().json();
    assert_eq!(
        doc["targets"][0]["pending"][0]["directives"],
        json!([
            { "directive": "used-by", "line": 2, "selector": "worker", "note": "classification pipeline" },
            { "directive": "used-by", "line": 3, "selector": "label=app", "note": null },
            { "directive": "stop", "line": 4, "selector": "label=app=classifier" },
            { "directive": "requires", "line": 5, "selector": "classifier", "image": "classifier:2.1" },
            { "directive": "requires", "line": 6, "selector": "classifier", "label": "schema=v7" },
            {
                "directive": "precondition", "line": 7,
                "sql": "select not exists (select 1 from pg_stat_activity where application_name = 'classifier')",
            },
            { "directive": "quiesce", "line": 8, "name": "classifier.batch" },
        ]),
        "{doc}"
    );
}

/// The URL points at a port nobody listens on: the file's error must come first.
#[test]
fn a_bad_directive_is_refused_before_connecting() {
    let url = "postgres://u:topsecret@127.0.0.1:1/db";
    let typo = folder(&[(
        "001_typo.sql",
        "-- Stops the worker.\n\n-- pgfleet:stopp worker\n-- migrate:up\nselect 1;\n-- migrate:down\n",
    )]);
    let late = folder(&[(
        "001_late.sql",
        "-- migrate:up\nselect 1;\n-- pgfleet:stop worker\n-- migrate:down\n",
    )]);
    for verb in ["plan", "up"] {
        let out = pgfleet(url, typo.path()).arg(verb).run();
        out.code_is(3).never_prints("topsecret").stderr_has(
            "001_typo.sql:3:4: unknown directive 'pgfleet:stopp'; did you mean 'stop'?",
        );
        assert!(out.stdout.is_empty(), "{out}");
        pgfleet(url, late.path())
            .arg(verb)
            .run()
            .code_is(3)
            .stderr_has("001_late.sql:3:1: '-- pgfleet:stop' after the first '-- migrate:up': directives go before it");
    }
}
