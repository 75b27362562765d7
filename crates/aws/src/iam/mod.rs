//! IAM providers: roles, their inline policies and instance profiles, users and their
//! inline policies; and the policy statements shared by the inline policy types.
//!
//! IAM has no batch read: reads call Get* once per resource. IAM reports a missing
//! entity as `NoSuchEntity`, which [`classify_iam`] maps to NotFound.

mod inline_policy;
mod instance_profile;
mod role;
mod role_policy;
mod user;
mod user_policy;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;
use serde_json::{json, Value as Json};
use stackup_model::{Input, Properties, Urn, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckFailure, ErrorKind, ListRequest, ListResponse, LiveResource, Provider, ProviderError, ReadRequest,
    ReadResponse, UpdateRequest,
};

pub use instance_profile::{InstanceProfile, InstanceProfileArgs};
pub use role::{Role, RoleArgs};
pub use role_policy::{RolePolicy, RolePolicyArgs};
pub use user::{User, UserArgs};
pub use user_policy::{UserPolicy, UserPolicyArgs};

use crate::{classify, tags, AwsClients};

/// Every iam provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let iam = clients.iam.clone();
    vec![
        Arc::new(Role::new(iam.clone())),
        Arc::new(RolePolicy::new(iam.clone())),
        Arc::new(UserPolicy::new(iam.clone())),
        Arc::new(InstanceProfile::new(iam.clone())),
        Arc::new(User::new(iam)),
    ]
}

/// The policy language version every document stackup writes declares.
const POLICY_VERSION: &str = "2012-10-17";

/// How long create waits for IAM to report a new entity: usually a second or two, so
/// poll at most every 2 seconds.
const EXISTS_PATIENCE: Patience = Patience::new(60, 2);

/// How long delete retries DeleteConflict: IAM applies detachments eventually, so a
/// delete in the right order can still be refused for a moment.
const DELETE_CONFLICT_DEADLINE: Duration = Duration::from_secs(20);

/// One statement of an inline policy: `effect` ("Allow" or "Deny") `actions` on
/// `resources`.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyStatement {
    pub effect: String,
    /// IAM actions, e.g. "s3:GetObject"; sorted and deduplicated by check.
    pub actions: Vec<String>,
    /// Resource ARNs or "*"; sorted and deduplicated once all are known.
    pub resources: Vec<Input<String>>,
}

impl From<PolicyStatement> for Value {
    fn from(s: PolicyStatement) -> Value {
        Value::Map(
            [
                ("effect".to_string(), Value::from(s.effect)),
                ("actions".to_string(), Value::from(s.actions)),
                (
                    "resources".to_string(),
                    Value::List(s.resources.into_iter().map(Value::from).collect()),
                ),
            ]
            .into_iter()
            .collect(),
        )
    }
}

/// The `statements` input of a list of statements.
pub(crate) fn statements_value(statements: Vec<PolicyStatement>) -> Value {
    Value::List(statements.into_iter().map(Value::from).collect())
}

/// Classifies an IAM error; `NoSuchEntity` is IAM's not-found code.
fn classify_iam<E, R>(action: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let mut e = classify(action, err);
    match e.code.as_deref() {
        Some("NoSuchEntity") => e.kind = ErrorKind::NotFound,
        Some("EntityAlreadyExists") => e.kind = ErrorKind::Conflict,
        Some("MalformedPolicyDocument" | "LimitExceeded") => e.kind = ErrorKind::Invalid,
        _ => {}
    }
    e
}

/// Checks an IAM name input: 1 to `max` characters of `[A-Za-z0-9+=,.@_-]`.
fn check_name(inputs: &Properties, key: &str, max: usize, failures: &mut Vec<CheckFailure>) {
    let Some(v) = inputs.get(key) else {
        failures.push(CheckFailure {
            property: key.into(),
            reason: "is required".into(),
        });
        return;
    };
    if !crate::props::is_known(v) {
        return;
    }
    let ok = v.as_str().is_some_and(|s| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    });
    if !ok {
        failures.push(CheckFailure {
            property: key.into(),
            reason: format!("must be 1 to {max} characters of letters, digits and +=,.@_-"),
        });
    }
}

/// IAM tags from a tag map.
fn iam_tags(all: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags::build_all(all, |k, v| Tag::builder().key(k).value(v).build())
}

