//! squawk's linter, the only place that imports squawk's crates: a file in, pgfleet
//! findings out. Each of squawk's rules is classed here by an exhaustive `match`, so a
//! squawk upgrade that adds a rule does not compile until someone decides what it is.

use squawk_linter::{Linter, Rule as Sq, Version};
use squawk_syntax::SourceFile;

use super::rules::{RULES, RuleInfo, Source};
use super::{Config, Finding, Placed, Severity, Text};
use crate::migration::Migration;

enum Class {
    /// On by default; its entry in RULES has pgfleet's help.
    Default(&'static str),
    /// Off unless `--enable`d.
    OptIn(&'static str),
    /// Never run: pgfleet's own rules or `up` do its job (the comment says which).
    Off,
}

fn class(rule: Sq) -> Class {
    match rule {
        Sq::RequireConcurrentIndexCreation => Class::Default("require-concurrent-index-creation"),
        Sq::RequireConcurrentIndexDeletion => Class::Default("require-concurrent-index-deletion"),
        Sq::ConstraintMissingNotValid => Class::Default("constraint-missing-not-valid"),
        Sq::AddingFieldWithDefault => Class::Default("adding-field-with-default"),
        Sq::AddingForeignKeyConstraint => Class::Default("adding-foreign-key-constraint"),
        Sq::ChangingColumnType => Class::Default("changing-column-type"),
        Sq::AddingNotNullableField => Class::Default("adding-not-nullable-field"),
        Sq::AddingSerialPrimaryKeyField => Class::Default("adding-serial-primary-key-field"),
        Sq::RenamingColumn => Class::Default("renaming-column"),
        Sq::RenamingTable => Class::Default("renaming-table"),
        Sq::DisallowedUniqueConstraint => Class::Default("disallowed-unique-constraint"),
        Sq::BanDropDatabase => Class::Default("ban-drop-database"),
        Sq::PreferBigintOverInt => Class::OptIn("prefer-bigint-over-int"),
        Sq::PreferBigintOverSmallint => Class::OptIn("prefer-bigint-over-smallint"),
        Sq::PreferIdentity => Class::OptIn("prefer-identity"),
        Sq::PreferRepack => Class::OptIn("prefer-repack"),
        // pgfleet's not-idempotent runs it on `transaction:false` sections only
        Sq::PreferRobustStmts => Class::Off,
        Sq::PreferTextField => Class::OptIn("prefer-text-field"),
        Sq::PreferTimestampTz => Class::OptIn("prefer-timestamp-tz"),
        Sq::BanCharField => Class::OptIn("ban-char-field"),
        Sq::BanDropColumn => Class::Default("ban-drop-column"),
        Sq::BanDropTable => Class::Default("ban-drop-table"),
        Sq::BanDropNotNull => Class::OptIn("ban-drop-not-null"),
        Sq::TransactionNesting => Class::Default("transaction-nesting"),
        Sq::AddingRequiredField => Class::Default("adding-required-field"),
        Sq::BanCreateDomainWithConstraint => Class::OptIn("ban-create-domain-with-constraint"),
        // squawk-ignore comments are not read: pgfleet:allow (with a reason) is
        Sq::UnusedIgnore => Class::Off,
        Sq::BanAlterDomainWithAddConstraint => Class::OptIn("ban-alter-domain-with-add-constraint"),
        Sq::BanTruncateCascade => Class::OptIn("ban-truncate-cascade"),
        // `up` sets lock_timeout and statement_timeout itself
        Sq::RequireTimeoutSettings => Class::Off,
        // transaction-nesting covers BEGIN in a migration
        Sq::BanUncommittedTransaction => Class::Off,
        Sq::RequireEnumValueOrdering => Class::OptIn("require-enum-value-ordering"),
        Sq::RequireTableSchema => Class::OptIn("require-table-schema"),
        Sq::IdentifierTooLong => Class::OptIn("identifier-too-long"),
        Sq::RequireConcurrentPartitionDetach => {
            Class::Default("require-concurrent-partition-detach")
        }
        Sq::RequireConcurrentReindex => Class::Default("require-concurrent-reindex"),
        // `up` sets lock_timeout itself
        Sq::RequireLockTimeout => Class::Off,
        // `up` sets statement_timeout itself
        Sq::RequireStatementTimeout => Class::Off,
        Sq::BanDuplicateColumnAssignments => Class::OptIn("ban-duplicate-column-assignments"),
        Sq::BanDropView => Class::OptIn("ban-drop-view"),
        Sq::BanDropFunction => Class::OptIn("ban-drop-function"),
        Sq::BanDropType => Class::OptIn("ban-drop-type"),
        Sq::BanDropDefault => Class::OptIn("ban-drop-default"),
        Sq::BanDropTrigger => Class::OptIn("ban-drop-trigger"),
        Sq::BanDropSchema => Class::OptIn("ban-drop-schema"),
        Sq::BanDropSequence => Class::OptIn("ban-drop-sequence"),
        Sq::BanDropDomain => Class::OptIn("ban-drop-domain"),
        Sq::BanDropConstraint => Class::OptIn("ban-drop-constraint"),
        Sq::BanDropGeneratedExpression => Class::OptIn("ban-drop-generated-expression"),
        Sq::RenamingObject => Class::OptIn("renaming-object"),
        Sq::BanSetSchema => Class::OptIn("ban-set-schema"),
        Sq::BanAlterIdentity => Class::OptIn("ban-alter-identity"),
        Sq::BanDropExtension => Class::OptIn("ban-drop-extension"),
        Sq::BanAlterGeneratedExpression => Class::OptIn("ban-alter-generated-expression"),
        Sq::BanDropIndex => Class::OptIn("ban-drop-index"),
        Sq::BanSetDefault => Class::OptIn("ban-set-default"),
        Sq::BanDisableTrigger => Class::OptIn("ban-disable-trigger"),
        Sq::BanReplicaIdentity => Class::OptIn("ban-replica-identity"),
        Sq::BanDropPolicy => Class::OptIn("ban-drop-policy"),
        Sq::BanRevoke => Class::OptIn("ban-revoke"),
        Sq::BanReplaceViewFunction => Class::OptIn("ban-replace-view-function"),
        Sq::BanAlterPolicyCondition => Class::OptIn("ban-alter-policy-condition"),
        Sq::BanAlterPolicyRoles => Class::OptIn("ban-alter-policy-roles"),
        Sq::BanCreatePolicy => Class::OptIn("ban-create-policy"),
        Sq::BanAlterFunctionOptions => Class::OptIn("ban-alter-function-options"),
        Sq::BanAlterViewOptions => Class::OptIn("ban-alter-view-options"),
        Sq::BanAlterRoleOptions => Class::OptIn("ban-alter-role-options"),
        Sq::BanAlterDatabaseOptions => Class::OptIn("ban-alter-database-options"),
        Sq::BanAlterRowLevelSecurity => Class::OptIn("ban-alter-row-level-security"),
        Sq::BanNewWriteRestriction => Class::OptIn("ban-new-write-restriction"),
        Sq::BanAddEnumValue => Class::OptIn("ban-add-enum-value"),
        Sq::BanAddCompositeAttribute => Class::OptIn("ban-add-composite-attribute"),
        Sq::BanAddColumn => Class::OptIn("ban-add-column"),
        Sq::BanDetachInheritance => Class::OptIn("ban-detach-inheritance"),
        Sq::BanAlterSequenceValues => Class::OptIn("ban-alter-sequence-values"),
        Sq::BanAlterSystemOptions => Class::OptIn("ban-alter-system-options"),
        Sq::BanAlterExtension => Class::OptIn("ban-alter-extension"),
        // pgfleet's needs-no-transaction covers every such statement, in one-statement files too
        Sq::BanConcurrentIndexCreationInTransaction => Class::Off,
    }
}

/// Every squawk rule (squawk derives `Sequence` for exactly this).
fn all() -> impl Iterator<Item = Sq> {
    enum_iterator::all::<Sq>()
}

/// A squawk rule that is off by default, by id.
pub(super) fn opt_in(id: &str) -> Option<RuleInfo> {
    let rule = Sq::try_from(id).ok()?;
    match class(rule) {
        Class::OptIn(id) => Some(RuleInfo {
            id,
            source: Source::Squawk,
            default: None,
            summary: "one of squawk's opt-in rules (https://squawkhq.com/docs/rules)",
            help: "",
        }),
        _ => None,
    }
}

/// The ids of squawk's opt-in rules.
pub(super) fn opt_in_ids() -> Vec<&'static str> {
    all()
        .filter_map(|r| match class(r) {
            Class::OptIn(id) => Some(id),
            _ => None,
        })
        .collect()
}

/// squawk's findings in the file's up sections. squawk reads the whole file with the down
/// sections blanked out: the up sections share one transaction, and offsets stay the file's.
pub(super) fn findings(
    text: &Text,
    migration: &Migration,
    placed: &[Placed],
    config: &Config,
) -> Vec<Finding> {
    let transactional = migration.up_transactional();
    let mut rules: Vec<Sq> = all()
        .filter(|r| match class(*r) {
            Class::Default(id) | Class::OptIn(id) => config.is_active(id),
            Class::Off => false,
        })
        .collect();
    if !transactional && config.is_active("not-idempotent") {
        rules.push(Sq::PreferRobustStmts);
    }
    if rules.is_empty() {
        return Vec::new();
    }
    let mut source = text.text.clone().into_bytes();
    for p in placed.iter().filter(|p| !p.is_up()) {
        blank(&mut source[p.offset..p.offset + p.section.sql.len()]);
    }
    let mut source = String::from_utf8(source).unwrap_or_default();
    // squawk's own suppressions would dodge the reason pgfleet:allow asks for.
    for word in ["squawk-ignore", "squawk-disable-assume-in-transaction"] {
        source = source.replace(word, &" ".repeat(word.len()));
    }
    let parse = SourceFile::parse(&source);
    let mut linter = Linter::from(rules);
    linter.settings.pg_version = format!("{}", config.pg_version)
        .parse::<Version>()
        .unwrap_or_default();
    linter.settings.assume_in_transaction = transactional;
    let created = super::own::tables_created(placed);
    let mut found: Vec<Finding> = linter
        .lint(&parse, &source)
        .into_iter()
        .filter_map(|v| {
            let (id, help) = match (v.code, class(v.code)) {
                (Sq::PreferRobustStmts, _) => ("not-idempotent", None),
                (_, Class::Default(id)) => (id, None),
                (_, Class::OptIn(id)) => (id, v.help.clone()),
                (_, Class::Off) => return None,
            };
            let span: std::ops::Range<usize> = v.text_range.into();
            // Its "table made in this transaction" logic misses a transaction:false file.
            if v.code == Sq::RequireConcurrentIndexCreation
                && super::own::index_table(&source[span.clone()])
                    .is_some_and(|t| created.contains(&t))
            {
                return None;
            }
            let info = RULES.iter().find(|r| r.id == id);
            let help = match (info, help) {
                (Some(r), _) => r.help.to_string(),
                (None, Some(h)) => h,
                (None, None) => String::new(),
            };
            let severity = info.map_or(Severity::Warning, RuleInfo::enabled_severity);
            let message = message(id, &source[span.clone()]).unwrap_or(v.message);
            Some(text.finding(id, severity, span, message, help))
        })
        .collect();
    // squawk says "add it NOT VALID" beside its more precise rule for the same constraint,
    // and says it of UNIQUE and PRIMARY KEY too, which cannot be NOT VALID.
    let precise: Vec<std::ops::Range<usize>> = found
        .iter()
        .filter(|f| {
            matches!(
                f.rule,
                "adding-foreign-key-constraint"
                    | "disallowed-unique-constraint"
                    | "adding-serial-primary-key-field"
            )
        })
        .map(|f| f.span.clone())
        .collect();
    found.retain(|f| {
        f.rule != "constraint-missing-not-valid"
            || !precise
                .iter()
                .any(|p| p.start < f.span.end && f.span.start < p.end)
    });
    found
}

/// pgfleet's words where squawk's say less than the finding is: its message for a
/// volatile default talks of generated columns, and its "missing transaction" reads as if
/// the section could have one.
fn message(id: &str, text: &str) -> Option<String> {
    match id {
        "adding-field-with-default" if !text.to_lowercase().contains("generated") => Some(
            "a volatile default makes PostgreSQL rewrite the whole table under ACCESS EXCLUSIVE (a constant or non-volatile default is instant since PostgreSQL 11)".into(),
        ),
        "not-idempotent" => Some(
            "this statement fails when run a second time, and a `transaction:false` section that is cut short (a lost connection, a failure further down) is run again from its first statement".into(),
        ),
        _ => None,
    }
}

/// Blanks text out, keeping its length and its line breaks (so offsets and lines stay).
fn blank(bytes: &mut [u8]) {
    for b in bytes {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_squawk_rule_is_classed_under_its_own_id() {
        for rule in all() {
            match class(rule) {
                Class::Default(ours) | Class::OptIn(ours) => assert_eq!(ours, rule.to_string()),
                Class::Off => {}
            }
        }
    }

    #[test]
    fn defaults_are_in_the_rules_table() {
        for rule in all() {
            if let Class::Default(id) = class(rule) {
                let r = RULES.iter().find(|r| r.id == id).expect(id);
                assert_eq!(r.source, Source::Squawk);
            }
        }
    }
}
