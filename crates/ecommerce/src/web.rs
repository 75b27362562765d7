//! The web tier: an internet-facing load balancer in the public subnets, web servers in
//! an Auto Scaling group in the private subnets (launch template, instance profile,
//! target-tracking scaling on CPU), and the bastion in a public subnet.

use std::collections::BTreeMap;

use stackup_aws::autoscaling::{AutoScalingGroupArgs, ScalingPolicyArgs};
use stackup_aws::ec2::{InstanceArgs, LaunchTemplateArgs};
use stackup_aws::elbv2::{
    HealthCheck, ListenerAction, ListenerArgs, ListenerRuleArgs, LoadBalancerArgs, TargetGroupArgs,
};
use stackup_aws::iam::{InstanceProfileArgs, PolicyStatement, RoleArgs, RolePolicyArgs};
use stackup_aws::logs::LogGroupArgs;
use stackup_model::{Handle, Input, StackBuilder};

use crate::data::Data;
use crate::network::Network;
use crate::{Platform, StackConfig};

/// What the operations tier needs from the web tier.
pub struct Web {
    pub load_balancer: Handle<LoadBalancerArgs>,
    pub group: Handle<AutoScalingGroupArgs>,
    pub bastion: Handle<InstanceArgs>,
}

/// Installs and starts nginx, mounts the shared image store through its access point,
/// and ships nginx's logs to the web tier's log groups.
const USER_DATA: &str = r#"#!/bin/bash
set -euo pipefail
dnf install -y nginx amazon-efs-utils amazon-cloudwatch-agent
mkdir -p /usr/share/nginx/html/images
mount -t efs -o tls,accesspoint=${access_point_id} ${file_system_id}:/ /usr/share/nginx/html/images
echo "${file_system_id}:/ /usr/share/nginx/html/images efs _netdev,tls,accesspoint=${access_point_id} 0 0" >> /etc/fstab
cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<'CONFIG'
{"logs": {"logs_collected": {"files": {"collect_list": [
  {"file_path": "/var/log/nginx/access.log", "log_group_name": "${access_log_group}", "log_stream_name": "{instance_id}"},
  {"file_path": "/var/log/nginx/error.log", "log_group_name": "${error_log_group}", "log_stream_name": "{instance_id}"}
]}}}}
CONFIG
systemctl enable --now amazon-cloudwatch-agent nginx
"#;

fn name_tag(stack: &StackBuilder, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("Name".to_string(), format!("{}-{name}", stack.stack()))])
}

