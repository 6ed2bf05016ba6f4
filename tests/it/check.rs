//! `pgfleet check`: every rule against its dangerous example and its safe twin
//! (tests/fixtures/check), the rule reference page, the output formats, allows, history
//! through a real git repository, and the exit codes.

use crate::harness::by_url;

use std::path::{Path, PathBuf};
use std::process::Command;

use pgfleet::check::RULES;

use crate::harness::{Cmd, pgfleet, tempdir, write_migrations};

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/check")
        .join(kind)
}

/// (file name, rule, line, column) from each bad fixture's `-- expect: RULE LINE:COL`.
fn expectations() -> Vec<(String, String, u64, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures("bad")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- expect: "))
            .unwrap_or_else(|| panic!("{} has no `-- expect:` line", path.display()));
        let (rule, at) = expect.split_once(' ').unwrap();
        let (line, column) = at.split_once(':').unwrap();
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            rule.to_string(),
            line.parse().unwrap(),
            column.parse().unwrap(),
        ));
    }
    out
}

/// Rules about the file's place in git history, tested in a repository below.
const NEEDS_GIT: [&str; 2] = ["out-of-order", "edited-since"];

/// Rules whose finding is about what a statement does to a table, so it names a lock.
fn names_a_lock(rule: &str) -> bool {
    rule.starts_with("require-concurrent")
        || rule.starts_with("adding-")
        || rule.starts_with("renaming-")
        || matches!(
            rule,
            "constraint-missing-not-valid"
                | "changing-column-type"
                | "disallowed-unique-constraint"
                | "blocking-maintenance"
                | "ban-drop-column"
                | "ban-drop-table"
        )
}

#[test]
fn every_rule_fires_on_its_example_with_position_lock_and_alternative() {
    let expected = expectations();
    for rule in RULES.iter().filter(|r| !NEEDS_GIT.contains(&r.id)) {
        assert!(
            expected.iter().any(|(_, r, ..)| r == rule.id),
            "rule {} has no dangerous example in tests/fixtures/check/bad",
            rule.id
        );
    }
    let out = pgfleet(
        ["check", "--format", "json"]
            .map(String::from)
            .into_iter()
            .chain([fixtures("bad").display().to_string()]),
    );
    out.code_is(1);
    let doc = out.json();
    let findings = doc["findings"].as_array().unwrap();
    for (file, rule, line, column) in &expected {
        let found = findings.iter().find(|f| {
            f["rule"] == rule.as_str()
                && f["file"].as_str().unwrap().ends_with(file.as_str())
                && f["line"] == *line
                && f["column"] == *column
        });
        let f = found.unwrap_or_else(|| panic!("{file}: no {rule} at {line}:{column}\n{out}"));
        assert!(!f["help"].as_str().unwrap().is_empty(), "{rule}: no help");
        if names_a_lock(rule) {
            let note = f["lock_note"]
                .as_str()
                .unwrap_or_else(|| panic!("{rule}: no lock\n{f}"));
            assert!(
                note.starts_with("takes ") && note.contains(" on "),
                "{rule}: {note}"
            );
        }
    }
}

#[test]
fn the_safe_twins_pass() {
    let out = pgfleet(["check".to_string(), fixtures("good").display().to_string()]);
    out.success()
        .stdout_has("no findings")
        .stdout_has("(2 allowed)");
}

#[test]
fn the_rule_page_lists_every_rule() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check-rules.md"))
            .unwrap();
    for rule in RULES {
        let heading = format!("### {}\n", rule.id);
        assert!(
            page.contains(&heading),
            "docs/check-rules.md lacks {heading}"
        );
        let severity = rule.default.map_or("off", |s| s.name());
        assert!(
            page.contains(&format!(
                "{heading}\n**{severity}**, {}.",
                rule.source.name()
            )),
            "docs/check-rules.md: {} is {severity}, from {}",
            rule.id,
            rule.source.name()
        );
    }
}

