//! `aws:ec2:InternetGateway`: an internet gateway, created detached.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use stackup_model::{Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, LiveResource, Provider, ProviderError,
    ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{default_tags, id_filters, retry_dependency, DELETE_DEPENDENCY_DEADLINE};
use crate::props::props;
use crate::{classify, tags};

/// The type token of an internet gateway.
pub const TYPE: &str = "aws:ec2:InternetGateway";

/// Arguments of an internet gateway. Attaching it to a VPC is a separate resource,
/// `aws:ec2:InternetGatewayAttachment`, so that the gateway can outlive a VPC change.
#[derive(Clone, Debug, Default)]
pub struct InternetGatewayArgs {
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for InternetGatewayArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:CreateInternetGateway",
        "ec2:DescribeInternetGateways",
        "ec2:DeleteInternetGateway",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([("tags", Value::from_string_map(&self.tags))])
    }
}

/// The provider of `aws:ec2:InternetGateway`.
pub struct InternetGateway {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl InternetGateway {
    /// A provider that calls AWS through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> InternetGateway {
        InternetGateway {
            ec2,
            // Only tags, which are updated in place.
            schema: Schema::new(TYPE, &[]),
        }
    }
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

#[async_trait]
impl Provider for InternetGateway {
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
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        // CreateInternetGateway takes no ClientToken; an interrupted create is found again
        // by its `stackup:urn` tag.
        let out = self
            .ec2
            .create_internet_gateway()
            .tag_specifications(tags::ec2_spec(ResourceType::InternetGateway, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateInternetGateway", e))?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| ProviderError::invalid("CreateInternetGateway returned no gateway id"))?
            .to_string();
        Ok(CreateResponse {
            outputs: outputs(&id),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = crate::common::urns_by_id(&req.targets);
        let mut found = Vec::new();
        for filter in id_filters("internet-gateway-id", urns.keys().cloned()) {
            let gateways = self
                .ec2
                .describe_internet_gateways()
                .filters(filter)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("DescribeInternetGateways", e))?;
            for gateway in gateways {
                let Some((id, urn)) = gateway.internet_gateway_id().and_then(|id| urns.get_key_value(id)) else {
                    continue;
                };
                found.push(LiveResource {
                    urn: urn.clone(),
                    id: id.clone(),
                    inputs: props([("tags", tags::live_ec2(gateway.tags()))]),
                    outputs: outputs(id),
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
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // AWS refuses to delete a gateway that is still attached; the detach of its
        // attachment (deleted first, by the graph) can take a moment to settle.
        retry_dependency(
            &format!("internet gateway {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || async {
                self.ec2
                    .delete_internet_gateway()
                    .internet_gateway_id(&req.id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("DeleteInternetGateway", e))
            },
        )
        .await
    }
}
