//! `discover`'s output: the inventory on stdout, ready to redirect to a file (or, with
//! `--write`, one line saying where it went), and its JSON document. A host that was not
//! reached is told on stderr as any failed target is, and stays in the inventory as a
//! comment. No password is ever among the facts shown: only the variable that holds it.

use std::path::Path;

use serde_json::{Value, json};

use super::plural;
use crate::inventory::PasswordSource;
use crate::runner::Output;
use crate::runner::fleet::{Finished, TargetResult};
use crate::transport::discover::{Databases, MatchedBy};

/// The inventory's lines, or with `--write` what was written where.
pub(super) fn text(
    ids: &[String],
    ends: &[Finished<Output>],
    inventory: &str,
    write: Option<&Path>,
    found: usize,
) -> Vec<String> {
    let Some(path) = write else {
        return inventory.lines().map(str::to_string).collect();
    };
    let missed: Vec<&str> = ids
        .iter()
        .zip(ends)
        .filter(|(_, e)| !matches!(e.result, TargetResult::Done(_)))
        .map(|(id, _)| id.as_str())
        .collect();
    let hosts = ids.len() - missed.len();
    let mut line = if found == 0 {
        format!(
            "No running PostgreSQL database found on {hosts} host{}: nothing written to {}",
            plural(hosts),
            path.display()
        )
    } else {
        format!(
            "Wrote {}: {found} database{} on {hosts} host{}",
            path.display(),
            plural(found),
            plural(hosts)
        )
    };
    if !missed.is_empty() {
        line.push_str(&format!(
            "; not reached: {} (see the errors above)",
            missed.join(", ")
        ));
    }
    vec![line]
}

/// The document's own fields: the inventory, where it was written, how many targets.
pub(super) fn document_fields(inventory: &str, write: Option<&Path>, found: usize) -> Value {
    json!({
        "inventory": inventory,
        "written": write.filter(|_| found > 0).map(|p| p.display().to_string()),
        "databases_found": found,
    })
}

/// A host's fields: its PostgreSQL containers as found, and the targets written for it.
pub(super) fn json_fields(id: &str, end: &Finished<Output>) -> Option<Vec<(String, Value)>> {
    let mut fields = vec![
        ("host".to_string(), json!(id)),
        ("database".to_string(), json!("")),
    ];
    let TargetResult::Done(Output::Discovered(d)) = &end.result else {
        fields.push(("containers".into(), json!([])));
        fields.push(("databases".into(), json!([])));
        return Some(fields);
    };
    let containers: Vec<Value> = d
        .containers
        .iter()
        .map(|c| {
            let (databases, error) = match &c.databases {
                Databases::Listed(names) => (json!(names), Value::Null),
                Databases::NotListed => (Value::Null, Value::Null),
                Databases::Failed(why) => (Value::Null, json!(why)),
            };
            json!({
                "name": c.name,
                "image": c.image,
                "state": c.state,
                "matched_by": match c.matched_by {
                    MatchedBy::Image => "image",
                    MatchedBy::Settings => "settings",
                },
                "user": c.user,
                "postgres_db": c.database_setting,
                "password_variable": c.password_variable,
                "password_file": c.password_file,
                "port": c.port.unwrap_or(5432),
                "published": c.published,
                "compose": c.compose.as_ref().map(|(p, s)| json!({"project": p, "service": s})),
                "databases": databases,
                "error": error,
            })
        })
        .collect();
    let databases: Vec<Value> = d
        .entry
        .databases
        .iter()
        .map(|t| {
            json!({
                "target": format!("{id}/{}", t.name),
                "name": t.name,
                "container": t.container,
                "database": t.database,
                "user": t.user,
                "password": match &t.password {
                    PasswordSource::Container(var) => json!({"container": var}),
                    _ => Value::Null,
                },
                "method": t.method.as_str(),
                "port": t.port.unwrap_or(5432),
                "commented_out": t.commented.is_some(),
            })
        })
        .collect();
    fields.push(("containers".into(), json!(containers)));
    fields.push(("databases".into(), json!(databases)));
    Some(fields)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Error;
    use crate::inventory::write::{DatabaseEntry, HostEntry};
    use crate::inventory::{Connection, Host, Method};
    use crate::runner::discover::Discovered;

    fn ends() -> Vec<Finished<Output>> {
        let database = |commented: bool| DatabaseEntry {
            name: "app".into(),
            container: "app-db".into(),
            database: "app".into(),
            user: "postgres".into(),
            password: PasswordSource::Container("POSTGRES_PASSWORD".into()),
            method: Method::Tunnel,
            port: None,
            note: None,
            commented: commented.then(String::new),
        };
        let found = Discovered {
            entry: HostEntry {
                host: Host {
                    name: "nas".into(),
                    connection: Connection::Local,
                    docker_socket: crate::inventory::DEFAULT_DOCKER_SOCKET.into(),
                    groups: Vec::new(),
                },
                notes: Vec::new(),
                databases: vec![database(false), database(true)],
                trailing: Vec::new(),
            },
            containers: Vec::new(),
        };
        vec![
            Finished {
                took: Duration::from_millis(5),
                result: TargetResult::Done(Output::Discovered(Box::new(found))),
            },
            Finished {
                took: Duration::from_millis(5),
                result: TargetResult::Failed(Error::Config("pi: no route".into())),
            },
        ]
    }

    #[test]
    fn written_says_where_and_who_was_not_reached() {
        let ids = ["nas".to_string(), "pi".to_string()];
        let ends = ends();
        assert_eq!(
            text(
                &ids,
                &ends,
                "hosts:\n  nas: {}\n",
                Some(Path::new("home.yml")),
                1
            ),
            ["Wrote home.yml: 1 database on 1 host; not reached: pi (see the errors above)"]
        );
        assert_eq!(
            text(&ids, &ends, "hosts:\n  nas: {}\n", None, 1),
            ["hosts:", "  nas: {}"]
        );
        assert_eq!(
            text(&ids, &ends, "", Some(Path::new("home.yml")), 0)[0],
            "No running PostgreSQL database found on 1 host: nothing written to home.yml; not reached: pi (see the errors above)"
        );
        let fields = json_fields("nas", &ends[0]).unwrap();
        let databases = &fields.iter().find(|(k, _)| k == "databases").unwrap().1;
        assert_eq!(databases[0]["target"], "nas/app");
        assert_eq!(
            databases[0]["password"],
            json!({"container": "POSTGRES_PASSWORD"})
        );
        assert_eq!(databases[1]["commented_out"], true);
    }
}
