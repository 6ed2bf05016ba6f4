//! The Docker API (bollard) of a host: over the host's SSH connection, each request on a
//! streamlocal channel to the remote docker socket; or the local socket for `local` hosts.
//! Finds a postgres container by name or label, with what pgfleet needs from it.

use std::collections::HashMap;

use bollard::container::LogOutput;
use bollard::query_parameters::ListContainersOptions;
use bollard::{BollardRequest, Docker};
use hyper::header::{HOST, HeaderValue};
use hyper_util::rt::TokioIo;

use super::ssh::{SshSession, shell_quote};
pub use crate::error::DockerError;

/// How a container is named in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerSelector {
    Name(String),
    /// `key=value` (or a bare `key`), as `docker ps --filter label=…` takes it.
    Label(String),
}

impl std::fmt::Display for ContainerSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerSelector::Name(n) => write!(f, "container {n}"),
            ContainerSelector::Label(l) => write!(f, "the container labelled {l}"),
        }
    }
}

/// A running postgres container, as pgfleet uses it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// `POSTGRES_USER`, `POSTGRES_DB`, `POSTGRES_PASSWORD`, … from its environment.
    pub env: HashMap<String, String>,
    /// Its address on its (first) network, for a tunnel from the docker host.
    pub address: Option<String>,
}

/// Any container on the host, as the workload directives and the naming of sessions need
/// it: what runs there, from which image, and at which addresses its sessions arrive.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub id: String,
    pub name: String,
    /// The image as the container was created from it (`classifier:2.1`).
    pub image: String,
    /// `sha256:…` of that image.
    pub image_id: String,
    pub labels: HashMap<String, String>,
    /// Its addresses on its networks: a session's `client_addr` is one of them.
    pub addresses: Vec<String>,
    pub running: bool,
}

/// Where an exec's stdin is written (shut it down for EOF).
pub type ExecInput = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;
/// An exec's output, stdout and stderr apart.
pub type ExecOutput = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
>;

pub struct DockerApi {
    docker: Docker,
    /// The SSH connection, to find out why the socket was refused (None for local).
    session: Option<SshSession>,
    host: String,
    socket: String,
}

fn io_error(e: impl std::fmt::Display) -> bollard::errors::Error {
    bollard::errors::Error::IOError {
        err: std::io::Error::other(e.to_string()),
    }
}

impl DockerApi {
    /// The Docker API of `session`'s host, reached through `socket` on that host.
    pub fn over_ssh(session: SshSession, socket: &str) -> Result<DockerApi, DockerError> {
        let host = session.name().to_string();
        let path = socket.to_string();
        let kept = session.clone();
        let transport = move |request: BollardRequest| {
            let session = session.clone();
            let path = path.clone();
            async move {
                let stream = session.direct_streamlocal(&path).await.map_err(io_error)?;
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                // Upgrades carry `docker exec`'s attached stdin/stdout.
                tokio::spawn(connection.with_upgrades());
                let (mut parts, body) = request.into_parts();
                // dockerd wants an origin-form URI and a Host header.
                let origin = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string();
                parts.uri = origin.parse().map_err(io_error)?;
                parts
                    .headers
                    .insert(HOST, HeaderValue::from_static("docker"));
                Ok(sender
                    .send_request(BollardRequest::from_parts(parts, body))
                    .await?)
            }
        };
        let docker = Docker::connect_with_custom_transport(
            transport,
            Some("http://docker"),
            120,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| DockerError::Api {
            host: host.clone(),
            reason: e.to_string(),
        })?;
        Ok(DockerApi {
            docker,
            session: Some(kept),
            host,
            socket: socket.to_string(),
        })
    }

