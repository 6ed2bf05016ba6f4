//! Column types as the folder's earlier migrations declare them, so a type change can be
//! judged: narrowing (code that writes wider values fails, and the ALTER fails on rows that
//! do not fit), widening without a rewrite (varchar(n) to text: nothing to warn about), or
//! a rewrite. Offline and approximate by design: only CREATE TABLE, ADD COLUMN, ALTER
//! COLUMN TYPE and DROP are followed; anything else (a rename, a type set by hand) leaves
//! the column unknown, and an unknown column gets squawk's general warning.

use std::collections::HashMap;

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ObjectType, TypeName};

use crate::migration::locks::qualified_name;

/// A column's type, reduced to what the judgement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Type {
    /// pg_catalog's name (`varchar`, `int4`, `numeric`, `text`, …).
    name: String,
    /// Its modifiers: varchar's length, numeric's precision and scale.
    mods: Vec<i64>,
    array: bool,
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.name.as_str() {
            "int2" => "smallint",
            "int4" => "integer",
            "int8" => "bigint",
            "float4" => "real",
            "float8" => "double precision",
            "bpchar" => "char",
            other => other,
        };
        f.write_str(name)?;
        if !self.mods.is_empty() {
            let mods: Vec<String> = self.mods.iter().map(i64::to_string).collect();
            write!(f, "({})", mods.join(","))?;
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// What changing `old` into `new` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Binary-coercible and at least as wide: PostgreSQL neither rewrites nor scans.
    Widens,
    /// Some values of `old` do not fit `new`.
    Narrows,
    /// Anything else: a rewrite under ACCESS EXCLUSIVE (squawk's warning stands).
    Other,
}

fn int_rank(name: &str) -> Option<u8> {
    match name {
        "int2" => Some(2),
        "int4" => Some(4),
        "int8" => Some(8),
        _ => None,
    }
}

impl Type {
    pub(super) fn change_to(&self, new: &Type) -> Change {
        use Change::*;
        if self.array || new.array {
            return Other;
        }
        let (o, n) = (self.name.as_str(), new.name.as_str());
        let len = |t: &Type| t.mods.first().copied();
        match (o, n) {
            _ if self == new => Widens,
            ("varchar" | "text", "text") | ("varchar", "varchar") if new.mods.is_empty() => Widens,
            ("varchar", "varchar") => match (len(self), len(new)) {
                (Some(a), Some(b)) if b >= a => Widens,
                _ => Narrows,
            },
            ("text", "varchar") | ("text" | "varchar", "bpchar") => Narrows,
            ("bpchar", "bpchar") => match (len(self), len(new)) {
                (Some(a), Some(b)) if b < a => Narrows,
                _ => Other,
            },
            // numeric(p) is numeric(p,0). Same scale and no less precision: no rewrite.
            ("numeric", "numeric") => {
                let ps = |m: &[i64]| match *m {
                    [p] => Some((p, 0)),
                    [p, s] => Some((p, s)),
                    _ => None,
                };
                match (ps(&self.mods), ps(&new.mods)) {
                    (_, None) if new.mods.is_empty() => Widens,
                    (None, Some(_)) if self.mods.is_empty() => Narrows,
                    (Some((p, s)), Some((q, t))) if t == s && q >= p => Widens,
                    (Some((p, s)), Some((q, t))) if q - t < p - s || t < s => Narrows,
                    _ => Other,
                }
            }
            ("varbit", "varbit") => match (len(self), len(new)) {
                (_, None) => Widens,
                (Some(a), Some(b)) if b >= a => Widens,
                _ => Narrows,
            },
            ("cidr", "inet") => Widens,
            ("float8", "float4") => Narrows,
            ("timestamptz" | "timestamp", "date") => Narrows,
            _ => match (int_rank(o), int_rank(n)) {
                (Some(a), Some(b)) if b < a => Narrows,
                _ => Other,
            },
        }
    }
}

