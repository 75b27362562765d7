//! `aws:elbv2:LoadBalancer`: an IPv4 application load balancer.
//!
//! Load balancer names are unique per region and AWS cannot rename one, so a
//! replacement that keeps the name (a change of `internal`) deletes the old load
//! balancer first; a rename creates the new one first.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse,
    ErrorKind, ListRequest, ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema,
    UpdateRequest, UpdateResponse,
};

use super::{
    by_arn_batches, check_name, describe_load_balancers, diff_unique_name, ensure_ours, live_resources, live_tags,
    sdk_tags, sort_known_ids, update_tags, Described, Wanted,
};
use crate::common::{changed, found, ok_if_gone, urns_by_id};
use crate::props::{bool_of, props, str_of, strings_of};
use crate::{classify, tags};

/// The type token of an application load balancer.
pub const TYPE: &str = "aws:elbv2:LoadBalancer";

/// How long a load balancer may take to become active or to go away: usually a few
/// minutes to become active, less to go; poll at most every 5 seconds.
const LB_PATIENCE: Patience = Patience::new(600, 5);

type Lb = aws_sdk_elasticloadbalancingv2::types::LoadBalancer;

impl Described for Lb {
    fn arn(&self) -> Option<&str> {
        self.load_balancer_arn()
    }
}

