//! A database reached by a `postgres://` URL, as dbmate reads it.

use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use async_trait::async_trait;

use super::Endpoint;
use crate::error::{Error, SqlError};

/// A parsed database URL. The password is kept out of `Display` and `Debug`.
#[derive(Clone)]
pub struct DbUrl {
    url: url::Url,
    pub host: String,
    pub port: u16,
    pub user: String,
    password: Option<String>,
    pub dbname: String,
    /// Schemas of the URL's `search_path` parameter, in order.
    pub search_path: Vec<String>,
    /// Other query parameters, sent as run-time settings (as lib/pq does).
    settings: Vec<(String, String)>,
    connect_timeout: Option<Duration>,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

/// The URL with its password shown as `********`, as dbmate prints it.
impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("********"));
        }
        write!(f, "{shown}")
    }
}

/// Redacts the password of anything that looks like a URL with credentials in `text`.
pub fn redact(text: &str) -> String {
    text.split(' ')
        .map(redact_word)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word holding a URL with a password, perhaps after a prefix (`--url=…`, `(…`).
fn redact_word(word: &str) -> String {
    let Some(colon) = word.find("://") else {
        return word.to_string();
    };
    let start = word[..colon]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .map_or(0, |i| i + 1);
    match url::Url::parse(&word[start..]) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            format!("{}{u}", &word[..start])
        }
        _ => word.to_string(),
    }
}

impl DbUrl {
    pub fn parse(text: &str) -> Result<DbUrl, Error> {
        let bad = |why: &str| Error::BadUrl {
            url: redact(text),
            why: why.to_string(),
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(bad("the scheme must be postgres:// or postgresql://"));
        }
        let decode =
            |s: &str| percent_decode(s).ok_or_else(|| bad("a percent-escape is not valid UTF-8"));
        let mut db = DbUrl {
            host: url.host_str().map(decode).transpose()?.unwrap_or_default(),
            port: url.port().unwrap_or(5432),
            user: decode(url.username())?,
            password: url.password().map(decode).transpose()?,
            dbname: decode(url.path().trim_start_matches('/'))?,
            search_path: Vec::new(),
            settings: Vec::new(),
            connect_timeout: None,
            url: url.clone(),
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => match value.as_ref() {
                    "disable" | "allow" | "prefer" => {}
                    other => {
                        return Err(bad(&format!(
                            "sslmode={other} needs TLS, which pgfleet does not speak yet; use sslmode=disable or reach the server over SSH"
                        )));
                    }
                },
                "search_path" => {
                    db.search_path = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                "host" | "socket" => db.host = value.into_owned(),
                "port" => db.port = value.parse().map_err(|_| bad("port is not a number"))?,
                "user" => db.user = value.into_owned(),
                "password" => db.password = Some(value.into_owned()),
                "connect_timeout" => {
                    let secs: u64 = value
                        .parse()
                        .map_err(|_| bad("connect_timeout is not a number of seconds"))?;
                    db.connect_timeout = Some(Duration::from_secs(secs));
                }
                // pgfleet names itself so that lock holders can be told apart.
                "application_name" => {}
                _ => db.settings.push((key.into_owned(), value.into_owned())),
            }
        }
        if db.host.is_empty() {
            // dbmate's default on Linux: the local socket folder.
            db.host = "/var/run/postgresql".to_string();
        }
        if db.user.is_empty() {
            db.user = whoami::username();
        }
        if db.dbname.is_empty() {
            return Err(bad(
                "it names no database (postgres://user:password@host:port/DATABASE)",
            ));
        }
        Ok(db)
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
    pub async fn open(&self) -> Result<Client, SqlError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("pgfleet")
            .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)));
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
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            // The error resurfaces on the client's next call, where it is reported.
            let _ = connection.await;
        });
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
        let env = self
            .password
            .iter()
            .map(|p| ("PGPASSWORD".to_string(), p.clone()))
            .collect();
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
            "postgres://u:secret@h/db?sslmode=require",
        ] {
            let e = DbUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn redact_hides_passwords_in_text() {
        assert_eq!(
            redact("cannot reach postgres://u:topsecret@h/db now"),
            "cannot reach postgres://u:********@h/db now"
        );
    }
}
