//! `aws:iam:InstanceProfile`: the instance profile through which EC2 instances
//! (launch templates) take a role.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::types::{InstanceProfile as LiveProfile, Tag};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    adopt, check_name, classify_iam, iam_tags, list_entities, live_tags, read_entities, sync_entity_tags,
    update_entity_tags, wait_exists, Entity, WithTags,
};
use crate::common::name_arn_outputs;
use crate::props::{props, str_of};
use crate::tags;

/// The type token of an instance profile.
pub const TYPE: &str = "aws:iam:InstanceProfile";

/// Arguments of an instance profile.
#[derive(Clone, Debug)]
pub struct InstanceProfileArgs {
    pub name: String,
    /// The role instances launched with the profile take.
    pub role_name: Input<String>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for InstanceProfileArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "iam:CreateInstanceProfile",
        "iam:GetInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:TagInstanceProfile",
        "iam:UntagInstanceProfile",
        "iam:DeleteInstanceProfile",
        // Adding a role to a profile passes the role.
        "iam:PassRole",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("role_name", self.role_name.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The `aws:iam:InstanceProfile` provider.
pub struct InstanceProfile {
    iam: aws_sdk_iam::Client,
    schema: Schema,
}

impl InstanceProfile {
    /// A provider calling IAM through `iam`.
    pub fn new(iam: aws_sdk_iam::Client) -> InstanceProfile {
        InstanceProfile {
            iam,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// Makes `role` (or no role) the profile's only role. A profile holds at most one
    /// role, so any other is removed before the declared one is added.
    async fn set_role(&self, name: &str, live: &LiveProfile, role: Option<&str>) -> Result<(), ProviderError> {
        for r in live.roles() {
            if Some(r.role_name()) == role {
                continue;
            }
            crate::common::ok_if_gone(
                self.iam
                    .remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(r.role_name())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify_iam("RemoveRoleFromInstanceProfile", e)),
            )?;
        }
        if let Some(role) = role.filter(|r| !live.roles().iter().any(|l| l.role_name() == *r)) {
            self.iam
                .add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(role)
                .send()
                .await
                .map_err(|e| classify_iam("AddRoleToInstanceProfile", e))?;
        }
        Ok(())
    }

    async fn get_existing(&self, name: &str) -> Result<LiveProfile, ProviderError> {
        self.get(name)
            .await?
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("instance profile {name} is gone")))
    }
}

impl Entity for InstanceProfile {
    const TYPE: &'static str = TYPE;
    type Live = LiveProfile;

    fn name(live: &LiveProfile) -> &str {
        live.instance_profile_name()
    }

    fn tags(live: &LiveProfile) -> &[Tag] {
        live.tags()
    }

    async fn get(&self, name: &str) -> Result<Option<LiveProfile>, ProviderError> {
        let out = crate::common::found(
            self.iam
                .get_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .map_err(|e| classify_iam("GetInstanceProfile", e)),
        )?;
        Ok(out.and_then(|o| o.instance_profile))
    }

    fn path(live: &LiveProfile) -> &str {
        live.path()
    }

    async fn list_all(&self, path_prefix: &str) -> Result<Vec<LiveProfile>, ProviderError> {
        self.iam
            .list_instance_profiles()
            .path_prefix(path_prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListInstanceProfiles", e))
    }

    /// The profile read again with GetInstanceProfile, as read reads it: moto answers
    /// ListInstanceProfileTags with a 500.
    async fn with_tags(&self, listed: LiveProfile) -> Result<WithTags<LiveProfile>, ProviderError> {
        let full = self.get(listed.instance_profile_name()).await?;
        Ok(full.map(|p| {
            let tags = p.tags().to_vec();
            (p, tags)
        }))
    }

    async fn untag(&self, name: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        self.iam
            .untag_instance_profile()
            .instance_profile_name(name)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map_err(|e| classify_iam("UntagInstanceProfile", e))?;
        Ok(())
    }

    async fn tag(&self, name: &str, tags: Vec<Tag>) -> Result<(), ProviderError> {
        self.iam
            .tag_instance_profile()
            .instance_profile_name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify_iam("TagInstanceProfile", e))?;
        Ok(())
    }

    fn live(urn: Urn, id: &str, p: &LiveProfile, tags: &[Tag]) -> Result<LiveResource, ProviderError> {
        // A profile holds at most one role; none reads as null.
        let role = p.roles().first().map_or(Value::Null, |r| r.role_name().into());
        Ok(LiveResource {
            urn,
            id: id.to_string(),
            inputs: props([
                ("name", p.instance_profile_name().into()),
                ("role_name", role),
                ("tags", live_tags(tags)),
            ]),
            outputs: name_arn_outputs(p.instance_profile_name(), p.arn()),
        })
    }
}

#[async_trait]
impl Provider for InstanceProfile {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, "name", 128, &mut failures);
        check_name(&inputs, "role_name", 64, &mut failures);
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        let role = str_of(&req.inputs, "role_name")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let created = self
            .iam
            .create_instance_profile()
            .instance_profile_name(&name)
            .path(super::stack_path(&req.stack))
            .set_tags(Some(iam_tags(&tags)?))
            .send()
            .await
            .map_err(|e| classify_iam("CreateInstanceProfile", e));
        let live = match created {
            Ok(out) => out
                .instance_profile
                .ok_or_else(|| ProviderError::invalid("CreateInstanceProfile returned no instance profile"))?,
            // IAM has no idempotency token: a profile an interrupted run created carries
            // our URN tag, and is taken over and brought to the declared state.
            Err(e) if e.kind == ErrorKind::Conflict => {
                let live = adopt(self, &name, e, "instance profile", &req.urn).await?;
                let old = live_tags(live.tags()).string_map();
                sync_entity_tags(self, &name, &req.stack, &req.urn, &old, &req.inputs).await?;
                live
            }
            Err(e) => return Err(e),
        };
        self.set_role(&name, &live, Some(role)).await?;
        wait_exists(self, "instance profile", &name).await?;
        Ok(CreateResponse {
            outputs: name_arn_outputs(&name, live.arn()),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        read_entities(self, req).await
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        list_entities(self, req).await
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "role_name") {
            // From the live roles rather than the recorded one, which may be stale.
            let live = self.get_existing(&req.id).await?;
            self.set_role(&req.id, &live, Some(str_of(&req.new_inputs, "role_name")?))
                .await?;
        }
        update_entity_tags(self, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some(live) = self.get(&req.id).await? else {
            return Ok(());
        };
        // A profile holding a role cannot be deleted: remove the role first.
        self.set_role(&req.id, &live, None).await?;
        crate::common::ok_if_gone(
            self.iam
                .delete_instance_profile()
                .instance_profile_name(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DeleteInstanceProfile", e)),
        )
    }
}
