//! `aws:ec2:RouteTable`: a VPC route table and the routes stackup manages in it.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, RouteOrigin, RouteTable as AwsTable};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::{
    checked, describe_each, done, id_filters, retry_dependency, retry_while, update_tags, Picked, Wanted,
    CLIENT_TOKEN_MAX, DELETE_DEPENDENCY_DEADLINE,
};
use crate::common::client_token;
use crate::props::{is_known, list_of, normalise_cidr, opt_str, props, str_of};
use crate::{classify, tags};

/// The type token of a route table.
pub const TYPE: &str = "aws:ec2:RouteTable";

/// The key of a route's destination in a route map.
const DESTINATION: &str = "destination_cidr_block";
/// The keys of the targets a route may have; a route map holds exactly one of them.
const TARGETS: [&str; 3] = ["gateway_id", "nat_gateway_id", "vpc_peering_connection_id"];

/// How long a route call waits for a just-created route table to become visible: EC2
/// is eventually consistent, and CreateRoute right after CreateRouteTable can answer
/// InvalidRouteTableID.NotFound.
const NEW_TABLE_DEADLINE: Duration = Duration::from_secs(30);

/// Arguments of a route table. The `local` route AWS adds for the VPC's CIDR is not
/// listed: it cannot be removed, and stackup neither reports nor manages it.
#[derive(Clone, Debug)]
pub struct RouteTableArgs {
    pub vpc_id: Input<String>,
    pub routes: Vec<Route>,
    pub tags: BTreeMap<String, String>,
}

/// One IPv4 route; set exactly one target.
#[derive(Clone, Debug)]
pub struct Route {
    pub destination_cidr_block: String,
    /// An internet gateway (or virtual private gateway).
    pub gateway_id: Option<Input<String>>,
    pub nat_gateway_id: Option<Input<String>>,
    /// A VPC peering connection (`aws:ec2:VpcPeeringConnection`).
    pub vpc_peering_connection_id: Option<Input<String>>,
}

impl From<Route> for Value {
    fn from(r: Route) -> Value {
        let mut m = Properties::new();
        m.insert(DESTINATION.into(), r.destination_cidr_block.into());
        for (key, target) in [
            ("gateway_id", r.gateway_id),
            ("nat_gateway_id", r.nat_gateway_id),
            ("vpc_peering_connection_id", r.vpc_peering_connection_id),
        ] {
            if let Some(target) = target {
                m.insert(key.into(), target.into());
            }
        }
        Value::Map(m)
    }
}

