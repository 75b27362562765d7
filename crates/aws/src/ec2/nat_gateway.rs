//! `aws:ec2:NatGateway`: a public NAT gateway in a subnet, with an Elastic IP.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::operation::describe_nat_gateways::{DescribeNatGatewaysError, DescribeNatGatewaysOutput};
use aws_sdk_ec2::types::{ConnectivityType, NatGatewayState, ResourceType};
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource, Provider,
    ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{default_tags, id_filters};
use crate::props::{opt_str, props, str_of};
use crate::{classify, tags};

/// The type token of a NAT gateway.
pub const TYPE: &str = "aws:ec2:NatGateway";

/// How long AWS may take to make a NAT gateway available or to delete it; both
/// usually take one to five minutes.
const NAT_DEADLINE: Duration = Duration::from_secs(600);

/// The longest ClientToken AWS accepts.
const CLIENT_TOKEN_MAX: usize = 64;

/// Arguments of a public NAT gateway.
#[derive(Clone, Debug)]
pub struct NatGatewayArgs {
    /// The public subnet the gateway lives in.
    pub subnet_id: Input<String>,
    /// The Elastic IP allocation the gateway's traffic leaves from.
    pub allocation_id: Input<String>,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for NatGatewayArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:CreateNatGateway",
        "ec2:DescribeNatGateways",
        "ec2:DeleteNatGateway",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("subnet_id", self.subnet_id.into()),
            ("allocation_id", self.allocation_id.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:ec2:NatGateway`.
pub struct NatGateway {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl NatGateway {
    /// A provider that calls AWS through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> NatGateway {
        NatGateway {
            ec2,
            schema: Schema::new(TYPE, &["subnet_id", "allocation_id"]),
        }
    }
}

/// A gateway in one of these states no longer routes and will not again; AWS (and
/// moto) keep listing deleted gateways for a while.
fn is_gone(state: Option<&NatGatewayState>) -> bool {
    matches!(
        state,
        Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)
    )
}

/// The gateway's primary address: the one created with it, from `allocation_id`.
fn primary_address(gateway: &aws_sdk_ec2::types::NatGateway) -> Option<&aws_sdk_ec2::types::NatGatewayAddress> {
    let addresses = gateway.nat_gateway_addresses();
    addresses
        .iter()
        .find(|a| a.is_primary() == Some(true))
        .or_else(|| addresses.first())
}

/// Maps a NAT gateway waiter's failure into the contract's kinds: a poll that failed is
/// classified like any call; a gateway that ended `failed` carries AWS's reason.
fn waiter_error(
    what: &str,
    id: &str,
    err: WaiterError<DescribeNatGatewaysOutput, DescribeNatGatewaysError>,
) -> ProviderError {
    match err {
        WaiterError::OperationFailed(failed) => classify("DescribeNatGateways", failed.into_error()),
        WaiterError::ExceededMaxWait(_) => ProviderError::new(
            ErrorKind::Transient,
            format!(
                "NAT gateway {id} did not become {what} within {}s",
                NAT_DEADLINE.as_secs()
            ),
        ),
        WaiterError::FailureState(state) => {
            let reason = match state.final_poll().as_result() {
                Ok(out) => out
                    .nat_gateways()
                    .first()
                    .map(|g| {
                        format!(
                            "state {}: {}",
                            g.state().map_or("unknown", |s| s.as_str()),
                            g.failure_message().unwrap_or("no reason given")
                        )
                    })
                    .unwrap_or_else(|| "no gateway reported".to_string()),
                Err(e) => e.message().unwrap_or("no message").to_string(),
            };
            ProviderError::new(
                ErrorKind::Other,
                format!("NAT gateway {id} did not become {what}: {reason}"),
            )
        }
        // The waiter could not even be built (a malformed request).
        other => ProviderError::invalid(format!("waiting for NAT gateway {id}: {other}")),
    }
}

fn outputs(id: &str, public_ip: &str, subnet_id: &str) -> Properties {
    props([
        ("id", id.into()),
        ("public_ip", public_ip.into()),
        ("subnet_id", subnet_id.into()),
    ])
}

#[async_trait]
impl Provider for NatGateway {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        default_tags(&mut inputs);
        CheckResponse {
            inputs,
            failures: Vec::new(),
        }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let subnet_id = str_of(&req.inputs, "subnet_id")?;
        let allocation_id = str_of(&req.inputs, "allocation_id")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let token: String = req.token.chars().take(CLIENT_TOKEN_MAX).collect();
        let out = self
            .ec2
            .create_nat_gateway()
            .subnet_id(subnet_id)
            .allocation_id(allocation_id)
            .connectivity_type(ConnectivityType::Public)
            .client_token(token)
            .tag_specifications(tags::ec2_spec(ResourceType::Natgateway, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateNatGateway", e))?;
        let created = out
            .nat_gateway()
            .ok_or_else(|| ProviderError::invalid("CreateNatGateway returned no gateway"))?;
        let id = created
            .nat_gateway_id()
            .ok_or_else(|| ProviderError::invalid("CreateNatGateway returned no gateway id"))?
            .to_string();
        let ready = self
            .ec2
            .wait_until_nat_gateway_available()
            .nat_gateway_ids(&id)
            .wait(NAT_DEADLINE)
            .await
            .map_err(|e| waiter_error("available", &id, e))?;
        // The public IP is assigned while the gateway is pending: take it from the
        // final poll, falling back to what the create answered.
        let public_ip = ready
            .as_result()
            .ok()
            .and_then(|o| o.nat_gateways().first())
            .and_then(primary_address)
            .or_else(|| primary_address(created))
            .and_then(|a| a.public_ip())
            .unwrap_or_default()
            .to_string();
        Ok(CreateResponse {
            outputs: outputs(&id, &public_ip, subnet_id),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = crate::common::urns_by_id(&req.targets);
        let mut found = Vec::new();
        for filter in id_filters("nat-gateway-id", urns.keys().cloned()) {
            let gateways = self
                .ec2
                .describe_nat_gateways()
                .filter(filter)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("DescribeNatGateways", e))?;
            for gateway in gateways {
                if is_gone(gateway.state()) {
                    continue;
                }
                let Some((id, urn)) = gateway.nat_gateway_id().and_then(|id| urns.get_key_value(id)) else {
                    continue;
                };
                let subnet_id = gateway.subnet_id().unwrap_or_default();
                let address = primary_address(&gateway);
                let allocation_id = address.and_then(|a| a.allocation_id()).unwrap_or_default();
                let public_ip = address.and_then(|a| a.public_ip()).unwrap_or_default();
                found.push(LiveResource {
                    urn: urn.clone(),
                    id: id.clone(),
                    inputs: props([
                        ("subnet_id", subnet_id.into()),
                        ("allocation_id", allocation_id.into()),
                        ("tags", tags::live_ec2(gateway.tags())),
                    ]),
                    outputs: outputs(id, public_ip, subnet_id),
                });
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "tags") {
            tags::sync_ec2(
                &self.ec2,
                &req.id,
                &req.stack,
                &req.urn,
                &req.old_inputs,
                &req.new_inputs,
            )
            .await?;
        }
        // Subnet and address force replacement, so the outputs are unchanged.
        Ok(UpdateResponse {
            outputs: outputs(
                &req.id,
                opt_str(&req.old_outputs, "public_ip").unwrap_or_default(),
                str_of(&req.new_inputs, "subnet_id")?,
            ),
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        match self.ec2.delete_nat_gateway().nat_gateway_id(&req.id).send().await {
            Ok(_) => {}
            Err(e) => {
                let e = classify("DeleteNatGateway", e);
                if e.kind == ErrorKind::NotFound {
                    return Ok(());
                }
                return Err(e);
            }
        }
        // Deleting takes minutes; the Elastic IP and the subnet stay in use until then.
        self.ec2
            .wait_until_nat_gateway_deleted()
            .nat_gateway_ids(&req.id)
            .wait(NAT_DEADLINE)
            .await
            .map_err(|e| waiter_error("deleted", &req.id, e))?;
        Ok(())
    }
}
