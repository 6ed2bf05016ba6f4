//! Comparing two snapshots, and saying what differs in plain words.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::{
    Access, Column, DefaultAccess, Domain, Policy, Schema, Sequence, Table, View,
};

/// One way in which the actual schema differs from the expected one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What sort of object differs.
    pub kind: Kind,
    /// Display name: `table.column`, `index`, `table.constraint`, `trigger on table`,
    /// `function(args)`...; schema-qualified only outside `public`.
    pub name: String,
    /// How it differs.
    #[serde(flatten)]
    pub change: Change,
}

/// The sorts of catalog object compared, in the order differences are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A schema (namespace).
    Schema,
    /// An extension.
    Extension,
    /// A table.
    Table,
    /// A table column.
    Column,
    /// An index that does not implement a constraint.
    Index,
    /// An index only one side has, left INVALID there (a `CREATE INDEX CONCURRENTLY` that
    /// failed or was cut short): queries do not use it, writes still maintain it.
    InvalidIndex,
    /// A table constraint.
    Constraint,
    /// A view.
    View,
    /// A materialized view.
    MaterializedView,
    /// A sequence.
    Sequence,
    /// A function or procedure.
    Function,
    /// A trigger.
    Trigger,
    /// An enum type.
    Enum,
    /// A domain.
    Domain,
    /// A composite type.
    Composite,
    /// A row-level security policy.
    Policy,
    /// Who owns an object.
    Owner,
    /// What one role may do with an object.
    Grant,
    /// What one role's new objects will let another role do.
    DefaultGrant,
}

impl Kind {
    /// The words for this kind in a sentence.
    fn word(self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::Extension => "extension",
            Kind::Table => "table",
            Kind::Column => "column",
            Kind::Index => "index",
            Kind::InvalidIndex => "INVALID index",
            Kind::Constraint => "constraint",
            Kind::View => "view",
            Kind::MaterializedView => "materialized view",
            Kind::Sequence => "sequence",
            Kind::Function => "function",
            Kind::Trigger => "trigger",
            Kind::Enum => "enum",
            Kind::Domain => "domain",
            Kind::Composite => "composite type",
            Kind::Policy => "policy",
            Kind::Owner => "ownership of",
            Kind::Grant => "grant on",
            Kind::DefaultGrant => "default privilege",
        }
    }
}

/// How an object differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// In the actual (live) schema only.
    Extra,
    /// In the expected schema only.
    Missing,
    /// In both, differing in one aspect ("type", "nullability", "default", "definition",
    /// "values", "version", ...).
    Changed {
        /// Which aspect differs.
        aspect: String,
        /// Its value in the actual schema.
        actual: String,
        /// Its value in the expected schema.
        expected: String,
    },
}

/// What the expected schema is, for the words of [`Difference::describe`].
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// What the applied migrations produce.
    Migrations,
    /// The baseline being registered.
    Baseline,
    /// Another database, named so.
    Target(&'a str),
}

/// `schema.name`, or `name` in `public`.
fn display(schema: &str, name: &str) -> String {
    if schema == "public" {
        name.to_owned()
    } else {
        format!("{schema}.{name}")
    }
}

/// Pairs the items of two lists by key, in key order: (actual, expected).
pub(super) fn pair_up<'a, T, K: Ord>(
    actual: &'a [T],
    expected: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<(Option<&'a T>, Option<&'a T>)> {
    let mut pairs: BTreeMap<K, (Option<&T>, Option<&T>)> = BTreeMap::new();
    for item in actual {
        pairs.entry(key(item)).or_default().0 = Some(item);
    }
    for item in expected {
        pairs.entry(key(item)).or_default().1 = Some(item);
    }
    pairs.into_values().collect()
}

/// Collects differences.
struct Found(Vec<Difference>);

impl Found {
    fn push(&mut self, kind: Kind, name: String, change: Change) {
        self.0.push(Difference { kind, name, change });
    }

    /// Extra or Missing for a one-sided pair; nothing when both sides have it.
    fn presence<T>(&mut self, kind: Kind, name: &str, pair: (Option<&T>, Option<&T>)) {
        match pair {
            (Some(_), None) => self.push(kind, name.to_owned(), Change::Extra),
            (None, Some(_)) => self.push(kind, name.to_owned(), Change::Missing),
            _ => {}
        }
    }

