//! `aws:elbv2:Listener`: a listener of an application load balancer, with its
//! default action.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Certificate, ProtocolEnum};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource,
    Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    action_from_sdk, action_to_sdk, check_action, check_port, check_protocol, default_tags, describe_tags, i32_of,
    is_ours, live_tags, sdk_tags, sync_tags, ListenerAction,
};
use crate::common::{changed, ok_if_gone, urns_by_id};
use crate::props::{is_known, opt_str, props, str_of};
use crate::{classify, tags};

/// The type token of a listener.
pub const TYPE: &str = "aws:elbv2:Listener";

type Lsn = aws_sdk_elasticloadbalancingv2::types::Listener;

/// Arguments of a listener.
#[derive(Clone, Debug)]
pub struct ListenerArgs {
    pub load_balancer_arn: Input<String>,
    pub port: i64,
    /// HTTP or HTTPS.
    pub protocol: String,
    /// The default certificate; required for HTTPS, refused for HTTP.
    pub certificate_arn: Option<String>,
    pub default_action: ListenerAction,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for ListenerArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:RemoveTags",
        "elasticloadbalancing:DeleteListener",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("load_balancer_arn", self.load_balancer_arn.into()),
            ("port", self.port.into()),
            ("protocol", self.protocol.into()),
            (
                "certificate_arn",
                self.certificate_arn.map_or(Value::Null, Value::String),
            ),
            ("default_action", self.default_action.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:elbv2:Listener`.
pub struct Listener {
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    schema: Schema,
}

impl Listener {
    /// A provider that calls AWS through `elbv2`.
    pub fn new(elbv2: aws_sdk_elasticloadbalancingv2::Client) -> Listener {
        Listener {
            elbv2,
            schema: Schema::new(TYPE, &["load_balancer_arn"]),
        }
    }

    /// Listeners by ARN, in batches of 20. AWS fails a whole batch for one missing ARN
    /// (moto skips it): such a batch is asked again one ARN at a time.
    async fn describe(&self, arns: &[String]) -> Result<Vec<Lsn>, ProviderError> {
        let mut out = Vec::new();
        for chunk in arns.chunks(super::ARNS_PER_CALL) {
            match self.describe_batch(chunk).await {
                Ok(found) => out.extend(found),
                Err(e) if e.kind == ErrorKind::NotFound => {
                    for arn in chunk {
                        match self.describe_batch(std::slice::from_ref(arn)).await {
                            Ok(found) => out.extend(found),
                            Err(e) if e.kind == ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn describe_batch(&self, arns: &[String]) -> Result<Vec<Lsn>, ProviderError> {
        self.elbv2
            .describe_listeners()
            .set_listener_arns(Some(arns.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeListeners", e))
    }
}

/// The certificate list of resolved inputs: HTTPS only.
fn certificates(inputs: &Properties) -> Option<Vec<Certificate>> {
    let https = inputs.get("protocol").and_then(Value::as_str) == Some("HTTPS");
    let arn = opt_str(inputs, "certificate_arn").filter(|_| https)?;
    Some(vec![Certificate::builder().certificate_arn(arn).build()])
}

fn outputs(arn: &str) -> Properties {
    props([("id", arn.into()), ("arn", arn.into())])
}

/// The managed inputs of a live listener, normalised like `check` output.
fn live_inputs(l: &Lsn, tags: Value) -> Properties {
    let protocol = l.protocol().map(|p| p.as_str()).unwrap_or_default();
    // Only an HTTPS listener has a certificate that matters; moto keeps the old one
    // listed after a switch to HTTP.
    let certificate = match protocol {
        "HTTPS" => l
            .certificates()
            .iter()
            .find(|c| c.is_default() != Some(false))
            .and_then(|c| c.certificate_arn())
            .map_or(Value::Null, Value::from),
        _ => Value::Null,
    };
    props([
        ("load_balancer_arn", l.load_balancer_arn().unwrap_or_default().into()),
        ("port", i64::from(l.port().unwrap_or_default()).into()),
        ("protocol", protocol.into()),
        ("certificate_arn", certificate),
        ("default_action", action_from_sdk(l.default_actions())),
        ("tags", tags),
    ])
}

#[async_trait]
impl Provider for Listener {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_port(&inputs, "port", &mut failures);
        check_protocol(&mut inputs, &mut failures);
        let certificate = inputs.get("certificate_arn").cloned().unwrap_or(Value::Null);
        let certificate = match certificate {
            Value::String(s) if s.is_empty() => Value::Null,
            other => other,
        };
        let has_certificate = certificate != Value::Null;
        inputs.insert("certificate_arn".into(), certificate);
        match inputs.get("protocol").and_then(Value::as_str) {
            Some("HTTPS") if !has_certificate => failures.push(CheckFailure {
                property: "certificate_arn".into(),
                reason: "an HTTPS listener needs a certificate".into(),
            }),
            Some("HTTP") if has_certificate => failures.push(CheckFailure {
                property: "certificate_arn".into(),
                reason: "an HTTP listener takes no certificate".into(),
            }),
            _ => {}
        }
        if !inputs
            .get("load_balancer_arn")
            .is_some_and(|v| !is_known(v) || v.as_str().is_some_and(|s| !s.is_empty()))
        {
            failures.push(CheckFailure {
                property: "load_balancer_arn".into(),
                reason: "is required".into(),
            });
        }
        check_action(&inputs, "default_action", &mut failures);
        default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let lb_arn = str_of(&req.inputs, "load_balancer_arn")?;
        let port = i32_of(&req.inputs, "port")?;
        // A port takes one listener. AWS answers DuplicateListener (moto creates a
        // second one): look first, and adopt the listener an interrupted create of this
        // resource left.
        let existing: Vec<Lsn> = self
            .elbv2
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeListeners", e))?;
        if let Some(arn) = existing
            .iter()
            .filter(|l| l.port() == Some(port))
            .find_map(|l| l.listener_arn())
        {
            if !is_ours(&super::tags_of(&self.elbv2, arn).await?, &req.urn) {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "load balancer {lb_arn} already has a listener on port {port} ({arn}), not {}",
                        req.urn
                    ),
                ));
            }
            return Ok(CreateResponse {
                outputs: outputs(arn),
                id: arn.to_string(),
            });
        }
        let action = action_to_sdk(
            req.inputs
                .get("default_action")
                .ok_or_else(|| ProviderError::invalid("input 'default_action' is required"))?,
        )?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .elbv2
            .create_listener()
            .load_balancer_arn(lb_arn)
            .port(port)
            .protocol(ProtocolEnum::from(str_of(&req.inputs, "protocol")?))
            .set_certificates(certificates(&req.inputs))
            .default_actions(action)
            .set_tags(Some(sdk_tags(&tags)))
            .send()
            .await
            .map_err(|e| classify("CreateListener", e))?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| ProviderError::invalid("CreateListener returned no listener ARN"))?
            .to_string();
        Ok(CreateResponse {
            outputs: outputs(&arn),
            id: arn,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = urns_by_id(&req.targets);
        let arns: Vec<String> = urns.keys().cloned().collect();
        let listeners = self.describe(&arns).await?;
        let found_arns: Vec<String> = listeners
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        let mut tags = describe_tags(&self.elbv2, &found_arns).await?;
        let mut found = Vec::new();
        for l in &listeners {
            let Some((arn, urn)) = l.listener_arn().and_then(|a| urns.get_key_value(a)) else {
                continue;
            };
            // No tags entry: deleted between the two calls.
            let Some(live) = tags.remove(arn) else { continue };
            found.push(LiveResource {
                urn: urn.clone(),
                id: arn.clone(),
                inputs: live_inputs(l, live_tags(&live)),
                outputs: outputs(arn),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let listener_changed = ["port", "protocol", "certificate_arn", "default_action"]
            .iter()
            .any(|k| changed(&req.changed, k));
        if listener_changed {
            // Send the whole listener: a protocol change needs the certificate (or its
            // absence) and the action together.
            let action = action_to_sdk(
                req.new_inputs
                    .get("default_action")
                    .ok_or_else(|| ProviderError::invalid("input 'default_action' is required"))?,
            )?;
            self.elbv2
                .modify_listener()
                .listener_arn(&req.id)
                .port(i32_of(&req.new_inputs, "port")?)
                .protocol(ProtocolEnum::from(str_of(&req.new_inputs, "protocol")?))
                .set_certificates(certificates(&req.new_inputs))
                .default_actions(action)
                .send()
                .await
                .map_err(|e| classify("ModifyListener", e))?;
        }
        if changed(&req.changed, "tags") {
            sync_tags(
                &self.elbv2,
                &req.id,
                &req.stack,
                &req.urn,
                &req.old_inputs,
                &req.new_inputs,
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        ok_if_gone(
            self.elbv2
                .delete_listener()
                .listener_arn(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteListener", e)),
        )
    }
}
