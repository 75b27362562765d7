//! `aws:ec2:Eip`: an Elastic IP address allocated for use in a VPC.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use stackup_model::{Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::{checked, describe_each, retry_dependency, update_tags, Picked, Wanted, DELETE_DEPENDENCY_DEADLINE};
use crate::props::{is_known, opt_str, props};
use crate::{classify, tags};

/// The type token of an Elastic IP.
pub const TYPE: &str = "aws:ec2:Eip";

/// The only domain stackup allocates in: EC2-Classic addresses no longer exist.
const DOMAIN_VPC: &str = "vpc";

/// Arguments of an Elastic IP. Its address is chosen by AWS and reported as the
/// `public_ip` output.
#[derive(Clone, Debug, Default)]
pub struct EipArgs {
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for EipArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:AllocateAddress",
        "ec2:DescribeAddresses",
        "ec2:ReleaseAddress",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([("tags", Value::from_string_map(&self.tags))])
    }
}

/// The provider of `aws:ec2:Eip`.
pub struct Eip {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl Eip {
    /// A provider that calls AWS through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> Eip {
        Eip {
            ec2,
            schema: Schema::new(TYPE, &["domain"]),
        }
    }

    /// The addresses a read or list wants, as live resources.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        // DescribeAddresses is not paginated: it answers every matching address at once.
        let addresses = describe_each(wanted.filters("allocation-id"), |filter| async move {
            self.ec2
                .describe_addresses()
                .filters(filter)
                .send()
                .await
                .map(|out| out.addresses.unwrap_or_default())
                .map_err(|e| classify("DescribeAddresses", e))
        })
        .await?;
        Ok(wanted
            .pick_all(&addresses, Address::allocation_id, Address::tags)
            .into_iter()
            .map(|(picked, address)| resource(picked, address))
            .collect())
    }
}

fn outputs(id: &str, public_ip: &str) -> Properties {
    props([("id", id.into()), ("public_ip", public_ip.into())])
}

/// A live address as stackup reports it.
fn resource(picked: Picked<'_>, address: &Address) -> LiveResource {
    let domain = address.domain().map_or(DOMAIN_VPC, |d| d.as_str());
    LiveResource {
        urn: picked.urn,
        inputs: props([("domain", domain.into()), ("tags", tags::live_ec2(address.tags()))]),
        outputs: outputs(&picked.id, address.public_ip().unwrap_or_default()),
        id: picked.id,
    }
}

#[async_trait]
impl Provider for Eip {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        match inputs.get("domain") {
            None => {
                inputs.insert("domain".into(), DOMAIN_VPC.into());
            }
            Some(v) if !is_known(v) || v.as_str() == Some(DOMAIN_VPC) => {}
            Some(_) => failures.push(CheckFailure {
                property: "domain".into(),
                reason: format!("must be \"{DOMAIN_VPC}\""),
            }),
        }
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        // AllocateAddress takes no ClientToken; an interrupted create is found again by
        // its `stackup:urn` tag.
        let out = self
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tags::ec2_spec(ResourceType::ElasticIp, &tags))
            .send()
            .await
            .map_err(|e| classify("AllocateAddress", e))?;
        let id = out
            .allocation_id()
            .ok_or_else(|| ProviderError::invalid("AllocateAddress returned no allocation id"))?
            .to_string();
        Ok(CreateResponse {
            outputs: outputs(&id, out.public_ip().unwrap_or_default()),
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
        // The address never changes in place.
        Ok(UpdateResponse {
            outputs: outputs(&req.id, opt_str(&req.old_outputs, "public_ip").unwrap_or_default()),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // An address stays associated for a while after its NAT gateway or instance is
        // deleted; AWS then answers InvalidIPAddress.InUse, which is worth waiting out
        // like a dependency.
        retry_dependency(
            &format!("Elastic IP {}", req.id),
            DELETE_DEPENDENCY_DEADLINE,
            || async {
                self.ec2
                    .release_address()
                    .allocation_id(&req.id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| match classify("ReleaseAddress", e) {
                        e if e.code.as_deref() == Some("InvalidIPAddress.InUse") => ProviderError {
                            kind: ErrorKind::DependencyViolation,
                            ..e
                        },
                        e => e,
                    })
            },
        )
        .await
    }
}
