//! What a sweep (`stackup destroy --sweep`) needs to know about the AWS types: the order
//! in which objects found by their `stackup:stack` tag can be deleted when state, and
//! with it every recorded dependency, is lost.
//!
//! A static rank per type stands in for the lost graph: every object of a rank is
//! deleted before any object of a higher rank, objects of one rank in parallel. The
//! ranks follow what AWS refuses: an Auto Scaling group before its launch template and
//! instances; listener rules, listeners, then load balancers and target groups; NAT
//! gateways before their addresses and the internet gateway; mount targets and access
//! points before file systems; instances and interfaces before subnets and security
//! groups; subnets, route tables, ACLs and the gateway before the VPC; role policies
//! and instance profiles before roles. Types that carry no tags (attachments,
//! associations, mount targets, subscriptions, inline and scaling policies) are never
//! listed: their parents' deletes remove them. They are ranked anyway, for sweeps that
//! also know the stack's recorded objects.

/// Deletion ranks, lowest first.
const RANKS: &[(&str, u8)] = &[
    // Leaves: nothing of the stack depends on them.
    ("aws:cloudwatch:MetricAlarm", 0),
    ("aws:elbv2:ListenerRule", 0),
    ("aws:elbv2:TargetGroupAttachment", 0),
    ("aws:autoscaling:Policy", 0),
    ("aws:sns:Subscription", 0),
    ("aws:efs:AccessPoint", 0),
    ("aws:iam:RolePolicy", 0),
    ("aws:iam:UserPolicy", 0),
    ("aws:logs:LogGroup", 0),
    ("aws:dynamodb:Table", 0),
    ("aws:s3:Bucket", 0),
    // Users of the compute and data tier's foundations.
    ("aws:autoscaling:Group", 1),
    ("aws:elbv2:Listener", 1),
    ("aws:sns:Topic", 1),
    ("aws:efs:MountTarget", 1),
    ("aws:rds:DbInstance", 1),
    // What those used.
    ("aws:ec2:Instance", 2),
    ("aws:ec2:LaunchTemplate", 2),
    ("aws:elbv2:LoadBalancer", 2),
    ("aws:elbv2:TargetGroup", 2),
    ("aws:efs:FileSystem", 2),
    ("aws:rds:DbSubnetGroup", 2),
    ("aws:iam:User", 2),
    // NAT gateways once nothing routes through them; rules before their groups;
    // profiles once no instance uses them.
    ("aws:ec2:NatGateway", 3),
    ("aws:ec2:SecurityGroupRule", 3),
    ("aws:iam:InstanceProfile", 3),
    // Addresses once their NAT gateway is gone; what subnets are associated with.
    ("aws:ec2:Eip", 4),
    ("aws:ec2:RouteTableAssociation", 4),
    ("aws:ec2:InternetGatewayAttachment", 4),
    // Once no route table routes over it.
    ("aws:ec2:VpcPeeringConnection", 5),
    ("aws:ec2:RouteTable", 4),
    ("aws:ec2:NetworkAcl", 4),
    ("aws:iam:Role", 4),
    // The VPC's contents.
    ("aws:ec2:Subnet", 5),
    ("aws:ec2:SecurityGroup", 5),
    ("aws:ec2:InternetGateway", 5),
    ("aws:ec2:Vpc", 6),
];

/// The deletion rank of type `ty` (lower goes first), or None for a type the table does
/// not know.
pub fn deletion_rank(ty: &str) -> Option<u8> {
    RANKS.iter().find(|(t, _)| *t == ty).map(|(_, r)| *r)
}

/// What a type's delete takes along when it finds no state: the untaggable children a
/// sweep never lists, for the sweep's listing.
pub fn note(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "aws:autoscaling:Group" => "its instances and scaling policies go with it",
        "aws:ec2:InternetGateway" => "detached from its VPC first",
        "aws:ec2:RouteTable" => "its subnet associations are removed first",
        "aws:ec2:NetworkAcl" => "its subnets go back to the default ACL first",
        "aws:efs:FileSystem" => "its mount targets are deleted first",
        "aws:sns:Topic" => "its subscriptions go with it",
        "aws:iam:Role" => "inline and attached policies and instance profile memberships are removed first",
        "aws:iam:User" => "inline and attached policies, access keys and group memberships are removed first",
        "aws:elbv2:LoadBalancer" => "its listeners go with it",
        "aws:s3:Bucket" => "deleted only when empty, or with --empty-buckets",
        "aws:rds:DbInstance" => "a final snapshot is kept unless --skip-final-snapshot",
        _ => return None,
    })
}
