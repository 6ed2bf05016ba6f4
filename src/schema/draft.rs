//! SQL that turns one snapshot into another, for a person to review.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::{Access, Attribute, Composite, Domain, DomainCheck, Grant, Policy};
use super::catalog::{Column, Constraint, Index, Schema, Sequence, Table, View};
use super::diff::pair_up;
use super::diff::{access_key, column_in, default_access_key};
use super::ident::quote_ident;

/// A drafted migration: `up` turns the expected schema into the actual one, `down` back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// From expected to actual.
    pub up: String,
    /// From actual to expected.
    pub down: String,
}

/// SQL that turns `expected` into `actual` (up) and back (down), for a person to review.
/// Statements come in an order that works: what depends on other objects is dropped first,
/// then objects are created and altered (schemas, extensions, enums, sequences, tables,
/// columns, functions, views, constraints, indexes, foreign keys, triggers, sequence
/// ownership), and what others depended on is dropped last. What SQL cannot do (remove an
/// enum value, change a generation expression or partitioning) is a `-- ` comment. Both are
/// empty when the schemas do not differ.
pub fn draft(actual: &Schema, expected: &Schema) -> Draft {
    Draft {
        up: migrate(expected, actual),
        down: migrate(actual, expected),
    }
}

/// Where a statement goes. Dropping dependents comes first and dropping what they depend
/// on comes last, so that changes in between find what they need (e.g. a column's type
/// moves off an enum before the enum is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    DropPolicy,
    DropTrigger,
    DropForeignKey,
    DropIndex,
    DropConstraint,
    DropView,
    DropDefault,
    DropColumn,
    DropTable,
    CreateSchema,
    Extension,
    Enum,
    Sequence,
    Domain,
    Composite,
    CreateTable,
    Column,
    Function,
    CreateView,
    AddConstraint,
    CreateIndex,
    AddForeignKey,
    CreateTrigger,
    OwnedBy,
    DropFunction,
    DropSequence,
    DropComposite,
    DropDomain,
    DropEnum,
    DropExtension,
    DropSchema,
    // Last: what they apply to exists by now, and what is dropped takes them along.
    CreatePolicy,
    Owner,
    Grant,
}

/// Statements by step; within a step, in the order pushed.
#[derive(Default)]
struct Script(Vec<(Step, String)>);

impl Script {
    fn push(&mut self, step: Step, sql: impl Into<String>) {
        self.0.push((step, sql.into()));
    }

    fn finish(mut self) -> String {
        self.0.sort_by_key(|(step, _)| *step);
        self.0.into_iter().map(|(_, sql)| sql + "\n").collect()
    }
}

/// SQL turning `from` into `to`.
fn migrate(from: &Schema, to: &Schema) -> String {
    let mut s = Script::default();
    for pair in pair_up(&to.schemas, &from.schemas, |n| n) {
        match pair {
            (Some(n), None) => s.push(
                Step::CreateSchema,
                format!("CREATE SCHEMA {};", quote_ident(n)),
            ),
            (None, Some(n)) => s.push(
                Step::DropSchema,
                format!("DROP SCHEMA IF EXISTS {};", quote_ident(n)),
            ),
            _ => {}
        }
    }
    for pair in pair_up(&to.extensions, &from.extensions, |e| &e.name) {
        match pair {
            (Some(new), None) => s.push(
                Step::Extension,
                format!(
                    "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} VERSION {};",
                    quote_ident(&new.name),
                    quote_ident(&new.schema),
                    literal(&new.version)
                ),
            ),
            (None, Some(old)) => s.push(
                Step::DropExtension,
                format!("DROP EXTENSION IF EXISTS {};", quote_ident(&old.name)),
            ),
            (Some(new), Some(old)) => {
                if new.version != old.version {
                    s.push(
                        Step::Extension,
                        format!(
                            "ALTER EXTENSION {} UPDATE TO {};",
                            quote_ident(&new.name),
                            literal(&new.version)
                        ),
                    );
                }
                if new.schema != old.schema {
                    s.push(
                        Step::Extension,
                        format!(
                            "ALTER EXTENSION {} SET SCHEMA {};",
                            quote_ident(&new.name),
                            quote_ident(&new.schema)
                        ),
                    );
                }
            }
            (None, None) => {}
        }
    }
    for pair in pair_up(&to.enums, &from.enums, |t| (&t.schema, &t.name)) {
        match pair {
            (Some(new), None) => {
                let values: Vec<String> = new.values.iter().map(|v| literal(v)).collect();
                s.push(
                    Step::Enum,
                    format!(
                        "CREATE TYPE {} AS ENUM ({});",
                        qualified(&new.schema, &new.name),
                        values.join(", ")
                    ),
                );
            }
            (None, Some(old)) => s.push(
                Step::DropEnum,
                format!("DROP TYPE IF EXISTS {};", qualified(&old.schema, &old.name)),
            ),
            (Some(new), Some(old)) => {
                let name = qualified(&new.schema, &new.name);
                if !enum_values(&mut s, &name, &new.values, &old.values) {
                    recreate_enum(&mut s, new, &enum_users(&name, from, to));
                }
            }
            (None, None) => {}
        }
    }
    for pair in pair_up(&to.sequences, &from.sequences, |q| (&q.schema, &q.name)) {
        sequence(&mut s, pair);
    }
    tables(&mut s, from, to);
    for pair in pair_up(&to.functions, &from.functions, |f| {
        (&f.schema, &f.name, &f.arguments)
    }) {
        let drop = |f: &super::Function| {
            let what = if f.procedure { "PROCEDURE" } else { "FUNCTION" };
            format!(
                "DROP {what} IF EXISTS {}({});",
                qualified(&f.schema, &f.name),
                f.arguments
            )
        };
        match pair {
            (Some(new), old) => {
                if let Some(old) = old {
                    if old.definition == new.definition {
                        continue;
                    }
                    // CREATE OR REPLACE cannot change what a function returns.
                    if (old.procedure, &old.result) != (new.procedure, &new.result) {
                        s.push(Step::Function, drop(old));
                    }
                }
                s.push(Step::Function, format!("{};", new.definition.trim_end()));
            }
            (None, Some(old)) => s.push(Step::DropFunction, drop(old)),
            (None, None) => {}
        }
    }
    views(&mut s, from, to);
    migrate_more(&mut s, from, to);
    types_policies_and_access(&mut s, from, to);
    s.finish()
}

