//! Ansible inventories (YAML and INI), read as Ansible reads them: groups and `children`,
//! host ranges, inline vars, `group_vars/` and `host_vars/` next to the inventory, and
//! Ansible's precedence (all < parent group < child group < host; inline < `*_vars/`).
//! Hosts whose variables give `pgfleet_databases` become pgfleet targets; the others are
//! counted as skipped. Nothing is templated or decrypted: a value pgfleet reads that is a
//! Jinja2 template or an ansible-vault value is refused with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ansible_node::{Key, Node, VAULT_HEADER, Val, parse_yaml};
use super::error::{InventoryError, Loc};
use super::resolve::{check_name, parse_address, resolve_path};
use super::{
    Connection, ContainerRef, DEFAULT_DOCKER_SOCKET, Host, Inventory, Jump, Method, PasswordSource,
    SshSettings, Target, docker_context,
};
use crate::migration::Timeout;
use crate::schema::Ignore;

type Result<T, E = InventoryError> = std::result::Result<T, E>;

/// The `pgfleet_<key>` variables pgfleet reads, besides Ansible's own connection variables.
const PGFLEET_VARS: &[&str] = &[
    "pgfleet_databases",
    "pgfleet_method",
    "pgfleet_migrations",
    "pgfleet_docker_socket",
    "pgfleet_docker_context",
    "pgfleet_db_user",
    "pgfleet_db_port",
    "pgfleet_password",
    "pgfleet_connect_timeout",
    "pgfleet_keepalive",
    "pgfleet_known_hosts",
    "pgfleet_drift_ignore",
    "pgfleet_jump",
];
const DATABASE_KEYS: &[&str] = &[
    "container",
    "label",
    "database",
    "user",
    "password",
    "method",
    "migrations",
    "port",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
];
/// Extensions Ansible skips in an inventory folder (its INVENTORY_IGNORE_EXTS).
const IGNORED_EXTENSIONS: &[&str] = &[
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

/// One file of an Ansible inventory, and how it is written.
pub(super) struct Source {
    pub(super) file: PathBuf,
    pub(super) text: String,
    pub(super) ini: bool,
}

/// The Ansible inventory at `path`, when it is one: a file in Ansible's YAML or INI form, or
/// a folder holding such files (or `group_vars/` / `host_vars/`). None: pgfleet's own.
pub(super) fn sources(path: &Path) -> Result<Option<Vec<Source>>> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if !meta.is_dir() {
        // Not UTF-8: pgfleet's own loader says on which line.
        let Ok(text) = read(path) else {
            return Ok(None);
        };
        // A file named as YAML is never taken for INI (YAML that does not parse, `[[[`,
        // gets the YAML parser's own error), unless ansible-vault encrypted it whole.
        let yaml_named = path
            .extension()
            .is_some_and(|e| e == "yml" || e == "yaml" || e == "json");
        let vault = text.trim_start().starts_with(VAULT_HEADER);
        let kind = classify(&text, true).filter(|ini| vault || !(yaml_named && *ini));
        return Ok(kind.map(|ini| {
            vec![Source {
                file: path.to_path_buf(),
                text,
                ini,
            }]
        }));
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                p.is_file()
                    && !name.starts_with('.')
                    && !IGNORED_EXTENSIONS.iter().any(|x| name.ends_with(x))
            })
            .collect(),
        Err(_) => return Ok(None),
    };
    files.sort();
    let vars_dirs = path.join("group_vars").is_dir() || path.join("host_vars").is_dir();
    let mut out = Vec::new();
    let mut pgfleet_file = None;
    for file in files {
        let yaml_named = file
            .extension()
            .is_some_and(|e| e == "yml" || e == "yaml" || e == "json");
        let Ok(text) = read(&file) else { continue };
        match classify(&text, false) {
            Some(ini) => out.push(Source { file, text, ini }),
            None if yaml_named => pgfleet_file = Some(file),
            None => {}
        }
    }
    if out.is_empty() && !vars_dirs {
        return Ok(None);
    }
    if let Some(file) = pgfleet_file {
        return Err(InventoryError::at_line(
            &file,
            1,
            "this folder is an Ansible inventory, and this file is in pgfleet's own format (defaults/groups/hosts); keep the two in separate folders",
        ));
    }
    if out.is_empty() {
        return Err(InventoryError::in_file(
            path,
            "this folder has group_vars/ or host_vars/ but no inventory file; add one (hosts.yml or an INI file)",
        ));
    }
    Ok(Some(out))
}

fn read(file: &Path) -> Result<String> {
    let bytes = std::fs::read(file).map_err(|e| {
        InventoryError::in_file(file, format!("cannot read the inventory file: {e}"))
    })?;
    String::from_utf8(bytes).map_err(|_| {
        InventoryError::at_line(
            file,
            1,
            "the inventory file is not UTF-8 text; save it as UTF-8",
        )
    })
}

/// Some(true): Ansible INI; Some(false): Ansible YAML; None: not Ansible's (pgfleet's YAML, or
/// something else). `lenient`: a file named directly may be INI without a `[group]` line.
fn classify(text: &str, lenient: bool) -> Option<bool> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut significant = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    let first = significant.next()?;
    if let Ok(val) = parse_yaml(Path::new(""), text)
        && let Node::Map(entries) = &val.node
    {
        let ansible = entries.iter().any(|(k, v)| {
            k.name == "all"
                || (!["defaults", "groups", "hosts"].contains(&k.name.as_str())
                    && match &v.node {
                        Node::Map(inner) => {
                            !inner.is_empty()
                                && inner.iter().all(|(ik, _)| {
                                    ["hosts", "children", "vars"].contains(&ik.name.as_str())
                                })
                        }
                        _ => false,
                    })
        });
        return ansible.then_some(false);
    }
    // Not a YAML mapping: INI when a line is a `[group]` header, or (for a file named
    // directly) when every line is a host line, `name [key=value …]`.
    let lines: Vec<&str> = std::iter::once(first).chain(significant).collect();
    let header = |l: &&str| {
        let l = l.split(" #").next().unwrap_or(l).trim_end();
        l.starts_with('[') && l.ends_with(']') && !l.contains([',', ' '])
    };
    if lines.iter().any(header) {
        return Some(true);
    }
    let host_lines = lines.iter().all(|l| {
        !l.ends_with(':')
            && !l.contains(": ")
            && l.split_whitespace()
                .skip(1)
                .all(|token| token.contains('=') || token.starts_with('#'))
    });
    (lenient && host_lines).then_some(true)
}

