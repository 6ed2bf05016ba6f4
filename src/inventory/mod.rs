//! The inventory: which docker hosts to reach (over SSH or locally), and which PostgreSQL
//! containers on them to migrate. `load` reads and resolves it; `select` applies `--limit`.
//!
//! # Format
//!
//! An inventory is a YAML file, or a folder whose `*.yml` / `*.yaml` files (not hidden ones,
//! not sub-folders) are read in name order and merged. A host or group defined in two files
//! is an error naming both; so is a `defaults` key set in two files. Selected with
//! `-i/--inventory PATH` (default `inventory/`).
//!
//! ```yaml
//! defaults:                 # optional; applies to every host and database
//!   user: deploy            # ssh user
//!   port: 22                # ssh port
//!   identity_file: ~/.ssh/id_ed25519   # or a list: identity_files: [...]
//!   known_hosts: ./known_hosts         # extra known_hosts file(s) (besides ssh's own)
//!   connect_timeout: 10s
//!   keepalive: 15s          # off: no keepalives
//!   docker_socket: /var/run/docker.sock   # on the docker host
//!   method: auto            # tunnel | exec | auto
//!   migrations: ../migrations
//!   db_user: postgres       # default database user
//!   db_port: 5432           # port inside the container
//!   password: { env: PGFLEET_DB_PASSWORD }   # or { file: path } or { container: POSTGRES_PASSWORD }
//!   drift_ignore: [owners, privileges]   # what `drift` leaves out (also: comments)
//!   sslmode: verify-ca      # TLS inside the tunnel (not needed: SSH encrypts it); also
//!   sslrootcert: ca.crt     # sslcert, sslkey. libpq's meanings; refused with method exec
//! groups:
//!   lab:
//!     hosts: [nas, pi]
//!     vars: { user: admin, method: exec }   # same keys as defaults
//! hosts:
//!   nas:
//!     address: 192.168.1.10   # ssh address (default: the host's name, so ~/.ssh/config aliases work)
//!     jump: bastion           # another host of the inventory, or user@host:port
//!     local: false            # true: this machine's own docker, no SSH
//!     # any defaults key may also be set here
//!     databases:
//!       app:                  # target nas/app
//!         container: app-db   # or label: "com.example.role=db" (exactly one of the two)
//!         database: app       # default: the container's POSTGRES_DB, else the user
//!         user: app           # default: db_user, else the container's POSTGRES_USER
//!         password: { env: NAS_APP_PW }
//!         method: tunnel
//!         migrations: ../apps/app/migrations
//!         port: 5432
//! ```
//!
//! - **Precedence**: database keys > host keys > group vars > defaults. A host in two groups
//!   whose vars set one key to different values is an error naming both groups, unless the
//!   host sets that key itself. In a database, `user` and `port` are the database's (they
//!   override `db_user` and `db_port`); on a host, in groups and in defaults they are SSH's.
//! - **Paths** (`identity_file(s)`, `known_hosts`, `migrations`, `password: { file }`) are
//!   relative to the folder of the file that sets them; `~` is `$HOME`. `docker_socket` is a
//!   path on the docker host and is kept as written.
//! - **Defaults** when nothing sets them: SSH port and user left to `~/.ssh/config` (else 22
//!   and the local user), `connect_timeout` 10s, `keepalive` 15s, `docker_socket`
//!   `/var/run/docker.sock`, `method` auto, `migrations` `./migrations` (relative to the
//!   current folder), `db_port` 5432, no password.
//! - **Durations** need a unit: `500ms`, `10s`, `2min`, `1h`. `keepalive: off` disables
//!   keepalives; `connect_timeout` must be more than 0.
//! - **`jump`** is an inventory host's name, or an address `[user@]host[:port]` (anything with
//!   `@`, `:` or `.`); a bare word that is no host of the inventory is an error, as is a
//!   loop of jumps or a jump through a `local` host. A host may have no databases only
//!   when another host jumps through it.
//! - **`local: true`** hosts are reached without SSH: `address`, `jump`, `user`, `port`,
//!   `identity_file(s)`, `known_hosts`, `connect_timeout` and `keepalive` on them are errors.
//! - **Names** of hosts, groups and databases may not contain whitespace or `/ , ! * ? [ ] { }`
//!   (target ids are `host/database`, and `--limit` patterns use the others); a name cannot
//!   be both a host and a group.
//! - Unknown keys are errors with a "did you mean"; every error has `file:line:column`
//!   where the YAML gives one. Values stay strings unless they are ports or `local`, so
//!   YAML 1.1's `no` / `off` cannot turn a user name into a boolean. A password is never
//!   written in the inventory, only where to read it.
//!
//! # `--limit`
//!
//! Patterns (repeat the flag or separate them with commas) match host names, group names
//! or `host/database` target ids, with glob wildcards: `nas*`, `*/app`, `lab`. `!pattern`
//! excludes. With only exclusions, everything else is selected. A pattern that matches
//! nothing in the inventory is an error listing what exists.

