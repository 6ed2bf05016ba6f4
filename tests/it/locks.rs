//! The lock levels `plan` shows are the server's: each classified statement runs on a real
//! PostgreSQL inside a transaction, and the strongest mode its session then holds on each
//! relation (pg_locks) must be the one pgfleet names. Also: `plan` shows them, in text and
//! JSON.

use pgfleet::migration::locks::{LockMode, Locks, statement_locks};

use crate::harness::{self, Cmd};

#[test]
fn the_lock_levels_are_the_servers() {
    let db = harness::fresh_db("locks_real");
    db.exec(
        "create table customers (id int primary key);
         create table email_messages (id int primary key, status text, customer_id int);
         alter table email_messages add constraint em_status check (status <> '') not valid;
         create function f() returns trigger language plpgsql as 'begin return new; end';
         create materialized view mv as select 1 as x;",
    );
    let statements = [
        "alter table email_messages add column knowledge_extracted_at timestamptz",
        "alter table email_messages alter column status set not null",
        "alter table email_messages add constraint em_customer foreign key (customer_id) references customers (id) not valid",
        "alter table email_messages validate constraint em_status",
        "alter table email_messages alter column status set statistics 200",
        "create index em_status_idx on email_messages (status)",
        "insert into email_messages (id) select id from customers",
        "update email_messages set status = 'done' where customer_id in (select id from customers)",
        "delete from email_messages",
        "create trigger em_tr before insert on email_messages for each row execute function f()",
        "truncate email_messages",
        "refresh materialized view mv",
        "drop table customers cascade",
    ];
    for sql in statements {
        let Locks::Takes(expected) = statement_locks(sql) else {
            panic!("{sql}: not classified");
        };
        assert!(!expected.is_empty(), "{sql}: no lock named");
        for lock in expected {
            // The statement, then what this session holds on the relation, before the
            // transaction is abandoned (psql's connection ends without a commit).
            let oid = db
                .scalar(&format!("select '{}'::regclass::oid", lock.relation))
                .unwrap_or_default();
            let held = db.query(&format!(
                "begin; {sql}; select mode from pg_locks where pid = pg_backend_pid() and locktype = 'relation' and relation = {oid}"
            ));
            let held: Vec<String> = held.into_iter().filter_map(|mut r| r.remove(0)).collect();
            let strongest = LockMode::ALL
                .iter()
                .rev()
                .find(|m| held.iter().any(|h| h == m.pg_locks_name()))
                .map(|m| m.name());
            assert_eq!(
                strongest,
                Some(lock.mode.name()),
                "{sql}: on {} the server holds {held:?}",
                lock.relation
            );
        }
    }
}

#[test]
fn plan_shows_what_each_statement_locks() {
    let db = harness::fresh_db("locks_plan");
    db.exec("create table email_messages (id int primary key)");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "001_extracted.sql",
            "-- migrate:up\nalter table email_messages\n  add column knowledge_extracted_at timestamptz;\ndrop index if exists nothing_here;\n-- migrate:down\n",
        )],
    );
    let plan = || {
        Cmd::new()
            .args(["--url", db.url(), "--migrations-dir"])
            .arg(dir.path())
            .arg("plan")
    };
    plan()
        .run()
        .success()
        // Named as the target's search_path resolves it.
        .stdout_has("    locks: alter table email_messages … → ACCESS EXCLUSIVE on public.email_messages\n")
        .stdout_has("    locks: drop index if exists nothing_here → not classified (DropStmt): its locks are not known\n");
    let doc = plan().args(["--format", "json"]).run().json();
    let locks = &doc["targets"][0]["pending"][0]["locks"];
    assert_eq!(
        locks[0]["locks"][0]["relation"], "public.email_messages",
        "{doc}"
    );
    assert_eq!(
        locks[0]["locks"][0]["as_written"], "email_messages",
        "{doc}"
    );
    assert_eq!(locks[0]["locks"][0]["mode"], "ACCESS EXCLUSIVE", "{doc}");
    assert_eq!(locks[1]["locks"], serde_json::Value::Null, "{doc}");
    assert_eq!(locks[1]["unclassified"], "DropStmt", "{doc}");
}

