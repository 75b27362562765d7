//! `aws:sns:Subscription`: one endpoint subscribed to a topic.
//!
//! Subscribe is called with ReturnSubscriptionArn so that the id is the real ARN even
//! while an email or HTTP endpoint has not confirmed yet. ListSubscriptionsByTopic shows
//! such a subscription as `PendingConfirmation` instead of its ARN, so read matches a
//! pending entry by protocol and endpoint (SNS keeps one subscription per topic,
//! protocol and endpoint).

use std::collections::BTreeMap;

use async_trait::async_trait;
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FindRequest, LiveResource,
    Provider, ProviderError, ReadRequest, ReadResponse, ReadTarget, Schema, UpdateRequest, UpdateResponse,
};

use crate::classify;
use crate::common::{failure, ok_if_gone};
use crate::props::{is_known, opt_str, props, str_of};

/// The type token of a subscription.
pub const TYPE: &str = "aws:sns:Subscription";

/// What ListSubscriptionsByTopic shows instead of the ARN of an unconfirmed subscription.
const PENDING: &str = "PendingConfirmation";

/// The protocols a subscription can use without settings SubscriptionArgs does not carry
/// (firehose needs a subscription role).
const PROTOCOLS: [&str; 8] = [
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
];

/// Arguments of a subscription.
#[derive(Clone, Debug)]
pub struct SubscriptionArgs {
    /// The topic's ARN (its `arn` output).
    pub topic_arn: Input<String>,
    /// One of http, https, email, email-json, sms, sqs, application, lambda.
    pub protocol: String,
    /// The address for the protocol: an email address, a URL, a phone number or an ARN.
    pub endpoint: String,
}

impl ResourceArgs for SubscriptionArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Unsubscribe"];
    fn into_properties(self) -> Properties {
        props([
            ("topic_arn", self.topic_arn.into()),
            ("protocol", self.protocol.into()),
            ("endpoint", self.endpoint.into()),
        ])
    }
}

/// The `aws:sns:Subscription` provider.
pub struct Subscription {
    sns: aws_sdk_sns::Client,
    schema: Schema,
}

impl Subscription {
    /// A provider calling SNS through `sns`.
    pub fn new(sns: aws_sdk_sns::Client) -> Subscription {
        Subscription {
            sns,
            schema: Schema::new(TYPE, &["topic_arn", "protocol", "endpoint"]),
        }
    }
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

/// The topic a subscription belongs to: its ARN is the topic's plus `:<uuid>`; the
/// recorded input is the fallback for an id of another shape.
fn topic_of(t: &ReadTarget) -> Option<String> {
    match t.id.rsplit_once(':') {
        Some((topic, _)) if t.id.starts_with("arn:") => Some(topic.to_string()),
        _ => opt_str(&t.inputs, "topic_arn").map(str::to_string),
    }
}

/// Why `endpoint` does not suit `protocol`, if it does not.
fn endpoint_problem(protocol: &str, endpoint: &str) -> Option<String> {
    let ok = match protocol {
        "http" => endpoint.starts_with("http://"),
        "https" => endpoint.starts_with("https://"),
        "email" | "email-json" => endpoint.contains('@') && !endpoint.contains(char::is_whitespace),
        "sms" => {
            let digits = endpoint.strip_prefix('+').unwrap_or(endpoint);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        }
        _ => endpoint.starts_with("arn:"),
    };
    let expected = match protocol {
        "http" => "an http:// URL",
        "https" => "an https:// URL",
        "email" | "email-json" => "an email address",
        "sms" => "a phone number in E.164 form (+15555550100)",
        "sqs" => "an SQS queue ARN",
        "lambda" => "a Lambda function ARN",
        _ => "a platform endpoint ARN",
    };
    (!ok).then(|| format!("'{endpoint}' is not {expected}, as protocol '{protocol}' needs"))
}

#[async_trait]
impl Provider for Subscription {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        let mut fail = |property: &str, reason: String| failures.push(failure(property, reason));
        match inputs.get("topic_arn") {
            Some(v) if !is_known(v) => {}
            Some(Value::String(arn)) if arn.starts_with("arn:") && arn.contains(":sns:") => {}
            Some(Value::String(arn)) => fail("topic_arn", format!("'{arn}' is not an SNS topic ARN")),
            _ => fail("topic_arn", "must be a string".into()),
        }
        // SNS protocols are lower case; accept any case and record the canonical one.
        let protocol = inputs
            .get("protocol")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        match &protocol {
            Some(p) if PROTOCOLS.contains(&p.as_str()) => {
                match inputs.get("endpoint") {
                    Some(Value::String(endpoint)) => {
                        if let Some(reason) = endpoint_problem(p, endpoint) {
                            fail("endpoint", reason);
                        }
                    }
                    _ => fail("endpoint", "must be a string".into()),
                }
                inputs.insert("protocol".into(), Value::String(p.clone()));
            }
            Some(p) if p == "firehose" => fail(
                "protocol",
                "firehose subscriptions need a subscription role, which this resource does not manage".into(),
            ),
            Some(p) => fail("protocol", format!("'{p}' is not one of {}", PROTOCOLS.join(", "))),
            None => fail("protocol", "must be a string".into()),
        }
        CheckResponse { inputs, failures }
    }

