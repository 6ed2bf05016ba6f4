//! pgfleet's own rules: what needs dbmate's sections and `transaction:false`, with
//! PostgreSQL's own grammar (libpg_query) as the judge of what a statement is.

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ReindexObjectType, Token};

use super::rules::RULES;
use super::{Finding, Placed, Severity, Text, body_span, statements};
use crate::migration::Migration;

fn help(id: &str) -> String {
    RULES
        .iter()
        .find(|r| r.id == id)
        .map_or(String::new(), |r| r.help.to_string())
}

/// The one statement `sql` holds, parsed; None when it does not parse.
pub(super) fn node(sql: &str) -> Option<NodeEnum> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).ok()?;
    let raw = parsed.protobuf.stmts.into_iter().next()?;
    raw.stmt?.node
}

fn relation_name(r: &pg_query::protobuf::RangeVar) -> String {
    if r.schemaname.is_empty() {
        r.relname.clone()
    } else {
        format!("{}.{}", r.schemaname, r.relname)
    }
}

pub(super) fn findings(text: &Text, migration: &Migration, placed: &[Placed]) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in placed {
        let stmts: Vec<(usize, &str)> = statements(p).collect();
        for (offset, sql) in &stmts {
            if let Err(e) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) {
                out.push(syntax_error(text, *offset, sql, &e));
                continue;
            }
            let Some(node) = node(sql) else { continue };
            if p.transactional()
                && let Some(what) = needs_no_transaction(&node)
            {
                out.push(text.finding(
                        "needs-no-transaction",
                        Severity::Error,
                        body_span(*offset, sql),
                        format!("{what} cannot run inside a transaction block, and this section runs in one: the server refuses it (\"cannot run inside a transaction block\")"),
                        help("needs-no-transaction"),
                    ));
            }
            if p.is_up()
                && let Some(what) = blocking_maintenance(&node)
            {
                out.push(text.finding(
                        "blocking-maintenance",
                        Severity::Warning,
                        body_span(*offset, sql),
                        format!("{what} locks the table ACCESS EXCLUSIVE while it rewrites it: every read and write waits until it finishes"),
                        help("blocking-maintenance"),
                    ));
            }
        }
        if p.transactional() {
            out.extend(enum_values_used(text, &stmts));
        } else if p.is_up() && stmts.len() > 1 {
            let marker = p.offset..p.offset + p.section.sql.find('\n').unwrap_or(0);
            out.push(text.finding(
                "no-transaction-partial",
                Severity::Warning,
                marker,
                format!(
                    "{} statements run one by one outside a transaction: if statement k fails, statements 1…k-1 stay applied, the version is not recorded, and the next `up` runs statement 1 again",
                    stmts.len()
                ),
                help("no-transaction-partial"),
            ));
        }
    }
    let downs: Vec<&Placed> = placed.iter().filter(|p| !p.is_up()).collect();
    if !migration.baseline
        && downs.iter().all(|p| p.section.is_empty())
        && let Some(first) = downs.first()
    {
        let marker = first.offset..first.offset + first.section.sql.find('\n').unwrap_or(0);
        out.push(text.finding(
                "empty-down",
                Severity::Warning,
                marker,
                "the down section is empty: `pgfleet rollback` would record this migration as rolled back while its changes stay".into(),
                help("empty-down"),
            ));
    }
    out
}

/// A statement pg_query rejects, underlined from where the parser points ("at or near
/// X") to the end of the statement.
fn syntax_error(text: &Text, offset: usize, sql: &str, e: &pg_query::Error) -> Finding {
    let message = match e {
        pg_query::Error::Parse(m) => m.clone(),
        other => other.to_string(),
    };
    let body = body_span(offset, sql);
    let start = message
        .split_once("at or near \"")
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .and_then(|(near, _)| text.text[body.clone()].find(near))
        .map_or(body.start, |i| body.start + i);
    let end = text.text[start..body.end]
        .find('\n')
        .map_or(body.end, |i| start + i)
        .max(start + 1)
        .min(text.text.len());
    text.finding(
        "syntax-error",
        Severity::Error,
        start..end,
        format!("PostgreSQL's parser says: {message}"),
        help("syntax-error"),
    )
}

