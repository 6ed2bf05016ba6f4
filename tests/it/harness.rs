//! Shared test harness. initdb and a server start cost seconds, so one PostgreSQL server is
//! started once per test binary (or taken from `PGFLEET_TEST_PG_URL`) and stopped by a
//! supervisor shell when the binary exits; each test gets a fresh database, so tests run
//! in parallel. `PGFLEET_TEST_PG_URL` names a superuser; add `?sslmode=disable` to it when
//! the server has no TLS, as dbmate requires TLS by default.

// Helpers serve every test module; not each one is used by each module.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Password of the `postgres` superuser on the harness's own server.
pub(crate) const PASSWORD: &str = "s3cret-test";

/// How psql shows NULL, so that NULL and '' differ in its CSV output.
const NULL_MARKER: &str = "\u{1}NULL\u{1}";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The server every test shares.
pub(crate) struct Server {
    /// `scheme://userinfo@host:port`, without path or query.
    base: String,
    /// `?...` appended to every database URL, or "".
    query: String,
    admin_db: String,
    /// Data, socket and log directory of the harness's own server.
    dir: Option<PathBuf>,
    /// Held until the process exits: the supervisor stops the server when this pipe closes.
    _supervisor: Option<ChildStdin>,
}

impl Server {
    /// URL of database `db` on this server.
    pub(crate) fn url_for(&self, db: &str) -> String {
        format!("{}/{}{}", self.base, db, self.query)
    }

    /// URL of the maintenance database (used to create the test databases).
    pub(crate) fn admin_url(&self) -> String {
        self.url_for(&self.admin_db)
    }

    /// The server log, for debugging a failing test (empty for an external server).
    pub(crate) fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("postgres.log")).ok())
            .unwrap_or_default()
    }

    /// The folder of the server's Unix socket (None for an external server).
    pub(crate) fn socket_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("sock"))
    }

    /// The server's TCP port.
    pub(crate) fn port(&self) -> &str {
        self.base.rsplit_once(':').map_or("5432", |(_, p)| p)
    }

    /// The password in the server URL, as written there.
    pub(crate) fn password(&self) -> Option<&str> {
        let userinfo = self.base.split_once("://")?.1.rsplit_once('@')?.0;
        Some(userinfo.split_once(':')?.1)
    }
}

/// The shared server, started on first use. Every test after a failed start fails with the
/// same message instead of retrying initdb.
pub(crate) fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(|| match std::env::var("PGFLEET_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => external_server(&url),
        _ => start_local_server(),
    }) {
        Ok(server) => server,
        Err(e) => panic!("test PostgreSQL server unavailable: {e}"),
    }
}

fn external_server(url: &str) -> Result<Server, String> {
    let (base, path, query) = split_url(url)?;
    let admin_db = if path.is_empty() {
        "postgres".to_owned()
    } else {
        path
    };
    let server = Server {
        base,
        query,
        admin_db,
        dir: None,
        _supervisor: None,
    };
    psql(&server.admin_url(), &["-c", "select 1"])
        .map_err(|e| format!("cannot connect with PGFLEET_TEST_PG_URL: {e}"))?;
    Ok(server)
}

/// Splits a URL into `scheme://authority`, the path without its '/', and `?query`.
fn split_url(url: &str) -> Result<(String, String, String), String> {
    let start = url
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| "PGFLEET_TEST_PG_URL is not a URL".to_owned())?;
    let (rest, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let (base, path) = match rest[start..].find('/') {
        Some(p) => (&rest[..start + p], &rest[start + p + 1..]),
        None => (rest, ""),
    };
    Ok((base.to_owned(), path.to_owned(), query.to_owned()))
}

/// Path of a PostgreSQL program: `$PGFLEET_TEST_PG_BIN`, else the Debian PostgreSQL 15
/// directory, else `$PATH`.
pub(crate) fn pg_bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("PGFLEET_TEST_PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let debian = Path::new("/usr/lib/postgresql/15/bin").join(name);
    if debian.exists() {
        debian
    } else {
        PathBuf::from(name)
    }
}

/// Lifecycle of the local server in one sequential shell, so cleanup can never overtake a
/// setup step still in flight: it creates a temp dir, runs initdb and pg_ctl start (as user
/// postgres when root: they refuse root), prints `ready PORT DIR`, then waits for EOF on
/// stdin, i.e. for the test process to exit however it exits (even SIGKILL), and stops the
/// server and removes the dir. It ignores terminal signals so Ctrl-C still cleans up.
const SUPERVISOR: &str = r#"trap '' HUP INT QUIT TERM PIPE
exec 2>&1
initdb=$1 pg_ctl=$2; shift 2
if [ "$(id -u)" = 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }; tmp=/tmp
else
  as_pg() { "$@"; }; tmp=${TMPDIR:-/tmp}
