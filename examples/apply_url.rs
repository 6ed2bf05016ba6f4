//! Using pgfleet as a library: apply a migrations folder to one database and print what
//! happened. `cargo run --example apply_url -- postgres://user:pw@host/db ./migrations`

use pgfleet::migration::{Timeout, load_dir};
use pgfleet::plan::UpOptions;
use pgfleet::runner::{self, Event, RunSettings};
use pgfleet::tracking::{self, ApplySettings, Missing};
use pgfleet::transport::Backend;
use pgfleet::transport::DbUrl;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = DbUrl::parse(&args.next().ok_or("usage: apply_url URL [MIGRATIONS_DIR]")?)?;
    let dir = args.next().unwrap_or_else(|| "migrations".into());
    let files = load_dir(std::path::Path::new(&dir))?;

    let backend = Backend::Native(Box::new(url.clone()));
    let mut db = tracking::open(backend, None, Missing::Create, &mut |name| {
        println!("creating database {name}")
    })
    .await?;
    let settings = RunSettings {
        lock_wait: std::time::Duration::from_secs(60),
        apply: ApplySettings {
            lock_timeout: Timeout { millis: 5000 },
            statement_timeout: Timeout { millis: 0 },
            applied_by: pgfleet::settings::applied_by(),
        },
        stop: pgfleet::stop::Stop::default(),
        // No `check` gate here: run `pgfleet check` (or pgfleet::check::check) first.
        findings: Default::default(),
    };
    // No docker host: a URL has none (directives that need one refuse).
    // Events are plain data: print them however suits the embedding program.
    let outcome = runner::up(
        &mut db,
        &files,
        UpOptions::default(),
        &settings,
        None,
        &mut |e| {
            if let Event::Applied { migration, took } = e {
                println!("{}: {took:?}", migration.file_name);
            }
        },
    )
    .await?;
    println!("{} migration(s) applied to {url}", outcome.done);
    Ok(())
}
