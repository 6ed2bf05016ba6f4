//! What a statement locks: the relations it touches and the table-level lock mode it takes
//! on each, read from libpg_query's parse tree and PostgreSQL's documented lock levels
//! ("Explicit Locking", and each form on the ALTER TABLE page). A statement whose locks are
//! not known here says so: a wrong answer would be worse than none.

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ConstrType, ObjectType, RangeVar};

use super::Migration;

/// PostgreSQL's table-level lock modes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    /// As PostgreSQL names it in its documentation (`pg_locks` says `AccessShareLock`…).
    pub fn name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }
}

impl LockMode {
    /// The modes that conflict with this one (PostgreSQL's "Conflicting Lock Modes" table).
    pub fn conflicts(self) -> &'static [LockMode] {
        use LockMode::*;
        match self {
            AccessShare => &[AccessExclusive],
            RowShare => &[Exclusive, AccessExclusive],
            RowExclusive => &[Share, ShareRowExclusive, Exclusive, AccessExclusive],
            ShareUpdateExclusive => &[
                ShareUpdateExclusive,
                Share,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            Share => &[
                RowExclusive,
                ShareUpdateExclusive,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            ShareRowExclusive => &[
                RowExclusive,
                ShareUpdateExclusive,
                Share,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            Exclusive => &[
                RowShare,
                RowExclusive,
                ShareUpdateExclusive,
                Share,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
            AccessExclusive => &[
                AccessShare,
                RowShare,
                RowExclusive,
                ShareUpdateExclusive,
                Share,
                ShareRowExclusive,
                Exclusive,
                AccessExclusive,
            ],
        }
    }

    /// As `pg_locks.mode` spells it: `AccessExclusiveLock`.
    /// The mode `pg_locks.mode` names, None for one that is not a table lock mode.
    pub fn from_pg_locks_name(name: &str) -> Option<LockMode> {
        LockMode::ALL
            .into_iter()
            .find(|m| m.pg_locks_name() == name)
    }

    pub fn pg_locks_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "AccessShareLock",
            LockMode::RowShare => "RowShareLock",
            LockMode::RowExclusive => "RowExclusiveLock",
            LockMode::ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            LockMode::Share => "ShareLock",
            LockMode::ShareRowExclusive => "ShareRowExclusiveLock",
            LockMode::Exclusive => "ExclusiveLock",
            LockMode::AccessExclusive => "AccessExclusiveLock",
        }
    }
}

impl LockMode {
    /// Every mode, weakest first (PostgreSQL's table of conflicting lock modes).
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];
}

/// One relation a statement locks, named as the statement writes it (schema-qualified only
/// when it is: the search_path decides the rest on the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub relation: String,
    pub mode: LockMode,
}

/// What is known of a statement's locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locks {
    /// These relations, each in its strongest mode (none: it locks no table, e.g. `SET` or
    /// `CREATE FUNCTION`).
    Takes(Vec<Lock>),
    /// Not classified here; the statement's kind as libpg_query names it.
    Unknown(String),
}

/// What libpg_query says of a migration's up sections, parsing each statement once.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Each statement, as its one-line summary, with its locks.
    locks: Vec<(String, Locks)>,
    /// Some statement waits for old transactions (`waits_for_old_transactions`).
    waits_for_old: bool,
    /// `concurrent_if_not_exists_indexes`.
    concurrent_if_not_exists: Vec<String>,
}

/// The migration's analysis, worked out on first use (`Migration::analysis`).
fn analysis(migration: &Migration) -> &Analysis {
    migration.analysis.get_or_init(|| {
        let mut a = Analysis::default();
        for stmt in migration.up.iter().flat_map(|s| s.statements()) {
            let parsed = pg_query::parse(stmt.sql, pg_query::ParserOptions::DEFAULT);
            let nodes: Vec<&NodeEnum> = match &parsed {
                Ok(p) => p
                    .protobuf
                    .stmts
                    .iter()
                    .filter_map(|raw| raw.stmt.as_ref()?.node.as_ref())
                    .collect(),
                Err(_) => Vec::new(),
            };
            let locks = match &parsed {
                Ok(p) => parsed_locks(p),
                Err(_) => Locks::Unknown("unparsable".into()),
            };
            a.locks.push((stmt.summary_line(), locks));
            a.waits_for_old |= nodes.iter().any(|n| node_waits_for_old_transactions(n));
            a.concurrent_if_not_exists
                .extend(nodes.first().and_then(|n| concurrent_if_not_exists(n)));
        }
        a
    })
}