/// A group as Ansible builds it.
struct Group {
    name: String,
    vars: Vec<(Key, Val)>,
    children: Vec<usize>,
    parents: Vec<usize>,
    /// `ansible_group_priority`, set in the inventory itself (not in group_vars/).
    priority: i64,
}

struct HostEntry {
    name: String,
    at: Loc,
    vars: Vec<(Key, Val)>,
    /// The groups listing it directly.
    groups: Vec<usize>,
}

/// An Ansible inventory as parsed, before pgfleet reads it.
pub(super) struct Model {
    groups: Vec<Group>,
    hosts: Vec<HostEntry>,
}

const ALL: usize = 0;
const UNGROUPED: usize = 1;

impl Model {
    fn new() -> Model {
        let group = |name: &str| Group {
            name: name.to_owned(),
            vars: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            priority: 1,
        };
        Model {
            groups: vec![group("all"), group("ungrouped")],
            hosts: Vec::new(),
        }
    }

    pub(super) fn group(&mut self, name: &str) -> usize {
        if let Some(i) = self.groups.iter().position(|g| g.name == name) {
            return i;
        }
        self.groups.push(Group {
            name: name.to_owned(),
            vars: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            priority: 1,
        });
        self.groups.len() - 1
    }

    pub(super) fn add_child(&mut self, parent: usize, child: usize, at: &Loc) -> Result<()> {
        if parent == child || self.descends(parent, child) {
            return Err(InventoryError::at(
                at,
                format!(
                    "adding group `{}` as a child of `{}` makes a loop of children; remove one of the two",
                    self.groups[child].name, self.groups[parent].name
                ),
            ));
        }
        if !self.groups[parent].children.contains(&child) {
            self.groups[parent].children.push(child);
            self.groups[child].parents.push(parent);
        }
        Ok(())
    }

    /// Whether `group` is `ancestor` or below it.
    fn descends(&self, group: usize, ancestor: usize) -> bool {
        group == ancestor
            || self.groups[group]
                .parents
                .iter()
                .any(|&p| self.descends(p, ancestor))
    }

    pub(super) fn add_host(&mut self, group: usize, name: &str, at: &Loc) -> usize {
        let h = match self.hosts.iter().position(|h| h.name == name) {
            Some(h) => h,
            None => {
                self.hosts.push(HostEntry {
                    name: name.to_owned(),
                    at: at.clone(),
                    vars: Vec::new(),
                    groups: Vec::new(),
                });
                self.hosts.len() - 1
            }
        };
        if !self.hosts[h].groups.contains(&group) {
            self.hosts[h].groups.push(group);
        }
        h
    }

    pub(super) fn set_host_var(&mut self, host: usize, key: Key, val: Val) {
        set(&mut self.hosts[host].vars, key, val);
    }

    pub(super) fn set_group_var(&mut self, group: usize, key: Key, val: Val) -> Result<()> {
        if key.name == "ansible_group_priority" {
            let p = val.node.scalar_text().and_then(|t| t.parse::<i64>().ok());
            self.groups[group].priority = p.ok_or_else(|| {
                InventoryError::at(&val.at, "ansible_group_priority must be a whole number")
            })?;
        }
        set(&mut self.groups[group].vars, key, val);
        Ok(())
    }

    /// Ansible's `reconcile_inventory`: groups without a parent go under `all`; hosts in no
    /// group but `all` are `ungrouped`.
    fn reconcile(&mut self) {
        for g in 1..self.groups.len() {
            if self.groups[g].parents.is_empty() {
                self.groups[ALL].children.push(g);
                self.groups[g].parents.push(ALL);
            }
        }
        for h in &mut self.hosts {
            if h.groups.iter().all(|&g| g == ALL || g == UNGROUPED) {
                h.groups = vec![UNGROUPED];
            } else {
                h.groups.retain(|&g| g != ALL && g != UNGROUPED);
            }
        }
    }

    /// Longest path from `all` (Ansible's group depth).
    fn depth(&self, g: usize) -> usize {
        self.groups[g]
            .parents
            .iter()
            .map(|&p| self.depth(p) + 1)
            .max()
            .unwrap_or(0)
    }

    /// Every group `host` belongs to, through `children` too, `all` left out; sorted as
    /// Ansible combines their vars: by depth, then `ansible_group_priority`, then name.
    fn host_groups(&self, host: usize) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        let mut todo: Vec<usize> = self.hosts[host].groups.clone();
        while let Some(g) = todo.pop() {
            if g != ALL && !found.contains(&g) {
                found.push(g);
                todo.extend(&self.groups[g].parents);
            }
        }
        found.sort_by(|&a, &b| {
            let key = |g: usize| (self.depth(g), self.groups[g].priority);
            key(a)
                .cmp(&key(b))
                .then_with(|| self.groups[a].name.cmp(&self.groups[b].name))
        });
        found
    }
}

/// Sets `key` in `vars`, replacing an earlier value (Ansible's `hash_behaviour: replace`).
fn set(vars: &mut Vec<(Key, Val)>, key: Key, val: Val) {
    match vars.iter_mut().find(|(k, _)| k.name == key.name) {
        Some(slot) => *slot = (key, val),
        None => vars.push((key, val)),
    }
}

/// Reads an Ansible inventory (its files, then `group_vars/` and `host_vars/` in `base`)
/// into pgfleet's model. `top` is what `-i` named.
pub(super) fn load(top: &Path, sources: Vec<Source>) -> Result<Inventory> {
    let mut model = Model::new();
    for s in &sources {
        let text = s.text.strip_prefix('\u{feff}').unwrap_or(&s.text);
        if text.trim_start().starts_with(VAULT_HEADER) {
            return Err(vault_file(&s.file));
        }
        if s.ini {
            super::ansible_ini::parse(&mut model, &s.file, text)?;
        } else {
            parse_yaml_inventory(&mut model, &s.file, text)?;
        }
    }
    model.reconcile();
    let base = if top.is_dir() {
        top.to_path_buf()
    } else {
        top.parent().unwrap_or(Path::new("")).to_path_buf()
    };
    let group_files = vars_files(&base.join("group_vars"), &model, true)?;
    let host_files = vars_files(&base.join("host_vars"), &model, false)?;
    let first_file = sources.first().map(|s| s.file.as_path()).unwrap_or(top);
    to_inventory(&model, &group_files, &host_files, &base, first_file)
}

fn vault_file(file: &Path) -> InventoryError {
    InventoryError::at_line(
        file,
        1,
        "this file is encrypted with ansible-vault, which pgfleet does not decrypt; keep what pgfleet reads (ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file, pgfleet_*) in a file that is not encrypted, and leave the secrets in the vault",
    )
}

