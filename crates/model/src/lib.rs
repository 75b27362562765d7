//! The vocabulary every other part of stackup speaks: URNs, type tokens, property
//! values (with unknown-until-apply and secret markers), resource goals and records,
//! and the small typed API a stack program is written against.
//!
//! Architecture invariant: this crate is pure. It does no IO, knows no AWS, and cannot
//! fail except on malformed input.

mod program;
mod properties;
mod record;
mod shared;
pub mod stackfile;
mod urn;
mod value;

pub use program::{
    lookup_output, DeclareError, Handle, Input, LookupArgs, LookupGoal, Program, ProgramDef, ResourceArgs,
    StackBuilder, DEFAULT_PROGRAM,
};
pub use properties::{Key, Properties};
pub use record::{ResourceGoal, ResourceRecord};
pub use shared::SharedProperties;
pub use stackfile::{ConfigError, ConfigErrors};
pub use urn::{ModelError, TypeToken, Urn};
pub use value::{Reference, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "region = \"us-east-1\"\n\
                         \n\
                         [network]\n\
                         # a comment\n\
                         vpc_cidr = \"10.0.0.0/16\"\n\
                         \"az_count\" = 2\n\
                         \n\
                         [compute.scaling]\n\
                         asg_max = 2\n\
                         [[alarms]]\n\
                         name = \"cpu\"\n";

    #[test]
    fn a_key_before_any_table_is_named_alone() {
        assert_eq!(key_at_line(STACK, 1).as_deref(), Some("region"));
    }

    #[test]
    fn a_key_under_a_table_is_named_with_the_table() {
        assert_eq!(key_at_line(STACK, 5).as_deref(), Some("network.vpc_cidr"));
    }

    #[test]
    fn a_quoted_key_is_named_without_its_quotes() {
        assert_eq!(key_at_line(STACK, 6).as_deref(), Some("network.az_count"));
    }

    #[test]
    fn dotted_tables_and_arrays_of_tables_give_their_full_path() {
        assert_eq!(key_at_line(STACK, 9).as_deref(), Some("compute.scaling.asg_max"));
        assert_eq!(key_at_line(STACK, 11).as_deref(), Some("alarms.name"));
    }

    #[test]
    fn a_line_without_a_key_names_nothing() {
        assert_eq!(key_at_line(STACK, 2), None, "a blank line");
        assert_eq!(key_at_line(STACK, 3), None, "a table header");
        assert_eq!(key_at_line(STACK, 4), None, "a comment");
    }

    #[test]
    fn a_line_outside_the_text_names_nothing() {
        assert_eq!(key_at_line(STACK, 0), None, "lines count from 1");
        assert_eq!(key_at_line(STACK, 12), None);
        assert_eq!(key_at_line("", 1), None);
    }
}
