//! Ansible's INI inventory: `[group]` host lines (`name key=value …`, ranges, `name:port`),
//! `[group:vars]` and `[group:children]`; values read as Python literals, as Ansible does.
//! Errors point at the line and column and never quote a value (it may be a password).

use std::path::Path;

use super::ansible::{Model, expand_host_pattern, shell_tokens};
use super::ansible_node::{Key, Node, VAULT_HEADER, Val, parse_yaml};
use super::error::{InventoryError, Loc};

type Result<T, E = InventoryError> = std::result::Result<T, E>;

enum Section {
    Hosts(usize),
    Vars(usize),
    Children(usize),
}

pub(super) fn parse(model: &mut Model, file: &Path, text: &str) -> Result<()> {
    let at = |line: usize, column: usize| Loc {
        file: file.to_path_buf(),
        line,
        column,
    };
    let mut section = Section::Hosts(model.group("ungrouped"));
    // `[g:vars]` may come before `[g]`; a group never defined is an error at the end.
    let mut pending: Vec<(String, Loc)> = Vec::new();
    let mut defined: Vec<String> = vec!["all".into(), "ungrouped".into()];
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let col = indent + 1;
        if line.starts_with('[') {
            let header = line.split(" #").next().unwrap_or(line).trim_end();
            let Some(inner) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) else {
                return Err(InventoryError::at(
                    &at(line_no, col),
                    "a section line is [group], [group:vars] or [group:children]; close the ]",
                ));
            };
            let (name, kind) = match inner.split_once(':') {
                Some((n, k)) => (n, k),
                None => (inner, "hosts"),
            };
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(InventoryError::at(
                    &at(line_no, col + 1),
                    "a group name is empty or holds spaces; write [group]",
                ));
            }
            let g = model.group(name);
            section = match kind {
                "hosts" => Section::Hosts(g),
                "children" => Section::Children(g),
                "vars" => {
                    if !defined.iter().any(|d| d == name) {
                        pending.push((name.to_owned(), at(line_no, col + 1)));
                    }
                    Section::Vars(g)
                }
                other => {
                    return Err(InventoryError::at(
                        &at(line_no, col + 1 + name.len() + 1),
                        format!(
                            "section [{name}:{}] has an unknown type; write [{name}], [{name}:vars] or [{name}:children]",
                            other.escape_debug()
                        ),
                    ));
                }
            };
            if kind != "vars" {
                defined.push(name.to_owned());
            }
            continue;
        }
        match section {
            Section::Hosts(g) => {
                let tokens = shell_tokens(line);
                let Some((pattern, pcol)) = tokens.first() else {
                    continue;
                };
                let (names, port) = expand_host_pattern(pattern)
                    .map_err(|why| InventoryError::at(&at(line_no, col + pcol), why))?;
                let mut vars = Vec::new();
                for (token, tcol) in &tokens[1..] {
                    let here = at(line_no, col + tcol);
                    let Some((key, value)) = token.split_once('=') else {
                        return Err(InventoryError::at(
                            &here,
                            "expected key=value here (a host line is `name key=value …`; quote a value that holds spaces)",
                        ));
                    };
                    let value_at = at(line_no, col + tcol + key.len() + 1);
                    vars.push((
                        Key {
                            name: key.to_owned(),
                            at: here.clone(),
                        },
                        literal(value, &value_at),
                    ));
                }
                for name in names {
                    let h = model.add_host(g, &name, &at(line_no, col + pcol));
                    for (k, v) in &vars {
                        model.set_host_var(h, k.clone(), v.clone());
                    }
                    if let Some(port) = port {
                        let here = at(line_no, col + pcol);
                        model.set_host_var(
                            h,
                            Key {
                                name: "ansible_port".into(),
                                at: here.clone(),
                            },
                            Val {
                                node: Node::Int(port.into()),
                                at: here,
                            },
                        );
                    }
                }
            }
            Section::Vars(g) => {
                let Some((key, value)) = line.split_once('=') else {
                    return Err(InventoryError::at(
                        &at(line_no, col),
                        "expected key=value here (a [group:vars] section holds variable=value lines)",
                    ));
                };
                let key_text = key.trim();
                let value_text = value.trim();
                let value_col =
                    col + line.len() - value.len() + (value.len() - value.trim_start().len());
                let key = Key {
                    name: key_text.to_owned(),
                    at: at(line_no, col),
                };
                let value = literal(&unquote(value_text), &at(line_no, value_col));
                model.set_group_var(g, key, value)?;
            }
            Section::Children(g) => {
                let child = line.split_whitespace().next().unwrap_or(line);
                let c = model.group(child);
                model.add_child(g, c, &at(line_no, col))?;
                if !defined.iter().any(|d| d == child) {
                    defined.push(child.to_owned());
                }
            }
        }
    }
    if let Some((name, loc)) = pending.into_iter().find(|(n, _)| !defined.contains(n)) {
        return Err(InventoryError::at(
            &loc,
            format!(
                "[{name}:vars] is for a group that is not defined; add a [{name}] section (or list it under a [parent:children]), or fix the name"
            ),
        ));
    }
    Ok(())
}

