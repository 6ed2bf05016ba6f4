//! Command-line flags (clap), and nothing else: `settings` validates what they say. Like
//! dbmate's, the connection and output flags are global (before or after the subcommand);
//! the flags of running migrations and of fleets belong to the commands that use them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::check::Severity;
use crate::error::ExitCode;
use crate::migration::Timeout;
use crate::plan::{RollbackTo, UpOptions};
use crate::settings::{
    Action, ChangeArgs, CheckArgs, DiscoverArgs, DryRun, Format, Options, Output, QueryArgs,
    Schedule,
};

/// Parses a duration flag (`5s`, `500ms`, `2min`, `off`).
fn timeout(text: &str) -> Result<Timeout, String> {
    if Timeout::needs_unit(text) {
        let t = text.trim();
        return Err(format!(
            "'{t}' needs a unit: {t}s for seconds, {t}ms for milliseconds"
        ));
    }
    Timeout::parse(text).ok_or_else(|| {
        format!("'{text}' is not a duration: use a number with ms, s, min or h (e.g. 30s), or off")
    })
}

/// A count that must be 1 or more (`-n 0` would roll back nothing, and say it did).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{text}' is not a count of 1 or more")),
    }
}

/// A migration version as dbmate has it: the digits a file name starts with. Anything else
/// can never be applied, so it is refused here rather than after connecting.
fn version(text: &str) -> Result<String, String> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "'{text}' is not a version: give the digits a migration file name starts with (0: roll back everything)"
        ))
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "pgfleet",
    version,
    about = "Apply dbmate-compatible PostgreSQL migrations safely",
    after_help = ExitCode::help()
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
    /// How long `wait` waits for the database
    #[arg(long, global = true, default_value = "60s", value_parser = timeout)]
    pub wait_timeout: Timeout,

    /// Inventory: a YAML file, or a folder of *.yml files (docker hosts and their databases)
    /// [default: inventory]
    // No clap default: a given -i must be told from the default (it conflicts with a URL).
    #[arg(long, short = 'i', global = true, value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Only these hosts, groups or host/database targets: globs, comma-separated or
    /// repeated; !PATTERN excludes; `all` is every host (e.g. --limit 'lab,!nas/old')
    #[arg(long, global = true, value_delimiter = ',', value_name = "PATTERNS")]
    pub limit: Vec<String>,
    /// Record unknown SSH host keys in known_hosts (OpenSSH's accept-new); a changed key is
    /// never accepted
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,

    /// Output: text, json (one document at the end) or json-lines (events, then the
    /// document); see docs/json.md. `query` also takes csv
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub format: Format,
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
        dry_run: Option<DryRun>,
        /// Refuse pending migrations older than the newest applied one
        #[arg(long)]
        strict: bool,
        /// Go on even though applied files were edited since they were applied
        #[arg(long)]
        allow_changed: bool,
        /// When a migration gives up on a lock (lock_timeout), roll it back, back off and try
        /// it again up to N times, naming who holds the lock
        #[arg(long, default_value_t = LOCK_RETRIES, value_name = "N", allow_negative_numbers = true)]
        lock_retries: u32,
        /// Skip the pre-flight check (other sessions in transactions older than
        /// lock_timeout that hold or wait for locks a migration needs refuse it up front)
        #[arg(long)]
        no_preflight: bool,
        /// Skip `check`'s rules on pending files (an `error` finding refuses them; warnings
        /// are printed once per file)
        #[arg(long)]
        no_check: bool,
        /// When a check finds the database busy before a migration (pre-flight, a
        /// `precondition`, a `quiesce` lock), wait up to DURATION for it to be quiet,
        /// looking again about every half second, rather than refusing
        #[arg(long, value_parser = timeout, value_name = "DURATION")]
        wait_for_quiet: Option<Timeout>,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Write a migration from SQL and apply it, as `up` does: the file first (with a down
    /// section drafted in a scratch database), then `check`, the plan, a confirmation and
    /// `up`; prints the `git add`/`git commit` line for the file
    Change {
        /// The up section's SQL; `-` or nothing: read from stdin (`<<< "ALTER TABLE …"`)
        #[arg(value_name = "SQL")]
        sql: Option<String>,
        /// The file's name after the version [default: derived from the SQL, e.g.
        /// add_extracted_at_to_email_messages]
        #[arg(long)]
        name: Option<String>,
        /// The down section's SQL [default: drafted: the up section applied in a scratch
        /// database built from the migrations, its catalog compared with before]
        #[arg(long, value_name = "SQL")]
        down: Option<String>,
        /// Apply without asking (scripts; without a terminal, `change` needs --yes or
        /// --dry-run)
        #[arg(long, short = 'y')]
        yes: bool,
        /// Write and check the file, then stop: no plan, nothing applied
        #[arg(long)]
        dry_run: bool,
        /// Build the scratch database on this server rather than the first target's
        #[arg(long, value_name = "URL")]
        shadow_url: Option<String>,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Roll back the newest migration (or more, with -n or --to)
    #[command(alias = "down")]
    Rollback {
        /// How many migrations to roll back
        #[arg(short = 'n', long = "count", conflicts_with = "to", value_parser = at_least_one, value_name = "N", allow_negative_numbers = true)]
        count: Option<usize>,
        /// Roll back every migration newer than this applied version (0: all)
        #[arg(long, value_parser = version, value_name = "VERSION")]
        to: Option<String>,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
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
        /// Skip `check`'s rules on pending files (an `error` finding refuses them; warnings
        /// are printed once per file)
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Show applied and pending migrations (a matrix of targets × migrations on a fleet)
    Status {
        /// Exit 1 when migrations are pending
        #[arg(long)]
        exit_code: bool,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Compare applied migrations with their files' checksums
    Verify {
        /// Record the checksums of applied files that have none (taken over from dbmate)
        #[arg(long)]
        record: bool,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Write the database schema to --schema-file, as dbmate does
    Dump {
        #[command(flatten)]
        fleet: FleetArgs,
    },
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
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
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
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
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
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        apply: ApplyArgs,
        /// Leave out differences that are legitimate between hosts, comma-separated:
        /// owners, privileges, comments (instead of the inventory's `drift_ignore`)
        #[arg(long, value_delimiter = ',', value_parser = crate::schema::Ignore::parse, value_name = "WHAT")]
        ignore: Vec<crate::schema::Ignore>,
    },
    /// Run read-only SQL on every target, in a transaction that is rolled back, and show
    /// the rows in one table with a target column first (several statements: the last
    /// one's rows). Transaction control is refused; a write is refused by the server
    Query {
        /// The SQL; `-` or none: read from stdin
        #[arg(value_name = "SQL", allow_hyphen_values = true)]
        sql: Option<String>,
        /// statement_timeout for the query
        #[arg(long, default_value = QUERY_STATEMENT_TIMEOUT, value_parser = timeout, allow_hyphen_values = true)]
        statement_timeout: Timeout,
        /// lock_timeout for the query
        #[arg(long, default_value = LOCK_TIMEOUT, value_parser = timeout, allow_hyphen_values = true)]
        lock_timeout: Timeout,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Write an inventory of the PostgreSQL containers on these docker hosts (over SSH)
    #[command(
        after_help = "Example:\n  pgfleet discover nas admin@192.168.1.20 ssh://deploy@pi.lan:2222 --write inventory/home.yml"
    )]
    Discover {
        /// host, user@host, user@host:port, ssh://user@host:port or a ~/.ssh/config alias;
        /// with -i, a host of that inventory (reached with its settings)
        #[arg(value_name = "HOST", required = true)]
        hosts: Vec<String>,
        /// Write the inventory to FILE (atomically) instead of printing it
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
        /// Replace FILE when it exists
        #[arg(long, requires = "write")]
        force: bool,
        /// How many hosts are visited at once
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
        parallel: u16,
    },
    /// Wait until the database server accepts connections
    Wait,
    /// Show the resolved targets of the inventory
    Inventory,
    /// Lint migration files without a database: locks that stall production, changes that
    /// break running code, transaction mistakes, rollback sections, history (rules:
    /// docs/check-rules.md)
    Check {
        /// Migration files or folders [default: --migrations-dir]
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Fail (exit 1) on findings at or above this level
        #[arg(long, value_enum, default_value = "warning", value_name = "LEVEL")]
        deny: Severity,
        /// Turn rules on (squawk's opt-in rules too; `all` for every rule), comma-separated
        /// or repeated
        #[arg(long, value_delimiter = ',', value_name = "RULES")]
        enable: Vec<String>,
        /// Turn rules off, comma-separated or repeated
        #[arg(long, value_delimiter = ',', value_name = "RULES")]
        disable: Vec<String>,
        /// The oldest PostgreSQL major version the migrations must run on
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(9..=99), value_name = "N")]
        pg_version: u32,
        /// Check only files added or changed since this git ref, and whether a file added
        /// since then would run out of order (e.g. origin/main)
        #[arg(long, value_name = "REF")]
        since: Option<String>,
    },
}

