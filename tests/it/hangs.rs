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