/// Renames or adds enum labels where PostgreSQL can (a label renamed in place; new labels
/// with the old ones kept in order). False when it cannot: a label removed or reordered.
fn enum_values(s: &mut Script, name: &str, new: &[String], old: &[String]) -> bool {
    if new == old {
        return true;
    }
    // Same length, and each differing label is new on one side and gone on the other:
    // renamed in place.
    if new.len() == old.len()
        && new
            .iter()
            .zip(old)
            .all(|(n, o)| n == o || (!old.contains(n) && !new.contains(o)))
    {
        for (n, o) in new.iter().zip(old).filter(|(n, o)| n != o) {
            s.push(
                Step::Enum,
                format!(
                    "ALTER TYPE {name} RENAME VALUE {} TO {};",
                    literal(o),
                    literal(n)
                ),
            );
        }
        return true;
    }
    let kept: Vec<&String> = new.iter().filter(|v| old.contains(v)).collect();
    if kept.len() != old.len() || kept.iter().zip(old).any(|(k, o)| *k != o) {
        return false;
    }
    for (i, value) in new.iter().enumerate() {
        if old.contains(value) {
            continue;
        }
        let place = match (i, old.first()) {
            (0, Some(first)) => format!(" BEFORE {}", literal(first)),
            (0, None) => String::new(),
            _ => format!(" AFTER {}", literal(&new[i - 1])),
        };
        s.push(
            Step::Enum,
            format!("ALTER TYPE {name} ADD VALUE {}{place};", literal(value)),
        );
    }
    true
}

/// A column of an enum type: (table, column, default, array).
type EnumUser = (String, String, Option<String>, bool);

/// The columns of type `name` (or an array of it) that exist before and after.
fn enum_users(name: &str, from: &Schema, to: &Schema) -> Vec<EnumUser> {
    let mut users = Vec::new();
    for t in &from.tables {
        let Some(after) = to
            .tables
            .iter()
            .find(|n| (&n.schema, &n.name) == (&t.schema, &t.name))
        else {
            continue;
        };
        for c in &t.columns {
            let array = c.data_type == format!("{name}[]");
            if (c.data_type == name || array) && after.columns.iter().any(|a| a.name == c.name) {
                users.push((
                    qualified(&t.schema, &t.name),
                    c.name.clone(),
                    c.default.clone(),
                    array,
                ));
            }
        }
    }
    users
}

/// PostgreSQL cannot remove or reorder enum labels: the type is renamed away, created
/// again with the new labels, its columns converted through text, the old type dropped.
fn recreate_enum(s: &mut Script, new: &super::Enum, users: &[EnumUser]) {
    let name = qualified(&new.schema, &new.name);
    let old_name = format!("{}__pgfleet_old", new.name);
    let values: Vec<String> = new.values.iter().map(|v| literal(v)).collect();
    let mut sql = vec![
        format!(
            "-- enum {name}: labels removed or reordered, which PostgreSQL cannot do in place: the type is recreated and its columns converted. This fails while a row still holds a label that goes (update those rows first); views and functions using the type must be dropped before and re-created after"
        ),
        format!("ALTER TYPE {name} RENAME TO {};", quote_ident(&old_name)),
        format!("CREATE TYPE {name} AS ENUM ({});", values.join(", ")),
    ];
    for (table, column, default, array) in users {
        let alter = format!("ALTER TABLE {table} ALTER COLUMN {}", quote_ident(column));
        if default.is_some() {
            sql.push(format!("{alter} DROP DEFAULT;"));
        }
        let (t, via) = if *array {
            (format!("{name}[]"), "text[]")
        } else {
            (name.clone(), "text")
        };
        sql.push(format!(
            "{alter} TYPE {t} USING {}::{via}::{t};",
            quote_ident(column)
        ));
        if let Some(d) = default {
            sql.push(format!("{alter} SET DEFAULT {d};"));
        }
    }
    sql.push(format!(
        "DROP TYPE {}.{};",
        quote_ident(&new.schema),
        quote_ident(&old_name)
    ));
    s.push(Step::Enum, sql.join("\n"));
}

fn sequence(s: &mut Script, pair: (Option<&Sequence>, Option<&Sequence>)) {
    let options = |q: &Sequence| {
        format!(
            "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}CYCLE",
            q.data_type,
            q.increment,
            q.min,
            q.max,
            q.start,
            q.cache,
            if q.cycle { "" } else { "NO " }
        )
    };
    match pair {
        (Some(new), old) => {
            let name = qualified(&new.schema, &new.name);
            match old {
                None => s.push(
                    Step::Sequence,
                    format!("CREATE SEQUENCE {name} {};", options(new)),
                ),
                Some(old) if options(old) != options(new) => {
                    s.push(
                        Step::Sequence,
                        format!("ALTER SEQUENCE {name} {};", options(new)),
                    );
                }
                Some(_) => {}
            }
            if old.map_or(new.owned_by.is_some(), |o| o.owned_by != new.owned_by) {
                let owner = new.owned_by.as_ref().map_or_else(
                    || "NONE".to_owned(),
                    |o| {
                        format!(
                            "{}.{}",
                            qualified(&o.schema, &o.table),
                            quote_ident(&o.column)
                        )
                    },
                );
                // Last: the owning column may be created by this script.
                s.push(
                    Step::OwnedBy,
                    format!("ALTER SEQUENCE {name} OWNED BY {owner};"),
                );
            }
        }
        (None, Some(old)) => s.push(
            Step::DropSequence,
            format!(
                "DROP SEQUENCE IF EXISTS {};",
                qualified(&old.schema, &old.name)
            ),
        ),
        (None, None) => {}
    }
}

fn tables(s: &mut Script, from: &Schema, to: &Schema) {
    let mut dropped = Vec::new();
    let mut created = Vec::new();
    for pair in pair_up(&to.tables, &from.tables, |t| (&t.schema, &t.name)) {
        match pair {
            (Some(new), None) => created.push(new),
            (None, Some(old)) => dropped.push(qualified(&old.schema, &old.name)),
            (Some(new), Some(old)) => alter_table(s, new, old),
            (None, None) => {}
        }
    }
    // Partitions after their parents.
    fn depth(t: &Table, all: &[Table]) -> usize {
        let parent = t
            .partition_of
            .as_ref()
            .and_then(|(ps, pn)| all.iter().find(|p| (&p.schema, &p.name) == (ps, pn)));
        parent.map_or(0, |p| 1 + depth(p, all))
    }
    created.sort_by_key(|t| depth(t, &to.tables));
    for new in created {
        create_table(s, new);
    }
    // One statement, so that tables referring to each other go together.
    if !dropped.is_empty() {
        s.push(
            Step::DropTable,
            format!("DROP TABLE IF EXISTS {};", dropped.join(", ")),
        );
    }
}

