//! The Docker API and the PostgreSQL tunnel over SSH, against the local fleet
//! (`scripts/fleet up`: a real dockerd, postgres containers, one sshd per simulated host).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use pgfleet::transport::docker::{ContainerSelector, DockerApi, DockerError};
use pgfleet::transport::ssh::{SshOptions, SshSession};

/// The fleet's state folder, after `scripts/fleet up` (run once per test binary).
pub(crate) fn fleet() -> &'static Path {
    static FLEET: OnceLock<PathBuf> = OnceLock::new();
    FLEET.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("scripts/fleet"))
            .arg("up")
            .output()
            .expect("run scripts/fleet up");
        assert!(
            out.status.success(),
            "scripts/fleet up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        drop_leftover_databases();
        root.join(".fleet")
    })
}

/// The fleet's containers outlive test runs, and so would every `unique_db` a test left
/// behind (hundreds per run, slowing `status` over the whole fleet): drop those whose test
/// process is gone. A running binary's own, named by its live pid, are left alone.
fn drop_leftover_databases() {
    for container in ["alpha-app", "alpha-billing", "beta-app", "gamma-app"] {
        let psql = |args: &[&str]| {
            Command::new("docker")
                .args([
                    "exec", container, "psql", "-U", "postgres", "-d", "postgres", "-Aqt",
                ])
                .args(args)
                .output()
                .expect("run docker exec psql")
        };
        let listed = psql(&[
            "-c",
            r"select datname from pg_database where datname like 'it\_%'",
        ]);
        let gone: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|name| {
                // it_{hint}_{pid}_{n}
                let mut parts = name.rsplit('_');
                let pid = parts.nth(1).and_then(|p| p.parse::<u32>().ok());
                pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
            })
            .map(|name| format!("drop database if exists \"{name}\" with (force)"))
            .collect();
        // One psql, each -c in a transaction of its own, as DROP DATABASE needs.
        let mut args: Vec<&str> = Vec::new();
        for drop in &gone {
            args.extend(["-c", drop]);
        }
        if !args.is_empty() {
            psql(&args);
        }
    }
}

