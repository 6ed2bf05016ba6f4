//! The tracking protocol, written once over a `Session`: opening the database (and
//! creating it), where the tracking tables are, the run lock, and the scripts that apply,
//! revert and rehearse migrations — which steps they send, in which mode, and what a
//! failure at step N means.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::check::Check;
use super::rehearsal::{self, Measured};
use super::session::{Failed, Mode, Opener, Session};
use super::sql::{self, STOP_KEY, STOPPED, guard, literal};
use super::{ApplySettings, Applying, LockHolder, Rows, StepError, Tables};
use crate::error::{Error, MigrationFailure, SqlError};
use crate::migration::{Direction, Migration, Section, Statement};
use crate::plan::AppliedRow;
use crate::schema::quote_ident;
use crate::stop::{Stop, StopReason};

/// The advisory lock key `dbmate --migration-lock` takes (seen with dbmate 2.37: the same
/// for every database and table). Taking the same one makes pgfleet and dbmate runs wait
/// for each other, not only pgfleet runs.
pub const DBMATE_LOCK_KEY: i64 = 48_372_615;

/// What to do when the database does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it (`up`, as dbmate does).
    Create,
    /// Report it as an error.
    Fail,
}

/// One database, through one session of whichever backend reaches it.
pub struct Database {
    session: Box<dyn Session>,
    /// How to reach the database again: the stop lock's session, pg_dump, siblings.
    opener: Arc<dyn Opener>,
    target: String,
    tables: Tables,
    /// This session's backend pid: the key of its stop lock.
    pid: i32,
    /// Run before each migration `apply_all` applies (see `check`).
    checks: Vec<Box<dyn Check>>,
    /// The lease's companion, being opened ahead of the next batch (`start_lease`).
    lease: Option<Lease>,
    /// A scratch database (`scratch`): batches run without a lease or a stop lock.
    scratch: bool,
    /// The server's major version and the role this session is, read with the tables.
    server: (u32, String),
    /// Both tracking tables exist (as `applied` found them, or `ensure_tables` made them):
    /// making them again would cost two round trips for nothing.
    tables_exist: bool,
}

/// A companion session opening in the background, and the lease it takes: (LEASE_KEY,
/// token), the token drawn for this run so that no other run's companion can stand in.
struct Lease {
    token: i32,
    companion: tokio::task::JoinHandle<Option<Box<dyn Session>>>,
}

/// The contexts of failures that are worth the same words wherever they happen.
const BEGIN: &str = "cannot begin the migration's transaction";
const TIMEOUTS: &str = "cannot set the migration's timeouts";
const RECORD: &str = "cannot record the migration";
/// What to do after the connection went away under pgfleet's own SQL of a batch.
const UNKNOWN_NEXT: &str = "the connection went away, so whether this migration and the ones sent after it committed is not known here (psql inside a container goes on with its batch after pgfleet is gone): run `pgfleet status` to see what is applied, then run the command again";

/// Applies `migrations` in order until one fails (its index comes with the error): runs of
/// transactional ones as batches (`apply_batch`), `transaction:false` ones alone. Once
/// `stop` is requested nothing new starts.
pub async fn apply_all(
    db: &mut Database,
    migrations: &[&Migration],
    settings: &ApplySettings,
    stop: &Stop,
    progress: &mut (dyn FnMut(Applying) + Send),
) -> Result<(), (usize, StepError)> {
    run_all(db, migrations, Direction::Up, settings, stop, progress).await
}

/// Reverts `migrations` in the order given (the newest first, as `plan::rollback` lists
/// them) as `apply_all` applies: runs of ones whose down sections are transactional as
/// batches, the others alone; `Applied` in `progress` is a revert that committed.
pub async fn revert_all(
    db: &mut Database,
    migrations: &[&Migration],
    settings: &ApplySettings,
    stop: &Stop,
    progress: &mut (dyn FnMut(Applying) + Send),
) -> Result<(), (usize, StepError)> {
    run_all(db, migrations, Direction::Down, settings, stop, progress).await
}

