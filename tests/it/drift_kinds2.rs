//! `drift` on domains, composite types, row-level security policies, privileges and
//! ownership: each hand change named, drafted, and the draft's up and down checked on a
//! database rebuilt from the same migrations. `--ignore` leaves owners and grants out.

use crate::harness::by_url;

use std::path::{Path, PathBuf};

use pgfleet::schema::{self, Schema, compare};

use crate::harness::{self, TestDb};

const BASE: &str = "-- migrate:up
create schema app;
create domain posint as integer default 1 check (value > 0);
create type pair as (a integer, b text);
create sequence counter;
create table docs (id integer primary key, n posint, body text);
alter table docs enable row level security;
create policy docs_read on docs for select using (true);
create function twice(x integer) returns integer language sql as $$ select x * 2 $$;
create view doc_ids as select id from docs;

-- migrate:down
drop view doc_ids;
drop function twice(integer);
drop table docs;
drop sequence counter;
drop type pair;
drop domain posint;
drop schema app;
";

/// A database built by pgfleet from BASE in `dir`.
fn built(hint: &str, dir: &Path) -> TestDb {
    let db = harness::missing_db(hint);
    by_url(&db, dir).arg("up").run().success();
    db
}

fn migrations() -> (tempfile::TempDir, PathBuf) {
    let dir = harness::tempdir();
    let path = dir.path().join("migrations");
    harness::write_migrations(&path, &[("20240101000000_base.sql", BASE)]);
    (dir, path)
}

/// A role name of this test process's own: roles are shared by every database.
fn role(hint: &str) -> String {
    format!("it_k2_{hint}_{}", std::process::id())
}

