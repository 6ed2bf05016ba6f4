//! A database reached by a `postgres://` URL, as dbmate reads it.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use async_trait::async_trait;

use super::Endpoint;
use super::libpq::{self, Env, PasswordFrom};
use super::tls::{SSLMODES, SslMode, Tls, TlsSettings};
use crate::error::{Error, SqlError};

/// A parsed database URL. The password is kept out of `Display` and `Debug`.
#[derive(Clone)]
pub struct DbUrl {
    url: url::Url,
    pub host: String,
    pub port: u16,
    pub user: String,
    password: Option<String>,
    password_from: PasswordFrom,
    pgpass_warning: Option<String>,
    pub dbname: String,
    /// Schemas of the URL's `search_path` parameter, in order.
    pub search_path: Vec<String>,
    /// Other query parameters, sent as run-time settings (as lib/pq does).
    settings: Vec<(String, String)>,
    connect_timeout: Option<Duration>,
    keepalive: Keepalive,
    tls: TlsSettings,
    /// Where `~/.postgresql/` is, for libpq's default certificate files.
    home: Option<PathBuf>,
}

/// TCP keepalives, as libpq's `keepalives*` parameters set them. Once connected, a server
/// whose host or network went away is noticed after `idle + interval × count` without an
/// answer, instead of when the kernel gives up (hours). pgfleet's defaults match its SSH
/// keepalive (15 s, then 3 probes 5 s apart); a server that is there but slow (a long
/// statement, a paused container) is not cut short by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keepalive {
    on: bool,
    idle: Duration,
    interval: Duration,
    count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            on: true,
            idle: Duration::from_secs(15),
            interval: Duration::from_secs(5),
            count: 3,
        }
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

/// The URL with its password shown as `********`, as dbmate prints it.
impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.url.as_str().replacen(NO_HOST, "", 1)))
    }
}

/// The stand-in host of a URL written with a user and no host (see `DbUrl::parse_env`).
const NO_HOST: &str = "pgfleet-no-host.invalid";

/// How a hidden password is shown, as dbmate shows it.
const HIDDEN: &str = "********";

/// Passwords pgfleet was given, remembered so that `redact` hides them wherever they show
/// up, even where a URL's shape cannot be recognised (a space or a quote left unencoded in
/// its password cuts the URL short). Like a CI system's masked secrets.
static GIVEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Shorter ones would hide ordinary words; the URL-shaped redaction still covers them.
const REMEMBERED_MIN_LEN: usize = 4;

/// Remembers `secret` (a password as given, and as percent-decoded) for `redact`.
pub fn remember_secret(secret: &str) {
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let decoded = percent_decode(secret);
    for s in std::iter::once(secret.to_string()).chain(decoded) {
        if s.chars().count() >= REMEMBERED_MIN_LEN && s != HIDDEN && !given.contains(&s) {
            given.push(s);
        }
    }
    // Longest first, so that a password holding a shorter one is hidden whole.
    given.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Remembers the passwords a URL as given carries, however malformed it is: its userinfo
/// password (up to the last `@`: the text is one value, so an `@` in it is the URL's) and
/// every `password=` value. Settings calls it for each URL the user gives; parsing alone
/// does not, so a library that parses many URLs keeps no list of them.
pub fn remember_url_secrets(text: &str) {
    if let Some(from) = text.find("://").map(|i| i + 3) {
        let rest = &text[from..];
        if let Some(at) = rest.rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            remember_secret(&rest[colon + 1..at]);
        }
    }
    let lower = text.to_ascii_lowercase();
    for (i, _) in lower.match_indices("password=") {
        let value = &text[i + "password=".len()..];
        remember_secret(&value[..value.find('&').unwrap_or(value.len())]);
    }
}

/// Redacts every password `text` may carry: the userinfo password of anything that looks
/// like a URL — whether it parses or not, since a port typo or an unencoded `#` or `/` in
/// the password must not echo it — the value of any `…password=` setting (a URL's
/// `?password=`, `PGPASSWORD=…`), and every password pgfleet was given
/// (`remember_secret`). Every line pgfleet writes goes through it.
pub fn redact(text: &str) -> String {
    let shaped = redact_shapes(text);
    let given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    given
        .iter()
        .fold(shaped, |out, secret| out.replace(secret.as_str(), HIDDEN))
}

