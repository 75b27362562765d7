//! `aws:ec2:SecurityGroupRule`: one ingress or egress rule of a security group, from a
//! CIDR block or from another security group. Description and tags are updated in place;
//! any other change replaces the rule, creating the new one first (it differs, so it is
//! no duplicate).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, SecurityGroupRule as AwsRule, UserIdGroupPair};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{checked, describe_each, done, id_filters, update_tags, Picked, Wanted};
use crate::common::ok_if_gone;
use crate::props::{check_cidr, int_of, opt_str, props, str_of};
use crate::{classify, tags};

pub const TYPE: &str = "aws:ec2:SecurityGroupRule";

/// Where a rule's traffic comes from (ingress) or goes to (egress).
#[derive(Clone, Debug)]
pub enum RuleSource {
    Cidr(String),
    SecurityGroup(Input<String>),
}

/// Arguments of a security group rule. `protocol` is `tcp`, `udp`, `icmp` or `-1` (all).
#[derive(Clone, Debug)]
pub struct SecurityGroupRuleArgs {
    pub security_group_id: Input<String>,
    pub egress: bool,
    pub protocol: String,
    pub from_port: i64,
    pub to_port: i64,
    pub source: RuleSource,
    pub description: String,
    pub tags: BTreeMap<String, String>,
}

impl SecurityGroupRuleArgs {
    /// A rule for one TCP port: in from `source` (ingress) or out to it (egress).
    pub fn tcp(
        security_group_id: Input<String>,
        egress: bool,
        port: i64,
        source: RuleSource,
        description: &str,
        tags: BTreeMap<String, String>,
    ) -> SecurityGroupRuleArgs {
        SecurityGroupRuleArgs {
            security_group_id,
            egress,
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            source,
            description: description.into(),
            tags,
        }
    }
}

impl ResourceArgs for SecurityGroupRuleArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeSecurityGroups",
        "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
        "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        let mut p = props([
            ("security_group_id", self.security_group_id.into()),
            ("type", if self.egress { "egress" } else { "ingress" }.into()),
            ("protocol", self.protocol.into()),
            ("from_port", self.from_port.into()),
            ("to_port", self.to_port.into()),
            ("description", self.description.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ]);
        match self.source {
            RuleSource::Cidr(c) => p.insert("cidr_ipv4".into(), c.into()),
            RuleSource::SecurityGroup(g) => p.insert("source_security_group_id".into(), g.into()),
        };
        p
    }
}

pub struct SecurityGroupRule {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl SecurityGroupRule {
    pub fn new(ec2: aws_sdk_ec2::Client) -> SecurityGroupRule {
        SecurityGroupRule {
            ec2,
            schema: Schema::new(
                TYPE,
                &[
                    "security_group_id",
                    "type",
                    "protocol",
                    "from_port",
                    "to_port",
                    "cidr_ipv4",
                    "source_security_group_id",
                ],
            ),
        }
    }

    fn permission(inputs: &Properties) -> Result<IpPermission, ProviderError> {
        let mut p = IpPermission::builder().ip_protocol(str_of(inputs, "protocol")?);
        if str_of(inputs, "protocol")? != "-1" {
            p = p
                .from_port(port(inputs, "from_port")?)
                .to_port(port(inputs, "to_port")?);
        }
        let description = opt_str(inputs, "description");
        if let Some(cidr) = opt_str(inputs, "cidr_ipv4") {
            p = p.ip_ranges(
                IpRange::builder()
                    .cidr_ip(cidr)
                    .set_description(description.map(Into::into))
                    .build(),
            );
        } else {
            p = p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(str_of(inputs, "source_security_group_id")?)
                    .set_description(description.map(Into::into))
                    .build(),
            );
        }
        Ok(p.build())
    }

    /// Finds a rule created by an earlier attempt from its `stackup:urn` tag, for when
    /// the authorize response does not carry the rule id.
    async fn rule_id_by_urn(&self, group_id: &str, urn: &str) -> Result<Option<String>, ProviderError> {
        let rules: Vec<AwsRule> = paginated!(
            self.ec2
                .describe_security_group_rules()
                .filters(Filter::builder().name("group-id").values(group_id).build())
                .filters(
                    Filter::builder()
                        .name(format!("tag:{}", stackup_model::URN_TAG))
                        .values(urn)
                        .build()
                ),
            "DescribeSecurityGroupRules"
        )?;
        Ok(rules
            .first()
            .and_then(|r| r.security_group_rule_id())
            .map(str::to_string))
    }
}

