//! EC2 and VPC networking providers, and what they share: reads and lists through one
//! conversion per type (`Wanted`), tag updates, deletes that wait out dependencies,
//! waiter errors and suffixed names.

/// Runs a paginated EC2 request to its last page and collects every item, classifying a
/// failure as `$op`. A macro because the SDK's request builders share no trait; defined
/// before the modules below so that they all see it.
macro_rules! paginated {
    ($request:expr, $op:literal) => {
        $request
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| $crate::classify($op, e))
    };
}

/// A type's IAM actions, `$action`s followed by the read-only calls of the dependency
/// lookups (`dependents.rs`) that its delete pre-flight and refused deletes make.
macro_rules! with_dependents_iam_actions {
    ($($action:literal),* $(,)?) => {
        &[
            $($action,)*
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeInstances",
            "ec2:DescribeNatGateways",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSecurityGroupRules",
            "ec2:DescribeSubnets",
            "ec2:DescribeRouteTables",
            "ec2:DescribeNetworkAcls",
            "ec2:DescribeInternetGateways",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTags",
            "elasticfilesystem:DescribeFileSystems",
            "elasticfilesystem:DescribeMountTargets",
            "rds:DescribeDBInstances",
        ]
    };
}

mod dependents;
mod eip;
mod instance;
mod internet_gateway;
mod internet_gateway_attachment;
mod launch_template;
mod nat_gateway;
mod network_acl;
mod route_table;
mod route_table_association;
mod security_group;
mod security_group_rule;
mod subnet;
mod vpc;
mod vpc_peering_connection;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, Tag};
use stackup_model::{Properties, Urn, Value, STACK_TAG, URN_TAG};
use stackup_provider::{
    CheckFailure, CheckResponse, ErrorKind, ListRequest, Provider, ProviderError, ReadTarget, UpdateRequest,
};

pub use eip::{Eip, EipArgs};
pub use instance::{Instance, InstanceArgs};
pub use internet_gateway::{InternetGateway, InternetGatewayArgs};
pub use internet_gateway_attachment::{InternetGatewayAttachment, InternetGatewayAttachmentArgs};
pub use launch_template::{LaunchTemplate, LaunchTemplateArgs};
pub use nat_gateway::{NatGateway, NatGatewayArgs};
pub use network_acl::{NetworkAcl, NetworkAclArgs, NetworkAclEntry};
pub use route_table::{Route, RouteTable, RouteTableArgs};
pub use route_table_association::{RouteTableAssociation, RouteTableAssociationArgs};
pub use security_group::{SecurityGroup, SecurityGroupArgs};
pub use security_group_rule::{RuleSource, SecurityGroupRule, SecurityGroupRuleArgs};
pub use subnet::{Subnet, SubnetArgs};
pub use vpc::{Vpc, VpcArgs};
pub use vpc_peering_connection::{VpcPeeringConnection, VpcPeeringConnectionArgs};

use crate::AwsClients;

/// Every EC2 provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let ec2 = clients.ec2.clone();
    // What uses a subnet, group or VPC may belong to another service.
    let dependents = dependents::Dependents::new(clients);
    vec![
        Arc::new(Vpc::new(ec2.clone(), dependents.clone())),
        Arc::new(Subnet::new(ec2.clone(), dependents.clone())),
        Arc::new(InternetGateway::new(ec2.clone(), dependents.clone())),
        Arc::new(InternetGatewayAttachment::new(ec2.clone(), dependents.clone())),
        Arc::new(Eip::new(ec2.clone())),
        Arc::new(NatGateway::new(ec2.clone())),
        Arc::new(RouteTable::new(ec2.clone())),
        Arc::new(RouteTableAssociation::new(ec2.clone())),
        Arc::new(NetworkAcl::new(ec2.clone())),
        Arc::new(SecurityGroup::new(ec2.clone(), dependents)),
        Arc::new(SecurityGroupRule::new(ec2.clone())),
        Arc::new(LaunchTemplate::new(ec2.clone())),
        Arc::new(Instance::new(ec2.clone())),
        Arc::new(VpcPeeringConnection::new(ec2.clone())),
    ]
}

/// AWS accepts at most 200 values in one filter.
const FILTER_VALUES_MAX: usize = 200;

/// Filters matching `ids` by `name`, in chunks AWS accepts. Filtering by id (rather than
/// passing ids as parameters) answers an empty list for an id that no longer exists
/// instead of failing the whole batch.
pub(crate) fn id_filters(name: &str, ids: impl IntoIterator<Item = String>) -> Vec<Filter> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    ids.chunks(FILTER_VALUES_MAX)
        .map(|chunk| Filter::builder().name(name).set_values(Some(chunk.to_vec())).build())
        .collect()
}

