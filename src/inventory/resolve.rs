//! Raw files → the resolved `Inventory`: merging files, defaults < group vars < host <
//! database, group conflicts, jumps, paths relative to each file's folder.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::error::{InventoryError, Loc};
use super::raw::{RawDatabase, RawFile, RawHost, RawPassword, RawSettings};
use super::{
    Connection, ContainerRef, DEFAULT_DOCKER_SOCKET, Host, Inventory, Jump, Method, PasswordSource,
    SshSettings, Target, TargetTls,
};
use crate::migration::Timeout;
use crate::schema::Ignore;

type Result<T, E = InventoryError> = std::result::Result<T, E>;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);
const DEFAULT_MIGRATIONS: &str = "./migrations";
const DEFAULT_DB_PORT: u16 = 5432;
const METHODS: &[&str] = &["tunnel", "exec", "auto"];
/// libpq's sslmode values (the transport's list; the inventory sits below it).
pub(super) const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];
const TLS_KEYS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey"];
/// Keys that mean nothing for a `local: true` host.
const SSH_KEYS: &[&str] = &[
    "user",
    "port",
    "identity_files",
    "known_hosts",
    "connect_timeout",
    "keepalive",
];

/// A settings value, already checked and with paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Port(u16),
    Paths(Vec<PathBuf>),
    Path(PathBuf),
    Duration(Duration),
    Method(Method),
    Password(PasswordSource),
    Ignore(Vec<Ignore>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => write!(f, "{s}"),
            Value::Port(p) => write!(f, "{p}"),
            Value::Paths(ps) => {
                let shown: Vec<String> = ps.iter().map(|p| p.display().to_string()).collect();
                write!(f, "[{}]", shown.join(", "))
            }
            Value::Path(p) => write!(f, "{}", p.display()),
            Value::Duration(d) => write!(
                f,
                "{}",
                Timeout {
                    millis: d.as_millis() as u64
                }
            ),
            Value::Method(m) => write!(f, "{}", m.as_str()),
            Value::Password(p) => write!(f, "{p}"),
            Value::Ignore(list) => {
                let names: Vec<&str> = list.iter().map(|i| i.name()).collect();
                write!(f, "[{}]", names.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Setting {
    value: Value,
    /// The key as written (`identity_file` is stored as `identity_files`).
    written: &'static str,
    at: Loc,
}

/// The settings one level (defaults, a group's vars, a host, a database) sets, by key.
#[derive(Debug, Clone, Default)]
struct Layer(BTreeMap<&'static str, Setting>);

impl Layer {
    fn set(&mut self, key: &'static str, value: Value, at: Loc) {
        self.set_as(key, key, value, at);
    }

    /// `key` as the layer knows it, written differently in the file.
    fn set_as(&mut self, key: &'static str, written: &'static str, value: Value, at: Loc) {
        self.0.insert(key, Setting { value, written, at });
    }

    /// This layer, with `lower`'s keys where this one has none.
    fn over(&self, lower: &Layer) -> Layer {
        let mut merged = lower.clone();
        merged.0.extend(self.0.iter().map(|(k, s)| (*k, s.clone())));
        merged
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).map(|s| &s.value)
    }

    fn text(&self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn port(&self, key: &str) -> Option<u16> {
        match self.get(key) {
            Some(Value::Port(p)) => Some(*p),
            _ => None,
        }
    }

    fn paths(&self, key: &str) -> Vec<PathBuf> {
        match self.get(key) {
            Some(Value::Paths(p)) => p.clone(),
            _ => Vec::new(),
        }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        match self.get(key) {
            Some(Value::Path(p)) => Some(p.clone()),
            _ => None,
        }
    }

    fn duration(&self, key: &str) -> Option<Duration> {
        match self.get(key) {
            Some(Value::Duration(d)) => Some(*d),
            _ => None,
        }
    }

    fn method(&self) -> Method {
        match self.get("method") {
            Some(Value::Method(m)) => *m,
            _ => Method::Auto,
        }
    }

    fn password(&self) -> PasswordSource {
        match self.get("password") {
            Some(Value::Password(p)) => p.clone(),
            _ => PasswordSource::None,
        }
    }

    fn drift_ignore(&self) -> Vec<Ignore> {
        match self.get("drift_ignore") {
            Some(Value::Ignore(list)) => list.clone(),
            _ => Vec::new(),
        }
    }

    /// Where `key` is set, for messages about its value.
    fn at(&self, key: &str) -> Option<Loc> {
        self.0.get(key).map(|s| s.at.clone())
    }
}

/// The file a value came from: for locations, and the folder its relative paths start at.
#[derive(Debug, Clone)]
struct FileCtx {
    file: PathBuf,
    base: PathBuf,
}

impl FileCtx {
    fn new(file: &Path) -> FileCtx {
        FileCtx {
            file: file.to_path_buf(),
            base: base_dir(file),
        }
    }

    fn loc<T>(&self, s: &Spanned<T>) -> Loc {
        Loc::new(&self.file, s.referenced)
    }

    fn error<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> InventoryError {
        InventoryError::at(&self.loc(s), message)
    }

    fn path(&self, text: &str) -> PathBuf {
        resolve_path(text, &self.base)
    }

    /// A string that must not be empty.
    fn text(&self, key: &str, s: &Spanned<String>) -> Result<String> {
        if s.value.trim().is_empty() {
            return Err(self.error(s, format!("{key} is empty; give it a value or remove it")));
        }
        Ok(s.value.clone())
    }

    fn port(&self, key: &str, s: &Spanned<u16>) -> Result<u16> {
        if s.value == 0 {
            return Err(self.error(s, format!("{key}: 0 is not a port; use 1 to 65535")));
        }
        Ok(s.value)
    }

    fn duration(&self, key: &str, s: &Spanned<String>, off_allowed: bool) -> Result<Duration> {
        let text = s.value.trim();
        if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
            return Err(self.error(
                s,
                format!(
                    "{key}: `{text}` needs a unit: {text}s for seconds, {text}ms for milliseconds"
                ),
            ));
        }
        let Some(timeout) = Timeout::parse(text) else {
            return Err(self.error(
                s,
                format!("{key}: `{text}` is not a duration; write e.g. 500ms, 10s, 2min or 1h"),
            ));
        };
        if timeout.millis == 0 && !off_allowed {
            return Err(self.error(s, format!("{key} must be more than 0, e.g. 10s")));
        }
        Ok(Duration::from_millis(timeout.millis))
    }

    fn method(&self, s: &Spanned<String>) -> Result<Method> {
        match s.value.as_str() {
            "tunnel" => Ok(Method::Tunnel),
            "exec" => Ok(Method::Exec),
            "auto" => Ok(Method::Auto),
            other => {
                let hint = match crate::suggest(other, METHODS) {
                    Some(m) => format!("; did you mean `{m}`?"),
                    None => String::new(),
                };
                Err(self.error(
                    s,
                    format!("method `{other}` is not tunnel, exec or auto{hint}"),
                ))
            }
        }
    }

    fn password(&self, s: &Spanned<RawPassword>) -> Result<PasswordSource> {
        let non_empty = |kind: &str, v: &str| {
            if v.trim().is_empty() {
                Err(self.error(
                    s,
                    format!(
                        "password: {{ {kind}: }} is empty; name the {}",
                        if kind == "file" { "file" } else { "variable" }
                    ),
                ))
            } else {
                Ok(v.to_owned())
            }
        };
        // A name the shell could never have set is a typo, found now rather than as "not
        // set" after connecting.
        let variable = |kind: &str, v: &str| {
            let name = non_empty(kind, v)?;
            let plain = !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if plain {
                return Ok(name);
            }
            let fix = if name.starts_with('$') {
                "write it without the $"
            } else {
                "use letters, digits and _, not starting with a digit"
            };
            // Not quoted: it may be the password itself, written here by mistake.
            Err(self.error(
                s,
                format!(
                    "password: {{ {kind}: }} is not the name of an environment variable (what is written there is not shown: it may be a password); {fix}"
                ),
            ))
        };
        Ok(match &s.value {
            RawPassword::Env(v) => PasswordSource::Env(variable("env", v)?),
            RawPassword::File(v) => PasswordSource::File(self.path(&non_empty("file", v)?)),
            RawPassword::Container(v) => PasswordSource::Container(variable("container", v)?),
        })
    }

    /// The layer of `defaults`, a group's `vars`, or a host's settings keys.
    fn layer(&self, raw: RawSettings) -> Result<Layer> {
        let mut l = Layer::default();
        if let Some(s) = &raw.user {
            l.set("user", Value::Text(self.text("user", s)?), self.loc(s));
        }
        if let Some(s) = &raw.port {
            l.set("port", Value::Port(self.port("port", s)?), self.loc(s));
        }
        match (&raw.identity_file, &raw.identity_files) {
            (Some(_), Some(list)) => {
                return Err(self.error(
                    list,
                    "identity_file and identity_files are both set; keep one (identity_files takes a list)",
                ));
            }
            (Some(s), None) => {
                let path = self.path(&self.text("identity_file", s)?);
                l.set_as(
                    "identity_files",
                    "identity_file",
                    Value::Paths(vec![path]),
                    self.loc(s),
                );
            }
            (None, Some(s)) => {
                let paths = s.value.iter().map(|p| self.path(p)).collect();
                l.set("identity_files", Value::Paths(paths), self.loc(s));
            }
            (None, None) => {}
        }
        if let Some(s) = &raw.known_hosts {
            let paths = s.value.0.iter().map(|p| self.path(p)).collect();
            l.set("known_hosts", Value::Paths(paths), self.loc(s));
        }
        if let Some(s) = &raw.connect_timeout {
            let d = self.duration("connect_timeout", s, false)?;
            l.set("connect_timeout", Value::Duration(d), self.loc(s));
        }
        if let Some(s) = &raw.keepalive {
            let d = self.duration("keepalive", s, true)?;
            l.set("keepalive", Value::Duration(d), self.loc(s));
        }
        if let Some(s) = &raw.docker_socket {
            let v = self.text("docker_socket", s)?;
            l.set("docker_socket", Value::Text(v), self.loc(s));
        }
        if let Some(s) = &raw.drift_ignore {
            let list = s.value.iter().map(|w| Ignore::parse(w));
            let list = list
                .collect::<std::result::Result<_, _>>()
                .map_err(|why| self.error(s, format!("drift_ignore: {why}")))?;
            l.set("drift_ignore", Value::Ignore(list), self.loc(s));
        }
        self.tls_keys(
            &mut l,
            [&raw.sslmode, &raw.sslrootcert, &raw.sslcert, &raw.sslkey],
        )?;
        self.database_keys(
            &mut l,
            raw.db_user.as_ref().map(|u| (u, "db_user")),
            raw.db_port.as_ref().map(|p| (p, "db_port")),
            raw.password.as_ref(),
            raw.method.as_ref(),
            raw.migrations.as_ref(),
        )?;
        Ok(l)
    }

    /// The keys a database may set, under their layer names (`user` → `db_user`, `port` →
    /// `db_port`).
    fn database_layer(&self, raw: &RawDatabase) -> Result<Layer> {
        let mut l = Layer::default();
        self.tls_keys(
            &mut l,
            [&raw.sslmode, &raw.sslrootcert, &raw.sslcert, &raw.sslkey],
        )?;
        self.database_keys(
            &mut l,
            raw.user.as_ref().map(|u| (u, "user")),
            raw.port.as_ref().map(|p| (p, "port")),
            raw.password.as_ref(),
            raw.method.as_ref(),
            raw.migrations.as_ref(),
        )?;
        Ok(l)
    }

    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, in that order: the mode checked,
    /// the files relative to this file (`sslrootcert: system` kept as it is).
    fn tls_keys(&self, l: &mut Layer, keys: [&Option<Spanned<String>>; 4]) -> Result<()> {
        for (key, raw) in TLS_KEYS.iter().zip(keys) {
            let Some(s) = raw else { continue };
            let text = self.text(key, s)?;
            let value = match *key {
                "sslmode" if !SSLMODES.contains(&text.as_str()) => {
                    let hint = match crate::suggest(&text, SSLMODES) {
                        Some(m) => format!("; did you mean `{m}`?"),
                        None => String::new(),
                    };
                    return Err(self.error(
                        s,
                        format!(
                            "sslmode `{text}` is not one of {}{hint}",
                            SSLMODES.join(", ")
                        ),
                    ));
                }
                "sslmode" => Value::Text(text),
                "sslrootcert" if text == "system" => Value::Text(text),
                "sslrootcert" => Value::Text(self.path(&text).display().to_string()),
                _ => Value::Path(self.path(&text)),
            };
            l.set(key, value, self.loc(s));
        }
        Ok(())
    }

    fn database_keys(
        &self,
        l: &mut Layer,
        user: Option<(&Spanned<String>, &'static str)>,
        port: Option<(&Spanned<u16>, &'static str)>,
        password: Option<&Spanned<RawPassword>>,
        method: Option<&Spanned<String>>,
        migrations: Option<&Spanned<String>>,
    ) -> Result<()> {
        if let Some((s, written)) = user {
            l.set_as(
                "db_user",
                written,
                Value::Text(self.text(written, s)?),
                self.loc(s),
            );
        }
        if let Some((s, written)) = port {
            l.set_as(
                "db_port",
                written,
                Value::Port(self.port(written, s)?),
                self.loc(s),
            );
        }
        if let Some(s) = password {
            l.set("password", Value::Password(self.password(s)?), self.loc(s));
        }
        if let Some(s) = method {
            l.set("method", Value::Method(self.method(s)?), self.loc(s));
        }
        if let Some(s) = migrations {
            let path = self.path(&self.text("migrations", s)?);
            l.set("migrations", Value::Path(path), self.loc(s));
        }
        Ok(())
    }
}

struct GroupDef {
    name: String,
    loc: Loc,
    members: Vec<(String, Loc)>,
    vars: Layer,
}

struct HostDef {
    name: String,
    loc: Loc,
    ctx: FileCtx,
    raw: RawHost,
    /// The defaults keys set on the host itself.
    layer: Layer,
}

/// Names appear in target ids (`host/db`) and `--limit` patterns.
pub(super) fn check_name(kind: &str, name: &str, loc: &Loc) -> Result<()> {
    const RESERVED: &[char] = &['/', ',', '!', '*', '?', '[', ']', '{', '}'];
    if name.is_empty() {
        return Err(InventoryError::at(loc, format!("a {kind} name is empty")));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || RESERVED.contains(&c))
    {
        return Err(InventoryError::at(
            loc,
            format!(
                "{kind} name `{}` may not contain whitespace or any of / , ! * ? [ ] {{ }} (target ids and --limit patterns use them); rename it",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

pub(super) fn resolve(top: &Path, files: Vec<(PathBuf, RawFile)>) -> Result<Inventory> {
    let mut defaults = Layer::default();
    let mut groups: Vec<GroupDef> = Vec::new();
    let mut hosts: Vec<HostDef> = Vec::new();
    // Where an empty inventory should get its hosts: its last `hosts:`, else the first
    // file's first line.
    let mut hosts_key: Option<Loc> = None;
    let first_file = files.first().map(|(f, _)| f.clone());

    for (file, raw) in files {
        let ctx = FileCtx::new(&file);
        if let Some(d) = raw.defaults {
            for (key, setting) in ctx.layer(d)?.0 {
                if let Some(prev) = defaults.0.get(key) {
                    return Err(InventoryError::at(
                        &setting.at,
                        format!(
                            "defaults: {} is also set at {}; set it in one file only",
                            setting.written, prev.at
                        ),
                    ));
                }
                defaults.0.insert(key, setting);
            }
        }
        for (name, group) in raw.groups.map(|g| g.0).unwrap_or_default() {
            let loc = ctx.loc(&name);
            check_name("group", &name.value, &loc)?;
            if let Some(prev) = groups.iter().find(|g| g.name == name.value) {
                return Err(InventoryError::at(
                    &loc,
                    format!(
                        "group `{}` is defined twice: here and at {}; merge the two",
                        name.value, prev.loc
                    ),
                ));
            }
            let (members, vars) = match group {
                Some(g) => (
                    g.hosts
                        .unwrap_or_default()
                        .iter()
                        .map(|h| (h.value.clone(), ctx.loc(h)))
                        .collect::<Vec<_>>(),
                    match g.vars {
                        Some(v) => ctx.layer(v)?,
                        None => Layer::default(),
                    },
                ),
                None => (Vec::new(), Layer::default()),
            };
            if members.is_empty() {
                return Err(InventoryError::at(
                    &loc,
                    format!(
                        "group `{}` has no hosts; list them (hosts: [NAME, …]) or remove the group",
                        name.value
                    ),
                ));
            }
            groups.push(GroupDef {
                name: name.value,
                loc,
                members,
                vars,
            });
        }
        if let Some(h) = &raw.hosts {
            hosts_key = Some(ctx.loc(h));
        }
        for (name, host) in raw.hosts.map(|h| h.value.0).unwrap_or_default() {
            let loc = ctx.loc(&name);
            check_name("host", &name.value, &loc)?;
            if let Some(prev) = hosts.iter().find(|h| h.name == name.value) {
                return Err(InventoryError::at(
                    &loc,
                    format!(
                        "host `{}` is defined twice: here and at {}; keep one",
                        name.value, prev.loc
                    ),
                ));
            }
            let mut raw = host.unwrap_or_default();
            let layer = ctx.layer(raw.take_settings())?;
            hosts.push(HostDef {
                name: name.value,
                loc,
                ctx: ctx.clone(),
                raw,
                layer,
            });
        }
    }

    if hosts.is_empty() {
        const NO_HOSTS: &str = "the inventory has no hosts; add a hosts: section";
        return Err(match (hosts_key, first_file) {
            (Some(at), _) if at.line > 0 => InventoryError::at(&at, NO_HOSTS),
            (_, Some(file)) => InventoryError::at_line(&file, 1, NO_HOSTS),
            (_, None) => InventoryError::in_file(top, NO_HOSTS),
        });
    }
    let host_names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    for g in &groups {
        if let Some(h) = hosts.iter().find(|h| h.name == g.name) {
            return Err(InventoryError::at(
                &g.loc,
                format!(
                    "`{}` is both a group and a host (at {}); --limit could not tell them apart, rename one",
                    g.name, h.loc
                ),
            ));
        }
        for (member, loc) in &g.members {
            if !host_names.contains(&member.as_str()) {
                let hint = match crate::suggest(member, &host_names) {
                    Some(s) => format!(" (did you mean `{s}`?)"),
                    None => String::new(),
                };
                return Err(InventoryError::at(
                    loc,
                    format!(
                        "group `{}` lists `{member}`, which is not a host of the inventory{hint}; the hosts are {}",
                        g.name,
                        host_names.join(", ")
                    ),
                ));
            }
        }
    }

    let jumps = resolve_jumps(&hosts)?;
    let jumped_through: HashSet<String> = jumps
        .iter()
        .filter_map(|j| match j {
            Some(Jump::Host(h)) => Some(h.clone()),
            _ => None,
        })
        .collect();

    let mut inventory = Inventory {
        hosts: Vec::with_capacity(hosts.len()),
        targets: Vec::new(),
        skipped: Vec::new(),
    };
    for (def, jump) in hosts.into_iter().zip(jumps) {
        let member_of: Vec<&GroupDef> = groups
            .iter()
            .filter(|g| g.members.iter().any(|(m, _)| *m == def.name))
            .collect();
        let group_vars = merge_groups(&def, &member_of)?;
        let settings = def.layer.over(&group_vars).over(&defaults);
        let local = def.raw.local.as_ref().is_some_and(|l| l.value);
        let connection = if local {
            check_local(&def)?;
            Connection::Local
        } else {
            let mut address = match &def.raw.address {
                Some(s) => def.ctx.text("address", s)?,
                None => def.name.clone(),
            };
            let (mut port, mut user) = (settings.port("port"), settings.text("user"));
            if let Some(s) = &def.raw.docker_context {
                let own = super::docker_context::Own {
                    address: def.raw.address.as_ref().map(|a| def.ctx.loc(a)),
                    user: def.layer.at("user"),
                    port: def.layer.at("port"),
                };
                let name = def.ctx.text("docker_context", s)?;
                let ep = super::docker_context::endpoint(&name, &def.ctx.loc(s), &def.name, own)?;
                address = ep.host;
                port = ep.port.or(port);
                user = ep.user.or(user);
            }
            Connection::Ssh(SshSettings {
                address,
                port,
                user,
                identity_files: settings.paths("identity_files"),
                identity_at: settings.at("identity_files").map(Box::new),
                known_hosts: settings.paths("known_hosts"),
                jump,
                connect_timeout: settings
                    .duration("connect_timeout")
                    .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                keepalive: settings.duration("keepalive").unwrap_or(DEFAULT_KEEPALIVE),
            })
        };

        let databases = def
            .raw
            .databases
            .as_ref()
            .map(|d| d.0.as_slice())
            .unwrap_or_default();
        if databases.is_empty() && !jumped_through.contains(&def.name) {
            return Err(InventoryError::at(
                &def.loc,
                format!(
                    "host `{}` has no databases; add databases: NAME: {{ container: … }} (only a host that others jump through may have none)",
                    def.name
                ),
            ));
        }
        for (name, db) in databases {
            inventory
                .targets
                .push(target(&def, &settings, name, db.as_ref())?);
        }
        inventory.hosts.push(Host {
            name: def.name,
            connection,
            docker_socket: settings
                .text("docker_socket")
                .unwrap_or_else(|| DEFAULT_DOCKER_SOCKET.to_owned()),
            groups: member_of.iter().map(|g| g.name.clone()).collect(),
        });
    }
    Ok(inventory)
}

/// The vars of a host's groups, merged; two groups setting one key differently is an error
/// unless the host sets that key itself.
fn merge_groups(host: &HostDef, groups: &[&GroupDef]) -> Result<Layer> {
    let mut merged = Layer::default();
    let mut from: BTreeMap<&str, &str> = BTreeMap::new();
    for g in groups {
        for (key, setting) in &g.vars.0 {
            if host.layer.0.contains_key(key) {
                continue;
            }
            match merged.0.get(key) {
                Some(prev) if prev.value != setting.value => {
                    let other = from[key];
                    return Err(InventoryError::at(
                        &setting.at,
                        format!(
                            "host `{}` is in groups `{other}` and `{}`, whose vars set {key} differently ({} at {}, {} here); set {key} on the host itself, or in only one of the groups",
                            host.name,
                            g.name,
                            prev.value,
                            prev.at,
                            setting.value,
                            key = setting.written,
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    merged.0.insert(key, setting.clone());
                    from.insert(key, &g.name);
                }
            }
        }
    }
    Ok(merged)
}

/// A `local: true` host has no SSH side: its own SSH keys are mistakes.
fn check_local(def: &HostDef) -> Result<()> {
    let complain = |key: &str, at: &Loc| {
        Err(InventoryError::at(
            at,
            format!(
                "host `{}` is local: true (this machine's docker, no SSH), so {key} does not apply; remove it, or set local: false",
                def.name
            ),
        ))
    };
    if let Some(s) = &def.raw.address {
        return complain("address", &def.ctx.loc(s));
    }
    if let Some(s) = &def.raw.jump {
        return complain("jump", &def.ctx.loc(s));
    }
    if let Some(s) = &def.raw.docker_context {
        return complain("docker_context", &def.ctx.loc(s));
    }
    for key in SSH_KEYS {
        if let Some(s) = def.layer.0.get(key) {
            return complain(s.written, &s.at);
        }
    }
    Ok(())
}

/// Each host's jump, resolved; unknown names, local jump hosts and loops are errors.
fn resolve_jumps(hosts: &[HostDef]) -> Result<Vec<Option<Jump>>> {
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let is_local = |name: &str| {
        hosts
            .iter()
            .any(|h| h.name == name && h.raw.local.as_ref().is_some_and(|l| l.value))
    };
    let mut jumps = Vec::with_capacity(hosts.len());
    for h in hosts {
        // A local host's jump is refused by `check_local`, with the reason.
        let (Some(s), false) = (&h.raw.jump, is_local(&h.name)) else {
            jumps.push(None);
            continue;
        };
        let text = h.ctx.text("jump", s)?;
        let jump = if names.contains(&text.as_str()) {
            if is_local(&text) {
                return Err(h.ctx.error(
                    s,
                    format!(
                        "`{text}` is a local host (no SSH) and cannot be jumped through; jump through a host reached over SSH, or remove jump"
                    ),
                ));
            }
            Jump::Host(text)
        } else if text.contains(['@', ':', '.']) {
            parse_address(&text).map_err(|why| {
                h.ctx
                    .error(s, format!("jump `{text}`: {why}; write [user@]host[:port]"))
            })?
        } else {
            let hint = match crate::suggest(&text, &names) {
                Some(n) => format!(" (did you mean `{n}`?)"),
                None => String::new(),
            };
            return Err(h.ctx.error(
                s,
                format!(
                    "jump `{text}` is not a host of the inventory{hint}; name an inventory host, or write an address as [user@]host[:port]"
                ),
            ));
        };
        jumps.push(Some(jump));
    }
    if let Some((chain, n)) = jump_loop(&jumps, &names) {
        let pos = chain.iter().position(|&c| c == n).unwrap_or(0);
        let mut shown: Vec<&str> = chain[pos..].iter().map(|&i| names[i]).collect();
        shown.push(names[n]);
        let h = &hosts[n];
        let at = h
            .raw
            .jump
            .as_ref()
            .map(|s| h.ctx.loc(s))
            .unwrap_or(h.loc.clone());
        return Err(InventoryError::at(
            &at,
            format!(
                "jump loop: {}; one of these hosts must be reachable without a jump",
                shown.join(" → ")
            ),
        ));
    }
    Ok(jumps)
}

/// The first jump loop among hosts whose `jump` names another host (`names[i]` is host
/// i's name): the chain followed from its first host, and the host it comes back to. Both
/// inventory forms (pgfleet's and Ansible's) check their jumps with it.
pub(super) fn jump_loop(jumps: &[Option<Jump>], names: &[&str]) -> Option<(Vec<usize>, usize)> {
    let next = |i: usize| match &jumps[i] {
        Some(Jump::Host(name)) => names.iter().position(|n| n == name),
        _ => None,
    };
    for start in 0..jumps.len() {
        let mut chain = vec![start];
        let mut current = start;
        while let Some(n) = next(current) {
            if chain.contains(&n) {
                return Some((chain, n));
            }
            chain.push(n);
            current = n;
        }
    }
    None
}

/// `[user@]host[:port]`, with `[v6]:port` for IPv6 addresses.
pub(super) fn parse_address(text: &str) -> Result<Jump, String> {
    let (user, rest) = match text.rsplit_once('@') {
        Some(("", r)) => return Err(format!("the user before @ in `{r}` is empty")),
        Some((u, r)) => (Some(u.to_owned()), r),
        None => (None, text),
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "a `[` without its `]`".to_owned())?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err(format!("unexpected `{after}` after the ]")),
            },
        }
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
        (h, Some(p))
    } else {
        (rest, None)
    };
    if host.is_empty() {
        return Err("the host is empty".to_owned());
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("`{p}` is not a port")),
        },
    };
    Ok(Jump::Address {
        user,
        host: host.to_owned(),
        port,
    })
}

fn target(
    host: &HostDef,
    settings: &Layer,
    name: &Spanned<String>,
    db: Option<&RawDatabase>,
) -> Result<Target> {
    let ctx = &host.ctx;
    check_name("database", &name.value, &ctx.loc(name))?;
    let id = format!("{}/{}", host.name, name.value);
    let Some(db) = db else {
        return Err(ctx.error(
            name,
            format!("database `{id}` is empty; give it container: NAME or label: KEY=VALUE"),
        ));
    };
    let container = match (&db.container, &db.label) {
        (Some(c), None) => ContainerRef::Name(ctx.text("container", c)?),
        (None, Some(l)) => ContainerRef::Label(ctx.text("label", l)?),
        (Some(_), Some(l)) => {
            return Err(ctx.error(
                l,
                format!(
                    "database `{id}` has both container and label; keep one (container names the container, label finds the one container carrying it)"
                ),
            ));
        }
        (None, None) => {
            return Err(ctx.error(
                name,
                format!(
                    "database `{id}` names no container; add container: NAME or label: KEY=VALUE"
                ),
            ));
        }
    };
    let database = match &db.database {
        Some(s) => Some(ctx.text("database", s)?),
        None => None,
    };
    let settings = ctx.database_layer(db)?.over(settings);
    Ok(Target {
        host: host.name.clone(),
        name: name.value.clone(),
        container,
        database,
        user: settings.text("db_user"),
        password: settings.password(),
        password_at: settings.at("password"),
        method: settings.method(),
        migrations: settings
            .path("migrations")
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MIGRATIONS)),
        port: settings.port("db_port").unwrap_or(DEFAULT_DB_PORT),
        drift_ignore: settings.drift_ignore(),
        tls: target_tls(&settings)?,
    })
}

/// The target's TLS settings; refused with `method: exec`, whose psql reaches PostgreSQL
/// over the container's own Unix socket, where PostgreSQL never uses TLS.
fn target_tls(settings: &Layer) -> Result<TargetTls> {
    let tls = TargetTls {
        sslmode: settings.text("sslmode"),
        sslrootcert: settings.text("sslrootcert"),
        sslcert: settings.path("sslcert"),
        sslkey: settings.path("sslkey"),
    };
    if settings.method() == Method::Exec
        && let Some((key, at)) = TLS_KEYS
            .iter()
            .find_map(|key| settings.at(key).map(|at| (key, at)))
    {
        return Err(InventoryError::at(
            &at,
            format!(
                "{key} is set, but method is exec: psql runs inside the container over its local socket, where PostgreSQL never uses TLS; remove the ssl* keys, or use method: tunnel"
            ),
        ));
    }
    Ok(tls)
}

/// The folder relative paths in `file` start at, in a form whose `..` can be taken
/// lexically: as written when no symlink is in the way, else the real path.
fn base_dir(file: &Path) -> PathBuf {
    let given = file.parent().unwrap_or(Path::new("")).to_path_buf();
    let probe = if given.as_os_str().is_empty() {
        Path::new(".")
    } else {
        given.as_path()
    };
    let Ok(real) = std::fs::canonicalize(probe) else {
        return given;
    };
    let lexical = if given.is_absolute() {
        normalize(&given)
    } else {
        match std::env::current_dir() {
            Ok(cwd) => normalize(&cwd.join(&given)),
            Err(_) => return real,
        }
    };
    if lexical == real { given } else { real }
}

/// `.` dropped and `a/..` folded, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            c => out.push(c),
        }
    }
    out.iter().collect()
}

/// `~` is $HOME; a relative path starts at `base`. A leading `..` folds into `base` (which
/// `base_dir` made safe to fold); a `..` after a folder of `text` itself is kept, as that
/// folder may be a symlink.
pub(super) fn resolve_path(text: &str, base: &Path) -> PathBuf {
    if (text == "~" || text.starts_with("~/"))
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(text[1..].trim_start_matches('/'));
    }
    let rel = Path::new(text);
    if rel.is_absolute() {
        return rel.to_path_buf();
    }
    let mut out: Vec<Component<'_>> = base
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let mut foldable = out.len();
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if foldable > 0 && out.len() == foldable => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                    foldable -= 1;
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => {
                    out.push(c);
                    foldable = 0;
                }
            },
            c => out.push(c),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_fold_into_the_base() {
        let p = |t: &str, b: &str| resolve_path(t, Path::new(b));
        assert_eq!(p("../.fleet/key", "inventory"), PathBuf::from(".fleet/key"));
        assert_eq!(
            p("./known_hosts", "inventory"),
            PathBuf::from("inventory/known_hosts")
        );
        assert_eq!(p("../x", ""), PathBuf::from("../x"));
        assert_eq!(p("../../x", "a"), PathBuf::from("../x"));
        assert_eq!(p("..", "a"), PathBuf::from("."));
        assert_eq!(p("/etc/x", "a"), PathBuf::from("/etc/x"));
        assert_eq!(p("../x", "/"), PathBuf::from("/x"));
        // `b` may be a symlink: its `..` is kept.
        assert_eq!(p("b/../c", "a"), PathBuf::from("a/b/../c"));
    }

    #[test]
    fn jump_addresses_parse() {
        let a = |user: Option<&str>, host: &str, port: Option<u16>| Jump::Address {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        };
        assert_eq!(
            parse_address("admin@gw.example.net:2222"),
            Ok(a(Some("admin"), "gw.example.net", Some(2222)))
        );
        assert_eq!(parse_address("gw.lan"), Ok(a(None, "gw.lan", None)));
        assert_eq!(parse_address("[::1]:22"), Ok(a(None, "::1", Some(22))));
        assert_eq!(parse_address("fe80::1"), Ok(a(None, "fe80::1", None)));
        assert!(parse_address("gw:port").is_err());
        assert!(parse_address("@gw").is_err());
        assert!(parse_address("u@:22").is_err());
    }
}
