//! The commands that take over databases and watch them: `baseline`, `register` and
//! `drift` (see `runner::adopt`): what they share between targets, one target's job, and
//! what is decided once every target is done.

use std::path::{Path, PathBuf};

use super::{Command, Context, Spot, connect, load};
use crate::error::Error;
use crate::migration;
use crate::report::Output;
use crate::runner::Event;
use crate::runner::adopt::{self, BaselineOptions, Shadow};
use crate::runner::fleet::{Finished, Sink, TargetResult};
use crate::schema;
use crate::tracking::Missing;
use crate::transport::DbUrl;
use crate::transport::fleet::Access;

/// What `baseline`, `register` and `drift` share between their targets.
pub(super) struct Adoption {
    shadow: Shadow,
    taken: chrono::DateTime<chrono::Utc>,
    /// The migration to register: the newest baseline file, the `register` one, or (with
    /// `--from`) the one the first target writes.
    migration: std::sync::OnceLock<migration::Migration>,
}

/// The shared choices of `baseline`, `register` and `drift`; the migration to register
/// when it is known before the run.
pub(super) fn adoption(
    command: &Command,
    single: bool,
    spots: &[Spot<'_>],
) -> Result<Adoption, Error> {
    let shadow_url = match command {
        Command::Baseline { shadow_url, .. }
        | Command::Register { shadow_url, .. }
        | Command::Drift { shadow_url, .. } => shadow_url.as_deref(),
        _ => None,
    };
    let adoption = Adoption {
        shadow: match shadow_url {
            Some(url) => Shadow::Url(Box::new(
                DbUrl::parse(url).map_err(|e| Error::Config(format!("--shadow-url: {e}")))?,
            )),
            None => Shadow::SameServer,
        },
        taken: chrono::Utc::now(),
        migration: std::sync::OnceLock::new(),
    };
    let dir = spots.first().map(|s| s.paths.migrations.as_path());
    match (command, dir) {
        (Command::Baseline { apply_to, from, .. }, _)
            if single && (!apply_to.is_empty() || from.is_some()) =>
        {
            return Err(Error::Config(
                "--from and --apply-to name inventory targets: with --url, the baseline is taken from the URL's database and there is no other".into(),
            ));
        }
        (Command::Baseline { from: None, .. }, Some(dir)) if !single => {
            let files = load(dir)?;
            let newest = files
                .into_iter()
                .filter(|m| m.baseline)
                .max_by(|a, b| a.version.cmp(&b.version))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no baseline file in {}: take one with `pgfleet baseline --from host/database`",
                        dir.display()
                    ))
                })?;
            let _ = adoption.migration.set(newest);
        }
        (Command::Register { version, .. }, Some(dir)) => {
            let files = load(dir)?;
            let found = files
                .into_iter()
                .find(|m| m.version == *version || m.file_name == *version)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no migration {version} in {}: give its version or file name",
                        dir.display()
                    ))
                })?;
            let _ = adoption.migration.set(found);
        }
        _ => {}
    }
    Ok(adoption)
}

/// `drift --between A B`: the differences of A's live schema from B's (`extra`: only on A),
/// once both are read.
pub(super) fn between(
    command: &Command,
    ends: &[Finished<Output>],
) -> Option<Vec<schema::Difference>> {
    let Command::Drift { between, .. } = command else {
        return None;
    };
    match (between.is_empty(), ends) {
        (
            false,
            [
                Finished {
                    result: TargetResult::Done(Output::Snapshot(a)),
                    ..
                },
                Finished {
                    result: TargetResult::Done(Output::Snapshot(b)),
                    ..
                },
            ],
        ) => Some(schema::compare(a, b)),
        _ => None,
    }
}

