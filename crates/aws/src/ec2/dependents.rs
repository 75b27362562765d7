//! What else still uses a network object: the network interfaces in a subnet, VPC or
//! security group resolved to their owners (an instance, a load balancer, a NAT gateway,
//! an EFS mount target, a Lambda function, RDS, a VPC endpoint, or an interface made by
//! hand), rules in other groups that reference a group, and the objects a VPC holds.
//!
//! AWS refuses to delete a subnet, group or VPC that something still uses, and moto
//! (the test server) does not, so the lookups are made here rather than learnt from
//! AWS's refusal. Two callers: the pre-flight of a delete (`check_delete`) reports the
//! users outside the stack before anything is touched; a delete that AWS refuses with
//! DependencyViolation looks them up again to decide between waiting (AWS releases the
//! interfaces of a deleted load balancer, NAT gateway or terminated instance by itself)
//! and failing at once with the users named.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, NetworkInterface, NetworkInterfaceStatus, SecurityGroup as AwsGroup};
use stackup_model::STACK_TAG;
use stackup_provider::{ErrorKind, ProviderError};

use super::{describe_each, id_filters, tag_value};
use crate::batch::Batcher;
use crate::classify;
use crate::common::found;

/// How often a delete refused because of users that go away by themselves tries again.
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// How often, while such a delete waits, it looks again at what uses the object: the
/// first refusal always looks (to fail at once on a user that will not go), later ones
/// only this often, since each look costs several Describe calls.
const LOOKUP_EVERY: Duration = Duration::from_secs(30);

/// One object that uses a network object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct User {
    /// What it is, for a person: "instance i-0abc (network interface eni-0123)".
    pub(crate) what: String,
    /// It carries the stack's tag (or belongs to an object that does): the stack's own
    /// delete of it comes first.
    pub(crate) in_stack: bool,
    /// AWS is removing it by itself: the interface of a deleted load balancer or NAT
    /// gateway, of a terminating instance, of a deleted mount target.
    pub(crate) going: bool,
}

impl User {
    fn new(what: String, in_stack: bool, going: bool) -> User {
        User { what, in_stack, going }
    }
}

/// The users that stop a delete of the stack's object before it starts: those outside
/// the stack that AWS will not remove by itself.
pub(crate) fn blocking(users: &[User]) -> Vec<&User> {
    users.iter().filter(|u| !u.in_stack && !u.going).collect()
}

/// The pre-flight answer for `object`: Ok when nothing outside the stack uses it, else a
/// DependencyViolation naming every user.
pub(crate) fn preflight(object: &str, users: &[User]) -> Result<(), ProviderError> {
    let blockers = blocking(users);
    if blockers.is_empty() {
        return Ok(());
    }
    Err(ProviderError::new(
        ErrorKind::DependencyViolation,
        format!(
            "{object} is used by {} object(s) outside the stack: {}",
            blockers.len(),
            names(blockers.iter().copied())
        ),
    ))
}

fn names<'a>(users: impl Iterator<Item = &'a User>) -> String {
    let mut all: Vec<&str> = users.map(|u| u.what.as_str()).collect();
    all.sort();
    all.dedup();
    all.join("; ")
}

