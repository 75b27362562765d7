//! Eventual consistency: for a while after a create, reads that name the new resource
//! answer the service's not-found error, as AWS's do.
//!
//! Ids are taken from the create's response (EC2 ids, ARNs, EFS ids) or request (RDS
//! identifiers, IAM and DynamoDB names, S3 buckets), per the table below; a read
//! (`Describe*`, `Get*`, `Head*`) answers not-found only when one of its parameters
//! (outside filters) is exactly such an id. List-style reads, which name no id, are
//! never touched: AWS answers those with a list that lacks the new resource, which a
//! proxy in front of a server that has it cannot fake.

use std::time::Instant;

use crate::request::Call;

/// Where a create's new id is found.
#[derive(Debug)]
pub(crate) enum Source {
    /// An EC2 id with this prefix (`vpc` for `vpc-0abc...`) in the response.
    Token(&'static str),
    /// An ARN containing this marker (`:loadbalancer/`) in the response.
    Arn(&'static str),
    /// A request parameter (form field or top-level JSON field).
    Param(&'static str),
    /// A top-level string field of the JSON response.
    JsonField(&'static str),
    /// The S3 bucket in the path.
    Bucket,
}

/// One create the proxy knows how to follow, and the error reads of its result get.
#[derive(Debug)]
pub(crate) struct Spec {
    pub service: &'static str,
    pub action: &'static str,
    pub sources: &'static [Source],
    pub code: &'static str,
    pub status: u16,
    pub noun: &'static str,
}

const fn spec(
    service: &'static str,
    action: &'static str,
    sources: &'static [Source],
    code: &'static str,
    status: u16,
    noun: &'static str,
) -> Spec {
    Spec {
        service,
        action,
        sources,
        code,
        status,
        noun,
    }
}

use Source::*;

/// The creates followed, with the not-found code AWS gives reads of their results
/// (EC2 API reference "Error codes for the Amazon EC2 API"; each service's API
/// reference for the others).
#[rustfmt::skip] // One create per line reads as the table it is.
pub(crate) const SPECS: &[Spec] = &[
    spec("ec2", "CreateVpc", &[Token("vpc")], "InvalidVpcID.NotFound", 400, "vpc ID"),
    spec("ec2", "CreateSubnet", &[Token("subnet")], "InvalidSubnetID.NotFound", 400, "subnet ID"),
    spec("ec2", "CreateInternetGateway", &[Token("igw")], "InvalidInternetGatewayID.NotFound", 400, "internet gateway ID"),
    spec("ec2", "CreateNatGateway", &[Token("nat")], "NatGatewayNotFound", 400, "NAT gateway ID"),
    spec("ec2", "AllocateAddress", &[Token("eipalloc")], "InvalidAllocationID.NotFound", 400, "allocation ID"),
    spec("ec2", "CreateRouteTable", &[Token("rtb")], "InvalidRouteTableID.NotFound", 400, "route table ID"),
    spec("ec2", "CreateNetworkAcl", &[Token("acl")], "InvalidNetworkAclID.NotFound", 400, "network ACL ID"),
    spec("ec2", "CreateSecurityGroup", &[Token("sg")], "InvalidGroup.NotFound", 400, "security group ID"),
    spec("ec2", "RunInstances", &[Token("i")], "InvalidInstanceID.NotFound", 400, "instance ID"),
    spec("ec2", "CreateLaunchTemplate", &[Token("lt")], "InvalidLaunchTemplateId.NotFound", 400, "launch template ID"),
    spec("ec2", "CreateVpcPeeringConnection", &[Token("pcx")], "InvalidVpcPeeringConnectionID.NotFound", 400, "VPC peering connection ID"),
    spec("ec2", "CreateNetworkInterface", &[Token("eni")], "InvalidNetworkInterfaceID.NotFound", 400, "network interface ID"),
    spec("ec2", "CreateKeyPair", &[Token("key")], "InvalidKeyPair.NotFound", 400, "key pair ID"),
    spec("ec2", "CreateVpcEndpoint", &[Token("vpce")], "InvalidVpcEndpointId.NotFound", 400, "VPC endpoint ID"),
    spec("elasticloadbalancing", "CreateLoadBalancer", &[Arn(":loadbalancer/")], "LoadBalancerNotFound", 400, "load balancer"),
    spec("elasticloadbalancing", "CreateTargetGroup", &[Arn(":targetgroup/")], "TargetGroupNotFound", 400, "target group"),
    spec("elasticloadbalancing", "CreateListener", &[Arn(":listener/")], "ListenerNotFound", 400, "listener"),
    spec("elasticloadbalancing", "CreateRule", &[Arn(":listener-rule/")], "RuleNotFound", 400, "rule"),
    spec("rds", "CreateDBInstance", &[Param("DBInstanceIdentifier")], "DBInstanceNotFound", 404, "DB instance"),
    spec("rds", "CreateDBSubnetGroup", &[Param("DBSubnetGroupName")], "DBSubnetGroupNotFoundFault", 404, "DB subnet group"),
    spec("rds", "CreateDBParameterGroup", &[Param("DBParameterGroupName")], "DBParameterGroupNotFound", 404, "DB parameter group"),
    spec("iam", "CreateRole", &[Param("RoleName")], "NoSuchEntity", 404, "role"),
    spec("iam", "CreateInstanceProfile", &[Param("InstanceProfileName")], "NoSuchEntity", 404, "instance profile"),
    spec("iam", "CreatePolicy", &[Arn(":policy/")], "NoSuchEntity", 404, "policy"),
    spec("sns", "CreateTopic", &[Arn(":sns:")], "NotFound", 404, "topic"),
    spec("dynamodb", "CreateTable", &[Param("TableName")], "ResourceNotFoundException", 400, "table"),
    spec("elasticfilesystem", "CreateFileSystem", &[JsonField("FileSystemId")], "FileSystemNotFound", 404, "file system"),
    spec("elasticfilesystem", "CreateMountTarget", &[JsonField("MountTargetId")], "MountTargetNotFound", 404, "mount target"),
    spec("elasticfilesystem", "CreateAccessPoint", &[JsonField("AccessPointId")], "AccessPointNotFound", 404, "access point"),
    spec("secretsmanager", "CreateSecret", &[Param("Name"), JsonField("ARN")], "ResourceNotFoundException", 400, "secret"),
    spec("s3", "CreateBucket", &[Bucket], "NoSuchBucket", 404, "bucket"),
];

/// The spec for a create, if the proxy follows it.
pub(crate) fn spec_for(service: &str, action: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.service == service && s.action == action)
}

/// Whether an action reads (and so may see a fresh resource as missing).
pub(crate) fn is_read(action: &str) -> bool {
    action.starts_with("Describe") || action.starts_with("Get") || action.starts_with("Head")
}

/// A resource created moments ago, hidden from reads until `until`.
#[derive(Debug)]
pub(crate) struct Fresh {
    pub service: String,
    pub id: String,
    pub spec: &'static Spec,
    pub until: Instant,
}

impl Fresh {
    /// The message AWS-style for a read of this resource.
    pub(crate) fn message(&self) -> String {
        format!("The {} '{}' does not exist", self.spec.noun, self.id)
    }
}

/// The ids a successful create made, from its request and response body.
pub(crate) fn created_ids(spec: &Spec, call: &Call, response: &[u8]) -> Vec<String> {
    let body = String::from_utf8_lossy(response);
    let mut ids = Vec::new();
    for source in spec.sources {
        match source {
            Token(prefix) => ids.extend(tokens(&body, prefix)),
            Arn(marker) => ids.extend(arns(&body).into_iter().filter(|a| a.contains(marker))),
            Param(name) => ids.extend(call.params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone())),
            JsonField(name) => {
                if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&body) {
                    if let Some(serde_json::Value::String(v)) = map.get(*name) {
                        ids.push(v.clone());
                    }
                }
            }
            Bucket => ids.extend(call.ids.first().cloned()),
        }
    }
    ids.sort();
    ids.dedup();
    ids.retain(|i| !i.is_empty());
    ids
}

/// EC2 ids `prefix-<hex>` standing alone (not part of a longer id such as
/// `vpc-cidr-assoc-...`).
pub(crate) fn tokens(body: &str, prefix: &str) -> Vec<String> {
    let pattern = format!("{prefix}-");
    let bytes = body.as_bytes();
    let part_of_id = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = body[from..].find(&pattern) {
        let at = from + pos;
        let digits = at + pattern.len();
        let mut end = digits;
        while end < bytes.len() && bytes[end].is_ascii_hexdigit() {
            end += 1;
        }
        let alone_before = at == 0 || !part_of_id(bytes[at - 1]);
        let alone_after = end == bytes.len() || !part_of_id(bytes[end]);
        if alone_before && alone_after && end - digits >= 8 {
            out.push(body[at..end].to_string());
        }
        from = digits;
    }
    out
}

/// Every ARN in a response body (XML or JSON).
pub(crate) fn arns(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = body[from..].find("arn:") {
        let at = from + pos;
        let end = body[at..]
            .find(|c: char| c == '<' || c == '"' || c == '&' || c.is_whitespace())
            .map(|e| at + e)
            .unwrap_or(body.len());
        out.push(body[at..end].to_string());
        from = end.max(at + 4);
    }
    out
}
