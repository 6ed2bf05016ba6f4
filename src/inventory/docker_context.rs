//! `docker_context: NAME`: a host's address, user and port from the Docker CLI's context
//! store (`$DOCKER_CONFIG`, else `~/.docker`: `contexts/meta/<sha256 of NAME>/meta.json`),
//! as `docker --context NAME` would reach it. Only `ssh://` endpoints: pgfleet opens the SSH
//! connection itself and talks to the docker socket over it.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::error::{InventoryError, Loc};

/// Where the host's own settings also say where it is (each is a contradiction with the
/// context; values from groups or defaults give way to the context instead).
pub(super) struct Own {
    pub(super) address: Option<Loc>,
    pub(super) user: Option<Loc>,
    pub(super) port: Option<Loc>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub(super) host: String,
    pub(super) user: Option<String>,
    pub(super) port: Option<u16>,
}

/// The ssh endpoint of context `name`, set for `host` at `at`.
pub(super) fn endpoint(
    name: &str,
    at: &Loc,
    host: &str,
    own: Own,
) -> Result<Endpoint, InventoryError> {
    let fail = |why: String| {
        InventoryError::at(at, format!("host `{host}`: docker context `{name}`: {why}"))
    };
    if name == "default" {
        return Err(fail(
            "the default context is this machine's docker (or $DOCKER_HOST), not a host pgfleet reaches over SSH; use local: true (ansible_connection: local) for this machine's docker".into(),
        ));
    }
    let store = store_dir();
    let meta = store
        .join("contexts/meta")
        .join(hex::encode(Sha256::digest(name.as_bytes())))
        .join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|e| {
        fail(if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "no such context in {} (`docker context ls` lists them); create it with `docker context create {name} --docker host=ssh://USER@HOST:PORT`, or set DOCKER_CONFIG to the folder that holds it",
                store.display()
            )
        } else {
            format!("cannot read {}: {e}", meta.display())
        })
    })?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| fail(format!("{} is not valid JSON: {e}", meta.display())))?;
    let docker_host = json
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .ok_or_else(|| fail(format!("{} has no Endpoints.docker.Host", meta.display())))?;
    let ep = parse_ssh(docker_host).map_err(fail)?;
    let conflict = |key: &str, set: &Option<Loc>, given: bool| match set {
        Some(loc) if given => Err(InventoryError::at(
            loc,
            format!(
                "host `{host}` sets {key} here and names docker context `{name}`, which gives it too ({docker_host}); keep one"
            ),
        )),
        _ => Ok(()),
    };
    conflict("its address", &own.address, true)?;
    conflict("its user", &own.user, ep.user.is_some())?;
    conflict("its port", &own.port, ep.port.is_some())?;
    Ok(ep)
}

/// The Docker CLI's configuration folder.
fn store_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".docker")
}

/// `ssh://[user@]host[:port]`; any other scheme is explained.
fn parse_ssh(docker_host: &str) -> Result<Endpoint, String> {
    let scheme = docker_host.split("://").next().unwrap_or_default();
    if scheme != "ssh" {
        let why = match scheme {
            "unix" | "npipe" => {
                "a docker socket on this machine: use local: true (ansible_connection: local) for it"
            }
            "tcp" | "http" | "https" => {
                "docker's API over TCP, which pgfleet does not use: create the context with --docker host=ssh://USER@HOST so pgfleet reaches the host's socket over SSH"
            }
            _ => "not an ssh:// endpoint",
        };
        return Err(format!("its endpoint is {docker_host}, {why}"));
    }
    let url = url::Url::parse(docker_host)
        .map_err(|e| format!("its endpoint {docker_host} does not parse: {e}"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("its endpoint {docker_host} names no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let user = match url.username() {
        "" => None,
        u => Some(
            percent_encoding::percent_decode_str(u)
                .decode_utf8_lossy()
                .into_owned(),
        ),
    };
    Ok(Endpoint {
        host,
        user,
        port: url.port(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_endpoints_parse_and_others_are_explained() {
        assert_eq!(
            parse_ssh("ssh://admin@127.0.0.1:22201"),
            Ok(Endpoint {
                host: "127.0.0.1".into(),
                user: Some("admin".into()),
                port: Some(22201)
            })
        );
        assert_eq!(
            parse_ssh("ssh://nas"),
            Ok(Endpoint {
                host: "nas".into(),
                user: None,
                port: None
            })
        );
        assert!(
            parse_ssh("unix:///var/run/docker.sock")
                .unwrap_err()
                .contains("local: true")
        );
        assert!(
            parse_ssh("tcp://1.2.3.4:2375")
                .unwrap_err()
                .contains("ssh://")
        );
    }
}
