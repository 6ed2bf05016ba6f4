//! What `inventory` prints: one block per target, saying where each setting landed.
//! Passwords are shown as their source (`env NAME`, …), never read.

use crate::inventory::{Connection, ContainerRef, DEFAULT_DOCKER_SOCKET, Inventory, Target};

pub(super) fn listing(targets: &[&Target], inv: &Inventory) -> Vec<String> {
    let mut lines = Vec::new();
    for t in targets {
        let host = inv.host(&t.host);
        let connection = match host.map(|h| &h.connection) {
            Some(Connection::Local) => "local docker".to_owned(),
            Some(Connection::Ssh(ssh)) => {
                let mut text = String::from("ssh ");
                if let Some(user) = &ssh.user {
                    text.push_str(&format!("{user}@"));
                }
                match ssh.port {
                    Some(port) if ssh.address.contains(':') => {
                        text.push_str(&format!("[{}]:{port}", ssh.address))
                    }
                    Some(port) => text.push_str(&format!("{}:{port}", ssh.address)),
                    None => text.push_str(&ssh.address),
                }
                if let Some(jump) = &ssh.jump {
                    text.push_str(&format!(" via {jump}"));
                }
                text
            }
            None => "?".to_owned(),
        };
        lines.push(t.id());
        lines.push(format!("  connection  {connection}"));
        if let Some(h) = host {
            if h.docker_socket != DEFAULT_DOCKER_SOCKET {
                lines.push(format!("  docker      {}", h.docker_socket));
            }
            if !h.groups.is_empty() {
                lines.push(format!("  groups      {}", h.groups.join(", ")));
            }
        }
        let container = match &t.container {
            ContainerRef::Name(name) => name.clone(),
            ContainerRef::Label(label) => format!("label {label}"),
        };
        lines.push(format!("  container   {container}, port {}", t.port));
        lines.push(format!(
            "  database    {}",
            t.database
                .as_deref()
                .unwrap_or("from the container (POSTGRES_DB, else the user)")
        ));
        lines.push(format!(
            "  user        {}",
            t.user
                .as_deref()
                .unwrap_or("from the container (POSTGRES_USER)")
        ));
        lines.push(format!("  password    {}", t.password));
        lines.push(format!("  method      {}", t.method));
        lines.push(format!("  migrations  {}", t.migrations.display()));
        lines.push(String::new());
    }
    let hosts = {
        let mut names: Vec<&str> = targets.iter().map(|t| t.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut summary = format!(
        "{} on {}",
        plural(targets.len(), "target"),
        plural(hosts, "host")
    );
    if targets.len() < inv.targets.len() {
        summary.push_str(&format!(
            " (of {} in the inventory)",
            plural(inv.targets.len(), "target")
        ));
    }
    lines.push(summary);
    lines
}
