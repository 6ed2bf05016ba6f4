//! Raw flags → one validated `Run` (ripgrep's low args → high args). Everything that can be
//! wrong with the input is found here, before any host or database is contacted: the env
//! file, the URL, the inventory and `--limit`, `--shadow-url`, and every migrations folder
//! — each parsed once, however many targets share it, so a typo in one file costs no SSH
//! handshake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod change;
mod check;
mod discover;
mod query;

pub use change::{ChangeArgs, derive_name};
pub use check::{CheckArgs, CheckJob};
pub use discover::{DiscoverArgs, DiscoverJob};
pub use query::QueryArgs;

use crate::error::Error;
use crate::inventory::{self, Inventory};
use crate::migration::{self, Migration, Timeout};
use crate::plan::{RollbackTo, UpOptions};
use crate::tracking::ApplySettings;
use crate::transport::DbUrl;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    /// One JSON document on stdout at the end.
    Json,
    /// One JSON object per line on stdout: each event as it happens, then the document.
    JsonLines,
    /// `check`: GitHub Actions workflow commands, so findings show on the pull request's lines
    Github,
    /// `check`: a SARIF 2.1.0 document (code scanning)
    Sarif,
    /// `query`: the rows as CSV (RFC 4180), a `target` column first
    Csv,
}

/// What `up --dry-run[=MODE]` (and `plan`) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    /// Each pending migration with its SQL
    Full,
    /// Each pending migration with its first lines
    Summary,
    /// Run the pending migrations in a transaction that is rolled back
    Rehearse,
}

/// What a run does, for headings, summaries and documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Up,
    Rollback,
    Status,
    Verify,
    RecordChecksums,
    Plan,
    Dump,
    Baseline,
    Register,
    Drift,
    /// `drift --between A B`.
    Between,
    New,
    Wait,
    Inventory,
    Check,
    Change,
    Query,
    Discover,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Up => "up",
            Verb::Rollback => "rollback",
            Verb::Status => "status",
            Verb::Verify => "verify",
            Verb::RecordChecksums => "verify --record",
            Verb::Plan => "plan",
            Verb::Dump => "dump",
            Verb::Baseline => "baseline",
            Verb::Register => "register",
            Verb::Drift | Verb::Between => "drift",
            Verb::New => "new",
            Verb::Wait => "wait",
            Verb::Inventory => "inventory",
            Verb::Check => "check",
            Verb::Change => "change",
            Verb::Query => "query",
            Verb::Discover => "discover",
        }
    }
}

/// The command, as the flags give it (`cli` maps its clap structs to this); `Run::new`
/// validates it.
#[derive(Debug, Clone)]
pub enum Action {
    New {
        name: String,
    },
    Wait,
    Inventory,
    Check(CheckArgs),
    /// `change`: write a migration from SQL, then check, plan and `up` it.
    Change(ChangeArgs),
    Up {
        options: UpOptions,
    },
    /// `plan`, `up --dry-run`.
    Plan {
        options: UpOptions,
        mode: DryRun,
    },
    Rollback {
        to: RollbackTo,
    },
    Status {
        /// Exit 1 when migrations are pending (`--exit-code`, or `--quiet`).
        exit_code: bool,
    },
    Verify {
        record: bool,
    },
    Dump,
    Baseline {
        from: Option<String>,
        apply_to: Vec<String>,
        legacy_table: Option<String>,
        force: bool,
        shadow_url: Option<String>,
    },
    Register {
        version: String,
        force: bool,
        shadow_url: Option<String>,
    },
    Drift {
        shadow_url: Option<String>,
        /// Two live targets to compare with each other; empty for the usual drift.
        between: Vec<String>,
        write_migration: bool,
        /// `--ignore`: sorts of difference left out.
        ignore: Vec<crate::schema::Ignore>,
    },
    Query(QueryArgs),
    /// `discover HOST…`: write an inventory of the hosts' PostgreSQL containers.
    Discover(DiscoverArgs),
}

