//! `aws:ec2:InternetGatewayAttachment`: an internet gateway attached to a VPC.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::InternetGateway;
use stackup_model::{Input, Properties, ResourceArgs, Urn};
use stackup_provider::{
    CreateRequest, CreateResponse, DeleteRequest, FindRequest, LiveResource, Provider, ProviderError, ReadRequest,
    ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::dependents::{delete_when_released, preflight, Dependents};
use super::{describe_each, id_filters, DELETE_DEPENDENCY_DEADLINE};
use crate::classify;
use crate::props::{props, str_of};

/// The type token of an internet gateway attachment.
pub const TYPE: &str = "aws:ec2:InternetGatewayAttachment";

/// Arguments of an internet gateway attachment. It has no AWS object of its own, so no
/// tags: its id is `"{internet_gateway_id}:{vpc_id}"`.
#[derive(Clone, Debug)]
pub struct InternetGatewayAttachmentArgs {
    pub internet_gateway_id: Input<String>,
    pub vpc_id: Input<String>,
}

impl ResourceArgs for InternetGatewayAttachmentArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = with_dependents_iam_actions![
        "ec2:AttachInternetGateway",
        "ec2:DescribeInternetGateways",
        "ec2:DetachInternetGateway",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("internet_gateway_id", self.internet_gateway_id.into()),
            ("vpc_id", self.vpc_id.into()),
        ])
    }
}

/// The provider of `aws:ec2:InternetGatewayAttachment`.
pub struct InternetGatewayAttachment {
    ec2: aws_sdk_ec2::Client,
    dependents: Dependents,
    schema: Schema,
}

/// The gateway is attached to no VPC, or to another one: detaching is already done.
const NOT_ATTACHED: &str = "Gateway.NotAttached";
/// The gateway is attached already (to this VPC after an interrupted create, or to another).
const ALREADY_ASSOCIATED: &str = "Resource.AlreadyAssociated";

impl InternetGatewayAttachment {
    /// A provider that calls AWS through `ec2`.
    pub(crate) fn new(ec2: aws_sdk_ec2::Client, dependents: Dependents) -> InternetGatewayAttachment {
        InternetGatewayAttachment {
            ec2,
            dependents,
            // A gateway attaches to one VPC and a VPC takes one gateway, so the new
            // attachment cannot exist beside the old one.
            schema: Schema::new(TYPE, &["internet_gateway_id", "vpc_id"]).delete_before_replace(),
        }
    }

    /// The internet gateways `ids`, those that still exist.
    async fn describe(&self, ids: impl IntoIterator<Item = String>) -> Result<Vec<InternetGateway>, ProviderError> {
        describe_each(id_filters("internet-gateway-id", ids), |filter| async move {
            paginated!(
                self.ec2.describe_internet_gateways().filters(filter),
                "DescribeInternetGateways"
            )
        })
        .await
    }

    /// Whether `igw` is attached (or attaching) to `vpc`, per a fresh Describe.
    async fn is_attached(&self, igw: &str, vpc: &str) -> Result<bool, ProviderError> {
        Ok(self
            .describe([igw.to_string()])
            .await?
            .iter()
            .filter(|g| g.internet_gateway_id() == Some(igw))
            .any(|g| attached_to(g, vpc)))
    }
}

/// Whether `gateway` has a live attachment to `vpc`. AWS reports an attached internet
/// gateway's state as `available` (not `attached`), so both count; `detaching` and
/// `detached` count as gone.
fn attached_to(gateway: &InternetGateway, vpc: &str) -> bool {
    gateway
        .attachments()
        .iter()
        .any(|a| a.vpc_id() == Some(vpc) && matches!(a.state().map(|s| s.as_str()), Some("attached" | "available")))
}

/// Detaches gateway `igw` from `vpc`. AWS refuses while the VPC still has public
/// addresses mapped: those of the stack's NAT gateways and instances, which their own
/// deletes release asynchronously, are waited out; those of objects outside the stack
/// fail the detach at once, named. Already detached is success.
pub(super) async fn detach(
    ec2: &aws_sdk_ec2::Client,
    dependents: &Dependents,
    stack: &str,
    igw: &str,
    vpc: &str,
) -> Result<(), ProviderError> {
    delete_when_released(
        &format!("internet gateway {igw} (attached to {vpc})"),
        DELETE_DEPENDENCY_DEADLINE,
        || async {
            match ec2
                .detach_internet_gateway()
                .internet_gateway_id(igw)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| classify("DetachInternetGateway", e))
            {
                Err(e) if e.code.as_deref() == Some(NOT_ATTACHED) => Ok(()),
                other => other.map(|_| ()),
            }
        },
        || dependents.of_gateway_attachment(stack, vpc),
    )
    .await
}