/// Ansible's YAML inventory plugin: top-level keys are groups, each with `hosts`, `vars` and
/// `children`.
fn parse_yaml_inventory(model: &mut Model, file: &Path, text: &str) -> Result<()> {
    let top = parse_yaml(file, text)?;
    match &top.node {
        Node::Null => Ok(()),
        Node::Map(entries) => {
            for (name, data) in entries {
                yaml_group(model, name, data)?;
            }
            Ok(())
        }
        other => Err(InventoryError::at(
            &top.at,
            format!(
                "an Ansible YAML inventory is a mapping of groups (all: hosts: …), not {}",
                other.kind()
            ),
        )),
    }
}

fn yaml_group(model: &mut Model, name: &Key, data: &Val) -> Result<usize> {
    let g = model.group(&name.name);
    let entries = match &data.node {
        Node::Null => return Ok(g),
        Node::Map(entries) => entries,
        other => {
            return Err(InventoryError::at(
                &data.at,
                format!(
                    "group `{}` is {}; write its hosts:, children: and vars: under it",
                    name.name,
                    other.kind()
                ),
            ));
        }
    };
    for (key, val) in entries {
        match (key.name.as_str(), &val.node) {
            (_, Node::Null) => {}
            ("vars", Node::Map(vars)) => {
                for (k, v) in vars {
                    model.set_group_var(g, k.clone(), v.clone())?;
                }
            }
            ("children", Node::Map(children)) => {
                for (child, child_data) in children {
                    let c = yaml_group(model, child, child_data)?;
                    model.add_child(g, c, &child.at)?;
                }
            }
            ("hosts", Node::Map(hosts)) => {
                for (pattern, vars) in hosts {
                    let (names, port) = expand_host_pattern(&pattern.name)
                        .map_err(|why| InventoryError::at(&pattern.at, why))?;
                    for host in names {
                        let h = model.add_host(g, &host, &pattern.at);
                        match &vars.node {
                            Node::Null => {}
                            Node::Map(vars) => {
                                for (k, v) in vars {
                                    model.set_host_var(h, k.clone(), v.clone());
                                }
                            }
                            other => {
                                return Err(InventoryError::at(
                                    &vars.at,
                                    format!(
                                        "host `{host}`'s variables are {}; write them as a mapping (key: value lines)",
                                        other.kind()
                                    ),
                                ));
                            }
                        }
                        if let Some(port) = port {
                            model.set_host_var(
                                h,
                                Key {
                                    name: "ansible_port".into(),
                                    at: pattern.at.clone(),
                                },
                                Val {
                                    node: Node::Int(port.into()),
                                    at: pattern.at.clone(),
                                },
                            );
                        }
                    }
                }
            }
            ("vars" | "children" | "hosts", other) => {
                return Err(InventoryError::at(
                    &val.at,
                    format!(
                        "{} of group `{}` is {}; write it as a mapping (name: lines)",
                        key.name,
                        name.name,
                        other.kind()
                    ),
                ));
            }
            (other, _) => {
                let hint = match crate::suggest(other, &["hosts", "children", "vars"]) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => String::new(),
                };
                return Err(InventoryError::at(
                    &key.at,
                    format!(
                        "unknown key `{}` in group `{}`: a group has hosts:, children: and vars:{hint}",
                        other.escape_debug(),
                        name.name
                    ),
                ));
            }
        }
    }
    Ok(g)
}

/// `db[01:03].lab:2222` → the host names and the port, as Ansible expands a host pattern.
pub(super) fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    // A port follows the last `:` outside brackets, when no other `:` is outside them
    // (more means an IPv6 address).
    let mut depth = 0;
    let mut colons = Vec::new();
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => colons.push(i),
            _ => {}
        }
    }
    let (host, port) = match colons.as_slice() {
        [i] => {
            let port = &pattern[i + 1..];
            let port =
                port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                    format!("host `{pattern}`: `{port}` after the : is not a port")
                })?;
            (&pattern[..*i], Some(port))
        }
        _ => (pattern, None),
    };
    if host.is_empty() {
        return Err("a host name is empty".to_owned());
    }
    let names = if colons.len() > 1 {
        vec![host.to_owned()]
    } else {
        expand_range(host).map_err(|why| format!("host range `{host}`: {why}"))?
    };
    Ok((names, port))
}

/// Ansible's `expand_hostname_range`: `[01:03]` (zero-padded when written so), `[a:c]`,
/// `[1:9:2]`; several ranges multiply.
fn expand_range(name: &str) -> Result<Vec<String>, String> {
    let Some(open) = name.find('[') else {
        return Ok(vec![name.to_owned()]);
    };
    let Some(close) = name[open..].find(']').map(|c| c + open) else {
        return Err("a `[` without its `]`".to_owned());
    };
    let (head, inner, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let bounds: Vec<&str> = inner.split(':').collect();
    let (beg, end, step) = match bounds.as_slice() {
        [b, e] => (*b, *e, "1"),
        [b, e, s] => (*b, *e, *s),
        _ => return Err("write [begin:end] or [begin:end:step]".to_owned()),
    };
    let beg = if beg.is_empty() { "0" } else { beg };
    if end.is_empty() {
        return Err("the range has no end".to_owned());
    }
    let step: usize = step
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .ok_or("the step is not a positive number")?;
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err("zero-padded begin and end must have the same width".to_owned());
        }
        beg.len()
    } else {
        0
    };
    let letter = |s: &str| s.len() == 1 && s.chars().all(|c| c.is_ascii_alphabetic());
    let mut items = Vec::new();
    if letter(beg) && letter(end) {
        let (b, e) = (beg, end);
        // Ansible's alphabet is string.ascii_letters: a–z then A–Z.
        const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let (i, j) = (LETTERS.find(b).unwrap_or(0), LETTERS.find(e).unwrap_or(0));
        if i > j {
            return Err("the begin comes after the end".to_owned());
        }
        items.extend(LETTERS[i..=j].chars().step_by(step).map(String::from));
    } else {
        let number = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("`{s}` is neither a number nor a letter"))
        };
        let (b, e) = (number(beg)?, number(end)?);
        if e.saturating_sub(b) > 100_000 {
            return Err("more than 100000 hosts".to_owned());
        }
        items.extend((b..=e).step_by(step).map(|n| format!("{n:0width$}")));
    }
    let mut names = Vec::new();
    for item in items {
        for rest in expand_range(tail)? {
            names.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(names)
}

/// Files of `group_vars/` (or `host_vars/`) for the groups (hosts) of the model, as
/// Ansible's host_group_vars plugin finds them: `NAME`, `NAME.yml`, `.yaml`, `.json`, or a
/// folder `NAME/` of such files (read in name order, sub-folders included).
fn vars_files(
    dir: &Path,
    model: &Model,
    groups: bool,
) -> Result<BTreeMap<String, Vec<(Key, Val)>>> {
    let mut out = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let names: Vec<&str> = if groups {
        model.groups.iter().map(|g| g.name.as_str()).collect()
    } else {
        model.hosts.iter().map(|h| h.name.as_str()).collect()
    };
    for name in names {
        let mut files = Vec::new();
        // The first that exists is the only one read (a folder `NAME/` hides `NAME.yml`).
        for candidate in ["", ".yml", ".yaml", ".json"] {
            let p = dir.join(format!("{name}{candidate}"));
            if p.is_dir() {
                folder_files(&p, &mut files);
                break;
            } else if p.is_file() {
                files.push(p);
                break;
            }
        }
        let mut vars: Vec<(Key, Val)> = Vec::new();
        for file in files {
            let text = read(&file)?;
            if text.trim_start().starts_with(VAULT_HEADER) {
                return Err(vault_file(&file));
            }
            let top = parse_yaml(&file, &text)?;
            match top.node {
                Node::Null => {}
                Node::Map(entries) => {
                    for (k, v) in entries {
                        set(&mut vars, k, v);
                    }
                }
                other => {
                    return Err(InventoryError::at(
                        &top.at,
                        format!(
                            "a vars file holds a mapping of variables (key: value lines), not {}",
                            other.kind()
                        ),
                    ));
                }
            }
        }
        if !vars.is_empty() {
            out.insert(name.to_owned(), vars);
        }
    }
    Ok(out)
}

fn folder_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = p.extension();
        if p.is_dir() && ext.is_none() {
            folder_files(&p, out);
        } else if p.is_file() && ext.is_none_or(|e| e == "yml" || e == "yaml" || e == "json") {
            out.push(p);
        }
    }
}

