//! Helpers every provider uses.

use std::collections::BTreeMap;

use stackup_model::{TypeToken, Urn};
use stackup_provider::{ErrorKind, ProviderError, ReadTarget};

/// The URN of each read target, by physical id.
pub(crate) fn urns_by_id(targets: &[ReadTarget]) -> BTreeMap<String, Urn> {
    targets.iter().map(|t| (t.id.clone(), t.urn.clone())).collect()
}

/// True when the update's diff found `key` changed.
pub(crate) fn changed(changed: &[String], key: &str) -> bool {
    changed.iter().any(|c| c == key)
}

/// Treats "not found" as success: for deletes of objects already gone.
pub(crate) fn ok_if_gone(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A client token of at most `max` characters from an operation's idempotency token.
pub(crate) fn client_token(token: &str, max: usize) -> String {
    token.chars().take(max).collect()
}

/// The URN a listed object claims through its `stackup:urn` tag; an object of the stack
/// whose tag is missing or malformed is named after its physical id so it can still be
/// reported and swept.
pub(crate) fn listed_urn(stack: &str, ty: &str, urn_tag: Option<&str>, id: &str) -> Urn {
    urn_tag
        .and_then(|u| Urn::parse(u).ok())
        .filter(|u| u.stack() == stack)
        .unwrap_or_else(|| Urn::new(stack, &TypeToken::from_static_or_owned(ty), id))
}

/// None when the service says the object does not exist (a read, or a listing's
/// follow-up call, asking for an object deleted meanwhile); other errors pass.
pub(crate) fn found<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The outputs of an object whose name is its physical id: `id`, `name` and `arn`.
pub(crate) fn name_arn_outputs(name: &str, arn: &str) -> stackup_model::Properties {
    crate::props::props([("id", name.into()), ("name", name.into()), ("arn", arn.into())])
}

/// A check failure of `property`.
pub(crate) fn failure(property: &str, reason: impl Into<String>) -> stackup_provider::CheckFailure {
    stackup_provider::CheckFailure {
        property: property.into(),
        reason: reason.into(),
    }
}

/// Sorts and deduplicates a list of ids once every element is known (a reference
/// resolves later), so that the order a program lists them in never shows as a change.
pub(crate) fn sort_ids(inputs: &mut stackup_model::Properties, key: &str) {
    use stackup_model::Value;
    let Some(Value::List(ids)) = inputs.get(key) else {
        return;
    };
    if ids.iter().all(crate::props::is_known) {
        let mut sorted = ids.clone();
        sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        sorted.dedup();
        inputs.insert(key.into(), Value::List(sorted));
    }
}

/// How long a call naming a new IAM role or instance profile is retried while AWS
/// answers that the profile is invalid: IAM changes take seconds to reach EC2 and
/// Auto Scaling ("changes ... are eventually consistent"; terraform-provider-aws
/// retries such calls for `iamPropagationTimeout`, 2 minutes).
pub(crate) const IAM_PROPAGATION: std::time::Duration = std::time::Duration::from_secs(120);

/// True for the answers EC2 and Auto Scaling give while a new instance profile (or its
/// role) has not reached them yet: `InvalidParameterValue` (RunInstances) or
/// `ValidationError` (CreateAutoScalingGroup, UpdateAutoScalingGroup) saying "Invalid IAM
/// Instance Profile", or that the profile's role cannot be assumed yet.
pub(crate) fn iam_not_propagated(e: &ProviderError) -> bool {
    let m = e.message.to_ascii_lowercase();
    matches!(
        e.code.as_deref(),
        Some("InvalidParameterValue" | "ValidationError" | "InvalidParameterCombination")
    ) && (m.contains("invalid iam instance profile")
        || m.contains("iaminstanceprofile")
        || m.contains("instance profile")
        || m.contains("not authorized to perform: iam:passrole")
        || m.contains("role cannot be assumed"))
}

/// Runs `attempt` (a call naming an instance profile) again every 2 seconds for up to
/// [`IAM_PROPAGATION`] while AWS answers that the profile is not usable yet, reporting
/// each wait; any other outcome is returned at once.
pub(crate) async fn while_iam_propagates<T, F, Fut>(what: &str, attempt: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    crate::ec2::retry_reporting(
        &format!("{what}: waiting for the instance profile to reach EC2"),
        IAM_PROPAGATION,
        std::time::Duration::from_secs(2),
        iam_not_propagated,
        attempt,
    )
    .await
}

/// Object `id` of `provider`'s type as a refresh reads it, None when it does not exist:
/// for the `find` of an untagged object (an attachment, an association, an inline
/// policy) whose id follows from what it joins.
pub(crate) async fn read_one(
    provider: &dyn stackup_provider::Provider,
    urn: &Urn,
    id: String,
    inputs: &stackup_model::Properties,
) -> Result<Option<stackup_provider::LiveResource>, ProviderError> {
    let answer = provider
        .read(stackup_provider::ReadRequest {
            targets: vec![ReadTarget {
                urn: urn.clone(),
                id,
                inputs: inputs.clone(),
                outputs: stackup_model::Properties::new(),
            }],
        })
        .await?;
    Ok(answer.found.into_iter().next())
}