    /// The topic's subscription of this endpoint by this protocol: subscriptions carry
    /// no tags. One still pending confirmation has no ARN to adopt; Subscribe answers it
    /// again.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let topic = str_of(&req.inputs, "topic_arn")?;
        let listed: Vec<aws_sdk_sns::types::Subscription> = match self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListSubscriptionsByTopic", e))
        {
            Ok(s) => s,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let arn = listed
            .iter()
            .filter(|s| {
                s.protocol() == opt_str(&req.inputs, "protocol") && s.endpoint() == opt_str(&req.inputs, "endpoint")
            })
            .find_map(|s| s.subscription_arn().filter(|a| a.starts_with("arn:")));
        match arn {
            Some(arn) => crate::common::read_one(self, &req.urn, arn.to_string(), &req.inputs).await,
            None => Ok(None),
        }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        // Subscribe is idempotent per topic, protocol and endpoint: a retry after an
        // interrupted run answers the same subscription.
        let out = self
            .sns
            .subscribe()
            .topic_arn(str_of(&req.inputs, "topic_arn")?)
            .protocol(str_of(&req.inputs, "protocol")?)
            .endpoint(str_of(&req.inputs, "endpoint")?)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| classify("Subscribe", e))?;
        let id = out
            .subscription_arn()
            .filter(|a| a.starts_with("arn:"))
            .ok_or_else(|| ProviderError::invalid("Subscribe returned no subscription ARN"))?
            .to_string();
        Ok(CreateResponse {
            outputs: outputs(&id),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut by_topic: BTreeMap<String, Vec<&ReadTarget>> = BTreeMap::new();
        for t in &req.targets {
            match topic_of(t) {
                Some(topic) => by_topic.entry(topic).or_default().push(t),
                None => {
                    return Err(ProviderError::invalid(format!(
                        "{}: cannot tell the topic of subscription {}",
                        t.urn, t.id
                    )))
                }
            }
        }
        let mut found = Vec::new();
        for (topic, targets) in by_topic {
            let listed = self
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&topic)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("ListSubscriptionsByTopic", e));
            let subscriptions = match listed {
                Ok(s) => s,
                // Deleting a topic deletes its subscriptions.
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for t in targets {
                let pending = |s: &&aws_sdk_sns::types::Subscription| {
                    s.subscription_arn() == Some(PENDING)
                        && s.protocol() == opt_str(&t.inputs, "protocol")
                        && s.endpoint() == opt_str(&t.inputs, "endpoint")
                };
                let Some(s) = subscriptions
                    .iter()
                    .find(|s| s.subscription_arn() == Some(t.id.as_str()))
                    .or_else(|| subscriptions.iter().find(pending))
                else {
                    continue;
                };
                found.push(LiveResource {
                    urn: t.urn.clone(),
                    id: t.id.clone(),
                    inputs: props([
                        ("topic_arn", s.topic_arn().unwrap_or(&topic).into()),
                        ("protocol", s.protocol().unwrap_or_default().into()),
                        ("endpoint", s.endpoint().unwrap_or_default().into()),
                    ]),
                    outputs: outputs(&t.id),
                });
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        // Every input is a replace key: nothing to change in place.
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = self
            .sns
            .unsubscribe()
            .subscription_arn(&req.id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("Unsubscribe", e));
        match result {
            // AWS may refuse to delete a subscription still pending confirmation; it
            // expires unconfirmed on its own and goes with its topic, and it delivers
            // nothing meanwhile.
            Err(e) if e.kind == ErrorKind::Invalid && e.message.to_ascii_lowercase().contains("pending") => Ok(()),
            other => ok_if_gone(other),
        }
    }
}