/// A variable as it resolved for a host, and whether the host itself set it.
struct Resolved<'a> {
    val: &'a Val,
    key: &'a Key,
    own: bool,
}

/// One host's variables after Ansible's precedence.
struct HostVars<'a> {
    host: &'a str,
    vars: BTreeMap<&'a str, Resolved<'a>>,
}

impl<'a> HostVars<'a> {
    fn get(&self, key: &str) -> Option<&Resolved<'a>> {
        self.vars.get(key)
    }

    /// The first of `keys` that is set (Ansible's aliases, e.g. `ansible_ssh_host`).
    fn first(&self, keys: &[&'a str]) -> Option<(&'a str, &Resolved<'a>)> {
        keys.iter().find_map(|k| self.vars.get(k).map(|r| (*k, r)))
    }

    fn text(&self, keys: &[&'a str]) -> Result<Option<(String, Loc)>> {
        match self.first(keys) {
            None => Ok(None),
            Some((key, r)) => Ok(Some((scalar(self.host, key, r.val)?, r.val.at.clone()))),
        }
    }

    fn port(&self, keys: &[&'a str]) -> Result<Option<u16>> {
        match self.first(keys) {
            None => Ok(None),
            Some((key, r)) => port(self.host, key, r.val).map(Some),
        }
    }
}

/// A value pgfleet reads as text: a scalar, not templated, not encrypted. The value itself
/// is never quoted in an error (it may be a secret written in the wrong place).
fn scalar(host: &str, key: &str, val: &Val) -> Result<String> {
    let text = match &val.node {
        Node::Vault => {
            return Err(InventoryError::at(
                &val.at,
                format!(
                    "{key} (host `{host}`) is an ansible-vault value (!vault), which pgfleet does not decrypt; write it in clear (pgfleet reads no secret there: database passwords are named as {{ env: VAR }}, {{ file: PATH }} or {{ container: VAR }})"
                ),
            ));
        }
        Node::Null => {
            return Err(InventoryError::at(
                &val.at,
                format!("{key} (host `{host}`) is empty; give it a value or remove it"),
            ));
        }
        node => node.scalar_text().ok_or_else(|| {
            InventoryError::at(
                &val.at,
                format!(
                    "{key} (host `{host}`) is {}; a single value is needed",
                    node.kind()
                ),
            )
        })?,
    };
    if text.contains("{{") || text.contains("{%") {
        return Err(InventoryError::at(
            &val.at,
            format!(
                "{key} (host `{host}`) is a Jinja2 template, which pgfleet does not evaluate; write the value itself"
            ),
        ));
    }
    if text.trim().is_empty() {
        return Err(InventoryError::at(
            &val.at,
            format!("{key} (host `{host}`) is empty; give it a value or remove it"),
        ));
    }
    Ok(text)
}

fn port(host: &str, key: &str, val: &Val) -> Result<u16> {
    let text = scalar(host, key, val)?;
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            InventoryError::at(
                &val.at,
                format!("{key} (host `{host}`): `{text}` is not a port; use 1 to 65535"),
            )
        })
}

/// Builds pgfleet's inventory from the parsed model.
fn to_inventory(
    model: &Model,
    group_files: &BTreeMap<String, Vec<(Key, Val)>>,
    host_files: &BTreeMap<String, Vec<(Key, Val)>>,
    base: &Path,
    first_file: &Path,
) -> Result<Inventory> {
    let mut inventory = Inventory {
        hosts: Vec::new(),
        targets: Vec::new(),
        skipped: Vec::new(),
    };
    let all_vars: Vec<HostVars<'_>> = (0..model.hosts.len())
        .map(|h| merged_vars(model, h, group_files, host_files))
        .collect();
    for vars in &all_vars {
        check_pgfleet_keys(vars)?;
    }
    let names: Vec<&str> = model.hosts.iter().map(|h| h.name.as_str()).collect();
    // Hosts another host names in pgfleet_jump are kept (as pgfleet's own inventory keeps
    // hosts that are jumped through) even without databases.
    let mut jumps = Vec::with_capacity(names.len());
    for vars in &all_vars {
        jumps.push(jump(vars, &names)?);
    }
    check_jump_loops(&jumps, &names, &all_vars)?;
    for (h, entry) in model.hosts.iter().enumerate() {
        let vars = &all_vars[h];
        let jumped_through = jumps
            .iter()
            .any(|j| matches!(j, Some(Jump::Host(n)) if *n == entry.name));
        let databases = vars.get("pgfleet_databases");
        if databases.is_none() && !jumped_through {
            inventory.skipped.push(entry.name.clone());
            continue;
        }
        check_name("host", &entry.name, &entry.at)?;
        let connection = connection(vars, jumps[h].clone(), base)?;
        if let Some(r) = databases {
            targets(vars, r.val, base, &mut inventory.targets)?;
        }
        let docker_socket = match vars.text(&["pgfleet_docker_socket"])? {
            Some((s, _)) => s,
            None => DEFAULT_DOCKER_SOCKET.to_owned(),
        };
        let groups = model
            .host_groups(h)
            .into_iter()
            .map(|g| model.groups[g].name.clone())
            .collect();
        inventory.hosts.push(Host {
            name: entry.name.clone(),
            connection,
            docker_socket,
            groups,
        });
    }
    if inventory.targets.is_empty() {
        let top = model.hosts.first().map(|h| h.at.clone());
        let message = format!(
            "no host of this Ansible inventory sets pgfleet_databases ({} host{} read); give the hosts pgfleet migrates a pgfleet_databases variable (in host_vars/, group_vars/ or inline): {{ app: {{ container: app-db }} }}",
            model.hosts.len(),
            if model.hosts.len() == 1 { "" } else { "s" }
        );
        return Err(match top {
            Some(at) => InventoryError::at(&at, message),
            None => InventoryError::at_line(first_file, 1, message),
        });
    }
    Ok(inventory)
}