/// Live IAM tags as a map, stackup's own included.
fn tag_map(live: &[Tag]) -> BTreeMap<String, String> {
    tags::map(live.iter().map(|t| (t.key(), t.value())))
}

/// The live user tags (stackup's own removed) as a property value.
fn live_tags(live: &[Tag]) -> Value {
    tags::user_tags(live.iter().map(|t| (t.key(), t.value())))
}

/// An entity with its tags, or None when it is gone.
type WithTags<L> = Option<(L, Vec<Tag>)>;

/// A kind of taggable IAM entity (role, user, instance profile), implemented by its
/// provider: the calls that differ between the kinds, so that reading, listing, tagging
/// and taking over are written once ([`read_entities`], [`list_entities`],
/// [`sync_entity_tags`], [`adopt`]).
trait Entity: Send + Sync {
    /// The type token of the kind.
    const TYPE: &'static str;
    /// What IAM's Get* and List* calls return for one entity.
    type Live: Send + Sync;

    /// The entity's name, which is its physical id.
    fn name(live: &Self::Live) -> &str;

    /// The tags of an entity as Get* returns it (List* leaves them out).
    fn tags(live: &Self::Live) -> &[Tag];

    /// The live entity with its tags, or None when it does not exist.
    fn get(&self, name: &str) -> impl Future<Output = Result<Option<Self::Live>, ProviderError>> + Send;

    /// The entity's IAM path (`/` unless created under one).
    fn path(live: &Self::Live) -> &str;

    /// Every entity of the kind under `path_prefix`, as List* reports them: without
    /// tags.
    fn list_all(&self, path_prefix: &str) -> impl Future<Output = Result<Vec<Self::Live>, ProviderError>> + Send;

    /// A listed entity with its tags, or None when it was deleted since the listing.
    fn with_tags(&self, listed: Self::Live)
        -> impl Future<Output = Result<WithTags<Self::Live>, ProviderError>> + Send;