fn host(name: &str, port: u16, user: &str) -> SshOptions {
    let dir = fleet();
    SshOptions {
        name: name.into(),
        address: "127.0.0.1".into(),
        port,
        user: user.into(),
        identity_files: vec![dir.join("id_ed25519")],
        known_hosts: vec![dir.join("known_hosts")],
        record_in: Some(dir.join("known_hosts")),
        accept_new_host_keys: false,
        connect_timeout: Duration::from_secs(10),
        keepalive: Duration::from_secs(15),
        jump: None,
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

#[test]
fn finds_containers_over_ssh_and_tunnels_into_them() {
    block_on(async {
        let session = SshSession::connect(&host("alpha", 22201, "pgfleet"))
            .await
            .unwrap();
        let docker = DockerApi::over_ssh(session.clone(), "/var/run/docker.sock").unwrap();
        let container = docker
            .container(&ContainerSelector::Name("alpha-app".into()))
            .await
            .unwrap();
        assert_eq!(
            container.env.get("POSTGRES_DB").map(String::as_str),
            Some("app")
        );
        let address = container.address.clone().expect("a bridge address");
        let password = container.env.get("POSTGRES_PASSWORD").cloned().unwrap();

        // The native protocol through the same SSH connection, SCRAM included; no port is
        // published by the container and none is opened here.
        let stream = session.direct_tcpip(&address, 5432).await.unwrap();
        let mut config = tokio_postgres::Config::new();
        config.user("postgres").password(&password).dbname("app");
        let (client, connection) = config
            .connect_raw(stream, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let row = client
            .query_one("select current_database(), inet_server_addr()::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "app");
        assert!(row.get::<_, String>(1).starts_with(&address), "{address}");

        // A wrong password is the server's answer, not a hang.
        let stream = session.direct_tcpip(&address, 5432).await.unwrap();
        config.password("not-the-password");
        let err = config
            .connect_raw(stream, tokio_postgres::NoTls)
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.as_db_error().map(|e| e.code().code()),
            Some("28P01"),
            "{err}"
        );
    });
}

#[test]
fn missing_stopped_and_ambiguous_containers_are_refused_clearly() {
    block_on(async {
        let session = SshSession::connect(&host("beta", 22202, "pgfleet"))
            .await
            .unwrap();
        let docker = DockerApi::over_ssh(session, "/var/run/docker.sock").unwrap();
        let missing = docker
            .container(&ContainerSelector::Name("no-such-db".into()))
            .await
            .err()
            .unwrap();
        assert!(matches!(missing, DockerError::Missing { .. }), "{missing}");
        let text = missing.to_string();
        assert!(
            text.contains("no container no-such-db") && text.contains("beta-app"),
            "{text}"
        );

        let stopped = docker
            .container(&ContainerSelector::Name("beta-stopped".into()))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(stopped, DockerError::NotRunning { .. }),
            "{stopped}"
        );
        assert!(
            stopped.to_string().contains("docker start beta-stopped"),
            "{stopped}"
        );

        let found = docker
            .container(&ContainerSelector::Label("pgfleet.role".into()))
            .await
            .err()
            .unwrap();
        assert!(matches!(found, DockerError::Ambiguous { .. }), "{found}");
    });
}

#[test]
fn a_user_outside_the_docker_group_is_told_so() {
    block_on(async {
        let session = SshSession::connect(&host("gamma", 22203, "nodocker"))
            .await
            .unwrap();
        let docker = DockerApi::over_ssh(session, "/var/run/docker.sock").unwrap();
        let err = docker
            .container(&ContainerSelector::Name("gamma-app".into()))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, DockerError::PermissionDenied { .. }), "{err}");
        assert!(err.to_string().contains("docker` group"), "{err}");

        let session = SshSession::connect(&host("gamma", 22203, "pgfleet"))
            .await
            .unwrap();
        let docker = DockerApi::over_ssh(session, "/var/run/no/docker.sock").unwrap();
        let err = docker
            .container(&ContainerSelector::Name("gamma-app".into()))
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("does not exist there"), "{err}");
    });
}

