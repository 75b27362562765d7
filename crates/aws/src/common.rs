//! Helpers every provider uses.

use std::collections::BTreeMap;

use stackup_model::{TypeToken, Urn};
use stackup_provider::{ErrorKind, ProviderError, ReadTarget};

/// The URN of each read target, by physical id.
pub(crate) fn urns_by_id(targets: &[ReadTarget]) -> BTreeMap<String, Urn> {
    targets.iter().map(|t| (t.id.clone(), t.urn.clone())).collect()
}

/// True when the update's diff found `key` changed.
pub(crate) fn changed(changed: &[String], key: &str) -> bool {
    changed.iter().any(|c| c == key)
}

/// Treats "not found" as success: for deletes of objects already gone.
pub(crate) fn ok_if_gone(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A client token of at most `max` characters from an operation's idempotency token.
pub(crate) fn client_token(token: &str, max: usize) -> String {
    token.chars().take(max).collect()
}

/// The URN a listed object claims through its `stackup:urn` tag; an object of the stack
/// whose tag is missing or malformed is named after its physical id so it can still be
/// reported and swept.
pub(crate) fn listed_urn(stack: &str, ty: &str, urn_tag: Option<&str>, id: &str) -> Urn {
    urn_tag
        .and_then(|u| Urn::parse(u).ok())
        .filter(|u| u.stack() == stack)
        .unwrap_or_else(|| Urn::new(stack, &TypeToken::from_static_or_owned(ty), id))
}