    /// The machine's own Docker (an inventory host with `local: true`).
    pub fn local(host: &str, socket: &str) -> Result<DockerApi, DockerError> {
        let docker =
            Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION).map_err(|e| {
                DockerError::Unreachable {
                    host: host.to_string(),
                    socket: socket.to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(DockerApi {
            docker,
            session: None,
            host: host.to_string(),
            socket: socket.to_string(),
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    async fn api_error(&self, e: bollard::errors::Error) -> DockerError {
        let mut reason = e.to_string();
        // sshd refuses a streamlocal forward the same way whatever the cause: ask the
        // host what is wrong with the socket.
        if let (Some(session), bollard::errors::Error::IOError { .. }) = (&self.session, &e) {
            let q = shell_quote(&self.socket);
            if let Ok((_, answer)) = session
                .run(&format!(
                    "if [ ! -S {q} ]; then echo missing; elif [ ! -r {q} ] || [ ! -w {q} ]; then echo denied; else echo ok; fi"
                ))
                .await
            {
                match answer.trim() {
                    "denied" => reason = "permission denied".into(),
                    "missing" => {
                        reason = format!(
                            "{} does not exist there: is Docker installed and running, or is docker_socket wrong?",
                            self.socket
                        )
                    }
                    _ => {}
                }
            }
        }
        if reason.contains("ermission denied") || reason.contains("administratively prohibited") {
            DockerError::PermissionDenied {
                host: self.host.clone(),
                socket: self.socket.clone(),
            }
        } else if matches!(e, bollard::errors::Error::IOError { .. }) {
            DockerError::Unreachable {
                host: self.host.clone(),
                socket: self.socket.clone(),
                reason,
            }
        } else {
            DockerError::Api {
                host: self.host.clone(),
                reason,
            }
        }
    }

    /// Creates and starts an exec of `command` in the container, stdout and stderr (and
    /// stdin when asked) attached.
    async fn start_exec(
        &self,
        container: &str,
        command: Vec<String>,
        env: &[(&str, &str)],
        stdin: bool,
    ) -> Result<(String, ExecInput, ExecOutput), DockerError> {
        let created = self
            .docker
            .create_exec(
                container,
                bollard::models::ExecConfig {
                    attach_stdin: Some(stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                    cmd: Some(command),
                    ..Default::default()
                },
            )
            .await;
        let exec = match created {
            Ok(e) => e,
            Err(e) => return Err(self.api_error(e).await),
        };
        match self.docker.start_exec(&exec.id, None).await {
            Ok(bollard::exec::StartExecResults::Attached { output, input }) => {
                Ok((exec.id, input, output))
            }
            Ok(bollard::exec::StartExecResults::Detached) => Err(DockerError::Api {
                host: self.host.clone(),
                reason: "docker started the exec detached".into(),
            }),
            Err(e) => Err(self.api_error(e).await),
        }
    }

    /// Starts `command` in the container with stdin, stdout and stderr attached: the
    /// input to write to (shut it down for EOF) and the output, stdout and stderr apart.
    pub async fn exec_attached(
        &self,
        container: &str,
        command: Vec<String>,
        env: &[(&str, &str)],
    ) -> Result<(ExecInput, ExecOutput), DockerError> {
        let (_, input, output) = self.start_exec(container, command, env, true).await?;
        Ok((input, output))
    }

    /// Runs `command` in the container (Docker's exec API) and returns its exit code,
    /// stdout and stderr.
    pub async fn exec_capture(
        &self,
        container: &str,
        command: Vec<String>,
    ) -> Result<(i64, String, String), DockerError> {
        use futures_util::StreamExt;
        let (id, _, mut output) = self.start_exec(container, command, &[], false).await?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(LogOutput::StdOut { message }) => stdout.extend_from_slice(&message),
                Ok(LogOutput::StdErr { message }) => stderr.extend_from_slice(&message),
                Ok(_) => {}
                Err(e) => return Err(self.api_error(e).await),
            }
        }
        let code = match self.docker.inspect_exec(&id).await {
            Ok(i) => i.exit_code.unwrap_or(-1),
            Err(e) => return Err(self.api_error(e).await),
        };
        Ok((
            code,
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        ))
    }

    /// `docker ps -a`, as the API lists it.
    pub async fn list_all(&self) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
        let listed = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await;
        match listed {
            Ok(all) => Ok(all),
            Err(e) => Err(self.api_error(e).await),
        }
    }

    /// Every container of the host, running or not, in one request.
    pub async fn workloads(&self) -> Result<Vec<Workload>, DockerError> {
        let all = self.list_all().await?;
        Ok(all
            .into_iter()
            .map(|c| {
                let mut addresses: Vec<String> = c
                    .network_settings
                    .and_then(|n| n.networks)
                    .unwrap_or_default()
                    .into_values()
                    .filter_map(|e| e.ip_address)
                    .filter(|ip| !ip.is_empty())
                    .collect();
                addresses.sort();
                Workload {
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    id: c.id.unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    labels: c.labels.unwrap_or_default(),
                    addresses,
                    running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
                }
            })
            .collect())
    }

    /// `docker stop`: the image's stop signal, then SIGKILL after `grace` (docker's own
    /// default, 10 s, when None), so a worker that handles SIGTERM finishes its batch.
    pub async fn stop(
        &self,
        name: &str,
        grace: Option<std::time::Duration>,
    ) -> Result<(), DockerError> {
        let options = bollard::query_parameters::StopContainerOptions {
            t: grace.map(|g| g.as_secs().min(i32::MAX as u64) as i32),
            signal: None,
        };
        match self.docker.stop_container(name, Some(options)).await {
            // 304: already stopped.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.api_error(e).await),
        }
    }

    /// `docker start`; a container already running is fine.
    pub async fn start(&self, name: &str) -> Result<(), DockerError> {
        match self.docker.start_container(name, None).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.api_error(e).await),
        }
    }

    /// The id (`sha256:…`) an image reference resolves to on this host, None when the host
    /// has no such image.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, DockerError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.api_error(e).await),
        }
    }

    /// `docker inspect` of one container.
    pub async fn inspect(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, DockerError> {
        match self.docker.inspect_container(id, None).await {
            Ok(inspect) => Ok(inspect),
            Err(e) => Err(self.api_error(e).await),
        }
    }

    /// The host's name, as the inventory gives it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Finds the container, refusing clearly when it is missing, ambiguous, or not running.
    pub async fn container(&self, selector: &ContainerSelector) -> Result<Container, DockerError> {
        // By name, one request answers (a round trip less); the list is wanted only to say
        // what is there when the name is not.
        if let ContainerSelector::Name(n) = selector {
            match self.docker.inspect_container(n, None).await {
                Ok(inspect)
                    if inspect.name.as_deref().map(|x| x.trim_start_matches('/')) == Some(n) =>
                {
                    let id = inspect.id.clone().unwrap_or_default();
                    return self.describe(id, n.clone(), inspect);
                }
                // An id prefix rather than a name, or no such container: the list decides.
                Ok(_)
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(self.api_error(e).await),
            }
        }
        let all = self.list_all().await?;
        let name_of = |c: &bollard::models::ContainerSummary| {
            c.names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default()
        };
        let matches: Vec<_> = all
            .iter()
            .filter(|c| match selector {
                ContainerSelector::Name(n) => name_of(c) == *n,
                ContainerSelector::Label(l) => {
                    let (key, value) = l.split_once('=').unwrap_or((l.as_str(), ""));
                    c.labels.as_ref().is_some_and(|labels| {
                        labels
                            .get(key)
                            .is_some_and(|v| !l.contains('=') || v == value)
                    })
                }
            })
            .collect();
        let summary = match matches.as_slice() {
            [one] => *one,
            [] => {
                let mut names: Vec<String> = all.iter().map(name_of).collect();
                names.sort();
                return Err(DockerError::Missing {
                    host: self.host.clone(),
                    selector: selector.to_string(),
                    existing: if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    },
                });
            }
            many => {
                return Err(DockerError::Ambiguous {
                    host: self.host.clone(),
                    selector: selector.to_string(),
                    matches: many
                        .iter()
                        .map(|c| name_of(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        let name = name_of(summary);
        let id = summary.id.clone().unwrap_or_default();
        let inspect = match self.docker.inspect_container(&id, None).await {
            Ok(i) => i,
            Err(e) => return Err(self.api_error(e).await),
        };
        self.describe(id, name, inspect)
    }

    /// The container as pgfleet needs it, if it runs.
    fn describe(
        &self,
        id: String,
        name: String,
        inspect: bollard::models::ContainerInspectResponse,
    ) -> Result<Container, DockerError> {
        let state = inspect.state.as_ref();
        let running = state.and_then(|s| s.running).unwrap_or(false);
        let restarting = state.and_then(|s| s.restarting).unwrap_or(false);
        if !running || restarting {
            return Err(DockerError::NotRunning {
                host: self.host.clone(),
                name,
                state: if restarting {
                    "restarting".into()
                } else {
                    state
                        .and_then(|s| s.status)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "stopped".into())
                },
            });
        }
        let env = container_env(&inspect);
        let address = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|nets| {
                let mut nets: Vec<_> = nets.iter().collect();
                nets.sort_by(|a, b| a.0.cmp(b.0));
                nets.into_iter()
                    .filter_map(|(_, e)| e.ip_address.clone())
                    .find(|ip| !ip.is_empty())
            });
        Ok(Container {
            id,
            name,
            env,
            address,
        })
    }
}

/// A container's environment (`KEY=value` lines) as a map, from its inspection.
pub(crate) fn container_env(
    inspect: &bollard::models::ContainerInspectResponse,
) -> HashMap<String, String> {
    inspect
        .config
        .as_ref()
        .and_then(|c| c.env.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}
