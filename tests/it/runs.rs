//! Fleet runs as a user watches and scripts them: parallel targets, canaries, --fail-fast,
//! Ctrl-C, dry runs and rehearsals, JSON and the audit log. On the local PostgreSQL (by
//! URL) and on the local fleet (over SSH).

use crate::harness::by_url;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fleet::{exec_inventory, fleet, inventory_with, unique_db};
use crate::harness::{self, Cmd};

const ONE: (&str, &str) = (
    "001_one.sql",
    "-- migrate:up\ncreate table one (id int primary key);\n-- migrate:down\ndrop table one;\n",
);
const SLOW: (&str, &str) = (
    "002_slow.sql",
    "-- migrate:up\ncreate table slow (id int);\nselect pg_sleep(1.5);\n-- migrate:down\ndrop table slow;\n",
);
const THREE: (&str, &str) = (
    "003_three.sql",
    "-- migrate:up\ncreate table three (id int);\n-- migrate:down\ndrop table three;\n",
);

/// The versions recorded in `db` on fleet container `container` (none without the table).
fn versions_in(container: &str, db: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "exec", container, "psql", "-U", "postgres", "-XAtq", "-d", db, "-c",
        ])
        .arg("select version from schema_migrations order by version")
        .output()
        .expect("docker exec psql");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn lines_json(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn ctrl_c_lets_the_running_migration_finish_and_starts_nothing_new() {
    let db = harness::fresh_db("runs_sigint");
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[ONE, SLOW, THREE]);
    let out = by_url(&db, dir.path())
        .arg("up")
        .interrupt_when("Applying: 002_slow.sql", 1)
        .run();
    out.code_is(130)
        .stderr_has("Interrupted: starting nothing new; running migrations finish or roll back")
        .stdout_has("Applied: 002_slow.sql in ")
        .stderr_has("interrupted before 003_three.sql; it and the ones after it did not run");
    assert!(!out.stdout.contains("Applying: 003"), "{out}");
    let applied: Vec<String> = db
        .query("select version from schema_migrations order by 1")
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    assert_eq!(applied, ["001", "002"]);
    // The run lock went with the process: the next run finishes the job.
    by_url(&db, dir.path())
        .arg("up")
        .run()
        .success()
        .stdout_has("Applied: 003_three.sql");
}

#[test]
fn a_second_ctrl_c_exits_at_once_leaving_the_database_before_or_after() {
    let db = harness::fresh_db("runs_sigint2");
    let dir = harness::tempdir();
    let slower = (
        "002_slow.sql",
        "-- migrate:up\ncreate table slow (id int);\nselect pg_sleep(6);\n-- migrate:down\ndrop table slow;\n",
    );
    harness::write_migrations(dir.path(), &[ONE, slower]);
    let started = std::time::Instant::now();
    let out = by_url(&db, dir.path())
        .arg("up")
        .interrupt_when("Applying: 002_slow.sql", 2)
        .run();
    out.code_is(130).stderr_has("Aborted: ");
    // Well before the 6 s migration could end, with room for a loaded machine's start-up
    // (counted from the start of the process, not from the interrupt).
    assert!(
        started.elapsed() < std::time::Duration::from_millis(5000),
        "did not exit before the migration ended\n{out}"
    );
    // Whatever the server did with the migration it had received, the table and its
    // tracking row agree once it is done.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.scalar("select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()") != Some("0".into())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let table = db.scalar("select to_regclass('slow') is not null");
    let row = db.scalar("select count(*) = 1 from schema_migrations where version = '002'");
    assert_eq!(table, row, "the table and its tracking row disagree");
}

/// 002's down section sleeps `secs`.
fn slow_down(secs: &str) -> (&'static str, String) {
    (
        "002_slow.sql",
        format!(
            "-- migrate:up\ncreate table slow (id int);\n-- migrate:down\ndrop table slow;\nselect pg_sleep({secs});\n"
        ),
    )
}

