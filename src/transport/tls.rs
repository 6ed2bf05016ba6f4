//! TLS to PostgreSQL as libpq does it (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`),
//! over rustls with aws-lc-rs: no OpenSSL to install, and the crypto russh already builds.
//!
//! libpq's semantics, kept here: `prefer` is the default; a root certificate file, when
//! there is one (given, or `~/.postgresql/root.crt`), makes `allow`, `prefer` and `require`
//! verify the chain as `verify-ca` does; `verify-ca` checks the chain and not the name;
//! `verify-full` checks both (IP addresses against IP SANs); `sslrootcert=system` takes the
//! system's trusted roots and needs `verify-full`. Unix sockets never use TLS.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::Client;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::SqlError;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The names `sslmode` takes, in libpq's order, for messages.
pub const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

impl SslMode {
    pub fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        SSLMODES[self as usize]
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// What a URL, the PG* variables or an inventory say about TLS, before any file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// None: libpq's default (`prefer`; `verify-full` with `sslrootcert=system`).
    pub mode: Option<SslMode>,
    /// A file, or `system`. None: `~/.postgresql/root.crt` if it exists.
    pub rootcert: Option<String>,
    /// None: `~/.postgresql/postgresql.crt` if it exists.
    pub cert: Option<PathBuf>,
    /// None: `~/.postgresql/postgresql.key`.
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    pub fn mode(&self) -> SslMode {
        match (self.mode, self.rootcert.as_deref()) {
            (Some(mode), _) => mode,
            (None, Some("system")) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        }
    }

    /// libpq 16's rule: the system's roots trust any public name, so only a check of the
    /// name makes them mean something.
    pub fn check(&self) -> Result<(), String> {
        let mode = self.mode();
        if self.rootcert.as_deref() == Some("system") && mode != SslMode::VerifyFull {
            return Err(format!(
                "sslmode={} cannot be used with sslrootcert=system: the system's roots trust every public name, so only sslmode=verify-full (or no sslmode) checks anything",
                mode.as_str()
            ));
        }
        Ok(())
    }

    /// `verify-ca` and `verify-full` need a CA: given, or `~/.postgresql/root.crt`.
    pub fn check_roots(&self, home: Option<&Path>) -> Result<(), String> {
        let mode = self.mode();
        let default_root = home.is_some_and(|h| h.join(".postgresql/root.crt").exists());
        if mode.verifies() && self.rootcert.is_none() && !default_root {
            return Err(format!(
                "sslmode={} checks the server's certificate against a CA, and none was given: set sslrootcert=FILE (the CA that signed the server's certificate; ~/.postgresql/root.crt is read by default), sslrootcert=system for the system's trusted roots, or sslmode=require to encrypt without checking",
                mode.as_str()
            ));
        }
        Ok(())
    }

    /// Reads the certificate files and builds what connects. `home` is where
    /// `~/.postgresql/` is (None: no default files).
    pub fn load(&self, home: Option<&Path>) -> Result<Tls, String> {
        self.check()?;
        let mode = self.mode();
        if mode == SslMode::Disable {
            return Ok(Tls {
                mode,
                connector: None,
                roots: Roots::None,
            });
        }
        self.check_roots(home)?;
        let default = |name: &str| home.map(|h| h.join(".postgresql").join(name));
        let roots = match self.rootcert.as_deref() {
            Some("system") => Roots::System,
            Some(file) => Roots::File(PathBuf::from(file)),
            None => match default("root.crt").filter(|p| p.exists()) {
                Some(file) => Roots::File(file),
                None => Roots::None,
            },
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match &roots {
            Roots::None => Arc::new(Unverified(provider.signature_verification_algorithms)),
            roots => {
                let store = roots.store()?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                        .build()
                        .map_err(|e| format!("cannot use {}: {e}", roots.setting()))?;
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match self.client_cert(home)? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("cannot use the client certificate: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Tls {
            mode,
            connector: Some(MakeRustlsConnect::new(config)),
            roots,
        })
    }

    /// The client certificate and key: as given, else libpq's defaults when the
    /// certificate file exists.
    fn client_cert(
        &self,
        home: Option<&Path>,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
        let default = |name: &str| home.map(|h| h.join(".postgresql").join(name));
        let cert = match &self.cert {
            Some(cert) => cert.clone(),
            None => match default("postgresql.crt").filter(|p| p.exists()) {
                Some(cert) => cert,
                None => return Ok(None),
            },
        };
        let pem = std::fs::read(&cert).map_err(|e| {
            format!(
                "cannot read the client certificate sslcert={}: {e}",
                cert.display()
            )
        })?;
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                format!(
                    "sslcert={} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    cert.display()
                )
            })?;
        let Some(key) = self.key.clone().or_else(|| default("postgresql.key")) else {
            return Err(format!(
                "sslcert={} is given without its private key: set sslkey=FILE",
                cert.display()
            ));
        };
        check_key_permissions(&key)?;
        let pem = std::fs::read(&key).map_err(|e| {
            format!(
                "the client certificate {} is there, but its private key sslkey={} cannot be read: {e}",
                cert.display(),
                key.display()
            )
        })?;
        let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
            format!(
                "sslkey={} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                key.display()
            )
        })?;
        Ok(Some((chain, key)))
    }
}

