//! known_hosts as OpenSSH reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT", hostfile.c):
//! comma-separated host patterns with `*`, `?` and `!negation`, `[host]:port` names,
//! hashed names (`|1|salt|hash`, HMAC-SHA1), `@revoked` keys and `@cert-authority` lines
//! that vouch for host certificates. Pure: text in, a decision out; reading and writing
//! the files is `ssh`'s business.
//!
//! A line that cannot be read is skipped, as OpenSSH skips it, and kept with its reason
//! so that a refusal can mention it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Certificate, HashAlg, PublicKey};
use sha1::Sha1;

use super::pattern::{ListMatch, list_match};

/// A line of a known_hosts file, as `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based, counting every line of the file (comments and blank ones too).
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A line that cannot be read, and why; it was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct LineError {
    pub at: Location,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// A host key.
    None,
    /// `@cert-authority`: a CA whose host certificates are accepted for the hosts.
    CertAuthority,
    /// `@revoked`: a key never accepted for the hosts, whatever else says so.
    Revoked,
}

#[derive(Debug, Clone)]
enum Names {
    /// `|1|salt|hash`: HMAC-SHA1 of the name, keyed with the salt (`HashKnownHosts`).
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns.
    Patterns(String),
}

impl Names {
    fn applies_to(&self, name: &str) -> bool {
        match self {
            Names::Hashed { salt, hash } => Hmac::<Sha1>::new_from_slice(salt)
                .map(|mac| mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok())
                .unwrap_or(false),
            Names::Patterns(list) => list_match(list.split(','), name) == ListMatch::Yes,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    at: Location,
    marker: Marker,
    names: Names,
    key: KeyData,
}

/// The lines of one or more known_hosts files, read together as OpenSSH reads its
/// `UserKnownHostsFile` list.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
    skipped: Vec<LineError>,
}

/// Which key a `@revoked` line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedKey {
    HostKey,
    /// The CA that signed the host's certificate.
    CertificateAuthority,
}

impl RevokedKey {
    pub fn name(self) -> &'static str {
        match self {
            RevokedKey::HostKey => "host key",
            RevokedKey::CertificateAuthority => "certificate authority",
        }
    }
}

/// Why a host certificate did not establish trust by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateProblem {
    /// No `@cert-authority` line for the host lists the CA that signed it.
    UnknownAuthority {
        /// The CA's SHA-256 fingerprint.
        ca: String,
    },
    /// A CA listed for the host signed it, but it is not valid for this host now.
    Invalid { ca: Location, reason: String },
}

/// What known_hosts says of the key or certificate a host presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The key is listed for the host on this line.
    Known(Location),
    /// The CA listed for the host on this line signed a valid host certificate.
    Certified(Location),
    /// This line marks the key (or the certificate's CA) `@revoked` for the host.
    Revoked { at: Location, which: RevokedKey },
    /// Another key of the same type is listed for the host on this line.
    Changed(Location),
    /// Nothing is listed for the host that decides. When the host presented a
    /// certificate, `certificate` says why it did not decide either.
    Unknown {
        certificate: Option<CertificateProblem>,
    },
}

impl KnownHosts {
    /// Reads the text of one file (named `file` in messages) after those added before.
    pub fn add(&mut self, file: &str, text: &str) {
        for (index, line) in text.lines().enumerate() {
            let at = Location {
                file: file.to_string(),
                line: index + 1,
            };
            match parse_line(line) {
                Ok(None) => {}
                Ok(Some((marker, names, key))) => self.entries.push(Entry {
                    at,
                    marker,
                    names,
                    key,
                }),
                Err(reason) => self.skipped.push(LineError { at, reason }),
            }
        }
    }

    /// The lines that could not be read, in file order.
    pub fn skipped(&self) -> &[LineError] {
        &self.skipped
    }

    /// The first `@cert-authority` line that applies to `name`, if any: a host that such
    /// a line covers but that shows a plain key is worth a word in a refusal.
    pub fn authority_for(&self, name: &str) -> Option<&Location> {
        let name = name.to_lowercase();
        self.entries
            .iter()
            .find(|e| e.marker == Marker::CertAuthority && e.names.applies_to(&name))
            .map(|e| &e.at)
    }

    fn lines_for<'a>(&'a self, name: &'a str, marker: Marker) -> impl Iterator<Item = &'a Entry> {
        self.entries
            .iter()
            .filter(move |e| e.marker == marker && e.names.applies_to(name))
    }

    fn revoked(&self, name: &str, key: &KeyData) -> Option<Location> {
        self.lines_for(name, Marker::Revoked)
            .find(|e| e.key == *key)
            .map(|e| e.at.clone())
    }