    /// Removes the tags `keys` (the kind's Untag* call).
    fn untag(&self, name: &str, keys: Vec<String>) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Sets `tags`, leaving others as they are (the kind's Tag* call).
    fn tag(&self, name: &str, tags: Vec<Tag>) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// An entity and its tags as a live resource: what read and list report.
    fn live(urn: Urn, id: &str, live: &Self::Live, tags: &[Tag]) -> Result<LiveResource, ProviderError>;
}

/// Reads the targets one by one: IAM has no batch form of Get*.
async fn read_entities<E: Entity>(entity: &E, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
    let mut found = Vec::new();
    for t in &req.targets {
        if let Some(live) = entity.get(&t.id).await? {
            found.push(E::live(t.urn.clone(), &t.id, &live, E::tags(&live))?);
        }
    }
    Ok(ReadResponse { found })
}

/// The IAM path stackup creates a stack's roles, users and instance profiles under.
/// IAM has no tag filter on List* and the Resource Groups Tagging API does not cover
/// IAM, but List* filters by path prefix: listing the stack's own path keeps the cost
/// of the search for unmanaged objects with the stack, not the account (one List* page
/// and one tag read per entity of the stack). The path is part of the ARN
/// (`arn:aws:iam::<account>:role/stackup/<stack>/<name>`), not of the name, which stays
/// unique in the account whatever the path.
pub(crate) fn stack_path(stack: &str) -> String {
    format!("/stackup/{stack}/")
}

/// The entities of the kind tagged with the stack, as read reports them. Only the
/// entities under the stack's path are looked at (see [`stack_path`]): one tag call per
/// entity of the stack, since List* leaves tags out and IAM has no batch form of
/// List*Tags. The path is checked here too, because not every IAM API server applies
/// PathPrefix (moto ignores it on ListInstanceProfiles).
async fn list_entities<E: Entity>(entity: &E, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
    let mut found = Vec::new();
    let path = stack_path(&req.stack);
    for listed in entity.list_all(&path).await? {
        if !E::path(&listed).starts_with(&path) {
            continue;
        }
        let Some((live, tags)) = entity.with_tags(listed).await? else {
            continue;
        };
        let name = E::name(&live);
        if let Some(urn) = req.urn_of(name, || tags::listed_urn(&req.stack, E::TYPE, name, &tag_map(&tags))) {
            found.push(E::live(urn, name, &live, &tags)?);
        }
    }
    Ok(Some(ListResponse { found }))
}

/// Brings an entity's tags from `old` (its user tags) to the declared ones plus
/// stackup's, which also restores stackup tags removed out of band.
async fn sync_entity_tags<E: Entity>(
    entity: &E,
    name: &str,
    stack: &str,
    urn: &Urn,
    old: &BTreeMap<String, String>,
    new: &Properties,
) -> Result<(), ProviderError> {
    let set = tags::with_stackup(stack, urn, new);
    let iam_set = iam_tags(&set)?;
    tags::sync(
        old,
        &set,
        |removed| entity.untag(name, removed),
        || entity.tag(name, iam_set),
    )
    .await
}

/// Brings the entity's tags to the declared ones when the update's diff found them
/// changed.
async fn update_entity_tags<E: Entity>(entity: &E, req: &UpdateRequest) -> Result<(), ProviderError> {
    if !crate::common::changed(&req.changed, "tags") {
        return Ok(());
    }
    let old = tags::desired(&req.old_inputs);
    sync_entity_tags(entity, &req.id, &req.stack, &req.urn, &old, &req.new_inputs).await
}

/// The entity named `name` that a create refused with EntityAlreadyExists (`conflict`)
/// takes over. IAM has no idempotency token, so an entity an interrupted run created for
/// `urn` is recognised by its URN tag; someone else's is a Conflict naming it.
async fn adopt<E: Entity>(
    entity: &E,
    name: &str,
    conflict: ProviderError,
    what: &str,
    urn: &Urn,
) -> Result<E::Live, ProviderError> {
    let live = entity.get(name).await?.ok_or(conflict)?;
    if tags::owned_by(&tag_map(E::tags(&live)), urn) {
        Ok(live)
    } else {
        Err(ProviderError::new(
            ErrorKind::Conflict,
            format!("IAM {what} '{name}' already exists and was not created for {urn}; choose another name"),
        ))
    }
}

/// Waits until IAM's Get* reports the `what` (role, user, ...) `name` a create just
/// made: IAM is eventually consistent, and a new entity may not be found for a moment.
/// As with the SDK's `*Exists` waiters, not found is pending until the deadline.
async fn wait_exists<E: Entity>(entity: &E, what: &str, name: &str) -> Result<(), ProviderError> {
    wait::until(&format!("IAM {what} {name}"), "visible", EXISTS_PATIENCE, || async {
        Ok(match entity.get(name).await? {
            Some(_) => Poll::Ready(()),
            None => Poll::Pending("not found yet".to_string()),
        })
    })
    .await
}

/// Runs a delete, retrying DeleteConflict for a short while; NotFound is success.
async fn delete_retrying<F, Fut>(what: &str, mut attempt: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        match attempt().await {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind == ErrorKind::DependencyViolation && started.elapsed() < DELETE_CONFLICT_DEADLINE => {
                stackup_provider::wait::pause(Duration::from_secs(2)).await;
            }
            Err(e) if e.kind == ErrorKind::DependencyViolation => {
                return Err(ProviderError {
                    message: format!("{what} is still in use: {}", e.message),
                    ..e
                })
            }
            other => return other,
        }
    }
}

/// Splits an inline policy id "<owner>:<policy name>"; IAM names cannot contain ':'.
fn split_policy_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once(':')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty())
        .ok_or_else(|| ProviderError::invalid(format!("'{id}' is not an inline policy id (<owner>:<name>)")))
}

// ---- Policy documents -------------------------------------------------------------

