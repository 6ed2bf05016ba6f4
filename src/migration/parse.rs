//! dbmate's file grammar: `-- migrate:up` / `-- migrate:down` markers with `key:value`
//! options, several pairs per file allowed; and pgfleet's `-- pgfleet:…` header directives
//! (`directive`). Every failure names the file, and the line and column when it is on one.

use std::path::{Path, PathBuf};

use super::directive::{self, Declared};
use super::{
    Direction, Migration, Section, SectionOptions, Timeout, checksum, normalize, split_statements,
    version_of,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}{}{}: {kind}",
    path.display(),
    if *line > 0 { format!(":{line}") } else { String::new() },
    if *line > 0 && *column > 0 { format!(":{column}") } else { String::new() }
)]
pub struct ParseError {
    pub path: PathBuf,
    /// 1-based line, or 0 when the error concerns the whole file.
    pub line: usize,
    /// 1-based column (in characters) of what is wrong on the line, or 0 when not known.
    pub column: usize,
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(path: &Path, line: usize, kind: ParseErrorKind) -> Self {
        ParseError {
            path: path.to_path_buf(),
            line,
            column: 0,
            kind,
        }
    }

    fn at_column(mut self, column: usize) -> Self {
        self.column = column;
        self
    }
}

/// The 1-based column of what `kind` complains about on `line`: the word it quotes when it
/// quotes one, else the line's first character that is not white space.
fn column_of(line: &str, kind: &ParseErrorKind) -> usize {
    let line = line
        .trim_start_matches('\u{feff}')
        .trim_end_matches(['\r', '\n']);
    let found = |needle: &str| line.find(needle).filter(|_| !needle.is_empty());
    let at = match kind {
        ParseErrorKind::MalformedOption { option } => found(option),
        ParseErrorKind::UnknownOption { key, .. } => found(&format!("{key}:")).or(found(key)),
        ParseErrorKind::BadOptionValue { key, .. } => found(&format!("{key}:")),
        ParseErrorKind::UnknownDirective { name, .. } => found(&format!("pgfleet:{name}")),
        ParseErrorKind::MissingDirective => found("pgfleet:").map(|i| i + "pgfleet:".len()),
        ParseErrorKind::BadSelector { selector, .. } => found(selector),
        ParseErrorKind::BadRequirement { found: word } => found(word),
        ParseErrorKind::ExtraWords { extra, .. } => found(extra),
        ParseErrorKind::BadQuiesceName { name } => found(name),
        _ => None,
    };
    let at = at.unwrap_or_else(|| line.len() - line.trim_start().len());
    line[..at].chars().count() + 1
}

/// Parses one migration file from its raw bytes. Errors on a line say the column too.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Migration, ParseError> {
    parse_lines(path, bytes).map_err(|e| {
        if e.line == 0 || e.column > 0 {
            return e;
        }
        let text = String::from_utf8_lossy(bytes);
        let column = text
            .split('\n')
            .nth(e.line - 1)
            .map_or(0, |line| column_of(line, &e.kind));
        e.at_column(column)
    })
}

