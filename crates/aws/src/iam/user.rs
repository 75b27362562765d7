//! `aws:iam:User`: an IAM user; its permissions are `aws:iam:UserPolicy` resources.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::client::Waiters;
use aws_sdk_iam::types::{Tag, User as LiveUser};
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    adopt, check_name, classify_iam, delete_retrying, iam_tags, list_entities, live_tags, read_entities,
    sync_entity_tags, update_entity_tags, wait_error, Entity, WithTags, EXISTS_DEADLINE,
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

    async fn list_all(&self) -> Result<Vec<LiveUser>, ProviderError> {
        self.iam
            .list_users()
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
        self.iam
            .wait_until_user_exists()
            .user_name(&name)
            .wait(EXISTS_DEADLINE)
            .await
            .map_err(|e| wait_error("user", &name, e))?;
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

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        update_entity_tags(self, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // The graph deletes the user's inline policies first.
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
