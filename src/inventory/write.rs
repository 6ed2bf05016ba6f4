//! An inventory written out as YAML, in the format `load` reads (`discover` writes one).
//! Rendered by hand rather than serialised: it carries comments (what was found, what was
//! left out and why, the `postgres` database offered commented out), and keys keep the
//! order a person reads them in. Every scalar is written plain only when YAML cannot read
//! it as anything but that string; otherwise it is double-quoted with JSON's escapes,
//! which YAML's double-quoted style reads the same way.

use std::time::Duration;

use super::{Connection, DEFAULT_DOCKER_SOCKET, Host, Jump, Method, PasswordSource};

/// A host of the inventory, with its databases.
#[derive(Debug, Clone)]
pub struct HostEntry {
    /// Its name and how it is reached.
    pub host: Host,
    /// Comment lines above its settings.
    pub notes: Vec<String>,
    pub databases: Vec<DatabaseEntry>,
    /// Comment lines after its databases (containers left out, and why).
    pub trailing: Vec<String>,
}

/// One database target, written with every key, so the file says what pgfleet would
/// otherwise read from the container each time.
#[derive(Debug, Clone)]
pub struct DatabaseEntry {
    pub name: String,
    pub container: String,
    pub database: String,
    pub user: String,
    /// `None` or a container variable: discover never writes a value.
    pub password: PasswordSource,
    pub method: Method,
    /// PostgreSQL's port inside the container, when not 5432.
    pub port: Option<u16>,
    /// A comment line above it.
    pub note: Option<String>,
    /// Written commented out, after this reason.
    pub commented: Option<String>,
}

