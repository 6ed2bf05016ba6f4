//! `--limit`: patterns over host names, group names and `host/database` target ids, as
//! Ansible takes them: globs, `~regex` (matched from the start of a name), `all`, and a
//! subscript picking hosts by position among those a pattern matches (`lab[0]`, `lab[-1]`,
//! `lab[1:3]`, both ends included, `lab[2:]`); `!pattern` excludes, `&pattern` intersects.
//! Patterns are separated by `,` or, as Ansible writes them, by `:` (`lab:&db:!nas`), and
//! `@FILE` reads more from a file, one or more per line (Ansible's retry files).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;

use super::{Host, Inventory, InventoryError, Target};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Include,
    /// `!pattern`
    Exclude,
    /// `&pattern`: only what this matches too.
    Intersect,
}

enum Matcher {
    Glob(GlobMatcher),
    /// `~regex`, anchored at the start as Python's `re.match`, which Ansible uses.
    Regex(Regex),
    /// The literal `all`: Ansible's implicit group of every host (a glob such as `a*`
    /// does not reach it).
    Everything,
}

impl Matcher {
    fn is_match(&self, name: &str) -> bool {
        match self {
            Matcher::Glob(g) => g.is_match(name),
            Matcher::Regex(r) => r.is_match(name),
            Matcher::Everything => true,
        }
    }
}

/// `[N]` (negative: from the end) or `[A:B]` (B included; none: to the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subscript {
    One(i64),
    Range(usize, Option<usize>),
}

struct Pattern {
    text: String,
    kind: Kind,
    matcher: Matcher,
    subscript: Option<Subscript>,
}

/// The targets `limit` selects, in inventory order; all of them when `limit` is empty.
/// Entries may hold several comma-separated patterns. A pattern matching no host, group or
/// target of the inventory is an error (a typo would otherwise select nothing, or
/// everything), and so are a subscript past the hosts matched and a selection left empty.
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
        let matched = matches!(p.matcher, Matcher::Everything)
            || inv.hosts.iter().any(|h| p.matcher.is_match(&h.name))
            || groups.iter().any(|g| p.matcher.is_match(g))
            || ids.iter().any(|id| p.matcher.is_match(id));
        if !matched {
            return Err(nothing_matches(p, inv, &groups, &ids));
        }
    }

    let base = |p: &Pattern, t: &Target, id: &str| {
        p.matcher.is_match(&t.host)
            || p.matcher.is_match(id)
            || hosts
                .get(t.host.as_str())
                .is_some_and(|h| h.groups.iter().any(|g| p.matcher.is_match(g)))
    };
    // A subscript picks among the hosts (in inventory order) that have a target the
    // pattern matches.
    let mut picked: Vec<Option<HashSet<&str>>> = Vec::with_capacity(patterns.len());
    for p in &patterns {
        picked.push(match p.subscript {
            None => None,
            Some(subscript) => {
                let mut matched: Vec<&str> = Vec::new();
                for (t, id) in inv.targets.iter().zip(&ids) {
                    if base(p, t, id) && !matched.contains(&t.host.as_str()) {
                        matched.push(&t.host);
                    }
                }
                Some(pick(p, subscript, &matched)?)
            }
        });
    }
    let matches = |k: usize, t: &Target, id: &str| {
        let p = &patterns[k];
        base(p, t, id)
            && picked[k]
                .as_ref()
                .is_none_or(|h| h.contains(t.host.as_str()))
    };
    let any_include = patterns.iter().any(|p| p.kind == Kind::Include);
    let selected: Vec<&Target> = inv
        .targets
        .iter()
        .zip(&ids)
        .filter(|(t, id)| {
            let patterns = &patterns;
            let of = |kind: Kind| (0..patterns.len()).filter(move |&k| patterns[k].kind == kind);
            let included = !any_include || of(Kind::Include).any(|k| matches(k, t, id));
            included
                && of(Kind::Intersect).all(|k| matches(k, t, id))
                && !of(Kind::Exclude).any(|k| matches(k, t, id))
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

/// The hosts a subscript picks from `matched`; none is an error, as in Ansible.
fn pick<'h>(
    p: &Pattern,
    subscript: Subscript,
    matched: &[&'h str],
) -> Result<HashSet<&'h str>, InventoryError> {
    let n = matched.len();
    // As Python slices: a range past the end stops there; one host past it is an error.
    let (start, end) = match subscript {
        Subscript::One(i) if i < 0 => match n.checked_sub(i.unsigned_abs() as usize) {
            Some(k) => (k, k + 1),
            None => (n, n),
        },
        Subscript::One(i) => (i as usize, i as usize + 1),
        Subscript::Range(a, b) => (a, b.map_or(n, |b| b.saturating_add(1)).min(n)),
    };
    if start < end && end <= n {
        return Ok(matched[start..end].iter().copied().collect());
    }
    Err(InventoryError::new(format!(
        "--limit `{}` picks no host: the pattern matches {n} host{} ({}), counted from 0 (and from -1 at the end); pick within them",
        p.text,
        if n == 1 { "" } else { "s" },
        matched.join(", ")
    )))
}

fn parse(limit: &[String]) -> Result<Vec<Pattern>, InventoryError> {
    let mut texts: Vec<String> = Vec::new();
    for piece in pieces(limit.iter().map(String::as_str)) {
        match piece.strip_prefix('@') {
            Some(path) => texts.extend(from_file(piece, Path::new(path.trim()))?),
            None => texts.push(piece.to_owned()),
        }
    }
    let mut patterns = Vec::new();
    for text in &texts {
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
        let (body, subscript) = match body.strip_prefix('~') {
            Some(_) => (body, None),
            None => split_subscript(body),
        };
        let matcher = if let Some(re) = body.strip_prefix('~') {
            Matcher::Regex(Regex::new(&format!("^(?:{re})")).map_err(|e| {
                InventoryError::new(format!(
                    "--limit `{text}` is not a regular expression: {}; write ~ and a regular expression, matched from the start of a name (e.g. ~web[0-9]+)",
                    e.to_string().lines().last().unwrap_or_default().trim_start_matches("error: ")
                ))
            })?)
        } else if body == "all" {
            Matcher::Everything
        } else {
            Matcher::Glob(
                GlobBuilder::new(body)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| {
                        InventoryError::new(format!(
                            "--limit `{text}`: {}; write a host, group or host/database, with * ? [abc] {{a,b}} as wildcards",
                            e.kind()
                        ))
                    })?
                    .compile_matcher(),
            )
        };
        patterns.push(Pattern {
            text: text.to_owned(),
            kind,
            matcher,
            subscript,
        });
    }
    Ok(patterns)
}

