//! The network tier: a VPC across `az_count` zones with a public and a private subnet in
//! each, an internet gateway, NAT gateways (one per zone, or one shared), route tables,
//! network ACLs and the security groups of the platform's tiers.

use std::collections::BTreeMap;

use stackup_aws::ec2::{
    EipArgs, InternetGatewayArgs, InternetGatewayAttachmentArgs, NatGatewayArgs, NetworkAclArgs, NetworkAclEntry,
    Route, RouteTableArgs, RouteTableAssociationArgs, RuleSource, SecurityGroupArgs, SecurityGroupRuleArgs, SubnetArgs,
    VpcArgs,
};
use stackup_model::{Handle, StackBuilder, Urn};

use crate::{NatMode, StackConfig};

const ANYWHERE: &str = "0.0.0.0/0";

fn name_tag(stack: &StackBuilder, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("Name".to_string(), format!("{}-{name}", stack.stack()))])
}

/// What the other tiers need from the network.
pub struct Network {
    pub vpc: Handle<VpcArgs>,
    pub nats: Vec<Handle<NatGatewayArgs>>,
    pub public_subnets: Vec<Handle<SubnetArgs>>,
    pub private_subnets: Vec<Handle<SubnetArgs>>,
    pub alb_sg: Handle<SecurityGroupArgs>,
    pub bastion_sg: Handle<SecurityGroupArgs>,
    pub web_sg: Handle<SecurityGroupArgs>,
    pub db_sg: Handle<SecurityGroupArgs>,
    /// Present with the platform: NFS to the shared image store.
    pub efs_sg: Option<Handle<SecurityGroupArgs>>,
    /// What must exist before anything internet-facing is created in the public subnets:
    /// the gateway attachment and the public route associations. AWS refuses an
    /// internet-facing load balancer in a VPC whose gateway it does not see yet
    /// (`InvalidSubnet`), and refuses to detach a gateway while public addresses remain.
    pub internet_ready: Vec<Urn>,
    /// The private subnets' route table associations (their default route through a NAT
    /// gateway): instances whose user data installs packages must launch after them.
    pub private_egress: Vec<Urn>,
}

pub fn declare(stack: &mut StackBuilder, config: &StackConfig) -> Network {
    let net = &config.network;
    let zones = &net.availability_zones[..net.az_count.min(net.availability_zones.len())];

    let vpc = stack.declare(
        "vpc",
        VpcArgs {
            cidr_block: net.vpc_cidr.clone().into(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
            tags: name_tag(stack, "vpc"),
        },
    );

    let mut public_subnets = Vec::new();
    let mut private_subnets = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        let suffix = zone_suffix(zone);
        for (public, cidrs, list) in [
            (true, &net.public_subnet_cidrs, &mut public_subnets),
            (false, &net.private_subnet_cidrs, &mut private_subnets),
        ] {
            let name = format!("{}-{suffix}", if public { "public" } else { "private" });
            let Some(cidr) = cidrs.get(i) else { continue };
            let mut tags = name_tag(stack, &name);
            tags.insert("Tier".into(), if public { "public" } else { "private" }.into());
            list.push(stack.declare(
                &name,
                SubnetArgs {
                    vpc_id: vpc.id(),
                    cidr_block: cidr.clone().into(),
                    availability_zone: zone.clone().into(),
                    map_public_ip_on_launch: public,
                    tags,
                },
            ));
        }
    }

    // Internet access for the public subnets.
    let igw = stack.declare(
        "igw",
        InternetGatewayArgs {
            tags: name_tag(stack, "igw"),
        },
    );
    let attachment = stack.declare(
        "igw-attachment",
        InternetGatewayAttachmentArgs {
            internet_gateway_id: igw.id(),
            vpc_id: vpc.id(),
        },
    );
    // A route through the gateway is refused until the gateway is attached: an ordering
    // no reference expresses.
    let public_rt = stack.declare_after(
        "public-rt",
        RouteTableArgs {
            vpc_id: vpc.id(),
            routes: vec![Route {
                destination_cidr_block: ANYWHERE.into(),
                gateway_id: Some(igw.id()),
                nat_gateway_id: None,
                vpc_peering_connection_id: None,
            }],
            tags: name_tag(stack, "public-rt"),
        },
        &[attachment.urn()],
    );
    let mut internet_ready = vec![attachment.urn().clone()];
    for (subnet, zone) in public_subnets.iter().zip(zones) {
        let association = stack.declare(
            &format!("public-rta-{}", zone_suffix(zone)),
            RouteTableAssociationArgs {
                route_table_id: public_rt.id(),
                subnet_id: subnet.id(),
            },
        );
        internet_ready.push(association.urn().clone());
    }

    // Outbound access for the private subnets: NAT gateways in the public subnets.
    let nat_zones: Vec<usize> = match net.nat_mode {
        NatMode::PerAz => (0..zones.len()).collect(),
        NatMode::Single => vec![0],
    };
    let mut nats: Vec<Handle<NatGatewayArgs>> = Vec::new();
    for &i in &nat_zones {
        let (Some(subnet), Some(zone)) = (public_subnets.get(i), zones.get(i)) else {
            continue;
        };
        let suffix = zone_suffix(zone);
        let eip: Handle<EipArgs> = stack.declare(
            &format!("nat-eip-{suffix}"),
            EipArgs {
                tags: name_tag(stack, &format!("nat-eip-{suffix}")),
            },
        );
        nats.push(stack.declare_after(
            &format!("nat-{suffix}"),
            NatGatewayArgs {
                subnet_id: subnet.id(),
                allocation_id: eip.id(),
                tags: name_tag(stack, &format!("nat-{suffix}")),
            },
            &[attachment.urn()],
        ));
    }
    let mut private_egress = Vec::new();
    for (i, (subnet, zone)) in private_subnets.iter().zip(zones).enumerate() {
        let suffix = zone_suffix(zone);
        let nat = nats.get(i).or(nats.first());
        let rt = stack.declare(
            &format!("private-rt-{suffix}"),
            RouteTableArgs {
                vpc_id: vpc.id(),
                routes: nat
                    .map(|n| Route {
                        destination_cidr_block: ANYWHERE.into(),
                        gateway_id: None,
                        nat_gateway_id: Some(n.id()),
                        vpc_peering_connection_id: None,
                    })
                    .into_iter()
                    .collect(),
                tags: name_tag(stack, &format!("private-rt-{suffix}")),
            },
        );
        let association = stack.declare(
            &format!("private-rta-{suffix}"),
            RouteTableAssociationArgs {
                route_table_id: rt.id(),
                subnet_id: subnet.id(),
            },
        );
        private_egress.push(association.urn().clone());
    }

    declare_acls(stack, config, &vpc, &public_subnets, &private_subnets);
    let mut network = declare_security_groups(stack, config, &vpc, public_subnets, private_subnets);
    network.vpc = vpc;
    network.nats = nats;
    network.internet_ready = internet_ready;
    network.private_egress = private_egress;
    network
}

