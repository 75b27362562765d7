//! `aws:elbv2:Listener`: a listener of an application load balancer, with its
//! default action.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Certificate, ProtocolEnum, Tag};
use stackup_model::{Input, Properties, ResourceArgs, Urn, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{
    action_from_sdk, action_to_sdk, all_listeners, by_arn_batches, check_action, check_port, check_protocol,
    check_required, ensure_ours, i32_of, listeners_of, live_resources, live_tags, sdk_tags, update_tags, Described,
    ListenerAction, Wanted,
};
use crate::common::{changed, ok_if_gone, urns_by_id};
use crate::props::{opt_str, props, str_of};
use crate::{classify, tags};

/// The type token of a listener.
pub const TYPE: &str = "aws:elbv2:Listener";

type Lsn = aws_sdk_elasticloadbalancingv2::types::Listener;

impl Described for Lsn {
    fn arn(&self) -> Option<&str> {
        self.listener_arn()
    }
}

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

    /// Listeners by ARN; the ones gone are left out.
    async fn describe(&self, arns: &[String]) -> Result<Vec<Lsn>, ProviderError> {
        by_arn_batches(arns, |chunk| self.describe_batch(chunk)).await
    }

    async fn describe_batch(&self, arns: Vec<String>) -> Result<Vec<Lsn>, ProviderError> {
        self.elbv2
            .describe_listeners()
            .set_listener_arns(Some(arns))
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

/// A live listener as `read` and `list` report it.
fn live(l: &Lsn, urn: Urn, tags: &[Tag]) -> LiveResource {
    let arn = l.listener_arn().unwrap_or_default();
    LiveResource {
        urn,
        id: arn.to_string(),
        inputs: live_inputs(l, live_tags(tags)),
        outputs: outputs(arn),
    }
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
        check_required(&inputs, "load_balancer_arn", &mut failures);
        check_action(&inputs, "default_action", &mut failures);
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let lb_arn = str_of(&req.inputs, "load_balancer_arn")?;
        let port = i32_of(&req.inputs, "port")?;
        // A port takes one listener. AWS answers DuplicateListener (moto creates a
        // second one): look first, and adopt the listener an interrupted create of this
        // resource left.
        let existing = listeners_of(&self.elbv2, lb_arn).await?;
        if let Some(arn) = existing
            .iter()
            .filter(|l| l.port() == Some(port))
            .find_map(|l| l.listener_arn())
        {
            ensure_ours(&self.elbv2, arn, &req.urn, || {
                format!(
                    "load balancer {lb_arn} already has a listener on port {port} ({arn}), not {}",
                    req.urn
                )
            })
            .await?;
            return Ok(CreateResponse {
                outputs: outputs(arn),
                id: arn.to_string(),
            });
        }
        let action = action_to_sdk(&req.inputs, "default_action")?;
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
        let found = live_resources(&self.elbv2, &listeners, Wanted::Targets(&urns), live).await?;
        Ok(ReadResponse { found })
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // Every listener of every load balancer, not only the stack's: a listener of the
        // stack may sit on a load balancer the stack does not own.
        let listeners = all_listeners(&self.elbv2).await?;
        let wanted = Wanted::Stack { req: &req, ty: TYPE };
        let found = live_resources(&self.elbv2, &listeners, wanted, live).await?;
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let listener_changed = ["port", "protocol", "certificate_arn", "default_action"]
            .iter()
            .any(|k| changed(&req.changed, k));
        if listener_changed {
            // Send the whole listener: a protocol change needs the certificate (or its
            // absence) and the action together.
            let action = action_to_sdk(&req.new_inputs, "default_action")?;
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
        update_tags(&self.elbv2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
            new_id: None,
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
