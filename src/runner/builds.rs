//! Expected schemas built once per migration set and compared many times (`drift`,
//! `baseline --apply-to`). Building one costs a scratch database and a replay of every
//! migration; what it yields is a catalog, which does not depend on the database it was
//! built in. So targets whose chains are the same files (versions and checksums), reached
//! as the same role on servers of the same major version (or all built on
//! `--shadow-url`), share one build: the first target to need it builds it on its own
//! server, the others read their live catalogs meanwhile and compare them with it (the
//! building target reads its own on its session while the scratch one replays). A build that
//! fails (a server that refuses scratch databases, a migration that fails there) is not
//! kept: the next target of the set tries on its own server, as every target did before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    entries: Mutex<HashMap<Key, Arc<Entry>>>,
    made: AtomicUsize,
}

/// One migration set's build, shared by its targets.
#[derive(Default)]
struct Entry {
    built: OnceCell<Built>,
    /// A target is building it now: the others read their live schemas while they wait.
    building: AtomicBool,
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
    /// from the build another target of the same set already made. With `live`, the
    /// target's own schema too when it could be read while a build was running (this
    /// target's on its scratch session, or another target's); None when it is still to
    /// be read.
    pub async fn expected(
        &self,
        id: &str,
        db: &mut Database,
        shadow: &Shadow,
        migrations: &[&Migration],
        settings: &RunSettings,
        live: bool,
    ) -> Result<(Arc<Schema>, Build, Option<Schema>), Error> {
        let place = match shadow {
            Shadow::Url(_) => Place::Shadow,
            Shadow::SameServer => {
                let (major, role) = db.server();
                Place::Server {
                    major,
                    role: role.to_string(),
                }
            }
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
        let entry = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let mut read = None;
        if live && entry.built.get().is_none() && entry.building.load(Ordering::Acquire) {
            read = Some(adopt::snapshot(db).await?);
        }
        let built = entry
            .built
            .get_or_try_init(|| async {
                if let Some(reason) = settings.stop.reason() {
                    return Err(Error::Stopped {
                        target: id.to_string(),
                        reason,
                        next: None,
                    });
                }
                entry.building.store(true, Ordering::Release);
                let meanwhile = live && read.is_none();
                let built = match adopt::expected(db, shadow, migrations, settings, None, meanwhile)
                    .await
                {
                    Ok(built) => built,
                    Err(e) => {
                        entry.building.store(false, Ordering::Release);
                        return Err(e);
                    }
                };
                if built.live.is_some() {
                    read = built.live;
                }
                Ok::<_, Error>(Built {
                    schema: Arc::new(built.expected),
                    build: Build {
                        number: self.made.fetch_add(1, Ordering::Relaxed) + 1,
                        built_on: id.to_string(),
                        shadow: matches!(shadow, Shadow::Url(_)),
                        migrations: migrations.len(),
                    },
                })
            })
            .await?;
        Ok((built.schema.clone(), built.build.clone(), read))
    }
}
