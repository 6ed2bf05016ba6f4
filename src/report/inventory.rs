//! What `inventory` prints: one block per target, saying where each setting landed.
//! Passwords are shown as their source (`env NAME`, …), never read.

use serde_json::{Value, json};

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
    if !inv.skipped.is_empty() {
        let mut shown: Vec<&str> = inv.skipped.iter().take(5).map(String::as_str).collect();
        if inv.skipped.len() > shown.len() {
            shown.push("…");
        }
        lines.push(format!(
            "{} skipped: no pgfleet_databases ({})",
            plural(inv.skipped.len(), "host"),
            shown.join(", ")
        ));
    }
    lines
}

/// `inventory --format json`: each selected target, its host, and the hosts left out.
pub(super) fn json(targets: &[&Target], inv: &Inventory) -> Value {
    let mut doc = Value::Object(super::json::head("inventory", crate::error::ExitCode::Ok));
    doc["targets"] = targets
        .iter()
        .map(|t| {
            let (container, label) = match &t.container {
                ContainerRef::Name(n) => (Some(n), None),
                ContainerRef::Label(l) => (None, Some(l)),
            };
            json!({
                "target": t.id(),
                "host": t.host,
                "database": t.name,
                "container": container,
                "label": label,
                "dbname": t.database,
                "user": t.user,
                "password": t.password.to_string(),
                "method": t.method.as_str(),
                "migrations": t.migrations.display().to_string(),
                "port": t.port,
            })
        })
        .collect();
    let mut names: Vec<&str> = targets.iter().map(|t| t.host.as_str()).collect();
    names.dedup();
    doc["hosts"] = names
        .iter()
        .filter_map(|n| inv.host(n))
        .map(|h| {
            let mut host = json!({
                "name": h.name,
                "groups": h.groups,
                "docker_socket": h.docker_socket,
                "local": matches!(h.connection, Connection::Local),
            });
            if let Connection::Ssh(ssh) = &h.connection {
                let paths = |ps: &[std::path::PathBuf]| {
                    ps.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                };
                host["address"] = json!(ssh.address);
                host["port"] = json!(ssh.port);
                host["user"] = json!(ssh.user);
                host["identity_files"] = json!(paths(&ssh.identity_files));
                host["known_hosts"] = json!(paths(&ssh.known_hosts));
                host["jump"] = json!(ssh.jump.as_ref().map(ToString::to_string));
            }
            host
        })
        .collect();
    doc["skipped_hosts"] = json!(inv.skipped);
    doc
}
