//! No command waits for ever: against a server that accepts TCP and never answers, every
//! command that connects ends on its own bound (`connect_timeout`, default 10 s; `wait
//! --wait-timeout`), and the first Ctrl-C ends a run that is still connecting.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::harness::{self, Cmd};

/// A port that accepts connections and never says a word; it lives as long as the test.
fn silent_server() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded, like every fault here: a few dozen connections are all the tests make.
        for stream in listener.incoming().take(64) {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
    });
    (port, handle)
}

fn url(port: u16, extra: &str) -> String {
    format!("postgres://app:pw@127.0.0.1:{port}/x?sslmode=disable{extra}")
}

#[test]
fn connect_timeout_bounds_every_command_against_a_silent_server() {
    let (port, _server) = silent_server();
    let dir = harness::tempdir();
    for command in [
        &["status"][..],
        &["up"],
        &["plan"],
        &["rollback"],
        &["drift"],
    ] {
        let started = Instant::now();
        let out = Cmd::new()
            .args(["--url", &url(port, "&connect_timeout=2"), "-d"])
            .arg(dir.path())
            .args(command)
            .timeout(Duration::from_secs(20))
            .run();
        out.code_is(2)
            .stderr_has("did not complete it within 2 s (connect_timeout)");
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{command:?} took {:?}\n{out}",
            started.elapsed()
        );
    }
    // Without connect_timeout, the default bound.
    let started = Instant::now();
    Cmd::new()
        .args(["--url", &url(port, ""), "-d"])
        .arg(dir.path())
        .arg("status")
        .timeout(Duration::from_secs(30))
        .run()
        .code_is(2)
        .stderr_has("within 10 s");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn wait_gives_up_on_time_against_a_silent_server() {
    let (port, _server) = silent_server();
    let started = Instant::now();
    Cmd::new()
        .args(["--url", &url(port, ""), "wait", "--wait-timeout", "3s"])
        .timeout(Duration::from_secs(30))
        .run()
        .code_is(2);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "wait took {took:?}");
}

#[test]
fn the_first_ctrl_c_ends_a_run_that_is_still_connecting() {
    let (port, _server) = silent_server();
    let dir = harness::tempdir();
    let started = Instant::now();
    let out = Cmd::new()
        .args(["--url", &url(port, "&connect_timeout=60"), "-d"])
        .arg(dir.path())
        .args(["--format", "json-lines", "up"])
        .interrupt_when("\"connecting\"", 1)
        .timeout(Duration::from_secs(30))
        .run();
    out.code_is(130);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}\n{out}",
        started.elapsed()
    );
}

/// Forwards one connection from a fresh port to `target` (`host:port`), both ways.
fn relay(target: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let server = std::net::TcpStream::connect(&target).unwrap();
        let pump = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Write);
            })
        };
        pump(client.try_clone().unwrap(), server.try_clone().unwrap());
        pump(server, client);
    });
    port
}

/// Packets to a loopback port dropped for as long as this lives: the peer's host is gone
/// as far as TCP can tell (no reset, no answer to keepalive probes).
struct Blackhole(String);

impl Blackhole {
    fn new(port: u16) -> Blackhole {
        let rule = format!("INPUT -i lo -p tcp --dport {port} -j DROP");
        let status = std::process::Command::new("iptables")
            .arg("-I")
            .args(rule.split(' '))
            .status()
            .expect("iptables (installed with docker.io by scripts/setup)");
        assert!(status.success(), "iptables -I {rule}");
        Blackhole(rule)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = std::process::Command::new("iptables")
            .arg("-D")
            .args(self.0.split(' '))
            .status();
    }
}

#[test]
fn keepalives_end_a_run_whose_server_went_silent_mid_migration() {
    let db = harness::fresh_db("hang_keepalive");
    let dir = harness::tempdir();
    harness::write_migrations(
        dir.path(),
        &[(
            "20240101000001_slow.sql",
            "-- migrate:up\nselect pg_sleep(20);\ncreate table slow (id int);\n-- migrate:down\ndrop table slow;\n",
        )],
    );
    let (head, tail) = db.url().split_once('@').unwrap();
    let (server, path) = tail.split_once('/').unwrap();
    let port = relay(server.to_string());
    let url = format!(
        "{head}@127.0.0.1:{port}/{path}{}keepalives_idle=1&keepalives_interval=1&keepalives_count=2",
        if path.contains('?') { "&" } else { "?" }
    );
    let run = {
        let cmd = Cmd::new()
            .args(["--url", &url, "-d"])
            .arg(dir.path())
            .arg("up")
            .timeout(Duration::from_secs(40));
        std::thread::spawn(move || cmd.run())
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while db
        .scalar("select count(*) from pg_stat_activity where datname = current_database() and wait_event = 'PgSleep' and pid <> pg_backend_pid()")
        .as_deref()
        != Some("1")
    {
        assert!(Instant::now() < deadline, "the migration never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _gone = Blackhole::new(port);
    let started = Instant::now();
    let out = run.join().unwrap();
    out.code_is(2).stderr_has("pgfleet status");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "noticed after {:?} (keepalives: 1 s idle, 2 probes 1 s apart)\n{out}",
        started.elapsed()
    );
}

/// Through a tunnel, the database's start-up is bounded by the host's `connect_timeout`
/// too (it was a fixed 10 s, which a fleet on a slow or busy network could not raise): a
/// port in the container that accepts and never answers ends the target within it, and
/// the error says where to raise it.
#[test]
fn a_tunnel_to_a_silent_port_ends_within_the_hosts_connect_timeout() {
    let fleet = crate::fleet::fleet();
    let dir = harness::tempdir();
    // busybox's nc in the container accepts one connection and hands it to `sleep`.
    let listen = std::process::Command::new("docker")
        .args([
            "exec",
            "-d",
            "alpha-app",
            "busybox",
            "nc",
            "-l",
            "-p",
            "5999",
        ])
        .args(["-e", "sleep", "60"])
        .status()
        .unwrap();
    assert!(listen.success());
    let listening = || {
        std::process::Command::new("docker")
            .args([
                "exec",
                "alpha-app",
                "sh",
                "-c",
                "busybox netstat -ltn | grep -q :5999",
            ])
            .status()
            .is_ok_and(|s| s.success())
    };
    let since = Instant::now();
    while !listening() {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "nc did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        format!(
            "defaults:\n  user: pgfleet\n  identity_file: {key}\n  known_hosts: {known}\n  connect_timeout: 2s\n  migrations: {dir}\n  password: {{ container: POSTGRES_PASSWORD }}\n  method: tunnel\nhosts:\n  alpha:\n    address: 127.0.0.1\n    port: 22201\n    databases:\n      silent:\n        container: alpha-app\n        port: 5999\n",
            key = fleet.join("id_ed25519").display(),
            known = fleet.join("known_hosts").display(),
            dir = dir.path().display(),
        ),
    )
    .unwrap();
    let started = Instant::now();
    Cmd::new()
        .arg("-i")
        .arg(&inv)
        .arg("status")
        .run()
        .code_is(2)
        .stderr_has("did not complete it within 2 s (connect_timeout)")
        .stderr_has("Raise the host's connect_timeout in the inventory");
    let took = started.elapsed();
    let _ = std::process::Command::new("docker")
        .args(["exec", "alpha-app", "busybox", "killall", "sleep"])
        .status();
    assert!(took < Duration::from_secs(8), "took {took:?}");
}