/// When a command that ran everywhere still exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitRule {
    /// Never: 0 when nothing failed.
    Never,
    /// Some migration is pending (`status --exit-code`).
    Pending,
    /// Some applied file changed, or a version has no file (`verify`).
    Changed,
    /// A target was left untouched because its schema differs (`baseline`, `register`).
    Differs,
    /// Some live schema differs from what its migrations make (`drift`).
    Drift,
}

impl Action {
    pub fn verb(&self) -> Verb {
        match self {
            Action::New { .. } => Verb::New,
            Action::Wait => Verb::Wait,
            Action::Inventory => Verb::Inventory,
            Action::Check(_) => Verb::Check,
            Action::Change(_) => Verb::Change,
            Action::Up { .. } => Verb::Up,
            Action::Plan { .. } => Verb::Plan,
            Action::Rollback { .. } => Verb::Rollback,
            Action::Status { .. } => Verb::Status,
            Action::Verify { record: false } => Verb::Verify,
            Action::Verify { record: true } => Verb::RecordChecksums,
            Action::Dump => Verb::Dump,
            Action::Baseline { .. } => Verb::Baseline,
            Action::Register { .. } => Verb::Register,
            Action::Drift { between, .. } if !between.is_empty() => Verb::Between,
            Action::Drift { .. } => Verb::Drift,
            Action::Query(_) => Verb::Query,
            Action::Discover(_) => Verb::Discover,
        }
    }

    /// What makes this command exit 1 when every target finished.
    pub fn exit_rule(&self) -> ExitRule {
        match self {
            Action::Status { exit_code: true } => ExitRule::Pending,
            Action::Verify { .. } => ExitRule::Changed,
            Action::Baseline { .. } | Action::Register { .. } => ExitRule::Differs,
            Action::Drift { .. } => ExitRule::Drift,
            _ => ExitRule::Never,
        }
    }

    /// Whether the command reads the targets' migration files.
    fn reads_files(&self) -> bool {
        match self {
            Action::Dump
            | Action::New { .. }
            | Action::Wait
            | Action::Inventory
            | Action::Check(_)
            | Action::Query(_)
            | Action::Discover(_) => false,
            Action::Drift { between, .. } => between.is_empty(),
            _ => true,
        }
    }

    fn shadow_url(&self) -> Option<&str> {
        match self {
            Action::Baseline { shadow_url, .. }
            | Action::Register { shadow_url, .. }
            | Action::Drift { shadow_url, .. } => shadow_url.as_deref(),
            Action::Change(args) => args.shadow_url.as_deref(),
            _ => None,
        }
    }
}

/// The flags every command shares, as given.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: Option<String>,
    pub env_file: Option<PathBuf>,
    pub migrations_dir: PathBuf,
    pub migrations_table: Option<String>,
    pub schema_file: PathBuf,
    pub lock_wait: Timeout,
    pub lock_timeout: Timeout,
    pub statement_timeout: Timeout,
    /// `up`: how often a migration that gave up on a lock is tried again.
    pub lock_retries: u32,
    /// `up`: check who is using what each migration locks before it runs.
    pub preflight: bool,
    /// `up`, `plan`: run `check`'s rules on pending files first (`--no-check`: not).
    pub check: bool,
    /// `up --wait-for-quiet`: how long a busy database is waited for.
    pub wait_for_quiet: Option<Timeout>,
    pub wait_timeout: Timeout,
    pub inventory: PathBuf,
    /// `-i` was given, not defaulted.
    pub inventory_given: bool,
    pub limit: Vec<String>,
    pub accept_new_host_keys: bool,
    pub schedule: Schedule,
    pub output: Output,
}

/// How much is said, and where.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Stdout stays empty and no progress is drawn; errors still go to stderr.
    pub quiet: bool,
    pub verbose: bool,
    pub format: Format,
    /// `--log-dir`: one audit file per run.
    pub log_dir: Option<PathBuf>,
    /// `status --matrix`: the matrix however wide it is.
    pub matrix: bool,
}

/// How targets are scheduled.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// At most this many targets at once (at least 1).
    pub parallel: usize,
    /// Run the first N targets first; the rest only if all of those succeeded.
    pub canary: usize,
    /// After the first failure, start nothing new.
    pub fail_fast: bool,
}

