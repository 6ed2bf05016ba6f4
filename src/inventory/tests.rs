use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// One inventory file `inv/main.yml`, as YAML text.
fn inv(yaml: &str) -> Inventory {
    files(&[("inv/main.yml", yaml)]).unwrap_or_else(|e| panic!("{e}"))
}

fn files(sources: &[(&str, &str)]) -> Result<Inventory, InventoryError> {
    let sources: Vec<(PathBuf, String)> = sources
        .iter()
        .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
        .collect();
    from_sources(Path::new("inv"), &sources)
}

fn error(yaml: &str) -> String {
    match files(&[("inv/main.yml", yaml)]) {
        Ok(inv) => panic!("expected an error, got {inv:#?}"),
        Err(e) => e.to_string(),
    }
}

fn target<'a>(inv: &'a Inventory, id: &str) -> &'a Target {
    inv.targets
        .iter()
        .find(|t| t.id() == id)
        .unwrap_or_else(|| panic!("no target {id}"))
}

fn ssh<'a>(inv: &'a Inventory, host: &str) -> &'a SshSettings {
    match &inv.host(host).expect("host").connection {
        Connection::Ssh(s) => s,
        Connection::Local => panic!("{host} is local"),
    }
}

const LAYERS: &str = r#"
defaults:
  user: deploy
  method: tunnel
  db_user: postgres
  db_port: 5000
  migrations: ../migrations
  password: { env: DEFAULT_PW }
  connect_timeout: 3s
groups:
  lab:
    hosts: [nas]
    vars: { user: admin, method: exec, db_user: labuser }
hosts:
  nas:
    method: auto
    databases:
      app:
        container: app-db
        user: app
        port: 5433
        method: tunnel
        migrations: ./app-migrations
        password: { file: ./pw }
      other: { container: other-db }
  pi:
    databases:
      x: { label: role=db }
"#;

#[test]
fn database_beats_host_beats_group_beats_defaults() {
    let inv = inv(LAYERS);
    let app = target(&inv, "nas/app");
    assert_eq!(app.user.as_deref(), Some("app"));
    assert_eq!(app.port, 5433);
    assert_eq!(app.method, Method::Tunnel);
    assert_eq!(app.migrations, PathBuf::from("inv/app-migrations"));
    assert_eq!(app.password, PasswordSource::File(PathBuf::from("inv/pw")));
    assert_eq!(app.container, ContainerRef::Name("app-db".into()));

    let other = target(&inv, "nas/other");
    assert_eq!(
        other.user.as_deref(),
        Some("labuser"),
        "group over defaults"
    );
    assert_eq!(other.method, Method::Auto, "host over group");
    assert_eq!(other.port, 5000, "defaults");
    assert_eq!(other.migrations, PathBuf::from("migrations"));
    assert_eq!(other.password, PasswordSource::Env("DEFAULT_PW".into()));
    assert_eq!(ssh(&inv, "nas").user.as_deref(), Some("admin"));
    assert_eq!(inv.host("nas").unwrap().groups, ["lab"]);

    let x = target(&inv, "pi/x");
    assert_eq!(x.user.as_deref(), Some("postgres"));
    assert_eq!(x.method, Method::Tunnel);
    assert_eq!(x.container, ContainerRef::Label("role=db".into()));
    let pi = ssh(&inv, "pi");
    assert_eq!(pi.user.as_deref(), Some("deploy"));
    assert_eq!(pi.address, "pi", "the address defaults to the name");
    assert_eq!(pi.connect_timeout, Duration::from_secs(3));
    assert!(inv.host("pi").unwrap().groups.is_empty());
    assert_eq!(
        inv.targets.iter().map(Target::id).collect::<Vec<_>>(),
        ["nas/app", "nas/other", "pi/x"],
        "file order"
    );
}