fn versions(db: &harness::TestDb) -> Vec<String> {
    db.query("select version from schema_migrations order by 1")
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

#[test]
fn ctrl_c_during_a_rollback_batch_lets_the_running_one_finish_and_starts_nothing_new() {
    let db = harness::fresh_db("runs_rollback_sigint");
    let dir = harness::tempdir();
    let slow = slow_down("2");
    harness::write_migrations(dir.path(), &[ONE, (slow.0, &slow.1), THREE]);
    by_url(&db, dir.path()).arg("up").run().success();
    let out = by_url(&db, dir.path())
        .args(["rollback", "--to", "0"])
        .interrupt_when("Rolling back: 002_slow.sql", 1)
        .run();
    out.code_is(130)
        .stderr_has("Interrupted: starting nothing new; running migrations finish or roll back")
        .stdout_has("Rolled back: 003_three.sql in ")
        .stdout_has("Rolled back: 002_slow.sql in ")
        .stderr_has("interrupted before 001_one.sql; it and the ones after it did not run");
    assert!(!out.stdout.contains("Rolling back: 001"), "{out}");
    assert_eq!(versions(&db), ["001"]);
    assert_eq!(
        db.scalar("select to_regclass('one') is not null")
            .as_deref(),
        Some("t")
    );
    // `status` says what the report said.
    by_url(&db, dir.path())
        .arg("status")
        .run()
        .stdout_has("[X] 001_one.sql\n[ ] 002_slow.sql\n[ ] 003_three.sql\n");
}

#[test]
fn a_second_ctrl_c_during_a_rollback_batch_exits_at_once_and_the_rest_stays_applied() {
    let db = harness::fresh_db("runs_rollback_sigint2");
    let dir = harness::tempdir();
    let slow = slow_down("6");
    harness::write_migrations(dir.path(), &[ONE, (slow.0, &slow.1), THREE]);
    by_url(&db, dir.path()).arg("up").run().success();
    let started = std::time::Instant::now();
    let out = by_url(&db, dir.path())
        .args(["rollback", "--to", "0"])
        .interrupt_when("Rolling back: 002_slow.sql", 2)
        .run();
    out.code_is(130).stderr_has("Aborted: ");
    // Well before the 6 s migration could end, with room for a loaded machine's start-up
    // (counted from the start of the process, not from the interrupt).
    assert!(
        started.elapsed() < std::time::Duration::from_millis(5000),
        "did not exit before the migration ended\n{out}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.scalar("select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()") != Some("0".into())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The one in flight is one message the server had whole: it finished or rolled back
    // by itself (whether the server noticed the session gone before its COMMIT), so its
    // table and row agree. Nothing after it ran (the stop lock, then the lease, refuse it).
    let versions = versions(&db);
    assert_eq!(versions[0], "001", "{out}");
    let table = db.scalar("select to_regclass('slow') is not null");
    let row = if versions.len() == 2 { "t" } else { "f" };
    assert_eq!(
        table.as_deref(),
        Some(row),
        "the table and its tracking row disagree"
    );
}

#[test]
fn an_interrupted_fleet_reports_each_target_in_json() {
    let dir = harness::tempdir();
    let inv = exec_inventory(dir.path(), "runs_fleet_sigint", &[ONE, SLOW, THREE]);
    let out = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["up", "--limit", "beta,gamma", "--format", "json-lines"])
        .interrupt_when("\"event\":\"applying\",\"file\":\"002_slow.sql\"", 1)
        .run();
    out.code_is(130)
        .stderr_has("Interrupted: starting nothing new");
    let lines = lines_json(&out.stdout);
    let doc = lines.last().unwrap();
    assert_eq!(doc["exit_code"], 130);
    assert_eq!(doc["interrupted"], true);
    let targets = doc["targets"].as_array().unwrap();
    for t in targets {
        // Each target stopped before 003: between migrations, or (a slow one, under load)
        // before its plan was known, with nothing listed as remaining.
        assert_eq!(t["result"], "interrupted", "{t}\n{out}");
        assert!(
            !t["done"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("003_three.sql")),
            "{t}"
        );
        if let Some(last) = t["remaining"].as_array().unwrap().last() {
            assert_eq!(last, "003_three.sql", "{t}");
        }
    }
    // Ctrl-C came mid-batch: one target had 001 committed. The `applying` of 002 it
    // waited for is sent as 001 commits, before 002's guard has run; so that target either
    // finished 002, or (psql in its container kept off the CPU until the stop lock was
    // taken, as seen under load) its guard refused it. Either way, what each target
    // reports applied is what its database holds.
    assert!(
        targets.iter().any(|t| t["done"][0] == "001_one.sql"),
        "{out}"
    );
    let name = lines
        .iter()
        .find_map(|l| {
            l["name"]
                .as_str()
                .filter(|_| l["event"] == "creating_database")
        })
        .unwrap_or_else(|| panic!("no database created\n{out}"));
    for t in targets {
        let reported: Vec<String> = t["done"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().split('_').next().unwrap().to_string())
            .collect();
        let host = t["host"].as_str().unwrap();
        assert_eq!(
            versions_in(&format!("{host}-app"), name),
            reported,
            "{t}\n{out}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l["event"] == "applying" && l["file"] == "003_three.sql"),
        "{out}"
    );
}

#[test]
fn targets_run_in_parallel_up_to_the_limit() {
    let dir = harness::tempdir();
    let inv = exec_inventory(dir.path(), "runs_parallel", &[SLOW]);
    let events = |parallel: &str| {
        let out = Cmd::new()
            .arg("-i")
            .arg(&inv)
            .args(["up", "--format", "json-lines", "--parallel", parallel])
            .run();
        out.success();
        lines_json(&out.stdout)
            .into_iter()
            .filter_map(|l| {
                Some(format!(
                    "{} {}",
                    l["event"].as_str()?,
                    l["target"].as_str()?
                ))
            })
            .collect::<Vec<String>>()
    };
    // Four targets at once: every one is applying before the first finishes.
    let all = events("4");
    let first_done = all.iter().position(|e| e.starts_with("applied ")).unwrap();
    assert_eq!(
        all[..first_done]
            .iter()
            .filter(|e| e.starts_with("applying "))
            .count(),
        4,
        "{all:#?}"
    );
    // One at a time: a target is done before the next one connects.
    let dir2 = harness::tempdir();
    let inv2 = exec_inventory(dir2.path(), "runs_serial", &[SLOW]);
    let out = Cmd::new()
        .arg("-i")
        .arg(&inv2)
        .args(["up", "--format", "json-lines", "--parallel", "1"])
        .run();
    out.success();
    let order: Vec<String> = lines_json(&out.stdout)
        .into_iter()
        .filter(|l| l["event"] == "connecting" || l["event"] == "applied")
        .map(|l| {
            format!(
                "{} {}",
                l["event"].as_str().unwrap(),
                l["target"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "connecting alpha/app",
            "applied alpha/app",
            "connecting alpha/billing",
            "applied alpha/billing",
            "connecting beta/app",
            "applied beta/app",
            "connecting gamma/app",
            "applied gamma/app",
        ]
    );
}

/// An inventory whose first target (host `aaa`) cannot be reached: its container is missing.
fn with_a_broken_first_target(dir: &Path, hint: &str) -> PathBuf {
    let migrations = dir.join("migrations");
    harness::write_migrations(&migrations, &[ONE]);
    let first = "  aaa:\n    address: 127.0.0.1\n    port: 22201\n    databases:\n      app:\n        container: no-such-container\n";
    let inv = inventory_with(
        dir,
        &unique_db(hint),
        &fleet().join("known_hosts"),
        "",
        "exec",
        &migrations,
    );
    // Targets run in inventory order: aaa goes first.
    let text = std::fs::read_to_string(&inv).unwrap();
    std::fs::write(
        &inv,
        text.replacen("hosts:\n", &format!("hosts:\n{first}"), 1),
    )
    .unwrap();
    inv
}

#[test]
fn a_failed_canary_keeps_the_rest_of_the_fleet_untouched() {
    let dir = harness::tempdir();
    let inv = with_a_broken_first_target(dir.path(), "runs_canary");
    let out = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["up", "--canary", "1"])
        .run();
    out.code_is(2)
        .stderr_has("no container no-such-container")
        .stdout_has("5 targets: 1 failed, 4 skipped; 0 migrations applied · exit 2");
    assert!(
        out.stdout_line("beta/app ")
            .ends_with("a canary target failed"),
        "{out}"
    );
    // With the canary healthy (the broken host left out), the rest follow it.
    let doc = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["up", "--canary", "1", "--limit", "!aaa", "--format", "json"])
        .run()
        .json();
    assert_eq!(doc["exit_code"], 0, "{doc}");
    assert!(
        doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["result"] == "ok"),
        "{doc}"
    );
}

#[test]
fn fail_fast_starts_nothing_after_the_first_failure() {
    let dir = harness::tempdir();
    let inv = with_a_broken_first_target(dir.path(), "runs_failfast");
    let doc = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["up", "--fail-fast", "--parallel", "1", "--format", "json"])
        .run()
        .json();
    assert_eq!(doc["exit_code"], 2);
    let results: Vec<(&str, &str)> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["result"].as_str().unwrap(),
                t["skipped"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("failed", ""),
            ("skipped", "fail_fast"),
            ("skipped", "fail_fast"),
            ("skipped", "fail_fast"),
            ("skipped", "fail_fast"),
        ]
    );
    // Without it, one failure leaves the others to run.
    let doc = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["up", "--format", "json"])
        .run()
        .json();
    let ok = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["result"] == "ok")
        .count();
    assert_eq!(ok, 4, "{doc}");
}

