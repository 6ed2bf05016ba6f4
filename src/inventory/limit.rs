//! `--limit`: glob patterns over host names, group names and `host/database` target ids;
//! `!pattern` excludes.

use std::collections::HashMap;

use globset::{GlobBuilder, GlobMatcher};

use super::{Host, Inventory, InventoryError, Target};

struct Pattern {
    text: String,
    exclude: bool,
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
    let any_include = patterns.iter().any(|p| !p.exclude);
    let selected: Vec<&Target> = inv
        .targets
        .iter()
        .zip(&ids)
        .filter(|(t, id)| {
            let included = !any_include || patterns.iter().any(|p| !p.exclude && matches(p, t, id));
            included && !patterns.iter().any(|p| p.exclude && matches(p, t, id))
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
    for text in limit.iter().flat_map(|l| l.split(',')) {
        let text = text.trim();
        let (exclude, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(InventoryError::new(format!(
                "--limit has an empty pattern{}; write a host, group or host/database, e.g. --limit 'nas*,!nas/old'",
                if exclude { " after !" } else { "" }
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
            exclude,
            glob,
            everything: body == "all",
        });
    }
    Ok(patterns)
}

fn nothing_matches(
    p: &Pattern,
    inv: &Inventory,
    groups: &[&str],
    ids: &[String],
) -> InventoryError {
    let body = p.text.trim_start_matches('!').trim();
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
    InventoryError::new(format!(
        "--limit `{}` matches no host, group or target{hint}. Hosts: {}. Groups: {}. Targets: {}.",
        p.text,
        list(&hosts),
        list(groups),
        list(&id_refs)
    ))
}