/// Where scratch databases are made (`baseline`, `register`, `drift`).
#[derive(Debug, Clone)]
pub enum Shadow {
    /// Beside the target, on its server (needs CREATEDB there).
    SameServer,
    /// On this server (`--shadow-url`), for targets whose server does not allow it.
    Url(Box<DbUrl>),
}

/// How a target's database is found: by URL, or as an inventory target (a container on a
/// docker host).
#[derive(Debug, Clone)]
pub enum Address {
    Url(DbUrl),
    Inventory(inventory::Target),
}

/// One database a command runs on, with what it needs from the disk already read.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host/database`, or the URL (password redacted).
    pub id: String,
    pub address: Address,
    pub migrations_dir: PathBuf,
    /// The folder's files, parsed once per folder (empty when the command reads none).
    pub migrations: Arc<[Migration]>,
    /// Where `dump` writes: `--schema-file`, or db/HOST/DB/schema.sql on a fleet.
    pub schema_file: PathBuf,
}

impl Target {
    /// A short name for files and headings: host/database, or the URL's database.
    pub fn name(&self) -> String {
        match &self.address {
            Address::Url(url) => url.dbname.clone(),
            Address::Inventory(_) => self.id.clone(),
        }
    }
}

/// Everything a command needs, validated.
#[derive(Debug)]
pub struct Run {
    pub action: Action,
    /// The databases, in inventory order (`baseline`: its source first).
    pub targets: Vec<Target>,
    /// One database named by `--url`/`DATABASE_URL`: dbmate's lines, its error is the run's.
    pub single: bool,
    pub inventory: Option<Inventory>,
    /// `--url`/`DATABASE_URL`, for `wait`.
    pub url: Option<DbUrl>,
    pub migrations_dir: PathBuf,
    pub migrations_table: Option<String>,
    pub accept_new_host_keys: bool,
    pub schedule: Schedule,
    pub lock_wait: Duration,
    pub lock_retries: u32,
    pub preflight: bool,
    pub wait_for_quiet: Option<Duration>,
    pub wait_timeout: Duration,
    pub apply: ApplySettings,
    pub output: Output,
    pub shadow: Shadow,
    /// The migration `register` (or `baseline --apply-to` alone) registers, when it is
    /// known before the run; `baseline --from` writes its own.
    pub to_register: Option<Migration>,
    /// When the run started (names drafted and baseline files).
    pub taken: chrono::DateTime<chrono::Utc>,
    /// `check`: the files read and the rules chosen.
    pub check: Option<check::CheckJob>,
    /// `query`: the SQL, checked.
    pub query: Option<crate::tracking::Query>,
    /// `discover`: the hosts to visit and where the inventory goes.
    pub discover: Option<DiscoverJob>,
    /// `up`, `plan`: what `check`'s default rules find in each migration file (by path);
    /// empty with `--no-check`.
    pub findings: Arc<HashMap<PathBuf, Vec<crate::check::Finding>>>,
}

