//! OpenSSH's trust as known_hosts and ssh_config express it, against a real OpenSSH sshd:
//! hashed, wildcard and negated host patterns, `@revoked`, `@cert-authority` with host
//! certificates signed by `ssh-keygen -s` (valid, from another CA, expired, for another
//! host), and ssh_config's `Include` and `Match` through the pgfleet binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use pgfleet::transport::ssh::{SshError, SshOptions, SshSession};

use crate::harness;
use crate::ssh::{
    SshdProcess, block_on, free_port, keygen, known_hosts, options, run, sshd, start_sshd_with,
    whoami,
};

/// The test sshd's host key as known_hosts writes it: `ssh-ed25519 AAAA…`.
fn host_key() -> String {
    let key = std::fs::read_to_string(sshd().dir.join("host_key.pub")).unwrap();
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// Why connecting with `options` was refused, as the user reads it.
fn refusal(options: &SshOptions) -> String {
    block_on(SshSession::connect(options))
        .err()
        .expect("the connection must be refused")
        .to_string()
}

fn connects(options: &SshOptions) {
    if let Err(e) = block_on(SshSession::connect(options)) {
        panic!("the connection must succeed: {e}");
    }
}

/// `options` for the test sshd on `port`.
fn at_port(port: u16, known: PathBuf) -> SshOptions {
    let mut o = options(known);
    o.port = port;
    o
}

#[test]
fn hashed_entries_match_their_host() {
    let dir = harness::tempdir();
    let known = known_hosts(dir.path(), sshd().port);
    // OpenSSH's own hashing (HashKnownHosts), not a hash made here.
    run(Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&known)
        .stdout(std::process::Stdio::null()));
    let hashed = std::fs::read_to_string(&known).unwrap();
    assert!(
        hashed.contains("|1|") && !hashed.contains("127.0.0.1"),
        "{hashed}"
    );
    connects(&options(known));
}

#[test]
fn wildcard_and_negated_patterns_decide_which_lines_apply() {
    let dir = harness::tempdir();
    let port = sshd().port;
    let key = host_key();
    let wildcard = write(
        &dir.path().join("wildcard"),
        &format!("other.example,[127.0.0.?]:* {key}\n"),
    );
    connects(&options(wildcard));

    // The negated pattern names this port: the line does not apply, whatever else matches.
    let negated = write(
        &dir.path().join("negated"),
        &format!("[127.0.0.1]:*,![127.0.0.1]:{port} {key}\n[127.0.0.1]:{port} ssh-ed25519\n"),
    );
    let err = block_on(SshSession::connect(&options(negated.clone())))
        .err()
        .expect("refused");
    assert!(matches!(err, SshError::UnknownHostKey { .. }), "{err}");
    // The line that cannot be read is named: it may be the one meant for this host.
    assert!(
        err.to_string().contains(&format!(
            "skipped, as OpenSSH skips them: {}:2: a ssh-ed25519 key with no key data",
            negated.display()
        )),
        "{err}"
    );

    // Another port is negated: the line applies here.
    let elsewhere = write(
        &dir.path().join("elsewhere"),
        &format!("[127.0.0.1]:*,![127.0.0.1]:{} {key}\n", free_port()),
    );
    connects(&options(elsewhere));
}

#[test]
fn a_revoked_key_is_refused_even_where_another_line_accepts_it() {
    let dir = harness::tempdir();
    let port = sshd().port;
    let key = host_key();
    let known = write(
        &dir.path().join("known_hosts"),
        &format!("[127.0.0.1]:{port} {key}\n# revoked after the leak\n@revoked * {key}\n"),
    );
    let mut accept = options(known.clone());
    accept.accept_new_host_keys = true;
    let text = refusal(&accept);
    assert!(
        text.contains("the host key of [127.0.0.1]:")
            && text.contains("is revoked")
            && text.contains(&format!("@revoked at {}:3", known.display())),
        "{text}"
    );
}

/// A throwaway CA (`ssh-keygen` key pair) in `dir`, named `name`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    keygen(&path, "");
    path
}