mod ansible;
mod ansible_ini;
mod ansible_node;
mod docker_context;
mod error;
mod limit;
mod raw;
mod resolve;
pub mod write;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{InventoryError, Loc};
pub use limit::select;

/// Where docker listens on a host when the inventory does not say.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The resolved inventory: hosts and targets in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub hosts: Vec<Host>,
    pub targets: Vec<Target>,
    /// Hosts of an Ansible inventory left out because no `pgfleet_databases` applies to them.
    pub skipped: Vec<String>,
}

impl Inventory {
    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub connection: Connection,
    /// On the docker host.
    pub docker_socket: String,
    /// The groups listing this host, in the order they are defined.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// This machine's own docker, no SSH.
    Local,
    Ssh(SshSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSettings {
    /// What to connect to: an address, or a name `~/.ssh/config` may know.
    pub address: String,
    /// None: let `~/.ssh/config` or 22 decide.
    pub port: Option<u16>,
    /// None: let `~/.ssh/config` or the local user decide.
    pub user: Option<String>,
    pub identity_files: Vec<PathBuf>,
    /// Where the inventory sets `identity_file(s)`, for messages about them (boxed: it is
    /// rarely read, and `Connection::Ssh` stays small).
    pub identity_at: Option<Box<Loc>>,
    /// Extra known_hosts files, besides ssh's own (`SshOptions::known_hosts_files`).
    pub known_hosts: Vec<PathBuf>,
    pub jump: Option<Jump>,
    pub connect_timeout: Duration,
    /// Zero: no keepalives.
    pub keepalive: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jump {
    /// Another host of the inventory (never a local one; no loops).
    Host(String),
    /// `[user@]host[:port]`.
    Address {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

/// One database to migrate: `host/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    /// The key under `databases:`.
    pub name: String,
    pub container: ContainerRef,
    /// None: the container's POSTGRES_DB, else the user.
    pub database: Option<String>,
    /// None: the container's POSTGRES_USER.
    pub user: Option<String>,
    pub password: PasswordSource,
    /// Where the inventory sets `password`, for messages about it.
    pub password_at: Option<Loc>,
    pub method: Method,
    pub migrations: PathBuf,
    /// The port PostgreSQL listens on inside the container.
    pub port: u16,
    /// What `drift` leaves out here unless `--ignore` says otherwise.
    pub drift_ignore: Vec<crate::schema::Ignore>,
    /// TLS inside the tunnel, as libpq's settings say it (only with method tunnel or auto).
    pub tls: TargetTls,
}

/// `sslmode`, `sslrootcert`, `sslcert`, `sslkey` of a target: the mode checked, the files
/// resolved. Unset, the tunnel speaks plain PostgreSQL: SSH already encrypts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetTls {
    pub sslmode: Option<String>,
    /// A file, or `system`.
    pub sslrootcert: Option<String>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
}

impl Target {
    /// `host/name`, as `--limit` and reports show it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.host, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerRef {
    /// A container name.
    Name(String),
    /// A docker label, `key` or `key=value`, carried by exactly one container.
    Label(String),
}

/// Where the database password is read; never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    None,
    /// An environment variable of pgfleet's process.
    Env(String),
    /// A file on this machine (its content, without a trailing newline).
    File(PathBuf),
    /// An environment variable of the container, e.g. POSTGRES_PASSWORD.
    Container(String),
}

/// `env NAME`, `file PATH`, `container NAME` or `none`: where, never what.
impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::None => write!(f, "none"),
            PasswordSource::Env(name) => write!(f, "env {name}"),
            PasswordSource::File(path) => write!(f, "file {}", path.display()),
            PasswordSource::Container(name) => write!(f, "container {name}"),
        }
    }
}