/// The column (1-based, in characters) of byte `at` of `bytes`, on its line.
fn byte_column(bytes: &[u8], at: usize) -> usize {
    let start = bytes[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    String::from_utf8_lossy(&bytes[start..at])
        .trim_start_matches('\u{feff}')
        .chars()
        .count()
        + 1
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    #[error("the file is not valid UTF-8 (save it as UTF-8)")]
    NotUtf8,
    #[error(
        "a NUL byte: PostgreSQL cannot take one in SQL text (a file saved as UTF-16, or binary data pasted in?): remove it"
    )]
    NulByte,
    #[error(
        "a '-- migrate:' marker follows a carriage return (CR) with no line feed: the file ends its lines the old Mac way, so neither dbmate nor pgfleet sees the marker start a line; save it with LF (or CRLF) line endings"
    )]
    CrLineEnd,
    #[error("no '-- migrate:up' section: every migration needs one, before '-- migrate:down'")]
    MissingUp,
    #[error("no '-- migrate:down' section: add one (it may be empty) after '-- migrate:up'")]
    MissingDown,
    #[error("'-- migrate:down' comes before the first '-- migrate:up': put the up section first")]
    DownBeforeUp,
    #[error(
        "SQL before the first '-- migrate:up' marker: only blank lines and comments may stand there"
    )]
    SqlBeforeFirstMarker,
    #[error("marker option '{option}' is not of the form key:value")]
    MalformedOption { option: String },
    #[error("unknown marker option '{key}' (known: transaction, lock_timeout, statement_timeout){}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownOption {
        key: String,
        suggestion: Option<String>,
    },
    #[error("invalid value '{value}' for '{key}': expected {expected}")]
    BadOptionValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error(
        "up sections mix 'transaction:false' with transactional ones: split the file so each migration is one or the other"
    )]
    MixedTransaction,
    #[error(
        "version {version} is also used by {other}: each version must belong to one file; rename one of them to a version of its own"
    )]
    DuplicateVersion { version: String, other: String },
    #[error(
        "'-- pgfleet:' with no directive name right after the colon: write it there, e.g. '-- pgfleet:used-by worker'"
    )]
    MissingDirective,
    #[error("unknown directive 'pgfleet:{name}'{} (known: {}, baseline; a plain comment must not start with 'pgfleet:')", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default(), directive::NAMES.join(", "))]
    UnknownDirective {
        name: String,
        suggestion: Option<String>,
    },
    #[error(
        "'-- pgfleet:{directive}' needs a selector: a container name such as 'worker', or label=KEY or label=KEY=VALUE"
    )]
    MissingSelector { directive: &'static str },
    #[error("'{selector}' is not a selector for '-- pgfleet:{directive}': {why}")]
    BadSelector {
        directive: &'static str,
        selector: String,
        why: &'static str,
    },
    #[error(
        "'-- pgfleet:requires' needs what the container must run after the selector, image=REF or label=KEY=VALUE (e.g. '-- pgfleet:requires classifier image=classifier:2.1'), not {}",
        quoted(found)
    )]
    BadRequirement { found: String },
    #[error("unexpected '{extra}': write '{usage}', one per line")]
    ExtraWords { extra: String, usage: &'static str },
    #[error(
        "'-- pgfleet:precondition' takes one SELECT that returns true when the migration may go ahead, e.g. '-- pgfleet:precondition select not exists (select 1 from jobs where running)'; {reason}"
    )]
    BadPrecondition { reason: String },
    #[error(
        "'-- pgfleet:quiesce' takes one name of letters, digits, '_', '.', ':' and '-' (the advisory lock the batch workers share), not {}",
        quoted(name)
    )]
    BadQuiesceName { name: String },
    #[error(
        "'-- pgfleet:{name}' after the first '-- migrate:up': directives go before it; there dbmate would run the line as a comment and pgfleet would ignore it, so move it up"
    )]
    DirectiveAfterUp { name: &'static str },
    #[error(
        "'-- {marker}' stands inside {literal} opened at line {opened}, in the statement at line {statement_line} ({statement}), and not closed before it: dbmate and pgfleet start a new section at every line beginning '-- migrate:', even inside a string, so that statement would end mid-string and fail on the server; indent that line, or reword it so it does not begin with '-- migrate:'"
    )]
    MarkerInsideLiteral {
        marker: &'static str,
        literal: String,
        opened: usize,
        /// The first line of the statement holding the literal, and where it starts.
        statement: String,
        statement_line: usize,
    },
}

/// A word from the file as an error shows it, or `nothing` when there was none.
fn quoted(word: &str) -> String {
    if word.is_empty() {
        "nothing".to_string()
    } else {
        format!("'{word}'")
    }
}

/// The line that marks a file written by `pgfleet baseline` (dbmate reads it as a comment).
pub const BASELINE_MARK: &str = "-- pgfleet:baseline";

const KNOWN_OPTIONS: [&str; 3] = ["transaction", "lock_timeout", "statement_timeout"];

