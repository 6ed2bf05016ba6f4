//! Expected schemas built once per migration set and compared many times (`drift`,
//! `baseline --apply-to`). Building one costs a scratch database and a replay of every
//! migration; what it yields is a catalog, which does not depend on the database it was
//! built in. So targets whose chains are the same files (versions and checksums), reached
//! as the same role on servers of the same major version (or all built on
//! `--shadow-url`), share one build: the first target to need it builds it on its own
//! server, the others wait for it and compare their live catalogs with it. A build that
//! fails (a server that refuses scratch databases, a migration that fails there) is not
//! kept: the next target of the set tries on its own server, as every target did before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::adopt;
use super::migrate::RunSettings;
use crate::error::Error;
use crate::migration::Migration;
use crate::schema::Schema;
use crate::settings::Shadow;
use crate::tracking::Database;

/// The builds of one run.
#[derive(Default)]
pub struct Builds {
    cells: Mutex<HashMap<Key, Arc<OnceCell<Built>>>>,
    made: AtomicUsize,
}

/// What makes two expected catalogs the same.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    place: Place,
    /// The tracking tables, which the expected catalog leaves out by name.
    tables: (String, String),
    /// (version, checksum) of each migration replayed, in order.
    chain: Vec<(String, String)>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Place {
    /// Every target's schema is built on `--shadow-url`'s server.
    Shadow,
    /// Beside the target: the catalog is the server major version's, and its owners are
    /// the role the migrations ran as.
    Server { major: u32, role: String },
}

/// One build: the catalog, and which build it was, for the report.
struct Built {
    schema: Arc<Schema>,
    build: Build,
}

/// Which build a target was compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// 1, 2, … in the order the run made them.
    pub number: usize,
    /// The target whose server it was built on (or that asked for it on `--shadow-url`).
    pub built_on: String,
    /// Whether `--shadow-url`'s server built it.
    pub shadow: bool,
    /// How many migrations it replayed.
    pub migrations: usize,
}

impl Builds {
    /// The schema `migrations` make, built for target `id` (reached through `db`) or taken
    /// from the build another target of the same set already made.
    pub async fn expected(
        &self,
        id: &str,
        db: &mut Database,
        shadow: &Shadow,
        migrations: &[&Migration],
        settings: &RunSettings,
    ) -> Result<(Arc<Schema>, Build), Error> {
        let place = match shadow {
            Shadow::Url(_) => Place::Shadow,
            Shadow::SameServer => server_place(db).await?,
        };
        let tables = db.tables();
        let key = Key {
            place,
            tables: (tables.migrations.clone(), tables.pgfleet.clone()),
            chain: migrations
                .iter()
                .map(|m| (m.version.clone(), m.checksum.clone()))
                .collect(),
        };
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let built = cell
            .get_or_try_init(|| async {
                if let Some(reason) = settings.stop.reason() {
                    return Err(Error::Stopped {
                        target: id.to_string(),
                        reason,
                        next: None,
                    });
                }
                let schema = adopt::expected(db, shadow, migrations, settings).await?;
                Ok::<_, Error>(Built {
                    schema: Arc::new(schema),
                    build: Build {
                        number: self.made.fetch_add(1, Ordering::Relaxed) + 1,
                        built_on: id.to_string(),
                        shadow: matches!(shadow, Shadow::Url(_)),
                        migrations: migrations.len(),
                    },
                })
            })
            .await?;
        Ok((built.schema.clone(), built.build.clone()))
    }
}

/// The server's major version and the role this session is, read in one round trip.
async fn server_place(db: &mut Database) -> Result<Place, Error> {
    let rows = db
        .query_text(
            "select current_setting('server_version_num')::int / 10000, current_user::text",
            "cannot read the server's version",
        )
        .await?;
    let row = rows.into_iter().next().unwrap_or_default();
    let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    Ok(Place::Server {
        major: field(0).parse().unwrap_or(0),
        role: field(1),
    })
}
