//! Every error the library reports, each with its exit code. `main` maps them in one place.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::migration::ParseError;

/// The exit codes, documented once: `TABLE` feeds `--help`, and a test holds the README's
/// table to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    /// Pending migrations (with `--exit-code`), `verify` found a problem, drift found, or a
    /// target left untouched because its schema differs.
    Pending = 1,
    /// A migration, the connection or the database failed.
    Failed = 2,
    /// Bad input or configuration: flags, URL, migration files.
    BadInput = 3,
    /// Refused before anything ran: applied files changed, `--strict` order, lock busy.
    Refused = 4,
    /// Interrupted (SIGINT/SIGTERM): running migrations finished or rolled back, nothing
    /// new started.
    Interrupted = 130,
}

/// `text` wrapped at 80 columns after `first` (its first line's prefix), the lines after it
/// indented as far, so the exit-code table reads as a table in `--help` and man pages.
fn hanging(first: &str, text: &str) -> String {
    const WIDTH: usize = 80;
    let indent = " ".repeat(first.chars().count());
    let mut out = first.to_string();
    let mut column = out.chars().count();
    let mut line_empty = true;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if !line_empty && column + 1 + len > WIDTH {
            out.push('\n');
            out.push_str(&indent);
            column = indent.len();
            line_empty = true;
        }
        if !line_empty {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
        line_empty = false;
    }
    out.push('\n');
    out
}

/// How one target ended, as far as the exit code cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ran, and the command's exit rule found nothing.
    Ok,
    /// It ran, and the command's exit rule found something (pending, changed, drift…).
    Flagged,
    /// It failed, with this error's code.
    Failed(ExitCode),
    /// It never started (`--canary`, `--fail-fast`, Ctrl-C).
    Skipped,
}

impl ExitCode {
    /// Each code and what it means, as the README and `--help` say it.
    pub const TABLE: [(ExitCode, &'static str); 6] = [
        (ExitCode::Ok, "done"),
        (
            ExitCode::Pending,
            "migrations pending (`status --exit-code`, `--quiet`), `verify` found changed files or versions with no file, `drift` found drift, `baseline`/`register` left a target untouched because its schema differs, `check` found problems at or above `--deny`, or `discover` found no running PostgreSQL database",
        ),
        (
            ExitCode::Failed,
            "a migration, the connection or the database failed (on a fleet: some target did)",
        ),
        (
            ExitCode::BadInput,
            "bad input or configuration: flags, URL, env file, inventory, `~/.ssh/config`, migration files; for `check`, a path, rule or `--since` ref it cannot use; for `query`, SQL that does not parse or holds transaction control",
        ),
        (
            ExitCode::Refused,
            "refused before anything ran (on `up`: before the migration concerned started): applied files edited (see `--allow-changed`), `--strict` order, the lock held by another run for longer than `--lock-wait`, a baseline on a database with pgfleet history or a hand-made history table, `up` running a baseline where other versions are applied, the database busy before a migration (pre-flight, a `precondition`, a `quiesce` lock; `--wait-for-quiet` run out), a `requires` directive not met, or a pending file with a `check` error (see `--no-check`)",
        ),
        (
            ExitCode::Interrupted,
            "interrupted (Ctrl-C, SIGTERM): running migrations finished or rolled back, nothing new started",
        ),
    ];

    /// The table as `--help` shows it after the flags.
    pub fn help() -> String {
        let mut text = String::from("Exit codes:\n");
        for (code, meaning) in Self::TABLE {
            text.push_str(&hanging(
                &format!("{:>5}  ", code as u8),
                &meaning.replace('`', ""),
            ));
        }
        text.push_str(&hanging(
            "",
            "On a fleet: 130 if interrupted; else the failures' code when they are all of one kind, 2 for a mix; else 1 or 0.",
        ));
        text
    }

    /// Each code in a word or two, for a command's short help (`-h`).
    pub fn summary() -> String {
        let codes: Vec<String> = Self::TABLE
            .iter()
            .map(|(code, _)| format!("{} {}", *code as u8, code.label()))
            .collect();
        hanging(
            "",
            &format!(
                "Exit codes: {} (--help says what each means).",
                codes.join(", ")
            ),
        )
    }

    fn label(self) -> &'static str {
        match self {
            ExitCode::Ok => "done",
            ExitCode::Pending => "a finding to act on (pending, changed, drift, …)",
            ExitCode::Failed => "failed",
            ExitCode::BadInput => "bad input",
            ExitCode::Refused => "refused before running",
            ExitCode::Interrupted => "interrupted",
        }
    }