    fn aspect(&mut self, kind: Kind, name: &str, aspect: &str, actual: String, expected: String) {
        if actual != expected {
            self.push(
                kind,
                name.to_owned(),
                Change::Changed {
                    aspect: aspect.to_owned(),
                    actual,
                    expected,
                },
            );
        }
    }
}

/// A `serial` column's sequence belongs to its table: when the table itself exists on one
/// side only, that one difference covers the sequence too.
fn owned_by_lone_table(s: &Sequence, actual: &Schema, expected: &Schema) -> bool {
    let Some(owner) = &s.owned_by else {
        return false;
    };
    let has = |schema: &Schema| {
        schema
            .tables
            .iter()
            .any(|t| t.schema == owner.schema && t.name == owner.table)
    };
    has(actual) != has(expected)
}

/// Differences of `actual` from `expected`, by kind then name. An object on one side only
/// is one difference, whatever it contains; a column's type, nullability and default are
/// separate differences.
pub fn compare(actual: &Schema, expected: &Schema) -> Vec<Difference> {
    let mut found = Found(Vec::new());
    for pair in pair_up(&actual.schemas, &expected.schemas, |s| s) {
        let name = pair.0.or(pair.1).expect("one side has it");
        found.presence(Kind::Schema, name, pair);
    }
    for pair in pair_up(&actual.extensions, &expected.extensions, |e| &e.name) {
        if let (Some(a), Some(e)) = pair {
            found.aspect(
                Kind::Extension,
                &a.name,
                "version",
                a.version.clone(),
                e.version.clone(),
            );
            found.aspect(
                Kind::Extension,
                &a.name,
                "schema",
                a.schema.clone(),
                e.schema.clone(),
            );
        } else {
            let name = &pair.0.or(pair.1).expect("one side has it").name;
            found.presence(Kind::Extension, name, pair);
        }
    }
    for pair in pair_up(&actual.tables, &expected.tables, |t| (&t.schema, &t.name)) {
        let t = pair.0.or(pair.1).expect("one side has it");
        if let (Some(a), Some(e)) = pair {
            compare_tables(&mut found, a, e);
        } else {
            found.presence(Kind::Table, &display(&t.schema, &t.name), pair);
        }
    }
    for pair in pair_up(&actual.views, &expected.views, |v| (&v.schema, &v.name)) {
        let v = pair.0.or(pair.1).expect("one side has it");
        let name = display(&v.schema, &v.name);
        let kind = if v.materialized {
            Kind::MaterializedView
        } else {
            Kind::View
        };
        if let (Some(a), Some(e)) = pair {
            compare_views(&mut found, kind, &name, a, e);
        } else {
            found.presence(kind, &name, pair);
        }
    }
    for pair in pair_up(&actual.sequences, &expected.sequences, |s| {
        (&s.schema, &s.name)
    }) {
        let s = pair.0.or(pair.1).expect("one side has it");
        let name = display(&s.schema, &s.name);
        if let (Some(a), Some(e)) = pair {
            for ((aspect, actual), (_, expected)) in
                sequence_aspects(a).into_iter().zip(sequence_aspects(e))
            {
                found.aspect(Kind::Sequence, &name, aspect, actual, expected);
            }
        } else if !owned_by_lone_table(s, actual, expected) {
            found.presence(Kind::Sequence, &name, pair);
        }
    }
    for pair in pair_up(&actual.functions, &expected.functions, |f| {
        (&f.schema, &f.name, &f.arguments)
    }) {
        let f = pair.0.or(pair.1).expect("one side has it");
        let name = format!("{}({})", display(&f.schema, &f.name), f.arguments);
        if let (Some(a), Some(e)) = pair {
            found.aspect(
                Kind::Function,
                &name,
                "definition",
                a.definition.clone(),
                e.definition.clone(),
            );
        } else {
            found.presence(Kind::Function, &name, pair);
        }
    }
    for pair in pair_up(&actual.enums, &expected.enums, |t| (&t.schema, &t.name)) {
        let t = pair.0.or(pair.1).expect("one side has it");
        let name = display(&t.schema, &t.name);
        if let (Some(a), Some(e)) = pair {
            found.aspect(
                Kind::Enum,
                &name,
                "values",
                a.values.join(", "),
                e.values.join(", "),
            );
        } else {
            found.presence(Kind::Enum, &name, pair);
        }
    }
    compare_more(&mut found, actual, expected);
    compare_types_policies_and_access(&mut found, actual, expected);
    let mut differences = found.0;
    // Stable: the aspects of one object keep the order above.
    differences.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    differences
}