fn parse_lines(path: &Path, bytes: &[u8]) -> Result<Migration, ParseError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let version = version_of(&file_name).unwrap_or_default().to_string();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            return Err(ParseError::new(path, line, ParseErrorKind::NotUtf8)
                .at_column(byte_column(bytes, e.valid_up_to())));
        }
    };
    // Caught here, where its line is known: sent on, the server drops the connection.
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        return Err(
            ParseError::new(path, line, ParseErrorKind::NulByte).at_column(byte_column(bytes, at))
        );
    }
    let text = normalize(text);
    // A marker after a lone CR starts no line, for dbmate as for pgfleet: the file would
    // read as one long line and fail with a puzzling complaint about its options.
    for (index, line) in text.split('\n').enumerate() {
        let after_cr = line.split('\r').skip(1);
        if after_cr.map(str::trim_start).any(|l| marker(l).is_some()) {
            let column = line.find('\r').map_or(1, |i| line[..i].chars().count() + 1);
            return Err(
                ParseError::new(path, index + 1, ParseErrorKind::CrLineEnd).at_column(column)
            );
        }
    }

    let mut up = Vec::new();
    let mut down = Vec::new();
    // (direction, options, first line index, byte offset of the marker)
    let mut current: Option<(Direction, SectionOptions, usize, usize)> = None;
    let mut offset = 0;
    let mut baseline = false;
    let mut directives = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        if let Some((direction, options_text)) = marker(line) {
            if let Some((d, o, start, from)) = current.take() {
                let sql = &text[from..offset];
                if let Some(open) = unterminated(sql) {
                    return Err(ParseError::new(
                        path,
                        line_no,
                        ParseErrorKind::MarkerInsideLiteral {
                            marker: direction.marker(),
                            literal: open.literal,
                            opened: start + open.line,
                            statement: open.statement,
                            statement_line: start + open.statement_line,
                        },
                    ));
                }
                push(&mut up, &mut down, d, o, sql, start);
            } else if direction == Direction::Down {
                return Err(ParseError::new(path, line_no, ParseErrorKind::DownBeforeUp));
            }
            let options =
                parse_options(options_text).map_err(|k| ParseError::new(path, line_no, k))?;
            current = Some((direction, options, line_no, offset));
        } else if current.is_none() {
            let t = line.trim();
            baseline |= t == BASELINE_MARK;
            if !t.is_empty() && !t.starts_with("--") {
                return Err(ParseError::new(
                    path,
                    line_no,
                    ParseErrorKind::SqlBeforeFirstMarker,
                ));
            }
            if let Some(rest) = pgfleet_line(t)
                && let Some(directive) =
                    directive::parse(rest).map_err(|k| ParseError::new(path, line_no, k))?
            {
                directives.push(Declared {
                    line: line_no,
                    directive,
                });
            }
        } else if let Some(name) = pgfleet_line(line).and_then(directive::known_name) {
            return Err(ParseError::new(
                path,
                line_no,
                ParseErrorKind::DirectiveAfterUp { name },
            ));
        }
        offset += line.len();
    }
    if let Some((d, o, start, from)) = current {
        push(&mut up, &mut down, d, o, &text[from..], start);
    }
    if up.is_empty() {
        return Err(ParseError::new(path, 0, ParseErrorKind::MissingUp));
    }
    if down.is_empty() {
        return Err(ParseError::new(path, 0, ParseErrorKind::MissingDown));
    }
    for sections in [&up, &down] {
        if sections.iter().any(|s: &Section| s.options.transaction)
            && sections.iter().any(|s| !s.options.transaction)
        {
            let first_false = sections
                .iter()
                .find(|s| !s.options.transaction)
                .map(|s| s.start_line);
            return Err(ParseError::new(
                path,
                first_false.unwrap_or(0),
                ParseErrorKind::MixedTransaction,
            ));
        }
    }

    Ok(Migration {
        version,
        checksum: checksum(&text),
        file_name,
        path: path.to_path_buf(),
        up,
        down,
        baseline,
        directives,
        analysis: Default::default(),
    })
}

fn push(
    up: &mut Vec<Section>,
    down: &mut Vec<Section>,
    direction: Direction,
    options: SectionOptions,
    sql: &str,
    start_line: usize,
) {
    let section = Section {
        direction,
        options,
        sql: sql.to_string(),
        start_line,
        spans: Default::default(),
    };
    match direction {
        Direction::Up => up.push(section),
        Direction::Down => down.push(section),
    }
}

