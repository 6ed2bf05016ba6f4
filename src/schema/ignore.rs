//! What `drift --ignore` (and the inventory's `drift_ignore`) leaves out: things that
//! differ legitimately between hosts, such as the roles that own objects.

use super::catalog::Schema;
use super::diff::{Difference, Kind};

/// A sort of difference not to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ignore {
    /// Who owns objects.
    Owners,
    /// Grants and default privileges.
    Privileges,
    /// Comments (compared on another branch; nothing here yet).
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

    /// Whether differences of this kind are left out.
    pub fn hides(self, kind: Kind) -> bool {
        match self {
            Ignore::Owners => kind == Kind::Owner,
            Ignore::Privileges => matches!(kind, Kind::Grant | Kind::DefaultGrant),
            Ignore::Comments => false,
        }
    }

    /// `differences` less those any of `ignore` hides.
    pub fn filter(ignore: &[Ignore], mut differences: Vec<Difference>) -> Vec<Difference> {
        differences.retain(|d| !ignore.iter().any(|i| i.hides(d.kind)));
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
                Ignore::Comments => {}
            }
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::{Ignore, Kind};

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
        assert!(Ignore::Privileges.hides(Kind::DefaultGrant));
        assert!(!Ignore::Owners.hides(Kind::Grant));
    }
}