    /// The one exit policy: 130 when interrupted; else the failures' code (one kind of
    /// failure keeps its own, a mix or a skipped target reads as 2); else 1 when a target
    /// was flagged; else 0.
    pub fn of_run(endings: &[Ending], interrupted: bool) -> ExitCode {
        if interrupted {
            return ExitCode::Interrupted;
        }
        let failures: Vec<ExitCode> = endings
            .iter()
            .filter_map(|e| match e {
                Ending::Failed(code) => Some(*code),
                Ending::Skipped => Some(ExitCode::Failed),
                Ending::Ok | Ending::Flagged => None,
            })
            .collect();
        if let Some(&first) = failures.first() {
            return if failures.iter().all(|c| *c == first) {
                first
            } else {
                ExitCode::Failed
            };
        }
        if endings.contains(&Ending::Flagged) {
            ExitCode::Pending
        } else {
            ExitCode::Ok
        }
    }

    /// Bad flags are bad input; `--help` and `--version` are not errors.
    pub fn of_usage(error: &clap::Error) -> ExitCode {
        if error.use_stderr() {
            ExitCode::BadInput
        } else {
            ExitCode::Ok
        }
    }
}

/// A PostgreSQL error with everything the server said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub code: Option<String>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the statement sent, when the server gave one.
    pub position: Option<usize>,
}

impl SqlError {
    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The connection went away without the server saying what became of what was sent
    /// (no SQLSTATE, or class 08): unlike 57P0x, where the server ended the session and
    /// rolled its transaction back.
    pub fn outcome_unknown(&self) -> bool {
        self.code.as_deref().is_none_or(|c| c.starts_with("08"))
    }

    /// The session ended under the statement: the connection closed, or the server
    /// terminated the backend (class 08, 57P01–57P03).
    pub fn is_connection_lost(&self) -> bool {
        match self.code.as_deref() {
            None => true,
            Some(code) => code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03"),
        }
    }
}

impl From<tokio_postgres::Error> for SqlError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => SqlError {
                code: Some(db.code().code().to_string()),
                message: db.message().to_string(),
                detail: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
                position: match db.position() {
                    Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
                    _ => None,
                },
            },
            // "connection closed", I/O errors: tokio-postgres' Display says what happened.
            None => SqlError {
                code: None,
                message: {
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        text = format!("{text}: {s}");
                        source = s.source();
                    }
                    text
                },
                detail: None,
                hint: None,
                position: None,
            },
        }
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "ERROR {code}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(d) = &self.detail {
            write!(f, "\n  DETAIL: {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  HINT: {h}")?;
        }
        Ok(())
    }
}

/// A migration that failed while running, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFailure {
    pub file: PathBuf,
    pub direction: &'static str,
    /// 1-based line and column in the file.
    pub line: usize,
    pub column: usize,
    pub statement: String,
    pub error: SqlError,
    /// True when the file ran in a transaction that was rolled back.
    pub transactional: bool,
    /// For `transaction:false` files: the statements of this file that ran before.
    pub ran_before: Vec<String>,
}

