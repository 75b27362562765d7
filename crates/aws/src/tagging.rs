//! The stack's objects of one type, found by their `stackup:stack` tag with the
//! Resource Groups Tagging API: one paginated GetResources per type, whatever the number
//! of objects in the account. Services without a tag filter of their own (S3, ELB, SNS,
//! CloudWatch Logs, DynamoDB) would otherwise cost one tag read per object in the
//! account, so `diff`'s search for unmanaged objects would grow with the account rather
//! than with the stack.
//!
//! The Tagging API is eventually consistent (a tag may take a while to show there), so
//! it serves only the search for objects state does not know (drift reports, sweeps);
//! refresh reads recorded objects by id, and crash recovery finds an interrupted
//! create by the object's unique name (`find`), never through this index.

use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::types::TagFilter;
use stackup_model::STACK_TAG;
use stackup_provider::ProviderError;

use crate::classify;

/// One tagged object: its ARN and every tag it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tagged {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// Every object of `resource_type` (`s3`, `sns`, `elasticloadbalancing:loadbalancer`,
/// ...) tagged `stackup:stack = stack`.
pub(crate) async fn stack_objects(
    client: &aws_sdk_resourcegroupstagging::Client,
    stack: &str,
    resource_type: &str,
) -> Result<Vec<Tagged>, ProviderError> {
    let pages: Vec<aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput> = client
        .get_resources()
        .tag_filters(TagFilter::builder().key(STACK_TAG).values(stack).build())
        .resource_type_filters(resource_type)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("GetResources", e))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.resource_tag_mapping_list())
        .filter_map(|m| {
            let arn = m.resource_arn()?.to_string();
            let tags = m
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            Some(Tagged { arn, tags })
        })
        .collect())
}

/// The ARNs of every object of `resource_type` tagged `stackup:stack = stack`.
pub(crate) async fn stack_arns(
    client: &aws_sdk_resourcegroupstagging::Client,
    stack: &str,
    resource_type: &str,
) -> Result<Vec<String>, ProviderError> {
    Ok(stack_objects(client, stack, resource_type)
        .await?
        .into_iter()
        .map(|t| t.arn)
        .collect())
}
