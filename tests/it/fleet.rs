//! The Docker API and the PostgreSQL tunnel over SSH, against the local fleet
//! (`scripts/fleet up`: a real dockerd, postgres containers, one sshd per simulated host).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use pgfleet::transport::docker::{ContainerSelector, DockerApi, DockerError};
use pgfleet::transport::ssh::{SshOptions, SshSession};

/// The fleet's state folder, after `scripts/fleet up` (run once per test binary).
fn fleet() -> &'static Path {
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
        root.join(".fleet")
    })
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