fn create_table(s: &mut Script, t: &Table) {
    let name = qualified(&t.schema, &t.name);
    let sql = match (&t.partition_of, &t.partition_bound) {
        (Some((ps, pn)), bound) => format!(
            "CREATE TABLE {name} PARTITION OF {} {};",
            qualified(ps, pn),
            bound.as_deref().unwrap_or("DEFAULT")
        ),
        (None, _) => {
            let columns: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("    {}", column_definition(c)))
                .collect();
            let partitioning = t
                .partition_key
                .as_ref()
                .map(|k| format!(" PARTITION BY {k}"))
                .unwrap_or_default();
            // A child takes its parents' CHECK constraints as it is made (INHERIT later
            // would need them first); columns it lists that a parent has are merged.
            let inherits = if t.inherits.is_empty() {
                String::new()
            } else {
                let parents: Vec<String> =
                    t.inherits.iter().map(|(s, n)| qualified(s, n)).collect();
                format!(" INHERITS ({})", parents.join(", "))
            };
            format!(
                "CREATE TABLE {name} (\n{}\n){inherits}{partitioning};",
                columns.join(",\n")
            )
        }
    };
    s.push(Step::CreateTable, sql);
    for k in &t.constraints {
        add_constraint(s, &name, k);
    }
    for i in &t.indexes {
        create_index(s, i);
    }
    for tr in &t.triggers {
        s.push(Step::CreateTrigger, format!("{};", tr.definition));
    }
}

