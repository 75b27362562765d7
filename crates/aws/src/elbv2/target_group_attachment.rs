//! `aws:elbv2:TargetGroupAttachment`: one target (an instance, by id) registered with a
//! target group, for targets that are not an Auto Scaling group's.
//!
//! As terraform-provider-aws's `aws_lb_target_group_attachment`: RegisterTargets is
//! retried while the instance is not running yet (`InvalidTarget`), the create then
//! waits until DescribeTargetHealth shows the target (its health is the
//! application's business, never waited for), a target reported `unused` with reason
//! `Target.NotRegistered` (or draining out) is gone, and the delete deregisters and
//! waits until the target has drained, so an instance deleted after it drops no
//! request in flight.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthDescription, TargetHealthStateEnum};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource,
    Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use crate::classify;
use crate::ec2::retry_reporting;
use crate::props::{int_of, props, str_of};

/// The type token of a target group attachment.
pub const TYPE: &str = "aws:elbv2:TargetGroupAttachment";

/// Arguments of a target group attachment. It has no AWS object of its own, so no
/// tags: its id is `"{target_group_arn},{target_id}"` and `",{port}"` when a port is set.
#[derive(Clone, Debug)]
pub struct TargetGroupAttachmentArgs {
    pub target_group_arn: Input<String>,
    /// An instance id.
    pub target_id: Input<String>,
    /// The port the target receives traffic on; the target group's when absent.
    pub port: Option<i64>,
}

impl ResourceArgs for TargetGroupAttachmentArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DeregisterTargets",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("target_group_arn", self.target_group_arn.into()),
            ("target_id", self.target_id.into()),
            ("port", self.port.map_or(Value::Null, Value::Int)),
        ])
    }
}

/// The provider of `aws:elbv2:TargetGroupAttachment`.
pub struct TargetGroupAttachment {
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    schema: Schema,
}

/// RegisterTargets of an instance that is not `running` yet, and DescribeTargetHealth
/// naming an instance that no longer exists.
const INVALID_TARGET: &str = "InvalidTarget";
/// How long a register waits for its instance to run (terraform-provider-aws: 10
/// minutes, `targetGroupAttachmentCreateTimeout`).
const REGISTER_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// How long a new registration may stay invisible to DescribeTargetHealth.
const VISIBLE: Patience = Patience::new(2 * 60, 5);
/// How long a deregistration may drain: the largest deregistration delay a target
/// group takes (3600 s) and a minute more.
const DRAINED: Patience = Patience::new(3600 + 60, 15);

impl TargetGroupAttachment {
    /// A provider that calls AWS through `elbv2`.
    pub(crate) fn new(elbv2: aws_sdk_elasticloadbalancingv2::Client) -> TargetGroupAttachment {
        TargetGroupAttachment {
            elbv2,
            // A registration is (group, target, port): any change is another one. The
            // new one is made before the old one goes, so the target keeps serving.
            schema: Schema::new(TYPE, &["target_group_arn", "target_id", "port"]),
        }
    }

    /// The health descriptions of `targets` in `group`; None when the group is gone.
    /// A target that no longer exists fails the whole call with InvalidTarget, so then
    /// each target is asked alone and the missing ones are left out.
    async fn health(
        &self,
        group: &str,
        targets: &[Target],
    ) -> Result<Option<Vec<TargetHealthDescription>>, ProviderError> {
        match self.describe_health(group, targets).await {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) if e.code.as_deref() == Some(INVALID_TARGET) && targets.len() > 1 => {
                let mut all = Vec::new();
                for t in targets {
                    match self.describe_health(group, std::slice::from_ref(t)).await {
                        Ok(found) => all.extend(found),
                        Err(e) if e.code.as_deref() == Some(INVALID_TARGET) => {}
                        Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Some(all))
            }
            Err(e) if e.code.as_deref() == Some(INVALID_TARGET) => Ok(Some(Vec::new())),
            other => other.map(Some),
        }
    }

    async fn describe_health(
        &self,
        group: &str,
        targets: &[Target],
    ) -> Result<Vec<TargetHealthDescription>, ProviderError> {
        let out = self
            .elbv2
            .describe_target_health()
            .target_group_arn(group)
            .set_targets(Some(targets.iter().map(Target::sdk).collect()))
            .send()
            .await
            .map_err(|e| classify("DescribeTargetHealth", e))?;
        Ok(out.target_health_descriptions().to_vec())
    }

    /// The state of one registration: None when not registered (or its group or
    /// instance is gone).
    async fn state(&self, group: &str, target: &Target) -> Result<Option<String>, ProviderError> {
        let found = self.health(group, std::slice::from_ref(target)).await?;
        Ok(found
            .unwrap_or_default()
            .iter()
            .find(|d| target.matches(d))
            .and_then(registered_state))
    }
}

/// One registration: the target and the port it was registered on (None: the group's).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    id: String,
    port: Option<i32>,
}

