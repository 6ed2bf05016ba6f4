//! Migration files: finding them, parsing dbmate's format, checksums, and the
//! statement splitting that `transaction:false` files need.

mod checksum;
pub mod directive;
pub mod locks;
mod parse;
mod split;

use std::path::{Path, PathBuf};

pub use checksum::{checksum, normalize};
pub use parse::{BASELINE_MARK, ParseError, ParseErrorKind, parse};
pub use split::{Statement, split_statements};

/// One migration file, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The leading digits of the file name, kept as a string as dbmate does.
    pub version: String,
    pub file_name: String,
    pub path: PathBuf,
    /// SHA-256 (hex) of the normalised file text.
    pub checksum: String,
    pub up: Vec<Section>,
    pub down: Vec<Section>,
    /// Written by `pgfleet baseline` (a `-- pgfleet:baseline` line before `-- migrate:up`):
    /// the whole schema as it was, which makes older files history rather than pending.
    pub baseline: bool,
    /// `-- pgfleet:…` header directives, in file order.
    pub directives: Vec<directive::Declared>,
    /// What libpg_query says of the up sections (`locks::analysis`), worked out the first
    /// time it is asked for and shared by every target of the run.
    pub analysis: Memo<locks::Analysis>,
}

/// A value worked out once from the rest of its struct: it takes no part in comparisons
/// (two equal migrations are equal whether or not one was analysed yet).
#[derive(Clone, Default)]
pub struct Memo<T>(std::sync::OnceLock<T>);

impl<T> Memo<T> {
    pub fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(make)
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Memo<T> {}

impl<T> std::fmt::Debug for Memo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

impl Migration {
    /// True when every up section runs inside the migration's transaction.
    pub fn up_transactional(&self) -> bool {
        self.up.iter().all(|s| s.options.transaction)
    }

    pub fn down_transactional(&self) -> bool {
        self.down.iter().all(|s| s.options.transaction)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn marker(self) -> &'static str {
        match self {
            Direction::Up => "migrate:up",
            Direction::Down => "migrate:down",
        }
    }
}

/// The text of one `-- migrate:up` or `-- migrate:down` section, marker line included
/// (dbmate sends it that way), with where it starts in the file so that server error
/// positions can be mapped back to file:line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub direction: Direction,
    pub options: SectionOptions,
    pub sql: String,
    /// 1-based line of the marker in the file.
    pub start_line: usize,
    /// Where each statement of `sql` is (`statements`), split once per run rather than
    /// once per target that sends it.
    pub spans: Memo<Vec<(usize, usize)>>,
}

impl Section {
    /// True when the section holds nothing but its marker, blank lines and comments.
    pub fn is_empty(&self) -> bool {
        self.statements().is_empty()
    }

    /// The section's statements (`split_statements` of `sql`).
    pub fn statements(&self) -> Vec<Statement<'_>> {
        self.spans
            .get_or_init(|| {
                split_statements(&self.sql)
                    .iter()
                    .map(|s| (s.offset, s.offset + s.sql.len()))
                    .collect()
            })
            .iter()
            .map(|&(start, end)| Statement {
                sql: &self.sql[start..end],
                offset: start,
            })
            .collect()
    }

    /// Maps a 0-based character offset into `sql` to a 1-based (line, column) in the file.
    pub fn file_position(&self, char_offset: usize) -> (usize, usize) {
        let mut line = self.start_line;
        let mut col = 1;
        for ch in self.sql.chars().take(char_offset) {
            if ch == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }
}

/// Options given on a marker line as `key:value` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionOptions {
    /// `transaction:false` runs the section statement by statement, outside a transaction.
    pub transaction: bool,
    /// `lock_timeout:30s` overrides the run's lock_timeout for this section.
    pub lock_timeout: Option<Timeout>,
    /// `statement_timeout:5min` overrides the run's statement_timeout for this section.
    pub statement_timeout: Option<Timeout>,
}

impl Default for SectionOptions {
    fn default() -> Self {
        SectionOptions {
            transaction: true,
            lock_timeout: None,
            statement_timeout: None,
        }
    }
}