/// Validates and normalises the `statements` input in place: a non-empty list of maps
/// {effect, actions, resources}; effect "Allow"/"Deny"; actions sorted and
/// deduplicated; resources sorted and deduplicated when all are known.
fn check_statements(inputs: &mut Properties, failures: &mut Vec<CheckFailure>) {
    let mut fail = |reason: String| {
        failures.push(CheckFailure {
            property: "statements".into(),
            reason,
        })
    };
    let Some(value) = inputs.get_mut("statements") else {
        fail("is required".into());
        return;
    };
    if matches!(value, Value::Unknown | Value::Ref(_)) {
        return;
    }
    let Value::List(statements) = value else {
        fail("must be a list of statements".into());
        return;
    };
    if statements.is_empty() {
        fail("must hold at least one statement".into());
    }
    for (i, statement) in statements.iter_mut().enumerate() {
        let Value::Map(map) = statement else {
            fail(format!("statement {i} must be a map {{effect, actions, resources}}"));
            continue;
        };
        if let Some(extra) = map
            .keys()
            .find(|k| !["effect", "actions", "resources"].contains(&k.as_str()))
        {
            fail(format!("statement {i}: unknown key '{extra}'"));
        }
        match map.get("effect").and_then(Value::as_str).map(str::to_ascii_lowercase) {
            Some(e) if e == "allow" => {
                map.insert("effect".into(), "Allow".into());
            }
            Some(e) if e == "deny" => {
                map.insert("effect".into(), "Deny".into());
            }
            _ => fail(format!("statement {i}: effect must be \"Allow\" or \"Deny\"")),
        }
        let actions: Option<Vec<String>> = map
            .get("actions")
            .and_then(Value::as_list)
            .and_then(|l| l.iter().map(|a| a.as_str().map(str::to_string)).collect());
        match actions {
            Some(actions) if actions.is_empty() => fail(format!("statement {i}: actions must not be empty")),
            Some(actions) => {
                if let Some(bad) = actions.iter().find(|a| !valid_action(a)) {
                    fail(format!(
                        "statement {i}: '{bad}' is not an IAM action (service:Action or *)"
                    ));
                }
                map.insert("actions".into(), sorted_strings(actions));
            }
            None => fail(format!("statement {i}: actions must be a list of strings")),
        }
        let resources = match map.get("resources") {
            Some(Value::List(list)) if list.is_empty() => {
                fail(format!("statement {i}: resources must not be empty"));
                continue;
            }
            // Sorted only once every resource is known: a reference resolves later.
            Some(Value::List(list)) if !list.iter().all(crate::props::is_known) => continue,
            Some(Value::List(list)) => list
                .iter()
                .map(|r| r.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>(),
            _ => None,
        };
        match resources {
            Some(resources) => {
                if let Some(bad) = resources.iter().find(|r| !(*r == "*" || r.starts_with("arn:"))) {
                    fail(format!("statement {i}: resource '{bad}' is neither an ARN nor *"));
                }
                map.insert("resources".into(), sorted_strings(resources));
            }
            None => fail(format!("statement {i}: resources must be a list of strings")),
        }
    }
}

fn valid_action(a: &str) -> bool {
    a == "*"
        || a.split_once(':').is_some_and(|(svc, op)| {
            !svc.is_empty()
                && !op.is_empty()
                && svc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !op.contains(char::is_whitespace)
        })
}

fn sorted_strings(items: impl IntoIterator<Item = String>) -> Value {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v.dedup();
    v.into()
}

/// The JSON policy document of a checked, resolved `statements` input.
fn render_document(statements: &Value) -> Result<String, ProviderError> {
    let invalid = || ProviderError::invalid("input 'statements' must be a list of {effect, actions, resources}");
    let strings = |v: Option<&Value>| -> Result<Vec<String>, ProviderError> {
        v.and_then(Value::as_list)
            .ok_or_else(invalid)?
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or_else(invalid))
            .collect()
    };
    let rendered = statements
        .as_list()
        .ok_or_else(invalid)?
        .iter()
        .map(|s| {
            let map = s.as_map().ok_or_else(invalid)?;
            Ok(json!({
                "Effect": map.get("effect").and_then(Value::as_str).ok_or_else(invalid)?,
                "Action": strings(map.get("actions"))?,
                "Resource": strings(map.get("resources"))?,
            }))
        })
        .collect::<Result<Vec<Json>, ProviderError>>()?;
    Ok(json!({"Version": POLICY_VERSION, "Statement": rendered}).to_string())
}