fn type_of(t: &TypeName) -> Option<Type> {
    let name = t
        .names
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .next_back()?;
    let mods = t
        .typmods
        .iter()
        .filter_map(|m| match &m.node {
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(pg_query::protobuf::a_const::Val::Ival(i)) => Some(i64::from(i.ival)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    Some(Type {
        name,
        mods,
        array: !t.array_bounds.is_empty(),
    })
}

fn relation(r: &pg_query::protobuf::RangeVar) -> String {
    if r.schemaname.is_empty() || r.schemaname == "public" {
        r.relname.clone()
    } else {
        format!("{}.{}", r.schemaname, r.relname)
    }
}

/// One ALTER COLUMN … TYPE whose column's type is known.
#[derive(Debug, Clone)]
pub(super) struct Altered {
    pub column: String,
    pub old: Type,
    pub new: Type,
}

/// (table, column) → type, as the migrations so far leave them.
#[derive(Debug, Clone, Default)]
pub(super) struct Types {
    columns: HashMap<(String, String), Type>,
}

fn node(sql: &str) -> Option<NodeEnum> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).ok()?;
    parsed.protobuf.stmts.into_iter().next()?.stmt?.node
}

impl Types {
    /// Follows one statement. Returns the type changes it makes to known columns.
    pub(super) fn apply(&mut self, sql: &str) -> Vec<Altered> {
        let mut altered = Vec::new();
        match node(sql) {
            Some(NodeEnum::CreateStmt(s)) => {
                let Some(table) = s.relation.as_ref().map(relation) else {
                    return altered;
                };
                for e in &s.table_elts {
                    if let Some(NodeEnum::ColumnDef(c)) = &e.node
                        && let Some(t) = c.type_name.as_ref().and_then(type_of)
                    {
                        self.columns.insert((table.clone(), c.colname.clone()), t);
                    }
                }
            }
            Some(NodeEnum::AlterTableStmt(s)) => {
                let Some(table) = s.relation.as_ref().map(relation) else {
                    return altered;
                };
                for cmd in &s.cmds {
                    let Some(NodeEnum::AlterTableCmd(c)) = &cmd.node else {
                        continue;
                    };
                    let def = match c.def.as_ref().and_then(|d| d.node.as_ref()) {
                        Some(NodeEnum::ColumnDef(d)) => Some(d),
                        _ => None,
                    };
                    let key = (table.clone(), c.name.clone());
                    match AlterTableType::try_from(c.subtype) {
                        Ok(AlterTableType::AtAddColumn) => {
                            if let Some(d) = def
                                && let Some(t) = d.type_name.as_ref().and_then(type_of)
                            {
                                self.columns.insert((table.clone(), d.colname.clone()), t);
                            }
                        }
                        Ok(AlterTableType::AtAlterColumnType) => {
                            let new = def.and_then(|d| d.type_name.as_ref()).and_then(type_of);
                            // Unknown before or after: unknown from here on.
                            if let (Some(old), Some(new)) = (self.columns.remove(&key), new) {
                                self.columns.insert(key, new.clone());
                                altered.push(Altered {
                                    column: c.name.clone(),
                                    old,
                                    new,
                                });
                            }
                        }
                        Ok(AlterTableType::AtDropColumn) => {
                            self.columns.remove(&key);
                        }
                        _ => {}
                    }
                }
            }
            Some(NodeEnum::DropStmt(s)) if s.remove_type == ObjectType::ObjectTable as i32 => {
                for table in s.objects.iter().filter_map(qualified_name) {
                    let table = table.strip_prefix("public.").unwrap_or(&table).to_string();
                    self.columns.retain(|(t, _), _| *t != table);
                }
            }
            // A rename makes the old name unknown (and the new one too): nothing is guessed.
            Some(NodeEnum::RenameStmt(s)) => {
                if let Some(table) = s.relation.as_ref().map(relation) {
                    self.columns.retain(|(t, _), _| *t != table);
                }
            }
            _ => {}
        }
        altered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sql_type: &str) -> Type {
        let mut types = Types::default();
        types.apply(&format!("create table x (c {sql_type})"));
        types.columns.remove(&("x".into(), "c".into())).unwrap()
    }

    #[test]
    fn widening_narrowing_and_rewrites_are_told_apart() {
        use Change::*;
        for (old, new, change) in [
            ("varchar(10)", "varchar(20)", Widens),
            ("varchar(10)", "text", Widens),
            ("varchar(10)", "varchar", Widens),
            ("varchar(20)", "varchar(10)", Narrows),
            ("text", "varchar(10)", Narrows),
            ("numeric(10,2)", "numeric(12,2)", Widens),
            ("numeric(10,2)", "numeric(10,1)", Narrows),
            ("numeric(10,2)", "numeric", Widens),
            ("numeric", "numeric(10,2)", Narrows),
            ("bigint", "integer", Narrows),
            ("integer", "smallint", Narrows),
            ("integer", "bigint", Other),
            ("double precision", "real", Narrows),
            ("timestamptz", "date", Narrows),
            ("text", "jsonb", Other),
            ("cidr", "inet", Widens),
        ] {
            assert_eq!(t(old).change_to(&t(new)), change, "{old} → {new}");
        }
        assert_eq!(t("varchar(10)").to_string(), "varchar(10)");
        assert_eq!(t("bigint").to_string(), "bigint");
    }

    #[test]
    fn changes_follow_the_migrations_in_order() {
        let mut types = Types::default();
        types.apply("create table public.orders (id bigint, note varchar(100))");
        assert!(
            types
                .apply("alter table orders alter column id type text")
                .len()
                == 1
        );
        let a = types.apply("alter table orders alter column note type varchar(10)");
        assert_eq!(
            (a[0].old.to_string(), a[0].new.to_string()),
            ("varchar(100)".into(), "varchar(10)".into())
        );
        types.apply("alter table orders rename to purchases");
        assert!(
            types
                .apply("alter table orders alter column note type text")
                .is_empty()
        );
    }
}