/// Each statement of a migration's up sections, as its one-line summary, with its locks.
pub fn migration_locks(migration: &Migration) -> &[(String, Locks)] {
    &analysis(migration).locks
}

/// Every relation a migration's statements lock, once each in its strongest mode, as they
/// name them.
pub fn strongest_locks(migration: &Migration) -> Vec<Lock> {
    let all = migration_locks(migration)
        .iter()
        .flat_map(|(_, locks)| match locks {
            Locks::Takes(locks) => locks.as_slice(),
            Locks::Unknown(_) => &[],
        })
        .cloned()
        .collect();
    strongest_each(all)
}

/// Every relation a migration's statements lock, once each, as they name them.
pub fn relations(migration: &Migration) -> Vec<String> {
    strongest_locks(migration)
        .into_iter()
        .map(|l| l.relation)
        .collect()
}

/// True when the statement builds or drops an index CONCURRENTLY (or reindexes so): it then
/// waits for every transaction of the database that holds an older snapshot, whatever
/// tables they touch — so any long transaction stalls it, not only a conflicting lock.
fn node_waits_for_old_transactions(node: &NodeEnum) -> bool {
    match node {
        NodeEnum::IndexStmt(s) => s.concurrent,
        NodeEnum::DropStmt(s) => s.concurrent,
        NodeEnum::ReindexStmt(s) => s
            .params
            .iter()
            .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently")),
        _ => false,
    }
}

/// The indexes a migration builds with `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, named as
/// the statements name them (schema-qualified when their table is). Such a statement
/// skips an index of that name even when an interrupted build left it INVALID.
pub fn concurrent_if_not_exists_indexes(migration: &Migration) -> Vec<String> {
    analysis(migration).concurrent_if_not_exists.clone()
}

fn concurrent_if_not_exists(node: &NodeEnum) -> Option<String> {
    match node {
        NodeEnum::IndexStmt(s) if s.concurrent && s.if_not_exists && !s.idxname.is_empty() => {
            let schema = s
                .relation
                .as_ref()
                .map(|r| r.schemaname.as_str())
                .unwrap_or("");
            Some(if schema.is_empty() {
                s.idxname.clone()
            } else {
                format!("{schema}.{}", s.idxname)
            })
        }
        _ => None,
    }
}

/// Any statement of the migration's up sections waits for old transactions.
pub fn migration_waits_for_old_transactions(migration: &Migration) -> bool {
    analysis(migration).waits_for_old
}

impl Locks {
    /// `ACCESS EXCLUSIVE on public.email_messages, ACCESS SHARE on public.users`, or what is
    /// not known; `name` gives a relation's name as it is to be shown.
    pub fn describe(&self, name: impl Fn(&str) -> String) -> String {
        match self {
            Locks::Takes(locks) if locks.is_empty() => "no table lock".to_string(),
            Locks::Takes(locks) => locks
                .iter()
                .map(|l| format!("{} on {}", l.mode.name(), name(&l.relation)))
                .collect::<Vec<_>>()
                .join(", "),
            Locks::Unknown(kind) => format!("not classified ({kind}): its locks are not known"),
        }
    }
}

/// The locks of one statement (the text of one statement, as `split_statements` gives it).
pub fn statement_locks(sql: &str) -> Locks {
    match pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) {
        Ok(parsed) => parsed_locks(&parsed),
        Err(_) => Locks::Unknown("unparsable".into()),
    }
}