fn column_definition(c: &Column) -> String {
    let mut sql = format!("{} {}", quote_ident(&c.name), c.data_type);
    if let Some(collation) = &c.collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(expression) = &c.generated {
        sql.push_str(&format!(" GENERATED ALWAYS AS ({expression}) STORED"));
    }
    if let Some(identity) = &c.identity {
        sql.push_str(&format!(
            " GENERATED {} AS IDENTITY",
            identity.to_uppercase()
        ));
    }
    if let Some(default) = &c.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if c.not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

fn add_constraint(s: &mut Script, table: &str, k: &Constraint) {
    let step = if k.kind == "f" {
        Step::AddForeignKey
    } else {
        Step::AddConstraint
    };
    s.push(
        step,
        format!(
            "ALTER TABLE {table} ADD CONSTRAINT {} {};",
            quote_ident(&k.name),
            k.definition
        ),
    );
}

fn drop_constraint(s: &mut Script, table: &str, k: &Constraint) {
    let step = if k.kind == "f" {
        Step::DropForeignKey
    } else {
        Step::DropConstraint
    };
    s.push(
        step,
        format!(
            "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {};",
            quote_ident(&k.name)
        ),
    );
}

fn alter_table(s: &mut Script, new: &Table, old: &Table) {
    let table = qualified(&new.schema, &new.name);
    let attached = |t: &Table| t.partition_of.clone().zip(t.partition_bound.clone());
    // Detached: it keeps the indexes and constraints it had from its parent, so they are
    // not added again below.
    let mut detached = false;
    match (attached(new), attached(old)) {
        (None, Some(((ps, pn), _))) if new.partition_key == old.partition_key => {
            s.push(
                Step::CreateTable,
                format!(
                    "ALTER TABLE {} DETACH PARTITION {table};",
                    qualified(&ps, &pn)
                ),
            );
            detached = true;
        }
        (Some(((ps, pn), bound)), None) if new.partition_key == old.partition_key => s.push(
            Step::CreateTable,
            format!(
                "ALTER TABLE {} ATTACH PARTITION {table} {bound};",
                qualified(&ps, &pn)
            ),
        ),
        (n, o) if n != o || new.partition_key != old.partition_key => s.push(
            Step::CreateTable,
            format!("-- table {table}: its partitioning changes in a way ALTER TABLE cannot make (a new key, a new bound): rebuild the table by hand"),
        ),
        _ => {}
    }
    for pair in pair_up(&new.columns, &old.columns, |c| &c.name) {
        match pair {
            (Some(c), None) => s.push(
                Step::Column,
                format!("ALTER TABLE {table} ADD COLUMN {};", column_definition(c)),
            ),
            (None, Some(c)) => s.push(
                Step::DropColumn,
                format!(
                    "ALTER TABLE {table} DROP COLUMN IF EXISTS {};",
                    quote_ident(&c.name)
                ),
            ),
            (Some(c), Some(o)) => alter_column(s, &table, c, o),
            (None, None) => {}
        }
    }
    for pair in pair_up(&new.constraints, &old.constraints, |k| &k.name) {
        match pair {
            (Some(_), None) if detached => {}
            (Some(k), None) => add_constraint(s, &table, k),
            (None, Some(o)) => drop_constraint(s, &table, o),
            (Some(k), Some(o)) if k.definition != o.definition => {
                drop_constraint(s, &table, o);
                add_constraint(s, &table, k);
            }
            _ => {}
        }
    }
    if !detached {
        indexes(s, &new.schema, &new.indexes, &old.indexes);
    }
    for pair in pair_up(&new.triggers, &old.triggers, |t| &t.name) {
        let drop = |name: &str| format!("DROP TRIGGER IF EXISTS {} ON {table};", quote_ident(name));
        match pair {
            (Some(t), None) => s.push(Step::CreateTrigger, format!("{};", t.definition)),
            (None, Some(o)) => s.push(Step::DropTrigger, drop(&o.name)),
            (Some(t), Some(o)) if t.definition != o.definition => {
                s.push(Step::DropTrigger, drop(&o.name));
                s.push(Step::CreateTrigger, format!("{};", t.definition));
            }
            _ => {}
        }
    }
}

/// ALTER COLUMN statements, ordered so each is allowed: identity can only go on a NOT NULL
/// column without a default, and NOT NULL cannot be dropped while the column is identity.
fn alter_column(s: &mut Script, table: &str, new: &Column, old: &Column) {
    let alter = format!(
        "ALTER TABLE {table} ALTER COLUMN {}",
        quote_ident(&new.name)
    );
    if new.generated != old.generated {
        if new.generated.is_none() {
            // A generated column becomes a plain one keeping its values (PostgreSQL 13+).
            s.push(Step::Column, format!("{alter} DROP EXPRESSION;"));
        } else {
            // PostgreSQL 15 cannot change a generation expression, nor make a plain column
            // generated: the column is dropped and added again, its values computed anew.
            s.push(
                Step::DropColumn,
                format!(
                    "-- column {table}.{}: generation expression {} → {}; PostgreSQL cannot alter it, so the column is dropped and added again (its values are computed anew, and it moves to the end of the table; an index or view on it must be dropped before and re-created after)\nALTER TABLE {table} DROP COLUMN {};",
                    quote_ident(&new.name),
                    old.generated.as_deref().unwrap_or("none"),
                    new.generated.as_deref().unwrap_or("none"),
                    quote_ident(&new.name)
                ),
            );
            s.push(
                Step::Column,
                format!("ALTER TABLE {table} ADD COLUMN {};", column_definition(new)),
            );
            return;
        }
    }
    if new.default != old.default && old.default.is_some() {
        s.push(Step::DropDefault, format!("{alter} DROP DEFAULT;"));
    }
    if new.data_type != old.data_type {
        let t = &new.data_type;
        s.push(
            Step::Column,
            format!("{alter} TYPE {t} USING {}::{t};", quote_ident(&new.name)),
        );
    }
    if old.identity.is_some() && new.identity.is_none() {
        s.push(Step::Column, format!("{alter} DROP IDENTITY;"));
    }
    if new.not_null != old.not_null {
        let set = if new.not_null { "SET" } else { "DROP" };
        s.push(Step::Column, format!("{alter} {set} NOT NULL;"));
    }
    match (&new.identity, &old.identity) {
        (Some(i), None) => s.push(
            Step::Column,
            format!("{alter} ADD GENERATED {} AS IDENTITY;", i.to_uppercase()),
        ),
        (Some(i), Some(o)) if i != o => s.push(
            Step::Column,
            format!("{alter} SET GENERATED {};", i.to_uppercase()),
        ),
        _ => {}
    }
    if let Some(default) = new.default.as_ref().filter(|_| new.default != old.default) {
        s.push(Step::Column, format!("{alter} SET DEFAULT {default};"));
    }
}

fn indexes(s: &mut Script, schema: &str, new: &[Index], old: &[Index]) {
    for pair in pair_up(new, old, |i| &i.name) {
        let name = |i: &Index| qualified(schema, &i.name);
        let drop = |i: &Index| format!("DROP INDEX IF EXISTS {};", name(i));
        match pair {
            // Building it for real would fail where the live data broke it: the repair
            // belongs on the database that has it.
            (Some(i), None) if !i.valid => s.push(
                Step::CreateIndex,
                format!(
                    "-- index {} is INVALID where it exists (a CREATE INDEX CONCURRENTLY failed or was cut short): not adopted. Repair it there: DROP INDEX CONCURRENTLY IF EXISTS {}; then build it again, CONCURRENTLY, once the data allows",
                    name(i),
                    name(i)
                ),
            ),
            (Some(i), None) => create_index(s, i),
            (None, Some(o)) => s.push(Step::DropIndex, drop(o)),
            (Some(i), Some(o)) if i.definition != o.definition => {
                s.push(Step::DropIndex, drop(o));
                create_index(s, i);
            }
            (Some(i), Some(o)) if i.valid && !o.valid => {
                s.push(Step::CreateIndex, format!("REINDEX INDEX {};", name(i)));
            }
            (Some(i), Some(o)) if !i.valid && o.valid => s.push(
                Step::CreateIndex,
                format!(
                    "-- index {} is invalid there (a failed CREATE INDEX CONCURRENTLY?)",
                    name(i)
                ),
            ),
            _ => {}
        }
    }
}

fn create_index(s: &mut Script, i: &Index) {
    // A partitioned table's index prints as `ON ONLY`, which would leave out the
    // partitions and stay invalid; created plainly, it reaches them.
    let sql = i.definition.replacen(" ON ONLY ", " ON ", 1);
    s.push(Step::CreateIndex, format!("{sql};"));
}

fn views(s: &mut Script, from: &Schema, to: &Schema) {
    let key = |v: &View| (v.schema.clone(), v.name.clone());
    let old_views: BTreeMap<_, _> = from.views.iter().map(|v| (key(v), v)).collect();
    let new_views: BTreeMap<_, _> = to.views.iter().map(|v| (key(v), v)).collect();
    let replaced = replaced_views(from, to);
    let what = |v: &View| {
        if v.materialized {
            "MATERIALIZED VIEW"
        } else {
            "VIEW"
        }
    };
    for old in dependency_order(&from.views).into_iter().rev() {
        if !new_views.contains_key(&key(old)) || replaced.contains(&key(old)) {
            s.push(
                Step::DropView,
                format!(
                    "DROP {} IF EXISTS {};",
                    what(old),
                    qualified(&old.schema, &old.name)
                ),
            );
        }
    }
    for new in dependency_order(&to.views) {
        match old_views.get(&key(new)) {
            Some(old) if !replaced.contains(&key(new)) => {
                indexes(s, &new.schema, &new.indexes, &old.indexes)
            }
            _ => {
                let query = new.definition.trim().trim_end_matches(';');
                s.push(
                    Step::CreateView,
                    format!(
                        "CREATE {} {} AS\n{query};",
                        what(new),
                        qualified(&new.schema, &new.name)
                    ),
                );
                indexes(s, &new.schema, &new.indexes, &[]);
            }
        }
    }
}

/// The views of both sides that a draft drops and creates again: a changed view
/// (CREATE OR REPLACE only appends columns, and not for materialized views), its indexes
/// with it; and the views that read it, unchanged or not, as PostgreSQL will not drop it
/// under them.
fn replaced_views(from: &Schema, to: &Schema) -> BTreeSet<(String, String)> {
    let key = |v: &View| (v.schema.clone(), v.name.clone());
    let old_views: BTreeMap<_, _> = from.views.iter().map(|v| (key(v), v)).collect();
    let new_views: BTreeMap<_, _> = to.views.iter().map(|v| (key(v), v)).collect();
    let mut replaced: BTreeSet<(String, String)> = to
        .views
        .iter()
        .filter(|v| {
            old_views
                .get(&key(v))
                .is_some_and(|o| (o.materialized, &o.definition) != (v.materialized, &v.definition))
        })
        .map(key)
        .collect();
    loop {
        let before = replaced.len();
        for old in &from.views {
            if new_views.contains_key(&key(old))
                && old.depends_on.iter().any(|d| replaced.contains(d))
            {
                replaced.insert(key(old));
            }
        }
        if replaced.len() == before {
            break;
        }
    }
    replaced
}

/// Views with those they read first.
fn dependency_order(views: &[View]) -> Vec<&View> {
    fn visit<'a>(v: &'a View, all: &'a [View], order: &mut Vec<&'a View>) {
        if order.iter().any(|o| std::ptr::eq(*o, v)) {
            return;
        }
        for (schema, name) in &v.depends_on {
            if let Some(d) = all.iter().find(|d| (&d.schema, &d.name) == (schema, name)) {
                visit(d, all, order);
            }
        }
        order.push(v);
    }
    let mut order = Vec::new();
    for v in views {
        visit(v, views, &mut order);
    }
    order
}