/// libpq refuses a private key others can read: it would be a client identity anyone on
/// the machine could take.
fn check_key_permissions(key: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(key) else {
        // Not there: reading it says so.
        return Ok(());
    };
    // The process's own uid, without libc: /proc/self belongs to it.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let mode = meta.mode();
    if Some(meta.uid()) == me && mode & 0o077 != 0 {
        return Err(format!(
            "the private key sslkey={} can be read by others (mode {:o}); chmod 600 it",
            key.display(),
            mode & 0o777
        ));
    }
    if meta.uid() == 0 && mode & 0o037 != 0 {
        return Err(format!(
            "the private key sslkey={} is owned by root and open to others (mode {:o}); chmod 640 (or 600) it",
            key.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// Where the trusted CAs come from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    None,
    File(PathBuf),
    System,
}

impl Roots {
    fn setting(&self) -> String {
        match self {
            Roots::None => "no sslrootcert".into(),
            Roots::File(f) => format!("sslrootcert={}", f.display()),
            Roots::System => "sslrootcert=system".into(),
        }
    }

    fn store(&self) -> Result<rustls::RootCertStore, String> {
        let mut store = rustls::RootCertStore::empty();
        let certs = match self {
            Roots::None => Vec::new(),
            Roots::File(file) => {
                let pem = std::fs::read(file)
                    .map_err(|e| format!("cannot read sslrootcert={}: {e}", file.display()))?;
                CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("sslrootcert={} is not PEM: {e}", file.display()))?
            }
            Roots::System => rustls_native_certs::load_native_certs().certs,
        };
        let (added, _) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(match self {
                Roots::System => "sslrootcert=system: the system has no trusted root certificates (install ca-certificates)".into(),
                other => format!(
                    "{} holds no CA certificate pgfleet can read (PEM, -----BEGIN CERTIFICATE-----)",
                    other.setting()
                ),
            });
        }
        Ok(store)
    }
}

/// TLS as one connection takes it: the mode and the loaded connector.
#[derive(Clone)]
pub struct Tls {
    mode: SslMode,
    connector: Option<MakeRustlsConnect>,
    roots: Roots,
}

impl Tls {
    /// No TLS (Unix sockets, `sslmode=disable`).
    pub fn disabled() -> Tls {
        Tls {
            mode: SslMode::Disable,
            connector: None,
            roots: Roots::None,
        }
    }

    /// What connects: None when no attempt uses TLS.
    pub fn connector(&self) -> Option<MakeRustlsConnect> {
        self.connector.clone()
    }

    /// Connects as libpq would: `allow` tries without TLS, then with; `prefer` with, then
    /// without; the others once. `attempt` makes one connection in the mode given.
    /// `host` is the name the certificate is checked against, for messages.
    pub async fn connect<F, Fut>(&self, host: &str, mut attempt: F) -> Result<Client, SqlError>
    where
        F: FnMut(PgSslMode) -> Fut,
        Fut: Future<Output = Result<Client, Attempt>>,
    {
        let (first, retry) = match self.mode {
            SslMode::Disable => (PgSslMode::Disable, None),
            SslMode::Allow => (PgSslMode::Disable, Some(PgSslMode::Require)),
            SslMode::Prefer => (PgSslMode::Prefer, Some(PgSslMode::Disable)),
            _ => (PgSslMode::Require, None),
        };
        let first = match attempt(first).await {
            Ok(client) => return Ok(client),
            Err(Attempt::Before(e)) => return Err(e),
            Err(Attempt::Pg(e)) => e,
        };
        // A server that refused or could not be reached answers the same without TLS.
        let worth_retrying = first.as_db_error().is_some() || tls_failure(&first).is_some();
        let Some(retry) = retry.filter(|_| worth_retrying) else {
            return Err(self.explain(first, host));
        };
        match attempt(retry).await {
            Ok(client) => Ok(client),
            Err(Attempt::Before(e)) => Err(e),
            // The retry's refusal by pg_hba ("no encryption", "SSL encryption") says less
            // than the first attempt's error, and the other way round.
            Err(Attempt::Pg(second)) => {
                let refused_by_hba = |e: &tokio_postgres::Error| {
                    e.as_db_error().is_some_and(|d| d.code().code() == "28000")
                };
                if first.as_db_error().is_some() && !refused_by_hba(&first) {
                    Err(self.explain(first, host))
                } else {
                    Err(self.explain(second, host))
                }
            }
        }
    }

    /// The error in words that say what failed and what to do.
    fn explain(&self, error: tokio_postgres::Error, host: &str) -> SqlError {
        let failure = tls_failure(&error);
        let mut sql = SqlError::from(error);
        if let Some(why) = failure {
            sql.message = self.tls_message(why, host);
            return sql;
        }
        if sql.is_code("28000") && sql.message.contains("no encryption") {
            sql.hint = Some(format!(
                "the server accepts this connection only over TLS (hostssl in pg_hba.conf), and sslmode={} did not use it: use sslmode=require or prefer (the default)",
                self.mode.as_str()
            ));
        }
        sql
    }

    fn tls_message(&self, why: TlsFailure, host: &str) -> String {
        use rustls::Error as E;
        let roots = self.roots.setting();
        match why {
            TlsFailure::NotOffered => format!(
                "the server does not accept TLS (ssl = off in its postgresql.conf), and sslmode={} needs it: turn ssl on there, or use sslmode=prefer",
                self.mode.as_str()
            ),
            TlsFailure::Rustls(E::InvalidCertificate(cert)) => match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                    "the server's certificate is not signed by the CA in {roots}: give the CA that signed it, or sslmode=require to encrypt without checking the certificate"
                ),
                CertificateError::NotValidForNameContext { presented, .. } => format!(
                    "the server's certificate is for {}, not {host}: connect by the name in the certificate, or use sslmode=verify-ca (checks the CA, not the name)",
                    presented
                        .iter()
                        .map(|name| shown_name(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                CertificateError::NotValidForName => format!(
                    "the server's certificate is not for {host}: connect by the name in the certificate, or use sslmode=verify-ca (checks the CA, not the name)"
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired: renew it on the server".to_string()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the server's certificate is not valid yet: check the clocks of both machines"
                        .to_string()
                }
                other => format!(
                    "the server's certificate was refused ({other:?}), checked against {roots}"
                ),
            },
            TlsFailure::Rustls(E::AlertReceived(alert)) => format!(
                "the server ended the TLS handshake ({alert:?}): if it asks for a client certificate, give one it trusts with sslcert= and sslkey="
            ),
            TlsFailure::Rustls(other) => format!("the TLS handshake failed: {other}"),
            TlsFailure::Other(text) => format!("the TLS handshake failed: {text}"),
        }
    }
}

/// A name rustls presents (`DnsName("db.example")`, `IpAddress(127.0.0.1)`) as written.
fn shown_name(name: &str) -> &str {
    match (name.find('('), name.strip_suffix(')')) {
        (Some(open), Some(inner)) => inner[open + 1..].trim_matches('"'),
        _ => name,
    }
}

/// Why one connection attempt failed: in PostgreSQL's protocol (TLS included), or before
/// it began (an SSH channel that did not open), which no retry without TLS would change.
pub enum Attempt {
    Pg(tokio_postgres::Error),
    Before(SqlError),
}

impl From<tokio_postgres::Error> for Attempt {
    fn from(e: tokio_postgres::Error) -> Self {
        Attempt::Pg(e)
    }
}

enum TlsFailure {
    /// The server answered the SSLRequest with "no".
    NotOffered,
    Rustls(rustls::Error),
    Other(String),
}

/// Why the TLS part of a connection failed, if it did.
fn tls_failure(error: &tokio_postgres::Error) -> Option<TlsFailure> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut in_tls = false;
    while let Some(s) = source {
        let text = s.to_string();
        if text == "server does not support TLS" {
            return Some(TlsFailure::NotOffered);
        }
        in_tls |= text.starts_with("error performing TLS handshake");
        // tokio-rustls hands rustls' error over inside an io::Error, whose `source` skips it.
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return Some(TlsFailure::Rustls(tls.clone()));
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Some(TlsFailure::Rustls(tls.clone()));
        }
        source = s.source();
    }
    in_tls.then(|| {
        let mut text = String::new();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text = if text.is_empty() {
                s.to_string()
            } else {
                format!("{text}: {s}")
            };
            source = s.source();
        }
        TlsFailure::Other(text)
    })
}