/// How a command runs on a fleet.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// How many targets run at once (each host's SSH connection is shared by its targets)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..), value_name = "N", allow_negative_numbers = true)]
    pub parallel: u16,
    /// Run the first N targets first, and the rest only if all of those succeeded
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub canary: usize,
    /// After the first target fails, start nothing new (running targets stop after their
    /// current migration)
    #[arg(long)]
    pub fail_fast: bool,
}

/// The commands that take the migration lock.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// How long to wait for another pgfleet run's lock on the database
    #[arg(long, default_value = LOCK_WAIT, value_parser = timeout, allow_hyphen_values = true)]
    pub lock_wait: Timeout,
}

/// The commands that run migrations (for real, rehearsed, or in a scratch database).
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// lock_timeout for each migration (a file's marker option overrides it)
    #[arg(long, default_value = LOCK_TIMEOUT, value_parser = timeout, allow_hyphen_values = true)]
    pub lock_timeout: Timeout,
    /// statement_timeout for each migration (a file's marker option overrides it)
    #[arg(long, default_value = STATEMENT_TIMEOUT, value_parser = timeout, allow_hyphen_values = true)]
    pub statement_timeout: Timeout,
}

const LOCK_WAIT: &str = "60s";
const LOCK_TIMEOUT: &str = "5s";
const STATEMENT_TIMEOUT: &str = "off";
/// Ad-hoc SQL on every target should not run unbounded by default, unlike a migration.
const QUERY_STATEMENT_TIMEOUT: &str = "30s";
const LOCK_RETRIES: u32 = 5;

