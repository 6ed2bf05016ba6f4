//! `query`'s SQL: the argument, or stdin; checked (`tracking::Query::parse`) before any
//! target is contacted, so SQL that cannot run is refused once rather than per target.

use std::io::{IsTerminal, Read};

use crate::error::Error;
use crate::migration::Timeout;
use crate::tracking::Query;

/// `query`'s flags, as given.
#[derive(Debug, Clone)]
pub struct QueryArgs {
    /// The SQL; `-` or none: read it from stdin.
    pub sql: Option<String>,
    pub statement_timeout: Timeout,
    pub lock_timeout: Timeout,
}

/// SQL given as an argument, or (when it is `-` or missing) read from stdin: None when
/// there is none (stdin a terminal, which would wait for typing no prompt asked for, or
/// nothing piped in with no argument). Shared by `query` and `change`.
pub(super) fn sql_argument(given: Option<&str>) -> Option<Result<String, Error>> {
    if let Some(sql) = given.filter(|s| *s != "-") {
        return Some(Ok(sql.to_string()));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return None;
    }
    let mut text = String::new();
    if let Err(e) = stdin.lock().read_to_string(&mut text) {
        return Some(Err(Error::Usage(format!(
            "cannot read the SQL from stdin: {e}"
        ))));
    }
    if given.is_none() && text.trim().is_empty() {
        return None;
    }
    Some(Ok(text))
}

/// The SQL to run, read and checked.
pub(super) fn read(args: &QueryArgs) -> Result<Query, Error> {
    let none = || {
        Error::Usage(
            "no SQL: give it as the argument (pgfleet query \"select …\") or on stdin (pgfleet query < file.sql)".into(),
        )
    };
    // The SQL argument takes values starting with `-` (SQL may open with a `--` comment), so
    // a mistyped flag lands there. One word starting with `-` is never a statement: say it is
    // a flag. Only its name is shown; a value after `=` may be a secret.
    if let Some(word) = args
        .sql
        .as_deref()
        .filter(|s| s.len() > 1 && s.starts_with('-') && !s.contains(char::is_whitespace))
    {
        let name = word.split('=').next().unwrap_or(word);
        return Err(Error::Usage(format!(
            "unexpected argument '{name}': query has no such flag (`pgfleet query --help` lists them); SQL that opens with a comment has its statement on the lines after it"
        )));
    }
    let text = sql_argument(args.sql.as_deref()).ok_or_else(none)??;
    Query::parse(&text, args.statement_timeout, args.lock_timeout).map_err(Error::Usage)
}
