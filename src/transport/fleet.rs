//! From an inventory target to an `Endpoint`: one SSH connection per host (shared by the
//! Docker API calls and every tunnel of that host), the container found by name or label,
//! credentials from where the inventory says, and the native protocol through a
//! direct-tcpip channel to the container's address. Nothing listens on a local port.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::Client;

use super::docker::{ContainerSelector, DockerApi};
use super::ssh::{SshOptions, SshSession};
use super::ssh_config;
use super::tls::{Attempt, SslMode, TlsSettings};
use super::{Backend, Endpoint};
use crate::error::{Error, SqlError};
use crate::inventory::{
    Connection, ContainerRef, Host, Inventory, Jump, Method, PasswordSource, SshSettings, Target,
};
use tokio_postgres::tls::MakeTlsConnect;

/// How one inventory host is reached: its SSH connection (none for `local`) and Docker API.
#[derive(Clone)]
struct HostConnection {
    session: Option<SshSession>,
    docker: Arc<DockerApi>,
}

/// A host's connection, or why there is none.
type LinkResult = Result<HostConnection, Arc<Error>>;

/// Opens each host once and hands out endpoints for its targets. Shared by the targets
/// running at once: the first target of a host connects, the others of that host wait for
/// that connection and reuse it.
pub struct Connections<'a> {
    inventory: &'a Inventory,
    accept_new_host_keys: bool,
    hosts: Mutex<HashMap<String, Arc<OnceCell<LinkResult>>>>,
}

