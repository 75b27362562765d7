//! Reading typed values out of property maps, with errors that name the input.

use stackup_model::{Properties, Value};
use stackup_provider::{CheckFailure, ProviderError};

pub(crate) fn str_of<'a>(p: &'a Properties, key: &str) -> Result<&'a str, ProviderError> {
    p.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::invalid(format!("input '{key}' must be a string")))
}

pub(crate) fn opt_str<'a>(p: &'a Properties, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub(crate) fn bool_of(p: &Properties, key: &str) -> bool {
    p.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn int_of(p: &Properties, key: &str) -> Option<i64> {
    p.get(key).and_then(Value::as_int)
}

pub(crate) fn list_of<'a>(p: &'a Properties, key: &str) -> &'a [Value] {
    p.get(key).and_then(Value::as_list).unwrap_or(&[])
}

pub(crate) fn strings_of(p: &Properties, key: &str) -> Vec<String> {
    list_of(p, key)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// True when a value is known at plan time (not a reference, not unknown).
pub(crate) fn is_known(v: &Value) -> bool {
    !v.contains_unknown() && v.references().is_empty()
}

pub(crate) fn props<const N: usize>(entries: [(&str, Value); N]) -> Properties {
    entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Normalises a CIDR input in place; a malformed one becomes a check failure.
pub(crate) fn check_cidr(inputs: &mut Properties, key: &str, failures: &mut Vec<CheckFailure>) {
    let Some(v) = inputs.get(key) else { return };
    if !is_known(v) {
        return;
    }
    match v.as_str().map(normalise_cidr) {
        Some(Ok(c)) => {
            inputs.insert(key.into(), Value::String(c));
        }
        Some(Err(reason)) => failures.push(CheckFailure {
            property: key.to_string(),
            reason,
        }),
        None => failures.push(CheckFailure {
            property: key.to_string(),
            reason: "must be a string".into(),
        }),
    }
}

/// The canonical form of an IPv4 CIDR; host bits set is an error, as AWS would refuse.
pub(crate) fn normalise_cidr(s: &str) -> Result<String, String> {
    let net: ipnet::Ipv4Net = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not an IPv4 CIDR block"))?;
    if net.trunc() != net {
        return Err(format!("'{s}' has host bits set; the network is {}", net.trunc()));
    }
    Ok(net.to_string())
}
