//! `aws:iam:Role`: a role one AWS service (e.g. "ec2.amazonaws.com") may assume; its
//! permissions are `aws:iam:RolePolicy` resources.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::types::{Role as LiveRole, Tag};
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::{
    adopt, check_name, classify_iam, delete_retrying, iam_tags, list_entities, live_tags, read_entities,
    sync_entity_tags, trust_document, trust_service, update_entity_tags, wait_exists, Entity, WithTags,
};
use crate::common::{found, name_arn_outputs};
use crate::props::{props, str_of};
use crate::tags;

/// The type token of a role.
pub const TYPE: &str = "aws:iam:Role";

/// Arguments of a role.
#[derive(Clone, Debug)]
pub struct RoleArgs {
    pub name: String,
    /// The service principal trusted to assume the role, e.g. "ec2.amazonaws.com".
    pub assume_role_service: String,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for RoleArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "iam:CreateRole",
        "iam:GetRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:DeleteRole",
        "iam:ListRolePolicies",
        "iam:DeleteRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:DetachRolePolicy",
        "iam:ListInstanceProfilesForRole",
        "iam:RemoveRoleFromInstanceProfile",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("name", self.name.into()),
            ("assume_role_service", self.assume_role_service.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The `aws:iam:Role` provider.
pub struct Role {
    iam: aws_sdk_iam::Client,
    schema: Schema,
}

impl Role {
    /// A provider calling IAM through `iam`.
    pub fn new(iam: aws_sdk_iam::Client) -> Role {
        Role {
            iam,
            schema: Schema::new(TYPE, &["name"]),
        }
    }

    /// Removes what keeps IAM from deleting role `name`: its inline policies, attached
    /// managed policies and instance profile memberships. A role already gone has none.
    async fn let_go(&self, name: &str) -> Result<(), ProviderError> {
        let inline = self
            .iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListRolePolicies", e));
        for policy in found(inline)?.unwrap_or_default() {
            let deleted = self
                .iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DeleteRolePolicy", e));
            crate::common::ok_if_gone(deleted)?;
        }
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListAttachedRolePolicies", e));
        for policy in found(attached)?.unwrap_or_default() {
            let Some(arn) = policy.policy_arn() else { continue };
            let detached = self
                .iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DetachRolePolicy", e));
            crate::common::ok_if_gone(detached)?;
        }
        let profiles = self
            .iam
            .list_instance_profiles_for_role()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListInstanceProfilesForRole", e));
        for profile in found(profiles)?.unwrap_or_default() {
            let removed = self
                .iam
                .remove_role_from_instance_profile()
                .instance_profile_name(profile.instance_profile_name())
                .role_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("RemoveRoleFromInstanceProfile", e));
            crate::common::ok_if_gone(removed)?;
        }
        Ok(())
    }

    async fn set_trust(&self, name: &str, inputs: &Properties) -> Result<(), ProviderError> {
        self.iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust_document(str_of(inputs, "assume_role_service")?))
            .send()
            .await
            .map_err(|e| classify_iam("UpdateAssumeRolePolicy", e))?;
        Ok(())
    }
}

impl Entity for Role {
    const TYPE: &'static str = TYPE;
    type Live = LiveRole;

    fn name(live: &LiveRole) -> &str {
        live.role_name()
    }

    fn tags(live: &LiveRole) -> &[Tag] {
        live.tags()
    }

    async fn get(&self, name: &str) -> Result<Option<LiveRole>, ProviderError> {
        let out = found(
            self.iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| classify_iam("GetRole", e)),
        )?;
        Ok(out.and_then(|o| o.role))
    }

    fn path(live: &LiveRole) -> &str {
        live.path()
    }

    async fn list_all(&self, path_prefix: &str) -> Result<Vec<LiveRole>, ProviderError> {
        self.iam
            .list_roles()
            .path_prefix(path_prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListRoles", e))
    }

    async fn with_tags(&self, listed: LiveRole) -> Result<WithTags<LiveRole>, ProviderError> {
        let tags = self
            .iam
            .list_role_tags()
            .role_name(listed.role_name())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListRoleTags", e));
        Ok(found(tags)?.map(|tags| (listed, tags)))
    }

    async fn untag(&self, name: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        self.iam
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map_err(|e| classify_iam("UntagRole", e))?;
        Ok(())
    }

    async fn tag(&self, name: &str, tags: Vec<Tag>) -> Result<(), ProviderError> {
        self.iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify_iam("TagRole", e))?;
        Ok(())
    }

    fn live(urn: Urn, id: &str, role: &LiveRole, tags: &[Tag]) -> Result<LiveResource, ProviderError> {
        let service = match role.assume_role_policy_document() {
            Some(doc) => trust_service(doc)?,
            None => Value::Null,
        };
        Ok(LiveResource {
            urn,
            id: id.to_string(),
            inputs: props([
                ("name", role.role_name().into()),
                ("assume_role_service", service),
                ("tags", live_tags(tags)),
            ]),
            outputs: name_arn_outputs(role.role_name(), role.arn()),
        })
    }
}

#[async_trait]
impl Provider for Role {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, "name", 64, &mut failures);
        let service_ok = inputs
            .get("assume_role_service")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains('.') && !s.contains(char::is_whitespace));
        if !service_ok {
            failures.push(CheckFailure {
                property: "assume_role_service".into(),
                reason: "must be a service principal such as \"ec2.amazonaws.com\"".into(),
            });
        }
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let created = self
            .iam
            .create_role()
            .role_name(&name)
            .path(super::stack_path(&req.stack))
            .assume_role_policy_document(trust_document(str_of(&req.inputs, "assume_role_service")?))
            .set_tags(Some(iam_tags(&tags)?))
            .send()
            .await
            .map_err(|e| classify_iam("CreateRole", e));
        let arn = match created {
            Ok(out) => out.role().map(|r| r.arn().to_string()).unwrap_or_default(),
            // IAM has no idempotency token: a role an interrupted run created carries
            // our URN tag, and is taken over and brought to the declared state.
            Err(e) if e.kind == ErrorKind::Conflict => {
                let live = adopt(self, &name, e, "role", &req.urn).await?;
                self.set_trust(&name, &req.inputs).await?;
                let old = live_tags(live.tags()).string_map();
                sync_entity_tags(self, &name, &req.stack, &req.urn, &old, &req.inputs).await?;
                live.arn().to_string()
            }
            Err(e) => return Err(e),
        };
        wait_exists(self, "role", &name).await?;
        Ok(CreateResponse {
            outputs: name_arn_outputs(&name, &arn),
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
        if crate::common::changed(&req.changed, "assume_role_service") {
            self.set_trust(&req.id, &req.new_inputs).await?;
        }
        update_entity_tags(self, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // The graph deletes the role's inline policies and instance profiles first; a
        // sweep (no state; policies carry no tags) relies on this instead.
        self.let_go(&req.id).await?;
        delete_retrying(&format!("role {}", req.id), || async {
            self.iam
                .delete_role()
                .role_name(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DeleteRole", e))
        })
        .await
    }
}