    /// The verdict on a plain host `key` presented by the host known as `name`
    /// (`host`, or `[host]:port` off port 22). A matching line anywhere accepts the key
    /// (OpenSSH stops at the first); `@revoked` refuses whatever else accepts.
    pub fn check_key(&self, name: &str, key: &PublicKey) -> Decision {
        let name = name.to_lowercase();
        let key = key.key_data();
        if let Some(at) = self.revoked(&name, key) {
            return Decision::Revoked {
                at,
                which: RevokedKey::HostKey,
            };
        }
        let mut changed = None;
        for entry in self.lines_for(&name, Marker::None) {
            if entry.key == *key {
                return Decision::Known(entry.at.clone());
            }
            if changed.is_none() && entry.key.algorithm() == key.algorithm() {
                changed = Some(entry.at.clone());
            }
        }
        match changed {
            Some(at) => Decision::Changed(at),
            None => Decision::Unknown { certificate: None },
        }
    }

    /// The verdict on a host certificate presented by `name`, for the host name
    /// `principal` (the address connected to), at `now` (seconds since 1970).
    ///
    /// As OpenSSH: a valid certificate signed by a CA listed for the host is trusted;
    /// otherwise the key inside it is judged as a plain host key (so a host whose key is
    /// listed still connects). When that key is not listed either, the certificate's
    /// problem comes back with `Unknown`.
    pub fn check_certificate(
        &self,
        name: &str,
        principal: &str,
        certificate: &Certificate,
        now: u64,
    ) -> Decision {
        let name = name.to_lowercase();
        let ca = certificate.signature_key();
        if let Some(at) = self.revoked(&name, ca) {
            return Decision::Revoked {
                at,
                which: RevokedKey::CertificateAuthority,
            };
        }
        let mut problem = CertificateProblem::UnknownAuthority {
            ca: ca.fingerprint(HashAlg::Sha256).to_string(),
        };
        if let Some(entry) = self
            .lines_for(&name, Marker::CertAuthority)
            .find(|e| e.key == *ca)
        {
            match invalidity(certificate, &principal.to_lowercase(), now) {
                None => {
                    // Revoked host keys stay revoked inside a certificate too.
                    if let Some(at) = self.revoked(&name, certificate.public_key()) {
                        return Decision::Revoked {
                            at,
                            which: RevokedKey::HostKey,
                        };
                    }
                    return Decision::Certified(entry.at.clone());
                }
                Some(reason) => {
                    problem = CertificateProblem::Invalid {
                        ca: entry.at.clone(),
                        reason,
                    };
                }
            }
        }
        let plain = PublicKey::new(certificate.public_key().clone(), "");
        match self.check_key(&name, &plain) {
            Decision::Unknown { .. } => Decision::Unknown {
                certificate: Some(problem),
            },
            decided => decided,
        }
    }
}