fi
dir=$(mktemp -d "$tmp/pgfleet-it-XXXXXX") || exit 1
start() {
  mkdir "$dir/sock" && printf '%s' "$PGFLEET_IT_PASSWORD" >"$dir/pwfile" || return 1
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir" || return 1; fi
  cd "$dir" || return 1
  if ! as_pg "$initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 --pwfile="$dir/pwfile" \
      --no-locale --encoding=UTF8 --no-sync --no-instructions </dev/null >initdb.log 2>&1; then
    cat initdb.log; return 1
  fi
  tls=
  if [ -n "$PGFLEET_IT_TLS" ]; then
    # The TLS server: certificates and pg_hba.conf the test made, readable by postgres only.
    for f in server.crt server.key ca.crt pg_hba.conf; do
      cp "$PGFLEET_IT_TLS/$f" "$dir/data/$f" || return 1
      if [ "$(id -u)" = 0 ]; then chown postgres "$dir/data/$f" || return 1; fi
    done
    chmod 600 "$dir/data/server.key" || return 1
    tls="-c ssl=on -c ssl_ca_file=ca.crt"
  fi
  for port; do
    if as_pg "$pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "-p $port \
        -k '$dir/sock' -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off $tls" start </dev/null >pg_ctl.log 2>&1; then
      echo "ready $port $dir"; return 0
    fi
  done
  cat pg_ctl.log postgres.log; return 1
}
if start "$@"; then
  exec >/dev/null 2>&1
  cat >/dev/null
fi
exec >/dev/null 2>&1
cd /
if [ -f "$dir/data/postmaster.pid" ]; then as_pg "$pg_ctl" -D "$dir/data" stop -m immediate -w; fi
rm -rf "$dir"
if [ -n "$PGFLEET_IT_TLS" ]; then rm -rf "$PGFLEET_IT_TLS"; fi"#;

fn start_local_server() -> Result<Server, String> {
    start_server(None)
}

/// A server of its own with `ssl = on`, its certificates and pg_hba.conf taken from `tls`
/// (server.crt, server.key, ca.crt, pg_hba.conf); the folder is removed with the server.
pub(crate) fn start_tls_server(tls: &Path) -> Result<Server, String> {
    start_server(Some(tls))
}

fn start_server(tls: Option<&Path>) -> Result<Server, String> {
    // Several distinct candidates, bound together: a port can be taken before postgres binds.
    let listeners = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port().to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    drop(listeners);
    let mut child = Command::new("sh")
        .args(["-c", SUPERVISOR, "pgfleet-it-postgres"])
        .arg(pg_bin("initdb"))
        .arg(pg_bin("pg_ctl"))
        .args(&ports)
        .env("PGFLEET_IT_PASSWORD", PASSWORD)
        .env("PGFLEET_IT_TLS", tls.unwrap_or(Path::new("")))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    // The supervisor closes its stdout once the server is up or setup has failed.
    let mut report = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut report)
        .map_err(|e| format!("cannot read the supervisor's output: {e}"))?;
    let ready = report.lines().find_map(|l| l.strip_prefix("ready "));
    let Some((port, dir)) = ready.and_then(|r| r.split_once(' ')) else {
        return Err(format!(
            "PostgreSQL did not start (run scripts/setup, or set PGFLEET_TEST_PG_BIN or \
             PGFLEET_TEST_PG_URL):\n{report}"
        ));
    };
    Ok(Server {
        base: format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}"),
        // The harness's own psql reaches the TLS server over TLS, checking nothing.
        query: if tls.is_some() {
            "?sslmode=require"
        } else {
            "?sslmode=disable"
        }
        .to_owned(),
        admin_db: "postgres".to_owned(),
        dir: Some(PathBuf::from(dir)),
        _supervisor: Some(child.stdin.take().expect("stdin is piped")),
    })
}

fn run_checked(cmd: &mut Command) -> Result<std::process::Output, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Rows of a query result; `None` is SQL NULL.
pub(crate) type Rows = Vec<Vec<Option<String>>>;

