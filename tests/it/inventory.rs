//! Inventories through the real binary: every broken one is refused with exit 3, its
//! `file:line:column` and what to do; the good one prints each target's resolved settings;
//! `--limit` selects and excludes; passwords never reach the output; the inventories
//! shipped in inventory/ load.

use std::path::{Path, PathBuf};

use crate::harness::{self, Cmd, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventories")
}

/// `pgfleet -i INVENTORY inventory ARGS…`, run in the fixtures folder so that messages
/// show short relative paths.
fn inventory(path: &str, args: &[&str]) -> Output {
    Cmd::new()
        .dir(fixtures())
        .args(["-i", path, "inventory"])
        .args(args)
        .run()
}

#[track_caller]
fn refused(path: &str, expected: &str) {
    let out = inventory(path, &[]);
    out.code_is(3).stderr_has(&format!("Error: {expected}"));
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn broken_inventories_are_refused_with_their_place_and_a_fix() {
    let cases = [
        (
            "unknown_key.yml",
            "unknown_key.yml:3:5: unknown key `adress` in a host; did you mean `address`?",
        ),
        (
            "unknown_database_key.yml",
            "unknown_database_key.yml:6:9: unknown key `db_user` in a database: in a database, the database user and port are plain `user` and `port`",
        ),
        (
            "syntax.yml",
            "syntax.yml:5:5: while parsing a flow mapping, did not find expected ',' or '}'",
        ),
        (
            "unknown_group_host.yml",
            "unknown_group_host.yml:3:18: group `lab` lists `pie`, which is not a host of the inventory (did you mean `pi`?); the hosts are nas, pi",
        ),
        (
            "jump_loop.yml",
            "jump_loop.yml:7:11: jump loop: gw1 → gw2 → gw1; one of these hosts must be reachable without a jump",
        ),
        (
            "unknown_jump.yml",
            "unknown_jump.yml:4:11: jump `bastoin` is not a host of the inventory (did you mean `bastion`?); name an inventory host, or write an address as [user@]host[:port]",
        ),
        (
            "both_container_and_label.yml",
            "both_container_and_label.yml:6:16: database `nas/app` has both container and label; keep one",
        ),
        (
            "neither_container_nor_label.yml",
            "neither_container_nor_label.yml:4:7: database `nas/app` names no container; add container: NAME or label: KEY=VALUE",
        ),
        (
            "no_databases.yml",
            "no_databases.yml:2:3: host `nas` has no databases; add databases:",
        ),
        (
            "bad_duration.yml",
            "bad_duration.yml:2:20: connect_timeout: `10 seconds` is not a duration; write e.g. 500ms, 10s, 2min or 1h",
        ),
        (
            "duration_without_unit.yml",
            "duration_without_unit.yml:3:16: keepalive: `15` needs a unit: 15s for seconds, 15ms for milliseconds",
        ),
        (
            "bad_method.yml",
            "bad_method.yml:6:17: method `tunel` is not tunnel, exec or auto; did you mean `tunnel`?",
        ),
        (
            "local_with_ssh.yml",
            "local_with_ssh.yml:4:11: host `laptop` is local: true (this machine's docker, no SSH), so user does not apply; remove it, or set local: false",
        ),
        (
            "group_conflict.yml",
            "group_conflict.yml:7:19: host `nas` is in groups `lab` and `backup`, whose vars set user differently (admin at group_conflict.yml:4:19, root here); set user on the host itself, or in only one of the groups",
        ),
        (
            "bad_password_source.yml",
            "bad_password_source.yml:6:21: unknown password source `evn` (did you mean `env`?); write { env: VAR }, { file: PATH } or { container: VAR }",
        ),
        (
            "duplicate_host",
            "duplicate_host/b.yml:5:3: host `nas` is defined twice: here and at duplicate_host/a.yml:2:3; keep one",
        ),
        (
            "no_hosts.yml",
            "no_hosts.yml:1: the inventory has no hosts; add a hosts: section",
        ),
        (
            "no_such_inventory",
            "no_such_inventory: cannot read the inventory: no such file or folder; pass -i FILE or -i FOLDER",
        ),
    ];
    for (path, expected) in cases {
        refused(path, expected);
    }
}

#[test]
fn an_empty_inventory_folder_is_refused() {
    let dir = harness::tempdir();
    std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap();
    Cmd::new()
        .arg("-i")
        .arg(dir.path())
        .arg("inventory")
        .run()
        .code_is(3)
        .stderr_has("the inventory folder has no *.yml or *.yaml files; add one, or pass -i FILE");
}

#[test]
fn a_password_written_in_the_inventory_is_refused_without_repeating_it() {
    let out = inventory("password_in_inventory.yml", &[]);
    out.code_is(3)
        .stderr_has(
            "password_in_inventory.yml:6:9: a password itself does not belong in the inventory",
        )
        .never_prints("hunter2");
}

#[test]
fn the_good_inventory_prints_every_target_resolved() {
    let out = inventory("good", &[]);
    out.success();
    let blocks: Vec<&str> = out.stdout.split("\n\n").collect();
    assert_eq!(
        blocks[0],
        "nas/app
  connection  ssh admin@192.168.1.10 via bastion
  groups      lab
  container   app-db, port 5432
  database    app
  user        app
  password    env NAS_APP_PW
  method      tunnel
  migrations  apps/app/migrations",
        "{out}"
    );
    assert_eq!(
        blocks[1],
        "nas/metrics
  connection  ssh admin@192.168.1.10 via bastion
  groups      lab
  container   label com.example.role=metrics-db, port 5432
  database    from the container (POSTGRES_DB, else the user)
  user        postgres
  password    file good/secrets/metrics.pw
  method      exec
  migrations  migrations",
        "{out}"
    );
    assert_eq!(
        blocks[2],
        "vps/shop
  connection  ssh no@vps.example.org via ops@gw.example.org:2200
  groups      backup
  container   shop-db, port 5433
  database    from the container (POSTGRES_DB, else the user)
  user        postgres
  password    env PGFLEET_DB_PASSWORD
  method      exec
  migrations  migrations",
        "{out}"
    );
    out.stdout_has("pi/sensors\n  connection  ssh admin@pi\n  groups      lab, backup\n")
        .stdout_has("  password    container POSTGRES_PASSWORD\n")
        .stdout_has("laptop/scratch\n  connection  local docker\n  docker      /run/user/1000/docker.sock\n")
        .stdout_has("\n5 targets on 4 hosts\n");
    assert!(
        !out.stdout.contains("bastion/"),
        "bastion has no databases\n{out}"
    );
}

#[test]
fn limit_selects_and_excludes() {
    let ids = |out: &Output| -> Vec<String> {
        out.stdout
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with(' ') && l.contains('/'))
            .map(str::to_owned)
            .collect()
    };
    let out = inventory("good", &["--limit", "lab"]);
    out.success()
        .stdout_has("3 targets on 2 hosts (of 5 targets in the inventory)");
    assert_eq!(ids(&out), ["nas/app", "nas/metrics", "pi/sensors"]);

    let out = inventory(
        "good",
        &["--limit", "lab,!nas/metrics", "--limit", "laptop"],
    );
    assert_eq!(
        ids(out.success()),
        ["nas/app", "pi/sensors", "laptop/scratch"]
    );

    // The flag is global: before the subcommand too; exclusions alone keep the rest.
    let out = Cmd::new()
        .dir(fixtures())
        .args(["--limit", "!*/app,!backup", "-i", "good", "inventory"])
        .run();
    assert_eq!(ids(out.success()), ["nas/metrics", "laptop/scratch"]);

    let out = inventory("good", &["--limit", "lab,nsa"]);
    out.code_is(3).stderr_has(
        "Error: --limit `nsa` matches no host, group or target (did you mean `nas`?). Hosts: bastion, nas, vps, pi, laptop. Groups: lab, backup. Targets: nas/app, nas/metrics, vps/shop, pi/sensors, laptop/scratch.",
    );
    assert!(out.stdout.is_empty(), "{out}");

    inventory("good", &["--limit", "lab,!lab"])
        .code_is(3)
        .stderr_has("Error: --limit lab,!lab selects none of the 5 targets");
}

