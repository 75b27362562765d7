//! `aws:ec2:RouteTableAssociation`: a subnet routed through a route table.

use async_trait::async_trait;
use aws_sdk_ec2::types::RouteTableAssociationStateCode;
use stackup_model::{Input, Properties, ResourceArgs};
use stackup_provider::{
    CreateRequest, CreateResponse, DeleteRequest, FindRequest, LiveResource, Provider, ProviderError, ReadRequest,
    ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{describe_each, done, id_filters};
use crate::classify;
use crate::props::{props, str_of};

/// The type token of a route table association.
pub const TYPE: &str = "aws:ec2:RouteTableAssociation";

/// Arguments of a route table association. It has no tags: AWS gives an association
/// nothing but an id.
#[derive(Clone, Debug)]
pub struct RouteTableAssociationArgs {
    pub route_table_id: Input<String>,
    pub subnet_id: Input<String>,
}

impl ResourceArgs for RouteTableAssociationArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:AssociateRouteTable",
        "ec2:DescribeRouteTables",
        "ec2:DisassociateRouteTable",
        "ec2:ReplaceRouteTableAssociation",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("route_table_id", self.route_table_id.into()),
            ("subnet_id", self.subnet_id.into()),
        ])
    }
}

/// The provider of `aws:ec2:RouteTableAssociation`.
pub struct RouteTableAssociation {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl RouteTableAssociation {
    /// A provider that calls AWS through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> RouteTableAssociation {
        RouteTableAssociation {
            ec2,
            // A subnet has exactly one association: the new one cannot exist beside the
            // old one.
            // A subnet has one association: a new subnet means a new association
            // (the old one first). A new route table is an update in place
            // (ReplaceRouteTableAssociation), with no moment without routes.
            schema: Schema::new(TYPE, &["subnet_id"]).delete_before_replace(),
        }
    }
}

/// An association in one of these states no longer routes the subnet.
fn is_gone(state: Option<&RouteTableAssociationStateCode>) -> bool {
    matches!(
        state,
        Some(
            RouteTableAssociationStateCode::Disassociating
                | RouteTableAssociationStateCode::Disassociated
                | RouteTableAssociationStateCode::Failed
        )
    )
}

impl RouteTableAssociation {
    /// Points association `id` at `table`; answers the new association id.
    async fn replace(&self, id: &str, table: &str) -> Result<String, ProviderError> {
        let out = self
            .ec2
            .replace_route_table_association()
            .association_id(id)
            .route_table_id(table)
            .send()
            .await
            .map_err(|e| classify("ReplaceRouteTableAssociation", e))?;
        out.new_association_id()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::invalid("ReplaceRouteTableAssociation returned no association id"))
    }

    /// The explicit association of `subnet` (id, route table), if it has one.
    async fn association_of(&self, subnet: &str) -> Result<Option<(String, String)>, ProviderError> {
        let tables = describe_each(
            id_filters("association.subnet-id", [subnet.to_string()]),
            |filter| async move { paginated!(self.ec2.describe_route_tables().filters(filter), "DescribeRouteTables") },
        )
        .await?;
        Ok(tables.iter().find_map(|t| {
            t.associations()
                .iter()
                .filter(|a| a.subnet_id() == Some(subnet) && !is_gone(a.association_state().and_then(|s| s.state())))
                .find_map(|a| {
                    Some((
                        a.route_table_association_id()?.to_string(),
                        a.route_table_id().or(t.route_table_id())?.to_string(),
                    ))
                })
        }))
    }
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

#[async_trait]
impl Provider for RouteTableAssociation {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The subnet's association with this table, when it has that one.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let table = str_of(&req.inputs, "route_table_id")?;
        let subnet = str_of(&req.inputs, "subnet_id")?;
        match self.association_of(subnet).await? {
            Some((id, current)) if current == table => crate::common::read_one(self, &req.urn, id, &req.inputs).await,
            _ => Ok(None),
        }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        // AssociateRouteTable has no ClientToken, and AWS has no waiter for it: a subnet
        // association takes effect as it is made.
        let table = str_of(&req.inputs, "route_table_id")?;
        let subnet = str_of(&req.inputs, "subnet_id")?;
        let associated = self
            .ec2
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| classify("AssociateRouteTable", e));
        let id = match associated {
            Ok(out) => out
                .association_id()
                .ok_or_else(|| ProviderError::invalid("AssociateRouteTable returned no association id"))?
                .to_string(),
            // The subnet is associated already: by an interrupted run of this stack, or
            // with another table. Take the association over and point it at ours.
            Err(e) if e.code.as_deref() == Some("Resource.AlreadyAssociated") => {
                let Some((current, current_table)) = self.association_of(subnet).await? else {
                    return Err(e);
                };
                if current_table == table {
                    current
                } else {
                    self.replace(&current, table).await?
                }
            }
            Err(e) => return Err(e),
        };
        Ok(CreateResponse {
            outputs: outputs(&id),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = crate::common::urns_by_id(&req.targets);
        let mut found = Vec::new();
        let filters = id_filters("association.route-table-association-id", urns.keys().cloned());
        let tables = describe_each(filters, |filter| async move {
            paginated!(self.ec2.describe_route_tables().filters(filter), "DescribeRouteTables")
        })
        .await?;
        for table in &tables {
            for association in table.associations() {
                let Some((id, urn)) = association
                    .route_table_association_id()
                    .and_then(|id| urns.get_key_value(id))
                else {
                    continue;
                };
                if is_gone(association.association_state().and_then(|s| s.state())) {
                    continue;
                }
                let route_table_id = association
                    .route_table_id()
                    .or(table.route_table_id())
                    .unwrap_or_default();
                found.push(LiveResource {
                    urn: urn.clone(),
                    id: id.clone(),
                    inputs: props([
                        ("route_table_id", route_table_id.into()),
                        ("subnet_id", association.subnet_id().unwrap_or_default().into()),
                    ]),
                    outputs: outputs(id),
                });
            }
        }
        Ok(ReadResponse { found })
    }

    /// A new route table: ReplaceRouteTableAssociation moves the subnet in one call
    /// (disassociating first would leave it on the main table's routes for a moment).
    /// The association gets a new id. One already gone is associated afresh.
    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "route_table_id") {
            let table = str_of(&req.new_inputs, "route_table_id")?;
            let new_id = match self.replace(&req.id, table).await {
                Ok(id) => id,
                Err(e) if e.code.as_deref() == Some("InvalidAssociationID.NotFound") => {
                    let created = self
                        .create(CreateRequest {
                            urn: req.urn.clone(),
                            stack: req.stack.clone(),
                            inputs: req.new_inputs.clone(),
                            token: String::new(),
                        })
                        .await?;
                    created.id
                }
                Err(e) => return Err(e),
            };
            return Ok(UpdateResponse {
                outputs: outputs(&new_id),
                new_id: Some(new_id),
            });
        }
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        // InvalidAssociationID.NotFound: already disassociated.
        crate::common::ok_if_gone(
            done(
                "DisassociateRouteTable",
                self.ec2.disassociate_route_table().association_id(&req.id).send(),
            )
            .await,
        )
    }
}
