//! `pgfleet query`: read-only SQL on a real PostgreSQL by URL (rows, NULLs, writes refused
//! by the server, transaction control refused before connecting, stdin, CSV and JSON), and
//! once across the local fleet through both methods.

use std::path::Path;

use crate::harness::{self, Cmd, TestDb};

fn query(db: &TestDb) -> Cmd {
    Cmd::new().args(["--url", db.url(), "query"])
}

/// A table with a NULL, an empty string, and a value with a comma, a quote and a newline.
fn notes() -> TestDb {
    let db = harness::fresh_db("query_notes");
    db.exec(
        "create table notes (id int, note text, tag text); \
         insert into notes values (1, 'plain', null), (2, E'a,\"b\"\\nc', ''), (10, null, 'x')",
    );
    db
}

#[test]
fn rows_with_their_columns_and_nulls_marked() {
    let db = notes();
    query(&db)
        .arg("select id, note, tag from notes where id <> 2 order by id")
        .run()
        .success()
        .stdout_has("id  note    tag\n1   plain   <null>\n10  <null>  x\n(2 rows)\n");

    // Several statements: the last one's rows, after the earlier ones ran in the same
    // transaction.
    query(&db)
        .arg("set local search_path = pg_catalog; select current_schemas(false) as path")
        .run()
        .success()
        .stdout_has("path\n{pg_catalog}\n(1 row)\n");

    // Nothing is recorded: no tracking table, no lock, nothing on the database.
    assert_eq!(db.tables("public"), ["notes"]);
}

#[test]
fn a_write_is_refused_by_the_server() {
    let db = notes();
    query(&db)
        .arg("insert into notes values (3, 'new', null)")
        .run()
        .code_is(2)
        .stderr_has("Error: the query failed on ")
        .stderr_has("ERROR 25006: cannot execute INSERT in a read-only transaction");
    // Lifting READ ONLY from inside is refused too: the transaction has its snapshot.
    query(&db)
        .arg("set transaction read write; delete from notes")
        .run()
        .code_is(2)
        .stderr_has("statement 1 of 2 (`set transaction read write`) failed on ")
        .stderr_has("transaction read-write mode must be set before any query");
    assert_eq!(
        db.scalar("select count(*) from notes").as_deref(),
        Some("3")
    );
}

#[test]
fn transaction_control_is_refused_before_connecting() {
    // Nothing listens on port 1: refused as bad input (3) before any connection is tried.
    for sql in ["commit; insert into notes values (3)", "select 1; end"] {
        harness::pgfleet([
            "--url",
            "postgres://app@127.0.0.1:1/app?sslmode=disable",
            "query",
            sql,
        ])
        .code_is(3)
        .stderr_has("is transaction control: query runs the SQL in a read-only transaction");
    }
    harness::pgfleet([
        "--url",
        "postgres://app@127.0.0.1:1/app",
        "query",
        "selec 1",
    ])
    .code_is(3)
    .stderr_has("the SQL does not parse: syntax error at or near \"selec\"");
}

