//! The part of OpenSSH's client configuration (`~/.ssh/config`) that decides where a
//! `Host` alias leads: HostName, User, Port, IdentityFile and ProxyJump. As in OpenSSH,
//! the first value found for a key wins (IdentityFile values add up), `Host` patterns take
//! `*`, `?` and `!negation`; `Match` blocks and `Include` are skipped.

use std::path::{Path, PathBuf};

/// What the configuration says about one alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump` hops, outermost first; `none` gives an empty list.
    pub proxy_jump: Option<Vec<String>>,
}

/// Reads `~/.ssh/config` (a missing file is an empty configuration) for `alias`.
pub fn lookup(alias: &str) -> HostConfig {
    let Some(home) = std::env::home_dir() else {
        return HostConfig::default();
    };
    match std::fs::read_to_string(home.join(".ssh/config")) {
        Ok(text) => parse(&text, alias, &home),
        Err(_) => HostConfig::default(),
    }
}

/// The settings of `text` that apply to `alias`.
pub fn parse(text: &str, alias: &str, home: &Path) -> HostConfig {
    let mut config = HostConfig::default();
    // Before the first Host line, settings apply to every host.
    let mut applies = true;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((k, v)) => (
                k,
                v.trim_start_matches(|c: char| c.is_whitespace() || c == '=')
                    .trim(),
            ),
            None => (line, ""),
        };
        let value = value.trim_matches('"');
        match key.to_ascii_lowercase().as_str() {
            "host" => applies = host_matches(value, alias),
            "match" => applies = false,
            _ if !applies => {}
            "hostname" if config.host_name.is_none() => {
                config.host_name = Some(value.replace("%h", alias).replace("%%", "%"));
            }
            "user" if config.user.is_none() => config.user = Some(value.to_string()),
            "port" if config.port.is_none() => config.port = value.parse().ok(),
            "identityfile" => config.identity_files.push(expand(value, home)),
            "proxyjump" if config.proxy_jump.is_none() => {
                config.proxy_jump = Some(if value.eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    value.split(',').map(|h| h.trim().to_string()).collect()
                });
            }
            _ => {}
        }
    }
    config
}

fn expand(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

/// OpenSSH's rule: any positive pattern matches and no negated one does.
fn host_matches(patterns: &str, alias: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split_whitespace() {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, alias) {
                return false;
            }
        } else if glob(pattern, alias) {
            matched = true;
        }
    }
    matched
}

fn glob(pattern: &str, text: &str) -> bool {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher().is_match(text))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "
# comment
Host nas nas.lan
    HostName 192.168.1.10
    User admin
    Port 2222
    IdentityFile ~/.ssh/nas_key

Host *.lab !secret.lab
    HostName %h.example.net
    ProxyJump bastion,gate:2200

Match host x
    User nobody

Host *
    User fallback
    IdentityFile=~/.ssh/id_ed25519
    Port 22
";

    #[test]
    fn first_value_wins_and_identity_files_add_up() {
        let c = parse(CONFIG, "nas", Path::new("/home/u"));
        assert_eq!(c.host_name.as_deref(), Some("192.168.1.10"));
        assert_eq!(c.user.as_deref(), Some("admin"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(
            c.identity_files,
            [
                PathBuf::from("/home/u/.ssh/nas_key"),
                PathBuf::from("/home/u/.ssh/id_ed25519")
            ]
        );
        assert_eq!(c.proxy_jump, None);
    }

    #[test]
    fn patterns_tokens_and_jumps() {
        let c = parse(CONFIG, "pi.lab", Path::new("/h"));
        assert_eq!(c.host_name.as_deref(), Some("pi.lab.example.net"));
        assert_eq!(
            c.proxy_jump,
            Some(vec!["bastion".to_string(), "gate:2200".to_string()])
        );
        assert_eq!(c.user.as_deref(), Some("fallback"));
        let secret = parse(CONFIG, "secret.lab", Path::new("/h"));
        assert_eq!(secret.host_name, None);
        assert_eq!(
            parse(CONFIG, "x", Path::new("/h")).user.as_deref(),
            Some("fallback")
        );
    }
}