/// Runs SQL through psql (not pgfleet, so the checks do not trust the code under test).
pub(crate) fn psql(url: &str, args: &[&str]) -> Result<Rows, String> {
    let mut cmd = Command::new(pg_bin("psql"));
    cmd.args(["-X", "-q", "-t", "--csv", "-v", "ON_ERROR_STOP=1", "-P"])
        .arg(format!("null={NULL_MARKER}"))
        .args(["-d", url])
        .args(args)
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if is_libpq_var(&key) {
            cmd.env_remove(key);
        }
    }
    let out = run_checked(&mut cmd)?;
    Ok(parse_csv(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses psql's CSV: `"` quotes fields holding `,` `"` or newlines; records end in '\n'.
fn parse_csv(text: &str) -> Rows {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => row.push(csv_value(std::mem::take(&mut field))),
            '\n' if !quoted => {
                row.push(csv_value(std::mem::take(&mut field)));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    rows
}

fn csv_value(field: String) -> Option<String> {
    (field != NULL_MARKER).then_some(field)
}

/// A database of its own for one test. It is not dropped: the server is thrown away.
pub(crate) struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/NAME?sslmode=disable`
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` (one or more statements) and returns the rows of every result.
    pub(crate) fn try_query(&self, sql: &str) -> Result<Rows, String> {
        psql(&self.url, &["-c", sql])
    }

    /// Like `try_query`, panicking with psql's message on error.
    pub(crate) fn query(&self, sql: &str) -> Rows {
        self.try_query(sql)
            .unwrap_or_else(|e| panic!("query on {} failed: {e}", self.name))
    }

    /// Runs statements whose results do not matter.
    pub(crate) fn exec(&self, sql: &str) {
        self.query(sql);
    }

    /// The single value of a one-row, one-column query.
    pub(crate) fn scalar(&self, sql: &str) -> Option<String> {
        let rows = self.query(sql);
        assert!(
            rows.len() == 1 && rows[0].len() == 1,
            "expected one value from {sql:?}, got {rows:?}"
        );
        rows[0][0].clone()
    }

    /// Whether the database exists (for tests of `up` creating it).
    pub(crate) fn exists(&self) -> bool {
        let sql = format!("select 1 from pg_database where datname = '{}'", self.name);
        !psql(&server().admin_url(), &["-c", &sql])
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    }

    /// Names of the tables in schema `schema`, sorted.
    pub(crate) fn tables(&self, schema: &str) -> Vec<String> {
        let sql = format!(
            "select table_name from information_schema.tables \
             where table_schema = '{schema}' order by 1"
        );
        self.query(&sql)
            .into_iter()
            .filter_map(|mut row| row.remove(0))
            .collect()
    }
}

/// A unique database name: `it_<hint>_<pid>_<n>`, within PostgreSQL's 63 bytes.
fn unique_name(hint: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let hint: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("it_{hint}_{}_{n}", std::process::id())
}

/// A new, empty database for one test.
pub(crate) fn fresh_db(hint: &str) -> TestDb {
    let db = missing_db(hint);
    let server = server();
    // On a reused external server a crashed run may have left this name behind.
    let drop = format!("drop database if exists \"{}\" with (force)", db.name);
    let create = format!("create database \"{}\"", db.name);
    psql(&server.admin_url(), &["-c", &drop, "-c", &create])
        .unwrap_or_else(|e| panic!("cannot create database {}: {e}", db.name));
    db
}

/// A unique database name that does not exist yet, e.g. to test that `up` creates it.
pub(crate) fn missing_db(hint: &str) -> TestDb {
    let name = unique_name(hint);
    TestDb {
        url: server().url_for(&name),
        name,
    }
}

/// A temp dir removed when dropped.
pub(crate) fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("pgfleet-test-")
        .tempdir()
        .expect("create a temp dir")
}

/// Writes `(file name, contents)` pairs into `dir`, creating it if needed.
pub(crate) fn write_migrations(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// Variables that would steer libpq-based tools (pg_dump, psql, dbmate's driver) away from
/// the URL under test; PGFLEET_* variables are left alone.
fn is_libpq_var(key: &OsStr) -> bool {
    let key = key.to_string_lossy();
    key.starts_with("PG") && !key.starts_with("PGFLEET")
}

/// Path of dbmate: `$PGFLEET_DBMATE`, else the venv that scripts/setup creates.
pub(crate) fn dbmate_path() -> PathBuf {
    let path = std::env::var_os("PGFLEET_DBMATE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-dbmate/bin/dbmate"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "dbmate not found at {}: run scripts/setup (it installs dbmate into .venv-dbmate) \
         or set PGFLEET_DBMATE",
        path.display()
    );
    path
}

/// A command under test, run with a clean environment: no DATABASE_URL, DBMATE_* or libpq
/// PG* variables, and by default in an empty temp dir so no stray `.env` is read.
pub(crate) struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    interrupt: Option<(String, usize)>,
}

impl Cmd {
    /// The pgfleet binary built for this test run.
    pub(crate) fn new() -> Self {
        Self::program(env!("CARGO_BIN_EXE_pgfleet"))
    }

    /// The real dbmate, to check compatibility against.
    pub(crate) fn dbmate() -> Self {
        Self::program(dbmate_path())
    }

    pub(crate) fn program(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
            interrupt: None,
        }
    }

    pub(crate) fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub(crate) fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// The command is killed, and the test fails, after this long (default 120 s).
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the process SIGINT `times` times (0.3 s apart) once `text` shows on its
    /// stdout or stderr: a real Ctrl-C, at a known point of the run.
    pub(crate) fn interrupt_when(mut self, text: &str, times: usize) -> Self {
        self.interrupt = Some((text.to_string(), times));
        self
    }

    pub(crate) fn run(self) -> Output {
        let empty_dir;
        let dir = match &self.dir {
            Some(dir) => dir.as_path(),
            None => {
                empty_dir = tempdir();
                empty_dir.path()
            }
        };
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(dir)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k == "DATABASE_URL" || k.starts_with("DBMATE_") || is_libpq_var(&key) {
                cmd.env_remove(&key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let description = format!("{} {:?}", self.program.display(), self.args);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
        if let (Some(input), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            // A thread, so a child that does not read stdin cannot block us.
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let (stdout, out_buf) = read_in_thread(child.stdout.take());
        let (stderr, err_buf) = read_in_thread(child.stderr.take());
        if let Some((text, times)) = self.interrupt {
            let pid = child.id().to_string();
            thread::spawn(move || {
                let seen = || {
                    [&out_buf, &err_buf].iter().any(|b| {
                        String::from_utf8_lossy(&b.lock().unwrap()).contains(text.as_str())
                    })
                };
                let deadline = Instant::now() + Duration::from_secs(60);
                while !seen() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
                for i in 0..times {
                    if i > 0 {
                        thread::sleep(Duration::from_millis(300));
                    }
                    let _ = Command::new("kill").args(["-INT", &pid]).status();
                }
            });
        }
        let status = wait_with_timeout(&mut child, self.timeout);
        let output = Output {
            command: description,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            code: status.and_then(|s| s.code()),
        };
        if status.is_none() {
            panic!("timed out after {:?}\n{output}", self.timeout);
        }
        output
    }
}

impl Default for Cmd {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads a pipe to its end in a thread; what came so far is readable meanwhile.
fn read_in_thread<R: Read + Send + 'static>(
    pipe: Option<R>,
) -> (thread::JoinHandle<String>, Arc<Mutex<Vec<u8>>>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let shared = buffer.clone();
    let handle = thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                shared.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        }
        String::from_utf8_lossy(&shared.lock().unwrap()).into_owned()
    });
    (handle, buffer)
}