/// A fresh database name, so that tests sharing the fleet's containers never meet.
pub(crate) fn unique_db(hint: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "it_{hint}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes an inventory of the fleet's three hosts whose targets use `db` (created by `up`)
/// in each host's app container, plus `extra` YAML under `hosts:`.
fn inventory(dir: &Path, db: &str, known_hosts: &Path, extra: &str) -> PathBuf {
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    inventory_with(dir, db, known_hosts, extra, "tunnel", &migrations)
}

/// Like `inventory`, with the method and the migrations folder chosen.
pub(crate) fn inventory_with(
    dir: &Path,
    db: &str,
    known_hosts: &Path,
    extra: &str,
    method: &str,
    migrations: &Path,
) -> PathBuf {
    let fleet = fleet();
    let mut hosts = String::new();
    for (name, port) in [("alpha", 22201), ("beta", 22202), ("gamma", 22203)] {
        hosts.push_str(&format!(
            "  {name}:\n    address: 127.0.0.1\n    port: {port}\n    databases:\n      app:\n        container: {name}-app\n        database: {db}\n"
        ));
        if name == "alpha" {
            // Two databases behind one host: one SSH connection serves both.
            hosts.push_str(&format!(
                "      billing:\n        container: alpha-billing\n        database: {db}\n"
            ));
        }
    }
    let path = dir.join(format!("fleet-{method}.yml"));
    std::fs::write(
        &path,
        format!(
            "defaults:\n  user: pgfleet\n  identity_file: {key}\n  known_hosts: {known}\n  connect_timeout: 3s\n  migrations: {migrations}\n  password: {{ container: POSTGRES_PASSWORD }}\n  method: {method}\nhosts:\n{hosts}{extra}",
            key = fleet.join("id_ed25519").display(),
            known = known_hosts.display(),
            migrations = migrations.display(),
        ),
    )
    .unwrap();
    path
}

fn pgfleet(inventory: &Path) -> crate::harness::Cmd {
    crate::harness::Cmd::new().arg("-i").arg(inventory)
}

#[test]
fn up_status_dump_and_rollback_across_the_fleet() {
    let dir = crate::harness::tempdir();
    let db = unique_db("fleet_up");
    let inv = inventory(dir.path(), &db, &fleet().join("known_hosts"), "");
    pgfleet(&inv)
        .args(["status", "--exit-code"])
        .run()
        .code_is(2)
        .stderr_has("does not exist");
    let out = pgfleet(&inv).args(["up", "--format", "json"]).run();
    out.success();
    let doc = out.json();
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["command"], "up");
    assert_eq!(doc["exit_code"], 0);
    let targets = doc["targets"].as_array().unwrap();
    let ids: Vec<&str> = targets
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha/app", "alpha/billing", "beta/app", "gamma/app"]);
    for t in targets {
        assert_eq!(t["result"], "ok", "{t}");
        assert_eq!(t["created_database"], true, "{t}");
        assert_eq!(t["remaining"].as_array().unwrap().len(), 0, "{t}");
        assert_eq!(t["error"], serde_json::Value::Null, "{t}");
    }
    assert_eq!(
        targets[2]["done"],
        serde_json::json!([
            "20240101120000_create_customers.sql",
            "20240102120000_create_orders.sql",
            "20240103120000_index_orders_by_customer.sql",
            "20240104120000_order_status_enum.sql"
        ])
    );
    let status = pgfleet(&inv).args(["status", "--exit-code"]).run();
    status
        .success()
        .stdout_has("The targets agree on every version.");
    assert!(
        status
            .stdout_line("  20240101120000_create_customers.sql ")
            .ends_with(" X X X X"),
        "{status}"
    );

    // pg_dump runs inside each container: one schema file per target.
    pgfleet(&inv)
        .args(["dump", "--limit", "beta", "-s"])
        .arg(dir.path().join("db/schema.sql"))
        .run()
        .success();
    let schema = std::fs::read_to_string(dir.path().join("db/beta/app/schema.sql")).unwrap();
    assert!(schema.contains("CREATE TABLE public.orders"), "{schema}");
    assert!(schema.contains("('20240104120000');"), "{schema}");
    assert!(!dir.path().join("db/alpha").exists());

    pgfleet(&inv)
        .args(["rollback", "--limit", "gamma/app"])
        .run()
        .success()
        .stderr_has("rolled back 20240104120000_order_status_enum.sql in ")
        .stdout_has("1 target: 1 ok; 1 migration rolled back · exit 0");
    // The matrix marks the version the hosts now disagree on.
    let status = pgfleet(&inv).args(["status", "--exit-code"]).run();
    status
        .code_is(1)
        .stdout_has(" 4  gamma/app      3 applied, 1 pending")
        .stdout_has("* the targets disagree on 1 version. · exit 1");
    assert!(
        status
            .stdout_line("* 20240104120000_order_status_enum.sql ")
            .ends_with(" X X X ."),
        "{status}"
    );
    let doc = pgfleet(&inv)
        .args(["status", "--format", "json"])
        .run()
        .json();
    assert_eq!(
        doc["disagreeing_versions"],
        serde_json::json!(["20240104120000"])
    );
    let gamma = &doc["targets"][3];
    assert_eq!(gamma["target"], "gamma/app");
    assert_eq!(gamma["migrations"][3]["state"], "pending");
    assert_eq!(gamma["migrations"][2]["state"], "applied");
}

