//! The secret sweep: every command, on its success and failure paths, in every output
//! form (text, `-v`, JSON, JSON lines, the audit log), with a password placed in each
//! place a password can come from — URL userinfo, `?password=`, `DATABASE_URL`, `.env`,
//! `PGPASSWORD`, `~/.pgpass`, and the inventory's `env`, `file` and `container` sources —
//! and the password must
//! appear nowhere: not in stdout, stderr, nor the audit log.

use std::path::Path;

use crate::harness::{self, Cmd, Output};

/// A password nobody else writes, for the paths that fail before any server checks it.
const SECRET: &str = "Sw33p-S3cr3t";

/// The commands that take a database, with what keeps each from waiting long.
const COMMANDS: [&[&str]; 9] = [
    &["status"],
    &["up"],
    &["plan"],
    &["plan", "--rehearse"],
    &["rollback"],
    &["verify"],
    &["dump"],
    &["drift"],
    &["baseline"],
];

/// How the output is asked for.
const FORMS: [&[&str]; 4] = [
    &[],
    &["-v"],
    &["--format", "json"],
    &["--format", "json-lines"],
];

/// Runs `cmd` with an audit log in a folder of its own and fails, naming the output, if
/// `secret` shows anywhere.
fn swept(cmd: Cmd, secret: &str) -> Output {
    let logs = harness::tempdir();
    let out = cmd.arg("--log-dir").arg(logs.path()).run();
    out.never_prints(secret);
    for entry in std::fs::read_dir(logs.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(secret),
            "the audit log {} holds the password\n{text}\n{out}",
            path.display()
        );
    }
    out
}

fn migrations(dir: &Path) -> std::path::PathBuf {
    let folder = dir.join("migrations");
    harness::write_migrations(
        &folder,
        &[(
            "20260101000000_t.sql",
            "-- migrate:up\ncreate table swept (id int);\n-- migrate:down\ndrop table swept;\n",
        )],
    );
    folder
}

/// URLs that fail: before parsing (a bad port, an unencoded `#`, `/`, space or quote in the
/// password),
/// at an option pgfleet refuses, or at connecting (nothing listens on port 1) — given by
/// flag, by `DATABASE_URL`, by `.env`, and as `--shadow-url`.
#[test]
fn no_failure_path_prints_the_password() {
    let dir = harness::tempdir();
    let folder = migrations(dir.path());
    let urls = [
        format!("postgres://app:{SECRET}@127.0.0.1:99999/x"),
        // A space or a quote left unencoded cuts the URL's shape short: the password as
        // given is hidden all the same.
        format!("postgres://app:my {SECRET}@127.0.0.1:99999/x"),
        format!("postgres://app:a\",{SECRET}@127.0.0.1:99999/x"),
        format!("postgres://app:{SECRET}@127.0.0.1:5432x/x"),
        format!("postgres://app:se#cr/{SECRET}@127.0.0.1:1/x"),
        format!("postgres://app:{SECRET}@127.0.0.1:1/x?sslmode=disable"),
        format!("postgres://app@127.0.0.1:1/x?sslmode=disable&password={SECRET}"),
        format!("postgres://app:{SECRET}@127.0.0.1:1/x?sslmode=verify-full"),
    ];
    for url in &urls {
        for command in COMMANDS {
            for form in FORMS {
                let by_flag = Cmd::new()
                    .args(["--url", url, "-d"])
                    .arg(&folder)
                    .args(form)
                    .args(command);
                let out = swept(by_flag, SECRET);
                assert!(matches!(out.code, Some(2 | 3)), "expected a failure\n{out}");
            }
            let by_env = Cmd::new()
                .env("DATABASE_URL", url)
                .arg("-d")
                .arg(&folder)
                .args(["-v"])
                .args(command);
            swept(by_env, SECRET);
        }
        std::fs::write(dir.path().join(".env"), format!("DATABASE_URL={url}\n")).unwrap();
        swept(Cmd::new().dir(dir.path()).args(["-v", "status"]), SECRET);
        swept(
            Cmd::new()
                .args(["--url", url, "-d"])
                .arg(&folder)
                .args(["drift", "--shadow-url", url]),
            SECRET,
        );
        swept(
            Cmd::new().args(["--url", url, "wait", "--wait-timeout", "1s"]),
            SECRET,
        );
    }
    // A malformed .env line is named by its number, never shown.
    for line in [
        format!("DATABASE_URL postgres://app:{SECRET}@h/db"),
        format!("PGPASSWORD='{SECRET}"),
    ] {
        std::fs::write(dir.path().join(".env"), format!("# ok\n{line}\n")).unwrap();
        let out = swept(Cmd::new().dir(dir.path()).arg("status"), SECRET);
        out.code_is(3)
            .stderr_has(".env:2:")
            .stderr_has("is not KEY=VALUE");
    }
    // A URL where a command was meant: clap's error quotes it.
    swept(
        Cmd::new().arg(format!("postgres://app:{SECRET}@h/db")),
        SECRET,
    )
    .code_is(3);
}

