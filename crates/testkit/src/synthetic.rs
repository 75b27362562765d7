//! A synthetic program: many resources of four types (VPCs, subnets, security groups and
//! CIDR rules), for measuring how refresh and planning scale.

use std::collections::BTreeMap;

use stackup_aws::ec2::{RuleSource, SecurityGroupArgs, SecurityGroupRuleArgs, SubnetArgs, VpcArgs};
use stackup_model::{Program, StackBuilder};

/// /28 subnets that fit in one /16 VPC.
const SUBNETS_PER_VPC: usize = 4096;

/// About `n` resources: a third subnets, a third security groups, a third rules (one per
/// group), and the VPCs to hold them.
pub fn synthetic_program(stack: &str, n: usize) -> Program {
    let per_kind = (n / 3).max(1);
    let mut s = StackBuilder::new(stack, Default::default());
    let vpcs: Vec<_> = (0..per_kind.div_ceil(SUBNETS_PER_VPC))
        .map(|v| {
            s.declare(
                &format!("vpc-{v}"),
                VpcArgs {
                    cidr_block: format!("10.{v}.0.0/16").into(),
                    enable_dns_support: true,
                    enable_dns_hostnames: false,
                    tags: BTreeMap::new(),
                },
            )
        })
        .collect();
    for i in 0..per_kind {
        let vpc = &vpcs[i / SUBNETS_PER_VPC];
        let j = i % SUBNETS_PER_VPC;
        let v = i / SUBNETS_PER_VPC;
        s.declare(
            &format!("subnet-{i}"),
            SubnetArgs {
                vpc_id: vpc.id(),
                cidr_block: format!("10.{v}.{}.{}/28", j / 16, (j % 16) * 16).into(),
                availability_zone: "us-east-1a".to_string().into(),
                map_public_ip_on_launch: false,
                tags: BTreeMap::new(),
            },
        );
        let group = s.declare(
            &format!("sg-{i}"),
            SecurityGroupArgs {
                name: format!("{stack}-{i}"),
                description: "synthetic".into(),
                vpc_id: vpc.id(),
                tags: BTreeMap::new(),
            },
        );
        s.declare(
            &format!("rule-{i}"),
            SecurityGroupRuleArgs {
                security_group_id: group.id(),
                egress: false,
                protocol: "tcp".into(),
                from_port: 443,
                to_port: 443,
                source: RuleSource::Cidr(format!("10.{}.{}.0/24", 100 + i / 256 % 100, i % 256)),
                description: String::new(),
                tags: BTreeMap::new(),
            },
        );
    }
    s.finish()
}