#[test]
fn a_finding_reads_like_a_compilers() {
    let dir = tempdir();
    write_migrations(
        &dir.path().join("migrations"),
        &[(
            "20240101000000_index.sql",
            "-- migrate:up\ncreate index orders_status on orders (status);\n-- migrate:down\ndrop index orders_status;\n",
        )],
    );
    let out = Cmd::new()
        .dir(dir.path())
        .args(["check", "migrations"])
        .run();
    out.code_is(1);
    assert_eq!(
        out.stdout,
        "\
warning[require-concurrent-index-creation]: During normal index creation, table updates are blocked, but reads are still allowed.
 --> migrations/20240101000000_index.sql:2:1
  |
2 | create index orders_status on orders (status);
  | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ takes SHARE on orders, held until the migration commits
  |
  = help: CREATE INDEX CONCURRENTLY IF NOT EXISTS, alone in a `-- migrate:up transaction:false` file

Checked 1 file: 1 warning; 1 at or above --deny warning
"
    );
    // At --deny error a warning does not fail the check.
    Cmd::new()
        .dir(dir.path())
        .args(["check", "--deny", "error", "migrations"])
        .run()
        .success();
}

#[test]
fn github_annotations_are_escaped_and_placed() {
    let dir = tempdir();
    let migrations = dir.path().join("db, 100%: migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("20240101000000_drop.sql"),
        "-- migrate:up\nalter table orders\n  drop column note;\n-- migrate:down\nselect 1;\n",
    )
    .unwrap();
    let out = Cmd::new()
        .dir(dir.path())
        .args(["check", "--format", "github", "db, 100%: migrations"])
        .run();
    out.code_is(1);
    let line = out.stdout_line("::warning ");
    assert!(
        line.starts_with("::warning file=db%2C 100%25%3A migrations/20240101000000_drop.sql,line=3,endLine=3,col=3,endColumn=19,title=pgfleet check%3A ban-drop-column::"),
        "{line}"
    );
    // The message's line breaks are escaped, so one annotation stays one line.
    assert!(line.contains("%0Ahelp: code that reads it fails"), "{line}");
    // The plain report follows, for the log.
    out.stdout_has("Checked 1 file: 1 warning");
}

#[test]
fn sarif_has_what_code_scanning_reads() {
    let out = pgfleet([
        "check".to_string(),
        "--format".into(),
        "sarif".into(),
        fixtures("bad").display().to_string(),
    ]);
    out.code_is(1);
    let doc = out.json();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "pgfleet");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
    }
}

#[test]
fn an_allow_covers_one_statement_and_needs_a_reason() {
    let dir = tempdir();
    write_migrations(
        &dir.path().join("migrations"),
        &[(
            "20240101000000_drops.sql",
            "-- migrate:up\n-- pgfleet:allow ban-drop-column nothing has read it since v2\nalter table orders drop column a;\nalter table orders drop column b;\n-- pgfleet:allow ban-drop-table\ndrop table c;\n-- migrate:down\nselect 1;\n",
        )],
    );
    let out = Cmd::new()
        .dir(dir.path())
        .args(["check", "--format", "json", "migrations"])
        .run();
    out.code_is(1);
    let doc = out.json();
    let found: Vec<(String, u64, bool)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["allowed"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("ban-drop-column".to_string(), 3, true),
            ("ban-drop-column".to_string(), 4, false),
            ("bad-allow".to_string(), 5, false),
            ("ban-drop-table".to_string(), 6, false),
        ]
    );
    let header =
        "-- pgfleet:allow ban-drop-column,ban-drop-table the old schema goes (ticket 12)\n";
    std::fs::write(
        dir.path().join("migrations/20240101000000_drops.sql"),
        format!("{header}-- migrate:up\nalter table orders drop column a;\ndrop table c;\n-- migrate:down\nselect 1;\n"),
    )
    .unwrap();
    Cmd::new()
        .dir(dir.path())
        .args(["check", "migrations"])
        .run()
        .success()
        .stdout_has("no findings (2 allowed)");
}

