//! `InventoryError`: one message, located at `file:line:column` where that is known.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{DefaultMessageFormatter, Error as YamlError, MessageFormatter};

use super::raw::{PASSWORD_EXPECTED, PASSWORD_SOURCES};

/// A bad inventory: YAML syntax, an unknown key, a value that does not resolve. `Display`
/// is `file:line:column: message` (as much of the location as is known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", Prefix(self))]
pub struct InventoryError {
    pub file: Option<PathBuf>,
    /// 1-based, as editors count.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

struct Prefix<'a>(&'a InventoryError);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        match (&e.file, e.line, e.column) {
            (Some(file), Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: ", file.display())
            }
            (Some(file), Some(line), None) => write!(f, "{}:{line}: ", file.display()),
            (Some(file), _, _) => write!(f, "{}: ", file.display()),
            (None, _, _) => Ok(()),
        }
    }
}

/// A place in an inventory file: `file:line:column` (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Loc {
    pub(super) fn new(file: &Path, location: serde_saphyr::Location) -> Loc {
        Loc {
            file: file.to_path_buf(),
            line: location.line() as usize,
            column: location.column() as usize,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

impl InventoryError {
    /// An error with no place in a file (`--limit`, an empty folder).
    pub(super) fn new(message: impl Into<String>) -> Self {
        InventoryError {
            file: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub(super) fn in_file(file: &Path, message: impl Into<String>) -> Self {
        InventoryError {
            file: Some(file.to_path_buf()),
            ..Self::new(message)
        }
    }

    /// An error about a whole file, placed at its first line so that an editor opens it
    /// there (an empty inventory, one with no hosts).
    pub(super) fn at_line(file: &Path, line: usize, message: impl Into<String>) -> Self {
        InventoryError {
            line: Some(line),
            ..Self::in_file(file, message)
        }
    }

    pub(crate) fn at(loc: &Loc, message: impl Into<String>) -> Self {
        let known = loc.line > 0;
        InventoryError {
            file: Some(loc.file.clone()),
            line: known.then_some(loc.line),
            column: known.then_some(loc.column),
            message: message.into(),
        }
    }

    /// A YAML error in `file`, worded for the inventory: unknown keys get a "did you mean",
    /// and nothing written as a password is ever quoted back.
    pub(super) fn from_yaml(file: &Path, error: &YamlError) -> Self {
        let message = yaml_message(error.without_snippet());
        match error.location().filter(|l| l.line() > 0) {
            Some(location) => Self::at(&Loc::new(file, location), message),
            None => Self::in_file(file, message),
        }
    }
}

fn yaml_message(error: &YamlError) -> String {
    match error {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => unknown_key(field, expected),
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } if expected.as_slice() == PASSWORD_SOURCES => {
            let hint = match crate::suggest(variant, PASSWORD_SOURCES) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            format!(
                "unknown password source `{}`{hint}; write {{ env: VAR }}, {{ file: PATH }} or {{ container: VAR }}",
                sanitize(variant)
            )
        }
        YamlError::SerdeInvalidType { expected, .. } if expected == PASSWORD_EXPECTED => {
            "a password itself does not belong in the inventory: write where pgfleet reads it, \
             password: { env: VAR }, { file: PATH } or { container: VAR }"
                .to_owned()
        }
        YamlError::SerdeInvalidLength { expected, .. } if expected == PASSWORD_EXPECTED => {
            "password takes exactly one source: { env: VAR }, { file: PATH } or { container: VAR }"
                .to_owned()
        }
        YamlError::DuplicateMappingKey { key: Some(key), .. } => format!(
            "`{}` appears twice in the same mapping; keep one",
            sanitize(key)
        ),
        YamlError::AliasError { error, .. } => yaml_message(error),
        YamlError::MultipleDocuments { .. } => {
            "an inventory file holds one YAML document: remove the `---`, or put the documents \
             in files of their own in one folder (a folder's files are merged)"
                .to_owned()
        }
        YamlError::Unexpected {
            expected: "mapping start",
            ..
        } => "expected a mapping here (`key: value` lines, or { key: value })".to_owned(),
        YamlError::InvalidScalar { ty: "u16", .. } => {
            "expected a port number, 1 to 65535".to_owned()
        }
        YamlError::InvalidScalar { ty: "boolean", .. } => "expected true or false".to_owned(),
        YamlError::Unexpected {
            expected: "sequence start",
            ..
        } => "expected a list here: [a, b] or `- a` lines".to_owned(),
        YamlError::Unexpected {
            expected: "string scalar",
            ..
        } => "expected a single value here, not a list or a mapping".to_owned(),
        YamlError::NullIntoString { .. } => {
            "this is empty (or `~`), and a value is needed here; write one, or remove the key"
                .to_owned()
        }
        YamlError::UnknownAnchor { .. } => {
            "`*name` refers to no anchor: define it first with `&name` on the value to repeat"
                .to_owned()
        }
        // The YAML scanner's own words ("unclosed quote", "did not find expected ':'…"),
        // with what to do.
        YamlError::ExternalMessage { msg, .. } => {
            let fix = if msg.starts_with("unclosed") {
                "close it"
            } else {
                "check the brackets, quotes and indentation here and on the lines above"
            };
            format!("{}: {fix}", sanitize(msg))
        }
        other => sanitize(&DefaultMessageFormatter.format_message(other)),
    }
}

/// Which mapping a serde "expected one of" list belongs to, by a key only it has.
fn context(expected: &[&str]) -> &'static str {
    let has = |k: &str| expected.contains(&k);
    if has("databases") {
        "in a host"
    } else if has("container") {
        "in a database"
    } else if has("vars") {
        "in a group"
    } else if has("defaults") {
        "at the top level (defaults, groups, hosts)"
    } else if has("db_user") {
        "in defaults or group vars"
    } else {
        "here"
    }
}

/// Keys that exist, but elsewhere: say where they go.
fn misplaced(field: &str, expected: &[&str]) -> Option<&'static str> {
    let in_database = expected.contains(&"container");
    let in_host = expected.contains(&"databases");
    match field {
        "db_user" | "db_port" if in_database => {
            Some("in a database, the database user and port are plain `user` and `port`")
        }
        "container" | "label" | "database" if !in_database => {
            Some("it belongs to a database: hosts: NAME: databases: DB: { container: … }")
        }
        "address" | "jump" | "local" | "docker_context" | "databases"
            if !in_host && !in_database =>
        {
            Some("it is set per host, under hosts: NAME:")
        }
        "identity_file" | "identity_files" | "known_hosts" | "connect_timeout" | "keepalive"
        | "docker_socket" | "address" | "jump" | "local" | "db_user" | "db_port"
            if in_database =>
        {
            Some("it is a host setting: set it on the host, in a group's vars or in defaults")
        }
        _ => None,
    }
}

fn unknown_key(field: &str, expected: &[&str]) -> String {
    let field_shown = sanitize(field);
    let mut message = format!("unknown key `{field_shown}` {}", context(expected));
    if let Some(hint) = misplaced(field, expected) {
        message.push_str(": ");
        message.push_str(hint);
    } else if let Some(s) = crate::suggest(field, expected) {
        message.push_str(&format!("; did you mean `{s}`?"));
    } else {
        message.push_str(&format!("; the keys here are {}", expected.join(", ")));
    }
    message
}

/// Control characters from the file are shown escaped, never sent to the terminal.
fn sanitize(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_owned()
    }
}