/// Ansible's variable precedence for one host: `all`'s inline vars, the other groups'
/// inline vars (sorted), group_vars/all, group_vars of the other groups (sorted), the
/// host's inline vars, host_vars. Each replaces what came before, key by key.
fn merged_vars<'a>(
    model: &'a Model,
    host: usize,
    group_files: &'a BTreeMap<String, Vec<(Key, Val)>>,
    host_files: &'a BTreeMap<String, Vec<(Key, Val)>>,
) -> HostVars<'a> {
    let groups = model.host_groups(host);
    let entry = &model.hosts[host];
    let mut layers: Vec<(&'a [(Key, Val)], bool)> = vec![(&model.groups[ALL].vars, false)];
    layers.extend(
        groups
            .iter()
            .map(|&g| (model.groups[g].vars.as_slice(), false)),
    );
    if let Some(v) = group_files.get("all") {
        layers.push((v, false));
    }
    for &g in &groups {
        if let Some(v) = group_files.get(&model.groups[g].name) {
            layers.push((v, false));
        }
    }
    layers.push((&entry.vars, true));
    if let Some(v) = host_files.get(&entry.name) {
        layers.push((v, true));
    }
    let mut vars = BTreeMap::new();
    for (layer, own) in layers {
        for (key, val) in layer {
            vars.insert(key.name.as_str(), Resolved { val, key, own });
        }
    }
    HostVars {
        host: &entry.name,
        vars,
    }
}

/// A `pgfleet_…` variable pgfleet does not know is a typo, not something to ignore.
fn check_pgfleet_keys(vars: &HostVars<'_>) -> Result<()> {
    for (name, r) in &vars.vars {
        if !name.starts_with("pgfleet_") || PGFLEET_VARS.contains(name) {
            continue;
        }
        let instead = match *name {
            "pgfleet_user" => Some("ansible_user"),
            "pgfleet_port" => Some("ansible_port"),
            "pgfleet_address" | "pgfleet_host" => Some("ansible_host"),
            "pgfleet_identity_file" | "pgfleet_identity_files" => {
                Some("ansible_ssh_private_key_file")
            }
            "pgfleet_local" => Some("ansible_connection: local"),
            _ => None,
        };
        let hint = match (instead, crate::suggest(name, PGFLEET_VARS)) {
            (Some(i), _) => format!("; in an Ansible inventory, pgfleet reads Ansible's {i}"),
            (None, Some(s)) => format!("; did you mean `{s}`?"),
            (None, None) => format!("; pgfleet reads {}", PGFLEET_VARS.join(", ")),
        };
        return Err(InventoryError::at(
            &r.key.at,
            format!("unknown pgfleet variable `{}`{hint}", name.escape_debug()),
        ));
    }
    Ok(())
}

/// `pgfleet_jump` (an inventory host, or `[user@]host[:port]`), else a ProxyJump in
/// `ansible_ssh_common_args` / `ansible_ssh_extra_args`.
fn jump(vars: &HostVars<'_>, names: &[&str]) -> Result<Option<Jump>> {
    if let Some((text, at)) = vars.text(&["pgfleet_jump"])? {
        if names.contains(&text.as_str()) {
            return Ok(Some(Jump::Host(text)));
        }
        return parse_address(&text).map(Some).map_err(|why| {
            InventoryError::at(
                &at,
                format!(
                    "pgfleet_jump `{text}`: {why}; write an inventory host or [user@]host[:port]"
                ),
            )
        });
    }
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        let Some((args, at)) = vars.text(&[key])? else {
            continue;
        };
        let options = ssh_options(&args);
        if let Some(command) = options.proxy_command {
            let instead = match proxy_jump_of(&command) {
                Some(j) => format!("write -o ProxyJump={j} instead (it is the same hop)"),
                None => "write -o ProxyJump=[user@]host[:port] (or pgfleet_jump) instead, naming the host the command connects through".to_owned(),
            };
            return Err(InventoryError::at(
                &at,
                format!(
                    "{key} (host `{}`) gives a ProxyCommand, which pgfleet cannot run (it opens its own SSH connection and jumps with ProxyJump only); {instead}",
                    vars.host
                ),
            ));
        }
        if let Some(hops) = options.proxy_jump {
            if hops.contains(',') {
                return Err(InventoryError::at(
                    &at,
                    format!(
                        "{key} (host `{}`): a ProxyJump through several hops ({hops}) is not supported; give the first hop a host of its own in the inventory and chain them with pgfleet_jump",
                        vars.host
                    ),
                ));
            }
            if hops.eq_ignore_ascii_case("none") {
                return Ok(None);
            }
            let hop = hops.strip_prefix("ssh://").unwrap_or(&hops);
            return parse_address(hop).map(Some).map_err(|why| {
                InventoryError::at(
                    &at,
                    format!(
                        "{key} (host `{}`): ProxyJump `{hop}`: {why}; write [user@]host[:port]",
                        vars.host
                    ),
                )
            });
        }
    }
    Ok(None)
}

#[derive(Default)]
struct SshOptions {
    proxy_jump: Option<String>,
    proxy_command: Option<String>,
    known_hosts: Vec<String>,
}