fn compare_tables(found: &mut Found, a: &Table, e: &Table) {
    let table = display(&a.schema, &a.name);
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    found.aspect(
        Kind::Table,
        &table,
        "partition key",
        or_none(&a.partition_key),
        or_none(&e.partition_key),
    );
    let parent = |t: &Table| match (&t.partition_of, &t.partition_bound) {
        (Some((s, n)), bound) => format!("{} {}", display(s, n), bound.as_deref().unwrap_or("")),
        (None, _) => "none".to_owned(),
    };
    found.aspect(Kind::Table, &table, "partition of", parent(a), parent(e));
    for pair in pair_up(&a.columns, &e.columns, |c| &c.name) {
        let c = pair.0.or(pair.1).expect("one side has it");
        let name = format!("{table}.{}", c.name);
        if let (Some(ac), Some(ec)) = pair {
            for ((aspect, actual), (_, expected)) in
                column_aspects(ac).into_iter().zip(column_aspects(ec))
            {
                found.aspect(Kind::Column, &name, aspect, actual, expected);
            }
        } else {
            found.presence(Kind::Column, &name, pair);
        }
    }
    for pair in pair_up(&a.constraints, &e.constraints, |k| &k.name) {
        let k = pair.0.or(pair.1).expect("one side has it");
        let name = format!("{table}.{}", k.name);
        if let (Some(ak), Some(ek)) = pair {
            found.aspect(
                Kind::Constraint,
                &name,
                "definition",
                ak.definition.clone(),
                ek.definition.clone(),
            );
        } else {
            found.presence(Kind::Constraint, &name, pair);
        }
    }
    compare_indexes(found, &a.schema, &a.indexes, &e.indexes);
    for pair in pair_up(&a.triggers, &e.triggers, |t| &t.name) {
        let t = pair.0.or(pair.1).expect("one side has it");
        let name = format!("{} on {table}", t.name);
        if let (Some(at), Some(et)) = pair {
            found.aspect(
                Kind::Trigger,
                &name,
                "definition",
                at.definition.clone(),
                et.definition.clone(),
            );
        } else {
            found.presence(Kind::Trigger, &name, pair);
        }
    }
}

fn compare_views(found: &mut Found, kind: Kind, name: &str, a: &View, e: &View) {
    if a.materialized != e.materialized {
        let word = |m: bool| if m { "materialized view" } else { "view" }.to_owned();
        found.aspect(
            kind,
            name,
            "kind",
            word(a.materialized),
            word(e.materialized),
        );
        return;
    }
    found.aspect(
        kind,
        name,
        "definition",
        a.definition.clone(),
        e.definition.clone(),
    );
    compare_indexes(found, &a.schema, &a.indexes, &e.indexes);
}

fn compare_indexes(found: &mut Found, schema: &str, a: &[super::Index], e: &[super::Index]) {
    for pair in pair_up(a, e, |i| &i.name) {
        let i = pair.0.or(pair.1).expect("one side has it");
        let name = display(schema, &i.name);
        if let (Some(ai), Some(ei)) = pair {
            found.aspect(
                Kind::Index,
                &name,
                "definition",
                ai.definition.clone(),
                ei.definition.clone(),
            );
            let validity = |i: &super::Index| if i.valid { "valid" } else { "invalid" }.to_owned();
            found.aspect(Kind::Index, &name, "validity", validity(ai), validity(ei));
        } else {
            let kind = if i.valid {
                Kind::Index
            } else {
                Kind::InvalidIndex
            };
            found.presence(kind, &name, pair);
        }
    }
}

