//! Connecting as libpq does, against real servers: TLS in every `sslmode` (a server of its
//! own with `ssl = on` and certificates from a throwaway CA made here), client
//! certificates, the PG* variables and `~/.pgpass` filling the URL, Unix sockets in each
//! URL form, and the hint after a refused password naming where the password came from.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::harness::{self, Cmd, Output, PASSWORD, Server};

/// The TLS server and the files its tests use.
struct Fixture {
    server: Server,
    /// ca.crt, wrong-ca.crt, client.crt, client.key (and the server's own files).
    dir: PathBuf,
}

impl Fixture {
    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// `postgres://postgres:PASSWORD@HOST:PORT/DB?QUERY` on the TLS server.
    fn url(&self, host: &str, db: &str, query: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@{host}:{}/{db}?{query}",
            self.server.port()
        )
    }
}

/// What pg_hba.conf says: client certificates for `certdb`, TLS required for `tlsonly`,
/// both kinds of connection elsewhere.
const PG_HBA: &str = "\
local all all scram-sha-256
hostssl certdb all 127.0.0.1/32 cert
hostnossl certdb all 127.0.0.1/32 reject
hostnossl tlsonly all 127.0.0.1/32 reject
host all all 127.0.0.1/32 scram-sha-256
";

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `names` (IP addresses become IP SANs) and its key, signed by `ca`.
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    common_name: &str,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The TLS server, started on first use. Its certificate is for 127.0.0.1 only, so that
/// `localhost` is a name it is not for.
fn tls() -> &'static Fixture {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    let made = FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pgfleet-it-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let ca = new_ca("pgfleet test CA");
        let wrong = new_ca("another CA").pem();
        let (server_crt, server_key) = leaf(&ca, &["127.0.0.1"], "pgfleet test server");
        let (client_crt, client_key) = leaf(&ca, &[], "postgres");
        std::fs::write(dir.join("ca.crt"), ca.pem()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("wrong-ca.crt"), wrong).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("server.crt"), server_crt).map_err(|e| e.to_string())?;
        write_private(&dir.join("server.key"), &server_key);
        std::fs::write(dir.join("client.crt"), client_crt).map_err(|e| e.to_string())?;
        write_private(&dir.join("client.key"), &client_key);
        std::fs::write(dir.join("pg_hba.conf"), PG_HBA).map_err(|e| e.to_string())?;
        let server = harness::start_tls_server(&dir)?;
        harness::psql(
            &server.admin_url(),
            &[
                "-c",
                "create database certdb",
                "-c",
                "create database tlsonly",
            ],
        )?;
        Ok(Fixture { server, dir })
    });
    match made {
        Ok(fixture) => fixture,
        Err(e) => panic!("the TLS test server did not start: {e}"),
    }
}

