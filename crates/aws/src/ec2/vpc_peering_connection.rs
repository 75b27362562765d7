//! `aws:ec2:VpcPeeringConnection`: a peering between two VPCs of this account and
//! region, requested and accepted in one create.
//!
//! As terraform-provider-aws's `aws_vpc_peering_connection` with `auto_accept`:
//! CreateVpcPeeringConnection, then wait until the request leaves `initiating-request`
//! (`pending-acceptance` or `active`), AcceptVpcPeeringConnection (retried while the
//! new id is not visible yet), then wait for `active`. A peering whose status is
//! `deleted`, `rejected`, `failed` or `expired` is gone. The delete waits for
//! `deleted`. Routes over the peering are declared in each side's route table
//! (`Route::vpc_peering_connection_id`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    PeeringConnectionOptionsRequest, ResourceType, VpcPeeringConnection as AwsPeering,
    VpcPeeringConnectionStateReasonCode as Code,
};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{checked, default_tags, describe_each, retry_while, update_tags, Picked, Wanted};
use crate::common::changed;
use crate::props::{bool_of, props, str_of};
use crate::{classify, tags};

pub const TYPE: &str = "aws:ec2:VpcPeeringConnection";

/// Arguments of a VPC peering connection, accepted by stackup at once (both VPCs are in
/// this account and region).
#[derive(Clone, Debug)]
pub struct VpcPeeringConnectionArgs {
    /// The requester.
    pub vpc_id: Input<String>,
    /// The accepter.
    pub peer_vpc_id: Input<String>,
    /// Whether each side resolves the other's public DNS names to private addresses.
    pub allow_remote_vpc_dns_resolution: bool,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for VpcPeeringConnectionArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:CreateVpcPeeringConnection",
        "ec2:AcceptVpcPeeringConnection",
        "ec2:DescribeVpcPeeringConnections",
        "ec2:ModifyVpcPeeringConnectionOptions",
        "ec2:DeleteVpcPeeringConnection",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("vpc_id", self.vpc_id.into()),
            ("peer_vpc_id", self.peer_vpc_id.into()),
            (
                "allow_remote_vpc_dns_resolution",
                self.allow_remote_vpc_dns_resolution.into(),
            ),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

pub struct VpcPeeringConnection {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

/// terraform-provider-aws: 1 minute for a request to be acknowledged and for an
/// accepted peering to become active, 1 minute to delete.
const ACTIVE: Patience = Patience::new(60, 3);
const DELETED: Patience = Patience::new(60, 3);
/// A new peering may not be visible to AcceptVpcPeeringConnection for a moment.
const NEW_ID_DEADLINE: Duration = Duration::from_secs(60);

/// The statuses of a peering that is gone for good.
fn gone(code: &Code) -> bool {
    matches!(code, Code::Deleted | Code::Rejected | Code::Failed | Code::Expired)
}

fn status_of(p: &AwsPeering) -> Option<&Code> {
    p.status().and_then(|s| s.code())
}

impl VpcPeeringConnection {
    pub(crate) fn new(ec2: aws_sdk_ec2::Client) -> VpcPeeringConnection {
        VpcPeeringConnection {
            ec2,
            schema: Schema::new(TYPE, &["vpc_id", "peer_vpc_id"]),
        }
    }