#[test]
fn bad_input_is_exit_3_and_says_what_to_do() {
    let dir = tempdir();
    write_migrations(&dir.path().join("migrations"), &[]);
    Cmd::new()
        .dir(dir.path())
        .args(["check", "--enable", "ban-drop-colum"])
        .run()
        .code_is(3)
        .stderr_has("did you mean 'ban-drop-column'");
    Cmd::new()
        .dir(dir.path())
        .args(["check", "nowhere"])
        .run()
        .code_is(3)
        .stderr_has("nowhere does not exist");
    std::fs::write(dir.path().join("notes.sql"), "select 1;").unwrap();
    Cmd::new()
        .dir(dir.path())
        .args(["check", "notes.sql"])
        .run()
        .code_is(3)
        .stderr_has("not a migration file");
    // Outside a git repository, --since cannot be answered.
    Cmd::new()
        .dir(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .args(["check", "--since", "main"])
        .run()
        .code_is(3)
        .stderr_has("needs a git repository");
    // check reads no database: a broken DATABASE_URL is not its business.
    Cmd::new()
        .dir(dir.path())
        .env("DATABASE_URL", "postgres://u:p@@host/db")
        .args(["check"])
        .run()
        .success();
    // github and sarif are check's formats only.
    Cmd::new()
        .dir(dir.path())
        .args(["status", "--format", "sarif"])
        .run()
        .code_is(3)
        .stderr_has("is for `check`");
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn since_a_ref_finds_collisions_and_edits() {
    let dir = tempdir();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    let file = |v: &str, n: &str| {
        (format!("{v}_{n}.sql"), "-- migrate:up\ncreate table t_NAME (id bigint);\n-- migrate:down\ndrop table t_NAME;\n".replace("NAME", n))
    };
    let (a, a_text) = file("20240101000000", "a");
    let (c, c_text) = file("20240301000000", "c");
    write_migrations(&root.join("migrations"), &[(&a, &a_text), (&c, &c_text)]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "two"]);
    // Another branch's file, older than c; and a, edited.
    let (b, b_text) = file("20240201000000", "b");
    let (d, d_text) = file("20240401000000", "d");
    write_migrations(&root.join("migrations"), &[(&b, &b_text), (&d, &d_text)]);
    std::fs::write(
        root.join("migrations").join(&a),
        a_text.replace("bigint", "int"),
    )
    .unwrap();
    let out = Cmd::new()
        .dir(root)
        .args(["check", "--since", "main", "--format", "json", "migrations"])
        .run();
    out.code_is(1);
    let doc = out.json();
    let found: Vec<(String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            (
                f["rule"].as_str().unwrap().to_string(),
                file.rsplit('/').next().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("edited-since".to_string(), a.clone()),
            ("out-of-order".to_string(), b.clone()),
        ],
        "{out}"
    );
    // Only the changed and new files were checked.
    assert_eq!(doc["files_checked"], 3);
    Cmd::new()
        .dir(root)
        .args(["check", "--since", "no-such-branch"])
        .run()
        .code_is(3)
        .stderr_has("git knows no commit of that name");
}

#[test]
fn up_refuses_a_pending_file_with_an_error_finding_before_anything_runs() {
    let db = crate::harness::fresh_db("check_gate");
    let dir = tempdir();
    let first = (
        "001_table.sql",
        "-- migrate:up\ncreate table t (x int);\ncreate index t_x on t (x);\n-- migrate:down\ndrop table t;\n",
    );
    write_migrations(dir.path(), &[first]);
    // An index built without CONCURRENTLY on a table the same file creates: no finding.
    by_url(&db, dir.path()).arg("up").run().success();
    let concurrent = (
        "002_index.sql",
        "-- migrate:up\ncreate index concurrently if not exists t_x2 on t (x);\n-- migrate:down\n",
    );
    let later = (
        "003_later.sql",
        "-- migrate:up\ncreate table later (id int);\n-- migrate:down\ndrop table later;\n",
    );
    write_migrations(dir.path(), &[concurrent, later]);
    let out = by_url(&db, dir.path()).arg("up").run();
    out.code_is(4)
        .stderr_has(
            "002_index.sql:2:1: CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
        )
        .stderr_has("[needs-no-transaction]")
        .stderr_has("Nothing ran")
        .stderr_has("--no-check");
    assert!(!db.exists() || db.scalar("select to_regclass('later')::text").is_none());
    let applied =
        db.scalar("select string_agg(version, ',' order by version) from schema_migrations");
    assert_eq!(applied.as_deref(), Some("001"));
    // plan says the same before anything is sent.
    by_url(&db, dir.path())
        .arg("plan")
        .run()
        .code_is(4)
        .stderr_has("[needs-no-transaction]");
    // --no-check: the server has its say, and the migration rolls back.
    by_url(&db, dir.path())
        .args(["up", "--no-check"])
        .run()
        .code_is(2)
        .stderr_has("cannot run inside a transaction block");
    // Fixed as the help says (a transaction:false file), only a warning is left: it runs.
    std::fs::write(
        dir.path().join("002_index.sql"),
        "-- migrate:up transaction:false\ncreate index concurrently if not exists t_x2 on t (x);\n-- migrate:down\n",
    )
    .unwrap();
    let out = by_url(&db, dir.path()).arg("up").run();
    out.success();
    // The warning (empty down) is told once, with where and what to do.
    assert_eq!(
        out.stderr
            .matches("002_index.sql:3:1: warning[empty-down]")
            .count(),
        1,
        "{out}"
    );
    let applied =
        db.scalar("select string_agg(version, ',' order by version) from schema_migrations");
    assert_eq!(applied.as_deref(), Some("001,002,003"));
    // An applied file's findings never block, nor are told again.
    let out = by_url(&db, dir.path()).arg("up").run();
    out.success();
    assert!(!out.stderr.contains("empty-down"), "{out}");
}

/// pre-commit, as scripts/setup installs it.
fn pre_commit() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tools/bin/pre-commit");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    path
}