/// The pre-flight of a detach: public addresses in `vpc` that the stack does not own.
pub(super) async fn check_detach(
    dependents: &Dependents,
    stack: &str,
    igw: &str,
    vpc: &str,
) -> Result<(), ProviderError> {
    let users = dependents.of_gateway_attachment(stack, vpc).await?;
    preflight(&format!("internet gateway {igw} (attached to {vpc})"), &users)
}

/// The gateway and VPC an attachment joins: from its id, which names the physical
/// attachment, or else (an id recorded in another form) from its inputs.
fn parts(id: &str, inputs: &Properties) -> Result<(String, String), ProviderError> {
    if let Some((igw, vpc)) = id
        .split_once(':')
        .filter(|(igw, vpc)| !igw.is_empty() && !vpc.is_empty())
    {
        return Ok((igw.to_string(), vpc.to_string()));
    }
    Ok((
        str_of(inputs, "internet_gateway_id")?.to_string(),
        str_of(inputs, "vpc_id")?.to_string(),
    ))
}

fn outputs(igw: &str, vpc: &str) -> Properties {
    props([
        ("id", format!("{igw}:{vpc}").into()),
        ("internet_gateway_id", igw.into()),
        ("vpc_id", vpc.into()),
    ])
}

#[async_trait]
impl Provider for InternetGatewayAttachment {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let igw = str_of(&req.inputs, "internet_gateway_id")?;
        let vpc = str_of(&req.inputs, "vpc_id")?;
        // AttachInternetGateway has no ClientToken: a create retried after an
        // interruption finds the attachment already made, which is success.
        if let Err(e) = self
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| classify("AttachInternetGateway", e))
        {
            if e.code.as_deref() != Some(ALREADY_ASSOCIATED) || !self.is_attached(igw, vpc).await? {
                return Err(e);
            }
        }
        Ok(CreateResponse {
            id: format!("{igw}:{vpc}"),
            outputs: outputs(igw, vpc),
        })
    }

    /// The attachment of the gateway to the VPC, when it is in place.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let igw = str_of(&req.inputs, "internet_gateway_id")?;
        let vpc = str_of(&req.inputs, "vpc_id")?;
        crate::common::read_one(self, &req.urn, format!("{igw}:{vpc}"), &req.inputs).await
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        // gateway id -> the targets attaching it (normally one).
        let mut by_gateway: BTreeMap<String, Vec<(Urn, String, String)>> = BTreeMap::new();
        for t in &req.targets {
            let (igw, vpc) = parts(&t.id, &t.inputs)?;
            by_gateway
                .entry(igw)
                .or_default()
                .push((t.urn.clone(), t.id.clone(), vpc));
        }
        let mut found = Vec::new();
        for gateway in self.describe(by_gateway.keys().cloned()).await? {
            let Some((igw, targets)) = gateway
                .internet_gateway_id()
                .and_then(|id| by_gateway.get_key_value(id))
            else {
                continue;
            };
            for (urn, id, vpc) in targets {
                if !attached_to(&gateway, vpc) {
                    continue;
                }
                found.push(LiveResource {
                    urn: urn.clone(),
                    id: id.clone(),
                    inputs: props([
                        ("internet_gateway_id", igw.as_str().into()),
                        ("vpc_id", vpc.as_str().into()),
                    ]),
                    outputs: outputs(igw, vpc),
                });
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        // Every input forces replacement, so there is nothing to change in place.
        let (igw, vpc) = parts(&req.id, &req.new_inputs)?;
        Ok(UpdateResponse {
            outputs: outputs(&igw, &vpc),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let (igw, vpc) = parts(&req.id, &req.inputs)?;
        detach(&self.ec2, &self.dependents, req.urn.stack(), &igw, &vpc).await
    }

    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let (igw, vpc) = parts(&req.id, &req.inputs)?;
        check_detach(&self.dependents, req.urn.stack(), &igw, &vpc).await
    }
}