fn redact_shapes(text: &str) -> String {
    if !text.contains("://") && !text.to_ascii_lowercase().contains("password=") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            out.push_str(&redact_word(&text[start..i]));
            out.push(c);
            start = i + c.len_utf8();
        }
    }
    out.push_str(&redact_word(&text[start..]));
    out
}

/// Where a URL or a setting's value ends inside a word: at the quote that closes a JSON
/// string (unescaped, followed by `,` `}` `]` `:` or the end), else at the end of the word —
/// not at `/`, `#`, `@` or other quotes, which a malformed password may hold.
fn token_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    (0..bytes.len())
        .find(|&i| {
            bytes[i] == b'"'
                && (i == 0 || bytes[i - 1] != b'\\')
                && bytes
                    .get(i + 1)
                    .is_none_or(|next| matches!(next, b',' | b'}' | b']' | b':'))
        })
        .unwrap_or(text.len())
}

fn redact_word(word: &str) -> String {
    redact_settings(&redact_userinfo(word))
}

/// `scheme://user:secret@…` → `scheme://user:********@…`; the userinfo ends at the last
/// `@` of the URL (an unencoded `@` may be part of the password).
fn redact_userinfo(word: &str) -> String {
    let Some(scheme_end) = word.find("://") else {
        return word.to_string();
    };
    let from = scheme_end + 3;
    let url = &word[from..from + token_end(&word[from..])];
    let userinfo = url
        .rfind('@')
        .and_then(|at| url[..at].find(':').map(|colon| (colon, at)));
    match userinfo {
        Some((colon, at)) if &url[colon + 1..at] != HIDDEN => format!(
            "{}{}:{HIDDEN}{}",
            &word[..from],
            &url[..colon],
            redact_userinfo(&word[from + at..])
        ),
        // No password in this one: look on after it.
        _ => format!(
            "{}{}",
            &word[..from + url.len()],
            redact_userinfo(&word[from + url.len()..])
        ),
    }
}

/// `…password=secret` (any case, any prefix: `?password=`, `PGPASSWORD=`) → the value
/// hidden, up to `&` or the end of the token.
fn redact_settings(word: &str) -> String {
    const KEY: &str = "password=";
    let lower = word.to_ascii_lowercase();
    let Some(found) = lower.find(KEY) else {
        return word.to_string();
    };
    let from = found + KEY.len();
    let value = &word[from..from + token_end(&word[from..])];
    let end = from + value.find('&').unwrap_or(value.len());
    if &word[from..end] == HIDDEN || from == end {
        return format!("{}{}", &word[..end], redact_settings(&word[end..]));
    }
    format!("{}{HIDDEN}{}", &word[..from], redact_settings(&word[end..]))
}

impl DbUrl {
    /// The URL alone, as written: no PG* variable, no password file.
    pub fn parse(text: &str) -> Result<DbUrl, Error> {
        DbUrl::parse_env(text, &|_| None)
    }

