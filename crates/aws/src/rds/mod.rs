//! RDS providers: DB subnet groups and DB instances.

mod instance;
mod subnet_group;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::Tag;
use stackup_model::{Properties, Urn, Value, RESERVED_TAG_PREFIX, URN_TAG};
use stackup_provider::{ErrorKind, Provider, ProviderError};

pub use instance::{DbInstance, DbInstanceArgs};
pub use subnet_group::{DbSubnetGroup, DbSubnetGroupArgs};

use crate::props::is_known;
use crate::{classify, tags, AwsClients};

/// Every RDS provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let rds = clients.rds.clone();
    vec![
        Arc::new(DbSubnetGroup::new(rds.clone())),
        Arc::new(DbInstance::new(rds)),
    ]
}

/// Classifies an RDS error. RDS names some of its not-found codes `...NotFoundFault`
/// (`DBSubnetGroupNotFoundFault`), which the shared classifier does not know.
fn rds_error<E, R>(action: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let mut e = classify(action, err);
    if e.code.as_deref().is_some_and(|c| c.ends_with("NotFoundFault")) {
        e.kind = ErrorKind::NotFound;
    }
    e
}

/// Inserts the user tags into `inputs` if the program set none, so that a resource
/// declared without tags compares equal to its live empty tag set.
fn default_tags(inputs: &mut Properties) {
    inputs
        .entry("tags".to_string())
        .or_insert_with(|| Value::Map(BTreeMap::new()));
}

/// Sorts and deduplicates a list of ids once every element is known, so that the order
/// a program lists them in never shows as a change.
fn sort_ids(inputs: &mut Properties, key: &str) {
    let Some(Value::List(ids)) = inputs.get(key) else {
        return;
    };
    if ids.iter().all(is_known) {
        let mut sorted = ids.clone();
        sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        sorted.dedup();
        inputs.insert(key.to_string(), Value::List(sorted));
    }
}

fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The live user tags (stackup's own removed) as a property value.
fn live_tags(tags: &[Tag]) -> Value {
    let map: BTreeMap<String, String> = tags
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX))
        .collect();
    Value::from_string_map(&map)
}

/// True when `tags` carry this resource's `stackup:urn` tag: the object is one an
/// interrupted run created for it.
fn tagged_for(tags: &[Tag], urn: &Urn) -> bool {
    let urn = urn.to_string();
    tags.iter()
        .any(|t| t.key() == Some(URN_TAG) && t.value() == Some(urn.as_str()))
}

/// Brings an RDS resource's user tags from `old` to `new` and restores the stackup tags,
/// which an out-of-band edit may have removed.
async fn sync_tags(
    rds: &aws_sdk_rds::Client,
    arn: &str,
    stack: &str,
    urn: &Urn,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    let new_tags = tags::with_stackup(stack, urn, new);
    let removed: Vec<String> = tags::desired(old)
        .into_keys()
        .filter(|k| !new_tags.contains_key(k))
        .collect();
    if !removed.is_empty() {
        rds.remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| rds_error("RemoveTagsFromResource", e))?;
    }
    rds.add_tags_to_resource()
        .resource_name(arn)
        .set_tags(Some(rds_tags(&new_tags)))
        .send()
        .await
        .map_err(|e| rds_error("AddTagsToResource", e))?;
    Ok(())
}

/// The recorded `arn` output an update needs to address tags.
fn recorded_arn<'a>(outputs: &'a Properties, id: &str) -> Result<&'a str, ProviderError> {
    outputs
        .get("arn")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ProviderError::invalid(format!("{id} has no recorded ARN; refresh it first")))
}
