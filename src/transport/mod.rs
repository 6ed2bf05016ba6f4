//! How pgfleet reaches a database: by URL, or through an SSH tunnel to a container found
//! with the Docker API. Every way yields an `Endpoint`, which the engine drives unchanged.

pub mod discover;
pub mod docker;
pub mod exec;
pub mod fleet;
pub mod known_hosts;
pub mod libpq;
pub mod pattern;
pub mod ssh;
pub mod ssh_config;
pub mod tls;
pub mod url;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_postgres::Client;

use self::docker::DockerApi;
pub use self::url::{DbUrl, redact};
use crate::error::{Error, SqlError};

/// How long reaching a database may take, TCP to a session ready for queries, unless the
/// URL's `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a connection that got no answer in time says; `raise` says where the limit is set.
pub fn no_answer(limit: std::time::Duration, raise: &str) -> SqlError {
    SqlError {
        code: None,
        message: format!(
            "the server accepted the connection but did not complete it within {} s (connect_timeout): is PostgreSQL what listens there, and is it overloaded? {raise} to wait longer",
            limit.as_secs()
        ),
        detail: None,
        hint: None,
        position: None,
    }
}

/// Where a URL's limit is raised.
pub const RAISE_IN_URL: &str = "Raise connect_timeout=N in the URL";

/// One database as a transport reaches it: sessions on demand, and pg_dump.
#[async_trait]
pub trait Endpoint: Send + Sync {
    /// As shown to users; never with a password.
    fn target(&self) -> String;
    fn dbname(&self) -> &str;
    /// Schemas of the URL's `search_path`, which place the migrations table.
    fn search_path(&self) -> &[String];
    /// A session on `dbname` (this database, or `postgres` to create it).
    async fn connect(&self, dbname: &str) -> Result<Client, SqlError>;
    /// Runs pg_dump with `args` against this database and returns what it wrote.
    async fn pg_dump(&self, args: &[&str]) -> Result<String, Error>;
    /// Another database on the same server, reached the same way (a scratch database).
    fn with_dbname(&self, dbname: &str) -> Box<dyn Endpoint>;
}

/// A reached database and the backend that speaks to it, as `tracking::open` takes it.
pub enum Backend {
    /// PostgreSQL's protocol: by URL, or through an SSH tunnel.
    Native(Box<dyn Endpoint>),
    /// psql inside the container, through the Docker exec API.
    Psql {
        target: String,
        docker: Arc<DockerApi>,
        container: String,
        user: String,
        dbname: String,
    },
}

impl Backend {
    pub fn target(&self) -> String {
        match self {
            Backend::Native(e) => e.target(),
            Backend::Psql { target, .. } => target.clone(),
        }
    }

    pub fn search_path(&self) -> Vec<String> {
        match self {
            Backend::Native(e) => e.search_path().to_vec(),
            Backend::Psql { .. } => Vec::new(),
        }
    }
}

/// The operating-system user name, as libpq and OpenSSH default to it.
pub fn os_user() -> String {
    // An account with no name (a container's bare uid) still needs some user to try.
    whoami::username().unwrap_or_else(|_| "postgres".into())
}