/// Polls `attempt` until it stops failing with DependencyViolation or `deadline`
/// passes. AWS releases network interfaces and addresses asynchronously after the
/// object that held them is deleted, so a delete in the right order can still be refused
/// for a while.
pub(crate) async fn retry_dependency<F, Fut>(what: &str, deadline: Duration, attempt: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
{
    let in_use = |e: &ProviderError| e.kind == ErrorKind::DependencyViolation;
    match retry_while(deadline, Duration::from_secs(2), in_use, attempt).await {
        Err(e) if in_use(&e) => Err(ProviderError {
            message: format!("{what} is still in use after {}s: {}", deadline.as_secs(), e.message),
            ..e
        }),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Runs `attempt` again, `pause` apart, while it fails with an error `retry` accepts
/// and `deadline` (from the first attempt) has not passed; answers the last outcome.
pub(crate) async fn retry_while<T, F, Fut>(
    deadline: Duration,
    pause: Duration,
    retry: impl Fn(&ProviderError) -> bool,
    attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    retry_loop(None, deadline, pause, retry, attempt).await
}

/// [`retry_while`], reporting each wait to the progress view as
/// `<waiting> (<seconds>s): <error>` (`waiting`: "bucket x: S3 is still releasing the
/// name"), so that a step held by AWS says what holds it.
pub(crate) async fn retry_reporting<T, F, Fut>(
    waiting: &str,
    deadline: Duration,
    pause: Duration,
    retry: impl Fn(&ProviderError) -> bool,
    attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    retry_loop(Some(waiting), deadline, pause, retry, attempt).await
}

async fn retry_loop<T, F, Fut>(
    waiting: Option<&str>,
    deadline: Duration,
    pause: Duration,
    retry: impl Fn(&ProviderError) -> bool,
    mut attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        match attempt().await {
            Err(e) if retry(&e) && started.elapsed() < deadline => {
                if let Some(waiting) = waiting {
                    stackup_provider::progress::report(format!("{waiting} ({}s): {e}", started.elapsed().as_secs()));
                }
                stackup_provider::wait::pause(pause).await;
            }
            other => return other,
        }
    }
}

/// How long a delete waits for AWS to release what still holds an object: a deleted
/// load balancer's or NAT gateway's network interfaces linger for minutes, and a
/// Lambda function's for much longer. terraform-provider-aws gives subnet deletes and
/// internet gateway detaches 20 minutes and security groups 15; a blocker that will
/// not go by itself (something outside the stack) still fails at once, named.
pub(crate) const DELETE_DEPENDENCY_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// Inserts the user tags into `inputs` if the program set none, so that a resource
/// declared without tags compares equal to its live empty tag set.
pub(crate) fn default_tags(inputs: &mut Properties) {
    inputs
        .entry("tags".into())
        .or_insert_with(|| Value::Map(Default::default()));
}

/// Finishes a check: fills in the empty user tags (see `default_tags`).
pub(crate) fn checked(mut inputs: Properties, failures: Vec<CheckFailure>) -> CheckResponse {
    default_tags(&mut inputs);
    CheckResponse { inputs, failures }
}

/// The longest ClientToken most EC2 create calls accept.
pub(crate) const CLIENT_TOKEN_MAX: usize = 64;

/// Awaits an SDK call whose answer stackup does not need, classifying its failure as
/// `op`.
pub(crate) async fn done<T, E, R>(
    op: &str,
    call: impl Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<(), ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    call.await.map(|_| ()).map_err(|e| crate::classify(op, e))
}

/// Brings the object's tags to the new inputs' when the diff found them changed, and
/// says whether it did (some types have tags to carry further).
pub(crate) async fn update_tags(ec2: &aws_sdk_ec2::Client, req: &UpdateRequest) -> Result<bool, ProviderError> {
    if !crate::common::changed(&req.changed, "tags") {
        return Ok(false);
    }
    crate::tags::sync_ec2(ec2, &req.id, &req.stack, &req.urn, &req.old_inputs, &req.new_inputs).await?;
    Ok(true)
}

/// How long a VPC or subnet may take to become available (usually moments), polled at
/// most every 2 seconds.
pub(crate) const AVAILABLE_PATIENCE: stackup_provider::wait::Patience = stackup_provider::wait::Patience::new(120, 2);

/// Length of the suffix appended to a declared name (security groups, launch
/// templates), plus its dash.
pub(crate) const NAME_SUFFIX_LEN: usize = 9;

/// The AWS name of an object declared as `name`: `<name>-<8 hex>` from the creation
/// token, like Terraform's `name_prefix`. The names are unique, so a replacement can be
/// created beside the old object, and stable, so a retried create asks for the same name.
pub(crate) fn suffixed_name(name: &str, token: &str) -> String {
    let suffix: String = token
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(NAME_SUFFIX_LEN - 1)
        .collect();
    format!("{name}-{suffix}")
}

/// The declared name of an object created as `<name>-<8 hex>`.
pub(crate) fn declared_name(real: &str) -> &str {
    let n = real.len();
    let has_suffix = n > NAME_SUFFIX_LEN
        && real.as_bytes()[n - NAME_SUFFIX_LEN] == b'-'
        && real[n - NAME_SUFFIX_LEN + 1..].bytes().all(|b| b.is_ascii_hexdigit());
    if has_suffix {
        &real[..n - NAME_SUFFIX_LEN]
    } else {
        real
    }
}

/// The value of tag `key`.
pub(crate) fn tag_value<'t>(tags: &'t [Tag], key: &str) -> Option<&'t str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(Tag::value)
}

