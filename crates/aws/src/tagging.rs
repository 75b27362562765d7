//! The stack's objects of one type, found by their `stackup:stack` tag with the
//! Resource Groups Tagging API: one paginated GetResources for all the types listed at
//! once, whatever the number of objects in the account. Services without a tag filter of their own (S3, ELB, SNS,
//! CloudWatch Logs, DynamoDB) would otherwise cost one tag read per object in the
//! account, so `diff`'s search for unmanaged objects would grow with the account rather
//! than with the stack.
//!
//! The Tagging API is eventually consistent (a tag may take a while to show there), so
//! it never decides that a recorded object is gone: when a listing also serves refresh
//! (`diff`, `refresh`), a recorded object missing from it is read by id, and crash
//! recovery finds an interrupted create by the object's unique name (`find`), never
//! through this index.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::batch::Batcher;
use crate::classify;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use stackup_model::STACK_TAG;
use stackup_provider::ProviderError;

/// One tagged object: its ARN and every tag it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tagged {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// The resource types stackup finds through the Tagging API, asked for together: one
/// paginated GetResources answers every listing of a `diff` (see [`StackIndex`]).
pub(crate) const RESOURCE_TYPES: [&str; 8] = [
    "cloudwatch:alarm",
    "dynamodb:table",
    "elasticloadbalancing:loadbalancer",
    "elasticloadbalancing:targetgroup",
    "logs",
    "rds:subgrp",
    "s3",
    "sns",
];

/// The stack's objects of every type in [`RESOURCE_TYPES`], found with one paginated
/// GetResources shared by the listings asked for at the same moment (`batch.rs`):
/// `diff` lists every type at once, and the eight listings that go through the Tagging
/// API make one call rather than eight. Nothing is cached: a listing that starts after
/// a call answered makes a call of its own.
#[derive(Clone)]
pub struct StackIndex {
    client: aws_sdk_resourcegroupstagging::Client,
    batches: Arc<Batcher<Tagged>>,
}

/// The Tagging API takes at most 20 values per tag filter.
const TAG_VALUES: usize = 20;

impl std::fmt::Debug for StackIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackIndex")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl StackIndex {
    pub fn new(client: aws_sdk_resourcegroupstagging::Client) -> StackIndex {
        StackIndex {
            client,
            batches: Arc::new(Batcher::new(TAG_VALUES)),
        }
    }

    /// Every object of `resource_type` (one of [`RESOURCE_TYPES`]: `s3`, `sns`,
    /// `elasticloadbalancing:loadbalancer`, ...) tagged `stackup:stack = stack`.
    pub(crate) async fn objects(&self, stack: &str, resource_type: &str) -> Result<Vec<Tagged>, ProviderError> {
        debug_assert!(
            RESOURCE_TYPES.contains(&resource_type),
            "{resource_type} is not asked for"
        );
        let all = self
            .batches
            .ask(STACK_TAG, stack, |stacks| fetch(&self.client, stacks))
            .await?;
        Ok(all
            .iter()
            .filter(|t| t.tags.get(STACK_TAG).map(String::as_str) == Some(stack) && is_of_type(&t.arn, resource_type))
            .cloned()
            .collect())
    }

    /// The ARNs of every object of `resource_type` tagged `stackup:stack = stack`.
    pub(crate) async fn arns(&self, stack: &str, resource_type: &str) -> Result<Vec<String>, ProviderError> {
        Ok(self
            .objects(stack, resource_type)
            .await?
            .into_iter()
            .map(|t| t.arn)
            .collect())
    }
}

/// Every object of [`RESOURCE_TYPES`] tagged `stackup:stack` with one of `stacks`.
async fn fetch(
    client: &aws_sdk_resourcegroupstagging::Client,
    stacks: Vec<String>,
) -> Result<Vec<Tagged>, ProviderError> {
    let pages: Vec<aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput> = client
        .get_resources()
        .tag_filters(TagFilter::builder().key(STACK_TAG).set_values(Some(stacks)).build())
        .set_resource_type_filters(Some(RESOURCE_TYPES.iter().map(|t| t.to_string()).collect()))
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

/// Whether `arn` names an object of the Tagging API's `resource_type`
/// (`service[:type]`): `arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/...`
/// is of `elasticloadbalancing:loadbalancer` and of `elasticloadbalancing`.
fn is_of_type(arn: &str, resource_type: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(service), Some(_region), Some(_account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    match resource_type.split_once(':') {
        None => service == resource_type,
        Some((wanted_service, kind)) => {
            service == wanted_service
                && resource
                    .strip_prefix(kind)
                    .is_some_and(|rest| rest.starts_with('/') || rest.starts_with(':'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_of_type;

    #[test]
    fn an_arn_is_of_its_service_and_resource_type_only() {
        let cases = [
            ("arn:aws:s3:::stackup-assets", "s3", true),
            ("arn:aws:sns:us-east-1:123456789012:orders", "sns", true),
            ("arn:aws:logs:us-east-1:123456789012:log-group:/app/web", "logs", true),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/alb/50dc6c495c0c9188",
                "elasticloadbalancing:loadbalancer",
                true,
            ),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067",
                "elasticloadbalancing:loadbalancer",
                false,
            ),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067",
                "elasticloadbalancing:targetgroup",
                true,
            ),
            (
                "arn:aws:dynamodb:us-east-1:123456789012:table/carts",
                "dynamodb:table",
                true,
            ),
            (
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high",
                "cloudwatch:alarm",
                true,
            ),
            (
                "arn:aws:rds:us-east-1:123456789012:subgrp:db-subnets",
                "rds:subgrp",
                true,
            ),
            ("arn:aws:rds:us-east-1:123456789012:db:orders", "rds:subgrp", false),
            ("arn:aws:rds:us-east-1:123456789012:subgrpx:orders", "rds:subgrp", false),
            ("arn:aws:sns:us-east-1:123456789012:orders", "s3", false),
            ("not an arn", "s3", false),
        ];
        for (arn, ty, expected) in cases {
            assert_eq!(is_of_type(arn, ty), expected, "{arn} of {ty}");
        }
    }
}
