//! `Database` over PostgreSQL's native protocol (tokio-postgres). Any transport that yields
//! a `tokio_postgres::Client` — a URL today, an SSH tunnel tomorrow — uses this.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesOrdered;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::sql::{STOP_KEY, STOPPED, guard};
use super::{
    ApplySettings, Applying, Database, LockHolder, StepError, Tables, failure, sections, sql,
    timeouts,
};
use crate::error::{Error, SqlError};
use crate::migration::{Direction, Migration, Section, split_statements};
use crate::plan::AppliedRow;
use crate::stop::{Stop, StopReason};
use crate::transport::Endpoint;

/// The advisory lock key `dbmate --migration-lock` takes (seen with dbmate 2.37: the same
/// for every database and table). Taking the same one makes pgfleet and dbmate runs wait
/// for each other, not only pgfleet runs.
pub const DBMATE_LOCK_KEY: i64 = 48_372_615;

pub struct NativeDatabase {
    client: Client,
    target: String,
    tables: Tables,
    /// How to reach the database again (pg_dump, creating it, asking a pipeline to stop).
    endpoint: Box<dyn Endpoint>,
    /// This session's backend pid, once asked for.
    pid: Option<i32>,
}

/// What to do when the database named by the URL does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it (`up`, as dbmate does).
    Create,
    /// Report it as an error.
    Fail,
}

impl NativeDatabase {
    /// Connects, creating the database first when asked to, and resolves where the
    /// tracking tables live (`table_override` is `--migrations-table`).
    pub async fn connect(
        endpoint: Box<dyn Endpoint>,
        table_override: Option<&str>,
        missing: Missing,
        on_create: &mut (dyn FnMut(&str) + Send),
    ) -> Result<NativeDatabase, Error> {
        let target = endpoint.target();
        let connect_error = |error: SqlError| Error::Connect {
            target: target.clone(),
            error: Box::new(explain_connect(error)),
        };
        let dbname = endpoint.dbname().to_string();
        let client = match endpoint.connect(&dbname).await {
            Ok(c) => c,
            Err(e) if e.is_code("3D000") && missing == Missing::Create => {
                on_create(&dbname);
                create_database(endpoint.as_ref())
                    .await
                    .map_err(connect_error)?;
                endpoint.connect(&dbname).await.map_err(connect_error)?
            }
            Err(e) => return Err(connect_error(e)),
        };
        let tables = resolve_tables(&client, endpoint.search_path(), table_override)
            .await
            .map_err(|error| Error::Database {
                target: target.clone(),
                context: "cannot resolve the migrations table".into(),
                error: Box::new(error),
            })?;
        Ok(NativeDatabase {
            client,
            target,
            tables,
            endpoint,
            pid: None,
        })
    }

    fn db_error(&self, context: &str) -> impl Fn(tokio_postgres::Error) -> Error + use<> {
        db_error(&self.target, context)
    }

