//! The multi-tier platform (seed 000, `program = "multitier"`).
//!
//! - An application VPC over two zones: a public and a private subnet per zone, a NAT
//!   gateway per zone, an internet-facing ALB (health checks, listener rules) whose
//!   target group's targets are the frontend instances (`TargetGroupAttachment`).
//! - Frontends: one instance per zone in the public subnets, serving the site.
//!   Backends: one per zone in the private subnets, reachable only from the frontends'
//!   security group on the app port. PostgreSQL on RDS in the private subnets,
//!   reachable only from the backends' group: the seed's lesson (the backend could not
//!   reach the database until the groups were right) is this chain of groups.
//! - The database's password is managed by RDS in Secrets Manager: nothing in state,
//!   nothing in Jenkins; the backends' role may read that one secret.
//! - Jenkins: its own instance, group, and a role whose policy allows exactly the
//!   actions running stackup for this stack calls.
//! - A monitoring VPC peered with the application VPC, routes over the peering in both
//!   VPCs' route tables, and an instance running Prometheus and Grafana that scrapes
//!   node exporter (9100) on every instance (found by EC2 service discovery); every
//!   instance installs node exporter at boot.
//! - The zones and the AMI are lookups, read while planning and shown in the plan,
//!   unless the stack file pins them.
//!
//! Architecture invariant: no IO except reading the stack file; no AWS calls.

mod config;

use std::collections::BTreeMap;

use stackup_aws::ec2::{
    EipArgs, InstanceArgs, InternetGatewayArgs, InternetGatewayAttachmentArgs, NatGatewayArgs, Route, RouteTableArgs,
    RouteTableAssociationArgs, RuleSource, SecurityGroupArgs, SecurityGroupRuleArgs, SubnetArgs, VpcArgs,
    VpcPeeringConnectionArgs,
};
use stackup_aws::elbv2::{
    HealthCheck, ListenerAction, ListenerArgs, ListenerRuleArgs, LoadBalancerArgs, TargetGroupArgs,
    TargetGroupAttachmentArgs,
};
use stackup_aws::iam::{InstanceProfileArgs, PolicyStatement, RoleArgs, RolePolicyArgs};
use stackup_aws::lookups::{ParameterLookup, ZonesLookup};
use stackup_aws::rds::{DbInstanceArgs, DbSubnetGroupArgs};
use stackup_model::{DeclareError, Handle, Input, Program, ProgramDef, ResourceArgs, StackBuilder, Urn};

pub use config::{MultitierConfig, AL2023};

/// The platform as a plug-in: what a stack file with `program = "multitier"` runs.
pub const PROGRAM: ProgramDef = ProgramDef {
    name: "multitier",
    declare,
};

fn declare(file: &std::path::Path, text: &str) -> Result<Program, DeclareError> {
    Ok(program(&MultitierConfig::parse(file, text)?))
}

const ANYWHERE: &str = "0.0.0.0/0";
const NODE_EXPORTER: i64 = 9100;
const POSTGRES: i64 = 5432;
const NODE_EXPORTER_VERSION: &str = "1.8.2";

/// Installs node exporter as a service: every instance runs it, Prometheus scrapes it.
fn node_exporter() -> String {
    let v = NODE_EXPORTER_VERSION;
    format!(
        "curl -fsSL https://github.com/prometheus/node_exporter/releases/download/v{v}/node_exporter-{v}.linux-amd64.tar.gz | tar -xz -C /opt\n\
         useradd --system --no-create-home node_exporter || true\n\
         cat > /etc/systemd/system/node_exporter.service <<'UNIT'\n\
         [Unit]\nDescription=Prometheus node exporter\n[Service]\nUser=node_exporter\nExecStart=/opt/node_exporter-{v}.linux-amd64/node_exporter\nRestart=always\n[Install]\nWantedBy=multi-user.target\n\
         UNIT\n\
         systemctl daemon-reload\nsystemctl enable --now node_exporter\n"
    )
}

fn script(body: &str) -> String {
    format!("#!/bin/bash\nset -euo pipefail\n{}{body}", node_exporter())
}