impl fmt::Display for MigrationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        writeln!(
            f,
            "{} of {name} failed at {}:{}:{}",
            self.direction,
            self.file.display(),
            self.line,
            self.column
        )?;
        writeln!(f, "  {}", self.error.to_string().replace('\n', "\n  "))?;
        writeln!(f, "  statement: {}", self.statement)?;
        let lost = self.error.is_connection_lost();
        // The server said it ended the session (57P0x) before the migration committed: then
        // it is known to be rolled back. A connection that just went away says nothing of
        // whether the COMMIT got there, and psql in a container may go on with the rest of
        // its batch after pgfleet is gone: never claim more than is known.
        let ended_by_server = self
            .error
            .code
            .as_deref()
            .is_some_and(|c| c.starts_with("57P0"));
        if self.transactional && ended_by_server {
            write!(
                f,
                "the server ended the session during {name}, before it committed: PostgreSQL rolled its transaction back, so nothing of it was kept; run the command again"
            )
        } else if self.transactional && lost {
            write!(
                f,
                "the connection was lost during {name}, so whether it committed is not known here: each migration is all or nothing with its tracking row, but {name} and the ones after it may have been applied (psql inside a container goes on with the rest of its batch after pgfleet is gone). Run `pgfleet status` to see what is applied, then run the command again"
            )
        } else if self.transactional && self.error.is_code("55P03") {
            write!(
                f,
                "nothing of {name} was kept: its transaction was rolled back; the file is not at fault: run the command again once that lock is free"
            )
        } else if self.transactional {
            write!(
                f,
                "nothing of {name} was kept: its transaction was rolled back; fix the file and run the command again"
            )
        } else if lost {
            write!(
                f,
                "the connection was lost during {name}, which runs outside a transaction (transaction:false): the statement above may or may not have completed, the ones before it did, and whether {name} was recorded is not known (psql inside a container goes on after pgfleet is gone). Run `pgfleet status` to see what is applied, check what {name} does, then run the command again"
            )
        } else if self.ran_before.is_empty() {
            write!(
                f,
                "{name} runs outside a transaction (transaction:false); this was its first statement, so nothing of it ran and nothing was recorded; fix it and run the command again"
            )
        } else {
            write!(
                f,
                "{name} runs outside a transaction (transaction:false): these earlier statements of it DID run and were not undone, and the migration is not recorded:\n{}\nmake the file safe to run again (IF NOT EXISTS, …) or undo them by hand, then run the command again",
                self.ran_before
                    .iter()
                    .map(|s| format!("    {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot be used: the env file, no database named, an inventory
    /// host that cannot be reached as written (exit 3).
    #[error("{0}")]
    Config(String),

    /// Flags that do not fit together, or name what is not there (exit 3).
    #[error("{0}")]
    Usage(String),

    /// A database URL that cannot be used; `url` has its password redacted, `from` says
    /// where it was given (`--url`, `DATABASE_URL from .env:3`), when that is known (exit 3).
    #[error(
        "invalid database URL{}{}: {why}",
        if url.is_empty() { String::new() } else { format!(" {url}") },
        from.as_ref().map(|f| format!(" ({f})")).unwrap_or_default()
    )]
    BadUrl {
        url: String,
        from: Option<String>,
        why: String,
    },

    /// The migrations folder is missing: a typo would otherwise read as "no migrations".
    #[error(
        "the migrations folder {} does not exist: create it, or pass --migrations-dir",
        .0.display()
    )]
    NoMigrationsFolder(PathBuf),

    /// A target's password cannot be had where the inventory says it is (exit 3).
    #[error("{target}: {why}")]
    Credentials { target: String, why: String },

    #[error(transparent)]
    Parse(#[from] ParseError),

    #[error("cannot connect to {target}: {error}")]
    Connect {
        target: String,
        error: Box<SqlError>,
    },

    #[error("{context} on {target}: {error}{}", .next.map(|n| format!("; {n}")).unwrap_or_default())]
    Database {
        target: String,
        context: String,
        error: Box<SqlError>,
        /// What to do next, where the context alone does not tell.
        next: Option<&'static str>,
    },

    #[error("{target}: {failure}")]
    Migration {
        target: String,
        failure: Box<MigrationFailure>,
    },

    #[error(
        "{target}: another session held the migration lock for longer than --lock-wait {waited:?} ({holder}); try again later or raise --lock-wait"
    )]
    LockBusy {
        target: String,
        waited: Duration,
        holder: String,
    },

    #[error(
        "{target}: these applied migrations were edited since they were applied (checksum differs):\n{}\nrestore them (a new migration is the way to change an applied one), or pass --allow-changed to go on anyway",
        .files.iter().map(|f| format!("    {f}")).collect::<Vec<_>>().join("\n")
    )]
    Changed { target: String, files: Vec<String> },

    #[error(
        "{target}: --strict refuses pending migrations older than the newest applied one ({newest}):\n{}\nrename them to a newer version, or run without --strict",
        .files.iter().map(|f| format!("    {f}")).collect::<Vec<_>>().join("\n")
    )]
    OutOfOrder {
        target: String,
        newest: String,
        files: Vec<String>,
    },

    /// The migrations table is not dbmate's: a history table made by hand before any tool,
    /// so what is applied cannot be known (exit 4: the database needs adopting).
    #[error(
        "{target}: {table} is a hand-made history table, not dbmate's (its columns: {columns}), so what is applied here cannot be known; take the database over with `pgfleet baseline --legacy-table NAME` (on a fleet, with --from host/database or --apply-to), which keeps that table as history under NAME and records the live schema as the baseline"
    )]
    HandMadeHistory {
        target: String,
        table: String,
        columns: String,
    },

    /// The command would do something unsafe here; `reason` says what and what to do.
    #[error("{target}: {reason}")]
    Refused { target: String, reason: String },

    /// A check before a migration (pre-flight, a precondition, a quiesce lock) found the
    /// database busy; the migration did not start (exit 4). `why` names who and what to do.
    #[error("{target}: {check} refused {file}: {why}")]
    NotQuiet {
        target: String,
        file: String,
        check: String,
        why: String,
    },

    /// Containers a `stop` directive stopped could not be started again (exit 1).
    #[error(
        "{target}: could not start {containers} again on host {host}: start them by hand with `{command}` on {host}; {migrated}"
    )]
    NotRestarted {
        target: String,
        host: String,
        containers: String,
        command: String,
        migrated: String,
    },

    #[error("{target}: {}", stopped(*.reason, .next.as_deref()))]
    Stopped {
        target: String,
        reason: crate::stop::StopReason,
        /// The migration that would have run next, if the plan was known.
        next: Option<String>,
    },

    #[error("{target}: cannot roll back {what}")]
    Rollback { target: String, what: String },

    #[error("{what}: {error}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },

    /// pg_dump failed, in the container or on this machine (exit 2).
    #[error("{target}: pg_dump failed: {why}")]
    PgDump { target: String, why: String },

    /// A schema could not be read from the catalog or built in a scratch database (exit 2).
    #[error("{target}: {why}")]
    Schema { target: String, why: String },

    #[error(transparent)]
    Ssh(#[from] SshError),

    #[error(transparent)]
    Docker(#[from] DockerError),

    #[error(transparent)]
    SshConfig(#[from] SshConfigError),

    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),

    /// One failure reported by several targets (those of a host that cannot be reached).
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
}

impl Error {
    /// The connection went away while statements were in flight, without the server saying
    /// what became of them: what was sent and not confirmed may have committed (psql in a
    /// container, or the server's input buffer, goes on without pgfleet). Only an error the
    /// server reported with its code (other than a lost connection's) tells that the rest did
    /// not run.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Migration { failure, .. } => failure.error.code.is_none(),
            Error::Database { error, .. } => error.outcome_unknown(),
            Error::Ssh(_) | Error::Docker(_) | Error::Io { .. } => true,
            Error::Shared(e) => e.outcome_unknown(),
            _ => false,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_)
            | Error::Usage(_)
            | Error::BadUrl { .. }
            | Error::NoMigrationsFolder(_)
            | Error::Credentials { .. }
            | Error::Parse(_) => ExitCode::BadInput,
            Error::Changed { .. }
            | Error::OutOfOrder { .. }
            | Error::LockBusy { .. }
            | Error::Refused { .. }
            | Error::NotQuiet { .. }
            | Error::HandMadeHistory { .. } => ExitCode::Refused,
            Error::Rollback { .. } | Error::Inventory(_) | Error::SshConfig(_) => {
                ExitCode::BadInput
            }
            Error::Shared(e) => e.exit_code(),
            Error::Stopped {
                reason: crate::stop::StopReason::Interrupted,
                ..
            } => ExitCode::Interrupted,
            Error::Connect { .. }
            | Error::Database { .. }
            | Error::Migration { .. }
            | Error::Io { .. }
            | Error::Ssh(_)
            | Error::Docker(_)
            | Error::PgDump { .. }
            | Error::Schema { .. }
            | Error::NotRestarted { .. }
            | Error::Stopped { .. } => ExitCode::Failed,
        }
    }
}

