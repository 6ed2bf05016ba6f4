//! `pgfleet query`: ad-hoc SQL in a read-only transaction that is always rolled back. The
//! SQL is checked once, before any target is contacted (`Query::parse`); whether it writes
//! is left to the server, which refuses a write in a read-only transaction (25006).

use pg_query::NodeEnum;

use super::ResultSet;
use super::protocol::Database;
use super::session::{Failed, Mode};
use crate::error::Error;
use crate::migration::{Statement, Timeout};

/// The SQL of one `query` run, and the timeouts of its transaction.
#[derive(Debug, Clone)]
pub struct Query {
    /// The SQL as given, for the audit log.
    pub text: String,
    /// Each statement as written, without its `;`. Never empty.
    statements: Vec<String>,
    pub statement_timeout: Timeout,
    pub lock_timeout: Timeout,
}

impl Query {
    /// Splits `sql` into statements with PostgreSQL's grammar. Refuses SQL that does not
    /// parse (it would fail the same way on every target, and psql in a container would
    /// also run backslash commands, which no SQL parser accepts), SQL with no statement,
    /// and transaction control, which would end the read-only transaction: after a
    /// `COMMIT;` the statements that follow would run in transactions of their own, free
    /// to write.
    pub fn parse(
        sql: &str,
        statement_timeout: Timeout,
        lock_timeout: Timeout,
    ) -> Result<Query, String> {
        let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| {
            let why = match e {
                pg_query::Error::Parse(why) => why,
                other => other.to_string(),
            };
            format!("the SQL does not parse: {why} (it is read with PostgreSQL's grammar before any target is contacted)")
        })?;
        let mut statements = Vec::new();
        for raw in &parsed.protobuf.stmts {
            // Byte offsets into `sql`; a length of 0 means "to the end".
            let start = usize::try_from(raw.stmt_location).unwrap_or(0);
            let end = match usize::try_from(raw.stmt_len) {
                Ok(0) | Err(_) => sql.len(),
                Ok(len) => start + len,
            };
            let text = sql.get(start..end).unwrap_or(sql).trim();
            if let Some(NodeEnum::TransactionStmt(_)) =
                raw.stmt.as_ref().and_then(|n| n.node.as_ref())
            {
                let summary = Statement {
                    sql: text,
                    offset: 0,
                }
                .summary();
                return Err(format!(
                    "`{summary}` is transaction control: query runs the SQL in a read-only transaction of its own and rolls it back, which BEGIN, COMMIT, ROLLBACK, SAVEPOINT or PREPARE TRANSACTION would end or change; leave it out"
                ));
            }
            statements.push(text.to_string());
        }
        if statements.is_empty() {
            return Err(
                "no SQL to run: the text holds no statement, only comments or white space".into(),
            );
        }
        Ok(Query {
            text: sql.to_string(),
            statements,
            statement_timeout,
            lock_timeout,
        })
    }
}

impl Database {
    /// Runs `query` in a read-only transaction with its timeouts, and rolls it back; the
    /// result is the last statement's (as `psql -c` shows it). A statement that fails, a
    /// write among them, is the server's error, naming the statement when there are several.
    pub async fn read_only(&mut self, query: &Query) -> Result<ResultSet, Error> {
        let Some((last, before)) = query.statements.split_last() else {
            return Ok(ResultSet::default());
        };
        let opening = [
            "begin read only".to_string(),
            format!(
                "set local statement_timeout = '{}'",
                query.statement_timeout.as_setting()
            ),
            format!(
                "set local lock_timeout = '{}'",
                query.lock_timeout.as_setting()
            ),
            // The transaction's first snapshot: after it, PostgreSQL refuses `SET TRANSACTION
            // READ WRITE` ("must be set before any query"), which would lift READ ONLY.
            "select 1".to_string(),
        ];
        let mut steps = opening.to_vec();
        steps.extend(before.iter().cloned());
        let count = query.statements.len();
        let context = |i: usize| match count {
            1 => "the query failed".to_string(),
            n => format!(
                "statement {} of {n} (`{}`) failed",
                i + 1,
                Statement {
                    sql: &query.statements[i],
                    offset: 0
                }
                .summary()
            ),
        };
        // One message, inside the transaction: a failed step skips the rest, and its error
        // is the one returned.
        if let Err(Failed { step, error }) = self
            .session()
            .run(&steps, Mode::Pipelined { ends: &[] }, &[], &mut |_| {})
            .await
        {
            let what = match step.checked_sub(opening.len()) {
                Some(i) if i < before.len() => context(i),
                _ => "cannot begin the read-only transaction".to_string(),
            };
            return Err(self.error(&what, error));
        }
        let set = match self.session().result_set(last).await {
            Ok(set) => set,
            Err(e) => return Err(self.error(&context(count - 1), e)),
        };
        if let Err(Failed { error, .. }) = self
            .session()
            .run(&["rollback".into()], Mode::OneByOne, &[], &mut |_| {})
            .await
        {
            return Err(self.error("cannot roll back the read-only transaction", error));
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Result<Vec<String>, String> {
        let t = Timeout { millis: 1000 };
        Query::parse(sql, t, t).map(|q| q.statements)
    }

    #[test]
    fn splits_statements_with_the_grammar() {
        assert_eq!(
            parse("select ';' as a; -- a comment\nselect $$x;y$$").unwrap(),
            ["select ';' as a", "select $$x;y$$"]
        );
        assert_eq!(parse("select 1;;").unwrap(), ["select 1"]);
    }

    #[test]
    fn refuses_transaction_control_and_what_does_not_parse() {
        for sql in [
            "commit; insert into t values (1)",
            "select 1; END",
            "savepoint a",
            "BEGIN",
            "prepare transaction 'x'",
        ] {
            let e = parse(sql).unwrap_err();
            assert!(e.contains("is transaction control"), "{sql}: {e}");
        }
        assert!(
            parse("select 1; commit")
                .unwrap_err()
                .starts_with("`commit`")
        );
        let e = parse("\\! rm -rf /").unwrap_err();
        assert!(e.starts_with("the SQL does not parse: "), "{e}");
        assert!(
            parse("  -- nothing\n ; ")
                .unwrap_err()
                .starts_with("no SQL")
        );
    }
}
