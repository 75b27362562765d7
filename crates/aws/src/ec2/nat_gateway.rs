//! `aws:ec2:NatGateway`: a public NAT gateway in a subnet, with an Elastic IP.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    ConnectivityType, NatGateway as AwsGateway, NatGatewayAddress, NatGatewayState, ResourceType,
};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{checked, describe_each, update_tags, Picked, Wanted, CLIENT_TOKEN_MAX};
use crate::common::client_token;
use crate::props::{opt_str, props, str_of};
use crate::{classify, tags};

/// The type token of a NAT gateway.
pub const TYPE: &str = "aws:ec2:NatGateway";

/// How long AWS may take to make a NAT gateway available or to delete it; both
/// usually take one to five minutes.
/// NAT gateways take a minute or two each way; poll at most every 5 seconds.
const NAT_PATIENCE: Patience = Patience::new(600, 5);

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

    /// The gateways a read or list wants, as live resources; gone ones are left out.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let gateways = describe_each(wanted.filters("nat-gateway-id"), |filter| async move {
            paginated!(self.ec2.describe_nat_gateways().filter(filter), "DescribeNatGateways")
        })
        .await?;
        Ok(wanted
            .pick_all(&gateways, AwsGateway::nat_gateway_id, AwsGateway::tags)
            .into_iter()
            .filter(|(_, gateway)| !is_gone(gateway.state()))
            .map(|(picked, gateway)| resource(picked, gateway))
            .collect())
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
fn primary_address(gateway: &AwsGateway) -> Option<&NatGatewayAddress> {
    let addresses = gateway.nat_gateway_addresses();
    addresses
        .iter()
        .find(|a| a.is_primary() == Some(true))
        .or_else(|| addresses.first())
}

fn outputs(id: &str, public_ip: &str, subnet_id: &str) -> Properties {
    props([
        ("id", id.into()),
        ("public_ip", public_ip.into()),
        ("subnet_id", subnet_id.into()),
    ])
}

/// A live gateway as stackup reports it.
fn resource(picked: Picked<'_>, gateway: &AwsGateway) -> LiveResource {
    let subnet_id = gateway.subnet_id().unwrap_or_default();
    let address = primary_address(gateway);
    let allocation_id = address.and_then(|a| a.allocation_id()).unwrap_or_default();
    let public_ip = address.and_then(|a| a.public_ip()).unwrap_or_default();
    LiveResource {
        urn: picked.urn,
        inputs: props([
            ("subnet_id", subnet_id.into()),
            ("allocation_id", allocation_id.into()),
            ("tags", tags::live_ec2(gateway.tags())),
        ]),
        outputs: outputs(&picked.id, public_ip, subnet_id),
        id: picked.id,
    }
}

impl NatGateway {
    /// Polls the gateway until it is in `wanted` (`Available`, or `Deleted`, which a
    /// gateway no longer listed also counts as); a gateway that ends `failed` carries
    /// AWS's reason. Returns the last description, if there was one.
    async fn wait(&self, id: &str, state: &str, wanted: NatGatewayState) -> Result<Option<AwsGateway>, ProviderError> {
        let deleting = wanted == NatGatewayState::Deleted;
        wait::until(&format!("NAT gateway {id}"), state, NAT_PATIENCE, || async {
            let described = self
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(id)
                .send()
                .await
                .map_err(|e| classify("DescribeNatGateways", e));
            let gateway = match described {
                Ok(out) => out.nat_gateways().first().cloned(),
                Err(e) if deleting && e.kind == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let now = gateway.as_ref().and_then(|g| g.state()).cloned();
            Ok(match (now, deleting) {
                (Some(s), _) if s == wanted => Poll::Ready(gateway),
                (None, true) => Poll::Ready(None),
                (None, false) => Poll::Pending("not listed yet".to_string()),
                (Some(NatGatewayState::Pending), false) => Poll::Pending("pending".to_string()),
                (Some(s), true) => Poll::Pending(s.as_str().to_string()),
                (Some(s), false) => Poll::Failed(format!(
                    "state {}: {}",
                    s.as_str(),
                    gateway
                        .as_ref()
                        .and_then(|g| g.failure_message())
                        .unwrap_or("no reason given")
                )),
            })
        })
        .await
    }
}

#[async_trait]
impl Provider for NatGateway {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        checked(req.inputs, Vec::new())
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let subnet_id = str_of(&req.inputs, "subnet_id")?;
        let allocation_id = str_of(&req.inputs, "allocation_id")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let token = client_token(&req.token, CLIENT_TOKEN_MAX);
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
        // Nothing to wait for if the create already answers an available gateway.
        let ready = if created.state() == Some(&NatGatewayState::Available) {
            Some(created.clone())
        } else {
            self.wait(&id, "available", NatGatewayState::Available).await?
        };
        // The public IP is assigned while the gateway is pending: take it from the
        // final poll, falling back to what the create answered.
        let public_ip = ready
            .as_ref()
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
        Ok(ReadResponse {
            found: self.found(&Wanted::read(&req.targets)).await?,
        })
    }

    /// moto ignores the tag filter on NAT gateways and answers every gateway of the
    /// account: `Wanted::pick` checks the stack's tag on each.
    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        Ok(Some(ListResponse {
            found: self.found(&Wanted::list(&req, TYPE)).await?,
        }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        update_tags(&self.ec2, &req).await?;
        // Subnet and address force replacement, so the outputs are unchanged.
        Ok(UpdateResponse {
            outputs: outputs(
                &req.id,
                opt_str(&req.old_outputs, "public_ip").unwrap_or_default(),
                str_of(&req.new_inputs, "subnet_id")?,
            ),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        match super::done(
            "DeleteNatGateway",
            self.ec2.delete_nat_gateway().nat_gateway_id(&req.id).send(),
        )
        .await
        {
            // Already gone: nothing to wait for.
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            other => other?,
        }
        // Deleting takes minutes; the Elastic IP and the subnet stay in use until then.
        self.wait(&req.id, "deleted", NatGatewayState::Deleted).await?;
        Ok(())
    }
}