impl Network {
    /// The network's stack outputs.
    pub fn export(&self, stack: &mut StackBuilder) {
        stack.export("vpc_id", self.vpc.id());
        for (i, s) in self.public_subnets.iter().enumerate() {
            stack.export(&format!("public_subnet_{i}_id"), s.id());
        }
        for (i, s) in self.private_subnets.iter().enumerate() {
            stack.export(&format!("private_subnet_{i}_id"), s.id());
        }
        for (i, n) in self.nats.iter().enumerate() {
            stack.export(&format!("nat_{i}_public_ip"), n.output::<String>("public_ip"));
        }
        for (name, sg) in [
            ("alb", &self.alb_sg),
            ("bastion", &self.bastion_sg),
            ("web", &self.web_sg),
            ("db", &self.db_sg),
        ] {
            stack.export(&format!("{name}_security_group_id"), sg.id());
        }
    }
}

/// Subnet-level controls, a second line behind the security groups. ACLs are stateless,
/// so return traffic to ephemeral ports must be allowed explicitly.
fn declare_acls(
    stack: &mut StackBuilder,
    config: &StackConfig,
    vpc: &Handle<VpcArgs>,
    public: &[Handle<SubnetArgs>],
    private: &[Handle<SubnetArgs>],
) {
    let vpc_cidr = &config.network.vpc_cidr;
    let entry = |rule_number, protocol: &str, cidr: &str, from_port, to_port| NetworkAclEntry {
        rule_number,
        protocol: protocol.into(),
        allow: true,
        cidr_block: cidr.into(),
        from_port,
        to_port,
    };
    let all_out = vec![entry(100, "-1", ANYWHERE, 0, 0)];
    stack.declare(
        "public-acl",
        NetworkAclArgs {
            vpc_id: vpc.id(),
            subnet_ids: public.iter().map(|s| s.id()).collect(),
            ingress: vec![
                entry(100, "tcp", ANYWHERE, 80, 80),
                entry(110, "tcp", ANYWHERE, 443, 443),
                entry(120, "tcp", &config.security.ssh_allowed_cidr, 22, 22),
                entry(130, "-1", vpc_cidr, 0, 0),
                entry(140, "tcp", ANYWHERE, 1024, 65535),
            ],
            egress: all_out.clone(),
            tags: name_tag(stack, "public-acl"),
        },
    );
    stack.declare(
        "private-acl",
        NetworkAclArgs {
            vpc_id: vpc.id(),
            subnet_ids: private.iter().map(|s| s.id()).collect(),
            ingress: vec![
                entry(100, "-1", vpc_cidr, 0, 0),
                entry(110, "tcp", ANYWHERE, 1024, 65535),
            ],
            egress: all_out,
            tags: name_tag(stack, "private-acl"),
        },
    );
}

