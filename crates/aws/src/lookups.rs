//! Lookups (data sources): read-only declarations a program resolves while planning.
//! `aws:ec2:getVpc` (the default VPC, or one by id or tags), `aws:ec2:getSubnet` and
//! `aws:ec2:getSecurityGroup` (by id, tags, VPC), `aws:ec2:getAvailabilityZones` (the
//! region's zones), `aws:ssm:getParameter` (an AMI id published as a parameter, such as
//! `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`).
//!
//! Each reads with one filtered, paginated call, as terraform-provider-aws's data
//! sources do, and like them finds exactly one thing: none is "found nothing", more
//! than one is an error asking for a narrower query.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;
use stackup_model::{Input, LookupArgs, Properties, TypeToken, Value};
use stackup_provider::{CheckFailure, ErrorKind, Lookup, LookupRequest, ProviderError};

use crate::props::{bool_of, is_known, opt_str, props};
use crate::{classify, AwsClients};

pub const VPC: &str = "aws:ec2:getVpc";
pub const SUBNET: &str = "aws:ec2:getSubnet";
pub const SECURITY_GROUP: &str = "aws:ec2:getSecurityGroup";
pub const ZONES: &str = "aws:ec2:getAvailabilityZones";
pub const PARAMETER: &str = "aws:ssm:getParameter";

/// A VPC that exists: the region's default VPC (`default`), or one by `id` or `tags`.
#[derive(Clone, Debug, Default)]
pub struct VpcLookup {
    pub id: Option<String>,
    pub default: bool,
    pub tags: BTreeMap<String, String>,
}

