//! `pgfleet check`: finds dangerous and broken migrations without a database. Pure: it
//! takes the files' bytes (and, for the history rules, the names around them) and returns
//! findings; `settings` reads the files and asks git, `report` renders.
//!
//! Lock and breaking-change rules come from squawk (`squawk.rs`, the only importer of
//! squawk's crates); what needs dbmate's sections, `transaction:false`, the table a lock
//! falls on or the folder's history is pgfleet's own (`own.rs`, `history.rs`).

mod allow;
mod history;
mod own;
pub mod rules;
mod squawk;
mod types;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use crate::migration::locks::{Lock, Locks, statement_locks};
use crate::migration::{self, Direction, ParseError, split_statements};
pub use history::{Folder, Since};
pub use rules::{RULES, RuleInfo, Source};

/// How much a finding matters. Ordered: `--deny LEVEL` counts findings at or above LEVEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: PathBuf,
    /// Bytes of the file's normalised text (`migration::normalize`), end exclusive.
    pub span: Range<usize>,
    /// 1-based; columns count characters.
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// What is wrong, and why it is dangerous.
    pub message: String,
    /// The safe alternative.
    pub help: String,
    /// The table locks of the statement the finding is in, as it names the tables.
    pub locks: Vec<Lock>,
    /// True when those locks are held until the migration commits (a transactional section).
    pub held_to_commit: bool,
    /// The locks in words: "takes ACCESS EXCLUSIVE on orders, held until the migration
    /// commits" (also where the table is not named, as for DROP INDEX).
    pub lock_note: Option<String>,
    /// The statement's first line, when the finding is in one.
    pub statement: Option<String>,
    /// `-- pgfleet:allow RULE reason`: the reason given. Allowed findings never count.
    pub allowed: Option<String>,
}

impl Finding {
    /// Counts toward `--deny`: not allowed, and at or above the level.
    pub fn denied(&self, deny: Severity) -> bool {
        self.allowed.is_none() && self.severity >= deny
    }
}

/// One file to check: its path as the user named it, and its bytes.
#[derive(Debug)]
pub struct Input {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Which rules run, and at which severity. Built from `--enable` / `--disable`, validated
/// before anything is read.
#[derive(Debug, Clone)]
pub struct Config {
    active: BTreeMap<&'static str, Severity>,
    /// The oldest PostgreSQL major version the files must run on (squawk's version logic).
    pub pg_version: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            active: RULES
                .iter()
                .filter_map(|r| r.default.map(|s| (r.id, s)))
                .collect(),
            pg_version: 15,
        }
    }
}

impl Config {
    /// The default rules, plus `enable`, minus `disable` (rule ids; `all` in `enable` turns
    /// every rule on). An unknown id is an error naming the closest known one.
    pub fn new(enable: &[String], disable: &[String], pg_version: u32) -> Result<Config, String> {
        let mut config = Config {
            pg_version,
            ..Config::default()
        };
        for id in enable {
            if id == "all" {
                for r in RULES {
                    config.active.entry(r.id).or_insert(r.enabled_severity());
                }
                continue;
            }
            let r = rules::find(id)?;
            config.active.entry(r.id).or_insert(r.enabled_severity());
        }
        for id in disable {
            let r = rules::find(id)?;
            config.active.remove(r.id);
        }
        Ok(config)
    }

    fn severity(&self, rule: &str) -> Option<Severity> {
        self.active.get(rule).copied()
    }

    pub fn is_active(&self, rule: &str) -> bool {
        self.active.contains_key(rule)
    }
}

/// What a check found: every finding (allowed ones too), in file and position order.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub files: usize,
    pub findings: Vec<Finding>,
    /// The normalised text of each file with findings, which their spans point into.
    pub sources: BTreeMap<PathBuf, String>,
}

impl Checked {
    /// Findings of this severity that no allow accepted.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.allowed.is_none() && f.severity == severity)
            .count()
    }

    /// Findings an allow accepted.
    pub fn allowed(&self) -> usize {
        self.findings.iter().filter(|f| f.allowed.is_some()).count()
    }

    /// The findings that fail the check at `deny`.
    pub fn denied(&self, deny: Severity) -> usize {
        self.findings.iter().filter(|f| f.denied(deny)).count()
    }
}

