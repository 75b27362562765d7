//! `aws:iam:RolePolicy`: an inline policy of a role, declared as structured statements
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

pub const TYPE: &str = "aws:iam:RolePolicy";

/// Arguments of a role's inline policy.
#[derive(Clone, Debug)]
pub struct RolePolicyArgs {
    pub role_name: Input<String>,
    pub name: String,
    pub statements: Vec<PolicyStatement>,
}

impl ResourceArgs for RolePolicyArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"];
    fn into_properties(self) -> Properties {
        props([
            ("role_name", self.role_name.into()),
            ("name", self.name.into()),
            ("statements", statements_value(self.statements)),
        ])
    }
}

/// The `aws:iam:RolePolicy` provider.
pub struct RolePolicy {
    iam: aws_sdk_iam::Client,
    schema: Schema,
}

impl RolePolicy {
    /// A provider calling IAM through `iam`.
    pub fn new(iam: aws_sdk_iam::Client) -> RolePolicy {
        RolePolicy {
            iam,
            schema: Schema::new(TYPE, &["role_name", "name"]),
        }
    }

    async fn put(&self, role: &str, name: &str, inputs: &Properties) -> Result<(), ProviderError> {
        let document = render_document(inputs.get("statements").unwrap_or(&Value::Null))?;
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| classify_iam("PutRolePolicy", e))?;
        Ok(())
    }
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

#[async_trait]
impl Provider for RolePolicy {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, "role_name", 64, &mut failures);
        check_name(&inputs, "name", 128, &mut failures);
        check_statements(&mut inputs, &mut failures);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        // PutRolePolicy creates or overwrites: a retry after a crash is harmless.
        let role = str_of(&req.inputs, "role_name")?;
        let name = str_of(&req.inputs, "name")?;
        self.put(role, name, &req.inputs).await?;
        let id = format!("{role}:{name}");
        Ok(CreateResponse {
            outputs: outputs(&id),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // IAM has no batch form of GetRolePolicy.
        for t in &req.targets {
            let (role, name) = split_policy_id(&t.id)?;
            let out = match self
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => match classify_iam("GetRolePolicy", e) {
                    // The policy, or its role, is gone.
                    e if e.kind == ErrorKind::NotFound => continue,
                    e => return Err(e),
                },
            };
            found.push(LiveResource {
                urn: t.urn.clone(),
                id: t.id.clone(),
                inputs: props([
                    ("role_name", out.role_name().into()),
                    ("name", out.policy_name().into()),
                    ("statements", parse_document(out.policy_document())?),
                ]),
                outputs: outputs(&t.id),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let (role, name) = split_policy_id(&req.id)?;
        self.put(role, name, &req.new_inputs).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let (role, name) = split_policy_id(&req.id)?;
        crate::common::ok_if_gone(
            self.iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify_iam("DeleteRolePolicy", e)),
        )
    }
}