#[test]
fn passwords_in_the_environment_never_reach_the_output() {
    let out = Cmd::new()
        .dir(fixtures())
        .args(["-i", "good", "inventory"])
        .env("NAS_APP_PW", "nas-app-secret-9f2c")
        .env("PGFLEET_DB_PASSWORD", "default-secret-41aa")
        .env("POSTGRES_PASSWORD", "container-secret-77d0")
        .run();
    out.success()
        .stdout_has("password    env NAS_APP_PW")
        .stdout_has("password    env PGFLEET_DB_PASSWORD")
        .never_prints("nas-app-secret-9f2c")
        .never_prints("default-secret-41aa")
        .never_prints("container-secret-77d0");
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_demo_inventory_loads() {
    let out = Cmd::new()
        .dir(repo())
        .args(["-i", "inventory/demo.yml", "inventory"])
        .run();
    out.success()
        .stdout_has(
            "alpha/app
  connection  ssh pgfleet@127.0.0.1:22201
  groups      demo
  container   alpha-app, port 5432
  database    from the container (POSTGRES_DB, else the user)
  user        from the container (POSTGRES_USER)
  password    container POSTGRES_PASSWORD
  method      auto
  migrations  migrations
",
        )
        .stdout_has("alpha/billing\n  connection  ssh pgfleet@127.0.0.1:22201\n")
        .stdout_has("  container   alpha-billing, port 5432\n")
        .stdout_has("  migrations  examples/billing-migrations\n")
        .stdout_has("beta/app\n  connection  ssh pgfleet@127.0.0.1:22202\n")
        .stdout_has("gamma/app\n  connection  ssh pgfleet@127.0.0.1:22203\n")
        .stdout_has("\n4 targets on 3 hosts\n");

    let inv = pgfleet::inventory::load(&repo().join("inventory/demo.yml")).unwrap();
    let alpha = inv.host("alpha").unwrap();
    let pgfleet::inventory::Connection::Ssh(ssh) = &alpha.connection else {
        panic!("alpha is not reached over SSH: {alpha:?}");
    };
    let root = std::fs::canonicalize(repo()).unwrap();
    assert_eq!(ssh.identity_files, [root.join(".fleet/id_ed25519")]);
    assert_eq!(ssh.known_hosts, [root.join(".fleet/known_hosts")]);

    // The billing database's own migrations are a valid set.
    let billing = pgfleet::migration::load_dir(&repo().join("examples/billing-migrations"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(billing.len(), 2);
}

#[test]
fn the_example_inventory_and_the_default_folder_load() {
    Cmd::new()
        .dir(repo())
        .args(["-i", "examples/inventory.yml", "inventory"])
        .run()
        .success()
        .stdout_has("nas/app\n  connection  ssh admin@192.168.1.10:22 via bastion\n")
        .stdout_has("laptop/scratch\n  connection  local docker\n")
        .stdout_has("\n5 targets on 4 hosts\n");
    // The default, -i inventory/, is the demo fleet.
    Cmd::new()
        .dir(repo())
        .arg("inventory")
        .run()
        .success()
        .stdout_has("\n4 targets on 3 hosts\n");
}
