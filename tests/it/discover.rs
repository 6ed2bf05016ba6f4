//! `pgfleet discover` against the local fleet: the hosts as a user of OpenSSH names them
//! (aliases of `~/.ssh/config`), the inventory it writes loaded and used by `status`, a
//! host that cannot be reached, and a home lab of 22 containers — postgres ones, one that
//! is only PostgreSQL by its settings, one stopped, one that is no database at all —
//! of which exactly the right ones are found. No password value is ever shown or written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::fleet::fleet;
use crate::harness::{Cmd, Output, tempdir};

/// The tests that load the fleet's engine run one at a time: twelve more servers
/// starting beside a status run of every target would time its tunnels out.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A home whose `~/.ssh` reaches the fleet as `ssh alpha` does with its ssh_config, but
/// trusts the host keys in its own `~/.ssh/known_hosts` (a copy of the fleet's), so that a
/// test can take them away.
fn home(dir: &Path) -> PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let config = std::fs::read_to_string(fleet().join("ssh_config")).unwrap();
    let config: String = config
        .lines()
        .map(
            |line| match line.trim_start().starts_with("UserKnownHostsFile") {
                true => "    UserKnownHostsFile ~/.ssh/known_hosts\n".to_string(),
                false => format!("{line}\n"),
            },
        )
        .collect();
    assert!(
        config.contains("UserKnownHostsFile ~/.ssh/known_hosts"),
        "{config}"
    );
    std::fs::write(home.join(".ssh/config"), config).unwrap();
    std::fs::copy(fleet().join("known_hosts"), home.join(".ssh/known_hosts")).unwrap();
    home
}

/// pgfleet with that home, in `dir` (whose `migrations/` the written inventory uses).
fn pgfleet(dir: &Path, home: &Path) -> Cmd {
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    Cmd::new().dir(dir).env("HOME", home)
}