#[test]
fn one_unreachable_host_fails_alone_and_quickly() {
    let dir = crate::harness::tempdir();
    let db = unique_db("fleet_down");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = format!(
        "  delta:\n    address: 127.0.0.1\n    port: {closed}\n    databases:\n      app:\n        container: delta-app\n      logs:\n        container: delta-logs\n  epsilon:\n    address: 127.0.0.1\n    port: 22201\n    databases:\n      app:\n        container: no-such-container\n"
    );
    let inv = inventory(dir.path(), &db, &fleet().join("known_hosts"), &extra);
    let started = std::time::Instant::now();
    let out = pgfleet(&inv).arg("up").run();
    out.code_is(2)
        .stderr_has(&format!("delta: cannot connect to 127.0.0.1:{closed}"))
        .stderr_has("epsilon: no container no-such-container; the containers there are: ")
        .stdout_has("7 targets: 3 failed, 4 ok; 16 migrations applied · exit 2");
    // One attempt per host: both of delta's targets report the same failure.
    assert_eq!(
        out.stderr
            .matches(&format!("delta: cannot connect to 127.0.0.1:{closed}"))
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.stdout_line("delta/app ").contains("✗ failed  "),
        "{out}"
    );
    assert_eq!(
        out.stderr.matches("applied 20240104120000").count(),
        4,
        "{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn host_keys_follow_openssh_policy_through_the_inventory() {
    let dir = crate::harness::tempdir();
    let db = unique_db("fleet_keys");
    let known = dir.path().join("known_hosts");
    let inv = inventory(dir.path(), &db, &known, "");
    pgfleet(&inv)
        .args(["status", "--limit", "alpha"])
        .run()
        .code_is(2)
        .stderr_has("alpha: the host key of [127.0.0.1]:22201 is not known")
        .stderr_has("ssh-ed25519 key SHA256:");
    assert!(!known.exists());
    pgfleet(&inv)
        .args(["up", "--limit", "alpha", "--accept-new-host-keys"])
        .run()
        .success();
    let recorded = std::fs::read_to_string(&known).unwrap();
    assert!(
        recorded.contains("[127.0.0.1]:22201 ssh-ed25519 "),
        "{recorded}"
    );
    pgfleet(&inv)
        .args(["status", "--limit", "alpha"])
        .run()
        .success();
}

#[test]
fn a_wrong_database_password_is_reported_without_the_secret() {
    let dir = crate::harness::tempdir();
    let db = unique_db("fleet_pw");
    let inv = inventory(dir.path(), &db, &fleet().join("known_hosts"), "");
    let text = std::fs::read_to_string(&inv).unwrap().replace(
        "password: { container: POSTGRES_PASSWORD }",
        "password: { env: IT_FLEET_PW }",
    );
    std::fs::write(&inv, text).unwrap();
    pgfleet(&inv)
        .args(["status", "--limit", "beta"])
        .env("IT_FLEET_PW", "wrong-secret-4711")
        .run()
        .code_is(2)
        .stderr_has("password authentication failed for user \"postgres\"")
        .stderr_has("the password came from the environment variable IT_FLEET_PW")
        .never_prints("wrong-secret-4711");
    pgfleet(&inv)
        .args(["status", "--limit", "beta"])
        .run()
        .code_is(3)
        .stderr_has(
            "the password comes from the environment variable IT_FLEET_PW, which is not set",
        );
}

#[test]
fn every_command_works_through_both_methods() {
    let dir = crate::harness::tempdir();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for method in ["tunnel", "exec"] {
        let db = unique_db(&format!("fleet_{method}"));
        let inv = inventory_with(
            dir.path(),
            &db,
            &fleet().join("known_hosts"),
            "",
            method,
            &migrations,
        );
        let cmd = |args: &[&str]| pgfleet(&inv).args(["--limit", "beta"]).args(args);
        cmd(&["up", "--dry-run", "-v"])
            .run()
            .success()
            .stderr_has(&format!("connected: beta/app ({method})"))
            .stdout_has("Dry run on beta/app: nothing is written and no lock is taken.")
            .stdout_has("The database does not exist: `up` would create it.")
            .stdout_has("Would apply 4 migrations.");
        cmd(&["up"])
            .run()
            .success()
            .stderr_has(&format!("creating database {db}"));
        let status = cmd(&["status", "--exit-code"]).run();
        status.success();
        assert!(
            status
                .stdout_line("  20240103120000_index_orders_by_customer.sql")
                .ends_with(" X"),
            "{status}"
        );
        cmd(&["verify"])
            .run()
            .success()
            .stdout_has("== beta/app\nVerified: 4 applied migrations match their files");
        cmd(&["dump", "-s"])
            .arg(dir.path().join(method).join("schema.sql"))
            .run()
            .success();
        let schema =
            std::fs::read_to_string(dir.path().join(method).join("beta/app/schema.sql")).unwrap();
        assert!(
            schema.contains("CREATE TYPE public.order_status"),
            "{method}: {schema}"
        );
        cmd(&["rollback", "--to", "20240102120000"])
            .run()
            .success()
            .stderr_has("rolled back 20240103120000_index_orders_by_customer.sql");
        cmd(&["status", "--exit-code"])
            .run()
            .code_is(1)
            .stdout_has("1  beta/app  2 applied, 2 pending");
        // A rehearsal runs the transactional one for real and keeps nothing.
        cmd(&["up", "--dry-run=rehearse"])
            .run()
            .success()
            .stdout_has("Rehearsal on beta/app: the pending migrations ran in one transaction that was rolled back: nothing was kept")
            .stdout_has("Not rehearsable (transaction:false, cannot run inside the rehearsal's transaction): 20240103120000_index_orders_by_customer.sql")
            .stdout_has("Rehearsed: 20240104120000_order_status_enum.sql (in one transaction)")
            .stdout_has("Rehearsed 1 of 2 pending migrations in ");
        cmd(&["status", "--exit-code"])
            .run()
            .code_is(1)
            .stdout_has("1  beta/app  2 applied, 2 pending");
    }
}

/// An inventory of the fleet with method exec, a fresh database and `files` as the
/// migrations (in `dir/migrations`).
pub(crate) fn exec_inventory(dir: &Path, hint: &str, files: &[(&str, &str)]) -> PathBuf {
    let migrations = dir.join("migrations");
    crate::harness::write_migrations(&migrations, files);
    let known = fleet().join("known_hosts");
    inventory_with(dir, &unique_db(hint), &known, "", "exec", &migrations)
}

/// What each failure looks like through psql in the container: file:line:column, SQLSTATE,
/// detail, and what ran of a transaction:false file.
#[test]
fn exec_failures_point_into_the_file() {
    let dir = crate::harness::tempdir();
    let migrations = dir.path().join("migrations");
    let inv = exec_inventory(
        dir.path(),
        "fleet_exec_fail",
        &[
            (
                "001_one.sql",
                "-- migrate:up\ncreate table one (id int primary key);\n-- migrate:down\ndrop table one;\n",
            ),
            (
                "002_two.sql",
                "-- migrate:up\ninsert into one values (1);\n\ninsert into one values (1);\n-- migrate:down\n",
            ),
        ],
    );
    let out = pgfleet(&inv).args(["up", "--limit", "gamma"]).run();
    out.code_is(2)
        .stderr_has("applied 001_one.sql in ")
        .stdout_has("002_two.sql:4:1: duplicate key value violates unique constraint")
        .stderr_has("002_two.sql:4:1")
        .stderr_has("ERROR 23505: duplicate key value violates unique constraint \"one_pkey\"")
        .stderr_has("DETAIL: Key (id)=(1) already exists.")
        .stderr_has("nothing of 002_two.sql was kept");
    let status = pgfleet(&inv).args(["status", "--limit", "gamma"]).run();
    assert!(
        status.stdout_line("  001_one.sql").ends_with(" X"),
        "{status}"
    );
    assert!(
        status.stdout_line("  002_two.sql").ends_with(" ."),
        "{status}"
    );

    crate::harness::write_migrations(
        &migrations,
        &[(
            "002_two.sql",
            "-- migrate:up transaction:false\ninsert into one values (2);\nselect * from one where nope = 1;\n-- migrate:down\n",
        )],
    );
    pgfleet(&inv)
        .args(["up", "--limit", "gamma"])
        .run()
        .code_is(2)
        .stderr_has("002_two.sql:3:25")
        .stderr_has("ERROR 42703: column \"nope\" does not exist")
        .stderr_has("    insert into one values (2)");
}

/// A rollback batch through psql in the container: the down sections before the failing
/// one are reverted, psql stops at the failure (ON_ERROR_STOP), and the failure points
/// into the down section.
#[test]
fn exec_rollback_batch_stops_at_the_failing_down() {
    let table = |n: &str| {
        format!("-- migrate:up\ncreate table {n} (id int);\n-- migrate:down\ndrop table {n};\n")
    };
    let (one, two, four) = (table("one"), table("two"), table("four"));
    let dir = crate::harness::tempdir();
    let inv = exec_inventory(
        dir.path(),
        "fleet_exec_rollback",
        &[
            ("001_one.sql", &one),
            ("002_two.sql", &two),
            (
                "003_three.sql",
                "-- migrate:up\ncreate table three (id int);\n-- migrate:down\ndrop table three;\n\nselect * from nope;\n",
            ),
            ("004_four.sql", &four),
        ],
    );
    pgfleet(&inv)
        .args(["up", "--limit", "gamma"])
        .run()
        .success();
    let out = pgfleet(&inv)
        .args(["rollback", "--to", "0", "--limit", "gamma"])
        .run();
    out.code_is(2)
        .stderr_has("rolled back 004_four.sql in ")
        .stderr_has("down of 003_three.sql failed at ")
        .stderr_has("003_three.sql:6:15")
        .stderr_has("ERROR 42P01: relation \"nope\" does not exist")
        .stderr_has("nothing of 003_three.sql was kept");
    let status = pgfleet(&inv).args(["status", "--limit", "gamma"]).run();
    for (file, state) in [
        ("001_one.sql", " X"),
        ("002_two.sql", " X"),
        ("003_three.sql", " X"),
        ("004_four.sql", " ."),
    ] {
        assert!(
            status.stdout_line(&format!("  {file}")).ends_with(state),
            "{file}\n{status}"
        );
    }
}

#[test]
fn exec_runners_take_turns_on_the_lock() {
    let dir = crate::harness::tempdir();
    let inv = exec_inventory(
        dir.path(),
        "fleet_exec_lock",
        &[
            (
                "001_slow.sql",
                "-- migrate:up\ncreate table slow (id int);\nselect pg_sleep(2);\n-- migrate:down\n",
            ),
            (
                "002_row.sql",
                "-- migrate:up\ninsert into slow values (1);\n-- migrate:down\n",
            ),
        ],
    );
    let first_inv = inv.clone();
    let first = std::thread::spawn(move || {
        pgfleet(&first_inv)
            .args(["up", "--limit", "alpha/app"])
            .run()
    });
    std::thread::sleep(Duration::from_millis(1200));
    let second = pgfleet(&inv).args(["up", "--limit", "alpha/app"]).run();
    let first = first.join().unwrap();
    first.success();
    second
        .success()
        .stderr_has("waiting for the migration lock, held by pid")
        .stdout_has("1 target: 1 up to date; 0 migrations applied · exit 0");
    pgfleet(&inv)
        .args(["status", "--limit", "alpha/app"])
        .run()
        .success()
        .stdout_has("1  alpha/app  2 applied, 0 pending");
}

#[test]
fn ssh_config_aliases_and_proxy_jump_are_honoured() {
    let dir = crate::harness::tempdir();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host fleet-alpha\n    HostName 127.0.0.1\n    Port 22201\n\nHost fleet-gamma\n    HostName 127.0.0.1\n    Port 22203\n    ProxyJump fleet-alpha\n\nHost fleet-*\n    User pgfleet\n    IdentityFile {}\n",
            fleet().join("id_ed25519").display()
        ),
    )
    .unwrap();
    let db = unique_db("fleet_sshconfig");
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        format!(
            "defaults:\n  known_hosts: {known}\n  migrations: {migrations}\n  password: {{ container: POSTGRES_PASSWORD }}\nhosts:\n  a:\n    address: fleet-alpha\n    databases:\n      app: {{ container: alpha-app, database: {db} }}\n  g:\n    address: fleet-gamma\n    databases:\n      app: {{ container: gamma-app, database: {db} }}\n",
            known = fleet().join("known_hosts").display(),
            migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").display(),
        ),
    )
    .unwrap();
    let out = pgfleet(&inv).env("HOME", &home).arg("up").run();
    out.success()
        .stdout_has("2 targets: 2 ok; 8 migrations applied · exit 0");
}