/// `up --dry-run=rehearse` on `db` with the migrations in `dir`, as JSON.
fn rehearse_json(db: &harness::TestDb, dir: &std::path::Path) -> serde_json::Value {
    Cmd::new()
        .args(["--url", db.url(), "--migrations-dir"])
        .arg(dir)
        .args(["up", "--dry-run=rehearse", "--format", "json"])
        .run()
        .json()
}

/// `[(relation, mode)]` of a rehearsed statement's measured locks.
fn measured(statement: &serde_json::Value) -> Vec<(String, String)> {
    statement["locks"]
        .as_array()
        .unwrap_or_else(|| panic!("no locks in {statement}"))
        .iter()
        .map(|l| {
            let text = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (text("relation"), text("mode"))
        })
        .collect()
}

#[test]
fn a_rehearsal_measures_each_statements_locks_and_time() {
    let db = harness::fresh_db("locks_rehearse");
    db.exec(
        "create table t (id int primary key, x int);
         create table u (id int primary key);
         insert into t select g, g from generate_series(1, 1000) g;
         insert into u select g from generate_series(1, 1000) g;",
    );
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[
            (
                "001_t.sql",
                "-- migrate:up\n-- a column\nalter table t\n  add column y int;\ncreate index t_x on t (x);\n-- migrate:down\n",
            ),
            (
                "002_fk.sql",
                "-- migrate:up\nalter table t add constraint t_u foreign key (x) references u (id);\n-- migrate:down\n",
            ),
        ],
    );
    let doc = rehearse_json(&db, dir.path());
    let pending = &doc["targets"][0]["pending"];
    let first = &pending[0]["statements"];
    let pair = |r: &str, m: &str| (r.to_string(), m.to_string());
    assert_eq!(first.as_array().map(Vec::len), Some(2), "{doc}");
    assert_eq!(first[0]["line"], 3, "{doc}");
    assert_eq!(first[0]["summary"], "alter table t …", "{doc}");
    assert_eq!(measured(&first[0]), [pair("public.t", "ACCESS EXCLUSIVE")]);
    // The index's own lock is left out: the table's is the one others wait for.
    assert_eq!(first[1]["line"], 5, "{doc}");
    assert_eq!(measured(&first[1]), [pair("public.t", "SHARE")]);
    // Two tables, one statement; held until its own migration commits, not the next one's.
    let fk = &pending[1]["statements"][0];
    assert_eq!(
        measured(fk),
        [
            pair("public.t", "SHARE ROW EXCLUSIVE"),
            pair("public.u", "SHARE ROW EXCLUSIVE")
        ]
    );
    for s in [&first[0], &first[1], fk] {
        let took = s["took_ms"].as_f64().unwrap();
        let held = s["held_ms"].as_f64().unwrap();
        assert!(took > 0.0 && held >= took, "{s}");
        for lock in s["locks"].as_array().unwrap() {
            assert_eq!(
                lock["stronger_than_predicted"],
                serde_json::Value::Null,
                "{s}"
            );
        }
    }
    let (a, b) = (&first[0], &first[1]);
    let ms = |s: &serde_json::Value, k: &str| s[k].as_f64().unwrap();
    assert!(
        (ms(a, "held_ms") - ms(a, "took_ms") - ms(b, "took_ms")).abs() < 0.01,
        "{doc}"
    );
    assert_eq!(ms(fk, "held_ms"), ms(fk, "took_ms"), "{doc}");

    Cmd::new()
        .args(["--url", db.url(), "--migrations-dir"])
        .arg(dir.path())
        .args(["up", "--dry-run=rehearse"])
        .run()
        .success()
        .stdout_has("    measured: L3 alter table t … — ACCESS EXCLUSIVE on public.t: ")
        .stdout_has("    measured: L5 create index t_x on t (x) — SHARE on public.t: ")
        .stdout_has(" until commit\n");
    assert_eq!(
        db.scalar("select to_regclass('t_x') is null"),
        Some("t".into())
    );
}

