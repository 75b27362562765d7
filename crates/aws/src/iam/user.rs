//! `aws:iam:User`: an IAM user; its permissions are `aws:iam:UserPolicy` resources.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::types::{Tag, User as LiveUser};
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    adopt, check_name, classify_iam, delete_retrying, iam_tags, list_entities, live_tags, read_entities,
    sync_entity_tags, update_entity_tags, wait_exists, Entity, WithTags,
};
use crate::common::{found, name_arn_outputs};
use crate::props::{props, str_of};
use crate::tags;

/// The type token of a user.
pub const TYPE: &str = "aws:iam:User";

/// Arguments of a user.
#[derive(Clone, Debug)]
pub struct UserArgs {
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for UserArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "iam:CreateUser",
        "iam:GetUser",
        "iam:TagUser",
        "iam:UntagUser",
        "iam:DeleteUser",
        "iam:ListUserPolicies",
        "iam:DeleteUserPolicy",
        "iam:ListAttachedUserPolicies",
        "iam:DetachUserPolicy",
        "iam:ListAccessKeys",
        "iam:DeleteAccessKey",
        "iam:DeleteLoginProfile",
        "iam:ListGroupsForUser",
        "iam:RemoveUserFromGroup",
    ];
    fn into_properties(self) -> Properties {
        props([("name", self.name.into()), ("tags", Value::from_string_map(&self.tags))])
    }
}

/// The `aws:iam:User` provider.
pub struct User {
    iam: aws_sdk_iam::Client,
    schema: Schema,
}

impl User {
    /// Removes what keeps IAM from deleting user `name`: inline and attached policies,
    /// access keys (the user is going, and its keys with it), console password and
    /// group memberships. A user already gone has none.
    async fn let_go(&self, name: &str) -> Result<(), ProviderError> {
        let iam = &self.iam;
        let inline = iam
            .list_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListUserPolicies", e));
        for policy in found(inline)?.unwrap_or_default() {
            let r = iam
                .delete_user_policy()
                .user_name(name)
                .policy_name(&policy)
                .send()
                .await;
            crate::common::ok_if_gone(r.map(|_| ()).map_err(|e| classify_iam("DeleteUserPolicy", e)))?;
        }
        let attached = iam
            .list_attached_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListAttachedUserPolicies", e));
        for policy in found(attached)?.unwrap_or_default() {
            let Some(arn) = policy.policy_arn() else { continue };
            let r = iam.detach_user_policy().user_name(name).policy_arn(arn).send().await;
            crate::common::ok_if_gone(r.map(|_| ()).map_err(|e| classify_iam("DetachUserPolicy", e)))?;
        }
        let keys = iam
            .list_access_keys()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListAccessKeys", e));
        for key in found(keys)?.unwrap_or_default() {
            let Some(id) = key.access_key_id() else { continue };
            let r = iam.delete_access_key().user_name(name).access_key_id(id).send().await;
            crate::common::ok_if_gone(r.map(|_| ()).map_err(|e| classify_iam("DeleteAccessKey", e)))?;
        }
        // NoSuchEntity when the user has no console password: nothing to remove.
        let r = iam.delete_login_profile().user_name(name).send().await;
        crate::common::ok_if_gone(r.map(|_| ()).map_err(|e| classify_iam("DeleteLoginProfile", e)))?;
        let groups = iam
            .list_groups_for_user()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListGroupsForUser", e));
        for group in found(groups)?.unwrap_or_default() {
            let r = iam
                .remove_user_from_group()
                .group_name(group.group_name())
                .user_name(name)
                .send()
                .await;
            crate::common::ok_if_gone(r.map(|_| ()).map_err(|e| classify_iam("RemoveUserFromGroup", e)))?;
        }
        Ok(())
    }

    /// A provider calling IAM through `iam`.
    pub fn new(iam: aws_sdk_iam::Client) -> User {
        User {
            iam,
            schema: Schema::new(TYPE, &["name"]),
        }
    }
}

impl Entity for User {
    const TYPE: &'static str = TYPE;
    type Live = LiveUser;

    fn name(live: &LiveUser) -> &str {
        live.user_name()
    }

    fn tags(live: &LiveUser) -> &[Tag] {
        live.tags()
    }

    async fn get(&self, name: &str) -> Result<Option<LiveUser>, ProviderError> {
        let out = found(
            self.iam
                .get_user()
                .user_name(name)
                .send()
                .await
                .map_err(|e| classify_iam("GetUser", e)),
        )?;
        Ok(out.and_then(|o| o.user))
    }

    fn path(live: &LiveUser) -> &str {
        live.path()
    }

    async fn list_all(&self, path_prefix: &str) -> Result<Vec<LiveUser>, ProviderError> {
        self.iam
            .list_users()
            .path_prefix(path_prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListUsers", e))
    }

    async fn with_tags(&self, listed: LiveUser) -> Result<WithTags<LiveUser>, ProviderError> {
        let tags = self
            .iam
            .list_user_tags()
            .user_name(listed.user_name())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_iam("ListUserTags", e));
        Ok(found(tags)?.map(|tags| (listed, tags)))
    }

    async fn untag(&self, name: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        self.iam
            .untag_user()
            .user_name(name)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map_err(|e| classify_iam("UntagUser", e))?;
        Ok(())
    }

    async fn tag(&self, name: &str, tags: Vec<Tag>) -> Result<(), ProviderError> {
        self.iam
            .tag_user()
            .user_name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify_iam("TagUser", e))?;
        Ok(())
    }

    fn live(urn: Urn, id: &str, user: &LiveUser, tags: &[Tag]) -> Result<LiveResource, ProviderError> {
        Ok(LiveResource {
            urn,
            id: id.to_string(),
            inputs: props([("name", user.user_name().into()), ("tags", live_tags(tags))]),
            outputs: name_arn_outputs(user.user_name(), user.arn()),
        })
    }
}

#[async_trait]
impl Provider for User {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, "name", 64, &mut failures);
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let created = self
            .iam
            .create_user()
            .user_name(&name)
            .path(super::stack_path(&req.stack))
            .set_tags(Some(iam_tags(&tags)?))
            .send()
            .await
            .map_err(|e| classify_iam("CreateUser", e));
        let arn = match created {
            Ok(out) => out.user().map(|u| u.arn().to_string()).unwrap_or_default(),
            // IAM has no idempotency token: a user an interrupted run created carries
            // our URN tag, and is taken over.
            Err(e) if e.kind == ErrorKind::Conflict => {
                let live = adopt(self, &name, e, "user", &req.urn).await?;
                let old = live_tags(live.tags()).string_map();
                sync_entity_tags(self, &name, &req.stack, &req.urn, &old, &req.inputs).await?;
                live.arn().to_string()
            }
            Err(e) => return Err(e),
        };
        wait_exists(self, "user", &name).await?;
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
        update_entity_tags(self, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // The graph deletes the user's inline policies first; a sweep (no state; policies
        // carry no tags) relies on this instead.
        self.let_go(&req.id).await?;
        delete_retrying(&format!("user {}", req.id), || async {
            self.iam
                .delete_user()
                .user_name(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DeleteUser", e))
        })
        .await
    }
}