impl LookupArgs for VpcLookup {
    const TYPE: &'static str = VPC;
    const IAM_ACTIONS: &'static [&'static str] = &["ec2:DescribeVpcs"];
    fn into_properties(self) -> Properties {
        props([
            ("id", self.id.map(Value::String).unwrap_or(Value::Null)),
            ("default", self.default.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// A subnet that exists, by `id`, or by `tags` within a VPC and zone.
#[derive(Clone, Debug, Default)]
pub struct SubnetLookup {
    pub id: Option<String>,
    pub vpc_id: Option<Input<String>>,
    pub availability_zone: Option<Input<String>>,
    pub tags: BTreeMap<String, String>,
}

impl LookupArgs for SubnetLookup {
    const TYPE: &'static str = SUBNET;
    const IAM_ACTIONS: &'static [&'static str] = &["ec2:DescribeSubnets"];
    fn into_properties(self) -> Properties {
        props([
            ("id", self.id.map(Value::String).unwrap_or(Value::Null)),
            ("vpc_id", self.vpc_id.map(Value::from).unwrap_or(Value::Null)),
            (
                "availability_zone",
                self.availability_zone.map(Value::from).unwrap_or(Value::Null),
            ),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// A security group that exists, by `id`, or by `name` or `tags` within a VPC.
#[derive(Clone, Debug, Default)]
pub struct SecurityGroupLookup {
    pub id: Option<String>,
    pub name: Option<String>,
    pub vpc_id: Option<Input<String>>,
    pub tags: BTreeMap<String, String>,
}

impl LookupArgs for SecurityGroupLookup {
    const TYPE: &'static str = SECURITY_GROUP;
    const IAM_ACTIONS: &'static [&'static str] = &["ec2:DescribeSecurityGroups"];
    fn into_properties(self) -> Properties {
        props([
            ("id", self.id.map(Value::String).unwrap_or(Value::Null)),
            ("name", self.name.map(Value::String).unwrap_or(Value::Null)),
            ("vpc_id", self.vpc_id.map(Value::from).unwrap_or(Value::Null)),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The current region's available zones: outputs `names` and `zone_ids`, sorted by
/// name (`names[0]` is the first).
#[derive(Clone, Debug, Default)]
pub struct ZonesLookup {}

impl LookupArgs for ZonesLookup {
    const TYPE: &'static str = ZONES;
    const IAM_ACTIONS: &'static [&'static str] = &["ec2:DescribeAvailabilityZones"];
    fn into_properties(self) -> Properties {
        Properties::new()
    }
}

/// An SSM parameter's value (`value`): an AMI id AWS publishes, or one of your own. A
/// `SecureString` is a secret: shown as `[secret]`, never persisted in plain form.
#[derive(Clone, Debug, Default)]
pub struct ParameterLookup {
    pub name: String,
}

impl LookupArgs for ParameterLookup {
    const TYPE: &'static str = PARAMETER;
    const IAM_ACTIONS: &'static [&'static str] = &["ssm:GetParameter"];
    fn into_properties(self) -> Properties {
        props([("name", Value::String(self.name))])
    }
}

/// Every AWS lookup.
pub fn lookups(clients: &AwsClients) -> Vec<Arc<dyn Lookup>> {
    vec![
        Arc::new(Ec2Lookup::new(VPC, clients)),
        Arc::new(Ec2Lookup::new(SUBNET, clients)),
        Arc::new(Ec2Lookup::new(SECURITY_GROUP, clients)),
        Arc::new(Ec2Lookup::new(ZONES, clients)),
        Arc::new(Parameter {
            ty: TypeToken::from_static(PARAMETER),
            ssm: clients.ssm.clone(),
        }),
    ]
}

/// The EC2 lookups: one Describe call with filters each.
struct Ec2Lookup {
    ty: TypeToken,
    ec2: aws_sdk_ec2::Client,
}

impl Ec2Lookup {
    fn new(ty: &'static str, clients: &AwsClients) -> Ec2Lookup {
        Ec2Lookup {
            ty: TypeToken::from_static(ty),
            ec2: clients.ec2.clone(),
        }
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Filters for `tags` and the given `(filter name, input key)` pairs that are set.
fn filters(inputs: &Properties, keys: &[(&str, &str)]) -> Vec<Filter> {
    let mut out: Vec<Filter> = keys
        .iter()
        .filter_map(|(name, key)| opt_str(inputs, key).map(|v| filter(name, v)))
        .collect();
    if let Some(tags) = inputs.get("tags") {
        for (k, v) in tags.string_map() {
            out.push(filter(&format!("tag:{k}"), &v));
        }
    }
    out
}

fn has_tags(inputs: &Properties) -> bool {
    inputs
        .get("tags")
        .and_then(Value::as_map)
        .is_some_and(|m| !m.is_empty())
}

/// Exactly one match, or None; more is an error naming how many.
fn one<T>(mut found: Vec<T>, what: &str) -> Result<Option<T>, ProviderError> {
    match found.len() {
        0 | 1 => Ok(found.pop()),
        n => Err(ProviderError::invalid(format!(
            "{n} {what}s match; a lookup reads exactly one: narrow the query (an id, or more tags)"
        ))),
    }
}

/// An id that does not exist answers NotFound: that is "found nothing".
fn absent_on_not_found<T>(r: Result<Vec<T>, ProviderError>) -> Result<Vec<T>, ProviderError> {
    match r {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    }
}

fn tag_map(tags: &[aws_sdk_ec2::types::Tag]) -> Value {
    Value::Map(
        tags.iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    Value::String(t.value().unwrap_or_default().to_string()),
                ))
            })
            .collect(),
    )
}

fn string(s: Option<&str>) -> Value {
    s.map(|s| Value::String(s.to_string())).unwrap_or(Value::Null)
}

#[async_trait]
impl Lookup for Ec2Lookup {
    fn ty(&self) -> &TypeToken {
        &self.ty
    }

    fn check(&self, inputs: &Properties) -> Vec<CheckFailure> {
        let set = |key: &str| inputs.get(key).is_some_and(|v| !matches!(v, Value::Null));
        let criteria = match self.ty.as_str() {
            VPC => set("id") || bool_of(inputs, "default") || has_tags(inputs),
            SUBNET => set("id") || has_tags(inputs) || set("availability_zone") || set("vpc_id"),
            SECURITY_GROUP => set("id") || set("name") || has_tags(inputs),
            _ => true,
        };
        let mut failures = Vec::new();
        if !criteria {
            failures.push(CheckFailure {
                property: "(query)".into(),
                reason: match self.ty.as_str() {
                    VPC => "say which VPC: `default = true`, an `id`, or `tags`".into(),
                    SECURITY_GROUP => "say which security group: an `id`, a `name`, or `tags`".into(),
                    _ => "say which subnet: an `id`, `tags`, a `vpc_id` or an `availability_zone`".into(),
                },
            });
        }
        if let Some(id) = inputs.get("id").filter(|v| is_known(v)).and_then(Value::as_str) {
            let prefix = match self.ty.as_str() {
                VPC => "vpc-",
                SUBNET => "subnet-",
                _ => "sg-",
            };
            if !id.starts_with(prefix) {
                failures.push(CheckFailure {
                    property: "id".into(),
                    reason: format!("'{id}' is not an id of this kind ({prefix}...)"),
                });
            }
        }
        failures
    }

    async fn lookup(&self, req: LookupRequest<'_>) -> Result<Option<Properties>, ProviderError> {
        let inputs = req.inputs;
        let id = opt_str(inputs, "id");
        match self.ty.as_str() {
            VPC => {
                let mut call = self
                    .ec2
                    .describe_vpcs()
                    .set_vpc_ids(id.map(|i| vec![i.to_string()]))
                    .set_filters(Some(filters(inputs, &[])));
                if bool_of(inputs, "default") {
                    call = call.filters(filter("is-default", "true"));
                }
                let found = call
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err(|e| classify("DescribeVpcs", e));
                let vpc = one(absent_on_not_found(found)?, "VPC")?;
                Ok(vpc.map(|v| {
                    props([
                        ("id", string(v.vpc_id())),
                        ("cidr_block", string(v.cidr_block())),
                        ("is_default", v.is_default().unwrap_or(false).into()),
                        ("tags", tag_map(v.tags())),
                    ])
                }))
            }
            SUBNET => {
                let found = self
                    .ec2
                    .describe_subnets()
                    .set_subnet_ids(id.map(|i| vec![i.to_string()]))
                    .set_filters(Some(filters(
                        inputs,
                        &[("vpc-id", "vpc_id"), ("availability-zone", "availability_zone")],
                    )))
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err(|e| classify("DescribeSubnets", e));
                let subnet = one(absent_on_not_found(found)?, "subnet")?;
                Ok(subnet.map(|s| {
                    props([
                        ("id", string(s.subnet_id())),
                        ("vpc_id", string(s.vpc_id())),
                        ("cidr_block", string(s.cidr_block())),
                        ("availability_zone", string(s.availability_zone())),
                        ("tags", tag_map(s.tags())),
                    ])
                }))
            }
            SECURITY_GROUP => {
                let found = self
                    .ec2
                    .describe_security_groups()
                    .set_group_ids(id.map(|i| vec![i.to_string()]))
                    .set_filters(Some(filters(inputs, &[("vpc-id", "vpc_id"), ("group-name", "name")])))
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err(|e| classify("DescribeSecurityGroups", e));
                let group = one(absent_on_not_found(found)?, "security group")?;
                Ok(group.map(|g| {
                    props([
                        ("id", string(g.group_id())),
                        ("name", string(g.group_name())),
                        ("vpc_id", string(g.vpc_id())),
                        ("tags", tag_map(g.tags())),
                    ])
                }))
            }
            _ => {
                let answer = self
                    .ec2
                    .describe_availability_zones()
                    .filters(filter("state", "available"))
                    .send()
                    .await
                    .map_err(|e| classify("DescribeAvailabilityZones", e))?;
                let mut zones: Vec<(String, String)> = answer
                    .availability_zones()
                    .iter()
                    .filter_map(|z| Some((z.zone_name()?.to_string(), z.zone_id().unwrap_or_default().to_string())))
                    .collect();
                if zones.is_empty() {
                    return Ok(None);
                }
                zones.sort();
                let region = zones[0]
                    .0
                    .trim_end_matches(|c: char| c.is_ascii_lowercase())
                    .to_string();
                Ok(Some(props([
                    ("id", Value::String(region)),
                    (
                        "names",
                        Value::List(zones.iter().map(|z| Value::String(z.0.clone())).collect()),
                    ),
                    (
                        "zone_ids",
                        Value::List(zones.iter().map(|z| Value::String(z.1.clone())).collect()),
                    ),
                ])))
            }
        }
    }
}

/// `aws:ssm:getParameter`.
struct Parameter {
    ty: TypeToken,
    ssm: aws_sdk_ssm::Client,
}

#[async_trait]
impl Lookup for Parameter {
    fn ty(&self) -> &TypeToken {
        &self.ty
    }

    fn check(&self, inputs: &Properties) -> Vec<CheckFailure> {
        match inputs.get("name") {
            Some(v) if !is_known(v) => Vec::new(),
            Some(Value::String(n)) if !n.is_empty() => Vec::new(),
            _ => vec![CheckFailure {
                property: "name".into(),
                reason: "the parameter's name is required (/aws/service/ami-amazon-linux-latest/...)".into(),
            }],
        }
    }

    async fn lookup(&self, req: LookupRequest<'_>) -> Result<Option<Properties>, ProviderError> {
        let name = opt_str(req.inputs, "name").unwrap_or_default();
        let answer = self.ssm.get_parameter().name(name).with_decryption(true).send().await;
        let parameter = match answer {
            Ok(a) => a.parameter,
            Err(e) => {
                let e = classify("GetParameter", e);
                // SSM says ParameterNotFound: found nothing.
                if e.kind == ErrorKind::NotFound || e.code.as_deref() == Some("ParameterNotFound") {
                    return Ok(None);
                }
                return Err(e);
            }
        };
        Ok(parameter.map(|p| {
            let secure = p.r#type().is_some_and(|t| t.as_str() == "SecureString");
            let value = string(p.value());
            props([
                ("id", string(p.name())),
                ("type", string(p.r#type().map(|t| t.as_str()))),
                ("version", Value::Int(p.version())),
                ("value", if secure { Value::Secret(Box::new(value)) } else { value }),
            ])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline() -> AwsClients {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        AwsClients::new(&config)
    }

    fn check(ty: &'static str, inputs: Properties) -> Vec<String> {
        Ec2Lookup::new(ty, &offline())
            .check(&inputs)
            .into_iter()
            .map(|f| format!("{}: {}", f.property, f.reason))
            .collect()
    }

    #[test]
    fn a_query_must_say_what_it_reads() {
        assert_eq!(
            check(VPC, VpcLookup::default().into_properties()),
            ["(query): say which VPC: `default = true`, an `id`, or `tags`"]
        );
        assert!(check(
            VPC,
            VpcLookup {
                default: true,
                ..VpcLookup::default()
            }
            .into_properties()
        )
        .is_empty());
        let wrong = check(
            SUBNET,
            SubnetLookup {
                id: Some("vpc-123".into()),
                ..SubnetLookup::default()
            }
            .into_properties(),
        );
        assert_eq!(wrong, ["id: 'vpc-123' is not an id of this kind (subnet-...)"]);
    }

    #[test]
    fn a_query_another_lookup_completes_is_accepted() {
        let inputs = props([
            ("vpc_id", Value::Unknown),
            (
                "tags",
                Value::from_string_map(&BTreeMap::from([("Name".into(), "a".into())])),
            ),
        ]);
        assert!(check(SECURITY_GROUP, inputs).is_empty());
        let parameter = Parameter {
            ty: TypeToken::from_static(PARAMETER),
            ssm: offline().ssm,
        };
        assert!(parameter.check(&props([("name", Value::Unknown)])).is_empty());
        assert_eq!(parameter.check(&Properties::new()).len(), 1);
    }

    #[test]
    fn more_than_one_match_is_an_error_and_none_is_nothing_found() {
        assert_eq!(one(Vec::<u8>::new(), "VPC").expect("none"), None);
        assert_eq!(one(vec![1], "VPC").expect("one"), Some(1));
        let e = one(vec![1, 2], "subnet").expect_err("two");
        assert!(e.message.starts_with("2 subnets match"), "{e}");
    }
}