/// `statement_locks` of a statement already parsed.
fn parsed_locks(parsed: &pg_query::ParseResult) -> Locks {
    let mut stmts = parsed.protobuf.stmts.iter();
    let node = match (stmts.next(), stmts.next()) {
        (Some(raw), None) => raw.stmt.as_ref().and_then(|n| n.node.as_ref()),
        _ => None,
    };
    let Some(node) = node else {
        return Locks::Unknown("not one statement".into());
    };
    let mut locks = Vec::new();
    let mut add = |relation: Option<&RangeVar>, mode: LockMode| {
        if let Some(r) = relation {
            locks.push(Lock {
                relation: name(r),
                mode,
            });
        }
    };
    use LockMode::*;
    match node {
        NodeEnum::SelectStmt(_) => {}
        NodeEnum::InsertStmt(s) => add(s.relation.as_ref(), RowExclusive),
        NodeEnum::UpdateStmt(s) => add(s.relation.as_ref(), RowExclusive),
        NodeEnum::DeleteStmt(s) => add(s.relation.as_ref(), RowExclusive),
        NodeEnum::MergeStmt(s) => add(s.relation.as_ref(), RowExclusive),
        NodeEnum::AlterTableStmt(s) => {
            // Several subcommands take the strongest of their levels; a foreign key also
            // locks the table it references.
            let mut mode = None;
            for cmd in &s.cmds {
                let Some(NodeEnum::AlterTableCmd(c)) = &cmd.node else {
                    continue;
                };
                let (level, referenced) = alter_level(c);
                mode = mode.max(Some(level));
                add(referenced, ShareRowExclusive);
            }
            add(s.relation.as_ref(), mode.unwrap_or(AccessExclusive));
        }
        NodeEnum::IndexStmt(s) => add(
            s.relation.as_ref(),
            if s.concurrent {
                ShareUpdateExclusive
            } else {
                Share
            },
        ),
        NodeEnum::CreateStmt(s) => {
            add(s.relation.as_ref(), AccessExclusive);
            for element in s.constraints.iter().chain(&s.table_elts) {
                for referenced in foreign_tables(element) {
                    add(Some(referenced), ShareRowExclusive);
                }
            }
        }
        NodeEnum::CreateTrigStmt(s) => add(s.relation.as_ref(), ShareRowExclusive),
        NodeEnum::TruncateStmt(s) => {
            for r in &s.relations {
                if let Some(NodeEnum::RangeVar(r)) = &r.node {
                    add(Some(r), AccessExclusive);
                }
            }
        }
        NodeEnum::RefreshMatViewStmt(s) => add(
            s.relation.as_ref(),
            if s.concurrent {
                Exclusive
            } else {
                AccessExclusive
            },
        ),
        NodeEnum::RenameStmt(s) if s.relation.is_some() => {
            add(s.relation.as_ref(), AccessExclusive)
        }
        NodeEnum::DropStmt(s) => match ObjectType::try_from(s.remove_type) {
            Ok(ObjectType::ObjectTable | ObjectType::ObjectView | ObjectType::ObjectMatview)
            | Ok(ObjectType::ObjectSequence) => {
                for name in s.objects.iter().filter_map(qualified_name) {
                    locks.push(Lock {
                        relation: name,
                        mode: AccessExclusive,
                    });
                }
            }
            // DROP INDEX locks the index's table, which the statement does not name.
            _ => return Locks::Unknown(kind(node)),
        },
        NodeEnum::VariableSetStmt(_)
        | NodeEnum::CreateFunctionStmt(_)
        | NodeEnum::CreateSchemaStmt(_)
        | NodeEnum::CreateEnumStmt(_)
        | NodeEnum::CreateSeqStmt(_)
        | NodeEnum::CreateExtensionStmt(_)
        | NodeEnum::CompositeTypeStmt(_)
        | NodeEnum::CreateDomainStmt(_) => {}
        _ => return Locks::Unknown(kind(node)),
    }
    // Tables only read (a sub-select, `INSERT … SELECT`, a view's query) take ACCESS SHARE.
    for (table, context) in &parsed.tables {
        if *context == pg_query::Context::Select && !locks.iter().any(|l| l.relation == *table) {
            locks.push(Lock {
                relation: table.clone(),
                mode: AccessShare,
            });
        }
    }
    Locks::Takes(strongest_each(locks))
}

