//! The part of OpenSSH's client configuration (`~/.ssh/config`, ssh_config(5)) that decides
//! where a `Host` alias leads and how it is trusted: HostName, User, Port, IdentityFile,
//! ProxyJump, UserKnownHostsFile and GlobalKnownHostsFile. As in
//! OpenSSH, the first value found for a key wins (IdentityFile values add up); `Host`
//! patterns take `*`, `?` and `!negation`; `Include` reads more files in place; `Match`
//! blocks apply on `host`, `originalhost`, `user`, `localuser` and `all`. A `Match` that
//! depends on what pgfleet cannot know (`exec`, `localnetwork`, …) is refused, naming its
//! file and line, rather than guessed.

use std::path::{Path, PathBuf};

use super::pattern::{ListMatch, list_match};
pub use crate::error::SshConfigError;

/// OpenSSH's bound on nested `Include`s (READCONF_MAX_DEPTH).
const MAX_INCLUDE_DEPTH: usize = 16;

/// What the configuration says about one alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump` hops, outermost first; `none` gives an empty list.
    pub proxy_jump: Option<Vec<String>>,
    /// `UserKnownHostsFile`: where host keys are looked up and new ones recorded (the
    /// first); `none` gives an empty list.
    pub user_known_hosts: Option<Vec<PathBuf>>,
    /// `GlobalKnownHostsFile`: looked up only.
    pub global_known_hosts: Option<Vec<PathBuf>>,
}

/// The connection the configuration is read for.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The name given (the inventory's address): `Host` and `Match originalhost` match it.
    pub alias: &'a str,
    /// The user the inventory names, which wins over `User` as `ssh -l` does.
    pub user: Option<&'a str>,
    /// Who runs pgfleet: `Match localuser`, and `Match user` when nothing names a user.
    pub local_user: &'a str,
}

/// Reads `~/.ssh/config` (a missing file is an empty configuration) for `alias`.
pub fn lookup(alias: &str, user: Option<&str>) -> Result<HostConfig, SshConfigError> {
    let Some(home) = std::env::home_dir() else {
        return Ok(HostConfig::default());
    };
    let local_user = super::os_user();
    let query = Query {
        alias,
        user,
        local_user: &local_user,
    };
    read(&home.join(".ssh/config"), &query, &home)
}

/// The settings of the configuration file `path` (missing: none) that apply to `query`;
/// `home` places `~` and relative `Include`s (`~/.ssh`).
pub fn read(path: &Path, query: &Query<'_>, home: &Path) -> Result<HostConfig, SshConfigError> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HostConfig::default()),
        Err(e) => {
            return Err(SshConfigError {
                file: path.to_path_buf(),
                line: 0,
                reason: format!("cannot read it: {e}"),
            });
        }
    };
    parse(&text, path, query, home)
}

/// The settings of `text` (the content of `file`) that apply to `query`.
pub fn parse(
    text: &str,
    file: &Path,
    query: &Query<'_>,
    home: &Path,
) -> Result<HostConfig, SshConfigError> {
    let mut reader = Reader {
        query,
        home,
        config: HostConfig::default(),
    };
    // Before the first Host or Match line, settings apply to every host.
    reader.text(text, file, &mut true, 0)?;
    Ok(reader.config)
}

struct Reader<'a> {
    query: &'a Query<'a>,
    home: &'a Path,
    config: HostConfig,
}