/// Signs a copy of the test sshd's host key with `ca` (`ssh-keygen -s -h`) and starts an
/// sshd presenting that certificate; returns its port.
fn certified_sshd(dir: &Path, ca: &Path, principals: &str, validity: &str) -> (SshdProcess, u16) {
    let public = dir.join("host_key.pub");
    std::fs::copy(sshd().dir.join("host_key.pub"), &public).unwrap();
    run(Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(ca)
        .args([
            "-I",
            "pgfleet-test-host",
            "-h",
            "-n",
            principals,
            "-V",
            validity,
        ])
        .arg(&public)
        // Dates in -V are local time: fixed here, so that the messages' UTC times are known.
        .env("TZ", "UTC")
        .stderr(std::process::Stdio::piped()));
    let port = free_port();
    let process = start_sshd_with(
        &sshd().dir,
        port,
        &format!(
            "HostCertificate {}\n",
            dir.join("host_key-cert.pub").display()
        ),
    );
    (process, port)
}

fn ca_line(ca: &Path, patterns: &str) -> String {
    let key = std::fs::read_to_string(ca.with_extension("pub")).unwrap();
    format!("@cert-authority {patterns} {}", key.trim())
}

#[test]
fn a_host_certificate_signed_by_a_listed_ca_is_accepted() {
    let dir = harness::tempdir();
    let ca = make_ca(dir.path(), "ca");
    let (_sshd, port) = certified_sshd(dir.path(), &ca, "127.0.0.1,localhost", "-5m:+1h");
    // The CA is all that is known of this host: only the certificate can be trusted.
    let known = write(
        &dir.path().join("known_hosts"),
        &format!("{}\n", ca_line(&ca, "[127.0.0.1]:*,localhost")),
    );
    connects(&at_port(port, known.clone()));
    let log = std::fs::read_to_string(sshd().dir.join(format!("sshd_{port}.log"))).unwrap();
    assert!(
        log.contains("ssh-ed25519-cert-v01@openssh.com"),
        "the sshd's log shows no certificate negotiated:\n{log}"
    );
    // Nothing was learned: the CA vouched for the host.
    assert_eq!(std::fs::read_to_string(&known).unwrap().lines().count(), 1);

    // As OpenSSH: a host whose plain key is listed connects even when it presents a
    // certificate nobody here vouches for.
    let plain = write(
        &dir.path().join("plain"),
        &format!("[127.0.0.1]:{port} {}\n", host_key()),
    );
    connects(&at_port(port, plain));

    // A revoked CA is refused, naming its line, whatever else vouches for the host.
    let revoked = write(
        &dir.path().join("revoked"),
        &format!(
            "{}\n[127.0.0.1]:{port} {}\n@revoked * {}\n",
            ca_line(&ca, "*"),
            host_key(),
            std::fs::read_to_string(ca.with_extension("pub"))
                .unwrap()
                .trim()
        ),
    );
    let text = refusal(&at_port(port, revoked.clone()));
    assert!(
        text.contains("the certificate authority of [127.0.0.1]:")
            && text.contains(&format!("@revoked at {}:3", revoked.display())),
        "{text}"
    );
}

#[test]
fn a_ca_line_for_a_host_without_a_certificate_says_so() {
    let dir = harness::tempdir();
    let ca = make_ca(dir.path(), "ca");
    let known = write(
        &dir.path().join("known_hosts"),
        &format!("# the fleet's CA\n{}\n", ca_line(&ca, "[127.0.0.1]:*")),
    );
    let text = refusal(&options(known.clone()));
    assert!(
        text.contains(&format!(
            "The @cert-authority line at {}:2 covers [127.0.0.1]:{}, but the host presented a plain key, not a certificate",
            known.display(),
            sshd().port
        )),
        "{text}"
    );
}

