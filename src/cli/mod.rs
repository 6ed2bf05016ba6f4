//! Command-line flags (clap) and the dispatch of each command. Like dbmate's, the
//! connection flags are global: accepted before or after the subcommand.

mod adopt;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use std::sync::Arc;

use crate::error::{Error, ExitCode};
use crate::inventory;
use crate::migration::{self, Timeout};
use crate::plan::{self, RollbackTo, State, StatusRow, UpOptions};
use crate::report::{self, DryRun, Output, Report, Verb};
use crate::runner::fleet::{self, Finished, Schedule, Sink, TargetResult};
use crate::runner::{self, Event, RunSettings};
use crate::settings;
use crate::stop::{Stop, StopReason};
use crate::tracking::{self, ApplySettings, Database, Missing, dbmate_schema_dump};
use crate::transport::DbUrl;
use crate::transport::fleet::{Access, Connections};

#[derive(Debug, Parser)]
#[command(
    name = "pgfleet",
    version,
    about = "Apply dbmate-compatible PostgreSQL migrations safely",
    after_help = "Exit codes: 0 ok, 1 pending (--exit-code), verify found changes, drift found, or baseline/register left a differing target untouched, 2 a migration, database or target failed, 3 bad input or configuration, 4 refused (changed files, --strict, lock busy, baseline over history), 130 interrupted (Ctrl-C, SIGTERM)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database URL (postgres://user:password@host:port/db); default: $DATABASE_URL
    #[arg(long, short = 'u', global = true)]
    pub url: Option<String>,
    /// Env file to read DATABASE_URL from [default: .env]
    #[arg(long, global = true)]
    pub env_file: Option<PathBuf>,
    /// Folder of migration files
    #[arg(
        long,
        short = 'd',
        global = true,
        default_value = "./migrations",
        env = "DBMATE_MIGRATIONS_DIR"
    )]
    pub migrations_dir: PathBuf,
    /// Migrations table, as `table` or `schema.table` [default: schema_migrations in the
    /// first search_path schema of the URL, else the current schema]
    #[arg(long, global = true, env = "DBMATE_MIGRATIONS_TABLE")]
    pub migrations_table: Option<String>,
    /// Where `dump` writes the schema
    #[arg(
        long,
        short = 's',
        global = true,
        default_value = "./db/schema.sql",
        env = "DBMATE_SCHEMA_FILE"
    )]
    pub schema_file: PathBuf,
    /// How long to wait for another pgfleet run's lock on the database
    #[arg(long, global = true, default_value = "60s", value_parser = settings::parse_timeout)]
    pub lock_wait: Timeout,
    /// lock_timeout for each migration (a file's marker option overrides it)
    #[arg(long, global = true, default_value = "5s", value_parser = settings::parse_timeout)]
    pub lock_timeout: Timeout,
    /// statement_timeout for each migration (a file's marker option overrides it)
    #[arg(long, global = true, default_value = "off", value_parser = settings::parse_timeout)]
    pub statement_timeout: Timeout,
    /// How long `wait` waits for the database
    #[arg(long, global = true, default_value = "60s", value_parser = settings::parse_timeout)]
    pub wait_timeout: Timeout,

    // --- inventory (src/inventory) ---
    /// Inventory: a YAML file, or a folder of *.yml files (docker hosts and their databases)
    #[arg(long, short = 'i', global = true, default_value = "inventory")]
    pub inventory: PathBuf,
    /// Only these hosts, groups or host/database targets: globs, comma-separated or
    /// repeated; !PATTERN excludes; `all` is every host (e.g. --limit 'lab,!nas/old')
    #[arg(long, global = true, value_delimiter = ',', value_name = "PATTERNS")]
    pub limit: Vec<String>,
    // --- end inventory ---
    /// Record unknown SSH host keys in known_hosts (OpenSSH's accept-new); a changed key is
    /// never accepted
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,

    // --- fleet runs ---
    /// How many targets run at once (each host's SSH connection is shared by its targets)
    #[arg(long, global = true, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub parallel: u16,
    /// Run the first N targets first, and the rest only if all of those succeeded
    #[arg(long, global = true, default_value_t = 0, value_name = "N")]
    pub canary: usize,
    /// After the first target fails, start nothing new (running targets stop after their
    /// current migration)
    #[arg(long, global = true)]
    pub fail_fast: bool,
    /// Output: text, json (one document at the end) or json-lines (events, then the
    /// document); see docs/json.md
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Print nothing on stdout and no progress (errors still go to stderr); with `status`,
    /// implies --exit-code
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: how each target was reached, each migration as it finishes
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Write an audit log of the run (one file per run) into this folder
    #[arg(long, global = true, env = "PGFLEET_LOG_DIR", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    JsonLines,
}

