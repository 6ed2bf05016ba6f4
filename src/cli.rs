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
    version = VERSION,
    about = "Apply dbmate-compatible PostgreSQL migrations to databases on many docker hosts, over SSH",
    after_help = ExitCode::help(),
    subcommand_help_heading = "Commands",
    // Each command's help lists the flags it takes; these are the dbmate-style ones that may
    // also come before the command.
    next_help_heading = "Options before the command (as dbmate takes them; each command lists those it uses)"
)]
pub struct Cli {
    #[command(flatten)]
    pub before: BeforeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `pgfleet --version`: the crate's version and the commit it was built from (build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PGFLEET_COMMIT"), ")");

/// dbmate's global flags, which it takes before the command (`dbmate --url … up`). pgfleet
/// takes them there too, and after the command where that command uses them; after wins.
/// Not clap-global, so that a command's help offers only the flags it uses.
#[derive(Debug, Args)]
pub struct BeforeArgs {
    /// Database URL (postgres://user:password@host:port/db); default: $DATABASE_URL
    #[arg(long, short = 'u')]
    pub url: Option<String>,
    /// Env file to read DATABASE_URL from [default: .env]
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// Folder of migration files [default: ./migrations]
    #[arg(long, short = 'd', env = "DBMATE_MIGRATIONS_DIR", value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,
    /// Migrations table, as `table` or `schema.table`
    #[arg(long, env = "DBMATE_MIGRATIONS_TABLE", value_name = "TABLE")]
    pub migrations_table: Option<String>,
    /// Where `dump` writes the schema [default: ./db/schema.sql]
    #[arg(long, short = 's', env = "DBMATE_SCHEMA_FILE", value_name = "PATH")]
    pub schema_file: Option<PathBuf>,
    /// How long `wait` waits for the database [default: 60s]
    #[arg(long, value_parser = timeout, value_name = "DURATION")]
    pub wait_timeout: Option<Timeout>,
    /// Inventory file or folder [default: inventory]
    #[arg(long, short = 'i', value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Only these hosts, groups or host/database targets
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    pub limit: Vec<String>,
    /// Record unknown SSH host keys in known_hosts (OpenSSH's accept-new)
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

/// How pgfleet speaks, for every command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct OutputArgs {
    /// Output: text, json (one document at the end) or json-lines (events, then the
    /// document); see docs/json.md. `query` also takes csv, `check` github and sarif
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
    /// Create a new migration file, named with the current time as dbmate names it
    #[command(alias = "n")]
    New {
        /// What the migration does, in words (add_users_email)
        name: String,
        #[command(flatten)]
        dir: DirArgs,
    },
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
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Write a migration from SQL and apply it
    ///
    /// In order: the file (with a down section drafted in a scratch database), `check`,
    /// the plan, a confirmation, then `up` exactly as `up` does; it ends with the
    /// `git add`/`git commit` line for the file.
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
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
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
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Show what `up` would do, and change nothing (`up --dry-run` by another name)
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
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Show applied and pending migrations of each target
    Status {
        /// Exit 1 when migrations are pending
        #[arg(long)]
        exit_code: bool,
        /// The full matrix even when it is wider than the terminal (a fleet that does not fit
        /// gets one line per migration instead)
        #[arg(long)]
        matrix: bool,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
    },
    /// Compare applied migrations with their files' checksums
    Verify {
        /// Record the checksums of applied files that have none (taken over from dbmate)
        #[arg(long)]
        record: bool,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Write the database schema to --schema-file, as dbmate does
    Dump {
        /// Where to write the schema (on a fleet: one file per target, in this file's
        /// folder) [env: DBMATE_SCHEMA_FILE] [default: ./db/schema.sql]
        #[arg(long, short = 's', value_name = "PATH")]
        schema_file: Option<PathBuf>,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        table: TableArgs,
    },
    /// Take over a database pgfleet does not manage yet, from its live schema
    ///
    /// The live schema (pg_dump in the container) becomes a baseline migration, registered
    /// there without running.
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
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Record a migration as applied without running it, where its changes are already made
    ///
    /// For example a draft of `drift --write-migration`: the live schema is compared with
    /// what the migrations make, and the row is written only where they match.
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
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Compare each live schema with what its applied migrations make; exit 1 on drift
    ///
    /// The expected schema is built in a scratch database (on the target's server, or
    /// --shadow-url) from the migrations applied there.
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
        /// Leave out differences that are legitimate between hosts, comma-separated:
        /// owners, privileges, comments (instead of the inventory's `drift_ignore`)
        #[arg(long, value_delimiter = ',', value_parser = crate::schema::Ignore::parse, value_name = "WHAT")]
        ignore: Vec<crate::schema::Ignore>,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        dir: DirArgs,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Run read-only SQL on every target and show the rows in one table
    ///
    /// It runs in a transaction that is rolled back; the table has a target column first
    /// (several statements: the last one's rows). Transaction control is refused; a write
    /// is refused by the server.
    Query {
        /// The SQL; `-` or none: read from stdin
        #[arg(value_name = "SQL", allow_hyphen_values = true)]
        sql: Option<String>,
        /// statement_timeout for the query
        #[arg(long, default_value = QUERY_STATEMENT_TIMEOUT, value_parser = timeout, allow_hyphen_values = true, value_name = "DURATION")]
        statement_timeout: Timeout,
        /// lock_timeout for the query
        #[arg(long, default_value = LOCK_TIMEOUT, value_parser = timeout, allow_hyphen_values = true, value_name = "DURATION")]
        lock_timeout: Timeout,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Write an inventory of the PostgreSQL containers on these docker hosts (over SSH)
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
        /// Reach HOSTs named in this inventory with its settings (no inventory is read
        /// unless given)
        #[arg(long, short = 'i', value_name = "PATH")]
        inventory: Option<PathBuf>,
        /// Record unknown SSH host keys in known_hosts (OpenSSH's accept-new); a changed key is
        /// never accepted
        #[arg(long)]
        accept_new_host_keys: bool,
    },
    /// Wait until the database server accepts connections
    Wait {
        /// How long to wait for the database [default: 60s]
        #[arg(long, value_parser = timeout, value_name = "DURATION")]
        wait_timeout: Option<Timeout>,
        #[command(flatten)]
        url: UrlArgs,
    },
    /// Show the resolved targets of the inventory
    Inventory {
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Lint migration files without a database
    ///
    /// Locks that stall production, changes that break running code, transaction
    /// mistakes, rollback sections, history (rules: docs/check-rules.md).
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
        #[command(flatten)]
        dir: DirArgs,
    },
    /// Print a shell's completion script for pgfleet
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print pgfleet's manual page (roff), or write one page per command into a folder
    Man {
        /// Write pgfleet.1 and pgfleet-COMMAND.1 into this folder instead (e.g.
        /// ~/.local/share/man/man1)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// One database named by URL, as dbmate names it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Database (one, by URL)")]
pub struct UrlArgs {
    /// Database URL (postgres://user:password@host:port/db, libpq's parameters); default:
    /// $DATABASE_URL
    #[arg(long, short = 'u')]
    pub url: Option<String>,
    /// Env file to read DATABASE_URL from [default: .env]
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

/// Which inventory, and which of its targets.
#[derive(Debug, Args)]
#[command(next_help_heading = "Fleet (an inventory of docker hosts)")]
pub struct SelectArgs {
    /// Inventory: a YAML file, or a folder of *.yml files (docker hosts and their databases)
    /// [default: inventory]
    // No clap default: a given -i must be told from the default (it conflicts with a URL).
    #[arg(long, short = 'i', value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Only these hosts, groups or host/database targets: globs or ~regex, comma-separated
    /// or repeated; !PATTERN excludes, &PATTERN intersects; `all` is every host; NAME[0],
    /// NAME[-1], NAME[1:3] pick hosts by position; @FILE reads patterns from a file (e.g.
    /// --limit 'lab,!nas/old')
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    pub limit: Vec<String>,
}

/// Where a command runs: one database by URL, or targets of an inventory, and how.
#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(flatten)]
    pub url: UrlArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Record unknown SSH host keys in known_hosts (OpenSSH's accept-new); a changed key is
    /// never accepted
    #[arg(long, help_heading = FLEET)]
    pub accept_new_host_keys: bool,
    /// How many targets run at once (each host's SSH connection is shared by its targets)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..), value_name = "N", allow_negative_numbers = true, help_heading = FLEET)]
    pub parallel: u16,
    /// Run the first N targets first, and the rest only if all of those succeeded
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = FLEET
    )]
    pub canary: usize,
    /// After the first target fails, start nothing new (running targets stop after their
    /// current migration)
    #[arg(long, help_heading = FLEET)]
    pub fail_fast: bool,
}

const FLEET: &str = "Fleet (an inventory of docker hosts)";

/// The folder of migration files.
#[derive(Debug, Args)]
#[command(next_help_heading = "Migrations")]
pub struct DirArgs {
    /// Folder of migration files [env: DBMATE_MIGRATIONS_DIR] [default: ./migrations]
    #[arg(long, short = 'd', value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,
}

/// The tracking table, where a command reads or writes it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Migrations")]
pub struct TableArgs {
    /// Migrations table, as `table` or `schema.table` [env: DBMATE_MIGRATIONS_TABLE]
    /// [default: schema_migrations in the first search_path schema of the URL, else the
    /// current schema]
    #[arg(long, value_name = "TABLE")]
    pub migrations_table: Option<String>,
}

/// The commands that take the migration lock.
#[derive(Debug, Args)]
#[command(next_help_heading = "Timeouts")]
pub struct LockArgs {
    /// How long to wait for another pgfleet run's lock on the database
    #[arg(long, default_value = LOCK_WAIT, value_parser = timeout, allow_hyphen_values = true, value_name = "DURATION")]
    pub lock_wait: Timeout,
}

/// The commands that run migrations (for real, rehearsed, or in a scratch database).
#[derive(Debug, Args)]
#[command(next_help_heading = "Timeouts")]
pub struct ApplyArgs {
    /// lock_timeout for each migration (a file's marker option overrides it)
    #[arg(long, default_value = LOCK_TIMEOUT, value_parser = timeout, allow_hyphen_values = true, value_name = "DURATION")]
    pub lock_timeout: Timeout,
    /// statement_timeout for each migration (a file's marker option overrides it)
    #[arg(long, default_value = STATEMENT_TIMEOUT, value_parser = timeout, allow_hyphen_values = true, value_name = "DURATION")]
    pub statement_timeout: Timeout,
}

const WAIT_TIMEOUT: &str = "60s";
const LOCK_WAIT: &str = "60s";
const LOCK_TIMEOUT: &str = "5s";
const STATEMENT_TIMEOUT: &str = "off";
/// Ad-hoc SQL on every target should not run unbounded by default, unlike a migration.
const QUERY_STATEMENT_TIMEOUT: &str = "30s";
const LOCK_RETRIES: u32 = 5;

impl Cli {
    /// The command and the flags, as `settings::Run::new` takes them. A flag given after
    /// the command wins over the same flag before it (and over its environment variable).
    pub fn into_parts(self) -> Parts {
        let defaults = |text| timeout(text).unwrap_or(Timeout { millis: 0 });
        let before = self.before;
        let groups = self.command.groups();
        let (fleet, lock, apply) = (groups.fleet, groups.lock, groups.apply);
        let url = groups.url.or(fleet.map(|f| &f.url));
        let select = groups.select.or(fleet.map(|f| &f.select));
        let inventory = select
            .and_then(|s| s.inventory.clone())
            .or(groups.inventory.clone())
            .or(before.inventory);
        let mut limit = before.limit;
        limit.extend(select.iter().flat_map(|s| s.limit.iter().cloned()));
        let options = Options {
            url: url.and_then(|u| u.url.clone()).or(before.url),
            env_file: url.and_then(|u| u.env_file.clone()).or(before.env_file),
            migrations_dir: groups
                .dir
                .and_then(|d| d.migrations_dir.clone())
                .or(before.migrations_dir)
                .unwrap_or_else(|| PathBuf::from("./migrations")),
            migrations_table: groups
                .table
                .and_then(|t| t.migrations_table.clone())
                .or(before.migrations_table),
            schema_file: groups
                .schema_file
                .or(before.schema_file)
                .unwrap_or_else(|| PathBuf::from("./db/schema.sql")),
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
            wait_timeout: groups
                .wait_timeout
                .or(before.wait_timeout)
                .unwrap_or_else(|| defaults(WAIT_TIMEOUT)),
            inventory_given: inventory.is_some(),
            inventory: inventory.unwrap_or_else(|| PathBuf::from("inventory")),
            limit,
            accept_new_host_keys: before.accept_new_host_keys
                || groups.accept_new_host_keys
                || fleet.is_some_and(|f| f.accept_new_host_keys),
            schedule: Schedule {
                parallel: match &self.command {
                    Command::Discover { parallel, .. } => usize::from(*parallel),
                    _ => fleet.map_or(16, |f| usize::from(f.parallel)),
                },
                canary: fleet.map_or(0, |f| f.canary),
                fail_fast: fleet.is_some_and(|f| f.fail_fast),
            },
            output: Output {
                quiet: self.output.quiet,
                verbose: self.output.verbose,
                format: self.output.format,
                log_dir: self.output.log_dir,
                matrix: matches!(&self.command, Command::Status { matrix: true, .. }),
            },
        };
        self.command.into_parts(options)
    }
}

/// What the command line asks for: a run, or one of the files made from the flags
/// themselves.
pub enum Parts {
    Run(Box<(Action, Options)>),
    Completions(clap_complete::Shell),
    /// The man page to stdout, or its pages into this folder.
    Man(Option<PathBuf>),
}

/// The flag groups one command has (those it has not stay `None`).
#[derive(Default)]
struct Groups<'a> {
    fleet: Option<&'a FleetArgs>,
    url: Option<&'a UrlArgs>,
    select: Option<&'a SelectArgs>,
    dir: Option<&'a DirArgs>,
    table: Option<&'a TableArgs>,
    lock: Option<&'a LockArgs>,
    apply: Option<&'a ApplyArgs>,
    schema_file: Option<PathBuf>,
    wait_timeout: Option<Timeout>,
    /// `discover`'s own -i and --accept-new-host-keys (it has no fleet of targets).
    inventory: Option<PathBuf>,
    accept_new_host_keys: bool,
}

impl Command {
    fn groups(&self) -> Groups<'_> {
        match self {
            Command::Up {
                dir,
                table,
                fleet,
                lock,
                apply,
                ..
            }
            | Command::Rollback {
                dir,
                table,
                fleet,
                lock,
                apply,
                ..
            }
            | Command::Baseline {
                dir,
                table,
                fleet,
                lock,
                apply,
                ..
            }
            | Command::Register {
                dir,
                table,
                fleet,
                lock,
                apply,
                ..
            }
            | Command::Change {
                dir,
                table,
                fleet,
                lock,
                apply,
                ..
            } => Groups {
                dir: Some(dir),
                table: Some(table),
                fleet: Some(fleet),
                lock: Some(lock),
                apply: Some(apply),
                ..Groups::default()
            },
            Command::Plan {
                dir,
                table,
                fleet,
                apply,
                ..
            }
            | Command::Drift {
                dir,
                table,
                fleet,
                apply,
                ..
            } => Groups {
                dir: Some(dir),
                table: Some(table),
                fleet: Some(fleet),
                apply: Some(apply),
                ..Groups::default()
            },
            Command::Verify {
                dir,
                table,
                fleet,
                lock,
                ..
            } => Groups {
                dir: Some(dir),
                table: Some(table),
                fleet: Some(fleet),
                lock: Some(lock),
                ..Groups::default()
            },
            Command::Status {
                dir, table, fleet, ..
            } => Groups {
                dir: Some(dir),
                table: Some(table),
                fleet: Some(fleet),
                ..Groups::default()
            },
            Command::Dump {
                schema_file,
                table,
                fleet,
            } => Groups {
                schema_file: schema_file.clone(),
                table: Some(table),
                fleet: Some(fleet),
                ..Groups::default()
            },
            Command::Query { fleet, .. } => Groups {
                fleet: Some(fleet),
                ..Groups::default()
            },
            Command::Wait { wait_timeout, url } => Groups {
                url: Some(url),
                wait_timeout: *wait_timeout,
                ..Groups::default()
            },
            Command::Inventory { select } => Groups {
                select: Some(select),
                ..Groups::default()
            },
            Command::New { dir, .. } | Command::Check { dir, .. } => Groups {
                dir: Some(dir),
                ..Groups::default()
            },
            Command::Discover {
                inventory,
                accept_new_host_keys,
                ..
            } => Groups {
                inventory: inventory.clone(),
                accept_new_host_keys: *accept_new_host_keys,
                ..Groups::default()
            },
            Command::Completions { .. } | Command::Man { .. } => Groups::default(),
        }
    }
}

impl Command {
    fn into_parts(self, options: Options) -> Parts {
        let action = match self {
            Command::New { name, .. } => Action::New { name },
            Command::Wait { .. } => Action::Wait,
            Command::Inventory { .. } => Action::Inventory,
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
                ..
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
            Command::Completions { shell } => return Parts::Completions(shell),
            Command::Man { dir } => return Parts::Man(dir),
        };
        Parts::Run(Box::new((action, options)))
    }
}

/// Each command's examples, shown after its flags (and in its man page). A test holds
/// every command to having one.
const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "new",
        &[(
            "migrations/<now>_add_users_email.sql, with its up and down sections",
            "pgfleet new add_users_email",
        )],
    ),
    (
        "up",
        &[
            (
                "one database",
                "pgfleet up --url postgres://app@db.lan:5432/app",
            ),
            (
                "the lab hosts of an inventory, one target first",
                "pgfleet up -i inventory.yml --limit lab --canary 1",
            ),
            (
                "run it in a transaction that is rolled back",
                "pgfleet up --dry-run=rehearse",
            ),
        ],
    ),
    (
        "change",
        &[
            (
                "write, check, confirm and apply",
                "pgfleet change \"ALTER TABLE users ADD COLUMN email text\"",
            ),
            (
                "from stdin; write and check the file only",
                "pgfleet change --dry-run <<< \"CREATE INDEX CONCURRENTLY users_email ON users (email)\"",
            ),
        ],
    ),
    (
        "rollback",
        &[
            ("the newest migration", "pgfleet rollback"),
            (
                "the newest three, on one host",
                "pgfleet rollback -n 3 --limit nas",
            ),
            (
                "everything newer than a version",
                "pgfleet rollback --to 20240101120000",
            ),
        ],
    ),
    (
        "plan",
        &[
            (
                "a preview of each pending migration",
                "pgfleet plan --summary",
            ),
            (
                "rehearse on the lab hosts",
                "pgfleet plan --rehearse --limit 'lab/*'",
            ),
        ],
    ),
    (
        "status",
        &[
            ("every target", "pgfleet status"),
            (
                "from cron or CI: exit 1 when something is pending",
                "pgfleet status --quiet",
            ),
            ("for scripts", "pgfleet status --format json"),
        ],
    ),
    (
        "verify",
        &[
            ("edited or missing files", "pgfleet verify"),
            ("after taking over from dbmate", "pgfleet verify --record"),
        ],
    ),
    (
        "dump",
        &[(
            "as dbmate dump",
            "pgfleet dump --url postgres://app@db.lan/app -s db/schema.sql",
        )],
    ),
    (
        "baseline",
        &[(
            "take nas/app's schema, register it where it matches",
            "pgfleet baseline --from nas/app --apply-to 'lab,!lab/pi'",
        )],
    ),
    (
        "register",
        &[(
            "a hand change made on one target",
            "pgfleet register 20240301090000 --limit nas/app",
        )],
    ),
    (
        "drift",
        &[
            ("every target", "pgfleet drift"),
            (
                "draft a migration from what changed by hand",
                "pgfleet drift --write-migration --limit nas/app",
            ),
            (
                "two targets, owners aside",
                "pgfleet drift --between nas/app pi/app --ignore owners",
            ),
        ],
    ),
    (
        "query",
        &[
            (
                "one table, a target column first",
                "pgfleet query \"select count(*) from users\"",
            ),
            (
                "as CSV",
                "pgfleet query --format csv \"select id, email from users\" > users.csv",
            ),
        ],
    ),
    (
        "wait",
        &[(
            "in a container's entrypoint",
            "pgfleet wait --url \"$DATABASE_URL\" --wait-timeout 30s && pgfleet up",
        )],
    ),
    (
        "inventory",
        &[(
            "what --limit selects",
            "pgfleet inventory -i inventory.yml --limit 'lab,!lab/pi'",
        )],
    ),
    (
        "check",
        &[
            ("every migration file", "pgfleet check"),
            (
                "in CI, on a pull request's files",
                "pgfleet check --since origin/main --format github",
            ),
        ],
    ),
    (
        "discover",
        &[(
            "three hosts' PostgreSQL containers, as an inventory",
            "pgfleet discover nas admin@192.168.1.20 ssh://deploy@pi.lan:2222 --write inventory/home.yml",
        )],
    ),
    (
        "completions",
        &[
            (
                "bash",
                "pgfleet completions bash > ~/.local/share/bash-completion/completions/pgfleet",
            ),
            (
                "zsh",
                "pgfleet completions zsh > ~/.zfunc/_pgfleet  # with fpath+=~/.zfunc in ~/.zshrc",
            ),
            (
                "fish",
                "pgfleet completions fish > ~/.config/fish/completions/pgfleet.fish",
            ),
        ],
    ),
    (
        "man",
        &[
            ("read it", "pgfleet man | man -l -"),
            ("install it", "pgfleet man --dir ~/.local/share/man/man1"),
        ],
    ),
];

/// The examples of one command, as its help shows them.
fn examples(name: &str) -> Option<String> {
    let (_, examples) = EXAMPLES.iter().find(|(n, _)| *n == name)?;
    let mut text = String::from("Examples:\n");
    for (what, line) in examples.iter() {
        text.push_str(&format!("  # {what}\n  {line}\n"));
    }
    Some(text)
}

/// The command line as clap parses it, with each command's examples and the exit codes
/// after its flags. Parsing, completions and the man page all use this one.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_subcommands(|sub| {
        let examples = examples(sub.get_name())
            .map(|e| e + "\n")
            .unwrap_or_default();
        sub.after_help(format!("{examples}{}", ExitCode::summary()))
            .after_long_help(format!("{examples}{}", ExitCode::help()))
    })
}

/// Parses the command line (through `command`, so help shows the examples).
pub fn parse(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let matches = command().try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// A shell's completion script.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut command(), "pgfleet", out);
}

/// The man page of pgfleet (roff), to `out`.
pub fn man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(command()).render(out)
}

/// pgfleet.1 and one page per command (pgfleet-up.1, …) into `dir`.
pub fn man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(command(), dir)
}
