//! Header directives: `-- pgfleet:<name> …` lines before the first `-- migrate:up`, where
//! dbmate reads only comments. They say which workloads share what the migration changes,
//! and how to keep them safe while it runs. Pure: parsed with the file (so the checksum
//! covers them); acting on them is the runner's job.

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
