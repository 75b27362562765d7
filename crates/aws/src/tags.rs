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
    let map: BTreeMap<String, String> = tags
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX))
        .collect();
    Value::from_string_map(&map)
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
    let old_tags = desired(old);
    let new_tags = with_stackup(stack, urn, new);
    let removed: Vec<Tag> = old_tags
        .keys()
        .filter(|k| !new_tags.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !removed.is_empty() {
        ec2.delete_tags()
            .resources(id)
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(|e| classify("DeleteTags", e))?;
    }
    ec2.create_tags()
        .resources(id)
        .set_tags(Some(ec2_tags(&new_tags)))
        .send()
        .await
        .map_err(|e| classify("CreateTags", e))?;
    Ok(())
}