/// `up --dry-run[=MODE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRunMode {
    /// Each pending migration with its SQL
    Full,
    /// Each pending migration with its first lines
    Summary,
    /// Run the pending migrations in a transaction that is rolled back
    Rehearse,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new migration file
    #[command(alias = "n")]
    New { name: String },
    /// Apply pending migrations (creating the database if needed)
    #[command(alias = "migrate")]
    Up {
        /// Show what would run (full: with its SQL; summary: a preview; rehearse: run it in a
        /// transaction that is rolled back); nothing is kept
        #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "full", value_name = "MODE")]
        dry_run: Option<DryRunMode>,
        /// Refuse pending migrations older than the newest applied one
        #[arg(long)]
        strict: bool,
        /// Go on even though applied files were edited since they were applied
        #[arg(long)]
        allow_changed: bool,
    },
    /// Roll back the newest migration (or more, with -n or --to)
    #[command(alias = "down")]
    Rollback {
        /// How many migrations to roll back
        #[arg(short = 'n', long = "count", conflicts_with = "to")]
        count: Option<usize>,
        /// Roll back every migration newer than this applied version (0: all)
        #[arg(long)]
        to: Option<String>,
    },
    /// Show what `up` would do: `up --dry-run`, by another name
    Plan {
        /// A preview of each migration rather than all its SQL
        #[arg(long, conflicts_with = "rehearse")]
        summary: bool,
        /// Run the pending migrations in a transaction that is rolled back
        #[arg(long)]
        rehearse: bool,
        /// Refuse pending migrations older than the newest applied one
        #[arg(long)]
        strict: bool,
        /// Go on even though applied files were edited since they were applied
        #[arg(long)]
        allow_changed: bool,
    },
    /// Show applied and pending migrations (a matrix of targets × migrations on a fleet)
    Status {
        /// Exit 1 when migrations are pending
        #[arg(long)]
        exit_code: bool,
    },
    /// Compare applied migrations with their files' checksums
    Verify {
        /// Record the checksums of applied files that have none (taken over from dbmate)
        #[arg(long)]
        record: bool,
    },
    /// Write the database schema to --schema-file, as dbmate does
    Dump,
    /// Take over a database pgfleet does not manage yet: its live schema (pg_dump in the
    /// container) becomes a baseline migration, registered there without running
    Baseline {
        /// The target whose live schema becomes the baseline (host/database); with --url,
        /// that database
        #[arg(long, value_name = "TARGET")]
        from: Option<String>,
        /// Then register the baseline on these targets (hosts, groups, host/database, as
        /// --limit) where the live schema matches it, run it on empty databases, and show how
        /// the others differ; alone, uses the newest baseline file
        #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
        apply_to: Vec<String>,
        /// Keep a hand-made migrations table (not dbmate's) as history under this name; a
        /// table already called NAME is marked as history
        #[arg(long, value_name = "NAME")]
        legacy_table: Option<String>,
        /// Take a baseline despite pgfleet history or pending files; register it where the
        /// schema differs
        #[arg(long)]
        force: bool,
        /// Build expected schemas in scratch databases on this server rather than on each
        /// target's
        #[arg(long, value_name = "URL")]
        shadow_url: Option<String>,
    },
    /// Record a migration as applied without running it, where the live schema already
    /// has its changes (e.g. a draft of `drift --write-migration`)
    Register {
        /// The migration's version (or file name)
        version: String,
        /// Register it even where the schema differs
        #[arg(long)]
        force: bool,
        /// Build expected schemas in scratch databases on this server
        #[arg(long, value_name = "URL")]
        shadow_url: Option<String>,
    },
    /// Compare each live schema with what its applied migrations make (built in a scratch
    /// database); exit 1 on drift
    Drift {
        /// Build expected schemas in scratch databases on this server rather than on each
        /// target's (where creating databases is not allowed)
        #[arg(long, value_name = "URL")]
        shadow_url: Option<String>,
        /// Compare two live targets with each other instead
        #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "write_migration")]
        between: Vec<String>,
        /// Draft a migration from the tracked schema to the live one (and back), for review
        #[arg(long)]
        write_migration: bool,
    },
    /// Wait until the database server accepts connections
    Wait,
    // --- inventory (src/inventory) ---
    /// Show the resolved targets of the inventory
    Inventory,
    // --- end inventory ---
}

