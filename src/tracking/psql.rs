//! `Database` through `psql` inside the container (method `exec`). One psql process is one
//! session for the whole run, so the advisory lock holds as with the native protocol. A
//! transactional migration is one script — BEGIN, its statements, its tracking rows,
//! COMMIT — and psql stops at the first error (ON_ERROR_STOP), which ends the session and
//! so rolls the transaction back. `\echo` markers after each statement tell which one
//! failed; psql's `LINE k` and caret give the position.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::native::{DBMATE_LOCK_KEY, Missing};
use super::sql::{STOP_KEY, STOPPED, guard};
use super::{
    ApplySettings, Applying, Database, LockHolder, StepError, Tables, failure, sections, sql,
    timeouts,
};
use crate::error::Error;
use crate::migration::{Direction, Migration, Section, Statement, split_statements};
use crate::plan::AppliedRow;
use crate::schema::quote_ident;
use crate::stop::{Stop, StopReason};
use crate::transport::docker::DockerApi;
use crate::transport::exec::{PsqlSession, PsqlStopped, pg_dump_in, position_in};

pub struct PsqlDatabase {
    session: PsqlSession,
    /// This session's backend pid, once asked for.
    pid: Option<i32>,
    target: String,
    tables: Tables,
    docker: Arc<DockerApi>,
    container: String,
    user: String,
    dbname: String,
}

