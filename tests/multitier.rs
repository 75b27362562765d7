//! The multi-tier platform (seed 000, `program = "multitier"`) through the `stackup`
//! binary on moto: up with its lookups, a clean diff, the network paths the seed got
//! wrong proven open (backend to database) and closed (everything else to the
//! database), the peering routed both ways, the password only in Secrets Manager, a
//! change in place, drift found and repaired, and a destroy that leaves nothing, each
//! checked through the SDK rather than through stackup's own output.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use aws_sdk_ec2::types::{Filter, SecurityGroupRule};
use ipnet::Ipv4Net;

use crate::support::{assert_exact, block_on, objects_per_urn, Moto, Project};

const STACK: &str = "mt-life";
const APP_CIDR: &str = "10.51.0.0/16";
const MON_CIDR: &str = "10.61.0.0/16";

fn stack_text() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("stacks/multitier-dev.toml"))
        .expect("stacks/multitier-dev.toml")
        .replace("name = \"multitier-dev\"", &format!("name = \"{STACK}\""))
        .replace("10.50.", "10.51.")
        .replace("10.60.", "10.61.")
}

/// Every rule of `group`.
fn rules(ec2: &aws_sdk_ec2::Client, group: &str) -> Vec<SecurityGroupRule> {
    block_on(async {
        ec2.describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(group).build())
            .send()
            .await
            .expect("rules")
            .security_group_rules()
            .to_vec()
    })
}

/// One side of a connection: its groups and, when it has one, its address.
struct End<'a> {
    groups: Vec<&'a str>,
    ip: Option<Ipv4Addr>,
}

/// Whether one of `rules` lets TCP `port` go out to (egress) or come in from
/// (ingress) `peer`: by the peer's group, or by a block holding its address.
fn permits(rules: &[SecurityGroupRule], egress: bool, port: i32, peer: &End<'_>) -> bool {
    rules.iter().any(|r| {
        let protocol = matches!(r.ip_protocol(), Some("tcp") | Some("-1"));
        let ports =
            r.from_port().unwrap_or(-1) <= port && port <= r.to_port().unwrap_or(-1) || r.ip_protocol() == Some("-1");
        let by_group = r
            .referenced_group_info()
            .and_then(|g| g.group_id())
            .is_some_and(|g| peer.groups.contains(&g));
        let by_block = r
            .cidr_ipv4()
            .and_then(|c| c.parse::<Ipv4Net>().ok())
            .zip(peer.ip)
            .is_some_and(|(net, ip)| net.contains(&ip));
        r.is_egress() == Some(egress) && protocol && ports && (by_group || by_block)
    })
}

/// Whether the security groups let `from` open TCP `port` on `to`: egress on one of
/// `from`'s groups and ingress on one of `to`'s.
fn reachable(ec2: &aws_sdk_ec2::Client, from: &End<'_>, to: &End<'_>, port: i32) -> bool {
    let out = from.groups.iter().any(|g| permits(&rules(ec2, g), true, port, to));
    let inn = to.groups.iter().any(|g| permits(&rules(ec2, g), false, port, from));
    out && inn
}

/// (private address, subnet, groups) of an instance.
fn instance(ec2: &aws_sdk_ec2::Client, id: &str) -> (Ipv4Addr, String, Vec<String>, String) {
    block_on(async {
        let found = ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("instance");
        let i = &found.reservations()[0].instances()[0];
        (
            i.private_ip_address().expect("address").parse().expect("IPv4"),
            i.subnet_id().unwrap_or_default().to_string(),
            i.security_groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect(),
            i.image_id().unwrap_or_default().to_string(),
        )
    })
}

/// Destination block -> peering connection of a route table's routes.
fn peering_routes(ec2: &aws_sdk_ec2::Client, table: &str) -> BTreeMap<String, String> {
    block_on(async {
        let tables = ec2
            .describe_route_tables()
            .route_table_ids(table)
            .send()
            .await
            .expect("table");
        tables.route_tables()[0]
            .routes()
            .iter()
            .filter_map(|r| {
                Some((
                    r.destination_cidr_block()?.to_string(),
                    r.vpc_peering_connection_id()?.to_string(),
                ))
            })
            .collect()
    })
}

