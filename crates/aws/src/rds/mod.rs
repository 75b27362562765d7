//! RDS providers: DB subnet groups and DB instances.

mod instance;
mod subnet_group;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::Tag;
use stackup_model::{Properties, Urn, Value};
use stackup_provider::{ErrorKind, Provider, ProviderError};

pub use instance::{DbInstance, DbInstanceArgs};
pub use subnet_group::{DbSubnetGroup, DbSubnetGroupArgs};

use crate::{classify, tags, AwsClients};

/// Every RDS provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let rds = clients.rds.clone();
    vec![
        Arc::new(DbSubnetGroup::new(rds.clone(), clients.tagging.clone())),
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

fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Live RDS tags as (key, value) pairs; RDS models both as optional, and a tag without a
/// key cannot exist.
fn pairs(live: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    live.iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
}

/// Live RDS tags as a map, stackup's own included.
fn tag_map(live: &[Tag]) -> BTreeMap<String, String> {
    tags::map(pairs(live))
}

/// The live user tags (stackup's own removed) as a property value.
fn live_tags(live: &[Tag]) -> Value {
    tags::user_tags(pairs(live))
}

/// True when `tags` carry this resource's `stackup:urn` tag: the object is one an
/// interrupted run created for it.
fn tagged_for(live: &[Tag], urn: &Urn) -> bool {
    tags::owned_by(&tag_map(live), urn)
}

/// The URN of a listed object when its tags place it in `stack`; None otherwise.
fn listed_urn(stack: &str, ty: &str, id: &str, live: &[Tag]) -> Option<Urn> {
    tags::listed_urn(stack, ty, id, &tag_map(live))
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
    tags::sync(
        &tags::desired(old),
        &new_tags,
        |removed| async move {
            rds.remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| rds_error("RemoveTagsFromResource", e))
        },
        || async {
            rds.add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(rds_tags(&new_tags)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| rds_error("AddTagsToResource", e))
        },
    )
    .await
}

/// The recorded `arn` output an update needs to address tags.
fn recorded_arn<'a>(outputs: &'a Properties, id: &str) -> Result<&'a str, ProviderError> {
    outputs
        .get("arn")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ProviderError::invalid(format!("{id} has no recorded ARN; refresh it first")))
}
