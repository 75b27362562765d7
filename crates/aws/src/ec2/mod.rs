//! EC2 and VPC networking providers.

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

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use stackup_model::{Properties, Value};
use stackup_provider::{ErrorKind, Provider, ProviderError};

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

use crate::AwsClients;

/// Every EC2 provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let ec2 = clients.ec2.clone();
    vec![
        Arc::new(Vpc::new(ec2.clone())),
        Arc::new(Subnet::new(ec2.clone())),
        Arc::new(InternetGateway::new(ec2.clone())),
        Arc::new(InternetGatewayAttachment::new(ec2.clone())),
        Arc::new(Eip::new(ec2.clone())),
        Arc::new(NatGateway::new(ec2.clone())),
        Arc::new(RouteTable::new(ec2.clone())),
        Arc::new(RouteTableAssociation::new(ec2.clone())),
        Arc::new(NetworkAcl::new(ec2.clone())),
        Arc::new(SecurityGroup::new(ec2.clone())),
        Arc::new(SecurityGroupRule::new(ec2.clone())),
        Arc::new(LaunchTemplate::new(ec2.clone())),
        Arc::new(Instance::new(ec2.clone())),
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
pub(crate) async fn retry_dependency<F, Fut>(
    what: &str,
    deadline: Duration,
    mut attempt: F,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        match attempt().await {
            Err(e) if e.kind == ErrorKind::DependencyViolation && started.elapsed() < deadline => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) if e.kind == ErrorKind::DependencyViolation => {
                return Err(ProviderError {
                    message: format!("{what} is still in use after {}s: {}", deadline.as_secs(), e.message),
                    ..e
                })
            }
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            other => return other,
        }
    }
}

/// How long a delete waits for AWS to release what still holds an object.
pub(crate) const DELETE_DEPENDENCY_DEADLINE: Duration = Duration::from_secs(120);

/// Inserts the user tags into `inputs` if the program set none, so that a resource
/// declared without tags compares equal to its live empty tag set.
pub(crate) fn default_tags(inputs: &mut Properties) {
    inputs
        .entry("tags".to_string())
        .or_insert_with(|| Value::Map(BTreeMap::new()));
}