impl SecurityGroupRule {
    /// moto's DescribeSecurityGroupRules omits the description of rules that reference
    /// another group, while DescribeSecurityGroups keeps it. One batched call recovers
    /// them, only when some are missing.
    async fn fill_group_pair_descriptions(&self, rules: &mut [AwsRule]) -> Result<(), ProviderError> {
        let missing: BTreeSet<String> = rules
            .iter()
            .filter(|r| r.referenced_group_info().is_some() && r.description().is_none_or(str::is_empty))
            .filter_map(|r| r.group_id().map(str::to_string))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut descriptions = BTreeMap::new();
        let groups = describe_each(id_filters("group-id", missing), |filter| async move {
            paginated!(
                self.ec2.describe_security_groups().filters(filter),
                "DescribeSecurityGroups"
            )
        })
        .await?;
        for g in &groups {
            let group = g.group_id().unwrap_or_default();
            for (egress, perms) in [(false, g.ip_permissions()), (true, g.ip_permissions_egress())] {
                for p in perms {
                    for pair in p.user_id_group_pairs() {
                        let key = (
                            group.to_string(),
                            egress,
                            p.ip_protocol().unwrap_or_default().to_string(),
                            p.from_port(),
                            p.to_port(),
                            pair.group_id().unwrap_or_default().to_string(),
                        );
                        descriptions.insert(key, pair.description().unwrap_or_default().to_string());
                    }
                }
            }
        }
        for r in rules.iter_mut() {
            let Some(referenced) = r.referenced_group_info().and_then(|g| g.group_id()) else {
                continue;
            };
            if r.description().is_some_and(|d| !d.is_empty()) {
                continue;
            }
            let key = (
                r.group_id().unwrap_or_default().to_string(),
                r.is_egress().unwrap_or(false),
                r.ip_protocol().unwrap_or_default().to_string(),
                r.from_port(),
                r.to_port(),
                referenced.to_string(),
            );
            if let Some(d) = descriptions.get(&key) {
                r.description = Some(d.clone());
            }
        }
        Ok(())
    }

    /// The rules a read or list wants, as live resources. A read asks by group: rules
    /// are listed per group, so one filtered call covers every group's rules.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let mut rules = describe_rules(&self.ec2, wanted.parent_filters("group-id", "security_group_id")).await?;
        self.fill_group_pair_descriptions(&mut rules).await?;
        Ok(wanted
            .pick_all(&rules, AwsRule::security_group_rule_id, AwsRule::tags)
            .into_iter()
            .map(|(picked, rule)| resource(picked, rule))
            .collect())
    }
}

/// The rules matching any of `filters`, one paginated DescribeSecurityGroupRules per
/// filter.
pub(super) async fn describe_rules(
    ec2: &aws_sdk_ec2::Client,
    filters: Vec<Filter>,
) -> Result<Vec<AwsRule>, ProviderError> {
    describe_each(filters, |filter| async move {
        paginated!(
            ec2.describe_security_group_rules().filters(filter),
            "DescribeSecurityGroupRules"
        )
    })
    .await
}

/// A live rule as stackup reports it.
fn resource(picked: Picked<'_>, r: &AwsRule) -> LiveResource {
    let protocol = normalise_protocol(r.ip_protocol().unwrap_or("-1")).unwrap_or("-1");
    let mut inputs = props([
        ("security_group_id", r.group_id().unwrap_or_default().into()),
        (
            "type",
            if r.is_egress().unwrap_or(false) {
                "egress"
            } else {
                "ingress"
            }
            .into(),
        ),
        ("protocol", protocol.into()),
        ("from_port", i64::from(r.from_port().unwrap_or(-1)).into()),
        ("to_port", i64::from(r.to_port().unwrap_or(-1)).into()),
        ("description", r.description().unwrap_or_default().into()),
        ("tags", tags::live_ec2(r.tags())),
    ]);
    if let Some(cidr) = r.cidr_ipv4() {
        inputs.insert("cidr_ipv4".into(), cidr.into());
    }
    if let Some(g) = r.referenced_group_info().and_then(|g| g.group_id()) {
        inputs.insert("source_security_group_id".into(), g.into());
    }
    LiveResource {
        urn: picked.urn,
        outputs: props([("id", picked.id.as_str().into())]),
        id: picked.id,
        inputs,
    }
}

fn port(inputs: &Properties, key: &str) -> Result<i32, ProviderError> {
    int_of(inputs, key)
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| ProviderError::invalid(format!("input '{key}' must be a port number")))
}

/// The protocol as the API reports it.
pub(super) fn normalise_protocol(p: &str) -> Option<&'static str> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Some("tcp"),
        "udp" | "17" => Some("udp"),
        "icmp" | "1" => Some("icmp"),
        "-1" | "all" => Some("-1"),
        _ => None,
    }
}

fn is_egress(inputs: &Properties) -> bool {
    inputs.get("type").and_then(Value::as_str) == Some("egress")
}

