//! The web-pair platform (seed 001, `program = "web-pair"`): an internet-facing
//! application load balancer in two public subnets, two Linux instances running nginx
//! in two private subnets (outbound through a NAT gateway), HTTP to the instances only
//! from the load balancer's security group, no SSH from anywhere (access is SSM Session
//! Manager: an instance profile with the SSM core permissions), optional HTTPS with an
//! ACM certificate. The instances are standalone targets of the target group
//! (`TargetGroupAttachment`), so losing one leaves the other serving.
//!
//! Architecture invariant: no IO except reading the stack file; no AWS calls.

mod config;

use std::collections::BTreeMap;

use stackup_aws::ec2::{
    EipArgs, InstanceArgs, InternetGatewayArgs, InternetGatewayAttachmentArgs, NatGatewayArgs, Route, RouteTableArgs,
    RouteTableAssociationArgs, RuleSource, SecurityGroupArgs, SecurityGroupRuleArgs, SubnetArgs, VpcArgs,
};
use stackup_aws::elbv2::{
    HealthCheck, ListenerAction, ListenerArgs, LoadBalancerArgs, TargetGroupArgs, TargetGroupAttachmentArgs,
};
use stackup_aws::iam::{InstanceProfileArgs, PolicyStatement, RoleArgs, RolePolicyArgs};
use stackup_model::{DeclareError, Handle, Program, ProgramDef, StackBuilder, Urn};

pub use config::WebPairConfig;

/// The platform as a plug-in: what a stack file with `program = "web-pair"` runs.
pub const PROGRAM: ProgramDef = ProgramDef {
    name: "web-pair",
    declare,
};

fn declare(file: &std::path::Path, text: &str) -> Result<Program, DeclareError> {
    Ok(program(&WebPairConfig::parse(file, text)?))
}

const ANYWHERE: &str = "0.0.0.0/0";

/// What SSM Session Manager needs on an instance (the actions of the AWS managed
/// policy AmazonSSMManagedInstanceCore that Session Manager uses).
const SSM_CORE: &[&str] = &[
    "ssm:UpdateInstanceInformation",
    "ssm:ListInstanceAssociations",
    "ssm:DescribeInstanceProperties",
    "ssm:GetDocument",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
];

/// nginx serving a page naming the instance, and the health check path.
fn user_data(page_title: &str, health_path: &str, server: &str) -> String {
    format!(
        "#!/bin/bash\nset -euo pipefail\ndnf install -y nginx\ncat > /usr/share/nginx/html/index.html <<'PAGE'\n<h1>{page_title}</h1><p>served by {server}</p>\nPAGE\nmkdir -p /usr/share/nginx/html{dir}\necho ok > /usr/share/nginx/html{health_path}\nsystemctl enable --now nginx\n",
        dir = health_path.rsplit_once('/').map(|(d, _)| d).unwrap_or_default(),
    )
}

/// A security group rule: name, group, egress, port, source, description.
type Rule<'a> = (&'a str, &'a Handle<SecurityGroupArgs>, bool, i64, RuleSource, &'a str);