/// The patterns of `entries`, split on `,` and Ansible's `:`.
fn pieces<'a>(entries: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    entries
        .flat_map(|l| l.split(','))
        .flat_map(split_colons)
        .collect()
}

/// `@FILE`: the patterns of each of its lines (blank ones skipped). A file that holds none
/// is refused: an empty limit would select every target.
fn from_file(piece: &str, path: &Path) -> Result<Vec<String>, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InventoryError::new(format!(
            "--limit {piece}: cannot read {}: {e}; give a file of patterns, one or more per line (as Ansible's retry files)",
            path.display()
        ))
    })?;
    let found: Vec<String> = pieces(text.lines().filter(|l| !l.trim().is_empty()))
        .into_iter()
        .map(str::to_owned)
        .collect();
    if found.is_empty() {
        return Err(InventoryError::new(format!(
            "--limit {piece}: {} holds no pattern (an empty limit would select every target); write hosts, groups or host/database ids in it, one per line",
            path.display()
        )));
    }
    if let Some(nested) = found.iter().find(|p| p.trim().starts_with('@')) {
        return Err(InventoryError::new(format!(
            "--limit {piece}: {} names another file ({nested}); list the patterns themselves",
            path.display()
        )));
    }
    Ok(found)
}

/// A trailing `[N]`, `[-N]`, `[A:B]` or `[A:]` (Ansible's subscript); anything else in
/// brackets stays a glob class (`[abc]`, `[n:p]`).
fn split_subscript(body: &str) -> (&str, Option<Subscript>) {
    let Some(open) = body.strip_suffix(']').and_then(|b| b.rfind('[')) else {
        return (body, None);
    };
    let (pattern, inner) = (&body[..open], &body[open + 1..body.len() - 1]);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let subscript = match inner.split_once(':') {
        None if digits(inner.trim_start_matches('-')) && inner.matches('-').count() <= 1 => {
            inner.parse().ok().map(Subscript::One)
        }
        Some((a, b)) if digits(a) && (b.is_empty() || digits(b)) => {
            a.parse().ok().map(|a| Subscript::Range(a, b.parse().ok()))
        }
        _ => None,
    };
    match subscript {
        Some(s) if !pattern.is_empty() => (pattern, Some(s)),
        _ => (body, None),
    }
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
    let body = split_subscript(body).0;
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