impl Run {
    /// Validates the command and the flags. Reads the env file, the inventory and the
    /// migration files; contacts nothing.
    pub fn new(action: Action, o: Options) -> Result<Run, Error> {
        let url_preset = std::env::var_os("DATABASE_URL").is_some();
        // `check` reaches no database, `discover` no database by URL: a URL or env file
        // they would not use cannot fail them.
        let offline = matches!(action, Action::Check(_) | Action::Discover(_));
        if !offline && matches!(o.output.format, Format::Github | Format::Sarif) {
            return Err(Error::Usage(format!(
                "--format {} is for `check`'s findings: use text, json or json-lines here",
                if o.output.format == Format::Github {
                    "github"
                } else {
                    "sarif"
                }
            )));
        }
        if o.output.format == Format::Csv && !matches!(action, Action::Query(_)) {
            return Err(Error::Usage(
                "--format csv is for `query`'s rows: use text, json or json-lines here".into(),
            ));
        }
        let env_file = if offline {
            None
        } else {
            load_env_file(o.env_file.as_deref())?
        };
        let mut action = action;
        if let Action::Change(args) = &mut action {
            change::resolve(args)?;
        }
        if let Action::Status { exit_code } = &mut action {
            // `--quiet` prints nothing: the exit code is the answer.
            *exit_code |= o.output.quiet;
        }
        if let Some(table) = &o.migrations_table {
            table_name("--migrations-table", table, true)?;
        }
        if let Action::Baseline {
            legacy_table: Some(table),
            ..
        } = &action
        {
            table_name("--legacy-table", table, false)?;
        }
        // Where the URL came from, for its messages.
        let url_source = if o.url.is_some() {
            "--url".to_owned()
        } else {
            match env_file.as_deref().filter(|_| !url_preset) {
                Some(file) => format!("DATABASE_URL from {}", env_line(file, "DATABASE_URL")),
                None => "DATABASE_URL".to_owned(),
            }
        };
        let url = if offline {
            None
        } else {
            given_database_url(o.url.as_deref(), &url_source)?
        };
        let shadow = match action.shadow_url() {
            Some(text) => Shadow::Url(Box::new(parse_url(text, "--shadow-url")?)),
            None => Shadow::SameServer,
        };
        let mut run = Run {
            targets: Vec::new(),
            single: url.is_some(),
            inventory: None,
            url,
            migrations_dir: o.migrations_dir.clone(),
            migrations_table: o.migrations_table.clone(),
            accept_new_host_keys: o.accept_new_host_keys,
            schedule: o.schedule,
            lock_wait: timeout_duration(o.lock_wait),
            lock_retries: o.lock_retries,
            preflight: o.preflight,
            wait_for_quiet: o.wait_for_quiet.map(timeout_duration),
            wait_timeout: timeout_duration(o.wait_timeout),
            apply: ApplySettings {
                lock_timeout: o.lock_timeout,
                statement_timeout: o.statement_timeout,
                applied_by: applied_by(),
            },
            output: o.output.clone(),
            shadow,
            to_register: None,
            taken: chrono::Utc::now(),
            check: None,
            query: None,
            discover: None,
            findings: Arc::default(),
            action,
        };
        match &run.action {
            Action::New { .. } => {
                // `new` creates a missing folder, but cannot put a file in a file.
                if o.migrations_dir.exists() && !o.migrations_dir.is_dir() {
                    return Err(Error::Usage(format!(
                        "the migrations folder {} is a file, not a folder: pass --migrations-dir FOLDER",
                        o.migrations_dir.display()
                    )));
                }
                return Ok(run);
            }
            Action::Wait => {
                if run.url.is_none() {
                    return Err(no_url());
                }
                return Ok(run);
            }
            Action::Check(args) => {
                run.check = Some(check::read(args, &o)?);
                return Ok(run);
            }
            Action::Inventory => {
                let inv = inventory::load(&o.inventory)?;
                run.targets = inventory::select(&inv, &o.limit)?
                    .into_iter()
                    .map(|t| inventory_target(t, &o.schema_file))
                    .collect();
                run.inventory = Some(inv);
                return Ok(run);
            }
            Action::Query(args) => run.query = Some(query::read(args)?),
            Action::Discover(args) => {
                if o.url.is_some() || !o.limit.is_empty() {
                    return Err(Error::Usage(
                        "discover visits the hosts it is given: --url and --limit do not apply to it".into(),
                    ));
                }
                // Only an inventory named with -i lends its hosts' settings: a default
                // `inventory/` folder nearby must not change where a HOST leads.
                let given = if o.inventory_given {
                    Some(inventory::load(&o.inventory)?)
                } else {
                    None
                };
                run.discover = Some(discover::read(args, given.as_ref())?);
                return Ok(run);
            }
            _ => {}
        }
        run.targets = match &run.url {
            Some(url) => {
                if let Action::Baseline { from, apply_to, .. } = &run.action
                    && (from.is_some() || !apply_to.is_empty())
                {
                    return Err(Error::Usage(format!(
                        "--from and --apply-to name inventory targets: with {url_source}, the baseline is taken from the URL's database and there is no other; drop them, or drop --url (and DATABASE_URL) to use the inventory"
                    )));
                }
                // Flags that choose among inventory targets would be ignored without a word.
                if let Action::Drift { between, .. } = &run.action
                    && !between.is_empty()
                {
                    return Err(Error::Usage(format!(
                        "--between names two inventory targets to compare, but {url_source} names one database: drop --url (and DATABASE_URL) to compare two targets of the inventory"
                    )));
                }
                if o.inventory_given {
                    return Err(Error::Usage(format!(
                        "-i names an inventory, but {url_source} names one database, which would be used instead: drop -i, or drop --url (and DATABASE_URL, in the environment or .env) to use the inventory"
                    )));
                }
                if !o.limit.is_empty() {
                    return Err(Error::Usage(format!(
                        "--limit selects targets of the inventory, but {url_source} names one database, so it would be ignored: drop --limit, or drop --url (and DATABASE_URL) to use the inventory"
                    )));
                }
                vec![Target {
                    id: url.to_string(),
                    address: Address::Url(url.clone()),
                    migrations_dir: o.migrations_dir.clone(),
                    migrations: Arc::from([]),
                    schema_file: o.schema_file.clone(),
                }]
            }
            None => {
                if !o.inventory.exists() {
                    return Err(Error::Config(format!(
                        "no database: pass --url postgres://user@host:port/db (user:password@ with a password), set DATABASE_URL (in the environment or a .env file), or describe your docker hosts in an inventory (-i; {} does not exist)",
                        o.inventory.display()
                    )));
                }
                let inv = inventory::load(&o.inventory)?;
                let chosen = chosen_targets(&run.action, &inv, &o.limit)?;
                inventory::check_readable(&inv, &chosen)?;
                let targets = chosen
                    .into_iter()
                    .map(|t| inventory_target(t, &o.schema_file))
                    .collect();
                run.inventory = Some(inv);
                targets
            }
        };
        if run.action.reads_files() {
            read_migrations(&mut run.targets, &run.action)?;
        }
        if o.check && matches!(run.action, Action::Up { .. } | Action::Plan { .. }) {
            run.findings = Arc::new(check::findings(&run.targets)?);
        }
        run.to_register = to_register(&run)?;
        Ok(run)
    }
}

