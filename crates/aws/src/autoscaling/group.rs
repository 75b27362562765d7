//! `aws:autoscaling:Group`: an Auto Scaling group launching from a launch template into
//! a set of subnets, registering its instances in target groups.
//!
//! The desired capacity is not managed: the group is created at `min_size` and scaling
//! policies move it at run time, so it is neither read back nor compared. Every tag,
//! the stackup tags included, propagates at launch, so that the instances the group
//! launches carry the stack's tags.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_autoscaling::types::builders::TagBuilder;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup as LiveGroup, Filter, LaunchTemplateSpecification, LifecycleState, Tag,
};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value, RESERVED_TAG_PREFIX, STACK_TAG};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::{classify_asg, describe_groups, live_groups, DELETE_IN_PROGRESS};
use crate::props::{int_of, is_known, props, str_of, strings_of};
use crate::tags;

pub const TYPE: &str = "aws:autoscaling:Group";

/// How long create waits for the group's instances to be in service, and delete for
/// the group (and so its instances) to be gone.
const DEADLINE: Duration = Duration::from_secs(600);

/// Waiting for a new group's instances to be in service, or for a deleted group to go:
/// up to `DEADLINE`; instances take a minute or two to launch (or terminate), so poll
/// at most every 5 seconds.
const GROUP_PATIENCE: Patience = Patience::new(DEADLINE.as_secs(), 5);

/// How often delete polls for the group to be gone.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// AttachLoadBalancerTargetGroups and DetachLoadBalancerTargetGroups take at most 10
/// target groups per call.
const TARGET_GROUPS_PER_CALL: usize = 10;

/// The health check types a group may use.
const HEALTH_CHECK_TYPES: &[&str] = &["EC2", "ELB"];

/// The resource type Auto Scaling tag calls name a group by.
const RESOURCE_TYPE: &str = "auto-scaling-group";

/// The inputs UpdateAutoScalingGroup applies; the others have their own calls.
const CONFIG_KEYS: &[&str] = &[
    "min_size",
    "max_size",
    "subnet_ids",
    "launch_template_id",
    "launch_template_version",
    "health_check_type",
    "health_check_grace_period",
];

/// Arguments of an Auto Scaling group.
#[derive(Clone, Debug)]
pub struct AutoScalingGroupArgs {
    pub name: String,
    pub min_size: i64,
    pub max_size: i64,
    pub subnet_ids: Vec<Input<String>>,
    pub launch_template_id: Input<String>,
    /// The template's `latest_version` output, so that a new template version rolls
    /// into the group.
    pub launch_template_version: Input<String>,
    pub target_group_arns: Vec<Input<String>>,
    /// "ELB" or "EC2".
    pub health_check_type: String,
    pub health_check_grace_period: i64,
    /// All propagated at launch, stackup's own tags included.
    pub tags: BTreeMap<String, String>,
    /// Create (and a change of launch template) waits until this many of the group's
    /// instances are healthy in every target group, as Terraform's
    /// `wait_for_elb_capacity`; 0 waits only for instances in service (stackup-side).
    pub wait_for_elb_capacity: i64,
}

impl ResourceArgs for AutoScalingGroupArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:AttachLoadBalancerTargetGroups",
        "autoscaling:DetachLoadBalancerTargetGroups",
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:DeleteTags",
        "autoscaling:DeleteAutoScalingGroup",
        "elasticloadbalancing:DescribeTargetHealth",
        // Creating or updating a group with a launch template checks that the caller
        // may launch from it: run instances, tag them, pass their instance profile's
        // role; the first group in an account creates the service-linked role.
        "ec2:RunInstances",
        "ec2:CreateTags",
        "ec2:DescribeLaunchTemplateVersions",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("min_size", self.min_size.into()),
            ("max_size", self.max_size.into()),
            ("subnet_ids", list_value(self.subnet_ids)),
            ("launch_template_id", self.launch_template_id.into()),
            ("launch_template_version", self.launch_template_version.into()),
            ("target_group_arns", list_value(self.target_group_arns)),
            ("health_check_type", self.health_check_type.into()),
            ("health_check_grace_period", self.health_check_grace_period.into()),
            ("tags", Value::from_string_map(&self.tags)),
            ("wait_for_elb_capacity", self.wait_for_elb_capacity.into()),
        ])
    }
}

