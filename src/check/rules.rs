//! The rules `check` runs by default, once: their ids, where they come from, their
//! severity and the safe alternative each finding points to. The same table feeds
//! `--enable` / `--disable`, docs/check-rules.md (a test holds the page to it) and SARIF's
//! rule list. squawk's other rules are off unless enabled (`squawk::opt_in`).

use super::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Pgfleet,
    /// A squawk rule: its finding's message is squawk's, the help pgfleet's.
    Squawk,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Pgfleet => "pgfleet",
            Source::Squawk => "squawk",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub id: &'static str,
    pub source: Source,
    /// None: off unless `--enable`d.
    pub default: Option<Severity>,
    /// What it finds, in a line.
    pub summary: &'static str,
    /// The safe alternative (for squawk's rules, replacing squawk's help).
    pub help: &'static str,
}

impl RuleInfo {
    /// The severity it has when turned on.
    pub fn enabled_severity(&self) -> Severity {
        self.default.unwrap_or(Severity::Warning)
    }
}

const BREAKING: &str = "code that reads it fails the moment this commits: deploy the code that stops using it first, or expand/contract (add the new, copy, switch the code, drop the old in a later migration); declare the workloads with `-- pgfleet:used-by NAME` or `-- pgfleet:stop NAME` so `up` deals with them";

use Severity::{Error, Warning};
use Source::{Pgfleet, Squawk};

