//! How pgfleet reaches a database. This transport is a URL; SSH tunnels, the
//! Docker API and psql-in-container plug in beside it and drive the same engine.

pub mod url;

pub use self::url::{DbUrl, redact};
pub mod ssh;