    /// The peering `id` as described now; None when AWS does not know it.
    async fn describe_one(&self, id: &str) -> Result<Option<AwsPeering>, ProviderError> {
        let out = self
            .ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(id)
            .send()
            .await
            .map_err(|e| classify("DescribeVpcPeeringConnections", e));
        match out {
            Ok(out) => Ok(out.vpc_peering_connections().first().cloned()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until the peering's status is one of `wanted`; a status that means gone
    /// fails the wait (unless wanted).
    async fn wait_for(&self, id: &str, state: &str, patience: Patience, wanted: &[Code]) -> Result<(), ProviderError> {
        wait::until(&format!("VPC peering connection {id}"), state, patience, || async {
            let Some(peering) = self.describe_one(id).await? else {
                return Ok(if wanted.contains(&Code::Deleted) {
                    Poll::Ready(())
                } else {
                    Poll::Pending("not visible yet".into())
                });
            };
            let reason = peering
                .status()
                .and_then(|s| s.message())
                .unwrap_or_default()
                .to_string();
            Ok(match status_of(&peering) {
                Some(code) if wanted.contains(code) => Poll::Ready(()),
                Some(code) if gone(code) => Poll::Failed(format!("{} ({reason})", code.as_str())),
                Some(code) => Poll::Pending(code.as_str().to_string()),
                None => Poll::Pending("no status yet".into()),
            })
        })
        .await
    }

    async fn set_dns_resolution(&self, id: &str, allow: bool) -> Result<(), ProviderError> {
        let options = PeeringConnectionOptionsRequest::builder()
            .allow_dns_resolution_from_remote_vpc(allow)
            .build();
        self.ec2
            .modify_vpc_peering_connection_options()
            .vpc_peering_connection_id(id)
            .requester_peering_connection_options(options.clone())
            .accepter_peering_connection_options(options)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("ModifyVpcPeeringConnectionOptions", e))
    }

    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let peerings = describe_each(wanted.filters("vpc-peering-connection-id"), |filter| async move {
            paginated!(
                self.ec2.describe_vpc_peering_connections().filters(filter),
                "DescribeVpcPeeringConnections"
            )
        })
        .await?;
        Ok(wanted
            .pick_all(&peerings, AwsPeering::vpc_peering_connection_id, AwsPeering::tags)
            .into_iter()
            .filter(|(_, p)| status_of(p).is_none_or(|c| !gone(c)))
            .map(|(picked, p)| resource(picked, p))
            .collect())
    }
}

/// A live peering as stackup reports it.
fn resource(picked: Picked<'_>, p: &AwsPeering) -> LiveResource {
    let requester = p.requester_vpc_info();
    let accepter = p.accepter_vpc_info();
    let dns = requester
        .and_then(|r| r.peering_options())
        .and_then(|o| o.allow_dns_resolution_from_remote_vpc())
        .unwrap_or(false);
    let vpc = requester.and_then(|r| r.vpc_id()).unwrap_or_default();
    let peer = accepter.and_then(|a| a.vpc_id()).unwrap_or_default();
    let status = status_of(p).map(|c| c.as_str()).unwrap_or_default();
    LiveResource {
        urn: picked.urn,
        inputs: props([
            ("vpc_id", vpc.into()),
            ("peer_vpc_id", peer.into()),
            ("allow_remote_vpc_dns_resolution", dns.into()),
            ("tags", tags::live_ec2(p.tags())),
        ]),
        outputs: outputs(&picked.id, status),
        id: picked.id,
    }
}

fn outputs(id: &str, status: &str) -> Properties {
    props([("id", id.into()), ("status", status.into())])
}

#[async_trait]
impl Provider for VpcPeeringConnection {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        default_tags(&mut inputs);
        inputs
            .entry("allow_remote_vpc_dns_resolution".into())
            .or_insert(Value::Bool(false));
        if let (Some(Value::String(a)), Some(Value::String(b))) = (inputs.get("vpc_id"), inputs.get("peer_vpc_id")) {
            if a == b {
                failures.push(crate::common::failure("peer_vpc_id", "a VPC cannot peer with itself"));
            }
        }
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let vpc = str_of(&req.inputs, "vpc_id")?;
        let peer = str_of(&req.inputs, "peer_vpc_id")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let out = self
            .ec2
            .create_vpc_peering_connection()
            .vpc_id(vpc)
            .peer_vpc_id(peer)
            .tag_specifications(tags::ec2_spec(ResourceType::VpcPeeringConnection, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateVpcPeeringConnection", e))?;
        let id = out
            .vpc_peering_connection()
            .and_then(|p| p.vpc_peering_connection_id())
            .ok_or_else(|| ProviderError::invalid("CreateVpcPeeringConnection returned no id"))?
            .to_string();
        let made = |e: ProviderError| e.created(id.clone());
        self.wait_for(
            &id,
            "pending-acceptance",
            ACTIVE,
            &[Code::PendingAcceptance, Code::Active],
        )
        .await
        .map_err(made)?;
        let accepted = retry_while(
            NEW_ID_DEADLINE,
            Duration::from_secs(2),
            |e| e.kind == ErrorKind::NotFound,
            || async {
                self.ec2
                    .accept_vpc_peering_connection()
                    .vpc_peering_connection_id(&id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("AcceptVpcPeeringConnection", e))
            },
        )
        .await;
        match accepted {
            Ok(()) => {}
            // Accepted already (a create retried after an interruption).
            Err(e) if e.code.as_deref() == Some("InvalidStateTransition") => {}
            Err(e) => return Err(made(e)),
        }
        self.wait_for(&id, "active", ACTIVE, &[Code::Active])
            .await
            .map_err(made)?;
        // Options can only be set on an active peering.
        if bool_of(&req.inputs, "allow_remote_vpc_dns_resolution") {
            self.set_dns_resolution(&id, true).await.map_err(made)?;
        }
        Ok(CreateResponse {
            outputs: outputs(&id, Code::Active.as_str()),
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
        if changed(&req.changed, "allow_remote_vpc_dns_resolution") {
            self.set_dns_resolution(&req.id, bool_of(&req.new_inputs, "allow_remote_vpc_dns_resolution"))
                .await?;
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id, Code::Active.as_str()),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let deleted = self
            .ec2
            .delete_vpc_peering_connection()
            .vpc_peering_connection_id(&req.id)
            .send()
            .await
            .map_err(|e| classify("DeleteVpcPeeringConnection", e));
        match deleted {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            // Refused because it is deleted, rejected, failed or expired already.
            Err(e) if e.code.as_deref() == Some("InvalidStateTransition") => {
                if self
                    .describe_one(&req.id)
                    .await?
                    .is_none_or(|p| status_of(&p).is_none_or(gone))
                {
                    return Ok(());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        self.wait_for(
            &req.id,
            "deleted",
            DELETED,
            &[Code::Deleted, Code::Rejected, Code::Failed, Code::Expired],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_rejected_failed_and_expired_peerings_are_gone() {
        for code in [Code::Deleted, Code::Rejected, Code::Failed, Code::Expired] {
            assert!(gone(&code), "{code:?}");
        }
        for code in [
            Code::InitiatingRequest,
            Code::PendingAcceptance,
            Code::Provisioning,
            Code::Active,
            Code::Deleting,
        ] {
            assert!(!gone(&code), "{code:?}");
        }
    }
}