fn stopped(reason: crate::stop::StopReason, next: Option<&str>) -> String {
    let why = match reason {
        crate::stop::StopReason::Interrupted => "interrupted",
        crate::stop::StopReason::FailFast => "stopped by --fail-fast after another target failed",
    };
    match next {
        Some(file) => format!("{why} before {file}; it and the ones after it did not run"),
        None => format!("{why} before any migration ran"),
    }
}

#[derive(Debug, thiserror::Error)]
/// Reaching a host over SSH failed (`transport::ssh`).
pub enum SshError {
    #[error("{host}: cannot connect to {address}: {reason}")]
    Connect {
        host: String,
        address: String,
        reason: String,
    },

    #[error(
        "{host}: {address} did not answer within {timeout:?} (connect timeout); is sshd running there and the port right?"
    )]
    Timeout {
        host: String,
        address: String,
        timeout: Duration,
    },

    #[error(
        "{host}: the host key of {lookup} is not known.\n  {key}\nCheck this fingerprint with the host's administrator (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`), then run again with --accept-new-host-keys to record it in {file}, or add it yourself (`ssh-keyscan -p PORT HOST >> {file}`).{notes}"
    )]
    UnknownHostKey {
        host: String,
        lookup: String,
        /// Algorithm and SHA-256 fingerprint, as `ssh-keygen -l` shows them.
        key: String,
        file: String,
        /// What else known_hosts said: an unknown CA, lines it skipped (each on a new line).
        /// Boxed, as `reason` below: five Strings would make every `Result<_, Error>` large.
        notes: Box<str>,
    },

    #[error(
        "{host}: WARNING: THE HOST KEY OF {lookup} HAS CHANGED.\n  It now presents {key}, not the key recorded at {file}:{line}.\nSomeone may be intercepting the connection, or the host was reinstalled. pgfleet never accepts a changed key: once you know why it changed, remove the old line (`ssh-keygen -R '{lookup}' -f {file}`) and connect again."
    )]
    HostKeyChanged {
        host: String,
        lookup: String,
        key: String,
        file: String,
        line: usize,
    },

    #[error(
        "{host}: the {which} of {lookup} is revoked: {key} is marked @revoked at {at}.\npgfleet never connects with a revoked key, whatever else vouches for it. Ask the host's administrator for its new host key or certificate; remove that @revoked line only if the revocation was a mistake."
    )]
    HostKeyRevoked {
        host: String,
        lookup: String,
        /// "host key" or "certificate authority".
        which: &'static str,
        key: String,
        at: String,
    },

    #[error(
        "{host}: the host certificate of {principal} is signed by the certificate authority listed at {ca}, but {reason}, so it does not prove who {principal} is.\nAsk the host's administrator to sign its host key again (`ssh-keygen -s CA_KEY -h -n {principal} -V +52w HOST_KEY.pub`); or, once its key is checked ({key}), list it as a plain known_hosts line."
    )]
    HostCertificate {
        host: String,
        /// The name the certificate must hold among its principals.
        principal: String,
        /// The `@cert-authority` line, as `file:line`.
        ca: String,
        reason: Box<str>,
        key: String,
    },

    #[error("{host}: {what}")]
    HostKey { host: String, what: String },

    #[error(
        "{host}: authentication as {user} failed; tried {tried}. Check the user, that the key is in the host's ~/.ssh/authorized_keys, or name the key with identity_file"
    )]
    Auth {
        host: String,
        user: String,
        tried: String,
    },

    #[error("{host}: cannot use the key {path}: {reason}")]
    Key {
        host: String,
        path: String,
        reason: String,
    },

    #[error("{host}: {what}: {reason}")]
    Channel {
        host: String,
        what: String,
        reason: String,
    },
}

