//! `aws:ec2:NetworkAcl`: a network ACL with its entries and the subnets it guards.
//!
//! Entries and subnet associations are part of the resource, as in Terraform's
//! `aws_network_acl`: every subnet always has exactly one ACL, so "associating" is
//! moving a subnet from its current ACL to this one, and "disassociating" is moving it
//! back to the VPC's default ACL. AWS's implicit deny entries (rule 32767) are not
//! managed and never reported.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, NetworkAcl as AwsAcl, NetworkAclEntry as AwsEntry, PortRange, ResourceType, RuleAction,
};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::{
    checked, describe_each, done, retry_dependency, update_tags, Picked, Wanted, CLIENT_TOKEN_MAX,
    DELETE_DEPENDENCY_DEADLINE,
};
use crate::common::{client_token, ok_if_gone};
use crate::props::{int_of, is_known, list_of, normalise_cidr, props, str_of, strings_of};
use crate::{classify, tags};

pub const TYPE: &str = "aws:ec2:NetworkAcl";

/// The first rule number AWS reserves for its implicit deny-all entry.
const IMPLICIT_RULE: i64 = 32767;

/// One entry of a network ACL. `protocol` is `tcp`, `udp`, `icmp` or `-1` (all).
#[derive(Clone, Debug)]
pub struct NetworkAclEntry {
    pub rule_number: i64,
    pub protocol: String,
    pub allow: bool,
    pub cidr_block: String,
    pub from_port: i64,
    pub to_port: i64,
}

impl From<NetworkAclEntry> for Value {
    fn from(e: NetworkAclEntry) -> Value {
        Value::Map(props([
            ("rule_number", e.rule_number.into()),
            ("protocol", e.protocol.into()),
            ("rule_action", if e.allow { "allow" } else { "deny" }.into()),
            ("cidr_block", e.cidr_block.into()),
            ("from_port", e.from_port.into()),
            ("to_port", e.to_port.into()),
        ]))
    }
}

/// Arguments of a network ACL.
#[derive(Clone, Debug)]
pub struct NetworkAclArgs {
    pub vpc_id: Input<String>,
    pub subnet_ids: Vec<Input<String>>,
    pub ingress: Vec<NetworkAclEntry>,
    pub egress: Vec<NetworkAclEntry>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for NetworkAclArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:CreateNetworkAcl",
        "ec2:DescribeNetworkAcls",
        "ec2:CreateNetworkAclEntry",
        "ec2:ReplaceNetworkAclEntry",
        "ec2:DeleteNetworkAclEntry",
        "ec2:ReplaceNetworkAclAssociation",
        "ec2:DeleteNetworkAcl",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("vpc_id", self.vpc_id.into()),
            (
                "subnet_ids",
                Value::List(self.subnet_ids.into_iter().map(Into::into).collect()),
            ),
            (
                "ingress",
                Value::List(self.ingress.into_iter().map(Into::into).collect()),
            ),
            ("egress", Value::List(self.egress.into_iter().map(Into::into).collect())),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

pub struct NetworkAcl {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

/// The protocol number AWS reports for a protocol name.
fn protocol_number(p: &str) -> Option<&'static str> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Some("6"),
        "udp" | "17" => Some("17"),
        "icmp" | "1" => Some("1"),
        "-1" | "all" => Some("-1"),
        _ => None,
    }
}