pub fn declare(
    stack: &mut StackBuilder,
    config: &StackConfig,
    platform: Platform<'_>,
    net: &Network,
    data: &Data,
) -> Web {
    let s = stack.stack().to_string();
    let compute = platform.compute;

    // Log groups first: the instances write to them and the role allows exactly them.
    let log_groups: Vec<(String, Handle<LogGroupArgs>)> = ["access", "error"]
        .into_iter()
        .map(|kind| {
            let name = format!("/stackup/{s}/web/{kind}");
            let handle = stack.declare(
                &format!("web-{kind}-logs"),
                LogGroupArgs {
                    name: name.clone(),
                    retention_days: platform.monitoring.log_retention_days,
                    tags: name_tag(stack, &format!("web-{kind}-logs")),
                },
            );
            (name, handle)
        })
        .collect();

    // The web servers' role: read the assets bucket, read and write sessions, write
    // their own logs. Nothing else.
    let role = stack.declare(
        "web-role",
        RoleArgs {
            name: format!("{s}-web"),
            assume_role_service: "ec2.amazonaws.com".into(),
            tags: name_tag(stack, "web-role"),
        },
    );
    let bucket = &platform.storage.assets_bucket;
    let statement = |actions: &[&str], resources: Vec<Input<String>>| PolicyStatement {
        effect: "Allow".into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        resources,
    };
    stack.declare(
        "web-role-policy",
        RolePolicyArgs {
            role_name: role.output("name"),
            name: "web-tier".into(),
            statements: vec![
                statement(&["s3:ListBucket"], vec![format!("arn:aws:s3:::{bucket}").into()]),
                statement(&["s3:GetObject"], vec![format!("arn:aws:s3:::{bucket}/*").into()]),
                statement(
                    &[
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                    ],
                    vec![data.table.output("arn")],
                ),
                statement(
                    &["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    log_groups
                        .iter()
                        .map(|(name, _)| format!("arn:aws:logs:{}:*:log-group:{name}:*", config.region).into())
                        .collect(),
                ),
            ],
        },
    );
    let profile = stack.declare(
        "web-profile",
        InstanceProfileArgs {
            name: format!("{s}-web"),
            role_name: role.output("name"),
            tags: name_tag(stack, "web-profile"),
        },
    );

    let template = stack.declare(
        "web-lt",
        LaunchTemplateArgs {
            name: format!("{s}-web"),
            image_id: compute.ami.clone(),
            instance_type: compute.web_instance_type.clone(),
            user_data: USER_DATA.into(),
            user_data_vars: BTreeMap::from([
                ("file_system_id".to_string(), data.file_system.id()),
                ("access_point_id".to_string(), data.access_point.id()),
                ("access_log_group".to_string(), log_groups[0].0.clone().into()),
                ("error_log_group".to_string(), log_groups[1].0.clone().into()),
            ]),
            iam_instance_profile_arn: profile.output("arn"),
            security_group_ids: vec![net.web_sg.id()],
            detailed_monitoring: compute.detailed_monitoring,
            key_name: compute.key_name.clone(),
            instance_tags: name_tag(stack, "web"),
            tags: name_tag(stack, "web-lt"),
        },
    );

    // The load balancer, its target group and listeners.
    let internet_ready: Vec<&stackup_model::Urn> = net.internet_ready.iter().collect();
    let load_balancer = stack.declare_after(
        "alb",
        LoadBalancerArgs {
            name: format!("{s}-alb"),
            internal: false,
            subnet_ids: net.public_subnets.iter().map(|h| h.id()).collect(),
            security_group_ids: vec![net.alb_sg.id()],
            tags: name_tag(stack, "alb"),
        },
        &internet_ready,
    );
    let target_group = stack.declare(
        "web-tg",
        TargetGroupArgs {
            name: format!("{s}-web"),
            port: 80,
            protocol: "HTTP".into(),
            vpc_id: net.vpc.id(),
            health_check: HealthCheck {
                path: compute.health_check_path.clone(),
                interval_seconds: 30,
                timeout_seconds: 5,
                healthy_threshold: 3,
                unhealthy_threshold: 3,
                matcher: "200".into(),
            },
            tags: name_tag(stack, "web-tg"),
        },
    );
    let forward = || ListenerAction::Forward {
        target_group_arn: target_group.id(),
    };
    let http = stack.declare(
        "http",
        ListenerArgs {
            load_balancer_arn: load_balancer.id(),
            port: 80,
            protocol: "HTTP".into(),
            certificate_arn: None,
            default_action: if compute.certificate_arn.is_some() {
                ListenerAction::RedirectToHttps
            } else {
                forward()
            },
            tags: name_tag(stack, "http"),
        },
    );
    let serving = match &compute.certificate_arn {
        Some(arn) => stack.declare(
            "https",
            ListenerArgs {
                load_balancer_arn: load_balancer.id(),
                port: 443,
                protocol: "HTTPS".into(),
                certificate_arn: Some(arn.clone()),
                default_action: forward(),
                tags: name_tag(stack, "https"),
            },
        ),
        None => http,
    };
    // The load balancer answers its own liveness probe, so an external monitor can tell
    // "load balancer down" from "no healthy web server".
    stack.declare(
        "alb-ping-rule",
        ListenerRuleArgs {
            listener_arn: serving.id(),
            priority: 10,
            path_patterns: vec!["/alb-ping".into()],
            action: ListenerAction::FixedResponse {
                status_code: 200,
                content_type: "text/plain".into(),
                body: "ok".into(),
            },
            tags: name_tag(stack, "alb-ping-rule"),
        },
    );

    // User data runs `dnf install` (through the NAT route) and mounts the file system
    // (through its mount target) at first boot: launch only when both exist.
    let boot_needs: Vec<&stackup_model::Urn> = net.private_egress.iter().chain(&data.mount_targets).collect();
    let group = stack.declare_after(
        "web-asg",
        AutoScalingGroupArgs {
            name: format!("{s}-web"),
            min_size: compute.asg_min,
            max_size: compute.asg_max,
            subnet_ids: net.private_subnets.iter().map(|h| h.id()).collect(),
            launch_template_id: template.id(),
            launch_template_version: template.output("latest_version"),
            target_group_arns: vec![target_group.id()],
            health_check_type: "ELB".into(),
            health_check_grace_period: 300,
            tags: name_tag(stack, "web"),
            // `up` ends when the web tier answers its health checks, not before.
            wait_for_elb_capacity: compute.asg_min,
        },
        &boot_needs,
    );
    stack.declare(
        "web-cpu-scaling",
        ScalingPolicyArgs {
            name: format!("{s}-web-cpu"),
            autoscaling_group_name: group.output("name"),
            target_cpu_percent: compute.cpu_target_percent,
        },
    );

    let bastion_subnet = net
        .public_subnets
        .first()
        .map(|h| h.id())
        .unwrap_or_else(|| "".to_string().into());
    let bastion = stack.declare_after(
        "bastion",
        InstanceArgs {
            image_id: compute.ami.clone().into(),
            instance_type: compute.bastion_instance_type.clone(),
            subnet_id: bastion_subnet,
            security_group_ids: vec![net.bastion_sg.id()],
            key_name: compute.key_name.clone(),
            iam_instance_profile: None,
            detailed_monitoring: compute.detailed_monitoring,
            user_data: "#!/bin/bash\ndnf install -y postgresql16\n".into(),
            tags: name_tag(stack, "bastion"),
        },
        &internet_ready,
    );

    Web {
        load_balancer,
        group,
        bastion,
    }
}