impl Target {
    fn sdk(&self) -> TargetDescription {
        TargetDescription::builder().id(&self.id).set_port(self.port).build()
    }

    fn matches(&self, d: &TargetHealthDescription) -> bool {
        d.target()
            .is_some_and(|t| t.id() == Some(self.id.as_str()) && (self.port.is_none() || t.port() == self.port))
    }
}

/// The state of a described target that is registered: `initial`, `healthy`,
/// `unhealthy`, `unavailable`; None for `unused` with `Target.NotRegistered` and for
/// `draining` (on its way out).
fn registered_state(d: &TargetHealthDescription) -> Option<String> {
    let health = d.target_health()?;
    let state = health.state()?;
    let not_registered = health.reason().is_some_and(|r| r.as_str() == "Target.NotRegistered");
    match state {
        TargetHealthStateEnum::Draining => None,
        TargetHealthStateEnum::Unused if not_registered => None,
        other => Some(other.as_str().to_string()),
    }
}

/// The group and target of an attachment: from its id, or else from its inputs.
fn parts(id: &str, inputs: &Properties) -> Result<(String, Target), ProviderError> {
    let mut fields = id.split(',');
    if let (Some(group), Some(target)) = (fields.next(), fields.next()) {
        if group.starts_with("arn:") && !target.is_empty() {
            let port = fields.next().and_then(|p| p.parse().ok());
            return Ok((
                group.to_string(),
                Target {
                    id: target.to_string(),
                    port,
                },
            ));
        }
    }
    Ok((
        str_of(inputs, "target_group_arn")?.to_string(),
        Target {
            id: str_of(inputs, "target_id")?.to_string(),
            port: port_of(inputs)?,
        },
    ))
}

fn port_of(inputs: &Properties) -> Result<Option<i32>, ProviderError> {
    int_of(inputs, "port")
        .map(|p| i32::try_from(p).map_err(|_| ProviderError::invalid(format!("port {p} is out of range"))))
        .transpose()
}

fn id_of(group: &str, target: &Target) -> String {
    match target.port {
        Some(port) => format!("{group},{},{port}", target.id),
        None => format!("{group},{}", target.id),
    }
}

fn inputs_of(group: &str, target: &Target) -> Properties {
    props([
        ("target_group_arn", group.into()),
        ("target_id", target.id.as_str().into()),
        ("port", target.port.map_or(Value::Null, |p| Value::Int(i64::from(p)))),
    ])
}

fn outputs(group: &str, target: &Target) -> Properties {
    let mut out = inputs_of(group, target);
    out.insert("id".into(), id_of(group, target).into());
    out
}