#[test]
fn the_multitier_platform_deploys_with_its_paths_right_and_leaves_nothing() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let ec2 = moto.ec2();
    let rds = aws_sdk_rds::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let project = Project::new(&moto.endpoint);
    project.write_stack(STACK, &stack_text());

    // The plan reads the zones and the AMI, and shows them.
    let plan = project
        .stackup(&["diff", "--json", "--stack", STACK])
        .expect_code(2)
        .json();
    let reads: Vec<&str> = plan["reads"]
        .as_array()
        .expect("reads")
        .iter()
        .filter_map(|r| r["urn"].as_str())
        .collect();
    assert_eq!(
        reads,
        [
            format!("{STACK}::aws:ec2:getAvailabilityZones::zones"),
            format!("{STACK}::aws:ssm:getParameter::ami")
        ]
    );

    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    project.stackup(&["diff", "--stack", STACK]).expect_code(0);
    assert_exact(&project, &moto.endpoint, STACK);
    let ids = project.ids_by_name(STACK);

    // The lookups' values are what the instances and subnets were built with.
    let (ami, zones) = block_on(async {
        let parameter = ssm
            .get_parameter()
            .name(stackup_multitier::AL2023)
            .send()
            .await
            .expect("parameter");
        let mut zones: Vec<String> = ec2
            .describe_availability_zones()
            .send()
            .await
            .expect("zones")
            .availability_zones()
            .iter()
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        zones.sort();
        let ami = parameter
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_string();
        (ami, zones)
    });
    block_on(async {
        for (subnet, zone) in [("public-1", &zones[0]), ("private-2", &zones[1])] {
            let found = ec2
                .describe_subnets()
                .subnet_ids(&ids[subnet])
                .send()
                .await
                .expect("subnet");
            assert_eq!(found.subnets()[0].availability_zone(), Some(zone.as_str()), "{subnet}");
        }
    });

    // The seed's lesson: the backends reach PostgreSQL, nothing else does.
    let backend = instance(&ec2, &ids["backend-1"]);
    let frontend = instance(&ec2, &ids["frontend-1"]);
    let monitor = instance(&ec2, &ids["monitoring"]);
    let jenkins = instance(&ec2, &ids["jenkins"]);
    for (name, i) in [
        ("backend-1", &backend),
        ("frontend-1", &frontend),
        ("monitoring", &monitor),
        ("jenkins", &jenkins),
    ] {
        assert_eq!(i.3, ami, "{name} runs the AMI the lookup found");
    }
    assert!(backend.1 == ids["private-1"], "the backend is private");
    let (db_groups, db_subnets) = block_on(async {
        let db = rds
            .describe_db_instances()
            .db_instance_identifier(format!("{STACK}-db"))
            .send()
            .await
            .expect("db");
        let db = &db.db_instances()[0];
        assert_eq!(db.publicly_accessible(), Some(false));
        let secret = db
            .master_user_secret()
            .and_then(|s| s.secret_arn())
            .expect("a managed password");
        secrets
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .expect("the secret exists");
        let groups: Vec<String> = db
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect();
        let subnets: Vec<String> = db
            .db_subnet_group()
            .map(|g| {
                g.subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        (groups, subnets)
    });
    assert_eq!(db_groups, [ids["db-sg"].clone()]);
    let mut private = vec![ids["private-1"].clone(), ids["private-2"].clone()];
    private.sort();
    let mut db_subnets = db_subnets;
    db_subnets.sort();
    assert_eq!(
        db_subnets, private,
        "the database is in the private subnets of both zones"
    );
    fn end(i: &(Ipv4Addr, String, Vec<String>, String)) -> End<'_> {
        End {
            groups: i.2.iter().map(String::as_str).collect(),
            ip: Some(i.0),
        }
    }
    let db = End {
        groups: db_groups.iter().map(String::as_str).collect(),
        ip: None,
    };
    assert!(
        reachable(&ec2, &end(&backend), &db, 5432),
        "backend -> PostgreSQL is open"
    );
    for (name, other) in [("frontend", &frontend), ("jenkins", &jenkins), ("monitoring", &monitor)] {
        assert!(
            !reachable(&ec2, &end(other), &db, 5432),
            "{name} -> PostgreSQL is closed"
        );
    }
    assert!(
        reachable(&ec2, &end(&frontend), &end(&backend), 8080),
        "frontend -> backend app port"
    );
    assert!(
        !reachable(&ec2, &end(&jenkins), &end(&backend), 8080),
        "only the frontends reach the backends"
    );
    for (name, target) in [("backend", &backend), ("frontend", &frontend), ("jenkins", &jenkins)] {
        assert!(
            reachable(&ec2, &end(&monitor), &end(target), 9100),
            "Prometheus scrapes {name}"
        );
        assert!(!reachable(&ec2, &end(target), &end(target), 22), "no SSH to {name}");
    }

    // The peering is active and both VPCs route to each other over it.
    let peering = ids["peering"].clone();
    block_on(async {
        let found = ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(&peering)
            .send()
            .await
            .expect("peering");
        let p = &found.vpc_peering_connections()[0];
        assert_eq!(p.status().and_then(|s| s.code()).map(|c| c.as_str()), Some("active"));
        assert_eq!(
            p.requester_vpc_info().and_then(|v| v.vpc_id()),
            Some(ids["app-vpc"].as_str())
        );
        assert_eq!(
            p.accepter_vpc_info().and_then(|v| v.vpc_id()),
            Some(ids["mon-vpc"].as_str())
        );
    });
    for table in ["public-rt", "private-rt-1", "private-rt-2"] {
        assert_eq!(
            peering_routes(&ec2, &ids[table]).get(MON_CIDR),
            Some(&peering),
            "{table}"
        );
    }
    assert_eq!(peering_routes(&ec2, &ids["mon-rt"]).get(APP_CIDR), Some(&peering));

    // The frontends are the target group's targets; Jenkins may run stackup for this
    // stack and nothing else; no password is in state.
    block_on(async {
        let health = elbv2
            .describe_target_health()
            .target_group_arn(&ids["frontend-tg"])
            .send()
            .await
            .expect("targets");
        let mut targets: Vec<&str> = health
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target().and_then(|t| t.id()))
            .collect();
        targets.sort();
        let mut frontends = vec![ids["frontend-1"].as_str(), ids["frontend-2"].as_str()];
        frontends.sort();
        assert_eq!(targets, frontends);
        let policy = iam
            .get_role_policy()
            .role_name(format!("{STACK}-jenkins"))
            .policy_name("jenkins")
            .send()
            .await
            .expect("policy");
        let document = urlencoding_free(policy.policy_document());
        assert!(document.contains("rds:CreateDBInstance") && document.contains("ec2:AcceptVpcPeeringConnection"));
        assert!(
            !document.contains("dynamodb:") && !document.contains("s3:"),
            "{document}"
        );
    });
    let exported = project
        .stackup(&["state", "export", "--stack", STACK])
        .expect_code(0)
        .stdout;
    assert!(
        !exported.to_lowercase().contains("password\":\""),
        "no password in state"
    );

    // A change in place: a tag on every object, nothing replaced.
    project.change_in_place(
        STACK,
        &stack_text().replace("environment = \"dev\"", "environment = \"qa\""),
        20,
    );
    assert_eq!(
        project.ids_by_name(STACK)["backend-1"],
        ids["backend-1"],
        "updated in place"
    );

    // Drift: the route back to the application VPC deleted by hand; diff names the
    // monitoring route table, up puts the route back.
    block_on(async {
        ec2.delete_route()
            .route_table_id(&ids["mon-rt"])
            .destination_cidr_block(APP_CIDR)
            .send()
            .await
            .expect("delete route");
    });
    let drifted = project.drifted(STACK);
    assert!(drifted.iter().any(|u| u.ends_with("::mon-rt")), "{drifted:?}");
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    assert_eq!(peering_routes(&ec2, &ids["mon-rt"]).get(APP_CIDR), Some(&peering));

    project.stackup(&["destroy", "--yes", "--stack", STACK]).expect_code(0);
    assert!(
        objects_per_urn(&moto.endpoint, STACK).is_empty(),
        "nothing tagged is left"
    );
    block_on(async {
        let db = rds
            .describe_db_instances()
            .db_instance_identifier(format!("{STACK}-db"))
            .send()
            .await;
        assert!(
            db.map(|d| d.db_instances().is_empty()).unwrap_or(true),
            "the database is gone"
        );
        let found = ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(&peering)
            .send()
            .await;
        let status = found.ok().and_then(|f| {
            f.vpc_peering_connections()
                .first()
                .and_then(|p| p.status())
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_string())
        });
        assert!(matches!(status.as_deref(), None | Some("deleted")), "{status:?}");
    });
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_free(document: &str) -> String {
    document.replace("%3A", ":").replace("%22", "\"").replace("%2C", ",")
}