impl Cli {
    /// The command and the flags, as `settings::Run::new` takes them.
    pub fn into_parts(self) -> (Action, Options) {
        let defaults = |text| timeout(text).unwrap_or(Timeout { millis: 0 });
        let (fleet, lock, apply) = self.command.groups();
        let g = self.global;
        let options = Options {
            url: g.url,
            env_file: g.env_file,
            migrations_dir: g.migrations_dir,
            migrations_table: g.migrations_table,
            schema_file: g.schema_file,
            lock_wait: lock.map_or_else(|| defaults(LOCK_WAIT), |l| l.lock_wait),
            lock_timeout: apply.map_or_else(|| defaults(LOCK_TIMEOUT), |a| a.lock_timeout),
            statement_timeout: apply
                .map_or_else(|| defaults(STATEMENT_TIMEOUT), |a| a.statement_timeout),
            lock_retries: match &self.command {
                Command::Up { lock_retries, .. } => *lock_retries,
                _ => LOCK_RETRIES,
            },
            preflight: !matches!(
                &self.command,
                Command::Up {
                    no_preflight: true,
                    ..
                }
            ),
            check: !matches!(
                &self.command,
                Command::Up { no_check: true, .. } | Command::Plan { no_check: true, .. }
            ),
            wait_for_quiet: match &self.command {
                Command::Up { wait_for_quiet, .. } => *wait_for_quiet,
                _ => None,
            },
            wait_timeout: g.wait_timeout,
            inventory_given: g.inventory.is_some(),
            inventory: g.inventory.unwrap_or_else(|| PathBuf::from("inventory")),
            limit: g.limit,
            accept_new_host_keys: g.accept_new_host_keys,
            schedule: Schedule {
                parallel: match &self.command {
                    Command::Discover { parallel, .. } => usize::from(*parallel),
                    _ => fleet.map_or(16, |f| usize::from(f.parallel)),
                },
                canary: fleet.map_or(0, |f| f.canary),
                fail_fast: fleet.is_some_and(|f| f.fail_fast),
            },
            output: Output {
                quiet: g.quiet,
                verbose: g.verbose,
                format: g.format,
                log_dir: g.log_dir,
            },
        };
        (Action::from(self.command), options)
    }
}