/// `verify-ca`: the chain up to a trusted CA is checked, the name is not. webpki checks
/// the name last, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` (and `prefer`, `allow`) without a root certificate: encrypted, the
/// certificate not checked, as libpq does. The handshake's signatures are still checked,
/// so the session is bound to the key of the certificate the server showed.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_default_as_libpq() {
        for name in SSLMODES {
            assert_eq!(SslMode::parse(name).unwrap().as_str(), *name);
        }
        assert_eq!(SslMode::parse("required"), None);
        assert_eq!(TlsSettings::default().mode(), SslMode::Prefer);
        let system = TlsSettings {
            rootcert: Some("system".into()),
            ..Default::default()
        };
        assert_eq!(system.mode(), SslMode::VerifyFull);
        let weak = TlsSettings {
            mode: Some(SslMode::VerifyCa),
            ..system
        };
        assert!(weak.check().unwrap_err().contains("sslmode=verify-ca"));
    }

    #[test]
    fn verify_modes_need_a_ca() {
        let home = tempfile::tempdir().unwrap();
        let settings = TlsSettings {
            mode: Some(SslMode::VerifyFull),
            ..Default::default()
        };
        let e = settings.load(Some(home.path())).err().unwrap();
        assert!(e.contains("sslrootcert=FILE"), "{e}");
        // require without a CA: encrypted, not verified.
        let require = TlsSettings {
            mode: Some(SslMode::Require),
            ..Default::default()
        };
        assert!(require.load(Some(home.path())).is_ok());
    }
}
