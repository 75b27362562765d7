//! Elastic Load Balancing v2 providers: an application load balancer, its target
//! groups, listeners, listener rules and target group attachments.
//!
//! Shared here: [`ListenerAction`] (a listener's default action and a rule's action
//! have the same shape), [`HealthCheck`], the input checks, and the read-back every
//! elbv2 type uses: elbv2 has no tag filter and tags are read apart with DescribeTags,
//! up to 20 resources per call, so `read` (by ARN) and `list` (everything, kept when
//! tagged with the stack) both describe objects, fetch their tags and convert each
//! object with the type's one conversion (`live_resources`).

mod listener;
mod listener_rule;
mod load_balancer;
mod target_group;
mod target_group_attachment;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, RedirectActionConfig, RedirectActionStatusCodeEnum, Tag,
};
use aws_sdk_elasticloadbalancingv2::Client;
use stackup_model::{Input, Properties, Urn, Value};
use stackup_provider::{
    diff_by_schema, CheckFailure, DiffRequest, DiffResponse, ErrorKind, ListRequest, LiveResource, Provider,
    ProviderError, Schema, UpdateRequest,
};

pub use listener::{Listener, ListenerArgs};
pub use listener_rule::{ListenerRule, ListenerRuleArgs};
pub use load_balancer::{LoadBalancer, LoadBalancerArgs};
pub use target_group::{TargetGroup, TargetGroupArgs};
pub use target_group_attachment::{TargetGroupAttachment, TargetGroupAttachmentArgs};

use crate::common::{changed, found};
use crate::props::{is_known, props};
use crate::{classify, tags, AwsClients};

type LoadBalancerObject = aws_sdk_elasticloadbalancingv2::types::LoadBalancer;
type ListenerObject = aws_sdk_elasticloadbalancingv2::types::Listener;

/// Every elbv2 provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let elbv2 = clients.elbv2.clone();
    vec![
        Arc::new(LoadBalancer::new(
            elbv2.clone(),
            clients.ec2.clone(),
            clients.tagging.clone(),
        )),
        Arc::new(TargetGroup::new(elbv2.clone(), clients.tagging.clone())),
        Arc::new(Listener::new(elbv2.clone())),
        Arc::new(ListenerRule::new(elbv2.clone())),
        Arc::new(TargetGroupAttachment::new(elbv2.clone())),
    ]
}

/// What a listener (default action) or a listener rule does with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum ListenerAction {
    /// Forward to a target group.
    Forward { target_group_arn: Input<String> },
    /// 301 to HTTPS:443, same host, path and query.
    RedirectToHttps,
    /// Answer directly.
    FixedResponse {
        status_code: i64,
        content_type: String,
        body: String,
    },
}

/// Input form: a map `{type: "forward", target_group_arn}`, `{type: "redirect"}` or
/// `{type: "fixed-response", status_code, content_type, body}`.
impl From<ListenerAction> for Value {
    fn from(action: ListenerAction) -> Value {
        let map = match action {
            ListenerAction::Forward { target_group_arn } => props([
                ("type", TYPE_FORWARD.into()),
                ("target_group_arn", target_group_arn.into()),
            ]),
            ListenerAction::RedirectToHttps => props([("type", TYPE_REDIRECT.into())]),
            ListenerAction::FixedResponse {
                status_code,
                content_type,
                body,
            } => props([
                ("type", TYPE_FIXED.into()),
                ("status_code", status_code.into()),
                ("content_type", content_type.into()),
                ("body", body.into()),
            ]),
        };
        Value::Map(map)
    }
}

/// A target group's health check.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheck {
    /// The HTTP path probed, e.g. "/health".
    pub path: String,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    /// The HTTP codes counted healthy: "200", "200,302" or "200-399".
    pub matcher: String,
}

