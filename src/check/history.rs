//! Rules about a file among the others of its folder: duplicate versions, and with
//! `--since REF` what git says changed since REF (a file that would run out of order, an
//! applied file edited). Pure: `settings` asks git and fills `Folder`.

use std::path::PathBuf;

use super::rules::RULES;
use super::{Finding, Severity, Text};
use crate::migration::version_of;

/// A folder of migrations, as far as the history rules need it.
#[derive(Debug, Clone, Default)]
pub struct Folder {
    pub dir: PathBuf,
    /// Every migration file name in the folder now.
    pub names: Vec<String>,
    /// With `--since`: the migration file names the folder had at REF.
    pub at_ref: Option<Vec<String>>,
    /// With `--since`: files that exist at REF and differ from it now.
    pub edited: Vec<String>,
    /// Every migration file's bytes, in name order: what the files before a checked one
    /// declare (column types, for `narrowing-type`).
    pub files: Vec<(String, Vec<u8>)>,
}

/// `--since REF`, as the user wrote REF.
#[derive(Debug, Clone)]
pub struct Since {
    pub reference: String,
}

fn help(id: &str) -> String {
    RULES
        .iter()
        .find(|r| r.id == id)
        .map_or(String::new(), |r| r.help.to_string())
}

/// Orders versions as numbers (dbmate's versions are digits, of any length).
fn version_key(v: &str) -> (usize, &str) {
    let v = v.trim_start_matches('0');
    (v.len(), v)
}

pub(super) fn findings(text: &Text, folders: &[Folder], since: Option<&Since>) -> Vec<Finding> {
    let Some(name) = text.path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let dir = text.path.parent().unwrap_or(std::path::Path::new(""));
    let Some(folder) = folders.iter().find(|f| f.dir == dir) else {
        return Vec::new();
    };
    let Some(version) = version_of(name) else {
        return Vec::new();
    };
    let first_line = 0..text.text.find('\n').unwrap_or(text.text.len());
    let mut out = Vec::new();
    let others: Vec<&String> = folder
        .names
        .iter()
        .filter(|n| n.as_str() != name && version_of(n) == Some(version))
        .collect();
    if !others.is_empty() {
        let names: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
        out.push(text.finding(
            "duplicate-version",
            Severity::Error,
            first_line.clone(),
            format!(
                "version {version} is also the version of {}: `up` refuses a folder with two files of one version",
                names.join(", ")
            ),
            help("duplicate-version"),
        ));
    }
    if let (Some(at_ref), Some(since)) = (&folder.at_ref, since) {
        let newest = at_ref
            .iter()
            .filter_map(|n| version_of(n).map(|v| (v, n)))
            .max_by(|a, b| version_key(a.0).cmp(&version_key(b.0)));
        if let Some((newest, newest_name)) = newest
            && !at_ref.iter().any(|n| n == name)
            && version_key(version) < version_key(newest)
        {
            out.push(text.finding(
                    "out-of-order",
                    Severity::Error,
                    first_line.clone(),
                    format!(
                        "this file is new since {}, but its version sorts before {newest_name}, which is there at {}: where that one is applied, this runs out of order, and `up --strict` refuses it",
                        since.reference, since.reference
                    ),
                    help("out-of-order"),
                ));
        }
        if folder.edited.iter().any(|n| n == name) {
            out.push(text.finding(
                "edited-since",
                Severity::Warning,
                first_line,
                format!(
                    "this file exists at {} and was edited since: where it is applied, its checksum no longer matches and `up` refuses the database until `verify` is dealt with",
                    since.reference
                ),
                help("edited-since"),
            ));
        }
    }
    out
}