/// What the statement is, when it cannot run inside a transaction block.
pub(super) fn needs_no_transaction(node: &NodeEnum) -> Option<&'static str> {
    let concurrently = |params: &[pg_query::protobuf::Node]| {
        params
            .iter()
            .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"))
    };
    match node {
        NodeEnum::IndexStmt(s) if s.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(s) if s.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(s) if concurrently(&s.params) => Some("REINDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(s)
            if matches!(
                ReindexObjectType::try_from(s.kind),
                Ok(ReindexObjectType::ReindexObjectSchema
                    | ReindexObjectType::ReindexObjectSystem
                    | ReindexObjectType::ReindexObjectDatabase)
            ) =>
        {
            Some("REINDEX SCHEMA, SYSTEM or DATABASE")
        }
        NodeEnum::VacuumStmt(s) if s.is_vacuumcmd => Some("VACUUM"),
        NodeEnum::ClusterStmt(s) if s.relation.is_none() => Some("CLUSTER without a table"),
        NodeEnum::CreatedbStmt(_) => Some("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => Some("DROP DATABASE"),
        NodeEnum::CreateTableSpaceStmt(_) => Some("CREATE TABLESPACE"),
        NodeEnum::DropTableSpaceStmt(_) => Some("DROP TABLESPACE"),
        NodeEnum::AlterSystemStmt(_) => Some("ALTER SYSTEM"),
        NodeEnum::AlterTableStmt(s) => s.cmds.iter().find_map(|c| match &c.node {
            Some(NodeEnum::AlterTableCmd(c))
                if c.subtype == AlterTableType::AtDetachPartition as i32 =>
            {
                match c.def.as_ref().and_then(|d| d.node.as_ref()) {
                    Some(NodeEnum::PartitionCmd(p)) if p.concurrent => {
                        Some("DETACH PARTITION CONCURRENTLY")
                    }
                    _ => None,
                }
            }
            _ => None,
        }),
        _ => None,
    }
}

/// What the statement is, when it rewrites a table under ACCESS EXCLUSIVE for maintenance.
fn blocking_maintenance(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::VacuumStmt(s)
            if s.is_vacuumcmd
                && s.options.iter().any(|o| {
                    matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == "full" && !matches!(d.arg.as_ref().and_then(|a| a.node.as_ref()), Some(NodeEnum::Boolean(b)) if !b.boolval))
                }) =>
        {
            Some("VACUUM FULL")
        }
        NodeEnum::ClusterStmt(_) => Some("CLUSTER"),
        NodeEnum::RefreshMatViewStmt(s) if !s.concurrent => Some("REFRESH MATERIALIZED VIEW"),
        _ => None,
    }
}

/// `ALTER TYPE … ADD VALUE 'x'` followed, in the same transaction, by a statement with the
/// string 'x': PostgreSQL refuses a new enum value before the transaction that added it
/// commits. A string equal to the label is taken as a use of it (a cast makes it one).
fn enum_values_used(text: &Text, stmts: &[(usize, &str)]) -> Vec<Finding> {
    let mut added: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (offset, sql) in stmts {
        for label in &added {
            if let Some(at) = string_constant(sql, label) {
                let start = offset + at;
                out.push(text.finding(
                    "enum-value-used-in-transaction",
                    Severity::Error,
                    start..start + label.len() + 2,
                    format!("'{label}' is added by ALTER TYPE … ADD VALUE earlier in this transaction: the server refuses to use it before that commits (unsafe use of new value)"),
                    help("enum-value-used-in-transaction"),
                ));
            }
        }
        if let Some(NodeEnum::AlterEnumStmt(s)) = node(sql)
            && s.old_val.is_empty()
            && !s.new_val.is_empty()
        {
            added.push(s.new_val);
        }
    }
    out
}

/// Byte offset of a string constant `'label'` in `sql`.
fn string_constant(sql: &str, label: &str) -> Option<usize> {
    let scan = pg_query::scan(sql).ok()?;
    let quoted = format!("'{}'", label.replace('\'', "''"));
    scan.tokens
        .iter()
        .find(|t| {
            t.token == Token::Sconst as i32
                && sql.get(t.start as usize..t.end as usize) == Some(quoted.as_str())
        })
        .map(|t| t.start as usize)
}