/// A PostgreSQL duration setting, validated when read so the server never sees a typo.
/// Zero means "off", as in PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    pub millis: u64,
}

impl Timeout {
    /// Parses `500ms`, `5s`, `2min`, `1h`, `0`, `off`. A bare number other than 0 is refused
    /// (PostgreSQL would read it as milliseconds, and `--lock-timeout 5` meaning 5 ms is a
    /// trap): see `needs_unit` for the message.
    pub fn parse(text: &str) -> Option<Timeout> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("off") {
            return Some(Timeout { millis: 0 });
        }
        let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        if digits_end == 0 {
            return None;
        }
        let n: u64 = t[..digits_end].parse().ok()?;
        let factor = match &t[digits_end..] {
            "" if n == 0 => 1,
            "ms" => 1,
            "s" => 1000,
            "min" | "m" => 60_000,
            "h" => 3_600_000,
            _ => return None,
        };
        n.checked_mul(factor).map(|millis| Timeout { millis })
    }

    /// A bare number other than 0: refused for want of a unit.
    pub fn needs_unit(text: &str) -> bool {
        let t = text.trim();
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.bytes().any(|b| b != b'0')
    }

    /// The value as PostgreSQL's `SET` accepts it.
    pub fn as_setting(self) -> String {
        format!("{}ms", self.millis)
    }
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.millis {
            0 => write!(f, "off"),
            m if m % 3_600_000 == 0 => write!(f, "{}h", m / 3_600_000),
            m if m % 60_000 == 0 => write!(f, "{}min", m / 60_000),
            m if m % 1000 == 0 => write!(f, "{}s", m / 1000),
            m => write!(f, "{m}ms"),
        }
    }
}

/// The version of a migration file name (`^(\d+).*\.sql$`), or None for other files.
pub fn version_of(file_name: &str) -> Option<&str> {
    if !file_name.ends_with(".sql") {
        return None;
    }
    let end = file_name
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(file_name.len());
    (end > 0 && end <= file_name.len() - 4).then(|| &file_name[..end])
}

/// Reads and parses every migration file directly in `dir`, ordered by file name as a
/// string (dbmate's order). Other files and sub-folders are ignored.
pub fn load_dir(dir: &Path) -> Result<Vec<Migration>, ParseError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ParseError::new(
            dir,
            0,
            ParseErrorKind::Unreadable(if e.kind() == std::io::ErrorKind::NotFound {
                "the migrations folder does not exist (create it, or pass --migrations-dir)"
                    .to_string()
            } else {
                e.to_string()
            }),
        )
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| ParseError::new(dir, 0, ParseErrorKind::Unreadable(e.to_string())))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if version_of(&name).is_none() || entry.path().is_dir() {
            continue;
        }
        names.push(name);
    }
    names.sort();

    let mut migrations: Vec<Migration> = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path)
            .map_err(|e| ParseError::new(&path, 0, ParseErrorKind::Unreadable(e.to_string())))?;
        let migration = parse(&path, &bytes)?;
        if let Some(other) = migrations.iter().find(|m| m.version == migration.version) {
            return Err(ParseError::new(
                &path,
                0,
                ParseErrorKind::DuplicateVersion {
                    version: migration.version,
                    other: other.file_name.clone(),
                },
            ));
        }
        migrations.push(migration);
    }
    Ok(migrations)
}