impl HealthCheck {
    /// An HTTP 200 check of `path` every 15 s (5 s timeout): two answers in a row make
    /// a target healthy, two misses unhealthy.
    pub fn http(path: &str) -> HealthCheck {
        HealthCheck {
            path: path.into(),
            interval_seconds: 15,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: "200".into(),
        }
    }
}

/// Input form: a map with the struct's field names as keys.
impl From<HealthCheck> for Value {
    fn from(h: HealthCheck) -> Value {
        Value::Map(props([
            ("path", h.path.into()),
            ("interval_seconds", h.interval_seconds.into()),
            ("timeout_seconds", h.timeout_seconds.into()),
            ("healthy_threshold", h.healthy_threshold.into()),
            ("unhealthy_threshold", h.unhealthy_threshold.into()),
            ("matcher", h.matcher.into()),
        ]))
    }
}

const TYPE_FORWARD: &str = "forward";
const TYPE_REDIRECT: &str = "redirect";
const TYPE_FIXED: &str = "fixed-response";

/// The redirect `RedirectToHttps` stands for; `#{...}` keep the request's own parts.
const REDIRECT_PROTOCOL: &str = "HTTPS";
const REDIRECT_PORT: &str = "443";
const REDIRECT_HOST: &str = "#{host}";
const REDIRECT_PATH: &str = "/#{path}";
const REDIRECT_QUERY: &str = "#{query}";

/// The content types a fixed response may declare.
const FIXED_CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// The longest fixed-response body AWS accepts.
const FIXED_BODY_MAX: usize = 1024;

/// DescribeTags and the Describe calls by ARN accept at most 20 ARNs per call.
const ARNS_PER_CALL: usize = 20;

fn failure(failures: &mut Vec<CheckFailure>, property: &str, reason: impl Into<String>) {
    failures.push(CheckFailure {
        property: property.to_string(),
        reason: reason.into(),
    });
}

/// Validates the action input `key`; parts not known until apply are left alone.
pub(crate) fn check_action(inputs: &Properties, key: &str, failures: &mut Vec<CheckFailure>) {
    let Some(v) = inputs.get(key) else {
        failure(failures, key, "is required");
        return;
    };
    let Some(map) = v.as_map() else {
        if is_known(v) {
            failure(failures, key, "must be a map with a 'type'");
        }
        return;
    };
    let field = |name: &str| map.get(name).filter(|v| is_known(v));
    match map.get("type").and_then(Value::as_str) {
        Some(TYPE_FORWARD) => {
            let arn = map.get("target_group_arn");
            let ok = match arn {
                Some(v) if is_known(v) => v.as_str().is_some_and(|s| !s.is_empty()),
                Some(_) => true,
                None => false,
            };
            if !ok {
                failure(failures, key, "a forward action needs a target_group_arn");
            }
        }
        Some(TYPE_REDIRECT) => {}
        Some(TYPE_FIXED) => {
            if let Some(code) = field("status_code") {
                if !code.as_int().is_some_and(valid_fixed_status) {
                    failure(
                        failures,
                        key,
                        "a fixed response's status_code must be a 2XX, 4XX or 5XX code",
                    );
                }
            }
            if let Some(ct) = field("content_type") {
                let ok = ct
                    .as_str()
                    .is_some_and(|s| s.is_empty() || FIXED_CONTENT_TYPES.contains(&s));
                if !ok {
                    failure(
                        failures,
                        key,
                        format!(
                            "a fixed response's content_type must be one of {}",
                            FIXED_CONTENT_TYPES.join(", ")
                        ),
                    );
                }
            }
            if let Some(body) = field("body") {
                if body.as_str().is_none_or(|s| s.len() > FIXED_BODY_MAX) {
                    failure(
                        failures,
                        key,
                        format!("a fixed response's body must be a string of at most {FIXED_BODY_MAX} bytes"),
                    );
                }
            }
        }
        Some(other) => failure(
            failures,
            key,
            format!("unknown action type '{other}': use forward, redirect or fixed-response"),
        ),
        None => failure(failures, key, "needs a 'type': forward, redirect or fixed-response"),
    }
}