/// Runs `attempt` (a delete) until it succeeds. When AWS refuses with
/// DependencyViolation, `users` looks up what still uses the object: if everything found
/// is going away by itself (or nothing is found yet: AWS's view lags), the delete is
/// tried again every 2 seconds until `deadline`; if something stays, it fails at once
/// naming it, rather than waiting out the deadline for nothing. The users are looked up
/// at the first refusal and then every [`LOOKUP_EVERY`], not at every retry. NotFound
/// is success.
pub(crate) async fn delete_when_released<F, Fut, U, UFut>(
    object: &str,
    deadline: Duration,
    mut attempt: F,
    users: U,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
    U: Fn() -> UFut,
    UFut: Future<Output = Result<Vec<User>, ProviderError>>,
{
    let started = tokio::time::Instant::now();
    let mut next_lookup = started;
    let mut found: Vec<User> = Vec::new();
    loop {
        let refused = match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind == ErrorKind::DependencyViolation => e,
            Err(e) => return Err(e),
        };
        if tokio::time::Instant::now() >= next_lookup {
            found = users().await?;
            next_lookup = tokio::time::Instant::now() + stackup_provider::wait::scaled(LOOKUP_EVERY);
        }
        let staying: Vec<&User> = found.iter().filter(|u| !u.going).collect();
        if !staying.is_empty() {
            return Err(ProviderError {
                message: format!(
                    "{object} is still in use by {}; remove {} and run the command again ({})",
                    names(staying.iter().copied()),
                    if staying.len() == 1 { "it" } else { "them" },
                    refused.message
                ),
                ..refused
            });
        }
        let waited = started.elapsed();
        stackup_provider::progress::report(format!(
            "{object} is still in use by {} ({}s): {}",
            if found.is_empty() {
                "something AWS has not released yet".to_string()
            } else {
                names(found.iter())
            },
            waited.as_secs(),
            refused.message
        ));
        if waited >= deadline {
            let what = if found.is_empty() {
                "something AWS did not release".to_string()
            } else {
                names(found.iter())
            };
            return Err(ProviderError {
                message: format!(
                    "{object} is still in use after {}s by {what} ({})",
                    deadline.as_secs(),
                    refused.message
                ),
                ..refused
            });
        }
        stackup_provider::wait::pause(RETRY_PAUSE).await;
    }
}

/// The clients the lookups need: an interface's owner may be of another service.
#[derive(Clone, Debug)]
pub(crate) struct Dependents {
    ec2: aws_sdk_ec2::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    efs: aws_sdk_efs::Client,
    rds: aws_sdk_rds::Client,
    /// The network interfaces and security groups asked for by filter, batched.
    interfaces: Arc<Batcher<NetworkInterface>>,
    groups: Arc<Batcher<AwsGroup>>,
}

/// EC2 takes at most 200 values per filter.
const FILTER_VALUES: usize = 200;

/// What an interface's description or type says about its owner.
enum Claimed {
    LoadBalancer(String),
    MountTarget { file_system: String },
    Lambda(String),
    Rds,
    Endpoint,
    Unknown,
}