/// The tables the file's up sections create, as they name them.
pub(super) fn tables_created(placed: &[Placed]) -> Vec<String> {
    placed
        .iter()
        .filter(|p| p.is_up())
        .flat_map(statements)
        .filter_map(|(_, sql)| match node(sql)? {
            NodeEnum::CreateStmt(s) => s.relation.as_ref().map(relation_name),
            _ => None,
        })
        .collect()
}

/// The table a CREATE INDEX statement builds on.
pub(super) fn index_table(sql: &str) -> Option<String> {
    match node(sql)? {
        NodeEnum::IndexStmt(s) => s.relation.as_ref().map(relation_name),
        _ => None,
    }
}

/// The locks of a statement on an index, which name the index but not its table (so
/// `migration::locks` cannot list them as relations).
pub(super) fn index_locks(sql: &str) -> Option<String> {
    use pg_query::protobuf::ObjectType;
    let names = |objects: &[pg_query::protobuf::Node]| -> Vec<String> {
        objects
            .iter()
            .filter_map(crate::migration::locks::qualified_name)
            .collect()
    };
    match node(sql)? {
        NodeEnum::DropStmt(s) if s.remove_type == ObjectType::ObjectIndex as i32 => {
            let mode = if s.concurrent {
                "SHARE UPDATE EXCLUSIVE"
            } else {
                "ACCESS EXCLUSIVE"
            };
            Some(format!(
                "{mode} on the table of index {}",
                names(&s.objects).join(", ")
            ))
        }
        NodeEnum::ReindexStmt(s) if s.kind == ReindexObjectType::ReindexObjectIndex as i32 => {
            let index = s.relation.as_ref().map(relation_name)?;
            Some(format!(
                "SHARE on the table of index {index} (writes wait), ACCESS EXCLUSIVE on {index} (reads that use it wait)"
            ))
        }
        _ => None,
    }
}

/// Type changes of columns the folder's earlier migrations declared: a narrowing is
/// `narrowing-type`; a widening that PostgreSQL does without a rewrite drops squawk's
/// `changing-column-type` for that statement (it would be a false alarm).
pub(super) fn type_changes(
    text: &Text,
    placed: &[Placed],
    mut types: super::types::Types,
    findings: &mut Vec<Finding>,
) {
    use super::types::Change;
    for p in placed.iter().filter(|p| p.is_up()) {
        for (offset, sql) in statements(p) {
            let altered = types.apply(sql);
            if altered.is_empty() {
                continue;
            }
            let span = body_span(offset, sql);
            let changes: Vec<Change> = altered.iter().map(|a| a.old.change_to(&a.new)).collect();
            for (a, change) in altered.iter().zip(&changes) {
                if *change == Change::Narrows {
                    findings.push(text.finding(
                        "narrowing-type",
                        Severity::Warning,
                        span.clone(),
                        format!(
                            "{} was {} (an earlier migration made it so) and becomes {}, which holds less: this ALTER fails on rows that do not fit, and code that writes such values fails the moment it commits",
                            a.column, a.old, a.new
                        ),
                        help("narrowing-type"),
                    ));
                }
            }
            let statement_has_all = altered.len() == count_type_changes(sql);
            if statement_has_all && changes.iter().all(|c| *c == Change::Widens) {
                findings.retain(|f| {
                    !(f.rule == "changing-column-type" && span.contains(&f.span.start))
                });
            }
        }
    }
}

/// How many ALTER COLUMN … TYPE subcommands a statement has.
fn count_type_changes(sql: &str) -> usize {
    match node(sql) {
        Some(NodeEnum::AlterTableStmt(s)) => s
            .cmds
            .iter()
            .filter(|c| {
                matches!(&c.node, Some(NodeEnum::AlterTableCmd(c)) if c.subtype == AlterTableType::AtAlterColumnType as i32)
            })
            .count(),
        _ => 0,
    }
}