/// Domains, composite types, policies, owners, grants and default privileges.
fn types_policies_and_access(s: &mut Script, from: &Schema, to: &Schema) {
    for pair in pair_up(&to.domains, &from.domains, |d| (&d.schema, &d.name)) {
        match pair {
            (Some(new), old) => domain(s, new, old),
            (None, Some(old)) => s.push(
                Step::DropDomain,
                format!(
                    "DROP DOMAIN IF EXISTS {};",
                    qualified(&old.schema, &old.name)
                ),
            ),
            (None, None) => {}
        }
    }
    for pair in pair_up(&to.composites, &from.composites, |c| (&c.schema, &c.name)) {
        match pair {
            (Some(new), old) => composite(s, new, old),
            (None, Some(old)) => s.push(
                Step::DropComposite,
                format!("DROP TYPE IF EXISTS {};", qualified(&old.schema, &old.name)),
            ),
            (None, None) => {}
        }
    }
    for pair in pair_up(&to.policies, &from.policies, |p| {
        (&p.schema, &p.table, &p.name)
    }) {
        match pair {
            (Some(new), old) => policy(s, new, old),
            (None, Some(old)) => s.push(Step::DropPolicy, drop_policy(old)),
            (None, None) => {}
        }
    }
    for pair in pair_up(&to.access, &from.access, access_key) {
        match pair {
            (Some(new), old) => access(s, new, old),
            // A column that keeps no grants of its own is no longer listed.
            (None, Some(old)) if column_in(to, old) => {
                let none = Access {
                    grants: Vec::new(),
                    ..old.clone()
                };
                access(s, &none, Some(old));
            }
            _ => {}
        }
    }
    for pair in pair_up(&to.default_access, &from.default_access, default_access_key) {
        let d = pair.0.or(pair.1).expect("one side has it");
        // Default privileges in a schema go with it when it is dropped.
        if d.schema.as_ref().is_some_and(|n| !to.schemas.contains(n)) {
            continue;
        }
        let mut granted = pair.0.map_or(&[][..], |d| &d.privileges[..]);
        let mut taken = pair.1.map_or(&[][..], |d| &d.privileges[..]);
        // A revoked built-in default comes back by granting it.
        if d.revoked {
            (granted, taken) = (taken, granted);
        }
        let prefix = format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {}{}",
            quote_ident(&d.role),
            d.schema
                .as_ref()
                .map(|n| format!(" IN SCHEMA {}", quote_ident(n)))
                .unwrap_or_default()
        );
        let on = d.on.to_uppercase();
        grants(s, &prefix, &on, &d.grantee, None, granted, taken);
    }
}

fn domain(s: &mut Script, new: &Domain, old: Option<&Domain>) {
    let name = qualified(&new.schema, &new.name);
    let alter = format!("ALTER DOMAIN {name}");
    let Some(old) = old else {
        let default = new
            .default
            .as_ref()
            .map(|d| format!(" DEFAULT {d}"))
            .unwrap_or_default();
        let not_null = if new.not_null { " NOT NULL" } else { "" };
        s.push(
            Step::Domain,
            format!("CREATE DOMAIN {name} AS {}{default}{not_null};", new.base),
        );
        for k in &new.constraints {
            s.push(
                Step::Domain,
                format!(
                    "{alter} ADD CONSTRAINT {} {};",
                    quote_ident(&k.name),
                    k.definition
                ),
            );
        }
        return;
    };
    if new.base != old.base {
        s.push(
            Step::Domain,
            format!(
                "-- domain {name}: base type changes from {} to {}; PostgreSQL cannot alter it: recreate the domain by hand",
                old.base, new.base
            ),
        );
    }
    if new.default != old.default {
        s.push(
            Step::Domain,
            match &new.default {
                Some(d) => format!("{alter} SET DEFAULT {d};"),
                None => format!("{alter} DROP DEFAULT;"),
            },
        );
    }
    if new.not_null != old.not_null {
        let set = if new.not_null { "SET" } else { "DROP" };
        s.push(Step::Domain, format!("{alter} {set} NOT NULL;"));
    }
    for pair in pair_up(&new.constraints, &old.constraints, |k| &k.name) {
        let add = |k: &DomainCheck| {
            format!(
                "{alter} ADD CONSTRAINT {} {};",
                quote_ident(&k.name),
                k.definition
            )
        };
        let drop = |k: &DomainCheck| {
            format!(
                "{alter} DROP CONSTRAINT IF EXISTS {};",
                quote_ident(&k.name)
            )
        };
        match pair {
            (Some(k), None) => s.push(Step::Domain, add(k)),
            (None, Some(o)) => s.push(Step::Domain, drop(o)),
            (Some(k), Some(o)) if k.definition != o.definition => {
                s.push(Step::Domain, drop(o));
                s.push(Step::Domain, add(k));
            }
            _ => {}
        }
    }
}

