//! `change`'s input: the SQL (an argument, or stdin as a heredoc gives it), the file's
//! name (given, or derived from the SQL), an optional down section, and whether it may ask
//! before applying. Validated before anything is written or reached.

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ObjectType};

use crate::error::Error;

/// `change`'s flags, as given (`sql` filled from stdin by `resolve`).
#[derive(Debug, Clone)]
pub struct ChangeArgs {
    pub sql: Option<String>,
    pub name: Option<String>,
    pub down: Option<String>,
    pub yes: bool,
    pub dry_run: bool,
    pub shadow_url: Option<String>,
}

impl ChangeArgs {
    /// The up section's SQL (after `resolve`).
    pub fn up_sql(&self) -> &str {
        self.sql.as_deref().unwrap_or_default()
    }

    /// The file's name after the version (after `resolve`).
    pub fn file_name(&self) -> &str {
        self.name.as_deref().unwrap_or("change")
    }
}

/// Reads the SQL, checks it and the name, and derives the name when none is given.
pub(super) fn resolve(args: &mut ChangeArgs) -> Result<(), Error> {
    let sql = super::query::sql_argument(args.sql.as_deref()).ok_or_else(|| {
        Error::Usage(
            "`change` needs the SQL: `pgfleet change \"ALTER TABLE …\"`, or on stdin (`pgfleet change <<< \"ALTER TABLE …\"`)".into(),
        )
    })??;
    let sql = sql.trim().to_string();
    statements("the SQL", &sql)?;
    if let Some(down) = &args.down {
        statements("--down", down)?;
    }
    let name = match args.name.take() {
        Some(name) => {
            if name.trim().is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(Error::Usage(format!(
                    "--name is the file's name after the version, without / or a leading dot (e.g. add_orders_note), not {name:?}"
                )));
            }
            name
        }
        None => derive_name(&sql),
    };
    if !args.yes && !args.dry_run && !console::Term::stderr().is_term() {
        return Err(Error::Usage(
            "`change` asks before applying, and there is no terminal to ask on: pass --yes to apply without asking, or --dry-run to only write and check the file".into(),
        ));
    }
    args.sql = Some(sql);
    args.name = Some(name);
    Ok(())
}

/// The statements of `sql`, which must parse and must not end or open transactions (each
/// migration is its own transaction, with its tracking row).
fn statements(what: &str, sql: &str) -> Result<Vec<NodeEnum>, Error> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| {
        Error::Usage(format!(
            "{what} does not parse: {e}; fix it before anything is written"
        ))
    })?;
    let nodes: Vec<NodeEnum> = parsed
        .protobuf
        .stmts
        .into_iter()
        .filter_map(|s| s.stmt.and_then(|n| n.node))
        .collect();
    if nodes.is_empty() {
        return Err(Error::Usage(format!("{what} holds no statement")));
    }
    if nodes
        .iter()
        .any(|n| matches!(n, NodeEnum::TransactionStmt(_)))
    {
        return Err(Error::Usage(format!(
            "{what} holds BEGIN, COMMIT or ROLLBACK: the migration runs in a transaction of its own, with its tracking row; leave them out"
        )));
    }
    Ok(nodes)
}