fn no_url() -> Error {
    Error::Config(
        "no database: pass --url postgres://user@host:port/db (user:password@ with a password), or set DATABASE_URL (in the environment or a .env file)".into(),
    )
}

fn inventory_target(t: &inventory::Target, schema_file: &Path) -> Target {
    Target {
        id: t.id(),
        address: Address::Inventory(t.clone()),
        migrations_dir: t.migrations.clone(),
        migrations: Arc::from([]),
        // dbmate's single schema file becomes one per target: db/HOST/DB/schema.sql.
        schema_file: schema_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&t.host)
            .join(&t.name)
            .join(schema_file.file_name().unwrap_or("schema.sql".as_ref())),
    }
}

/// Each folder is parsed once and shared by its targets. `baseline` may write the first
/// migration, so its folder need not exist yet.
fn read_migrations(targets: &mut [Target], action: &Action) -> Result<(), Error> {
    let mut parsed: HashMap<PathBuf, Arc<[Migration]>> = HashMap::new();
    for target in targets {
        let dir = &target.migrations_dir;
        if let Some(files) = parsed.get(dir) {
            target.migrations = files.clone();
            continue;
        }
        let files: Arc<[Migration]> = if matches!(action, Action::Baseline { .. }) && !dir.exists()
        {
            Arc::from([])
        } else {
            Arc::from(migration::load_dir(&migrations_dir(dir)?)?)
        };
        parsed.insert(dir.clone(), files.clone());
        target.migrations = files;
    }
    Ok(())
}

/// The migration to register, when it is known before the run: `register`'s, or the
/// newest baseline file for `baseline --apply-to` without `--from`.
fn to_register(run: &Run) -> Result<Option<Migration>, Error> {
    let Some(first) = run.targets.first() else {
        return Ok(None);
    };
    let dir = first.migrations_dir.display();
    match &run.action {
        Action::Baseline { from: None, .. } if !run.single => first
            .migrations
            .iter()
            .filter(|m| m.baseline)
            .max_by(|a, b| a.version.cmp(&b.version))
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no baseline file in {dir}: take one with `pgfleet baseline --from host/database`"
                ))
            }),
        Action::Register { version, .. } => first
            .migrations
            .iter()
            .find(|m| m.version == *version || m.file_name == *version)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no migration {version} in {dir}: give its version or file name"
                ))
            }),
        _ => Ok(None),
    }
}

