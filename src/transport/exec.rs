//! `psql` inside a container, through the Docker exec API with the SQL on stdin: the way
//! `docker exec -i ctr psql` users work, with the container's local-socket trust and no
//! password. One psql process is one database session, kept for the whole run (so the
//! advisory lock holds); `\echo` markers after each step tell how far a script got.

use bollard::container::LogOutput;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::docker::{DockerApi, DockerError, ExecInput, ExecOutput};
use crate::error::SqlError;

/// Separates fields and marks NULL in psql's unaligned output: characters no SQL text of
/// ours contains.
pub const FIELD_SEPARATOR: char = '\u{1f}';
pub const NULL_MARK: &str = "\u{1e}";

pub struct PsqlSession {
    input: ExecInput,
    output: ExecOutput,
    stdout: String,
    stderr: String,
    markers: u64,
    ended: bool,
    token: String,
}

/// psql stopped before the script's end: the error it printed, and what it printed before.
#[derive(Debug)]
pub struct PsqlStopped {
    pub stdout: String,
    pub error: SqlError,
    /// psql's `LINE k` and caret column, 1-based, in the statement sent.
    pub at: Option<(usize, usize)>,
}

impl PsqlSession {
    /// Starts `psql` on `dbname` as `user` in `container`; it connects over the container's
    /// local socket.
    pub async fn start(
        docker: &DockerApi,
        container: &str,
        user: &str,
        dbname: &str,
    ) -> Result<PsqlSession, DockerError> {
        let command = [
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
            "-P",
            "pager=off",
            "-P",
            &format!("null={NULL_MARK}"),
            "-F",
            &FIELD_SEPARATOR.to_string(),
            "-U",
            user,
            "-d",
            dbname,
        ]
        .map(str::to_string)
        .to_vec();
        let (input, output) = docker
            .exec_attached(container, command, &[("PGAPPNAME", "pgfleet")])
            .await?;
        // Markers carry a per-session token so no output of a migration can fake one.
        let token = format!("{:016x}", rand_token());
        Ok(PsqlSession {
            input,
            output,
            stdout: String::new(),
            stderr: String::new(),
            markers: 0,
            ended: false,
            token,
        })
    }

    /// A fresh marker: the `\echo` line to put in a script, and the text it prints.
    pub fn marker(&mut self) -> (String, String) {
        self.markers += 1;
        let text = format!("__pgfleet_{}_{}__", self.token, self.markers);
        (format!("\\echo {text}\n"), text)
    }

    /// Sends `script` and reads until it has run: returns everything psql printed on
    /// stdout, or how it stopped. After a stop the session is gone.
    pub async fn run(&mut self, script: &str) -> Result<String, PsqlStopped> {
        self.run_watching(script, &[], &mut |_| {}).await
    }

    /// `run`, calling `seen(i)` as soon as the marker `watch[i]` has been printed (in
    /// order): progress through a long script.
    pub async fn run_watching(
        &mut self,
        script: &str,
        watch: &[String],
        seen: &mut (dyn FnMut(usize) + Send),
    ) -> Result<String, PsqlStopped> {
        let (end_line, end) = self.marker();
        if self.ended {
            return Err(self.stopped(String::new()));
        }
        let mut whole = String::with_capacity(script.len() + end_line.len());
        whole.push_str(script);
        if !whole.ends_with('\n') {
            whole.push('\n');
        }
        whole.push_str(&end_line);
        let wanted = format!("{end}\n");
        // Write and read at once: psql answers while it reads, and a large script written
        // before reading would fill the pipes both ways.
        let input = &mut self.input;
        let write = async {
            let result = input.write_all(whole.as_bytes()).await;
            let _ = input.flush().await;
            result
        };
        let (stdout, stderr, output, ended) = (
            &mut self.stdout,
            &mut self.stderr,
            &mut self.output,
            &mut self.ended,
        );
        let read = async {
            let mut next = 0;
            while !stdout.contains(&wanted) {
                match output.next().await {
                    Some(Ok(LogOutput::StdOut { message })) => {
                        stdout.push_str(&String::from_utf8_lossy(&message));
                        while next < watch.len() && stdout.contains(watch[next].as_str()) {
                            seen(next);
                            next += 1;
                        }
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        *ended = true;
                        return;
                    }
                }
            }
        };
        let (_, ()) = tokio::join!(write, read);
        if self.ended {
            let seen = std::mem::take(&mut self.stdout);
            return Err(self.stopped(seen));
        }
        let at = self.stdout.find(&wanted).unwrap_or(0);
        let out = self.stdout[..at].to_string();
        self.stdout.drain(..at + wanted.len());
        Ok(out)
    }

    fn stopped(&mut self, stdout: String) -> PsqlStopped {
        self.ended = true;
        let (error, at) = parse_error(&self.stderr);
        PsqlStopped { stdout, error, at }
    }

    /// Rows of a query's unaligned output: fields split, NULL as None.
    pub fn rows(output: &str) -> Vec<Vec<Option<String>>> {
        output
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split(FIELD_SEPARATOR)
                    .map(|f| (f != NULL_MARK).then(|| f.to_string()))
                    .collect()
            })
            .collect()
    }
}

