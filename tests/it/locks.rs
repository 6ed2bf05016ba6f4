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
