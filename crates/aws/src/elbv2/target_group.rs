//! `aws:elbv2:TargetGroup`: an instance target group with an HTTP health check.
//!
//! Target group names are unique per region, so a replacement that keeps the name
//! deletes the old group first; a rename creates the new one first.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Matcher, ProtocolEnum, Tag, TargetTypeEnum};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse,
    ListRequest, ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::{
    by_arn_batches, check_name, check_port, check_protocol, check_required, diff_unique_name, ensure_ours, i32_of,
    live_resources, live_tags, sdk_tags, update_tags, Described, HealthCheck, Wanted,
};
use crate::common::{changed, found, ok_if_gone, urns_by_id};
use crate::ec2::{retry_dependency, DELETE_DEPENDENCY_DEADLINE};
use crate::props::{props, str_of};
use crate::{classify, tags};

/// The type token of a target group.
pub const TYPE: &str = "aws:elbv2:TargetGroup";

type Tg = aws_sdk_elasticloadbalancingv2::types::TargetGroup;

impl Described for Tg {
    fn arn(&self) -> Option<&str> {
        self.target_group_arn()
    }
}

/// Arguments of a target group of EC2 instances.
#[derive(Clone, Debug)]
pub struct TargetGroupArgs {
    /// At most 32 letters, digits and hyphens; unique per region.
    pub name: String,
    /// The port targets receive traffic on.
    pub port: i64,
    /// HTTP or HTTPS.
    pub protocol: String,
    pub vpc_id: Input<String>,
    pub health_check: HealthCheck,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for TargetGroupArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:RemoveTags",
        "elasticloadbalancing:DeleteTargetGroup",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("port", self.port.into()),
            ("protocol", self.protocol.into()),
            ("vpc_id", self.vpc_id.into()),
            ("health_check", self.health_check.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:elbv2:TargetGroup`.
pub struct TargetGroup {
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

impl TargetGroup {
    /// A provider that calls AWS through `elbv2`.
    pub fn new(elbv2: aws_sdk_elasticloadbalancingv2::Client, tagging: crate::tagging::StackIndex) -> TargetGroup {
        TargetGroup {
            elbv2,
            tagging,
            schema: Schema::new(TYPE, &["name", "port", "protocol", "vpc_id"]),
        }
    }

    /// Target groups by ARN (DescribeTargetGroups fails a whole batch for one missing
    /// ARN, moto too); the ones gone are left out.
    async fn describe(&self, arns: &[String]) -> Result<Vec<Tg>, ProviderError> {
        by_arn_batches(arns, |chunk| self.describe_pages(chunk)).await
    }

    /// Target groups by ARN; all pages.
    async fn describe_pages(&self, arns: Vec<String>) -> Result<Vec<Tg>, ProviderError> {
        self.elbv2
            .describe_target_groups()
            .set_target_group_arns(Some(arns))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeTargetGroups", e))
    }

    /// The target group named `name`, if any.
    async fn by_name(&self, name: &str) -> Result<Option<Tg>, ProviderError> {
        let out = found(
            self.elbv2
                .describe_target_groups()
                .names(name)
                .send()
                .await
                .map_err(|e| classify("DescribeTargetGroups", e)),
        )?;
        Ok(out.and_then(|o| o.target_groups().first().cloned()))
    }
}

/// The health check settings of resolved inputs.
struct Health {
    path: String,
    interval: i32,
    timeout: i32,
    healthy: i32,
    unhealthy: i32,
    matcher: String,
}

fn health_of(inputs: &Properties) -> Result<Health, ProviderError> {
    let map = inputs
        .get("health_check")
        .and_then(Value::as_map)
        .ok_or_else(|| ProviderError::invalid("input 'health_check' must be a map"))?;
    let int = |key: &str| {
        map.get(key)
            .and_then(Value::as_int)
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| ProviderError::invalid(format!("health_check.{key} must be an integer")))
    };
    Ok(Health {
        path: str_of(map, "path")?.to_string(),
        interval: int("interval_seconds")?,
        timeout: int("timeout_seconds")?,
        healthy: int("healthy_threshold")?,
        unhealthy: int("unhealthy_threshold")?,
        matcher: str_of(map, "matcher")?.to_string(),
    })
}

/// Validates the health check map; every part is a literal in the Args struct.
fn check_health(inputs: &Properties, failures: &mut Vec<CheckFailure>) {
    let mut fail = |reason: String| {
        failures.push(CheckFailure {
            property: "health_check".into(),
            reason,
        })
    };
    let Some(map) = inputs.get("health_check").and_then(Value::as_map) else {
        fail("is required: a map of path, interval_seconds, timeout_seconds, healthy_threshold, unhealthy_threshold, matcher".into());
        return;
    };
    let int = |key: &str| map.get(key).and_then(Value::as_int);
    match map.get("path").and_then(Value::as_str) {
        Some(p) if p.starts_with('/') && p.len() <= 1024 => {}
        _ => fail("path must start with '/' and be at most 1024 characters".into()),
    }
    let interval = int("interval_seconds");
    let timeout = int("timeout_seconds");
    if !interval.is_some_and(|i| (5..=300).contains(&i)) {
        fail("interval_seconds must be from 5 to 300".into());
    }
    if !timeout.is_some_and(|t| (2..=120).contains(&t)) {
        fail("timeout_seconds must be from 2 to 120".into());
    }
    if let (Some(i), Some(t)) = (interval, timeout) {
        if t >= i {
            fail(format!(
                "timeout_seconds ({t}) must be less than interval_seconds ({i})"
            ));
        }
    }
    for key in ["healthy_threshold", "unhealthy_threshold"] {
        if !int(key).is_some_and(|n| (2..=10).contains(&n)) {
            fail(format!("{key} must be from 2 to 10"));
        }
    }
    let matcher_ok = map.get("matcher").and_then(Value::as_str).is_some_and(|m| {
        !m.is_empty()
            && m.split(',').all(|part| {
                let codes: Vec<&str> = part.split('-').collect();
                codes.len() <= 2
                    && codes
                        .iter()
                        .all(|c| c.parse::<u16>().is_ok_and(|n| (200..=499).contains(&n)))
            })
    });
    if !matcher_ok {
        fail("matcher must be HTTP codes from 200 to 499: \"200\", \"200,302\" or \"200-399\"".into());
    }
}

fn outputs(arn: &str, name: &str) -> Properties {
    props([("id", arn.into()), ("arn", arn.into()), ("name", name.into())])
}

/// A live target group as `read` and `list` report it.
fn live(tg: &Tg, urn: Urn, tags: &[Tag]) -> LiveResource {
    let arn = tg.target_group_arn().unwrap_or_default();
    LiveResource {
        urn,
        id: arn.to_string(),
        inputs: live_inputs(tg, live_tags(tags)),
        outputs: outputs(arn, tg.target_group_name().unwrap_or_default()),
    }
}

/// The managed inputs of a live target group, normalised like `check` output.
fn live_inputs(tg: &Tg, tags: Value) -> Properties {
    let health = props([
        ("path", tg.health_check_path().unwrap_or_default().into()),
        (
            "interval_seconds",
            i64::from(tg.health_check_interval_seconds().unwrap_or_default()).into(),
        ),
        (
            "timeout_seconds",
            i64::from(tg.health_check_timeout_seconds().unwrap_or_default()).into(),
        ),
        (
            "healthy_threshold",
            i64::from(tg.healthy_threshold_count().unwrap_or_default()).into(),
        ),
        (
            "unhealthy_threshold",
            i64::from(tg.unhealthy_threshold_count().unwrap_or_default()).into(),
        ),
        (
            "matcher",
            tg.matcher().and_then(|m| m.http_code()).unwrap_or_default().into(),
        ),
    ]);
    props([
        ("name", tg.target_group_name().unwrap_or_default().into()),
        ("port", i64::from(tg.port().unwrap_or_default()).into()),
        ("protocol", tg.protocol().map(|p| p.as_str()).unwrap_or_default().into()),
        ("vpc_id", tg.vpc_id().unwrap_or_default().into()),
        ("health_check", Value::Map(health)),
        ("tags", tags),
    ])
}

#[async_trait]
impl Provider for TargetGroup {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, &mut failures);
        check_port(&inputs, "port", &mut failures);
        check_protocol(&mut inputs, &mut failures);
        check_required(&inputs, "vpc_id", &mut failures);
        check_health(&inputs, &mut failures);
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    fn diff(&self, req: DiffRequest<'_>) -> DiffResponse {
        diff_unique_name(&self.schema, req)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?;
        // Look first: adopt the group an interrupted create of this resource left, and
        // name the conflict clearly otherwise.
        if let Some(existing) = self.by_name(name).await? {
            let arn = existing.target_group_arn().unwrap_or_default().to_string();
            ensure_ours(&self.elbv2, &arn, &req.urn, || {
                format!(
                    "a target group named '{name}' already exists ({arn}) and is not {}",
                    req.urn
                )
            })
            .await?;
            return Ok(CreateResponse {
                outputs: outputs(&arn, name),
                id: arn,
            });
        }
        let h = health_of(&req.inputs)?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .elbv2
            .create_target_group()
            .name(name)
            .port(i32_of(&req.inputs, "port")?)
            .protocol(ProtocolEnum::from(str_of(&req.inputs, "protocol")?))
            .vpc_id(str_of(&req.inputs, "vpc_id")?)
            .target_type(TargetTypeEnum::Instance)
            .health_check_enabled(true)
            .health_check_path(h.path)
            .health_check_interval_seconds(h.interval)
            .health_check_timeout_seconds(h.timeout)
            .healthy_threshold_count(h.healthy)
            .unhealthy_threshold_count(h.unhealthy)
            .matcher(Matcher::builder().http_code(h.matcher).build())
            .set_tags(Some(sdk_tags(&tags)))
            .send()
            .await
            .map_err(|e| classify("CreateTargetGroup", e))?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|tg| tg.target_group_arn())
            .ok_or_else(|| ProviderError::invalid("CreateTargetGroup returned no target group ARN"))?
            .to_string();
        Ok(CreateResponse {
            outputs: outputs(&arn, name),
            id: arn,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = urns_by_id(&req.targets);
        let arns: Vec<String> = urns.keys().cloned().collect();
        let groups = self.describe(&arns).await?;
        let found = live_resources(&self.elbv2, &groups, Wanted::Targets(&urns), live).await?;
        Ok(ReadResponse { found })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // No tag filter on DescribeTargetGroups: the stack's target groups by tag in one
        // paginated call, then those described and their tags read in batches.
        let arns = self
            .tagging
            .arns(&req.stack, "elasticloadbalancing:targetgroup")
            .await?;
        let groups = self.describe(&arns).await?;
        let wanted = Wanted::Stack { req: &req, ty: TYPE };
        let found = live_resources(&self.elbv2, &groups, wanted, live).await?;
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if changed(&req.changed, "health_check") {
            let h = health_of(&req.new_inputs)?;
            self.elbv2
                .modify_target_group()
                .target_group_arn(&req.id)
                .health_check_enabled(true)
                .health_check_path(h.path)
                .health_check_interval_seconds(h.interval)
                .health_check_timeout_seconds(h.timeout)
                .healthy_threshold_count(h.healthy)
                .unhealthy_threshold_count(h.unhealthy)
                .matcher(Matcher::builder().http_code(h.matcher).build())
                .send()
                .await
                .map_err(|e| classify("ModifyTargetGroup", e))?;
        }
        update_tags(&self.elbv2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id, str_of(&req.new_inputs, "name")?),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // A listener or rule that forwarded here may still be letting go of the group
        // (ResourceInUse) right after its own update or delete.
        retry_dependency(
            &format!("target group {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || async {
                ok_if_gone(
                    self.elbv2
                        .delete_target_group()
                        .target_group_arn(&req.id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify("DeleteTargetGroup", e)),
                )
            },
        )
        .await
    }
}