async fn run_all(
    db: &mut Database,
    migrations: &[&Migration],
    direction: Direction,
    settings: &ApplySettings,
    stop: &Stop,
    progress: &mut (dyn FnMut(Applying) + Send),
) -> Result<(), (usize, StepError)> {
    let transactional = |m: &&&Migration| match direction {
        Direction::Up => m.up_transactional(),
        Direction::Down => m.down_transactional(),
    };
    let mut i = 0;
    while i < migrations.len() {
        if let Some(reason) = stop.reason() {
            return Err((i, StepError::Stopped(reason)));
        }
        let batch = migrations[i..].iter().take_while(transactional).count();
        if batch == 0 {
            progress(Applying::Started(i));
            let took = db
                .outside_transaction(migrations[i], direction, settings)
                .await
                .map_err(|e| (i, e))?;
            progress(Applying::Applied(i, took));
            i += 1;
            continue;
        }
        let offset = |p: Applying| match p {
            Applying::Started(k) => Applying::Started(i + k),
            Applying::Applied(k, took) => Applying::Applied(i + k, took),
        };
        db.apply_batch(
            &migrations[i..i + batch],
            direction,
            settings,
            stop,
            &mut |p| progress(offset(p)),
        )
        .await
        .map_err(|(k, e)| (i + k, e))?;
        i += batch;
    }
    Ok(())
}

/// Takes the run lock, waiting up to `wait`; `on_wait` is told who holds it the first
/// time it is found taken. Past `wait`, the run is refused naming the holder.
pub async fn lock(
    db: &mut Database,
    wait: Duration,
    on_wait: &mut (dyn for<'h> FnMut(&'h LockHolder) + Send),
) -> Result<(), Error> {
    let deadline = Instant::now() + wait;
    let mut told = false;
    loop {
        if db.try_lock().await? {
            return Ok(());
        }
        let holder = db.lock_holder().await?;
        if !told && let Some(h) = &holder {
            on_wait(h);
            told = true;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::LockBusy {
                target: db.target().to_string(),
                waited: wait,
                holder: holder
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "released just now".into()),
            });
        }
        tokio::time::sleep(Duration::from_millis(250).min(deadline - now)).await;
    }
}

impl Database {
    /// Opens a session, creating the database first when it is missing and `missing`
    /// says so (`on_create` is told), and resolves where the tracking tables live
    /// (`table_override` is `--migrations-table`).
    pub async fn open(
        opener: Arc<dyn Opener>,
        table_override: Option<&str>,
        missing: Missing,
        on_create: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Database, Error> {
        let target = opener.target();
        let dbname = opener.dbname().to_string();
        let mut session = match opener.open(&dbname).await {
            Ok(session) => session,
            Err(Error::Connect { error, .. })
                if error.is_code("3D000") && missing == Missing::Create =>
            {
                on_create(&dbname);
                create_database(opener.as_ref()).await.map_err(explained)?;
                opener.open(&dbname).await.map_err(explained)?
            }
            Err(e) => return Err(explained(e)),
        };
        let (tables, server, pid) =
            resolve_tables(session.as_mut(), opener.search_path(), table_override)
                .await
                .map_err(|error| Error::Database {
                    target: target.clone(),
                    context: "cannot resolve the migrations table".into(),
                    error: Box::new(error),
                    next: None,
                })?;
        Ok(Database {
            session,
            opener,
            target,
            tables,
            pid,
            checks: Vec::new(),
            lease: None,
            scratch: false,
            server,
            tables_exist: false,
        })
    }

    /// Marks this database as scratch: created by this run to build an expected schema in,
    /// seen by nobody else and dropped (with force) afterwards. Its batches go without the
    /// lease's companion session and the stop lock, which protect a database that outlives
    /// the run (they cost a connection and round trips); asked to stop, a batch is dropped
    /// where it is.
    pub fn scratch(&mut self) {
        self.scratch = true;
    }

    /// The server's major version (15, 16, …) and the role this session is.
    pub fn server(&self) -> (u32, &str) {
        (self.server.0, &self.server.1)
    }

    /// The target as shown to users (passwords redacted).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Where the tracking tables are.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The database's name on its server.
    pub fn dbname(&self) -> &str {
        self.opener.dbname()
    }

    /// Starts opening the next batch's companion now, so its connection (several round
    /// trips) overlaps with taking the run lock and planning rather than delaying the batch.
    pub fn start_lease(&mut self) {
        let token = (crate::transport::exec::rand_token() >> 33) as i32;
        let opener = self.opener.clone();
        self.lease = Some(Lease {
            token,
            companion: tokio::spawn(async move {
                take_lock(opener.as_ref(), sql::LEASE_KEY, token).await
            }),
        });
    }

    /// Runs `check` before each migration `apply_all` applies from now on, in the
    /// migration's own script (see the `check` module).
    pub fn check_before_each(&mut self, check: Box<dyn Check>) {
        self.checks.push(check);
    }

    /// This database's session, for a protocol of its own beside these (`query`).
    pub(super) fn session(&mut self) -> &mut dyn Session {
        self.session.as_mut()
    }

    pub(super) fn error(&self, context: &str, error: SqlError) -> Error {
        Error::Database {
            target: self.target.clone(),
            context: context.to_string(),
            error: Box::new(error),
            next: None,
        }
    }

    async fn query(&mut self, sql: &str, context: &str) -> Result<Rows, Error> {
        match self.session.rows(sql).await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(self.error(context, e)),
        }
    }