/// A quoted string, dollar-quoted body, `/*` comment or quoted identifier that a section
/// leaves open at its end; lines are 0-based within the section.
struct Unterminated {
    literal: String,
    line: usize,
    /// The first line of the statement it belongs to, and that statement's line.
    statement: String,
    statement_line: usize,
}

/// What `sql` (a section) leaves open at its end. The marker that cut the section then
/// stands inside it: dbmate cuts there all the same, so the server would get half a string.
fn unterminated(sql: &str) -> Option<Unterminated> {
    let Err(pg_query::Error::Scan(message)) = pg_query::scan(sql) else {
        return None;
    };
    let rest = message.strip_prefix("unterminated ")?;
    let (what, near) = rest.split_once(" at or near \"")?;
    let near = near.strip_suffix('"').unwrap_or(near);
    // The scanner quotes the unterminated token, which runs to the end of the section.
    let opened_at = sql.rfind(near).unwrap_or(0);
    // The text before the literal lexes: its last piece, unless it is a finished statement,
    // is the start of the statement the literal belongs to.
    let start = match split_statements(&sql[..opened_at]).last() {
        Some(s) if !s.sql.trim_end().ends_with(';') => s.body_offset(),
        _ => opened_at,
    };
    let first_line = sql[start..].lines().next().unwrap_or_default().trim();
    let statement = if first_line.chars().count() > 60 {
        format!("{}…", first_line.chars().take(59).collect::<String>())
    } else {
        first_line.to_owned()
    };
    Some(Unterminated {
        literal: format!("a {what}"),
        line: sql[..opened_at].matches('\n').count(),
        statement,
        statement_line: sql[..start].matches('\n').count(),
    })
}

/// Recognises dbmate's marker `^--\s*migrate:(up|down)(\s*$|\s+\S+)` and returns the
/// direction and the rest of the line (the options).
fn marker(line: &str) -> Option<(Direction, &str)> {
    let rest = line.strip_prefix("--")?.trim_start();
    for direction in [Direction::Up, Direction::Down] {
        if let Some(after) = rest.strip_prefix(direction.marker()) {
            // "migrate:upgrade" is not a marker: the name must end at white space.
            if after.is_empty() || after.starts_with(char::is_whitespace) {
                return Some((direction, after.trim()));
            }
        }
    }
    None
}

/// What follows `pgfleet:` on a `-- pgfleet:…` comment line (`--pgfleet:` and more spaces
/// after `--` too, as markers allow).
fn pgfleet_line(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("--")?
        .trim_start()
        .strip_prefix("pgfleet:")
}