/// One group per tier. Web servers accept traffic only from the load balancer; SSH
/// reaches the bastion only from the configured range, and the web and database tiers
/// only from the bastion.
fn declare_security_groups(
    stack: &mut StackBuilder,
    config: &StackConfig,
    vpc: &Handle<VpcArgs>,
    public_subnets: Vec<Handle<SubnetArgs>>,
    private_subnets: Vec<Handle<SubnetArgs>>,
) -> Network {
    let group = |stack: &mut StackBuilder, name: &str, description: &str| {
        stack.declare(
            &format!("{name}-sg"),
            SecurityGroupArgs {
                name: format!("{}-{name}", stack.stack()),
                description: description.into(),
                vpc_id: vpc.id(),
                tags: name_tag(stack, &format!("{name}-sg")),
            },
        )
    };
    let alb_sg = group(stack, "alb", "Load balancer: HTTP and HTTPS from the internet");
    let bastion_sg = group(stack, "bastion", "Bastion: SSH from the operators' range only");
    let web_sg = group(
        stack,
        "web",
        "Web servers: HTTP from the load balancer, SSH from the bastion",
    );
    let db_sg = group(stack, "db", "Database: PostgreSQL from the web tier and the bastion");

    let rule = |stack: &mut StackBuilder,
                name: &str,
                sg: &Handle<SecurityGroupArgs>,
                egress: bool,
                protocol: &str,
                ports: (i64, i64),
                source: RuleSource,
                description: &str| {
        stack.declare(
            name,
            SecurityGroupRuleArgs {
                security_group_id: sg.id(),
                egress,
                protocol: protocol.into(),
                from_port: ports.0,
                to_port: ports.1,
                source,
                description: description.into(),
                tags: name_tag(stack, name),
            },
        );
    };
    let anywhere = || RuleSource::Cidr(ANYWHERE.into());
    let from = |sg: &Handle<SecurityGroupArgs>| RuleSource::SecurityGroup(sg.id());
    rule(
        stack,
        "alb-in-http",
        &alb_sg,
        false,
        "tcp",
        (80, 80),
        anywhere(),
        "HTTP from the internet",
    );
    rule(
        stack,
        "alb-in-https",
        &alb_sg,
        false,
        "tcp",
        (443, 443),
        anywhere(),
        "HTTPS from the internet",
    );
    rule(
        stack,
        "alb-out-web",
        &alb_sg,
        true,
        "tcp",
        (80, 80),
        from(&web_sg),
        "HTTP to the web servers",
    );
    let ssh = RuleSource::Cidr(config.security.ssh_allowed_cidr.clone());
    rule(
        stack,
        "bastion-in-ssh",
        &bastion_sg,
        false,
        "tcp",
        (22, 22),
        ssh,
        "SSH from the operators",
    );
    rule(
        stack,
        "bastion-out-all",
        &bastion_sg,
        true,
        "-1",
        (0, 0),
        anywhere(),
        "All outbound",
    );
    rule(
        stack,
        "web-in-http",
        &web_sg,
        false,
        "tcp",
        (80, 80),
        from(&alb_sg),
        "HTTP from the load balancer",
    );
    rule(
        stack,
        "web-in-ssh",
        &web_sg,
        false,
        "tcp",
        (22, 22),
        from(&bastion_sg),
        "SSH from the bastion",
    );
    rule(
        stack,
        "web-out-all",
        &web_sg,
        true,
        "-1",
        (0, 0),
        anywhere(),
        "All outbound",
    );
    rule(
        stack,
        "db-in-pg-web",
        &db_sg,
        false,
        "tcp",
        (5432, 5432),
        from(&web_sg),
        "PostgreSQL from the web tier",
    );
    let efs_sg = config.platform().map(|_| {
        let efs_sg = group(stack, "efs", "Shared image store: NFS from the web tier only");
        rule(
            stack,
            "efs-in-nfs-web",
            &efs_sg,
            false,
            "tcp",
            (2049, 2049),
            from(&web_sg),
            "NFS from the web tier",
        );
        efs_sg
    });
    rule(
        stack,
        "db-in-pg-bastion",
        &db_sg,
        false,
        "tcp",
        (5432, 5432),
        from(&bastion_sg),
        "PostgreSQL from the bastion",
    );

    Network {
        vpc: vpc.clone(),
        nats: Vec::new(),
        public_subnets,
        private_subnets,
        alb_sg,
        bastion_sg,
        web_sg,
        db_sg,
        efs_sg,
        internet_ready: Vec::new(),
        private_egress: Vec::new(),
    }
}

/// `us-east-1a` -> `a`: short, stable resource names per zone.
fn zone_suffix(zone: &str) -> String {
    zone.chars().last().map(String::from).unwrap_or_default()
}