/// The level one ALTER TABLE subcommand takes, and the table a foreign key it adds
/// references.
fn alter_level(c: &pg_query::protobuf::AlterTableCmd) -> (LockMode, Option<&RangeVar>) {
    use LockMode::*;
    let foreign = match c.def.as_ref().and_then(|d| d.node.as_ref()) {
        Some(NodeEnum::Constraint(k)) if k.contype == ConstrType::ConstrForeign as i32 => {
            k.pktable.as_ref()
        }
        _ => None,
    };
    let level = match AlterTableType::try_from(c.subtype) {
        _ if foreign.is_some() => ShareRowExclusive,
        Ok(
            AlterTableType::AtValidateConstraint
            | AlterTableType::AtSetStatistics
            | AlterTableType::AtClusterOn
            | AlterTableType::AtDropCluster
            | AlterTableType::AtAttachPartition,
        ) => ShareUpdateExclusive,
        Ok(AlterTableType::AtEnableTrig | AlterTableType::AtDisableTrig)
        | Ok(
            AlterTableType::AtEnableAlwaysTrig
            | AlterTableType::AtEnableReplicaTrig
            | AlterTableType::AtEnableTrigAll
            | AlterTableType::AtDisableTrigAll
            | AlterTableType::AtEnableTrigUser
            | AlterTableType::AtDisableTrigUser,
        ) => ShareRowExclusive,
        _ => AccessExclusive,
    };
    (level, foreign)
}

/// Tables referenced by foreign keys declared in a CREATE TABLE element (a table
/// constraint, or a column's REFERENCES).
fn foreign_tables(element: &pg_query::protobuf::Node) -> Vec<&RangeVar> {
    let constraints: Vec<&pg_query::protobuf::Node> = match &element.node {
        Some(NodeEnum::Constraint(_)) => vec![element],
        Some(NodeEnum::ColumnDef(c)) => c.constraints.iter().collect(),
        _ => Vec::new(),
    };
    constraints
        .into_iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::Constraint(k)) if k.contype == ConstrType::ConstrForeign as i32 => {
                k.pktable.as_ref()
            }
            _ => None,
        })
        .collect()
}

/// Each relation once, in its strongest mode, in the order first named.
fn strongest_each(locks: Vec<Lock>) -> Vec<Lock> {
    let mut out: Vec<Lock> = Vec::new();
    for lock in locks {
        match out.iter_mut().find(|l| l.relation == lock.relation) {
            Some(l) => l.mode = l.mode.max(lock.mode),
            None => out.push(lock),
        }
    }
    out
}

fn name(r: &RangeVar) -> String {
    if r.schemaname.is_empty() {
        r.relname.clone()
    } else {
        format!("{}.{}", r.schemaname, r.relname)
    }
}