#[test]
fn a_rehearsal_that_fails_points_at_the_line_and_keeps_nothing() {
    let db = harness::fresh_db("runs_rehearse");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[
            ONE,
            (
                "002_bad.sql",
                "-- migrate:up\ninsert into one values (1);\ninsert into missing values (1);\n-- migrate:down\n",
            ),
        ],
    );
    let out = by_url(&db, dir.path())
        .args(["up", "--dry-run=rehearse"])
        .run();
    out.code_is(2)
        .stderr_has("002_bad.sql:3:13")
        .stderr_has("relation \"missing\" does not exist");
    // 001 ran inside the rehearsal and was rolled back with it.
    assert_eq!(
        db.scalar("select to_regclass('one') is null"),
        Some("t".into())
    );
    assert_eq!(
        db.scalar("select to_regclass('schema_migrations') is null"),
        Some("t".into())
    );

    harness::write_migrations(
        dir.path(),
        &[(
            "002_bad.sql",
            "-- migrate:up\ninsert into one values (1);\n-- migrate:down\n",
        )],
    );
    let doc = by_url(&db, dir.path())
        .args(["plan", "--rehearse", "--format", "json"])
        .run()
        .json();
    assert_eq!(doc["command"], "plan");
    assert_eq!(doc["mode"], "rehearse");
    let target = &doc["targets"][0];
    assert_eq!(target["result"], "ok");
    assert_eq!(target["pending"][1]["file"], "002_bad.sql");
    assert_eq!(target["pending"][1]["rehearsed"], true);
    assert!(target["rehearsal_ms"].is_number());
    assert_eq!(
        db.scalar("select to_regclass('one') is null"),
        Some("t".into())
    );
}

