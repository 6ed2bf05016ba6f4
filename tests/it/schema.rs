//! Schema snapshots, comparison and drafts against a real PostgreSQL.

use pgfleet::schema::{self, Change, Expected, Kind, Schema, compare, draft};

use crate::harness::{TestDb, fresh_db};

/// A schema with one of everything the snapshot knows, and names that need quoting.
const RICH: &str = r#"
create extension citext;
create extension "uuid-ossp";
create schema app;
create type mood as enum ('sad', 'ok', 'happy');
create table users (
    id serial primary key,
    email citext not null unique,
    name varchar(200),
    mood mood default 'ok',
    created_at timestamptz not null default now()
);
create table app.orders (
    id bigint generated always as identity primary key,
    user_id integer not null references users (id) on delete cascade,
    qty integer not null check (qty > 0),
    total numeric(10, 2) generated always as (qty * 2.5) stored,
    note text,
    "position" integer
);
create index orders_note_idx on app.orders (note) where note is not null;
create sequence app.ticket_seq start 100 increment 5;
create function touch() returns trigger language plpgsql as $$
begin
    new.created_at := now();
    return new;
end $$;
create trigger users_touch before update on users for each row execute function touch();
create view active_users as select id, email from users where mood <> 'sad';
create view app.big_orders as
    select o.id, u.email from app.orders o join active_users u on u.id = o.user_id where o.qty > 10;
create materialized view order_counts as select user_id, count(*) as n from app.orders group by user_id;
create unique index order_counts_user_idx on order_counts (user_id);
create procedure app.noop() language sql as $$ select 1 $$;
create table events (id integer not null, at date not null) partition by range (at);
create table events_2024 partition of events for values from ('2024-01-01') to ('2025-01-01');
create index events_at_idx on events (at);
create table "Audit Log" ("user" text, "order" integer);
"#;

fn snapshot(db: &TestDb) -> Schema {
    let json = db
        .scalar(schema::SNAPSHOT_SQL)
        .expect("the snapshot is not null");
    assert!(!json.contains('\n'), "raw newline in the snapshot: {json}");
    Schema::from_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn db_with(hint: &str, sql: &str) -> TestDb {
    let db = fresh_db(hint);
    db.exec(sql);
    db
}

fn changed(aspect: &str, actual: &str, expected: &str) -> Change {
    Change::Changed {
        aspect: aspect.to_owned(),
        actual: actual.to_owned(),
        expected: expected.to_owned(),
    }
}

#[test]
fn same_sql_compares_equal_whatever_the_search_path() {
    let a = db_with("schema_same_a", RICH);
    let b = db_with("schema_same_b", RICH);
    // Names print qualified the same way even when the reader's search path differs.
    b.exec(&format!(
        "alter database {} set search_path = app, pg_catalog, public",
        b.name()
    ));
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert_eq!(compare(&sa, &sb), vec![]);
    assert_eq!(sa, sb);
    assert_eq!(draft(&sa, &sb), schema::Draft::default());

    // Every kind was read, and nothing of the extensions'.
    assert_eq!(sa.schemas, ["app", "public"]);
    let extensions: Vec<&str> = sa.extensions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(extensions, ["citext", "plpgsql", "uuid-ossp"]);
    let tables: Vec<&str> = sa.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tables,
        ["orders", "Audit Log", "events", "events_2024", "users"]
    );
    let views: Vec<(&str, bool)> = sa
        .views
        .iter()
        .map(|v| (v.name.as_str(), v.materialized))
        .collect();
    assert_eq!(
        views,
        [
            ("big_orders", false),
            ("active_users", false),
            ("order_counts", true)
        ]
    );
    let sequences: Vec<&str> = sa.sequences.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        sequences,
        ["ticket_seq", "users_id_seq"],
        "identity sequences are the column's"
    );
    let functions: Vec<&str> = sa.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        functions,
        ["noop", "touch"],
        "citext's functions are the extension's"
    );
    assert_eq!(sa.enums.len(), 1);
    let orders = &sa.tables[0];
    let id = &orders.columns[0];
    assert_eq!(
        (id.identity.as_deref(), id.not_null),
        (Some("always"), true)
    );
    assert_eq!(
        orders.columns[3].generated.as_deref(),
        Some("((qty)::numeric * 2.5)")
    );
    assert_eq!(
        orders.indexes.len(),
        1,
        "the primary key's index is its constraint"
    );
    let users = &sa.tables[4];
    assert_eq!(users.columns[1].data_type, "public.citext");
    let seq = &sa.sequences[1];
    assert_eq!(seq.owned_by.as_ref().map(|o| o.column.as_str()), Some("id"));
    assert_eq!(
        sa.tables[3].indexes,
        [],
        "a partition's index follows from its parent's"
    );
}