/// The inventory's text: `header` as comment lines, then `hosts:`. A host with no
/// database that no written host jumps through is written commented out (the loader
/// refuses such a host), with its notes.
pub fn render(header: &[String], hosts: &[HostEntry]) -> String {
    let mut out = String::new();
    for line in header {
        comment(&mut out, "", line);
    }
    if !header.is_empty() {
        out.push('\n');
    }
    out.push_str("hosts:\n");
    let active = |h: &HostEntry| h.databases.iter().any(|d| d.commented.is_none());
    let jumped_through = |name: &str| {
        hosts.iter().filter(|h| active(h)).any(|h| {
            matches!(&h.host.connection, Connection::Ssh(s) if s.jump == Some(Jump::Host(name.to_string())))
        })
    };
    for (i, entry) in hosts.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let written = active(entry) || jumped_through(&entry.host.name);
        let mut text = String::new();
        host(&mut text, entry);
        if written {
            out.push_str(&text);
        } else {
            for line in text.lines() {
                match line.trim_start().strip_prefix("# ") {
                    // Notes stay as they are; the rest is commented out under them.
                    Some(_) => out.push_str(line),
                    None => {
                        let indent = line.len() - line.trim_start().len();
                        out.push_str(&line[..indent]);
                        out.push_str("# ");
                        out.push_str(line.trim_start());
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

fn host(out: &mut String, entry: &HostEntry) {
    let h = &entry.host;
    for note in &entry.notes {
        comment(out, "  ", note);
    }
    out.push_str(&format!("  {}:\n", scalar(&h.name)));
    let key = |out: &mut String, k: &str, v: &str| out.push_str(&format!("    {k}: {v}\n"));
    match &h.connection {
        Connection::Local => key(out, "local", "true"),
        Connection::Ssh(s) => {
            if s.address != h.name {
                key(out, "address", &scalar(&s.address));
            }
            if let Some(port) = s.port {
                key(out, "port", &port.to_string());
            }
            if let Some(user) = &s.user {
                key(out, "user", &scalar(user));
            }
            if !s.identity_files.is_empty() {
                let files: Vec<String> = s
                    .identity_files
                    .iter()
                    .map(|p| scalar(&p.display().to_string()))
                    .collect();
                key(out, "identity_files", &format!("[{}]", files.join(", ")));
            }
            if !s.known_hosts.is_empty() {
                let files: Vec<String> = s
                    .known_hosts
                    .iter()
                    .map(|p| scalar(&p.display().to_string()))
                    .collect();
                key(out, "known_hosts", &format!("[{}]", files.join(", ")));
            }
            if let Some(jump) = &s.jump {
                key(out, "jump", &scalar(&jump.to_string()));
            }
            if s.connect_timeout != Duration::from_secs(10) {
                key(out, "connect_timeout", &duration(s.connect_timeout));
            }
            if s.keepalive != Duration::from_secs(15) {
                key(out, "keepalive", &duration(s.keepalive));
            }
        }
    }
    if h.docker_socket != DEFAULT_DOCKER_SOCKET {
        key(out, "docker_socket", &scalar(&h.docker_socket));
    }
    if !entry.databases.is_empty() {
        out.push_str("    databases:\n");
    }
    for d in &entry.databases {
        database(out, d);
    }
    for line in &entry.trailing {
        comment(out, "    ", line);
    }
}

fn database(out: &mut String, d: &DatabaseEntry) {
    let prefix = if d.commented.is_some() { "# " } else { "" };
    if let Some(why) = &d.commented {
        comment(out, "      ", why);
    }
    if let Some(note) = &d.note {
        comment(out, "      ", note);
    }
    let mut lines = vec![
        format!("{}:", scalar(&d.name)),
        format!("  container: {}", scalar(&d.container)),
        format!("  database: {}", scalar(&d.database)),
        format!("  user: {}", scalar(&d.user)),
    ];
    if let PasswordSource::Container(var) = &d.password {
        lines.push(format!("  password: {{ container: {} }}", scalar(var)));
    }
    lines.push(format!("  method: {}", d.method));
    if let Some(port) = d.port {
        lines.push(format!("  port: {port}"));
    }
    for line in lines {
        out.push_str(&format!("      {prefix}{line}\n"));
    }
}

/// `# text` at `indent`, one comment line per line of `text`.
fn comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        out.push_str(indent);
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
}

/// `10s`, `1500ms`, `off`: as the loader reads durations.
fn duration(d: Duration) -> String {
    if d.is_zero() {
        "off".into()
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A string as YAML reads it back unchanged: plain when it is a name no YAML schema reads
/// as anything else (letters, digits, `_ . -`, starting with a letter or `_`, not a word
/// YAML 1.1 makes a boolean or null; or a dotted IPv4 address), else double-quoted.
pub fn scalar(text: &str) -> String {
    const WORDS: &[&str] = &[
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf",
    ];
    let name = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !WORDS.contains(&text.to_ascii_lowercase().as_str());
    let ipv4 = text.split('.').count() == 4
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()));
    if name || ipv4 {
        text.to_string()
    } else {
        serde_json::Value::String(text.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::inventory::{ContainerRef, SshSettings};

    fn ssh_host(name: &str, address: &str, user: Option<&str>, port: Option<u16>) -> Host {
        Host {
            name: name.into(),
            connection: Connection::Ssh(SshSettings {
                address: address.into(),
                port,
                user: user.map(str::to_string),
                identity_files: Vec::new(),
                identity_at: None,
                known_hosts: Vec::new(),
                jump: None,
                connect_timeout: Duration::from_secs(10),
                keepalive: Duration::from_secs(15),
            }),
            docker_socket: DEFAULT_DOCKER_SOCKET.into(),
            groups: Vec::new(),
        }
    }

    fn db(name: &str, database: &str, user: &str) -> DatabaseEntry {
        DatabaseEntry {
            name: name.into(),
            container: "db-1".into(),
            database: database.into(),
            user: user.into(),
            password: PasswordSource::Container("POSTGRES_PASSWORD".into()),
            method: Method::Tunnel,
            port: None,
            note: None,
            commented: None,
        }
    }

    fn load(text: &str) -> crate::inventory::Inventory {
        super::super::from_sources(
            Path::new("discovered.yml"),
            &[(PathBuf::from("discovered.yml"), text.to_string())],
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn names_that_need_quotes_come_back_unchanged() {
        let odd = [
            "yes",
            "No",
            "off",
            "null",
            "123",
            "1e3",
            "0x1F",
            "a b",
            "x: y",
            "#tag",
            "-dash",
            "say \"hi\"",
            "back\\slash",
            "naïve",
            "~",
            "[list]",
            "{map}",
            "tab\there",
            "app",
            "a.b-c_d",
        ];
        let mut host = HostEntry {
            host: ssh_host("nas", "192.168.1.10", Some("no"), Some(2222)),
            notes: vec!["a note".into()],
            databases: Vec::new(),
            trailing: Vec::new(),
        };
        for (i, name) in odd.iter().enumerate() {
            let mut d = db(&format!("db{i}"), name, name);
            d.container = format!("{name}-c");
            host.databases.push(d);
        }
        let text = render(&["header".into()], &[host]);
        let inv = load(&text);
        assert_eq!(inv.targets.len(), odd.len());
        for (t, name) in inv.targets.iter().zip(odd) {
            assert_eq!(t.database.as_deref(), Some(name), "{text}");
            assert_eq!(t.user.as_deref(), Some(name), "{text}");
            assert_eq!(t.container, ContainerRef::Name(format!("{name}-c")));
            assert_eq!(
                t.password,
                PasswordSource::Container("POSTGRES_PASSWORD".into())
            );
            assert_eq!(t.method, Method::Tunnel);
        }
        let Connection::Ssh(s) = &inv.hosts[0].connection else {
            panic!("ssh")
        };
        assert_eq!(
            (s.address.as_str(), s.user.as_deref(), s.port),
            ("192.168.1.10", Some("no"), Some(2222))
        );
    }

    #[test]
    fn left_out_databases_and_empty_hosts_are_comments() {
        let mut postgres = db("postgres", "postgres", "postgres");
        postgres.commented = Some("the maintenance database: uncomment to manage it".into());
        let mut exec = db("app", "app", "app");
        exec.password = PasswordSource::None;
        exec.method = Method::Exec;
        exec.port = Some(5433);
        exec.note = Some("published 0.0.0.0:5433->5433/tcp".into());
        let alpha = HostEntry {
            host: ssh_host("alpha", "alpha", None, None),
            notes: Vec::new(),
            databases: vec![exec, postgres.clone()],
            trailing: vec!["stopped: old-db (postgres:13): start it and run discover again".into()],
        };
        let empty = HostEntry {
            host: ssh_host("beta", "10.0.0.2", None, None),
            notes: vec!["no PostgreSQL container runs here".into()],
            databases: vec![postgres],
            trailing: Vec::new(),
        };
        let text = render(&[], &[alpha, empty]);
        assert_eq!(
            text,
            "hosts:
  alpha:
    databases:
      # published 0.0.0.0:5433->5433/tcp
      app:
        container: db-1
        database: app
        user: app
        method: exec
        port: 5433
      # the maintenance database: uncomment to manage it
      # postgres:
      #   container: db-1
      #   database: postgres
      #   user: postgres
      #   password: { container: POSTGRES_PASSWORD }
      #   method: tunnel
    # stopped: old-db (postgres:13): start it and run discover again

  # no PostgreSQL container runs here
  # beta:
    # address: 10.0.0.2
    # databases:
      # the maintenance database: uncomment to manage it
      # postgres:
      #   container: db-1
      #   database: postgres
      #   user: postgres
      #   password: { container: POSTGRES_PASSWORD }
      #   method: tunnel
"
        );
        let inv = load(&text);
        assert_eq!(inv.targets.len(), 1);
        assert_eq!(inv.targets[0].port, 5433);
        assert_eq!(inv.targets[0].password, PasswordSource::None);
    }
}