fn list_value(items: Vec<Input<String>>) -> Value {
    Value::List(items.into_iter().map(Value::from).collect())
}

/// The `aws:autoscaling:Group` provider.
pub struct AutoScalingGroup {
    client: aws_sdk_autoscaling::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    schema: Schema,
}

impl AutoScalingGroup {
    /// A provider calling Auto Scaling through `client`, and ELB (target health)
    /// through `elbv2`.
    pub fn new(client: aws_sdk_autoscaling::Client, elbv2: aws_sdk_elasticloadbalancingv2::Client) -> AutoScalingGroup {
        AutoScalingGroup {
            client,
            elbv2,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// Polls until at least `wanted` of the group's in-service instances are healthy in
    /// every target group of `group`, as Terraform's `wait_for_elb_capacity` does. Each
    /// poll reports the targets not healthy yet with ELB's reason
    /// (`Target.ResponseCodeMismatch`, `Elb.InitialHealthChecking`, ...), so a web tier
    /// that never answers its health check is named, not just late.
    async fn wait_healthy(&self, name: &str, target_groups: &[String], wanted: usize) -> Result<(), ProviderError> {
        let object = format!("Auto Scaling group {name}");
        let state = format!("{wanted} healthy target(s) in each target group");
        wait::until(&object, &state, GROUP_PATIENCE, || async {
            let group = self
                .listed(name)
                .await?
                .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("{object} is not listed")))?;
            let members: BTreeSet<String> = group
                .instances()
                .iter()
                .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
                .filter_map(|i| i.instance_id().map(str::to_string))
                .collect();
            let mut short = Vec::new();
            let mut enough = true;
            for arn in target_groups {
                let health = self
                    .elbv2
                    .describe_target_health()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| crate::classify("DescribeTargetHealth", e))?;
                let mut healthy = 0;
                for d in health.target_health_descriptions() {
                    let id = d.target().and_then(|t| t.id()).unwrap_or_default();
                    if !members.contains(id) {
                        continue;
                    }
                    let h = d.target_health();
                    let state = h.and_then(|h| h.state()).map(|s| s.as_str()).unwrap_or("unknown");
                    if state == "healthy" {
                        healthy += 1;
                    } else {
                        let reason = h
                            .and_then(|h| h.reason())
                            .map(|r| r.as_str().to_string())
                            .or_else(|| h.and_then(|h| h.description()).map(str::to_string))
                            .unwrap_or_default();
                        short.push(format!("{id} {state} {reason}").trim_end().to_string());
                    }
                }
                if healthy < wanted {
                    enough = false;
                    let group_name = arn.split('/').nth(1).unwrap_or(arn);
                    short.insert(0, format!("{healthy} of {wanted} healthy in {group_name}"));
                }
            }
            Ok(if enough {
                Poll::Ready(())
            } else {
                Poll::Pending(short.join("; "))
            })
        })
        .await
    }

    /// Applies min/max, subnets, launch template and health check as declared. The
    /// desired capacity is left alone: AWS moves it into the new [min, max] itself.
    async fn apply_config(&self, name: &str, inputs: &Properties) -> Result<(), ProviderError> {
        let config = Config::of(inputs)?;
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(config.min_size)
            .max_size(config.max_size)
            .vpc_zone_identifier(config.subnets)
            .launch_template(config.launch_template)
            .health_check_type(config.health_check_type)
            .health_check_grace_period(config.health_check_grace_period)
            .send()
            .await
            .map_err(|e| classify_asg("UpdateAutoScalingGroup", e))?;
        Ok(())
    }

    /// Attaches the declared target groups the group lacks, then detaches the ones it
    /// should not have, so that instances stay registered somewhere throughout.
    async fn sync_target_groups(&self, name: &str, live: &[String], desired: &[String]) -> Result<(), ProviderError> {
        let live: BTreeSet<&String> = live.iter().collect();
        let desired: BTreeSet<&String> = desired.iter().collect();
        let attach: Vec<String> = desired.difference(&live).map(|s| s.to_string()).collect();
        let detach: Vec<String> = live.difference(&desired).map(|s| s.to_string()).collect();
        for chunk in attach.chunks(TARGET_GROUPS_PER_CALL) {
            self.client
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(name)
                .set_target_group_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify_asg("AttachLoadBalancerTargetGroups", e))?;
        }
        for chunk in detach.chunks(TARGET_GROUPS_PER_CALL) {
            self.client
                .detach_load_balancer_target_groups()
                .auto_scaling_group_name(name)
                .set_target_group_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify_asg("DetachLoadBalancerTargetGroups", e))?;
        }
        Ok(())
    }

    /// Brings the group's user tags from `old` to the declared ones and (re)writes the
    /// stackup tags, all propagating at launch.
    async fn sync_tags(
        &self,
        name: &str,
        stack: &str,
        urn: &Urn,
        old: &BTreeMap<String, String>,
        inputs: &Properties,
    ) -> Result<(), ProviderError> {
        let desired = tags::with_stackup(stack, urn, inputs);
        tags::sync(
            old,
            &desired,
            |removed| async move {
                let removed: Vec<Tag> = removed.iter().map(|k| group_tag(name, k).build()).collect();
                self.client
                    .delete_tags()
                    .set_tags(Some(removed))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify_asg("DeleteTags", e))
            },
            || async {
                self.client
                    .create_or_update_tags()
                    .set_tags(Some(asg_tags(name, &desired)))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify_asg("CreateOrUpdateTags", e))
            },
        )
        .await
    }

    /// The live group called `name`, if it exists and is not being deleted.
    async fn describe(&self, name: &str) -> Result<Option<LiveGroup>, ProviderError> {
        Ok(describe_groups(&self.client, [name.to_string()]).await?.remove(name))
    }

    /// The group called `name` if it is still listed, in whatever state.
    async fn listed(&self, name: &str) -> Result<Option<LiveGroup>, ProviderError> {
        let out = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| classify_asg("DescribeAutoScalingGroups", e))?;
        Ok(out
            .auto_scaling_groups
            .and_then(|all| all.into_iter().find(|g| g.auto_scaling_group_name() == Some(name))))
    }

    /// Polls the group until at least `min_size` of its instances are `InService`, as
    /// the SDK's GroupInService waiter does, and returns it. A group being deleted will
    /// not get there; one not listed is not found (the poller allows a new group a
    /// grace period to show up).
    async fn wait_in_service(&self, name: &str) -> Result<LiveGroup, ProviderError> {
        let object = format!("Auto Scaling group {name}");
        wait::until(&object, "in service", GROUP_PATIENCE, || async {
            let group = self.listed(name).await?;
            let Some(group) = group else {
                return Err(ProviderError::new(
                    ErrorKind::NotFound,
                    format!("{object} is not listed"),
                ));
            };
            if group.status() == Some(DELETE_IN_PROGRESS) {
                return Ok(Poll::Failed("it is being deleted".to_string()));
            }
            let min = usize::try_from(group.min_size().unwrap_or(0)).unwrap_or(0);
            let in_service = group
                .instances()
                .iter()
                .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
                .count();
            Ok(if in_service >= min {
                Poll::Ready(group)
            } else {
                Poll::Pending(format!("{in_service} of {min} instances in service"))
            })
        })
        .await
    }

    /// Instances in service, then, when asked, healthy targets.
    async fn wait_ready(&self, name: &str, inputs: &Properties) -> Result<LiveGroup, ProviderError> {
        let live = self.wait_in_service(name).await?;
        let wanted = int_of(inputs, "wait_for_elb_capacity").unwrap_or(0);
        let target_groups = strings_of(inputs, "target_group_arns");
        if wanted > 0 && !target_groups.is_empty() {
            self.wait_healthy(name, &target_groups, usize::try_from(wanted).unwrap_or(0))
                .await?;
        }
        Ok(live)
    }

    /// Takes over a group a previous, interrupted run created (it carries our URN tag):
    /// brings it to the declared configuration instead of creating a second one.
    async fn adopt(&self, req: &CreateRequest, name: &str, live: &LiveGroup) -> Result<(), ProviderError> {
        self.apply_config(name, &req.inputs).await?;
        self.sync_target_groups(
            name,
            live.target_group_arns(),
            &strings_of(&req.inputs, "target_group_arns"),
        )
        .await?;
        self.sync_tags(name, &req.stack, &req.urn, &user_tags(live), &req.inputs)
            .await
    }
}

