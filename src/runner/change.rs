//! `change`, up to the point of applying: the down section (given, or drafted by running
//! the SQL in a scratch database built from the migrations and comparing the catalogs),
//! the file written, and `check` on it. Applying is `up` itself (`app` runs the plan, asks,
//! then runs `up`).

use std::path::PathBuf;

use super::event::RunEvent;
use super::migrate::RunSettings;
use super::target::{Shared, connect, reach};
use super::{Sink, adopt};
use crate::check::{self, Severity};
use crate::error::Error;
use crate::migration::Migration;
use crate::schema::{self, Change, Kind};
use crate::settings::{Action, Run};
use crate::stop::Stop;
use crate::tracking::Missing;

/// The file `change` wrote, and whether `check` found an error in it.
#[derive(Debug)]
pub struct Prepared {
    pub path: PathBuf,
    pub refused: bool,
}

/// The down section, and what it cannot give back.
struct Down {
    sql: String,
    drafted: bool,
    /// What the up section destroys that the down section cannot restore.
    lossy: Vec<String>,
}

pub async fn prepare(run: &Run, sink: &dyn Sink, stop: &Stop) -> Result<Prepared, Error> {
    let Action::Change(args) = &run.action else {
        return Err(Error::Config("change: not a change".into()));
    };
    let Some(first) = run.targets.first() else {
        return Err(Error::Config("change: no target selected".into()));
    };
    let up = args.up_sql();
    let down = match &args.down {
        Some(sql) => Down {
            sql: sql.trim().to_string(),
            drafted: false,
            lossy: Vec::new(),
        },
        None => draft_down(run, first, up, stop).await?,
    };
    let options = if check::needs_no_transaction(up) {
        " transaction:false"
    } else {
        ""
    };
    let down_options = if check::needs_no_transaction(&down.sql) {
        " transaction:false"
    } else {
        ""
    };
    let mut down_text = String::new();
    for what in &down.lossy {
        down_text.push_str(&format!("-- pgfleet: not a full reverse: {what}\n"));
    }
    down_text.push_str(&down.sql);
    let text =
        format!("-- migrate:up{options}\n{up}\n\n-- migrate:down{down_options}\n{down_text}\n");
    let dir = &first.migrations_dir;
    let path =
        crate::migration::write_new(dir, args.file_name(), run.taken, &text).map_err(|error| {
            Error::Io {
                what: format!("cannot write the migration in {}", dir.display()),
                error,
            }
        })?;
    sink.event(RunEvent::ChangeWritten {
        path: &path,
        drafted: down.drafted,
        lossy: &down.lossy,
    });
    let input = check::Input {
        path: path.clone(),
        bytes: text.into_bytes(),
    };
    let checked = check::check(&[input], &[], None, &check::Config::default());
    let refused = checked.denied(Severity::Error) > 0;
    sink.event(RunEvent::Checked {
        checked: &checked,
        deny: Severity::Error,
        code: if refused {
            crate::error::ExitCode::Pending
        } else {
            crate::error::ExitCode::Ok
        },
        repo_paths: &Default::default(),
    });
    Ok(Prepared { path, refused })
}

/// The reverse of `up`: the migrations built in a scratch database beside the first
/// target's (or on --shadow-url), the SQL run there, and the catalog after it turned back
/// into the one before.
async fn draft_down(
    run: &Run,
    target: &crate::settings::Target,
    up: &str,
    stop: &Stop,
) -> Result<Down, Error> {
    let settings = RunSettings {
        lock_wait: run.lock_wait,
        apply: run.apply.clone(),
        stop: stop.clone(),
        findings: Default::default(),
    };
    let shared = Shared::new(run, &settings);
    let backend = reach(target, &shared).await?;
    let mut db = connect(
        backend,
        run.migrations_table.as_deref(),
        Missing::Fail,
        stop,
        &mut |_| {},
    )
    .await?;
    let files: Vec<&Migration> = target.migrations.iter().collect();
    let built = adopt::expected(&mut db, &run.shadow, &files, &settings, Some(up), false).await?;
    let (before, after) = (built.expected, built.after.unwrap_or_default());
    let draft = schema::draft(&after, &before);
    // What the up section removed: re-created by the draft, but empty.
    let lossy = schema::compare(&after, &before)
        .into_iter()
        .filter(|d| d.change == Change::Missing && matches!(d.kind, Kind::Table | Kind::Column))
        .map(|d| {
            format!(
                "the up section drops {} {}; this re-creates it, empty: its data is not restored",
                match d.kind {
                    Kind::Table => "table",
                    _ => "column",
                },
                d.name
            )
        })
        .collect();
    let sql = if draft.down.trim().is_empty() {
        "-- pgfleet: nothing to undo in the schema: the up section changes no catalog object (data changes are not drafted; write their reverse here)".to_string()
    } else {
        draft.down.trim().to_string()
    };
    Ok(Down {
        sql,
        drafted: true,
        lossy,
    })
}