    /// The URL, with what it leaves out filled as libpq fills it: `PGHOST`, `PGPORT`,
    /// `PGUSER`, `PGDATABASE`, `PGPASSWORD`, then the password file (`PGPASSFILE`,
    /// `~/.pgpass`), `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY` and
    /// `PGCONNECT_TIMEOUT`. What the URL says wins.
    pub fn parse_env(text: &str, env: Env<'_>) -> Result<DbUrl, Error> {
        let bad = |why: &str| Error::BadUrl {
            url: redact(text),
            from: None,
            why: why.to_string(),
        };
        if text.trim().is_empty() {
            return Err(bad(&format!("it is empty; {FORM}")));
        }
        let url = match url::Url::parse(text) {
            // `postgres://user@/db?host=/socket`: libpq and Go's net/url take a user with no
            // host, the url crate does not. A stand-in host lets it parse; it is never
            // used and never shown.
            Err(url::ParseError::EmptyHost) => {
                let scheme_end = text.find("://").map_or(0, |i| i + 3);
                let at = text[scheme_end..]
                    .find(['/', '?'])
                    .map_or(text.len(), |i| scheme_end + i);
                let stand_in = format!("{}{NO_HOST}{}", &text[..at], &text[at..]);
                url::Url::parse(&stand_in)
            }
            parsed => parsed,
        }
        .map_err(|e| bad(&unparsed(text, &e)))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(bad("the scheme must be postgres:// or postgresql://"));
        }
        if url.port() == Some(0) {
            return Err(bad(
                "port 0 is not a port a server listens on; give the server's port, e.g. 5432",
            ));
        }
        let decode = |s: &str| {
            // libpq and dbmate (Go's net/url) refuse a `%` that starts no escape; taken
            // literally it would be a different password than the one meant.
            let bytes = s.as_bytes();
            let stray = bytes.iter().enumerate().any(|(i, &b)| {
                b == b'%'
                    && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                        && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            });
            if stray {
                return Err(bad(
                    "a '%' is not followed by two hex digits; write a literal % as %25",
                ));
            }
            percent_decode(s).ok_or_else(|| {
                bad("a percent-escape is not valid UTF-8; escape each UTF-8 byte of a character (é is %C3%A9)")
            })
        };
        let given = |s: String| Some(s).filter(|s| !s.is_empty());
        let mut host = url
            .host_str()
            .filter(|h| *h != NO_HOST)
            .map(decode)
            .transpose()?
            .and_then(given);
        let mut port = url.port();
        let mut user = given(decode(url.username())?);
        let mut password = url.password().map(decode).transpose()?;
        let mut dbname = given(decode(url.path().trim_start_matches('/'))?);
        let mut connect_timeout = None;
        let mut tls = TlsSettings::default();
        let mut db = DbUrl {
            host: String::new(),
            port: 5432,
            user: String::new(),
            password: None,
            password_from: PasswordFrom::Url,
            pgpass_warning: None,
            dbname: String::new(),
            search_path: Vec::new(),
            settings: Vec::new(),
            connect_timeout: None,
            keepalive: Keepalive::default(),
            tls: TlsSettings::default(),
            home: libpq::home(env),
            url: url.clone(),
        };
        let sslmode = |value: &str, source: &str| {
            SslMode::parse(value).ok_or_else(|| {
                bad(&format!(
                    "{source}={value} is not an sslmode; use one of {}",
                    SSLMODES.join(", ")
                ))
            })
        };
        let seconds = |value: &str, source: &str| {
            value.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                bad(&format!(
                    "{source} is not a number of seconds; write e.g. {source}=10"
                ))
            })
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => tls.mode = Some(sslmode(&value, "sslmode")?),
                "sslrootcert" => tls.rootcert = given(value.into_owned()),
                "sslcert" => tls.cert = given(value.into_owned()).map(PathBuf::from),
                "sslkey" => tls.key = given(value.into_owned()).map(PathBuf::from),
                unsupported @ ("sslcrl"
                | "sslcrldir"
                | "sslpassword"
                | "sslnegotiation"
                | "sslcompression"
                | "sslsni"
                | "ssl_min_protocol_version"
                | "ssl_max_protocol_version"
                | "requiressl") => {
                    return Err(bad(&format!(
                        "{unsupported} is a libpq setting pgfleet does not support; pgfleet takes sslmode, sslrootcert, sslcert and sslkey"
                    )));
                }
                "search_path" => {
                    db.search_path = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                "host" | "socket" => host = given(value.into_owned()),
                "port" => {
                    port = Some(value.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                        bad(&format!(
                            "port={value} is not a port; give one from 1 to 65535"
                        ))
                    })?)
                }
                "user" => user = given(value.into_owned()),
                "password" => password = Some(value.into_owned()),
                "dbname" => dbname = given(value.into_owned()),
                "connect_timeout" => connect_timeout = Some(seconds(&value, "connect_timeout")?),
                "keepalives" => {
                    db.keepalive.on = match value.as_ref() {
                        "1" => true,
                        "0" => false,
                        _ => return Err(bad("keepalives is 1 (on) or 0 (off)")),
                    }
                }
                "keepalives_idle" | "keepalives_interval" => {
                    let secs: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| bad(&format!("{key} is a number of seconds above 0")))?;
                    let secs = Duration::from_secs(secs);
                    match key.as_ref() {
                        "keepalives_idle" => db.keepalive.idle = secs,
                        _ => db.keepalive.interval = secs,
                    }
                }
                "keepalives_count" => {
                    db.keepalive.count = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("keepalives_count is a number of probes above 0"))?;
                }
                // pgfleet names itself so that lock holders can be told apart.
                "application_name" => {}
                // As with the flags: a bare number would be milliseconds to PostgreSQL.
                timeout
                    if timeout.ends_with("_timeout")
                        && value != "0"
                        && !value.is_empty()
                        && value.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    return Err(bad(&format!(
                        "{timeout}={value} has no unit, which PostgreSQL reads as milliseconds; write {value}s or {value}ms"
                    )));
                }
                _ => db.settings.push((key.into_owned(), value.into_owned())),
            }
        }
        // What the URL leaves out, libpq takes from the environment.
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        db.host = host
            .or_else(|| var("PGHOST"))
            // dbmate's default on Linux, and libpq's on Debian: the local socket folder.
            .unwrap_or_else(|| libpq::DEFAULT_SOCKET_DIR.to_string());
        db.port = match (port, var("PGPORT")) {
            (Some(port), _) => port,
            (None, Some(text)) => text.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                bad(&format!(
                    "PGPORT={text} is not a port; give one from 1 to 65535"
                ))
            })?,
            (None, None) => 5432,
        };
        db.user = user
            .or_else(|| var("PGUSER"))
            .unwrap_or_else(super::os_user);
        db.dbname = dbname.or_else(|| var("PGDATABASE")).ok_or_else(|| {
            bad("it names no database; add the database after the host: postgres://user@host:port/DATABASE (or set PGDATABASE)")
        })?;
        if tls.mode.is_none()
            && let Some(mode) = var("PGSSLMODE")
        {
            tls.mode = Some(sslmode(&mode, "PGSSLMODE")?);
        }
        tls.rootcert = tls.rootcert.or_else(|| var("PGSSLROOTCERT"));
        tls.cert = tls.cert.or_else(|| var("PGSSLCERT").map(PathBuf::from));
        tls.key = tls.key.or_else(|| var("PGSSLKEY").map(PathBuf::from));
        tls.check().map_err(|why| bad(&why))?;
        db.tls = tls;
        // Found now rather than at connecting (a socket never uses TLS, so needs no CA).
        if !db.is_socket() {
            db.tls
                .check_roots(db.home.as_deref())
                .map_err(|why| bad(&why))?;
        }
        db.connect_timeout = match (connect_timeout, var("PGCONNECT_TIMEOUT")) {
            (Some(t), _) => Some(t),
            (None, Some(text)) => Some(seconds(&text, "PGCONNECT_TIMEOUT")?),
            (None, None) => None,
        };
        (db.password, db.password_from) = match (password, var("PGPASSWORD")) {
            (Some(p), _) => (Some(p), PasswordFrom::Url),
            (None, Some(p)) => (Some(p), PasswordFrom::Env),
            (None, None) => match libpq::pgpass_file(env) {
                Some(file) => {
                    let found =
                        libpq::pgpass_lookup(&file, &db.host, db.port, &db.dbname, &db.user);
                    db.pgpass_warning = found.warning;
                    match found.password {
                        Some((p, line)) => (Some(p), PasswordFrom::Pgpass { file, line }),
                        None => (None, PasswordFrom::Nowhere { pgpass: Some(file) }),
                    }
                }
                None => (None, PasswordFrom::Nowhere { pgpass: None }),
            },
        };
        Ok(db)
    }

    /// Why the password file was not read although it is there, as libpq warns.
    pub fn pgpass_warning(&self) -> Option<&str> {
        self.pgpass_warning.as_deref()
    }

    /// The password, to remember for redaction (it may come from PGPASSWORD or a file).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Whether the host is a Unix socket folder (where libpq never uses TLS).
    fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    /// The same server and credentials, another database (to create this one).
    pub fn with_dbname(&self, dbname: &str) -> DbUrl {
        let mut other = self.clone();
        other.dbname = dbname.to_string();
        other.url.set_path(&format!("/{dbname}"));
        other
    }

    /// Connects with the native protocol. The connection task runs on its own; when the
    /// server goes away, the client's next call fails with "connection closed".
    /// A session on this database. The whole of it — TCP, TLS refusal, authentication,
    /// the search_path — is bounded by `connect_timeout` (default 10 s): a server that
    /// accepts the connection and never answers must not hold pgfleet for ever.
    pub async fn open(&self) -> Result<Client, SqlError> {
        let limit = self.connect_timeout.unwrap_or(super::CONNECT_TIMEOUT);
        match tokio::time::timeout(limit, self.open_unbounded()).await {
            Ok(opened) => opened,
            Err(_) => Err(super::no_answer(limit, super::RAISE_IN_URL)),
        }
    }

    async fn open_unbounded(&self) -> Result<Client, SqlError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("pgfleet")
            .connect_timeout(self.connect_timeout.unwrap_or(super::CONNECT_TIMEOUT))
            .keepalives(self.keepalive.on)
            .keepalives_idle(self.keepalive.idle)
            .keepalives_interval(self.keepalive.interval)
            .keepalives_retries(self.keepalive.count);
        if let Some(p) = &self.password {
            config.password(p);
        }
        if !self.settings.is_empty() {
            let options: Vec<String> = self
                .settings
                .iter()
                .map(|(k, v)| format!("-c {k}={}", v.replace('\\', "\\\\").replace(' ', "\\ ")))
                .collect();
            config.options(options.join(" "));
        }
        let tls = if self.is_socket() {
            Tls::disabled()
        } else {
            self.tls
                .load(self.home.as_deref())
                .map_err(|message| SqlError {
                    code: None,
                    message,
                    detail: None,
                    hint: None,
                    position: None,
                })?
        };
        let connector = tls.connector();
        let connected = tls
            .connect(&self.host, |mode| {
                let mut config = config.clone();
                config.ssl_mode(mode);
                let connector = connector.clone();
                async move {
                    // The error resurfaces on the client's next call, where it is reported.
                    match connector {
                        Some(tls) => {
                            let (client, connection) = config.connect(tls).await?;
                            tokio::spawn(connection);
                            Ok(client)
                        }
                        None => {
                            let (client, connection) = config.connect(NoTls).await?;
                            tokio::spawn(connection);
                            Ok(client)
                        }
                    }
                }
            })
            .await;
        let client = connected.map_err(|mut e| {
            if e.is_code("28P01") {
                e.hint = Some(self.password_from.wrong_hint());
            } else if e.code.is_none() && e.message.contains("password missing") {
                e.hint = Some(self.password_from.missing_hint());
            } else if self.is_socket() && e.message.contains("No such file or directory") {
                e.hint = Some(format!(
                    "no PostgreSQL socket for port {} in {}: is the server running on this machine? Name the folder of its socket with ?host=FOLDER (or PGHOST), or give a host name",
                    self.port, self.host
                ));
            }
            e
        })?;
        if !self.search_path.is_empty() {
            client
                .execute(
                    "select set_config('search_path', $1, false)",
                    &[&self.search_path.join(",")],
                )
                .await?;
        }
        Ok(client)
    }

    /// Arguments and environment for pg_dump and psql. The password goes in the
    /// environment (PGPASSWORD), never on the command line where `ps` would show it.
    pub fn libpq_args(&self) -> (Vec<String>, Vec<(String, String)>) {
        let args = vec![
            "--host".to_string(),
            self.host.clone(),
            "--port".to_string(),
            self.port.to_string(),
            "--username".to_string(),
            self.user.clone(),
            "--dbname".to_string(),
            self.dbname.clone(),
        ];
        let mut env: Vec<(String, String)> = self
            .password
            .iter()
            .map(|p| ("PGPASSWORD".to_string(), p.clone()))
            .collect();
        // The same TLS as pgfleet's own sessions (libpq reads these variables).
        env.push(("PGSSLMODE".into(), self.tls.mode().as_str().into()));
        let files = [
            ("PGSSLROOTCERT", self.tls.rootcert.clone()),
            (
                "PGSSLCERT",
                self.tls.cert.as_ref().map(|p| p.display().to_string()),
            ),
            (
                "PGSSLKEY",
                self.tls.key.as_ref().map(|p| p.display().to_string()),
            ),
        ];
        env.extend(
            files
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v))),
        );
        (args, env)
    }
}