/// One hand change and what drift and its draft must say. `{r}` stands for the case's role.
struct Case {
    hint: &'static str,
    change: &'static str,
    /// Fragments of drift's sentences.
    words: &'static [&'static str],
    /// Fragments of the drafted file.
    draft: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        hint: "domain",
        change: "alter domain posint set default 2;
                 alter domain posint set not null;
                 alter domain posint drop constraint posint_check;
                 alter domain posint add constraint posint_check check (value > 1);
                 create domain email as text check (value like '%@%');",
        words: &[
            "domain posint: default is 2 on ",
            ", 1 per the migrations",
            "domain posint: nullability is not null on ",
            "domain posint: constraint posint_check is CHECK ((VALUE > 1)) on ",
            "domain email exists on ",
        ],
        draft: &[
            "ALTER DOMAIN public.posint SET DEFAULT 2;",
            "ALTER DOMAIN public.posint DROP NOT NULL;",
            "CREATE DOMAIN public.email AS text;",
            "DROP DOMAIN IF EXISTS public.email;",
        ],
    },
    Case {
        hint: "composite",
        change: "alter type pair alter attribute b type varchar(10), add attribute c boolean;
                 create type triple as (x integer, y integer, z integer);",
        words: &[
            "composite type pair: attributes are a integer, b character varying(10), c boolean on ",
            ", a integer, b text per the migrations",
            "composite type triple exists on ",
        ],
        draft: &[
            "ALTER TYPE public.pair ALTER ATTRIBUTE b TYPE character varying(10), ADD ATTRIBUTE c boolean;",
            "ALTER TYPE public.pair DROP ATTRIBUTE IF EXISTS c, ALTER ATTRIBUTE b TYPE text;",
            "CREATE TYPE public.triple AS (x integer, y integer, z integer);",
        ],
    },
    Case {
        hint: "policy",
        change: "alter policy docs_read on docs to {r} using (id > 0);
                 create policy docs_write on docs as restrictive for insert with check (id > 0);",
        words: &[
            "policy docs_read on docs: roles are {r} on ",
            ", public per the migrations",
            "policy docs_read on docs: using is (id > 0) on ",
            "policy docs_write on docs exists on ",
        ],
        draft: &[
            "ALTER POLICY docs_read ON public.docs TO {r} USING ((id > 0));",
            "CREATE POLICY docs_write ON public.docs AS RESTRICTIVE FOR INSERT TO PUBLIC WITH CHECK ((id > 0));",
            "DROP POLICY IF EXISTS docs_write ON public.docs;",
        ],
    },
    Case {
        hint: "policy_command",
        change: "drop policy docs_read on docs;
                 create policy docs_read on docs for update using (true);",
        words: &["policy docs_read on docs: command is UPDATE on "],
        draft: &[
            "DROP POLICY IF EXISTS docs_read ON public.docs;",
            "CREATE POLICY docs_read ON public.docs AS PERMISSIVE FOR SELECT TO PUBLIC USING (true);",
        ],
    },
    Case {
        hint: "privileges",
        change: "grant select, insert on docs to {r};
                 grant update (body) on docs to {r};
                 grant usage on sequence counter to {r} with grant option;
                 revoke execute on function twice(integer) from public;
                 grant usage on schema app to {r};
                 revoke usage on type pair from public;
                 grant select on doc_ids to {r};
                 alter default privileges in schema app grant select on tables to {r};
                 alter default privileges revoke execute on functions from public;",
        words: &[
            "grant on table docs to {r} exists on ",
            "grant on column docs.body to {r} exists on ",
            "grant on sequence counter to {r} exists on ",
            "grant on function twice(x integer) to PUBLIC is missing on ",
            "grant on schema app to {r} exists on ",
            "grant on type pair to PUBLIC is missing on ",
            "grant on view doc_ids to {r} exists on ",
            "default privilege for postgres in schema app on tables to {r} exists on ",
            "default privilege for postgres on functions, revoked from PUBLIC exists on ",
        ],
        draft: &[
            "GRANT INSERT, SELECT ON TABLE public.docs TO {r};",
            "GRANT UPDATE (body) ON TABLE public.docs TO {r};",
            "GRANT USAGE ON SEQUENCE public.counter TO {r} WITH GRANT OPTION;",
            "REVOKE EXECUTE ON FUNCTION public.twice(x integer) FROM PUBLIC;",
            "GRANT EXECUTE ON FUNCTION public.twice(x integer) TO PUBLIC;",
            "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA app GRANT SELECT ON TABLES TO {r};",
            "ALTER DEFAULT PRIVILEGES FOR ROLE postgres REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;",
        ],
    },
    Case {
        hint: "owners",
        change: "alter table docs owner to {r};
                 alter view doc_ids owner to {r};
                 alter sequence counter owner to {r};
                 alter function twice(integer) owner to {r};
                 alter schema app owner to {r};
                 alter type pair owner to {r};
                 alter domain posint owner to {r};",
        words: &[
            "ownership of table docs: owner is {r} on ",
            ", postgres per the migrations",
            "ownership of view doc_ids: owner is {r} on ",
            "ownership of sequence counter: owner is {r} on ",
            "ownership of function twice(x integer): owner is {r} on ",
            "ownership of schema app: owner is {r} on ",
            "ownership of type pair: owner is {r} on ",
            "ownership of domain posint: owner is {r} on ",
        ],
        draft: &[
            "ALTER TABLE public.docs OWNER TO {r};",
            "ALTER VIEW public.doc_ids OWNER TO {r};",
            "ALTER FUNCTION public.twice(x integer) OWNER TO postgres;",
            "ALTER SCHEMA app OWNER TO postgres;",
            "ALTER DOMAIN public.posint OWNER TO {r};",
        ],
    },
];

fn only_draft(dir: &Path) -> (PathBuf, String) {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("_drift_"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    let version = found[0]
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('_').next())
        .unwrap()
        .to_owned();
    (found[0].clone(), version)
}