/// Attributes are dropped, retyped and added at the end; an order that takes more than
/// that is left to a person.
fn composite(s: &mut Script, new: &Composite, old: Option<&Composite>) {
    let name = qualified(&new.schema, &new.name);
    let Some(old) = old else {
        let attributes: Vec<String> = new
            .attributes
            .iter()
            .map(|a| format!("{} {}", quote_ident(&a.name), a.data_type))
            .collect();
        s.push(
            Step::Composite,
            format!("CREATE TYPE {name} AS ({});", attributes.join(", ")),
        );
        return;
    };
    if new.attributes == old.attributes {
        return;
    }
    let has = |list: &[Attribute], name: &str| list.iter().any(|a| a.name == name);
    let kept: Vec<&str> = old
        .attributes
        .iter()
        .filter(|a| has(&new.attributes, &a.name))
        .map(|a| a.name.as_str())
        .collect();
    let in_new_order: Vec<&str> = new
        .attributes
        .iter()
        .filter(|a| has(&old.attributes, &a.name))
        .map(|a| a.name.as_str())
        .collect();
    let added_last = new
        .attributes
        .iter()
        .skip(kept.len())
        .all(|a| !has(&old.attributes, &a.name));
    if kept != in_new_order || !added_last {
        let list = |c: &Composite| {
            let names: Vec<&str> = c.attributes.iter().map(|a| a.name.as_str()).collect();
            names.join(", ")
        };
        s.push(
            Step::Composite,
            format!(
                "-- composite type {name}: attributes go from ({}) to ({}); PostgreSQL cannot reorder them: recreate the type by hand",
                list(old),
                list(new)
            ),
        );
        return;
    }
    let mut actions = Vec::new();
    for a in &old.attributes {
        if !has(&new.attributes, &a.name) {
            actions.push(format!("DROP ATTRIBUTE IF EXISTS {}", quote_ident(&a.name)));
        }
    }
    for a in &new.attributes {
        match old.attributes.iter().find(|o| o.name == a.name) {
            Some(o) if o.data_type != a.data_type => actions.push(format!(
                "ALTER ATTRIBUTE {} TYPE {}",
                quote_ident(&a.name),
                a.data_type
            )),
            Some(_) => {}
            None => actions.push(format!(
                "ADD ATTRIBUTE {} {}",
                quote_ident(&a.name),
                a.data_type
            )),
        }
    }
    s.push(
        Step::Composite,
        format!("ALTER TYPE {name} {};", actions.join(", ")),
    );
}

fn drop_policy(p: &Policy) -> String {
    format!(
        "DROP POLICY IF EXISTS {} ON {};",
        quote_ident(&p.name),
        qualified(&p.schema, &p.table)
    )
}

/// `TO` roles: `public` is the keyword, not a role to quote.
fn roles(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|r| role(r)).collect();
    quoted.join(", ")
}

fn role(name: &str) -> String {
    if name.eq_ignore_ascii_case("public") {
        "PUBLIC".to_owned()
    } else {
        quote_ident(name)
    }
}

/// ALTER POLICY changes roles and expressions in place; a new command or type, or an
/// expression taken away, needs the policy created again.
fn policy(s: &mut Script, new: &Policy, old: Option<&Policy>) {
    let table = qualified(&new.schema, &new.table);
    let clauses = |p: &Policy| {
        let mut sql = String::new();
        if let Some(u) = &p.using {
            sql.push_str(&format!(" USING ({u})"));
        }
        if let Some(c) = &p.check {
            sql.push_str(&format!(" WITH CHECK ({c})"));
        }
        sql
    };
    let create = format!(
        "CREATE POLICY {} ON {table} AS {} FOR {} TO {}{};",
        quote_ident(&new.name),
        if new.permissive {
            "PERMISSIVE"
        } else {
            "RESTRICTIVE"
        },
        new.command,
        roles(&new.roles),
        clauses(new)
    );
    match old {
        None => s.push(Step::CreatePolicy, create),
        Some(old) if old == new => {}
        Some(old)
            if (&old.command, old.permissive) != (&new.command, new.permissive)
                || (old.using.is_some() && new.using.is_none())
                || (old.check.is_some() && new.check.is_none()) =>
        {
            s.push(Step::DropPolicy, drop_policy(old));
            s.push(Step::CreatePolicy, create);
        }
        Some(_) => s.push(
            Step::CreatePolicy,
            format!(
                "ALTER POLICY {} ON {table} TO {}{};",
                quote_ident(&new.name),
                roles(&new.roles),
                clauses(new)
            ),
        ),
    }
}

/// The owner and grants of an object that exists in `to`; one created by this script
/// (`old` none) starts with PostgreSQL's defaults.
fn access(s: &mut Script, new: &Access, old: Option<&Access>) {
    let name = qualified(&new.schema, &new.name);
    let (what, target) = match (new.object.as_str(), &new.detail) {
        ("schema", _) => ("SCHEMA".to_owned(), quote_ident(&new.name)),
        ("function" | "procedure", Some(arguments)) => {
            (new.object.to_uppercase(), format!("{name}({arguments})"))
        }
        (object, _) => (object.to_uppercase(), name),
    };
    if let Some(owner) = new
        .owner
        .as_ref()
        .filter(|o| old.is_none_or(|old| old.owner.as_ref() != Some(*o)))
    {
        s.push(
            Step::Owner,
            format!("ALTER {what} {target} OWNER TO {};", role(owner)),
        );
    }
    // GRANT … ON TABLE serves views too, and a column's grant names its table.
    let on = match what.as_str() {
        "VIEW" | "MATERIALIZED VIEW" | "COLUMN" => format!("TABLE {target}"),
        _ => format!("{what} {target}"),
    };
    let column = (new.object == "column")
        .then_some(new.detail.as_deref())
        .flatten();
    let defaults = created_with(&new.object);
    let old_grants = old.map_or(&defaults[..], |o| &o.grants[..]);
    for pair in pair_up(&new.grants, old_grants, |g| &g.grantee) {
        let g = pair.0.or(pair.1).expect("one side has it");
        let granted = pair.0.map_or(&[][..], |g| &g.privileges[..]);
        let taken = pair.1.map_or(&[][..], |g| &g.privileges[..]);
        grants(s, "", &on, &g.grantee, column, granted, taken);
    }
}

/// What PostgreSQL grants others on an object when it is created.
fn created_with(object: &str) -> Vec<Grant> {
    let public = |privilege: &str| Grant {
        grantee: "PUBLIC".to_owned(),
        privileges: vec![privilege.to_owned()],
    };
    match object {
        "function" | "procedure" => vec![public("EXECUTE")],
        "type" | "domain" => vec![public("USAGE")],
        _ => Vec::new(),
    }
}

