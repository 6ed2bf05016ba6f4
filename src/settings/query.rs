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

/// The SQL to run, read and checked.
pub(super) fn read(args: &QueryArgs) -> Result<Query, Error> {
    let none = || {
        Error::Usage(
            "no SQL: give it as the argument (pgfleet query \"select …\") or on stdin (pgfleet query < file.sql)".into(),
        )
    };
    let text = match args.sql.as_deref() {
        Some(sql) if sql != "-" => sql.to_string(),
        _ => {
            let stdin = std::io::stdin();
            // A terminal would wait for typing that no prompt asked for.
            if stdin.is_terminal() {
                return Err(none());
            }
            let mut text = String::new();
            stdin
                .lock()
                .read_to_string(&mut text)
                .map_err(|e| Error::Usage(format!("cannot read the SQL from stdin: {e}")))?;
            // No argument and nothing piped in (a script's stdin, /dev/null).
            if args.sql.is_none() && text.trim().is_empty() {
                return Err(none());
            }
            text
        }
    };
    Query::parse(&text, args.statement_timeout, args.lock_timeout).map_err(Error::Usage)
}
