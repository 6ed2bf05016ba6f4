//! dbmate's file grammar: `-- migrate:up` / `-- migrate:down` markers with `key:value`
//! options, several pairs per file allowed. Every failure names the file and line.

use std::path::{Path, PathBuf};

use super::{
    Direction, Migration, Section, SectionOptions, Timeout, checksum, normalize, version_of,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {kind}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct ParseError {
    pub path: PathBuf,
    /// 1-based line, or 0 when the error concerns the whole file.
    pub line: usize,
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(path: &Path, line: usize, kind: ParseErrorKind) -> Self {
        ParseError {
            path: path.to_path_buf(),
            line,
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    #[error("the file is not valid UTF-8 (save it as UTF-8)")]
    NotUtf8,
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
    #[error("version {version} is also used by {other}: each version must belong to one file")]
    DuplicateVersion { version: String, other: String },
}

/// The line that marks a file written by `pgfleet baseline` (dbmate reads it as a comment).
pub const BASELINE_MARK: &str = "-- pgfleet:baseline";

const KNOWN_OPTIONS: [&str; 3] = ["transaction", "lock_timeout", "statement_timeout"];

/// Parses one migration file from its raw bytes.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Migration, ParseError> {
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
            return Err(ParseError::new(path, line, ParseErrorKind::NotUtf8));
        }
    };
    let text = normalize(text);

    let mut up = Vec::new();
    let mut down = Vec::new();
    // (direction, options, first line index, byte offset of the marker)
    let mut current: Option<(Direction, SectionOptions, usize, usize)> = None;
    let mut offset = 0;
    let mut baseline = false;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        if let Some((direction, options_text)) = marker(line) {
            if let Some((d, o, start, from)) = current.take() {
                push(&mut up, &mut down, d, o, &text[from..offset], start);
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
        directives: Vec::new(),
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
    };
    match direction {
        Direction::Up => up.push(section),
        Direction::Down => down.push(section),
    }
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
                let t = Timeout::parse(value)
                    .ok_or_else(|| bad("a duration such as 500ms, 30s, 2min, 1h or off"))?;
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
    fn invalid_utf8_names_the_line() {
        let e = parse(
            Path::new("x/002_bad.sql"),
            b"-- migrate:up\nselect '\xff';\n-- migrate:down\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.kind.clone()), (2, ParseErrorKind::NotUtf8));
        assert_eq!(
            e.to_string(),
            "x/002_bad.sql:2: the file is not valid UTF-8 (save it as UTF-8)"
        );
    }

    #[test]
    fn crlf_and_bom_give_the_same_checksum_and_sql() {
        let lf = parse_str("-- migrate:up\nselect 1;\n-- migrate:down\n").unwrap();
        let crlf = parse_str("\u{feff}-- migrate:up\r\nselect 1;\r\n-- migrate:down\r\n").unwrap();
        assert_eq!(lf.checksum, crlf.checksum);
        assert_eq!(lf.up, crlf.up);
    }
}
