//! Command-line flags (clap) and the dispatch of each command. Like dbmate's, the
//! connection flags are global: accepted before or after the subcommand.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, ExitCode};
use crate::inventory;
use crate::migration::{self, Timeout};
use crate::plan::{self, RollbackTo, State, UpOptions};
use crate::report::Report;
use crate::runner::{self, Event, RunSettings};
use crate::settings;
use crate::tracking::psql::PsqlDatabase;
use crate::tracking::{
    ApplySettings, Database, NativeDatabase, dbmate_schema_dump, native::Missing,
};
use crate::transport::DbUrl;
use crate::transport::fleet::{Access, Connections};

#[derive(Debug, Parser)]
#[command(
    name = "pgfleet",
    version,
    about = "Apply dbmate-compatible PostgreSQL migrations safely",
    after_help = "Exit codes: 0 ok, 1 pending (--exit-code) or verify found changes, 2 a migration or database failed, 3 bad input or configuration, 4 refused (changed files, --strict, lock busy)."
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
    /// repeated; !PATTERN excludes (e.g. --limit 'lab,!nas/old')
    #[arg(long, global = true, value_delimiter = ',', value_name = "PATTERNS")]
    pub limit: Vec<String>,
    // --- end inventory ---
    /// Record unknown SSH host keys in known_hosts (OpenSSH's accept-new); a changed key is
    /// never accepted
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new migration file
    #[command(alias = "n")]
    New { name: String },
    /// Apply pending migrations (creating the database if needed)
    #[command(alias = "migrate")]
    Up {
        /// Show what would run, with its SQL; write nothing, take no lock
        #[arg(long)]
        dry_run: bool,
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
    /// Show applied and pending migrations
    Status {
        /// Exit 1 when migrations are pending
        #[arg(long)]
        exit_code: bool,
        /// Print nothing (implies --exit-code)
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Compare applied migrations with their files' checksums
    Verify {
        /// Record the checksums of applied files that have none (taken over from dbmate)
        #[arg(long)]
        record: bool,
    },
    /// Write the database schema to --schema-file, as dbmate does
    Dump,
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
    let quiet = matches!(cli.command, Command::Status { quiet: true, .. });
    let report = Report { quiet };
    let run_settings = RunSettings {
        lock_wait: settings::timeout_duration(g.lock_wait),
        apply: ApplySettings {
            lock_timeout: g.lock_timeout,
            statement_timeout: g.statement_timeout,
            applied_by: settings::applied_by(),
        },
    };
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
            let ctx = Context {
                g,
                report: &report,
                settings: &run_settings,
            };
            match settings::given_database_url(g.url.as_deref())? {
                Some(url) => {
                    let paths = Paths {
                        migrations: g.migrations_dir.clone(),
                        schema_file: g.schema_file.clone(),
                    };
                    on_target(command, Access::Native(Box::new(url)), &paths, &ctx).await
                }
                None => on_fleet(command, &ctx).await,
            }
        }
    }
}

/// What every database command needs besides the target.
struct Context<'a> {
    g: &'a GlobalArgs,
    report: &'a Report,
    settings: &'a RunSettings,
}

/// A target's migrations folder and schema file.
struct Paths {
    migrations: PathBuf,
    schema_file: PathBuf,
}

/// Runs a database command on every target the inventory and `--limit` select, one
/// after another. A failed target is reported and the others still run; the exit code
/// is decided at the end.
async fn on_fleet(command: &Command, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let g = ctx.g;
    if !g.inventory.exists() {
        return Err(Error::Config(format!(
            "no database: pass --url postgres://user:password@host:port/db, set DATABASE_URL (in the environment or a .env file), or describe your docker hosts in an inventory (-i; {} does not exist)",
            g.inventory.display()
        )));
    }
    let inv = inventory::load(&g.inventory)?;
    let targets = inventory::select(&inv, &g.limit)?;
    let mut connections = Connections::new(&inv, g.accept_new_host_keys);
    let mut codes = Vec::new();
    let mut failed = Vec::new();
    for target in targets {
        let id = target.id();
        ctx.report.target(&id);
        // dbmate's single schema file becomes one per target: db/HOST/DB/schema.sql.
        let schema_file = g
            .schema_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&target.host)
            .join(&target.name)
            .join(g.schema_file.file_name().unwrap_or("schema.sql".as_ref()));
        let paths = Paths {
            migrations: target.migrations.clone(),
            schema_file,
        };
        let outcome = match connections.access(target).await {
            Ok(access) => on_target(command, access, &paths, ctx).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(code) => codes.push(code),
            Err(e) => {
                ctx.report.error(&e);
                codes.push(e.exit_code());
                failed.push(id);
            }
        }
    }
    if !failed.is_empty() {
        ctx.report.failed_targets(&failed);
        // One kind of failure keeps its own code; a mix reads as "something failed".
        let first = codes
            .iter()
            .copied()
            .find(|c| *c != ExitCode::Ok && *c != ExitCode::Pending);
        let all_same = codes
            .iter()
            .filter(|c| **c != ExitCode::Ok && **c != ExitCode::Pending)
            .all(|c| Some(*c) == first);
        return Ok(if all_same {
            first.unwrap_or(ExitCode::Failed)
        } else {
            ExitCode::Failed
        });
    }
    Ok(if codes.contains(&ExitCode::Pending) {
        ExitCode::Pending
    } else {
        ExitCode::Ok
    })
}