#[test]
fn a_fresh_database_is_empty() {
    let db = fresh_db("schema_empty");
    assert!(snapshot(&db).is_empty());
    db.exec("create table t (id integer)");
    assert!(!snapshot(&db).is_empty());
    let db = db_with("schema_empty_schema", "create schema s");
    assert!(!snapshot(&db).is_empty());
    let db = db_with("schema_empty_ext", "create extension citext");
    assert!(!snapshot(&db).is_empty());
}

#[test]
fn legacy_tables_and_tracking_tables_are_left_out() {
    let db = db_with(
        "schema_tracking",
        "create table schema_migrations (version varchar primary key);
         create table schema_migrations_pgfleet (id serial primary key, version varchar
             references schema_migrations (version));
         create index pgfleet_version_idx on schema_migrations_pgfleet (version);
         create table old_history (id serial primary key, name text);
         comment on table old_history is 'pgfleet: legacy history, renamed from migrations';",
    );
    let s = snapshot(&db);
    let tables: Vec<&str> = s.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["schema_migrations", "schema_migrations_pgfleet"]);
    assert_eq!(
        s.sequences.len(),
        1,
        "the legacy table's sequence is left out too"
    );
    assert!(!s.is_empty());
    let s = s.without_tables(&[
        ("public", "schema_migrations"),
        ("public", "schema_migrations_pgfleet"),
    ]);
    assert!(s.is_empty(), "{s:#?}");
    assert_eq!(
        compare(&s, &snapshot(&fresh_db("schema_tracking_fresh"))),
        vec![]
    );
}

/// One hand change on top of RICH, and the one difference it must make.
struct Case {
    change: &'static str,
    kind: Kind,
    name: &'static str,
    expect: Change,
    /// Sentence for `describe("nas/app", Expected::Migrations)`.
    words: &'static str,
}