/// The filter matching the objects tagged with `stack`.
pub(crate) fn stack_filter(stack: &str) -> Filter {
    Filter::builder().name(format!("tag:{STACK_TAG}")).values(stack).build()
}

/// One paginated Describe per filter (`describe`), the answers concatenated.
pub(crate) async fn describe_each<T, F, Fut>(filters: Vec<Filter>, describe: F) -> Result<Vec<T>, ProviderError>
where
    F: Fn(Filter) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let mut all = Vec::new();
    for filter in filters {
        all.extend(describe(filter).await?);
    }
    Ok(all)
}

/// What a read or a list wants from Describe answers, so that both go through one
/// conversion per type. A read wants its targets, found by id and reported under their
/// recorded URNs; a list wants every object tagged with the stack, reported under the
/// URN its `stackup:urn` tag claims, or, for an object the listing also refreshes
/// (`ListRequest::recorded`), exactly as a read of it.
pub(crate) enum Wanted<'a> {
    Targets(BTreeMap<&'a str, &'a ReadTarget>),
    Stack {
        stack: &'a str,
        ty: &'static str,
        recorded: BTreeMap<&'a str, &'a ReadTarget>,
    },
}

/// One object a read or a list wants.
pub(crate) struct Picked<'a> {
    pub(crate) urn: Urn,
    pub(crate) id: String,
    /// The recorded inputs, for a read: some live values are reported as recorded when
    /// they mean the same (an SSM image parameter and the AMI it resolved to).
    pub(crate) recorded: Option<&'a Properties>,
}

impl<'a> Wanted<'a> {
    /// What a read of `targets` wants.
    pub(crate) fn read(targets: &'a [ReadTarget]) -> Wanted<'a> {
        Wanted::Targets(targets.iter().map(|t| (t.id.as_str(), t)).collect())
    }

    /// What a list of type `ty` wants.
    pub(crate) fn list(req: &'a ListRequest, ty: &'static str) -> Wanted<'a> {
        Wanted::Stack {
            stack: &req.stack,
            ty,
            recorded: req.recorded.iter().map(|(id, t)| (id.as_str(), t)).collect(),
        }
    }

    /// The filters of the Describe calls: the targets' ids under `id_filter`, or the
    /// stack's tag.
    pub(crate) fn filters(&self, id_filter: &str) -> Vec<Filter> {
        match self {
            Wanted::Targets(targets) => id_filters(id_filter, targets.keys().map(|id| id.to_string())),
            Wanted::Stack { stack, .. } => vec![stack_filter(stack)],
        }
    }

    /// The filters for a type that a read finds through its parent: the targets'
    /// recorded `input` (a VPC or group id) under `parent_filter`. A list still filters
    /// by the stack's tag, which the objects carry themselves.
    pub(crate) fn parent_filters(&self, parent_filter: &str, input: &str) -> Vec<Filter> {
        match self {
            Wanted::Targets(targets) => id_filters(
                parent_filter,
                targets
                    .values()
                    .filter_map(|t| crate::props::opt_str(&t.inputs, input).map(str::to_string)),
            ),
            Wanted::Stack { stack, .. } => vec![stack_filter(stack)],
        }
    }

    /// Whether and how to report the object `id` carrying `tags`.
    pub(crate) fn pick(&self, id: Option<&str>, tags: &[Tag]) -> Option<Picked<'a>> {
        let id = id?;
        match self {
            Wanted::Targets(targets) => targets.get(id).map(|t| Picked {
                urn: t.urn.clone(),
                id: id.to_string(),
                recorded: Some(&t.inputs),
            }),
            Wanted::Stack { stack, ty, recorded } => {
                // Checked here as well as filtered by: moto ignores tag filters on NAT
                // gateways.
                if tag_value(tags, STACK_TAG) != Some(*stack) {
                    return None;
                }
                if let Some(t) = recorded.get(id) {
                    return Some(Picked {
                        urn: t.urn.clone(),
                        id: id.to_string(),
                        recorded: Some(&t.inputs),
                    });
                }
                let claimed = tag_value(tags, URN_TAG);
                // An object tagged as another type's resource belongs to that resource:
                // the instances an Auto Scaling group launches carry the group's tags.
                if claimed
                    .and_then(|u| Urn::parse(u).ok())
                    .is_some_and(|u| u.type_token().as_str() != *ty)
                {
                    return None;
                }
                Some(Picked {
                    urn: crate::common::listed_urn(stack, ty, claimed, id),
                    id: id.to_string(),
                    recorded: None,
                })
            }
        }
    }

    /// The `objects` this read or list wants, each with how to report it.
    pub(crate) fn pick_all<'t, T>(
        &self,
        objects: &'t [T],
        id: impl Fn(&T) -> Option<&str>,
        tags: impl Fn(&T) -> &[Tag],
    ) -> Vec<(Picked<'a>, &'t T)> {
        objects
            .iter()
            .filter_map(|o| Some((self.pick(id(o), tags(o))?, o)))
            .collect()
    }
}
