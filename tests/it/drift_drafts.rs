//! Drafts that used to fail or stop at a comment (issue 15): a changed generation
//! expression, a renamed enum value, an added enum value's down, a detached partition, a
//! child table and a table joining a parent with CHECK constraints, an
//! INVALID index. Each on the harness PostgreSQL: a database built from migrations, a
//! hand change, `drift` naming it, `--write-migration`'s draft registered where the change
//! is (then no drift), and the draft's up and down run on a second database built from the
//! same migrations (then no drift either).

use crate::harness::by_url;

use crate::harness::{fresh_db, tempdir, write_migrations};

struct Case {
    name: &'static str,
    base: &'static str,
    hand: &'static str,
    /// In drift's sentence.
    said: &'static str,
    /// In the drafted file.
    drafted: &'static [&'static str],
    /// The hand change is adopted by registering the draft (not so for an INVALID index,
    /// which is repaired where it is, never adopted).
    adopted: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "generated",
        base: "create table t (a int, b int generated always as (a * 2) stored);",
        hand: "alter table t drop column b; alter table t add column b int generated always as (a * 3) stored;",
        said: "column t.b: generated is generated always as ((a * 3)) stored",
        drafted: &[
            "ALTER TABLE public.t DROP COLUMN b;\nALTER TABLE public.t ADD COLUMN b integer GENERATED ALWAYS AS ((a * 3)) STORED;",
            "ALTER TABLE public.t ADD COLUMN b integer GENERATED ALWAYS AS ((a * 2)) STORED;",
        ],
        adopted: true,
    },
    Case {
        name: "enum_rename",
        base: "create type mood as enum ('sad', 'ok', 'happy'); create table t (m mood default 'ok');",
        hand: "alter type mood rename value 'ok' to 'fine';",
        said: "enum mood: values are sad, fine, happy",
        drafted: &[
            "ALTER TYPE public.mood RENAME VALUE 'ok' TO 'fine';",
            "ALTER TYPE public.mood RENAME VALUE 'fine' TO 'ok';",
        ],
        adopted: true,
    },
    Case {
        name: "enum_added",
        base: "create type mood as enum ('sad', 'ok'); create table t (m mood default 'ok', ms mood[]);",
        hand: "alter type mood add value 'happy';",
        said: "enum mood: values are sad, ok, happy",
        drafted: &[
            "ALTER TYPE public.mood ADD VALUE 'happy' AFTER 'ok';",
            "-- enum public.mood: labels removed or reordered, which PostgreSQL cannot do in place: the type is recreated",
            "ALTER TABLE public.t ALTER COLUMN ms TYPE public.mood[] USING ms::text[]::public.mood[];",
        ],
        adopted: true,
    },
    Case {
        name: "detached",
        base: "create table events (id bigint not null, at date not null, primary key (id, at)) partition by range (at); create table events_2023 partition of events for values from ('2023-01-01') to ('2024-01-01');",
        hand: "alter table events detach partition events_2023;",
        said: "table events_2023: partition of is none",
        drafted: &[
            "-- migrate:up\nALTER TABLE public.events DETACH PARTITION public.events_2023;\n",
            "ALTER TABLE public.events ATTACH PARTITION public.events_2023 FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');",
        ],
        adopted: true,
    },
    Case {
        name: "child_table",
        base: "create table parent (id int not null, check (id > 0));",
        hand: "create table kid (extra int) inherits (parent);",
        said: "table kid exists on",
        drafted: &[
            "INHERITS (public.parent);",
            "DROP TABLE IF EXISTS public.kid;",
        ],
        adopted: true,
    },
    Case {
        name: "joins_parent",
        base: "create table parent (id int not null, check (id > 0)); create table loner (id int not null);",
        hand: "alter table loner add constraint parent_id_check check (id > 0); alter table loner inherit parent;",
        said: "table loner: parent tables",
        drafted: &[
            "ALTER TABLE public.loner INHERIT public.parent;",
            "ALTER TABLE public.loner NO INHERIT public.parent;",
        ],
        adopted: true,
    },
    Case {
        name: "invalid_index",
        base: "create table t (a int); insert into t values (1), (1);",
        hand: "create unique index concurrently t_a on t (a);",
        said: "INVALID index t_a exists on",
        drafted: &[
            "-- index public.t_a is INVALID where it exists",
            "not adopted. Repair it there: DROP INDEX CONCURRENTLY IF EXISTS public.t_a;",
        ],
        adopted: false,
    },
];

#[test]
fn each_draft_adopts_the_change_and_its_down_undoes_it() {
    for case in CASES {
        let dir = tempdir();
        write_migrations(
            dir.path(),
            &[(
                "001_base.sql",
                &format!("-- migrate:up\n{}\n-- migrate:down\nselect 1;\n", case.base),
            )],
        );
        let live = fresh_db(&format!("drafts_{}_a", case.name));
        by_url(&live, dir.path()).arg("up").run().success();
        // The invalid index's CREATE fails on the duplicate, leaving it INVALID.
        let _ = live.try_query(case.hand);
        let out = by_url(&live, dir.path())
            .args(["drift", "--write-migration"])
            .run();
        out.code_is(1)
            .stdout_has(case.said)
            .stdout_has("(with the same --url or DATABASE_URL)");
        let draft = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("_drift_"))
            .expect("a draft was written");
        let text = std::fs::read_to_string(&draft).unwrap();
        for part in case.drafted {
            assert!(
                text.contains(part),
                "{}: the draft lacks {part:?}\n{text}",
                case.name
            );
        }
        let name = draft.file_name().unwrap().to_string_lossy().into_owned();
        let version = &name[..name.find('_').unwrap()];
        let register = by_url(&live, dir.path()).args(["register", version]).run();
        if case.adopted {
            register.success();
        } else {
            // Not adopted: register refuses, and the repair the draft names clears it.
            register.code_is(1).stdout_has("left untouched");
            live.exec("drop index concurrently t_a");
        }
        by_url(&live, dir.path()).arg("drift").run().success();
        // A second database built from the migrations and the draft, then rolled back.
        let fresh = fresh_db(&format!("drafts_{}_b", case.name));
        by_url(&fresh, dir.path()).arg("up").run().success();
        by_url(&fresh, dir.path()).arg("drift").run().success();
        by_url(&fresh, dir.path()).arg("rollback").run().success();
        by_url(&fresh, dir.path()).arg("drift").run().success();
    }
}