#[test]
fn each_kind_of_hand_change_is_reported() {
    use Change::{Extra, Missing};
    let cases = [
        Case {
            change: "create schema extra",
            kind: Kind::Schema,
            name: "extra",
            expect: Extra,
            words: "schema extra exists on nas/app but no migration creates it",
        },
        Case {
            change: "create extension pgcrypto",
            kind: Kind::Extension,
            name: "pgcrypto",
            expect: Extra,
            words: "extension pgcrypto exists on nas/app but no migration creates it",
        },
        Case {
            change: "drop table \"Audit Log\"",
            kind: Kind::Table,
            name: "Audit Log",
            expect: Missing,
            words: "table Audit Log is missing on nas/app (a migration creates it)",
        },
        Case {
            change: "alter table users add column knowledge_extracted_at timestamptz",
            kind: Kind::Column,
            name: "users.knowledge_extracted_at",
            expect: Extra,
            words: "column users.knowledge_extracted_at exists on nas/app but no migration creates it",
        },
        Case {
            change: "alter table users alter column name type text",
            kind: Kind::Column,
            name: "users.name",
            expect: changed("type", "text", "character varying(200)"),
            words: "column users.name: type is text on nas/app, character varying(200) per the migrations",
        },
        Case {
            change: "alter table users alter column name set not null",
            kind: Kind::Column,
            name: "users.name",
            expect: changed("nullability", "not null", "nullable"),
            words: "column users.name: nullability is not null on nas/app, nullable per the migrations",
        },
        Case {
            change: "alter table users alter column mood set default 'happy'",
            kind: Kind::Column,
            name: "users.mood",
            expect: changed("default", "'happy'::public.mood", "'ok'::public.mood"),
            words: "column users.mood: default is 'happy'::public.mood on nas/app, 'ok'::public.mood per the migrations",
        },
        Case {
            change: "drop index app.orders_note_idx",
            kind: Kind::Index,
            name: "app.orders_note_idx",
            expect: Missing,
            words: "index app.orders_note_idx is missing on nas/app (a migration creates it)",
        },
        Case {
            change: "alter table app.orders drop constraint orders_qty_check,
                     add constraint orders_qty_check check (qty > 1)",
            kind: Kind::Constraint,
            name: "app.orders.orders_qty_check",
            expect: changed("definition", "CHECK ((qty > 1))", "CHECK ((qty > 0))"),
            words: "constraint app.orders.orders_qty_check: definition is CHECK ((qty > 1)) on nas/app, CHECK ((qty > 0)) per the migrations",
        },
        Case {
            change: "alter table users drop constraint users_email_key",
            kind: Kind::Constraint,
            name: "users.users_email_key",
            expect: Missing,
            words: "constraint users.users_email_key is missing on nas/app (a migration creates it)",
        },
        Case {
            change: "alter table app.orders drop constraint orders_user_id_fkey",
            kind: Kind::Constraint,
            name: "app.orders.orders_user_id_fkey",
            expect: Missing,
            words: "constraint app.orders.orders_user_id_fkey is missing on nas/app (a migration creates it)",
        },
        Case {
            change: "create or replace view active_users as
                     select id, email from users where mood <> 'sad' and id > 0",
            kind: Kind::View,
            name: "active_users",
            expect: changed(
                "definition",
                " SELECT users.id,\n    users.email\n   FROM public.users\n  WHERE users.mood <> 'sad'::public.mood AND users.id > 0;",
                " SELECT users.id,\n    users.email\n   FROM public.users\n  WHERE users.mood <> 'sad'::public.mood;",
            ),
            words: "view active_users: definition differs between nas/app and the migrations",
        },
        Case {
            change: "drop materialized view order_counts",
            kind: Kind::MaterializedView,
            name: "order_counts",
            expect: Missing,
            words: "materialized view order_counts is missing on nas/app (a migration creates it)",
        },
        Case {
            change: "alter sequence app.ticket_seq increment 10",
            kind: Kind::Sequence,
            name: "app.ticket_seq",
            expect: changed("increment", "10", "5"),
            words: "sequence app.ticket_seq: increment is 10 on nas/app, 5 per the migrations",
        },
        Case {
            change: "create or replace function touch() returns trigger language plpgsql as $$
                     begin new.created_at := clock_timestamp(); return new; end $$",
            kind: Kind::Function,
            name: "touch()",
            expect: Change::Extra, // checked by aspect below: the bodies are long
            words: "function touch(): definition differs between nas/app and the migrations",
        },
        Case {
            change: "drop trigger users_touch on users",
            kind: Kind::Trigger,
            name: "users_touch on users",
            expect: Missing,
            words: "trigger users_touch on users is missing on nas/app (a migration creates it)",
        },
        Case {
            change: "alter type mood add value 'meh' after 'ok'",
            kind: Kind::Enum,
            name: "mood",
            expect: changed("values", "sad, ok, meh, happy", "sad, ok, happy"),
            words: "enum mood: values are sad, ok, meh, happy on nas/app, sad, ok, happy per the migrations",
        },
    ];
    let expected = snapshot(&db_with("schema_kinds_base", RICH));
    for case in cases {
        let db = db_with("schema_kinds", RICH);
        db.exec(case.change);
        let found = compare(&snapshot(&db), &expected);
        assert_eq!(found.len(), 1, "{}: {found:#?}", case.change);
        let d = &found[0];
        assert_eq!(
            (d.kind, d.name.as_str()),
            (case.kind, case.name),
            "{}",
            case.change
        );
        match &d.change {
            Change::Changed { aspect, .. } if case.kind == Kind::Function => {
                assert_eq!(aspect, "definition")
            }
            change => assert_eq!(change, &case.expect, "{}", case.change),
        }
        assert_eq!(d.describe("nas/app", Expected::Migrations), case.words);
    }
}