#[async_trait]
impl Endpoint for DbUrl {
    fn target(&self) -> String {
        self.to_string()
    }

    fn dbname(&self) -> &str {
        &self.dbname
    }

    fn search_path(&self) -> &[String] {
        &self.search_path
    }

    async fn connect(&self, dbname: &str) -> Result<Client, SqlError> {
        self.with_dbname(dbname).open().await
    }

    fn with_dbname(&self, dbname: &str) -> Box<dyn Endpoint> {
        Box::new(DbUrl::with_dbname(self, dbname))
    }

    /// The local pg_dump, with the password in its environment.
    async fn pg_dump(&self, args: &[&str]) -> Result<String, Error> {
        let (conn_args, env) = self.libpq_args();
        let output = tokio::process::Command::new("pg_dump")
            .args(args)
            .args(&conn_args)
            .envs(env)
            .output()
            .await
            .map_err(|error| Error::Io {
                what: "cannot run pg_dump (is the PostgreSQL client installed?)".into(),
                error,
            })?;
        if !output.status.success() {
            return Err(Error::PgDump {
                target: self.to_string(),
                why: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        String::from_utf8(output.stdout).map_err(|_| Error::PgDump {
            target: self.to_string(),
            why: "it wrote output that is not UTF-8".into(),
        })
    }
}

/// The form a database URL takes, for messages about one that does not parse.
const FORM: &str = "write it as postgres://user@host:port/database (user:password@ with a password), with a port from 1 to 65535";

/// Why `text` did not parse, and how to write it. An unencoded `#`, `/` or `?` in the
/// password ends the URL's host part early, so the url crate blames the port or the host:
/// say what really happened.
fn unparsed(text: &str, error: &url::ParseError) -> String {
    let authority = text.split_once("://").map_or("", |(_, rest)| rest);
    // A query (`=`) before the last `@` means that `@` is not the userinfo's.
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && userinfo.contains(['#', '/', '?'])
        && !userinfo.contains('=')
    {
        return "a `#`, `/` or `?` in the user or password ends the host part of a URL; percent-encode it (%23, %2F, %3F; and @ as %40, : as %3A, % as %25)".to_owned();
    }
    format!("{error}; {FORM}")
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls_after_a_flag_too() {
        assert_eq!(
            redact("pgfleet --shadow-url=postgres://u:pw@h/db drift postgres://a:b@c/d"),
            "pgfleet --shadow-url=postgres://u:********@h/db drift postgres://a:********@c/d"
        );
        assert_eq!(redact("no url here"), "no url here");
    }

    #[test]
    fn parses_and_redacts() {
        let u = DbUrl::parse(
            "postgres://app:p%40ss@db.example:6543/shop?sslmode=disable&search_path=app,public",
        )
        .unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str()),
            ("db.example", 6543, "app")
        );
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.dbname, "shop");
        assert_eq!(u.search_path, ["app", "public"]);
        let shown = u.to_string();
        assert!(
            !shown.contains("p%40ss") && shown.contains("********"),
            "{shown}"
        );
        assert!(!format!("{u:?}").contains("p%40ss"));
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for bad in [
            "mysql://u:p@h/db",
            "postgres://u:secret@h",
            "postgres://u:secret@h/db?sslmode=required",
        ] {
            let e = DbUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn redact_hides_passwords_of_urls_that_do_not_parse_and_of_settings() {
        for (text, shown) in [
            (
                "invalid database URL postgres://app:SECRET@127.0.0.1:99999/x: invalid port number",
                "invalid database URL postgres://app:********@127.0.0.1:99999/x: invalid port number",
            ),
            (
                "postgres://app:SECRET@h:5432x/db",
                "postgres://app:********@h:5432x/db",
            ),
            (
                "postgres://app:se#cr/et@h/db",
                "postgres://app:********@h/db",
            ),
            ("postgres://app:p@ss@h/db", "postgres://app:********@h/db"),
            (
                "postgres://app@h/db?sslmode=disable&password=SECRET&x=1",
                "postgres://app@h/db?sslmode=disable&password=********&x=1",
            ),
            ("PGPASSWORD=SECRET psql", "PGPASSWORD=******** psql"),
            (
                r#"{"target":"postgres://u:SECRET@h/db","note":"a@b","url":"postgres://v:S2@h/d?Password=S3"}"#,
                r#"{"target":"postgres://u:********@h/db","note":"a@b","url":"postgres://v:********@h/d?Password=********"}"#,
            ),
            (
                "line one\npostgres://u:SECRET@h/db",
                "line one\npostgres://u:********@h/db",
            ),
            ("no secret here: a@b c:d", "no secret here: a@b c:d"),
        ] {
            assert_eq!(redact(text), shown, "{text}");
        }
    }

    #[test]
    fn pg_variables_and_the_password_file_fill_what_the_url_leaves_out() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let pgpass = home.path().join(".pgpass");
        std::fs::write(&pgpass, "other:*:*:*:no\n*:6543:shop:ann:from\\:file\n").unwrap();
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
        let home_dir = home.path().display().to_string();
        let env = |vars: &'static [(&'static str, &'static str)]| {
            let home_dir = home_dir.clone();
            move |k: &str| {
                if k == "HOME" {
                    return Some(home_dir.clone());
                }
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let vars: &[(&str, &str)] = &[
            ("PGHOST", "db.example"),
            ("PGPORT", "6543"),
            ("PGUSER", "ann"),
            ("PGDATABASE", "shop"),
            ("PGSSLMODE", "require"),
            ("PGCONNECT_TIMEOUT", "7"),
        ];
        let u = DbUrl::parse_env("postgres://", &env(vars)).unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str(), u.dbname.as_str()),
            ("db.example", 6543, "ann", "shop")
        );
        assert_eq!(u.password(), Some("from:file"));
        assert_eq!(
            u.password_from,
            PasswordFrom::Pgpass {
                file: pgpass.clone(),
                line: 2
            }
        );
        assert_eq!(u.tls.mode(), SslMode::Require);
        assert_eq!(u.connect_timeout, Some(Duration::from_secs(7)));
        // The URL wins over every variable; PGPASSWORD over the file.
        let u = DbUrl::parse_env(
            "postgres://bob@h:1/other?sslmode=disable",
            &env(&[
                ("PGHOST", "x"),
                ("PGUSER", "ann"),
                ("PGPASSWORD", "envpw"),
                ("PGSSLMODE", "require"),
            ]),
        )
        .unwrap();
        assert_eq!((u.host.as_str(), u.port, u.user.as_str()), ("h", 1, "bob"));
        assert_eq!(
            (u.password(), &u.password_from),
            (Some("envpw"), &PasswordFrom::Env)
        );
        assert_eq!(u.tls.mode(), SslMode::Disable);
        // A socket folder as PGHOST; no password anywhere.
        let u = DbUrl::parse_env("postgres:///db", &env(&[("PGHOST", "/run/pg")])).unwrap();
        assert!(u.is_socket());
        assert_eq!(
            u.password_from,
            PasswordFrom::Nowhere {
                pgpass: Some(pgpass)
            }
        );
        let e = DbUrl::parse_env("postgres:///db", &env(&[("PGSSLMODE", "on")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PGSSLMODE=on is not an sslmode"), "{e}");
    }

    #[test]
    fn redact_hides_passwords_in_text() {
        assert_eq!(
            redact("cannot reach postgres://u:topsecret@h/db now"),
            "cannot reach postgres://u:********@h/db now"
        );
    }
}