impl PsqlDatabase {
    /// Starts psql in `container` on `dbname`, creating the database first when asked to.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        docker: Arc<DockerApi>,
        container: &str,
        user: &str,
        dbname: &str,
        target: String,
        table_override: Option<&str>,
        missing: Missing,
        on_create: &mut (dyn FnMut(&str) + Send),
    ) -> Result<PsqlDatabase, Error> {
        let connect_error = |e: PsqlStopped| Error::Connect {
            target: target.clone(),
            error: Box::new(e.error),
        };
        let mut session = PsqlSession::start(&docker, container, user, dbname).await?;
        let probe = session.run("select 1;").await;
        if let Err(stopped) = probe {
            if !(stopped.error.is_code("3D000") && missing == Missing::Create) {
                return Err(connect_error(stopped));
            }
            on_create(dbname);
            let mut admin = PsqlSession::start(&docker, container, user, "postgres").await?;
            if let Err(e) = admin
                .run(&format!("create database {};", quote_ident(dbname)))
                .await
            {
                // Another runner created it a moment ago: that is what we wanted.
                if !e.error.is_code("42P04") {
                    return Err(connect_error(e));
                }
            }
            session = PsqlSession::start(&docker, container, user, dbname).await?;
            session.run("select 1;").await.map_err(connect_error)?;
        }
        let (schema, table) = match table_override.and_then(|t| t.split_once('.')) {
            Some((s, t)) => (Some(s.to_string()), t.to_string()),
            None => (
                None,
                table_override.unwrap_or("schema_migrations").to_string(),
            ),
        };
        let schema_sql = schema
            .as_deref()
            .map(sql::literal)
            .unwrap_or_else(|| "coalesce(current_schema(), 'public')".into());
        let out = session
            .run(&format!(
                "select {schema_sql}, quote_ident({schema_sql}), quote_ident({t}), quote_ident({p});",
                t = sql::literal(&table),
                p = sql::literal(&format!("{table}_pgfleet"))
            ))
            .await
            .map_err(connect_error)?;
        let row = PsqlSession::rows(&out)
            .into_iter()
            .next()
            .unwrap_or_default();
        let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let tables = Tables {
            schema: field(0),
            table: table.clone(),
            migrations: format!("{}.{}", field(1), field(2)),
            pgfleet: format!("{}.{}", field(1), field(3)),
        };
        Ok(PsqlDatabase {
            session,
            pid: None,
            target,
            tables,
            docker,
            container: container.to_string(),
            user: user.to_string(),
            dbname: dbname.to_string(),
        })
    }

    fn error(&self, context: &str, stopped: PsqlStopped) -> Error {
        Error::Database {
            target: self.target.clone(),
            context: context.to_string(),
            error: Box::new(stopped.error),
        }
    }

    async fn query(&mut self, sql: &str, context: &str) -> Result<Vec<Vec<Option<String>>>, Error> {
        match self.session.run(&format!("{sql};")).await {
            Ok(out) => Ok(PsqlSession::rows(&out)),
            Err(e) => Err(self.error(context, e)),
        }
    }

    async fn backend_pid(&mut self) -> Result<i32, Error> {
        if let Some(pid) = self.pid {
            return Ok(pid);
        }
        let rows = self
            .query("select pg_backend_pid()", "cannot read the session's pid")
            .await?;
        let pid = rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .flatten()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default();
        self.pid = Some(pid);
        Ok(pid)
    }

    async fn flag(&mut self, sql: &str, context: &str) -> Result<bool, Error> {
        let rows = self.query(sql, context).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .flatten()
            .as_deref()
            == Some("t"))
    }

    /// Runs one direction of a migration as one psql script, with a marker after each
    /// statement; transactional files inside BEGIN … COMMIT.
    async fn run(
        &mut self,
        migration: &Migration,
        direction: Direction,
        settings: &ApplySettings,
        transactional: bool,
    ) -> Result<Duration, StepError> {
        self.run_script(&[migration], direction, settings, transactional, true)
            .await
    }

    /// The script behind `run` and `rehearse`: the migrations one after another, in one
    /// transaction when `transactional`, which ends in COMMIT with their tracking rows
    /// (`keep`) or in ROLLBACK without. Outside a transaction, one migration at a time.
    async fn run_script(
        &mut self,
        migrations: &[&Migration],
        direction: Direction,
        settings: &ApplySettings,
        transactional: bool,
        keep: bool,
    ) -> Result<Duration, StepError> {
        let set = if transactional { "set local" } else { "set" };
        let mut script = String::new();
        if transactional {
            script.push_str("begin;\n");
        }
        // (marker text, migration, section, statement) for each statement, in order.
        let mut steps = Vec::new();
        for &migration in migrations {
            for section in sections(migration, direction) {
                for t in timeouts(section, settings, set) {
                    script.push_str(&t);
                    script.push_str(";\n");
                }
                for stmt in split_statements(&section.sql) {
                    // From its first code character, so psql's LINE numbers start there.
                    let body_offset = stmt.body_offset() - stmt.offset;
                    let body = stmt.sql[body_offset..].trim_end().trim_end_matches(';');
                    let (echo, marker) = self.session.marker();
                    script.push_str(body);
                    script.push_str(";\n");
                    script.push_str(&echo);
                    steps.push((
                        marker,
                        migration,
                        section,
                        stmt.offset + body_offset,
                        body.to_string(),
                    ));
                }
            }
        }
        let started = Instant::now();
        let (done, stopped) = if transactional {
            let (echo, marker) = self.session.marker();
            script.push_str(&echo);
            if keep {
                for &migration in migrations {
                    for s in sql::record(
                        &self.tables,
                        migration,
                        direction,
                        None,
                        &settings.applied_by,
                    ) {
                        script.push_str(&s);
                        script.push_str(";\n");
                    }
                }
                script.push_str("commit;\n");
            } else {
                script.push_str("rollback;\n");
            }
            match self.session.run(&script).await {
                Ok(_) => (true, None),
                Err(e) => {
                    let sql_done = e.stdout.contains(&marker);
                    (sql_done, Some(e))
                }
            }
        } else {
            match self.session.run(&script).await {
                Ok(_) => (true, None),
                Err(e) => (false, Some(e)),
            }
        };
        let elapsed = started.elapsed();
        if let Some(stopped) = stopped {
            if done {
                return Err(StepError::Database(self.error(
                    "cannot record the migration (if the connection dropped during COMMIT, whether it committed is unknown: check with `pgfleet status`)",
                    stopped,
                )));
            }
            let ran = steps
                .iter()
                .take_while(|(m, ..)| stopped.stdout.contains(m.as_str()))
                .count();
            let Some((_, migration, section, offset, body)) = steps.get(ran) else {
                let names: Vec<&str> = migrations.iter().map(|m| m.file_name.as_str()).collect();
                return Err(StepError::Database(self.error(
                    &format!("cannot set the timeouts of {}", names.join(", ")),
                    stopped,
                )));
            };
            let mut error = stopped.error;
            error.position = stopped.at.map(|at| position_in(body, at));
            let ran_before = if transactional {
                Vec::new()
            } else {
                steps[..ran]
                    .iter()
                    .map(|(_, _, _, o, b)| Statement { sql: b, offset: *o }.summary())
                    .collect()
            };
            return Err(StepError::Failed(Box::new(failure(
                migration,
                direction,
                section,
                *offset,
                body,
                error,
                transactional,
                ran_before,
            ))));
        }
        if !transactional {
            // The statements ran; reset the session's timeouts and record them in a
            // transaction of their own.
            let mut book = String::from(
                "set lock_timeout to default;\nset statement_timeout to default;\nbegin;\n",
            );
            for &migration in migrations {
                for s in sql::record(
                    &self.tables,
                    migration,
                    direction,
                    Some(elapsed),
                    &settings.applied_by,
                ) {
                    book.push_str(&s);
                    book.push_str(";\n");
                }
            }
            book.push_str("commit;\n");
            if let Err(e) = self.session.run(&book).await {
                return Err(StepError::Database(
                    self.error("cannot record the migration", e),
                ));
            }
        }
        Ok(elapsed)
    }
}

