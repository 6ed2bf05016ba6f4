//! Sessions over PostgreSQL's native protocol (tokio-postgres). Any transport that yields
//! a `tokio_postgres::Client` — a URL, an SSH tunnel — is an `Endpoint`, and uses this.

use std::ops::Range;
use std::pin::pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
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
    /// Pipelined, every group is sent at once as one message, so a script costs one round
    /// trip plus the server's time however far away the host is, and each group's answers
    /// one burst (PostgreSQL flushes at the end of a message: one SSH packet to decrypt,
    /// one wake-up). Answers come back in order, and the first error is the one that
    /// counts (the steps after it are skipped, or fail or are refused because of it).
    async fn run(
        &mut self,
        steps: &[String],
        mode: Mode<'_>,
        watch: &[usize],
        done: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), Failed> {
        let mut watched = watch.iter().peekable();
        let mut tell = |i: usize| {
            if watched.next_if_eq(&&i).is_some() {
                done(i);
            }
        };
        match mode {
            Mode::OneByOne => {
                for (i, step) in steps.iter().enumerate() {
                    self.client.batch_execute(step).await.map_err(|e| Failed {
                        step: i,
                        error: e.into(),
                    })?;
                    tell(i);
                }
                Ok(())
            }
            Mode::Pipelined { ends } => {
                let groups = groups(steps.len(), ends);
                let ran = pipelined(&self.client, steps, &groups, &mut tell).await;
                if ran.is_err() {
                    // The failed group's COMMIT was skipped with the rest of it: end the
                    // transaction it left aborted (a warning, harmless, when none is open).
                    let _ = self.client.batch_execute("rollback").await;
                }
                ran
            }
        }
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

/// Between the steps of a group's message: on a line of its own, as a step may end in a
/// `--` comment that would swallow a `;` written after it.
const SEPARATOR: &str = "\n;\n";

/// The steps `ends` groups together (`Mode::Pipelined`), as ranges of step indices.
fn groups(len: usize, ends: &[usize]) -> Vec<Range<usize>> {
    let mut groups = Vec::with_capacity(ends.len() + 1);
    let mut start = 0;
    for &end in ends.iter().chain([&len.saturating_sub(1)]) {
        if end >= start && end < len {
            groups.push(start..end + 1);
            start = end + 1;
        }
    }
    groups
}

/// Sends each group as one message, all of them before reading any answer, then reads the
/// answers in order: one CommandComplete per step (a step is one statement with code in
/// it; the protocol's steps always are), so the count tells which step failed.
async fn pipelined(
    client: &Client,
    steps: &[String],
    groups: &[Range<usize>],
    tell: &mut (dyn FnMut(usize) + Send),
) -> Result<(), Failed> {
    let failed = |step: usize| {
        move |e: tokio_postgres::Error| Failed {
            step,
            error: e.into(),
        }
    };
    let mut answers = Vec::with_capacity(groups.len());
    for group in groups {
        // Queues the message and returns without waiting for its answer.
        let answer = client
            .simple_query_raw(&steps[group.clone()].join(SEPARATOR))
            .await
            .map_err(failed(group.start))?;
        answers.push(answer);
    }
    for (group, answer) in groups.iter().zip(answers) {
        let mut answer = pin!(answer);
        let mut step = group.start;
        while let Some(message) = answer.next().await {
            match message {
                Ok(SimpleQueryMessage::CommandComplete(_)) => {
                    tell(step);
                    step += 1;
                }
                Ok(_) => {}
                // No answer from the server (the connection went): how far it got in the
                // message is unknown, so the step to blame is its last, whose outcome (the
                // COMMIT's) is what is unknown.
                Err(e) if e.as_db_error().is_none() => return Err(failed(group.end - 1)(e)),
                Err(e) => {
                    let mut failed = failed(step)(e);
                    // A statement's position counts from the start of the message.
                    if let Some(at) = failed.error.position {
                        let (i, position) = locate(&steps[group.clone()], at);
                        failed.step = group.start + i;
                        failed.error.position = Some(position);
                    }
                    return Err(failed);
                }
            }
        }
    }
    Ok(())
}

/// The step of a group (its index there) that PostgreSQL's error position `at` in the
/// group's message points into, and the position counted from that step's text. Positions
/// are 1-based and count characters; one in the separator after a step is its end.
fn locate(group: &[String], at: usize) -> (usize, usize) {
    let separator = SEPARATOR.chars().count();
    let mut start = 0;
    for (i, step) in group.iter().enumerate() {
        let chars = step.chars().count();
        if at <= start + chars + separator || i + 1 == group.len() {
            return (i, at.saturating_sub(start).clamp(1, chars + 1));
        }
        start += chars + separator;
    }
    (0, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_cut_the_steps_into_groups() {
        assert_eq!(groups(5, &[1, 3]), [0..2, 2..4, 4..5]);
        assert_eq!(groups(4, &[1, 3]), [0..2, 2..4]);
        assert_eq!(groups(3, &[]), vec![Range { start: 0, end: 3 }]);
        assert_eq!(groups(2, &[0]), [0..1, 1..2]);
        assert!(groups(0, &[]).is_empty());
    }

    #[test]
    fn a_position_in_a_groups_message_is_located_in_its_step() {
        // Characters, not bytes: "é" is two bytes and one character.
        let group = [
            "begin".to_string(),
            "select 'é', nope".into(),
            "commit".into(),
        ];
        let message = group.join(SEPARATOR);
        let at = message[..message.find("nope").unwrap()].chars().count() + 1;
        assert_eq!(locate(&group, at), (1, 13));
        assert_eq!(locate(&group, 1), (0, 1));
        // The separator's `;` right after a step that ended too early: its end.
        let after = group[0].chars().count() + 2;
        assert_eq!(locate(&group, after), (0, 6));
        let last = message.chars().count();
        assert_eq!(locate(&group, last), (2, 6));
    }
}