impl ResourceArgs for RouteTableArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:CreateRouteTable",
        "ec2:DescribeRouteTables",
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
        "ec2:DeleteRouteTable",
        "ec2:DisassociateRouteTable",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("vpc_id", self.vpc_id.into()),
            ("routes", self.routes.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:ec2:RouteTable`.
pub struct RouteTable {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

impl RouteTable {
    /// A provider that calls AWS through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> RouteTable {
        RouteTable {
            ec2,
            schema: Schema::new(TYPE, &["vpc_id"]),
        }
    }

    /// The route tables matching any of `filters`.
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<AwsTable>, ProviderError> {
        describe_each(filters, |filter| async move {
            paginated!(self.ec2.describe_route_tables().filters(filter), "DescribeRouteTables")
        })
        .await
    }

    /// The live route table `id`, or None when it no longer exists.
    async fn describe_one(&self, id: &str) -> Result<Option<AwsTable>, ProviderError> {
        Ok(self
            .describe(id_filters("route-table-id", [id.to_string()]))
            .await?
            .into_iter()
            .find(|t| t.route_table_id() == Some(id)))
    }

    /// The tables a read or list wants, as live resources.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let tables = self.describe(wanted.filters("route-table-id")).await?;
        Ok(wanted
            .pick_all(&tables, AwsTable::route_table_id, AwsTable::tags)
            .into_iter()
            .map(|(picked, table)| resource(picked, table))
            .collect())
    }

    /// Brings the routes of table `id` from `live` to `desired`, both lists of route
    /// maps: routes are matched by destination, so a changed target is replaced in place
    /// and never leaves the destination unrouted.
    async fn sync_routes(&self, id: &str, live: &[Value], desired: &[Value]) -> Result<(), ProviderError> {
        let live = by_destination(live);
        let desired = by_destination(desired);
        for dest in live.keys().filter(|d| !desired.contains_key(*d)) {
            let deleted = on_new_table(|| async {
                self.ec2
                    .delete_route()
                    .route_table_id(id)
                    .destination_cidr_block(*dest)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("DeleteRoute", e))
            })
            .await;
            match deleted {
                // InvalidRoute.NotFound: someone removed it already.
                Err(e) if e.kind == ErrorKind::NotFound && e.code.as_deref() == Some("InvalidRoute.NotFound") => {}
                other => other?,
            }
        }
        for (dest, route) in &desired {
            match live.get(dest) {
                Some(current) if current == route => {}
                Some(_) => {
                    on_new_table(|| async {
                        self.ec2
                            .replace_route()
                            .route_table_id(id)
                            .destination_cidr_block(*dest)
                            .set_gateway_id(opt_str(route, "gateway_id").map(str::to_string))
                            .set_nat_gateway_id(opt_str(route, "nat_gateway_id").map(str::to_string))
                            .set_vpc_peering_connection_id(
                                opt_str(route, "vpc_peering_connection_id").map(str::to_string),
                            )
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| classify("ReplaceRoute", e))
                    })
                    .await?
                }
                None => {
                    on_new_table(|| async {
                        self.ec2
                            .create_route()
                            .route_table_id(id)
                            .destination_cidr_block(*dest)
                            .set_gateway_id(opt_str(route, "gateway_id").map(str::to_string))
                            .set_nat_gateway_id(opt_str(route, "nat_gateway_id").map(str::to_string))
                            .set_vpc_peering_connection_id(
                                opt_str(route, "vpc_peering_connection_id").map(str::to_string),
                            )
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| classify("CreateRoute", e))
                    })
                    .await?
                }
            }
        }
        Ok(())
    }

    async fn delete_table(&self, id: &str) -> Result<(), ProviderError> {
        // AWS refuses while a subnet is still associated. The stack's association
        // resources are deleted first (by the graph); a sweep, which has no state and
        // finds no associations (they carry no tags), relies on this instead.
        let Some(table) = self.describe_one(id).await? else {
            return Ok(());
        };
        for association in table.associations() {
            let Some(association_id) = association.route_table_association_id() else {
                continue;
            };
            if association.main() == Some(true) {
                continue;
            }
            let disassociated = done(
                "DisassociateRouteTable",
                self.ec2
                    .disassociate_route_table()
                    .association_id(association_id)
                    .send(),
            )
            .await;
            crate::common::ok_if_gone(disassociated)?;
        }
        // The associations deleted just before may take a moment to settle.
        retry_dependency(&format!("route table {id}"), DELETE_DEPENDENCY_DEADLINE, || {
            done(
                "DeleteRouteTable",
                self.ec2.delete_route_table().route_table_id(id).send(),
            )
        })
        .await
    }
}

/// Runs a route call, retrying while the route table itself is not yet visible.
async fn on_new_table<F, Fut>(attempt: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
{
    let not_visible = |e: &ProviderError| e.code.as_deref() == Some("InvalidRouteTableID.NotFound");
    retry_while(NEW_TABLE_DEADLINE, Duration::from_secs(1), not_visible, attempt).await
}

/// Route maps keyed by destination; maps without a string destination are skipped
/// (check rejects them).
fn by_destination(routes: &[Value]) -> BTreeMap<&str, &Properties> {
    routes
        .iter()
        .filter_map(Value::as_map)
        .filter_map(|m| Some((m.get(DESTINATION)?.as_str()?, m)))
        .collect()
}

/// Normalises the `routes` input: canonical destinations, only the target keys that
/// are set, sorted by destination (when every destination is known) so that the order
/// a program lists routes in never shows as a change.
fn check_routes(inputs: &mut Properties, failures: &mut Vec<CheckFailure>) {
    let mut fail = |reason: String| {
        failures.push(CheckFailure {
            property: "routes".into(),
            reason,
        })
    };
    let routes = match inputs.get("routes") {
        None => Vec::new(),
        Some(Value::List(routes)) => routes.clone(),
        Some(v) if !is_known(v) => return,
        Some(_) => return fail("must be a list of routes".into()),
    };
    let mut normalised = Vec::with_capacity(routes.len());
    for (i, route) in routes.into_iter().enumerate() {
        let Value::Map(mut route) = route else {
            if is_known(&route) {
                fail(format!("route {i} must be a map"));
            }
            normalised.push(route);
            continue;
        };
        // A target given as null or empty is a target not set, as a read reports it.
        route.retain(|k, v| !(TARGETS.contains(&k.as_str()) && (*v == Value::Null || v.as_str() == Some(""))));
        if let Some(key) = route
            .keys()
            .find(|k| k.as_str() != DESTINATION && !TARGETS.contains(&k.as_str()))
        {
            fail(format!("route {i}: unknown key '{key}'"));
        }
        match route.get(DESTINATION) {
            None => fail(format!("route {i}: '{DESTINATION}' is required")),
            Some(v) if !is_known(v) => {}
            Some(v) => match v.as_str().map(normalise_cidr) {
                Some(Ok(cidr)) => {
                    route.insert(DESTINATION.into(), Value::String(cidr));
                }
                Some(Err(reason)) => fail(format!("route {i}: {reason}")),
                None => fail(format!("route {i}: '{DESTINATION}' must be a string")),
            },
        }
        if TARGETS.iter().filter(|t| route.contains_key(**t)).count() != 1 {
            fail(format!("route {i}: set exactly one of {}", TARGETS.join(", ")));
        }
        // AWS accepts a NAT gateway as GatewayId but stores and reports it as
        // NatGatewayId, which would show as a change on every plan.
        if route
            .get("gateway_id")
            .and_then(Value::as_str)
            .is_some_and(|g| g.starts_with("nat-"))
        {
            fail(format!(
                "route {i}: a NAT gateway goes in 'nat_gateway_id', not 'gateway_id'"
            ));
        }
        normalised.push(Value::Map(route));
    }
    let destinations: Option<Vec<&str>> = normalised
        .iter()
        .map(|r| r.as_map().and_then(|m| m.get(DESTINATION)).and_then(Value::as_str))
        .collect();
    if let Some(mut destinations) = destinations {
        destinations.sort_unstable();
        if let Some(w) = destinations.windows(2).find(|w| w[0] == w[1]) {
            fail(format!("two routes to {}", w[0]));
        }
        normalised.sort_by(|a, b| destination_of(a).cmp(destination_of(b)));
    }
    inputs.insert("routes".into(), Value::List(normalised));
}

fn destination_of(route: &Value) -> &str {
    route
        .as_map()
        .and_then(|m| m.get(DESTINATION))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The routes stackup manages in a live table, as check would normalise them. The
/// `local` route and routes propagated from a virtual private gateway belong to AWS;
/// IPv6 and prefix-list routes cannot be declared, so they are not reported either.
fn live_routes(table: &AwsTable) -> Vec<Value> {
    let mut routes: Vec<(String, Value)> = table
        .routes()
        .iter()
        .filter(|r| {
            !matches!(
                r.origin(),
                Some(RouteOrigin::CreateRouteTable | RouteOrigin::EnableVgwRoutePropagation)
            ) && r.gateway_id() != Some("local")
        })
        .filter_map(|r| {
            let dest = r.destination_cidr_block()?;
            let dest = normalise_cidr(dest).unwrap_or_else(|_| dest.to_string());
            let mut m = Properties::new();
            m.insert(DESTINATION.into(), dest.as_str().into());
            for (key, target) in [
                ("gateway_id", r.gateway_id()),
                ("nat_gateway_id", r.nat_gateway_id()),
                ("vpc_peering_connection_id", r.vpc_peering_connection_id()),
            ] {
                if let Some(target) = target.filter(|t| !t.is_empty()) {
                    m.insert(key.into(), target.into());
                }
            }
            Some((dest, Value::Map(m)))
        })
        .collect();
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    routes.into_iter().map(|(_, r)| r).collect()
}

fn outputs(id: &str) -> Properties {
    props([("id", id.into())])
}

/// A live route table as stackup reports it.
fn resource(picked: Picked<'_>, table: &AwsTable) -> LiveResource {
    LiveResource {
        urn: picked.urn,
        inputs: props([
            ("vpc_id", table.vpc_id().unwrap_or_default().into()),
            ("routes", Value::List(live_routes(table))),
            ("tags", tags::live_ec2(table.tags())),
        ]),
        outputs: outputs(&picked.id),
        id: picked.id,
    }
}

#[async_trait]
impl Provider for RouteTable {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_routes(&mut inputs, &mut failures);
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let vpc_id = str_of(&req.inputs, "vpc_id")?;
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let token = client_token(&req.token, CLIENT_TOKEN_MAX);
        let out = self
            .ec2
            .create_route_table()
            .vpc_id(vpc_id)
            .client_token(token)
            .tag_specifications(tags::ec2_spec(ResourceType::RouteTable, &tags))
            .send()
            .await
            .map_err(|e| classify("CreateRouteTable", e))?;
        let table = out
            .route_table()
            .ok_or_else(|| ProviderError::invalid("CreateRouteTable returned no route table"))?;
        let id = table
            .route_table_id()
            .ok_or_else(|| ProviderError::invalid("CreateRouteTable returned no route table id"))?
            .to_string();
        if let Err(e) = self
            .sync_routes(&id, &live_routes(table), list_of(&req.inputs, "routes"))
            .await
        {
            // A failed create records nothing, so a table left here would be unknown to
            // stackup: remove it, and say so if that fails too.
            return Err(match self.delete_table(&id).await {
                Ok(()) => e,
                Err(cleanup) => ProviderError {
                    message: format!("{}; route table {id} was left behind: {cleanup}", e.message),
                    ..e
                },
            });
        }
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
        if req.changed.iter().any(|c| c == "routes") {
            // Diff against the live routes rather than the recorded ones: a retried or
            // partly failed update, or a change made outside stackup, then still ends
            // with exactly the declared routes.
            let table = self.describe_one(&req.id).await?.ok_or_else(|| {
                ProviderError::new(ErrorKind::NotFound, format!("route table {} no longer exists", req.id))
            })?;
            self.sync_routes(&req.id, &live_routes(&table), list_of(&req.new_inputs, "routes"))
                .await?;
        }
        update_tags(&self.ec2, &req).await?;
        Ok(UpdateResponse {
            outputs: outputs(&req.id),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        self.delete_table(&req.id).await
    }
}
