//! Sessions over PostgreSQL's native protocol (tokio-postgres). Any transport that yields
//! a `tokio_postgres::Client` — a URL, an SSH tunnel — is an `Endpoint`, and uses this.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio_postgres::{Client, SimpleQueryMessage, SimpleQueryRow};

use super::session::{Failed, Mode, Opener, Session};
use super::{ResultSet, Rows};
use crate::error::{Error, SqlError};
use crate::transport::Endpoint;

/// Opens sessions through `endpoint`.
pub(super) fn opener(endpoint: Box<dyn Endpoint>) -> Arc<dyn Opener> {
    Arc::new(NativeOpener { endpoint })
}

struct NativeOpener {
    endpoint: Box<dyn Endpoint>,
}

struct NativeSession {
    client: Client,
}

#[async_trait]
impl Opener for NativeOpener {
    fn target(&self) -> String {
        self.endpoint.target()
    }

    fn dbname(&self) -> &str {
        self.endpoint.dbname()
    }

    fn search_path(&self) -> &[String] {
        self.endpoint.search_path()
    }

    async fn open(&self, dbname: &str) -> Result<Box<dyn Session>, Error> {
        match self.endpoint.connect(dbname).await {
            Ok(client) => Ok(Box::new(NativeSession { client })),
            Err(error) => Err(Error::Connect {
                target: self.endpoint.target(),
                error: Box::new(error),
            }),
        }
    }

    async fn pg_dump(&self, args: &[&str]) -> Result<String, Error> {
        self.endpoint.pg_dump(args).await
    }

    fn sibling(&self, dbname: &str) -> Arc<dyn Opener> {
        opener(self.endpoint.with_dbname(dbname))
    }
}

#[async_trait]
impl Session for NativeSession {
    /// Pipelined, every step is sent at once, so a script costs one round trip plus the
    /// server's time however far away the host is; answers come back in order, and the
    /// first error is the one that counts (the steps after it fail or are refused because
    /// of it).
    async fn run(
        &mut self,
        steps: &[String],
        mode: Mode,
        watch: &[usize],
        done: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), Failed> {
        let failed = |step: usize| {
            move |e: tokio_postgres::Error| Failed {
                step,
                error: e.into(),
            }
        };
        let mut watched = watch.iter().peekable();
        let mut tell = |i: usize| {
            if watched.next_if_eq(&&i).is_some() {
                done(i);
            }
        };
        match mode {
            Mode::OneByOne => {
                for (i, step) in steps.iter().enumerate() {
                    self.client.batch_execute(step).await.map_err(failed(i))?;
                    tell(i);
                }
            }
            Mode::Pipelined => {
                let client = &self.client;
                // Polled together, so all are sent at once.
                let mut answers: FuturesOrdered<_> =
                    steps.iter().map(|s| client.batch_execute(s)).collect();
                let mut i = 0;
                while let Some(answer) = answers.next().await {
                    answer.map_err(failed(i))?;
                    tell(i);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    async fn rows(&mut self, sql: &str) -> Result<Rows, SqlError> {
        let messages = self.client.simple_query(sql).await?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(text(row)),
                _ => None,
            })
            .collect())
    }

    /// The simple protocol, as `rows`: every value comes back as text, whatever its type.
    async fn result_set(&mut self, sql: &str) -> Result<ResultSet, SqlError> {
        let mut set = ResultSet::default();
        for message in self.client.simple_query(sql).await? {
            match message {
                SimpleQueryMessage::RowDescription(columns) => {
                    set.columns = columns.iter().map(|c| c.name().to_string()).collect()
                }
                SimpleQueryMessage::Row(row) => set.rows.push(text(&row)),
                _ => {}
            }
        }
        Ok(set)
    }
}

fn text(row: &SimpleQueryRow) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| row.get(i).map(str::to_string))
        .collect()
}
