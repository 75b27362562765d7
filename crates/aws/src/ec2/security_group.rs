//! `aws:ec2:SecurityGroup`: a security group whose rules are separate
//! `aws:ec2:SecurityGroupRule` resources.
//!
//! The group name is the declared `name` plus a suffix drawn from the creation token, as
//! Terraform's `name_prefix` does: group names are unique per VPC, and a unique name lets
//! a replacement be created before the old group is deleted. The egress rule AWS adds to
//! every new group is revoked at creation, so that the declared rules are all the rules.
//!
//! Rules added outside stackup are drift of the group: every rule stackup creates carries
//! a `stackup:urn` tag from its creation, so the input `unmanaged_rules` lists the
//! group's rules without one (always desired empty), and an update revokes them.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, ResourceType, SecurityGroup as AwsGroup, SecurityGroupRule as AwsRule,
};
use stackup_model::{Input, Properties, ResourceArgs, Value, URN_TAG};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::dependents::{delete_when_released, preflight, Dependents};
use super::security_group_rule::{describe_rules, normalise_protocol, revoke};
use super::{
    checked, declared_name, describe_each, done, id_filters, suffixed_name, tag_value, update_tags, Picked, Wanted,
    DELETE_DEPENDENCY_DEADLINE, NAME_SUFFIX_LEN,
};
use crate::common::changed;
use crate::props::{props, str_of};
use crate::{classify, tags};

pub const TYPE: &str = "aws:ec2:SecurityGroup";

/// How long a new group's default egress rule may take to be visible and revocable.
const NEW_GROUP_DEADLINE: Duration = Duration::from_secs(60);

/// The input listing the group's rules that stackup did not create.
const UNMANAGED_RULES: &str = "unmanaged_rules";

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
    const IAM_ACTIONS: &'static [&'static str] = with_dependents_iam_actions![
        "ec2:CreateSecurityGroup",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:RevokeSecurityGroupIngress",
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
    dependents: Dependents,
    schema: Schema,
}

impl SecurityGroup {
    pub(crate) fn new(ec2: aws_sdk_ec2::Client, dependents: Dependents) -> SecurityGroup {
        SecurityGroup {
            ec2,
            dependents,
            schema: Schema::new(TYPE, &["name", "description", "vpc_id"]),
        }
    }

    /// The groups a read or list wants, as live resources.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let groups = describe_each(wanted.filters("group-id"), |filter| async move {
            paginated!(
                self.ec2.describe_security_groups().filters(filter),
                "DescribeSecurityGroups"
            )
        })
        .await?;
        let picked = wanted.pick_all(&groups, AwsGroup::group_id, AwsGroup::tags);
        let mut unmanaged: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for rule in self.unmanaged_rules(picked.iter().map(|(p, _)| p.id.clone())).await? {
            if let Some(group) = rule.group_id() {
                unmanaged
                    .entry(group.to_string())
                    .or_default()
                    .push(rule_summary(&rule));
            }
        }
        Ok(picked
            .into_iter()
            .map(|(p, group)| {
                let rules = unmanaged.remove(&p.id).unwrap_or_default();
                resource(p, group, rules)
            })
            .collect())
    }

    /// The rules of `groups` that stackup did not create, in one batched Describe.
    async fn unmanaged_rules(&self, groups: impl IntoIterator<Item = String>) -> Result<Vec<AwsRule>, ProviderError> {
        let rules = describe_rules(&self.ec2, id_filters("group-id", groups)).await?;
        Ok(rules
            .into_iter()
            .filter(|r| tag_value(r.tags(), URN_TAG).is_none())
            .collect())
    }

    /// Revokes every rule of group `id` that stackup did not create, as found now (not
    /// as read earlier), so that a rule added since is reverted too.
    async fn revoke_unmanaged(&self, id: &str) -> Result<(), ProviderError> {
        let (egress, ingress): (Vec<AwsRule>, Vec<AwsRule>) = self
            .unmanaged_rules([id.to_string()])
            .await?
            .into_iter()
            .partition(|r| r.is_egress().unwrap_or(false));
        for (is_egress, rules) in [(false, ingress), (true, egress)] {
            let ids: Vec<String> = rules
                .iter()
                .filter_map(|r| r.security_group_rule_id().map(str::to_string))
                .collect();
            if !ids.is_empty() {
                revoke(&self.ec2, id, is_egress, &ids).await?;
            }
        }
        Ok(())
    }
}

fn outputs(id: &str, group_name: &str) -> Properties {
    props([("id", id.into()), ("group_name", group_name.into())])
}

/// A rule stackup did not create, as a short string that stays the same as long as
/// the rule does ("ingress tcp 22-22 from 0.0.0.0/0", "egress -1 from sg-123"): what it
/// lets through, without its id or description.
pub(super) fn rule_summary(r: &AwsRule) -> String {
    let direction = if r.is_egress().unwrap_or(false) {
        "egress"
    } else {
        "ingress"
    };
    let raw = r.ip_protocol().unwrap_or("-1");
    let protocol = normalise_protocol(raw).unwrap_or(raw);
    // All traffic has no ports (AWS reports -1 for both).
    let ports = if protocol == "-1" {
        String::new()
    } else {
        format!(" {}-{}", r.from_port().unwrap_or(-1), r.to_port().unwrap_or(-1))
    };
    let peer = r
        .cidr_ipv4()
        .or(r.cidr_ipv6())
        .or(r.referenced_group_info().and_then(|g| g.group_id()))
        .or(r.prefix_list_id())
        .unwrap_or("unknown");
    format!("{direction} {protocol}{ports} from {peer}")
}