/// Runs the parsed command; the error's exit code is decided by `main`.
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let g = &cli.global;
    settings::load_env_file(g.env_file.as_deref())?;
    let report = Arc::new(Report::new(report::Settings {
        quiet: g.quiet,
        verbose: g.verbose,
        format: match g.format {
            OutputFormat::Text => report::Format::Text,
            OutputFormat::Json => report::Format::Json,
            OutputFormat::JsonLines => report::Format::JsonLines,
        },
    }));
    match &cli.command {
        Command::New { name } => {
            let path = migration::create_new(&g.migrations_dir, name, chrono::Utc::now()).map_err(
                |error| Error::Io {
                    what: format!(
                        "cannot create a migration in {}",
                        g.migrations_dir.display()
                    ),
                    error,
                },
            )?;
            report.line(&format!("Creating migration: {}", path.display()));
            Ok(ExitCode::Ok)
        }
        Command::Wait => {
            let url = settings::database_url(g.url.as_deref())?;
            wait(&url, settings::timeout_duration(g.wait_timeout), &report).await
        }
        // --- inventory (src/inventory) ---
        Command::Inventory => {
            let inv = inventory::load(&g.inventory)?;
            let targets = inventory::select(&inv, &g.limit)?;
            report.inventory(&targets, &inv);
            Ok(ExitCode::Ok)
        }
        // --- end inventory ---
        command => {
            let stop = Stop::default();
            let signals = watch_signals(stop.clone(), report.clone());
            let result = on_targets(command, g, &report, stop).await;
            signals.abort();
            result
        }
    }
}

/// Ctrl-C (or SIGTERM) once: start nothing new, let running migrations finish or roll
/// back, report, exit 130. Twice: exit at once; the server rolls back whatever
/// transaction was open when its connection closes.
fn watch_signals(stop: Stop, report: Arc<Report>) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    tokio::spawn(async move {
        let (Ok(mut interrupt), Ok(mut terminate)) = (interrupt, terminate) else {
            return;
        };
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            seen += 1;
            if seen == 1 {
                stop.request(StopReason::Interrupted);
                report.interrupted();
            } else {
                report.aborting();
                std::process::exit(ExitCode::Interrupted as i32);
            }
        }
    })
}

/// One database to run a command on.
struct Spot<'i> {
    id: String,
    reach: Reach<'i>,
    paths: Paths,
}

impl Spot<'_> {
    /// A short name for files and headings: host/database, or the URL's database.
    fn name(&self) -> String {
        match self.reach {
            Reach::Url(url) => url.dbname.clone(),
            Reach::Inventory(_) => self.id.clone(),
        }
    }
}

enum Reach<'i> {
    Url(&'i DbUrl),
    Inventory(&'i inventory::Target),
}

/// A target's migrations folder and schema file.
struct Paths {
    migrations: PathBuf,
    schema_file: PathBuf,
}

/// What every target's job needs besides the target.
struct Context<'a> {
    g: &'a GlobalArgs,
    report: &'a Report,
    settings: &'a RunSettings,
    connections: Option<&'a Connections<'a>>,
    adoption: adopt::Adoption,
}