/// Declares the platform for one stack.
pub fn program(config: &WebPairConfig) -> Program {
    let mut stack = StackBuilder::with_tags(&config.name, &config.tags);
    let s = config.name.clone();
    let tag = |name: &str| BTreeMap::from([("Name".to_string(), format!("{s}-{name}"))]);
    let net = &config.network;
    let zones = &net.availability_zones;

    let vpc = stack.declare(
        "vpc",
        VpcArgs {
            cidr_block: net.vpc_cidr.clone().into(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
            tags: tag("vpc"),
        },
    );
    let subnet = |stack: &mut StackBuilder, kind: &str, i: usize, cidr: &str| {
        let name = format!("{kind}-{}", suffix(&zones[i]));
        stack.declare(
            &name,
            SubnetArgs {
                vpc_id: vpc.id(),
                cidr_block: cidr.to_string().into(),
                availability_zone: zones[i].clone().into(),
                map_public_ip_on_launch: kind == "public",
                tags: tag(&name),
            },
        )
    };
    let public: Vec<Handle<SubnetArgs>> = (0..2)
        .map(|i| subnet(&mut stack, "public", i, &net.public_subnet_cidrs[i]))
        .collect();
    let private: Vec<Handle<SubnetArgs>> = (0..2)
        .map(|i| subnet(&mut stack, "private", i, &net.private_subnet_cidrs[i]))
        .collect();

    let igw = stack.declare("igw", InternetGatewayArgs { tags: tag("igw") });
    let attachment = stack.declare(
        "igw-attachment",
        InternetGatewayAttachmentArgs {
            internet_gateway_id: igw.id(),
            vpc_id: vpc.id(),
        },
    );
    let route = |gateway: Option<Handle<InternetGatewayArgs>>, nat: Option<&Handle<NatGatewayArgs>>| Route {
        destination_cidr_block: ANYWHERE.into(),
        gateway_id: gateway.map(|g| g.id()),
        nat_gateway_id: nat.map(|n| n.id()),
        vpc_peering_connection_id: None,
    };
    let public_rt = stack.declare_after(
        "public-rt",
        RouteTableArgs {
            vpc_id: vpc.id(),
            routes: vec![route(Some(igw.clone()), None)],
            tags: tag("public-rt"),
        },
        &[attachment.urn()],
    );
    let mut internet_ready: Vec<Urn> = vec![attachment.urn().clone()];
    for (i, subnet) in public.iter().enumerate() {
        let association = stack.declare(
            &format!("public-rta-{}", suffix(&zones[i])),
            RouteTableAssociationArgs {
                route_table_id: public_rt.id(),
                subnet_id: subnet.id(),
            },
        );
        internet_ready.push(association.urn().clone());
    }
    // One NAT gateway: the pair's outbound traffic is package installs and SSM.
    let eip = stack.declare("nat-eip", EipArgs { tags: tag("nat-eip") });
    let nat = stack.declare_after(
        "nat",
        NatGatewayArgs {
            subnet_id: public[0].id(),
            allocation_id: eip.id(),
            tags: tag("nat"),
        },
        &[attachment.urn()],
    );
    let private_rt = stack.declare(
        "private-rt",
        RouteTableArgs {
            vpc_id: vpc.id(),
            routes: vec![route(None, Some(&nat))],
            tags: tag("private-rt"),
        },
    );
    let mut private_egress: Vec<Urn> = Vec::new();
    for (i, subnet) in private.iter().enumerate() {
        let association = stack.declare(
            &format!("private-rta-{}", suffix(&zones[i])),
            RouteTableAssociationArgs {
                route_table_id: private_rt.id(),
                subnet_id: subnet.id(),
            },
        );
        private_egress.push(association.urn().clone());
    }

    // Security groups: the internet reaches the load balancer only; the load balancer
    // reaches the servers on HTTP only; the servers reach out on HTTP(S) only (packages
    // through the NAT gateway, SSM's endpoints). No SSH rule exists.
    let group = |stack: &mut StackBuilder, name: &str, description: &str| {
        stack.declare(
            &format!("{name}-sg"),
            SecurityGroupArgs {
                name: format!("{s}-{name}"),
                description: description.into(),
                vpc_id: vpc.id(),
                tags: tag(&format!("{name}-sg")),
            },
        )
    };
    let alb_sg = group(&mut stack, "alb", "Load balancer: HTTP and HTTPS from the internet");
    let web_sg = group(&mut stack, "web", "Web servers: HTTP from the load balancer only");
    let https = config.web.certificate_arn.is_some();
    let mut rules: Vec<Rule<'_>> = vec![
        (
            "alb-in-http",
            &alb_sg,
            false,
            80,
            RuleSource::Cidr(ANYWHERE.into()),
            "HTTP from the internet",
        ),
        (
            "alb-out-web",
            &alb_sg,
            true,
            80,
            RuleSource::SecurityGroup(web_sg.id()),
            "HTTP to the web servers",
        ),
        (
            "web-in-http",
            &web_sg,
            false,
            80,
            RuleSource::SecurityGroup(alb_sg.id()),
            "HTTP from the load balancer",
        ),
        (
            "web-out-http",
            &web_sg,
            true,
            80,
            RuleSource::Cidr(ANYWHERE.into()),
            "Package repositories",
        ),
        (
            "web-out-https",
            &web_sg,
            true,
            443,
            RuleSource::Cidr(ANYWHERE.into()),
            "Package repositories and SSM",
        ),
    ];
    if https {
        rules.push((
            "alb-in-https",
            &alb_sg,
            false,
            443,
            RuleSource::Cidr(ANYWHERE.into()),
            "HTTPS from the internet",
        ));
    }
    for (name, sg, egress, port, source, description) in rules {
        stack.declare(
            name,
            SecurityGroupRuleArgs::tcp(sg.id(), egress, port, source, description, tag(name)),
        );
    }

    // Session Manager instead of SSH: a role with the SSM core permissions.
    let role = stack.declare(
        "web-role",
        RoleArgs {
            name: format!("{s}-web"),
            assume_role_service: "ec2.amazonaws.com".into(),
            tags: tag("web-role"),
        },
    );
    stack.declare(
        "web-role-ssm",
        RolePolicyArgs {
            role_name: role.output("name"),
            name: "ssm-session-manager".into(),
            statements: vec![PolicyStatement {
                effect: "Allow".into(),
                actions: SSM_CORE.iter().map(|a| a.to_string()).collect(),
                resources: vec!["*".to_string().into()],
            }],
        },
    );
    let profile = stack.declare(
        "web-profile",
        InstanceProfileArgs {
            name: format!("{s}-web"),
            role_name: role.output("name"),
            tags: tag("web-profile"),
        },
    );

    let internet_ready: Vec<&Urn> = internet_ready.iter().collect();
    let load_balancer = stack.declare_after(
        "alb",
        LoadBalancerArgs {
            name: format!("{s}-alb"),
            internal: false,
            subnet_ids: public.iter().map(|h| h.id()).collect(),
            security_group_ids: vec![alb_sg.id()],
            tags: tag("alb"),
        },
        &internet_ready,
    );
    let web = &config.web;
    let target_group = stack.declare(
        "web-tg",
        TargetGroupArgs {
            name: format!("{s}-web"),
            port: 80,
            protocol: "HTTP".into(),
            vpc_id: vpc.id(),
            health_check: HealthCheck::http(&web.health_check_path),
            tags: tag("web-tg"),
        },
    );
    let forward = || ListenerAction::Forward {
        target_group_arn: target_group.id(),
    };
    stack.declare(
        "http",
        ListenerArgs {
            load_balancer_arn: load_balancer.id(),
            port: 80,
            protocol: "HTTP".into(),
            certificate_arn: None,
            default_action: if https {
                ListenerAction::RedirectToHttps
            } else {
                forward()
            },
            tags: tag("http"),
        },
    );
    if let Some(arn) = &web.certificate_arn {
        stack.declare(
            "https",
            ListenerArgs {
                load_balancer_arn: load_balancer.id(),
                port: 443,
                protocol: "HTTPS".into(),
                certificate_arn: Some(arn.clone()),
                default_action: forward(),
                tags: tag("https"),
            },
        );
    }

    // The servers install nginx through the NAT route at first boot: they launch once
    // the private subnets route through it.
    let boot_needs: Vec<&Urn> = private_egress.iter().collect();
    let mut servers = Vec::new();
    for (i, subnet) in private.iter().enumerate() {
        let name = format!("web-{}", suffix(&zones[i]));
        let server = stack.declare_after(
            &name,
            InstanceArgs {
                image_id: web.ami.clone().into(),
                instance_type: web.instance_type.clone(),
                subnet_id: subnet.id(),
                security_group_ids: vec![web_sg.id()],
                key_name: None,
                iam_instance_profile: Some(profile.id()),
                detailed_monitoring: false,
                user_data: user_data(&web.page_title, &web.health_check_path, &name),
                tags: tag(&name),
            },
            &boot_needs,
        );
        stack.declare(
            &format!("{name}-target"),
            TargetGroupAttachmentArgs {
                target_group_arn: target_group.id(),
                target_id: server.id(),
                port: None,
            },
        );
        servers.push((name, server));
    }

    stack.export("vpc_id", vpc.id());
    stack.export("load_balancer_dns_name", load_balancer.output::<String>("dns_name"));
    stack.export("target_group_arn", target_group.id());
    for (name, server) in &servers {
        stack.export(&format!("{}_instance_id", name.replace('-', "_")), server.id());
    }
    stack.finish()
}