/// A file name from what the first statement does: `add_extracted_at_to_email_messages`,
/// `create_orders`, `create_index_orders_status`; else its first words.
pub fn derive_name(sql: &str) -> String {
    let node = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
        .ok()
        .and_then(|p| p.protobuf.stmts.into_iter().next())
        .and_then(|s| s.stmt.and_then(|n| n.node));
    let table = |r: &Option<pg_query::protobuf::RangeVar>| {
        r.as_ref().map(|r| r.relname.clone()).unwrap_or_default()
    };
    let named = match &node {
        Some(NodeEnum::CreateStmt(s)) => Some(format!("create_{}", table(&s.relation))),
        Some(NodeEnum::IndexStmt(s)) if !s.idxname.is_empty() => {
            Some(format!("create_index_{}", s.idxname))
        }
        Some(NodeEnum::IndexStmt(s)) => Some(format!("create_index_on_{}", table(&s.relation))),
        Some(NodeEnum::AlterTableStmt(s)) => {
            let t = table(&s.relation);
            s.cmds.first().and_then(|c| match &c.node {
                Some(NodeEnum::AlterTableCmd(c)) => {
                    let column = match c.def.as_ref().and_then(|d| d.node.as_ref()) {
                        Some(NodeEnum::ColumnDef(d)) if !d.colname.is_empty() => d.colname.clone(),
                        Some(NodeEnum::Constraint(k)) if !k.conname.is_empty() => k.conname.clone(),
                        _ => c.name.clone(),
                    };
                    let what = match AlterTableType::try_from(c.subtype).ok()? {
                        AlterTableType::AtAddColumn | AlterTableType::AtAddConstraint => {
                            format!("add_{column}_to_{t}")
                        }
                        AlterTableType::AtDropColumn | AlterTableType::AtDropConstraint => {
                            format!("drop_{column}_from_{t}")
                        }
                        AlterTableType::AtAlterColumnType => format!("change_{column}_type_on_{t}"),
                        AlterTableType::AtSetNotNull => format!("set_{column}_not_null_on_{t}"),
                        AlterTableType::AtDropNotNull => format!("drop_{column}_not_null_on_{t}"),
                        AlterTableType::AtColumnDefault => format!("set_{column}_default_on_{t}"),
                        _ => format!("alter_{t}"),
                    };
                    Some(what)
                }
                _ => None,
            })
        }
        Some(NodeEnum::RenameStmt(s)) if s.rename_type == ObjectType::ObjectColumn as i32 => {
            Some(format!(
                "rename_{}_to_{}_on_{}",
                s.subname,
                s.newname,
                table(&s.relation)
            ))
        }
        Some(NodeEnum::RenameStmt(s)) if s.rename_type == ObjectType::ObjectTable as i32 => {
            Some(format!("rename_{}_to_{}", table(&s.relation), s.newname))
        }
        Some(NodeEnum::DropStmt(s)) => {
            let kind = match ObjectType::try_from(s.remove_type) {
                Ok(ObjectType::ObjectIndex) => "index_",
                Ok(ObjectType::ObjectView) => "view_",
                _ => "",
            };
            let names: Vec<String> = s
                .objects
                .iter()
                .filter_map(|o| match &o.node {
                    Some(NodeEnum::List(l)) => l.items.last().and_then(|i| match &i.node {
                        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                        _ => None,
                    }),
                    _ => None,
                })
                .collect();
            (!names.is_empty()).then(|| format!("drop_{kind}{}", names.join("_")))
        }
        _ => None,
    };
    let raw = named.unwrap_or_else(|| sql.split_whitespace().take(6).collect::<Vec<_>>().join("_"));
    slug(&raw)
}

/// Lower case, letters, digits and single underscores, at most 60 characters.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    while out.len() > 60 {
        out.pop();
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() { "change".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::derive_name;

    #[test]
    fn names_say_what_the_sql_does() {
        for (sql, name) in [
            (
                "ALTER TABLE email_messages ADD COLUMN knowledge_extracted_at timestamptz",
                "add_knowledge_extracted_at_to_email_messages",
            ),
            ("create table orders (id int)", "create_orders"),
            (
                "create index concurrently orders_status on orders (status)",
                "create_index_orders_status",
            ),
            (
                "alter table orders drop column note",
                "drop_note_from_orders",
            ),
            (
                "alter table orders alter column note type text",
                "change_note_type_on_orders",
            ),
            (
                "alter table orders rename column note to remark",
                "rename_note_to_remark_on_orders",
            ),
            ("drop table if exists old_orders", "drop_old_orders"),
            (
                "update orders set status = 'x' where id = 1",
                "update_orders_set_status_x",
            ),
        ] {
            assert_eq!(derive_name(sql), name, "{sql}");
        }
    }
}