/// Normalises one entry; the error names what is wrong with it.
fn normalise_entry(v: &Value) -> Result<Value, String> {
    let m = v.as_map().ok_or("an entry must be a table")?;
    let rule = int_of(m, "rule_number").filter(|n| (1..IMPLICIT_RULE).contains(n));
    let rule = rule.ok_or(format!("rule_number must be 1 to {}", IMPLICIT_RULE - 1))?;
    let protocol = m
        .get("protocol")
        .and_then(Value::as_str)
        .and_then(protocol_number)
        .ok_or(format!("rule {rule}: protocol must be tcp, udp, icmp or -1"))?;
    let action = match m.get("rule_action").and_then(Value::as_str) {
        Some("allow") => "allow",
        Some("deny") => "deny",
        _ => return Err(format!("rule {rule}: rule_action must be allow or deny")),
    };
    let cidr = m
        .get("cidr_block")
        .and_then(Value::as_str)
        .ok_or(format!("rule {rule}: cidr_block is required"))
        .and_then(|c| normalise_cidr(c).map_err(|e| format!("rule {rule}: {e}")))?;
    let mut out = props([
        ("rule_number", rule.into()),
        ("protocol", protocol.into()),
        ("rule_action", action.into()),
        ("cidr_block", cidr.into()),
    ]);
    // Ports mean nothing for "all traffic"; AWS does not report them.
    if protocol != "-1" {
        let from = int_of(m, "from_port").unwrap_or(0);
        let to = int_of(m, "to_port").unwrap_or(0);
        if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
            return Err(format!("rule {rule}: ports must be 0-65535 with from_port <= to_port"));
        }
        out.insert("from_port".into(), from.into());
        out.insert("to_port".into(), to.into());
    }
    Ok(Value::Map(out))
}

fn entries_by_rule(inputs: &Properties, key: &str) -> BTreeMap<i64, Properties> {
    list_of(inputs, key)
        .iter()
        .filter_map(Value::as_map)
        .filter_map(|m| Some((int_of(m, "rule_number")?, m.clone())))
        .collect()
}

fn live_entry(e: &AwsEntry) -> Option<(bool, Value)> {
    let rule = i64::from(e.rule_number()?);
    if rule >= IMPLICIT_RULE {
        return None;
    }
    let protocol = protocol_number(e.protocol().unwrap_or("-1")).unwrap_or("-1");
    let mut m = props([
        ("rule_number", rule.into()),
        ("protocol", protocol.into()),
        (
            "rule_action",
            e.rule_action().map(|a| a.as_str()).unwrap_or("allow").into(),
        ),
        (
            "cidr_block",
            e.cidr_block()
                .map(|c| normalise_cidr(c).unwrap_or_else(|_| c.to_string()))
                .unwrap_or_default()
                .into(),
        ),
    ]);
    if protocol != "-1" {
        let range = e.port_range();
        m.insert(
            "from_port".into(),
            i64::from(range.and_then(|r| r.from()).unwrap_or(0)).into(),
        );
        m.insert(
            "to_port".into(),
            i64::from(range.and_then(|r| r.to()).unwrap_or(0)).into(),
        );
    }
    Some((e.egress().unwrap_or(false), Value::Map(m)))
}

/// A live ACL as stackup reports it.
fn resource(picked: Picked<'_>, acl: &AwsAcl) -> LiveResource {
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    for (is_egress, e) in acl.entries().iter().filter_map(live_entry) {
        if is_egress {
            egress.push(e);
        } else {
            ingress.push(e);
        }
    }
    let rule_of = |v: &Value| v.as_map().and_then(|m| int_of(m, "rule_number")).unwrap_or(0);
    ingress.sort_by_key(rule_of);
    egress.sort_by_key(rule_of);
    let mut subnets: Vec<String> = acl
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    LiveResource {
        urn: picked.urn,
        inputs: props([
            ("vpc_id", acl.vpc_id().unwrap_or_default().into()),
            ("subnet_ids", subnets.into()),
            ("ingress", Value::List(ingress)),
            ("egress", Value::List(egress)),
            ("tags", tags::live_ec2(acl.tags())),
        ]),
        outputs: props([("id", picked.id.as_str().into())]),
        id: picked.id,
    }
}

impl NetworkAcl {
    pub fn new(ec2: aws_sdk_ec2::Client) -> NetworkAcl {
        NetworkAcl {
            ec2,
            schema: Schema::new(TYPE, &["vpc_id"]),
        }
    }