impl Reader<'_> {
    /// Reads the lines of one file; `active` says whether the block they are in applies.
    fn text(
        &mut self,
        text: &str,
        file: &Path,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), SshConfigError> {
        for (index, line) in text.lines().enumerate() {
            let error = |reason: String| SshConfigError {
                file: file.to_path_buf(),
                line: index + 1,
                reason,
            };
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
            match key.to_ascii_lowercase().as_str() {
                "host" => {
                    let patterns = words(value).map_err(error)?;
                    *active = list_match(patterns.iter().map(String::as_str), self.query.alias)
                        == ListMatch::Yes;
                }
                "match" => *active = self.matches(value).map_err(error)?,
                // An Include in a block that does not apply can change nothing: OpenSSH
                // reads it with every Host and Match in it made false.
                "include" if *active => {
                    for path in self.include_paths(value).map_err(&error)? {
                        if depth + 1 > MAX_INCLUDE_DEPTH {
                            return Err(error(format!(
                                "more than {MAX_INCLUDE_DEPTH} nested Includes (does a file include itself?)"
                            )));
                        }
                        let included = std::fs::read(&path).map_err(|e| {
                            error(format!("cannot read the included {}: {e}", path.display()))
                        })?;
                        // A Host or Match inside the included file changes which lines
                        // apply there, but not back here, as in OpenSSH.
                        let mut inner = *active;
                        self.text(
                            &String::from_utf8_lossy(&included),
                            &path,
                            &mut inner,
                            depth + 1,
                        )?;
                    }
                }
                _ if !*active => {}
                other => self.setting(other, value).map_err(error)?,
            }
        }
        Ok(())
    }

    /// One setting; `raw` as written, quotes and all (file lists are split on them).
    fn setting(&mut self, key: &str, raw: &str) -> Result<(), String> {
        let value = raw.trim_matches('"');
        let files = match key {
            "userknownhostsfile" | "globalknownhostsfile" => Some(self.files(raw)?),
            _ => None,
        };
        let c = &mut self.config;
        match key {
            "hostname" if c.host_name.is_none() => {
                c.host_name = Some(value.replace("%h", self.query.alias).replace("%%", "%"));
            }
            "user" if c.user.is_none() => c.user = Some(value.to_string()),
            "port" if c.port.is_none() => {
                c.port =
                    Some(
                        value.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                            format!("Port {value} is not a port number (1-65535)")
                        })?,
                    );
            }
            "identityfile" => c.identity_files.push(expand(value, self.home)),
            "proxyjump" if c.proxy_jump.is_none() => {
                c.proxy_jump = Some(if value.eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    value.split(',').map(|h| h.trim().to_string()).collect()
                });
            }
            "userknownhostsfile" if c.user_known_hosts.is_none() => c.user_known_hosts = files,
            "globalknownhostsfile" if c.global_known_hosts.is_none() => {
                c.global_known_hosts = files;
            }
            _ => {}
        }
        Ok(())
    }

    /// A list of files as `UserKnownHostsFile` takes it: `none`, or paths separated by
    /// white space (quoted when they hold some), with `~`, `%d` (the home folder), `%u`
    /// (the local user) and `%%`.
    fn files(&self, value: &str) -> Result<Vec<PathBuf>, String> {
        let words = words(value)?;
        if let [only] = words.as_slice()
            && only.eq_ignore_ascii_case("none")
        {
            return Ok(Vec::new());
        }
        let mut files = Vec::with_capacity(words.len());
        for word in &words {
            let mut path = String::with_capacity(word.len());
            let mut chars = word.chars();
            while let Some(c) = chars.next() {
                if c != '%' {
                    path.push(c);
                    continue;
                }
                match chars.next() {
                    Some('%') => path.push('%'),
                    Some('d') => path.push_str(&self.home.to_string_lossy()),
                    Some('u') => path.push_str(self.query.local_user),
                    other => {
                        return Err(format!(
                            "{word}: %{} is not a token pgfleet expands in a known_hosts path (%d, %u and %% are)",
                            other.map(String::from).unwrap_or_default()
                        ));
                    }
                }
            }
            files.push(expand(&path, self.home));
        }
        Ok(files)
    }

    /// The files an `Include` names, as OpenSSH finds them: `~` is the home folder, a
    /// relative path is under `~/.ssh`, wildcards expand in name order, and a name
    /// that matches nothing is no error.
    fn include_paths(&self, value: &str) -> Result<Vec<PathBuf>, String> {
        let mut paths = Vec::new();
        for word in words(value)? {
            let path = expand(&word, self.home);
            let path = if path.is_absolute() {
                path
            } else {
                self.home.join(".ssh").join(path)
            };
            let pattern = path.to_string_lossy().into_owned();
            let found = glob::glob(&pattern)
                .map_err(|e| format!("Include {word}: {e}"))?
                .filter_map(Result::ok)
                .filter(|p| !p.is_dir());
            paths.extend(found);
        }
        Ok(paths)
    }

    /// Whether a `Match` line applies: every criterion must hold (`!` negates one). A
    /// criterion pgfleet cannot decide is an error only when the others all hold, since
    /// otherwise the block cannot apply whatever it says.
    fn matches(&self, value: &str) -> Result<bool, String> {
        let words = words(value)?;
        if words.is_empty() {
            return Err("Match needs criteria (host, originalhost, user, localuser, all)".into());
        }
        // As OpenSSH: `all` stands alone, or with `canonical` / `final` only.
        let is = |w: &String, names: &[&str]| {
            names
                .iter()
                .any(|n| w.trim_start_matches('!').eq_ignore_ascii_case(n))
        };
        if words.iter().any(|w| is(w, &["all"]))
            && words.iter().any(|w| !is(w, &["all", "canonical", "final"]))
        {
            return Err(
                "Match all cannot be combined with other criteria (but canonical and final)".into(),
            );
        }
        let mut result = true;
        let mut undecidable: Option<(String, &str)> = None;
        let mut words = words.iter();
        while let Some(word) = words.next() {
            let (negate, criterion) = match word.strip_prefix('!') {
                Some(c) => (true, c.to_ascii_lowercase()),
                None => (false, word.to_ascii_lowercase()),
            };
            let why = match criterion.as_str() {
                "all" => {
                    result &= !negate;
                    continue;
                }
                "canonical" | "final" => {
                    "it applies on OpenSSH's host-name canonicalization or final pass, which pgfleet does not make"
                }
                "host" | "originalhost" | "user" | "localuser" | "exec" | "localnetwork"
                | "tagged" | "command" | "version" | "sessiontype" => {
                    let Some(patterns) = words.next() else {
                        return Err(format!("Match {criterion} needs an argument"));
                    };
                    let subject = match criterion.as_str() {
                        // As OpenSSH: the HostName set so far, else the name given.
                        "host" => self.config.host_name.as_deref().unwrap_or(self.query.alias),
                        "originalhost" => self.query.alias,
                        "user" => self
                            .query
                            .user
                            .or(self.config.user.as_deref())
                            .unwrap_or(self.query.local_user),
                        "localuser" => self.query.local_user,
                        "exec" => {
                            "it runs a command to decide, which pgfleet never does while reading configuration"
                        }
                        "localnetwork" => {
                            "it depends on this machine's network interfaces, which pgfleet does not inspect"
                        }
                        "tagged" => "it depends on a Tag (`ssh -P`), which pgfleet never sets",
                        "command" => {
                            "it depends on the remote command of an ssh invocation; pgfleet runs none"
                        }
                        "version" => {
                            "it depends on the OpenSSH client's version, which pgfleet is not"
                        }
                        _ => "it depends on ssh's session type, which pgfleet does not have",
                    };
                    if matches!(
                        criterion.as_str(),
                        "host" | "originalhost" | "user" | "localuser"
                    ) {
                        let hit = list_match(patterns.split(','), subject) == ListMatch::Yes;
                        result &= hit != negate;
                        continue;
                    }
                    subject
                }
                other => {
                    return Err(format!(
                        "unknown Match criterion {other} (OpenSSH's are all, canonical, final, exec, localnetwork, host, originalhost, tagged, command, user, localuser, version, sessiontype)"
                    ));
                }
            };
            undecidable.get_or_insert((criterion, why));
        }
        match undecidable {
            Some((criterion, why)) if result => Err(format!(
                "`Match {criterion}` cannot be decided for {alias}: {why}. Give this host what it needs in a `Host {alias}` block or in the inventory (address, port, user, identity_file, jump), or add a criterion pgfleet can decide (host, originalhost, user, localuser) that leaves it out",
                alias = self.query.alias
            )),
            _ => Ok(result),
        }
    }
}