/// One database command on one database, whatever reaches it.
async fn on_target(
    command: &Command,
    endpoint: Access,
    paths: &Paths,
    ctx: &Context<'_>,
) -> Result<ExitCode, Error> {
    let (g, report, run_settings) = (ctx.g, ctx.report, ctx.settings);
    let mut emit = |e: Event<'_>| report.event(e);
    match command {
        Command::Up {
            dry_run,
            strict,
            allow_changed,
        } => {
            let files = load(&paths.migrations)?;
            let options = UpOptions {
                strict: *strict,
                allow_changed: *allow_changed,
            };
            if *dry_run {
                return dry_run_up(endpoint, g, &files, options, report).await;
            }
            let mut db = connect(endpoint, g, Missing::Create, report).await?;
            runner::up(&mut *db, &files, options, run_settings, &mut emit).await?;
            Ok(ExitCode::Ok)
        }
        Command::Rollback { count, to } => {
            let files = load(&paths.migrations)?;
            let to = match to {
                Some(v) => RollbackTo::Version(v.clone()),
                None => RollbackTo::Count(count.unwrap_or(1)),
            };
            let mut db = connect(endpoint, g, Missing::Fail, report).await?;
            runner::rollback(&mut *db, &files, &to, run_settings, &mut emit).await?;
            Ok(ExitCode::Ok)
        }
        Command::Status { exit_code, quiet } => {
            let files = load(&paths.migrations)?;
            let mut db = connect(endpoint, g, Missing::Fail, report).await?;
            let applied = db.applied().await?;
            let entries = plan::status(&files, &applied);
            report.status(&entries);
            let pending = entries.iter().any(|e| e.state == State::Pending);
            Ok(if pending && (*exit_code || *quiet) {
                ExitCode::Pending
            } else {
                ExitCode::Ok
            })
        }
        Command::Verify { record } => {
            let files = load(&paths.migrations)?;
            let mut db = connect(endpoint, g, Missing::Fail, report).await?;
            if *record {
                runner::record_checksums(&mut *db, &files, run_settings, &mut emit).await?;
            }
            let applied = db.applied().await?;
            let entries = plan::status(&files, &applied);
            report.verify(&entries);
            let bad = entries
                .iter()
                .any(|e| matches!(e.state, State::Changed { .. } | State::NoFile));
            Ok(if bad { ExitCode::Pending } else { ExitCode::Ok })
        }
        Command::Dump => {
            let search_path = endpoint.search_path();
            let mut db = connect(endpoint, g, Missing::Fail, report).await?;
            let restrict = db
                .pg_dump(&["--help"])
                .await
                .map(|help| help.contains("--restrict-key"))?;
            let schema = dbmate_schema_dump(&mut *db, &search_path, restrict).await?;
            write_schema(&paths.schema_file, &schema)?;
            report.line(&format!("Writing: {}", paths.schema_file.display()));
            Ok(ExitCode::Ok)
        }
        Command::New { .. } | Command::Wait | Command::Inventory => {
            unreachable!("handled before a target is chosen")
        }
    }
}

fn load(dir: &Path) -> Result<Vec<migration::Migration>, Error> {
    Ok(migration::load_dir(&settings::migrations_dir(dir)?)?)
}

/// Opens the target's database the way its access says.
async fn connect(
    access: Access,
    g: &GlobalArgs,
    missing: Missing,
    report: &Report,
) -> Result<Box<dyn Database>, Error> {
    let table = g.migrations_table.as_deref();
    let mut on_create = |name: &str| report.event(Event::CreatingDatabase { name });
    Ok(match access {
        Access::Native(endpoint) => {
            Box::new(NativeDatabase::connect(endpoint, table, missing, &mut on_create).await?)
        }
        Access::Psql {
            target,
            docker,
            container,
            user,
            dbname,
        } => Box::new(
            PsqlDatabase::connect(
                docker,
                &container,
                &user,
                &dbname,
                target,
                table,
                missing,
                &mut on_create,
            )
            .await?,
        ),
    })
}

/// Shows the plan without writing anything or taking the lock. A missing database reads
/// as "everything pending".
async fn dry_run_up(
    endpoint: Access,
    g: &GlobalArgs,
    files: &[migration::Migration],
    options: UpOptions,
    report: &Report,
) -> Result<ExitCode, Error> {
    let target = endpoint.target();
    let (applied, creates) = match connect(endpoint, g, Missing::Fail, report).await {
        Ok(mut db) => (db.applied().await?, false),
        Err(Error::Connect { error, .. }) if error.is_code("3D000") => (Vec::new(), true),
        Err(e) => return Err(e),
    };
    let pending = plan::up(files, &applied, options).map_err(|r| match r {
        plan::Refusal::Changed(files) => Error::Changed {
            target: target.clone(),
            files,
        },
        plan::Refusal::OutOfOrder { newest, files } => Error::OutOfOrder {
            target: target.clone(),
            newest,
            files,
        },
    })?;
    report.dry_run(&target, creates, &pending);
    Ok(ExitCode::Ok)
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