/// The declared group configuration, typed for the SDK.
struct Config {
    min_size: i32,
    max_size: i32,
    subnets: String,
    launch_template: LaunchTemplateSpecification,
    health_check_type: String,
    health_check_grace_period: i32,
}

impl Config {
    fn of(inputs: &Properties) -> Result<Config, ProviderError> {
        Ok(Config {
            min_size: int32(inputs, "min_size")?,
            max_size: int32(inputs, "max_size")?,
            subnets: strings_of(inputs, "subnet_ids").join(","),
            launch_template: LaunchTemplateSpecification::builder()
                .launch_template_id(str_of(inputs, "launch_template_id")?)
                .version(str_of(inputs, "launch_template_version")?)
                .build(),
            health_check_type: str_of(inputs, "health_check_type")?.to_string(),
            health_check_grace_period: int32(inputs, "health_check_grace_period")?,
        })
    }
}

fn int32(inputs: &Properties, key: &str) -> Result<i32, ProviderError> {
    int_of(inputs, key)
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| ProviderError::invalid(format!("input '{key}' must be a 32-bit integer")))
}

/// The tag `key` of the group `name`, as the Auto Scaling tag calls name it.
fn group_tag(name: &str, key: &str) -> TagBuilder {
    Tag::builder().resource_id(name).resource_type(RESOURCE_TYPE).key(key)
}

