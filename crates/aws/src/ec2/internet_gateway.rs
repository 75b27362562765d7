//! `aws:ec2:InternetGateway`: an internet gateway, created detached.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{InternetGateway as AwsGateway, ResourceType};
use stackup_model::{Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ListRequest, ListResponse, LiveResource,
    Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::dependents::Dependents;
use super::internet_gateway_attachment::{check_detach, detach};
use super::{checked, describe_each, done, retry_dependency, update_tags, Picked, Wanted, DELETE_DEPENDENCY_DEADLINE};
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
    const IAM_ACTIONS: &'static [&'static str] = with_dependents_iam_actions![
        "ec2:CreateInternetGateway",
        "ec2:DescribeInternetGateways",
        "ec2:DetachInternetGateway",
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
    dependents: Dependents,
    schema: Schema,
}

impl InternetGateway {
    /// A provider that calls AWS through `ec2`.
    pub(crate) fn new(ec2: aws_sdk_ec2::Client, dependents: Dependents) -> InternetGateway {
        InternetGateway {
            ec2,
            dependents,
            // Only tags, which are updated in place.
            schema: Schema::new(TYPE, &[]),
        }
    }

    /// The VPCs gateway `id` is attached (or attaching) to; none when it is gone.
    async fn attached_vpcs(&self, id: &str) -> Result<Vec<String>, ProviderError> {
        let gateways: Vec<AwsGateway> = paginated!(
            self.ec2.describe_internet_gateways().filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("internet-gateway-id")
                    .values(id)
                    .build(),
            ),
            "DescribeInternetGateways"
        )?;
        Ok(gateways
            .iter()
            .flat_map(|g| g.attachments())
            .filter(|a| {
                matches!(
                    a.state().map(|s| s.as_str()),
                    Some("attached" | "attaching" | "available")
                )
            })
            .filter_map(|a| a.vpc_id().map(str::to_string))
            .collect())
    }

    /// The gateways a read or list wants, as live resources.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let gateways = describe_each(wanted.filters("internet-gateway-id"), |filter| async move {
            paginated!(
                self.ec2.describe_internet_gateways().filters(filter),
                "DescribeInternetGateways"
            )
        })
        .await?;
        Ok(wanted
            .pick_all(&gateways, AwsGateway::internet_gateway_id, AwsGateway::tags)
            .into_iter()
            .map(|(picked, gateway)| resource(picked, gateway))
            .collect())
    }
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

/// A live internet gateway as stackup reports it.
fn resource(picked: Picked<'_>, gateway: &AwsGateway) -> LiveResource {
    LiveResource {
        urn: picked.urn,
        inputs: props([("tags", tags::live_ec2(gateway.tags()))]),
        outputs: outputs(&picked.id),
        id: picked.id,
    }
}

#[async_trait]
impl Provider for InternetGateway {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        checked(req.inputs, Vec::new())
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
        Ok(ReadResponse {
            found: self.found(&Wanted::read(&req.targets)).await?,
        })
    }

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
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // AWS refuses to delete a gateway that is still attached. The stack's attachment
        // resource detaches it first; a sweep (no state, and attachments carry no tags)
        // relies on this detach instead.
        for vpc in self.attached_vpcs(&req.id).await? {
            detach(&self.ec2, &self.dependents, req.urn.stack(), &req.id, &vpc).await?;
        }
        // A detach can take a moment to settle.
        retry_dependency(
            &format!("internet gateway {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || {
                done(
                    "DeleteInternetGateway",
                    self.ec2.delete_internet_gateway().internet_gateway_id(&req.id).send(),
                )
            },
        )
        .await
    }

    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        for vpc in self.attached_vpcs(&req.id).await? {
            check_detach(&self.dependents, req.urn.stack(), &req.id, &vpc).await?;
        }
        Ok(())
    }
}
