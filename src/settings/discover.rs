//! `discover HOST…`: each HOST read as OpenSSH reads a destination, named for the inventory
//! it writes, and `--write`'s file checked, before any host is contacted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::inventory::{self, Connection, Host, Inventory, Jump, SshSettings};

/// `discover`'s own flags, as given.
#[derive(Debug, Clone)]
pub struct DiscoverArgs {
    /// `host`, `user@host`, `user@host:port`, `ssh://user@host:port`, a `~/.ssh/config`
    /// alias, or (with `-i`) a host of that inventory.
    pub hosts: Vec<String>,
    /// Write the inventory to this file rather than stdout.
    pub write: Option<PathBuf>,
    /// Replace `write`'s file when it exists.
    pub force: bool,
}

/// What `discover` does, validated: the hosts as an inventory (so they are reached exactly
/// as inventory hosts are), each with the words it was given in.
#[derive(Debug, Clone)]
pub struct DiscoverJob {
    /// The hosts to visit, in the order given, with no databases yet; then the hosts of
    /// `-i`'s inventory they jump through, which are not visited.
    pub inventory: Inventory,
    /// Each visited host's argument as given, in the same order.
    pub given: Vec<String>,
    pub write: Option<PathBuf>,
    pub force: bool,
}

/// One HOST argument, as OpenSSH reads a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Destination {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

/// Characters an inventory name may not hold (`inventory/resolve.rs` refuses them).
fn bad_name(name: &str) -> bool {
    name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || "/,!*?[]{}".contains(c))
}

/// `[ssh://][user@]host[:port]`, `host` possibly `[v6]`; a bare IPv6 address has no port.
fn destination(text: &str) -> Result<Destination, Error> {
    let bad = |why: &str| {
        Error::Usage(format!(
            "discover: {text:?} is not a host: {why}; give host, user@host, user@host:port or ssh://user@host:port, as to ssh"
        ))
    };
    let uri = text.strip_prefix("ssh://");
    let rest = match uri {
        Some(rest) => rest.strip_suffix('/').unwrap_or(rest),
        None => text,
    };
    if uri.is_some() && rest.contains('/') {
        return Err(bad("an ssh:// address has no path"));
    }
    let (user, hostport) = match rest.rsplit_once('@') {
        Some(("", _)) => return Err(bad("the user before @ is empty")),
        Some((user, hostport)) => (Some(user.to_string()), hostport),
        None => (None, rest),
    };
    let port = |p: &str| -> Result<u16, Error> {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(&format!("{p:?} is not a port (1 to 65535)")))
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err(bad("the [ of an IPv6 address is not closed"));
        };
        match after {
            "" => (host.to_string(), None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host.to_string(), Some(port(p)?)),
                None => return Err(bad("only :port may follow ]")),
            },
        }
    } else if hostport.matches(':').count() > 1 {
        // A bare IPv6 address: ssh takes it whole, with no port.
        (hostport.to_string(), None)
    } else {
        match hostport.split_once(':') {
            Some((host, p)) => (host.to_string(), Some(port(p)?)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || "/,!*?[]{}@".contains(c))
    {
        return Err(bad("the host name holds a character no host name has"));
    }
    Ok(Destination { user, host, port })
}

/// Validates `discover`'s hosts and `--write`. With `-i`, a HOST that is a host of that
/// inventory is reached with its settings (and written with them); every other HOST is
/// an OpenSSH destination, completed by `~/.ssh/config` as `ssh` would.
pub(super) fn read(args: &DiscoverArgs, given: Option<&Inventory>) -> Result<DiscoverJob, Error> {
    let mut hosts: Vec<(Host, Option<u16>)> = Vec::new();
    for text in &args.hosts {
        if let Some(host) = given.and_then(|inv| inv.host(text)) {
            hosts.push((host.clone(), None));
            continue;
        }
        let d = destination(text)?;
        hosts.push((
            Host {
                name: d.host.clone(),
                connection: Connection::Ssh(SshSettings {
                    address: d.host,
                    port: d.port,
                    user: d.user,
                    identity_files: Vec::new(),
                    identity_at: None,
                    known_hosts: Vec::new(),
                    jump: None,
                    connect_timeout: Duration::from_secs(10),
                    keepalive: Duration::from_secs(15),
                }),
                docker_socket: inventory::DEFAULT_DOCKER_SOCKET.into(),
                groups: Vec::new(),
            },
            d.port,
        ));
    }
    // One address on several ports (sshd's in front of one machine's containers) gives
    // one host each, named `address-port`.
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.name.clone()).collect();
    for (host, port) in &mut hosts {
        if let Some(port) = port
            && names.iter().filter(|n| **n == host.name).count() > 1
        {
            host.name = format!("{}-{port}", host.name);
        }
    }
    for (i, (host, _)) in hosts.iter().enumerate() {
        if bad_name(&host.name) {
            return Err(Error::Usage(format!(
                "discover: {:?} cannot name an inventory host (no whitespace or / , ! * ? [ ] {{ }}); add a Host alias for it to ~/.ssh/config and give the alias",
                host.name
            )));
        }
        if let Some(j) = hosts[..i].iter().position(|(h, _)| h.name == host.name) {
            return Err(Error::Usage(format!(
                "discover: {} and {} are the same host {}: give each host once",
                args.hosts[j], args.hosts[i], host.name
            )));
        }
    }
    if let Some(path) = &args.write {
        writable(path, args.force)?;
    }
    let mut hosts: Vec<Host> = hosts.into_iter().map(|(h, _)| h).collect();
    // The jump hosts of the inventory's hosts come along, so that they are reached (and
    // written) as that inventory has them.
    let mut i = 0;
    while let (Some(inv), Some(host)) = (given, hosts.get(i)) {
        if let Connection::Ssh(SshSettings {
            jump: Some(Jump::Host(via)),
            ..
        }) = &host.connection
            && !hosts.iter().any(|h| h.name == *via)
            && let Some(jump) = inv.host(via)
        {
            hosts.push(jump.clone());
        }
        i += 1;
    }
    Ok(DiscoverJob {
        inventory: Inventory {
            hosts,
            targets: Vec::new(),
            skipped: Vec::new(),
        },
        given: args.hosts.clone(),
        write: args.write.clone(),
        force: args.force,
    })
}

