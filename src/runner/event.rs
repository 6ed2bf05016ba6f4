//! What the runner tells the report: events, from the start of a run to its end, and the
//! result of each target's command. The report renders them; nothing here prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::fleet::Finished;
use crate::error::{Error, ExitCode};
use crate::inventory::{Inventory, Target};
use crate::migration::Migration;
use crate::schema::{Difference, Schema};
use crate::settings::{DryRun, Verb};

/// What the runner tells about one target, as it happens (`RunEvent::Target` says which).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The target's turn came: reaching its host and database.
    Connecting,
    /// Reached, and how (the method and the way there), for `--verbose`.
    Connected {
        via: &'a str,
    },
    CreatingDatabase {
        name: &'a str,
    },
    WaitingForLock {
        target: &'a str,
        holder: &'a crate::tracking::LockHolder,
    },
    /// `check`'s warnings about a pending file (its errors refuse the target instead).
    CheckWarnings {
        file: &'a str,
        findings: &'a [crate::check::Finding],
    },
    /// The plan is known: these migrations are to run, in this order (none: up to date).
    Planned {
        files: &'a [&'a Migration],
    },
    Applying {
        migration: &'a Migration,
        index: usize,
        total: usize,
    },
    Applied {
        migration: &'a Migration,
        took: Duration,
    },
    RollingBack {
        migration: &'a Migration,
        index: usize,
        total: usize,
    },
    RolledBack {
        migration: &'a Migration,
        took: Duration,
    },
    ChecksumRecorded {
        file: &'a str,
    },
    /// `up --dry-run=rehearse`: these migrations run in one transaction that is then
    /// rolled back.
    Rehearsing {
        files: &'a [&'a Migration],
    },
    Rehearsed {
        files: &'a [&'a Migration],
        took: Duration,
    },
    /// `up --dry-run=rehearse`: a statement of `migration` ran (told once its migration's
    /// last one has, which `held` needs).
    StatementRehearsed {
        migration: &'a Migration,
        statement: &'a super::RehearsedStatement,
    },
    /// A `transaction:false` file cannot run inside the rehearsal's transaction.
    NotRehearsable {
        migration: &'a Migration,
    },
    /// `up`: `migration` gave up on a lock (lock_timeout) and was rolled back; it is tried
    /// again after `wait` (attempt `attempt` of `retries`). `holders`: who held a lock on
    /// what it touches when it gave up (empty when none was found any more).
    LockRetry {
        migration: &'a str,
        attempt: u32,
        retries: u32,
        wait: Duration,
        holders: &'a str,
    },
    /// `up`: a check found the database busy before `migration` (`why`); it is tried again
    /// (`--wait-for-quiet`, or a `quiesce` directive's wait) until `limit` has passed.
    QuietWait {
        migration: &'a str,
        check: &'a str,
        why: &'a str,
        waited: Duration,
        limit: Duration,
    },
    /// `up`: a directive acted on a container of the target's host (`stopping`, `stopped`,
    /// `started`).
    Workload {
        action: &'a str,
        container: &'a str,
        detail: &'a str,
    },
    /// `up`: a migration committed after its `precondition` held or its `quiesce` lock was
    /// taken (`what` says which, as a sentence).
    DirectiveHeld {
        migration: &'a str,
        what: &'a str,
    },
    /// Something done as asked that the user would not guess, always shown.
    Warning {
        text: &'a str,
    },
    /// `baseline` and `drift`: what the target is busy with ("dumping the schema", …).
    Step {
        what: &'a str,
    },
}

/// What a target's command produced, for the report at the end.
#[derive(Debug)]
pub enum Output {
    /// `up`, `rollback`, `verify --record`: what changed was told by events.
    Changed,
    Status(Vec<crate::plan::StatusRow>),
    Plan(super::Plan),
    Dump(PathBuf),
    /// `baseline`, `register`.
    Adopted(super::adopt::Adopted),
    Drift(super::adopt::Drift),
    /// `drift --between`: a live schema, compared once both are read.
    Snapshot(Box<Schema>),
    /// `query`: the result of its last statement.
    Rows(crate::tracking::ResultSet),
    /// `discover`: a host's PostgreSQL containers and its part of the inventory.
    Discovered(Box<super::discover::Discovered>),
}

/// What a run is about, said before anything happens.
#[derive(Debug, Clone, Copy)]
pub struct RunStart<'a> {
    pub verb: Verb,
    /// `plan` / `up --dry-run`: what the dry run shows.
    pub dry_run: Option<DryRun>,
    /// One database named by `--url`: dbmate's lines rather than bars and tables.
    pub single: bool,
    /// The targets, by id, in the order `RunEvent::Target` counts them.
    pub ids: &'a [String],
    /// `user@machine`, for the audit log.
    pub applied_by: &'a str,
    /// `query`: its SQL, for the audit log (given on stdin, it is on no command line).
    pub sql: Option<&'a str>,
}

/// Everything after the start, in the order it happens.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// Something about target `target` (an index into `RunStart::ids`).
    Target { target: usize, event: Event<'a> },
    /// A target is done: its result and its wall time.
    TargetFinished {
        target: usize,
        result: &'a Result<Output, Error>,
        took: Duration,
    },
    /// The first Ctrl-C (or SIGTERM): nothing new starts.
    Interrupted,
    /// The second one: the run is abandoned now.
    Aborting,
    /// The run is over, and this is its exit code.
    Finished {
        ends: &'a [Finished<Output>],
        code: ExitCode,
        /// `drift --write-migration`: the files written, with the targets each is for.
        drafts: &'a [(PathBuf, Vec<String>)],
        /// `drift --between`: how the first target's schema differs from the second's.
        between: Option<&'a [Difference]>,
    },
    /// `new`: the file made.
    Created { path: &'a Path },
    /// `wait`: the server does not answer yet (said once).
    Waiting { url: &'a str },
    /// `inventory`: the selected targets.
    Inventory {
        targets: &'a [&'a Target],
        inventory: &'a Inventory,
    },
    /// `change`: the migration file written, with whether its down section was drafted
    /// and what that down section cannot restore.
    ChangeWritten {
        path: &'a Path,
        drafted: bool,
        lossy: &'a [String],
    },
    /// `change`: asking whether to apply `path` to the targets just planned.
    Asking { path: &'a Path, targets: usize },
    /// `change` is over: applied (then the `git add`/`git commit` line is due) or not.
    ChangeDone { path: &'a Path, applied: bool },
    /// `discover`: every host's end (hosts are its targets), the inventory's text, the file
    /// `--write` names (written when the inventory has a target), and how many targets it
    /// has.
    Discovered {
        ends: &'a [Finished<Output>],
        inventory: &'a str,
        write: Option<&'a Path>,
        found: usize,
        code: ExitCode,
    },
    /// `check`: what it found, what fails it, and (for GitHub and SARIF) each file's path
    /// from the repository's root.
    Checked {
        checked: &'a crate::check::Checked,
        deny: crate::check::Severity,
        code: ExitCode,
        repo_paths: &'a std::collections::BTreeMap<PathBuf, String>,
    },
}

/// Receives a run's events. Shared by the targets running at once.
pub trait Sink: Sync {
    /// The run starts; the audit log opens here, so a folder that cannot be written stops
    /// the run before any target is contacted.
    fn start(&self, run: RunStart<'_>) -> Result<(), Error>;

    fn event(&self, event: RunEvent<'_>);
}