fn verb(command: &Command) -> Verb {
    match command {
        Command::Up { dry_run: None, .. } => Verb::Up,
        Command::Up { .. } | Command::Plan { .. } => Verb::Plan,
        Command::Rollback { .. } => Verb::Rollback,
        Command::Status { .. } => Verb::Status,
        Command::Verify { record: true } => Verb::RecordChecksums,
        Command::Verify { record: false } => Verb::Verify,
        Command::Baseline { .. } => Verb::Baseline,
        Command::Register { .. } => Verb::Register,
        Command::Drift { .. } => Verb::Drift,
        Command::Dump | Command::New { .. } | Command::Wait | Command::Inventory => Verb::Dump,
    }
}

/// Runs a database command on the database of `--url`/`DATABASE_URL`, or else on every
/// target the inventory and `--limit` select, `--parallel` at a time. A failed target is
/// reported and the others still run; the exit code is decided at the end.
async fn on_targets(
    command: &Command,
    g: &GlobalArgs,
    report: &Report,
    stop: Stop,
) -> Result<ExitCode, Error> {
    let run_settings = RunSettings {
        lock_wait: settings::timeout_duration(g.lock_wait),
        apply: ApplySettings {
            lock_timeout: g.lock_timeout,
            statement_timeout: g.statement_timeout,
            applied_by: settings::applied_by(),
        },
        stop: stop.clone(),
    };
    let url = settings::given_database_url(g.url.as_deref())?;
    let inv = match &url {
        Some(_) => None,
        None if !g.inventory.exists() => {
            return Err(Error::Config(format!(
                "no database: pass --url postgres://user:password@host:port/db, set DATABASE_URL (in the environment or a .env file), or describe your docker hosts in an inventory (-i; {} does not exist)",
                g.inventory.display()
            )));
        }
        None => Some(inventory::load(&g.inventory)?),
    };
    let spots: Vec<Spot<'_>> = match (&url, &inv) {
        (Some(url), _) => vec![Spot {
            id: url.to_string(),
            reach: Reach::Url(url),
            paths: Paths {
                migrations: g.migrations_dir.clone(),
                schema_file: g.schema_file.clone(),
            },
        }],
        (None, Some(inv)) => chosen_targets(command, inv, g)?
            .into_iter()
            .map(|target| Spot {
                id: target.id(),
                reach: Reach::Inventory(target),
                paths: Paths {
                    migrations: target.migrations.clone(),
                    // dbmate's single schema file becomes one per target: db/HOST/DB/schema.sql.
                    schema_file: g
                        .schema_file
                        .parent()
                        .unwrap_or(Path::new("."))
                        .join(&target.host)
                        .join(&target.name)
                        .join(g.schema_file.file_name().unwrap_or("schema.sql".as_ref())),
                },
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let single = url.is_some();
    let verb = verb(command);
    report.begin(
        verb,
        single,
        spots.iter().map(|s| s.id.clone()).collect(),
        g.log_dir.as_deref(),
        &run_settings.apply.applied_by,
    )?;
    let connections = inv
        .as_ref()
        .map(|inv| Connections::new(inv, g.accept_new_host_keys));
    let adoption = adopt::adoption(command, single, &spots)?;
    let ctx = Context {
        g,
        report,
        settings: &run_settings,
        connections: connections.as_ref(),
        adoption,
    };
    let takes_baseline =
        matches!(command, Command::Baseline { from, .. } if from.is_some() || single);
    let schedule = Schedule {
        parallel: usize::from(g.parallel),
        // The targets that register a new baseline wait for the one that writes it.
        canary: if takes_baseline { 1 } else { g.canary },
        fail_fast: g.fail_fast,
    };
    let ends = fleet::run(spots.len(), schedule, &stop, |i| {
        let (ctx, spot, stop) = (&ctx, &spots[i], &stop);
        async move {
            ctx.report.event(i, Event::Connecting);
            let started = Instant::now();
            let result = async {
                let access = tokio::select! {
                    biased;
                    reason = stop.requested() => {
                        return Err(Error::Stopped { target: spot.id.clone(), reason, next: None });
                    }
                    access = reach(spot, ctx) => access?,
                };
                ctx.report.event(
                    i,
                    Event::Connected {
                        via: &access.target(),
                    },
                );
                on_target(command, access, spot, ctx, i).await
            }
            .await;
            ctx.report.target_done(i, &result, started.elapsed());
            result
        }
    })
    .await;
    let between = adopt::between(command, &ends);
    let written = match command {
        Command::Drift {
            write_migration: true,
            ..
        } => adopt::write_drafts(&spots, &ends, &ctx.adoption)?,
        _ => Vec::new(),
    };
    let code = match &between {
        Some(d) if !d.is_empty() && failed(&ends).is_none() => ExitCode::Pending,
        _ => exit_code(command, g, &ends, &stop),
    };
    match verb {
        Verb::Status | Verb::Verify | Verb::RecordChecksums => report.statuses(&ends, code),
        Verb::Plan => report.plans(&ends, dry_run_mode(command), code),
        Verb::Dump => report.dumps(&ends, code),
        Verb::Up | Verb::Rollback => report.run_summary(&ends, code),
        Verb::Baseline | Verb::Register => report.adoptions(&ends, code),
        Verb::Drift if matches!(command, Command::Drift { between, .. } if !between.is_empty()) => {
            report.between(&ends, between.as_deref(), code)
        }
        Verb::Drift => report.drifts(&ends, code, &written),
    }
    // One database, in text: its error is the run's, printed by `main` as dbmate prints it.
    if single && g.format == OutputFormat::Text {
        if let Some(Finished {
            result: TargetResult::Failed(e),
            ..
        }) = ends.into_iter().next()
        {
            return Err(e);
        }
    }
    Ok(code)
}

fn dry_run_mode(command: &Command) -> DryRun {
    match command {
        Command::Up {
            dry_run: Some(DryRunMode::Summary),
            ..
        }
        | Command::Plan { summary: true, .. } => DryRun::Summary,
        Command::Up {
            dry_run: Some(DryRunMode::Rehearse),
            ..
        }
        | Command::Plan { rehearse: true, .. } => DryRun::Rehearse,
        _ => DryRun::Full,
    }
}

/// 130 when interrupted; else a failure's code (one kind of failure keeps its own code, a
/// mix reads as 2); else 1 when `status --exit-code` found pending migrations or `verify`
/// found changes; else 0.
fn exit_code(
    command: &Command,
    g: &GlobalArgs,
    ends: &[Finished<Output>],
    stop: &Stop,
) -> ExitCode {
    if stop.reason() == Some(StopReason::Interrupted) {
        return ExitCode::Interrupted;
    }
    if let Some(code) = failed(ends) {
        return code;
    }
    let rows = ends.iter().filter_map(|e| match &e.result {
        TargetResult::Done(Output::Status(rows)) => Some(rows),
        _ => None,
    });
    let flagged = match command {
        Command::Status { exit_code } if *exit_code || g.quiet => {
            rows.flatten().any(|r| r.state == State::Pending)
        }
        Command::Verify { .. } => rows
            .flatten()
            .any(|r| matches!(r.state, State::Changed { .. } | State::NoFile)),
        Command::Baseline { .. } | Command::Register { .. } => ends.iter().any(|e| {
            matches!(&e.result, TargetResult::Done(Output::Adopted(a)) if a.outcome == crate::runner::adopt::Adoption::Differs)
        }),
        Command::Drift { .. } => ends.iter().any(|e| {
            matches!(&e.result, TargetResult::Done(Output::Drift(d)) if !d.differences.is_empty())
        }),
        _ => false,
    };
    if flagged {
        ExitCode::Pending
    } else {
        ExitCode::Ok
    }
}

/// The failures' exit code: a kind's own when all are of one kind, else 2.
fn failed(ends: &[Finished<Output>]) -> Option<ExitCode> {
    let failures: Vec<ExitCode> = ends
        .iter()
        .filter_map(|e| match &e.result {
            TargetResult::Done(_) => None,
            TargetResult::Failed(e) => Some(e.exit_code()),
            TargetResult::Skipped(_) => Some(ExitCode::Failed),
        })
        .collect();
    let first = *failures.first()?;
    Some(if failures.iter().all(|c| *c == first) {
        first
    } else {
        ExitCode::Failed
    })
}

/// The inventory targets a command runs on: `--limit`'s, except for `baseline` (its
/// source first, then `--apply-to`'s) and `drift --between` (the two named).
fn chosen_targets<'i>(
    command: &Command,
    inv: &'i inventory::Inventory,
    g: &GlobalArgs,
) -> Result<Vec<&'i inventory::Target>, Error> {
    let one = |pattern: &str, flag: &str| -> Result<&'i inventory::Target, Error> {
        let found = inventory::select(inv, &[pattern.to_string()])?;
        match found.as_slice() {
            [t] => Ok(*t),
            _ => Err(Error::Config(format!(
                "{flag} {pattern} names {} targets; name exactly one as host/database (`pgfleet inventory` lists them)",
                found.len()
            ))),
        }
    };
    match command {
        Command::Baseline { from, apply_to, .. } => {
            if from.is_none() && apply_to.is_empty() {
                return Err(Error::Config(
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
        Command::Drift { between, .. } if !between.is_empty() => Ok(vec![
            one(&between[0], "--between")?,
            one(&between[1], "--between")?,
        ]),
        _ => Ok(inventory::select(inv, &g.limit)?),
    }
}

/// How to reach a spot's database: its URL, or through its host's (shared) connection.
async fn reach(spot: &Spot<'_>, ctx: &Context<'_>) -> Result<Access, Error> {
    match (&spot.reach, ctx.connections) {
        (Reach::Url(url), _) => Ok(Access::Native(Box::new((*url).clone()))),
        (Reach::Inventory(target), Some(connections)) => connections.access(target).await,
        (Reach::Inventory(target), None) => Err(Error::Config(format!(
            "{}: no inventory loaded",
            target.id()
        ))),
    }
}

/// One database command on one database, whatever reaches it.
async fn on_target(
    command: &Command,
    access: Access,
    spot: &Spot<'_>,
    ctx: &Context<'_>,
    i: usize,
) -> Result<Output, Error> {
    let paths = &spot.paths;
    let (g, report, run_settings) = (ctx.g, ctx.report, ctx.settings);
    let mut emit = |e: Event<'_>| report.event(i, e);
    match command {
        Command::Up {
            dry_run: None,
            strict,
            allow_changed,
        } => {
            let files = load(&paths.migrations)?;
            let options = UpOptions {
                strict: *strict,
                allow_changed: *allow_changed,
            };
            let mut db = connect(access, g, Missing::Create, report, i).await?;
            runner::up(&mut db, &files, options, run_settings, &mut emit).await?;
            Ok(Output::Changed)
        }
        Command::Up {
            strict,
            allow_changed,
            ..
        }
        | Command::Plan {
            strict,
            allow_changed,
            ..
        } => {
            let files = load(&paths.migrations)?;
            let options = UpOptions {
                strict: *strict,
                allow_changed: *allow_changed,
            };
            let rehearse = dry_run_mode(command) == DryRun::Rehearse;
            dry_run(access, ctx, &files, options, rehearse, i).await
        }
        Command::Rollback { count, to } => {
            let files = load(&paths.migrations)?;
            let to = match to {
                Some(v) => RollbackTo::Version(v.clone()),
                None => RollbackTo::Count(count.unwrap_or(1)),
            };
            let mut db = connect(access, g, Missing::Fail, report, i).await?;
            runner::rollback(&mut db, &files, &to, run_settings, &mut emit).await?;
            Ok(Output::Changed)
        }
        Command::Status { .. } | Command::Verify { record: false } => {
            let files = load(&paths.migrations)?;
            let mut db = connect(access, g, Missing::Fail, report, i).await?;
            let applied = db.applied().await?;
            let rows = plan::status(&files, &applied)
                .iter()
                .map(StatusRow::from)
                .collect();
            Ok(Output::Status(rows))
        }
        Command::Verify { record: true } => {
            let files = load(&paths.migrations)?;
            let mut db = connect(access, g, Missing::Fail, report, i).await?;
            runner::record_checksums(&mut db, &files, run_settings, &mut emit).await?;
            let applied = db.applied().await?;
            let rows = plan::status(&files, &applied)
                .iter()
                .map(StatusRow::from)
                .collect();
            Ok(Output::Status(rows))
        }
        Command::Dump => {
            let search_path = access.search_path();
            let mut db = connect(access, g, Missing::Fail, report, i).await?;
            let restrict = db
                .pg_dump(&["--help"])
                .await
                .map(|help| help.contains("--restrict-key"))?;
            let schema = dbmate_schema_dump(&mut db, &search_path, restrict).await?;
            write_schema(&paths.schema_file, &schema)?;
            Ok(Output::Dump(paths.schema_file.clone()))
        }
        Command::Baseline { .. } | Command::Register { .. } | Command::Drift { .. } => {
            adopt::on_target(command, access, spot, ctx, i).await
        }
        Command::New { .. } | Command::Wait | Command::Inventory => Err(Error::Config(
            "this command does not run on databases".into(),
        )),
    }
}

fn load(dir: &Path) -> Result<Vec<migration::Migration>, Error> {
    Ok(migration::load_dir(&settings::migrations_dir(dir)?)?)
}

/// Opens the target's database the way its access says (`tracking::open`).
async fn connect(
    access: Access,
    g: &GlobalArgs,
    missing: Missing,
    report: &Report,
    i: usize,
) -> Result<Database, Error> {
    let mut on_create = |name: &str| report.event(i, Event::CreatingDatabase { name });
    tracking::open(
        access,
        g.migrations_table.as_deref(),
        missing,
        &mut on_create,
    )
    .await
}

/// `up --dry-run`: the plan, without writing anything or taking the lock; with
/// `rehearse`, the pending migrations also run in a transaction that is rolled back. A
/// missing database reads as "everything pending" (and cannot be rehearsed against).
async fn dry_run(
    access: Access,
    ctx: &Context<'_>,
    files: &[migration::Migration],
    options: UpOptions,
    rehearse: bool,
    i: usize,
) -> Result<Output, Error> {
    let target = access.target();
    let db = match connect(access, ctx.g, Missing::Fail, ctx.report, i).await {
        Ok(db) => Some(db),
        Err(Error::Connect { error, .. }) if error.is_code("3D000") => None,
        Err(e) => return Err(e),
    };
    let plan = match db {
        Some(mut db) => {
            let applied = db.applied().await?;
            let plan = runner::plan(&target, &applied, true, files, options)?;
            if rehearse {
                let mut emit = |e: Event<'_>| ctx.report.event(i, e);
                runner::rehearse(&mut db, plan, ctx.settings, &mut emit).await?
            } else {
                plan
            }
        }
        None => runner::plan(&target, &[], false, files, options)?,
    };
    Ok(Output::Plan(plan))
}

/// `wait`: like dbmate's, a server that answers "database does not exist" is up.
async fn wait(url: &DbUrl, timeout: Duration, report: &Report) -> Result<ExitCode, Error> {
    let deadline = Instant::now() + timeout;
    let mut said = false;
    loop {
        match url.open().await {
            Ok(_) => return Ok(ExitCode::Ok),
            Err(e) if e.is_code("3D000") => return Ok(ExitCode::Ok),
            Err(error) if Instant::now() >= deadline => {
                return Err(Error::Connect {
                    target: url.to_string(),
                    error: Box::new(error),
                });
            }
            Err(_) => {
                if !said {
                    report.line(&format!("Waiting for {url}"));
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn write_schema(path: &Path, schema: &str) -> Result<(), Error> {
    let io = |error| Error::Io {
        what: format!("cannot write {}", path.display()),
        error,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, schema).map_err(io)
}
