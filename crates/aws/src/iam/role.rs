//! `aws:iam:Role`: a role one AWS service (e.g. "ec2.amazonaws.com") may assume; its
//! permissions are `aws:iam:RolePolicy` resources.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::client::Waiters;
use aws_sdk_iam::types::Role as LiveRole;
use stackup_model::{Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource,
    Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    check_name, classify_iam, default_tags, delete_retrying, iam_tags, live_tags, name_taken, owned_by, tag_changes,
    trust_document, trust_service, EXISTS_DEADLINE,
};
use crate::props::{props, str_of};
use crate::tags;

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

    /// The live role, or None when it does not exist.
    async fn get(&self, name: &str) -> Result<Option<LiveRole>, ProviderError> {
        match self.iam.get_role().role_name(name).send().await {
            Ok(out) => Ok(out.role),
            Err(e) => match classify_iam("GetRole", e) {
                e if e.kind == ErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
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

    async fn sync_tags(
        &self,
        name: &str,
        req_stack: &str,
        urn: &stackup_model::Urn,
        old: &BTreeMap<String, String>,
        new: &Properties,
    ) -> Result<(), ProviderError> {
        let (set, removed) = tag_changes(req_stack, urn, old, new);
        if !removed.is_empty() {
            self.iam
                .untag_role()
                .role_name(name)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| classify_iam("UntagRole", e))?;
        }
        self.iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(iam_tags(&set)?))
            .send()
            .await
            .map_err(|e| classify_iam("TagRole", e))?;
        Ok(())
    }
}

fn outputs(name: &str, arn: &str) -> Properties {
    props([("id", name.into()), ("name", name.into()), ("arn", arn.into())])
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
        default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let name = str_of(&req.inputs, "name")?.to_string();
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let created = self
            .iam
            .create_role()
            .role_name(&name)
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
                let live = self.get(&name).await?.ok_or(e)?;
                if !owned_by(live.tags(), &req.urn) {
                    return Err(name_taken("role", &name, &req.urn));
                }
                self.set_trust(&name, &req.inputs).await?;
                let old = live_tags(live.tags()).string_map();
                self.sync_tags(&name, &req.stack, &req.urn, &old, &req.inputs).await?;
                live.arn().to_string()
            }
            Err(e) => return Err(e),
        };
        self.iam
            .wait_until_role_exists()
            .role_name(&name)
            .wait(EXISTS_DEADLINE)
            .await
            .map_err(|e| ProviderError::new(ErrorKind::Transient, format!("waiting for role {name}: {e}")))?;
        Ok(CreateResponse {
            outputs: outputs(&name, &arn),
            id: name,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // IAM has no batch form of GetRole.
        for t in &req.targets {
            let Some(role) = self.get(&t.id).await? else {
                continue;
            };
            let service = match role.assume_role_policy_document() {
                Some(doc) => trust_service(doc)?,
                None => Value::Null,
            };
            found.push(LiveResource {
                urn: t.urn.clone(),
                id: t.id.clone(),
                inputs: props([
                    ("name", role.role_name().into()),
                    ("assume_role_service", service),
                    ("tags", live_tags(role.tags())),
                ]),
                outputs: outputs(role.role_name(), role.arn()),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "assume_role_service") {
            self.set_trust(&req.id, &req.new_inputs).await?;
        }
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
        // The graph deletes the role's inline policies and instance profiles first.
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