/// Tags for the Auto Scaling tag calls, all propagating to launched instances.
fn asg_tags(name: &str, tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| group_tag(name, k).value(v).propagate_at_launch(true).build())
        .collect()
}

/// The live tags of a group, stackup's own included.
fn tag_map(group: &LiveGroup) -> BTreeMap<String, String> {
    tags::map(
        group
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
    )
}

/// The live user tags of a group, stackup's own removed.
fn user_tags(group: &LiveGroup) -> BTreeMap<String, String> {
    let mut user = tag_map(group);
    user.retain(|k, _| !k.starts_with(RESERVED_TAG_PREFIX));
    user
}

fn outputs(name: &str, arn: &str) -> Properties {
    props([("id", name.into()), ("name", name.into()), ("arn", arn.into())])
}

/// A live group as `read` and `list` report it.
fn live(g: &LiveGroup, urn: Urn, recorded: Option<&Properties>) -> LiveResource {
    let name = g.auto_scaling_group_name().unwrap_or_default();
    let mut inputs = live_inputs(g);
    // Stackup-side: no API reports it.
    let wait = recorded
        .and_then(|r| r.get("wait_for_elb_capacity").cloned())
        .unwrap_or(Value::Int(0));
    inputs.insert("wait_for_elb_capacity".into(), wait);
    LiveResource {
        urn,
        id: name.to_string(),
        inputs,
        outputs: outputs(name, g.auto_scaling_group_arn().unwrap_or_default()),
    }
}