/// REVOKE what `taken` has and `granted` lacks, then GRANT the rest of `granted`, on `on`
/// (`TABLE t`, `TABLES`), each statement after `prefix` (ALTER DEFAULT PRIVILEGES …).
fn grants(
    s: &mut Script,
    prefix: &str,
    on: &str,
    grantee: &str,
    column: Option<&str>,
    granted: &[String],
    taken: &[String],
) {
    let list = |privileges: Vec<&str>| {
        let each: Vec<String> = privileges
            .into_iter()
            .map(|p| match column {
                Some(c) => format!("{p} ({})", quote_ident(c)),
                None => p.to_owned(),
            })
            .collect();
        each.join(", ")
    };
    let lead = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix} ")
    };
    const OPTION: &str = " WITH GRANT OPTION";
    let revoke: Vec<&str> = taken
        .iter()
        .filter(|p| !granted.contains(*p))
        .map(|p| p.trim_end_matches(OPTION))
        .collect();
    if !revoke.is_empty() {
        s.push(
            Step::Grant,
            format!(
                "{lead}REVOKE {} ON {on} FROM {};",
                list(revoke),
                role(grantee)
            ),
        );
    }
    let new: Vec<&String> = granted.iter().filter(|p| !taken.contains(*p)).collect();
    for with_option in [false, true] {
        let these: Vec<&str> = new
            .iter()
            .filter(|p| p.ends_with(OPTION) == with_option)
            .map(|p| p.trim_end_matches(OPTION))
            .collect();
        if !these.is_empty() {
            s.push(
                Step::Grant,
                format!(
                    "{lead}GRANT {} ON {on} TO {}{};",
                    list(these),
                    role(grantee),
                    if with_option { OPTION } else { "" }
                ),
            );
        }
    }
}

/// `'text'` with quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `schema.name`, each quoted where needed.
fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Statements for what `diff::compare_more` compares: collations and identity options of
/// kept columns (new columns get their collation in [`column_definition`]), table storage
/// and security settings, inheritance, trigger states and comments. An object that the
/// rest of the draft creates, or drops and creates again, starts from PostgreSQL's
/// defaults: enabled, logged, no options, no comment.
fn migrate_more(s: &mut Script, from: &Schema, to: &Schema) {
    let schema_comment = |schema: &Schema, name: &String| {
        schema
            .schema_comments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
    };
    for pair in pair_up(&to.schemas, &from.schemas, |n| n) {
        if let (Some(name), old) = pair {
            let before = old.and_then(|n| schema_comment(from, n));
            let what = format!("SCHEMA {}", quote_ident(name));
            comment_on(
                s,
                Step::CreateSchema,
                &what,
                before.as_ref(),
                schema_comment(to, name).as_ref(),
            );
        }
    }
    for pair in pair_up(&to.enums, &from.enums, |t| (&t.schema, &t.name)) {
        if let (Some(new), old) = pair {
            let what = format!("TYPE {}", qualified(&new.schema, &new.name));
            comment_on(
                s,
                Step::Enum,
                &what,
                old.and_then(|o| o.comment.as_ref()),
                new.comment.as_ref(),
            );
        }
    }
    for pair in pair_up(&to.sequences, &from.sequences, |q| (&q.schema, &q.name)) {
        if let (Some(new), old) = pair {
            let what = format!("SEQUENCE {}", qualified(&new.schema, &new.name));
            comment_on(
                s,
                Step::Sequence,
                &what,
                old.and_then(|o| o.comment.as_ref()),
                new.comment.as_ref(),
            );
        }
    }
    for pair in pair_up(&to.tables, &from.tables, |t| (&t.schema, &t.name)) {
        if let (Some(new), old) = pair {
            more_of_table(s, new, old);
        }
    }
    for pair in pair_up(&to.functions, &from.functions, |f| {
        (&f.schema, &f.name, &f.arguments)
    }) {
        if let (Some(new), old) = pair {
            // Dropped and created again when what it returns changes (see `migrate`).
            let kept = old.filter(|o| (o.procedure, &o.result) == (new.procedure, &new.result));
            let what = format!(
                "{} {}({})",
                if new.procedure {
                    "PROCEDURE"
                } else {
                    "FUNCTION"
                },
                qualified(&new.schema, &new.name),
                new.arguments
            );
            comment_on(
                s,
                Step::Function,
                &what,
                kept.and_then(|o| o.comment.as_ref()),
                new.comment.as_ref(),
            );
        }
    }
    let replaced = replaced_views(from, to);
    for pair in pair_up(&to.views, &from.views, |v| (&v.schema, &v.name)) {
        if let (Some(new), old) = pair {
            let kept = old.filter(|o| !replaced.contains(&(o.schema.clone(), o.name.clone())));
            let what = format!(
                "{} {}",
                if new.materialized {
                    "MATERIALIZED VIEW"
                } else {
                    "VIEW"
                },
                qualified(&new.schema, &new.name)
            );
            comment_on(
                s,
                Step::CreateView,
                &what,
                kept.and_then(|o| o.comment.as_ref()),
                new.comment.as_ref(),
            );
            index_comments(
                s,
                &new.schema,
                &new.indexes,
                kept.map_or(&[], |o| &o.indexes),
            );
        }
    }
}