#[test]
fn a_table_on_one_side_is_one_difference_and_its_dependents_their_own() {
    let expected = snapshot(&db_with("schema_drop_base", RICH));
    let db = db_with("schema_drop", RICH);
    // A new table's serial sequence is part of the table's one difference.
    db.exec("drop table app.orders cascade; create table app.notes (id serial primary key)");
    let found: Vec<(Kind, String, Change)> = compare(&snapshot(&db), &expected)
        .into_iter()
        .map(|d| (d.kind, d.name, d.change))
        .collect();
    assert_eq!(
        found,
        [
            (Kind::Table, "app.notes".to_owned(), Change::Extra),
            (Kind::Table, "app.orders".to_owned(), Change::Missing),
            (Kind::View, "app.big_orders".to_owned(), Change::Missing),
            (
                Kind::MaterializedView,
                "order_counts".to_owned(),
                Change::Missing
            ),
        ]
    );
}

/// Hand changes of every kind on top of RICH: objects added, dropped and changed.
const CHANGES: &str = r#"
create schema reports;
create extension pgcrypto;
drop extension "uuid-ossp";
create type reports.status as enum ('new', 'done');
alter type mood add value 'meh' after 'ok';
create sequence reports.counter as integer start 10 cache 5;
alter sequence app.ticket_seq increment 10 maxvalue 100000;
create table reports.summary (
    id serial primary key,
    status reports.status not null default 'new',
    user_id integer references users (id),
    body text check (body <> '')
);
alter table users alter column name type text;
alter table users alter column name set not null;
alter table users alter column mood set default 'happy';
alter table users add column nickname text default 'x';
alter table users drop column created_at;
alter table users drop constraint users_email_key;
alter table users add constraint users_name_key unique (name);
alter table app.orders drop constraint orders_qty_check, add constraint orders_qty_check check (qty > 1);
alter table app.orders alter column id set generated by default;
alter table app.orders add column ref_id integer;
alter table "Audit Log" add column id integer generated by default as identity;
drop index app.orders_note_idx;
create index orders_qty_idx on app.orders (qty) where qty > 5;
create or replace view active_users as select id, email, name from users where mood <> 'sad';
drop materialized view order_counts;
create materialized view reports.per_status as select status, count(*) as n from reports.summary group by status;
create index per_status_idx on reports.per_status (status);
create or replace function touch() returns trigger language plpgsql as $$
begin
    new.nickname := coalesce(new.nickname, 'y');
    return new;
end $$;
create function reports.total(a integer, b integer) returns integer language sql as $$ select a + b $$;
drop procedure app.noop();
drop trigger users_touch on users;
create trigger users_touch_insert before insert on users for each row execute function touch();
drop table events;
create table reports.monthly (at date not null, n integer) partition by range (at);
create table reports.monthly_2025 partition of reports.monthly for values from ('2025-01-01') to ('2026-01-01');
"#;

#[test]
fn a_draft_turns_one_schema_into_the_other_and_back() {
    let a = db_with("schema_draft_a", RICH);
    let b = db_with("schema_draft_b", RICH);
    b.exec(CHANGES);
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    let sql = draft(&sb, &sa);

    let c = db_with("schema_draft_c", RICH);
    c.try_query(&sql.up)
        .unwrap_or_else(|e| panic!("up failed: {e}\n{}", sql.up));
    assert_eq!(compare(&snapshot(&c), &sb), vec![], "up:\n{}", sql.up);

    c.try_query(&sql.down)
        .unwrap_or_else(|e| panic!("down failed: {e}\n{}", sql.down));
    let partition_indexes = "select count(*) from pg_indexes where tablename = 'events_2024'";
    assert_eq!(
        c.scalar(partition_indexes).as_deref(),
        Some("1"),
        "{}",
        sql.down
    );
    // PostgreSQL cannot remove an enum value: the draft recreates the type instead.
    assert!(
        sql.down
            .contains("ALTER TYPE public.mood RENAME TO mood__pgfleet_old;"),
        "{}",
        sql.down
    );
    assert_eq!(compare(&snapshot(&c), &sa), vec![], "down:\n{}", sql.down);
}
