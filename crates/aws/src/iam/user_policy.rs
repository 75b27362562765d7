//! `aws:iam:UserPolicy`: an inline policy of a user, declared as structured statements
//! and sent as a JSON policy document. The provider is the shared
//! [`InlinePolicy`](super::inline_policy::InlinePolicy); this file holds the user's
//! arguments and calls.

use stackup_model::{Input, Properties, ResourceArgs};
use stackup_provider::ProviderError;

use super::inline_policy::{policy_properties, InlinePolicy, LivePolicy, PolicyOwner};
use super::{classify_iam, PolicyStatement};

/// The type token of a user's inline policy.
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
        policy_properties(UserOwner::OWNER_KEY, self.user_name, self.name, self.statements)
    }
}

/// The `aws:iam:UserPolicy` provider.
pub type UserPolicy = InlinePolicy<UserOwner>;

/// Users as holders of inline policies.
pub struct UserOwner;

impl PolicyOwner for UserOwner {
    const TYPE: &'static str = TYPE;
    const OWNER_KEY: &'static str = "user_name";

    async fn put(iam: &aws_sdk_iam::Client, user: &str, name: &str, document: String) -> Result<(), ProviderError> {
        iam.put_user_policy()
            .user_name(user)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| classify_iam("PutUserPolicy", e))?;
        Ok(())
    }

    async fn get(iam: &aws_sdk_iam::Client, user: &str, name: &str) -> Result<LivePolicy, ProviderError> {
        let out = iam
            .get_user_policy()
            .user_name(user)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| classify_iam("GetUserPolicy", e))?;
        Ok(LivePolicy {
            owner: out.user_name().to_string(),
            name: out.policy_name().to_string(),
            document: out.policy_document().to_string(),
        })
    }

    async fn delete(iam: &aws_sdk_iam::Client, user: &str, name: &str) -> Result<(), ProviderError> {
        iam.delete_user_policy()
            .user_name(user)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| classify_iam("DeleteUserPolicy", e))?;
        Ok(())
    }
}