/// nginx serving the site and the health check path.
fn frontend_user_data(health_path: &str, server: &str) -> String {
    let dir = health_path.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
    script(&format!(
        "dnf install -y nginx\n\
         echo '<h1>stackup multi-tier</h1><p>served by {server}</p>' > /usr/share/nginx/html/index.html\n\
         mkdir -p /usr/share/nginx/html{dir}\necho ok > /usr/share/nginx/html{health_path}\n\
         systemctl enable --now nginx\n"
    ))
}

/// The backend service on the app port; it reads the database's credentials from
/// the secret RDS manages, at start, never from user data.
fn backend_user_data(port: u16, db_identifier: &str) -> String {
    script(&format!(
        "dnf install -y python3 postgresql16\n\
         cat > /usr/local/bin/backend <<'APP'\n\
         #!/bin/bash\n\
         secret=$(aws rds describe-db-instances --db-instance-identifier {db_identifier} --query 'DBInstances[0].MasterUserSecret.SecretArn' --output text)\n\
         export DB_SECRET_ARN=\"$secret\"\n\
         exec python3 -m http.server {port} --directory /srv/backend\n\
         APP\n\
         chmod +x /usr/local/bin/backend\nmkdir -p /srv/backend && echo ok > /srv/backend/health\n\
         cat > /etc/systemd/system/backend.service <<'UNIT'\n\
         [Unit]\nDescription=Backend\n[Service]\nExecStart=/usr/local/bin/backend\nRestart=always\n[Install]\nWantedBy=multi-user.target\n\
         UNIT\n\
         systemctl daemon-reload\nsystemctl enable --now backend\n"
    ))
}

fn jenkins_user_data() -> String {
    script(
        "dnf install -y java-17-amazon-corretto-headless\n\
         curl -fsSL -o /etc/yum.repos.d/jenkins.repo https://pkg.jenkins.io/redhat-stable/jenkins.repo\n\
         rpm --import https://pkg.jenkins.io/redhat-stable/jenkins.io-2023.key\n\
         dnf install -y jenkins\nsystemctl enable --now jenkins\n",
    )
}

/// Prometheus finds every instance of the stack through EC2 service discovery (its
/// private address, port 9100); Grafana reads Prometheus.
fn monitoring_user_data(stack: &str, region: &str) -> String {
    script(&format!(
        "dnf install -y docker\nsystemctl enable --now docker\nmkdir -p /etc/prometheus\n\
         cat > /etc/prometheus/prometheus.yml <<'PROM'\n\
         global:\n  scrape_interval: 30s\n\
         scrape_configs:\n\
         \x20 - job_name: node\n\
         \x20   ec2_sd_configs:\n\
         \x20     - region: {region}\n\
         \x20       port: {NODE_EXPORTER}\n\
         \x20       filters:\n\
         \x20         - name: tag:stackup:stack\n\
         \x20           values: [{stack}]\n\
         \x20   relabel_configs:\n\
         \x20     - source_labels: [__meta_ec2_tag_Name]\n\
         \x20       target_label: instance\n\
         PROM\n\
         docker run -d --restart always --name prometheus --network host -v /etc/prometheus:/etc/prometheus prom/prometheus\n\
         docker run -d --restart always --name grafana --network host grafana/grafana-oss\n"
    ))
}

/// A security group rule: name, group, egress, port, source, description.
type Rule<'a> = (&'a str, &'a Handle<SecurityGroupArgs>, bool, i64, RuleSource, &'a str);

