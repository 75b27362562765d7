//! `aws:ec2:Subnet`: a subnet in one availability zone.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Subnet as AwsSubnet, SubnetState};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::wait::{self, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ListRequest, ListResponse, LiveResource,
    Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::dependents::{delete_when_released, preflight, Dependents};
use super::{
    checked, describe_each, done, update_tags, Picked, Wanted, AVAILABLE_PATIENCE, DELETE_DEPENDENCY_DEADLINE,
};
use crate::props::{bool_of, check_cidr, props, str_of};
use crate::{classify, tags};

pub const TYPE: &str = "aws:ec2:Subnet";

/// Arguments of a subnet.
#[derive(Clone, Debug)]
pub struct SubnetArgs {
    pub vpc_id: Input<String>,
    pub cidr_block: Input<String>,
    pub availability_zone: Input<String>,
    /// Public subnets give instances a public address at launch.
    pub map_public_ip_on_launch: bool,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for SubnetArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = with_dependents_iam_actions![
        "ec2:CreateSubnet",
        "ec2:DescribeSubnets",
        "ec2:ModifySubnetAttribute",
        "ec2:DeleteSubnet",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("vpc_id", self.vpc_id.into()),
            ("cidr_block", self.cidr_block.into()),
            ("availability_zone", self.availability_zone.into()),
            ("map_public_ip_on_launch", self.map_public_ip_on_launch.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

pub struct Subnet {
    ec2: aws_sdk_ec2::Client,
    dependents: Dependents,
    schema: Schema,
}

impl Subnet {
    pub(crate) fn new(ec2: aws_sdk_ec2::Client, dependents: Dependents) -> Subnet {
        Subnet {
            ec2,
            dependents,
            schema: Schema::new(TYPE, &["vpc_id", "cidr_block", "availability_zone"]),
        }
    }

    async fn set_map_public_ip(&self, id: &str, value: bool) -> Result<(), ProviderError> {
        self.ec2
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
            .send()
            .await
            .map_err(|e| classify("ModifySubnetAttribute", e))?;
        Ok(())
    }

    /// The subnets a read or list wants, as live resources.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let subnets = describe_each(wanted.filters("subnet-id"), |filter| async move {
            paginated!(self.ec2.describe_subnets().filters(filter), "DescribeSubnets")
        })
        .await?;
        Ok(wanted
            .pick_all(&subnets, AwsSubnet::subnet_id, AwsSubnet::tags)
            .into_iter()
            .map(|(picked, s)| resource(picked, s))
            .collect())
    }
}

/// A live subnet as stackup reports it.
fn resource(picked: Picked<'_>, s: &AwsSubnet) -> LiveResource {
    let inputs = props([
        ("vpc_id", s.vpc_id().unwrap_or_default().into()),
        ("cidr_block", s.cidr_block().unwrap_or_default().into()),
        ("availability_zone", s.availability_zone().unwrap_or_default().into()),
        (
            "map_public_ip_on_launch",
            s.map_public_ip_on_launch().unwrap_or(false).into(),
        ),
        ("tags", tags::live_ec2(s.tags())),
    ]);
    LiveResource {
        urn: picked.urn,
        outputs: outputs(&picked.id, &inputs),
        id: picked.id,
        inputs,
    }
}

fn outputs(id: &str, inputs: &Properties) -> Properties {
    props([
        ("id", id.into()),
        ("cidr_block", inputs.get("cidr_block").cloned().unwrap_or(Value::Null)),
        (
            "availability_zone",
            inputs.get("availability_zone").cloned().unwrap_or(Value::Null),
        ),
    ])
}

#[async_trait]
impl Provider for Subnet {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_cidr(&mut inputs, "cidr_block", &mut failures);
        inputs
            .entry("map_public_ip_on_launch".into())
            .or_insert(Value::Bool(false));
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .ec2
            .create_subnet()
            .vpc_id(str_of(&req.inputs, "vpc_id")?)
            .cidr_block(str_of(&req.inputs, "cidr_block")?)
            .availability_zone(str_of(&req.inputs, "availability_zone")?)
            .tag_specifications(tags::ec2_spec(ResourceType::Subnet, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateSubnet", e))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .ok_or_else(|| ProviderError::invalid("CreateSubnet returned no subnet id"))?
            .to_string();
        // Nothing to wait for if the create already answers an available subnet.
        let ready = out.subnet().and_then(|v| v.state()) == Some(&SubnetState::Available);
        if !ready {
            wait::until(&format!("subnet {id}"), "available", AVAILABLE_PATIENCE, || async {
                let out = self
                    .ec2
                    .describe_subnets()
                    .subnet_ids(&id)
                    .send()
                    .await
                    .map_err(|e| classify("DescribeSubnets", e))?;
                Ok(match out.subnets().first().and_then(|s| s.state()) {
                    Some(SubnetState::Available) => Poll::Ready(()),
                    Some(state) => Poll::Pending(state.as_str().to_string()),
                    None => Poll::Pending("not described yet".to_string()),
                })
            })
            .await?;
        }
        if bool_of(&req.inputs, "map_public_ip_on_launch") {
            self.set_map_public_ip(&id, true).await?;
        }
        Ok(CreateResponse {
            outputs: outputs(&id, &req.inputs),
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
        if req.changed.iter().any(|c| c == "map_public_ip_on_launch") {
            self.set_map_public_ip(&req.id, bool_of(&req.new_inputs, "map_public_ip_on_launch"))
                .await?;
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id, &req.new_inputs),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        delete_when_released(
            &format!("subnet {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || done("DeleteSubnet", self.ec2.delete_subnet().subnet_id(&req.id).send()),
            || async {
                self.dependents.release_lingering("subnet-id", &req.id).await?;
                self.dependents.of_subnet(req.urn.stack(), &req.id).await
            },
        )
        .await
    }

    /// Network interfaces in the subnet that the stack does not own (instances not
    /// tagged with it, interfaces made by hand, other services' objects) keep AWS from
    /// deleting it.
    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let users = self.dependents.of_subnet(req.urn.stack(), &req.id).await?;
        preflight(&format!("subnet {}", req.id), &users)
    }
}