/// The inputs of a live group, normalised like `check` output.
fn live_inputs(g: &LiveGroup) -> Properties {
    let mut subnets: Vec<String> = g
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    subnets.sort();
    subnets.dedup();
    let mut target_groups = g.target_group_arns().to_vec();
    target_groups.sort();
    target_groups.dedup();
    // A group launching from something else (a launch configuration, a mixed
    // instances policy) reads as no template: a difference the update corrects.
    let template = g.launch_template();
    let opt = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    props([
        ("name", g.auto_scaling_group_name().unwrap_or_default().into()),
        ("min_size", i64::from(g.min_size().unwrap_or_default()).into()),
        ("max_size", i64::from(g.max_size().unwrap_or_default()).into()),
        ("subnet_ids", subnets.into()),
        (
            "launch_template_id",
            opt(template.and_then(LaunchTemplateSpecification::launch_template_id)),
        ),
        (
            "launch_template_version",
            opt(template.and_then(LaunchTemplateSpecification::version)),
        ),
        ("target_group_arns", target_groups.into()),
        ("health_check_type", g.health_check_type().unwrap_or_default().into()),
        (
            "health_check_grace_period",
            i64::from(g.health_check_grace_period().unwrap_or_default()).into(),
        ),
        ("tags", Value::from_string_map(&user_tags(g))),
    ])
}

/// Normalises a list of strings in place: absent becomes empty; sorted and
/// deduplicated once every element is known.
fn check_string_list(inputs: &mut Properties, key: &str, non_empty: bool, failures: &mut Vec<CheckFailure>) {
    let value = inputs.entry(key.into()).or_insert_with(|| Value::List(Vec::new()));
    if !is_known(value) {
        return;
    }
    let Some(items) = value.as_list() else {
        failures.push(CheckFailure {
            property: key.into(),
            reason: "must be a list of strings".into(),
        });
        return;
    };
    let Some(mut strings) = items.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() else {
        failures.push(CheckFailure {
            property: key.into(),
            reason: "must be a list of strings".into(),
        });
        return;
    };
    if strings.iter().any(|s| s.is_empty() || s.contains(',')) {
        failures.push(CheckFailure {
            property: key.into(),
            reason: "must not contain empty values or commas".into(),
        });
        return;
    }
    if non_empty && strings.is_empty() {
        failures.push(CheckFailure {
            property: key.into(),
            reason: "must name at least one".into(),
        });
        return;
    }
    strings.sort_unstable();
    strings.dedup();
    *value = Value::List(strings.into_iter().map(Value::from).collect());
}

