//! What `baseline` and `drift` print: per target, what was done or found, each schema
//! difference as a sentence; and their JSON documents.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::runner::Output;
use crate::runner::adopt::{Adopted, Adoption, Drift};
use crate::runner::builds::Build;
use crate::runner::fleet::{Finished, TargetResult};
use crate::schema::{Difference, Expected};

/// Indented sentences, one per difference.
fn sentences(differences: &[Difference], actual: &str, expected: Expected<'_>) -> Vec<String> {
    differences
        .iter()
        .map(|d| format!("  - {}", d.describe(actual, expected)))
        .collect()
}

fn count(n: usize) -> String {
    format!("{n} difference{}", if n == 1 { "" } else { "s" })
}

/// `baseline`: one block per target that finished.
pub(super) fn adoption_lines(id: &str, a: &Adopted, expected: Expected<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(legacy) = &a.legacy {
        lines.push(format!("{id}: {legacy}"));
    }
    let n = a.differences.len();
    match &a.outcome {
        Adoption::Written(path) => {
            lines.push(format!(
                "{id}: wrote {} and registered it as applied here (not run)",
                path.display()
            ));
            if n > 0 {
                lines.push(format!(
                    "{id}: warning: built from scratch, the baseline differs from the live schema in {}:",
                    count(n)
                ));
                lines.extend(sentences(&a.differences, id, expected));
            }
        }
        Adoption::Registered => lines.push(format!(
            "{id}: the schema matches: registered as applied (not run)"
        )),
        Adoption::Executed => lines.push(format!("{id}: empty database: ran the baseline")),
        Adoption::AlreadyRegistered => lines.push(format!("{id}: already registered")),
        Adoption::Differs => {
            lines.push(format!(
                "{id}: differs in {}; left untouched (make it match, or pass --force to register it anyway):",
                count(n)
            ));
            lines.extend(sentences(&a.differences, id, expected));
        }
        Adoption::Forced => {
            lines.push(format!(
                "{id}: registered as applied with --force, although it differs in {}:",
                count(n)
            ));
            lines.extend(sentences(&a.differences, id, expected));
        }
    }
    lines
}

/// `drift`: one block per target that finished; `fleet` says which build it was
/// compared with (a single target's is the only one).
pub(super) fn drift_lines(id: &str, d: &Drift, fleet: bool) -> Vec<String> {
    let (differences, notes) = (&d.differences, &d.notes);
    let mut lines = if differences.is_empty() {
        vec![format!(
            "{id}: no drift: the schema is what its migrations make"
        )]
    } else {
        let mut l = vec![format!(
            "{id}: {} from what its migrations make:",
            count(differences.len())
        )];
        l.extend(sentences(differences, id, Expected::Migrations));
        l
    };
    lines.extend(notes.iter().map(|n| format!("  note: {n}")));
    if fleet {
        lines.push(format!("  compared with {}", build_words(&d.build)));
    }
    lines
}

/// "expected schema 2 (built on beta/app from 5 migrations)".
fn build_words(b: &Build) -> String {
    let on = if b.shadow {
        format!("--shadow-url's server, for {}", b.built_on)
    } else {
        b.built_on.clone()
    };
    format!(
        "expected schema {} (built on {on} from {} migration{})",
        b.number,
        b.migrations,
        if b.migrations == 1 { "" } else { "s" }
    )
}

/// How many expected schemas a fleet's drift built, for how many targets.
pub(super) fn builds_line(ends: &[Finished<Output>]) -> Option<String> {
    let builds: Vec<&Build> = ends
        .iter()
        .filter_map(|e| match &e.result {
            TargetResult::Done(Output::Drift(d)) => Some(&d.build),
            _ => None,
        })
        .collect();
    let made = builds.iter().map(|b| b.number).max()?;
    Some(format!(
        "{made} expected schema{} built for {} target{}",
        if made == 1 { "" } else { "s" },
        builds.len(),
        if builds.len() == 1 { "" } else { "s" }
    ))
}

/// `drift --between a b`.
pub(super) fn between_lines(a: &str, b: &str, differences: &[Difference]) -> Vec<String> {
    if differences.is_empty() {
        return vec![format!("{a} and {b} have the same schema")];
    }
    let mut lines = vec![format!("{a} and {b}: {}:", count(differences.len()))];
    lines.extend(sentences(differences, a, Expected::Target(b)));
    lines
}

/// A difference as JSON: kind, name, change (and what differs), and the sentence.
pub(super) fn difference_json(d: &Difference, actual: &str, expected: Expected<'_>) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    v["message"] = json!(d.describe(actual, expected));
    v
}

pub(super) fn adoption_json(
    id: &str,
    end: &Finished<Output>,
    expected: Expected<'_>,
) -> Option<Vec<(String, Value)>> {
    let TargetResult::Done(Output::Adopted(a)) = &end.result else {
        return None;
    };
    let (outcome, file) = match &a.outcome {
        Adoption::Written(p) => ("written", Some(p.display().to_string())),
        Adoption::Registered => ("registered", None),
        Adoption::Executed => ("executed", None),
        Adoption::AlreadyRegistered => ("already_registered", None),
        Adoption::Differs => ("differs", None),
        Adoption::Forced => ("forced", None),
    };
    Some(vec![
        ("outcome".into(), json!(outcome)),
        ("file".into(), json!(file)),
        ("legacy".into(), json!(a.legacy)),
        (
            "differences".into(),
            json!(
                a.differences
                    .iter()
                    .map(|d| difference_json(d, id, expected))
                    .collect::<Vec<_>>()
            ),
        ),
    ])
}

pub(super) fn drift_json(id: &str, end: &Finished<Output>) -> Option<Vec<(String, Value)>> {
    let TargetResult::Done(Output::Drift(d)) = &end.result else {
        return None;
    };
    Some(vec![
        ("drift".into(), json!(!d.differences.is_empty())),
        (
            "differences".into(),
            json!(
                d.differences
                    .iter()
                    .map(|x| difference_json(x, id, Expected::Migrations))
                    .collect::<Vec<_>>()
            ),
        ),
        ("notes".into(), json!(d.notes)),
        (
            "expected".into(),
            json!({
                "build": d.build.number,
                "built_on": d.build.built_on,
                "shadow": d.build.shadow,
                "migrations": d.build.migrations,
            }),
        ),
    ])
}

/// Drafted migration files, each with the targets whose drift it holds.
pub(super) fn written_lines(written: &[(PathBuf, Vec<String>)], single: bool) -> Vec<String> {
    written
        .iter()
        .map(|(path, ids)| {
            let version = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(crate::migration::version_of)
                .unwrap_or_default();
            // One database by URL has no inventory to --limit: the same URL says where.
            let register = if single {
                format!("`pgfleet register {version}` (with the same --url or DATABASE_URL)")
            } else {
                format!("`pgfleet register {version} --limit {}`", ids.join(","))
            };
            format!(
                "Wrote {} (the drift of {}): review it, then record it where the changes already are with {register}; `pgfleet up` runs it everywhere else",
                path.display(),
                ids.join(", "),
            )
        })
        .collect()
}
