//! Raw flags → validated settings. Everything that can be wrong with the input is found
//! here, before any database is contacted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::migration::Timeout;
use crate::transport::DbUrl;

/// Loads the env file: variables already in the environment win, as with dbmate. A missing
/// default `.env` is fine; a missing file named with `--env-file` is an error.
pub fn load_env_file(explicit: Option<&Path>) -> Result<(), Error> {
    let path = explicit.unwrap_or(Path::new(".env"));
    match dotenvy::from_path(path) {
        Ok(()) => Ok(()),
        Err(dotenvy::Error::Io(e))
            if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() =>
        {
            Ok(())
        }
        Err(e) => Err(Error::Config(format!(
            "cannot load the env file {}: {e}",
            path.display()
        ))),
    }
}

/// The database URL: `--url`, else `DATABASE_URL` (from the environment or the env file).
pub fn database_url(flag: Option<&str>) -> Result<DbUrl, Error> {
    given_database_url(flag)?.ok_or_else(|| {
        Error::Config(
            "no database: pass --url postgres://user:password@host:port/db, or set DATABASE_URL (in the environment or a .env file)".into(),
        )
    })
}

/// The database URL when one is given (`--url` or `DATABASE_URL`); None means "use the
/// inventory".
pub fn given_database_url(flag: Option<&str>) -> Result<Option<DbUrl>, Error> {
    match flag
        .map(str::to_string)
        .or_else(|| std::env::var("DATABASE_URL").ok())
    {
        Some(text) => DbUrl::parse(&text).map(Some),
        None => Ok(None),
    }
}

/// Parses a duration flag (`5s`, `500ms`, `2min`, `off`).
pub fn parse_timeout(text: &str) -> Result<Timeout, String> {
    Timeout::parse(text).ok_or_else(|| {
        format!("'{text}' is not a duration: use a number with ms, s, min or h (e.g. 30s), or off")
    })
}

pub fn timeout_duration(t: Timeout) -> Duration {
    Duration::from_millis(t.millis)
}

/// `user@machine`, recorded with every migration applied.
pub fn applied_by() -> String {
    let host = whoami::fallible::hostname().unwrap_or_else(|_| "unknown-host".into());
    format!("{}@{host}", whoami::username())
}

/// The migrations folder, checked to exist (a typo would otherwise read as "no migrations").
pub fn migrations_dir(dir: &Path) -> Result<PathBuf, Error> {
    if dir.is_dir() {
        Ok(dir.to_path_buf())
    } else {
        Err(Error::Config(format!(
            "the migrations folder {} does not exist: create it, or pass --migrations-dir",
            dir.display()
        )))
    }
}
