//! `aws:autoscaling:Policy`: a target tracking scaling policy keeping a group's average
//! CPU utilisation at a target.
//!
//! Policies carry no tags; the id is the policy ARN. Deleting a group deletes its
//! policies, so a policy whose group is gone reads as gone even where the API (moto)
//! still lists it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalingPolicy as LivePolicy, TargetTrackingConfiguration,
};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FindRequest,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{classify_asg, describe_groups, NAMES_PER_CALL};
use crate::props::{props, str_of};

pub const TYPE: &str = "aws:autoscaling:Policy";

const POLICY_TYPE: &str = "TargetTrackingScaling";

/// Arguments of a target tracking scaling policy on average CPU utilisation.
#[derive(Clone, Debug)]
pub struct ScalingPolicyArgs {
    pub name: String,
    pub autoscaling_group_name: Input<String>,
    /// The average CPU utilisation, in percent, the group is scaled to keep.
    pub target_cpu_percent: f64,
}

impl ResourceArgs for ScalingPolicyArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "autoscaling:PutScalingPolicy",
        "autoscaling:DescribePolicies",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DeletePolicy",
        // A target tracking policy creates and deletes its CloudWatch alarms.
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("autoscaling_group_name", self.autoscaling_group_name.into()),
            ("target_cpu_percent", self.target_cpu_percent.into()),
        ])
    }
}

/// The `aws:autoscaling:Policy` provider.
pub struct ScalingPolicy {
    client: aws_sdk_autoscaling::Client,
    schema: Schema,
}

impl ScalingPolicy {
    /// A provider calling Auto Scaling through `client`.
    pub fn new(client: aws_sdk_autoscaling::Client) -> ScalingPolicy {
        ScalingPolicy {
            client,
            // Delete first: a replacement keeps the policy name, and moto keys policies
            // by name alone, so deleting the old policy after creating the new one would
            // delete the new one. On AWS this only means a moment without the policy.
            schema: Schema::new(TYPE, &["name", "autoscaling_group_name"]).delete_before_replace(),
        }
    }

    /// Creates or overwrites the policy as declared; the ARN when AWS returns it.
    async fn put(&self, inputs: &Properties) -> Result<Option<String>, ProviderError> {
        let target = target_of(inputs)?;
        let config = TargetTrackingConfiguration::builder()
            .predefined_metric_specification(
                PredefinedMetricSpecification::builder()
                    .predefined_metric_type(MetricType::AsgAverageCpuUtilization)
                    .build(),
            )
            .target_value(target)
            .build();
        let out = self
            .client
            .put_scaling_policy()
            .auto_scaling_group_name(str_of(inputs, "autoscaling_group_name")?)
            .policy_name(str_of(inputs, "name")?)
            .policy_type(POLICY_TYPE)
            .target_tracking_configuration(config)
            .send()
            .await
            .map_err(|e| classify_asg("PutScalingPolicy", e))?;
        Ok(out.policy_arn().map(str::to_string))
    }

    /// The live policy `name` of group `group`.
    async fn describe(&self, group: &str, name: &str) -> Result<Option<LivePolicy>, ProviderError> {
        let policies = self
            .client
            .describe_policies()
            .auto_scaling_group_name(group)
            .policy_names(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_asg("DescribePolicies", e))?;
        Ok(policies
            .into_iter()
            .find(|p| p.policy_name() == Some(name) && p.auto_scaling_group_name() == Some(group)))
    }
}

fn target_of(inputs: &Properties) -> Result<f64, ProviderError> {
    match inputs.get("target_cpu_percent") {
        Some(Value::Float(f)) => Ok(*f),
        Some(Value::Int(i)) => Ok(*i as f64),
        _ => Err(ProviderError::invalid("input 'target_cpu_percent' must be a number")),
    }
}

fn outputs(arn: &str) -> Properties {
    props([("id", arn.into()), ("arn", arn.into())])
}

/// The group and policy names in a policy ARN
/// (`...:scalingPolicy:<uuid>:autoScalingGroupName/<group>:policyName/<name>`).
fn names_in_arn(arn: &str) -> Option<(&str, &str)> {
    const GROUP: &str = ":autoScalingGroupName/";
    const POLICY: &str = ":policyName/";
    let p = arn.rfind(POLICY)?;
    let g = arn[..p].find(GROUP)?;
    Some((&arn[g + GROUP.len()..p], &arn[p + POLICY.len()..]))
}

/// The declared target of a live policy, or null when the policy no longer tracks the
/// group's average CPU (changed out of band): a difference the update corrects.
fn live_target(p: &LivePolicy) -> Value {
    let tracking = p.target_tracking_configuration();
    let metric = tracking
        .and_then(TargetTrackingConfiguration::predefined_metric_specification)
        .and_then(PredefinedMetricSpecification::predefined_metric_type);
    match (
        p.policy_type(),
        metric,
        tracking.and_then(TargetTrackingConfiguration::target_value),
    ) {
        (Some(POLICY_TYPE), Some(MetricType::AsgAverageCpuUtilization), Some(v)) => Value::Float(v),
        _ => Value::Null,
    }
}