    async fn put_entry(&self, acl: &str, egress: bool, e: &Properties, replace: bool) -> Result<(), ProviderError> {
        let rule = int_of(e, "rule_number")
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| ProviderError::invalid("entry without rule_number"))?;
        let action = RuleAction::from(str_of(e, "rule_action")?);
        let range = match (int_of(e, "from_port"), int_of(e, "to_port")) {
            (Some(f), Some(t)) => Some(
                PortRange::builder()
                    .from(i32::try_from(f).unwrap_or(0))
                    .to(i32::try_from(t).unwrap_or(0))
                    .build(),
            ),
            _ => None,
        };
        let (protocol, cidr) = (str_of(e, "protocol")?, str_of(e, "cidr_block")?);
        if replace {
            self.ec2
                .replace_network_acl_entry()
                .network_acl_id(acl)
                .rule_number(rule)
                .egress(egress)
                .protocol(protocol)
                .rule_action(action)
                .cidr_block(cidr)
                .set_port_range(range)
                .send()
                .await
                .map_err(|e| classify("ReplaceNetworkAclEntry", e))?;
        } else {
            self.ec2
                .create_network_acl_entry()
                .network_acl_id(acl)
                .rule_number(rule)
                .egress(egress)
                .protocol(protocol)
                .rule_action(action)
                .cidr_block(cidr)
                .set_port_range(range)
                .send()
                .await
                .map_err(|e| classify("CreateNetworkAclEntry", e))?;
        }
        Ok(())
    }

    /// Brings one direction's entries from `old` to `new`, by rule number.
    async fn sync_entries(
        &self,
        acl: &str,
        key: &str,
        old: &Properties,
        new: &Properties,
    ) -> Result<(), ProviderError> {
        let egress = key == "egress";
        let (old, new) = (entries_by_rule(old, key), entries_by_rule(new, key));
        for rule in old.keys().filter(|rule| !new.contains_key(*rule)) {
            let deleted = self
                .ec2
                .delete_network_acl_entry()
                .network_acl_id(acl)
                .rule_number(i32::try_from(*rule).unwrap_or(0))
                .egress(egress)
                .send();
            ok_if_gone(done("DeleteNetworkAclEntry", deleted).await)?;
        }
        for (rule, entry) in &new {
            match old.get(rule) {
                Some(o) if o == entry => {}
                Some(_) => self.put_entry(acl, egress, entry, true).await?,
                None => self.put_entry(acl, egress, entry, false).await?,
            }
        }
        Ok(())
    }

    /// Moves `subnets` to the ACL `to` (this one, or the VPC's default).
    async fn move_subnets(&self, subnets: &[String], to: &str) -> Result<(), ProviderError> {
        if subnets.is_empty() {
            return Ok(());
        }
        let acls: Vec<AwsAcl> = paginated!(
            self.ec2.describe_network_acls().filters(
                Filter::builder()
                    .name("association.subnet-id")
                    .set_values(Some(subnets.to_vec()))
                    .build()
            ),
            "DescribeNetworkAcls"
        )?;
        for assoc in acls.iter().flat_map(|a| a.associations()) {
            let (Some(subnet), Some(assoc_id)) = (assoc.subnet_id(), assoc.network_acl_association_id()) else {
                continue;
            };
            if !subnets.iter().any(|s| s == subnet) || assoc.network_acl_id() == Some(to) {
                continue;
            }
            self.ec2
                .replace_network_acl_association()
                .association_id(assoc_id)
                .network_acl_id(to)
                .send()
                .await
                .map_err(|e| classify("ReplaceNetworkAclAssociation", e))?;
        }
        Ok(())
    }

    async fn default_acl(&self, vpc_id: &str) -> Result<String, ProviderError> {
        let acls = self
            .ec2
            .describe_network_acls()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
            .filters(Filter::builder().name("default").values("true").build())
            .send()
            .await
            .map_err(|e| classify("DescribeNetworkAcls", e))?;
        acls.network_acls()
            .iter()
            .find_map(|a| a.network_acl_id())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("VPC {vpc_id} has no default network ACL")))
    }

    /// The ACLs a read or list wants, as live resources. A read asks by VPC: moto
    /// answers 500 to the network-acl-id filter, and the VPC filter is one call for
    /// every ACL of the stack's VPCs all the same.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let acls = describe_each(wanted.parent_filters("vpc-id", "vpc_id"), |filter| async move {
            paginated!(self.ec2.describe_network_acls().filters(filter), "DescribeNetworkAcls")
        })
        .await?;
        Ok(wanted
            .pick_all(&acls, AwsAcl::network_acl_id, AwsAcl::tags)
            .into_iter()
            .map(|(picked, acl)| resource(picked, acl))
            .collect())
    }
}