/// Checks `inputs` (and, with `folders`, their history). `since`: only files added or
/// changed since a git ref are in `inputs`; the history rules use it.
pub fn check(
    inputs: &[Input],
    folders: &[Folder],
    since: Option<&Since>,
    config: &Config,
) -> Checked {
    let mut findings = Vec::new();
    let mut sources = BTreeMap::new();
    let mut before = types_before(inputs, folders);
    for input in inputs {
        let types = before.remove(&input.path).unwrap_or_default();
        let found = check_file(input, folders, since, config, types);
        if !found.is_empty() {
            let text = migration::normalize(&String::from_utf8_lossy(&input.bytes));
            sources.insert(input.path.clone(), text);
        }
        findings.extend(found);
    }
    findings.sort_by(|a, b| (&a.file, a.span.start, a.rule).cmp(&(&b.file, b.span.start, b.rule)));
    Checked {
        files: inputs.len(),
        findings,
        sources,
    }
}

/// True when a statement of `sql` cannot run inside a transaction block (`CREATE INDEX
/// CONCURRENTLY`, `VACUUM`, …): its file needs `transaction:false`.
pub fn needs_no_transaction(sql: &str) -> bool {
    split_statements(sql)
        .iter()
        .filter_map(|s| own::node(s.sql))
        .any(|n| own::needs_no_transaction(&n).is_some())
}

/// The column types each input's earlier neighbours leave (nothing known for an input
/// outside the folders given).
fn types_before(
    inputs: &[Input],
    folders: &[Folder],
) -> std::collections::HashMap<PathBuf, types::Types> {
    let mut out = std::collections::HashMap::new();
    for folder in folders {
        let mut types = types::Types::default();
        for (name, bytes) in &folder.files {
            let path = folder.dir.join(name);
            if inputs.iter().any(|i| i.path == path) {
                out.insert(path.clone(), types.clone());
            }
            let Ok(m) = migration::parse(&path, bytes) else {
                continue;
            };
            for section in &m.up {
                for s in section.statements() {
                    types.apply(s.sql);
                }
            }
        }
    }
    out
}

/// A file's text as pgfleet reads it, and where it is: positions are found in this.
pub(crate) struct Text<'a> {
    pub(crate) path: &'a std::path::Path,
    pub(crate) text: String,
}

impl Text<'_> {
    /// The 1-based line and character column of byte `at`.
    pub(crate) fn position(&self, at: usize) -> (usize, usize) {
        let at = floor_char_boundary(&self.text, at.min(self.text.len()));
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[start..].chars().count() + 1)
    }

    /// Byte offset of the start of 1-based `line`.
    pub(crate) fn line_start(&self, line: usize) -> usize {
        if line <= 1 {
            return 0;
        }
        self.text
            .match_indices('\n')
            .nth(line - 2)
            .map_or(self.text.len(), |(i, _)| i + 1)
    }

    /// A finding over `span`, with no lock or statement yet.
    pub(crate) fn finding(
        &self,
        rule: &'static str,
        severity: Severity,
        span: Range<usize>,
        message: String,
        help: String,
    ) -> Finding {
        let (line, column) = self.position(span.start);
        let (end_line, end_column) = self.position(span.end);
        Finding {
            rule,
            severity,
            file: self.path.to_path_buf(),
            span,
            line,
            column,
            end_line,
            end_column,
            message,
            help,
            locks: Vec::new(),
            held_to_commit: false,
            lock_note: None,
            statement: None,
            allowed: None,
        }
    }
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One section of the file, placed in the file's text.
pub(crate) struct Placed<'m> {
    pub section: &'m migration::Section,
    /// Byte offset of the section's text (its marker line) in the file.
    pub offset: usize,
}

impl Placed<'_> {
    pub(crate) fn transactional(&self) -> bool {
        self.section.options.transaction
    }

    pub(crate) fn is_up(&self) -> bool {
        self.section.direction == Direction::Up
    }
}