/// `UserKnownHostsFile` and `GlobalKnownHostsFile` of `~/.ssh/config` say where host keys
/// are, as for `ssh`: read with nothing in `~/.ssh/known_hosts` or the inventory, and a new
/// key recorded in the first user file.
#[test]
fn ssh_configs_known_hosts_files_are_read_and_new_keys_go_to_the_first() {
    let dir = crate::harness::tempdir();
    let db = unique_db("fleet_userknownhosts");
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        format!(
            "defaults:\n  migrations: {migrations}\n  password: {{ container: POSTGRES_PASSWORD }}\nhosts:\n  a:\n    address: fleet-alpha\n    databases:\n      app: {{ container: alpha-app, database: {db} }}\n",
            migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").display(),
        ),
    )
    .unwrap();
    let home = |name: &str, known: &str| {
        let home = dir.path().join(name);
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(
            home.join(".ssh/config"),
            format!(
                "Host fleet-alpha\n    HostName 127.0.0.1\n    Port 22201\n    User pgfleet\n    IdentityFile {}\n    UserKnownHostsFile {known}\n    GlobalKnownHostsFile none\n",
                fleet().join("id_ed25519").display()
            ),
        )
        .unwrap();
        home
    };
    let known = home("known", &fleet().join("known_hosts").display().to_string());
    pgfleet(&inv)
        .env("HOME", &known)
        .arg("up")
        .run()
        .success()
        .stdout_has("1 target: 1 ok; 4 migrations applied · exit 0");
    let learning = home("learning", "\"%d/.ssh/first one\" ~/.ssh/second");
    pgfleet(&inv)
        .env("HOME", &learning)
        .arg("status")
        .run()
        .code_is(2)
        .stderr_has("is not known")
        .stderr_has(".ssh/first one");
    pgfleet(&inv)
        .env("HOME", &learning)
        .args(["status", "--accept-new-host-keys"])
        .run()
        .success();
    let recorded = std::fs::read_to_string(learning.join(".ssh/first one")).unwrap();
    assert!(
        recorded.trim_start().starts_with("[127.0.0.1]:22201 "),
        "{recorded}"
    );
    assert!(!learning.join(".ssh/second").exists());
    assert!(!learning.join(".ssh/known_hosts").exists());
    pgfleet(&inv)
        .env("HOME", &learning)
        .args(["status", "--exit-code"])
        .run()
        .success();
}