/// For each classified statement, rehearsed alone on a real server: every lock
/// `statement_locks` predicts is among those measured, in that mode and no stronger.
#[test]
fn measured_locks_hold_what_was_predicted() {
    let db = harness::fresh_db("locks_measured");
    db.exec(
        "create table customers (id int primary key);
         create table email_messages (id int primary key, status text, customer_id int);
         alter table email_messages add constraint em_status check (status <> '') not valid;
         create function f() returns trigger language plpgsql as 'begin return new; end';
         create materialized view mv as select 1 as x;
         create schema other;
         create table other.notes (id int);",
    );
    // `drop table` is left out: a dropped relation is gone from pg_class when its locks
    // are read, so its lock cannot be named.
    let statements = [
        "alter table email_messages add column knowledge_extracted_at timestamptz",
        "alter table email_messages alter column status set not null",
        "alter table email_messages add constraint em_customer foreign key (customer_id) references customers (id) not valid",
        "alter table email_messages validate constraint em_status",
        "alter table email_messages alter column status set statistics 200",
        "create index em_status_idx on email_messages (status)",
        "insert into email_messages (id) select id from customers",
        "update email_messages set status = 'done' where customer_id in (select id from customers)",
        "delete from email_messages",
        "create trigger em_tr before insert on email_messages for each row execute function f()",
        "truncate email_messages",
        "refresh materialized view mv",
        "alter table other.notes add column body text",
        "create table fresh (id int references customers (id))",
    ];
    let dir = harness::tempdir();
    for sql in statements {
        let Locks::Takes(predicted) = statement_locks(sql) else {
            panic!("{sql}: not classified");
        };
        harness::write_migrations(
            dir.path(),
            &[(
                "001_one.sql",
                &format!("-- migrate:up\n{sql};\n-- migrate:down\n"),
            )],
        );
        let doc = rehearse_json(&db, dir.path());
        let statement = &doc["targets"][0]["pending"][0]["statements"][0];
        let measured = measured(statement);
        for lock in predicted {
            let relation = if lock.relation.contains('.') {
                lock.relation.clone()
            } else {
                format!("public.{}", lock.relation)
            };
            assert!(
                measured.contains(&(relation.clone(), lock.mode.name().to_string())),
                "{sql}: predicted {} on {relation}, measured {measured:?}",
                lock.mode.name()
            );
        }
        for lock in statement["locks"].as_array().unwrap() {
            assert_eq!(
                lock["stronger_than_predicted"],
                serde_json::Value::Null,
                "{sql}: {statement}"
            );
        }
    }
}

/// Through psql in the container (method exec), each statement is measured as over the
/// native protocol: the locks are read in the same psql session, inside the rehearsal.
#[test]
fn exec_rehearsal_measures_each_statement() {
    let dir = harness::tempdir();
    let inv = crate::fleet::exec_inventory(
        dir.path(),
        "locks_exec",
        &[(
            "001_t.sql",
            "-- migrate:up\ncreate table t (id int);\n-- migrate:down\ndrop table t;\n",
        )],
    );
    let pgfleet = || Cmd::new().arg("-i").arg(&inv).args(["--limit", "gamma"]);
    pgfleet().arg("up").run().success();
    harness::write_migrations(
        &dir.path().join("migrations"),
        &[(
            "002_x.sql",
            "-- migrate:up\nalter table t add column x int;\n\ncreate index t_x on t (x);\n-- migrate:down\n",
        )],
    );
    pgfleet()
        .args(["up", "--dry-run=rehearse"])
        .run()
        .success()
        .stdout_has(
            "    measured: L2 alter table t add column x int — ACCESS EXCLUSIVE on public.t: ",
        )
        .stdout_has("    measured: L4 create index t_x on t (x) — SHARE on public.t: ");
    let doc = pgfleet()
        .args(["up", "--dry-run=rehearse", "--format", "json"])
        .run()
        .json();
    let statements = &doc["targets"][0]["pending"][0]["statements"];
    assert_eq!(statements.as_array().map(Vec::len), Some(2), "{doc}");
    assert!(statements[0]["took_ms"].as_f64().unwrap() > 0.0, "{doc}");
}