#[test]
fn built_in_defaults_apply_when_nothing_is_set() {
    let inv = inv("hosts:\n  h:\n    databases:\n      d: { container: c }\n");
    let t = target(&inv, "h/d");
    assert_eq!(t.database, None);
    assert_eq!(t.user, None);
    assert_eq!(t.password, PasswordSource::None);
    assert_eq!(t.method, Method::Auto);
    assert_eq!(t.migrations, PathBuf::from("./migrations"));
    assert_eq!(t.port, 5432);
    let h = ssh(&inv, "h");
    assert_eq!((h.port, h.user.as_deref()), (None, None));
    assert_eq!(h.connect_timeout, Duration::from_secs(10));
    assert_eq!(h.keepalive, Duration::from_secs(15));
    assert!(h.identity_files.is_empty() && h.known_hosts.is_empty() && h.jump.is_none());
    assert_eq!(inv.host("h").unwrap().docker_socket, "/var/run/docker.sock");
}

#[test]
fn yaml_1_1_booleans_stay_strings() {
    let inv = inv(
        "hosts:\n  h:\n    user: no\n    keepalive: off\n    databases:\n      d: { container: off, database: yes, user: n }\n",
    );
    let t = target(&inv, "h/d");
    assert_eq!(t.container, ContainerRef::Name("off".into()));
    assert_eq!(t.database.as_deref(), Some("yes"));
    assert_eq!(t.user.as_deref(), Some("n"));
    assert_eq!(ssh(&inv, "h").user.as_deref(), Some("no"));
    assert_eq!(ssh(&inv, "h").keepalive, Duration::ZERO);
}

#[test]
fn paths_start_at_the_file_that_sets_them() {
    let inv = files(&[
        (
            "inv/a.yml",
            "defaults:\n  known_hosts: [./kh, /etc/ssh/kh]\n  identity_files: [../keys/id]\n",
        ),
        (
            "inv/sub/b.yml",
            "hosts:\n  h:\n    migrations: ../../m\n    databases:\n      d: { container: c }\n",
        ),
    ])
    .unwrap();
    let h = ssh(&inv, "h");
    assert_eq!(
        h.known_hosts,
        [PathBuf::from("inv/kh"), "/etc/ssh/kh".into()]
    );
    assert_eq!(h.identity_files, [PathBuf::from("keys/id")]);
    assert_eq!(target(&inv, "h/d").migrations, PathBuf::from("m"));
}

#[test]
fn tilde_is_home() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let inv = inv(
        "hosts:\n  h:\n    identity_file: ~/.ssh/id_ed25519\n    databases:\n      d: { container: c }\n",
    );
    assert_eq!(
        ssh(&inv, "h").identity_files,
        [PathBuf::from(home).join(".ssh/id_ed25519")]
    );
}

const CONFLICT: &str = r#"
groups:
  lab:
    hosts: [nas]
    vars: { user: admin, method: exec }
  backup:
    hosts: [nas]
    vars: { user: root, method: exec }
hosts:
  nas:
    databases:
      app: { container: app-db }
"#;

#[test]
fn groups_setting_a_key_differently_is_an_error_naming_both() {
    let e = error(CONFLICT);
    assert!(
        e.starts_with("inv/main.yml:8:19: host `nas` is in groups `lab` and `backup`, whose vars set user differently (admin at inv/main.yml:5:19, root here)"),
        "{e}"
    );
}

#[test]
fn groups_agreeing_or_a_host_deciding_is_no_conflict() {
    // Both set method: exec, and the host sets user itself.
    let inv = inv(&CONFLICT.replace("  nas:\n", "  nas:\n    user: me\n"));
    assert_eq!(ssh(&inv, "nas").user.as_deref(), Some("me"));
    assert_eq!(target(&inv, "nas/app").method, Method::Exec);
    assert_eq!(inv.host("nas").unwrap().groups, ["lab", "backup"]);
}

const JUMPS: &str = r#"
hosts:
  bastion:
    address: bastion.example.net
  nas:
    jump: bastion
    databases:
      app: { container: app-db }
  vps:
    jump: ops@gw.example.org:2200
    databases:
      app: { container: app-db }
  deep:
    jump: nas
    databases:
      app: { container: app-db }
