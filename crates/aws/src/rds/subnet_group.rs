//! `aws:rds:DbSubnetGroup`: the subnets a DB instance may be placed in.
//!
//! The group is created as `<name>-<8 hex of the creation token>` (lowercase, as RDS
//! stores names) so that a replacement can exist beside the group it replaces.
//! Description and subnets change in place with ModifyDBSubnetGroup, as
//! terraform-provider-aws does: AWS refuses to move a DB instance to another subnet
//! group of the same VPC, so a replaced group would leave the instance behind on the old
//! one and the group's delete refused. (moto drops the group on ModifyDBSubnetGroup; the
//! test double, `profiles/aws.toml`'s `moto_workarounds`, puts it back.)

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbSubnetGroup as LiveGroup, Tag};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{listed_urn, rds_error, rds_tags, recorded_arn, sync_tags, tagged_for};
use crate::common::{failure, name_arn_outputs, sort_ids};
use crate::ec2::retry_dependency;
use crate::props::{list_of, props, str_of, strings_of};
use crate::tags;

/// The type token of a DB subnet group.
pub const TYPE: &str = "aws:rds:DbSubnetGroup";

/// Length of the suffix appended to a group's declared name, plus its dash.
const SUFFIX_LEN: usize = 9;

/// The longest DB subnet group name RDS accepts.
const NAME_MAX: usize = 255;