impl<'a> Connections<'a> {
    pub fn new(inventory: &'a Inventory, accept_new_host_keys: bool) -> Self {
        Connections {
            inventory,
            accept_new_host_keys,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The SSH settings of an inventory host: the inventory first, then what
    /// `~/.ssh/config` says for its address (an alias there), then OpenSSH's defaults.
    fn ssh_options(&self, name: &str, s: &SshSettings) -> Result<SshOptions, Error> {
        let config = ssh_config::lookup(&s.address, s.user.as_deref())?;
        let jump = match &s.jump {
            Some(Jump::Host(via)) => {
                let host = self.inventory.host(via).ok_or_else(|| {
                    Error::Config(format!("{name}: jump host {via} is not in the inventory"))
                })?;
                match &host.connection {
                    Connection::Ssh(settings) => Some(Box::new(self.ssh_options(via, settings)?)),
                    Connection::Local => {
                        return Err(Error::Config(format!(
                            "{name}: cannot jump through local host {via}"
                        )));
                    }
                }
            }
            Some(Jump::Address { user, host, port }) => Some(Box::new(self.hop(
                name,
                user.clone(),
                host,
                *port,
                s,
                None,
            )?)),
            // ProxyJump a,b: a first, then b through a, then the host through b.
            None => config
                .proxy_jump
                .clone()
                .unwrap_or_default()
                .iter()
                .try_fold(None, |via, hop| {
                    let (user, rest) = match hop.split_once('@') {
                        Some((u, r)) => (Some(u.to_string()), r),
                        None => (None, hop.as_str()),
                    };
                    let (host, port) = match rest.rsplit_once(':') {
                        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse().ok()),
                        _ => (rest, None),
                    };
                    self.hop(name, user, host, port, s, via)
                        .map(|hop| Some(Box::new(hop)))
                })?,
        };
        Ok(self.options(
            name.to_string(),
            config,
            &s.address,
            s.user.clone(),
            s.port,
            s,
            jump,
        ))
    }

    /// A jump host given as an address, looked up in `~/.ssh/config` too (as OpenSSH does),
    /// with the inventory host's keys and known_hosts.
    fn hop(
        &self,
        name: &str,
        user: Option<String>,
        host: &str,
        port: Option<u16>,
        s: &SshSettings,
        via: Option<Box<SshOptions>>,
    ) -> Result<SshOptions, Error> {
        let config = ssh_config::lookup(host, user.as_deref())?;
        Ok(self.options(
            format!("{name} (jump {host})"),
            config,
            host,
            user,
            port,
            s,
            via,
        ))
    }

    /// Inventory values first, then `~/.ssh/config`'s, then OpenSSH's defaults.
    #[allow(clippy::too_many_arguments)]
    fn options(
        &self,
        name: String,
        config: ssh_config::HostConfig,
        alias: &str,
        user: Option<String>,
        port: Option<u16>,
        s: &SshSettings,
        jump: Option<Box<SshOptions>>,
    ) -> SshOptions {
        let (known_hosts, record_in) = SshOptions::known_hosts_files(
            config.user_known_hosts,
            config.global_known_hosts,
            &s.known_hosts,
        );
        SshOptions {
            name,
            address: config.host_name.unwrap_or_else(|| alias.to_string()),
            port: port.or(config.port).unwrap_or(22),
            user: user.or(config.user).unwrap_or_else(super::os_user),
            identity_files: if s.identity_files.is_empty() {
                config.identity_files
            } else {
                s.identity_files.clone()
            },
            known_hosts,
            record_in,
            accept_new_host_keys: self.accept_new_host_keys,
            connect_timeout: s.connect_timeout,
            keepalive: s.keepalive,
            jump,
        }
    }

    /// The host's link, connecting it on first use. A failure is kept too: the host's
    /// other targets report it without trying again (and waiting out another timeout).
    async fn link(&self, host: &Host) -> Result<HostConnection, Error> {
        let cell = self
            .hosts
            .lock()
            .await
            .entry(host.name.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async { self.connect(host).await.map_err(Arc::new) })
            .await
            .clone()
            .map_err(Error::Shared)
    }

    async fn connect(&self, host: &Host) -> Result<HostConnection, Error> {
        Ok(match &host.connection {
            Connection::Local => HostConnection {
                session: None,
                docker: Arc::new(DockerApi::local(&host.name, &host.docker_socket)?),
            },
            Connection::Ssh(settings) => {
                let options = self.ssh_options(&host.name, settings)?;
                let session = SshSession::connect(&options).await?;
                HostConnection {
                    docker: Arc::new(DockerApi::over_ssh(session.clone(), &host.docker_socket)?),
                    session: Some(session),
                }
            }
        })
    }

    /// The Docker API of the target's host (connecting the host once): the workloads
    /// beside its database.
    pub async fn docker(&self, target: &Target) -> Result<Arc<DockerApi>, Error> {
        let host = self.inventory.host(&target.host).ok_or_else(|| {
            Error::Config(format!(
                "{}: host {} is not in the inventory",
                target.id(),
                target.host
            ))
        })?;
        Ok(self.link(host).await?.docker)
    }

    /// The Docker API of the inventory host `name` (connecting it once): `discover`.
    pub async fn host_docker(&self, name: &str) -> Result<Arc<DockerApi>, Error> {
        let host = self
            .inventory
            .host(name)
            .ok_or_else(|| Error::Config(format!("host {name} is not in the inventory")))?;
        Ok(self.link(host).await?.docker)
    }

    /// Connects the target's host (once), finds its container and its credentials, and
    /// says how to reach its database.
    pub async fn backend(&self, target: &Target) -> Result<Backend, Error> {
        let id = target.id();
        let host = self.inventory.host(&target.host).ok_or_else(|| {
            Error::Config(format!(
                "{id}: host {} is not in the inventory",
                target.host
            ))
        })?;
        let link = self.link(host).await?;
        let selector = match &target.container {
            ContainerRef::Name(n) => ContainerSelector::Name(n.clone()),
            ContainerRef::Label(l) => ContainerSelector::Label(l.clone()),
        };
        let container = link.docker.container(&selector).await?;
        let env = |key: &str| container.env.get(key).cloned();
        let user = target
            .user
            .clone()
            .or_else(|| env("POSTGRES_USER"))
            .unwrap_or_else(|| "postgres".into());
        let dbname = target
            .database
            .clone()
            .or_else(|| env("POSTGRES_DB"))
            .unwrap_or_else(|| user.clone());
        let password = match &target.password {
            PasswordSource::None => None,
            PasswordSource::Env(var) => {
                Some(std::env::var(var).map_err(|_| Error::Credentials {
                    target: id.clone(),
                    why: format!(
                        "the password comes from the environment variable {var}, which is not set"
                    ),
                })?)
            }
            PasswordSource::File(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| Error::Credentials {
                        target: id.clone(),
                        why: format!("cannot read the password file {}: {e}", path.display()),
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            PasswordSource::Container(var) => Some(env(var).ok_or_else(|| Error::Credentials {
                target: id.clone(),
                why: format!(
                    "container {} has no {var} in its environment (set password: in the inventory)",
                    container.name
                ),
            })?),
        };
        if let Some(p) = &password {
            super::url::remember_secret(p);
        }
        let tls = TlsSettings {
            // Unset, the tunnel is plain PostgreSQL inside SSH's encryption.
            mode: Some(match &target.tls.sslmode {
                Some(mode) => SslMode::parse(mode).ok_or_else(|| {
                    Error::Config(format!("{id}: sslmode {mode} is not an sslmode"))
                })?,
                None if target.tls.sslrootcert.as_deref() == Some("system") => SslMode::VerifyFull,
                None => SslMode::Disable,
            }),
            rootcert: target.tls.sslrootcert.clone(),
            cert: target.tls.sslcert.clone(),
            key: target.tls.sslkey.clone(),
        };
        // TLS settings ask for the native protocol: exec's psql would not use them.
        let wants_tls = target.tls != Default::default();
        let method = match target.method {
            Method::Auto if password.is_some() || wants_tls => Method::Tunnel,
            Method::Auto => Method::Exec,
            m => m,
        };
        if method == Method::Exec {
            return Ok(Backend::Psql {
                target: format!("{id} (exec)"),
                docker: link.docker.clone(),
                container: container.name,
                user,
                dbname,
            });
        }
        let address = container.address.clone().ok_or_else(|| {
            Error::Config(format!(
                "{id}: container {} has no network address to tunnel to (network_mode none or host?)",
                container.name
            ))
        })?;
        let password_from = password_hint(&target.password, &container.name);
        Ok(Backend::Native(Box::new(TunnelEndpoint {
            id: format!("{id} (tunnel)"),
            session: link.session.clone(),
            docker: link.docker.clone(),
            container: container.name,
            address,
            port: target.port,
            user,
            password_from,
            password,
            dbname,
            tls,
            connect_timeout: match &host.connection {
                Connection::Ssh(ssh) => ssh.connect_timeout,
                Connection::Local => super::CONNECT_TIMEOUT,
            },
        })))
    }
}

/// What to check after the server refused the password, by where the inventory reads it.
fn password_hint(source: &PasswordSource, container: &str) -> String {
    match source {
        PasswordSource::None => "no password was given: set password: in the inventory".into(),
        PasswordSource::Env(var) => format!(
            "the password came from the environment variable {var} (the inventory's password: {{ env: {var} }}): check it"
        ),
        PasswordSource::File(path) => format!(
            "the password came from the file {} (the inventory's password: {{ file: }}): check it",
            path.display()
        ),
        PasswordSource::Container(var) => format!(
            "the password came from {var} in the environment of container {container}: the server's password may have changed since the container was created"
        ),
    }
}

/// A database in a container, reached with the native protocol: over a direct-tcpip
/// channel of the host's SSH connection, or straight to the bridge address for `local`.
#[derive(Clone)]
pub struct TunnelEndpoint {
    id: String,
    session: Option<SshSession>,
    docker: Arc<DockerApi>,
    container: String,
    address: String,
    port: u16,
    user: String,
    password: Option<String>,
    /// The hint after a refused password.
    password_from: String,
    dbname: String,
    tls: TlsSettings,
    /// The host's `connect_timeout`, which bounds reaching the database too: a fleet that
    /// needs longer for SSH on a busy network needs it for PostgreSQL's start-up as well.
    connect_timeout: std::time::Duration,
}

#[async_trait]
impl Endpoint for TunnelEndpoint {
    fn target(&self) -> String {
        self.id.clone()
    }

    fn dbname(&self) -> &str {
        &self.dbname
    }

    fn search_path(&self) -> &[String] {
        &[]
    }

    /// Bounded as a URL's session is: a tunnel to a container that accepts and never
    /// answers must not hold the run.
    async fn connect(&self, dbname: &str) -> Result<Client, SqlError> {
        let limit = self.connect_timeout;
        match tokio::time::timeout(limit, self.connect_unbounded(dbname)).await {
            Ok(connected) => connected,
            Err(_) => Err(super::no_answer(
                limit,
                "Raise the host's connect_timeout in the inventory",
            )),
        }
    }

    fn with_dbname(&self, dbname: &str) -> Box<dyn Endpoint> {
        Box::new(TunnelEndpoint {
            id: format!("{} [{dbname}]", self.id),
            dbname: dbname.to_string(),
            ..self.clone()
        })
    }

    /// pg_dump inside the container, so its version is the server's; the container's
    /// local socket needs no password.
    async fn pg_dump(&self, args: &[&str]) -> Result<String, Error> {
        super::exec::pg_dump_in(
            &self.docker,
            &self.container,
            &self.user,
            &self.dbname,
            args,
            &self.id,
        )
        .await
    }
}

impl TunnelEndpoint {
    async fn connect_unbounded(&self, dbname: &str) -> Result<Client, SqlError> {
        let mut config = tokio_postgres::Config::new();
        config
            .user(&self.user)
            .dbname(dbname)
            .application_name("pgfleet");
        if let Some(p) = &self.password {
            config.password(p);
        }
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let tls = self.tls.load(home.as_deref()).map_err(|message| SqlError {
            code: None,
            message,
            detail: None,
            hint: None,
            position: None,
        })?;
        let connector = tls.connector();
        // The connection task ends by itself when the session closes; its error resurfaces
        // on the client's next call. Each attempt (allow and prefer may make two) opens a
        // channel of its own.
        let connected = tls
            .connect(&self.address, |mode| {
                let mut config = config.clone();
                config.ssl_mode(mode);
                let connector = connector.clone();
                async move {
                    match &self.session {
                        Some(session) => {
                            let stream = session
                                .direct_tcpip(&self.address, self.port)
                                .await
                                .map_err(|e| {
                                    Attempt::Before(SqlError {
                                        code: None,
                                        message: e.to_string(),
                                        detail: None,
                                        hint: None,
                                        position: None,
                                    })
                                })?;
                            match connector {
                                Some(mut make) => {
                                    let Ok(tls) = MakeTlsConnect::<
                                        russh::ChannelStream<russh::client::Msg>,
                                    >::make_tls_connect(
                                        &mut make, &self.address
                                    );
                                    let (client, connection) =
                                        config.connect_raw(stream, tls).await?;
                                    tokio::spawn(connection);
                                    Ok(client)
                                }
                                None => {
                                    let (client, connection) =
                                        config.connect_raw(stream, tokio_postgres::NoTls).await?;
                                    tokio::spawn(connection);
                                    Ok(client)
                                }
                            }
                        }
                        None => {
                            config.host(&self.address).port(self.port);
                            match connector {
                                Some(make) => {
                                    let (client, connection) = config.connect(make).await?;
                                    tokio::spawn(connection);
                                    Ok(client)
                                }
                                None => {
                                    let (client, connection) =
                                        config.connect(tokio_postgres::NoTls).await?;
                                    tokio::spawn(connection);
                                    Ok(client)
                                }
                            }
                        }
                    }
                }
            })
            .await;
        connected.map_err(|mut e| {
            if e.is_code("28P01") {
                e.hint = Some(self.password_from.clone());
            }
            e
        })
    }
}