fn claimed(eni: &NetworkInterface) -> Claimed {
    let description = eni.description().unwrap_or_default();
    let ty = eni.interface_type().map(|t| t.as_str()).unwrap_or_default();
    if let Some(rest) = description.strip_prefix("ELB ") {
        // "ELB app/<name>/<id>", "ELB net/<name>/<id>", or a classic "ELB <name>".
        let name = match rest.split('/').collect::<Vec<_>>().as_slice() {
            [_, name, _] => name.to_string(),
            _ => rest.to_string(),
        };
        return Claimed::LoadBalancer(name);
    }
    if let Some(rest) = description.strip_prefix("EFS mount target for ") {
        let file_system = rest.split_whitespace().next().unwrap_or_default().to_string();
        return Claimed::MountTarget { file_system };
    }
    if ty == "lambda" || description.starts_with("AWS Lambda VPC ENI") {
        // "AWS Lambda VPC ENI-<function>-<uuid>": the uuid has five dash-separated parts.
        let name = description
            .strip_prefix("AWS Lambda VPC ENI-")
            .map(|rest| {
                let parts: Vec<&str> = rest.split('-').collect();
                parts[..parts.len().saturating_sub(5)].join("-")
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "(unknown)".to_string());
        return Claimed::Lambda(name);
    }
    if eni.requester_id() == Some("amazon-rds") || description == "RDSNetworkInterface" {
        return Claimed::Rds;
    }
    if ty == "vpc_endpoint" || description.starts_with("VPC Endpoint Interface") {
        return Claimed::Endpoint;
    }
    Claimed::Unknown
}

fn in_stack_tags(tags: &[aws_sdk_ec2::types::Tag], stack: &str) -> bool {
    tag_value(tags, STACK_TAG) == Some(stack)
}

/// `filter` with one value.
fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

impl Dependents {
    pub(crate) fn new(clients: &crate::AwsClients) -> Dependents {
        Dependents {
            ec2: clients.ec2.clone(),
            elbv2: clients.elbv2.clone(),
            efs: clients.efs.clone(),
            rds: clients.rds.clone(),
            interfaces: Arc::new(Batcher::new(FILTER_VALUES)),
            groups: Arc::new(Batcher::new(FILTER_VALUES)),
        }
    }

    /// The users of subnet `id`: its network interfaces' owners.
    pub(crate) async fn of_subnet(&self, stack: &str, id: &str) -> Result<Vec<User>, ProviderError> {
        self.interfaces(stack, "subnet-id", id).await
    }

    /// The users of security group `id`: the owners of the interfaces it guards, and
    /// rules of other groups that reference it. `vpc` is the group's VPC when known.
    pub(crate) async fn of_group(&self, stack: &str, id: &str, vpc: Option<&str>) -> Result<Vec<User>, ProviderError> {
        let mut users = self.interfaces(stack, "group-id", id).await?;
        users.extend(self.referencing_rules(stack, id, vpc).await?);
        Ok(users)
    }

    /// The users of VPC `id`: interfaces, and subnets, groups, route tables, network
    /// ACLs and internet gateways made outside the stack (the VPC's default group, main
    /// route table and default ACL go with it).
    pub(crate) async fn of_vpc(&self, stack: &str, id: &str) -> Result<Vec<User>, ProviderError> {
        let in_vpc = || filter("vpc-id", id);
        let mut users = self.interfaces(stack, "vpc-id", id).await?;
        let subnets: Vec<aws_sdk_ec2::types::Subnet> =
            paginated!(self.ec2.describe_subnets().filters(in_vpc()), "DescribeSubnets")?;
        for s in &subnets {
            if !in_stack_tags(s.tags(), stack) {
                users.push(User::new(
                    format!(
                        "subnet {} ({}) made outside the stack",
                        s.subnet_id().unwrap_or("?"),
                        s.cidr_block().unwrap_or("?")
                    ),
                    false,
                    false,
                ));
            }
        }
        let groups: Vec<AwsGroup> = paginated!(
            self.ec2.describe_security_groups().filters(in_vpc()),
            "DescribeSecurityGroups"
        )?;
        for g in &groups {
            if g.group_name() != Some("default") && !in_stack_tags(g.tags(), stack) {
                users.push(User::new(
                    format!(
                        "security group {} ({}) made outside the stack",
                        g.group_id().unwrap_or("?"),
                        g.group_name().unwrap_or("?")
                    ),
                    false,
                    false,
                ));
            }
        }
        let tables: Vec<aws_sdk_ec2::types::RouteTable> = paginated!(
            self.ec2.describe_route_tables().filters(in_vpc()),
            "DescribeRouteTables"
        )?;
        for t in &tables {
            let main = t.associations().iter().any(|a| a.main() == Some(true));
            if !main && !in_stack_tags(t.tags(), stack) {
                users.push(User::new(
                    format!(
                        "route table {} made outside the stack",
                        t.route_table_id().unwrap_or("?")
                    ),
                    false,
                    false,
                ));
            }
        }
        let acls = self
            .ec2
            .describe_network_acls()
            .filters(in_vpc())
            .send()
            .await
            .map_err(|e| classify("DescribeNetworkAcls", e))?;
        for a in acls.network_acls() {
            if a.is_default() != Some(true) && !in_stack_tags(a.tags(), stack) {
                users.push(User::new(
                    format!(
                        "network ACL {} made outside the stack",
                        a.network_acl_id().unwrap_or("?")
                    ),
                    false,
                    false,
                ));
            }
        }
        let gateways: Vec<aws_sdk_ec2::types::InternetGateway> = paginated!(
            self.ec2
                .describe_internet_gateways()
                .filters(filter("attachment.vpc-id", id)),
            "DescribeInternetGateways"
        )?;
        for g in &gateways {
            if !in_stack_tags(g.tags(), stack) {
                users.push(User::new(
                    format!(
                        "internet gateway {} made outside the stack, attached",
                        g.internet_gateway_id().unwrap_or("?")
                    ),
                    false,
                    false,
                ));
            }
        }
        Ok(users)
    }

    /// The users that stop an internet gateway from being detached from VPC `vpc`: AWS
    /// refuses while the VPC has public addresses mapped, so every interface there with
    /// a public address.
    pub(crate) async fn of_gateway_attachment(&self, stack: &str, vpc: &str) -> Result<Vec<User>, ProviderError> {
        let enis: Vec<NetworkInterface> = paginated!(
            self.ec2.describe_network_interfaces().filters(filter("vpc-id", vpc)),
            "DescribeNetworkInterfaces"
        )?;
        let public: Vec<NetworkInterface> = enis
            .into_iter()
            .filter(|e| e.association().and_then(|a| a.public_ip()).is_some())
            .collect();
        let mut users = self.resolve(stack, &public).await?;
        for (user, eni) in users.iter_mut().zip(&public) {
            if let Some(ip) = eni.association().and_then(|a| a.public_ip()) {
                user.what.push_str(&format!(", public address {ip}"));
            }
        }
        Ok(users)
    }

    /// Deletes the detached (`available`) network interfaces matching the filter `name` =
    /// `value` (`subnet-id`, `group-id`) that a
    /// service left behind for an object that no longer exists: a deleted load
    /// balancer's (`ELB app/...`) or a Lambda function's. AWS removes them by itself,
    /// but only after minutes; the owner is gone, so nothing else can use them, and
    /// terraform-provider-aws deletes them the same way before a subnet or group.
    /// Answers how many were deleted.
    pub(crate) async fn release_lingering(&self, name: &str, value: &str) -> Result<usize, ProviderError> {
        let enis: Vec<NetworkInterface> = paginated!(
            self.ec2
                .describe_network_interfaces()
                .filters(filter(name, value))
                .filters(filter("status", "available")),
            "DescribeNetworkInterfaces"
        )?;
        let mut released = 0;
        for eni in &enis {
            let Some(id) = eni.network_interface_id() else { continue };
            if eni.status() != Some(&NetworkInterfaceStatus::Available) || eni.attachment().is_some() {
                continue;
            }
            let orphaned = match claimed(eni) {
                Claimed::LoadBalancer(name) => self.load_balancer("", &name, "").await?.going,
                Claimed::Lambda(_) => true,
                _ => false,
            };
            if !orphaned {
                continue;
            }
            stackup_provider::progress::report(format!(
                "deleting network interface {id} left by {}",
                eni.description().unwrap_or("a deleted service object")
            ));
            match self
                .ec2
                .delete_network_interface()
                .network_interface_id(id)
                .send()
                .await
                .map_err(|e| classify("DeleteNetworkInterface", e))
            {
                Ok(_) => released += 1,
                // Gone already, or taken back by the service: its business.
                Err(e)
                    if matches!(
                        e.kind,
                        ErrorKind::NotFound | ErrorKind::DependencyViolation | ErrorKind::Conflict
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(released)
    }

    /// The owners of the interfaces whose `name` (`subnet-id`, `group-id` or `vpc-id`)
    /// is `value`; the Describe is shared with the questions asked at the same time.
    async fn interfaces(&self, stack: &str, name: &'static str, value: &str) -> Result<Vec<User>, ProviderError> {
        let all = self
            .interfaces
            .ask(name, value, |values| async move {
                paginated!(
                    self.ec2
                        .describe_network_interfaces()
                        .filters(Filter::builder().name(name).set_values(Some(values)).build()),
                    "DescribeNetworkInterfaces"
                )
            })
            .await?;
        let mine: Vec<NetworkInterface> = all
            .iter()
            .filter(|eni| match name {
                "subnet-id" => eni.subnet_id() == Some(value),
                "group-id" => eni.groups().iter().any(|g| g.group_id() == Some(value)),
                _ => eni.vpc_id() == Some(value),
            })
            .cloned()
            .collect();
        self.resolve(stack, &mine).await
    }

    /// One user per interface, in order: who owns it, whether that is the stack, and
    /// whether AWS is removing it by itself. Each owner kind is looked up in one batch.
    async fn resolve(&self, stack: &str, enis: &[NetworkInterface]) -> Result<Vec<User>, ProviderError> {
        if enis.is_empty() {
            return Ok(Vec::new());
        }
        let instances = self.instances(enis).await?;
        let nats = self.nat_gateways(enis).await?;
        let mut users: Vec<User> = Vec::with_capacity(enis.len());
        let mut mount_targets: Option<BTreeMap<String, MountTargetOwner>> = None;
        let mut databases: Option<Vec<aws_sdk_rds::types::DbInstance>> = None;
        for eni in enis {
            let id = eni.network_interface_id().unwrap_or("?");
            let suffix = format!("(network interface {id})");
            if in_stack_tags(eni.tag_set(), stack) {
                users.push(User::new(format!("network interface {id}"), true, false));
                continue;
            }
            if let Some(instance) = eni.attachment().and_then(|a| a.instance_id()) {
                let user = match instances.get(instance) {
                    Some((state, tagged)) => User::new(
                        format!("instance {instance} {suffix}"),
                        *tagged == Some(stack.to_string()),
                        matches!(state.as_str(), "shutting-down" | "terminated"),
                    ),
                    None => User::new(format!("instance {instance} {suffix}"), false, true),
                };
                users.push(user);
                continue;
            }
            if let Some((nat, state, tagged)) = nats.get(id) {
                users.push(User::new(
                    format!("NAT gateway {nat} {suffix}"),
                    *tagged == Some(stack.to_string()),
                    matches!(state.as_str(), "deleting" | "deleted" | "failed"),
                ));
                continue;
            }
            let user = match claimed(eni) {
                Claimed::LoadBalancer(name) => Some(self.load_balancer(stack, &name, &suffix).await?),
                Claimed::Lambda(name) => Some(User::new(format!("Lambda function {name} {suffix}"), false, false)),
                Claimed::Endpoint => Some(User::new(
                    format!(
                        "VPC endpoint {suffix}: {}",
                        eni.description().unwrap_or("no description")
                    ),
                    false,
                    false,
                )),
                Claimed::Rds => {
                    if databases.is_none() {
                        databases = Some(self.databases().await?);
                    }
                    Some(rds_user(stack, eni, databases.as_deref().unwrap_or_default(), &suffix))
                }
                // moto gives mount targets an interface without a description: look
                // them up by interface id as well.
                claim @ (Claimed::MountTarget { .. } | Claimed::Unknown) => {
                    if mount_targets.is_none() {
                        mount_targets = Some(self.mount_targets().await?);
                    }
                    let owner = mount_targets.as_ref().and_then(|m| m.get(id)).map(|owner| {
                        User::new(
                            format!(
                                "EFS mount target {} of file system {} {suffix}",
                                owner.mount_target, owner.file_system
                            ),
                            owner.tagged.as_deref() == Some(stack),
                            owner.going,
                        )
                    });
                    match (owner, claim) {
                        (Some(user), _) => Some(user),
                        // Its mount target is deleted: EFS releases the interface.
                        (None, Claimed::MountTarget { file_system }) => Some(User::new(
                            format!("a deleted EFS mount target of file system {file_system} {suffix}"),
                            false,
                            true,
                        )),
                        (None, _) => None,
                    }
                }
            };
            users.push(user.unwrap_or_else(|| unexplained(eni)));
        }
        Ok(users)
    }

    /// State and stack tag of each instance the interfaces are attached to.
    async fn instances(
        &self,
        enis: &[NetworkInterface],
    ) -> Result<BTreeMap<String, (String, Option<String>)>, ProviderError> {
        let ids: BTreeSet<String> = enis
            .iter()
            .filter_map(|e| e.attachment().and_then(|a| a.instance_id()).map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let reservations: Vec<aws_sdk_ec2::types::Reservation> =
            describe_each(id_filters("instance-id", ids), |f| async move {
                paginated!(self.ec2.describe_instances().filters(f), "DescribeInstances")
            })
            .await?;
        Ok(reservations
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| {
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .map_or("unknown", |n| n.as_str())
                    .to_string();
                let tagged = tag_value(i.tags(), STACK_TAG).map(str::to_string);
                Some((i.instance_id()?.to_string(), (state, tagged)))
            })
            .collect())
    }

    /// Interface id -> (NAT gateway, state, stack tag) for the NAT gateways of the
    /// interfaces' VPCs, deleted ones included (their interfaces linger a while).
    async fn nat_gateways(
        &self,
        enis: &[NetworkInterface],
    ) -> Result<BTreeMap<String, (String, String, Option<String>)>, ProviderError> {
        let vpcs: BTreeSet<String> = enis.iter().filter_map(|e| e.vpc_id().map(str::to_string)).collect();
        let gateways: Vec<aws_sdk_ec2::types::NatGateway> = describe_each(id_filters("vpc-id", vpcs), |f| async move {
            paginated!(self.ec2.describe_nat_gateways().filter(f), "DescribeNatGateways")
        })
        .await?;
        let mut out = BTreeMap::new();
        for g in &gateways {
            let state = g.state().map_or("unknown", |s| s.as_str()).to_string();
            let tagged = tag_value(g.tags(), STACK_TAG).map(str::to_string);
            for address in g.nat_gateway_addresses() {
                if let (Some(eni), Some(id)) = (address.network_interface_id(), g.nat_gateway_id()) {
                    out.insert(eni.to_string(), (id.to_string(), state.clone(), tagged.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The user behind a load balancer's interface; a load balancer that no longer
    /// exists is one AWS is releasing.
    async fn load_balancer(&self, stack: &str, name: &str, suffix: &str) -> Result<User, ProviderError> {
        let what = format!("load balancer {name} {suffix}");
        let described = self.elbv2.describe_load_balancers().names(name).send().await;
        let lbs = match described {
            Ok(out) => out.load_balancers().to_vec(),
            Err(e) => {
                let e = classify("DescribeLoadBalancers", e);
                if e.kind == ErrorKind::NotFound {
                    return Ok(User::new(what, false, true));
                }
                return Err(e);
            }
        };
        let Some(arn) = lbs.first().and_then(|lb| lb.load_balancer_arn()) else {
            return Ok(User::new(what, false, true));
        };
        let tags = self
            .elbv2
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .map_err(|e| classify("DescribeTags", e))?;
        let tagged = tags
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .any(|t| t.key() == Some(STACK_TAG) && t.value() == Some(stack));
        Ok(User::new(what, tagged, false))
    }

    /// Interface id -> mount target, for every file system of the account and region.
    async fn mount_targets(&self) -> Result<BTreeMap<String, MountTargetOwner>, ProviderError> {
        let systems: Vec<aws_sdk_efs::types::FileSystemDescription> = self
            .efs
            .describe_file_systems()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeFileSystems", e))?;
        let mut out = BTreeMap::new();
        for fs in &systems {
            let listed = self
                .efs
                .describe_mount_targets()
                .file_system_id(fs.file_system_id())
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("DescribeMountTargets", e));
            // A file system deleted since the first call has no mount targets left.
            let targets: Vec<aws_sdk_efs::types::MountTargetDescription> = found(listed)?.unwrap_or_default();
            let tagged = fs
                .tags()
                .iter()
                .find(|t| t.key() == STACK_TAG)
                .map(|t| t.value().to_string());
            for mt in &targets {
                let Some(eni) = mt.network_interface_id() else { continue };
                let going = matches!(mt.life_cycle_state().as_str(), "deleting" | "deleted");
                out.insert(
                    eni.to_string(),
                    MountTargetOwner {
                        mount_target: mt.mount_target_id().to_string(),
                        file_system: fs.file_system_id().to_string(),
                        tagged: tagged.clone(),
                        going,
                    },
                );
            }
        }
        Ok(out)
    }

    async fn databases(&self) -> Result<Vec<aws_sdk_rds::types::DbInstance>, ProviderError> {
        self.rds
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeDBInstances", e))
    }

    /// Rules of other groups in the VPC that reference group `id`: AWS refuses to delete
    /// a group another group's rule names. Groups of the stack are deleted with it (their
    /// rules first); for each other group, each referencing rule is named.
    async fn referencing_rules(&self, stack: &str, id: &str, vpc: Option<&str>) -> Result<Vec<User>, ProviderError> {
        let vpc = match vpc.filter(|v| !v.is_empty()) {
            Some(v) => v.to_string(),
            None => {
                let own: Vec<AwsGroup> = paginated!(
                    self.ec2.describe_security_groups().filters(filter("group-id", id)),
                    "DescribeSecurityGroups"
                )?;
                match own.first().and_then(|g| g.vpc_id()) {
                    Some(v) => v.to_string(),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let all = self
            .groups
            .ask("vpc-id", &vpc, |values| async move {
                paginated!(
                    self.ec2
                        .describe_security_groups()
                        .filters(Filter::builder().name("vpc-id").set_values(Some(values)).build()),
                    "DescribeSecurityGroups"
                )
            })
            .await?;
        let groups: Vec<&AwsGroup> = all.iter().filter(|g| g.vpc_id() == Some(vpc.as_str())).collect();
        let references = |g: &AwsGroup| {
            g.ip_permissions()
                .iter()
                .chain(g.ip_permissions_egress())
                .flat_map(|p| p.user_id_group_pairs())
                .any(|pair| pair.group_id() == Some(id))
        };
        let mut users = Vec::new();
        let mut foreign: BTreeMap<String, String> = BTreeMap::new();
        for g in groups.iter().filter(|g| g.group_id() != Some(id) && references(g)) {
            let gid = g.group_id().unwrap_or("?").to_string();
            let name = g.group_name().unwrap_or("?").to_string();
            if in_stack_tags(g.tags(), stack) {
                users.push(User::new(format!("security group {gid} ({name})"), true, false));
            } else {
                foreign.insert(gid, name);
            }
        }
        if foreign.is_empty() {
            return Ok(users);
        }
        let rules =
            super::security_group_rule::describe_rules(&self.ec2, id_filters("group-id", foreign.keys().cloned()))
                .await?;
        for r in rules
            .iter()
            .filter(|r| r.referenced_group_info().and_then(|g| g.group_id()) == Some(id))
        {
            let owner = r.group_id().unwrap_or("?");
            users.push(User::new(
                format!(
                    "rule {} of security group {owner} ({}): {}",
                    r.security_group_rule_id().unwrap_or("?"),
                    foreign.get(owner).map_or("?", String::as_str),
                    super::security_group::rule_summary(r)
                ),
                false,
                false,
            ));
        }
        Ok(users)
    }
}

/// The mount target behind an interface.
struct MountTargetOwner {
    mount_target: String,
    file_system: String,
    /// The file system's stack tag (mount targets carry no tags).
    tagged: Option<String>,
    going: bool,
}

/// The user behind an RDS interface: the stack's database when one of its instances
/// uses the interface's security groups, another instance when that one does, and an
/// interface RDS is releasing when no instance uses them any more.
fn rds_user(stack: &str, eni: &NetworkInterface, dbs: &[aws_sdk_rds::types::DbInstance], suffix: &str) -> User {
    let groups: BTreeSet<&str> = eni.groups().iter().filter_map(|g| g.group_id()).collect();
    let subnet = eni.subnet_id();
    let uses = |db: &&aws_sdk_rds::types::DbInstance| {
        let same_group = db
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .any(|g| groups.contains(g));
        let same_subnet = db
            .db_subnet_group()
            .map(|g| g.subnets())
            .unwrap_or_default()
            .iter()
            .any(|s| s.subnet_identifier() == subnet);
        same_group && same_subnet
    };
    let matching: Vec<&aws_sdk_rds::types::DbInstance> = dbs.iter().filter(uses).collect();
    let tagged = |db: &&aws_sdk_rds::types::DbInstance| {
        db.tag_list()
            .iter()
            .any(|t| t.key() == Some(STACK_TAG) && t.value() == Some(stack))
    };
    let deleting = |db: &&aws_sdk_rds::types::DbInstance| matches!(db.db_instance_status(), Some("deleting"));
    if let Some(db) = matching.iter().find(|db| !tagged(db)) {
        return User::new(
            format!(
                "RDS DB instance {} {suffix}",
                db.db_instance_identifier().unwrap_or("?")
            ),
            false,
            deleting(db),
        );
    }
    match matching.first() {
        Some(db) => User::new(
            format!(
                "RDS DB instance {} {suffix}",
                db.db_instance_identifier().unwrap_or("?")
            ),
            true,
            deleting(db),
        ),
        None => User::new(format!("an RDS network interface being released {suffix}"), false, true),
    }
}

/// An interface no known service claims: made by hand (or by a service stackup does
/// not know). AWS removes an unattached interface a service manages by itself.
fn unexplained(eni: &NetworkInterface) -> User {
    let id = eni.network_interface_id().unwrap_or("?");
    let description = eni.description().filter(|d| !d.is_empty());
    let attached_to = eni
        .attachment()
        .and_then(|a| a.instance_owner_id())
        .filter(|o| !o.is_empty());
    let unattached = eni.status() == Some(&NetworkInterfaceStatus::Available);
    let managed = eni.requester_managed() == Some(true);
    let mut what = if unattached && !managed {
        format!("network interface {id} made outside stackup (not attached)")
    } else {
        format!("network interface {id}")
    };
    if let Some(owner) = attached_to {
        what.push_str(&format!(", attached for {owner}"));
    }
    if let Some(requester) = eni.requester_id().filter(|_| managed) {
        what.push_str(&format!(", requested by {requester}"));
    }
    if let Some(d) = description {
        what.push_str(&format!(", description '{d}'"));
    }
    User::new(what, false, unattached && managed)
}
