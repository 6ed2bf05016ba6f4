//! The single integration test binary: one test module per area, all sharing `harness`.

mod adopt;
mod campaign;
mod check;
mod concurrency;
mod corpus;
mod cuts;
mod dbmate_compat;
mod directives;
mod docs;
mod engine;
mod fleet;
mod hangs;
mod harness;
mod inventory;
mod layers;
mod locks;
mod outcomes;
mod parser;
mod properties;
mod runs;
mod schema;
mod secrets;
mod smoke;
mod ssh;
mod ssh_trust;
mod workloads;
