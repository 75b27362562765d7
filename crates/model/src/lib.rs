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

pub use program::{DeclareError, Handle, Input, Program, ProgramDef, ResourceArgs, StackBuilder, DEFAULT_PROGRAM};
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

/// The dotted key on line `line` (1-based) of a TOML text: `network.vpc_cidr` for
/// `vpc_cidr = ...` under `[network]`. For naming the key of a syntax error, which the
/// TOML parser reports by position only.
pub fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?;
    let (lhs, _) = here.split_once('=')?;
    let key = lhs.trim().trim_matches('"');
    let table = lines[..line - 1]
        .iter()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(|t| t.trim().trim_matches('[').trim_matches(']').to_string());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}