/// An inventory host's name, or `[user@]host[:port]` (`[v6]:port`).
impl fmt::Display for Jump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Jump::Host(name) => write!(f, "{name}"),
            Jump::Address { user, host, port } => {
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                match port {
                    Some(port) if host.contains(':') => write!(f, "[{host}]:{port}"),
                    Some(port) => write!(f, "{host}:{port}"),
                    None => write!(f, "{host}"),
                }
            }
        }
    }
}

/// How pgfleet talks to PostgreSQL in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Forward a port through SSH to the container and speak the protocol natively.
    Tunnel,
    /// Run psql inside the container (`docker exec`).
    Exec,
    /// Tunnel when the container is reachable that way, else exec.
    Auto,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Tunnel => "tunnel",
            Method::Exec => "exec",
            Method::Auto => "auto",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks, before any host is contacted, that what the chosen targets read on this machine
/// is there: each password where the inventory says (the variable set, the file readable;
/// a `container` source can only be read on the host) and each key file named for their
/// hosts. Each error names the inventory line that set the value.
pub fn check_readable(inv: &Inventory, targets: &[&Target]) -> Result<(), InventoryError> {
    let refuse = |at: Option<&Loc>, message: String| match at {
        Some(at) => InventoryError::at(at, message),
        None => InventoryError::new(message),
    };
    for t in targets {
        let why = match &t.password {
            PasswordSource::Env(var) if std::env::var_os(var).is_none() => format!(
                "the password comes from the environment variable {var}, which is not set; set it, or change password: there"
            ),
            PasswordSource::File(path) => match std::fs::read(path) {
                Ok(_) => continue,
                Err(e) => format!(
                    "cannot read the password file {}: {e}; create it, or change password: there",
                    path.display()
                ),
            },
            _ => continue,
        };
        return Err(refuse(t.password_at.as_ref(), format!("{}: {why}", t.id())));
    }
    let mut hosts: Vec<&str> = targets.iter().map(|t| t.host.as_str()).collect();
    hosts.dedup();
    for name in hosts {
        let Some(Connection::Ssh(ssh)) = inv.host(name).map(|h| &h.connection) else {
            continue;
        };
        for key in &ssh.identity_files {
            if let Err(e) = std::fs::read(key) {
                return Err(refuse(
                    ssh.identity_at.as_deref(),
                    format!(
                        "host `{name}`: cannot read the key file {}: {e}; fix identity_file(s) there, or remove it to use ssh-agent and ~/.ssh/id_*",
                        key.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Reads the inventory at `path` (a file, or a folder of `*.yml` / `*.yaml` files; or an
/// Ansible inventory, YAML or INI, file or folder) and resolves it. Nothing is contacted.
pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    if let Some(sources) = ansible::sources(path)? {
        return ansible::load(path, sources);
    }
    let files = inventory_files(path)?;
    let mut sources = Vec::with_capacity(files.len());
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| {
            InventoryError::in_file(&file, format!("cannot read the inventory file: {e}"))
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let bytes = e.as_bytes();
            let bad = e.utf8_error().valid_up_to();
            let line = bytes[..bad].iter().filter(|b| **b == b'\n').count() + 1;
            InventoryError::at_line(
                &file,
                line,
                "the inventory file is not UTF-8 text; save it as UTF-8",
            )
        })?;
        sources.push((file, text));
    }
    from_sources(path, &sources)
}

/// Parses and resolves `(file name, YAML)` pairs as one inventory named `top` in messages.
fn from_sources(top: &Path, sources: &[(PathBuf, String)]) -> Result<Inventory, InventoryError> {
    let mut files = Vec::with_capacity(sources.len());
    for (file, text) in sources {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let parsed: raw::RawFile =
            serde_saphyr::from_str(text).map_err(|e| InventoryError::from_yaml(file, &e))?;
        files.push((file.clone(), parsed));
    }
    resolve::resolve(top, files)
}

/// The file itself, or a folder's `*.yml` / `*.yaml` files in name order.
fn inventory_files(path: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "no such file or folder".to_owned()
        } else {
            e.to_string()
        };
        InventoryError::in_file(
            path,
            format!(
                "cannot read the inventory: {why}; pass -i FILE or -i FOLDER (default: inventory/)"
            ),
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        InventoryError::in_file(path, format!("cannot list the inventory folder: {e}"))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            InventoryError::in_file(path, format!("cannot list the inventory folder: {e}"))
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
        let file = entry.path();
        if yaml && !name.starts_with('.') && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(InventoryError::in_file(
            path,
            "the inventory folder has no *.yml or *.yaml files; add one, or pass -i FILE",
        ));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests;
