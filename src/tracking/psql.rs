//! Sessions through `psql` inside the container (method `exec`). One psql process is one
//! session, so advisory locks hold as with the native protocol. A script is sent whole
//! and psql stops at the first error (ON_ERROR_STOP), which ends the session and so rolls
//! back an open transaction. An `\echo` marker after each step tells how far it got;
//! psql's `LINE k` and caret give the position of an error.

use std::sync::Arc;

use async_trait::async_trait;

use super::session::{Failed, Mode, Opener, Session};
use super::{ResultSet, Rows};
use crate::error::{Error, SqlError};
use crate::transport::docker::DockerApi;
use crate::transport::exec::{NULL_MARK, PsqlSession, pg_dump_in, position_in};

/// Opens psql sessions as `user` in `container`; `target` is how users know it.
pub(super) fn opener(
    docker: Arc<DockerApi>,
    container: String,
    user: String,
    dbname: String,
    target: String,
) -> Arc<dyn Opener> {
    Arc::new(PsqlOpener {
        docker,
        container,
        user,
        dbname,
        target,
    })
}

#[derive(Clone)]
struct PsqlOpener {
    docker: Arc<DockerApi>,
    container: String,
    user: String,
    dbname: String,
    target: String,
}

#[async_trait]
impl Opener for PsqlOpener {
    fn target(&self) -> String {
        self.target.clone()
    }

    fn dbname(&self) -> &str {
        &self.dbname
    }

    fn search_path(&self) -> &[String] {
        &[]
    }

    /// psql reports a refused connection only when asked something: the probe makes it
    /// surface here.
    async fn open(&self, dbname: &str) -> Result<Box<dyn Session>, Error> {
        let mut session =
            PsqlSession::start(&self.docker, &self.container, &self.user, dbname).await?;
        match session.run("select 1;").await {
            Ok(_) => Ok(Box::new(Psql { session })),
            Err(stopped) => Err(Error::Connect {
                target: self.target.clone(),
                error: Box::new(stopped.error),
            }),
        }
    }

    /// pg_dump in the same container, over its local socket.
    async fn pg_dump(&self, args: &[&str]) -> Result<String, Error> {
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

    fn sibling(&self, dbname: &str) -> Arc<dyn Opener> {
        Arc::new(PsqlOpener {
            dbname: dbname.to_string(),
            target: format!("{} [{dbname}]", self.target),
            ..self.clone()
        })
    }
}

struct Psql {
    session: PsqlSession,
}

#[async_trait]
impl Session for Psql {
    /// Both modes are one script: psql runs its statements one after another and stops at
    /// the first error, which is what `OneByOne` asks, in the one round trip of
    /// `Pipelined`.
    async fn run(
        &mut self,
        steps: &[String],
        _mode: Mode<'_>,
        watch: &[usize],
        done: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), Failed> {
        let mut script = String::new();
        let mut markers = Vec::with_capacity(steps.len());
        for step in steps {
            script.push_str(step);
            // On a line of its own: a step may end in a `--` comment, which would swallow
            // a `;` written after it and run the next step's text with this one.
            script.push_str("\n;\n");
            let (echo, marker) = self.session.marker();
            script.push_str(&echo);
            markers.push(marker);
        }
        let watched: Vec<String> = watch.iter().map(|&i| markers[i].clone()).collect();
        let stopped = match self
            .session
            .run_watching(&script, &watched, &mut |w| done(watch[w]))
            .await
        {
            Ok(_) => return Ok(()),
            Err(stopped) => stopped,
        };
        let step = markers
            .iter()
            .take_while(|m| stopped.stdout.contains(m.as_str()))
            .count();
        let mut error = stopped.error;
        if let Some(sent) = steps.get(step) {
            error.position = stopped.at.map(|at| position_in(sent, at));
        }
        Err(Failed { step, error })
    }

    async fn rows(&mut self, sql: &str) -> Result<Rows, SqlError> {
        match self.session.run(&format!("{sql};")).await {
            Ok(out) => Ok(PsqlSession::rows(&out)),
            Err(stopped) => Err(stopped.error),
        }
    }

    /// psql prints this one statement's result as CSV with a header (the session otherwise
    /// prints bare unaligned rows): the column names, and quoting that carries a value with
    /// a newline or a separator in it, which the unaligned form cannot.
    async fn result_set(&mut self, sql: &str) -> Result<ResultSet, SqlError> {
        // On a line of its own after the statement, as in `run`: it may end in a comment.
        let script = format!(
            "\\pset format csv\n\\pset tuples_only off\n{sql}\n;\n\\pset format unaligned\n\\pset tuples_only on\n"
        );
        match self.session.run(&script).await {
            Ok(out) => from_csv(&out),
            Err(stopped) => Err(stopped.error),
        }
    }
}

/// psql's CSV output: the header, then the rows, NULL printed as `NULL_MARK`. Nothing at all
/// when the statement returns no rows (a SET, say).
fn from_csv(out: &str) -> Result<ResultSet, SqlError> {
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(out.as_bytes())
        .into_records();
    let mut next = || {
        records.next().transpose().map_err(|e| SqlError {
            code: None,
            message: format!("cannot read psql's CSV output: {e}"),
            detail: None,
            hint: None,
            position: None,
        })
    };
    let Some(header) = next()? else {
        return Ok(ResultSet::default());
    };
    let mut set = ResultSet {
        columns: header.iter().map(str::to_string).collect(),
        rows: Vec::new(),
    };
    while let Some(record) = next()? {
        set.rows.push(
            record
                .iter()
                .map(|f| (f != NULL_MARK).then(|| f.to_string()))
                .collect(),
        );
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_psqls_csv_with_quotes_newlines_and_nulls() {
        let out = format!("a,\"b,c\"\n1,{NULL_MARK}\n\"x \"\"y\"\"\nz\",\n");
        let set = from_csv(&out).unwrap();
        assert_eq!(set.columns, ["a", "b,c"]);
        assert_eq!(
            set.rows,
            vec![
                vec![Some("1".to_string()), None],
                vec![Some("x \"y\"\nz".to_string()), Some(String::new())],
            ]
        );
        assert_eq!(from_csv("").unwrap(), ResultSet::default());
    }
}