fn valid_fixed_status(code: i64) -> bool {
    (200..300).contains(&code) || (400..600).contains(&code)
}

/// The SDK action of the resolved action input `key`.
pub(crate) fn action_to_sdk(inputs: &Properties, key: &str) -> Result<Action, ProviderError> {
    let map = inputs
        .get(key)
        .ok_or_else(|| ProviderError::invalid(format!("input '{key}' is required")))?
        .as_map()
        .ok_or_else(|| ProviderError::invalid("an action must be a map with a 'type'"))?;
    let str_field = |name: &str| map.get(name).and_then(Value::as_str).unwrap_or("");
    match str_field("type") {
        TYPE_FORWARD => {
            let arn = str_field("target_group_arn");
            if arn.is_empty() {
                return Err(ProviderError::invalid("a forward action needs a target_group_arn"));
            }
            Ok(Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(arn)
                .build())
        }
        TYPE_REDIRECT => Ok(Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol(REDIRECT_PROTOCOL)
                    .port(REDIRECT_PORT)
                    .host(REDIRECT_HOST)
                    .path(REDIRECT_PATH)
                    .query(REDIRECT_QUERY)
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build()),
        TYPE_FIXED => {
            let code = map
                .get("status_code")
                .and_then(Value::as_int)
                .ok_or_else(|| ProviderError::invalid("a fixed response needs an integer status_code"))?;
            let mut config = FixedResponseActionConfig::builder().status_code(code.to_string());
            // An empty content type or body is the same as none; AWS reads none back.
            let content_type = str_field("content_type");
            if !content_type.is_empty() {
                config = config.content_type(content_type);
            }
            let body = str_field("body");
            if !body.is_empty() {
                config = config.message_body(body);
            }
            Ok(Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(config.build())
                .build())
        }
        other => Err(ProviderError::invalid(format!("unknown action type '{other}'"))),
    }
}

/// The input form of live actions. Anything stackup would not have created (several
/// actions, weighted forwards, a redirect elsewhere, authentication) reads as a map
/// that differs from every valid input, so that the diff shows it and an update
/// restores the declared action.
pub(crate) fn action_from_sdk(actions: &[Action]) -> Value {
    let mut sorted: Vec<&Action> = actions.iter().collect();
    sorted.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
    let [action] = sorted.as_slice() else {
        return Value::Map(props([
            ("type", "(several actions)".into()),
            ("count", (actions.len() as i64).into()),
        ]));
    };
    match action.r#type() {
        Some(ActionTypeEnum::Forward) => {
            // AWS reports a plain forward both ways: TargetGroupArn and a one-group
            // ForwardConfig; moto only the former.
            let groups = action.forward_config().map(|f| f.target_groups()).unwrap_or_default();
            let arn = action
                .target_group_arn()
                .or_else(|| match groups {
                    [only] => only.target_group_arn(),
                    _ => None,
                })
                .unwrap_or_default();
            let mut map = props([("type", TYPE_FORWARD.into()), ("target_group_arn", arn.into())]);
            if groups.len() > 1 {
                map.insert("weighted_target_groups".into(), (groups.len() as i64).into());
            }
            Value::Map(map)
        }
        Some(ActionTypeEnum::Redirect) => {
            let c = action.redirect_config();
            let part = |f: fn(&RedirectActionConfig) -> Option<&str>| c.and_then(f).unwrap_or("");
            let code = c.and_then(|c| c.status_code()).map(|s| s.as_str()).unwrap_or("");
            let canonical = part(RedirectActionConfig::protocol) == REDIRECT_PROTOCOL
                && part(RedirectActionConfig::port) == REDIRECT_PORT
                && part(RedirectActionConfig::host) == REDIRECT_HOST
                && part(RedirectActionConfig::path) == REDIRECT_PATH
                && part(RedirectActionConfig::query) == REDIRECT_QUERY
                && code == RedirectActionStatusCodeEnum::Http301.as_str();
            let mut map = props([("type", TYPE_REDIRECT.into())]);
            if !canonical {
                let target = format!(
                    "{}://{}:{}{}?{} ({code})",
                    part(RedirectActionConfig::protocol),
                    part(RedirectActionConfig::host),
                    part(RedirectActionConfig::port),
                    part(RedirectActionConfig::path),
                    part(RedirectActionConfig::query),
                );
                map.insert("redirect".into(), target.into());
            }
            Value::Map(map)
        }
        Some(ActionTypeEnum::FixedResponse) => {
            let c = action.fixed_response_config();
            let code = c.and_then(|c| c.status_code()).unwrap_or_default();
            let status: Value = code.parse::<i64>().map_or_else(|_| code.into(), Value::Int);
            Value::Map(props([
                ("type", TYPE_FIXED.into()),
                ("status_code", status),
                (
                    "content_type",
                    c.and_then(|c| c.content_type()).unwrap_or_default().into(),
                ),
                ("body", c.and_then(|c| c.message_body()).unwrap_or_default().into()),
            ]))
        }
        other => Value::Map(props([("type", other.map(|t| t.as_str()).unwrap_or("(none)").into())])),
    }
}

