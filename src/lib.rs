//! pgfleet: dbmate-compatible PostgreSQL migrations, applied safely.
//!
//! The layers, from the top down; a module imports only modules below it (a test parses
//! `src/` and fails on any cycle): `app` (command line → exit code) → `report` (the only
//! place that prints: it renders the runner's events) → `runner` (runs a validated `Run`
//! on its targets, emitting events) → `settings` (flags → one validated `Run`) → `cli`
//! (clap flags) → `tracking` (the migration protocol over a database session) →
//! `transport` (reaching databases: URL, SSH, Docker) → `inventory`, `schema`, `plan`,
//! `check`, `migration` (pure: files, catalogs, plans, lint rules) → `error`, `stop` (leaf types).
//! docs/architecture.md walks through it.

pub mod app;
pub mod check;
pub mod cli;
pub mod error;
pub mod inventory;
pub mod migration;
pub mod plan;
pub mod report;
pub mod runner;
pub mod schema;
pub mod settings;
pub mod stop;
pub mod tracking;
pub mod transport;

pub use error::{Error, ExitCode};

/// The closest of `candidates` to a misspelt `word`, for "did you mean" hints.
pub fn suggest(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_close_names_only() {
        let known = ["transaction", "lock_timeout", "statement_timeout"];
        assert_eq!(
            super::suggest("lock_timout", &known).as_deref(),
            Some("lock_timeout")
        );
        assert_eq!(
            super::suggest("transation", &known).as_deref(),
            Some("transaction")
        );
        assert_eq!(super::suggest("colour", &known), None);
    }
}
