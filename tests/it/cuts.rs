//! The connection cut for real, mid-batch: the sshd process serving pgfleet's SSH
//! connection is killed (SIGKILL) while a long pipelined batch runs, through both methods.
//! What pgfleet reports must not claim more than the database holds, what runs on after
//! pgfleet is gone is bounded (the lease: within a migration or two, not the rest of the
//! batch), every migration is all or nothing with its row, and a re-run completes.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::fleet::{fleet, inventory_with, unique_db};
use crate::harness::{self, Cmd};

const FILES: usize = 40;

fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("docker")
        .args([
            "exec",
            "alpha-app",
            "psql",
            "-U",
            "postgres",
            "-XAtq",
            "-d",
            db,
            "-c",
            sql,
        ])
        .output()
        .expect("docker exec psql");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn applied(db: &str) -> usize {
    psql(
        db,
        "select count(*) from schema_migrations where to_regclass('schema_migrations') is not null",
    )
    .parse()
    .unwrap_or(0)
}

/// The pids of the processes holding the other end of `pid`'s TCP connections to `port`.
pub(crate) fn peers(pid: u32, port: u16) -> Vec<u32> {
    let out = Command::new("ss").args(["-Htnp"]).output().expect("ss");
    let text = String::from_utf8_lossy(&out.stdout);
    let local_ports: Vec<String> = text
        .lines()
        .filter(|l| l.contains(&format!("pid={pid},")))
        .filter(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|p| p.ends_with(&format!(":{port}")))
        })
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)
                .and_then(|a| a.rsplit(':').next())
                .map(String::from)
        })
        .collect();
    text.lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(3)
                .is_some_and(|a| a.ends_with(&format!(":{port}")))
                && l.split_whitespace()
                    .nth(4)
                    .is_some_and(|p| local_ports.iter().any(|lp| p.ends_with(&format!(":{lp}"))))
        })
        .flat_map(|l| {
            l.split("pid=")
                .skip(1)
                .filter_map(|p| p.split(',').next().and_then(|n| n.parse().ok()))
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn cut_mid_batch(method: &str, format: &str) {
    let dir = harness::tempdir();
    let migrations = dir.path().join("migrations");
    let files: Vec<(String, String)> = (1..=FILES)
        .map(|k| {
            (
                format!("{:03}_t{k:03}.sql", k),
                format!(
                    "-- migrate:up\ncreate table t{k:03} (id int);\nselect pg_sleep(0.15);\n-- migrate:down\ndrop table t{k:03};\n"
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    harness::write_migrations(&migrations, &refs);
    let db = unique_db(&format!("cut_{method}"));
    let inv = inventory_with(
        dir.path(),
        &db,
        &fleet().join("known_hosts"),
        "",
        method,
        &migrations,
    );

    let child = Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "alpha/app", "--format", format, "up"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start pgfleet");
    let started = Instant::now();
    while applied(&db) < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the batch never got going"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sshd = peers(child.id(), 22201);
    assert!(!sshd.is_empty(), "no sshd process found serving pgfleet");
    for pid in &sshd {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let out = child.wait_with_output().expect("pgfleet ends");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let (reported, message) = if format == "json" {
        let doc: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        let reported = doc["targets"][0]["done"].as_array().map_or(0, Vec::len);
        let unknown = doc["targets"][0]["unknown"].as_array().map_or(0, Vec::len);
        assert_eq!(
            reported + unknown,
            FILES,
            "every planned file is either confirmed or unknown\n{doc}"
        );
        let message = doc["targets"][0]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (reported, message)
    } else {
        // The text report names the unconfirmed files, the last one of the batch included.
        let unknown = stdout
            .lines()
            .find(|l| l.starts_with("Unknown on alpha/app"))
            .unwrap_or_else(|| panic!("no Unknown line\n{stdout}\n{stderr}"));
        assert!(
            unknown.contains(&format!("{FILES:03}_t{FILES:03}.sql")),
            "{unknown}"
        );
        // The footer counts what was confirmed: "… failed; 5 migrations applied · exit 2".
        // Read from the footer: a detail may say "the migration" too.
        let footer = stdout
            .lines()
            .find(|l| l.contains(" applied · exit"))
            .unwrap_or_default();
        let reported: usize = footer
            .split(" migration")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of applied migrations\n{stdout}"));
        let first = reported + 1;
        assert!(
            unknown.contains(&format!(": {first:03}_t{first:03}.sql, ")),
            "the unknown files start after the confirmed ones\n{stdout}"
        );
        (reported, stderr.clone())
    };
    // What psql or the server's input buffer still held has had time to run.
    std::thread::sleep(Duration::from_secs(3));
    let in_db = applied(&db);
    let tables: usize = psql(
        &db,
        "select count(*) from pg_tables where tablename ~ '^t[0-9]+$'",
    )
    .parse()
    .unwrap_or(0);
    assert_eq!(
        tables, in_db,
        "a migration without its row, or the reverse\n{stdout}"
    );
    assert!(
        in_db >= reported && in_db <= reported + 2,
        "reported {reported} applied, the database has {in_db} (bounded by the lease to the one in flight and one more)\n{stdout}"
    );
    assert!(
        in_db < FILES,
        "the whole batch ran on after pgfleet was gone\n{stdout}"
    );
    assert!(
        !message.contains("nothing of it was kept") && message.contains("pgfleet status"),
        "the report claims more than it knows: {message}"
    );
    Cmd::new()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "alpha/app", "up"])
        .timeout(Duration::from_secs(60))
        .run()
        .success();
    assert_eq!(applied(&db), FILES);
    psql(
        "postgres",
        &format!("drop database if exists \"{db}\" with (force)"),
    );
}

#[test]
fn a_cut_tunnel_reports_no_more_than_the_database_holds() {
    cut_mid_batch("tunnel", "json");
}

#[test]
fn a_cut_exec_batch_stops_within_a_migration_of_the_cut() {
    cut_mid_batch("exec", "json");
}

#[test]
fn a_cut_text_report_names_the_files_it_cannot_confirm() {
    cut_mid_batch("exec", "text");
}

/// What a rollback is cut by: the sshd serving pgfleet (the connection drops; pgfleet
/// reports), or pgfleet itself, SIGKILLed mid-batch.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    Connection,
    Pgfleet,
}

/// `rollback --to 0` of FILES applied migrations, each down sleeping a little, cut while
/// the one batch runs: what runs on after the cut is bounded by the lease, each migration
/// is reverted with its rows or not at all, the report (when pgfleet lives to give one)
/// claims no more than the database holds, `status` agrees with the database, and a
/// re-run completes.
fn cut_mid_rollback(method: &str, cut: Cut) {
    let dir = harness::tempdir();
    let migrations = dir.path().join("migrations");
    let files: Vec<(String, String)> = (1..=FILES)
        .map(|k| {
            (
                format!("{:03}_t{k:03}.sql", k),
                format!(
                    "-- migrate:up\ncreate table t{k:03} (id int);\n-- migrate:down\ndrop table t{k:03};\nselect pg_sleep(0.15);\n"
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    harness::write_migrations(&migrations, &refs);
    let db = unique_db(&format!("cut_rollback_{method}"));
    let inv = inventory_with(
        dir.path(),
        &db,
        &fleet().join("known_hosts"),
        "",
        method,
        &migrations,
    );
    let pgfleet = |args: &[&str]| {
        Cmd::new()
            .arg("-i")
            .arg(&inv)
            .args(["--limit", "alpha/app"])
            .args(args)
            .timeout(Duration::from_secs(60))
            .run()
    };
    pgfleet(&["up"]).success();
    assert_eq!(applied(&db), FILES);

    let mut child = Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .arg("-i")
        .arg(&inv)
        .args([
            "--limit",
            "alpha/app",
            "--format",
            "json",
            "rollback",
            "--to",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start pgfleet");
    let started = Instant::now();
    while applied(&db) > FILES - 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the batch never got going"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reverted by the time of the cut, at least: what pgfleet could have heard of.
    let reported = match cut {
        Cut::Connection => {
            let sshd = peers(child.id(), 22201);
            assert!(!sshd.is_empty(), "no sshd process found serving pgfleet");
            for pid in &sshd {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            let out = child.wait_with_output().expect("pgfleet ends");
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let doc: serde_json::Value =
                serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
            let target = &doc["targets"][0];
            let done = target["done"].as_array().map_or(0, Vec::len);
            let unknown = target["unknown"].as_array().map_or(0, Vec::len);
            assert_eq!(
                done + unknown,
                FILES,
                "every planned file is either confirmed or unknown\n{doc}"
            );
            let message = target["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.contains("nothing of it was kept") && message.contains("pgfleet status"),
                "the report claims more than it knows: {message}"
            );
            done
        }
        Cut::Pgfleet => {
            let reverted = FILES - applied(&db);
            child.kill().expect("SIGKILL pgfleet");
            child.wait().expect("pgfleet ends");
            reverted
        }
    };
    // What psql or the server's input buffer still held has had time to run.
    std::thread::sleep(Duration::from_secs(3));
    // Rows and tables in one snapshot, so a batch still running cannot make them differ.
    let both = psql(
        &db,
        "select count(*), (select count(*) from pg_tables where tablename ~ '^t[0-9]+$') from schema_migrations",
    );
    let (rows, tables) = both
        .split_once('|')
        .and_then(|(r, t)| Some((r.parse::<usize>().ok()?, t.parse::<usize>().ok()?)))
        .unwrap_or_else(|| panic!("{both}"));
    assert_eq!(
        tables, rows,
        "a migration reverted without its rows, or the reverse"
    );
    let reverted = FILES - rows;
    assert!(
        reverted >= reported && reverted <= reported + 3,
        "{reported} reverted at the cut, the database has {reverted} reverted (bounded by the lease to the one in flight and one more, and one that committed as the cut came)"
    );
    assert!(
        reverted < FILES,
        "the whole batch ran on after pgfleet was gone"
    );
    // `status` says what the database holds.
    let status = pgfleet(&["--format", "json", "status"]);
    let doc = status.json();
    let listed = doc["targets"][0]["migrations"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .filter(|m| m["state"] == "applied")
        .count();
    assert_eq!(listed, FILES - reverted, "{doc}");
    pgfleet(&["rollback", "--to", "0"]).success();
    assert_eq!(applied(&db), 0);
    psql(
        "postgres",
        &format!("drop database if exists \"{db}\" with (force)"),
    );
}

#[test]
fn a_cut_tunnel_rollback_reports_no_more_than_the_database_holds() {
    cut_mid_rollback("tunnel", Cut::Connection);
}

#[test]
fn a_cut_exec_rollback_stops_within_a_migration_of_the_cut() {
    cut_mid_rollback("exec", Cut::Connection);
}

#[test]
fn a_killed_pgfleet_rollback_stops_within_a_migration_through_exec() {
    cut_mid_rollback("exec", Cut::Pgfleet);
}