#[async_trait]
impl Provider for TargetGroupAttachment {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut failures = Vec::new();
        let mut fail = |property: &str, reason: &str| {
            failures.push(CheckFailure {
                property: property.into(),
                reason: reason.into(),
            })
        };
        let inputs = req.inputs;
        for key in ["target_group_arn", "target_id"] {
            match inputs.get(key) {
                Some(Value::String(s)) if s.trim().is_empty() => fail(key, "must not be empty"),
                None | Some(Value::Null) => fail(key, "is required"),
                _ => {}
            }
        }
        if let Some(Value::String(arn)) = inputs.get("target_group_arn") {
            if !arn.starts_with("arn:") || !arn.contains(":targetgroup/") {
                fail(
                    "target_group_arn",
                    "must be a target group ARN (arn:...:targetgroup/NAME/ID)",
                );
            }
        }
        match inputs.get("port") {
            None | Some(Value::Null) => {}
            Some(Value::Int(p)) if (1..=65_535).contains(p) => {}
            Some(_) => fail("port", "must be from 1 to 65535"),
        }
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let group = str_of(&req.inputs, "target_group_arn")?.to_string();
        let target = Target {
            id: str_of(&req.inputs, "target_id")?.to_string(),
            port: port_of(&req.inputs)?,
        };
        // An instance just launched is `pending`: ELB refuses it until it runs.
        // Registering a registered target again succeeds, so a retried create is safe.
        retry_reporting(
            &format!(
                "registering {} with its target group: the instance is not running yet",
                target.id
            ),
            REGISTER_DEADLINE,
            Duration::from_secs(5),
            |e| e.code.as_deref() == Some(INVALID_TARGET),
            || async {
                self.elbv2
                    .register_targets()
                    .target_group_arn(&group)
                    .targets(target.sdk())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("RegisterTargets", e))
            },
        )
        .await?;
        let id = id_of(&group, &target);
        wait::until(
            &format!("target {} of {group}", target.id),
            "registered",
            VISIBLE,
            || async {
                Ok(match self.state(&group, &target).await? {
                    Some(_) => Poll::Ready(()),
                    None => Poll::Pending("not registered yet".into()),
                })
            },
        )
        .await
        .map_err(|e| e.created(id.clone()))?;
        Ok(CreateResponse {
            outputs: outputs(&group, &target),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        // group -> its targets (one DescribeTargetHealth per group).
        let mut by_group: BTreeMap<String, Vec<(Urn, String, Target)>> = BTreeMap::new();
        for t in &req.targets {
            let (group, target) = parts(&t.id, &t.inputs)?;
            by_group
                .entry(group)
                .or_default()
                .push((t.urn.clone(), t.id.clone(), target));
        }
        let mut found = Vec::new();
        for (group, wanted) in &by_group {
            let targets: Vec<Target> = wanted.iter().map(|(_, _, t)| t.clone()).collect();
            let Some(described) = self.health(group, &targets).await? else {
                continue;
            };
            for (urn, id, target) in wanted {
                let Some(state) = described.iter().find(|d| target.matches(d)).and_then(registered_state) else {
                    continue;
                };
                let mut outputs = outputs(group, target);
                outputs.insert("health".into(), state.into());
                found.push(LiveResource {
                    urn: urn.clone(),
                    id: id.clone(),
                    inputs: inputs_of(group, target),
                    outputs,
                });
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        // Every input forces replacement, so there is nothing to change in place.
        let (group, target) = parts(&req.id, &req.new_inputs)?;
        Ok(UpdateResponse {
            outputs: outputs(&group, &target),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let (group, target) = parts(&req.id, &req.inputs)?;
        let deregistered = self
            .elbv2
            .deregister_targets()
            .target_group_arn(&group)
            .targets(target.sdk())
            .send()
            .await
            .map_err(|e| classify("DeregisterTargets", e));
        match deregistered {
            Ok(_) => {}
            // The group is gone, or the instance: nothing is registered any more.
            Err(e) if e.kind == ErrorKind::NotFound || e.code.as_deref() == Some(INVALID_TARGET) => return Ok(()),
            Err(e) => return Err(e),
        }
        wait::until(
            &format!("target {} of {group}", target.id),
            "deregistered",
            DRAINED,
            || async {
                let found = self.health(&group, std::slice::from_ref(&target)).await?;
                let state = found.unwrap_or_default().into_iter().find(|d| target.matches(d));
                Ok(match state.as_ref().and_then(|d| d.target_health()) {
                    Some(h) if h.state() == Some(&TargetHealthStateEnum::Draining) => Poll::Pending("draining".into()),
                    _ => Poll::Ready(()),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{TargetHealth, TargetHealthReasonEnum};

    const GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/abc";

    fn described(
        id: &str,
        state: TargetHealthStateEnum,
        reason: Option<TargetHealthReasonEnum>,
    ) -> TargetHealthDescription {
        TargetHealthDescription::builder()
            .target(TargetDescription::builder().id(id).port(80).build())
            .target_health(TargetHealth::builder().state(state).set_reason(reason).build())
            .build()
    }

    #[test]
    fn an_id_names_the_group_the_target_and_the_port_when_set() {
        let with_port = Target {
            id: "i-1".into(),
            port: Some(8080),
        };
        let id = id_of(GROUP, &with_port);
        assert_eq!(id, format!("{GROUP},i-1,8080"));
        assert_eq!(
            parts(&id, &Properties::new()).expect("parts"),
            (GROUP.to_string(), with_port)
        );
        let plain = Target {
            id: "i-2".into(),
            port: None,
        };
        assert_eq!(
            parts(&id_of(GROUP, &plain), &Properties::new()).expect("parts").1,
            plain
        );
    }

    #[test]
    fn unused_not_registered_and_draining_targets_are_gone_the_rest_registered() {
        use TargetHealthStateEnum as S;
        let gone = described("i-1", S::Unused, Some(TargetHealthReasonEnum::NotRegistered));
        assert_eq!(registered_state(&gone), None);
        assert_eq!(registered_state(&described("i-1", S::Draining, None)), None);
        let in_unused_zone = described("i-1", S::Unused, Some(TargetHealthReasonEnum::NotInUse));
        assert_eq!(registered_state(&in_unused_zone).as_deref(), Some("unused"));
        assert_eq!(
            registered_state(&described("i-1", S::Initial, None)).as_deref(),
            Some("initial")
        );
        assert_eq!(
            registered_state(&described("i-1", S::Healthy, None)).as_deref(),
            Some("healthy")
        );
    }

    #[test]
    fn a_target_matches_its_description_on_the_port_it_names() {
        let d = described("i-1", TargetHealthStateEnum::Healthy, None);
        assert!(Target {
            id: "i-1".into(),
            port: None
        }
        .matches(&d));
        assert!(Target {
            id: "i-1".into(),
            port: Some(80)
        }
        .matches(&d));
        assert!(!Target {
            id: "i-1".into(),
            port: Some(81)
        }
        .matches(&d));
        assert!(!Target {
            id: "i-2".into(),
            port: None
        }
        .matches(&d));
    }
}