"#;

#[test]
fn jumps_name_a_host_or_an_address() {
    let inv = inv(JUMPS);
    assert_eq!(ssh(&inv, "nas").jump, Some(Jump::Host("bastion".into())));
    assert_eq!(ssh(&inv, "deep").jump, Some(Jump::Host("nas".into())));
    assert_eq!(
        ssh(&inv, "vps").jump,
        Some(Jump::Address {
            user: Some("ops".into()),
            host: "gw.example.org".into(),
            port: Some(2200)
        })
    );
    // bastion has no databases, but others jump through it.
    assert!(inv.targets.iter().all(|t| t.host != "bastion"));
    assert_eq!(inv.hosts.len(), 4);
}

#[test]
fn bad_jumps_are_errors() {
    let e = error(&JUMPS.replace("jump: bastion", "jump: bastoin"));
    assert!(
        e.contains(
            "main.yml:6:11: jump `bastoin` is not a host of the inventory (did you mean `bastion`?)"
        ),
        "{e}"
    );

    let e = error(&JUMPS.replace("jump: bastion", "jump: deep"));
    assert!(e.contains("jump loop: nas → deep → nas"), "{e}");

    let e = error(&JUMPS.replace("jump: bastion", "jump: nas"));
    assert!(e.contains("jump loop: nas → nas"), "{e}");

    let e = error(&JUMPS.replace("jump: bastion", "jump: gw:none"));
    assert!(e.contains("jump `gw:none`: `none` is not a port"), "{e}");

    let e = error(&JUMPS.replace("    address: bastion.example.net\n", "    local: true\n"));
    assert!(
        e.contains("`bastion` is a local host (no SSH) and cannot be jumped through"),
        "{e}"
    );
}

#[test]
fn a_host_nobody_jumps_through_needs_databases() {
    let e = error(&JUMPS.replace("jump: bastion", "jump: gw.lan"));
    assert!(
        e.starts_with("inv/main.yml:3:3: host `bastion` has no databases"),
        "{e}"
    );
}

#[test]
fn local_hosts_take_no_ssh_keys() {
    let ok = inv("hosts:\n  me:\n    local: true\n    databases:\n      d: { container: c }\n");
    assert_eq!(ok.host("me").unwrap().connection, Connection::Local);
    for key in [
        "address: x",
        "jump: gw.lan",
        "user: u",
        "port: 22",
        "identity_file: k",
        "known_hosts: k",
        "connect_timeout: 1s",
        "keepalive: 1s",
    ] {
        let e = error(&format!(
            "defaults:\n  user: fine-here\nhosts:\n  me:\n    local: true\n    {key}\n    databases:\n      d: {{ container: c }}\n"
        ));
        let name = key.split(':').next().unwrap();
        assert!(
            e.starts_with("inv/main.yml:6:") && e.contains(&format!("so {name} does not apply")),
            "{key}: {e}"
        );
    }
}

#[test]
fn unknown_keys_suggest_and_locate() {
    let e = error("hosts:\n  nas:\n    adress: x\n    databases:\n      d: { container: c }\n");
    assert_eq!(
        e,
        "inv/main.yml:3:5: unknown key `adress` in a host; did you mean `address`?"
    );
    let e = error("defaults:\n  conect_timeout: 1s\n");
    assert!(e.starts_with("inv/main.yml:2:3: unknown key `conect_timeout` in defaults or group vars; did you mean `connect_timeout`?"), "{e}");
    let e = error("host:\n  nas: {}\n");
    assert!(e.contains("unknown key `host` at the top level"), "{e}");
    assert!(e.contains("did you mean `hosts`?"), "{e}");
    let e = error("hosts:\n  nas:\n    container: c\n");
    assert!(
        e.contains("unknown key `container` in a host: it belongs to a database"),
        "{e}"
    );
    let e = error("hosts:\n  nas:\n    databases:\n      d: { container: c, colour: red }\n");
    assert!(e.contains("unknown key `colour` in a database; the keys here are container, label, database, user, password, method, migrations, port"), "{e}");
}