    /// Whether the first value `sql` yields is true.
    async fn flag(&mut self, sql: &str, context: &str) -> Result<bool, Error> {
        let rows = self.query(sql, context).await?;
        Ok(super::first_value(rows).as_deref() == Some("t"))
    }

    /// Reads applied versions; an empty list when the tables do not exist yet.
    pub async fn applied(&mut self) -> Result<Vec<AppliedRow>, Error> {
        let context = "cannot read the migrations table";
        // One round trip: whether the tables exist, and whether dbmate's is dbmate's.
        let exist = self
            .query(&sql::tables_exist(&self.tables), context)
            .await?;
        let row = exist.into_iter().next().unwrap_or_default();
        let field = |i: usize| row.get(i).cloned().flatten();
        let exists = |i: usize| field(i).as_deref() == Some("t");
        if !exists(0) {
            return Ok(Vec::new());
        }
        if !exists(2) {
            return Err(Error::HandMadeHistory {
                target: self.target.clone(),
                table: self.tables.migrations.clone(),
                columns: field(3).unwrap_or_default(),
            });
        }
        self.tables_exist = exists(1);
        let rows = self
            .query(&sql::applied(&self.tables, exists(1)), context)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let f = |i: usize| r.get(i).cloned().flatten();
                AppliedRow {
                    version: f(0).unwrap_or_default(),
                    checksum: f(1),
                    applied_at: f(2),
                    duration_ms: f(3).and_then(|d| d.parse().ok()),
                    applied_by: f(4),
                    pgfleet_version: f(5),
                }
            })
            .collect())
    }

    /// Other dbmate-shaped history tables (a `version` column, a name with `migrations`)
    /// in the database, when ours does not exist: a typo in `--migrations-table` would
    /// otherwise start a second history and run every migration again.
    pub async fn other_histories(&mut self) -> Result<Vec<String>, Error> {
        let rows = self
            .query(
                &sql::other_histories(&self.tables),
                "cannot look for other migrations tables",
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    /// Creates the tracking tables (and their schema) when missing.
    pub async fn ensure_tables(&mut self) -> Result<(), Error> {
        if self.tables_exist {
            return Ok(());
        }
        let schema_exists = self
            .flag(
                &format!(
                    "select exists (select 1 from pg_namespace where nspname = {})",
                    literal(&self.tables.schema)
                ),
                "cannot read the schemas",
            )
            .await?;
        let create = sql::create_tables(&self.tables, !schema_exists);
        self.query(&create, "cannot create the migrations tables")
            .await?;
        self.tables_exist = true;
        Ok(())
    }

    /// Tries once to take the run's session-level advisory lock (`pg_try_advisory_lock`).
    pub async fn try_lock(&mut self) -> Result<bool, Error> {
        self.flag(
            &format!("select pg_try_advisory_lock({DBMATE_LOCK_KEY})"),
            "cannot take the migration lock",
        )
        .await
    }

    /// Who holds the run lock, if anyone.
    pub async fn lock_holder(&mut self) -> Result<Option<LockHolder>, Error> {
        let rows = self
            .query(
                &sql::lock_holder(DBMATE_LOCK_KEY),
                "cannot read who holds the migration lock",
            )
            .await?;
        Ok(rows.first().map(|r| {
            let f = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            LockHolder {
                pid: f(0).parse().unwrap_or(0),
                application_name: f(1),
                user: f(2),
                client: f(3),
                since: f(4),
            }
        }))
    }

    pub async fn unlock(&mut self) -> Result<(), Error> {
        self.query(
            &format!("select pg_advisory_unlock({DBMATE_LOCK_KEY})"),
            "cannot release the migration lock",
        )
        .await
        .map(|_| ())
    }

    /// Applies (or, `direction` Down, reverts) consecutive transactional migrations as ONE
    /// pipelined script, each in its own transaction with its tracking rows: the whole
    /// batch costs one round trip plus the server's time, however far away the host is.
    /// Each transaction starts with a guard that raises unless the one before it committed
    /// (its row there, or gone), so a failure keeps every later one from running, as if
    /// they had been sent one by one. The guard also raises while a second session holds
    /// the stop lock (STOP_KEY, our pid): once `stop` is requested that session takes it,
    /// and nothing starts after that; the migration running then finishes. `progress`
    /// hears of each start and commit as the answers stream in; a failure comes with the
    /// index in `batch` of the migration it stopped.
    pub async fn apply_batch(
        &mut self,
        batch: &[&Migration],
        direction: Direction,
        settings: &ApplySettings,
        stop: &Stop,
        progress: &mut (dyn FnMut(Applying) + Send),
    ) -> Result<(), (usize, StepError)> {
        let pid = (!self.scratch).then_some(self.pid);
        // The companion holds the lease for as long as this run is alive to hold it, and
        // takes the stop lock when asked to stop. Without one (the server refused a second
        // session), the batch runs unleased, as before.
        if self.lease.is_none() && !self.scratch {
            self.start_lease();
        }
        let (mut companion, token) = match self.lease.take() {
            Some(lease) => (lease.companion.await.ok().flatten(), lease.token),
            None => (None, 0),
        };
        let leased = companion.as_ref().map(|_| token);
        let mut script = Script::default();
        // The step index of each migration's COMMIT, in order.
        let mut commits = Vec::with_capacity(batch.len());
        for (k, &migration) in batch.iter().enumerate() {
            script.push("begin".into(), Step::Book(Some(k), BEGIN));
            let previous = k
                .checked_sub(1)
                .map(|p| (self.tables.migrations.as_str(), batch[p].version.as_str()));
            script.push(guard(pid, previous, direction, leased), Step::Guard(k));
            // Checks guard applying; a rollback is undoing what they let through.
            if direction == Direction::Up {
                script.checks(k, migration, &self.checks);
            }
            script.sections(k, migration, direction, settings, "set local");
            script.record(k, &self.tables, migration, direction, None, settings);
            commits.push(script.sql.len());
            script.push(
                "commit".into(),
                Step::Book(Some(k), "cannot commit the migration"),
            );
        }
        let opener = self.opener.clone();
        progress(Applying::Started(0));
        let mut last = Instant::now();
        let mut committed = |step: usize| {
            let Ok(k) = commits.binary_search(&step) else {
                return;
            };
            let now = Instant::now();
            progress(Applying::Applied(k, now - last));
            last = now;
            // Once asked to stop, the next one's guard is about to refuse it.
            if k + 1 < batch.len() && stop.reason().is_none() {
                progress(Applying::Started(k + 1));
            }
        };
        let outcome = {
            // One message per migration, its transaction from BEGIN to COMMIT.
            let run = self.session.run(
                &script.sql,
                Mode::Pipelined { ends: &commits },
                &commits,
                &mut committed,
            );
            tokio::pin!(run);
            // The stop lock is taken by the companion (or a session of its own), held
            // until the batch is over: it lives as long as its session.
            let mut _stopper = None;
            tokio::select! {
                biased;
                outcome = &mut run => outcome,
                reason = stop.requested() => {
                    let Some(pid) = pid else {
                        return Err((0, StepError::Stopped(reason)));
                    };
                    let by_companion = match companion.as_mut() {
                        Some(c) => c.rows(&format!("select pg_advisory_lock({STOP_KEY}, {pid})")).await.is_ok(),
                        None => false,
                    };
                    if !by_companion {
                        _stopper = take_lock(opener.as_ref(), STOP_KEY, pid).await;
                    }
                    run.await
                }
            }
        };
        drop(companion);
        outcome.map_err(|failed| self.failed(&script, failed, batch, direction, true, Some(stop)))
    }

    /// Runs the up sections of these transactional migrations, in order, in one
    /// transaction that is then rolled back: nothing is kept, and no version is recorded.
    /// Each statement is sent alone and timed, and this session's locks are read right
    /// after it, inside the transaction (the rollback would discard anything kept for
    /// later); `measured` hears of a migration's statements once its last one has run.
    /// Returns the statements' time, summed.
    pub async fn rehearse<'a>(
        &mut self,
        migrations: &[&'a Migration],
        settings: &ApplySettings,
        measured: &mut (dyn FnMut(Measured<'a>) + Send),
    ) -> Result<Duration, StepError> {
        let mut script = Script::default();
        script.push("begin".into(), Step::Book(None, BEGIN));
        for (k, &migration) in migrations.iter().enumerate() {
            script.sections(k, migration, Direction::Up, settings, "set local");
        }
        script.push(
            "rollback".into(),
            Step::Book(None, "cannot roll back the rehearsal"),
        );
        let ran = self.rehearse_steps(&script, migrations, measured).await;
        if ran.is_err() {
            // The native session is still open, in an aborted transaction (psql's has
            // ended, which rolled it back already).
            let _ = self
                .session
                .run(&["rollback".into()], Mode::OneByOne, &[], &mut |_| {})
                .await;
        }
        ran
    }

    /// `rehearse`'s steps: what comes before each statement (BEGIN, timeouts) in one round
    /// trip, then the statement alone, then the locks; the rest (ROLLBACK) at the end.
    async fn rehearse_steps<'a>(
        &mut self,
        script: &Script<'a>,
        migrations: &[&'a Migration],
        measured: &mut (dyn FnMut(Measured<'a>) + Send),
    ) -> Result<Duration, StepError> {
        let mut total = Duration::ZERO;
        let mut before = Vec::new();
        // The statements of the migration running now, told once it is over.
        let mut current: Vec<Measured<'a>> = Vec::new();
        let mut tell = |current: &mut Vec<Measured<'a>>| {
            rehearsal::fill_held(current);
            current.drain(..).for_each(&mut *measured);
        };
        let mut sent = 0;
        for (i, step) in script.steps.iter().enumerate() {
            let Step::Sql(k, section, stmt) = step else {
                continue;
            };
            if current.first().is_some_and(|m| m.migration != *k) {
                tell(&mut current);
            }
            self.send(script, sent..i, migrations).await?;
            let started = Instant::now();
            self.send(script, i..i + 1, migrations).await?;
            let took = started.elapsed();
            sent = i + 1;
            let after = match self.session.rows(rehearsal::OWN_LOCKS).await {
                Ok(rows) => rehearsal::parse(rows),
                Err(e) => {
                    return Err(StepError::Database(
                        self.error("cannot read the rehearsal's locks", e),
                    ));
                }
            };
            let chars = section.sql[..stmt.offset].chars().count();
            current.push(Measured {
                migration: *k,
                line: section.file_position(chars).0,
                sql: stmt.sql,
                took,
                held: Duration::ZERO,
                locks: rehearsal::new_locks(&before, &after),
            });
            before = after;
            total += took;
        }
        tell(&mut current);
        self.send(script, sent..script.sql.len(), migrations)
            .await?;
        Ok(total)
    }

    /// Sends `script`'s steps `range` (nothing when it is empty) inside the rehearsal's
    /// transaction (the first range begins it), as one message; a failure is located in
    /// the whole script.
    async fn send(
        &mut self,
        script: &Script<'_>,
        range: std::ops::Range<usize>,
        migrations: &[&Migration],
    ) -> Result<(), StepError> {
        if range.is_empty() {
            return Ok(());
        }
        let (start, n) = (range.start, range.len());
        match self
            .session
            .run(
                &script.sql[range],
                Mode::Pipelined { ends: &[] },
                &[],
                &mut |_| {},
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(Failed { step, error }) => {
                // Past the range: the session ended after it, which is the whole script's
                // "after the last step" (the steps after it never ran).
                let step = if step < n {
                    start + step
                } else {
                    script.steps.len()
                };
                let failed = Failed { step, error };
                Err(self
                    .failed(script, failed, migrations, Direction::Up, true, None)
                    .1)
            }
        }
    }

    /// `transaction:false`: statement by statement, then the bookkeeping in a transaction
    /// of its own, so a failure records nothing.
    async fn outside_transaction(
        &mut self,
        migration: &Migration,
        direction: Direction,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        let mut script = Script::default();
        // Checks guard applying; a rollback is undoing what they let through.
        if direction == Direction::Up {
            script.checks(0, migration, &self.checks);
        }
        script.sections(0, migration, direction, settings, "set");
        let started = Instant::now();
        let ran = self
            .session
            .run(&script.sql, Mode::OneByOne, &[], &mut |_| {})
            .await;
        // Session settings must not leak into the next migration of the run.
        let reset = self
            .session
            .run(
                &[
                    "set lock_timeout to default".into(),
                    "set statement_timeout to default".into(),
                ],
                // Each alone: outside a transaction.
                Mode::Pipelined { ends: &[0] },
                &[],
                &mut |_| {},
            )
            .await;
        if let Err(failed) = ran {
            return Err(self
                .failed(&script, failed, &[migration], direction, false, None)
                .1);
        }
        if let Err(failed) = reset {
            return Err(StepError::Database(
                self.error("cannot reset the session's timeouts", failed.error),
            ));
        }
        let elapsed = started.elapsed();
        let mut book = Script::default();
        book.push(
            "begin".into(),
            Step::Book(Some(0), "cannot begin the bookkeeping transaction"),
        );
        book.record(
            0,
            &self.tables,
            migration,
            direction,
            Some(elapsed),
            settings,
        );
        book.push(
            "commit".into(),
            Step::Book(Some(0), "cannot commit the bookkeeping"),
        );
        match self
            .session
            .run(&book.sql, Mode::Pipelined { ends: &[] }, &[], &mut |_| {})
            .await
        {
            Ok(()) => Ok(elapsed),
            Err(failed) => Err(self
                .failed(&book, failed, &[migration], direction, false, None)
                .1),
        }
    }

    /// What a failed script means, with the index (in `migrations`) of the migration it
    /// stopped: a statement of that migration failed (located in its file), the run was
    /// asked to stop, a check refused it, or pgfleet's own SQL failed.
    fn failed(
        &self,
        script: &Script<'_>,
        failed: Failed,
        migrations: &[&Migration],
        direction: Direction,
        transactional: bool,
        stop: Option<&Stop>,
    ) -> (usize, StepError) {
        let Failed { step, error } = failed;
        let database = |k: Option<usize>, context: &str, error: SqlError| {
            let names = match k {
                Some(k) => migrations[k].file_name.clone(),
                None => migrations
                    .iter()
                    .map(|m| m.file_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            // pgfleet's own SQL around a migration (begin, guard, tracking rows, commit) lost
            // its connection: what was sent may still run (psql in a container goes on), so
            // the report cannot say where the database stands, and says where to look.
            let unknown = error.outcome_unknown();
            let error = Error::Database {
                target: self.target.clone(),
                context: format!("{context} ({names})"),
                error: Box::new(error),
                next: unknown.then_some(UNKNOWN_NEXT),
            };
            (k.unwrap_or(0), StepError::Database(error))
        };
        let Some(what) = script.steps.get(step) else {
            let last = migrations.len().saturating_sub(1);
            return database(Some(last), "the session ended after the script", error);
        };
        match *what {
            Step::Sql(k, section, ref sent) => {
                // Outside a transaction, what ran before stays done: say what it was.
                let ran_before = if transactional {
                    Vec::new()
                } else {
                    script.steps[..step]
                        .iter()
                        .filter_map(|s| match s {
                            Step::Sql(_, _, sent) => Some(sent.summary()),
                            _ => None,
                        })
                        .collect()
                };
                (
                    k,
                    StepError::Failed(Box::new(failure(
                        migrations[k],
                        direction,
                        section,
                        sent.offset,
                        sent.sql,
                        error,
                        transactional,
                        ran_before,
                    ))),
                )
            }
            Step::Guard(k) if error.message.contains(STOPPED) => (
                k,
                StepError::Stopped(
                    stop.and_then(Stop::reason)
                        .unwrap_or(StopReason::Interrupted),
                ),
            ),
            Step::Guard(k) => database(
                Some(k),
                "cannot check that the migration before it committed",
                error,
            ),
            Step::Check(k, c) => (
                k,
                StepError::Refused {
                    check: self.checks[c].name().to_string(),
                    error: Box::new(error),
                },
            ),
            Step::Book(k, context) => database(k, context, error),
        }
    }

    /// Records checksums for applied versions that have none (taken over from dbmate).
    pub async fn record_checksums(&mut self, rows: &[(String, String)]) -> Result<(), Error> {
        self.ensure_tables().await?;
        let statements: Vec<String> = rows
            .iter()
            .map(|(version, checksum)| sql::record_checksum(&self.tables, version, checksum))
            .collect();
        self.query(&statements.join(";\n"), "cannot record checksums")
            .await
            .map(|_| ())
    }

    /// Runs `pg_dump` with `args` (and the connection's own) against this database.
    pub async fn pg_dump(&self, args: &[&str]) -> Result<String, Error> {
        self.opener.pg_dump(args).await
    }

    /// Runs SQL outside any transaction of ours and returns the rows it yields as text
    /// (NULL as None); `context` says what failed, for the error.
    pub async fn query_text(&mut self, sql: &str, context: &str) -> Result<Rows, Error> {
        self.query(sql, context).await
    }

    /// Another database on the same server, reached the same way (the scratch database
    /// `drift` and `baseline` build expected schemas in).
    pub async fn sibling(&self, dbname: &str) -> Result<Database, Error> {
        Database::open(
            self.opener.sibling(dbname),
            None,
            Missing::Fail,
            &mut |_| {},
        )
        .await
    }
}

/// What a step of a script is, so that a failure at step N says what failed. `usize` is
/// the index of the step's migration in the script's list.
enum Step<'a> {
    /// pgfleet's own SQL, of one migration or (None) of all the script's; the context
    /// says what failed.
    Book(Option<usize>, &'static str),
    /// The first statement of a batch's transaction (`sql::guard`).
    Guard(usize),
    /// Check `c` (in `Database::checks`) before the migration.
    Check(usize, usize),
    /// A statement of the migration: its section, and the text sent with its place there.
    Sql(usize, &'a Section, Statement<'a>),
}

/// The steps of one script, in order, with what each one is.
#[derive(Default)]
struct Script<'a> {
    sql: Vec<String>,
    steps: Vec<Step<'a>>,
}

impl<'a> Script<'a> {
    fn push(&mut self, sql: String, step: Step<'a>) {
        self.sql.push(sql);
        self.steps.push(step);
    }

    fn checks(&mut self, k: usize, migration: &Migration, checks: &[Box<dyn Check>]) {
        for (c, check) in checks.iter().enumerate() {
            if let Some(sql) = check.sql(migration) {
                self.push(sql, Step::Check(k, c));
            }
        }
    }

    /// The migration's sections in `direction`: each one's timeouts (`set` or
    /// `set local`), then its statements.
    fn sections(
        &mut self,
        k: usize,
        migration: &'a Migration,
        direction: Direction,
        settings: &ApplySettings,
        set: &str,
    ) {
        for section in sections(migration, direction) {
            for t in timeouts(section, settings, set) {
                self.push(t, Step::Book(Some(k), TIMEOUTS));
            }
            for stmt in section.statements() {
                let sent = as_sent(&stmt);
                self.push(sent.sql.to_string(), Step::Sql(k, section, sent));
            }
        }
    }

    /// The migration's tracking rows (`sql::record`).
    fn record(
        &mut self,
        k: usize,
        tables: &Tables,
        migration: &Migration,
        direction: Direction,
        elapsed: Option<Duration>,
        settings: &ApplySettings,
    ) {
        for row in sql::record(tables, migration, direction, elapsed, &settings.applied_by) {
            self.push(row, Step::Book(Some(k), RECORD));
        }
    }
}

/// A statement as it is sent: from its first code character (psql drops leading comments,
/// so its `LINE` numbers count from there), without trailing space or `;`.
fn as_sent<'a>(stmt: &Statement<'a>) -> Statement<'a> {
    let start = stmt.body_offset() - stmt.offset;
    Statement {
        sql: stmt.sql[start..].trim_end().trim_end_matches(';'),
        offset: stmt.offset + start,
    }
}

/// Opens a second session and takes lock (`key`, `pid`) there: the stop lock, or the
/// lease. None when that fails: without a stop lock the batch runs to its end, as a run
/// that was not interrupted would; without a lease, as before leases.
async fn take_lock(opener: &dyn Opener, key: i32, pid: i32) -> Option<Box<dyn Session>> {
    let mut session = opener.open(opener.dbname()).await.ok()?;
    session
        .rows(&format!("select pg_advisory_lock({key}, {pid})"))
        .await
        .ok()?;
    Some(session)
}

/// Creates the opener's database from a session on `postgres`.
async fn create_database(opener: &dyn Opener) -> Result<(), Error> {
    let mut admin = opener.open("postgres").await?;
    match admin
        .rows(&format!("create database {}", quote_ident(opener.dbname())))
        .await
    {
        Ok(_) => Ok(()),
        // Another runner created it a moment ago: that is what we wanted.
        Err(e) if e.is_code("42P04") => Ok(()),
        Err(e) => Err(Error::Connect {
            target: opener.target(),
            error: Box::new(e),
        }),
    }
}

/// Adds what to do next to the connection errors users meet most.
fn explained(error: Error) -> Error {
    let Error::Connect { target, mut error } = error else {
        return error;
    };
    let hint = match error.code.as_deref() {
        // The transport names where the password came from; this is for any other.
        Some("28P01") => Some("check the password given for this database"),
        Some("3D000") => Some("the database does not exist: `pgfleet up` creates it"),
        Some("28000") => Some("the server refused this user or client address (pg_hba.conf)"),
        None if error.message.contains("refused") => Some(
            "is the server running, and listening on that host and port? (`pgfleet wait` waits for it)",
        ),
        _ => None,
    };
    if error.hint.is_none() {
        error.hint = hint.map(str::to_string);
    }
    Error::Connect { target, error }
}

/// dbmate's table (or `table_override`, `[schema.]table`) in the override's schema, else
/// the first of the URL's `search_path`, else the session's current schema; names quoted
/// by the server's `quote_ident`, as dbmate does, so dumps match dbmate's byte for byte.
/// The same round trip reads the server's major version, the session's role and its pid.
async fn resolve_tables(
    session: &mut dyn Session,
    search_path: &[String],
    table_override: Option<&str>,
) -> Result<(Tables, (u32, String), i32), SqlError> {
    let (schema, table) = match table_override.and_then(|t| t.split_once('.')) {
        Some((s, t)) => (Some(s.to_string()), t.to_string()),
        None => (
            None,
            table_override.unwrap_or("schema_migrations").to_string(),
        ),
    };
    let schema = schema
        .or_else(|| search_path.first().cloned())
        .map(|s| literal(&s))
        .unwrap_or_else(|| "coalesce(current_schema(), 'public')".into());
    let rows = session
        .rows(&format!(
            "select {schema}, quote_ident({schema}), quote_ident({t}), quote_ident({p}), current_setting('server_version_num')::int / 10000, current_user::text, pg_backend_pid()",
            t = literal(&table),
            p = literal(&format!("{table}_pgfleet"))
        ))
        .await?;
    let row = rows.into_iter().next().unwrap_or_default();
    let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let tables = Tables {
        schema: field(0),
        table,
        migrations: format!("{}.{}", field(1), field(2)),
        pgfleet: format!("{}.{}", field(1), field(3)),
    };
    let pid = field(6);
    let pid = pid.parse().map_err(|_| SqlError {
        code: None,
        message: format!("pg_backend_pid() returned {pid:?}"),
        detail: None,
        hint: None,
        position: None,
    })?;
    Ok((tables, (field(4).parse().unwrap_or(0), field(5)), pid))
}

fn sections(migration: &Migration, direction: Direction) -> &[Section] {
    match direction {
        Direction::Up => &migration.up,
        Direction::Down => &migration.down,
    }
}

/// `SET [LOCAL]` statements for the section's timeouts: its marker options, else the run's.
fn timeouts(section: &Section, settings: &ApplySettings, set: &str) -> Vec<String> {
    let lock = section
        .options
        .lock_timeout
        .unwrap_or(settings.lock_timeout);
    let statement = section
        .options
        .statement_timeout
        .unwrap_or(settings.statement_timeout);
    vec![
        format!("{set} lock_timeout = '{}'", lock.as_setting()),
        format!("{set} statement_timeout = '{}'", statement.as_setting()),
    ]
}

/// A statement of `section` failed: where in the file, and what is known of the rest.
#[allow(clippy::too_many_arguments)]
fn failure(
    migration: &Migration,
    direction: Direction,
    section: &Section,
    stmt_offset: usize,
    stmt_sql: &str,
    error: SqlError,
    transactional: bool,
    ran_before: Vec<String>,
) -> MigrationFailure {
    let stmt = Statement {
        sql: stmt_sql,
        offset: stmt_offset,
    };
    // The server counts characters from the start of the statement we sent.
    let char_offset = match error.position {
        Some(p) => section.sql[..stmt_offset].chars().count() + p.saturating_sub(1),
        None => section.sql[..stmt.body_offset()].chars().count(),
    };
    let (line, column) = section.file_position(char_offset);
    MigrationFailure {
        file: migration.path.clone(),
        direction: match direction {
            Direction::Up => "up",
            Direction::Down => "down",
        },
        line,
        column,
        statement: stmt.summary(),
        error,
        transactional,
        ran_before,
    }
}

#[cfg(test)]
mod tests;