fn parse_options(text: &str) -> Result<SectionOptions, ParseErrorKind> {
    let mut options = SectionOptions::default();
    for pair in text.split_whitespace() {
        let Some((key, value)) = pair.split_once(':') else {
            return Err(ParseErrorKind::MalformedOption {
                option: pair.to_string(),
            });
        };
        let bad = |expected| ParseErrorKind::BadOptionValue {
            key: key.to_string(),
            value: value.to_string(),
            expected,
        };
        match key {
            "transaction" => {
                options.transaction = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("true or false")),
                }
            }
            "lock_timeout" | "statement_timeout" => {
                let t = Timeout::parse(value).ok_or_else(|| {
                    if Timeout::needs_unit(value) {
                        bad("a duration with a unit (a bare number would mean milliseconds): 5s or 5ms")
                    } else {
                        bad("a duration such as 500ms, 30s, 2min, 1h or off")
                    }
                })?;
                if key == "lock_timeout" {
                    options.lock_timeout = Some(t);
                } else {
                    options.statement_timeout = Some(t);
                }
            }
            _ => {
                return Err(ParseErrorKind::UnknownOption {
                    key: key.to_string(),
                    suggestion: crate::suggest(key, &KNOWN_OPTIONS),
                });
            }
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Migration, ParseError> {
        parse(Path::new("migrations/001_test.sql"), text.as_bytes())
    }

    fn kind(text: &str) -> (usize, ParseErrorKind) {
        let e = parse_str(text).unwrap_err();
        (e.line, e.kind)
    }

    #[test]
    fn parses_a_plain_file() {
        let m = parse_str(
            "-- migrate:up\ncreate table t (id int);\n\n-- migrate:down\ndrop table t;\n",
        )
        .unwrap();
        assert_eq!(m.version, "001");
        assert_eq!(m.up.len(), 1);
        assert_eq!(m.up[0].sql, "-- migrate:up\ncreate table t (id int);\n\n");
        assert_eq!(m.up[0].start_line, 1);
        assert_eq!(m.down[0].sql, "-- migrate:down\ndrop table t;\n");
        assert_eq!(m.down[0].start_line, 4);
        assert!(m.up_transactional());
    }

    #[test]
    fn markers_without_space_and_with_options() {
        let m = parse_str(
            "--migrate:up transaction:false lock_timeout:30s\ncreate index concurrently i on t (id);\n--   migrate:down   transaction:false\ndrop index concurrently i;\n",
        )
        .unwrap();
        assert!(!m.up[0].options.transaction);
        assert_eq!(
            m.up[0].options.lock_timeout,
            Some(Timeout { millis: 30_000 })
        );
        assert!(!m.down_transactional());
    }

    #[test]
    fn comments_and_blank_lines_may_precede_the_first_marker() {
        let m = parse_str("-- adds users\n\n-- migrate:up\nselect 1;\n-- migrate:down\n").unwrap();
        assert_eq!(m.up[0].start_line, 3);
        assert!(m.down[0].is_empty());
    }

    #[test]
    fn several_sections() {
        let m = parse_str(
            "-- migrate:up\nselect 1;\n-- migrate:down\nselect 2;\n-- migrate:up\nselect 3;\n-- migrate:down\nselect 4;\n",
        )
        .unwrap();
        assert_eq!(m.up.len(), 2);
        assert_eq!(m.down.len(), 2);
        assert_eq!(m.up[1].start_line, 5);
        assert_eq!(m.down[1].sql, "-- migrate:down\nselect 4;\n");
    }

    #[test]
    fn not_a_marker() {
        let (line, k) = kind("-- migrate:upgrade\nselect 1;\n");
        assert_eq!((line, k), (2, ParseErrorKind::SqlBeforeFirstMarker));
    }

    #[test]
    fn every_named_failure() {
        assert_eq!(kind("select 1;\n").1, ParseErrorKind::SqlBeforeFirstMarker);
        assert_eq!(kind("-- just a comment\n").1, ParseErrorKind::MissingUp);
        assert_eq!(
            kind("-- migrate:up\nselect 1;\n").1,
            ParseErrorKind::MissingDown
        );
        assert_eq!(
            kind("-- migrate:down\nselect 1;\n-- migrate:up\nselect 2;\n"),
            (1, ParseErrorKind::DownBeforeUp)
        );
        assert_eq!(
            kind("-- migrate:up transaction:maybe\n-- migrate:down\n"),
            (
                1,
                ParseErrorKind::BadOptionValue {
                    key: "transaction".into(),
                    value: "maybe".into(),
                    expected: "true or false"
                }
            )
        );
        assert_eq!(
            kind("-- migrate:up\n-- migrate:down lock_timout:3s\n"),
            (
                2,
                ParseErrorKind::UnknownOption {
                    key: "lock_timout".into(),
                    suggestion: Some("lock_timeout".into())
                }
            )
        );
        assert_eq!(
            kind("-- migrate:up lock_timeout:soon\n-- migrate:down\n").0,
            1
        );
        assert_eq!(
            kind("-- migrate:up transaction\n-- migrate:down\n").1,
            ParseErrorKind::MalformedOption {
                option: "transaction".into()
            }
        );
        assert_eq!(
            kind(
                "-- migrate:up\nselect 1;\n-- migrate:down\n-- migrate:up transaction:false\nselect 2;\n-- migrate:down\n"
            ),
            (4, ParseErrorKind::MixedTransaction)
        );
    }

    #[test]
    fn errors_on_a_line_name_the_column_of_what_is_wrong() {
        let at = |text: &str| {
            let e = parse_str(text).unwrap_err();
            (e.line, e.column)
        };
        assert_eq!(
            at("-- migrate:up transaction:maybe\n-- migrate:down\n"),
            (1, 15)
        );
        assert_eq!(
            at("-- migrate:up\n-- migrate:down  lock_timout:3s\n"),
            (2, 18)
        );
        assert_eq!(at("-- migrate:up bogus\n-- migrate:down\n"), (1, 15));
        assert_eq!(
            at("-- pgfleet:stop worker now\n-- migrate:up\n-- migrate:down\n"),
            (1, 24)
        );
        assert_eq!(
            at("-- pgfleet: stop\n-- migrate:up\n-- migrate:down\n"),
            (1, 12)
        );
        assert_eq!(
            at("-- ok\n  select 1;\n-- migrate:up\n-- migrate:down\n"),
            (2, 3)
        );
        assert_eq!(
            at("\u{feff}select 1;\n-- migrate:up\n-- migrate:down\n"),
            (1, 1)
        );
        assert_eq!(at("-- just a comment\n"), (0, 0));
        let nul = parse(Path::new("1_x.sql"), b"-- migrate:up\nselect 'a\0';\n").unwrap_err();
        assert_eq!((nul.line, nul.column), (2, 10));
    }

    #[test]
    fn a_marker_after_a_lone_cr_is_named() {
        let e = parse_str("-- migrate:up\nselect 1;\r-- migrate:down\r").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.kind),
            (2, 10, ParseErrorKind::CrLineEnd)
        );
        // A CR inside a line, with no marker after it, is left to the server.
        assert!(parse_str("-- migrate:up\nselect 'a\rb';\n-- migrate:down\n").is_ok());
    }

    #[test]
    fn a_nul_byte_is_named_with_its_line() {
        let e = parse(
            Path::new("1_nul.sql"),
            b"-- migrate:up\nselect 1;\nselect '\0';\n-- migrate:down\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.kind), (3, ParseErrorKind::NulByte));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let e = parse(
            Path::new("x/002_bad.sql"),
            b"-- migrate:up\nselect '\xff';\n-- migrate:down\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.kind.clone()), (2, ParseErrorKind::NotUtf8));
        assert_eq!(
            e.to_string(),
            "x/002_bad.sql:2:9: the file is not valid UTF-8 (save it as UTF-8)"
        );
    }

    #[test]
    fn crlf_and_bom_give_the_same_checksum_and_sql() {
        let lf = parse_str("-- migrate:up\nselect 1;\n-- migrate:down\n").unwrap();
        let crlf = parse_str("\u{feff}-- migrate:up\r\nselect 1;\r\n-- migrate:down\r\n").unwrap();
        assert_eq!(lf.checksum, crlf.checksum);
        assert_eq!(lf.up, crlf.up);
    }

    use crate::migration::directive::{Directive, Requirement, Selector};

    /// The directives of a file whose header is `header`.
    fn directives(header: &str) -> Vec<(usize, Directive)> {
        parse_str(&format!(
            "{header}-- migrate:up\nselect 1;\n-- migrate:down\n"
        ))
        .unwrap()
        .directives
        .into_iter()
        .map(|d| (d.line, d.directive))
        .collect()
    }

    fn name(n: &str) -> Selector {
        Selector::Name(n.into())
    }

    #[test]
    fn every_directive_form_parses_with_its_line() {
        let found = directives(
            "-- Splits documents.classification: the classifier writes it.\n\
             -- pgfleet:used-by worker   classification pipeline \n\
             --pgfleet:used-by label=app\n\
             --    pgfleet:stop label=app=classifier\n\
             -- pgfleet:requires classifier image=classifier:2.1\n\
             -- pgfleet:requires classifier label=schema=v7\n\
             -- pgfleet:precondition select not exists (select 1 from jobs where running)\n\
             -- pgfleet:quiesce classifier.batch:v1\n\
             \n\
             -- pgfleet:stop worker-2_b.c\n",
        );
        assert_eq!(
            found,
            vec![
                (
                    2,
                    Directive::UsedBy {
                        selector: name("worker"),
                        note: Some("classification pipeline".into())
                    }
                ),
                (
                    3,
                    Directive::UsedBy {
                        selector: Selector::Label {
                            key: "app".into(),
                            value: None
                        },
                        note: None
                    }
                ),
                (
                    4,
                    Directive::Stop {
                        selector: Selector::Label {
                            key: "app".into(),
                            value: Some("classifier".into())
                        }
                    }
                ),
                (
                    5,
                    Directive::Requires {
                        selector: name("classifier"),
                        requirement: Requirement::Image("classifier:2.1".into())
                    }
                ),
                (
                    6,
                    Directive::Requires {
                        selector: name("classifier"),
                        requirement: Requirement::Label {
                            key: "schema".into(),
                            value: "v7".into()
                        }
                    }
                ),
                (
                    7,
                    Directive::Precondition {
                        sql: "select not exists (select 1 from jobs where running)".into()
                    }
                ),
                (
                    8,
                    Directive::Quiesce {
                        name: "classifier.batch:v1".into()
                    }
                ),
                (
                    10,
                    Directive::Stop {
                        selector: name("worker-2_b.c")
                    }
                ),
            ]
        );
    }

    #[test]
    fn the_baseline_mark_and_plain_comments_are_not_directives() {
        let m = parse_str(
            "-- pgfleet:baseline\n-- pgfleet is what runs this\n-- see pgfleet: the docs\n-- migrate:up\nselect 1;\n-- pgfleet:baseline\n-- pgfleet:stopp worker\n-- migrate:down\n",
        )
        .unwrap();
        assert!(m.baseline);
        assert!(m.directives.is_empty());
    }

    #[test]
    fn each_bad_directive_is_named_with_its_line() {
        let header = |line: &str| kind(&format!("-- ok\n{line}\n-- migrate:up\n-- migrate:down\n"));
        assert_eq!(
            header("-- pgfleet: stop worker"),
            (2, ParseErrorKind::MissingDirective)
        );
        assert_eq!(header("-- pgfleet:"), (2, ParseErrorKind::MissingDirective));
        assert_eq!(
            header("-- pgfleet:stop"),
            (2, ParseErrorKind::MissingSelector { directive: "stop" })
        );
        assert_eq!(
            header("-- pgfleet:used-by"),
            (
                2,
                ParseErrorKind::MissingSelector {
                    directive: "used-by"
                }
            )
        );
        let bad_selector = |line: &str| match header(line) {
            (2, ParseErrorKind::BadSelector { selector, .. }) => selector,
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(bad_selector("-- pgfleet:stop /worker"), "/worker");
        assert_eq!(bad_selector("-- pgfleet:stop _worker"), "_worker");
        assert_eq!(bad_selector("-- pgfleet:used-by label="), "label=");
        assert_eq!(
            bad_selector("-- pgfleet:requires label==x image=a"),
            "label==x"
        );
        for (line, found) in [
            ("-- pgfleet:requires classifier", ""),
            (
                "-- pgfleet:requires classifier classifier:2.1",
                "classifier:2.1",
            ),
            ("-- pgfleet:requires classifier image=", "image="),
            (
                "-- pgfleet:requires classifier label=schema",
                "label=schema",
            ),
            ("-- pgfleet:requires classifier label==v7", "label==v7"),
        ] {
            assert_eq!(
                header(line),
                (
                    2,
                    ParseErrorKind::BadRequirement {
                        found: found.into()
                    }
                ),
                "{line}"
            );
        }
        for (line, extra, usage) in [
            (
                "-- pgfleet:stop worker now",
                "now",
                "-- pgfleet:stop SELECTOR",
            ),
            (
                "-- pgfleet:requires w image=a:1 or newer",
                "or newer",
                "-- pgfleet:requires SELECTOR image=REF|label=KEY=VALUE",
            ),
            ("-- pgfleet:quiesce a b", "b", "-- pgfleet:quiesce NAME"),
        ] {
            assert_eq!(
                header(line),
                (
                    2,
                    ParseErrorKind::ExtraWords {
                        extra: extra.into(),
                        usage
                    }
                ),
                "{line}"
            );
        }
        for (line, name) in [
            ("-- pgfleet:quiesce", ""),
            ("-- pgfleet:quiesce batch/lock", "batch/lock"),
        ] {
            assert_eq!(
                header(line),
                (2, ParseErrorKind::BadQuiesceName { name: name.into() }),
                "{line}"
            );
        }
        let precondition = |sql: &str| match header(&format!("-- pgfleet:precondition {sql}")) {
            (2, ParseErrorKind::BadPrecondition { reason }) => reason,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(precondition(""), "there is no SQL after it");
        assert!(
            precondition("selct 1")
                .starts_with("PostgreSQL's parser says: syntax error at or near \"selct\""),
            "{}",
            precondition("selct 1")
        );
        assert_eq!(precondition("select 1; select 2"), "it holds 2 statements");
        assert_eq!(
            precondition("delete from jobs"),
            "it is not a SELECT: PostgreSQL's parser reads DeleteStmt"
        );
        assert_eq!(
            precondition("select true into ok"),
            "SELECT … INTO would create a table"
        );
        assert_eq!(precondition(";"), "it holds no statement");
    }

    #[test]
    fn an_unknown_directive_suggests_the_one_meant() {
        let unknown = |line: &str| kind(&format!("{line}\n-- migrate:up\n-- migrate:down\n"));
        assert_eq!(
            unknown("-- pgfleet:stopp worker"),
            (
                1,
                ParseErrorKind::UnknownDirective {
                    name: "stopp".into(),
                    suggestion: Some("stop".into())
                }
            )
        );
        assert_eq!(
            unknown("-- pgfleet:usedby worker").1,
            ParseErrorKind::UnknownDirective {
                name: "usedby".into(),
                suggestion: Some("used-by".into())
            }
        );
        assert_eq!(
            unknown("-- pgfleet:teleport worker").1,
            ParseErrorKind::UnknownDirective {
                name: "teleport".into(),
                suggestion: None
            }
        );
        let e = parse_str("-- pgfleet:stopp worker\n-- migrate:up\n-- migrate:down\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "migrations/001_test.sql:1:4: unknown directive 'pgfleet:stopp'; did you mean 'stop'? \
             (known: used-by, stop, requires, precondition, quiesce, baseline; a plain comment \
             must not start with 'pgfleet:')"
        );
    }

    #[test]
    fn a_directive_after_migrate_up_is_refused() {
        assert_eq!(
            kind("-- migrate:up\nselect 1;\n  -- pgfleet:stop worker\n-- migrate:down\n"),
            (3, ParseErrorKind::DirectiveAfterUp { name: "stop" })
        );
        assert_eq!(
            kind("-- migrate:up\n-- migrate:down\n--pgfleet:quiesce q\n").0,
            3
        );
    }

    /// dbmate cuts sections at marker lines even inside a string, so the section above
    /// would end mid-string: the error names the marker's line and where the string opened.
    #[test]
    fn a_marker_inside_a_literal_names_both_lines() {
        let body = "-- migrate:up\ncreate function f() returns int as $$\nbegin\n-- migrate:down\nreturn 1;\nend $$ language plpgsql;\n-- migrate:down\ndrop function f();\n";
        assert_eq!(
            kind(body),
            (
                4,
                ParseErrorKind::MarkerInsideLiteral {
                    marker: "migrate:down",
                    literal: "a dollar-quoted string".into(),
                    opened: 2,
                    statement: "create function f() returns int as $$".into(),
                    statement_line: 2,
                }
            )
        );
        let quoted = "-- migrate:up\nselect 1;\ninsert into t\n  values ('a\n-- migrate:down\nb');\n-- migrate:down\n";
        assert_eq!(
            kind(quoted),
            (
                5,
                ParseErrorKind::MarkerInsideLiteral {
                    marker: "migrate:down",
                    literal: "a quoted string".into(),
                    opened: 4,
                    statement: "insert into t".into(),
                    statement_line: 3,
                }
            )
        );
    }

    #[test]
    fn a_changed_directive_changes_the_checksum() {
        let with = |selector: &str| {
            parse_str(&format!(
                "-- pgfleet:stop {selector}\n-- migrate:up\nselect 1;\n-- migrate:down\n"
            ))
            .unwrap()
            .checksum
        };
        assert_ne!(with("worker"), with("label=app=worker"));
    }
}
