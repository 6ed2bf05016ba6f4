//! Header directives: `-- pgfleet:<name> …` lines before the first `-- migrate:up`, where
//! dbmate reads only comments. They say which workloads share what the migration changes,
//! and how to keep them safe while it runs. Pure: parsed with the file (so the checksum
//! covers them); acting on them is the runner's job.

use pg_query::NodeEnum;

use super::ParseErrorKind;

/// Which containers on the target's docker host a directive names: a container name, or
/// `label=KEY` / `label=KEY=VALUE` (as `docker ps --filter label=…` takes it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    Name(String),
    Label { key: String, value: Option<String> },
}

impl std::fmt::Display for Selector {
    /// As written in the file: `worker` or `label=app=classifier`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Name(n) => f.write_str(n),
            Selector::Label { key, value: None } => write!(f, "label={key}"),
            Selector::Label {
                key,
                value: Some(v),
            } => write!(f, "label={key}={v}"),
        }
    }
}

/// What `requires` wants of the running container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `image=REF`: the image the container was created from, as docker names it.
    Image(String),
    /// `label=KEY=VALUE` on the container.
    Label { key: String, value: String },
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requirement::Image(r) => write!(f, "image={r}"),
            Requirement::Label { key, value } => write!(f, "label={key}={value}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `-- pgfleet:used-by SELECTOR [note]`: workloads that read or write what this
    /// migration changes.
    UsedBy {
        selector: Selector,
        note: Option<String>,
    },
    /// `-- pgfleet:stop SELECTOR`: stopped before the migration, started again after.
    Stop { selector: Selector },
    /// `-- pgfleet:requires SELECTOR image=REF|label=K=V`: refuse until it runs that.
    Requires {
        selector: Selector,
        requirement: Requirement,
    },
    /// `-- pgfleet:precondition SQL`: one boolean, true to go ahead.
    Precondition { sql: String },
    /// `-- pgfleet:quiesce NAME`: the exclusive side of a shared advisory lock that batch
    /// workers hold for the length of a batch.
    Quiesce { name: String },
}

/// A directive and the 1-based line it stands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub line: usize,
    pub directive: Directive,
}

/// The directives' names, as written after `pgfleet:`.
pub const NAMES: [&str; 5] = ["used-by", "stop", "requires", "precondition", "quiesce"];

impl Directive {
    /// Its name, as written after `pgfleet:`.
    pub fn name(&self) -> &'static str {
        match self {
            Directive::UsedBy { .. } => "used-by",
            Directive::Stop { .. } => "stop",
            Directive::Requires { .. } => "requires",
            Directive::Precondition { .. } => "precondition",
            Directive::Quiesce { .. } => "quiesce",
        }
    }

    /// What it asks, in words, for `plan`: `used by: worker (the pipeline)`, `stops: worker`.
    pub fn describe(&self) -> String {
        match self {
            Directive::UsedBy {
                selector,
                note: None,
            } => format!("used by: {selector}"),
            Directive::UsedBy {
                selector,
                note: Some(note),
            } => format!("used by: {selector} ({note})"),
            Directive::Stop { selector } => format!("stops: {selector}"),
            Directive::Requires {
                selector,
                requirement,
            } => format!("requires: {selector} at {requirement}"),
            Directive::Precondition { sql } => format!("precondition: {sql}"),
            Directive::Quiesce { name } => format!("quiesce: {name}"),
        }
    }
}

/// The selectors of a file's `used-by` directives, in file order.
pub fn used_by(directives: &[Declared]) -> Vec<Selector> {
    directives
        .iter()
        .filter_map(|d| match &d.directive {
            Directive::UsedBy { selector, .. } => Some(selector.clone()),
            _ => None,
        })
        .collect()
}

/// The first word of `text` and the rest, trimmed.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], text[end..].trim())
}

/// The name a `pgfleet:` line starts with (`stop` in `-- pgfleet:stop worker`), if it is a
/// directive's: such a line after `-- migrate:up` was meant as one and is in the wrong place.
pub(super) fn known_name(text: &str) -> Option<&'static str> {
    let name = text.split(char::is_whitespace).next()?;
    NAMES.into_iter().find(|n| *n == name)
}

