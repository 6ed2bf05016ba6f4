//! `check`'s findings in each format: compiler-style text (annotate-snippets, rustc's
//! renderer), JSON, GitHub workflow commands and SARIF 2.1.0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer as Snippets, Snippet};
use serde_json::{Value, json};

use super::{Renderer, Run, Stream};
use crate::check::{Checked, Finding, RULES, Severity};
use crate::runner::RunEvent;
use crate::settings::Format;

/// The text report: each finding as a compiler prints a diagnostic, then a count.
pub(super) fn text(checked: &Checked, deny: Severity, color: bool) -> Vec<String> {
    let renderer = if color {
        Snippets::styled()
    } else {
        Snippets::plain()
    };
    let mut lines = Vec::new();
    for f in checked.findings.iter().filter(|f| f.allowed.is_none()) {
        let source = checked.sources.get(&f.file).map_or("", String::as_str);
        lines.push(renderer.render(&diagnostic(f, source)));
        lines.push(String::new());
    }
    lines.push(tally(checked, deny));
    lines
}

fn level(severity: Severity) -> Level<'static> {
    match severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Info => Level::NOTE,
    }
}

fn diagnostic<'a>(f: &'a Finding, source: &'a str) -> Vec<Group<'a>> {
    let path = f.file.to_string_lossy();
    // An empty span (a finding at the end of the file) still needs a caret.
    let span = if f.span.is_empty() && f.span.end < source.len() {
        f.span.start..f.span.start + 1
    } else {
        f.span.clone()
    };
    let label = f.lock_note.as_deref();
    let mut group = level(f.severity)
        .primary_title(f.message.as_str())
        .id(f.rule)
        .element(
            Snippet::source(source)
                .path(path)
                .annotation(AnnotationKind::Primary.span(span).label(label)),
        );
    if !f.help.is_empty() {
        group = group.element(Level::HELP.message(f.help.as_str()));
    }
    vec![group]
}

/// "2 errors, 1 warning in 5 files (1 allowed); failing at warning" or "5 files: no findings".
fn tally(checked: &Checked, deny: Severity) -> String {
    let count = |s: Severity| checked.count(s);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let files = plural(checked.files, "file");
    let allowed = checked.allowed();
    let allowed = if allowed > 0 {
        format!(" ({allowed} allowed)")
    } else {
        String::new()
    };
    let parts: Vec<String> = [
        (Severity::Error, "error"),
        (Severity::Warning, "warning"),
        (Severity::Info, "note"),
    ]
    .into_iter()
    .filter(|(s, _)| count(*s) > 0)
    .map(|(s, w)| plural(count(s), w))
    .collect();
    if parts.is_empty() {
        return format!("Checked {files}: no findings{allowed}");
    }
    let denied = checked.denied(deny);
    let verdict = if denied > 0 {
        format!("{denied} at or above --deny {}", deny.name())
    } else {
        format!("none at or above --deny {}", deny.name())
    };
    format!("Checked {files}: {}{allowed}; {verdict}", parts.join(", "))
}

/// One finding on one line, for the progress output of `up` and `plan`.
pub(super) fn one_line(f: &Finding) -> String {
    let mut line = format!(
        "{}:{}:{}: {}[{}]: {}",
        f.file.display(),
        f.line,
        f.column,
        f.severity.name(),
        f.rule,
        f.message
    );
    if let Some(note) = &f.lock_note {
        line.push_str(&format!(" ({note})"));
    }
    if !f.help.is_empty() {
        line.push_str(&format!("; help: {}", f.help));
    }
    line
}

pub(super) fn finding_json(f: &Finding) -> Value {
    let source = RULES
        .iter()
        .find(|r| r.id == f.rule)
        .map_or("squawk", |r| r.source.name());
    json!({
        "rule": f.rule,
        "source": source,
        "severity": f.severity.name(),
        "file": f.file.display().to_string(),
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "message": f.message,
        "help": f.help,
        "locks": f.locks.iter().map(|l| json!({"relation": l.relation, "mode": l.mode.name()})).collect::<Vec<_>>(),
        "held_until_commit": f.held_to_commit,
        "lock_note": f.lock_note,
        "statement": f.statement,
        "allowed": f.allowed,
    })
}