/// `DROP TABLE a.b` names its objects as lists of strings.
pub fn qualified_name(node: &pg_query::protobuf::Node) -> Option<String> {
    let Some(NodeEnum::List(list)) = &node.node else {
        return None;
    };
    let parts: Vec<&str> = list
        .items
        .iter()
        .filter_map(|i| match &i.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// libpg_query's name for the statement's node (`DropStmt`, `VacuumStmt`): precise, and
/// searchable in PostgreSQL's sources and docs. Taken from the variant's Debug form, the
/// one place the crate spells it.
pub(super) fn kind(node: &NodeEnum) -> String {
    let debug = format!("{node:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("statement")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockMode::*;

    fn waits_for_old_transactions(sql: &str) -> bool {
        let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap();
        parsed
            .protobuf
            .stmts
            .iter()
            .filter_map(|raw| raw.stmt.as_ref()?.node.as_ref())
            .any(node_waits_for_old_transactions)
    }

    fn takes(sql: &str) -> Vec<(String, LockMode)> {
        match statement_locks(sql) {
            Locks::Takes(l) => l.into_iter().map(|l| (l.relation, l.mode)).collect(),
            Locks::Unknown(kind) => panic!("{sql}: unknown ({kind})"),
        }
    }

    fn one(relation: &str, mode: LockMode) -> Vec<(String, LockMode)> {
        vec![(relation.to_string(), mode)]
    }

    #[test]
    fn dml_takes_row_exclusive_and_reads_access_share() {
        assert_eq!(
            takes("insert into email_messages (id) values (1)"),
            one("email_messages", RowExclusive)
        );
        assert_eq!(
            takes("update public.t set a = 1 where id in (select id from other)"),
            vec![
                ("public.t".to_string(), RowExclusive),
                ("other".to_string(), AccessShare)
            ]
        );
        assert_eq!(takes("delete from t"), one("t", RowExclusive));
    }

    #[test]
    fn alter_table_forms_take_their_documented_levels() {
        assert_eq!(
            takes("alter table email_messages add column knowledge_extracted_at timestamptz"),
            one("email_messages", AccessExclusive)
        );
        assert_eq!(
            takes("alter table t validate constraint t_c"),
            one("t", ShareUpdateExclusive)
        );
        assert_eq!(
            takes("alter table t add constraint fk foreign key (a) references u (id) not valid"),
            vec![
                ("u".to_string(), ShareRowExclusive),
                ("t".to_string(), ShareRowExclusive)
            ]
        );
        // Several subcommands: the strongest.
        assert_eq!(
            takes("alter table t alter column a set statistics 100, alter column a set not null"),
            one("t", AccessExclusive)
        );
    }

    #[test]
    fn indexes_triggers_and_the_rest() {
        assert_eq!(takes("create index i on t (a)"), one("t", Share));
        assert_eq!(
            takes("create index concurrently i on s.t (a)"),
            one("s.t", ShareUpdateExclusive)
        );
        assert_eq!(
            takes("create trigger tr after insert on t for each row execute function f()"),
            one("t", ShareRowExclusive)
        );
        assert_eq!(
            takes("truncate a, b"),
            vec![
                ("a".to_string(), AccessExclusive),
                ("b".to_string(), AccessExclusive)
            ]
        );
        assert_eq!(
            takes("refresh materialized view concurrently mv"),
            one("mv", Exclusive)
        );
        assert_eq!(takes("drop table a.b"), one("a.b", AccessExclusive));
        assert_eq!(
            takes("create table orders (id int, customer_id int references customers)"),
            vec![
                ("orders".to_string(), AccessExclusive),
                ("customers".to_string(), ShareRowExclusive)
            ]
        );
        assert_eq!(takes("set lock_timeout = '1s'"), Vec::new());
    }

    #[test]
    fn concurrent_index_work_waits_for_old_transactions() {
        for sql in [
            "create index concurrently i on t (a)",
            "drop index concurrently i",
            "reindex (concurrently) index i",
            "reindex index concurrently i",
        ] {
            assert!(waits_for_old_transactions(sql), "{sql}");
        }
        for sql in [
            "create index i on t (a)",
            "alter table t add column c int",
            "reindex index i",
        ] {
            assert!(!waits_for_old_transactions(sql), "{sql}");
        }
    }

    #[test]
    fn conflicts_are_symmetric() {
        let all = [
            AccessShare,
            RowShare,
            RowExclusive,
            ShareUpdateExclusive,
            Share,
            ShareRowExclusive,
            Exclusive,
            AccessExclusive,
        ];
        for a in all {
            for b in all {
                assert_eq!(
                    a.conflicts().contains(&b),
                    b.conflicts().contains(&a),
                    "{a:?} / {b:?}"
                );
            }
        }
        assert!(!Share.conflicts().contains(&Share));
        assert!(AccessShare.conflicts() == [AccessExclusive]);
    }

    #[test]
    fn what_is_not_known_is_said_so() {
        assert_eq!(
            statement_locks("drop index i"),
            Locks::Unknown("DropStmt".into())
        );
        assert_eq!(
            statement_locks("vacuum full t"),
            Locks::Unknown("VacuumStmt".into())
        );
        assert_eq!(
            statement_locks("not sql at all"),
            Locks::Unknown("unparsable".into())
        );
    }
}