#[test]
fn passwords_written_in_the_file_are_refused_and_never_repeated() {
    for value in [
        "s3cr3t-value",
        "123456789",
        "{ env: A, file: s3cr3t-value }",
    ] {
        let e = error(&format!(
            "hosts:\n  h:\n    databases:\n      d:\n        container: c\n        password: {value}\n"
        ));
        assert!(e.starts_with("inv/main.yml:6:"), "{e}");
        assert!(!e.contains("s3cr3t") && !e.contains("123456789"), "{e}");
    }
}

#[test]
fn other_errors_say_what_to_do() {
    let cases = [
        (
            "hosts:\n  h:\n    databases:\n      d: { container: c, method: tunel }\n",
            "method `tunel` is not tunnel, exec or auto; did you mean `tunnel`?",
        ),
        (
            "hosts:\n  h:\n    connect_timeout: 0s\n    databases:\n      d: { container: c }\n",
            "connect_timeout must be more than 0",
        ),
        (
            "hosts:\n  h:\n    port: 0\n    databases:\n      d: { container: c }\n",
            "port: 0 is not a port",
        ),
        (
            "hosts:\n  h:\n    databases:\n      d:\n",
            "database `h/d` is empty",
        ),
        (
            "hosts:\n  h:\n    databases:\n      d: { container: \"\" }\n",
            "container is empty",
        ),
        (
            "hosts:\n  h/x:\n    databases:\n      d: { container: c }\n",
            "host name `h/x` may not contain",
        ),
        (
            "hosts:\n  h:\n    identity_file: a\n    identity_files: [b]\n    databases:\n      d: { container: c }\n",
            "identity_file and identity_files are both set",
        ),
        (
            "groups:\n  g: {}\nhosts:\n  h:\n    databases:\n      d: { container: c }\n",
            "group `g` has no hosts",
        ),
        (
            "groups:\n  h:\n    hosts: [h]\nhosts:\n  h:\n    databases:\n      d: { container: c }\n",
            "`h` is both a group and a host",
        ),
        (
            "hosts:\n  h: {}\n  h: {}\n",
            "`h` appears twice in the same mapping",
        ),
        ("- a\n", "inv/main.yml:1:1: expected a mapping here"),
        (
            "hosts:\n  h:\n    port: 99999\n",
            "inv/main.yml:3:11: expected a port number, 1 to 65535",
        ),
        (
            "hosts:\n  h:\n    local: maybe\n",
            "inv/main.yml:3:12: expected true or false",
        ),
        ("hosts: {}\n---\nhosts: {}\n", "holds one YAML document"),
    ];
    for (yaml, expected) in cases {
        let e = error(yaml);
        assert!(e.contains(expected), "{yaml}\n→ {e}");
    }
}

#[test]
fn files_of_a_folder_merge_but_do_not_redefine() {
    let host = "hosts:\n  h:\n    databases:\n      d: { container: c }\n";
    let e = files(&[("inv/a.yml", host), ("inv/b.yml", host)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "inv/b.yml:2:3: host `h` is defined twice: here and at inv/a.yml:2:3; keep one"
    );
    let group = "groups:\n  g:\n    hosts: [h]\n";
    let e = files(&[
        ("inv/a.yml", &format!("{group}{host}")),
        ("inv/b.yml", group),
    ])
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("group `g` is defined twice: here and at inv/a.yml:2:3"),
        "{e}"
    );
    let e = files(&[
        ("inv/a.yml", "defaults:\n  user: a\n"),
        ("inv/b.yml", &format!("defaults:\n  user: b\n{host}")),
    ])
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("inv/b.yml:2:9: defaults: user is also set at inv/a.yml:2:9"),
        "{e}"
    );
    // Groups may list hosts of other files; defaults keys may be split across files.
    let inv = files(&[
        (
            "inv/a.yml",
            "defaults:\n  user: a\ngroups:\n  g:\n    hosts: [h]\n    vars: { method: exec }\n",
        ),
        ("inv/b.yml", &format!("defaults:\n  port: 2222\n{host}")),
    ])
    .unwrap();
    assert_eq!(ssh(&inv, "h").user.as_deref(), Some("a"));
    assert_eq!(ssh(&inv, "h").port, Some(2222));
    assert_eq!(target(&inv, "h/d").method, Method::Exec);
}