/// The options pgfleet understands in ssh's arguments: `-J HOST`, `-o ProxyJump=…`,
/// `-o ProxyCommand=…`, `-o UserKnownHostsFile=…` (also `-oKey=value` and `Key value`).
fn ssh_options(args: &str) -> SshOptions {
    let words = shell_words(args);
    let mut out = SshOptions::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let option = if w == "-o" {
            i += 1;
            words.get(i).cloned()
        } else if let Some(rest) = w.strip_prefix("-o") {
            Some(rest.to_owned())
        } else if w == "-J" {
            i += 1;
            if let Some(j) = words.get(i) {
                out.proxy_jump.get_or_insert(j.clone());
            }
            None
        } else if let Some(rest) = w.strip_prefix("-J") {
            out.proxy_jump.get_or_insert(rest.to_owned());
            None
        } else {
            None
        };
        i += 1;
        let Some(option) = option else { continue };
        let (name, value) = match option.split_once(['=', ' ']) {
            Some((n, v)) => (n.trim(), v.trim().to_owned()),
            None => continue,
        };
        // As ssh does, the first value given for an option wins.
        match name.to_ascii_lowercase().as_str() {
            "proxyjump" => {
                out.proxy_jump.get_or_insert(value);
            }
            "proxycommand" if !value.eq_ignore_ascii_case("none") => {
                out.proxy_command.get_or_insert(value);
            }
            "userknownhostsfile" => out.known_hosts.extend(shell_words(&value)),
            _ => {}
        }
    }
    out
}

/// `ssh -W %h:%p [-p PORT] [-l USER] [USER@]HOST` → the ProxyJump it amounts to.
fn proxy_jump_of(command: &str) -> Option<String> {
    let words = shell_words(command);
    let (program, rest) = words.split_first()?;
    if !(program == "ssh" || program.ends_with("/ssh")) {
        return None;
    }
    let (mut port, mut user, mut host, mut forwards) = (None, None, None, false);
    let mut i = 0;
    while i < rest.len() {
        match rest[i].as_str() {
            "-W" => {
                forwards = rest.get(i + 1).is_some_and(|w| w == "%h:%p");
                i += 1;
            }
            "-p" => {
                port = rest.get(i + 1).cloned();
                i += 1;
            }
            "-l" => {
                user = rest.get(i + 1).cloned();
                i += 1;
            }
            "-q" | "-T" | "-A" | "-C" => {}
            w if w.starts_with('-') => return None,
            w => {
                if host.replace(w.to_owned()).is_some() {
                    return None;
                }
            }
        }
        i += 1;
    }
    let host = host?;
    if !forwards {
        return None;
    }
    let mut jump = match user {
        Some(u) if !host.contains('@') => format!("{u}@{host}"),
        _ => host,
    };
    if let Some(p) = port {
        jump.push(':');
        jump.push_str(&p);
    }
    Some(jump)
}

/// Splits like a POSIX shell: quotes group and are removed, a backslash escapes outside
/// single quotes.
pub(super) fn shell_words(text: &str) -> Vec<String> {
    shell_tokens(text).into_iter().map(|(w, _)| w).collect()
}

/// `shell_words` with each word's byte offset; a `#` starting a word ends the line.
pub(super) fn shell_tokens(text: &str) -> Vec<(String, usize)> {
    let mut words = Vec::new();
    let mut current: Option<(String, usize)> = None;
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(&(_, n)) = chars.peek()
                    && matches!(n, '"' | '\\' | '$' | '`')
                {
                    chars.next();
                    current.get_or_insert((String::new(), i)).0.push(n);
                } else {
                    current.get_or_insert((String::new(), i)).0.push('\\');
                }
            }
            (Some(_), c) => current.get_or_insert((String::new(), i)).0.push(c),
            (None, c) if c.is_whitespace() => {
                if let Some(w) = current.take() {
                    words.push(w);
                }
            }
            (None, '#') if current.is_none() => break,
            (None, '\'' | '"') => {
                quote = Some(c);
                current.get_or_insert((String::new(), i));
            }
            (None, '\\') => {
                if let Some((_, n)) = chars.next() {
                    current.get_or_insert((String::new(), i)).0.push(n);
                }
            }
            (None, c) => current.get_or_insert((String::new(), i)).0.push(c),
        }
    }
    if let Some(w) = current {
        words.push(w);
    }
    words
}

fn check_jump_loops(jumps: &[Option<Jump>], names: &[&str], vars: &[HostVars<'_>]) -> Result<()> {
    if let Some((chain, n)) = super::resolve::jump_loop(jumps, names) {
        let shown: Vec<&str> = chain.iter().chain([&n]).map(|&i| names[i]).collect();
        let at = vars[chain[0]]
            .get("pgfleet_jump")
            .map(|r| r.val.at.clone())
            .unwrap_or_else(|| Loc {
                file: PathBuf::new(),
                line: 0,
                column: 0,
            });
        return Err(InventoryError::at(
            &at,
            format!(
                "jump loop: {}; one of these hosts must be reachable without a jump",
                shown.join(" → ")
            ),
        ));
    }
    Ok(())
}

/// How pgfleet reaches the host: `ansible_connection: local` is this machine's docker;
/// otherwise SSH with Ansible's address, port, user and key, or a docker context's.
fn connection(vars: &HostVars<'_>, jump: Option<Jump>, base: &Path) -> Result<Connection> {
    if let Some((kind, at)) = vars.text(&["ansible_connection"])? {
        match kind.as_str() {
            "local" | "ansible.builtin.local" => return Ok(Connection::Local),
            "ssh"
            | "smart"
            | "paramiko"
            | "paramiko_ssh"
            | "ansible.builtin.ssh"
            | "ansible.builtin.paramiko_ssh" => {}
            other => {
                return Err(InventoryError::at(
                    &at,
                    format!(
                        "ansible_connection `{other}` (host `{}`): pgfleet reaches a docker host over SSH, or this machine's docker with ansible_connection: local",
                        vars.host
                    ),
                ));
            }
        }
    }
    let mut address = vars
        .text(&["ansible_host", "ansible_ssh_host"])?
        .map(|(a, _)| a)
        .unwrap_or_else(|| vars.host.to_owned());
    let mut port = vars.port(&["ansible_port", "ansible_ssh_port"])?;
    let mut user = vars
        .text(&["ansible_user", "ansible_ssh_user", "ansible_remote_user"])?
        .map(|(u, _)| u);
    if let Some((name, at)) = vars.text(&["pgfleet_docker_context"])? {
        // The context says where the host is; the host's own ansible_host/port/user saying
        // otherwise is a contradiction, while group-wide values give way to it.
        let own = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| vars.get(k).filter(|r| r.own).map(|r| r.val.at.clone()))
        };
        let ep = docker_context::endpoint(
            &name,
            &at,
            vars.host,
            docker_context::Own {
                address: own(&["ansible_host", "ansible_ssh_host"]),
                user: own(&["ansible_user", "ansible_ssh_user", "ansible_remote_user"]),
                port: own(&["ansible_port", "ansible_ssh_port"]),
            },
        )?;
        address = ep.host;
        port = ep.port.or(port);
        user = ep.user.or(user);
    }
    let identity = vars.text(&["ansible_ssh_private_key_file", "ansible_private_key_file"])?;
    let identity_at = identity.as_ref().map(|(_, at)| Box::new(at.clone()));
    // As Ansible passes it to ssh: relative to the current folder, `~` expanded.
    let identity_files = identity
        .map(|(p, _)| vec![resolve_path(&p, Path::new(""))])
        .unwrap_or_default();
    let mut known_hosts: Vec<PathBuf> = Vec::new();
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some((args, _)) = vars.text(&[key])? {
            known_hosts.extend(
                ssh_options(&args)
                    .known_hosts
                    .iter()
                    .map(|p| resolve_path(p, Path::new(""))),
            );
        }
    }
    if let Some(r) = vars.get("pgfleet_known_hosts") {
        for p in path_list(vars.host, "pgfleet_known_hosts", r.val)? {
            known_hosts.push(resolve_path(&p, base));
        }
    }
    Ok(Connection::Ssh(SshSettings {
        address,
        port,
        user,
        identity_files,
        identity_at,
        known_hosts,
        jump,
        connect_timeout: duration(vars, "pgfleet_connect_timeout", false)?
            .unwrap_or(Duration::from_secs(10)),
        keepalive: duration(vars, "pgfleet_keepalive", true)?.unwrap_or(Duration::from_secs(15)),
    }))
}