#[test]
fn a_summary_dry_run_previews_each_migration() {
    let db = harness::fresh_db("runs_summary");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "001_long.sql",
            "-- migrate:up\ncreate table a (id int);\ncreate table b (id int);\ncreate table c (id int);\ncreate table d (id int);\ncreate table e (id int);\n-- migrate:down\n",
        )],
    );
    let out = by_url(&db, dir.path())
        .args(["up", "--dry-run=summary"])
        .run();
    out.success()
        .stdout_has("Would apply: 001_long.sql (in one transaction)\n    create table a (id int);\n    create table b (id int);\n    create table c (id int);\n    … (2 more lines)\n")
        .stdout_has("Would apply 1 migration.");
    let doc = by_url(&db, dir.path())
        .args(["plan", "--format", "json"])
        .run()
        .json();
    assert_eq!(doc["mode"], "full");
    assert!(
        doc["targets"][0]["pending"][0]["sql"]
            .as_str()
            .unwrap()
            .contains("create table e (id int);")
    );
    assert_eq!(
        db.scalar("select to_regclass('a') is null"),
        Some("t".into())
    );
}

#[test]
fn the_log_dir_keeps_an_audit_trail_without_secrets() {
    let db = harness::fresh_db("runs_audit");
    let dir = harness::tempdir();
    let logs = dir.path().join("logs");
    harness::write_migrations(&dir.path().join("m"), &[ONE]);
    by_url(&db, &dir.path().join("m"))
        .arg("--log-dir")
        .arg(&logs)
        .arg("up")
        .run()
        .success();
    harness::write_migrations(
        &dir.path().join("m"),
        &[(
            "002_bad.sql",
            "-- migrate:up\nselect nope;\n-- migrate:down\n",
        )],
    );
    by_url(&db, &dir.path().join("m"))
        .arg("up")
        .env("PGFLEET_LOG_DIR", &logs)
        .run()
        .code_is(2);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "one file per run: {files:?}");
    let first = std::fs::read_to_string(&files[0]).unwrap();
    let second = std::fs::read_to_string(&files[1]).unwrap();
    let checksum = pgfleet::migration::load_dir(&dir.path().join("m")).unwrap()[0]
        .checksum
        .clone();
    for needle in [
        "event=run_start command=up ",
        " by=",
        "event=applied file=001_one.sql version=001 ",
        &format!("checksum={checksum} duration_ms="),
        "event=target_end outcome=ok done=1 ",
        "event=run_end exit_code=0 ok=1 failed=0 skipped=0",
    ] {
        assert!(first.contains(needle), "{needle:?} missing from\n{first}");
    }
    // Whole milliseconds, as docs/json.md has them in the JSON document.
    for value in first.split("duration_ms=").skip(1) {
        let value = value.split_whitespace().next().unwrap_or_default();
        assert!(
            !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
            "duration_ms={value}\n{first}"
        );
    }
    assert!(
        second.contains("event=target_end outcome=failed done=0 "),
        "{second}"
    );
    assert!(second.contains("002_bad.sql:2:8"), "{second}");
    assert!(second.contains("event=run_end exit_code=2 "), "{second}");
    for log in [&first, &second] {
        assert!(
            !log.contains(harness::server().password().unwrap()),
            "{log}"
        );
    }
}