#[async_trait]
impl Provider for AutoScalingGroup {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        let mut fail = |property: &str, reason: String| {
            failures.push(CheckFailure {
                property: property.into(),
                reason,
            })
        };
        // AWS: 1 to 255 printable ASCII characters, no spaces.
        let name_ok = inputs
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty() && n.len() <= 255 && n.bytes().all(|b| (33..=126).contains(&b)));
        if !name_ok {
            fail(
                "name",
                "must be 1 to 255 printable ASCII characters without spaces".into(),
            );
        }
        let min = inputs.get("min_size").and_then(Value::as_int);
        let max = inputs.get("max_size").and_then(Value::as_int);
        match (min, max) {
            (Some(min), Some(max)) => {
                if min < 0 {
                    fail("min_size", format!("{min} is negative"));
                } else if min > max {
                    fail("min_size", format!("{min} is greater than max_size {max}"));
                } else if i32::try_from(max).is_err() {
                    fail("max_size", format!("{max} is too large"));
                }
            }
            (None, _) => fail("min_size", "must be an integer".into()),
            (_, None) => fail("max_size", "must be an integer".into()),
        }
        match inputs.get("health_check_type") {
            None | Some(Value::Null) => {
                inputs.insert("health_check_type".into(), "EC2".into());
            }
            Some(Value::String(t)) => {
                let upper = t.to_ascii_uppercase();
                if HEALTH_CHECK_TYPES.contains(&upper.as_str()) {
                    inputs.insert("health_check_type".into(), upper.into());
                } else {
                    fail("health_check_type", format!("'{t}' is not one of ELB, EC2"));
                }
            }
            Some(_) => fail("health_check_type", "must be \"ELB\" or \"EC2\"".into()),
        }
        match inputs.get("health_check_grace_period") {
            // AWS's default when the parameter is left out.
            None | Some(Value::Null) => {
                inputs.insert("health_check_grace_period".into(), Value::Int(0));
            }
            Some(Value::Int(s)) if (0..=i64::from(i32::MAX)).contains(s) => {}
            Some(_) => fail("health_check_grace_period", "must be a number of seconds >= 0".into()),
        }
        if let Some(v) = inputs.get("launch_template_id") {
            if is_known(v) && !v.as_str().is_some_and(|s| s.starts_with("lt-")) {
                fail("launch_template_id", "must be a launch template id (lt-...)".into());
            }
        } else {
            fail("launch_template_id", "is required".into());
        }
        // Versions are strings ("3", "$Latest"); accept a number for convenience.
        match inputs.get("launch_template_version") {
            Some(Value::Int(i)) => {
                let s = i.to_string();
                inputs.insert("launch_template_version".into(), s.into());
            }
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(v) if !is_known(v) => {}
            _ => fail(
                "launch_template_version",
                "must be a version number, \"$Latest\" or \"$Default\"".into(),
            ),
        }
        match inputs.get("wait_for_elb_capacity") {
            None | Some(Value::Null) => {
                inputs.insert("wait_for_elb_capacity".into(), Value::Int(0));
            }
            Some(Value::Int(n)) if *n >= 0 => {}
            Some(_) => failures.push(CheckFailure {
                property: "wait_for_elb_capacity".into(),
                reason: "must be a number of instances >= 0".into(),
            }),
        }
        check_string_list(&mut inputs, "subnet_ids", true, &mut failures);
        check_string_list(&mut inputs, "target_group_arns", false, &mut failures);
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        // A second CreateAutoScalingGroup with the same name may silently replace the
        // group (moto does): look first, and only take over a group that is ours.
        if let Some(live) = self.describe(&name).await? {
            if !tags::owned_by(&tag_map(&live), &req.urn) {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "Auto Scaling group '{name}' already exists and is not {}; choose another name",
                        req.urn
                    ),
                ));
            }
            self.adopt(&req, &name, &live).await?;
        } else if self.listed(&name).await?.is_some() {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("Auto Scaling group '{name}' is still being deleted; retry when it is gone"),
            ));
        } else {
            let config = Config::of(&req.inputs)?;
            let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
            let target_groups = strings_of(&req.inputs, "target_group_arns");
            let create = self
                .client
                .create_auto_scaling_group()
                .auto_scaling_group_name(&name)
                .min_size(config.min_size)
                .max_size(config.max_size)
                .desired_capacity(config.min_size)
                .vpc_zone_identifier(config.subnets)
                .launch_template(config.launch_template)
                .set_target_group_arns((!target_groups.is_empty()).then_some(target_groups))
                .health_check_type(config.health_check_type)
                .health_check_grace_period(config.health_check_grace_period)
                .set_tags(Some(asg_tags(&name, &tags)));
            // A launch template naming a profile created moments ago is refused until
            // IAM has propagated it to Auto Scaling.
            crate::common::while_iam_propagates(&format!("creating Auto Scaling group {name}"), || async {
                create
                    .clone()
                    .send()
                    .await
                    .map_err(|e| classify_asg("CreateAutoScalingGroup", e))
            })
            .await?;
        }
        // The group exists from here on: if it never serves, it is recorded tainted.
        let live = self
            .wait_ready(&name, &req.inputs)
            .await
            .map_err(|e| e.created(&name))?;
        let arn = live.auto_scaling_group_arn().unwrap_or_default();
        Ok(CreateResponse {
            outputs: outputs(&name, arn),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = crate::common::urns_by_id(&req.targets);
        let groups = describe_groups(&self.client, urns.keys().cloned()).await?;
        let found = groups
            .iter()
            .filter_map(|(name, g)| {
                let recorded = req.targets.iter().find(|t| &t.id == name).map(|t| &t.inputs);
                Some(live(g, urns.get(name)?.clone(), recorded))
            })
            .collect();
        Ok(ReadResponse { found })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // AWS (and moto, checked) matches tag-key and tag-value independently, so a
        // group of another stack with some other tag valued like this stack's name
        // passes the filter: listed_urn checks the pair itself.
        let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
        let request = self
            .client
            .describe_auto_scaling_groups()
            .filters(filter("tag-key", STACK_TAG))
            .filters(filter("tag-value", &req.stack));
        let found = live_groups(request)
            .await?
            .iter()
            .filter_map(|g| {
                let name = g.auto_scaling_group_name()?;
                let urn = req.urn_of(name, || tags::listed_urn(&req.stack, TYPE, name, &tag_map(g)))?;
                Some(live(g, urn, req.recorded(name).map(|t| &t.inputs)))
            })
            .collect();
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let name = req.id.as_str();
        if CONFIG_KEYS.iter().any(|k| crate::common::changed(&req.changed, k)) {
            crate::common::while_iam_propagates(&format!("updating Auto Scaling group {name}"), || {
                self.apply_config(name, &req.new_inputs)
            })
            .await?;
        }
        if crate::common::changed(&req.changed, "target_group_arns") {
            // Compare with what is attached now rather than the recorded list, so that
            // an out-of-band attach or detach cannot make a call fail.
            let live = self
                .describe(name)
                .await?
                .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("Auto Scaling group {name} is gone")))?;
            self.sync_target_groups(
                name,
                live.target_group_arns(),
                &strings_of(&req.new_inputs, "target_group_arns"),
            )
            .await?;
        }
        if crate::common::changed(&req.changed, "tags") {
            self.sync_tags(
                name,
                &req.stack,
                &req.urn,
                &tags::desired(&req.old_inputs),
                &req.new_inputs,
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let name = req.id.as_str();
        let started = tokio::time::Instant::now();
        loop {
            let result = self
                .client
                .delete_auto_scaling_group()
                .auto_scaling_group_name(name)
                .force_delete(true)
                .send()
                .await;
            let Err(e) = result else { break };
            let e = classify_asg("DeleteAutoScalingGroup", e);
            let message = e.message.to_ascii_lowercase();
            match e.kind {
                ErrorKind::NotFound => return Ok(()),
                // A delete an earlier run started: wait for it below.
                _ if message.contains("pending delete") || message.contains("being deleted") => break,
                // A scaling activity holds the group: ForceDelete goes through once it ends.
                ErrorKind::Transient | ErrorKind::Throttled | ErrorKind::DependencyViolation
                    if started.elapsed() < DEADLINE =>
                {
                    wait::pause(POLL_INTERVAL).await;
                }
                _ => return Err(e),
            }
        }
        // The group's instances terminate with it; wait until it no longer lists, so
        // that its launch template and subnets can go after it.
        wait::until(
            &format!("Auto Scaling group {name}"),
            "deleted",
            GROUP_PATIENCE,
            || async {
                Ok(match self.listed(name).await? {
                    Some(group) => Poll::Pending(group.status().unwrap_or("listed").to_ascii_lowercase()),
                    None => Poll::Ready(()),
                })
            },
        )
        .await?;
        Ok(())
    }
}