fn path_list(host: &str, key: &str, val: &Val) -> Result<Vec<String>> {
    match &val.node {
        Node::Seq(items) => items.iter().map(|i| scalar(host, key, i)).collect(),
        _ => Ok(vec![scalar(host, key, val)?]),
    }
}

fn duration(vars: &HostVars<'_>, key: &str, off_allowed: bool) -> Result<Option<Duration>> {
    let Some((text, at)) = vars.text(&[key])? else {
        return Ok(None);
    };
    let d = parse_duration(key, text.trim(), off_allowed)
        .map_err(|why| InventoryError::at(&at, why))?;
    Ok(Some(d))
}

fn parse_duration(key: &str, text: &str, off_allowed: bool) -> Result<Duration, String> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{key}: `{text}` needs a unit: {text}s for seconds, {text}ms for milliseconds"
        ));
    }
    let t = Timeout::parse(text).ok_or_else(|| {
        format!("{key}: `{text}` is not a duration; write e.g. 500ms, 10s, 2min or 1h")
    })?;
    if t.millis == 0 && !off_allowed {
        return Err(format!("{key} must be more than 0, e.g. 10s"));
    }
    Ok(Duration::from_millis(t.millis))
}

fn method(host: &str, key: &str, val: &Val) -> Result<Method> {
    match scalar(host, key, val)?.as_str() {
        "tunnel" => Ok(Method::Tunnel),
        "exec" => Ok(Method::Exec),
        "auto" => Ok(Method::Auto),
        other => Err(InventoryError::at(
            &val.at,
            format!("{key} (host `{host}`): `{other}` is not tunnel, exec or auto"),
        )),
    }
}

/// `{ env: VAR }`, `{ file: PATH }` or `{ container: VAR }`; a plain value is refused
/// without being shown (it would be a password written in the inventory).
fn password(host: &str, key: &str, val: &Val, base: &Path) -> Result<PasswordSource> {
    let refuse = |why: &str| {
        InventoryError::at(
            &val.at,
            format!(
                "{key} (host `{host}`): {why}; write where pgfleet reads the password: {{ env: VAR }}, {{ file: PATH }} or {{ container: VAR }}"
            ),
        )
    };
    let Node::Map(entries) = &val.node else {
        return Err(match &val.node {
            Node::Vault => refuse("an ansible-vault value is not decrypted by pgfleet"),
            _ => refuse("a password itself does not belong in the inventory"),
        });
    };
    let [(source, v)] = entries.as_slice() else {
        return Err(refuse("it takes exactly one source"));
    };
    let Some(name) = v.node.scalar_text().filter(|n| !n.trim().is_empty()) else {
        return Err(refuse("the source names nothing"));
    };
    let variable = |name: String| {
        let plain = !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plain {
            Ok(name)
        } else {
            Err(refuse("that is not the name of an environment variable"))
        }
    };
    match source.name.as_str() {
        "env" => Ok(PasswordSource::Env(variable(name)?)),
        "container" => Ok(PasswordSource::Container(variable(name)?)),
        "file" => Ok(PasswordSource::File(resolve_path(&name, base))),
        _ => Err(refuse("the source is not env, file or container")),
    }
}

