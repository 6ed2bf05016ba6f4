//! Ansible inventories read as Ansible reads them: each inventory here is written in
//! Ansible's own YAML and INI forms (children, group_vars/ and host_vars/ files and folders,
//! host ranges, `host:port`, ProxyJump), given to the real `ansible-inventory` (installed
//! by scripts/setup) and to `pgfleet inventory --format json`, and the two must agree on
//! the hosts, their groups, their connection variables and `pgfleet_databases`; `--limit`
//! must select what `ansible --list-hosts` does. Then the fleet is migrated through an
//! Ansible INI inventory, and through a docker context made by the real docker CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::fleet::{fleet, unique_db};
use crate::harness::{Cmd, Output, tempdir};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A program of ansible-core in `.venv-tools`; missing is a failure that says what to run.
fn ansible_bin(name: &str) -> PathBuf {
    let bin = repo().join(".venv-tools/bin").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/setup (it installs ansible-core into .venv-tools)",
        bin.display()
    );
    bin
}

/// Runs an ansible program in `dir` with no configuration of this machine's.
fn ansible(dir: &Path, program: &str, args: &[&str]) -> String {
    let cfg = dir.join("ansible-test.cfg");
    std::fs::write(&cfg, "[defaults]\n").unwrap();
    let out = Command::new(ansible_bin(program))
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_CONFIG", &cfg)
        .env("ANSIBLE_HOME", dir.join(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join(".ansible/tmp"))
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        // An inventory Ansible cannot parse must fail here, not turn into an empty one.
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
        .env("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "True")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `ansible-inventory -i INV --list`.
fn ansible_list(dir: &Path, inv: &str) -> Value {
    let text = ansible(dir, "ansible-inventory", &["-i", inv, "--list"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `ansible -i INV --list-hosts PATTERN`: the hosts Ansible selects.
fn ansible_hosts(dir: &Path, inv: &str, pattern: &str) -> BTreeSet<String> {
    let text = ansible(dir, "ansible", &["-i", inv, "--list-hosts", pattern]);
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("hosts ("))
        .skip(1)
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

fn pgfleet_inventory(dir: &Path, inv: &str, args: &[&str]) -> Output {
    Cmd::new()
        .dir(dir)
        .args(["-i", inv, "inventory"])
        .args(args)
        .run()
}

/// The groups each host is in, from `--list`, through children; `all` left out.
fn groups_of(list: &Value) -> BTreeMap<String, BTreeSet<String>> {
    fn hosts_under(list: &Value, group: &str, out: &mut BTreeSet<String>) {
        let g = &list[group];
        for h in g["hosts"].as_array().into_iter().flatten() {
            out.insert(h.as_str().unwrap().to_owned());
        }
        for c in g["children"].as_array().into_iter().flatten() {
            hosts_under(list, c.as_str().unwrap(), out);
        }
    }
    let mut by_host: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (group, _) in list.as_object().unwrap() {
        if group == "_meta" || group == "all" {
            continue;
        }
        let mut hosts = BTreeSet::new();
        hosts_under(list, group, &mut hosts);
        for h in hosts {
            by_host.entry(h).or_default().insert(group.clone());
        }
    }
    by_host
}

/// What Ansible's variables say the ProxyJump is.
fn proxy_jump(args: &str) -> Option<String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    words.iter().enumerate().find_map(|(i, w)| {
        if *w == "-J" {
            return words.get(i + 1).map(|s| s.to_string());
        }
        w.strip_prefix("ProxyJump=").map(str::to_owned)
    })
}

/// Ansible's `--list` and pgfleet's JSON agree on every host, group, connection variable
/// and database; hosts without pgfleet_databases are the ones pgfleet skipped.
#[track_caller]
fn agree(dir: &Path, inv: &str) -> Value {
    let list = ansible_list(dir, inv);
    let out = pgfleet_inventory(dir, inv, &["--format", "json"]);
    out.success();
    let doc = out.json();
    let hostvars = list["_meta"]["hostvars"].as_object().unwrap();
    let groups = groups_of(&list);
    let all_hosts: BTreeSet<String> = groups.keys().cloned().collect();

    let with_databases: BTreeSet<String> = all_hosts
        .iter()
        .filter(|h| {
            hostvars
                .get(*h)
                .is_some_and(|v| v.get("pgfleet_databases").is_some())
        })
        .cloned()
        .collect();
    let pg_hosts: BTreeSet<String> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pg_hosts, with_databases, "target hosts\n{out}");
    let skipped: BTreeSet<String> = doc["skipped_hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        skipped,
        all_hosts.difference(&with_databases).cloned().collect(),
        "skipped hosts"
    );

    for host in doc["hosts"].as_array().unwrap() {
        let name = host["name"].as_str().unwrap();
        let vars = &hostvars[name];
        let shown = format!("host {name}: ansible says {vars:#}\npgfleet says {host:#}");
        let pg_groups: BTreeSet<String> = host["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(pg_groups, groups[name], "groups of {shown}");
        let address = vars["ansible_host"].as_str().unwrap_or(name);
        assert_eq!(host["address"], address, "address of {shown}");
        let port = match &vars["ansible_port"] {
            Value::Null => Value::Null,
            Value::String(s) => Value::from(s.parse::<u16>().unwrap()),
            p => p.clone(),
        };
        assert_eq!(host["port"], port, "port of {shown}");
        assert_eq!(host["user"], vars["ansible_user"], "user of {shown}");
        let keys: Vec<Value> = vars["ansible_ssh_private_key_file"]
            .as_str()
            .map(Value::from)
            .into_iter()
            .collect();
        assert_eq!(host["identity_files"], Value::from(keys), "key of {shown}");
        let jump = vars["ansible_ssh_common_args"]
            .as_str()
            .and_then(proxy_jump);
        assert_eq!(host["jump"], Value::from(jump), "jump of {shown}");

        let databases = vars["pgfleet_databases"].as_object().unwrap();
        let targets: Vec<&Value> = doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["host"] == name)
            .collect();
        let names: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["database"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            databases.keys().map(String::as_str).collect(),
            "databases of {shown}"
        );
        for t in targets {
            let db = &databases[t["database"].as_str().unwrap()];
            assert_eq!(t["container"], db["container"], "{t}\n{shown}");
            assert_eq!(t["label"], db["label"], "{t}\n{shown}");
            assert_eq!(t["dbname"], db["database"], "{t}\n{shown}");
            if let Some(env) = db["password"]["env"].as_str() {
                assert_eq!(t["password"], format!("env {env}"), "{t}");
            }
            let method = db["method"]
                .as_str()
                .or(vars["pgfleet_method"].as_str())
                .unwrap_or("auto");
            assert_eq!(t["method"], method, "{t}\n{shown}");
        }
    }
    doc
}

/// `--limit PATTERN` selects the hosts `ansible --list-hosts PATTERN` does (of those that
/// are pgfleet targets).
#[track_caller]
fn limits_agree(dir: &Path, inv: &str, patterns: &[&str]) {
    let all = pgfleet_inventory(dir, inv, &["--format", "json"]).json();
    let targets: BTreeSet<String> = all["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_owned())
        .collect();
    for pattern in patterns {
        let expected: BTreeSet<String> = ansible_hosts(dir, inv, pattern)
            .intersection(&targets)
            .cloned()
            .collect();
        let out = pgfleet_inventory(dir, inv, &["--format", "json", "--limit", pattern]);
        out.success();
        let got: BTreeSet<String> = out.json()["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, expected, "--limit {pattern}");
    }
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// What both inventory forms share: vars files in folders and files, group_vars/all
/// overriding a group's inline vars (Ansible's order), a child group over its parent, the
/// host over both, and hosts without pgfleet_databases.
const VARS_FILES: &[(&str, &str)] = &[
    (
        "group_vars/all.yml",
        "pgfleet_method: tunnel\nansible_ssh_private_key_file: /keys/all\n",
    ),
    (
        "group_vars/lab.yml",
        "ansible_user: labadmin\npgfleet_method: auto\npgfleet_databases:\n  app: { container: app-db, password: { env: LAB_PW } }\n",
    ),
    ("group_vars/pis/main.yml", "ansible_user: pi\n"),
    // lab and backups are both at depth 1: the later name wins.
    ("group_vars/backups.yml", "pgfleet_method: exec\n"),
    (
        "group_vars/pis/databases.yaml",
        "pgfleet_databases:\n  app: { container: pi-db, database: shop, method: exec }\n",
    ),
    (
        "host_vars/nas.yml",
        "pgfleet_databases:\n  app: { container: app-db }\n  billing: { label: role=billing }\nansible_ssh_private_key_file: /keys/nas\n",
    ),
    ("host_vars/db02.lab/more.yml", "ansible_user: root\n"),
];

#[test]
fn a_yaml_inventory_resolves_as_ansible_resolves_it() {
    let dir = tempdir();
    write(dir.path(), VARS_FILES);
    write(
        dir.path(),
        &[(
            "hosts.yml",
            r#"all:
  vars:
    ansible_user: deploy
    ansible_ssh_private_key_file: /keys/inline-all
  children:
    lab:
      vars:
        ansible_ssh_common_args: -o ProxyJump=jump@gw.example.net:2022 -o StrictHostKeyChecking=yes
      hosts:
        db[01:03].lab:
        nas:
          ansible_host: 192.168.1.10
          ansible_port: 2222
      children:
        pis:
          vars:
            ansible_ssh_common_args: -J admin@bastion
          hosts:
            pi[a:b]:
            pi-c.lan:2200:
    offsite:
      hosts:
        vps:
          ansible_host: 203.0.113.7
        printer:
    backups:
      children:
        pis:
      hosts:
        nas:
"#,
        )],
    );
    let doc = agree(dir.path(), "hosts.yml");
    assert_eq!(doc["skipped_hosts"], serde_json::json!(["vps", "printer"]));
    limits_agree(
        dir.path(),
        "hosts.yml",
        &[
            "lab",
            "pis",
            "backups",
            "lab:!pis",
            "lab:&backups",
            "all:!nas",
            "db0*",
            "lab,!db02.lab",
            "pi[a:b]",
            "backups:&pis:!pia",
            "lab[0]",
            "lab[-1]",
            "lab[1:3]",
            "pis[1:]",
            "lab[2:]:!pis[0]",
            "~db0[12]",
            "~pi",
            "~.*lab$",
        ],
    );
    // A folder holding the inventory reads the same.
    let folder = pgfleet_inventory(dir.path(), ".", &["--format", "json"]).json();
    assert_eq!(folder["hosts"], doc["hosts"]);
    // The text listing says how many hosts were left out, and why.
    pgfleet_inventory(dir.path(), "hosts.yml", &[])
        .success()
        .stdout_has("2 hosts skipped: no pgfleet_databases (vps, printer)");
}

#[test]
fn an_ini_inventory_resolves_as_ansible_resolves_it() {
    let dir = tempdir();
    write(dir.path(), VARS_FILES);
    write(
        dir.path(),
        &[(
            "hosts",
            r#"# Ansible's INI form of the same kind of fleet
loose ansible_host=10.0.0.9

[lab]
db[01:03].lab
nas ansible_host=192.168.1.10 ansible_port=2222

[lab:vars]
ansible_ssh_common_args='-o ProxyJump=jump@gw.example.net:2022'

[pis]
pi[a:b]
pi-c.lan:2200 pgfleet_databases="{'app': {'container': 'inline-db'}}"

[pis:vars]
ansible_ssh_common_args=-J admin@bastion

[lab:children]
pis

[offsite]
vps ansible_host=203.0.113.7 ansible_password=not-a-real-secret

[backups:children]
pis

[backups]
nas

[all:vars]
ansible_user=deploy
"#,
        )],
    );
    let doc = agree(dir.path(), "hosts");
    assert_eq!(doc["skipped_hosts"], serde_json::json!(["loose", "vps"]));
    limits_agree(
        dir.path(),
        "hosts",
        &[
            "lab",
            "lab:!pis",
            "pis:&backups",
            "all:!nas:!pia",
            "pis,nas",
            "lab[0]",
            "lab[-2]",
            "lab[0:4]",
            "pis[1]",
            "~(nas|pia)",
        ],
    );
    pgfleet_inventory(dir.path(), "hosts", &[]).never_prints("not-a-real-secret");
}

/// What pgfleet cannot use is refused with the reason and what to write instead; no
/// password written in the inventory is ever shown.
#[test]
fn what_pgfleet_cannot_use_is_refused_clearly() {
    let dir = tempdir();
    let cases: &[(&str, &str, &str)] = &[
        (
            "proxycommand.yml",
            "all:\n  hosts:\n    nas:\n      ansible_ssh_common_args: -o ProxyCommand=\"ssh -W %h:%p -p 2022 admin@gw\"\n      pgfleet_databases: { app: { container: db } }\n",
            "proxycommand.yml:4:32: ansible_ssh_common_args (host `nas`) gives a ProxyCommand, which pgfleet cannot run (it opens its own SSH connection and jumps with ProxyJump only); write -o ProxyJump=admin@gw:2022 instead (it is the same hop)",
        ),
        (
            "vault.yml",
            "all:\n  hosts:\n    nas:\n      ansible_host: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        3131\n      pgfleet_databases: { app: { container: db } }\n",
            "vault.yml:5:9: ansible_host (host `nas`) is an ansible-vault value (!vault), which pgfleet does not decrypt",
        ),
        (
            "template.yml",
            "all:\n  hosts:\n    nas:\n      ansible_host: \"{{ lookup('env', 'NAS') }}\"\n      pgfleet_databases: { app: { container: db } }\n",
            "template.yml:4:21: ansible_host (host `nas`) is a Jinja2 template, which pgfleet does not evaluate; write the value itself",
        ),
        (
            "typo.yml",
            "all:\n  vars:\n    pgfleet_methd: exec\n  hosts:\n    nas:\n      pgfleet_databases: { app: { container: db } }\n",
            "typo.yml:3:5: unknown pgfleet variable `pgfleet_methd`; did you mean `pgfleet_method`?",
        ),
        (
            "password.yml",
            "all:\n  hosts:\n    nas:\n      pgfleet_databases: { app: { container: db, password: hunter2-secret } }\n",
            "password.yml:4:60: password (host `nas`): a password itself does not belong in the inventory; write where pgfleet reads the password",
        ),
        (
            "bad_line.ini",
            // Not after `password=`, which every output redacts anyway.
            "[lab]\nnas ansible_become_pass=hunter2 oops\n",
            "bad_line.ini:2:33: expected key=value here",
        ),
        (
            "none.ini",
            "[lab]\nnas ansible_password=hunter2-secret\n",
            "none.ini:2:1: no host of this Ansible inventory sets pgfleet_databases (1 host read)",
        ),
        (
            "undefined.ini",
            "[lab]\nnas\n[labs:vars]\nx=1\n",
            "undefined.ini:3:2: [labs:vars] is for a group that is not defined",
        ),
        (
            "vault_file.yml",
            "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n",
            "vault_file.yml:1: this file is encrypted with ansible-vault, which pgfleet does not decrypt",
        ),
    ];
    for (name, text, expected) in cases {
        write(dir.path(), &[(name, text)]);
        let out = pgfleet_inventory(dir.path(), name, &[]);
        out.code_is(3)
            .stderr_has(&format!("Error: {expected}"))
            .never_prints("hunter2")
            .never_prints("3131");
    }
}

/// A docker context made by the real docker CLI gives the host's address, user and port;
/// one that is not ssh:// is refused with what to do.
#[test]
fn docker_contexts_give_the_ssh_endpoint() {
    let dir = tempdir();
    let config = dir.path().join("docker");
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", &config)
            .output()
            .expect("run the docker CLI");
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    };
    docker(&[
        "context",
        "create",
        "nas",
        "--docker",
        "host=ssh://admin@127.0.0.1:22201",
    ]);
    docker(&[
        "context",
        "create",
        "sock",
        "--docker",
        "host=unix:///var/run/docker.sock",
    ]);
    write(
        dir.path(),
        &[
            (
                "inv.yml",
                "defaults:\n  user: deploy\nhosts:\n  nas:\n    docker_context: nas\n    databases:\n      app: { container: app-db }\n",
            ),
            (
                "ansible.yml",
                "all:\n  vars:\n    ansible_user: deploy\n  hosts:\n    nas:\n      pgfleet_docker_context: nas\n      pgfleet_databases: { app: { container: app-db } }\n",
            ),
            (
                "sock.yml",
                "hosts:\n  nas:\n    docker_context: sock\n    databases:\n      app: { container: app-db }\n",
            ),
            (
                "both.yml",
                "hosts:\n  nas:\n    docker_context: nas\n    port: 22\n    databases:\n      app: { container: app-db }\n",
            ),
        ],
    );
    let run = |inv: &str| {
        Cmd::new()
            .dir(dir.path())
            .env("DOCKER_CONFIG", &config)
            .args(["-i", inv, "inventory", "--format", "json"])
            .run()
    };
    for inv in ["inv.yml", "ansible.yml"] {
        let out = run(inv);
        out.success();
        let host = &out.json()["hosts"][0];
        // The context's user wins over defaults and group-wide values.
        assert_eq!(
            (&host["address"], &host["port"], &host["user"]),
            (
                &Value::from("127.0.0.1"),
                &Value::from(22201),
                &Value::from("admin")
            ),
            "{inv}: {host}"
        );
    }
    run("sock.yml")
        .code_is(3)
        .stderr_has("sock.yml:3:21: host `nas`: docker context `sock`: its endpoint is unix:///var/run/docker.sock, a docker socket on this machine: use local: true");
    run("both.yml")
        .code_is(3)
        .stderr_has("both.yml:4:11: host `nas` sets its port here and names docker context `nas`, which gives it too (ssh://admin@127.0.0.1:22201); keep one");
    Cmd::new()
        .dir(dir.path())
        .env("DOCKER_CONFIG", dir.path().join("empty"))
        .args(["-i", "inv.yml", "inventory"])
        .run()
        .code_is(3)
        .stderr_has("docker context `nas`: no such context in");
}

/// The local fleet migrated through an Ansible INI inventory: host vars inline and in
/// host_vars/, group vars in `[fleet:vars]`, the known_hosts file given to ssh.
#[test]
fn up_and_status_through_an_ansible_inventory() {
    let fleet = fleet();
    let dir = tempdir();
    let db = unique_db("ansible_up");
    let migrations = repo().join("migrations");
    write(
        dir.path(),
        &[
            (
                "inventory/hosts.ini",
                &format!(
                    "[fleet]\nalpha ansible_port=22201\nbeta ansible_port=22202 pgfleet_databases=\"{{'app': {{'container': 'beta-app', 'database': '{db}'}}}}\"\ngamma ansible_port=22203\n\n[fleet:vars]\nansible_host=127.0.0.1\nansible_user=pgfleet\nansible_ssh_private_key_file={key}\nansible_ssh_common_args='-o UserKnownHostsFile={known}'\npgfleet_migrations={migrations}\npgfleet_connect_timeout=3s\n",
                    key = fleet.join("id_ed25519").display(),
                    known = fleet.join("known_hosts").display(),
                    migrations = migrations.display(),
                ),
            ),
            (
                "inventory/group_vars/fleet.yml",
                "pgfleet_password: { container: POSTGRES_PASSWORD }\npgfleet_method: tunnel\n",
            ),
            (
                "inventory/host_vars/alpha.yml",
                &format!(
                    "pgfleet_databases:\n  app: {{ container: alpha-app, database: {db} }}\n  billing: {{ container: alpha-billing, database: {db}, method: exec }}\n"
                ),
            ),
            (
                "inventory/host_vars/gamma/db.yml",
                &format!("pgfleet_databases:\n  app: {{ container: gamma-app, database: {db} }}\n"),
            ),
        ],
    );
    let pgfleet = || Cmd::new().dir(dir.path()).args(["-i", "inventory"]);
    pgfleet()
        .arg("up")
        .run()
        .success()
        .stdout_has("4 targets: 4 ok; 16 migrations applied · exit 0");
    let status = pgfleet().args(["status", "--exit-code"]).run();
    status
        .success()
        .stdout_has("The targets agree on every version.");
    pgfleet()
        .args([
            "status",
            "--exit-code",
            "--limit",
            "fleet:!alpha/billing:&*/app",
        ])
        .run()
        .success()
        .stdout_has("alpha/app")
        .stdout_has("gamma/app");
}

/// The fleet reached through a docker context made with the real docker CLI.
#[test]
fn up_and_status_through_a_docker_context() {
    let fleet = fleet();
    let dir = tempdir();
    let config = dir.path().join("docker");
    let out = Command::new("docker")
        .args([
            "context",
            "create",
            "beta",
            "--docker",
            "host=ssh://pgfleet@127.0.0.1:22202",
        ])
        .env("DOCKER_CONFIG", &config)
        .output()
        .expect("run the docker CLI");
    assert!(out.status.success(), "{out:?}");
    let db = unique_db("ansible_context");
    write(
        dir.path(),
        &[(
            "inv.yml",
            &format!(
                "defaults:\n  identity_file: {key}\n  known_hosts: {known}\n  migrations: {migrations}\n  password: {{ container: POSTGRES_PASSWORD }}\nhosts:\n  beta:\n    docker_context: beta\n    databases:\n      app: {{ container: beta-app, database: {db} }}\n",
                key = fleet.join("id_ed25519").display(),
                known = fleet.join("known_hosts").display(),
                migrations = repo().join("migrations").display(),
            ),
        )],
    );
    let pgfleet = || {
        Cmd::new()
            .dir(dir.path())
            .env("DOCKER_CONFIG", &config)
            .args(["-i", "inv.yml"])
    };
    pgfleet()
        .arg("up")
        .run()
        .success()
        .stdout_has("1 target: 1 ok; 4 migrations applied · exit 0");
    pgfleet().args(["status", "--exit-code"]).run().success();
}

/// `ansible_connection: local` is this machine's docker; `pgfleet_jump` naming a host of
/// the inventory keeps that host (not skipped, though it has no databases); a jump loop
/// is refused.
#[test]
fn local_hosts_and_jumps_through_inventory_hosts() {
    let dir = tempdir();
    write(
        dir.path(),
        &[
            (
                "hosts.yml",
                "all:\n  hosts:\n    here:\n      ansible_connection: local\n      pgfleet_databases: { app: { container: db } }\n    bastion:\n      ansible_host: 198.51.100.1\n      ansible_user: jump\n    nas:\n      pgfleet_jump: bastion\n      pgfleet_databases: { app: { container: db } }\n    printer:\n",
            ),
            (
                "loop.yml",
                "all:\n  hosts:\n    a:\n      pgfleet_jump: b\n      pgfleet_databases: { app: { container: db } }\n    b:\n      pgfleet_jump: a\n",
            ),
        ],
    );
    let out = pgfleet_inventory(dir.path(), "hosts.yml", &["--format", "json"]);
    out.success();
    let doc = out.json();
    assert_eq!(doc["hosts"][0]["local"], true, "{doc}");
    assert_eq!(doc["hosts"][1]["jump"], "bastion", "{doc}");
    assert_eq!(doc["skipped_hosts"], serde_json::json!(["printer"]));
    pgfleet_inventory(dir.path(), "loop.yml", &[])
        .code_is(3)
        .stderr_has("Error: loop.yml:4:21: jump loop: a → b → a; one of these hosts must be reachable without a jump");
}
