//! `aws:iam:User`: an IAM user; its permissions are `aws:iam:UserPolicy` resources.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::client::Waiters;
use aws_sdk_iam::types::User as LiveUser;
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource, Provider,
    ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    check_name, classify_iam, default_tags, delete_retrying, iam_tags, live_tags, name_taken, owned_by, tag_changes,
    EXISTS_DEADLINE,
};
use crate::props::{props, str_of};
use crate::tags;

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

    /// The live user, or None when it does not exist.
    async fn get(&self, name: &str) -> Result<Option<LiveUser>, ProviderError> {
        match self.iam.get_user().user_name(name).send().await {
            Ok(out) => Ok(out.user),
            Err(e) => match classify_iam("GetUser", e) {
                e if e.kind == ErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn sync_tags(
        &self,
        name: &str,
        stack: &str,
        urn: &Urn,
        old: &BTreeMap<String, String>,
        new: &Properties,
    ) -> Result<(), ProviderError> {
        let (set, removed) = tag_changes(stack, urn, old, new);
        if !removed.is_empty() {
            self.iam
                .untag_user()
                .user_name(name)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| classify_iam("UntagUser", e))?;
        }
        self.iam
            .tag_user()
            .user_name(name)
            .set_tags(Some(iam_tags(&set)?))
            .send()
            .await
            .map_err(|e| classify_iam("TagUser", e))?;
        Ok(())
    }
}

fn outputs(name: &str, arn: &str) -> Properties {
    props([("id", name.into()), ("name", name.into()), ("arn", arn.into())])
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
        default_tags(&mut inputs);
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
                let live = self.get(&name).await?.ok_or(e)?;
                if !owned_by(live.tags(), &req.urn) {
                    return Err(name_taken("user", &name, &req.urn));
                }
                let old = live_tags(live.tags()).string_map();
                self.sync_tags(&name, &req.stack, &req.urn, &old, &req.inputs).await?;
                live.arn().to_string()
            }
            Err(e) => return Err(e),
        };
        self.iam
            .wait_until_user_exists()
            .user_name(&name)
            .wait(EXISTS_DEADLINE)
            .await
            .map_err(|e| ProviderError::new(ErrorKind::Transient, format!("waiting for user {name}: {e}")))?;
        Ok(CreateResponse {
            outputs: outputs(&name, &arn),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // IAM has no batch form of GetUser.
        for t in &req.targets {
            let Some(user) = self.get(&t.id).await? else {
                continue;
            };
            found.push(LiveResource {
                urn: t.urn.clone(),
                id: t.id.clone(),
                inputs: props([("name", user.user_name().into()), ("tags", live_tags(user.tags()))]),
                outputs: outputs(user.user_name(), user.arn()),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "tags") {
            self.sync_tags(
                &req.id,
                &req.stack,
                &req.urn,
                &tags::desired(&req.old_inputs),
                &req.new_inputs,
            )
            .await?;
        }
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
