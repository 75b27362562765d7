//! The vocabulary every other part of stackup speaks: URNs, type tokens, property
//! values (with unknown-until-apply and secret markers), resource goals and records,
//! and the small typed API a stack program is written against.
//!
//! Architecture invariant: this crate is pure. It does no IO, knows no AWS, and cannot
//! fail except on malformed input.

mod program;
mod record;
mod urn;
mod value;

pub use program::{Handle, Input, Program, ResourceArgs, StackBuilder};
pub use record::{ResourceGoal, ResourceRecord};
pub use urn::{ModelError, TypeToken, Urn};
pub use value::{Properties, Reference, Value};

/// The tag every taggable resource carries with the name of its stack.
pub const STACK_TAG: &str = "stackup:stack";
/// The tag every taggable resource carries with its URN; crash recovery and sweeps find
/// objects by it.
pub const URN_TAG: &str = "stackup:urn";
/// Tags under this prefix belong to stackup; they are added by providers, never part of
/// a program's desired tags, and stripped from what a read reports.
pub const RESERVED_TAG_PREFIX: &str = "stackup:";
