//! What `drift --ignore` (and the inventory's `drift_ignore`) leaves out: things that
//! differ legitimately between hosts, such as the roles that own objects.

use super::catalog::Schema;
use super::diff::{Change, Difference, Kind};

/// A sort of difference not to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ignore {
    /// Who owns objects.
    Owners,
    /// Grants and default privileges.
    Privileges,
    /// Comments on objects (`COMMENT ON`).
    Comments,
}

impl Ignore {
    /// The words accepted, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["owners", "privileges", "comments"];

    /// One word of the list, with "did you mean" when it is close to one.
    pub fn parse(word: &str) -> Result<Ignore, String> {
        match word.trim() {
            "owners" => Ok(Ignore::Owners),
            "privileges" => Ok(Ignore::Privileges),
            "comments" => Ok(Ignore::Comments),
            other => Err(match crate::suggest(other, &Ignore::NAMES) {
                Some(s) => format!(
                    "cannot ignore `{other}` (did you mean `{s}`?); it takes {}",
                    Ignore::NAMES.join(", ")
                ),
                None => format!(
                    "cannot ignore `{other}`; it takes {}",
                    Ignore::NAMES.join(", ")
                ),
            }),
        }
    }

    /// The word for it.
    pub fn name(self) -> &'static str {
        Ignore::NAMES[self as usize]
    }

    /// Whether this difference is left out. Comments are an aspect of each object kind.
    pub fn hides(self, d: &Difference) -> bool {
        match self {
            Ignore::Owners => d.kind == Kind::Owner,
            Ignore::Privileges => matches!(d.kind, Kind::Grant | Kind::DefaultGrant),
            Ignore::Comments => {
                matches!(&d.change, Change::Changed { aspect, .. } if aspect == "comment")
            }
        }
    }

    /// `differences` less those any of `ignore` hides.
    pub fn filter(ignore: &[Ignore], mut differences: Vec<Difference>) -> Vec<Difference> {
        differences.retain(|d| !ignore.iter().any(|i| i.hides(d)));
        differences
    }

    /// `schema` without what `ignore` leaves out, so that a draft made from it does not
    /// change what the comparison did not report.
    pub fn strip(ignore: &[Ignore], mut schema: Schema) -> Schema {
        for i in ignore {
            match i {
                Ignore::Owners => schema.access.iter_mut().for_each(|a| a.owner = None),
                Ignore::Privileges => {
                    schema.access.iter_mut().for_each(|a| a.grants.clear());
                    schema.default_access.clear();
                }
                Ignore::Comments => strip_comments(&mut schema),
            }
        }
        schema
    }
}

fn strip_comments(schema: &mut Schema) {
    schema.schema_comments.clear();
    for t in &mut schema.tables {
        t.comment = None;
        t.columns.iter_mut().for_each(|c| c.comment = None);
        t.constraints.iter_mut().for_each(|c| c.comment = None);
        t.indexes.iter_mut().for_each(|i| i.comment = None);
        t.triggers.iter_mut().for_each(|tr| tr.comment = None);
    }
    schema.views.iter_mut().for_each(|v| v.comment = None);
    schema.sequences.iter_mut().for_each(|q| q.comment = None);
    schema.functions.iter_mut().for_each(|f| f.comment = None);
    schema.enums.iter_mut().for_each(|e| e.comment = None);
}

#[cfg(test)]
mod tests {
    use super::{Change, Difference, Ignore, Kind};

    #[test]
    fn words_parse_and_misspellings_get_a_hint() {
        assert_eq!(Ignore::parse("owners"), Ok(Ignore::Owners));
        assert_eq!(
            Ignore::parse("privilege"),
            Err("cannot ignore `privilege` (did you mean `privileges`?); it takes owners, privileges, comments".into())
        );
        assert_eq!(
            Ignore::parse("tables"),
            Err("cannot ignore `tables`; it takes owners, privileges, comments".into())
        );
        let d = |kind, change| Difference {
            kind,
            name: "x".into(),
            change,
        };
        assert!(Ignore::Privileges.hides(&d(Kind::DefaultGrant, Change::Extra)));
        assert!(!Ignore::Owners.hides(&d(Kind::Grant, Change::Extra)));
        let comment = Change::Changed {
            aspect: "comment".into(),
            actual: "'a'".into(),
            expected: "no comment".into(),
        };
        assert!(Ignore::Comments.hides(&d(Kind::Table, comment.clone())));
        assert!(!Ignore::Owners.hides(&d(Kind::Table, comment)));
    }
}