/// A step of `apply_batch`'s script, by the index of its migration in the batch.
enum BatchStep<'a> {
    Guard(usize),
    Sql(usize, &'a Section, usize, String),
    Commit(usize),
}

/// Starts a second psql and takes the stop lock of the session `pid`. None when that
/// fails: the batch then runs to its end, as a run that was not interrupted would.
async fn take_stop_lock(
    docker: &DockerApi,
    container: &str,
    user: &str,
    dbname: &str,
    pid: i32,
) -> Option<PsqlSession> {
    let mut session = PsqlSession::start(docker, container, user, dbname)
        .await
        .ok()?;
    session
        .run(&format!("select pg_advisory_lock({STOP_KEY}, {pid});"))
        .await
        .ok()?;
    Some(session)
}

#[async_trait]
impl Database for PsqlDatabase {
    /// Consecutive transactional migrations as ONE psql script, each in its own
    /// transaction with its tracking rows: one round trip for the batch. psql stops at the
    /// first error (ON_ERROR_STOP), so nothing after a failure runs. Each transaction
    /// starts with the guard that refuses once a second session holds the stop lock (taken
    /// on Ctrl-C by another psql in the container), so nothing new starts after a stop.
    /// A marker after each COMMIT reports progress as the output streams in.
    async fn apply_batch(
        &mut self,
        batch: &[&Migration],
        settings: &ApplySettings,
        stop: &Stop,
        progress: &mut (dyn FnMut(Applying) + Send),
    ) -> Result<(), (usize, StepError)> {
        let pid = self.backend_pid().await.map_err(|e| (0, e.into()))?;
        progress(Applying::Started(0));
        let mut script = String::new();
        let mut steps: Vec<(String, BatchStep<'_>)> = Vec::new();
        for (k, &migration) in batch.iter().enumerate() {
            script.push_str("begin;\n");
            script.push_str(&guard(pid, None));
            script.push_str(";\n");
            let (echo, marker) = self.session.marker();
            script.push_str(&echo);
            steps.push((marker, BatchStep::Guard(k)));
            for section in &migration.up {
                for t in timeouts(section, settings, "set local") {
                    script.push_str(&t);
                    script.push_str(";\n");
                }
                for stmt in split_statements(&section.sql) {
                    // From its first code character, so psql's LINE numbers start there.
                    let body_offset = stmt.body_offset() - stmt.offset;
                    let body = stmt.sql[body_offset..].trim_end().trim_end_matches(';');
                    script.push_str(body);
                    script.push_str(";\n");
                    let (echo, marker) = self.session.marker();
                    script.push_str(&echo);
                    steps.push((
                        marker,
                        BatchStep::Sql(k, section, stmt.offset + body_offset, body.to_string()),
                    ));
                }
            }
            for row in sql::record(
                &self.tables,
                migration,
                Direction::Up,
                None,
                &settings.applied_by,
            ) {
                script.push_str(&row);
                script.push_str(";\n");
            }
            script.push_str("commit;\n");
            let (echo, marker) = self.session.marker();
            script.push_str(&echo);
            steps.push((marker, BatchStep::Commit(k)));
        }
        let committed: Vec<String> = steps
            .iter()
            .filter(|(_, s)| matches!(s, BatchStep::Commit(_)))
            .map(|(m, _)| m.clone())
            .collect();
        let (docker, container, user, dbname) =
            (&self.docker, &self.container, &self.user, &self.dbname);
        // Held until the batch is over: the stop lock lives as long as that psql.
        let mut _stopper: Option<PsqlSession> = None;
        let mut last = Instant::now();
        let mut seen = |k: usize| {
            let now = Instant::now();
            progress(Applying::Applied(k, now - last));
            last = now;
            // Once asked to stop, the next one's guard is about to refuse it.
            if k + 1 < batch.len() && stop.reason().is_none() {
                progress(Applying::Started(k + 1));
            }
        };
        let outcome = {
            let run = self.session.run_watching(&script, &committed, &mut seen);
            tokio::pin!(run);
            // (Written out: `progress` is borrowed by `seen` until the run ends.)
            tokio::select! {
                outcome = &mut run => outcome,
                _ = stop.requested() => {
                    _stopper = take_stop_lock(docker, container, user, dbname, pid).await;
                    run.await
                }
            }
        };
        let stopped = match outcome {
            Ok(_) => return Ok(()),
            Err(stopped) => stopped,
        };
        let ran = steps
            .iter()
            .take_while(|(m, _)| stopped.stdout.contains(m.as_str()))
            .count();
        let target = self.target.clone();
        let database = |k: usize, context: &str, stopped: PsqlStopped| {
            (
                k,
                StepError::Database(Error::Database {
                    target: target.clone(),
                    context: format!("{context} ({})", batch[k].file_name),
                    error: Box::new(stopped.error),
                }),
            )
        };
        Err(match steps.get(ran).map(|(_, s)| s) {
            Some(BatchStep::Guard(k)) if stopped.error.message.contains(STOPPED) => (
                *k,
                StepError::Stopped(stop.reason().unwrap_or(StopReason::Interrupted)),
            ),
            Some(BatchStep::Guard(k)) => {
                database(*k, "cannot begin the migration's transaction", stopped)
            }
            Some(BatchStep::Sql(k, section, offset, body)) => {
                let mut error = stopped.error;
                error.position = stopped.at.map(|at| position_in(body, at));
                (
                    *k,
                    StepError::Failed(Box::new(failure(
                        batch[*k],
                        Direction::Up,
                        section,
                        *offset,
                        body,
                        error,
                        true,
                        Vec::new(),
                    ))),
                )
            }
            Some(BatchStep::Commit(k)) => database(
                *k,
                "cannot record the migration (if the connection dropped during COMMIT, whether it committed is unknown: check with `pgfleet status`)",
                stopped,
            ),
            None => database(batch.len() - 1, "psql stopped after the batch", stopped),
        })
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn dbname(&self) -> &str {
        &self.dbname
    }

    async fn applied(&mut self) -> Result<Vec<AppliedRow>, Error> {
        let exists = |t: &str| format!("select to_regclass({}) is not null", sql::literal(t));
        let (migrations, pgfleet) = (self.tables.migrations.clone(), self.tables.pgfleet.clone());
        if !self
            .flag(&exists(&migrations), "cannot read the migrations table")
            .await?
        {
            return Ok(Vec::new());
        }
        let ours = self
            .flag(&exists(&pgfleet), "cannot read the migrations table")
            .await?;
        let rows = self
            .query(
                &sql::applied(&self.tables, ours),
                "cannot read the migrations table",
            )
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

    async fn ensure_tables(&mut self) -> Result<(), Error> {
        let schema = sql::literal(&self.tables.schema);
        let exists = self
            .flag(
                &format!("select exists (select 1 from pg_namespace where nspname = {schema})"),
                "cannot read the schemas",
            )
            .await?;
        let create = sql::create_tables(&self.tables, !exists);
        self.query(&create, "cannot create the migrations tables")
            .await
            .map(|_| ())
    }

    async fn try_lock(&mut self) -> Result<bool, Error> {
        let try_lock = format!("select pg_try_advisory_lock({DBMATE_LOCK_KEY})");
        self.flag(&try_lock, "cannot take the migration lock").await
    }

    async fn lock_holder(&mut self) -> Result<Option<LockHolder>, Error> {
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

    async fn unlock(&mut self) -> Result<(), Error> {
        self.query(
            &format!("select pg_advisory_unlock({DBMATE_LOCK_KEY})"),
            "cannot release the migration lock",
        )
        .await
        .map(|_| ())
    }

    async fn apply_outside_transaction(
        &mut self,
        migration: &Migration,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        self.run(migration, Direction::Up, settings, false).await
    }

    async fn revert(
        &mut self,
        migration: &Migration,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        let transactional = migration.down_transactional();
        self.run(migration, Direction::Down, settings, transactional)
            .await
    }

    async fn rehearse(
        &mut self,
        migrations: &[&Migration],
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        self.run_script(migrations, Direction::Up, settings, true, false)
            .await
    }

    async fn record_checksums(&mut self, rows: &[(String, String)]) -> Result<(), Error> {
        self.ensure_tables().await?;
        let statements: Vec<String> = rows
            .iter()
            .map(|(version, checksum)| sql::record_checksum(&self.tables, version, checksum))
            .collect();
        self.query(&statements.join(";\n"), "cannot record checksums")
            .await
            .map(|_| ())
    }

    /// pg_dump in the same container, over its local socket.
    async fn pg_dump(&mut self, args: &[&str]) -> Result<String, Error> {
        pg_dump_in(
            &self.docker,
            &self.container,
            &self.user,
            &self.dbname,
            args,
            &self.target,
        )
        .await
    }

    async fn query_text(&mut self, sql: &str, context: &str) -> Result<super::Rows, Error> {
        self.query(sql, context).await
    }

    async fn sibling(&mut self, dbname: &str) -> Result<Box<dyn Database>, Error> {
        Ok(Box::new(
            PsqlDatabase::connect(
                self.docker.clone(),
                &self.container,
                &self.user,
                dbname,
                format!("{} [{dbname}]", self.target),
                None,
                Missing::Fail,
                &mut |_| {},
            )
            .await?,
        ))
    }
}