/// The targets of one host: `pgfleet_databases` (pgfleet's `databases:` map), with the
/// host-wide `pgfleet_*` settings under each database's own keys.
fn targets(vars: &HostVars<'_>, databases: &Val, base: &Path, out: &mut Vec<Target>) -> Result<()> {
    let host = vars.host;
    let Node::Map(entries) = &databases.node else {
        return Err(InventoryError::at(
            &databases.at,
            format!(
                "pgfleet_databases (host `{host}`) is {}; write a mapping: {{ app: {{ container: app-db }} }}",
                databases.node.kind()
            ),
        ));
    };
    if entries.is_empty() {
        return Err(InventoryError::at(
            &databases.at,
            format!(
                "pgfleet_databases (host `{host}`) is empty; name a database: {{ app: {{ container: app-db }} }}"
            ),
        ));
    }
    let host_text = |key: &str| vars.text(&[key]).map(|t| t.map(|(s, _)| s));
    let db_user = host_text("pgfleet_db_user")?;
    let db_port = vars.port(&["pgfleet_db_port"])?;
    let host_password = match vars.get("pgfleet_password") {
        Some(r) => Some((
            password(host, "pgfleet_password", r.val, base)?,
            r.val.at.clone(),
        )),
        None => None,
    };
    let host_method = match vars.get("pgfleet_method") {
        Some(r) => Some(method(host, "pgfleet_method", r.val)?),
        None => None,
    };
    let host_migrations = host_text("pgfleet_migrations")?.map(|m| resolve_path(&m, base));
    let drift_ignore = match vars.get("pgfleet_drift_ignore") {
        Some(r) => path_list(host, "pgfleet_drift_ignore", r.val)?
            .iter()
            .map(|w| Ignore::parse(w))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|why| InventoryError::at(&r.val.at, format!("pgfleet_drift_ignore: {why}")))?,
        None => Vec::new(),
    };
    for (name, db) in entries {
        check_name("database", &name.name, &name.at)?;
        let id = format!("{host}/{}", name.name);
        let Node::Map(keys) = &db.node else {
            return Err(InventoryError::at(
                &db.at,
                format!(
                    "database `{id}` is {}; give it {{ container: NAME }} or {{ label: KEY=VALUE }}",
                    db.node.kind()
                ),
            ));
        };
        for (k, _) in keys {
            if !DATABASE_KEYS.contains(&k.name.as_str()) {
                let hint = match crate::suggest(&k.name, DATABASE_KEYS) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => format!("; the keys are {}", DATABASE_KEYS.join(", ")),
                };
                return Err(InventoryError::at(
                    &k.at,
                    format!(
                        "unknown key `{}` in database `{id}`{hint}",
                        k.name.escape_debug()
                    ),
                ));
            }
        }
        let key = |k: &str| db.node.get(k);
        let text = |k: &str| key(k).map(|v| scalar(host, k, v)).transpose();
        let container = match (text("container")?, text("label")?) {
            (Some(c), None) => ContainerRef::Name(c),
            (None, Some(l)) => ContainerRef::Label(l),
            (Some(_), Some(_)) => {
                return Err(InventoryError::at(
                    &db.at,
                    format!("database `{id}` has both container and label; keep one"),
                ));
            }
            (None, None) => {
                return Err(InventoryError::at(
                    &db.at,
                    format!(
                        "database `{id}` names no container; add container: NAME or label: KEY=VALUE"
                    ),
                ));
            }
        };
        let (password, password_at) = match key("password") {
            Some(v) => (password(host, "password", v, base)?, Some(v.at.clone())),
            None => match &host_password {
                Some((p, at)) => (p.clone(), Some(at.clone())),
                None => (PasswordSource::None, None),
            },
        };
        let method = match key("method") {
            Some(v) => method(host, "method", v)?,
            None => host_method.unwrap_or(Method::Auto),
        };
        let tls = database_tls(host, &id, &db.node, method, base)?;
        out.push(Target {
            host: host.to_owned(),
            name: name.name.clone(),
            container,
            database: text("database")?,
            user: text("user")?.or_else(|| db_user.clone()),
            password,
            password_at,
            method,
            migrations: match text("migrations")? {
                Some(m) => resolve_path(&m, base),
                None => host_migrations
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("./migrations")),
            },
            port: match key("port") {
                Some(v) => port(host, "port", v)?,
                None => db_port.unwrap_or(5432),
            },
            drift_ignore: drift_ignore.clone(),
            tls,
        });
    }
    Ok(())
}

/// A database's `sslmode`, `sslrootcert`, `sslcert`, `sslkey` in `pgfleet_databases`, as
/// pgfleet's own inventory takes them: the mode checked, files relative to the inventory,
/// refused with method exec (psql in the container never uses TLS).
fn database_tls(
    host: &str,
    id: &str,
    node: &Node,
    method: Method,
    base: &Path,
) -> Result<crate::inventory::TargetTls> {
    let text = |k: &str| node.get(k).map(|v| scalar(host, k, v)).transpose();
    if method == Method::Exec
        && let Some((key, v)) = ["sslmode", "sslrootcert", "sslcert", "sslkey"]
            .iter()
            .find_map(|k| node.get(k).map(|v| (k, v)))
    {
        return Err(InventoryError::at(
            &v.at,
            format!(
                "{key} is set on database `{id}`, but method is exec: psql runs inside the container over its local socket, where PostgreSQL never uses TLS; remove the ssl* keys, or use method: tunnel"
            ),
        ));
    }
    let sslmode = text("sslmode")?;
    if let (Some(mode), Some(v)) = (&sslmode, node.get("sslmode"))
        && !super::resolve::SSLMODES.contains(&mode.as_str())
    {
        return Err(InventoryError::at(
            &v.at,
            format!(
                "sslmode `{mode}` of database `{id}` is not one of {}",
                super::resolve::SSLMODES.join(", ")
            ),
        ));
    }
    Ok(crate::inventory::TargetTls {
        sslmode,
        sslrootcert: text("sslrootcert")?.map(|r| {
            if r == "system" {
                r
            } else {
                resolve_path(&r, base).display().to_string()
            }
        }),
        sslcert: text("sslcert")?.map(|c| resolve_path(&c, base)),
        sslkey: text("sslkey")?.map(|k| resolve_path(&k, base)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ranges_expand_as_ansible_does() {
        let e = |p: &str| expand_host_pattern(p).unwrap();
        assert_eq!(
            e("db[01:03].lab"),
            (
                vec!["db01.lab".into(), "db02.lab".into(), "db03.lab".into()],
                None
            )
        );
        assert_eq!(
            e("w[a:c]:2222"),
            (vec!["wa".into(), "wb".into(), "wc".into()], Some(2222))
        );
        assert_eq!(e("n[1:5:2]").0, vec!["n1", "n3", "n5"]);
        assert_eq!(e("r[1:2]x[a:b]").0, vec!["r1xa", "r1xb", "r2xa", "r2xb"]);
        assert_eq!(e("fe80::1").0, vec!["fe80::1"]);
        assert!(expand_host_pattern("db[01:3]").is_err());
        assert!(expand_host_pattern("db:x").is_err());
    }

    #[test]
    fn ssh_arguments_give_the_jump_or_say_what_to_write() {
        let o = ssh_options("-o ProxyJump=admin@gw:2022 -o StrictHostKeyChecking=no");
        assert_eq!(o.proxy_jump.as_deref(), Some("admin@gw:2022"));
        assert_eq!(ssh_options("-J gw").proxy_jump.as_deref(), Some("gw"));
        assert_eq!(
            ssh_options("-Jgw.lan").proxy_jump.as_deref(),
            Some("gw.lan")
        );
        assert_eq!(
            ssh_options("-o 'ProxyJump bastion' -o UserKnownHostsFile=/k").known_hosts,
            vec!["/k".to_owned()]
        );
        let o = ssh_options(r#"-o ProxyCommand="ssh -W %h:%p -p 2022 admin@gw""#);
        assert_eq!(
            proxy_jump_of(&o.proxy_command.unwrap()).as_deref(),
            Some("admin@gw:2022")
        );
        assert_eq!(proxy_jump_of("nc -X 5 -x proxy %h %p"), None);
    }
}