/// `drift --write-migration`: one file per distinct draft (targets that drifted alike
/// share one), into the first such target's migrations folder.
pub(super) fn write_drafts(
    spots: &[Spot<'_>],
    ends: &[Finished<Output>],
    adoption: &Adoption,
) -> Result<Vec<(PathBuf, Vec<String>)>, Error> {
    let taken = adoption.taken;
    let mut groups: Vec<(&schema::Draft, &Path, Vec<String>)> = Vec::new();
    for (spot, end) in spots.iter().zip(ends) {
        let TargetResult::Done(Output::Drift(d)) = &end.result else {
            continue;
        };
        let Some(draft) = &d.draft else { continue };
        match groups
            .iter_mut()
            .find(|(g, _, _)| g.up == draft.up && g.down == draft.down)
        {
            Some((_, _, ids)) => ids.push(spot.name()),
            None => groups.push((draft, &spot.paths.migrations, vec![spot.name()])),
        }
    }
    let mut written = Vec::new();
    for (k, (draft, dir, ids)) in groups.into_iter().enumerate() {
        let name: String = format!("drift_{}", ids[0])
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let text = migration::drafted_text(
            &ids.join(", "),
            &taken.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            &draft.up,
            &draft.down,
        );
        // One second apart: each draft needs its own version.
        let at = taken + chrono::Duration::seconds(k as i64);
        let path = migration::write_new(dir, &name, at, &text).map_err(|error| Error::Io {
            what: format!("cannot write the drafted migration into {}", dir.display()),
            error,
        })?;
        written.push((path, ids));
    }
    Ok(written)
}

/// `baseline`, `register` or `drift` on one target.
pub(super) async fn on_target(
    command: &Command,
    access: Access,
    spot: &Spot<'_>,
    ctx: &Context<'_>,
    i: usize,
) -> Result<Output, Error> {
    let (g, report, run_settings) = (ctx.g, ctx.report, ctx.settings);
    let paths = &spot.paths;
    let mut emit = |e: Event<'_>| report.event(i, e);
    match command {
        Command::Baseline {
            from,
            legacy_table,
            force,
            ..
        } => {
            // The baseline may be the first migration: the folder is made for it.
            let files = if paths.migrations.exists() {
                load(&paths.migrations)?
            } else {
                Vec::new()
            };
            let options = BaselineOptions {
                legacy: legacy_table.as_deref(),
                force: *force,
                shadow: &ctx.adoption.shadow,
                taken: ctx.adoption.taken,
            };
            let source = i == 0 && (from.is_some() || ctx.connections.is_none());
            let missing = if source {
                Missing::Fail
            } else {
                Missing::Create
            };
            let mut db = connect(access, g, missing, report, i).await?;
            if source {
                let id = spot.name();
                let (adopted, baseline) = adopt::take_baseline(
                    &mut db,
                    &files,
                    &paths.migrations,
                    &id,
                    &options,
                    run_settings,
                    &mut emit,
                )
                .await?;
                let _ = ctx.adoption.migration.set(baseline);
                return Ok(Output::Adopted(adopted));
            }
            let baseline = ctx.adoption.migration.get().ok_or_else(|| {
                Error::Config("no baseline to register: the source did not write one".into())
            })?;
            let adopted = adopt::register_where_matching(
                &mut db,
                &files,
                baseline,
                &options,
                run_settings,
                &mut emit,
            )
            .await?;
            Ok(Output::Adopted(adopted))
        }
        Command::Register { force, .. } => {
            let files = load(&paths.migrations)?;
            let options = BaselineOptions {
                legacy: None,
                force: *force,
                shadow: &ctx.adoption.shadow,
                taken: ctx.adoption.taken,
            };
            let migration = ctx
                .adoption
                .migration
                .get()
                .ok_or_else(|| Error::Config("no migration to register".into()))?;
            let mut db = connect(access, g, Missing::Fail, report, i).await?;
            let adopted = adopt::register_where_matching(
                &mut db,
                &files,
                migration,
                &options,
                run_settings,
                &mut emit,
            )
            .await?;
            Ok(Output::Adopted(adopted))
        }
        Command::Drift { between, .. } if !between.is_empty() => {
            let mut db = connect(access, g, Missing::Fail, report, i).await?;
            Ok(Output::Snapshot(Box::new(adopt::snapshot(&mut db).await?)))
        }
        Command::Drift {
            write_migration, ..
        } => {
            let files = load(&paths.migrations)?;
            let mut db = connect(access, g, Missing::Fail, report, i).await?;
            let drift = adopt::drift(
                &mut db,
                &files,
                &ctx.adoption.shadow,
                *write_migration,
                run_settings,
                &mut emit,
            )
            .await?;
            Ok(Output::Drift(drift))
        }
        _ => Err(Error::Config(
            "only baseline, register and drift run here".into(),
        )),
    }
}