#[test]
fn a_local_host_uses_this_machines_docker() {
    let dir = crate::harness::tempdir();
    let db = unique_db("fleet_local");
    for method in ["tunnel", "exec"] {
        let inv = dir.path().join(format!("{method}.yml"));
        std::fs::write(
            &inv,
            format!(
                "hosts:\n  here:\n    local: true\n    databases:\n      app:\n        container: beta-app\n        database: {db}_{method}\n        method: {method}\n        password: {{ container: POSTGRES_PASSWORD }}\n        migrations: {}\n",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").display()
            ),
        )
        .unwrap();
        fleet();
        pgfleet(&inv)
            .arg("up")
            .run()
            .success()
            .stderr_has(&format!("creating database {db}_{method}"))
            .stderr_has("applied 20240104120000_order_status_enum.sql");
        pgfleet(&inv)
            .args(["status", "--exit-code"])
            .run()
            .success();
    }
}

/// A statement that ends in a `--` comment without a `;` (the last of its section) must
/// not swallow psql's `;` into the comment: each statement runs, alone, in order.
#[test]
fn exec_runs_a_statement_ending_in_a_comment_alone() {
    let dir = crate::harness::tempdir();
    let inv = exec_inventory(
        dir.path(),
        "fleet_exec_comment",
        &[
            (
                "001_things.sql",
                "-- migrate:up\ncreate table things (id int) -- no semicolon after this\n-- migrate:down\ndrop table things -- nor here\n",
            ),
            (
                "002_row.sql",
                "-- migrate:up\ninsert into things values (1);\n-- migrate:down\ndelete from things;\n",
            ),
        ],
    );
    pgfleet(&inv)
        .args(["up", "--limit", "alpha/app"])
        .run()
        .success()
        .stdout_has("1 target: 1 ok; 2 migrations applied · exit 0");
    pgfleet(&inv)
        .args(["rollback", "-n", "2", "--limit", "alpha/app"])
        .run()
        .success();
    pgfleet(&inv)
        .args(["status", "--limit", "alpha/app"])
        .run()
        .success()
        .stdout_has("1  alpha/app  0 applied, 2 pending");
}

