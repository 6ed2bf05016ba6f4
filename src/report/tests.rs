//! Snapshots: a fixed sequence of events into a `Report` over in-memory writers, and the
//! whole text each stream received. Timestamps are masked as `<time>`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::error::ExitCode;
use crate::inventory::{
    Connection, ContainerRef, Host, Inventory, Jump, Method, PasswordSource, SshSettings, Target,
};
use crate::migration::Migration;
use crate::migration::directive::Selector;
use crate::plan::{State, StatusRow};
use crate::runner::fleet::{Finished, TargetResult};
use crate::runner::{Output, Plan};

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    /// What was written, with every `2024-01-02T03:04:05.678Z` replaced by `<time>`.
    fn text(&self) -> String {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        let is_time = |s: &[u8]| {
            s.len() >= 24
                && s[..24].iter().enumerate().all(|(i, &b)| match i {
                    4 | 7 => b == b'-',
                    10 => b == b'T',
                    13 | 16 => b == b':',
                    19 => b == b'.',
                    23 => b == b'Z',
                    _ => b.is_ascii_digit(),
                })
        };
        let (bytes, mut masked, mut i) = (text.as_bytes(), String::new(), 0);
        while i < bytes.len() {
            if is_time(&bytes[i..]) {
                masked.push_str("<time>");
                i += 24;
            } else {
                let c = text[i..].chars().next().unwrap();
                masked.push(c);
                i += c.len_utf8();
            }
        }
        masked
    }
}

/// A report over in-memory stdout and stderr.
fn report(format: Format) -> (Report, Buffer, Buffer) {
    let (out, err) = (Buffer::default(), Buffer::default());
    let settings = settings::Output {
        quiet: false,
        verbose: false,
        format,
        log_dir: None,
        matrix: false,
    };
    let report = Report::with_writers(settings, Box::new(out.clone()), Box::new(err.clone()));
    (report, out, err)
}

fn start(report: &Report, verb: Verb, single: bool, ids: &[String]) {
    report
        .start(RunStart {
            verb,
            dry_run: (verb == Verb::Plan).then_some(DryRun::Summary),
            single,
            ids,
            applied_by: "ci@build",
            sql: None,
        })
        .unwrap();
}

