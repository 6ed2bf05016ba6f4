//! What `discover` asks a docker host: its PostgreSQL containers (by image, or by the
//! official image's `POSTGRES_*` settings), what each was started with, and its databases
//! (psql inside the container, over its local socket, as `method: exec` does). A password
//! is never kept: only the name of the variable that holds it.

use std::time::Duration;

use futures_util::{StreamExt, stream};

use super::docker::{DockerApi, DockerError};

/// Image repositories (the last path part, without tag or digest) that are PostgreSQL
/// servers: the official image and the common images built on it (`postgis/postgis`,
/// `pgvector/pgvector`, `citusdata/citus`, `paradedb/paradedb`, `supabase/postgres`);
/// `timescale/timescaledb*` is matched by prefix.
const IMAGES: &[&str] = &["postgres", "postgis", "pgvector", "citus", "paradedb"];

/// The official image's settings: a container that has one is taken for a PostgreSQL
/// server, whatever its image is called (checked by listing its databases).
const SETTINGS: &[&str] = &[
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_FILE",
    "POSTGRES_USER",
    "POSTGRES_DB",
];

/// How long listing one container's databases may take (a server still starting answers
/// at once with an error; one that hangs must not hold the host).
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// How many Docker API requests run at once on one host.
const AT_ONCE: usize = 8;

/// Why a container was taken for PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Image,
    /// Its `POSTGRES_*` settings, with an image of another name.
    Settings,
}

/// What listing a container's databases gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Databases {
    /// Not running: not asked.
    NotListed,
    /// Every database that takes connections and is not a template, by name.
    Listed(Vec<String>),
    /// psql in the container did not answer with the list (why, in psql's or docker's
    /// words).
    Failed(String),
}

/// One PostgreSQL container of a host, as `discover` reports it.
#[derive(Debug, Clone)]
pub struct PgContainer {
    pub name: String,
    pub image: String,
    /// Docker's word: `running`, `exited`, `paused`, `restarting`, `created`.
    pub state: String,
    pub matched_by: MatchedBy,
    /// `POSTGRES_USER`, else `postgres` (the official image's default).
    pub user: String,
    /// `POSTGRES_DB`, when set.
    pub database_setting: Option<String>,
    /// The variable of the container that holds its password (`POSTGRES_PASSWORD`).
    pub password_variable: Option<String>,
    /// `POSTGRES_PASSWORD_FILE` is set: the password is in a file inside the container
    /// (a docker secret), which pgfleet cannot read as a password source.
    pub password_file: bool,
    /// `PGPORT`, when PostgreSQL listens on another port than 5432 inside the container.
    pub port: Option<u16>,
    /// It has an address on a docker network (a tunnel can reach it).
    pub has_address: bool,
    /// Published ports, as `docker ps` shows them: `0.0.0.0:5433->5432/tcp`.
    pub published: Vec<String>,
    /// docker compose's project and service labels, when it was started by compose.
    pub compose: Option<(String, String)>,
    pub databases: Databases,
}

impl PgContainer {
    pub fn running(&self) -> bool {
        self.state == "running"
    }
}

/// Whether `image` (`registry:5000/team/postgres:16-alpine@sha256:…`) names a PostgreSQL
/// server image.
pub fn postgres_image(image: &str) -> bool {
    let without_digest = image.split('@').next().unwrap_or_default();
    let last = without_digest.rsplit('/').next().unwrap_or_default();
    let repository = last.split(':').next().unwrap_or_default().to_lowercase();
    IMAGES.contains(&repository.as_str()) || repository.starts_with("timescaledb")
}