/// Parses what follows `pgfleet:` on a header line. `baseline` is no directive but the mark
/// of a baseline file, read apart (`BASELINE_MARK`), and `allow` is `check`'s: `None`.
pub(super) fn parse(text: &str) -> Result<Option<Directive>, ParseErrorKind> {
    // No space may follow the colon: the name starts right there.
    if text.starts_with(char::is_whitespace) || text.is_empty() {
        return Err(ParseErrorKind::MissingDirective);
    }
    let (name, args) = first_word(text);
    let directive = match name {
        // `baseline` marks a baseline file; `allow` is read by `check` (check/allow.rs).
        "baseline" | "allow" => return Ok(None),
        "used-by" => {
            let (selector, note) = first_word(args);
            Directive::UsedBy {
                selector: selector_of("used-by", selector)?,
                note: (!note.is_empty()).then(|| note.to_string()),
            }
        }
        "stop" => {
            let (selector, extra) = first_word(args);
            let selector = selector_of("stop", selector)?;
            nothing_more(extra, "-- pgfleet:stop SELECTOR")?;
            Directive::Stop { selector }
        }
        "requires" => {
            let (selector, rest) = first_word(args);
            let selector = selector_of("requires", selector)?;
            let (requirement, extra) = first_word(rest);
            let requirement = requirement_of(requirement)?;
            nothing_more(
                extra,
                "-- pgfleet:requires SELECTOR image=REF|label=KEY=VALUE",
            )?;
            Directive::Requires {
                selector,
                requirement,
            }
        }
        "precondition" => Directive::Precondition {
            sql: precondition(args)?,
        },
        "quiesce" => {
            let (name, extra) = first_word(args);
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
            if !valid {
                return Err(ParseErrorKind::BadQuiesceName {
                    name: name.to_string(),
                });
            }
            nothing_more(extra, "-- pgfleet:quiesce NAME")?;
            Directive::Quiesce {
                name: name.to_string(),
            }
        }
        _ => {
            let mut known = NAMES.to_vec();
            known.extend(["baseline", "allow"]);
            return Err(ParseErrorKind::UnknownDirective {
                name: name.to_string(),
                suggestion: crate::suggest(name, &known),
            });
        }
    };
    Ok(Some(directive))
}

fn nothing_more(extra: &str, usage: &'static str) -> Result<(), ParseErrorKind> {
    if extra.is_empty() {
        return Ok(());
    }
    Err(ParseErrorKind::ExtraWords {
        extra: extra.to_string(),
        usage,
    })
}

/// A container name (docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`), `label=KEY` or `label=KEY=VALUE`.
fn selector_of(directive: &'static str, word: &str) -> Result<Selector, ParseErrorKind> {
    if word.is_empty() {
        return Err(ParseErrorKind::MissingSelector { directive });
    }
    let bad = |why| ParseErrorKind::BadSelector {
        directive,
        selector: word.to_string(),
        why,
    };
    if let Some(label) = word.strip_prefix("label=") {
        let (key, value) = match label.split_once('=') {
            Some((key, value)) => (key, Some(value.to_string())),
            None => (label, None),
        };
        if key.is_empty() {
            return Err(bad(
                "a label selector needs a key: label=KEY or label=KEY=VALUE",
            ));
        }
        return Ok(Selector::Label {
            key: key.to_string(),
            value,
        });
    }
    let mut chars = word.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid {
        return Err(bad(
            "a container name starts with a letter or digit and holds only letters, digits, '_', '.' and '-' (or select by label=KEY or label=KEY=VALUE)",
        ));
    }
    Ok(Selector::Name(word.to_string()))
}

/// `image=REF` or `label=KEY=VALUE`.
fn requirement_of(word: &str) -> Result<Requirement, ParseErrorKind> {
    if let Some(image) = word.strip_prefix("image=").filter(|r| !r.is_empty()) {
        return Ok(Requirement::Image(image.to_string()));
    }
    match word.strip_prefix("label=").and_then(|l| l.split_once('=')) {
        Some((key, value)) if !key.is_empty() => Ok(Requirement::Label {
            key: key.to_string(),
            value: value.to_string(),
        }),
        _ => Err(ParseErrorKind::BadRequirement {
            found: word.to_string(),
        }),
    }
}

/// The SQL of a precondition, checked now so that a typo fails when the file is read, not
/// when a fleet is half migrated.
fn precondition(sql: &str) -> Result<String, ParseErrorKind> {
    let bad = |reason: String| ParseErrorKind::BadPrecondition { reason };
    if sql.is_empty() {
        return Err(bad("there is no SQL after it".to_string()));
    }
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| {
        bad(match e {
            pg_query::Error::Parse(message) => format!("PostgreSQL's parser says: {message}"),
            other => other.to_string(),
        })
    })?;
    let stmts = &parsed.protobuf.stmts;
    let node = match stmts.as_slice() {
        [one] => one.stmt.as_ref().and_then(|s| s.node.as_ref()),
        [] => return Err(bad("it holds no statement".to_string())),
        many => return Err(bad(format!("it holds {} statements", many.len()))),
    };
    match node {
        Some(NodeEnum::SelectStmt(s)) if s.into_clause.is_none() => Ok(sql.to_string()),
        Some(NodeEnum::SelectStmt(_)) => Err(bad("SELECT … INTO would create a table".to_string())),
        Some(other) => Err(bad(format!(
            "it is not a SELECT: PostgreSQL's parser reads {}",
            super::locks::kind(other)
        ))),
        None => Err(bad("it holds no statement".to_string())),
    }
}