/// Why `certificate` is not a valid host certificate for `principal` at `now`, as
/// OpenSSH's `sshkey_cert_check_authority` judges it for a host.
fn invalidity(certificate: &Certificate, principal: &str, now: u64) -> Option<String> {
    if certificate.verify_signature().is_err() {
        return Some("its signature does not verify with the CA's key".into());
    }
    if certificate.cert_type() != CertType::Host {
        return Some("it is a user certificate, not a host certificate".into());
    }
    if now < certificate.valid_after() {
        return Some(format!(
            "it is not valid before {}",
            timestamp(certificate.valid_after())
        ));
    }
    if now >= certificate.valid_before() {
        return Some(format!(
            "it expired at {}",
            timestamp(certificate.valid_before())
        ));
    }
    // OpenSSH accepts a host certificate without principals for any host: the CA line's
    // host patterns are then the only limit.
    let principals = certificate.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p.to_lowercase() == principal) {
        return Some(format!(
            "it is valid for {}, not for {principal}",
            principals.join(", ")
        ));
    }
    if !certificate.critical_options().is_empty() {
        return Some(format!(
            "it carries critical options ({}), which no host certificate may",
            certificate
                .critical_options()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    None
}

fn timestamp(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{seconds} (seconds since 1970)"))
}

/// One line: nothing (blank, comment), a marker, names and key, or why it cannot be read.
fn parse_line(line: &str) -> Result<Option<(Marker, Names, KeyData)>, String> {
    let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
    let Some(mut first) = fields.next() else {
        return Ok(None);
    };
    if first.starts_with('#') {
        return Ok(None);
    }
    let marker = match first {
        "@cert-authority" => Marker::CertAuthority,
        "@revoked" => Marker::Revoked,
        other if other.starts_with('@') => {
            return Err(format!(
                "unknown marker {other} (OpenSSH knows @cert-authority and @revoked)"
            ));
        }
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields
            .next()
            .ok_or("a marker with no host patterns and no key")?;
    }
    let names = parse_names(first)?;
    let algorithm = fields.next().ok_or("host patterns with no key")?;
    let data = fields
        .next()
        .ok_or_else(|| format!("a {algorithm} key with no key data"))?;
    if algorithm.chars().all(|c| c.is_ascii_digit()) {
        return Err("an SSH-1 RSA key, which nothing reads any more".into());
    }
    if algorithm.contains("-cert-v01@") {
        return Err(format!(
            "a certificate ({algorithm}) where a key belongs: list the CA that signs host certificates with @cert-authority instead"
        ));
    }
    let key = PublicKey::from_openssh(&format!("{algorithm} {data}"))
        .map_err(|e| format!("cannot read the {algorithm} key: {e}"))?;
    Ok(Some((marker, names, key.key_data().clone())))
}

fn parse_names(field: &str) -> Result<Names, String> {
    let Some(hashed) = field.strip_prefix('|') else {
        return Ok(Names::Patterns(field.to_string()));
    };
    let bad = || format!("{field} is not a hashed host name (|1|salt|hash)");
    let mut parts = hashed.split('|');
    if parts.next() != Some("1") {
        return Err(bad());
    }
    let (Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let decode = |b64: &str| STANDARD.decode(b64).ok().filter(|v| v.len() == 20);
    match (decode(salt), decode(hash)) {
        (Some(salt), Some(hash)) => Ok(Names::Hashed { salt, hash }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::ssh_key::{PrivateKey, certificate};

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    fn hosts(text: &str) -> KnownHosts {
        let mut k = KnownHosts::default();
        k.add("kh", text);
        k
    }

    fn at(line: usize) -> Location {
        Location {
            file: "kh".into(),
            line,
        }
    }

    #[test]
    fn lists_ports_and_patterns() {
        let k = hosts(&format!(
            "# c\n\nnas,nas.lan,10.0.0.5 {KEY_A}\n[db]:2222 {KEY_A} comment here\n*.lab,!secret.lab {KEY_A}\n"
        ));
        let a = key(KEY_A);
        assert_eq!(k.check_key("nas.lan", &a), Decision::Known(at(3)));
        assert_eq!(k.check_key("NAS", &a), Decision::Known(at(3)));
        assert_eq!(k.check_key("[db]:2222", &a), Decision::Known(at(4)));
        assert_eq!(
            k.check_key("db", &a),
            Decision::Unknown { certificate: None }
        );
        assert_eq!(k.check_key("pi.lab", &a), Decision::Known(at(5)));
        assert_eq!(
            k.check_key("secret.lab", &a),
            Decision::Unknown { certificate: None }
        );
        assert_eq!(k.check_key("nas", &key(KEY_B)), Decision::Changed(at(3)));
    }

    #[test]
    fn hashed_names_match_their_host_only() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222", salt of twenty bytes 0..20.
        let salt: Vec<u8> = (0..20).collect();
        let hash = Hmac::<Sha1>::new_from_slice(&salt)
            .unwrap()
            .chain_update(b"[127.0.0.1]:2222")
            .finalize()
            .into_bytes();
        let line = format!(
            "|1|{}|{} {KEY_A}",
            STANDARD.encode(&salt),
            STANDARD.encode(hash)
        );
        let k = hosts(&line);
        assert_eq!(
            k.check_key("[127.0.0.1]:2222", &key(KEY_A)),
            Decision::Known(at(1))
        );
        assert_eq!(
            k.check_key("127.0.0.1", &key(KEY_A)),
            Decision::Unknown { certificate: None }
        );
    }

    #[test]
    fn a_matching_line_anywhere_wins_and_revoked_wins_over_all() {
        let k = hosts(&format!("nas {KEY_B}\nnas {KEY_A}\n"));
        assert_eq!(k.check_key("nas", &key(KEY_A)), Decision::Known(at(2)));
        let k = hosts(&format!("nas {KEY_A}\n@revoked * {KEY_A}\n"));
        assert_eq!(
            k.check_key("nas", &key(KEY_A)),
            Decision::Revoked {
                at: at(2),
                which: RevokedKey::HostKey
            }
        );
        // @revoked applies to the hosts it names only, as OpenSSH loads lines per host.
        let k = hosts(&format!("nas {KEY_A}\n@revoked other {KEY_A}\n"));
        assert_eq!(k.check_key("nas", &key(KEY_A)), Decision::Known(at(1)));
        // A @cert-authority line is not a host key.
        let k = hosts(&format!("@cert-authority nas {KEY_A}\n"));
        assert_eq!(
            k.check_key("nas", &key(KEY_A)),
            Decision::Unknown { certificate: None }
        );
        assert_eq!(k.authority_for("NAS"), Some(&at(1)));
        assert_eq!(k.authority_for("other"), None);
    }

    #[test]
    fn unreadable_lines_are_skipped_with_their_reason() {
        let k = hosts(&format!(
            "@trusted nas {KEY_A}\n@revoked\nnas\nnas ssh-ed25519\n|1|abc|def {KEY_A}\nnas ssh-ed25519 AAAA\nnas 2048 35 12345\nnas {KEY_A}\n"
        ));
        let lines: Vec<usize> = k.skipped().iter().map(|e| e.at.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7], "{:?}", k.skipped());
        assert!(
            k.skipped()[0]
                .to_string()
                .starts_with("kh:1: unknown marker @trusted")
        );
        assert_eq!(k.check_key("nas", &key(KEY_A)), Decision::Known(at(8)));
    }

    fn certificate(
        ca: &PrivateKey,
        host: &PublicKey,
        kind: CertType,
        principals: &[&str],
        valid: (u64, u64),
    ) -> Certificate {
        let mut builder =
            certificate::Builder::new([7u8; 16], host.key_data().clone(), valid.0, valid.1)
                .unwrap();
        builder.cert_type(kind).unwrap();
        if principals.is_empty() {
            builder.all_principals_valid().unwrap();
        }
        for p in principals {
            builder.valid_principal(*p).unwrap();
        }
        builder.sign(ca).unwrap()
    }

    #[test]
    fn certificates_are_checked_as_openssh_checks_them() {
        let ca = PrivateKey::from(Ed25519Keypair::from_seed(&[1; 32]));
        let other_ca = PrivateKey::from(Ed25519Keypair::from_seed(&[2; 32]));
        let host = key(KEY_A);
        let ca_line = ca.public_key().to_openssh().unwrap();
        let k = hosts(&format!("@cert-authority *.lan,!bad.lan {ca_line}\n"));
        let now = 1_000_000;
        let good = certificate(&ca, &host, CertType::Host, &["nas.lan"], (0, 2_000_000));
        assert_eq!(
            k.check_certificate("nas.lan", "nas.lan", &good, now),
            Decision::Certified(at(1))
        );
        let problem = |d: Decision| match d {
            Decision::Unknown {
                certificate: Some(CertificateProblem::Invalid { reason, .. }),
            } => reason,
            other => panic!("{other:?}"),
        };
        let expired = certificate(&ca, &host, CertType::Host, &["nas.lan"], (0, 10));
        assert!(
            problem(k.check_certificate("nas.lan", "nas.lan", &expired, now))
                .contains("expired at 1970-01-01 00:00:10 UTC")
        );
        assert!(
            problem(k.check_certificate("nas.lan", "db.lan", &good, now))
                .contains("valid for nas.lan, not for db.lan")
        );
        let user = certificate(&ca, &host, CertType::User, &["nas.lan"], (0, 2_000_000));
        assert!(
            problem(k.check_certificate("nas.lan", "nas.lan", &user, now))
                .contains("user certificate")
        );
        let anyone = certificate(&ca, &host, CertType::Host, &[], (0, 2_000_000));
        assert_eq!(
            k.check_certificate("x.lan", "x.lan", &anyone, now),
            Decision::Certified(at(1))
        );
        // The CA line does not apply to this host: the CA is unknown here.
        assert!(matches!(
            k.check_certificate("bad.lan", "bad.lan", &good, now),
            Decision::Unknown {
                certificate: Some(CertificateProblem::UnknownAuthority { .. })
            }
        ));
        let stranger = certificate(
            &other_ca,
            &host,
            CertType::Host,
            &["nas.lan"],
            (0, 2_000_000),
        );
        assert!(matches!(
            k.check_certificate("nas.lan", "nas.lan", &stranger, now),
            Decision::Unknown {
                certificate: Some(CertificateProblem::UnknownAuthority { .. })
            }
        ));
        // As OpenSSH: a certificate no CA vouches for falls back to its key.
        let k2 = hosts(&format!("nas.lan {KEY_A}\n"));
        assert_eq!(
            k2.check_certificate("nas.lan", "nas.lan", &stranger, now),
            Decision::Known(at(1))
        );
        // A revoked CA refuses, whatever vouches for the host.
        let k3 = hosts(&format!(
            "@cert-authority * {ca_line}\nnas.lan {KEY_A}\n@revoked * {ca_line}\n"
        ));
        assert_eq!(
            k3.check_certificate("nas.lan", "nas.lan", &good, now),
            Decision::Revoked {
                at: at(3),
                which: RevokedKey::CertificateAuthority
            }
        );
    }
}