/// Every PostgreSQL container of the host, running or not, in the order of their names,
/// with the databases of the running ones.
pub async fn postgres_containers(docker: &DockerApi) -> Result<Vec<PgContainer>, DockerError> {
    let all = docker.list_all().await?;
    // Each container's settings are only in its inspection: ask for them all, a few at once.
    let inspected: Vec<_> = stream::iter(all.into_iter().map(|summary| async move {
        let id = summary.id.clone().unwrap_or_default();
        docker.inspect(&id).await.map(|inspect| (summary, inspect))
    }))
    .buffered(AT_ONCE)
    .collect()
    .await;
    let mut found = Vec::new();
    for item in inspected {
        match item {
            Ok((summary, inspect)) => found.extend(describe(summary, inspect)),
            // Removed between the list and the inspection: it is not there any more.
            Err(DockerError::Api { reason, .. }) if reason.contains("No such container") => {}
            Err(e) => return Err(e),
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let listed: Vec<Databases> = stream::iter(found.iter().map(|c| list_databases(docker, c)))
        .buffered(AT_ONCE)
        .collect()
        .await;
    for (container, databases) in found.iter_mut().zip(listed) {
        container.databases = databases;
    }
    Ok(found)
}

/// The container as `discover` reports it, if it is PostgreSQL. The password's value is
/// dropped here: it is remembered only to be redacted, should anything ever quote it.
fn describe(
    summary: bollard::models::ContainerSummary,
    inspect: bollard::models::ContainerInspectResponse,
) -> Option<PgContainer> {
    let env = super::docker::container_env(&inspect);
    // The image as it was asked for (`postgres:16`), which the summary may show as an id.
    let image = inspect
        .config
        .as_ref()
        .and_then(|c| c.image.clone())
        .or(summary.image)
        .unwrap_or_default();
    let matched_by = if postgres_image(&image) {
        MatchedBy::Image
    } else if SETTINGS.iter().any(|k| env.contains_key(*k)) {
        MatchedBy::Settings
    } else {
        return None;
    };
    if let Some(password) = env.get("POSTGRES_PASSWORD") {
        super::url::remember_secret(password);
    }
    let state = inspect.state.as_ref();
    let state = match state.and_then(|s| s.status) {
        Some(status) => status.to_string(),
        None if state.and_then(|s| s.running) == Some(true) => "running".into(),
        None => "stopped".into(),
    };
    let labels = summary.labels.unwrap_or_default();
    let compose = match (
        labels.get("com.docker.compose.project"),
        labels.get("com.docker.compose.service"),
    ) {
        (Some(p), Some(s)) => Some((p.clone(), s.clone())),
        _ => None,
    };
    let mut published: Vec<String> = summary
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let public = p.public_port?;
            let ip = p.ip.unwrap_or_default();
            let kind = p.typ.map_or("tcp".to_string(), |t| t.to_string());
            Some(format!("{ip}:{public}->{}/{kind}", p.private_port))
        })
        .collect();
    published.sort();
    published.dedup();
    let has_address = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .is_some_and(|nets| {
            nets.values()
                .any(|e| e.ip_address.as_deref().is_some_and(|ip| !ip.is_empty()))
        });
    Some(PgContainer {
        name: inspect
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image,
        state,
        matched_by,
        user: env
            .get("POSTGRES_USER")
            .filter(|u| !u.is_empty())
            .cloned()
            .unwrap_or_else(|| "postgres".into()),
        database_setting: env.get("POSTGRES_DB").filter(|d| !d.is_empty()).cloned(),
        password_variable: env
            .contains_key("POSTGRES_PASSWORD")
            .then(|| "POSTGRES_PASSWORD".to_string()),
        password_file: env.contains_key("POSTGRES_PASSWORD_FILE"),
        port: env
            .get("PGPORT")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != 5432),
        has_address,
        published,
        compose,
        databases: Databases::NotListed,
    })
}

/// psql inside a running container, as its PostgreSQL user over the local socket (the
/// trust the official image gives `docker exec psql`): the databases that take
/// connections, templates left out. Records end with NUL, so any name comes back whole.
async fn list_databases(docker: &DockerApi, c: &PgContainer) -> Databases {
    if !c.running() {
        return Databases::NotListed;
    }
    let dbname = c.database_setting.clone().unwrap_or_else(|| c.user.clone());
    let command: Vec<String> = [
        "psql",
        "-X",
        "-q",
        "-A",
        "-t",
        "-0",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        &c.user,
        "-d",
        &dbname,
        "-c",
        "select datname from pg_database where datallowconn and not datistemplate order by datname",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let asked = tokio::time::timeout(LIST_TIMEOUT, docker.exec_capture(&c.name, command)).await;
    match asked {
        Err(_) => Databases::Failed(format!(
            "psql did not answer within {} s",
            LIST_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Databases::Failed(e.to_string()),
        Ok(Ok((0, stdout, _))) => Databases::Listed(names(&stdout)),
        Ok(Ok((code, stdout, stderr))) => {
            let said = if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            };
            Databases::Failed(format!(
                "psql exited with {code}: {}",
                said.trim().lines().next().unwrap_or("no message")
            ))
        }
    }
}

/// psql's `-A -t -0` output: one name per NUL-terminated record.
fn names(stdout: &str) -> Vec<String> {
    stdout
        .split('\0')
        .map(|n| n.strip_prefix('\n').unwrap_or(n))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{names, postgres_image};

    #[test]
    fn postgres_images_are_told_by_their_repository() {
        for image in [
            "postgres",
            "postgres:16-alpine",
            "docker.io/library/postgres:15",
            "registry.lan:5000/team/postgres:16@sha256:abc",
            "postgis/postgis:16-3.4",
            "timescale/timescaledb:latest-pg16",
            "timescale/timescaledb-ha:pg16",
            "pgvector/pgvector:pg16",
            "supabase/postgres:15.1",
            "pgfleet/postgres:15",
        ] {
            assert!(postgres_image(image), "{image}");
        }
        for image in [
            "redis:7",
            "postgres-exporter:1",
            "prometheuscommunity/postgres-exporter",
            "nginx",
            "",
            "sha256:0123456789abcdef",
        ] {
            assert!(!postgres_image(image), "{image}");
        }
    }

    #[test]
    fn psql_records_keep_odd_names_whole() {
        assert_eq!(names("app\0a b\0x\ny\0"), ["app", "a b", "x\ny"]);
        assert_eq!(names(""), Vec::<String>::new());
    }
}