/// Sorts and deduplicates a list of ids once every entry is known: their order means
/// nothing to AWS, which reports them in an order of its own.
pub(crate) fn sort_known_ids(inputs: &mut Properties, key: &str, failures: &mut Vec<CheckFailure>) {
    let Some(v) = inputs.get_mut(key) else {
        inputs.insert(key.into(), Value::List(Vec::new()));
        return;
    };
    let Value::List(items) = v else {
        if is_known(v) {
            failure(failures, key, "must be a list of ids");
        }
        return;
    };
    if !items.iter().all(is_known) {
        return;
    }
    if items.iter().any(|i| i.as_str().is_none_or(str::is_empty)) {
        failure(failures, key, "must hold non-empty strings only");
        return;
    }
    items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    items.dedup();
}

/// Validates an elbv2 name (load balancer, target group): 1 to 32 letters, digits and
/// hyphens, not starting or ending with a hyphen.
pub(crate) fn check_name(inputs: &Properties, failures: &mut Vec<CheckFailure>) {
    let Some(v) = inputs.get("name") else {
        failure(failures, "name", "is required");
        return;
    };
    let ok = v.as_str().is_some_and(|n| {
        !n.is_empty()
            && n.len() <= 32
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !n.starts_with('-')
            && !n.ends_with('-')
    });
    if !ok {
        failure(
            failures,
            "name",
            "must be 1 to 32 letters, digits and hyphens, not starting or ending with a hyphen",
        );
    }
}

/// Validates a port input.
pub(crate) fn check_port(inputs: &Properties, key: &str, failures: &mut Vec<CheckFailure>) {
    match inputs.get(key) {
        Some(v) if !is_known(v) => {}
        Some(v) if v.as_int().is_some_and(|p| (1..=65535).contains(&p)) => {}
        _ => failure(failures, key, "must be a port number from 1 to 65535"),
    }
}

/// Upper-cases a protocol input and checks it is HTTP or HTTPS (application load
/// balancers speak nothing else).
pub(crate) fn check_protocol(inputs: &mut Properties, failures: &mut Vec<CheckFailure>) {
    let Some(v) = inputs.get("protocol") else {
        failure(failures, "protocol", "is required: HTTP or HTTPS");
        return;
    };
    if !is_known(v) {
        return;
    }
    match v.as_str().map(str::to_ascii_uppercase) {
        Some(p) if p == "HTTP" || p == "HTTPS" => {
            inputs.insert("protocol".into(), Value::String(p));
        }
        _ => failure(failures, "protocol", "must be HTTP or HTTPS"),
    }
}