/// Runs pgfleet under a pseudo-terminal (`script`), as a user at a terminal would.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> crate::harness::Output {
    let mut cmd = Cmd::program("script").args([
        "-qec",
        &format!("{} {args}", env!("CARGO_BIN_EXE_pgfleet")),
        "/dev/null",
    ]);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.env("TERM", "xterm").run()
}

#[test]
fn a_terminal_gets_bars_and_no_color_turns_the_colors_off() {
    let dir = harness::tempdir();
    let inv = exec_inventory(dir.path(), "runs_tty", &[ONE]);
    let args = format!("-i {} up --limit beta", inv.display());
    let out = on_a_terminal(&args, &[]);
    out.success()
        .stdout_has("connecting")
        .stdout_has("\x1b[2K") // bars redrawn in place
        .stdout_has("\x1b[32m") // ✓ in green
        .stdout_has("beta/app  1 applied in ");
    assert!(
        !out.stdout.contains("Z beta/app"),
        "no timestamped lines on a terminal\n{out}"
    );

    let dir = harness::tempdir();
    let inv = exec_inventory(dir.path(), "runs_tty_nocolor", &[ONE]);
    let args = format!("-i {} up --limit beta", inv.display());
    let out = on_a_terminal(&args, &[("NO_COLOR", "1")]);
    out.success().stdout_has("beta/app  1 applied in ");
    assert!(!out.stdout.contains("\x1b[32m"), "{out}");
    assert!(!out.stdout.contains("\x1b[36m"), "{out}");
}

#[test]
fn quiet_prints_only_errors_and_verbose_says_how_each_target_was_reached() {
    let dir = harness::tempdir();
    let inv = exec_inventory(dir.path(), "runs_quiet", &[ONE]);
    let out = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["up", "--limit", "beta", "-q"])
        .run();
    out.success();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "", "{out}");
    harness::write_migrations(&dir.path().join("migrations"), &[THREE]);
    let out = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["status", "--limit", "beta", "--quiet"])
        .run();
    out.code_is(1);
    assert_eq!(out.stdout, "", "{out}");
    let out = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["up", "--limit", "gamma", "--verbose"])
        .run();
    out.success()
        .stderr_has("connected: gamma/app (exec)")
        .stderr_has("2 pending")
        .stderr_has("applied 001_one.sql in ");
    // Read-only commands keep stderr for errors unless asked.
    let out = Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["status", "--limit", "gamma"])
        .run();
    out.success();
    assert_eq!(out.stderr, "", "{out}");
}

/// Under `--format json`, a run that fails before any target (bad flags, a bad URL, a
/// broken migration file, no inventory) is still one document, with the error and exit 3.
#[test]
fn failures_before_any_target_are_json_documents_too() {
    let dir = harness::tempdir();
    harness::write_migrations(dir.path(), &[("001_bad.sql", "create table x (id int);\n")]);
    let cases: [Vec<&str>; 4] = [
        vec!["--format", "json", "up", "--no-such-flag"],
        vec![
            "--format=json",
            "status",
            "--url",
            "postgres://u@127.0.0.1:5432x/db",
        ],
        vec![
            "--format",
            "json-lines",
            "-i",
            "no/such/inventory",
            "status",
        ],
        vec![
            "--format",
            "json",
            "--url",
            "postgres://u@127.0.0.1:1/db",
            "-d",
        ],
    ];
    for (k, args) in cases.iter().enumerate() {
        let mut cmd = Cmd::new().args(args);
        if k == 3 {
            cmd = cmd.arg(dir.path()).arg("up");
        }
        let out = cmd.run();
        out.code_is(3);
        let doc = out.json();
        assert_eq!(doc["schema"], 1, "{out}");
        assert_eq!(doc["exit_code"], 3, "{out}");
        assert_eq!(doc["targets"], Value::Array(Vec::new()), "{out}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{out}"
        );
    }
}