/// `--write FILE`: refused up front when it exists (without `--force`) or its folder does
/// not, so no host is visited for an inventory that cannot be written.
fn writable(path: &Path, force: bool) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "--write {}: that is a folder; give a file name, e.g. {}",
            path.display(),
            path.join("discovered.yml").display()
        )));
    }
    if path.exists() && !force {
        return Err(Error::Usage(format!(
            "--write {}: the file exists; pass --force to replace it, or write to another file",
            path.display()
        )));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(Error::Usage(format!(
            "--write {}: the folder {} does not exist; create it first",
            path.display(),
            folder.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(user: Option<&str>, host: &str, port: Option<u16>) -> Destination {
        Destination {
            user: user.map(str::to_string),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn destinations_read_as_openssh_reads_them() {
        assert_eq!(destination("nas").unwrap(), d(None, "nas", None));
        assert_eq!(
            destination("admin@nas").unwrap(),
            d(Some("admin"), "nas", None)
        );
        assert_eq!(
            destination("admin@192.168.1.10:2222").unwrap(),
            d(Some("admin"), "192.168.1.10", Some(2222))
        );
        assert_eq!(
            destination("ssh://admin@nas.lan:2222").unwrap(),
            d(Some("admin"), "nas.lan", Some(2222))
        );
        assert_eq!(destination("ssh://nas/").unwrap(), d(None, "nas", None));
        assert_eq!(
            destination("root@[fe80::1]:22").unwrap(),
            d(Some("root"), "fe80::1", Some(22))
        );
        assert_eq!(destination("fe80::1").unwrap(), d(None, "fe80::1", None));
        // The last @ separates: a user name may hold one (OpenSSH does the same).
        assert_eq!(destination("a@b@nas").unwrap(), d(Some("a@b"), "nas", None));
        for bad in [
            "",
            "@nas",
            "nas:",
            "nas:0",
            "nas:99999",
            "nas:ssh",
            "ssh://nas/path",
            "[fe80::1",
            "[::1]x",
            "a b",
        ] {
            let e = destination(bad).unwrap_err().to_string();
            assert!(
                e.contains("is not a host") && e.contains("user@host:port"),
                "{bad}: {e}"
            );
        }
    }

    fn args(hosts: &[&str]) -> DiscoverArgs {
        DiscoverArgs {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            write: None,
            force: false,
        }
    }

    fn names(job: &DiscoverJob) -> Vec<&str> {
        job.inventory
            .hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect()
    }

    #[test]
    fn hosts_are_named_for_the_inventory() {
        let job = read(&args(&["alpha", "deploy@nas.lan:2222"]), None).unwrap();
        assert_eq!(names(&job), ["alpha", "nas.lan"]);
        let Connection::Ssh(s) = &job.inventory.hosts[1].connection else {
            panic!("ssh")
        };
        assert_eq!(
            (s.address.as_str(), s.user.as_deref(), s.port),
            ("nas.lan", Some("deploy"), Some(2222))
        );
        // One address behind several ports: one host per port.
        let job = read(&args(&["127.0.0.1:22201", "u@127.0.0.1:22202"]), None).unwrap();
        assert_eq!(names(&job), ["127.0.0.1-22201", "127.0.0.1-22202"]);
        let e = read(&args(&["nas", "admin@nas"]), None).unwrap_err();
        assert!(e.to_string().contains("same host nas"), "{e}");
    }

    #[test]
    fn write_refuses_an_existing_file_without_force() {
        let dir = std::env::temp_dir().join(format!("pgfleet-discover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("fleet.yml");
        std::fs::write(&file, "hosts: {}\n").unwrap();
        let mut a = args(&["nas"]);
        a.write = Some(file.clone());
        let e = read(&a, None).unwrap_err().to_string();
        assert!(e.contains("the file exists; pass --force"), "{e}");
        a.force = true;
        assert!(read(&a, None).is_ok());
        a.write = Some(dir.join("no/such/folder.yml"));
        let e = read(&a, None).unwrap_err().to_string();
        assert!(e.contains("does not exist; create it first"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