/// Parses a live policy document (URL-encoded as IAM returns it, or plain) back into
/// the normalised `statements` value check produces. Statement keys stackup does not
/// manage (Condition, NotAction, Principal, ...) are kept under `unmanaged`, so that a
/// policy edited out of band shows a difference instead of comparing equal; `Sid` is
/// ignored.
fn parse_document(raw: &str) -> Result<Value, ProviderError> {
    let doc = decode_document(raw)?;
    let statements = match doc.get("Statement") {
        Some(Json::Array(list)) => list.clone(),
        Some(one @ Json::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let parsed = statements
        .iter()
        .map(|s| {
            let mut map = Properties::new();
            let mut unmanaged = Properties::new();
            let Json::Object(fields) = s else {
                return Value::Map(unmanaged_only(s));
            };
            for (k, v) in fields {
                match k.as_str() {
                    "Effect" => {
                        map.insert("effect".into(), Value::from_json(v));
                    }
                    "Action" => {
                        map.insert("actions".into(), sorted_strings(one_or_many(v)));
                    }
                    "Resource" => {
                        map.insert("resources".into(), sorted_strings(one_or_many(v)));
                    }
                    "Sid" => {}
                    _ => {
                        unmanaged.insert(k.clone().into(), Value::from_json(v));
                    }
                }
            }
            map.entry("actions".into()).or_insert_with(|| Value::List(Vec::new()));
            map.entry("resources".into()).or_insert_with(|| Value::List(Vec::new()));
            if !unmanaged.is_empty() {
                map.insert("unmanaged".into(), Value::Map(unmanaged));
            }
            Value::Map(map)
        })
        .collect();
    Ok(Value::List(parsed))
}

fn unmanaged_only(s: &Json) -> Properties {
    [("unmanaged".to_string(), Value::from_json(s))].into_iter().collect()
}

/// A policy element that may be one string or a list of strings.
fn one_or_many(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// The JSON of a policy document as IAM returns it: URL-encoded (RFC 3986) from AWS,
/// plain from some moto responses.
fn decode_document(raw: &str) -> Result<Json, ProviderError> {
    let trimmed = raw.trim();
    if trimmed.starts_with('{') {
        if let Ok(doc) = serde_json::from_str(trimmed) {
            return Ok(doc);
        }
    }
    let parse = |text: &str| serde_json::from_str::<Json>(text);
    let decoded = percent_decode(trimmed)?;
    match parse(&decoded) {
        Ok(doc) => Ok(doc),
        // Form encoding writes spaces as '+'; RFC 3986 (what IAM documents) never does.
        Err(e) => percent_decode(&trimmed.replace('+', " "))
            .ok()
            .and_then(|d| parse(&d).ok())
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Other,
                    format!("IAM returned a policy document that is not JSON: {e}"),
                )
            }),
    }
}

fn percent_decode(s: &str) -> Result<String, ProviderError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                // Two hex digits: at most 255.
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| {
        ProviderError::new(
            ErrorKind::Other,
            format!("IAM returned a policy document that is not UTF-8: {e}"),
        )
    })
}

/// The trust policy letting `service` (e.g. "ec2.amazonaws.com") assume a role.
fn trust_document(service: &str) -> String {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string()
}

/// The service a live trust policy lets assume the role, when it is exactly the
/// policy [`trust_document`] writes; otherwise the compact document itself, which
/// differs from any declared service and so shows, and corrects, the drift.
fn trust_service(raw: &str) -> Result<Value, ProviderError> {
    let doc = decode_document(raw)?;
    let statements = match doc.get("Statement") {
        Some(Json::Array(list)) => list.as_slice(),
        Some(one @ Json::Object(_)) => std::slice::from_ref(one),
        _ => &[],
    };
    let service = match statements {
        [Json::Object(s)] => {
            let keys_ok = s
                .keys()
                .all(|k| ["Effect", "Principal", "Action", "Sid"].contains(&k.as_str()));
            let allow = s.get("Effect").and_then(Json::as_str) == Some("Allow");
            let action = s.get("Action").map(one_or_many);
            let principal = s.get("Principal").and_then(Json::as_object);
            let service = principal
                .filter(|p| p.len() == 1)
                .and_then(|p| p.get("Service"))
                .map(one_or_many);
            match (keys_ok && allow, action.as_deref(), service.as_deref()) {
                (true, Some([a]), Some([svc])) if a == "sts:AssumeRole" => Some(svc.clone()),
                _ => None,
            }
        }
        _ => None,
    };
    Ok(match service {
        Some(s) => Value::String(s),
        None => Value::String(doc.to_string()),
    })
}
