//! `aws:iam:RolePolicy`: an inline policy of a role, declared as structured statements
//! and sent as a JSON policy document. The provider is the shared
//! [`InlinePolicy`](super::inline_policy::InlinePolicy); this file holds the role's
//! arguments and calls.

use stackup_model::{Input, Properties, ResourceArgs};
use stackup_provider::ProviderError;

use super::inline_policy::{policy_properties, InlinePolicy, LivePolicy, PolicyOwner};
use super::{classify_iam, PolicyStatement};

/// The type token of a role's inline policy.
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
        policy_properties(RoleOwner::OWNER_KEY, self.role_name, self.name, self.statements)
    }
}

/// The `aws:iam:RolePolicy` provider.
pub type RolePolicy = InlinePolicy<RoleOwner>;

/// Roles as holders of inline policies.
pub struct RoleOwner;

impl PolicyOwner for RoleOwner {
    const TYPE: &'static str = TYPE;
    const OWNER_KEY: &'static str = "role_name";

    async fn put(iam: &aws_sdk_iam::Client, role: &str, name: &str, document: String) -> Result<(), ProviderError> {
        iam.put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| classify_iam("PutRolePolicy", e))?;
        Ok(())
    }

    async fn get(iam: &aws_sdk_iam::Client, role: &str, name: &str) -> Result<LivePolicy, ProviderError> {
        let out = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| classify_iam("GetRolePolicy", e))?;
        Ok(LivePolicy {
            owner: out.role_name().to_string(),
            name: out.policy_name().to_string(),
            document: out.policy_document().to_string(),
        })
    }

    async fn delete(iam: &aws_sdk_iam::Client, role: &str, name: &str) -> Result<(), ProviderError> {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| classify_iam("DeleteRolePolicy", e))?;
        Ok(())
    }
}
