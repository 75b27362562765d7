//! `aws:ec2:Vpc`: a VPC with its DNS attributes.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc as AwsVpc, VpcAttributeName, VpcState};
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

pub const TYPE: &str = "aws:ec2:Vpc";

/// Arguments of a VPC.
#[derive(Clone, Debug)]
pub struct VpcArgs {
    pub cidr_block: Input<String>,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for VpcArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = with_dependents_iam_actions![
        "ec2:CreateVpc",
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:ModifyVpcAttribute",
        "ec2:DeleteVpc",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("cidr_block", self.cidr_block.into()),
            ("enable_dns_support", self.enable_dns_support.into()),
            ("enable_dns_hostnames", self.enable_dns_hostnames.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

pub struct Vpc {
    ec2: aws_sdk_ec2::Client,
    dependents: Dependents,
    schema: Schema,
}

impl Vpc {
    pub(crate) fn new(ec2: aws_sdk_ec2::Client, dependents: Dependents) -> Vpc {
        Vpc {
            ec2,
            dependents,
            schema: Schema::new(TYPE, &["cidr_block"]),
        }
    }

    async fn set_attribute(&self, id: &str, name: VpcAttributeName, value: bool) -> Result<(), ProviderError> {
        let v = AttributeBooleanValue::builder().value(value).build();
        let req = self.ec2.modify_vpc_attribute().vpc_id(id);
        let req = match name {
            VpcAttributeName::EnableDnsHostnames => req.enable_dns_hostnames(v),
            _ => req.enable_dns_support(v),
        };
        req.send().await.map_err(|e| classify("ModifyVpcAttribute", e))?;
        Ok(())
    }

    async fn attribute(&self, id: &str, name: VpcAttributeName) -> Result<bool, ProviderError> {
        let out = self
            .ec2
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(name.clone())
            .send()
            .await
            .map_err(|e| classify("DescribeVpcAttribute", e))?;
        let v = match name {
            VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
            _ => out.enable_dns_support(),
        };
        Ok(v.and_then(|v| v.value()).unwrap_or(false))
    }

    /// The VPCs a read or list wants, as live resources.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let vpcs = describe_each(wanted.filters("vpc-id"), |filter| async move {
            paginated!(self.ec2.describe_vpcs().filters(filter), "DescribeVpcs")
        })
        .await?;
        let mut found = Vec::new();
        for (picked, vpc) in wanted.pick_all(&vpcs, AwsVpc::vpc_id, AwsVpc::tags) {
            found.push(self.resource(picked, vpc).await?);
        }
        Ok(found)
    }

    /// A live VPC as stackup reports it.
    async fn resource(&self, picked: Picked<'_>, vpc: &AwsVpc) -> Result<LiveResource, ProviderError> {
        let id = picked.id;
        // DescribeVpcAttribute has no batch form: one call per attribute per VPC.
        let (support, hostnames) = tokio::try_join!(
            self.attribute(&id, VpcAttributeName::EnableDnsSupport),
            self.attribute(&id, VpcAttributeName::EnableDnsHostnames)
        )?;
        let cidr = vpc.cidr_block().unwrap_or_default();
        Ok(LiveResource {
            urn: picked.urn,
            inputs: props([
                ("cidr_block", cidr.into()),
                ("enable_dns_support", support.into()),
                ("enable_dns_hostnames", hostnames.into()),
                ("tags", tags::live_ec2(vpc.tags())),
            ]),
            outputs: outputs(&id, cidr),
            id,
        })
    }
}

fn outputs(id: &str, cidr: &str) -> Properties {
    props([("id", id.into()), ("cidr_block", cidr.into())])
}

#[async_trait]
impl Provider for Vpc {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_cidr(&mut inputs, "cidr_block", &mut failures);
        inputs.entry("enable_dns_support".into()).or_insert(Value::Bool(true));
        inputs
            .entry("enable_dns_hostnames".into())
            .or_insert(Value::Bool(false));
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let cidr = str_of(&req.inputs, "cidr_block")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .ec2
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tags::ec2_spec(ResourceType::Vpc, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateVpc", e))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| ProviderError::invalid("CreateVpc returned no VPC id"))?
            .to_string();
        // Nothing to wait for if the create already answers an available VPC.
        let ready = out.vpc().and_then(|v| v.state()) == Some(&VpcState::Available);
        if !ready {
            wait::until(&format!("VPC {id}"), "available", AVAILABLE_PATIENCE, || async {
                let out = self
                    .ec2
                    .describe_vpcs()
                    .vpc_ids(&id)
                    .send()
                    .await
                    .map_err(|e| classify("DescribeVpcs", e))?;
                Ok(match out.vpcs().first().and_then(|v| v.state()) {
                    Some(VpcState::Available) => Poll::Ready(()),
                    Some(state) => Poll::Pending(state.as_str().to_string()),
                    None => Poll::Pending("not described yet".to_string()),
                })
            })
            .await?;
        }
        // AWS turns DNS support on by default and hostnames off; set both as declared.
        self.set_attribute(
            &id,
            VpcAttributeName::EnableDnsSupport,
            bool_of(&req.inputs, "enable_dns_support"),
        )
        .await?;
        self.set_attribute(
            &id,
            VpcAttributeName::EnableDnsHostnames,
            bool_of(&req.inputs, "enable_dns_hostnames"),
        )
        .await?;
        Ok(CreateResponse {
            outputs: outputs(&id, cidr),
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
        for (key, name) in [
            ("enable_dns_support", VpcAttributeName::EnableDnsSupport),
            ("enable_dns_hostnames", VpcAttributeName::EnableDnsHostnames),
        ] {
            if req.changed.iter().any(|c| c == key) {
                self.set_attribute(&req.id, name, bool_of(&req.new_inputs, key)).await?;
            }
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id, str_of(&req.new_inputs, "cidr_block")?),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        delete_when_released(
            &format!("VPC {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || done("DeleteVpc", self.ec2.delete_vpc().vpc_id(&req.id).send()),
            || self.dependents.of_vpc(req.urn.stack(), &req.id),
        )
        .await
    }

    /// Objects made outside the stack in the VPC (subnets, groups, route tables, ACLs,
    /// gateways, network interfaces) keep AWS from deleting it; the stack's own go first.
    async fn check_delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let users = self.dependents.of_vpc(req.urn.stack(), &req.id).await?;
        preflight(&format!("VPC {}", req.id), &users)
    }
}
