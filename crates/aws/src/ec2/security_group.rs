//! `aws:ec2:SecurityGroup`: a security group whose rules are separate
//! `aws:ec2:SecurityGroupRule` resources.
//!
//! The group name is the declared `name` plus a suffix drawn from the creation token, as
//! Terraform's `name_prefix` does: group names are unique per VPC, and a unique name lets
//! a replacement be created before the old group is deleted. The egress rule AWS adds to
//! every new group is revoked at creation, so that the declared rules are all the rules.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, LiveResource, Provider,
    ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{default_tags, id_filters, retry_dependency, DELETE_DEPENDENCY_DEADLINE};
use crate::props::{props, str_of};
use crate::{classify, tags};

pub const TYPE: &str = "aws:ec2:SecurityGroup";

/// Length of the suffix appended to a group's declared name, plus its dash.
const SUFFIX_LEN: usize = 9;

/// Arguments of a security group.
#[derive(Clone, Debug)]
pub struct SecurityGroupArgs {
    /// The group name's prefix; AWS group names are unique per VPC.
    pub name: String,
    pub description: String,
    pub vpc_id: Input<String>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for SecurityGroupArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:CreateSecurityGroup",
        "ec2:DescribeSecurityGroups",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("description", self.description.into()),
            ("vpc_id", self.vpc_id.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

pub struct SecurityGroup {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl SecurityGroup {
    pub fn new(ec2: aws_sdk_ec2::Client) -> SecurityGroup {
        SecurityGroup {
            ec2,
            schema: Schema::new(TYPE, &["name", "description", "vpc_id"]),
        }
    }
}

fn outputs(id: &str, group_name: &str) -> Properties {
    props([("id", id.into()), ("group_name", group_name.into())])
}

/// The declared name of a group created as `<name>-<8 hex>`.
fn declared_name(group_name: &str) -> &str {
    let n = group_name.len();
    let has_suffix = n > SUFFIX_LEN
        && group_name.as_bytes()[n - SUFFIX_LEN] == b'-'
        && group_name[n - SUFFIX_LEN + 1..].bytes().all(|b| b.is_ascii_hexdigit());
    if has_suffix {
        &group_name[..n - SUFFIX_LEN]
    } else {
        group_name
    }
}

#[async_trait]
impl Provider for SecurityGroup {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        for key in ["name", "description"] {
            let ok = inputs
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty() && s.len() <= 255 - SUFFIX_LEN && s.is_ascii());
            if !ok {
                failures.push(CheckFailure {
                    property: key.into(),
                    reason: format!("must be 1 to {} ASCII characters", 255 - SUFFIX_LEN),
                });
            }
        }
        if inputs
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.starts_with("sg-"))
        {
            failures.push(CheckFailure {
                property: "name".into(),
                reason: "AWS reserves names starting with 'sg-'".into(),
            });
        }
        default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let suffix: String = req
            .token
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(SUFFIX_LEN - 1)
            .collect();
        let group_name = format!("{}-{suffix}", str_of(&req.inputs, "name")?);
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .ec2
            .create_security_group()
            .group_name(&group_name)
            .description(str_of(&req.inputs, "description")?)
            .vpc_id(str_of(&req.inputs, "vpc_id")?)
            .tag_specifications(tags::ec2_spec(ResourceType::SecurityGroup, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateSecurityGroup", e))?;
        let id = out
            .group_id()
            .ok_or_else(|| ProviderError::invalid("CreateSecurityGroup returned no group id"))?
            .to_string();
        let allow_all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        match self
            .ec2
            .revoke_security_group_egress()
            .group_id(&id)
            .ip_permissions(allow_all)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) => {
                let e = classify("RevokeSecurityGroupEgress", e);
                if e.kind != stackup_provider::ErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
        Ok(CreateResponse {
            outputs: outputs(&id, &group_name),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = crate::common::urns_by_id(&req.targets);
        let mut found = Vec::new();
        for filter in id_filters("group-id", urns.keys().cloned()) {
            let groups = self
                .ec2
                .describe_security_groups()
                .filters(filter)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("DescribeSecurityGroups", e))?;
            for g in groups {
                let Some((id, urn)) = g.group_id().and_then(|id| urns.get_key_value(id)) else {
                    continue;
                };
                let group_name = g.group_name().unwrap_or_default();
                found.push(LiveResource {
                    urn: urn.clone(),
                    id: id.clone(),
                    inputs: props([
                        ("name", declared_name(group_name).into()),
                        ("description", g.description().unwrap_or_default().into()),
                        ("vpc_id", g.vpc_id().unwrap_or_default().into()),
                        ("tags", tags::live_ec2(g.tags())),
                    ]),
                    outputs: outputs(id, group_name),
                });
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "tags") {
            tags::sync_ec2(
                &self.ec2,
                &req.id,
                &req.stack,
                &req.urn,
                &req.old_inputs,
                &req.new_inputs,
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        retry_dependency(
            &format!("security group {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || async {
                self.ec2
                    .delete_security_group()
                    .group_id(&req.id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("DeleteSecurityGroup", e))
            },
        )
        .await
    }
}