/// Declares the platform for one stack.
pub fn program(config: &MultitierConfig) -> Program {
    let mut stack = StackBuilder::with_tags(&config.name, &config.tags);
    let s = config.name.clone();
    let tag = |name: &str| BTreeMap::from([("Name".to_string(), format!("{s}-{name}"))]);
    let net = &config.network;
    let mon = &config.monitoring;
    let app = &config.app;

    // Lookups: the region's zones and the AMI, unless the stack file pins them.
    let zones: Vec<Input<String>> = match &net.availability_zones {
        Some(zones) => zones.iter().map(|z| z.clone().into()).collect(),
        None => {
            let found = stack.lookup("zones", ZonesLookup {});
            (0..2).map(|i| found.output(&format!("names[{i}]"))).collect()
        }
    };
    let ami: Input<String> = match &app.ami {
        Some(ami) => ami.clone().into(),
        None => stack
            .lookup(
                "ami",
                ParameterLookup {
                    name: app.ami_parameter.clone(),
                },
            )
            .output("value"),
    };

    // The two VPCs and the peering between them.
    let vpc = |stack: &mut StackBuilder, name: &str, cidr: &str| {
        stack.declare(
            name,
            VpcArgs {
                cidr_block: cidr.to_string().into(),
                enable_dns_support: true,
                enable_dns_hostnames: true,
                tags: tag(name),
            },
        )
    };
    let app_vpc = vpc(&mut stack, "app-vpc", &net.vpc_cidr);
    let mon_vpc = vpc(&mut stack, "mon-vpc", &mon.vpc_cidr);
    let peering = stack.declare(
        "peering",
        VpcPeeringConnectionArgs {
            vpc_id: app_vpc.id(),
            peer_vpc_id: mon_vpc.id(),
            allow_remote_vpc_dns_resolution: true,
            tags: tag("peering"),
        },
    );

    let subnet = |stack: &mut StackBuilder,
                  name: &str,
                  vpc: &Handle<VpcArgs>,
                  cidr: &str,
                  zone: &Input<String>,
                  public: bool| {
        stack.declare(
            name,
            SubnetArgs {
                vpc_id: vpc.id(),
                cidr_block: cidr.to_string().into(),
                availability_zone: zone.clone(),
                map_public_ip_on_launch: public,
                tags: tag(name),
            },
        )
    };
    let public: Vec<Handle<SubnetArgs>> = (0..2)
        .map(|i| {
            subnet(
                &mut stack,
                &format!("public-{}", i + 1),
                &app_vpc,
                &net.public_subnet_cidrs[i],
                &zones[i],
                true,
            )
        })
        .collect();
    let private: Vec<Handle<SubnetArgs>> = (0..2)
        .map(|i| {
            subnet(
                &mut stack,
                &format!("private-{}", i + 1),
                &app_vpc,
                &net.private_subnet_cidrs[i],
                &zones[i],
                false,
            )
        })
        .collect();
    let mon_subnet = subnet(&mut stack, "mon-subnet", &mon_vpc, &mon.subnet_cidr, &zones[0], true);

    let internet = |stack: &mut StackBuilder, prefix: &str, vpc: &Handle<VpcArgs>| {
        let igw = stack.declare(
            &format!("{prefix}igw"),
            InternetGatewayArgs {
                tags: tag(&format!("{prefix}igw")),
            },
        );
        let attachment = stack.declare(
            &format!("{prefix}igw-attachment"),
            InternetGatewayAttachmentArgs {
                internet_gateway_id: igw.id(),
                vpc_id: vpc.id(),
            },
        );
        (igw, attachment)
    };
    let (igw, attachment) = internet(&mut stack, "", &app_vpc);
    let (mon_igw, mon_attachment) = internet(&mut stack, "mon-", &mon_vpc);

    let to = |cidr: &str| Route {
        destination_cidr_block: cidr.to_string(),
        gateway_id: None,
        nat_gateway_id: None,
        vpc_peering_connection_id: None,
    };
    let via_peering = |cidr: &str| Route {
        vpc_peering_connection_id: Some(peering.id()),
        ..to(cidr)
    };
    let via_igw = |igw: &Handle<InternetGatewayArgs>| Route {
        gateway_id: Some(igw.id()),
        ..to(ANYWHERE)
    };
    let associate =
        |stack: &mut StackBuilder, name: &str, table: &Handle<RouteTableArgs>, subnet: &Handle<SubnetArgs>| {
            stack
                .declare(
                    name,
                    RouteTableAssociationArgs {
                        route_table_id: table.id(),
                        subnet_id: subnet.id(),
                    },
                )
                .urn()
                .clone()
        };

    // Public: the internet through the gateway, the monitoring VPC over the peering.
    let public_rt = stack.declare_after(
        "public-rt",
        RouteTableArgs {
            vpc_id: app_vpc.id(),
            routes: vec![via_igw(&igw), via_peering(&mon.vpc_cidr)],
            tags: tag("public-rt"),
        },
        &[attachment.urn()],
    );
    let mut internet_ready: Vec<Urn> = vec![attachment.urn().clone()];
    for (i, subnet) in public.iter().enumerate() {
        internet_ready.push(associate(
            &mut stack,
            &format!("public-rta-{}", i + 1),
            &public_rt,
            subnet,
        ));
    }
    // Private: out through the zone's own NAT gateway (a zone's failure does not cut
    // the other's egress), the monitoring VPC over the peering.
    let mut private_egress: Vec<Urn> = Vec::new();
    for (i, subnet) in private.iter().enumerate() {
        let n = i + 1;
        let eip = stack.declare(
            &format!("nat-eip-{n}"),
            EipArgs {
                tags: tag(&format!("nat-eip-{n}")),
            },
        );
        let nat = stack.declare_after(
            &format!("nat-{n}"),
            NatGatewayArgs {
                subnet_id: public[i].id(),
                allocation_id: eip.id(),
                tags: tag(&format!("nat-{n}")),
            },
            &[attachment.urn()],
        );
        let table = stack.declare(
            &format!("private-rt-{n}"),
            RouteTableArgs {
                vpc_id: app_vpc.id(),
                routes: vec![
                    Route {
                        nat_gateway_id: Some(nat.id()),
                        ..to(ANYWHERE)
                    },
                    via_peering(&mon.vpc_cidr),
                ],
                tags: tag(&format!("private-rt-{n}")),
            },
        );
        private_egress.push(associate(&mut stack, &format!("private-rta-{n}"), &table, subnet));
    }
    // Monitoring: the internet for its packages, the application VPC over the peering.
    let mon_rt = stack.declare_after(
        "mon-rt",
        RouteTableArgs {
            vpc_id: mon_vpc.id(),
            routes: vec![via_igw(&mon_igw), via_peering(&net.vpc_cidr)],
            tags: tag("mon-rt"),
        },
        &[mon_attachment.urn()],
    );
    let mon_ready = [
        mon_attachment.urn().clone(),
        associate(&mut stack, "mon-rta", &mon_rt, &mon_subnet),
    ];

    // Security groups. The chain internet -> alb -> frontend -> backend -> db is the
    // only way in; node exporter answers the monitoring subnet only; consoles answer
    // the administrators' ranges only; no SSH anywhere.
    let group = |stack: &mut StackBuilder, name: &str, vpc: &Handle<VpcArgs>, description: &str| {
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
    let alb_sg = group(&mut stack, "alb", &app_vpc, "Load balancer: HTTP from the internet");
    let frontend_sg = group(
        &mut stack,
        "frontend",
        &app_vpc,
        "Frontends: HTTP from the load balancer",
    );
    let backend_sg = group(
        &mut stack,
        "backend",
        &app_vpc,
        "Backends: the app port from the frontends",
    );
    let db_sg = group(
        &mut stack,
        "db",
        &app_vpc,
        "Database: PostgreSQL from the backends only",
    );
    let jenkins_sg = group(
        &mut stack,
        "jenkins",
        &app_vpc,
        "Jenkins: its console from the administrators",
    );
    let mon_sg = group(&mut stack, "monitoring", &mon_vpc, "Prometheus and Grafana");
    let port = i64::from(app.app_port);
    let cidr = |c: &str| RuleSource::Cidr(c.to_string());
    let from = |g: &Handle<SecurityGroupArgs>| RuleSource::SecurityGroup(g.id());
    let mut rules: Vec<Rule<'_>> = vec![
        (
            "alb-in-http",
            &alb_sg,
            false,
            80,
            cidr(ANYWHERE),
            "HTTP from the internet",
        ),
        (
            "alb-out-frontend",
            &alb_sg,
            true,
            80,
            from(&frontend_sg),
            "HTTP to the frontends",
        ),
        (
            "frontend-in-http",
            &frontend_sg,
            false,
            80,
            from(&alb_sg),
            "HTTP from the load balancer",
        ),
        (
            "frontend-out-backend",
            &frontend_sg,
            true,
            port,
            from(&backend_sg),
            "The app port on the backends",
        ),
        (
            "backend-in-app",
            &backend_sg,
            false,
            port,
            from(&frontend_sg),
            "The app port from the frontends",
        ),
        (
            "backend-out-db",
            &backend_sg,
            true,
            POSTGRES,
            from(&db_sg),
            "PostgreSQL",
        ),
        (
            "db-in-postgres",
            &db_sg,
            false,
            POSTGRES,
            from(&backend_sg),
            "PostgreSQL from the backends",
        ),
        (
            "monitoring-out-scrape",
            &mon_sg,
            true,
            NODE_EXPORTER,
            cidr(&net.vpc_cidr),
            "Node exporter in the application VPC",
        ),
    ];
    // Packages and AWS APIs over HTTPS (and HTTP for package mirrors).
    let out_names: Vec<(String, String, &Handle<SecurityGroupArgs>)> = [
        ("frontend", &frontend_sg),
        ("backend", &backend_sg),
        ("jenkins", &jenkins_sg),
        ("monitoring", &mon_sg),
    ]
    .into_iter()
    .map(|(name, g)| (format!("{name}-out-https"), format!("{name}-out-http"), g))
    .collect();
    for (https, http, g) in &out_names {
        rules.push((https, g, true, 443, cidr(ANYWHERE), "HTTPS: packages and AWS APIs"));
        rules.push((http, g, true, 80, cidr(ANYWHERE), "HTTP: package mirrors"));
    }
    let scrape_names: Vec<(String, &Handle<SecurityGroupArgs>)> = [
        ("frontend", &frontend_sg),
        ("backend", &backend_sg),
        ("jenkins", &jenkins_sg),
    ]
    .into_iter()
    .map(|(name, g)| (format!("{name}-in-node-exporter"), g))
    .collect();
    for (name, g) in &scrape_names {
        rules.push((
            name,
            g,
            false,
            NODE_EXPORTER,
            cidr(&mon.subnet_cidr),
            "Node exporter from Prometheus",
        ));
    }
    let admin_names: Vec<(String, &Handle<SecurityGroupArgs>, i64, &str)> = config
        .jenkins
        .admin_cidrs
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("jenkins-in-console-{}", i + 1), &jenkins_sg, 8080, c.as_str()))
        .chain(mon.admin_cidrs.iter().enumerate().flat_map(|(i, c)| {
            [
                (format!("monitoring-in-grafana-{}", i + 1), &mon_sg, 3000, c.as_str()),
                (format!("monitoring-in-prometheus-{}", i + 1), &mon_sg, 9090, c.as_str()),
            ]
        }))
        .collect();
    for (name, g, p, c) in &admin_names {
        rules.push((name, g, false, *p, cidr(c), "Console from the administrators"));
    }
    for (name, sg, egress, port, source, description) in rules {
        stack.declare(
            name,
            SecurityGroupRuleArgs::tcp(sg.id(), egress, port, source, description, tag(name)),
        );
    }

    // The database: private subnets in both zones, its password in Secrets Manager.
    let db_config = &config.database;
    let db_identifier = format!("{s}-db");
    let subnet_group = stack.declare(
        "db-subnets",
        DbSubnetGroupArgs {
            name: format!("{s}-db"),
            description: "Private subnets of the application VPC".into(),
            subnet_ids: private.iter().map(|h| h.id()).collect(),
            tags: tag("db-subnets"),
        },
    );
    let db = stack.declare(
        "db",
        DbInstanceArgs {
            identifier: db_identifier.clone(),
            engine: "postgres".into(),
            engine_version: db_config.engine_version.clone(),
            instance_class: db_config.instance_class.clone(),
            allocated_storage_gb: db_config.allocated_storage_gb,
            storage_encrypted: true,
            db_subnet_group_name: subnet_group.output("name"),
            vpc_security_group_ids: vec![db_sg.id()],
            multi_az: db_config.multi_az,
            publicly_accessible: false,
            backup_retention_days: db_config.backup_retention_days,
            backup_window: "03:00-04:00".into(),
            maintenance_window: "sun:05:00-sun:06:00".into(),
            deletion_protection: db_config.deletion_protection,
            skip_final_snapshot: db_config.skip_final_snapshot,
            final_snapshot_prefix: format!("{s}-db-final"),
            master_username: db_config.master_username.clone(),
            apply_immediately: db_config.apply_immediately,
            allow_replacement: false,
            tags: tag("db"),
        },
    );

    // Instance roles: each may do what its instance needs and nothing else.
    let role = |stack: &mut StackBuilder, name: &str, statements: Vec<PolicyStatement>| {
        let role = stack.declare(
            &format!("{name}-role"),
            RoleArgs {
                name: format!("{s}-{name}"),
                assume_role_service: "ec2.amazonaws.com".into(),
                tags: tag(&format!("{name}-role")),
            },
        );
        stack.declare(
            &format!("{name}-role-policy"),
            RolePolicyArgs {
                role_name: role.output("name"),
                name: name.into(),
                statements,
            },
        );
        stack.declare(
            &format!("{name}-profile"),
            InstanceProfileArgs {
                name: format!("{s}-{name}"),
                role_name: role.output("name"),
                tags: tag(&format!("{name}-profile")),
            },
        )
    };
    let allow = |actions: &[&str], resource: Input<String>| PolicyStatement {
        effect: "Allow".into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        resources: vec![resource],
    };
    let backend_profile = role(
        &mut stack,
        "backend",
        vec![
            allow(&["secretsmanager:GetSecretValue"], db.output("master_user_secret_arn")),
            allow(&["rds:DescribeDBInstances"], db.output("arn")),
        ],
    );
    let mon_profile = role(
        &mut stack,
        "monitoring",
        vec![allow(
            &["ec2:DescribeInstances", "ec2:DescribeAvailabilityZones"],
            "*".into(),
        )],
    );

    // The load balancer in front of the frontends.
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
    let target_group = stack.declare(
        "frontend-tg",
        TargetGroupArgs {
            name: format!("{s}-frontend"),
            port: 80,
            protocol: "HTTP".into(),
            vpc_id: app_vpc.id(),
            health_check: HealthCheck::http(&app.health_check_path),
            tags: tag("frontend-tg"),
        },
    );
    let listener = stack.declare(
        "http",
        ListenerArgs {
            load_balancer_arn: load_balancer.id(),
            port: 80,
            protocol: "HTTP".into(),
            certificate_arn: None,
            default_action: ListenerAction::Forward {
                target_group_arn: target_group.id(),
            },
            tags: tag("http"),
        },
    );
    // The load balancer answers its own liveness path, and never exposes admin paths.
    for (name, priority, paths, status, body) in [
        ("rule-alive", 10, vec!["/alb-alive".to_string()], 200, "alive"),
        (
            "rule-no-admin",
            20,
            vec!["/admin".to_string(), "/admin/*".to_string()],
            403,
            "forbidden",
        ),
    ] {
        stack.declare(
            name,
            ListenerRuleArgs {
                listener_arn: listener.id(),
                priority,
                path_patterns: paths,
                action: ListenerAction::FixedResponse {
                    status_code: status,
                    content_type: "text/plain".into(),
                    body: body.into(),
                },
                tags: tag(name),
            },
        );
    }

    // The instances. Each installs its packages at first boot: it launches once its
    // subnet routes to the internet.
    let instance = |stack: &mut StackBuilder,
                    name: &str,
                    instance_type: &str,
                    subnet: &Handle<SubnetArgs>,
                    group: &Handle<SecurityGroupArgs>,
                    profile: Option<&Handle<InstanceProfileArgs>>,
                    user_data: String,
                    after: &[&Urn]| {
        stack.declare_after(
            name,
            InstanceArgs {
                image_id: ami.clone(),
                instance_type: instance_type.into(),
                subnet_id: subnet.id(),
                security_group_ids: vec![group.id()],
                key_name: None,
                iam_instance_profile: profile.map(|p| p.id()),
                detailed_monitoring: false,
                user_data,
                tags: tag(name),
            },
            after,
        )
    };
    let mut frontends = Vec::new();
    for (i, subnet) in public.iter().enumerate() {
        let name = format!("frontend-{}", i + 1);
        let server = instance(
            &mut stack,
            &name,
            &app.frontend_instance_type,
            subnet,
            &frontend_sg,
            None,
            frontend_user_data(&app.health_check_path, &name),
            &internet_ready,
        );
        stack.declare(
            &format!("{name}-target"),
            TargetGroupAttachmentArgs {
                target_group_arn: target_group.id(),
                target_id: server.id(),
                port: None,
            },
        );
        frontends.push((name, server));
    }
    let private_egress: Vec<&Urn> = private_egress.iter().collect();
    let mut backends = Vec::new();
    for (i, subnet) in private.iter().enumerate() {
        let name = format!("backend-{}", i + 1);
        let server = instance(
            &mut stack,
            &name,
            &app.backend_instance_type,
            subnet,
            &backend_sg,
            Some(&backend_profile),
            backend_user_data(app.app_port, &db_identifier),
            &private_egress,
        );
        backends.push((name, server));
    }
    let mon_ready: Vec<&Urn> = mon_ready.iter().collect();
    let monitoring = instance(
        &mut stack,
        "monitoring",
        &mon.instance_type,
        &mon_subnet,
        &mon_sg,
        Some(&mon_profile),
        monitoring_user_data(&s, &config.region),
        &mon_ready,
    );

    // Jenkins, declared last: its role's policy is every action the stack's types (and
    // lookups) need stackup to call, this role's own included.
    let mut actions = stack.iam_actions();
    actions.extend(
        [
            <RoleArgs as ResourceArgs>::IAM_ACTIONS,
            <RolePolicyArgs as ResourceArgs>::IAM_ACTIONS,
            <InstanceProfileArgs as ResourceArgs>::IAM_ACTIONS,
            <InstanceArgs as ResourceArgs>::IAM_ACTIONS,
        ]
        .concat()
        .iter()
        .map(|a| a.to_string()),
    );
    actions.sort();
    actions.dedup();
    let jenkins_profile = role(
        &mut stack,
        "jenkins",
        vec![PolicyStatement {
            effect: "Allow".into(),
            actions,
            resources: vec!["*".to_string().into()],
        }],
    );
    let jenkins = instance(
        &mut stack,
        "jenkins",
        &config.jenkins.instance_type,
        &public[0],
        &jenkins_sg,
        Some(&jenkins_profile),
        jenkins_user_data(),
        &internet_ready,
    );

    stack.export("app_vpc_id", app_vpc.id());
    stack.export("monitoring_vpc_id", mon_vpc.id());
    stack.export("peering_connection_id", peering.id());
    stack.export("load_balancer_dns_name", load_balancer.output::<String>("dns_name"));
    stack.export("target_group_arn", target_group.id());
    stack.export("database_endpoint", db.output::<String>("endpoint_address"));
    stack.export("database_secret_arn", db.output::<String>("master_user_secret_arn"));
    stack.export("jenkins_public_ip", jenkins.output::<String>("public_ip"));
    stack.export("monitoring_public_ip", monitoring.output::<String>("public_ip"));
    for (name, server) in frontends.iter().chain(&backends) {
        stack.export(&format!("{}_instance_id", name.replace('-', "_")), server.id());
    }
    stack.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackup_model::Value;

    const DEV: &str = include_str!("../../../stacks/multitier-dev.toml");

    fn dev() -> Program {
        program(&MultitierConfig::parse(std::path::Path::new("stacks/multitier-dev.toml"), DEV).expect("valid"))
    }

    fn goal<'a>(program: &'a Program, name: &str) -> &'a stackup_model::ResourceGoal {
        program
            .goals
            .iter()
            .find(|g| g.urn.name() == name)
            .unwrap_or_else(|| panic!("{name} declared"))
    }

    /// The security group a rule's source names, if it is a group.
    fn source_group(program: &Program, rule: &str) -> Option<String> {
        match goal(program, rule).inputs.get("source_security_group_id") {
            Some(Value::Ref(r)) => Some(r.urn.name().to_string()),
            _ => None,
        }
    }

    fn owner(program: &Program, rule: &str) -> String {
        match goal(program, rule).inputs.get("security_group_id") {
            Some(Value::Ref(r)) => r.urn.name().to_string(),
            other => panic!("{rule}: {other:?}"),
        }
    }

    #[test]
    fn the_database_is_reached_from_the_backends_only_and_the_backends_from_the_frontends_only() {
        let program = dev();
        let ingress: Vec<(String, i64, Option<String>)> = program
            .goals
            .iter()
            .filter(|g| {
                g.ty.as_str() == "aws:ec2:SecurityGroupRule"
                    && g.inputs.get("type") == Some(&Value::String("ingress".into()))
            })
            .map(|g| {
                (
                    owner(&program, g.urn.name()),
                    g.inputs.get("from_port").and_then(Value::as_int).unwrap_or_default(),
                    source_group(&program, g.urn.name()),
                )
            })
            .collect();
        let into =
            |group: &str| -> Vec<&(String, i64, Option<String>)> { ingress.iter().filter(|r| r.0 == group).collect() };
        assert_eq!(
            into("db-sg"),
            vec![&("db-sg".to_string(), POSTGRES, Some("backend-sg".to_string()))]
        );
        let backend: Vec<_> = into("backend-sg")
            .into_iter()
            .filter(|r| r.1 != NODE_EXPORTER)
            .collect();
        assert_eq!(
            backend,
            vec![&("backend-sg".to_string(), 8080, Some("frontend-sg".to_string()))]
        );
        assert!(ingress.iter().all(|r| r.1 != 22), "no SSH: {ingress:?}");
        // The backends may call out to the database; the frontends may not.
        assert_eq!(source_group(&program, "backend-out-db").as_deref(), Some("db-sg"));
        assert!(!program.goals.iter().any(|g| g.urn.name() == "frontend-out-db"));
    }

    #[test]
    fn both_vpcs_route_to_each_other_over_the_peering() {
        let program = dev();
        for (table, destination) in [
            ("public-rt", "10.60.0.0/16"),
            ("private-rt-1", "10.60.0.0/16"),
            ("private-rt-2", "10.60.0.0/16"),
            ("mon-rt", "10.50.0.0/16"),
        ] {
            let routes = goal(&program, table).inputs.get("routes").expect("routes").to_string();
            assert!(
                routes.contains(destination) && routes.contains("peering"),
                "{table} routes {destination} over the peering: {routes}"
            );
        }
    }

    #[test]
    fn zones_and_ami_are_lookups_unless_pinned() {
        let program = dev();
        let lookups: Vec<&str> = program.lookups.iter().map(|l| l.urn.name()).collect();
        assert_eq!(lookups, ["zones", "ami"]);
        let subnet = goal(&program, "public-2")
            .inputs
            .get("availability_zone")
            .expect("a zone");
        assert!(matches!(subnet, Value::Ref(r) if r.output == "names[1]"), "{subnet:?}");
        let pinned = DEV
            .replace(
                "[network]\n",
                "[network]\navailability_zones = [\"us-east-1a\", \"us-east-1b\"]\n",
            )
            .replace("[app]\n", "[app]\nami = \"ami-0123456789abcdef0\"\n");
        let config = MultitierConfig::parse(std::path::Path::new("stacks/m.toml"), &pinned).expect("valid");
        let pinned = super::program(&config);
        assert!(pinned.lookups.is_empty());
        assert_eq!(
            *goal(&pinned, "jenkins").inputs.get("image_id").expect("an image"),
            Value::String("ami-0123456789abcdef0".into())
        );
    }

    #[test]
    fn jenkins_may_run_stackup_for_this_stack_and_no_more() {
        let program = dev();
        let policy = goal(&program, "jenkins-role-policy")
            .inputs
            .get("statements")
            .expect("statements")
            .to_string();
        for needed in [
            "ec2:RunInstances",
            "rds:CreateDBInstance",
            "ec2:AcceptVpcPeeringConnection",
            "ssm:GetParameter",
            "iam:PutRolePolicy",
        ] {
            assert!(policy.contains(needed), "{needed} in {policy}");
        }
        for never in ["dynamodb:", "s3:", "efs:", "autoscaling:"] {
            assert!(!policy.contains(never), "{never} is not used by this stack: {policy}");
        }
    }

    #[test]
    fn every_instance_runs_node_exporter_and_prometheus_discovers_the_stack() {
        for script in [
            frontend_user_data("/health", "frontend-1"),
            backend_user_data(8080, "x-db"),
            jenkins_user_data(),
            monitoring_user_data("multitier-dev", "us-east-1"),
        ] {
            assert!(script.contains("systemctl enable --now node_exporter"), "{script}");
        }
        let prometheus = monitoring_user_data("multitier-dev", "us-east-1");
        assert!(prometheus.contains("ec2_sd_configs") && prometheus.contains("values: [multitier-dev]"));
        assert!(
            !backend_user_data(8080, "x-db").contains("password"),
            "no secret in user data"
        );
    }
}