/// Every container password on the fleet's engine, as the containers have them (what
/// discover sees; `.fleet/passwords` may be older than a container), none of which may
/// ever be shown.
fn fleet_passwords() -> Vec<String> {
    let ids = Command::new("docker").args(["ps", "-aq"]).output().unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let env = Command::new("docker")
        .args(["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}"])
        .args(&ids)
        .output()
        .unwrap();
    let mut secrets: Vec<String> = String::from_utf8_lossy(&env.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    secrets.sort();
    secrets.dedup();
    assert!(!secrets.is_empty(), "the fleet's containers have passwords");
    secrets
}

fn never_shows(out: &Output, file: Option<&Path>, secrets: &[String]) {
    let written = file.map(|f| std::fs::read_to_string(f).unwrap_or_default());
    for secret in secrets {
        out.never_prints(secret);
        if let Some(text) = &written {
            // Which line, not the text: the failure must not print the password either.
            let line = text.lines().position(|l| l.contains(secret.as_str()));
            assert!(
                line.is_none(),
                "line {} of the file holds a password",
                line.unwrap_or(0) + 1
            );
        }
    }
}

/// `(host, container, database)` of every target a discover document writes.
fn targets(doc: &Value) -> BTreeSet<(String, String, String)> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| {
            let host = h["host"].as_str().unwrap().to_string();
            h["databases"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["commented_out"] == false)
                .map(move |d| {
                    (
                        host.clone(),
                        d["container"].as_str().unwrap().to_string(),
                        d["database"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn discover_writes_an_inventory_that_status_uses() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    fleet();
    let dir = tempdir();
    let home = home(dir.path());
    let file = dir.path().join("discovered.yml");
    let secrets = fleet_passwords();

    let out = pgfleet(dir.path(), &home)
        .args(["discover", "alpha", "beta", "gamma", "--write"])
        .arg(&file)
        .run();
    out.success().stdout_has("Wrote ");
    never_shows(&out, Some(&file), &secrets);
    let text = std::fs::read_to_string(&file).unwrap();
    for container in ["alpha-app", "alpha-billing", "beta-app", "gamma-app"] {
        assert!(
            text.contains(&format!("container: {container}\n")),
            "{text}"
        );
    }
    assert!(
        text.contains("password: { container: POSTGRES_PASSWORD }"),
        "{text}"
    );
    assert!(
        text.contains("beta-stopped (") && text.contains("start it (`docker start beta-stopped`)"),
        "{text}"
    );

    // Written again only with --force; the file is left as it was.
    pgfleet(dir.path(), &home)
        .args(["discover", "alpha", "--write"])
        .arg(&file)
        .run()
        .code_is(3)
        .stderr_has("the file exists; pass --force");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // The same facts as JSON, and the targets it names are what status reads, each one.
    let json = pgfleet(dir.path(), &home)
        .args(["discover", "alpha", "beta", "gamma", "--format", "json"])
        .run();
    json.success();
    never_shows(&json, None, &secrets);
    let doc = json.json();
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["command"], "discover");
    let found = targets(&doc);
    let fleet_dbs = [
        ("alpha-app", "app"),
        ("alpha-billing", "billing"),
        ("beta-app", "app"),
        ("gamma-app", "app"),
    ];
    for host in ["alpha", "beta", "gamma"] {
        for (container, db) in fleet_dbs {
            let key = (host.to_string(), container.to_string(), db.to_string());
            assert!(found.contains(&key), "{key:?} not in {found:?}");
        }
    }
    // The fleet's own databases, as the written file names them: other tests create and
    // drop theirs beside them meanwhile, and a container's target names depend on how many
    // databases it had when discover looked.
    let listed = pgfleet(dir.path(), &home)
        .arg("-i")
        .arg(&file)
        .args(["inventory", "--format", "json"])
        .run();
    listed.success();
    let ids: Vec<String> = listed.json()["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            fleet_dbs
                .iter()
                .any(|(c, db)| t["container"] == *c && t["dbname"] == *db)
        })
        .map(|t| t["target"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 12, "{ids:?}");
    pgfleet(dir.path(), &home)
        .arg("-i")
        .arg(&file)
        .arg("inventory")
        .run()
        .success()
        .stdout_has("container   alpha-billing");
    let status = pgfleet(dir.path(), &home)
        .arg("-i")
        .arg(&file)
        .args(["status", "--format", "json", "--limit", &ids.join(",")])
        .run();
    status.success();
    never_shows(&status, None, &secrets);
    let read = status.json();
    let statuses = read["targets"].as_array().unwrap();
    let read_ids: Vec<&str> = statuses
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(read_ids, ids, "{}", status.stdout);
    assert!(
        statuses.iter().all(|t| t["result"] == "ok"),
        "{}",
        status.stdout
    );
}

#[test]
fn an_unreachable_host_is_reported_and_the_others_still_give_their_part() {
    fleet();
    let dir = tempdir();
    let home = home(dir.path());
    let out = pgfleet(dir.path(), &home)
        .args(["discover", "alpha", "pgfleet@127.0.0.1:1", "-v"])
        .run();
    out.code_is(2)
        .stderr_has("Error: 127.0.0.1: cannot connect to 127.0.0.1:1")
        .stdout_has("  alpha:\n")
        .stdout_has("container: alpha-app")
        .stdout_has("  # not reached: 127.0.0.1: cannot connect")
        .stdout_has("  # 127.0.0.1:\n");
    never_shows(&out, None, &fleet_passwords());
    // A host not in known_hosts is refused as the other commands refuse it.
    std::fs::write(home.join(".ssh/known_hosts"), "").unwrap();
    pgfleet(dir.path(), &home)
        .args(["discover", "beta"])
        .run()
        .code_is(2)
        .stderr_has("--accept-new-host-keys");
}

/// Extra containers on the fleet's engine, and the image name they add, removed when the
/// test ends however it ends.
struct Lab(Vec<String>);

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&self.0)
            .output();
        let _ = Command::new("docker").args(["rmi", OTHER]).output();
    }
}

/// The fleet's image under a name that is no PostgreSQL image's.
const OTHER: &str = "pgfleet-disc/appserver:1";

fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fleet's image, also tagged as OTHER.
fn images() -> (String, String) {
    let env = std::fs::read_to_string(fleet().join("env")).unwrap();
    let image = env
        .lines()
        .find_map(|l| l.strip_prefix("FLEET_IMAGE="))
        .expect("FLEET_IMAGE in .fleet/env")
        .to_string();
    docker(&["tag", &image, OTHER]);
    (image, OTHER.to_string())
}

#[test]
fn a_home_lab_of_22_containers_gets_its_inventory_in_one_command() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    fleet();
    const POSTGRES: usize = 12;
    const PASSWORD: &str = "disc-S3cret pw'\"x";
    let name = |n: usize| format!("pgfleet-disc-{n}");
    let all: Vec<String> = (1..=POSTGRES + 4).map(name).collect();
    // Left over from a run that was killed: gone before this one starts.
    drop(Lab(all.clone()));
    let lab = Lab(all);
    let (image, other) = images();
    let envfile = tempdir();
    // An env file, so the password is on no command line.
    let env = |file: &str, extra: &str| {
        let path = envfile.path().join(file);
        std::fs::write(&path, format!("POSTGRES_PASSWORD={PASSWORD}\n{extra}")).unwrap();
        path.display().to_string()
    };
    let running_env = env("server.env", "POSTGRES_INITDB_ARGS=--no-sync\n");
    // PostgreSQL by image: its database named as the loop says; one has a name YAML
    // would read as a boolean, one trusts the socket and has no password.
    let handles: Vec<_> = (1..=POSTGRES)
        .map(|n| {
            let (image, running_env) = (image.clone(), running_env.clone());
            std::thread::spawn(move || {
                let db = match n {
                    1 => "yes".to_string(),
                    _ => format!("shop{n}"),
                };
                let mut args = vec![
                    "run".to_string(),
                    "-d".into(),
                    "--name".into(),
                    name(n),
                    "--stop-signal".into(),
                    "SIGINT".into(),
                    "-e".into(),
                    format!("POSTGRES_DB={db}"),
                ];
                if n == 2 {
                    args.extend([
                        "-e".into(),
                        "POSTGRES_HOST_AUTH_METHOD=trust".into(),
                        "-e".into(),
                        "POSTGRES_INITDB_ARGS=--no-sync".into(),
                    ]);
                } else {
                    args.extend(["--env-file".into(), running_env]);
                }
                args.push(image);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                docker(&args);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // PostgreSQL by its settings only, under another image name.
    docker(&[
        "run",
        "-d",
        "--name",
        &name(POSTGRES + 1),
        "--stop-signal",
        "SIGINT",
        "--env-file",
        &running_env,
        "-e",
        "POSTGRES_DB=settings_only",
        &other,
    ]);
    // A stopped PostgreSQL container (made, never started).
    docker(&[
        "create",
        "--name",
        &name(POSTGRES + 2),
        "--env-file",
        &running_env,
        &image,
    ]);
    // No database: another image, nothing of PostgreSQL's in its settings.
    docker(&[
        "run",
        "-d",
        "--name",
        &name(POSTGRES + 3),
        "--entrypoint",
        "/bin/sleep",
        &other,
        "600",
    ]);
    // An application with POSTGRES_* settings (how it reaches its database), no server.
    docker(&[
        "run",
        "-d",
        "--name",
        &name(POSTGRES + 4),
        "--env-file",
        &env("app.env", "POSTGRES_HOST=db\n"),
        "--entrypoint",
        "/bin/sleep",
        &other,
        "600",
    ]);
    // Every server answers before discover asks.
    for n in (1..=POSTGRES).chain([POSTGRES + 1]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !Command::new("docker")
            .args(["exec", &name(n), "pg_isready", "-q"])
            .status()
            .unwrap()
            .success()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{} never became ready",
                name(n)
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    let dir = tempdir();
    let home = home(dir.path());
    let file = dir.path().join("lab.yml");
    let mut secrets = fleet_passwords();
    secrets.push(PASSWORD.to_string());
    let json = pgfleet(dir.path(), &home)
        .args(["discover", "alpha", "--format", "json", "--write"])
        .arg(&file)
        .run();
    json.success();
    never_shows(&json, Some(&file), &secrets);
    let doc = json.json();
    let containers = doc["targets"][0]["containers"].as_array().unwrap();
    let ours: Vec<&Value> = containers
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("pgfleet-disc-"))
        .collect();
    let names: BTreeSet<&str> = ours.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let expected: BTreeSet<String> = (1..=POSTGRES + 2).chain([POSTGRES + 4]).map(name).collect();
    assert_eq!(
        names,
        expected.iter().map(String::as_str).collect(),
        "{}",
        json.stdout
    );
    let by_name = |n: usize| *ours.iter().find(|c| c["name"] == name(n)).unwrap();
    assert_eq!(
        by_name(1)["databases"],
        serde_json::json!(["postgres", "yes"])
    );
    assert_eq!(by_name(POSTGRES + 1)["matched_by"], "settings");
    assert_eq!(
        by_name(POSTGRES + 1)["databases"],
        serde_json::json!(["postgres", "settings_only"])
    );
    assert_eq!(by_name(POSTGRES + 2)["state"], "created");
    assert!(by_name(POSTGRES + 4)["error"].is_string());
    assert_eq!(
        by_name(POSTGRES + 1)["password_variable"],
        "POSTGRES_PASSWORD"
    );

    let found = targets(&doc);
    let ours: BTreeSet<(String, String)> = found
        .iter()
        .filter(|(_, c, _)| c.starts_with("pgfleet-disc-"))
        .map(|(_, c, d)| (c.clone(), d.clone()))
        .collect();
    let mut expected: BTreeSet<(String, String)> = (3..=POSTGRES)
        .map(|n| (name(n), format!("shop{n}")))
        .collect();
    expected.insert((name(1), "yes".into()));
    expected.insert((name(2), "shop2".into()));
    expected.insert((name(POSTGRES + 1), "settings_only".into()));
    assert_eq!(ours, expected);

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("database: \"yes\""), "{text}");
    assert!(
        text.contains(&format!("created: {} (", name(POSTGRES + 2))),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "left out: {} ({other}) has POSTGRES_* settings",
            name(POSTGRES + 4)
        )),
        "{text}"
    );
    // No password to read: exec, and no password line.
    assert!(
        text.contains(&format!(
            "      shop2:\n        container: {}\n        database: shop2\n        user: postgres\n        method: exec\n",
            name(2)
        )),
        "{text}"
    );

    // The database YAML would read as `true` is reached by its name.
    let query = pgfleet(dir.path(), &home)
        .arg("-i")
        .arg(&file)
        .args([
            "query",
            "--limit",
            "alpha/yes",
            "select current_database() as db",
        ])
        .run();
    query.success().stdout_has("alpha/yes  yes");
    never_shows(&query, None, &secrets);
    drop(lab);
}

#[test]
fn a_host_of_the_given_inventory_is_reached_and_written_with_its_settings() {
    fleet();
    let dir = tempdir();
    // No ~/.ssh at all: only the inventory says how to reach alpha.
    let home = dir.path().join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory/demo.yml");
    let file = dir.path().join("from-demo.yml");
    let out = pgfleet(dir.path(), &home)
        .arg("-i")
        .arg(&demo)
        .args(["discover", "alpha", "--write"])
        .arg(&file)
        .run();
    out.success().stdout_has("Wrote ");
    never_shows(&out, Some(&file), &fleet_passwords());
    let text = std::fs::read_to_string(&file).unwrap();
    for part in [
        "  alpha:\n    address: 127.0.0.1\n    port: 22201\n    user: pgfleet\n    identity_files: [\"/",
        "/.fleet/id_ed25519\"]\n    known_hosts: [\"/",
        "/.fleet/known_hosts\"]\n    databases:\n",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    pgfleet(dir.path(), &home)
        .arg("-i")
        .arg(&file)
        .args(["status", "--limit", "alpha/billing"])
        .run()
        .success();
    // Without -i, alpha is an ssh name like any other, which this home cannot reach.
    pgfleet(dir.path(), &home)
        .args(["discover", "alpha"])
        .run()
        .code_is(2);
}
