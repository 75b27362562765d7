//! `aws:iam:UserPolicy`: an inline policy of a user, declared as structured statements
//! and sent as a JSON policy document.

use async_trait::async_trait;
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource, Provider,
    ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    check_name, check_statements, classify_iam, parse_document, render_document, split_policy_id, statements_value,
    PolicyStatement,
};
use crate::props::{props, str_of};

pub const TYPE: &str = "aws:iam:UserPolicy";

/// Arguments of a user's inline policy.
#[derive(Clone, Debug)]
pub struct UserPolicyArgs {
    pub user_name: Input<String>,
    pub name: String,
    pub statements: Vec<PolicyStatement>,
}

impl ResourceArgs for UserPolicyArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["iam:PutUserPolicy", "iam:GetUserPolicy", "iam:DeleteUserPolicy"];
    fn into_properties(self) -> Properties {
        props([
            ("user_name", self.user_name.into()),
            ("name", self.name.into()),
            ("statements", statements_value(self.statements)),
        ])
    }
}

/// The `aws:iam:UserPolicy` provider.
pub struct UserPolicy {
    iam: aws_sdk_iam::Client,
    schema: Schema,
}

impl UserPolicy {
    /// A provider calling IAM through `iam`.
    pub fn new(iam: aws_sdk_iam::Client) -> UserPolicy {
        UserPolicy {
            iam,
            schema: Schema::new(TYPE, &["user_name", "name"]),
        }
    }

    async fn put(&self, user: &str, name: &str, inputs: &Properties) -> Result<(), ProviderError> {
        let document = render_document(inputs.get("statements").unwrap_or(&Value::Null))?;
        self.iam
            .put_user_policy()
            .user_name(user)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| classify_iam("PutUserPolicy", e))?;
        Ok(())
    }
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

#[async_trait]
impl Provider for UserPolicy {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, "user_name", 64, &mut failures);
        check_name(&inputs, "name", 128, &mut failures);
        check_statements(&mut inputs, &mut failures);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        // PutUserPolicy creates or overwrites: a retry after a crash is harmless.
        let user = str_of(&req.inputs, "user_name")?;
        let name = str_of(&req.inputs, "name")?;
        self.put(user, name, &req.inputs).await?;
        let id = format!("{user}:{name}");
        Ok(CreateResponse {
            outputs: outputs(&id),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // IAM has no batch form of GetUserPolicy.
        for t in &req.targets {
            let (user, name) = split_policy_id(&t.id)?;
            let out = match self
                .iam
                .get_user_policy()
                .user_name(user)
                .policy_name(name)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => match classify_iam("GetUserPolicy", e) {
                    // The policy, or its user, is gone.
                    e if e.kind == ErrorKind::NotFound => continue,
                    e => return Err(e),
                },
            };
            found.push(LiveResource {
                urn: t.urn.clone(),
                id: t.id.clone(),
                inputs: props([
                    ("user_name", out.user_name().into()),
                    ("name", out.policy_name().into()),
                    ("statements", parse_document(out.policy_document())?),
                ]),
                outputs: outputs(&t.id),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let (user, name) = split_policy_id(&req.id)?;
        self.put(user, name, &req.new_inputs).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let (user, name) = split_policy_id(&req.id)?;
        crate::common::ok_if_gone(
            self.iam
                .delete_user_policy()
                .user_name(user)
                .policy_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DeleteUserPolicy", e)),
        )
    }
}
