//! `status` on more targets than a matrix fits in the terminal's width: a line per
//! migration instead, every line within `COLUMNS`; `--matrix` keeps the matrix. Over the
//! docker fleet (run under the fleet lock): forty databases on two hosts and one host that
//! cannot be reached.

use std::path::Path;

use crate::fleet::{fleet, unique_db};
use crate::harness::{self, Cmd};

const FILES: [(&str, &str); 4] = [
    (
        "20240101120000_create_the_users_table.sql",
        "-- migrate:up\ncreate table users (id int);\n-- migrate:down\ndrop table users;\n",
    ),
    (
        "20240102120000_create_the_orders_table.sql",
        "-- migrate:up\ncreate table orders (id int);\n-- migrate:down\ndrop table orders;\n",
    ),
    (
        "20240103120000_index_orders.sql",
        "-- migrate:up\ncreate index orders_id on orders (id);\n-- migrate:down\ndrop index orders_id;\n",
    ),
    (
        "20240104120000_add_the_email_column_to_users.sql",
        "-- migrate:up\nalter table users add column email text;\n-- migrate:down\nalter table users drop column email;\n",
    ),
];

/// `lab` (beta, `lab` databases), `nas` (alpha, `nas` databases) and `gone`, whose sshd
/// is not there (one database).
fn inventory(dir: &Path, db: &str, lab: usize, nas: usize) -> std::path::PathBuf {
    let fleet = fleet();
    let mut hosts = String::new();
    for (host, port, container, count) in [
        ("lab", 22202, "beta-app", lab),
        ("nas", 22201, "alpha-app", nas),
        ("gone", 22299, "gone-app", 1),
    ] {
        if count == 0 {
            continue;
        }
        hosts.push_str(&format!(
            "  {host}:\n    address: 127.0.0.1\n    port: {port}\n    databases:\n"
        ));
        for i in 0..count {
            hosts.push_str(&format!(
                "      tenant_{i:02}: {{ container: {container}, database: {db}_{i:02} }}\n"
            ));
        }
    }
    let path = dir.join("inventory.yml");
    std::fs::write(
        &path,
        format!(
            "defaults:\n  user: pgfleet\n  identity_file: {key}\n  known_hosts: {known}\n  connect_timeout: 3s\n  migrations: {migrations}\n  password: {{ container: POSTGRES_PASSWORD }}\nhosts:\n{hosts}",
            key = fleet.join("id_ed25519").display(),
            known = fleet.join("known_hosts").display(),
            migrations = dir.join("migrations").display(),
        ),
    )
    .unwrap();
    path
}

fn pgfleet(inventory: &Path, columns: &str) -> Cmd {
    Cmd::new().arg("-i").arg(inventory).env("COLUMNS", columns)
}

#[test]
fn status_on_forty_targets_fits_eighty_columns_and_matrix_keeps_the_matrix() {
    let dir = harness::tempdir();
    let inv = inventory(dir.path(), &unique_db("views"), 30, 9);
    let migrations = dir.path().join("migrations");
    harness::write_migrations(&migrations, &FILES[..3]);
    pgfleet(&inv, "80").arg("up").run().code_is(2);
    // The fourth on lab's databases but two.
    harness::write_migrations(&migrations, &FILES[3..]);
    pgfleet(&inv, "80")
        .args(["up", "--limit", "lab,!lab/tenant_28,!lab/tenant_29"])
        .run()
        .success();

    let out = pgfleet(&inv, "80").arg("status").run();
    out.code_is(2);
    for line in out.stdout.lines() {
        assert!(line.chars().count() <= 80, "{line:?} is too wide\n{out}");
    }
    let expected = "  MIGRATION                                       WHERE
  20240101120000 … 20240103120000 (3 migrations)  applied on all 39 read
* 20240104120000_add_the_email_column_to_users.sql
      applied on 28 of the 39 read; pending on lab/tenant_28, lab/tenant_29,
      nas (all 9 databases)

Not read (1 of 40 targets):
";
    assert!(out.stdout.starts_with(expected), "{out}");
    assert!(out.stdout.contains("\n    gone/tenant_00\n"), "{out}");
    assert!(
        out.stdout
            .ends_with("40 targets: 28 up to date, 11 with migrations pending, 1 not read;\n4 migrations · exit 2\n"),
        "{out}"
    );

    // Asked for, or with the width for it, the matrix: a column per target.
    for (columns, args) in [
        ("80", &["status", "--matrix"][..]),
        ("200", &["status"][..]),
    ] {
        let out = pgfleet(&inv, columns).args(args).run();
        out.code_is(2);
        let header = out.stdout.lines().next().unwrap_or_default();
        assert!(
            header.starts_with("  MIGRATION") && header.ends_with(" 39 40"),
            "{out}"
        );
        assert!(
            out.stdout.contains("\n 40  gone/tenant_00  unreachable: "),
            "{out}"
        );
    }
}

/// On a terminal: a target's count and the file its bar names agree, the fleet's bar counts
/// the time, and the target never reached has `?` pending, not 0.
#[test]
fn bars_count_files_and_time_and_an_unreached_target_has_unknown_pending() {
    let dir = harness::tempdir();
    let inv = inventory(dir.path(), &unique_db("views_bars"), 1, 0);
    let sleepy = |n: u8| {
        (
            // Short: the bar's message is what is left of the terminal's 80 columns.
            format!("{n}_step.sql"),
            format!(
                "-- migrate:up\nselect pg_sleep(0.8);\ncreate table t{n} (id int);\n-- migrate:down\ndrop table t{n};\n"
            ),
        )
    };
    let files = [sleepy(1), sleepy(2)];
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    harness::write_migrations(&dir.path().join("migrations"), &files);
    let out = Cmd::program("script")
        .args([
            "-qec",
            &format!("{} -i {} up", env!("CARGO_BIN_EXE_pgfleet"), inv.display()),
            "/dev/null",
        ])
        .env("TERM", "xterm")
        .env("COLUMNS", "80")
        .env("NO_COLOR", "1")
        .run();
    out.code_is(2)
        .stdout_has("1/2 applying 1_step.sql")
        .stdout_has("2/2 applying 2_step.sql")
        .stdout_has("✗ gone/tenant_00  0 applied, ? pending: ")
        .stdout_has("gone/tenant_00  ✗ failed           0        ?  ");
    // The fleet's bar while lab runs, more than a second in (not the 0s it showed).
    assert!(
        out.stdout.contains("targets   1s") || out.stdout.contains("targets   2s"),
        "{out}"
    );
    assert!(!out.stdout.contains("0/2 applying"), "{out}");
}