/// The inventory targets a command runs on: `--limit`'s, except for `baseline` (its
/// source first, then `--apply-to`'s) and `drift --between` (the two named).
fn chosen_targets<'i>(
    action: &Action,
    inv: &'i Inventory,
    limit: &[String],
) -> Result<Vec<&'i inventory::Target>, Error> {
    let one = |pattern: &str, flag: &str| -> Result<&'i inventory::Target, Error> {
        let found = inventory::select(inv, &[pattern.to_string()])?;
        match found.as_slice() {
            [t] => Ok(*t),
            _ => Err(Error::Usage(format!(
                "{flag} {pattern} names {} targets; name exactly one as host/database (`pgfleet inventory` lists them)",
                found.len()
            ))),
        }
    };
    match action {
        Action::Baseline { from, apply_to, .. } => {
            if from.is_none() && apply_to.is_empty() {
                return Err(Error::Usage(
                    "baseline needs --from host/database (the database whose schema becomes the baseline) and/or --apply-to TARGETS (where to register the newest baseline)".into(),
                ));
            }
            let source = from.as_deref().map(|f| one(f, "--from")).transpose()?;
            let mut targets: Vec<&inventory::Target> = source.into_iter().collect();
            if !apply_to.is_empty() {
                for t in inventory::select(inv, apply_to)? {
                    if !targets.iter().any(|s| std::ptr::eq(*s, t)) {
                        targets.push(t);
                    }
                }
            }
            Ok(targets)
        }
        Action::Drift { between, .. } if !between.is_empty() => Ok(vec![
            one(&between[0], "--between")?,
            one(&between[1], "--between")?,
        ]),
        _ => Ok(inventory::select(inv, limit)?),
    }
}

/// Loads the env file: variables already in the environment win, as with dbmate. A missing
/// default `.env` is fine; a missing file named with `--env-file` is an error. Returns the
/// file read, if any.
fn load_env_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, Error> {
    let path = explicit.unwrap_or(Path::new(".env"));
    let fix = if explicit.is_some() {
        "check the path given to --env-file"
    } else {
        "fix it, or pass --env-file"
    };
    match dotenvy::from_path(path) {
        Ok(()) => Ok(Some(path.to_path_buf())),
        Err(dotenvy::Error::Io(e))
            if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() =>
        {
            Ok(None)
        }
        // dotenvy's message quotes the line, value and all: say where, not what.
        Err(dotenvy::Error::LineParse(found, at)) => Err(Error::Config(format!(
            "{}: this line of the env file is not KEY=VALUE (its text is not shown: it may hold a secret); write KEY=VALUE, quote a value that holds spaces or #, and close every quote",
            env_place(path, &found, at)
        ))),
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            Err(Error::Config(format!(
                "{}: the env file is not UTF-8 text; save it as UTF-8",
                not_utf8_place(path)
            )))
        }
        Err(e) => Err(Error::Config(format!(
            "cannot load the env file {}: {e}; {fix}",
            path.display()
        ))),
    }
}

/// `FILE:LINE:COLUMN` of dotenvy's complaint: `found` (the line, its value, or the rest of
/// the file from an unclosed quote on) at character `at`. `found` may occur more than once;
/// the one meant is the first whose preceding lines parse.
fn env_place(path: &Path, found: &str, at: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return path.display().to_string();
    };
    let line_start = |i: usize| text[..i].rfind('\n').map_or(0, |n| n + 1);
    let start = (!found.is_empty())
        .then(|| {
            text.match_indices(found).map(|(i, _)| i).find(|&i| {
                dotenvy::from_read_iter(&text.as_bytes()[..line_start(i)]).all(|r| r.is_ok())
            })
        })
        .flatten();
    let Some(start) = start else {
        return path.display().to_string();
    };
    let offset = found.char_indices().nth(at).map_or(found.len(), |(i, _)| i);
    // Past the end means a quote never closed: the line that opened it is the place.
    let place = if start + offset >= text.trim_end().len() {
        start
    } else {
        start + offset
    };
    let from = line_start(place);
    format!(
        "{}:{}:{}",
        path.display(),
        text[..from].matches('\n').count() + 1,
        text[from..place].chars().count() + 1
    )
}

