//! How pgfleet reaches a database: by URL, or through an SSH tunnel to a container found
//! with the Docker API. Every way yields an `Endpoint`, which the engine drives unchanged.

pub mod docker;
pub mod exec;
pub mod fleet;
pub mod ssh;
pub mod ssh_config;
pub mod url;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_postgres::Client;

use self::docker::DockerApi;
pub use self::url::{DbUrl, redact};
use crate::error::{Error, SqlError};

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