#[async_trait]
impl Provider for ScalingPolicy {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        let name_ok = inputs
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty() && n.len() <= 255 && !n.contains(':') && !n.chars().any(char::is_control));
        if !name_ok {
            failures.push(CheckFailure {
                property: "name".into(),
                reason: "must be 1 to 255 characters, without ':'".into(),
            });
        }
        if inputs.get("autoscaling_group_name").is_none_or(|v| *v == Value::Null) {
            failures.push(CheckFailure {
                property: "autoscaling_group_name".into(),
                reason: "is required".into(),
            });
        }
        // Floats compare exactly with what DescribePolicies reports; an integer
        // target would not.
        let target = match inputs.get("target_cpu_percent") {
            Some(Value::Int(i)) => Some(*i as f64),
            Some(Value::Float(f)) => Some(*f),
            _ => None,
        };
        match target {
            Some(t) if t > 0.0 && t <= 100.0 => {
                inputs.insert("target_cpu_percent".into(), Value::Float(t));
            }
            Some(t) => failures.push(CheckFailure {
                property: "target_cpu_percent".into(),
                reason: format!("{t} is not a CPU percentage above 0 and at most 100"),
            }),
            None => failures.push(CheckFailure {
                property: "target_cpu_percent".into(),
                reason: "must be a number".into(),
            }),
        }
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let arn = match self.put(&req.inputs).await? {
            Some(arn) => arn,
            // moto answers PutScalingPolicy with an empty body: look the ARN up.
            None => {
                let group = str_of(&req.inputs, "autoscaling_group_name")?;
                let name = str_of(&req.inputs, "name")?;
                self.describe(group, name)
                    .await?
                    .and_then(|p| p.policy_arn().map(str::to_string))
                    .ok_or_else(|| {
                        ProviderError::new(
                            ErrorKind::Other,
                            format!("scaling policy {name} of group {group} was put but does not list"),
                        )
                    })?
            }
        };
        Ok(CreateResponse {
            outputs: outputs(&arn),
            id: arn,
        })
    }

    /// The group's policy of this name: scaling policies carry no tags.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let group = str_of(&req.inputs, "autoscaling_group_name")?;
        let name = str_of(&req.inputs, "name")?;
        let policies = self
            .client
            .describe_policies()
            .auto_scaling_group_name(group)
            .policy_names(name)
            .send()
            .await
            .map_err(|e| classify_asg("DescribePolicies", e))?;
        match policies.scaling_policies().iter().find_map(|p| p.policy_arn()) {
            Some(arn) => crate::common::read_one(self, &req.urn, arn.to_string(), &req.inputs).await,
            None => Ok(None),
        }
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = crate::common::urns_by_id(&req.targets);
        let mut names: Vec<String> = req
            .targets
            .iter()
            .filter_map(|t| {
                names_in_arn(&t.id)
                    .map(|(_, n)| n.to_string())
                    .or_else(|| t.inputs.get("name").and_then(Value::as_str).map(str::to_string))
            })
            .collect();
        names.sort();
        names.dedup();
        // DescribePolicies takes one group but up to 50 policy names: ask by names
        // across all groups and match the ARNs.
        let mut live: BTreeMap<String, LivePolicy> = BTreeMap::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let policies = self
                .client
                .describe_policies()
                .set_policy_names(Some(chunk.to_vec()))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify_asg("DescribePolicies", e))?;
            for p in policies {
                if let Some(arn) = p.policy_arn().filter(|a| urns.contains_key(*a)) {
                    live.insert(arn.to_string(), p);
                }
            }
        }
        let groups = describe_groups(
            &self.client,
            live.values()
                .filter_map(|p| p.auto_scaling_group_name().map(str::to_string)),
        )
        .await?;
        let mut found = Vec::new();
        for (arn, p) in &live {
            let (Some(urn), Some(group)) = (urns.get(arn), p.auto_scaling_group_name()) else {
                continue;
            };
            if !groups.contains_key(group) {
                continue;
            }
            found.push(LiveResource {
                urn: urn.clone(),
                id: arn.clone(),
                inputs: props([
                    ("name", p.policy_name().unwrap_or_default().into()),
                    ("autoscaling_group_name", group.into()),
                    ("target_cpu_percent", live_target(p)),
                ]),
                outputs: outputs(arn),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        // PutScalingPolicy overwrites the policy of that name in place; its ARN stays.
        self.put(&req.new_inputs).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let (group, name) = match names_in_arn(&req.id) {
            Some((g, n)) => (g.to_string(), n.to_string()),
            None => (
                str_of(&req.inputs, "autoscaling_group_name")?.to_string(),
                str_of(&req.inputs, "name")?.to_string(),
            ),
        };
        // Delete only the policy this resource created: a policy of the same name may
        // belong to another group (moto deletes by name alone) or be a newer object.
        let live = crate::common::found(self.describe(&group, &name).await)?.flatten();
        if live.as_ref().and_then(LivePolicy::policy_arn) != Some(req.id.as_str()) {
            return Ok(());
        }
        crate::common::ok_if_gone(
            self.client
                .delete_policy()
                .auto_scaling_group_name(&group)
                .policy_name(&name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_asg("DeletePolicy", e)),
        )
    }
}