/// `pgfleet query` asking the server whether this session is encrypted, with HOME an
/// empty folder so no `~/.postgresql/` or `~/.pgpass` of the machine takes part.
fn ssl_in_use(url: &str, home: &Path) -> Output {
    Cmd::new()
        .env("HOME", home)
        .args(["--url", url, "query"])
        .arg("select ssl::text as ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .timeout(Duration::from_secs(60))
        .run()
}

#[track_caller]
fn encrypted(url: &str, home: &Path, yes: bool) {
    let out = ssl_in_use(url, home);
    out.success()
        .stdout_has(&format!("ssl\n{yes}\n"))
        .never_prints(PASSWORD);
}

#[track_caller]
fn refused(url: &str, home: &Path, why: &str) -> Output {
    let out = ssl_in_use(url, home);
    out.code_is(2).stderr_has(why).never_prints(PASSWORD);
    out
}

#[test]
fn each_sslmode_connects_or_fails_as_libpq_does() {
    let t = tls();
    let home = harness::tempdir();
    let home = home.path();
    let url = |query: &str| t.url("127.0.0.1", "postgres", query);
    let ca = t.file("ca.crt");
    encrypted(&url("sslmode=disable"), home, false);
    // allow: without TLS first, and this server takes that.
    encrypted(&url("sslmode=allow"), home, false);
    // prefer, the default: TLS when the server offers it.
    encrypted(&url(""), home, true);
    encrypted(&url("sslmode=prefer"), home, true);
    // require: encrypted, the certificate not checked.
    encrypted(&url("sslmode=require"), home, true);
    // Found before connecting: a bad setting (exit 3).
    ssl_in_use(&url("sslmode=verify-ca"), home)
        .code_is(3)
        .stderr_has(
            "sslmode=verify-ca checks the server's certificate against a CA, and none was given",
        );
    encrypted(
        &url(&format!("sslmode=verify-ca&sslrootcert={ca}")),
        home,
        true,
    );
    encrypted(
        &url(&format!("sslmode=verify-full&sslrootcert={ca}")),
        home,
        true,
    );
    // require with a root certificate checks the chain, as verify-ca does.
    refused(
        &url(&format!(
            "sslmode=require&sslrootcert={}",
            t.file("wrong-ca.crt")
        )),
        home,
        "the server's certificate is not signed by the CA in sslrootcert=",
    );
    // ~/.postgresql/root.crt is the default root certificate.
    let dot = home.join(".postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::copy(t.dir.join("ca.crt"), dot.join("root.crt")).unwrap();
    encrypted(&url("sslmode=verify-full"), home, true);
    std::fs::copy(t.dir.join("wrong-ca.crt"), dot.join("root.crt")).unwrap();
    refused(
        &url("sslmode=verify-ca"),
        home,
        &format!(
            "not signed by the CA in sslrootcert={}",
            dot.join("root.crt").display()
        ),
    );
    // The same through PGSSLMODE and PGSSLROOTCERT.
    Cmd::new()
        .env("HOME", home)
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca)
        .args(["--url", &url(""), "query"])
        .arg("select ssl::text as ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .run()
        .success()
        .stdout_has("ssl\ntrue\n");
}

#[test]
fn a_certificate_from_another_ca_is_refused_by_verify_ca_and_verify_full() {
    let t = tls();
    let home = harness::tempdir();
    for mode in ["verify-ca", "verify-full"] {
        let url = t.url(
            "127.0.0.1",
            "postgres",
            &format!("sslmode={mode}&sslrootcert={}", t.file("wrong-ca.crt")),
        );
        refused(
            &url,
            home.path(),
            &format!(
                "the server's certificate is not signed by the CA in sslrootcert={}: give the CA that signed it",
                t.file("wrong-ca.crt")
            ),
        );
    }
    // sslrootcert=system: the test CA is no system root.
    let url = t.url("127.0.0.1", "postgres", "sslrootcert=system");
    let out = ssl_in_use(&url, home.path());
    out.code_is(2).stderr_has("sslrootcert=system");
    let url = t.url(
        "127.0.0.1",
        "postgres",
        "sslrootcert=system&sslmode=require",
    );
    ssl_in_use(&url, home.path())
        .code_is(3)
        .stderr_has("sslmode=require cannot be used with sslrootcert=system");
}

#[test]
fn a_name_the_certificate_is_not_for_is_refused_by_verify_full_only() {
    let t = tls();
    let home = harness::tempdir();
    let ca = t.file("ca.crt");
    refused(
        &t.url(
            "localhost",
            "postgres",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        home.path(),
        "the server's certificate is for 127.0.0.1, not localhost: connect by the name in the certificate, or use sslmode=verify-ca",
    );
    encrypted(
        &t.url(
            "localhost",
            "postgres",
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        ),
        home.path(),
        true,
    );
}

#[test]
fn a_database_that_requires_tls() {
    let t = tls();
    let home = harness::tempdir();
    let url = |query: &str| t.url("127.0.0.1", "tlsonly", query);
    refused(
        &url("sslmode=disable"),
        home.path(),
        "the server accepts this connection only over TLS (hostssl in pg_hba.conf), and sslmode=disable did not use it",
    );
    // allow tries without TLS, is refused, and tries again with it.
    encrypted(&url("sslmode=allow"), home.path(), true);
    encrypted(&url(""), home.path(), true);
}

#[test]
fn require_against_a_server_without_tls_says_so() {
    let server = harness::server();
    let home = harness::tempdir();
    let url = server
        .url_for("postgres")
        .replace("sslmode=disable", "sslmode=require");
    let out = ssl_in_use(&url, home.path());
    out.code_is(2)
        .stderr_has("the server does not accept TLS (ssl = off in its postgresql.conf), and sslmode=require needs it");
    // prefer (the default) goes on without.
    let url = server.url_for("postgres").replace("?sslmode=disable", "");
    ssl_in_use(&url, home.path())
        .success()
        .stdout_has("ssl\nfalse\n");
}

#[test]
fn client_certificates_are_sent_and_required() {
    let t = tls();
    let home = harness::tempdir();
    let no_password = format!(
        "postgres://postgres@127.0.0.1:{}/certdb?sslmode=verify-full&sslrootcert={}",
        t.server.port(),
        t.file("ca.crt")
    );
    let with_cert = format!(
        "{no_password}&sslcert={}&sslkey={}",
        t.file("client.crt"),
        t.file("client.key")
    );
    encrypted(&with_cert, home.path(), true);
    refused(
        &no_password,
        home.path(),
        "connection requires a valid client certificate",
    );
    // libpq's default files: ~/.postgresql/postgresql.crt and .key.
    let dot = home.path().join(".postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::copy(t.dir.join("client.crt"), dot.join("postgresql.crt")).unwrap();
    std::fs::copy(t.dir.join("client.key"), dot.join("postgresql.key")).unwrap();
    encrypted(&no_password, home.path(), true);
    // A key others may read is refused, as libpq refuses it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dot.join("postgresql.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    refused(
        &no_password,
        home.path(),
        "can be read by others (mode 644); chmod 600 it",
    );
}

/// One migration, applied over verify-full: the session and the pg_dump after it
/// (which gets PGSSLMODE and PGSSLROOTCERT) both check the certificate.
#[test]
fn up_and_its_schema_dump_run_over_verify_full() {
    let t = tls();
    let name = format!("it_tls_up_{}", std::process::id());
    let dir = harness::tempdir();
    let folder = dir.path().join("migrations");
    harness::write_migrations(
        &folder,
        &[(
            "20260101000000_t.sql",
            "-- migrate:up\ncreate table over_tls (id int);\n-- migrate:down\ndrop table over_tls;\n",
        )],
    );
    let url = t.url(
        "127.0.0.1",
        &name,
        &format!("sslmode=verify-full&sslrootcert={}", t.file("ca.crt")),
    );
    let schema = dir.path().join("schema.sql");
    Cmd::new()
        .env("HOME", dir.path())
        .args(["--url", &url, "-d"])
        .arg(&folder)
        .arg("-s")
        .arg(&schema)
        .arg("up")
        .run()
        .success()
        .never_prints(PASSWORD);
    Cmd::new()
        .env("HOME", dir.path())
        .args(["--url", &url, "-d"])
        .arg(&folder)
        .arg("-s")
        .arg(&schema)
        .arg("dump")
        .run()
        .success()
        .never_prints(PASSWORD);
    let dumped = std::fs::read_to_string(&schema).unwrap();
    assert!(dumped.contains("CREATE TABLE public.over_tls"), "{dumped}");
}

/// The harness's plain server, by PG* variables alone, by `~/.pgpass`, and with a wrong
/// password from each source: the hint names the source, never the password.
#[test]
fn pg_variables_and_pgpass_fill_the_url_and_a_wrong_password_names_its_source() {
    let server = harness::server();
    let Some(password) = server.password() else {
        return;
    };
    let db = harness::fresh_db("libpq_env");
    let home = harness::tempdir();
    let home = home.path();
    let query = |url: &str, env: &[(&str, &str)]| {
        let mut cmd = Cmd::new().env("HOME", home);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        cmd.args(["--url", url, "query", "select current_database() as db"])
            .run()
    };
    let all = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", server.port()),
        ("PGUSER", "postgres"),
        ("PGDATABASE", db.name()),
        ("PGSSLMODE", "disable"),
    ];
    // No URL but the scheme: everything from the variables.
    let mut with_password = all.to_vec();
    with_password.push(("PGPASSWORD", password));
    query("postgres://", &with_password)
        .success()
        .stdout_has(&format!("db\n{}\n", db.name()))
        .never_prints(password);
    // The password from ~/.pgpass, line 2.
    let pgpass = home.join(".pgpass");
    write_private(
        &pgpass,
        &format!(
            "# pgfleet test\n127.0.0.1:{}:*:postgres:{password}\n",
            server.port()
        ),
    );
    query("postgres://", &all)
        .success()
        .stdout_has(&format!("db\n{}\n", db.name()))
        .never_prints(password);
    // Wrong passwords, from each source.
    const WRONG: &str = "Wr0ng-Pa55";
    write_private(&pgpass, &format!("*:*:*:*:{WRONG}\n"));
    query("postgres://", &all)
        .code_is(2)
        .stderr_has(&format!(
            "the password came from {} line 1: check it there",
            pgpass.display()
        ))
        .never_prints(WRONG);
    let mut wrong_env = all.to_vec();
    wrong_env.push(("PGPASSWORD", WRONG));
    query("postgres://", &wrong_env)
        .code_is(2)
        .stderr_has("the password came from PGPASSWORD: check it there")
        .never_prints(WRONG);
    query(
        &format!("postgres://postgres:{WRONG}@/{}", db.name()),
        &wrong_env,
    )
    .code_is(2)
    .stderr_has("the password came from the URL: check it there")
    .never_prints(WRONG);
    // A password file others may read is not read, with libpq's warning; then no
    // password is found anywhere.
    std::fs::write(&pgpass, format!("*:*:*:*:{password}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    query("postgres://", &all)
        .code_is(2)
        .stderr_has("has group or world access, so it is not read (as libpq does); chmod 600 it")
        .stderr_has("the server asks for a password, and none was given")
        .never_prints(password);
}

/// Each way a URL names a Unix socket folder, against the harness server's socket.
#[test]
fn unix_sockets_in_every_url_form() {
    let server = harness::server();
    let (Some(sock), Some(password)) = (server.socket_dir(), server.password()) else {
        return;
    };
    let sock = sock.display().to_string();
    let db = harness::fresh_db("sockets");
    let name = db.name();
    let port = server.port();
    let home = harness::tempdir();
    let on_socket = |url: &str, env: &[(&str, &str)]| {
        let mut cmd = Cmd::new().env("HOME", home.path());
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        cmd.args(["--url", url, "query"])
            .arg("select (inet_server_addr() is null)::text as socket, current_database() as db")
            .run()
            .success()
            .stdout_has(&format!("true    {name}\n"))
            .never_prints(password);
    };
    on_socket(
        &format!("postgres://postgres:{password}@/{name}?host={sock}&port={port}"),
        &[],
    );
    // dbmate's form.
    on_socket(
        &format!("postgres://postgres:{password}@/{name}?socket={sock}&port={port}"),
        &[],
    );
    // sslmode is ignored on a socket, as libpq ignores it.
    on_socket(
        &format!(
            "postgresql:///{name}?host={sock}&port={port}&user=postgres&password={password}&sslmode=require"
        ),
        &[],
    );
    // The folder from PGHOST, the password from a .pgpass line naming the folder.
    write_private(
        &home.path().join(".pgpass"),
        &format!("{sock}:{port}:{name}:postgres:{password}\n"),
    );
    on_socket(
        &format!("postgres:///{name}"),
        &[("PGHOST", &sock), ("PGPORT", port), ("PGUSER", "postgres")],
    );
}

/// connect_timeout bounds the TLS request too: a server that accepts and never answers
/// the SSLRequest of `prefer` (the default); PGCONNECT_TIMEOUT sets it.
#[test]
fn pgconnect_timeout_bounds_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(8).flatten() {
            held.push(stream);
        }
    });
    let started = Instant::now();
    Cmd::new()
        .env("PGCONNECT_TIMEOUT", "2")
        .args([
            "--url",
            &format!("postgres://app:pw@127.0.0.1:{port}/x"),
            "query",
            "select 1",
        ])
        .timeout(Duration::from_secs(20))
        .run()
        .code_is(2)
        .stderr_has("did not complete it within 2 s (connect_timeout)");
    assert!(started.elapsed() < Duration::from_secs(8));
}

/// Over the SSH tunnel, the inventory's sslmode is applied inside the tunnel: the fleet's
/// containers run without TLS, so `require` is refused saying so and `prefer` goes on
/// without it. (Run with the fleet lock held, as every fleet test.)
#[test]
fn the_inventory_sslmode_is_applied_inside_the_tunnel() {
    use crate::fleet::{fleet, inventory_with, unique_db};
    let dir = harness::tempdir();
    let folder = dir.path().join("migrations");
    harness::write_migrations(
        &folder,
        &[(
            "20260101000000_t.sql",
            "-- migrate:up\ncreate table t (id int);\n-- migrate:down\ndrop table t;\n",
        )],
    );
    let inv = inventory_with(
        dir.path(),
        &unique_db("tunnel_tls"),
        &fleet().join("known_hosts"),
        "",
        "tunnel",
        &folder,
    );
    let text = std::fs::read_to_string(&inv).unwrap();
    let with = |mode: &str| {
        std::fs::write(
            &inv,
            text.replace("defaults:\n", &format!("defaults:\n  sslmode: {mode}\n")),
        )
        .unwrap();
        Cmd::new()
            .arg("-i")
            .arg(&inv)
            .args(["--limit", "alpha/app"])
    };
    with("require")
        .arg("up")
        .run()
        .code_is(2)
        .stderr_has("the server does not accept TLS (ssl = off in its postgresql.conf), and sslmode=require needs it");
    with("prefer").arg("up").run().success();
}
