//! Tags: the stackup tags every object carries, and keeping user tags in sync.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use stackup_model::{Properties, Urn, Value, RESERVED_TAG_PREFIX, STACK_TAG, URN_TAG};
use stackup_provider::ProviderError;

use crate::classify;

/// The desired user tags of a resource.
pub(crate) fn desired(inputs: &Properties) -> BTreeMap<String, String> {
    inputs.get("tags").map(Value::string_map).unwrap_or_default()
}

/// User tags plus the stackup tags, as created.
pub(crate) fn with_stackup(stack: &str, urn: &Urn, inputs: &Properties) -> BTreeMap<String, String> {
    let mut tags = desired(inputs);
    tags.insert(STACK_TAG.to_string(), stack.to_string());
    tags.insert(URN_TAG.to_string(), urn.to_string());
    tags
}

pub(crate) fn ec2_spec(ty: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(ty)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

pub(crate) fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The live user tags (stackup's own removed) as a property value.
pub(crate) fn live_ec2(tags: &[Tag]) -> Value {
    user_tags(tags.iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))))
}

/// Brings an EC2 object's user tags from `old` to `new` and restores the stackup tags,
/// which an out-of-band edit may have removed.
pub(crate) async fn sync_ec2(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    stack: &str,
    urn: &Urn,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    let new_tags = with_stackup(stack, urn, new);
    sync(
        &desired(old),
        &new_tags,
        |removed| async move {
            let removed: Vec<Tag> = removed.iter().map(|k| Tag::builder().key(k).build()).collect();
            ec2.delete_tags()
                .resources(id)
                .set_tags(Some(removed))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteTags", e))
        },
        || async {
            ec2.create_tags()
                .resources(id)
                .set_tags(Some(ec2_tags(&new_tags)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("CreateTags", e))
        },
    )
    .await
}

// Service-independent tag logic. Each service's SDK has its own `Tag` type; these work on
// plain `(key, value)` pairs and maps so that a service keeps only a small adapter.

/// Inserts an empty user tag map into `inputs` if the program set none, so that a
/// resource declared without tags compares equal to its live empty tag set.
pub(crate) fn default_tags(inputs: &mut Properties) {
    inputs
        .entry("tags".into())
        .or_insert_with(|| Value::Map(Default::default()));
}

/// Live tags as a map, stackup's own included.
pub(crate) fn map<K: AsRef<str>, V: AsRef<str>>(live: impl IntoIterator<Item = (K, V)>) -> BTreeMap<String, String> {
    live.into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect()
}

/// The user tags among live tags (stackup's own removed, so they never show as drift),
/// as a property value.
pub(crate) fn user_tags<K: AsRef<str>, V: AsRef<str>>(live: impl IntoIterator<Item = (K, V)>) -> Value {
    let mut user = map(live);
    user.retain(|k, _| !k.starts_with(RESERVED_TAG_PREFIX));
    Value::from_string_map(&user)
}

/// True when live tags carry this resource's `stackup:urn` tag: the object is one an
/// interrupted run created for it, never someone else's.
pub(crate) fn owned_by(live: &BTreeMap<String, String>, urn: &Urn) -> bool {
    live.get(URN_TAG).map(String::as_str) == Some(urn.as_str())
}

/// The URN of a listed object when its live tags place it in `stack`; None for objects
/// of other stacks or none.
pub(crate) fn listed_urn(stack: &str, ty: &str, id: &str, live: &BTreeMap<String, String>) -> Option<Urn> {
    if live.get(STACK_TAG).map(String::as_str) != Some(stack) {
        return None;
    }
    Some(crate::common::listed_urn(
        stack,
        ty,
        live.get(URN_TAG).map(String::as_str),
        id,
    ))
}

/// A service's tag list from a tag map; `build` is the service's tag builder.
pub(crate) fn build_all<T, E: std::fmt::Display>(
    tags: &BTreeMap<String, String>,
    build: impl Fn(&str, &str) -> Result<T, E>,
) -> Result<Vec<T>, ProviderError> {
    tags.iter()
        .map(|(k, v)| build(k, v).map_err(|e| ProviderError::invalid(format!("tag {k}: {e}"))))
        .collect()
}

/// Brings an object's tags from `old` to `new`: untags the keys that went away, then
/// tags the full `new` set (not only what changed), which also restores stackup tags an
/// out-of-band edit removed. `untag` and `tag` are the service's calls; `tag` sends `new`.
pub(crate) async fn sync<U, UF, T, TF>(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    untag: U,
    tag: T,
) -> Result<(), ProviderError>
where
    U: FnOnce(Vec<String>) -> UF,
    UF: std::future::Future<Output = Result<(), ProviderError>>,
    T: FnOnce() -> TF,
    TF: std::future::Future<Output = Result<(), ProviderError>>,
{
    let removed: Vec<String> = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    if !removed.is_empty() {
        untag(removed).await?;
    }
    tag().await
}
