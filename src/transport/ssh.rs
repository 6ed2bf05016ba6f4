//! SSH connections (russh): OpenSSH's host-key policy, key-file and ssh-agent
//! authentication, jump hosts, and the channels the other transports ride on — a
//! direct-tcpip channel for a PostgreSQL tunnel, a streamlocal channel for the Docker
//! socket. One connection per host, shared by everything that host needs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{self, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelStream, client::Msg};

use super::known_hosts::{CertificateProblem, Decision, KnownHosts, RevokedKey};
pub use crate::error::SshError;

/// Where and how to reach one SSH server.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// The name shown in messages (the inventory's host name).
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Key files to offer, in order, after the ssh-agent's keys. Empty: OpenSSH's defaults.
    pub identity_files: Vec<PathBuf>,
    /// known_hosts files, checked together.
    pub known_hosts: Vec<PathBuf>,
    /// Where `accept_new_host_keys` records a new key; None: nowhere (`UserKnownHostsFile
    /// none` and no file of the inventory's).
    pub record_in: Option<PathBuf>,
    /// OpenSSH's `StrictHostKeyChecking=accept-new`: record unknown keys, never changed ones.
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// Reach this server through another one (ProxyJump).
    pub jump: Option<Box<SshOptions>>,
}

impl SshOptions {
    /// The name known_hosts uses for this server: `host`, or `[host]:port` off port 22.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }

    /// The known_hosts files to check, and the one to record a new key in. As OpenSSH:
    /// `user` (`UserKnownHostsFile`, else `~/.ssh/known_hosts` and `known_hosts2`) and
    /// `global` (`GlobalKnownHostsFile`, else `/etc/ssh/ssh_known_hosts` and
    /// `ssh_known_hosts2`), and the inventory's `extra` files; a new key goes to the
    /// inventory's last file when it names one, else to the first user file.
    pub fn known_hosts_files(
        user: Option<Vec<PathBuf>>,
        global: Option<Vec<PathBuf>>,
        extra: &[PathBuf],
    ) -> (Vec<PathBuf>, Option<PathBuf>) {
        let user = user.unwrap_or_else(|| {
            std::env::home_dir()
                .map(|home| {
                    vec![
                        home.join(".ssh/known_hosts"),
                        home.join(".ssh/known_hosts2"),
                    ]
                })
                .unwrap_or_default()
        });
        let global = global.unwrap_or_else(|| {
            vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ]
        });
        let record_in = extra.last().or(user.first()).cloned();
        let mut files = user;
        files.extend(extra.iter().cloned());
        files.extend(global);
        (files, record_in)
    }
}

/// `ssh-ed25519 key SHA256:…`, the way users compare fingerprints.
fn describe(key: &PublicKey) -> String {
    format!(
        "{} key {}",
        key.algorithm(),
        key.fingerprint(HashAlg::Sha256)
    )
}

/// The known_hosts files of this run, parsed once and shared by every host's check, with
/// each file's size and modification time when read: re-reading them for each host made a
/// fleet's set-up grow with the square of its size (a 512-host fleet has 1024 lines). A
/// file that changed since (a key recorded by accept-new) is read again.
#[allow(clippy::type_complexity)]
static KNOWN_HOSTS: Mutex<Vec<(Vec<PathBuf>, Vec<FileStamp>, Arc<KnownHosts>)>> =
    Mutex::new(Vec::new());

/// A file's size and modification time; None when it does not exist.
type FileStamp = Option<(u64, Option<std::time::SystemTime>)>;

/// Key files loaded (and decrypted) once per run: every host of a fleet offers the same
/// ones, and an encrypted key's passphrase is asked once, not once per host.
static KEYS: Mutex<Vec<(PathBuf, Arc<keys::PrivateKey>)>> = Mutex::new(Vec::new());

/// The outcome of the host-key check, kept so that a refused connection can say why.
type Verdict = Arc<Mutex<Option<SshError>>>;

struct HostKeyCheck {
    options: SshOptions,
    verdict: Verdict,
}