/// Writes dbmate's template for `new NAME` and returns its path; fails if it exists.
pub fn create_new(
    dir: &Path,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<PathBuf> {
    write_new(dir, name, now, "-- migrate:up\n\n\n-- migrate:down\n\n")
}

/// The text of a baseline migration: the live schema as its up section, and a down
/// section that only says why there is nothing to run.
pub fn baseline_text(source: &str, taken: &str, schema: &str) -> String {
    format!(
        "-- Baseline: the schema of {source} as it was on {taken}, taken by `pgfleet baseline`.\n\
         -- Databases that already have this schema are registered, not migrated; a new,\n\
         -- empty database gets it from `pgfleet up`, and files older than it are history.\n\
         {BASELINE_MARK}\n\
         -- migrate:up\n\
         {schema}\n\
         -- migrate:down\n\
         -- A baseline cannot be reversed: it stands for the whole schema as it was, and\n\
         -- pgfleet refuses to roll it back.\n"
    )
}

/// The text of a migration drafted by `drift --write-migration` from `up` and `down` SQL.
pub fn drafted_text(source: &str, taken: &str, up: &str, down: &str) -> String {
    format!(
        "-- Drafted by `pgfleet drift --write-migration` on {taken} from the live schema of {source}.\n\
         -- REVIEW IT: up turns the schema the migrations make into the live one, down undoes that.\n\
         -- migrate:up\n{up}\n-- migrate:down\n{down}"
    )
}

/// Writes a new migration file `<now>_<name>.sql` with `text`; fails if it exists.
pub fn write_new(
    dir: &Path,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
    text: &str,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    // Two files made within one second would share a version (dbmate's timestamps have
    // seconds): the next free second is taken instead.
    let taken: std::collections::HashSet<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| version_of(&e.file_name().to_string_lossy()).map(str::to_string))
        .collect();
    let mut at = now;
    while taken.contains(&at.format("%Y%m%d%H%M%S").to_string()) {
        at += chrono::Duration::seconds(1);
    }
    let path = dir.join(format!("{}_{}.sql", at.format("%Y%m%d%H%M%S"), name));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_made_in_one_second_get_versions_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let a = create_new(dir.path(), "a", now).unwrap();
        let b = create_new(dir.path(), "b", now).unwrap();
        let version =
            |p: &Path| version_of(&p.file_name().unwrap().to_string_lossy()).map(String::from);
        assert_ne!(version(&a), version(&b));
        assert!(load_dir(dir.path()).is_ok());
    }

    #[test]
    fn a_baseline_file_parses_as_a_baseline() {
        let text = baseline_text(
            "alpha/app",
            "2026-11-24",
            "CREATE TABLE public.t (id int);\n",
        );
        let m = parse(Path::new("20261124000000_baseline.sql"), text.as_bytes()).unwrap();
        assert!(m.baseline);
        assert_eq!(m.up[0].sql.matches("CREATE TABLE").count(), 1);
        assert!(m.down.iter().all(Section::is_empty));
    }

    #[test]
    fn versions_follow_dbmates_pattern() {
        assert_eq!(version_of("20240101_init.sql"), Some("20240101"));
        assert_eq!(version_of("001.sql"), Some("001"));
        assert_eq!(version_of("init.sql"), None);
        assert_eq!(version_of("001_init.sql.bak"), None);
        assert_eq!(version_of("001_init.txt"), None);
    }

    #[test]
    fn timeouts_parse_like_postgres_settings() {
        assert_eq!(Timeout::parse("30s"), Some(Timeout { millis: 30_000 }));
        assert_eq!(Timeout::parse("500ms"), Some(Timeout { millis: 500 }));
        assert_eq!(Timeout::parse("2min"), Some(Timeout { millis: 120_000 }));
        assert_eq!(Timeout::parse("250"), None);
        assert!(Timeout::needs_unit("250") && !Timeout::needs_unit("0"));
        assert_eq!(Timeout::parse("0"), Some(Timeout { millis: 0 }));
        assert_eq!(Timeout::parse("off"), Some(Timeout { millis: 0 }));
        assert_eq!(Timeout::parse("soon"), None);
        assert_eq!(Timeout::parse("5 parsecs"), None);
        assert_eq!(Timeout { millis: 90_000 }.to_string(), "90s");
    }

    #[test]
    fn positions_map_into_the_file() {
        let s = Section {
            direction: Direction::Up,
            options: SectionOptions::default(),
            sql: "-- migrate:up\nselect 1;\nselect bogus;\n".into(),
            start_line: 3,
            spans: Memo::default(),
        };
        // "bogus" starts at character 31 (0-based) → line 5, column 8.
        let offset = s.sql.find("bogus").unwrap();
        assert_eq!(s.file_position(offset), (5, 8));
    }
}