/// A live group as stackup reports it, with the summaries of its rules that stackup did
/// not create.
fn resource(picked: Picked<'_>, g: &AwsGroup, mut unmanaged_rules: Vec<String>) -> LiveResource {
    unmanaged_rules.sort();
    let group_name = g.group_name().unwrap_or_default();
    LiveResource {
        urn: picked.urn,
        inputs: props([
            ("name", declared_name(group_name).into()),
            ("description", g.description().unwrap_or_default().into()),
            ("vpc_id", g.vpc_id().unwrap_or_default().into()),
            (UNMANAGED_RULES, unmanaged_rules.into()),
            ("tags", tags::live_ec2(g.tags())),
        ]),
        outputs: outputs(&picked.id, group_name),
        id: picked.id,
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
                .is_some_and(|s| !s.is_empty() && s.len() <= 255 - NAME_SUFFIX_LEN && s.is_ascii());
            if !ok {
                failures.push(CheckFailure {
                    property: key.into(),
                    reason: format!("must be 1 to {} ASCII characters", 255 - NAME_SUFFIX_LEN),
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
        // Not an argument: a program cannot declare rules outside stackup.
        inputs.insert(UNMANAGED_RULES.into(), Value::List(Vec::new()));
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let group_name = suffixed_name(str_of(&req.inputs, "name")?, &req.token);
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
        // From here the group exists: if its default egress cannot be removed, it is
        // recorded tainted rather than left open to the world.
        self.revoke_default_egress(&id).await.map_err(|e| e.created(&id))?;
        Ok(CreateResponse {
            outputs: outputs(&id, &group_name),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        Ok(ReadResponse {
            found: self.found(&Wanted::read(&req.targets)).await?,
        })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        Ok(Some(ListResponse {
            found: self.found(&Wanted::list(&req, TYPE)).await?,
        }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if changed(&req.changed, UNMANAGED_RULES) {
            self.revoke_unmanaged(&req.id).await?;
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let vpc = crate::props::opt_str(&req.inputs, "vpc_id");
        delete_when_released(
            &format!("security group {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || {
                done(
                    "DeleteSecurityGroup",
                    self.ec2.delete_security_group().group_id(&req.id).send(),
                )
            },
            || async {
                self.dependents.release_lingering("group-id", &req.id).await?;
                self.dependents.of_group(req.urn.stack(), &req.id, vpc).await
            },
        )
        .await
    }

    /// Network interfaces the stack does not own that the group guards, and rules of
    /// groups outside the stack that reference it, keep AWS from deleting it.
    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let vpc = crate::props::opt_str(&req.inputs, "vpc_id");
        let users = self.dependents.of_group(req.urn.stack(), &req.id, vpc).await?;
        preflight(&format!("security group {}", req.id), &users)
    }
}

impl SecurityGroup {
    /// Removes the allow-all egress rule AWS gives every new group, so that the
    /// declared rules are all the rules, and checks that it is gone. Right after
    /// CreateSecurityGroup the group or its default rule may not be visible yet
    /// (`InvalidGroup.NotFound`, `InvalidPermission.NotFound`): a not-found answer is
    /// believed only once DescribeSecurityGroupRules, too, shows no such rule.
    async fn revoke_default_egress(&self, id: &str) -> Result<(), ProviderError> {
        let started = tokio::time::Instant::now();
        loop {
            let allow_all = IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build();
            let revoked = self
                .ec2
                .revoke_security_group_egress()
                .group_id(id)
                .ip_permissions(allow_all)
                .send();
            let outcome = done("RevokeSecurityGroupEgress", revoked).await;
            let refusal = match outcome {
                Ok(()) => None,
                Err(e) if e.kind == ErrorKind::NotFound => Some(e),
                Err(e) => return Err(e),
            };
            match self.has_default_egress(id).await {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(e) if e.kind != ErrorKind::NotFound && !e.kind.is_retryable() => return Err(e),
                Err(_) => {}
            }
            let waited = started.elapsed();
            if waited >= NEW_GROUP_DEADLINE {
                return Err(ProviderError::new(
                    ErrorKind::Transient,
                    format!(
                        "security group {id} still allows all egress after {}s of revoking its default rule{}",
                        waited.as_secs(),
                        refusal.map(|e| format!(" ({e})")).unwrap_or_default()
                    ),
                ));
            }
            stackup_provider::progress::report(format!(
                "security group {id}: its default egress rule is not revoked yet ({}s)",
                waited.as_secs()
            ));
            stackup_provider::wait::pause(Duration::from_secs(1)).await;
        }
    }

    /// Whether the group still has AWS's default allow-all IPv4 egress rule.
    async fn has_default_egress(&self, id: &str) -> Result<bool, ProviderError> {
        let rules = describe_rules(&self.ec2, id_filters("group-id", [id.to_string()])).await?;
        Ok(rules.iter().any(|r| {
            r.is_egress() == Some(true) && r.ip_protocol() == Some("-1") && r.cidr_ipv4() == Some("0.0.0.0/0")
        }))
    }
}