#[test]
fn a_certificate_from_a_ca_not_listed_for_the_host_is_not_trusted() {
    let dir = harness::tempdir();
    let ca = make_ca(dir.path(), "ca");
    let stranger = make_ca(dir.path(), "other_ca");
    let (_sshd, port) = certified_sshd(dir.path(), &ca, "127.0.0.1", "-5m:+1h");
    let fingerprint = String::from_utf8(
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(ca.with_extension("pub"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_string();
    for (name, line) in [
        // Another CA for this host; this CA for other hosts only.
        ("other_ca", ca_line(&stranger, "*")),
        ("other_hosts", ca_line(&ca, "*.example,![127.0.0.1]:*")),
    ] {
        let known = write(&dir.path().join(name), &format!("{line}\n"));
        let err = block_on(SshSession::connect(&at_port(port, known)))
            .err()
            .expect("refused");
        let text = err.to_string();
        assert!(matches!(err, SshError::UnknownHostKey { .. }), "{text}");
        assert!(
            text.contains(&format!(
                "host certificate signed by the CA {fingerprint}, which no @cert-authority line"
            )),
            "{name}: {text}"
        );
    }
}

#[test]
fn an_expired_certificate_is_refused_even_with_accept_new() {
    let dir = harness::tempdir();
    let ca = make_ca(dir.path(), "ca");
    let (_sshd, port) = certified_sshd(dir.path(), &ca, "127.0.0.1", "20200101:20200102");
    let known = write(
        &dir.path().join("known_hosts"),
        &format!("{}\n", ca_line(&ca, "*")),
    );
    let mut accept = at_port(port, known.clone());
    accept.accept_new_host_keys = true;
    let text = refusal(&accept);
    assert!(
        text.contains(&format!(
            "signed by the certificate authority listed at {}:1, but it expired at 2020-01-02",
            known.display()
        )) && text.contains("ssh-keygen -s CA_KEY -h -n 127.0.0.1"),
        "{text}"
    );
    // Its key was not learned in its stead.
    assert_eq!(std::fs::read_to_string(&known).unwrap().lines().count(), 1);
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let dir = harness::tempdir();
    let ca = make_ca(dir.path(), "ca");
    let (_sshd, port) = certified_sshd(dir.path(), &ca, "db.example,10.9.9.9", "-5m:+1h");
    let known = write(
        &dir.path().join("known_hosts"),
        &format!("{}\n", ca_line(&ca, "*")),
    );
    let text = refusal(&at_port(port, known));
    assert!(
        text.contains("but it is valid for db.example, 10.9.9.9, not for 127.0.0.1"),
        "{text}"
    );
}

/// A home folder whose `~/.ssh/config` is `config` (plus `files` beside it), and an
/// inventory naming the host `trust-alias` only: what ssh_config says decides where it
/// leads. The docker socket does not exist, so a run that got through SSH ends there.
fn ssh_config_setup(dir: &Path, config: &str, files: &[(&str, &str)]) -> PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/config"), config).unwrap();
    for (name, text) in files {
        let path = home.join(".ssh").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let known = known_hosts(dir, sshd().port);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("inv.yml"),
        format!(
            "defaults:\n  migrations: {}\nhosts:\n  t:\n    address: trust-alias\n    known_hosts: {}\n    docker_socket: /nonexistent/pgfleet-trust.sock\n    databases:\n      app: {{ container: pg }}\n",
            dir.join("migrations").display(),
            known.display()
        ),
    )
    .unwrap();
    home
}

#[test]
fn ssh_config_include_and_match_host_lead_to_the_host() {
    let dir = harness::tempdir();
    let s = sshd();
    // The included file applies where the Include stands; `Match host` sees the HostName
    // set by the line before it, `originalhost` the name as given.
    let home = ssh_config_setup(
        dir.path(),
        "Host nothing-here\n    Include unused.conf\n\nHost *\n    Include config.d/*.conf\n",
        &[
            ("unused.conf", "Port 1\n"),
            (
                "config.d/10-name.conf",
                "Host trust-*\n    HostName 127.0.0.1\n",
            ),
            (
                "config.d/20-match.conf",
                &format!(
                    "Match host 127.0.0.1 originalhost trust-alias\n    Port {}\n    User {}\n    IdentityFile {}\n",
                    s.port,
                    whoami(),
                    s.dir.join("client_key").display()
                ),
            ),
        ],
    );
    let out = harness::Cmd::new()
        .arg("-i")
        .arg(dir.path().join("inv.yml"))
        .arg("status")
        .env("HOME", &home)
        .run();
    // Through SSH as the configuration says: sshd ran the check that finds no socket.
    out.code_is(2)
        .stderr_has("/nonexistent/pgfleet-trust.sock does not exist there")
        .never_prints("cannot connect to")
        .never_prints("authentication as");
}

#[test]
fn an_undecidable_match_is_refused_naming_its_line() {
    let dir = harness::tempdir();
    let home = ssh_config_setup(
        dir.path(),
        "Include conf.d/*\n\nHost other\n    User x\n",
        &[(
            "conf.d/exec",
            "Match originalhost trust-* exec \"test -f /etc/hosts\"\n    HostName 127.0.0.1\n",
        )],
    );
    let out = harness::Cmd::new()
        .arg("-i")
        .arg(dir.path().join("inv.yml"))
        .arg("status")
        .env("HOME", &home)
        .run();
    out.code_is(3).stderr_has(&format!(
        "{}:1: `Match exec` cannot be decided for trust-alias: it runs a command",
        home.join(".ssh/conf.d/exec").display()
    ));
}