#[async_trait]
impl Provider for SecurityGroupRule {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        let mut fail = |property: &str, reason: &str| {
            failures.push(CheckFailure {
                property: property.into(),
                reason: reason.into(),
            })
        };
        match inputs.get("type").and_then(Value::as_str) {
            Some("ingress" | "egress") => {}
            _ => fail("type", "must be \"ingress\" or \"egress\""),
        }
        let protocol = inputs
            .get("protocol")
            .and_then(Value::as_str)
            .and_then(normalise_protocol);
        match protocol {
            Some("-1") => {
                // All traffic: AWS reports the ports as -1 whatever was sent.
                inputs.insert("from_port".into(), Value::Int(-1));
                inputs.insert("to_port".into(), Value::Int(-1));
            }
            Some(_) => {
                let from = int_of(&inputs, "from_port");
                let to = int_of(&inputs, "to_port");
                match (from, to) {
                    (Some(f), Some(t)) if (-1..=65535).contains(&f) && (-1..=65535).contains(&t) && f <= t => {}
                    _ => fail("from_port", "ports must be 0-65535 with from_port <= to_port"),
                }
            }
            None => fail("protocol", "must be tcp, udp, icmp or -1 (all)"),
        }
        if let Some(p) = protocol {
            inputs.insert("protocol".into(), p.into());
        }
        let has_cidr = inputs.contains_key("cidr_ipv4");
        let has_group = inputs.contains_key("source_security_group_id");
        if has_cidr == has_group {
            fail(
                "cidr_ipv4",
                "exactly one of cidr_ipv4 and source_security_group_id must be set",
            );
        }
        check_cidr(&mut inputs, "cidr_ipv4", &mut failures);
        inputs
            .entry("description".into())
            .or_insert(Value::String(String::new()));
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let group_id = str_of(&req.inputs, "security_group_id")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let spec = tags::ec2_spec(ResourceType::SecurityGroupRule, &tags);
        let permission = Self::permission(&req.inputs)?;
        let rules = if is_egress(&req.inputs) {
            self.ec2
                .authorize_security_group_egress()
                .group_id(group_id)
                .ip_permissions(permission)
                .tag_specifications(spec)
                .send()
                .await
                .map_err(|e| classify("AuthorizeSecurityGroupEgress", e))?
                .security_group_rules
        } else {
            self.ec2
                .authorize_security_group_ingress()
                .group_id(group_id)
                .ip_permissions(permission)
                .tag_specifications(spec)
                .send()
                .await
                .map_err(|e| classify("AuthorizeSecurityGroupIngress", e))?
                .security_group_rules
        };
        let id = match rules
            .unwrap_or_default()
            .first()
            .and_then(|r| r.security_group_rule_id())
        {
            Some(id) => id.to_string(),
            None => self
                .rule_id_by_urn(group_id, req.urn.as_str())
                .await?
                .ok_or_else(|| ProviderError::invalid("the new rule's id could not be read back"))?,
        };
        Ok(CreateResponse {
            outputs: props([("id", id.as_str().into())]),
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
        if req.changed.iter().any(|c| c == "description") {
            // UpdateSecurityGroupRuleDescriptions* keeps the rule's id, where
            // ModifySecurityGroupRules does not everywhere (moto re-creates the rule).
            let n = &req.new_inputs;
            let group_id = str_of(n, "security_group_id")?;
            let permission = Self::permission(n)?;
            if is_egress(n) {
                let call = self
                    .ec2
                    .update_security_group_rule_descriptions_egress()
                    .group_id(group_id)
                    .ip_permissions(permission)
                    .send();
                done("UpdateSecurityGroupRuleDescriptionsEgress", call).await?;
            } else {
                let call = self
                    .ec2
                    .update_security_group_rule_descriptions_ingress()
                    .group_id(group_id)
                    .ip_permissions(permission)
                    .send();
                done("UpdateSecurityGroupRuleDescriptionsIngress", call).await?;
            }
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let group_id = str_of(&req.inputs, "security_group_id")?;
        let ids = [req.id.clone()];
        // The rule or its whole group may already be gone.
        ok_if_gone(revoke(&self.ec2, group_id, is_egress(&req.inputs), &ids).await)
    }
}

/// Revokes the rules `ids` of `group_id`, all ingress or all egress (AWS has one call
/// for each direction).
pub(super) async fn revoke(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
    egress: bool,
    ids: &[String],
) -> Result<(), ProviderError> {
    if egress {
        let call = ec2
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(ids.to_vec()))
            .send();
        done("RevokeSecurityGroupEgress", call).await
    } else {
        let call = ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(ids.to_vec()))
            .send();
        done("RevokeSecurityGroupIngress", call).await
    }
}