/// Runs pg_dump inside the container, over its local socket, so its version is the
/// server's.
pub async fn pg_dump_in(
    docker: &DockerApi,
    container: &str,
    user: &str,
    dbname: &str,
    args: &[&str],
    target: &str,
) -> Result<String, crate::error::Error> {
    let mut command: Vec<String> = vec!["pg_dump".into()];
    command.extend(args.iter().map(|a| a.to_string()));
    command.extend([
        "--username".into(),
        user.into(),
        "--dbname".into(),
        dbname.into(),
    ]);
    let (code, stdout, stderr) = docker.exec_capture(container, command).await?;
    if code != 0 {
        return Err(crate::error::Error::PgDump {
            target: target.to_string(),
            why: format!("in container {container}: {}", stderr.trim()),
        });
    }
    Ok(stdout)
}

pub(crate) fn rand_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Reads psql's verbose error report:
/// `psql:<stdin>:5: ERROR:  42P01: relation "x" does not exist` / `LINE 2: …` / caret /
/// `DETAIL:  …` / `HINT:  …`, with the line and column the caret points at.
pub fn parse_error(stderr: &str) -> (SqlError, Option<(usize, usize)>) {
    let mut at = None;
    let mut error = SqlError {
        code: None,
        message: String::new(),
        detail: None,
        hint: None,
        position: None,
    };
    let lines: Vec<&str> = stderr.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(at) = line.find("ERROR:  ").or_else(|| line.find("FATAL:  ")) {
            if !error.message.is_empty() {
                continue;
            }
            let rest = &line[at + 8..];
            match rest.split_once(": ") {
                Some((code, message))
                    if code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric()) =>
                {
                    error.code = Some(code.to_string());
                    error.message = message.to_string();
                }
                _ => error.message = rest.to_string(),
            }
            if error.code.is_none()
                && rest.contains("does not exist")
                && rest.starts_with("database ")
            {
                error.code = Some("3D000".into());
            }
        } else if let Some(d) = line.strip_prefix("DETAIL:  ") {
            error.detail = Some(d.to_string());
        } else if let Some(h) = line.strip_prefix("HINT:  ") {
            error.hint = Some(h.to_string());
        } else if let Some(rest) = line.strip_prefix("LINE ") {
            // "LINE k: text" and, below it, a caret under the error's place.
            let Some((k, text)) = rest.split_once(": ") else {
                continue;
            };
            let (Ok(k), Some(caret)) = (k.parse::<usize>(), lines.get(i + 1)) else {
                continue;
            };
            if text.starts_with("...") {
                continue; // psql cut the line: the caret no longer counts from its start
            }
            let prefix = "LINE ".len() + rest.len() - text.len();
            if let Some(col) = caret.find('^').and_then(|c| c.checked_sub(prefix)) {
                at = Some((k, col + 1));
            }
        }
    }
    if error.message.is_empty() {
        error.message = match stderr.trim() {
            "" => {
                "psql stopped without a message (the container or the connection went away)".into()
            }
            text => text.lines().last().unwrap_or(text).to_string(),
        };
    }
    (error, at)
}

/// Turns psql's (line, column) into a character offset into `sent`, 1-based like the
/// server's own error positions.
pub fn position_in(sent: &str, (line, col): (usize, usize)) -> usize {
    let before: usize = sent
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count())
        .sum();
    before + col
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_psqls_verbose_errors() {
        let (e, at) = parse_error(
            "psql:<stdin>:7: ERROR:  42P01: relation \"nope\" does not exist\nLINE 2: insert into nope values (1)\n                    ^\nLOCATION:  parserOpenTable, parse_relation.c:1392\n",
        );
        assert_eq!(e.code.as_deref(), Some("42P01"));
        assert_eq!(e.message, "relation \"nope\" does not exist");
        let sent = "select 1,\ninsert into nope values (1)";
        let pos = position_in(sent, at.unwrap());
        assert_eq!(&sent[pos - 1..][..4], "nope");

        let (e, at) = parse_error(
            "psql:<stdin>:3: ERROR:  23505: duplicate key value violates unique constraint \"u_pkey\"\nDETAIL:  Key (id)=(1) already exists.\nSCHEMA NAME:  public\n",
        );
        assert_eq!(e.detail.as_deref(), Some("Key (id)=(1) already exists."));
        assert_eq!(at, None);

        let (e, _) = parse_error(
            "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  database \"x\" does not exist\n",
        );
        assert_eq!(e.code.as_deref(), Some("3D000"));
    }

    #[test]
    fn rows_split_fields_and_nulls() {
        let rows = PsqlSession::rows(&format!(
            "a{FIELD_SEPARATOR}{NULL_MARK}\n\nb{FIELD_SEPARATOR}c\n"
        ));
        assert_eq!(
            rows,
            vec![
                vec![Some("a".to_string()), None],
                vec![Some("b".to_string()), Some("c".to_string())]
            ]
        );
    }
}
