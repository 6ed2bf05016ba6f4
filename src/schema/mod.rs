//! Schema snapshots of live databases, compared as catalog objects rather than dump text:
//! what `pgfleet drift` and `pgfleet baseline` report, and the SQL they draft.
//!
//! [`SNAPSHOT_SQL`] reads one database into a [`Schema`]; [`compare`] lists the
//! [`Difference`]s between two, each told in words by [`Difference::describe`]; [`draft`]
//! writes the SQL that would turn one into the other.

mod catalog;
mod diff;
mod draft;
mod ident;
mod ignore;

pub use catalog::IdentityOptions;
pub use catalog::{
    Access, Attribute, Composite, DefaultAccess, Domain, DomainCheck, Grant, Policy,
};
pub use catalog::{
    Column, Constraint, Enum, Extension, Function, Index, OwnedBy, SNAPSHOT_SQL, Schema, Sequence,
    Table, Trigger, View,
};
pub use diff::{Change, Difference, Expected, Kind, compare};
pub use draft::{Draft, draft};
pub use ident::quote_ident;
pub use ignore::Ignore;