/// An i64 input as the i32 the SDK takes.
pub(crate) fn i32_of(inputs: &Properties, key: &str) -> Result<i32, ProviderError> {
    inputs
        .get(key)
        .and_then(Value::as_int)
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| ProviderError::invalid(format!("input '{key}' must be a 32-bit integer")))
}

/// The diff of a type whose name is unique per region (load balancer, target group): a
/// replacement that keeps the name cannot exist beside the old object, so it deletes
/// the old one first; a rename creates the new one first.
pub(crate) fn diff_unique_name(schema: &Schema, req: DiffRequest<'_>) -> DiffResponse {
    let mut diff = diff_by_schema(schema, req.old_inputs, req.new_inputs);
    diff.delete_before_replace = !diff.replace.is_empty() && !changed(&diff.changed, "name");
    diff
}

/// Validates a required reference input (an id or ARN): a non-empty string once known.
pub(crate) fn check_required(inputs: &Properties, key: &str, failures: &mut Vec<CheckFailure>) {
    if !inputs
        .get(key)
        .is_some_and(|v| !is_known(v) || v.as_str().is_some_and(|s| !s.is_empty()))
    {
        failure(failures, key, "is required");
    }
}

/// elbv2 tags from a tag map.
pub(crate) fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Live elbv2 tags as `(key, value)` pairs, for the service-independent tag helpers.
fn tag_pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
}

/// The live user tags (stackup's own removed) as a property value.
pub(crate) fn live_tags(live: &[Tag]) -> Value {
    tags::user_tags(tag_pairs(live))
}