/// `None` when the child had to be killed.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// What a finished command printed, and its exit code (`None`: killed by a signal).
pub(crate) struct Output {
    command: String,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: Option<i32>,
}

impl Output {
    #[track_caller]
    pub(crate) fn success(&self) -> &Self {
        self.code_is(0)
    }

    #[track_caller]
    pub(crate) fn code_is(&self, code: i32) -> &Self {
        assert!(self.code == Some(code), "expected exit code {code}\n{self}");
        self
    }

    #[track_caller]
    pub(crate) fn stdout_has(&self, text: &str) -> &Self {
        assert!(self.stdout.contains(text), "stdout lacks {text:?}\n{self}");
        self
    }

    #[track_caller]
    pub(crate) fn stderr_has(&self, text: &str) -> &Self {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n{self}");
        self
    }

    /// Stdout as the JSON document `--format json` prints.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{self}"))
    }

    /// The stdout line that starts with `prefix`.
    #[track_caller]
    pub(crate) fn stdout_line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no stdout line starts with {prefix:?}\n{self}"))
    }

    /// Neither stream contains `text` (e.g. a password).
    #[track_caller]
    pub(crate) fn never_prints(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "output contains {text:?}\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// pgfleet on one test database by URL, with `dir` as its migrations folder.
pub(crate) fn by_url(db: &TestDb, dir: &Path) -> Cmd {
    Cmd::new()
        .args(["--url", db.url(), "--migrations-dir"])
        .arg(dir)
}

/// Runs pgfleet with `args` in an empty temp dir.
pub(crate) fn pgfleet<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Cmd::new().args(args).run()
}

/// Runs dbmate with `args` in an empty temp dir (add `--no-dump-schema` where wanted).
pub(crate) fn dbmate<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Cmd::dbmate().args(args).run()
}
