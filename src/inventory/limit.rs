//! `--limit`: glob patterns over host names, group names and `host/database` target ids;
//! `!pattern` excludes, `&pattern` intersects. Patterns are separated by `,` or, as Ansible
//! writes them, by `:` (`lab:&db:!nas`).

use std::collections::HashMap;

use globset::{GlobBuilder, GlobMatcher};

use super::{Host, Inventory, InventoryError, Target};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Include,
    /// `!pattern`
    Exclude,
    /// `&pattern`: only what this matches too.
    Intersect,
}

struct Pattern {
    text: String,
    kind: Kind,
    glob: GlobMatcher,
    /// The literal `all`: Ansible's implicit group of every host (a glob such as `a*`
    /// does not reach it).
    everything: bool,
}

/// The targets `limit` selects, in inventory order; all of them when `limit` is empty.
/// Entries may hold several comma-separated patterns. A pattern matching no host, group or
/// target of the inventory is an error (a typo would otherwise select nothing, or
/// everything), and so is a selection left empty.
pub fn select<'a>(inv: &'a Inventory, limit: &[String]) -> Result<Vec<&'a Target>, InventoryError> {
    let patterns = parse(limit)?;
    if patterns.is_empty() {
        return Ok(inv.targets.iter().collect());
    }
    let hosts: HashMap<&str, &Host> = inv.hosts.iter().map(|h| (h.name.as_str(), h)).collect();
    let mut groups: Vec<&str> = Vec::new();
    for h in &inv.hosts {
        for g in &h.groups {
            if !groups.contains(&g.as_str()) {
                groups.push(g);
            }
        }
    }
    let ids: Vec<String> = inv.targets.iter().map(Target::id).collect();

    for p in &patterns {
        let matched = p.everything
            || inv.hosts.iter().any(|h| p.glob.is_match(&h.name))
            || groups.iter().any(|g| p.glob.is_match(g))
            || ids.iter().any(|id| p.glob.is_match(id));
        if !matched {
            return Err(nothing_matches(p, inv, &groups, &ids));
        }
    }

    let matches = |p: &Pattern, t: &Target, id: &str| {
        p.everything
            || p.glob.is_match(&t.host)
            || p.glob.is_match(id)
            || hosts
                .get(t.host.as_str())
                .is_some_and(|h| h.groups.iter().any(|g| p.glob.is_match(g)))
    };
    let any_include = patterns.iter().any(|p| p.kind == Kind::Include);
    let selected: Vec<&Target> = inv
        .targets
        .iter()
        .zip(&ids)
        .filter(|(t, id)| {
            let of = |kind: Kind| patterns.iter().filter(move |p| p.kind == kind);
            let included = !any_include || of(Kind::Include).any(|p| matches(p, t, id));
            included
                && of(Kind::Intersect).all(|p| matches(p, t, id))
                && !of(Kind::Exclude).any(|p| matches(p, t, id))
        })
        .map(|(t, _)| t)
        .collect();
    if selected.is_empty() {
        let shown: Vec<&str> = patterns.iter().map(|p| p.text.as_str()).collect();
        return Err(InventoryError::new(format!(
            "--limit {} selects none of the {} targets; loosen the patterns (`pgfleet inventory` lists them)",
            shown.join(","),
            inv.targets.len()
        )));
    }
    Ok(selected)
}

fn parse(limit: &[String]) -> Result<Vec<Pattern>, InventoryError> {
    let mut patterns = Vec::new();
    for text in limit
        .iter()
        .flat_map(|l| l.split(','))
        .flat_map(split_colons)
    {
        let text = text.trim();
        let (kind, body) = if let Some(rest) = text.strip_prefix('!') {
            (Kind::Exclude, rest.trim())
        } else if let Some(rest) = text.strip_prefix('&') {
            (Kind::Intersect, rest.trim())
        } else {
            (Kind::Include, text)
        };
        if body.is_empty() {
            return Err(InventoryError::new(format!(
                "--limit has an empty pattern{}; write a host, group or host/database, e.g. --limit 'nas*,!nas/old'",
                match kind {
                    Kind::Exclude => " after !",
                    Kind::Intersect => " after &",
                    Kind::Include => "",
                }
            )));
        }
        let glob = GlobBuilder::new(body)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                InventoryError::new(format!(
                    "--limit `{text}`: {}; write a host, group or host/database, with * ? [abc] {{a,b}} as wildcards",
                    e.kind()
                ))
            })?
            .compile_matcher();
        patterns.push(Pattern {
            text: text.to_owned(),
            kind,
            glob,
            everything: body == "all",
        });
    }
    Ok(patterns)
}

/// Ansible's `:` separator, outside `[…]` (a glob class such as `[1:3]` keeps its colon).
/// An empty piece stays, so that `a::b` is reported as an empty pattern.
fn split_colons(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                pieces.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    pieces
}

fn nothing_matches(
    p: &Pattern,
    inv: &Inventory,
    groups: &[&str],
    ids: &[String],
) -> InventoryError {
    let body = p.text.trim_start_matches(['!', '&']).trim();
    let hosts: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    let mut candidates: Vec<&str> = hosts.clone();
    candidates.extend(groups);
    candidates.extend(ids.iter().map(String::as_str));
    let hint = match crate::suggest(body, &candidates) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    };
    let list = |items: &[&str]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut message = format!(
        "--limit `{}` matches no host, group or target{hint}. Hosts: {}. Groups: {}. Targets: {}.",
        p.text,
        list(&hosts),
        list(groups),
        list(&id_refs)
    );
    if !inv.skipped.is_empty() {
        let skipped: Vec<&str> = inv.skipped.iter().map(String::as_str).collect();
        message.push_str(&format!(
            " Not targets (no pgfleet_databases): {}.",
            list(&skipped)
        ));
    }
    InventoryError::new(message)
}