#[test]
fn sql_from_stdin() {
    let db = notes();
    for args in [&[][..], &["-"]] {
        query(&db)
            .args(args)
            .stdin("select count(*) as n from notes\n")
            .run()
            .success()
            .stdout_has("n\n3\n(1 row)\n");
    }
    query(&db)
        .run()
        .code_is(3)
        .stderr_has("no SQL: give it as the argument");

    // The audit log keeps SQL given on stdin, which no command line shows, and the outcome.
    let logs = harness::tempdir();
    query(&db)
        .arg("--log-dir")
        .arg(logs.path())
        .stdin("select 1 as one\n")
        .run()
        .success();
    let file = std::fs::read_dir(logs.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let log = std::fs::read_to_string(file.path()).unwrap();
    assert!(
        log.contains(" event=query sql=\"select 1 as one\\n\"\n"),
        "{log}"
    );
    assert!(log.contains(" event=target_end outcome=ok "), "{log}");
}

#[test]
fn csv_quotes_as_rfc_4180_and_copy_do() {
    let db = notes();
    let out = query(&db)
        .args([
            "--format",
            "csv",
            "select id, note, tag from notes order by id",
        ])
        .run();
    out.success();
    let (header, rows) = out.stdout.split_once('\n').unwrap();
    assert_eq!(header, "target,id,note,tag");
    // The target column is the URL, its password hidden; NULL is empty, '' is "".
    let target = rows.split_once(',').unwrap().0;
    assert!(
        target.starts_with("postgres://") && target.contains("********"),
        "{out}"
    );
    assert_eq!(
        rows.replace(target, "T"),
        "T,1,plain,\nT,2,\"a,\"\"b\"\"\nc\",\"\"\nT,10,,x\n"
    );
    harness::pgfleet(["--url", db.url(), "status", "--format", "csv"])
        .code_is(3)
        .stderr_has("--format csv is for `query`'s rows");
}

#[test]
fn the_json_document_and_the_redaction() {
    let db = notes();
    let password = harness::server()
        .password()
        .unwrap_or("nothing")
        .to_string();
    let out = query(&db)
        .args(["--format", "json"])
        .arg(format!(
            "select id, tag, '{password}' as secret from notes where id <> 2 order by id"
        ))
        .run();
    out.success().never_prints(&password);
    let doc = out.json();
    assert_eq!(doc["command"], "query");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["exit_code"], 0);
    let target = &doc["targets"][0];
    assert_eq!(target["result"], "ok");
    assert_eq!(target["database"], db.name());
    assert_eq!(target["error"], serde_json::Value::Null);
    assert_eq!(
        target["columns"],
        serde_json::json!(["id", "tag", "secret"])
    );
    assert_eq!(target["rows"][0][1], serde_json::Value::Null);
    assert_eq!(
        target["rows"][1],
        serde_json::json!(["10", "x", "********"])
    );

    let failed = query(&db)
        .args(["--format", "json", "delete from notes"])
        .run();
    failed.code_is(2);
    let doc = failed.json();
    assert_eq!(doc["exit_code"], 2);
    let target = &doc["targets"][0];
    assert_eq!(target["result"], "failed");
    assert_eq!(target["rows"], serde_json::Value::Null);
    assert!(
        target["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot execute DELETE in a read-only transaction"),
        "{doc}"
    );
}

/// The fleet's three hosts (alpha's two databases too), through the SSH tunnel and through
/// psql in each container: one table, a target column first, rows in inventory order.
#[test]
fn one_table_across_the_fleet_through_both_methods() {
    use crate::fleet::{fleet, inventory_with};
    let dir = harness::tempdir();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for method in ["tunnel", "exec"] {
        // Every container has the `postgres` database; a query needs nothing more.
        let known = fleet().join("known_hosts");
        let inv = inventory_with(dir.path(), "postgres", &known, "", method, &migrations);
        let run = |sql: &str| {
            Cmd::new()
                .arg("-i")
                .arg(&inv)
                .args(["query", "--limit", "alpha/app,beta,gamma", sql])
                .run()
        };
        run("select current_database() as db, null as nothing, E'two\\nlines' as text")
            .success()
            .stdout_has(concat!(
                "target     db        nothing  text\n",
                "alpha/app  postgres  <null>   two\\nlines\n",
                "beta/app   postgres  <null>   two\\nlines\n",
                "gamma/app  postgres  <null>   two\\nlines\n",
                "\n3 rows from 3 targets · exit 0\n",
            ));
        run("create table written (id int)")
            .code_is(2)
            .stderr_has(&format!(
                "the query failed on beta/app ({method}): ERROR 25006: cannot execute CREATE TABLE in a read-only transaction"
            ))
            .stdout_has("0 rows from 3 targets; 3 did not finish: alpha/app, beta/app, gamma/app · exit 2");
    }
}