/// `~/.ssh/config` (or a file it includes) cannot be used as written (exit 3).
#[derive(Debug, thiserror::Error)]
#[error(
    "{}{}: {reason}",
    file.display(),
    if *line > 0 { format!(":{line}") } else { String::new() }
)]
pub struct SshConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the file as a whole is at fault (it cannot be read).
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
/// The Docker API of a host failed, or the container is not there (`transport::docker`).
pub enum DockerError {
    #[error(
        "{host}: permission denied on the docker socket {socket}: add the ssh user to the `docker` group on that host (`usermod -aG docker USER`), or connect as a user that is in it"
    )]
    PermissionDenied { host: String, socket: String },

    #[error("{host}: cannot reach the Docker API at {socket}: {reason}")]
    Unreachable {
        host: String,
        socket: String,
        reason: String,
    },

    #[error("{host}: no {selector}; the containers there are: {existing}")]
    Missing {
        host: String,
        selector: String,
        existing: String,
    },

    #[error("{host}: several containers match {selector} ({matches}): name one with `container:`")]
    Ambiguous {
        host: String,
        selector: String,
        matches: String,
    },

    #[error(
        "{host}: {name} is {state}, not running: start it (`docker start {name}`) and run again"
    )]
    NotRunning {
        host: String,
        name: String,
        state: String,
    },

    #[error("{host}: the Docker API failed: {reason}")]
    Api { host: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::{Ending, ExitCode};

    #[test]
    fn the_exit_policy_orders_interrupts_failures_and_flags() {
        use Ending::*;
        let of = ExitCode::of_run;
        assert_eq!(of(&[], false), ExitCode::Ok);
        assert_eq!(of(&[Ok, Ok], false), ExitCode::Ok);
        assert_eq!(of(&[Ok, Flagged], false), ExitCode::Pending);
        let refused = Failed(ExitCode::Refused);
        assert_eq!(of(&[Flagged, refused, refused], false), ExitCode::Refused);
        assert_eq!(
            of(&[refused, Failed(ExitCode::BadInput)], false),
            ExitCode::Failed
        );
        assert_eq!(of(&[refused, Skipped], false), ExitCode::Failed);
        assert_eq!(of(&[Ok, refused], true), ExitCode::Interrupted);
    }
}

#[cfg(test)]
mod lost_connection_tests {
    use super::{MigrationFailure, SqlError};

    fn failure(code: Option<&str>) -> String {
        MigrationFailure {
            file: "/m/002_b.sql".into(),
            direction: "up",
            line: 2,
            column: 1,
            statement: "create table b (id int)".into(),
            error: SqlError {
                code: code.map(String::from),
                message: "connection closed".into(),
                detail: None,
                hint: None,
                position: None,
            },
            transactional: true,
            ran_before: Vec::new(),
        }
        .to_string()
    }

    /// A connection that went away says nothing of whether the commit got there: the
    /// report must not claim it was rolled back. The server's own word (57P01) does.
    #[test]
    fn a_lost_connection_never_claims_a_rollback() {
        let vanished = failure(None);
        assert!(
            vanished.contains("whether it committed is not known here"),
            "{vanished}"
        );
        assert!(vanished.contains("Run `pgfleet status`"), "{vanished}");
        assert!(!vanished.contains("nothing of it was kept"), "{vanished}");
        let terminated = failure(Some("57P01"));
        assert!(
            terminated.contains("nothing of it was kept"),
            "{terminated}"
        );
    }
}