impl Command {
    /// The flag groups this command has.
    fn groups(&self) -> (Option<&FleetArgs>, Option<&LockArgs>, Option<&ApplyArgs>) {
        match self {
            Command::Up {
                fleet, lock, apply, ..
            }
            | Command::Rollback {
                fleet, lock, apply, ..
            }
            | Command::Baseline {
                fleet, lock, apply, ..
            }
            | Command::Register {
                fleet, lock, apply, ..
            }
            | Command::Change {
                fleet, lock, apply, ..
            } => (Some(fleet), Some(lock), Some(apply)),
            Command::Plan { fleet, apply, .. } | Command::Drift { fleet, apply, .. } => {
                (Some(fleet), None, Some(apply))
            }
            Command::Verify { fleet, lock, .. } => (Some(fleet), Some(lock), None),
            Command::Status { fleet, .. }
            | Command::Dump { fleet }
            | Command::Query { fleet, .. } => (Some(fleet), None, None),
            Command::New { .. }
            | Command::Wait
            | Command::Inventory
            | Command::Check { .. }
            | Command::Discover { .. } => (None, None, None),
        }
    }
}

impl From<Command> for Action {
    fn from(command: Command) -> Action {
        match command {
            Command::New { name } => Action::New { name },
            Command::Wait => Action::Wait,
            Command::Inventory => Action::Inventory,
            Command::Discover {
                hosts,
                write,
                force,
                ..
            } => Action::Discover(DiscoverArgs {
                hosts,
                write,
                force,
            }),
            Command::Query {
                sql,
                statement_timeout,
                lock_timeout,
                ..
            } => Action::Query(QueryArgs {
                sql,
                statement_timeout,
                lock_timeout,
            }),
            Command::Check {
                paths,
                deny,
                enable,
                disable,
                pg_version,
                since,
            } => Action::Check(CheckArgs {
                paths,
                deny,
                enable,
                disable,
                pg_version,
                since,
            }),
            Command::Up {
                dry_run,
                strict,
                allow_changed,
                ..
            } => {
                let options = UpOptions {
                    strict,
                    allow_changed,
                };
                match dry_run {
                    None => Action::Up { options },
                    Some(mode) => Action::Plan { options, mode },
                }
            }
            Command::Plan {
                summary,
                rehearse,
                strict,
                allow_changed,
                ..
            } => Action::Plan {
                options: UpOptions {
                    strict,
                    allow_changed,
                },
                mode: match (summary, rehearse) {
                    (true, _) => DryRun::Summary,
                    (_, true) => DryRun::Rehearse,
                    _ => DryRun::Full,
                },
            },
            Command::Change {
                sql,
                name,
                down,
                yes,
                dry_run,
                shadow_url,
                ..
            } => Action::Change(ChangeArgs {
                sql,
                name,
                down,
                yes,
                dry_run,
                shadow_url,
            }),
            Command::Rollback { count, to, .. } => Action::Rollback {
                to: match to {
                    Some(v) => RollbackTo::Version(v),
                    None => RollbackTo::Count(count.unwrap_or(1)),
                },
            },
            Command::Status { exit_code, .. } => Action::Status { exit_code },
            Command::Verify { record, .. } => Action::Verify { record },
            Command::Dump { .. } => Action::Dump,
            Command::Baseline {
                from,
                apply_to,
                legacy_table,
                force,
                shadow_url,
                ..
            } => Action::Baseline {
                from,
                apply_to,
                legacy_table,
                force,
                shadow_url,
            },
            Command::Register {
                version,
                force,
                shadow_url,
                ..
            } => Action::Register {
                version,
                force,
                shadow_url,
            },
            Command::Drift {
                shadow_url,
                between,
                write_migration,
                ignore,
                ..
            } => Action::Drift {
                shadow_url,
                between,
                write_migration,
                ignore,
            },
        }
    }
}
