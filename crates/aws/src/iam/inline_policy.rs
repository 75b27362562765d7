//! The inline policies of roles and users: one provider, [`InlinePolicy`], parameterised
//! by the kind of owner ([`PolicyOwner`]), since `aws:iam:RolePolicy` and
//! `aws:iam:UserPolicy` differ only in their type token, the input naming the owner and
//! the Put/Get/Delete calls. Inline policies carry no tags, so they cannot be listed:
//! they go with their owners.

use std::future::Future;
use std::marker::PhantomData;

use async_trait::async_trait;
use stackup_model::{Input, Properties, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, FindRequest, LiveResource, Provider,
    ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::PolicyStatement;
use super::{check_name, check_statements, parse_document, render_document, split_policy_id, statements_value};
use crate::props::{props, str_of};

/// An inline policy as IAM reports it.
#[derive(Clone, Debug)]
pub struct LivePolicy {
    /// The name of the role or user holding the policy.
    pub owner: String,
    pub name: String,
    /// The policy document, URL-encoded as IAM returns it.
    pub document: String,
}

/// A kind of IAM entity that holds inline policies (roles, users): what the inline policy
/// provider needs to know about it.
pub trait PolicyOwner: Send + Sync + 'static {
    /// The type token of this owner kind's inline policies.
    const TYPE: &'static str;
    /// The input naming the owner, e.g. `role_name`.
    const OWNER_KEY: &'static str;

    /// Creates policy `name` of `owner`, or overwrites it.
    fn put(
        iam: &aws_sdk_iam::Client,
        owner: &str,
        name: &str,
        document: String,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// The live policy; an error of kind NotFound when the policy or its owner is gone.
    fn get(
        iam: &aws_sdk_iam::Client,
        owner: &str,
        name: &str,
    ) -> impl Future<Output = Result<LivePolicy, ProviderError>> + Send;

    /// Deletes the policy; an error of kind NotFound when it is already gone.
    fn delete(
        iam: &aws_sdk_iam::Client,
        owner: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// The properties of an inline policy's arguments.
pub(super) fn policy_properties(
    owner_key: &str,
    owner: Input<String>,
    name: String,
    statements: Vec<PolicyStatement>,
) -> Properties {
    props([
        (owner_key, owner.into()),
        ("name", name.into()),
        ("statements", statements_value(statements)),
    ])
}

/// The provider of the inline policies of owner kind `O`, identified as
/// `<owner>:<policy name>`.
pub struct InlinePolicy<O: PolicyOwner> {
    iam: aws_sdk_iam::Client,
    schema: Schema,
    owner: PhantomData<fn() -> O>,
}

impl<O: PolicyOwner> InlinePolicy<O> {
    /// A provider calling IAM through `iam`.
    pub fn new(iam: aws_sdk_iam::Client) -> InlinePolicy<O> {
        InlinePolicy {
            iam,
            schema: Schema::new(O::TYPE, &[O::OWNER_KEY, "name"]),
            owner: PhantomData,
        }
    }

    async fn put(&self, owner: &str, name: &str, inputs: &Properties) -> Result<(), ProviderError> {
        let document = render_document(inputs.get("statements").unwrap_or(&Value::Null))?;
        O::put(&self.iam, owner, name, document).await
    }
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

#[async_trait]
impl<O: PolicyOwner> Provider for InlinePolicy<O> {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_name(&inputs, O::OWNER_KEY, 64, &mut failures);
        check_name(&inputs, "name", 128, &mut failures);
        check_statements(&mut inputs, &mut failures);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        // Put*Policy creates or overwrites: a retry after a crash is harmless.
        let owner = str_of(&req.inputs, O::OWNER_KEY)?;
        let name = str_of(&req.inputs, "name")?;
        self.put(owner, name, &req.inputs).await?;
        let id = format!("{owner}:{name}");
        Ok(CreateResponse {
            outputs: outputs(&id),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        // IAM has no batch form of Get*Policy.
        for t in &req.targets {
            let (owner, name) = split_policy_id(&t.id)?;
            // None: the policy, or its owner, is gone.
            let Some(live) = crate::common::found(O::get(&self.iam, owner, name).await)? else {
                continue;
            };
            found.push(LiveResource {
                urn: t.urn.clone(),
                id: t.id.clone(),
                inputs: props([
                    (O::OWNER_KEY, live.owner.into()),
                    ("name", live.name.into()),
                    ("statements", parse_document(&live.document)?),
                ]),
                outputs: outputs(&t.id),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let (owner, name) = split_policy_id(&req.id)?;
        self.put(owner, name, &req.new_inputs).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let (owner, name) = split_policy_id(&req.id)?;
        crate::common::ok_if_gone(O::delete(&self.iam, owner, name).await)
    }

    /// The policy its owner and name make: an inline policy carries no tags.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let owner = str_of(&req.inputs, O::OWNER_KEY)?;
        let name = str_of(&req.inputs, "name")?;
        crate::common::read_one(self, &req.urn, format!("{owner}:{name}"), &req.inputs).await
    }
}