/// Lock retries through psql in the container: the failed migration ends psql's session
/// (and its run lock), so each retry reaches the database again and asks who holds the
/// lock on a session of its own.
#[test]
fn exec_retries_a_migration_blocked_by_a_lock() {
    use std::io::Write;
    let dir = crate::harness::tempdir();
    let inv = exec_inventory(
        dir.path(),
        "fleet_exec_retry",
        &[(
            "001_t.sql",
            "-- migrate:up\ncreate table t (id int);\n-- migrate:down\ndrop table t;\n",
        )],
    );
    pgfleet(&inv)
        .args(["up", "--limit", "alpha/app"])
        .run()
        .success();
    crate::harness::write_migrations(
        &dir.path().join("migrations"),
        &[(
            "002_c.sql",
            "-- migrate:up\nalter table t add column c int;\n-- migrate:down\nalter table t drop column c;\n",
        )],
    );
    let text = std::fs::read_to_string(&inv).unwrap();
    let db = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("database: "))
        .unwrap()
        .to_string();
    // A session in the container that holds the table until its stdin closes.
    let mut holder = Command::new("docker")
        .args([
            "exec",
            "-i",
            "alpha-app",
            "psql",
            "-X",
            "-q",
            "-U",
            "postgres",
            "-d",
            &db,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker exec psql");
    let mut stdin = holder.stdin.take().unwrap();
    writeln!(stdin, "begin; lock table t in access exclusive mode;").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        drop(stdin);
        let _ = holder.wait();
    });
    let out = pgfleet(&inv)
        .args([
            "up",
            "--limit",
            "alpha/app",
            "--lock-timeout",
            "300ms",
            "--lock-retries",
            "20",
            "--no-preflight",
        ])
        .timeout(Duration::from_secs(90))
        .run();
    release.join().unwrap();
    out.success()
        .stderr_has("002_c.sql gave up on a lock (lock_timeout) and was rolled back; held by pid ")
        .stderr_has("(psql, user postgres, idle in transaction for ")
        .stdout_has("1 target: 1 ok; 1 migration applied · exit 0");
}