const FLEET: &str = r#"
groups:
  lab:
    hosts: [nas, pi]
  cloud:
    hosts: [vps]
hosts:
  nas:
    databases:
      app: { container: a }
      old: { container: o }
  pi:
    databases:
      app: { container: a }
  vps:
    databases:
      app: { container: a }
      shop: { container: s }
"#;

fn ids(inv: &Inventory, limit: &[&str]) -> Result<Vec<String>, String> {
    let limit: Vec<String> = limit.iter().map(|s| (*s).to_owned()).collect();
    select(inv, &limit)
        .map(|ts| ts.iter().map(|t| t.id()).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn limit_selects_hosts_groups_and_targets() {
    let inv = inv(FLEET);
    let all = ["nas/app", "nas/old", "pi/app", "vps/app", "vps/shop"];
    assert_eq!(ids(&inv, &[]).unwrap(), all);
    assert_eq!(ids(&inv, &["nas"]).unwrap(), ["nas/app", "nas/old"]);
    assert_eq!(
        ids(&inv, &["lab"]).unwrap(),
        ["nas/app", "nas/old", "pi/app"]
    );
    assert_eq!(
        ids(&inv, &["*/app"]).unwrap(),
        ["nas/app", "pi/app", "vps/app"]
    );
    assert_eq!(ids(&inv, &["n*"]).unwrap(), ["nas/app", "nas/old"]);
    assert_eq!(
        ids(&inv, &["vps/shop", "pi"]).unwrap(),
        ["pi/app", "vps/shop"]
    );
    assert_eq!(ids(&inv, &["vps/shop,pi"]).unwrap(), ["pi/app", "vps/shop"]);
    assert_eq!(ids(&inv, &["*"]).unwrap(), all);
    // Ansible's implicit group; a glob does not reach it.
    assert_eq!(ids(&inv, &["all"]).unwrap(), all);
    assert_eq!(ids(&inv, &["all,!lab"]).unwrap(), ["vps/app", "vps/shop"]);
    assert!(ids(&inv, &["al*"]).is_err());
}

#[test]
fn limit_exclusions() {
    let inv = inv(FLEET);
    assert_eq!(
        ids(&inv, &["lab", "!nas/old"]).unwrap(),
        ["nas/app", "pi/app"]
    );
    assert_eq!(ids(&inv, &["!lab"]).unwrap(), ["vps/app", "vps/shop"]);
    assert_eq!(ids(&inv, &["!*/app", "!cloud"]).unwrap(), ["nas/old"]);
    assert_eq!(ids(&inv, &["*/app,!pi"]).unwrap(), ["nas/app", "vps/app"]);
}

#[test]
fn limit_takes_ansible_separators_and_intersections() {
    let inv = inv(FLEET);
    assert_eq!(ids(&inv, &["lab:!nas/old"]).unwrap(), ["nas/app", "pi/app"]);
    assert_eq!(ids(&inv, &["lab:&*/app"]).unwrap(), ["nas/app", "pi/app"]);
    assert_eq!(
        ids(&inv, &["all:&lab:!pi"]).unwrap(),
        ["nas/app", "nas/old"]
    );
    // Only intersections: of everything, as Ansible prepends `all`.
    assert_eq!(ids(&inv, &["&cloud"]).unwrap(), ["vps/app", "vps/shop"]);
    // A glob class keeps its colon.
    assert_eq!(ids(&inv, &["[n:p]*/app"]).unwrap(), ["nas/app", "pi/app"]);
    assert!(
        ids(&inv, &["lab:&"])
            .unwrap_err()
            .contains("empty pattern after &")
    );
    assert!(
        ids(&inv, &["lab:&nope"])
            .unwrap_err()
            .starts_with("--limit `&nope` matches no host")
    );
}

#[test]
fn limit_takes_ansible_regexes_subscripts_and_files() {
    let inv = inv(FLEET);
    // `~` is a regex matched from the start of a name, as Ansible's re.match.
    assert_eq!(ids(&inv, &["~n.s"]).unwrap(), ["nas/app", "nas/old"]);
    assert_eq!(
        ids(&inv, &["~(pi|vps)$"]).unwrap(),
        ["pi/app", "vps/app", "vps/shop"]
    );
    assert_eq!(ids(&inv, &["~.*/shop"]).unwrap(), ["vps/shop"]);
    assert!(ids(&inv, &["~as"]).unwrap_err().contains("matches no host"));
    let e = ids(&inv, &["~(nas"]).unwrap_err();
    assert!(
        e.starts_with("--limit `~(nas` is not a regular expression: "),
        "{e}"
    );
    assert!(e.contains("unclosed group"), "{e}");
    // A subscript picks hosts by position among those the pattern matches.
    assert_eq!(ids(&inv, &["lab[0]"]).unwrap(), ["nas/app", "nas/old"]);
    assert_eq!(ids(&inv, &["lab[-1]"]).unwrap(), ["pi/app"]);
    assert_eq!(
        ids(&inv, &["all[1:2]"]).unwrap(),
        ["pi/app", "vps/app", "vps/shop"]
    );
    assert_eq!(
        ids(&inv, &["all[1:]"]).unwrap(),
        ["pi/app", "vps/app", "vps/shop"]
    );
    assert_eq!(ids(&inv, &["all[0:9]"]).unwrap().len(), 5);
    assert_eq!(ids(&inv, &["*/app[1]"]).unwrap(), ["pi/app"]);
    assert_eq!(
        ids(&inv, &["all:!lab[0]"]).unwrap(),
        ["pi/app", "vps/app", "vps/shop"]
    );
    assert_eq!(ids(&inv, &["all:&*/app[-1]"]).unwrap(), ["vps/app"]);
    let e = ids(&inv, &["lab[2]"]).unwrap_err();
    assert_eq!(
        e,
        "--limit `lab[2]` picks no host: the pattern matches 2 hosts (nas, pi), counted from 0 (and from -1 at the end); pick within them"
    );
    assert!(
        ids(&inv, &["lab[-3]"])
            .unwrap_err()
            .contains("picks no host")
    );
    assert!(
        ids(&inv, &["lab[5:]"])
            .unwrap_err()
            .contains("picks no host")
    );
    // Other brackets stay glob classes.
    assert_eq!(ids(&inv, &["[np]*/app"]).unwrap(), ["nas/app", "pi/app"]);
    // `@FILE`: the patterns of its lines, as Ansible's retry files.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("retry");
    std::fs::write(&file, "pi\n\nvps/shop,!x*\n").unwrap();
    let at = format!("@{}", file.display());
    assert!(
        ids(&inv, &[&at])
            .unwrap_err()
            .contains("`!x*` matches no host")
    );
    std::fs::write(&file, "pi\n\nvps/shop\n").unwrap();
    assert_eq!(ids(&inv, &[&at]).unwrap(), ["pi/app", "vps/shop"]);
    assert_eq!(ids(&inv, &[&format!("{at}:!pi")]).unwrap(), ["vps/shop"]);
    std::fs::write(&file, "\n  \n").unwrap();
    assert!(
        ids(&inv, &[&at])
            .unwrap_err()
            .contains("holds no pattern (an empty limit would select every target)")
    );
    let e = ids(&inv, &["@/nonexistent/retry"]).unwrap_err();
    assert!(
        e.starts_with("--limit @/nonexistent/retry: cannot read /nonexistent/retry: "),
        "{e}"
    );
}

#[test]
fn limit_errors_list_what_exists() {
    let inv = inv(FLEET);
    let e = ids(&inv, &["nsa"]).unwrap_err();
    assert!(e.starts_with("--limit `nsa` matches no host, group or target (did you mean `nas`?). Hosts: nas, pi, vps. Groups: lab, cloud. Targets: nas/app, nas/old, pi/app, vps/app, vps/shop."), "{e}");
    let e = ids(&inv, &["lab", "!nope*"]).unwrap_err();
    assert!(e.starts_with("--limit `!nope*` matches no host"), "{e}");
    let e = ids(&inv, &["lab", "!lab"]).unwrap_err();
    assert_eq!(
        e,
        "--limit lab,!lab selects none of the 5 targets; loosen the patterns (`pgfleet inventory` lists them)"
    );
    assert!(ids(&inv, &[""]).unwrap_err().contains("empty pattern"));
    assert!(
        ids(&inv, &["!"])
            .unwrap_err()
            .contains("empty pattern after !")
    );
    assert!(ids(&inv, &["a["]).unwrap_err().starts_with("--limit `a[`:"));
}

#[test]
fn anchors_and_merge_keys_work() {
    let inv = inv(
        "hosts:\n  a: &base\n    user: u\n    databases:\n      d: { container: c }\n  b:\n    <<: *base\n    address: b.lan\n",
    );
    assert_eq!(ssh(&inv, "b").user.as_deref(), Some("u"));
    assert_eq!(ssh(&inv, "b").address, "b.lan");
    assert_eq!(
        target(&inv, "b/d").container,
        ContainerRef::Name("c".into())
    );
}

#[test]
fn drift_ignore_is_layered_and_checked() {
    use crate::schema::Ignore;
    let i = inv("
defaults:
  drift_ignore: [owners]
hosts:
  nas:
    drift_ignore: [owners, privileges]
    databases: { app: { container: a } }
  pi:
    databases: { app: { container: b } }
");
    assert_eq!(
        target(&i, "nas/app").drift_ignore,
        [Ignore::Owners, Ignore::Privileges]
    );
    assert_eq!(target(&i, "pi/app").drift_ignore, [Ignore::Owners]);
    let e = error(
        "
defaults:
  drift_ignore: [owner]
hosts:
  nas:
    databases: { app: { container: a } }
",
    );
    assert!(
        e.contains("drift_ignore: cannot ignore `owner` (did you mean `owners`?)"),
        "{e}"
    );
}

#[test]
fn tls_settings_layer_like_the_others_and_are_refused_for_exec() {
    let inv = inv(r#"
defaults:
  sslmode: verify-ca
  sslrootcert: certs/ca.crt
hosts:
  h:
    sslcert: client.crt
    sslkey: client.key
    databases:
      d: { container: c, method: tunnel, sslmode: verify-full, sslrootcert: system }
      e: { container: c, method: tunnel }
"#);
    let d = &target(&inv, "h/d").tls;
    assert_eq!(d.sslmode.as_deref(), Some("verify-full"));
    assert_eq!(d.sslrootcert.as_deref(), Some("system"));
    assert_eq!(d.sslcert, Some(PathBuf::from("inv/client.crt")));
    let e = &target(&inv, "h/e").tls;
    assert_eq!(e.sslmode.as_deref(), Some("verify-ca"));
    assert_eq!(e.sslrootcert.as_deref(), Some("inv/certs/ca.crt"));
    assert_eq!(e.sslkey, Some(PathBuf::from("inv/client.key")));

    let e =
        error("hosts:\n  h:\n    databases:\n      d: { container: c, sslmode: verify_full }\n");
    assert!(
        e.contains("sslmode `verify_full` is not one of")
            && e.contains("did you mean `verify-full`?"),
        "{e}"
    );
    let e = error(
        "defaults:\n  method: exec\nhosts:\n  h:\n    databases:\n      d: { container: c, sslmode: require }\n",
    );
    assert!(
        e.contains("inv/main.yml:6:")
            && e.contains("sslmode is set, but method is exec: psql runs inside the container over its local socket"),
        "{e}"
    );
}