/// `FILE:LINE` of the first byte that is not UTF-8.
fn not_utf8_place(path: &Path) -> String {
    let line = std::fs::read(path).ok().and_then(|bytes| {
        let bad = std::str::from_utf8(&bytes).err()?.valid_up_to();
        Some(bytes[..bad].iter().filter(|b| **b == b'\n').count() + 1)
    });
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

/// `FILE:LINE` of the line that sets `key` in an env file: the first one, whose value
/// dotenvy keeps (a variable it has set is not set again).
fn env_line(path: &Path, key: &str) -> String {
    let line = std::fs::read_to_string(path).ok().and_then(|text| {
        text.lines().position(|l| {
            let l = l.trim_start_matches('\u{feff}').trim_start();
            let l = l.strip_prefix("export ").unwrap_or(l);
            l.split_once('=').is_some_and(|(k, _)| k.trim() == key)
        })
    });
    match line {
        Some(i) => format!("{}:{}", path.display(), i + 1),
        None => path.display().to_string(),
    }
}

/// The database URL when one is given (`--url` or `DATABASE_URL`); None means "use the
/// inventory".
fn given_database_url(flag: Option<&str>, source: &str) -> Result<Option<DbUrl>, Error> {
    match flag
        .map(str::to_string)
        .or_else(|| std::env::var("DATABASE_URL").ok())
    {
        Some(text) => parse_url(&text, source).map(Some),
        None => Ok(None),
    }
}

/// A URL given by `source` (a flag, a variable), which its error names.
fn parse_url(text: &str, source: &str) -> Result<DbUrl, Error> {
    crate::transport::url::remember_url_secrets(text);
    // What the URL leaves out comes from the PG* variables and ~/.pgpass, as with libpq.
    let url = DbUrl::parse_env(text, &|name| std::env::var(name).ok()).map_err(|e| match e {
        Error::BadUrl { url, why, .. } => Error::BadUrl {
            url,
            from: Some(source.to_owned()),
            why,
        },
        other => other,
    })?;
    if let Some(p) = url.password() {
        crate::transport::url::remember_secret(p);
    }
    if let Some(warning) = url.pgpass_warning() {
        eprintln!("pgfleet: warning: {warning}");
    }
    Ok(url)
}

/// `--migrations-table`: `table` or `schema.table`, each a plain identifier (what dbmate
/// takes); `--legacy-table`: a plain table name (kept in the migrations table's schema).
/// Anything else would reach the server as a puzzle.
fn table_name(flag: &str, text: &str, qualified: bool) -> Result<(), Error> {
    let plain = |part: &str| {
        !part.is_empty()
            && part.len() <= 63
            && !part.starts_with(|c: char| c.is_ascii_digit())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let parts: Vec<&str> = text.split('.').collect();
    let most = if qualified { 2 } else { 1 };
    if parts.len() <= most && parts.iter().all(|p| plain(p)) {
        return Ok(());
    }
    let form = if qualified {
        "`table` or `schema.table`, each"
    } else {
        "a plain table name (it stays in the migrations table's schema),"
    };
    Err(Error::Usage(format!(
        "{flag} {text:?}: write {form} letters, digits and _ (at most 63, not starting with a digit)"
    )))
}

fn timeout_duration(t: Timeout) -> Duration {
    Duration::from_millis(t.millis)
}

/// `user@machine`, recorded with every migration applied.
pub fn applied_by() -> String {
    let host = whoami::hostname().unwrap_or_else(|_| "unknown-host".into());
    format!("{}@{host}", crate::transport::os_user())
}

/// The migrations folder, checked to exist (a typo would otherwise read as "no migrations").
fn migrations_dir(dir: &Path) -> Result<PathBuf, Error> {
    if dir.is_dir() {
        Ok(dir.to_path_buf())
    } else {
        Err(Error::NoMigrationsFolder(dir.to_path_buf()))
    }
}