    /// Whether dbmate's table and ours exist, in one round trip.
    async fn tables_exist(&self) -> Result<(bool, bool), Error> {
        let row = self
            .client
            .query_typed_one(
                "select to_regclass($1) is not null, to_regclass($2) is not null",
                &[
                    (&self.tables.migrations, Type::TEXT),
                    (&self.tables.pgfleet, Type::TEXT),
                ],
            )
            .await
            .map_err(self.db_error("cannot read the migrations table"))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Runs one direction of a migration in a single transaction, in one round trip:
    /// BEGIN, the timeouts, the statements, the tracking rows and COMMIT are pipelined.
    /// After an error the server skips the rest (25P02) and turns COMMIT into ROLLBACK, so
    /// the first error names the statement that failed and nothing of the file is kept.
    async fn run_transactional(
        &mut self,
        migration: &Migration,
        direction: Direction,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        self.pipeline(&[migration], direction, settings, true).await
    }

    /// The pipeline behind `run_transactional` and `rehearse`: the migrations one after
    /// another in one transaction, ending in COMMIT with their tracking rows (`keep`) or in
    /// ROLLBACK without.
    async fn pipeline(
        &mut self,
        migrations: &[&Migration],
        direction: Direction,
        settings: &ApplySettings,
        keep: bool,
    ) -> Result<Duration, StepError> {
        let mut requests: Vec<(String, Step<'_>)> = vec![(
            "begin".into(),
            Step::Bookkeeping("cannot begin the migration's transaction"),
        )];
        for &migration in migrations {
            for section in sections(migration, direction) {
                for set in timeouts(section, settings, "set local") {
                    requests.push((
                        set,
                        Step::Bookkeeping("cannot set the migration's timeouts"),
                    ));
                }
                for stmt in split_statements(&section.sql) {
                    requests.push((
                        stmt.sql.to_string(),
                        Step::Sql((migration, section, stmt.offset, stmt.sql)),
                    ));
                }
            }
            if keep {
                // The duration is measured by the server, inside the transaction.
                for row in sql::record(
                    &self.tables,
                    migration,
                    direction,
                    None,
                    &settings.applied_by,
                ) {
                    requests.push((row, Step::Bookkeeping("cannot record the migration")));
                }
            }
        }
        requests.push(if keep {
            (
                "commit".into(),
                Step::Bookkeeping(
                    "cannot commit the migration (if the connection dropped, whether it committed is unknown: check with `pgfleet status`)",
                ),
            )
        } else {
            (
                "rollback".into(),
                Step::Bookkeeping("cannot roll back the rehearsal"),
            )
        });
        let started = Instant::now();
        let client = &self.client;
        let results = join_all(requests.iter().map(|(sql, _)| client.batch_execute(sql))).await;
        let elapsed = started.elapsed();
        for ((_, step), result) in requests.iter().zip(results) {
            if let Err(e) = result {
                let error = SqlError::from(e);
                return Err(match step {
                    Step::Sql((migration, section, offset, sql)) => {
                        StepError::Failed(Box::new(failure(
                            migration,
                            direction,
                            section,
                            *offset,
                            sql,
                            error,
                            true,
                            Vec::new(),
                        )))
                    }
                    Step::Bookkeeping(context) => StepError::Database(Error::Database {
                        target: self.target.clone(),
                        context: format!(
                            "{context} ({})",
                            migrations
                                .iter()
                                .map(|m| m.file_name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        error: Box::new(error),
                    }),
                });
            }
        }
        Ok(elapsed)
    }

    async fn backend_pid(&mut self) -> Result<i32, Error> {
        if let Some(pid) = self.pid {
            return Ok(pid);
        }
        let pid: i32 = self
            .client
            .query_typed_one("select pg_backend_pid()", &[])
            .await
            .map_err(self.db_error("cannot read the session's pid"))?
            .get(0);
        self.pid = Some(pid);
        Ok(pid)
    }

    /// `transaction:false`: statement by statement, then the bookkeeping in a transaction
    /// of its own, so a failure records nothing.
    async fn run_outside_transaction(
        &mut self,
        migration: &Migration,
        direction: Direction,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        let started = Instant::now();
        let mut ran: Vec<String> = Vec::new();
        let outcome = async {
            for section in sections(migration, direction) {
                for set in timeouts(section, settings, "set") {
                    self.client.batch_execute(&set).await.map_err(db_error(
                        &self.target,
                        &format!("cannot set the timeouts of {}", migration.file_name),
                    ))?;
                }
                for stmt in split_statements(&section.sql) {
                    if let Err(e) = self.client.batch_execute(stmt.sql).await {
                        return Err(StepError::Failed(Box::new(failure(
                            migration,
                            direction,
                            section,
                            stmt.offset,
                            stmt.sql,
                            e.into(),
                            false,
                            std::mem::take(&mut ran),
                        ))));
                    }
                    ran.push(stmt.summary());
                }
            }
            Ok(())
        }
        .await;
        // Session settings must not leak into the next migration of the run.
        let reset = self
            .client
            .batch_execute("set lock_timeout to default; set statement_timeout to default")
            .await;
        outcome?;
        reset.map_err(db_error(
            &self.target,
            "cannot reset the session's timeouts",
        ))?;
        let elapsed = started.elapsed();
        let tx = self.client.transaction().await.map_err(db_error(
            &self.target,
            "cannot begin the bookkeeping transaction",
        ))?;
        tx.batch_execute(
            &sql::record(
                &self.tables,
                migration,
                direction,
                Some(elapsed),
                &settings.applied_by,
            )
            .join(";\n"),
        )
        .await
        .map_err(db_error(&self.target, "cannot record the migration"))?;
        tx.commit()
            .await
            .map_err(db_error(&self.target, "cannot commit the bookkeeping"))?;
        Ok(elapsed)
    }
}

/// Opens a second session and takes the stop lock of the session `pid`. None when that
/// fails: the batch then runs to its end, as a run that was not interrupted would.
async fn take_stop_lock(endpoint: &dyn Endpoint, pid: i32) -> Option<Client> {
    let client = endpoint.connect(endpoint.dbname()).await.ok()?;
    client
        .batch_execute(&format!("select pg_advisory_lock({STOP_KEY}, {pid})"))
        .await
        .ok()?;
    Some(client)
}

/// A request of `apply_batch`'s pipeline, by the index of its migration in the batch.
enum Request<'a> {
    Book(usize, &'static str),
    Guard(usize),
    Sql(usize, &'a Section, usize, &'a str),
    Commit(usize),
}

/// What a pipelined request is: a statement of a migration (its section, its byte offset
/// there, its text), or pgfleet's own bookkeeping (what failed, if it fails).
enum Step<'a> {
    Sql((&'a Migration, &'a Section, usize, &'a str)),
    Bookkeeping(&'static str),
}

fn db_error(target: &str, context: &str) -> impl Fn(tokio_postgres::Error) -> Error + use<> {
    let (target, context) = (target.to_string(), context.to_string());
    move |e| Error::Database {
        target: target.clone(),
        context: context.clone(),
        error: Box::new(e.into()),
    }
}

async fn create_database(endpoint: &dyn Endpoint) -> Result<(), SqlError> {
    let admin = endpoint.connect("postgres").await?;
    let quoted: String = admin
        .query_typed_one(
            "select quote_ident($1)",
            &[(&endpoint.dbname(), Type::TEXT)],
        )
        .await?
        .get(0);
    match admin
        .batch_execute(&format!("create database {quoted}"))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) => match SqlError::from(e) {
            // Another runner created it a moment ago: that is what we wanted.
            e if e.is_code("42P04") => Ok(()),
            e => Err(e),
        },
    }
}

/// Adds what to do next to the connection errors users meet most.
fn explain_connect(mut error: SqlError) -> SqlError {
    let hint = match error.code.as_deref() {
        Some("28P01") => Some("check the password in the URL (or PGPASSWORD)"),
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
    error
}

async fn resolve_tables(
    client: &Client,
    search_path: &[String],
    table_override: Option<&str>,
) -> Result<Tables, SqlError> {
    let (schema, table) = match table_override.and_then(|t| t.split_once('.')) {
        Some((s, t)) => (Some(s.to_string()), t.to_string()),
        None => (
            None,
            table_override.unwrap_or("schema_migrations").to_string(),
        ),
    };
    let schema = match schema.or_else(|| search_path.first().cloned()) {
        Some(s) => s,
        None => client
            .query_typed_one("select coalesce(current_schema(), 'public')", &[])
            .await?
            .get(0),
    };
    let row = client
        .query_typed_one(
            "select quote_ident($1), quote_ident($2), quote_ident($3)",
            &[
                (&schema, Type::TEXT),
                (&table, Type::TEXT),
                (&format!("{table}_pgfleet"), Type::TEXT),
            ],
        )
        .await?;
    let (s, t, p): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    Ok(Tables {
        schema,
        table,
        migrations: format!("{s}.{t}"),
        pgfleet: format!("{s}.{p}"),
    })
}

#[async_trait]
impl Database for NativeDatabase {
    fn target(&self) -> &str {
        &self.target
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn dbname(&self) -> &str {
        self.endpoint.dbname()
    }

    async fn applied(&mut self) -> Result<Vec<AppliedRow>, Error> {
        let (theirs, ours) = self.tables_exist().await?;
        if !theirs {
            return Ok(Vec::new());
        }
        let sql = sql::applied(&self.tables, ours);
        let rows = self
            .client
            .query_typed(&sql, &[])
            .await
            .map_err(self.db_error("cannot read the migrations table"))?;
        Ok(rows
            .iter()
            .map(|r| AppliedRow {
                version: r.get(0),
                checksum: r.get(1),
                applied_at: r.get(2),
                duration_ms: r.get(3),
                applied_by: r.get(4),
                pgfleet_version: r.get(5),
            })
            .collect())
    }

    async fn ensure_tables(&mut self) -> Result<(), Error> {
        let schema_exists: bool = self
            .client
            .query_typed_one(
                "select exists (select 1 from pg_namespace where nspname = $1)",
                &[(&self.tables.schema, Type::TEXT)],
            )
            .await
            .map_err(self.db_error("cannot read the schemas"))?
            .get(0);
        let sql = sql::create_tables(&self.tables, !schema_exists);
        self.client
            .batch_execute(&sql)
            .await
            .map_err(self.db_error("cannot create the migrations tables"))
    }

    async fn try_lock(&mut self) -> Result<bool, Error> {
        Ok(self
            .client
            .query_typed_one(
                "select pg_try_advisory_lock($1)",
                &[(&DBMATE_LOCK_KEY, Type::INT8)],
            )
            .await
            .map_err(self.db_error("cannot take the migration lock"))?
            .get(0))
    }

    async fn lock_holder(&mut self) -> Result<Option<LockHolder>, Error> {
        let row = self
            .client
            .query_typed_opt(&sql::lock_holder(DBMATE_LOCK_KEY), &[])
            .await
            .map_err(self.db_error("cannot read who holds the migration lock"))?;
        Ok(row.map(|r| LockHolder {
            pid: r.get(0),
            application_name: r.get(1),
            user: r.get(2),
            client: r.get(3),
            since: r.get(4),
        }))
    }

    async fn unlock(&mut self) -> Result<(), Error> {
        self.client
            .query_typed_one(
                "select pg_advisory_unlock($1)",
                &[(&DBMATE_LOCK_KEY, Type::INT8)],
            )
            .await
            .map_err(self.db_error("cannot release the migration lock"))?;
        Ok(())
    }

    async fn apply_outside_transaction(
        &mut self,
        migration: &Migration,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        self.run_outside_transaction(migration, Direction::Up, settings)
            .await
    }

    async fn revert(
        &mut self,
        migration: &Migration,
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        if migration.down_transactional() {
            self.run_transactional(migration, Direction::Down, settings)
                .await
        } else {
            self.run_outside_transaction(migration, Direction::Down, settings)
                .await
        }
    }

    /// Applies consecutive transactional migrations as ONE pipeline: every migration's
    /// transaction is sent at once, so the whole batch costs one round trip plus the
    /// server's time, however far away the host is. Each transaction after the first
    /// starts with a guard that raises unless the one before it was recorded, so a failure
    /// keeps every later one from running, as if they had been sent one by one. The guard
    /// also raises while a second session holds the stop lock (STOP_KEY, our pid): on
    /// Ctrl-C that session takes it, and nothing starts after that; the migration running
    /// then finishes.
    async fn apply_batch(
        &mut self,
        batch: &[&Migration],
        settings: &ApplySettings,
        stop: &Stop,
        progress: &mut (dyn FnMut(Applying) + Send),
    ) -> Result<(), (usize, StepError)> {
        let pid = self.backend_pid().await.map_err(|e| (0, e.into()))?;
        let mut requests: Vec<(String, Request<'_>)> = Vec::new();
        for (k, &migration) in batch.iter().enumerate() {
            requests.push((
                "begin".into(),
                Request::Book(k, "cannot begin the migration's transaction"),
            ));
            let previous = k
                .checked_sub(1)
                .map(|p| (self.tables.migrations.as_str(), batch[p].version.as_str()));
            requests.push((guard(pid, previous), Request::Guard(k)));
            for section in &migration.up {
                for set in timeouts(section, settings, "set local") {
                    requests.push((set, Request::Book(k, "cannot set the migration's timeouts")));
                }
                for stmt in split_statements(&section.sql) {
                    requests.push((
                        stmt.sql.to_string(),
                        Request::Sql(k, section, stmt.offset, stmt.sql),
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
                requests.push((row, Request::Book(k, "cannot record the migration")));
            }
            requests.push(("commit".into(), Request::Commit(k)));
        }
        let client = &self.client;
        let endpoint = &self.endpoint;
        // Polled together, so all are sent at once; answers come back in order.
        let mut answers: FuturesOrdered<_> = requests
            .iter()
            .map(|(sql, _)| client.batch_execute(sql))
            .collect();
        progress(Applying::Started(0));
        let mut last = Instant::now();
        let mut asked_to_stop = false;
        // Held until the batch is over: the stop lock lives as long as this session.
        let mut _stopper: Option<Client> = None;
        let mut index = 0;
        loop {
            let answer = tokio::select! {
                biased;
                answer = answers.next() => answer,
                _ = stop.requested(), if !asked_to_stop => {
                    asked_to_stop = true;
                    _stopper = take_stop_lock(endpoint.as_ref(), pid).await;
                    continue;
                }
            };
            let Some(answer) = answer else {
                return Ok(());
            };
            let (_, request) = &requests[index];
            index += 1;
            match (answer, request) {
                (Ok(()), Request::Commit(k)) => {
                    let now = Instant::now();
                    progress(Applying::Applied(*k, now - last));
                    last = now;
                    // Once asked to stop, the next one's guard is about to refuse it.
                    if k + 1 < batch.len() && stop.reason().is_none() {
                        progress(Applying::Started(k + 1));
                    }
                }
                (Ok(()), _) => {}
                // The first error is the one that counts: every later request fails
                // because of it (the guards see to that).
                (Err(e), request) => {
                    let error = SqlError::from(e);
                    return Err(match request {
                        Request::Sql(k, section, offset, sql) => (
                            *k,
                            StepError::Failed(Box::new(failure(
                                batch[*k],
                                Direction::Up,
                                section,
                                *offset,
                                sql,
                                error,
                                true,
                                Vec::new(),
                            ))),
                        ),
                        Request::Guard(k) if error.message.contains(STOPPED) => (
                            *k,
                            StepError::Stopped(stop.reason().unwrap_or(StopReason::Interrupted)),
                        ),
                        Request::Guard(k) | Request::Book(k, _) | Request::Commit(k) => {
                            let context = match request {
                                Request::Book(_, context) => context,
                                Request::Commit(_) => {
                                    "cannot commit the migration (if the connection dropped, whether it and the ones sent with it committed is unknown: check with `pgfleet status`)"
                                }
                                _ => "cannot check that the migration before it committed",
                            };
                            (
                                *k,
                                StepError::Database(Error::Database {
                                    target: self.target.clone(),
                                    context: format!("{context} ({})", batch[*k].file_name),
                                    error: Box::new(error),
                                }),
                            )
                        }
                    });
                }
            }
        }
    }

    async fn rehearse(
        &mut self,
        migrations: &[&Migration],
        settings: &ApplySettings,
    ) -> Result<Duration, StepError> {
        self.pipeline(migrations, Direction::Up, settings, false)
            .await
    }

    async fn record_checksums(&mut self, rows: &[(String, String)]) -> Result<(), Error> {
        self.ensure_tables().await?;
        let statements: Vec<String> = rows
            .iter()
            .map(|(version, checksum)| sql::record_checksum(&self.tables, version, checksum))
            .collect();
        self.client
            .batch_execute(&statements.join(";\n"))
            .await
            .map_err(self.db_error("cannot record checksums"))?;
        Ok(())
    }

    async fn pg_dump(&mut self, args: &[&str]) -> Result<String, Error> {
        self.endpoint.pg_dump(args).await
    }

    async fn query_text(&mut self, sql: &str, context: &str) -> Result<super::Rows, Error> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(self.db_error(context))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    async fn sibling(&mut self, dbname: &str) -> Result<Box<dyn Database>, Error> {
        let endpoint = self.endpoint.with_dbname(dbname);
        Ok(Box::new(
            NativeDatabase::connect(endpoint, None, Missing::Fail, &mut |_| {}).await?,
        ))
    }
}