/// [`migrate_more`] for one table, `old` being none when the draft creates it.
fn more_of_table(s: &mut Script, new: &Table, old: Option<&Table>) {
    // A table the draft creates is made with its parents (`create_table`'s INHERITS).
    let created = Table {
        replica_identity: "default".to_owned(),
        inherits: new.inherits.clone(),
        ..Table::default()
    };
    let old = old.unwrap_or(&created);
    let table = qualified(&new.schema, &new.name);
    let alter = |what: &str| format!("ALTER TABLE {table} {what};");
    if new.unlogged != old.unlogged {
        let to = if new.unlogged { "UNLOGGED" } else { "LOGGED" };
        s.push(Step::Column, alter(&format!("SET {to}")));
    }
    let name_of = |option: &str| option.split('=').next().unwrap_or_default().to_owned();
    let new_names: Vec<String> = new.options.iter().map(|o| name_of(o)).collect();
    let reset: Vec<String> = old
        .options
        .iter()
        .map(|o| name_of(o))
        .filter(|n| !new_names.contains(n))
        .collect();
    if !reset.is_empty() {
        s.push(
            Step::Column,
            alter(&format!("RESET ({})", reset.join(", "))),
        );
    }
    let set: Vec<String> = new
        .options
        .iter()
        .filter(|o| !old.options.contains(o))
        .map(|o| {
            let (name, value) = o.split_once('=').unwrap_or((o, ""));
            format!("{name} = {}", literal(value))
        })
        .collect();
    if !set.is_empty() {
        s.push(Step::Column, alter(&format!("SET ({})", set.join(", "))));
    }
    if new.row_security != old.row_security {
        let to = if new.row_security {
            "ENABLE"
        } else {
            "DISABLE"
        };
        s.push(Step::Column, alter(&format!("{to} ROW LEVEL SECURITY")));
    }
    if new.force_row_security != old.force_row_security {
        let to = if new.force_row_security {
            "FORCE"
        } else {
            "NO FORCE"
        };
        s.push(Step::Column, alter(&format!("{to} ROW LEVEL SECURITY")));
    }
    if new.replica_identity != old.replica_identity {
        // After indexes are created: USING INDEX needs its index.
        let identity = match new.replica_identity.strip_prefix("using index ") {
            Some(index) => format!("USING INDEX {index}"),
            None => new.replica_identity.to_uppercase(),
        };
        s.push(
            Step::CreateTrigger,
            alter(&format!("REPLICA IDENTITY {identity}")),
        );
    }
    // Leaving a parent comes first, before the parent may be dropped; joining one comes
    // last, once the columns and constraints it requires are there.
    for (ps, pn) in old.inherits.iter().filter(|p| !new.inherits.contains(p)) {
        s.push(
            Step::DropTrigger,
            alter(&format!("NO INHERIT {}", qualified(ps, pn))),
        );
    }
    for (ps, pn) in new.inherits.iter().filter(|p| !old.inherits.contains(p)) {
        s.push(
            Step::CreateTrigger,
            alter(&format!("INHERIT {}", qualified(ps, pn))),
        );
    }
    comment_on(
        s,
        Step::Column,
        &format!("TABLE {table}"),
        old.comment.as_ref(),
        new.comment.as_ref(),
    );
    for pair in pair_up(&new.columns, &old.columns, |c| &c.name) {
        let (Some(c), o) = pair else { continue };
        let column = quote_ident(&c.name);
        // A new column has its collation in its definition.
        if o.is_some_and(|o| o.collation != c.collation) {
            let collation = c.collation.as_deref().unwrap_or("pg_catalog.\"default\"");
            s.push(
                Step::Column,
                alter(&format!(
                    "ALTER COLUMN {column} TYPE {} COLLATE {collation}",
                    c.data_type
                )),
            );
        }
        let before = o.and_then(|o| o.identity_options.as_ref());
        if let Some(i) = c.identity_options.as_ref().filter(|i| Some(*i) != before) {
            s.push(
                Step::Column,
                alter(&format!(
                    "ALTER COLUMN {column} SET INCREMENT BY {} SET MINVALUE {} SET MAXVALUE {} SET START WITH {} SET CACHE {} SET {}CYCLE",
                    i.increment,
                    i.min,
                    i.max,
                    i.start,
                    i.cache,
                    if i.cycle { "" } else { "NO " }
                )),
            );
        }
        let what = format!("COLUMN {table}.{column}");
        comment_on(
            s,
            Step::Column,
            &what,
            o.and_then(|o| o.comment.as_ref()),
            c.comment.as_ref(),
        );
    }
    for pair in pair_up(&new.constraints, &old.constraints, |k| &k.name) {
        let (Some(k), o) = pair else { continue };
        // Dropped and added again when its definition changes (see `alter_table`).
        let kept = o.filter(|o| o.definition == k.definition);
        let step = if k.kind == "f" {
            Step::AddForeignKey
        } else {
            Step::AddConstraint
        };
        let what = format!("CONSTRAINT {} ON {table}", quote_ident(&k.name));
        comment_on(
            s,
            step,
            &what,
            kept.and_then(|o| o.comment.as_ref()),
            k.comment.as_ref(),
        );
    }
    index_comments(s, &new.schema, &new.indexes, &old.indexes);
    for pair in pair_up(&new.triggers, &old.triggers, |t| &t.name) {
        let (Some(t), o) = pair else { continue };
        let kept = o.filter(|o| o.definition == t.definition);
        let trigger = quote_ident(&t.name);
        if kept.map_or("origin", |o| o.enabled.as_str()) != t.enabled {
            let state = match t.enabled.as_str() {
                "disabled" => "DISABLE",
                "replica" => "ENABLE REPLICA",
                "always" => "ENABLE ALWAYS",
                _ => "ENABLE",
            };
            s.push(
                Step::CreateTrigger,
                alter(&format!("{state} TRIGGER {trigger}")),
            );
        }
        let what = format!("TRIGGER {trigger} ON {table}");
        comment_on(
            s,
            Step::CreateTrigger,
            &what,
            kept.and_then(|o| o.comment.as_ref()),
            t.comment.as_ref(),
        );
    }
}

/// Comments on indexes, `old` being those the draft keeps (an index whose definition
/// changes is created again).
fn index_comments(s: &mut Script, schema: &str, new: &[Index], old: &[Index]) {
    for pair in pair_up(new, old, |i| &i.name) {
        let (Some(i), o) = pair else { continue };
        let kept = o.filter(|o| o.definition == i.definition);
        let what = format!("INDEX {}", qualified(schema, &i.name));
        comment_on(
            s,
            Step::CreateIndex,
            &what,
            kept.and_then(|o| o.comment.as_ref()),
            i.comment.as_ref(),
        );
    }
}

/// `COMMENT ON what IS …` when the comment changes from `before`.
fn comment_on(
    s: &mut Script,
    step: Step,
    what: &str,
    before: Option<&String>,
    after: Option<&String>,
) {
    if before != after {
        let text = after.map_or_else(|| "NULL".to_owned(), |c| literal(c));
        s.push(step, format!("COMMENT ON {what} IS {text};"));
    }
}

#[cfg(test)]
mod tests {
    use super::{Script, enum_values};

    fn enum_sql(new: &[&str], old: &[&str]) -> Option<String> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut s = Script::default();
        enum_values(&mut s, "public.mood", &owned(new), &owned(old)).then(|| s.finish())
    }

    #[test]
    fn enum_values_are_renamed_or_added_in_place_else_the_type_is_recreated() {
        assert_eq!(
            enum_sql(
                &["new", "sad", "meh", "ok", "happy"],
                &["sad", "ok", "happy"]
            )
            .unwrap(),
            "ALTER TYPE public.mood ADD VALUE 'new' BEFORE 'sad';\n\
             ALTER TYPE public.mood ADD VALUE 'meh' AFTER 'sad';\n"
        );
        assert_eq!(
            enum_sql(&["sad", "fine", "happy"], &["sad", "ok", "happy"]).unwrap(),
            "ALTER TYPE public.mood RENAME VALUE 'ok' TO 'fine';\n"
        );
        // Removed or reordered: recreate_enum's job.
        assert_eq!(enum_sql(&["sad", "ok"], &["sad", "ok", "happy"]), None);
        assert_eq!(enum_sql(&["ok", "sad"], &["sad", "ok"]), None);
        assert_eq!(enum_sql(&["a"], &["a"]).unwrap(), "");
    }
}