/// `us-east-1a` -> `a`.
fn suffix(zone: &str) -> String {
    zone.chars().last().map(String::from).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackup_model::Value;

    const DEV: &str = include_str!("../../../stacks/web-pair-dev.toml");

    fn names(program: &Program) -> Vec<&str> {
        program.goals.iter().map(|g| g.urn.name()).collect()
    }

    #[test]
    fn the_dev_stack_declares_the_pair_behind_the_load_balancer_and_no_ssh() {
        let config = WebPairConfig::parse(std::path::Path::new("stacks/web-pair-dev.toml"), DEV).expect("valid");
        let program = program(&config);
        let names = names(&program);
        for wanted in [
            "alb",
            "web-tg",
            "http",
            "web-a",
            "web-b",
            "web-a-target",
            "web-b-target",
            "nat",
            "web-profile",
        ] {
            assert!(names.contains(&wanted), "{wanted} in {names:?}");
        }
        assert!(!names.contains(&"https"), "no certificate, no HTTPS listener");
        for goal in &program.goals {
            if goal.ty.as_str() == "aws:ec2:SecurityGroupRule" {
                let port = goal.inputs.get("from_port").and_then(Value::as_int);
                assert_ne!(port, Some(22), "no SSH rule: {}", goal.urn);
            }
        }
        let web_in = program
            .goals
            .iter()
            .find(|g| g.urn.name() == "web-in-http")
            .expect("web-in-http");
        let source = format!("{:?}", web_in.inputs);
        assert!(
            source.contains("alb-sg"),
            "the servers take HTTP from the load balancer's group only: {source}"
        );
    }

    #[test]
    fn a_certificate_adds_https_and_http_redirects() {
        let text = DEV.replace(
            "[web]\n",
            "[web]\ncertificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"\n",
        );
        let config = WebPairConfig::parse(std::path::Path::new("stacks/x.toml"), &text).expect("valid");
        let program = program(&config);
        let names = names(&program);
        assert!(names.contains(&"https") && names.contains(&"alb-in-https"), "{names:?}");
        let http = program.goals.iter().find(|g| g.urn.name() == "http").expect("http");
        assert!(format!("{:?}", http.inputs).contains("redirect"), "{:?}", http.inputs);
    }

    #[test]
    fn user_data_serves_the_page_and_the_health_path() {
        let script = user_data("Hello", "/status/health", "web-a");
        assert!(script.contains("dnf install -y nginx"));
        assert!(script.contains("mkdir -p /usr/share/nginx/html/status"));
        assert!(script.contains("echo ok > /usr/share/nginx/html/status/health"));
        assert!(script.contains("served by web-a"));
    }
}