#[async_trait]
impl Provider for NetworkAcl {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        for key in ["ingress", "egress"] {
            let mut entries = Vec::new();
            let mut seen = BTreeSet::new();
            for e in list_of(&inputs, key) {
                match normalise_entry(e) {
                    Ok(v) => {
                        let rule = v.as_map().and_then(|m| int_of(m, "rule_number")).unwrap_or(0);
                        if !seen.insert(rule) {
                            failures.push(CheckFailure {
                                property: key.into(),
                                reason: format!("rule number {rule} is used twice"),
                            });
                        }
                        entries.push(v);
                    }
                    Err(reason) => failures.push(CheckFailure {
                        property: key.into(),
                        reason,
                    }),
                }
            }
            entries.sort_by_key(|v| v.as_map().and_then(|m| int_of(m, "rule_number")).unwrap_or(0));
            inputs.insert(key.into(), Value::List(entries));
        }
        let subnets = list_of(&inputs, "subnet_ids").to_vec();
        if subnets.iter().all(is_known) {
            let mut sorted: Vec<Value> = subnets;
            sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            sorted.dedup();
            inputs.insert("subnet_ids".into(), Value::List(sorted));
        }
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .ec2
            .create_network_acl()
            .vpc_id(str_of(&req.inputs, "vpc_id")?)
            .client_token(client_token(&req.token, CLIENT_TOKEN_MAX))
            .tag_specifications(tags::ec2_spec(ResourceType::NetworkAcl, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateNetworkAcl", e))?;
        let id = out
            .network_acl()
            .and_then(|a| a.network_acl_id())
            .ok_or_else(|| ProviderError::invalid("CreateNetworkAcl returned no id"))?
            .to_string();
        let empty = Properties::new();
        self.sync_entries(&id, "ingress", &empty, &req.inputs).await?;
        self.sync_entries(&id, "egress", &empty, &req.inputs).await?;
        self.move_subnets(&strings_of(&req.inputs, "subnet_ids"), &id).await?;
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
        let changed = |k: &str| req.changed.iter().any(|c| c == k);
        for key in ["ingress", "egress"] {
            if changed(key) {
                self.sync_entries(&req.id, key, &req.old_inputs, &req.new_inputs)
                    .await?;
            }
        }
        if changed("subnet_ids") {
            let old: BTreeSet<String> = strings_of(&req.old_inputs, "subnet_ids").into_iter().collect();
            let new: BTreeSet<String> = strings_of(&req.new_inputs, "subnet_ids").into_iter().collect();
            let added: Vec<String> = new.difference(&old).cloned().collect();
            let removed: Vec<String> = old.difference(&new).cloned().collect();
            self.move_subnets(&added, &req.id).await?;
            if !removed.is_empty() {
                let default = self.default_acl(str_of(&req.new_inputs, "vpc_id")?).await?;
                self.move_subnets(&removed, &default).await?;
            }
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // Subnets go back to the default ACL first: AWS refuses to delete an ACL that
        // still guards a subnet.
        let vpc = str_of(&req.inputs, "vpc_id")?;
        let acls = self
            .ec2
            .describe_network_acls()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .send()
            .await
            .map_err(|e| classify("DescribeNetworkAcls", e))?;
        let Some(acl) = acls
            .network_acls()
            .iter()
            .find(|a| a.network_acl_id() == Some(req.id.as_str()))
        else {
            return Ok(());
        };
        let subnets: Vec<String> = acl
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect();
        if !subnets.is_empty() {
            let default = self.default_acl(vpc).await?;
            self.move_subnets(&subnets, &default).await?;
        }
        retry_dependency(&format!("network ACL {}", req.id), DELETE_DEPENDENCY_DEADLINE, || {
            done(
                "DeleteNetworkAcl",
                self.ec2.delete_network_acl().network_acl_id(&req.id).send(),
            )
        })
        .await
    }
}