/// The fields after the common ones of every document (`schema`, `command`…).
pub(super) fn document_fields(checked: &Checked, deny: Severity) -> Value {
    let count = |s: Severity| checked.count(s);
    json!({
        "deny": deny.name(),
        "files_checked": checked.files,
        "counts": {
            "error": count(Severity::Error),
            "warning": count(Severity::Warning),
            "info": count(Severity::Info),
            "allowed": checked.allowed(),
        },
        "findings": checked.findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}

/// A property value of a workflow command, escaped as GitHub's toolkit escapes it.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn shown<'a>(file: &'a Path, repo_paths: &'a BTreeMap<PathBuf, String>) -> String {
    repo_paths
        .get(file)
        .cloned()
        .unwrap_or_else(|| file.to_string_lossy().into_owned())
        .replace('\\', "/")
        .trim_start_matches("./")
        .to_string()
}

/// `::warning file=…,line=…::message` per finding not allowed: GitHub shows each on the
/// pull request's line.
pub(super) fn github(checked: &Checked, repo_paths: &BTreeMap<PathBuf, String>) -> Vec<String> {
    checked
        .findings
        .iter()
        .filter(|f| f.allowed.is_none())
        .map(|f| {
            let command = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut props = vec![
                format!("file={}", escape_property(&shown(&f.file, repo_paths))),
                format!("line={}", f.line),
                format!("endLine={}", f.end_line),
            ];
            // GitHub reads columns only on a one-line annotation.
            if f.line == f.end_line {
                props.push(format!("col={}", f.column));
                props.push(format!("endColumn={}", f.end_column));
            }
            props.push(format!(
                "title={}",
                escape_property(&format!("pgfleet check: {}", f.rule))
            ));
            let mut message = f.message.clone();
            if let Some(note) = &f.lock_note {
                message.push_str(&format!("\n({note})"));
            }
            if !f.help.is_empty() {
                message.push_str(&format!("\nhelp: {}", f.help));
            }
            format!("::{command} {}::{}", props.join(","), escape_data(&message))
        })
        .collect()
}

/// A SARIF 2.1.0 log, as GitHub code scanning (`upload-sarif`) reads it.
pub(super) fn sarif(checked: &Checked, repo_paths: &BTreeMap<PathBuf, String>) -> Value {
    let mut used: Vec<&str> = checked.findings.iter().map(|f| f.rule).collect();
    used.sort_unstable();
    used.dedup();
    let rules: Vec<Value> = used
        .iter()
        .map(|id| {
            let info = RULES.iter().find(|r| r.id == *id);
            json!({
                "id": id,
                "shortDescription": {"text": info.map_or(*id, |r| r.summary)},
                "help": {"text": info.map_or("", |r| r.help)},
            })
        })
        .collect();
    let results: Vec<Value> = checked
        .findings
        .iter()
        .map(|f| {
            let mut message = f.message.clone();
            if let Some(note) = &f.lock_note {
                message.push_str(&format!(" ({note})"));
            }
            if !f.help.is_empty() {
                message.push_str(&format!(" Help: {}", f.help));
            }
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": used.iter().position(|u| *u == f.rule),
                "level": match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "note",
                },
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": shown(&f.file, repo_paths)},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        }
                    }
                }],
            });
            if let Some(reason) = &f.allowed {
                result["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pgfleet",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// `--format github` and `--format sarif`: `check`'s own formats.
pub(super) struct CheckFormats {
    out: Stream,
    format: Format,
}

impl CheckFormats {
    pub(super) fn new(out: Stream, format: Format) -> CheckFormats {
        CheckFormats { out, format }
    }
}

impl Renderer for CheckFormats {
    fn event(&mut self, _run: Option<&Run>, event: &RunEvent<'_>) {
        let RunEvent::Checked {
            checked,
            deny,
            repo_paths,
            ..
        } = event
        else {
            return;
        };
        match self.format {
            Format::Sarif => self.out.line(&sarif(checked, repo_paths).to_string()),
            _ => {
                self.out.lines(github(checked, repo_paths));
                // The log shows the findings in full too, and the count.
                self.out.lines(text(checked, *deny, false));
            }
        }
    }
}
