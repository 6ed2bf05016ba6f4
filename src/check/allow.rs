//! `-- pgfleet:allow RULE[,RULE] REASON`: a finding accepted, with the reason written down.
//! In the header (before `-- migrate:up`) it covers the whole file; in a section, the
//! statement it stands before. The reason is required: it is what the next reviewer reads.

use super::rules::{self, RULES};
use super::{Config, Finding, Placed, Severity, Text, statements};

struct Allow {
    rules: Vec<&'static str>,
    reason: String,
    /// Bytes the allow covers: the whole file, or one statement.
    covers: std::ops::Range<usize>,
    /// The comment itself, for findings about it.
    at: std::ops::Range<usize>,
    used: bool,
}

const PREFIX: &str = "pgfleet:allow";

/// Marks the findings an allow covers, and adds findings about the allows themselves.
pub(super) fn apply(text: &Text, placed: &[Placed], findings: &mut Vec<Finding>, config: &Config) {
    let header_end = placed.iter().map(|p| p.offset).min().unwrap_or(0);
    let mut allows = Vec::new();
    let mut offset = 0;
    for line in text.text.split_inclusive('\n') {
        let at = offset..offset + line.trim_end().len();
        offset += line.len();
        let Some(rest) = line
            .trim()
            .strip_prefix("--")
            .map(str::trim_start)
            .and_then(|l| l.strip_prefix(PREFIX))
        else {
            continue;
        };
        let start = at.start + (line.len() - line.trim_start().len());
        let at = start..at.end;
        let covers = if at.start < header_end {
            0..text.text.len()
        } else {
            // The statement it stands in or before (the next one that ends after it).
            placed
                .iter()
                .flat_map(statements)
                .map(|(o, sql)| o..o + sql.len())
                .find(|r| r.end > at.start)
                .map_or(at.clone(), |r| r.start.min(at.start)..r.end)
        };
        match parse(rest) {
            Ok((rules, reason)) => allows.push(Allow {
                rules,
                reason,
                covers,
                at,
                used: false,
            }),
            Err(why) => findings.push(
                text.finding(
                    "bad-allow",
                    Severity::Error,
                    at,
                    why,
                    RULES
                        .iter()
                        .find(|r| r.id == "bad-allow")
                        .map_or(String::new(), |r| r.help.to_string()),
                ),
            ),
        }
    }
    for f in findings.iter_mut() {
        if matches!(f.rule, "bad-allow" | "unused-allow") {
            continue;
        }
        if let Some(a) = allows
            .iter_mut()
            .find(|a| a.rules.contains(&f.rule) && a.covers.contains(&f.span.start))
        {
            a.used = true;
            f.allowed = Some(a.reason.clone());
        }
    }
    if config.is_active("unused-allow") {
        for a in allows.iter().filter(|a| !a.used) {
            findings.push(
                text.finding(
                    "unused-allow",
                    Severity::Warning,
                    a.at.clone(),
                    format!(
                        "this allows {} but nothing here has that finding",
                        a.rules.join(", ")
                    ),
                    RULES
                        .iter()
                        .find(|r| r.id == "unused-allow")
                        .map_or(String::new(), |r| r.help.to_string()),
                ),
            );
        }
    }
    findings.retain(|f| config.is_active(f.rule));
}

/// `RULE[,RULE] REASON` → the rules and the reason, or what is wrong with it.
fn parse(rest: &str) -> Result<(Vec<&'static str>, String), String> {
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!(
            "`{PREFIX}{rest}` is not an allow: write `-- {PREFIX} RULE REASON`"
        ));
    }
    let rest = rest.trim();
    let (ids, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if ids.is_empty() {
        return Err("this allow names no rule: write `-- pgfleet:allow RULE REASON`".into());
    }
    let mut found = Vec::new();
    for id in ids.split(',').filter(|i| !i.is_empty()) {
        found.push(rules::find(id)?.id);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(format!(
            "this allow of {ids} gives no reason: write why it is safe after the rule id"
        ));
    }
    Ok((found, reason.to_string()))
}