/// How long a delete waits for the instances leaving the group to release it.
const DELETE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Arguments of a DB subnet group.
#[derive(Clone, Debug)]
pub struct DbSubnetGroupArgs {
    /// The group name's prefix; the real name carries a suffix (output `name`).
    pub name: String,
    pub description: String,
    /// Subnets in at least two availability zones.
    pub subnet_ids: Vec<Input<String>>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for DbSubnetGroupArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:CreateDBSubnetGroup",
        "rds:DescribeDBSubnetGroups",
        "rds:ModifyDBSubnetGroup",
        "rds:DeleteDBSubnetGroup",
        "rds:ListTagsForResource",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("description", self.description.into()),
            (
                "subnet_ids",
                Value::List(self.subnet_ids.into_iter().map(Into::into).collect()),
            ),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:rds:DbSubnetGroup`.
pub struct DbSubnetGroup {
    rds: aws_sdk_rds::Client,
    tagging: crate::tagging::StackIndex,
    schema: Schema,
}

impl DbSubnetGroup {
    /// A provider calling RDS through `rds`; the search for the stack's groups goes
    /// through `tagging`.
    pub fn new(rds: aws_sdk_rds::Client, tagging: crate::tagging::StackIndex) -> DbSubnetGroup {
        DbSubnetGroup {
            rds,
            tagging,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// The group named `name`, if it exists.
    async fn describe(&self, name: &str) -> Result<Option<LiveGroup>, ProviderError> {
        let out = crate::common::found(
            self.rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(name)
                .send()
                .await
                .map_err(|e| rds_error("DescribeDBSubnetGroups", e)),
        )?;
        Ok(out.and_then(|o| o.db_subnet_groups().first().cloned()))
    }

    /// The group's tags, which the describe answer leaves out. ListTagsForResource has no
    /// batch form.
    async fn live_tags(&self, arn: &str) -> Result<Vec<Tag>, ProviderError> {
        let out = self
            .rds
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| rds_error("ListTagsForResource", e))?;
        Ok(out.tag_list().to_vec())
    }
}

/// A live group as a live resource: what read and list report.
fn live(urn: Urn, id: &str, g: &LiveGroup, tags: &[Tag]) -> LiveResource {
    let mut subnets: Vec<String> = g
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .map(str::to_string)
        .collect();
    subnets.sort();
    subnets.dedup();
    LiveResource {
        urn,
        id: id.to_string(),
        inputs: props([
            ("name", declared_name(id).into()),
            (
                "description",
                g.db_subnet_group_description().unwrap_or_default().into(),
            ),
            ("subnet_ids", subnets.into()),
            ("tags", super::live_tags(tags)),
        ]),
        outputs: name_arn_outputs(id, g.db_subnet_group_arn().unwrap_or_default()),
    }
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
impl Provider for DbSubnetGroup {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        match inputs.get("name").and_then(Value::as_str) {
            Some(name) => {
                // RDS stores subnet group names in lowercase.
                let name = name.to_ascii_lowercase();
                let valid_chars = name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b' '));
                if name.is_empty() || name.len() > NAME_MAX - SUFFIX_LEN || !valid_chars {
                    failures.push(failure(
                        "name",
                        format!(
                            "must be 1 to {} letters, digits, periods, underscores, spaces or hyphens",
                            NAME_MAX - SUFFIX_LEN
                        ),
                    ));
                }
                inputs.insert("name".into(), Value::String(name));
            }
            None => failures.push(failure("name", "must be a string")),
        }
        let description_ok = inputs
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty() && d.len() <= 255);
        if !description_ok {
            failures.push(failure("description", "must be 1 to 255 characters"));
        }
        sort_ids(&mut inputs, "subnet_ids");
        if list_of(&inputs, "subnet_ids").len() < 2 {
            failures.push(failure(
                "subnet_ids",
                "RDS needs at least two subnets, in different availability zones",
            ));
        }
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let suffix: String = req
            .token
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(SUFFIX_LEN - 1)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!("{}-{suffix}", str_of(&req.inputs, "name")?.to_ascii_lowercase());
        // moto (unlike AWS) accepts a second CreateDBSubnetGroup with the same name and
        // overwrites the first: look first, and adopt only what this resource created.
        if let Some(existing) = self.describe(&name).await? {
            let arn = existing.db_subnet_group_arn().unwrap_or_default().to_string();
            if tagged_for(&self.live_tags(&arn).await?, &req.urn) {
                return Ok(CreateResponse {
                    outputs: name_arn_outputs(&name, &arn),
                    id: name,
                });
            }
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "DB subnet group {name} already exists and was not created for {}",
                    req.urn
                ),
            ));
        }
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(str_of(&req.inputs, "description")?)
            .set_subnet_ids(Some(strings_of(&req.inputs, "subnet_ids")))
            .set_tags(Some(rds_tags(&tags)))
            .send()
            .await
            .map_err(|e| rds_error("CreateDBSubnetGroup", e))?;
        let arn = out
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_arn())
            .ok_or_else(|| ProviderError::invalid("CreateDBSubnetGroup returned no ARN"))?
            .to_string();
        Ok(CreateResponse {
            outputs: name_arn_outputs(&name, &arn),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        // By name, one group at a time: DescribeDBSubnetGroups takes one name or none
        // (its filters are not supported), and a stack has a group or two, where the
        // account may have hundreds.
        let mut found = Vec::new();
        for t in &req.targets {
            let Some(g) = self.describe(&t.id).await? else {
                continue;
            };
            // None: deleted between the two calls.
            if let Some(tags) = crate::common::found(self.live_tags(g.db_subnet_group_arn().unwrap_or_default()).await)?
            {
                found.push(live(t.urn.clone(), &t.id, &g, &tags));
            }
        }
        Ok(ReadResponse { found })
    }

    /// The stack's groups, found with the Resource Groups Tagging API: RDS has no tag
    /// filter, DescribeDBSubnetGroups leaves tags out and ListTagsForResource has no
    /// batch form, so listing the account's groups would cost a call per group in the
    /// account. Each group found is then read by name (one call per group of the
    /// stack).
    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        let mut found = Vec::new();
        for tagged in self.tagging.objects(&req.stack, "rds:subgrp").await? {
            // arn:aws:rds:<region>:<account>:subgrp:<name>
            let Some(name) = tagged.arn.rsplit(':').next() else {
                continue;
            };
            let tags = rds_tags(&tagged.tags);
            let Some(urn) = req.urn_of(name, || listed_urn(&req.stack, TYPE, name, &tags)) else {
                continue;
            };
            // None: deleted since the Tagging API saw it.
            if let Some(g) = self.describe(name).await? {
                found.push(live(urn, name, &g, &tags));
            }
        }
        if found.is_empty() {
            // Nothing through the Tagging API, which not every endpoint covers for subnet
            // groups (moto does not): every group of the account, and its tags. A group
            // missed here would be created again by a run whose state was lost.
            let groups = self
                .rds
                .describe_db_subnet_groups()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| rds_error("DescribeDBSubnetGroups", e))?;
            for g in groups {
                let (Some(name), Some(arn)) = (g.db_subnet_group_name(), g.db_subnet_group_arn()) else {
                    continue;
                };
                let tags = self.live_tags(arn).await?;
                if let Some(urn) = req.urn_of(name, || listed_urn(&req.stack, TYPE, name, &tags)) {
                    found.push(live(urn, name, &g, &tags));
                }
            }
        }
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let changed = |key: &str| crate::common::changed(&req.changed, key);
        if changed("description") || changed("subnet_ids") {
            // The call takes the whole subnet list, and the description along with it.
            self.rds
                .modify_db_subnet_group()
                .db_subnet_group_name(&req.id)
                .db_subnet_group_description(str_of(&req.new_inputs, "description")?)
                .set_subnet_ids(Some(strings_of(&req.new_inputs, "subnet_ids")))
                .send()
                .await
                .map_err(|e| rds_error("ModifyDBSubnetGroup", e))?;
        }
        if changed("tags") {
            let arn = recorded_arn(&req.old_outputs, &req.id)?;
            sync_tags(&self.rds, arn, &req.stack, &req.urn, &req.old_inputs, &req.new_inputs).await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // A group still used by an instance that is being deleted is refused with
        // InvalidDBSubnetGroupStateFault until the instance is gone.
        retry_dependency(&format!("DB subnet group {}", req.id), DELETE_DEADLINE, || async {
            match self
                .rds
                .delete_db_subnet_group()
                .db_subnet_group_name(&req.id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let mut e = rds_error("DeleteDBSubnetGroup", e);
                    if e.code.as_deref() == Some("InvalidDBSubnetGroupStateFault") {
                        e.kind = ErrorKind::DependencyViolation;
                    }
                    Err(e)
                }
            }
        })
        .await
    }
}