/// Arguments of an application load balancer.
#[derive(Clone, Debug)]
pub struct LoadBalancerArgs {
    /// At most 32 letters, digits and hyphens; unique per region.
    pub name: String,
    /// Internal (private addresses only) or internet-facing.
    pub internal: bool,
    /// At least two subnets, in different availability zones.
    pub subnet_ids: Vec<Input<String>>,
    pub security_group_ids: Vec<Input<String>>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for LoadBalancerArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:SetSubnets",
        "elasticloadbalancing:SetSecurityGroups",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:RemoveTags",
        "elasticloadbalancing:DeleteLoadBalancer",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("internal", self.internal.into()),
            (
                "subnet_ids",
                Value::List(self.subnet_ids.into_iter().map(Into::into).collect()),
            ),
            (
                "security_group_ids",
                Value::List(self.security_group_ids.into_iter().map(Into::into).collect()),
            ),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:elbv2:LoadBalancer`.
pub struct LoadBalancer {
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    ec2: aws_sdk_ec2::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

/// How long CreateLoadBalancer is retried while ELB does not yet see the VPC's new
/// internet gateway attachment (`InvalidSubnet`: "VPC ... has no internet gateway").
const GATEWAY_PROPAGATION: Duration = Duration::from_secs(120);

/// How long a delete waits for the load balancer's network interfaces to go: AWS
/// releases them minutes after the load balancer itself (terraform-provider-aws waits
/// up to 10 minutes for `ELB app/...` interfaces before deleting a subnet or group).
const INTERFACES_PATIENCE: Patience = Patience::new(600, 10);

impl LoadBalancer {
    /// A provider that calls AWS through `elbv2`, and EC2 for the load balancer's
    /// network interfaces.
    pub fn new(
        elbv2: aws_sdk_elasticloadbalancingv2::Client,
        ec2: aws_sdk_ec2::Client,
        tagging: crate::tagging::StackIndex,
    ) -> LoadBalancer {
        LoadBalancer {
            elbv2,
            ec2,
            tagging,
            schema: Schema::new(TYPE, &["name", "internal"]),
        }
    }

    /// Waits until no network interface of the deleted load balancer `arn` is left
    /// (its description is `ELB app/<name>/<id>`), so that its subnets and security
    /// groups can be deleted next instead of failing with DependencyViolation.
    async fn wait_interfaces_gone(&self, arn: &str) -> Result<(), ProviderError> {
        // arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID
        let Some(suffix) = arn.split(":loadbalancer/").nth(1) else {
            return Ok(());
        };
        let description = format!("ELB {suffix}");
        wait::until(
            &format!("the network interfaces of load balancer {suffix}"),
            "released",
            INTERFACES_PATIENCE,
            || async {
                let left = self
                    .ec2
                    .describe_network_interfaces()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("description")
                            .values(&description)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| classify("DescribeNetworkInterfaces", e))?;
                let ids: Vec<&str> = left
                    .network_interfaces()
                    .iter()
                    .filter_map(|n| n.network_interface_id())
                    .collect();
                Ok(if ids.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("{} left: {}", ids.len(), ids.join(", ")))
                })
            },
        )
        .await
    }

    /// Load balancers by ARN; the ones gone are left out.
    async fn describe(&self, arns: &[String]) -> Result<Vec<Lb>, ProviderError> {
        by_arn_batches(arns, |chunk| describe_load_balancers(&self.elbv2, Some(chunk))).await
    }

    /// The load balancer named `name`, if any.
    async fn by_name(&self, name: &str) -> Result<Option<Lb>, ProviderError> {
        let out = found(
            self.elbv2
                .describe_load_balancers()
                .names(name)
                .send()
                .await
                .map_err(|e| classify("DescribeLoadBalancers", e)),
        )?;
        Ok(out.and_then(|o| o.load_balancers().first().cloned()))
    }

    /// Polls the load balancer until it is `active` (returning it), or with `deleting`
    /// until DescribeLoadBalancers no longer finds it (None). While waiting for
    /// `active`, `failed` is final (with AWS's reason); every other state
    /// (`provisioning`, `active_impaired`) is pending, as with the SDK's waiters.
    async fn wait(&self, arn: &str, deleting: bool) -> Result<Option<Lb>, ProviderError> {
        let state = if deleting { "deleted" } else { "active" };
        wait::until(&format!("load balancer {arn}"), state, LB_PATIENCE, || async {
            let described = self
                .elbv2
                .describe_load_balancers()
                .load_balancer_arns(arn)
                .send()
                .await
                .map_err(|e| classify("DescribeLoadBalancers", e));
            let lb = match described {
                Ok(out) => out.load_balancers.and_then(|all| all.into_iter().next()),
                Err(e) if deleting && e.kind == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let Some(lb) = lb else {
                return Ok(if deleting {
                    Poll::Ready(None)
                } else {
                    Poll::Pending("not listed yet".to_string())
                });
            };
            let code = lb.state().and_then(|s| s.code()).cloned();
            Ok(match code {
                Some(LoadBalancerStateEnum::Active) if !deleting => Poll::Ready(Some(lb)),
                Some(LoadBalancerStateEnum::Failed) if !deleting => Poll::Failed(format!(
                    "state failed: {}",
                    lb.state().and_then(|s| s.reason()).unwrap_or("no reason given")
                )),
                Some(c) => Poll::Pending(c.as_str().to_string()),
                None => Poll::Pending("no state yet".to_string()),
            })
        })
        .await
    }

    /// The load balancer once it is active.
    async fn wait_available(&self, arn: &str) -> Result<Lb, ProviderError> {
        self.wait(arn, false)
            .await?
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("load balancer {arn} vanished")))
    }
}

fn outputs(lb: &Lb) -> Properties {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    props([
        ("id", arn.into()),
        ("arn", arn.into()),
        ("dns_name", lb.dns_name().unwrap_or_default().into()),
        ("zone_id", lb.canonical_hosted_zone_id().unwrap_or_default().into()),
    ])
}

/// A live load balancer as `read` and `list` report it.
fn live(lb: &Lb, urn: Urn, tags: &[Tag]) -> LiveResource {
    LiveResource {
        urn,
        id: lb.load_balancer_arn().unwrap_or_default().to_string(),
        inputs: live_inputs(lb, live_tags(tags)),
        outputs: outputs(lb),
    }
}

/// The managed inputs of a live load balancer, normalised like `check` output.
fn live_inputs(lb: &Lb, tags: Value) -> Properties {
    let mut subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    let mut groups = lb.security_groups().to_vec();
    groups.sort();
    props([
        ("name", lb.load_balancer_name().unwrap_or_default().into()),
        (
            "internal",
            (lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal)).into(),
        ),
        ("subnet_ids", subnets.into()),
        ("security_group_ids", groups.into()),
        ("tags", tags),
    ])
}

#[async_trait]
impl Provider for LoadBalancer {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, &mut failures);
        if inputs
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.to_ascii_lowercase().starts_with("internal-"))
        {
            failures.push(CheckFailure {
                property: "name".into(),
                reason: "must not start with 'internal-' (AWS reserves it)".into(),
            });
        }
        inputs.entry("internal".into()).or_insert(Value::Bool(false));
        sort_known_ids(&mut inputs, "subnet_ids", &mut failures);
        sort_known_ids(&mut inputs, "security_group_ids", &mut failures);
        // The count is known even when the ids are not.
        if inputs
            .get("subnet_ids")
            .and_then(Value::as_list)
            .is_some_and(|l| l.len() < 2)
        {
            failures.push(CheckFailure {
                property: "subnet_ids".into(),
                reason: "an application load balancer needs at least two subnets in different availability zones"
                    .into(),
            });
        }
        // Without a group AWS attaches the VPC's default one, which would then read
        // back as a difference on every refresh.
        if inputs
            .get("security_group_ids")
            .and_then(Value::as_list)
            .is_some_and(|l| l.is_empty())
        {
            failures.push(CheckFailure {
                property: "security_group_ids".into(),
                reason: "needs at least one security group".into(),
            });
        }
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    fn diff(&self, req: DiffRequest<'_>) -> DiffResponse {
        diff_unique_name(&self.schema, req)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?;
        // AWS would answer DuplicateLoadBalancerName (moto creates a second one): look
        // first, and adopt the object an interrupted create of this resource left.
        if let Some(existing) = self.by_name(name).await? {
            let arn = existing.load_balancer_arn().unwrap_or_default().to_string();
            ensure_ours(&self.elbv2, &arn, &req.urn, || {
                format!(
                    "a load balancer named '{name}' already exists ({arn}) and is not {}",
                    req.urn
                )
            })
            .await?;
            let lb = self.wait_available(&arn).await.map_err(|e| e.created(&arn))?;
            return Ok(CreateResponse {
                outputs: outputs(&lb),
                id: arn,
            });
        }
        let scheme = if bool_of(&req.inputs, "internal") {
            LoadBalancerSchemeEnum::Internal
        } else {
            LoadBalancerSchemeEnum::InternetFacing
        };
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let create = self
            .elbv2
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Application)
            .ip_address_type(IpAddressType::Ipv4)
            .scheme(scheme)
            .set_subnets(Some(strings_of(&req.inputs, "subnet_ids")))
            .set_security_groups(Some(strings_of(&req.inputs, "security_group_ids")))
            .set_tags(Some(sdk_tags(&tags)));
        // Right after the VPC's internet gateway is attached, ELB may not see it yet.
        let out = crate::ec2::retry_reporting(
            &format!("load balancer {name}: waiting for ELB to see the VPC's internet gateway"),
            GATEWAY_PROPAGATION,
            Duration::from_secs(2),
            no_gateway_yet,
            || async {
                create
                    .clone()
                    .send()
                    .await
                    .map_err(|e| classify("CreateLoadBalancer", e))
            },
        )
        .await?;
        let arn = out
            .load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .ok_or_else(|| ProviderError::invalid("CreateLoadBalancer returned no load balancer ARN"))?
            .to_string();
        // It exists from here on: one that never becomes active is recorded tainted.
        let lb = self.wait_available(&arn).await.map_err(|e| e.created(&arn))?;
        Ok(CreateResponse {
            outputs: outputs(&lb),
            id: arn,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = urns_by_id(&req.targets);
        let arns: Vec<String> = urns.keys().cloned().collect();
        let lbs = self.describe(&arns).await?;
        let found = live_resources(&self.elbv2, &lbs, Wanted::Targets(&urns), live).await?;
        Ok(ReadResponse { found })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // No tag filter on DescribeLoadBalancers: the stack's load balancers by tag in
        // one paginated call, then those described and their tags read in batches.
        let arns = self
            .tagging
            .arns(&req.stack, "elasticloadbalancing:loadbalancer")
            .await?;
        let lbs = self.describe(&arns).await?;
        let wanted = Wanted::Stack { req: &req, ty: TYPE };
        let found = live_resources(&self.elbv2, &lbs, wanted, live).await?;
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if changed(&req.changed, "subnet_ids") {
            self.elbv2
                .set_subnets()
                .load_balancer_arn(&req.id)
                .set_subnets(Some(strings_of(&req.new_inputs, "subnet_ids")))
                .send()
                .await
                .map_err(|e| classify("SetSubnets", e))?;
        }
        if changed(&req.changed, "security_group_ids") {
            self.elbv2
                .set_security_groups()
                .load_balancer_arn(&req.id)
                .set_security_groups(Some(strings_of(&req.new_inputs, "security_group_ids")))
                .send()
                .await
                .map_err(|e| classify("SetSecurityGroups", e))?;
        }
        update_tags(&self.elbv2, &req).await?;
        let lb = self
            .describe(std::slice::from_ref(&req.id))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("load balancer {} is gone", req.id)))?;
        Ok(UpdateResponse {
            outputs: outputs(&lb),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        ok_if_gone(
            self.elbv2
                .delete_load_balancer()
                .load_balancer_arn(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteLoadBalancer", e)),
        )?;
        self.wait(&req.id, true).await?;
        self.wait_interfaces_gone(&req.id).await
    }
}

/// ELB's answer while the VPC's internet gateway attachment has not reached it.
fn no_gateway_yet(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("InvalidSubnet") && e.message.to_ascii_lowercase().contains("internet gateway")
}