/// The text of these lines, each ended by a newline.
fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn migration(file_name: &str, up: &str) -> Migration {
    let text = format!("-- migrate:up\n{up}\n-- migrate:down\n");
    crate::migration::parse(Path::new(file_name), text.as_bytes()).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn done(output: Output, took: Duration) -> Finished<Output> {
    Finished {
        took,
        result: TargetResult::Done(output),
    }
}

fn failed(error: Error) -> Finished<Output> {
    Finished {
        took: ms(2),
        result: TargetResult::Failed(error),
    }
}

fn on(report: &Report, target: usize, event: Event<'_>) {
    report.event(RunEvent::Target { target, event });
}

fn target_finished(report: &Report, target: usize, result: Result<Output, Error>, took: Duration) {
    report.event(RunEvent::TargetFinished {
        target,
        result: &result,
        took,
    });
}

fn finish(report: &Report, ends: &[Finished<Output>], code: ExitCode) {
    report.event(RunEvent::Finished {
        ends,
        code,
        drafts: &[],
        between: None,
    });
}

/// `up` on two targets: alpha applies two files, beta cannot be reached.
fn fleet_up(report: &Report) {
    let users = migration("20240101000000_users.sql", "create table users (id int);");
    let orders = migration("20240102000000_orders.sql", "create table orders (id int);");
    start(report, Verb::Up, false, &ids(&["alpha/app", "beta/app"]));
    on(report, 0, Event::Connecting);
    on(report, 1, Event::Connecting);
    on(report, 0, Event::Connected { via: "tunnel" });
    on(
        report,
        0,
        Event::Planned {
            files: &[&users, &orders],
        },
    );
    for (index, (m, took)) in [(&users, 1500), (&orders, 20_000)].into_iter().enumerate() {
        on(
            report,
            0,
            Event::Applying {
                migration: m,
                index: index + 1,
                total: 2,
            },
        );
        on(
            report,
            0,
            Event::Applied {
                migration: m,
                took: Duration::from_micros(took),
            },
        );
    }
    target_finished(report, 0, Ok(Output::Changed), ms(30));
    let unreachable = || Error::Config("beta: cannot reach the host".into());
    target_finished(report, 1, Err(unreachable()), ms(2));
    finish(
        report,
        &[done(Output::Changed, ms(30)), failed(unreachable())],
        ExitCode::Failed,
    );
}

#[test]
fn a_fleet_up_logs_each_step_then_prints_its_table() {
    let (report, out, err) = report(Format::Text);
    fleet_up(&report);
    assert_eq!(
        out.text(),
        lines(&[
            "",
            "TARGET     RESULT       APPLIED  PENDING  FAILED     TIME  DETAIL",
            "alpha/app  ✓ ok               2        0       0     30ms",
            // Never reached: what was pending there is not known.
            "beta/app   ✗ failed           0        ?       0      2ms  cannot reach the host",
            "",
            "2 targets: 1 failed, 1 ok; 2 migrations applied · exit 2",
        ])
    );
    assert_eq!(
        err.text(),
        lines(&[
            "<time> alpha/app  connecting",
            "<time> beta/app   connecting",
            "<time> alpha/app  connected",
            "<time> alpha/app  2 pending",
            "<time> alpha/app  applying 20240101000000_users.sql (1/2)",
            "<time> alpha/app  applied 20240101000000_users.sql in 1.5ms",
            "<time> alpha/app  applying 20240102000000_orders.sql (2/2)",
            "<time> alpha/app  applied 20240102000000_orders.sql in 20ms",
            "<time> alpha/app  ✓ 2 applied in 30ms",
            "<time> beta/app   ✗ 0 applied, ? pending: cannot reach the host",
            "Error: beta: cannot reach the host",
        ])
    );
}

#[test]
fn one_database_gets_dbmates_lines() {
    let (report, out, err) = report(Format::Text);
    let users = migration("20240101000000_users.sql", "create table users (id int);");
    start(&report, Verb::Up, true, &ids(&["app"]));
    on(&report, 0, Event::Connecting);
    on(&report, 0, Event::Connected { via: "url" });
    on(&report, 0, Event::CreatingDatabase { name: "app" });
    on(&report, 0, Event::Planned { files: &[&users] });
    on(
        &report,
        0,
        Event::Applying {
            migration: &users,
            index: 1,
            total: 1,
        },
    );
    on(
        &report,
        0,
        Event::Applied {
            migration: &users,
            took: Duration::from_micros(4500),
        },
    );
    target_finished(&report, 0, Ok(Output::Changed), ms(9));
    finish(&report, &[done(Output::Changed, ms(9))], ExitCode::Ok);
    assert_eq!(
        out.text(),
        lines(&[
            "Creating: app",
            "Applying: 20240101000000_users.sql",
            "Applied: 20240101000000_users.sql in 4.5ms",
        ])
    );
    assert_eq!(err.text(), "");
}

#[test]
fn one_database_has_its_error_last_without_its_password() {
    let (report, out, err) = report(Format::Text);
    start(&report, Verb::Status, true, &ids(&["app"]));
    let refused =
        || Error::Config("cannot connect to postgres://app:secret@db:5432/app: refused".into());
    target_finished(&report, 0, Err(refused()), ms(2));
    finish(&report, &[failed(refused())], ExitCode::Failed);
    assert_eq!(out.text(), "");
    assert_eq!(
        err.text(),
        lines(&["Error: cannot connect to postgres://app:********@db:5432/app: refused",])
    );
}

fn row(version: &str, state: State) -> StatusRow {
    StatusRow {
        version: version.into(),
        file: Some(format!("{version}_x.sql")),
        checksum: Some("c".repeat(64)),
        state,
        used_by: Vec::new(),
    }
}

#[test]
fn a_fleet_status_is_a_matrix() {
    let (report, out, err) = report(Format::Text);
    start(
        &report,
        Verb::Status,
        false,
        &ids(&["a/app", "b/app", "c/app"]),
    );
    let a = || {
        Output::Status(vec![
            row("1", State::Applied),
            row("2", State::Applied),
            row("3", State::Unverified),
        ])
    };
    let b = || Output::Status(vec![row("1", State::Applied), row("2", State::Pending)]);
    let c = || Error::Config("c: cannot connect".into());
    target_finished(&report, 0, Ok(a()), ms(4));
    target_finished(&report, 1, Ok(b()), ms(4));
    target_finished(&report, 2, Err(c()), ms(4));
    finish(
        &report,
        &[done(a(), ms(4)), done(b(), ms(4)), failed(c())],
        ExitCode::Failed,
    );
    assert_eq!(
        out.text(),
        lines(&[
            "  MIGRATION  1 2 3",
            "  1_x.sql    X X -",
            "* 2_x.sql    X . -",
            "  3_x.sql    x   -",
            "",
            " 1  a/app  3 applied, 0 pending, 1 unverified",
            " 2  b/app  1 applied, 1 pending",
            " 3  c/app  unreachable: cannot connect",
            "",
            "X applied  x applied, no checksum  . pending  ! changed since applied  ? applied, no file  b below the baseline (history)  a needs adoption (hand-made history table)  - unreachable  (blank: not among the target's migrations)",
            // c/app's state is unknown: the sentence says so, and counts only a and b.
            "* the 2 targets that could be read disagree on 1 version; the state of 1 other is unknown (1 could not be read). · exit 2",
        ])
    );
    assert_eq!(err.text(), lines(&["Error: c: cannot connect",]));
}

/// Forty targets make a matrix wider than the 80 columns a pipe is given: a line per
/// migration instead; `status --matrix` keeps the matrix.
#[test]
fn a_fleet_status_wider_than_the_terminal_is_summarised_unless_matrix_is_asked() {
    let targets: Vec<String> = (0..40).map(|i| format!("h{i:02}/app")).collect();
    let status = |t: usize| {
        Output::Status(vec![
            row("1", State::Applied),
            row(
                "2",
                if t < 3 {
                    State::Pending
                } else {
                    State::Applied
                },
            ),
        ])
    };
    for matrix in [false, true] {
        let out = Buffer::default();
        let settings = settings::Output {
            format: Format::Text,
            matrix,
            ..Default::default()
        };
        let report =
            Report::with_writers(settings, Box::new(out.clone()), Box::new(Buffer::default()));
        start(&report, Verb::Status, false, &targets);
        let ends: Vec<_> = (0..40).map(|t| done(status(t), ms(1))).collect();
        finish(&report, &ends, ExitCode::Ok);
        let text = out.text();
        if matrix {
            assert!(text.starts_with("  MIGRATION   1  2  3"), "{text}");
            assert!(text.contains("* 2_x.sql     .  .  .  X"), "{text}");
        } else {
            assert!(
                text.starts_with(&lines(&[
                    "  MIGRATION  WHERE",
                    "  1_x.sql    applied on all 40",
                    "* 2_x.sql    applied on 37 of 40; pending on h00/app, h01/app, h02/app",
                ])),
                "{text}"
            );
            assert!(
                text.ends_with(
                    "40 targets: 37 up to date, 3 with migrations pending; 2 migrations · exit 0\n"
                ),
                "{text}"
            );
            assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        }
    }
}

/// A target whose history table was made by hand needs adopting: it is marked `a`, told
/// what to do, and the others' agreement is not claimed for it.
#[test]
fn a_hand_made_history_needs_adoption_and_has_no_say() {
    let (report, out, _err) = report(Format::Text);
    start(&report, Verb::Status, false, &ids(&["a/app", "b/app"]));
    let a = || Output::Status(vec![row("1", State::Applied)]);
    let b = || Error::HandMadeHistory {
        target: "b/app".into(),
        table: "public.schema_migrations".into(),
        columns: "id, filename".into(),
    };
    target_finished(&report, 0, Ok(a()), ms(4));
    target_finished(&report, 1, Err(b()), ms(4));
    finish(&report, &[done(a(), ms(4)), failed(b())], ExitCode::Refused);
    let text = out.text();
    assert!(text.contains("  1_x.sql    X a\n"), "{text}");
    assert!(
        text.contains(" 2  b/app  needs adoption: public.schema_migrations is a hand-made history table (id, filename); `pgfleet baseline --legacy-table NAME` takes it over\n"),
        "{text}"
    );
    assert!(
        text.ends_with("The 1 target that could be read agrees on every version; the state of 1 other is unknown (1 needs adoption). · exit 4\n"),
        "{text}"
    );
}

#[test]
fn a_dry_run_shows_each_targets_sql() {
    let (report, out, err) = report(Format::Text);
    start(&report, Verb::Plan, false, &ids(&["a/app", "b/app"]));
    let plan = || Plan {
        creates_database: true,
        pending: vec![
            migration("1_users.sql", "create table users (id int);"),
            migration(
                "2_orders.sql",
                "create table orders (\n  id int,\n  total int,\n  at timestamptz\n);",
            ),
        ],
        rehearsed: None,
        relations: Default::default(),
        sessions: Vec::new(),
        long_transaction_secs: 5.0,
    };
    let up_to_date = || Plan {
        creates_database: false,
        pending: Vec::new(),
        rehearsed: None,
        relations: Default::default(),
        sessions: Vec::new(),
        long_transaction_secs: 5.0,
    };
    target_finished(&report, 0, Ok(Output::Plan(plan())), ms(3));
    target_finished(&report, 1, Ok(Output::Plan(up_to_date())), ms(3));
    finish(
        &report,
        &[
            done(Output::Plan(plan()), ms(3)),
            done(Output::Plan(up_to_date()), ms(3)),
        ],
        ExitCode::Ok,
    );
    assert_eq!(
        out.text(),
        lines(&[
            "Dry run on a/app: nothing is written and no lock is taken.",
            "The database does not exist: `up` would create it.",
            "Would apply: 1_users.sql (in one transaction)",
            "    create table users (id int);",
            "    locks: create table users (id int) → ACCESS EXCLUSIVE on users",
            "Would apply: 2_orders.sql (in one transaction)",
            "    create table orders (",
            "      id int,",
            "      total int,",
            "    … (2 more lines)",
            "    locks: create table orders ( … → ACCESS EXCLUSIVE on orders",
            "Would apply 2 migrations.",
            "Dry run on b/app: nothing is written and no lock is taken.",
            "Nothing to apply: the database is up to date.",
            "",
            "1 of 2 targets would apply 2 migrations in all; nothing was kept.",
            "2 targets · exit 0",
        ])
    );
    assert_eq!(err.text(), "");
}

/// A file that says who else uses what it changes, and how to keep them safe meanwhile.
fn with_directives() -> Migration {
    let text = "-- Splits documents.classification.\n\
                -- pgfleet:used-by worker classification pipeline\n\
                -- pgfleet:stop label=app=classifier\n\
                -- pgfleet:requires classifier image=classifier:2.1\n\
                -- pgfleet:requires classifier label=schema=v7\n\
                -- pgfleet:precondition select not exists (select 1 from jobs)\n\
                -- pgfleet:quiesce classifier\n\
                -- migrate:up\nselect 1;\n-- migrate:down\n";
    crate::migration::parse(Path::new("3_split.sql"), text.as_bytes()).unwrap()
}

#[test]
fn a_dry_run_shows_each_migrations_directives() {
    let plan = || Plan {
        creates_database: false,
        pending: vec![with_directives()],
        rehearsed: None,
        relations: Default::default(),
        sessions: Vec::new(),
        long_transaction_secs: 5.0,
    };
    let (text, out, err) = report(Format::Text);
    start(&text, Verb::Plan, true, &ids(&["app"]));
    target_finished(&text, 0, Ok(Output::Plan(plan())), ms(3));
    finish(&text, &[done(Output::Plan(plan()), ms(3))], ExitCode::Ok);
    assert_eq!(
        out.text(),
        lines(&[
            "Dry run on app: nothing is written and no lock is taken.",
            "Would apply: 3_split.sql (in one transaction)",
            "    select 1;",
            "    locks: select 1 → no table lock",
            "    used by: worker (classification pipeline)",
            "    stops: label=app=classifier",
            "    requires: classifier at image=classifier:2.1",
            "    requires: classifier at label=schema=v7",
            "    precondition: select not exists (select 1 from jobs)",
            "    quiesce: classifier",
            "Would apply 1 migration.",
        ])
    );
    assert_eq!(err.text(), "");

    let (json, out, _) = report(Format::Json);
    start(&json, Verb::Plan, true, &ids(&["app"]));
    finish(&json, &[done(Output::Plan(plan()), ms(3))], ExitCode::Ok);
    let doc: serde_json::Value = serde_json::from_str(&out.text()).unwrap();
    assert_eq!(
        doc["targets"][0]["pending"][0]["directives"],
        json!([
            { "directive": "used-by", "line": 2, "selector": "worker", "note": "classification pipeline" },
            { "directive": "stop", "line": 3, "selector": "label=app=classifier" },
            { "directive": "requires", "line": 4, "selector": "classifier", "image": "classifier:2.1" },
            { "directive": "requires", "line": 5, "selector": "classifier", "label": "schema=v7" },
            { "directive": "precondition", "line": 6, "sql": "select not exists (select 1 from jobs)" },
            { "directive": "quiesce", "line": 7, "name": "classifier" },
        ])
    );
}

/// `status` says who uses a migration at the end of its row: on one database after dbmate's
/// words, on a fleet after the cells; in JSON as `used_by`, only where there is one.
#[test]
fn status_says_who_uses_each_migration() {
    let used = |version: &str, state: State| StatusRow {
        used_by: vec![
            Selector::Name("worker".into()),
            Selector::Label {
                key: "app".into(),
                value: Some("x".into()),
            },
        ],
        ..row(version, state)
    };
    let rows = || {
        Output::Status(vec![
            used("1", State::Unverified),
            used("2", State::Pending),
            row("3", State::Pending),
        ])
    };
    let (text, out, _) = report(Format::Text);
    start(&text, Verb::Status, true, &ids(&["app"]));
    finish(&text, &[done(rows(), ms(4))], ExitCode::Ok);
    assert_eq!(
        out.text(),
        lines(&[
            "[X] 1_x.sql  (unverified: applied without a checksum)  (used by worker, label=app=x)",
            "[ ] 2_x.sql  (used by worker, label=app=x)",
            "[ ] 3_x.sql",
            "",
            "Applied: 1",
            "Pending: 2",
            "Unverified: 1",
        ])
    );

    let (text, out, _) = report(Format::Text);
    start(&text, Verb::Status, false, &ids(&["a/app", "b/app"]));
    let b = || Output::Status(vec![row("1", State::Applied)]);
    finish(
        &text,
        &[done(rows(), ms(4)), done(b(), ms(4))],
        ExitCode::Ok,
    );
    let text = out.text();
    assert!(
        text.starts_with(&lines(&[
            "  MIGRATION  1 2",
            "  1_x.sql    x X  (used by worker, label=app=x)",
            "  2_x.sql    .    (used by worker, label=app=x)",
            "  3_x.sql    .",
        ])),
        "{text}"
    );

    let (json, out, _) = report(Format::Json);
    start(&json, Verb::Status, true, &ids(&["app"]));
    finish(&json, &[done(rows(), ms(4))], ExitCode::Ok);
    let doc: serde_json::Value = serde_json::from_str(&out.text()).unwrap();
    let migrations = &doc["targets"][0]["migrations"];
    assert_eq!(migrations[1]["used_by"], json!(["worker", "label=app=x"]));
    assert_eq!(migrations[2].get("used_by"), None, "{doc}");
}

#[test]
fn a_fleet_up_in_json_is_one_document() {
    let (report, out, err) = report(Format::Json);
    fleet_up(&report);
    assert_eq!(
        out.text(),
        format!(
            "{}\n",
            json!({
                "schema": 1,
                "pgfleet": env!("CARGO_PKG_VERSION"),
                "command": "up",
                "exit_code": 2,
                "finished_at": "<time>",
                "interrupted": false,
                "targets": [
                    {
                        "target": "alpha/app", "host": "alpha", "database": "app",
                        "result": "ok", "duration_ms": 30, "error": null, "skipped": null,
                        "done": ["20240101000000_users.sql", "20240102000000_orders.sql"],
                        "remaining": [], "created_database": false, "actions": [], "unknown": [],
                    },
                    {
                        "target": "beta/app", "host": "beta", "database": "app",
                        "result": "failed", "duration_ms": 2,
                        "error": { "message": "beta: cannot reach the host" },
                        "skipped": null, "done": [], "remaining": [], "created_database": false, "actions": [], "unknown": [],
                    },
                ],
            })
        )
    );
    assert_eq!(err.text(), "");
}

#[test]
fn inventory_lists_where_each_setting_landed() {
    let (report, out, err) = report(Format::Text);
    let ssh = SshSettings {
        address: "10.0.0.5".into(),
        port: Some(2222),
        user: Some("deploy".into()),
        identity_files: Vec::new(),
        identity_at: None,
        known_hosts: Vec::new(),
        jump: Some(Jump::Host("bastion".into())),
        connect_timeout: Duration::from_secs(10),
        keepalive: Duration::from_secs(15),
    };
    let target = |host: &str, name: &str| Target {
        host: host.into(),
        name: name.into(),
        container: ContainerRef::Name(format!("{name}-db")),
        database: None,
        user: None,
        password: PasswordSource::None,
        password_at: None,
        method: Method::Auto,
        migrations: PathBuf::from("./migrations"),
        port: 5432,
        drift_ignore: Vec::new(),
        tls: Default::default(),
    };
    let inventory = Inventory {
        hosts: vec![
            Host {
                name: "nas".into(),
                connection: Connection::Ssh(ssh),
                docker_socket: crate::inventory::DEFAULT_DOCKER_SOCKET.into(),
                groups: Vec::new(),
            },
            Host {
                name: "laptop".into(),
                connection: Connection::Local,
                docker_socket: "/run/user/1000/docker.sock".into(),
                groups: vec!["lab".into(), "dev".into()],
            },
        ],
        targets: vec![
            Target {
                database: Some("app".into()),
                user: Some("app".into()),
                password: PasswordSource::Env("NAS_APP_PW".into()),
                method: Method::Tunnel,
                ..target("nas", "app")
            },
            Target {
                container: ContainerRef::Label("role=db".into()),
                ..target("laptop", "app")
            },
            target("laptop", "billing"),
        ],
        skipped: Vec::new(),
    };
    let selected: Vec<&Target> = inventory.targets[..2].iter().collect();
    report.event(RunEvent::Inventory {
        targets: &selected,
        inventory: &inventory,
    });
    assert_eq!(
        out.text(),
        lines(&[
            "nas/app",
            "  connection  ssh deploy@10.0.0.5:2222 via bastion",
            "  container   app-db, port 5432",
            "  database    app",
            "  user        app",
            "  password    env NAS_APP_PW",
            "  method      tunnel",
            "  migrations  ./migrations",
            "",
            "laptop/app",
            "  connection  local docker",
            "  docker      /run/user/1000/docker.sock",
            "  groups      lab, dev",
            "  container   label role=db, port 5432",
            "  database    from the container (POSTGRES_DB, else the user)",
            "  user        from the container (POSTGRES_USER)",
            "  password    none",
            "  method      auto",
            "  migrations  ./migrations",
            "",
            "2 targets on 2 hosts (of 3 targets in the inventory)",
        ])
    );
    assert_eq!(err.text(), "");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }
    let settings = settings::Output::default();
    let report = Report::with_writers(settings, Box::new(Closed), Box::new(Closed));
    report.event(RunEvent::Created {
        path: Path::new("db/migrations/1_x.sql"),
    });
    report.fatal(Some(Verb::New), &Error::Config("no".into()));
}

#[test]
fn durations_read_like_dbmates() {
    assert_eq!(format_duration(Duration::from_micros(123)), "123µs");
    assert_eq!(format_duration(Duration::from_micros(4500)), "4.5ms");
    assert_eq!(format_duration(Duration::from_millis(1200)), "1.2s");
}