/// For each case: drift names the change (exit 1); its draft, run by `up` on a database
/// rebuilt from the migrations, makes that one match the changed one (both show no drift
/// once the draft is registered where the change was made by hand), and its down, run by
/// `rollback`, brings the rebuilt one back to the migrations.
#[test]
fn each_hand_change_is_named_and_its_draft_goes_up_and_down() {
    for case in CASES {
        let r = role(case.hint);
        let with_role = |text: &str| text.replace("{r}", &r);
        let (_tmp, dir) = migrations();
        let db = built(&format!("k2_{}", case.hint), &dir);
        db.exec(&format!("create role {r}"));
        db.exec(&with_role(case.change));

        let out = by_url(&db, &dir).arg("drift").run();
        out.code_is(1);
        for words in case.words {
            out.stdout_has(&with_role(words));
        }
        by_url(&db, &dir)
            .args(["drift", "--write-migration"])
            .run()
            .code_is(1)
            .stdout_has("Wrote ");
        let (path, version) = only_draft(&dir);
        let text = std::fs::read_to_string(&path).unwrap();
        for sql in case.draft {
            assert!(
                text.contains(&with_role(sql)),
                "{}: {sql}\n{text}",
                case.hint
            );
        }

        let copy = built(&format!("k2_{}_copy", case.hint), &dir);
        by_url(&db, &dir)
            .args(["register", &version])
            .run()
            .success()
            .stdout_has("the schema matches");
        for target in [&db, &copy] {
            by_url(target, &dir)
                .arg("drift")
                .run()
                .success()
                .stdout_has("no drift");
        }
        by_url(&copy, &dir).arg("rollback").run().success();
        by_url(&copy, &dir)
            .arg("drift")
            .run()
            .success()
            .stdout_has("no drift");

        for target in [&db, &copy] {
            target.exec(&format!(
                "reassign owned by {r} to current_user; drop owned by {r}"
            ));
        }
        db.exec(&format!("drop role {r}"));
    }
}

#[test]
fn ignore_hides_owners_and_grants_and_refuses_unknown_words() {
    let r = role("ignore");
    let (_tmp, dir) = migrations();
    let db = built("k2_ignore", &dir);
    db.exec(&format!(
        "create role {r}; alter table docs owner to {r}; grant select on doc_ids to {r}"
    ));
    by_url(&db, &dir)
        .arg("drift")
        .run()
        .code_is(1)
        .stdout_has("ownership of table docs");
    by_url(&db, &dir)
        .args(["drift", "--ignore", "owners"])
        .run()
        .code_is(1)
        .stdout_has(&format!("grant on view doc_ids to {r} exists on "));
    by_url(&db, &dir)
        .args(["drift", "--ignore", "owners,privileges"])
        .run()
        .success()
        .stdout_has("no drift");
    // `comments` is accepted; nothing here compares comments yet.
    by_url(&db, &dir)
        .args(["drift", "--ignore", "comments,owners,privileges"])
        .run()
        .success();
    by_url(&db, &dir)
        .args(["drift", "--ignore", "owners,privilege"])
        .run()
        .code_is(3)
        .stderr_has("cannot ignore `privilege` (did you mean `privileges`?)");
    db.exec(&format!(
        "reassign owned by {r} to current_user; drop owned by {r}; drop role {r}"
    ));
}

fn snapshot(db: &TestDb) -> Schema {
    Schema::from_json(&db.scalar(schema::SNAPSHOT_SQL).unwrap()).unwrap()
}

/// Two databases built from the same migrations by the same role: no difference, though
/// every new kind is there to compare.
#[test]
fn the_same_migrations_make_the_same_types_policies_and_access() {
    let (_tmp, dir) = migrations();
    let (a, b) = (built("k2_same_a", &dir), built("k2_same_b", &dir));
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert_eq!(compare(&sa, &sb), vec![]);
    assert_eq!(sa.domains.len(), 1);
    assert_eq!(sa.composites.len(), 1);
    assert_eq!(sa.policies.len(), 1);
    let function = sa.access.iter().find(|x| x.name == "twice").unwrap();
    assert_eq!(function.owner.as_deref(), Some("postgres"));
    assert_eq!(function.grants[0].privileges, ["EXECUTE"]);
    by_url(&a, &dir)
        .arg("drift")
        .run()
        .success()
        .stdout_has("no drift");
}