fn check_file(
    input: &Input,
    folders: &[Folder],
    since: Option<&Since>,
    config: &Config,
    types: types::Types,
) -> Vec<Finding> {
    let text = Text {
        path: &input.path,
        text: migration::normalize(&String::from_utf8_lossy(&input.bytes)),
    };
    let history = history::findings(&text, folders, since);
    let migration = match migration::parse(&input.path, &input.bytes) {
        Ok(m) => m,
        Err(e) => {
            let mut findings = vec![file_format(&text, &e)];
            findings.extend(history);
            findings.retain(|f| config.is_active(f.rule));
            return findings;
        }
    };
    let placed: Vec<Placed> = migration
        .up
        .iter()
        .chain(&migration.down)
        .map(|section| Placed {
            section,
            offset: text.line_start(section.start_line),
        })
        .collect();
    let mut findings = own::findings(&text, &migration, &placed);
    findings.extend(squawk::findings(&text, &migration, &placed, config));
    own::type_changes(&text, &placed, types, &mut findings);
    findings.extend(history);
    findings.retain(|f| config.is_active(f.rule));
    add_statements(&mut findings, &placed);
    allow::apply(&text, &placed, &mut findings, config);
    for f in &mut findings {
        if let Some(severity) = config.severity(f.rule) {
            f.severity = severity;
        }
    }
    findings
}

/// A file pgfleet cannot read as a migration: one finding, where the parser stopped.
fn file_format(text: &Text, e: &ParseError) -> Finding {
    let start = if e.line == 0 {
        0
    } else {
        let line = text.line_start(e.line);
        let rest = &text.text[line..];
        let skip: usize = rest
            .chars()
            .take(e.column.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        line + skip
    };
    let end = text.text[start..]
        .find('\n')
        .map_or(text.text.len(), |i| start + i);
    let mut f = text.finding(
        "file-format",
        Severity::Error,
        start..end,
        e.kind.to_string(),
        "fix the file: pgfleet, dbmate and `up` would refuse it as it is".into(),
    );
    if e.line == 0 {
        // The whole file: point at its first line.
        f.span = 0..text.text.find('\n').unwrap_or(text.text.len());
    }
    f
}

/// Names each finding's statement, and the locks it takes (up sections only: a down section
/// runs on rollback, when its locks are expected).
fn add_statements(findings: &mut [Finding], placed: &[Placed]) {
    for p in placed {
        let end = p.offset + p.section.sql.len();
        let statements = p.section.statements();
        for f in findings
            .iter_mut()
            .filter(|f| (p.offset..end).contains(&f.span.start))
        {
            let at = f.span.start - p.offset;
            let Some(stmt) = statements
                .iter()
                .find(|s| (s.offset..s.offset + s.sql.len()).contains(&at))
            else {
                continue;
            };
            f.statement = Some(stmt.summary());
            if p.is_up() && rules::takes_locks(f.rule) {
                let described = match statement_locks(stmt.sql) {
                    Locks::Takes(locks) if !locks.is_empty() => {
                        let text = Locks::Takes(locks.clone()).describe(str::to_string);
                        f.locks = locks;
                        Some(text)
                    }
                    _ => own::index_locks(stmt.sql),
                };
                f.held_to_commit = p.transactional();
                f.lock_note = described.map(|d| {
                    if f.held_to_commit {
                        format!("takes {d}, held until the migration commits")
                    } else {
                        format!("takes {d}")
                    }
                });
            }
        }
    }
}

/// The statements of an up or down section, placed in the file.
pub(crate) fn statements<'a>(p: &'a Placed) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    p.section
        .statements()
        .into_iter()
        .map(move |s| (p.offset + s.offset, s.sql))
}

/// The span of a statement's body (leading comments and white space left out, the final
/// `;` too): what a finding about the whole statement underlines.
pub(crate) fn body_span(offset: usize, sql: &str) -> Range<usize> {
    let lead = sql.len() - sql.trim_start().len();
    let mut start = lead;
    for line in sql[lead..].split_inclusive('\n') {
        if line.trim_start().starts_with("--") {
            start += line.len();
            start += sql[start..].len() - sql[start..].trim_start().len();
        } else {
            break;
        }
    }
    let body = sql[start..].trim_end().trim_end_matches(';').trim_end();
    offset + start..offset + start + body.len()
}

#[cfg(test)]
mod tests;