/// Calls `describe` on `arns`, 20 at a time. AWS fails a whole batch when one ARN in it
/// no longer exists (moto does for some calls, skips the ARN for others): such a batch
/// is asked again one ARN at a time, and an ARN still not found is left out as gone.
pub(crate) async fn by_arn_batches<T, F, Fut>(arns: &[String], mut describe: F) -> Result<Vec<T>, ProviderError>
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let mut out = Vec::new();
    for chunk in arns.chunks(ARNS_PER_CALL) {
        match describe(chunk.to_vec()).await {
            Ok(found) => out.extend(found),
            Err(e) if e.kind == ErrorKind::NotFound => {
                for arn in chunk {
                    out.extend(found(describe(vec![arn.clone()]).await)?.unwrap_or_default());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The tags of each of `arns`; an object deleted meanwhile has no entry.
async fn describe_tags(elbv2: &Client, arns: &[String]) -> Result<BTreeMap<String, Vec<Tag>>, ProviderError> {
    let found = by_arn_batches(arns, |chunk| async move {
        let out = elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk))
            .send()
            .await
            .map_err(|e| classify("DescribeTags", e))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .filter_map(|d| Some((d.resource_arn()?.to_string(), d.tags().to_vec())))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(found.into_iter().collect())
}

/// Succeeds when the existing object `arn` carries `urn` as its `stackup:urn`: it is
/// this resource's, left by an interrupted create, and is adopted. Any other object in
/// the way is someone else's: a Conflict, described by `taken`.
pub(crate) async fn ensure_ours(
    elbv2: &Client,
    arn: &str,
    urn: &Urn,
    taken: impl FnOnce() -> String,
) -> Result<(), ProviderError> {
    let live = describe_tags(elbv2, &[arn.to_string()])
        .await?
        .remove(arn)
        .unwrap_or_default();
    if tags::owned_by(&tags::map(tag_pairs(&live)), urn) {
        Ok(())
    } else {
        Err(ProviderError::new(ErrorKind::Conflict, taken()))
    }
}

/// An elbv2 object that is read back by its ARN and tagged through DescribeTags.
pub(crate) trait Described {
    /// The object's ARN, its physical id.
    fn arn(&self) -> Option<&str>;
}

/// Which described objects a read-back reports, and under which URN.
#[derive(Clone, Copy)]
pub(crate) enum Wanted<'a> {
    /// `read`: the read targets, by ARN.
    Targets(&'a BTreeMap<String, Urn>),
    /// `list`: every object tagged with the stack, named by its `stackup:urn` tag, or
    /// by its record when the listing also refreshes it (`ListRequest::recorded`).
    Stack { req: &'a ListRequest, ty: &'static str },
}

/// The live resources among `objects` that `wanted` selects, each built by `live` from
/// the object, its URN and its tags, so that `read` and `list` report the same inputs
/// and outputs. An object without a tags entry was deleted between the two calls and is
/// left out.
pub(crate) async fn live_resources<T: Described>(
    elbv2: &Client,
    objects: &[T],
    wanted: Wanted<'_>,
    live: impl Fn(&T, Urn, &[Tag]) -> LiveResource,
) -> Result<Vec<LiveResource>, ProviderError> {
    let arns: Vec<String> = objects
        .iter()
        .filter_map(Described::arn)
        .filter(|arn| match wanted {
            Wanted::Targets(urns) => urns.contains_key(*arn),
            Wanted::Stack { .. } => true,
        })
        .map(str::to_string)
        .collect();
    let mut tags_by_arn = describe_tags(elbv2, &arns).await?;
    let mut found = Vec::new();
    for object in objects {
        let Some(arn) = object.arn() else { continue };
        let Some(live_tags) = tags_by_arn.remove(arn) else {
            continue;
        };
        let urn = match wanted {
            Wanted::Targets(urns) => urns.get(arn).cloned(),
            Wanted::Stack { req, ty } => req.urn_of(arn, || {
                tags::listed_urn(&req.stack, ty, arn, &tags::map(tag_pairs(&live_tags)))
            }),
        };
        if let Some(urn) = urn {
            found.push(live(object, urn, &live_tags));
        }
    }
    Ok(found)
}

/// When the update's diff found the tags changed, brings the object's user tags from
/// the old inputs to the new and restores the stackup tags, which an out-of-band edit
/// may have removed.
pub(crate) async fn update_tags(elbv2: &Client, req: &UpdateRequest) -> Result<(), ProviderError> {
    if !changed(&req.changed, "tags") {
        return Ok(());
    }
    let arn = req.id.as_str();
    let new_tags = tags::with_stackup(&req.stack, &req.urn, &req.new_inputs);
    tags::sync(
        &tags::desired(&req.old_inputs),
        &new_tags,
        |removed| async move {
            elbv2
                .remove_tags()
                .resource_arns(arn)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("RemoveTags", e))
        },
        || async {
            elbv2
                .add_tags()
                .resource_arns(arn)
                .set_tags(Some(sdk_tags(&new_tags)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("AddTags", e))
        },
    )
    .await
}

/// Load balancers by ARN, or with `None` every load balancer of the account and
/// region; all pages.
pub(crate) async fn describe_load_balancers(
    elbv2: &Client,
    arns: Option<Vec<String>>,
) -> Result<Vec<LoadBalancerObject>, ProviderError> {
    elbv2
        .describe_load_balancers()
        .set_load_balancer_arns(arns)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("DescribeLoadBalancers", e))
}

/// The listeners of the load balancer `lb_arn`, all pages.
pub(crate) async fn listeners_of(elbv2: &Client, lb_arn: &str) -> Result<Vec<ListenerObject>, ProviderError> {
    elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("DescribeListeners", e))
}

/// Every listener of every load balancer, for listing: elbv2 has no tag filter, and no
/// listener call across load balancers. A load balancer deleted between the two calls
/// has none.
pub(crate) async fn all_listeners(elbv2: &Client) -> Result<Vec<ListenerObject>, ProviderError> {
    let mut out = Vec::new();
    for lb in describe_load_balancers(elbv2, None).await? {
        let Some(arn) = lb.load_balancer_arn() else { continue };
        out.extend(found(listeners_of(elbv2, arn).await)?.unwrap_or_default());
    }
    Ok(out)
}