/// The compared aspects of a column, as words.
fn column_aspects(c: &Column) -> [(&'static str, String); 5] {
    let null = if c.not_null { "not null" } else { "nullable" };
    [
        ("type", c.data_type.clone()),
        ("nullability", null.to_owned()),
        (
            "default",
            c.default.clone().unwrap_or_else(|| "no default".to_owned()),
        ),
        (
            "identity",
            c.identity.as_ref().map_or_else(
                || "no identity".to_owned(),
                |i| format!("generated {i} as identity"),
            ),
        ),
        (
            "generated",
            c.generated.as_ref().map_or_else(
                || "not generated".to_owned(),
                |g| format!("generated always as ({g}) stored"),
            ),
        ),
    ]
}

/// The compared aspects of a sequence, as words.
fn sequence_aspects(s: &Sequence) -> [(&'static str, String); 8] {
    let owner = s.owned_by.as_ref().map_or_else(
        || "none".to_owned(),
        |o| format!("{}.{}", display(&o.schema, &o.table), o.column),
    );
    [
        ("type", s.data_type.clone()),
        ("start", s.start.to_string()),
        ("increment", s.increment.to_string()),
        ("minimum", s.min.to_string()),
        ("maximum", s.max.to_string()),
        ("cache", s.cache.to_string()),
        (
            "cycle",
            if s.cycle { "cycle" } else { "no cycle" }.to_owned(),
        ),
        ("owned by", owner),
    ]
}

/// The aspects of objects found on both sides that [`compare`] leaves to this function:
/// collations, identity options, table storage and security settings, trigger states and
/// comments. Each is its own difference, listed after the object's other aspects.
fn compare_more(found: &mut Found, actual: &Schema, expected: &Schema) {
    for pair in pair_up(&actual.schema_comments, &expected.schema_comments, |c| &c.0) {
        let name = &pair.0.or(pair.1).expect("one side has it").0;
        let has = |schemas: &[String]| schemas.contains(name);
        // A schema on one side only is already its own difference.
        if has(&actual.schemas) && has(&expected.schemas) {
            let comment = |c: Option<&(String, String)>| c.map(|(_, text)| text.clone());
            found.comment(Kind::Schema, name, comment(pair.0), comment(pair.1));
        }
    }
    for pair in pair_up(&actual.tables, &expected.tables, |t| (&t.schema, &t.name)) {
        if let (Some(a), Some(e)) = pair {
            compare_more_of_table(found, a, e);
        }
    }
    for pair in pair_up(&actual.views, &expected.views, |v| (&v.schema, &v.name)) {
        if let (Some(a), Some(e)) = pair {
            let kind = if a.materialized {
                Kind::MaterializedView
            } else {
                Kind::View
            };
            let name = display(&a.schema, &a.name);
            found.comment(kind, &name, a.comment.clone(), e.comment.clone());
            compare_index_comments(found, &a.schema, &a.indexes, &e.indexes);
        }
    }
    for pair in pair_up(&actual.sequences, &expected.sequences, |s| {
        (&s.schema, &s.name)
    }) {
        if let (Some(a), Some(e)) = pair {
            let name = display(&a.schema, &a.name);
            found.comment(Kind::Sequence, &name, a.comment.clone(), e.comment.clone());
        }
    }
    for pair in pair_up(&actual.functions, &expected.functions, |f| {
        (&f.schema, &f.name, &f.arguments)
    }) {
        if let (Some(a), Some(e)) = pair {
            let name = format!("{}({})", display(&a.schema, &a.name), a.arguments);
            found.comment(Kind::Function, &name, a.comment.clone(), e.comment.clone());
        }
    }
    for pair in pair_up(&actual.enums, &expected.enums, |t| (&t.schema, &t.name)) {
        if let (Some(a), Some(e)) = pair {
            let name = display(&a.schema, &a.name);
            found.comment(Kind::Enum, &name, a.comment.clone(), e.comment.clone());
        }
    }
}

fn compare_more_of_table(found: &mut Found, a: &Table, e: &Table) {
    let table = display(&a.schema, &a.name);
    for ((aspect, actual), (_, expected)) in table_aspects(a).into_iter().zip(table_aspects(e)) {
        found.aspect(Kind::Table, &table, aspect, actual, expected);
    }
    found.comment(Kind::Table, &table, a.comment.clone(), e.comment.clone());
    for pair in pair_up(&a.columns, &e.columns, |c| &c.name) {
        if let (Some(ac), Some(ec)) = pair {
            let name = format!("{table}.{}", ac.name);
            let collation = |c: &Column| c.collation.clone().unwrap_or_else(|| "default".into());
            found.aspect(
                Kind::Column,
                &name,
                "collation",
                collation(ac),
                collation(ec),
            );
            // A column that is identity on one side only already differs in "identity".
            if let (Some(ai), Some(ei)) = (&ac.identity_options, &ec.identity_options) {
                for ((aspect, actual), (_, expected)) in
                    identity_aspects(ai).into_iter().zip(identity_aspects(ei))
                {
                    found.aspect(Kind::Column, &name, aspect, actual, expected);
                }
            }
            found.comment(Kind::Column, &name, ac.comment.clone(), ec.comment.clone());
        }
    }
    for pair in pair_up(&a.constraints, &e.constraints, |k| &k.name) {
        if let (Some(ak), Some(ek)) = pair {
            let name = format!("{table}.{}", ak.name);
            found.comment(
                Kind::Constraint,
                &name,
                ak.comment.clone(),
                ek.comment.clone(),
            );
        }
    }
    compare_index_comments(found, &a.schema, &a.indexes, &e.indexes);
    for pair in pair_up(&a.triggers, &e.triggers, |t| &t.name) {
        if let (Some(at), Some(et)) = pair {
            let name = format!("{} on {table}", at.name);
            let state = |t: &super::Trigger| trigger_state(&t.enabled).to_owned();
            found.aspect(Kind::Trigger, &name, "state", state(at), state(et));
            found.comment(Kind::Trigger, &name, at.comment.clone(), et.comment.clone());
        }
    }
}

fn compare_index_comments(found: &mut Found, schema: &str, a: &[super::Index], e: &[super::Index]) {
    for pair in pair_up(a, e, |i| &i.name) {
        if let (Some(ai), Some(ei)) = pair {
            let name = display(schema, &ai.name);
            found.comment(Kind::Index, &name, ai.comment.clone(), ei.comment.clone());
        }
    }
}

impl Found {
    /// A comment, quoted, or "no comment".
    fn comment(
        &mut self,
        kind: Kind,
        name: &str,
        actual: Option<String>,
        expected: Option<String>,
    ) {
        let words = |c: Option<String>| {
            c.map_or_else(
                || "no comment".to_owned(),
                |c| format!("'{}'", c.replace('\'', "''")),
            )
        };
        self.aspect(kind, name, "comment", words(actual), words(expected));
    }
}

/// The table aspects [`compare_more`] adds, as words.
fn table_aspects(t: &Table) -> [(&'static str, String); 5] {
    let security = match (t.row_security, t.force_row_security) {
        (false, false) => "disabled",
        (true, false) => "enabled",
        (true, true) => "enabled and forced",
        (false, true) => "disabled (forced when enabled)",
    };
    let parents: Vec<String> = t.inherits.iter().map(|(s, n)| display(s, n)).collect();
    [
        (
            "persistence",
            if t.unlogged { "unlogged" } else { "logged" }.to_owned(),
        ),
        (
            "storage parameters",
            if t.options.is_empty() {
                "none".to_owned()
            } else {
                t.options.join(", ")
            },
        ),
        ("replica identity", t.replica_identity.clone()),
        ("row level security", security.to_owned()),
        (
            "parent tables",
            if parents.is_empty() {
                "none".to_owned()
            } else {
                parents.join(", ")
            },
        ),
    ]
}

/// The compared options of an identity column's sequence, as words.
fn identity_aspects(o: &super::IdentityOptions) -> [(&'static str, String); 6] {
    [
        ("identity start", o.start.to_string()),
        ("identity increment", o.increment.to_string()),
        ("identity minimum", o.min.to_string()),
        ("identity maximum", o.max.to_string()),
        ("identity cache", o.cache.to_string()),
        (
            "identity cycle",
            if o.cycle { "cycle" } else { "no cycle" }.to_owned(),
        ),
    ]
}

/// Words for a trigger's `enabled` state.
fn trigger_state(enabled: &str) -> &str {
    match enabled {
        "origin" => "enabled",
        "replica" => "enabled on replicas only",
        "always" => "enabled always",
        other => other,
    }
}

/// Domains, composite types, policies, owners, grants and default privileges.
fn compare_types_policies_and_access(found: &mut Found, actual: &Schema, expected: &Schema) {
    for pair in pair_up(&actual.domains, &expected.domains, |d| (&d.schema, &d.name)) {
        let d = pair.0.or(pair.1).expect("one side has it");
        let name = display(&d.schema, &d.name);
        if let (Some(a), Some(e)) = pair {
            compare_domains(found, &name, a, e);
        } else {
            found.presence(Kind::Domain, &name, pair);
        }
    }
    for pair in pair_up(&actual.composites, &expected.composites, |c| {
        (&c.schema, &c.name)
    }) {
        let c = pair.0.or(pair.1).expect("one side has it");
        let name = display(&c.schema, &c.name);
        if let (Some(a), Some(e)) = pair {
            let attributes = |c: &super::Composite| {
                let each: Vec<String> = c
                    .attributes
                    .iter()
                    .map(|a| format!("{} {}", a.name, a.data_type))
                    .collect();
                each.join(", ")
            };
            found.aspect(
                Kind::Composite,
                &name,
                "attributes",
                attributes(a),
                attributes(e),
            );
        } else {
            found.presence(Kind::Composite, &name, pair);
        }
    }
    for pair in pair_up(&actual.policies, &expected.policies, |p| {
        (&p.schema, &p.table, &p.name)
    }) {
        let p = pair.0.or(pair.1).expect("one side has it");
        let name = format!("{} on {}", p.name, display(&p.schema, &p.table));
        if let (Some(a), Some(e)) = pair {
            for ((aspect, actual), (_, expected)) in
                policy_aspects(a).into_iter().zip(policy_aspects(e))
            {
                found.aspect(Kind::Policy, &name, aspect, actual, expected);
            }
        } else {
            found.presence(Kind::Policy, &name, pair);
        }
    }
    // An object on one side only is its own difference: its owner and grants go with it.
    // A column is listed only where it has grants: elsewhere it has none.
    let no_grants = Access::default();
    for (a, e) in pair_up(&actual.access, &expected.access, access_key) {
        let column_on_both = |x: &Access| column_in(actual, x) && column_in(expected, x);
        let (a, e) = match (a, e) {
            (Some(a), Some(e)) => (a, e),
            (Some(a), None) if column_on_both(a) => (a, &no_grants),
            (None, Some(e)) if column_on_both(e) => (&no_grants, e),
            _ => continue,
        };
        // Named after the side that lists it (`no_grants` names nothing).
        let label = access_label(if a.object.is_empty() { e } else { a });
        if let (Some(ao), Some(eo)) = (&a.owner, &e.owner) {
            found.aspect(Kind::Owner, &label, "owner", ao.clone(), eo.clone());
        }
        for pair in pair_up(&a.grants, &e.grants, |g| &g.grantee) {
            let g = pair.0.or(pair.1).expect("one side has it");
            let name = format!("{label} to {}", g.grantee);
            if let (Some(ag), Some(eg)) = pair {
                found.aspect(
                    Kind::Grant,
                    &name,
                    "privileges",
                    ag.privileges.join(", "),
                    eg.privileges.join(", "),
                );
            } else {
                found.presence(Kind::Grant, &name, pair);
            }
        }
    }
    for pair in pair_up(
        &actual.default_access,
        &expected.default_access,
        default_access_key,
    ) {
        let d = pair.0.or(pair.1).expect("one side has it");
        let name = default_access_label(d);
        if let (Some(a), Some(e)) = pair {
            found.aspect(
                Kind::DefaultGrant,
                &name,
                "privileges",
                a.privileges.join(", "),
                e.privileges.join(", "),
            );
        } else {
            found.presence(Kind::DefaultGrant, &name, pair);
        }
    }
}

fn compare_domains(found: &mut Found, name: &str, a: &Domain, e: &Domain) {
    found.aspect(
        Kind::Domain,
        name,
        "base type",
        a.base.clone(),
        e.base.clone(),
    );
    let default = |d: &Domain| d.default.clone().unwrap_or_else(|| "no default".to_owned());
    found.aspect(Kind::Domain, name, "default", default(a), default(e));
    let null = |d: &Domain| if d.not_null { "not null" } else { "nullable" }.to_owned();
    found.aspect(Kind::Domain, name, "nullability", null(a), null(e));
    for (ak, ek) in pair_up(&a.constraints, &e.constraints, |k| &k.name) {
        let k = ak.or(ek).expect("one side has it");
        let definition = |k: Option<&super::DomainCheck>| {
            k.map_or_else(|| "none".to_owned(), |k| k.definition.clone())
        };
        found.aspect(
            Kind::Domain,
            name,
            &format!("constraint {}", k.name),
            definition(ak),
            definition(ek),
        );
    }
}

/// The compared aspects of a policy, as words.
fn policy_aspects(p: &Policy) -> [(&'static str, String); 5] {
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    [
        ("command", p.command.clone()),
        (
            "type",
            if p.permissive {
                "permissive"
            } else {
                "restrictive"
            }
            .to_owned(),
        ),
        ("roles", p.roles.join(", ")),
        ("using", or_none(&p.using)),
        ("with check", or_none(&p.check)),
    ]
}

/// Whether `schema` has the column `a` lists grants of.
pub(super) fn column_in(schema: &Schema, a: &Access) -> bool {
    a.object == "column"
        && schema.tables.iter().any(|t| {
            t.schema == a.schema
                && t.name == a.name
                && t.columns.iter().any(|c| Some(&c.name) == a.detail.as_ref())
        })
}

/// What pairs the owners and grants of one object on both sides.
pub(super) fn access_key(a: &Access) -> (&str, &str, &str, Option<&str>) {
    (&a.object, &a.schema, &a.name, a.detail.as_deref())
}

/// `table users`, `column users.email`, `function f(integer)`, `schema app`.
fn access_label(a: &Access) -> String {
    let name = display(&a.schema, &a.name);
    match (a.object.as_str(), &a.detail) {
        ("schema", _) => format!("schema {}", a.name),
        ("column", Some(column)) => format!("column {name}.{column}"),
        ("function" | "procedure", Some(arguments)) => format!("{} {name}({arguments})", a.object),
        (object, _) => format!("{object} {name}"),
    }
}

/// What pairs the default privileges on both sides.
pub(super) fn default_access_key(d: &DefaultAccess) -> (&str, Option<&str>, &str, &str, bool) {
    (&d.role, d.schema.as_deref(), &d.on, &d.grantee, d.revoked)
}

/// `for app in schema s on tables to bob`, `for app on functions, revoked from PUBLIC`.
fn default_access_label(d: &DefaultAccess) -> String {
    let schema = d
        .schema
        .as_ref()
        .map(|s| format!(" in schema {s}"))
        .unwrap_or_default();
    if d.revoked {
        format!(
            "for {}{schema} on {}, revoked from {}",
            d.role, d.on, d.grantee
        )
    } else {
        format!("for {}{schema} on {} to {}", d.role, d.on, d.grantee)
    }
}

/// Values longer than this, or spanning lines, are not quoted in sentences.
const LONGEST_QUOTED: usize = 80;

impl Difference {
    /// One plain-words sentence about this difference, `actual` naming the database
    /// compared (e.g. `nas/app`). Long values (function bodies, view definitions) are
    /// summarised as "differs" rather than printed.
    pub fn describe(&self, actual: &str, expected: Expected<'_>) -> String {
        let what = format!("{} {}", self.kind.word(), self.name);
        match (&self.change, expected) {
            (Change::Extra, Expected::Migrations) if self.kind == Kind::InvalidIndex => {
                format!(
                    "{what} exists on {actual} but no migration creates it: a CREATE INDEX CONCURRENTLY failed or was cut short there (queries do not use it, writes still maintain it); drop it there with DROP INDEX CONCURRENTLY, and build it again once the data allows"
                )
            }
            (Change::Extra, Expected::Migrations) => {
                format!("{what} exists on {actual} but no migration creates it")
            }
            (Change::Extra, Expected::Baseline) => {
                format!("{what} exists on {actual} but not in the baseline")
            }
            (Change::Extra, Expected::Target(other)) => {
                format!("{what} exists on {actual} but not on {other}")
            }
            (Change::Missing, Expected::Migrations) => {
                format!("{what} is missing on {actual} (a migration creates it)")
            }
            (Change::Missing, Expected::Baseline) => {
                format!("{what} is missing on {actual} (the baseline has it)")
            }
            (Change::Missing, Expected::Target(other)) => {
                format!("{what} exists on {other} but not on {actual}")
            }
            (
                Change::Changed {
                    aspect,
                    actual: a,
                    expected: e,
                },
                expected,
            ) => {
                let long = |v: &str| v.len() > LONGEST_QUOTED || v.contains('\n');
                if long(a) || long(e) {
                    let other = match expected {
                        Expected::Migrations => "the migrations",
                        Expected::Baseline => "the baseline",
                        Expected::Target(other) => other,
                    };
                    format!("{what}: {aspect} differs between {actual} and {other}")
                } else {
                    let other = match expected {
                        Expected::Migrations => "per the migrations".to_owned(),
                        Expected::Baseline => "in the baseline".to_owned(),
                        Expected::Target(other) => format!("on {other}"),
                    };
                    // "values are", "type is".
                    let verb = if aspect.ends_with('s') { "are" } else { "is" };
                    format!("{what}: {aspect} {verb} {a} on {actual}, {e} {other}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Change, Difference, Expected, Kind};

    #[test]
    fn words_for_a_baseline_and_for_another_target() {
        let d = |change| Difference {
            kind: Kind::Column,
            name: "users.email".to_owned(),
            change,
        };
        let type_change = d(Change::Changed {
            aspect: "type".to_owned(),
            actual: "text".to_owned(),
            expected: "character varying(200)".to_owned(),
        });
        assert_eq!(
            d(Change::Extra).describe("beta/app", Expected::Baseline),
            "column users.email exists on beta/app but not in the baseline"
        );
        assert_eq!(
            d(Change::Missing).describe("beta/app", Expected::Baseline),
            "column users.email is missing on beta/app (the baseline has it)"
        );
        assert_eq!(
            type_change.describe("beta/app", Expected::Baseline),
            "column users.email: type is text on beta/app, character varying(200) in the baseline"
        );
        assert_eq!(
            d(Change::Extra).describe("a", Expected::Target("b")),
            "column users.email exists on a but not on b"
        );
        assert_eq!(
            d(Change::Missing).describe("a", Expected::Target("b")),
            "column users.email exists on b but not on a"
        );
        assert_eq!(
            type_change.describe("a", Expected::Target("b")),
            "column users.email: type is text on a, character varying(200) on b"
        );
    }

    #[test]
    fn long_values_are_summarised() {
        let body = |b: &str| {
            format!("CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\nAS $$ {b} $$")
        };
        let d = Difference {
            kind: Kind::Function,
            name: "f()".to_owned(),
            change: Change::Changed {
                aspect: "definition".to_owned(),
                actual: body("select 1"),
                expected: body("select 2"),
            },
        };
        assert_eq!(
            d.describe("nas/app", Expected::Migrations),
            "function f(): definition differs between nas/app and the migrations"
        );
        assert_eq!(
            d.describe("a", Expected::Target("b")),
            "function f(): definition differs between a and b"
        );
    }

    #[test]
    fn json_is_flat() {
        let d = Difference {
            kind: Kind::MaterializedView,
            name: "counts".to_owned(),
            change: Change::Changed {
                aspect: "definition".to_owned(),
                actual: "a".to_owned(),
                expected: "b".to_owned(),
            },
        };
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"kind": "materialized_view", "name": "counts", "change": "changed",
                "aspect": "definition", "actual": "a", "expected": "b"})
        );
        let missing = Difference {
            change: Change::Missing,
            ..d
        };
        assert_eq!(
            serde_json::to_value(&missing).unwrap(),
            serde_json::json!({"kind": "materialized_view", "name": "counts", "change": "missing"})
        );
    }
}