#[test]
fn the_pre_commit_hook_stops_a_dangerous_migration() {
    let dir = tempdir();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    let file = "migrations/20240101000000_index.sql";
    write_migrations(
        &root.join("migrations"),
        &[(
            "20240101000000_index.sql",
            "-- migrate:up\ncreate index orders_status on orders (status);\n-- migrate:down\ndrop index orders_status;\n",
        )],
    );
    std::fs::write(root.join("notes.sql"), "select 1;\n").unwrap();
    git(root, &["add", "."]);
    let bin = Path::new(env!("CARGO_BIN_EXE_pgfleet")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = tempdir();
    // try-repo runs the hooks of this repository's .pre-commit-hooks.yaml, as a project's
    // `repo: …/pgfleet` would; the -system hook uses the pgfleet just built.
    let run = || {
        Cmd::program(pre_commit())
            .dir(root)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", cache.path())
            .args([
                "try-repo",
                env!("CARGO_MANIFEST_DIR"),
                "pgfleet-check-system",
                "--all-files",
            ])
            .run()
    };
    let out = run();
    out.code_is(1)
        .stdout_has("pgfleet check (installed binary)")
        .stdout_has("warning[require-concurrent-index-creation]")
        .stdout_has(&format!("{file}:2:1"));
    // notes.sql is not a migration: the hook's `files` leaves it out.
    assert!(!out.stdout.contains("notes.sql"), "{out}");
    std::fs::write(
        root.join(file),
        "-- migrate:up transaction:false\ncreate index concurrently if not exists orders_status on orders (status);\n-- migrate:down transaction:false\ndrop index concurrently if exists orders_status;\n",
    )
    .unwrap();
    git(root, &["add", "."]);
    run().success().stdout_has("Passed");
}