pub static RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "file-format",
        source: Pgfleet,
        default: Some(Error),
        summary: "the file is not a migration pgfleet and dbmate can run (markers, options, directives, encoding)",
        help: "fix the file: pgfleet, dbmate and `up` would refuse it as it is",
    },
    RuleInfo {
        id: "syntax-error",
        source: Pgfleet,
        default: Some(Error),
        summary: "a statement PostgreSQL's parser rejects",
        help: "fix the statement: the server would reject it and roll the migration back",
    },
    RuleInfo {
        id: "empty-down",
        source: Pgfleet,
        default: Some(Warning),
        summary: "the down section is empty or only comments: the migration cannot be rolled back",
        help: "write the statements that undo the up section; where nothing can undo it (dropped data), say so in a comment and allow the rule: `-- pgfleet:allow empty-down REASON`",
    },
    RuleInfo {
        id: "not-idempotent",
        source: Pgfleet,
        default: Some(Warning),
        summary: "a statement of a `transaction:false` section that fails when run again after an interruption",
        help: "a `transaction:false` section is not rolled back when it is cut short, and the re-run starts at its first statement: write it so it can run twice (IF NOT EXISTS / IF EXISTS)",
    },
    RuleInfo {
        id: "no-transaction-partial",
        source: Pgfleet,
        default: Some(Warning),
        summary: "several statements in a `transaction:false` section: one failing leaves the ones before it applied and the version unrecorded",
        help: "put each statement that needs `transaction:false` in a file of its own (the rest in a transactional file), or make every statement idempotent so a re-run completes",
    },
    RuleInfo {
        id: "needs-no-transaction",
        source: Pgfleet,
        default: Some(Error),
        summary: "a statement that cannot run inside a transaction block, in a transactional section",
        help: "move it to a file of its own whose marker says `-- migrate:up transaction:false` (and make it idempotent: IF NOT EXISTS)",
    },
    RuleInfo {
        id: "enum-value-used-in-transaction",
        source: Pgfleet,
        default: Some(Error),
        summary: "a value added by `ALTER TYPE … ADD VALUE` is used in the same transaction (PostgreSQL refuses: unsafe use of new value)",
        help: "add the value in one migration and use it in a later one: each migration commits on its own",
    },
    RuleInfo {
        id: "blocking-maintenance",
        source: Pgfleet,
        default: Some(Warning),
        summary: "VACUUM FULL, CLUSTER or REFRESH MATERIALIZED VIEW without CONCURRENTLY: the table is locked ACCESS EXCLUSIVE while it is rewritten",
        help: "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view); for VACUUM FULL and CLUSTER, pg_repack (or REPACK CONCURRENTLY on PostgreSQL 19) outside a migration, or plain VACUUM",
    },
    RuleInfo {
        id: "duplicate-version",
        source: Pgfleet,
        default: Some(Error),
        summary: "two files of a folder have the same version: `up` refuses the folder",
        help: "give one of them a new version (rename it with a fresh timestamp, e.g. from `pgfleet new`)",
    },
    RuleInfo {
        id: "out-of-order",
        source: Pgfleet,
        default: Some(Error),
        summary: "(with --since) a file added since REF whose version sorts before a file that exists at REF: two branches collided",
        help: "where the newer file is applied, this one runs out of order, and `up --strict` refuses it: give it a version after the newest at REF (rename it with a fresh timestamp)",
    },
    RuleInfo {
        id: "edited-since",
        source: Pgfleet,
        default: Some(Warning),
        summary: "(with --since) a file that exists at REF was edited since: where it is applied, its checksum no longer matches",
        help: "leave applied migrations as they are and write a new one; `pgfleet verify` says where the old text is applied",
    },
    RuleInfo {
        id: "bad-allow",
        source: Pgfleet,
        default: Some(Error),
        summary: "a `-- pgfleet:allow` comment without a known rule id or without a reason",
        help: "write `-- pgfleet:allow RULE[,RULE] REASON`: the reason is for the next reviewer",
    },
    RuleInfo {
        id: "unused-allow",
        source: Pgfleet,
        default: Some(Warning),
        summary: "a `-- pgfleet:allow` comment that allows nothing",
        help: "remove it: the statement it stands before no longer has that finding",
    },
    RuleInfo {
        id: "require-concurrent-index-creation",
        source: Squawk,
        default: Some(Warning),
        summary: "CREATE INDEX without CONCURRENTLY on a table the file did not create",
        help: "CREATE INDEX CONCURRENTLY IF NOT EXISTS, alone in a `-- migrate:up transaction:false` file",
    },
    RuleInfo {
        id: "require-concurrent-index-deletion",
        source: Squawk,
        default: Some(Warning),
        summary: "DROP INDEX without CONCURRENTLY",
        help: "DROP INDEX CONCURRENTLY IF EXISTS, alone in a `-- migrate:up transaction:false` file",
    },
    RuleInfo {
        id: "require-concurrent-reindex",
        source: Squawk,
        default: Some(Warning),
        summary: "REINDEX without CONCURRENTLY",
        help: "REINDEX … CONCURRENTLY, alone in a `-- migrate:up transaction:false` file",
    },
    RuleInfo {
        id: "require-concurrent-partition-detach",
        source: Squawk,
        default: Some(Warning),
        summary: "DETACH PARTITION without CONCURRENTLY",
        help: "ALTER TABLE … DETACH PARTITION … CONCURRENTLY, alone in a `-- migrate:up transaction:false` file",
    },
    RuleInfo {
        id: "constraint-missing-not-valid",
        source: Squawk,
        default: Some(Warning),
        summary: "a foreign key or CHECK added without NOT VALID, or validated in the transaction that adds it",
        help: "add it NOT VALID in one migration (a brief lock), then `ALTER TABLE … VALIDATE CONSTRAINT` in a later one (reads and writes go on while it scans)",
    },
    RuleInfo {
        id: "adding-foreign-key-constraint",
        source: Squawk,
        default: Some(Warning),
        summary: "a foreign key added without NOT VALID: both tables are locked while every row is checked",
        help: "add it NOT VALID in one migration, then VALIDATE CONSTRAINT in a later one",
    },
    RuleInfo {
        id: "adding-not-nullable-field",
        source: Squawk,
        default: Some(Warning),
        summary: "SET NOT NULL on an existing column: the table is scanned under ACCESS EXCLUSIVE",
        help: "add `CHECK (col IS NOT NULL) NOT VALID`, VALIDATE it in a later migration, then SET NOT NULL (PostgreSQL 12+ skips the scan) and drop the CHECK",
    },
    RuleInfo {
        id: "adding-required-field",
        source: Squawk,
        default: Some(Warning),
        summary: "a NOT NULL column without a default: fails on a table that has rows",
        help: "add it with a DEFAULT, or nullable, backfill, then SET NOT NULL the safe way",
    },
    RuleInfo {
        id: "changing-column-type",
        source: Squawk,
        default: Some(Warning),
        summary: "a column type change: most rewrite the table under ACCESS EXCLUSIVE, and a narrower type breaks code that writes wider values",
        help: "expand/contract: add a column of the new type, backfill it in batches, switch the code, drop the old column later; a change that only widens (varchar(n) to text or a larger n) does not rewrite: allow it with that reason",
    },
    RuleInfo {
        id: "adding-field-with-default",
        source: Squawk,
        default: Some(Warning),
        summary: "a column added with a volatile default (or GENERATED … STORED): the table is rewritten under ACCESS EXCLUSIVE",
        help: "add the column without the default (or with a constant one), set the default in a second statement, and backfill existing rows in batches",
    },
    RuleInfo {
        id: "disallowed-unique-constraint",
        source: Squawk,
        default: Some(Warning),
        summary: "ADD UNIQUE without USING INDEX: the index is built under ACCESS EXCLUSIVE",
        help: "CREATE UNIQUE INDEX CONCURRENTLY in a `transaction:false` file, then `ADD CONSTRAINT … UNIQUE USING INDEX` in a later one",
    },
    RuleInfo {
        id: "adding-serial-primary-key-field",
        source: Squawk,
        default: Some(Warning),
        summary: "ADD PRIMARY KEY without USING INDEX: the index is built under ACCESS EXCLUSIVE",
        help: "CREATE UNIQUE INDEX CONCURRENTLY in a `transaction:false` file, then `ADD CONSTRAINT … PRIMARY KEY USING INDEX` in a later one",
    },
    RuleInfo {
        id: "narrowing-type",
        source: Pgfleet,
        default: Some(Warning),
        summary: "a column's type narrowed (varchar(100) to varchar(10), bigint to integer, numeric losing digits, a timestamp to a date), its old type known from the folder's earlier migrations",
        help: "code that writes values the new type cannot hold fails the moment this commits, and the ALTER fails on rows that do not fit: deploy code that writes only what fits first, clean the data, then narrow; or keep the wider type and add a CHECK … NOT VALID",
    },
    RuleInfo {
        id: "ban-drop-column",
        source: Squawk,
        default: Some(Warning),
        summary: "a column dropped",
        help: BREAKING,
    },
    RuleInfo {
        id: "ban-drop-table",
        source: Squawk,
        default: Some(Warning),
        summary: "a table dropped",
        help: BREAKING,
    },
    RuleInfo {
        id: "renaming-column",
        source: Squawk,
        default: Some(Warning),
        summary: "a column renamed",
        help: BREAKING,
    },
    RuleInfo {
        id: "renaming-table",
        source: Squawk,
        default: Some(Warning),
        summary: "a table renamed",
        help: BREAKING,
    },
    RuleInfo {
        id: "transaction-nesting",
        source: Squawk,
        default: Some(Error),
        summary: "BEGIN, COMMIT or ROLLBACK in a file: pgfleet (like dbmate) runs each migration in its own transaction",
        help: "remove it: a COMMIT inside a migration commits it before its tracking row, breaking all-or-nothing; for statements that cannot run in a transaction, use `-- migrate:up transaction:false`",
    },
    RuleInfo {
        id: "ban-drop-database",
        source: Squawk,
        default: Some(Error),
        summary: "DROP DATABASE in a migration",
        help: "drop databases by hand, not in a migration that every environment replays",
    },
];

/// The rule with this id: one of RULES, or one of squawk's opt-in rules.
pub fn find(id: &str) -> Result<RuleInfo, String> {
    if let Some(r) = RULES.iter().find(|r| r.id == id) {
        return Ok(*r);
    }
    if let Some(r) = super::squawk::opt_in(id) {
        return Ok(r);
    }
    let mut known: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    let opt_in = super::squawk::opt_in_ids();
    known.extend(opt_in.iter().copied());
    Err(match crate::suggest(id, &known) {
        Some(s) => format!(
            "no rule is called '{id}' (did you mean '{s}'?); docs/check-rules.md lists them"
        ),
        None => format!("no rule is called '{id}'; docs/check-rules.md lists them"),
    })
}

/// The findings of these rules are about a statement's effect, so they carry its locks.
pub fn takes_locks(rule: &str) -> bool {
    !matches!(
        rule,
        "file-format" | "syntax-error" | "bad-allow" | "unused-allow" | "duplicate-version"
    )
}