/// Against the real server with its real password: every command succeeds (or is
/// refused for what it is), in every form, by userinfo and by `?password=`.
#[test]
fn no_success_path_prints_the_password() {
    let server = harness::server();
    let Some(password) = server.password().filter(|p| !p.is_empty()) else {
        return;
    };
    for (hint, by_query) in [("sweep_userinfo", false), ("sweep_query", true)] {
        let db = harness::fresh_db(hint);
        let url = if by_query {
            let plain = db.url().replacen(&format!(":{password}@"), "@", 1);
            let sep = if plain.contains('?') { '&' } else { '?' };
            format!("{plain}{sep}password={password}")
        } else {
            db.url().to_string()
        };
        let dir = harness::tempdir();
        let folder = migrations(dir.path());
        for command in COMMANDS {
            for form in FORMS {
                let cmd = Cmd::new()
                    .args(["--url", &url, "-d"])
                    .arg(&folder)
                    .args(["-s"])
                    .arg(dir.path().join("schema.sql"))
                    .args(form)
                    .args(command);
                swept(cmd, password);
            }
        }
        assert!(
            !std::fs::read_to_string(dir.path().join("schema.sql"))
                .unwrap_or_default()
                .contains(password)
        );
    }
}

/// libpq's sources against the real server: the right password and a wrong one, from
/// `PGPASSWORD` and from `~/.pgpass`, through every command and form.
#[test]
fn no_libpq_source_prints_the_password() {
    use std::os::unix::fs::PermissionsExt;
    let server = harness::server();
    let Some(real) = server.password().filter(|p| !p.is_empty()) else {
        return;
    };
    let db = harness::fresh_db("sweep_libpq");
    // The URL with no password: it comes from the variable or the file.
    let url = db.url().replacen(&format!(":{real}@"), "@", 1);
    let dir = harness::tempdir();
    let folder = migrations(dir.path());
    let pgpass = dir.path().join(".pgpass");
    for (password, by_file) in [(real, false), (real, true), (SECRET, false), (SECRET, true)] {
        std::fs::write(&pgpass, format!("*:*:*:*:{password}\n")).unwrap();
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
        for command in COMMANDS {
            for form in FORMS {
                let mut cmd = Cmd::new().env("HOME", dir.path());
                if !by_file {
                    cmd = cmd
                        .env("PGPASSWORD", password)
                        .env("PGPASSFILE", "/nonexistent");
                }
                let cmd = cmd
                    .args(["--url", &url, "-d"])
                    .arg(&folder)
                    .args(["-s"])
                    .arg(dir.path().join("schema.sql"))
                    .args(form)
                    .args(command);
                let out = swept(cmd, password);
                if password == SECRET {
                    assert!(out.code == Some(2), "expected a refused password\n{out}");
                }
            }
        }
    }
}

/// The inventory's sources, on the fleet: a wrong password from `env` and from `file`
/// (the server refuses it), and the right one from the container's environment.
#[test]
fn no_inventory_source_prints_the_password() {
    use crate::fleet::{fleet, inventory_with, unique_db};
    let dir = harness::tempdir();
    let folder = migrations(dir.path());
    let inv = inventory_with(
        dir.path(),
        &unique_db("sweep"),
        &fleet().join("known_hosts"),
        "",
        "tunnel",
        &folder,
    );
    let real = std::fs::read_to_string(fleet().join("passwords")).unwrap();
    let real: Vec<&str> = real
        .lines()
        .filter_map(|l| l.split_once('=').map(|(_, v)| v))
        .filter(|v| !v.is_empty())
        .collect();
    let text = std::fs::read_to_string(&inv).unwrap();
    let secret_file = dir.path().join("pw");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    for (source, secrets) in [
        ("{ container: POSTGRES_PASSWORD }", real.clone()),
        ("{ env: IT_SWEEP_PW }", vec![SECRET]),
        (
            &format!("{{ file: {} }}", secret_file.display()) as &str,
            vec![SECRET],
        ),
    ] {
        std::fs::write(
            &inv,
            text.replace("{ container: POSTGRES_PASSWORD }", source),
        )
        .unwrap();
        for command in [&["up"][..], &["status"], &["plan"]] {
            for form in FORMS {
                let cmd = Cmd::new()
                    .arg("-i")
                    .arg(&inv)
                    .args(["--limit", "alpha/app"])
                    .env("IT_SWEEP_PW", SECRET)
                    .args(form)
                    .args(command);
                let logs = harness::tempdir();
                let out = cmd.arg("--log-dir").arg(logs.path()).run();
                let log: String = std::fs::read_dir(logs.path())
                    .unwrap()
                    .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect();
                for secret in &secrets {
                    out.never_prints(secret);
                    assert!(!log.contains(secret), "{log}\n{out}");
                }
            }
        }
    }
}