impl HostKeyCheck {
    /// Every known_hosts file, read together; a missing file reads as empty. Parsed once
    /// per run and shared by every host (`KNOWN_HOSTS`).
    fn known_hosts(&self) -> Result<Arc<KnownHosts>, SshError> {
        let files = &self.options.known_hosts;
        let stamps = files
            .iter()
            .map(|file| match std::fs::metadata(file) {
                Ok(m) => Ok(Some((m.len(), m.modified().ok()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.unreadable(file, e)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut cache = KNOWN_HOSTS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, known)) = cache.iter().find(|(f, s, _)| f == files && *s == stamps) {
            return Ok(known.clone());
        }
        let mut known = KnownHosts::default();
        for file in files {
            match std::fs::read(file) {
                // OpenSSH reads bytes; a stray non-UTF-8 byte spoils its line only.
                Ok(bytes) => known.add(
                    &file.display().to_string(),
                    &String::from_utf8_lossy(&bytes),
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.unreadable(file, e)),
            }
        }
        let known = Arc::new(known);
        cache.retain(|(f, _, _)| f != files);
        cache.push((files.clone(), stamps, known.clone()));
        Ok(known)
    }

    fn unreadable(&self, file: &Path, e: std::io::Error) -> SshError {
        SshError::HostKey {
            host: self.options.name.clone(),
            what: format!("cannot read known_hosts file {}: {e}", file.display()),
        }
    }

    fn check(&self, presented: &PublicKeyOrCertificate) -> Result<(), SshError> {
        let o = &self.options;
        let lookup = o.known_hosts_name();
        let known = self.known_hosts()?;
        // A certificate is judged as OpenSSH judges it; its key is what gets recorded.
        let key = presented.public_key();
        let decision = match presented {
            PublicKeyOrCertificate::PublicKey { key, .. } => known.check_key(&lookup, key),
            PublicKeyOrCertificate::Certificate(certificate) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                known.check_certificate(&lookup, &o.address, certificate, now)
            }
        };
        let record_in = o.record_in.clone();
        let certificate = match decision {
            Decision::Known(_) | Decision::Certified(_) => return Ok(()),
            Decision::Revoked { at, which } => {
                return Err(SshError::HostKeyRevoked {
                    host: o.name.clone(),
                    lookup,
                    which: which.name(),
                    key: match (which, presented) {
                        (
                            RevokedKey::CertificateAuthority,
                            PublicKeyOrCertificate::Certificate(c),
                        ) => describe(&PublicKey::new(c.signature_key().clone(), "")),
                        _ => describe(&key),
                    },
                    at: at.to_string(),
                });
            }
            Decision::Changed(at) => {
                return Err(SshError::HostKeyChanged {
                    host: o.name.clone(),
                    lookup,
                    key: describe(&key),
                    file: at.file,
                    line: at.line,
                });
            }
            Decision::Unknown { certificate } => certificate,
        };
        // A certificate from a CA listed for this host that fails its checks is refused
        // even with accept-new (where OpenSSH would go on to learn its key): the CA line
        // says how this host proves itself, and it did not.
        if let Some(CertificateProblem::Invalid { ca, reason }) = &certificate {
            return Err(SshError::HostCertificate {
                host: o.name.clone(),
                principal: o.address.clone(),
                ca: ca.to_string(),
                reason: reason.as_str().into(),
                key: describe(&key),
            });
        }
        // New keys go to the inventory's own file when it names one (`record_in`).
        if o.accept_new_host_keys {
            let Some(record_in) = record_in else {
                return Err(SshError::HostKey {
                    host: o.name.clone(),
                    what: format!(
                        "the host key of {lookup} is not known, and there is no file to record it in (UserKnownHostsFile is none in ~/.ssh/config, and the inventory names no known_hosts); name a known_hosts file in the inventory, or add the key yourself"
                    ),
                });
            };
            if let Some(parent) = record_in.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            return keys::known_hosts::learn_known_hosts_path(&o.address, o.port, &key, &record_in)
                .map_err(|e| SshError::HostKey {
                    host: o.name.clone(),
                    what: format!("cannot record the host key in {}: {e}", record_in.display()),
                });
        }
        let mut notes = Vec::new();
        if let (PublicKeyOrCertificate::PublicKey { .. }, Some(at)) =
            (presented, known.authority_for(&lookup))
        {
            notes.push(format!(
                "The @cert-authority line at {at} covers {lookup}, but the host presented a plain key, not a certificate: give its sshd a certificate (HostCertificate in sshd_config), or list its key."
            ));
        }
        if let Some(CertificateProblem::UnknownAuthority { ca }) = certificate {
            notes.push(format!(
                "It presented a host certificate signed by the CA {ca}, which no @cert-authority line for {lookup} lists. If that is your CA (check its fingerprint with the host's administrator), a line `@cert-authority PATTERNS CA-PUBLIC-KEY` accepts the hosts it signs for."
            ));
        }
        // One of them may be the line meant for this host; a few are enough to see.
        const SHOWN: usize = 5;
        let skipped = known.skipped();
        if !skipped.is_empty() {
            let mut shown: Vec<String> = skipped
                .iter()
                .take(SHOWN)
                .map(ToString::to_string)
                .collect();
            if skipped.len() > SHOWN {
                shown.push(format!("and {} more", skipped.len() - SHOWN));
            }
            notes.push(format!(
                "These known_hosts lines were skipped, as OpenSSH skips them: {}.",
                shown.join("; ")
            ));
        }
        Err(SshError::UnknownHostKey {
            host: o.name.clone(),
            lookup,
            key: describe(&key),
            file: record_in.as_ref().map_or_else(
                || "a known_hosts file named in the inventory (UserKnownHostsFile is none)".into(),
                |f| f.display().to_string(),
            ),
            notes: notes
                .iter()
                .map(|n| format!("\n{n}"))
                .collect::<String>()
                .into(),
        })
    }
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match self.check(server_key) {
            Ok(()) => Ok(true),
            Err(e) => {
                *self.verdict.lock().expect("verdict lock") = Some(e);
                Ok(false)
            }
        }
    }
}

/// The SSH connection's socket, acknowledging every read at once. sshd does not set
/// TCP_NODELAY for non-interactive sessions, so a reply it writes in two small packets
/// waits for our ACK of the first — which Linux delays by up to 40 ms. That stall cost
/// ~40 ms per round trip through a tunnel; TCP_QUICKACK (cleared by the kernel after use,
/// so re-armed after each read) removes it.
struct QuickAck(tokio::net::TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if polled.is_ready() {
            #[cfg(target_os = "linux")]
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A live, authenticated SSH connection. Cloning shares it.
#[derive(Clone)]
pub struct SshSession {
    name: String,
    handle: Arc<Handle<HostKeyCheck>>,
    /// Keeps the jump host's connection open for as long as this one lives.
    _jump: Option<Arc<SshSession>>,
}

impl SshSession {
    /// Connects (through the jump host if any), checks the host key and authenticates.
    pub async fn connect(options: &SshOptions) -> Result<SshSession, SshError> {
        let timeout = options.connect_timeout;
        let address = format!("{}:{}", options.address, options.port);
        match tokio::time::timeout(timeout, Box::pin(Self::connect_inner(options))).await {
            Ok(result) => result,
            Err(_) => Err(SshError::Timeout {
                host: options.name.clone(),
                address,
                timeout,
            }),
        }
    }

    async fn connect_inner(options: &SshOptions) -> Result<SshSession, SshError> {
        let config = Arc::new(client::Config {
            // Zero means "no keepalives" (a zero interval would spin).
            keepalive_interval: (!options.keepalive.is_zero()).then_some(options.keepalive),
            keepalive_max: 3,
            nodelay: true,
            // Ask for host certificates too, ahead of plain keys, as OpenSSH does: a host
            // without one still offers its plain key, and a certificate no CA vouches for
            // is judged by the key inside it.
            preferred: russh::Preferred {
                host_key_certificates: russh::Preferred::DEFAULT.key.clone(),
                ..russh::Preferred::DEFAULT
            },
            ..Default::default()
        });
        let verdict: Verdict = Arc::default();
        let handler = HostKeyCheck {
            options: options.clone(),
            verdict: verdict.clone(),
        };
        let address = format!("{}:{}", options.address, options.port);
        let connect_error = |e: russh::Error| {
            verdict
                .lock()
                .expect("verdict lock")
                .take()
                .unwrap_or_else(|| SshError::Connect {
                    host: options.name.clone(),
                    address: address.clone(),
                    reason: e.to_string(),
                })
        };
        let (mut handle, jump) = match &options.jump {
            None => {
                let tcp = tokio::net::TcpStream::connect((options.address.as_str(), options.port))
                    .await
                    .map_err(|e| SshError::Connect {
                        host: options.name.clone(),
                        address: address.clone(),
                        reason: e.to_string(),
                    })?;
                let _ = tcp.set_nodelay(true);
                let handle = client::connect_stream(config, QuickAck(tcp), handler)
                    .await
                    .map_err(connect_error)?;
                (handle, None)
            }
            Some(jump_options) => {
                let jump = Box::pin(SshSession::connect(jump_options)).await?;
                let stream = jump.direct_tcpip(&options.address, options.port).await?;
                let handle = client::connect_stream(config, stream, handler)
                    .await
                    .map_err(connect_error)?;
                (handle, Some(Arc::new(jump)))
            }
        };
        authenticate(&mut handle, options).await?;
        let handle = Arc::new(handle);
        tokio::spawn(ask_for_nodelay(handle.clone()));
        Ok(SshSession {
            name: options.name.clone(),
            handle,
            _jump: jump,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A byte stream to `host:port` as seen from the SSH server: the PostgreSQL tunnel.
    /// No local port is opened.
    pub async fn direct_tcpip(
        &self,
        host: &str,
        port: u16,
    ) -> Result<ChannelStream<Msg>, SshError> {
        self.handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
            .map(|c| c.into_stream())
            .map_err(|e| SshError::Channel {
                host: self.name.clone(),
                what: format!("cannot open a tunnel to {host}:{port}"),
                reason: format!(
                    "{e} (the server refused the forward: is AllowTcpForwarding enabled in its sshd_config, and is {host}:{port} reachable from it?)"
                ),
            })
    }

    /// A byte stream to a Unix socket on the SSH server (the Docker API socket).
    pub async fn direct_streamlocal(&self, path: &str) -> Result<ChannelStream<Msg>, SshError> {
        self.handle
            .channel_open_direct_streamlocal(path)
            .await
            .map(|c| c.into_stream())
            .map_err(|e| SshError::Channel {
                host: self.name.clone(),
                what: format!("cannot open the socket {path}"),
                reason: format!(
                    "{e} (the server refused the forward: does {path} exist, may the ssh user open it (docker group), and is AllowStreamLocalForwarding enabled in its sshd_config?)"
                ),
            })
    }
}

impl SshSession {
    /// Runs `command` on the host through its shell and returns the exit status and
    /// stdout. For short diagnostics only: the migrations never spawn remote processes.
    pub async fn run(&self, command: &str) -> Result<(u32, String), SshError> {
        let fail = |e: russh::Error| SshError::Channel {
            host: self.name.clone(),
            what: format!("cannot run `{command}`"),
            reason: e.to_string(),
        };
        let mut channel = self.handle.channel_open_session().await.map_err(fail)?;
        channel.exec(true, command).await.map_err(fail)?;
        let mut stdout = Vec::new();
        let mut status = None;
        while let Some(message) = channel.wait().await {
            match message {
                russh::ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                russh::ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
        }
        Ok((
            status.unwrap_or(255),
            String::from_utf8_lossy(&stdout).into_owned(),
        ))
    }
}

/// OpenSSH's sshd sets TCP_NODELAY on its socket only once a session channel runs a
/// command (`ssh_packet_set_interactive`, called once per connection); tunnels and
/// socket forwards alone never do. Without it, Nagle's algorithm holds the second small
/// segment of each reply until our ACK of the first has crossed the network: a whole
/// extra round trip per migration. So each connection runs `true` once, in the
/// background. A key restricted to a forced command runs that instead: still harmless
/// for the forwards, and a failure here changes nothing else.
async fn ask_for_nodelay(handle: Arc<Handle<HostKeyCheck>>) {
    if let Ok(mut channel) = handle.channel_open_session().await
        && channel.exec(false, "true").await.is_ok()
    {
        while channel.wait().await.is_some() {}
    }
}

/// Quotes `text` for a POSIX shell, so that no name becomes a command.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The agent's keys first, then key files, as OpenSSH offers them.
async fn authenticate(handle: &mut Handle<HostKeyCheck>, o: &SshOptions) -> Result<(), SshError> {
    let mut tried: Vec<String> = Vec::new();
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match keys::agent::client::AgentClient::connect_env().await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_default();
                for identity in &identities {
                    let key = identity.public_key().into_owned();
                    let hash = if key.algorithm().is_rsa() {
                        rsa_hash
                    } else {
                        None
                    };
                    if let Ok(r) = handle
                        .authenticate_publickey_with(&o.user, key, hash, &mut agent)
                        .await
                        && r.success()
                    {
                        return Ok(());
                    }
                }
                tried.push(format!("{} key(s) from ssh-agent", identities.len()));
            }
            Err(e) => tried.push(format!("ssh-agent (unreachable: {e})")),
        }
    }
    let explicit = !o.identity_files.is_empty();
    let files: Vec<PathBuf> = if explicit {
        o.identity_files.clone()
    } else {
        default_identity_files()
    };
    for path in files {
        if !explicit && !path.exists() {
            continue;
        }
        let key = shared_key(&path, &o.name)?;
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        let result = handle
            .authenticate_publickey(&o.user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(|e| SshError::Connect {
                host: o.name.clone(),
                address: format!("{}:{}", o.address, o.port),
                reason: format!("connection lost during authentication: {e}"),
            })?;
        if result.success() {
            return Ok(());
        }
        tried.push(path.display().to_string());
    }
    Err(SshError::Auth {
        host: o.name.clone(),
        user: o.user.clone(),
        tried: if tried.is_empty() {
            "no key at all (no ssh-agent, no identity_file, no ~/.ssh/id_* file)".into()
        } else {
            tried.join(", ")
        },
    })
}

/// The key files OpenSSH tries when none is named.
fn default_identity_files() -> Vec<PathBuf> {
    std::env::home_dir()
        .map(|home| {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|n| home.join(".ssh").join(n))
                .collect()
        })
        .unwrap_or_default()
}

/// Environment variable holding the passphrase of encrypted keys, for scripts.
pub const PASSPHRASE_ENV: &str = "PGFLEET_SSH_PASSPHRASE";

/// The key at `path`, loaded by the first host that offers it (`KEYS`). The lock is held
/// while loading, so that hosts connecting at once ask for a passphrase once.
fn shared_key(path: &Path, host: &str) -> Result<Arc<keys::PrivateKey>, SshError> {
    let mut loaded = KEYS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, key)) = loaded.iter().find(|(p, _)| p == path) {
        return Ok(key.clone());
    }
    let key = Arc::new(load_key(path, host)?);
    loaded.push((path.to_path_buf(), key.clone()));
    Ok(key)
}

/// Loads a private key; an encrypted one is opened with `$PGFLEET_SSH_PASSPHRASE`, or a
/// passphrase asked on the terminal.
fn load_key(path: &Path, host: &str) -> Result<keys::PrivateKey, SshError> {
    let fail = |reason: String| SshError::Key {
        host: host.to_string(),
        path: path.display().to_string(),
        reason,
    };
    match keys::load_secret_key(path, None) {
        Ok(key) => Ok(key),
        Err(keys::Error::KeyIsEncrypted) => {
            let passphrase = match std::env::var(PASSPHRASE_ENV) {
                Ok(p) => p,
                Err(_) => rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
                    .map_err(|_| {
                        fail(format!(
                            "it is encrypted and there is no terminal to ask for its passphrase: set {PASSPHRASE_ENV}, or load it into ssh-agent"
                        ))
                    })?,
            };
            keys::load_secret_key(path, Some(&passphrase))
                .map_err(|e| fail(format!("cannot decrypt it ({e}): check the passphrase")))
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_go_to_the_inventorys_file_else_the_first_user_file() {
        let p = |s: &str| PathBuf::from(s);
        let (files, record) =
            SshOptions::known_hosts_files(Some(vec![p("/u1"), p("/u2")]), None, &[p("/inv")]);
        assert_eq!(
            files,
            [
                p("/u1"),
                p("/u2"),
                p("/inv"),
                p("/etc/ssh/ssh_known_hosts"),
                p("/etc/ssh/ssh_known_hosts2")
            ]
        );
        assert_eq!(record, Some(p("/inv")));
        let (files, record) =
            SshOptions::known_hosts_files(Some(vec![p("/u1"), p("/u2")]), Some(Vec::new()), &[]);
        assert_eq!(files, [p("/u1"), p("/u2")]);
        assert_eq!(record, Some(p("/u1")));
        let (files, record) =
            SshOptions::known_hosts_files(Some(Vec::new()), Some(Vec::new()), &[]);
        assert!(files.is_empty());
        assert_eq!(record, None);
    }
}