/// A `[group:vars]` value in quotes is the text inside them (Python's literal_eval).
fn unquote(text: &str) -> String {
    for q in ['\'', '"'] {
        if text.len() >= 2 && text.starts_with(q) && text.ends_with(q) {
            return text[1..text.len() - 1].to_owned();
        }
    }
    text.to_owned()
}

/// A value as Ansible's `ast.literal_eval` reads it: numbers, True/False/None, and lists
/// and dicts (read as YAML flow collections, which Python's literals are); otherwise text.
fn literal(text: &str, at: &Loc) -> Val {
    let node = if text.starts_with(VAULT_HEADER) {
        Node::Vault
    } else if (text.starts_with('{') && text.ends_with('}'))
        || (text.starts_with('[') && text.ends_with(']'))
    {
        match parse_yaml(&at.file, text) {
            Ok(v) => return shift(v, at),
            Err(_) => Node::Str(text.to_owned()),
        }
    } else if let Some(i) = python_int(text) {
        Node::Int(i)
    } else if text.contains(['.', 'e', 'E'])
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE_".contains(c))
        && let Ok(f) = text.replace('_', "").parse::<f64>()
    {
        Node::Float(f)
    } else {
        match text {
            "True" => Node::Bool(true),
            "False" => Node::Bool(false),
            "None" => Node::Null,
            _ => Node::Str(text.to_owned()),
        }
    };
    Val {
        node,
        at: at.clone(),
    }
}

/// A Python int literal (`22`, `-1`, `1_000`; not `022`).
fn python_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty()
        || !digits.starts_with(|c: char| c.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
        || digits.ends_with('_')
    {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// Places a value parsed from a substring at its place on the INI line.
fn shift(v: Val, origin: &Loc) -> Val {
    let at = Loc {
        file: origin.file.clone(),
        line: origin.line,
        column: origin.column + v.at.column.saturating_sub(1),
    };
    let node = match v.node {
        Node::Seq(items) => Node::Seq(items.into_iter().map(|i| shift(i, origin)).collect()),
        Node::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = Key {
                        at: Loc {
                            file: origin.file.clone(),
                            line: origin.line,
                            column: origin.column + k.at.column.saturating_sub(1),
                        },
                        name: k.name,
                    };
                    (key, shift(v, origin))
                })
                .collect(),
        ),
        other => other,
    };
    Val { node, at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Loc {
        Loc {
            file: "h".into(),
            line: 3,
            column: 10,
        }
    }

    #[test]
    fn values_read_as_python_literals() {
        assert_eq!(literal("22", &at()).node, Node::Int(22));
        assert_eq!(literal("022", &at()).node, Node::Str("022".into()));
        assert_eq!(literal("True", &at()).node, Node::Bool(true));
        assert_eq!(literal("yes", &at()).node, Node::Str("yes".into()));
        assert_eq!(literal("1.5", &at()).node, Node::Float(1.5));
        let dict = literal("{'app': {'container': 'app-db'}}", &at());
        let app = dict.node.get("app").unwrap();
        assert_eq!(
            app.node.get("container").unwrap().node,
            Node::Str("app-db".into())
        );
        assert_eq!(app.at.line, 3);
    }
}