/// The words of a value, `"quoted"` or `'quoted'` ones kept whole, as OpenSSH splits them.
fn words(value: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' || c == '\'' {
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                        None => return Err(format!("unterminated {c}quote{c} in {value}")),
                    }
                }
            } else {
                word.push(c);
            }
        }
        words.push(word);
    }
    Ok(words)
}

fn expand(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if path == "~" => home.to_path_buf(),
        None => PathBuf::from(path),
    }
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

    fn query(alias: &str) -> Query<'_> {
        Query {
            alias,
            user: None,
            local_user: "me",
        }
    }

    fn at(text: &str, alias: &str) -> Result<HostConfig, SshConfigError> {
        parse(
            text,
            Path::new("/h/.ssh/config"),
            &query(alias),
            Path::new("/h"),
        )
    }

    #[test]
    fn first_value_wins_and_identity_files_add_up() {
        let c = parse(
            CONFIG,
            Path::new("config"),
            &query("nas"),
            Path::new("/home/u"),
        )
        .unwrap();
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
    fn known_hosts_files_are_lists_with_tokens_and_none() {
        let c = at(
            "Host a\n  UserKnownHostsFile ~/kh \"%d/with space\" /etc/%u/kh%%\n  GlobalKnownHostsFile none\nHost *\n  UserKnownHostsFile /ignored\n  GlobalKnownHostsFile /g\n",
            "a",
        )
        .unwrap();
        assert_eq!(
            c.user_known_hosts,
            Some(vec![
                PathBuf::from("/h/kh"),
                PathBuf::from("/h/with space"),
                PathBuf::from("/etc/me/kh%"),
            ])
        );
        assert_eq!(c.global_known_hosts, Some(Vec::new()));
        let other = at("Host *\n  UserKnownHostsFile=none\n", "b").unwrap();
        assert_eq!(other.user_known_hosts, Some(Vec::new()));
        assert_eq!(other.global_known_hosts, None);
        let bad = at("UserKnownHostsFile ~/kh_%h\n", "a").unwrap_err();
        assert_eq!(bad.line, 1);
        assert!(bad.reason.contains("%h is not a token"), "{bad}");
    }

    #[test]
    fn patterns_tokens_and_jumps() {
        let c = at(CONFIG, "pi.lab").unwrap();
        assert_eq!(c.host_name.as_deref(), Some("pi.lab.example.net"));
        assert_eq!(
            c.proxy_jump,
            Some(vec!["bastion".to_string(), "gate:2200".to_string()])
        );
        assert_eq!(c.user.as_deref(), Some("fallback"));
        let secret = at(CONFIG, "secret.lab").unwrap();
        assert_eq!(secret.host_name, None);
        // `Match host x` applies to x.
        assert_eq!(at(CONFIG, "x").unwrap().user.as_deref(), Some("nobody"));
    }

    #[test]
    fn match_criteria_as_openssh_decides_them() {
        let text = "Host db\n  HostName db.internal\nMatch host db.internal user deploy\n  Port 2200\nMatch originalhost db !localuser root\n  User ops\nMatch all\n  IdentityFile ~/k\n";
        let c = at(text, "db").unwrap();
        // `Match host` sees the HostName set above; `user` is the local user here.
        assert_eq!(c.port, None);
        assert_eq!(c.user.as_deref(), Some("ops"));
        assert_eq!(c.identity_files, [PathBuf::from("/h/k")]);
        let deploy = parse(
            text,
            Path::new("c"),
            &Query {
                alias: "db",
                user: Some("deploy"),
                local_user: "me",
            },
            Path::new("/h"),
        )
        .unwrap();
        assert_eq!(deploy.port, Some(2200));
    }

    #[test]
    fn undecidable_matches_are_refused_only_where_they_would_decide() {
        let text = "Host a\n  User x\n\nMatch host other exec \"test -f /x\"\n  Port 1\nMatch host db* localnetwork 10.0.0.0/8\n  Port 2\n";
        // For `a`, the first criterion of each Match already fails.
        assert_eq!(at(text, "a").unwrap().user.as_deref(), Some("x"));
        let err = at(text, "db1").unwrap_err();
        assert_eq!(err.line, 6, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("/h/.ssh/config:6: `Match localnetwork` cannot be decided for db1"),
            "{text}"
        );
        assert!(text.contains("network interfaces"), "{text}");
        for (line, why) in [
            ("Match", "needs criteria"),
            ("Match host", "needs an argument"),
            ("Match hots x", "unknown Match criterion hots"),
            ("Match all host x", "cannot be combined"),
            ("Match final", "final pass"),
            ("Match final all", "final pass"),
            ("Host a\nPort 99999", "not a port number"),
            ("Host \"a", "unterminated"),
        ] {
            let err = at(line, "a").unwrap_err().to_string();
            assert!(err.contains(why), "{line}: {err}");
        }
    }

    #[test]
    fn includes_apply_in_place_in_name_order_and_are_bounded() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("conf.d")).unwrap();
        // Relative to ~/.ssh, globbed in name order: 10 before 20, so 10's Port wins.
        std::fs::write(ssh.join("conf.d/20-b"), "Port 2020\nUser b\n").unwrap();
        std::fs::write(
            ssh.join("conf.d/10-a"),
            "Port 1010\nHost other\n  User other\n",
        )
        .unwrap();
        std::fs::write(ssh.join("inactive"), "Port 9\n").unwrap();
        let config = ssh.join("config");
        std::fs::write(
            &config,
            "Host nas\n  Include conf.d/*\n  Include missing-is-fine\nHost else\n  Include inactive\n",
        )
        .unwrap();
        let c = read(&config, &query("nas"), home.path()).unwrap();
        // The Host line inside 10-a did not end the including block: 20-b still applied.
        assert_eq!((c.port, c.user.as_deref()), (Some(1010), Some("b")));
        assert_eq!(
            read(&config, &query("else"), home.path()).unwrap().port,
            Some(9)
        );

        std::fs::write(ssh.join("loop"), "Include loop\n").unwrap();
        std::fs::write(&config, "Include ~/.ssh/loop\n").unwrap();
        let err = read(&config, &query("nas"), home.path()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("loop:1: more than 16 nested Includes (does a file include itself?)"),
            "{err}"
        );
    }
}
