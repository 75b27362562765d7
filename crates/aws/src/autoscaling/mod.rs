//! EC2 Auto Scaling providers: groups and their target tracking policies.

mod group;
mod policy;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::builders::DescribeAutoScalingGroupsFluentBuilder;
use aws_sdk_autoscaling::types::AutoScalingGroup as LiveGroup;
use stackup_provider::{ErrorKind, Provider, ProviderError};

pub use group::{AutoScalingGroup, AutoScalingGroupArgs};
pub use policy::{ScalingPolicy, ScalingPolicyArgs};

use crate::{classify, AwsClients};

/// Every autoscaling provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let autoscaling = clients.autoscaling.clone();
    vec![
        Arc::new(AutoScalingGroup::new(autoscaling.clone(), clients.elbv2.clone())),
        Arc::new(ScalingPolicy::new(autoscaling)),
    ]
}

/// DescribeAutoScalingGroups and DescribePolicies accept at most 50 names per call.
const NAMES_PER_CALL: usize = 50;

/// The status AWS gives a group whose deletion has started: it counts as gone.
const DELETE_IN_PROGRESS: &str = "Delete in progress";

/// Classifies an Auto Scaling error. Auto Scaling reports a missing group or policy as
/// `ValidationError` with "not found" in the message, not as a NotFound code, and
/// contention on a group as `ResourceContention` / `ScalingActivityInProgress`.
fn classify_asg<E, R>(action: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let mut e = classify(action, err);
    match e.code.as_deref() {
        Some("ValidationError") if e.message.to_ascii_lowercase().contains("not found") => {
            e.kind = ErrorKind::NotFound;
        }
        Some("ResourceContention") => e.kind = ErrorKind::Throttled,
        Some("ScalingActivityInProgress") => e.kind = ErrorKind::Transient,
        _ => {}
    }
    e
}

/// The live groups among `names`, by name, in one call per 50 names (paginated). A
/// group being deleted is left out: it is gone as far as stackup is concerned.
async fn describe_groups(
    client: &aws_sdk_autoscaling::Client,
    names: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, LiveGroup>, ProviderError> {
    let mut names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    names.sort();
    names.dedup();
    let mut found = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let request = client
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(chunk.to_vec()));
        for g in live_groups(request).await? {
            if let Some(name) = g.auto_scaling_group_name() {
                found.insert(name.to_string(), g);
            }
        }
    }
    Ok(found)
}

/// The groups a DescribeAutoScalingGroups request answers, all pages, except those
/// being deleted: they are gone as far as stackup is concerned.
async fn live_groups(request: DescribeAutoScalingGroupsFluentBuilder) -> Result<Vec<LiveGroup>, ProviderError> {
    let groups: Vec<LiveGroup> = request
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify_asg("DescribeAutoScalingGroups", e))?;
    Ok(groups
        .into_iter()
        .filter(|g| g.status() != Some(DELETE_IN_PROGRESS))
        .collect())
}
