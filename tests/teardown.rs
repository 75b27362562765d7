//! Teardown through the real binary against moto: the pre-flight that stops a destroy
//! before it touches anything, deletes refused by AWS, `destroy --sweep` after the state
//! is lost, time-boxed demo stacks (`up --ttl`, `ls`, `reap`), final snapshot names,
//! non-empty buckets, and `destroy --target` / `--exclude`. Everything is checked
//! through the SDK, by the `stackup:stack` tag, as a user would check the console.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, IpPermission, UserIdGroupPair};
use serde_json::Value as Json;

use crate::support::{block_on, dev_stack, Moto, NetworkStack, Project};

fn tagged(stack: &str) -> Filter {
    Filter::builder().name("tag:stackup:stack").values(stack).build()
}

/// URN -> (id, dependencies) from `state list --json`.
fn records(project: &Project, stack: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let run = project
        .stackup(&["state", "list", "--json", "--stack", stack])
        .expect_code(0);
    run.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            let deps = r["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| d.as_str().expect("urn").to_string())
                .collect();
            (
                r["urn"].as_str().expect("urn").to_string(),
                (r["id"].as_str().expect("id").to_string(), deps),
            )
        })
        .collect()
}

fn urn_named(records: &BTreeMap<String, (String, Vec<String>)>, name: &str) -> String {
    records
        .keys()
        .find(|u| u.ends_with(&format!("::{name}")))
        .unwrap_or_else(|| panic!("no recorded resource {name}: {:?}", records.keys()))
        .clone()
}

/// How many VPCs carry the stack's tag.
async fn tagged_vpcs(ec2: &aws_sdk_ec2::Client, stack: &str) -> usize {
    ec2.describe_vpcs()
        .filters(tagged(stack))
        .send()
        .await
        .expect("vpcs")
        .vpcs()
        .len()
}

/// The UTC `yyyymmdd-hhmmss` of Unix time `secs`, as stackup names final snapshots.
fn stamp(secs: i64) -> String {
    let text = aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .expect("format time");
    let digits: String = text.chars().take(19).filter(char::is_ascii_digit).collect();
    format!("{}-{}", &digits[..8], &digits[8..])
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[test]
fn every_registered_type_has_a_sweep_rank() {
    let registry = stackup_aws::offline_registry();
    let unranked: Vec<String> = registry
        .types()
        .filter(|t| stackup_aws::sweep::deletion_rank(t.as_str()).is_none())
        .map(|t| t.to_string())
        .collect();
    assert!(unranked.is_empty(), "types without a deletion rank: {unranked:?}");
    let rank = |t: &str| stackup_aws::sweep::deletion_rank(t).expect("rank");
    for (first, then) in [
        ("aws:autoscaling:Group", "aws:ec2:LaunchTemplate"),
        ("aws:autoscaling:Group", "aws:ec2:Instance"),
        ("aws:elbv2:ListenerRule", "aws:elbv2:Listener"),
        ("aws:elbv2:Listener", "aws:elbv2:LoadBalancer"),
        ("aws:elbv2:Listener", "aws:elbv2:TargetGroup"),
        ("aws:ec2:NatGateway", "aws:ec2:Eip"),
        ("aws:ec2:NatGateway", "aws:ec2:InternetGateway"),
        ("aws:efs:MountTarget", "aws:efs:FileSystem"),
        ("aws:efs:AccessPoint", "aws:efs:FileSystem"),
        ("aws:ec2:Instance", "aws:ec2:Subnet"),
        ("aws:ec2:Instance", "aws:ec2:SecurityGroup"),
        ("aws:ec2:SecurityGroupRule", "aws:ec2:SecurityGroup"),
        ("aws:ec2:Subnet", "aws:ec2:Vpc"),
        ("aws:ec2:RouteTable", "aws:ec2:Vpc"),
        ("aws:ec2:NetworkAcl", "aws:ec2:Vpc"),
        ("aws:ec2:InternetGateway", "aws:ec2:Vpc"),
        ("aws:iam:RolePolicy", "aws:iam:Role"),
        ("aws:iam:InstanceProfile", "aws:iam:Role"),
        ("aws:rds:DbInstance", "aws:rds:DbSubnetGroup"),
        ("aws:rds:DbSubnetGroup", "aws:ec2:Subnet"),
    ] {
        assert!(rank(first) < rank(then), "{first} must be deleted before {then}");
    }
}

#[test]
fn destroy_selection_follows_dependents_and_exclusions() {
    use stackup_model::{ResourceRecord, TypeToken, Urn};
    use stackup_planner::destroy::{plan_destroy, select, DestroyError, DestroyRequest};
    let ty = TypeToken::parse("test:x:Thing").expect("type");
    let urn = |n: &str| Urn::new("s", &ty, n);
    let record = |n: &str, deps: &[&str]| ResourceRecord {
        urn: urn(n),
        ty: ty.clone(),
        id: format!("id-{n}"),
        inputs: Default::default(),
        outputs: Default::default(),
        dependencies: deps.iter().map(|d| urn(d)).collect(),
        tainted: None,
    };
    // vpc <- subnet <- instance; vpc <- group <- instance; table alone.
    let current = vec![
        record("vpc", &[]),
        record("subnet", &["vpc"]),
        record("group", &["vpc"]),
        record("instance", &["subnet", "group"]),
        record("table", &[]),
    ];
    let names = |set: &BTreeSet<Urn>| set.iter().map(|u| u.name().to_string()).collect::<Vec<_>>();
    let req = |targets: &[Urn], excludes: &[Urn]| {
        select(&DestroyRequest {
            stack: "s",
            current: &current,
            retired: &[],
            targets,
            excludes,
        })
    };
    let s = req(&[urn("subnet")], &[]).expect("select");
    assert_eq!(names(&s.delete), ["instance", "subnet"]);
    let s = req(&[], &[urn("instance")]).expect("select");
    assert_eq!(names(&s.delete), ["table"]);
    let s = req(&[urn("vpc")], &[urn("table")]).expect("select");
    assert_eq!(names(&s.delete), ["group", "instance", "subnet", "vpc"]);
    assert!(matches!(
        req(&[urn("subnet")], &[urn("instance")]),
        Err(DestroyError::Conflict { .. })
    ));
    assert!(matches!(req(&[urn("nope")], &[]), Err(DestroyError::Unknown { .. })));
    // Dependents first, the kept ones unchanged.
    let plan = plan_destroy(DestroyRequest {
        stack: "s",
        current: &current,
        retired: &[],
        targets: &[urn("vpc")],
        excludes: &[],
    })
    .expect("plan");
    let order: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.action == stackup_planner::Action::Delete)
        .map(|s| s.urn.name())
        .collect();
    let at = |n: &str| order.iter().position(|o| *o == n).expect("deleted");
    assert!(at("instance") < at("subnet") && at("instance") < at("group") && at("subnet") < at("vpc"));
    assert_eq!(plan.counts().same, 1);
}

#[test]
fn destroy_stops_on_dependents_outside_the_stack_and_touches_nothing() {
    let moto = Moto::shared();
    let ec2 = moto.ec2();
    let stack = "td-deps";
    let project = Project::new(&moto.endpoint);
    project.write_stack(stack, &NetworkStack::default().toml());
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let before = records(&project, stack);
    let id = |name: &str| before[&urn_named(&before, name)].0.clone();
    let (vpc, private_a, private_b, web_sg) = (id("vpc"), id("private-a"), id("private-b"), id("web-sg"));

    // Out of band: an instance in one subnet, a hand-made interface in another, and a
    // group outside the stack whose rule references the stack's web group.
    let (instance, eni, outsider, rule) = block_on(async {
        let run = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(&private_a)
            .send()
            .await
            .expect("run instance");
        let instance = run.instances()[0].instance_id().expect("instance id").to_string();
        let eni = ec2
            .create_network_interface()
            .subnet_id(&private_b)
            .description("made by hand")
            .send()
            .await
            .expect("eni")
            .network_interface()
            .and_then(|n| n.network_interface_id())
            .expect("eni id")
            .to_string();
        let outsider = ec2
            .create_security_group()
            .group_name("td-deps-outsider")
            .description("not of the stack")
            .vpc_id(&vpc)
            .send()
            .await
            .expect("group")
            .group_id()
            .expect("group id")
            .to_string();
        ec2.authorize_security_group_ingress()
            .group_id(&outsider)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(8080)
                    .to_port(8080)
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(&web_sg).build())
                    .build(),
            )
            .send()
            .await
            .expect("rule");
        let rules = ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(&outsider).build())
            .send()
            .await
            .expect("rules");
        let rule = rules
            .security_group_rules()
            .iter()
            .find(|r| r.referenced_group_info().and_then(|g| g.group_id()) == Some(web_sg.as_str()))
            .and_then(|r| r.security_group_rule_id())
            .expect("the referencing rule")
            .to_string();
        (instance, eni, outsider, rule)
    });

    let run = project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(1);
    for needle in [&instance, &eni, &outsider, &rule, &private_a, &private_b, &web_sg, &vpc] {
        assert!(
            run.stderr.contains(needle.as_str()),
            "{needle} not named:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("nothing was deleted"), "{}", run.stderr);
    assert_eq!(
        run.stderr.trim().lines().filter(|l| l.trim().is_empty()).count(),
        0,
        "one paragraph"
    );
    assert_eq!(records(&project, stack), before, "state untouched");
    block_on(async {
        assert_eq!(tagged_vpcs(&ec2, stack).await, 1, "the VPC is still there");
        let subnets = ec2
            .describe_subnets()
            .filters(tagged(stack))
            .send()
            .await
            .expect("subnets");
        assert_eq!(subnets.subnets().len(), 4, "every subnet is still there");
        let groups = ec2
            .describe_security_groups()
            .filters(tagged(stack))
            .send()
            .await
            .expect("groups");
        assert_eq!(groups.security_groups().len(), 4, "every group is still there");
    });

    // Once they are gone, destroy goes through and leaves nothing.
    block_on(async {
        ec2.terminate_instances()
            .instance_ids(&instance)
            .send()
            .await
            .expect("terminate");
        ec2.delete_network_interface()
            .network_interface_id(&eni)
            .send()
            .await
            .expect("delete eni");
        ec2.delete_security_group()
            .group_id(&outsider)
            .send()
            .await
            .expect("delete group");
    });
    project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
    assert!(records(&project, stack).is_empty());
    block_on(async {
        assert_eq!(tagged_vpcs(&ec2, stack).await, 0);
        let subnets = ec2
            .describe_subnets()
            .filters(tagged(stack))
            .send()
            .await
            .expect("subnets");
        assert!(subnets.subnets().is_empty());
    });
}

#[test]
fn a_refused_delete_fails_at_once_naming_what_stays() {
    // moto refuses DeleteVpc while the VPC has subnets: a delete that meets a user
    // which will not go away by itself must say so at once, not wait out a deadline.
    let moto = Moto::shared();
    let ec2 = moto.ec2();
    let (vpc, subnet) = block_on(async {
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.77.0.0/16")
            .send()
            .await
            .expect("vpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.77.1.0/24")
            .send()
            .await
            .expect("subnet")
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string();
        (vpc, subnet)
    });
    let clients = block_on(async { stackup_aws::AwsClients::new(&moto.sdk_config()) });
    let registry = stackup_aws::registry(&clients);
    let ty = stackup_model::TypeToken::parse("aws:ec2:Vpc").expect("type");
    let provider = registry.get(&ty).expect("vpc provider").clone();
    let started = Instant::now();
    let result = block_on(provider.delete(stackup_provider::DeleteRequest {
        urn: stackup_model::Urn::new("td-refused", &ty, "vpc"),
        id: vpc.clone(),
        inputs: Default::default(),
        outputs: Default::default(),
        replacing: false,
    }));
    let e = result.expect_err("the VPC still has a subnet");
    assert_eq!(e.kind, stackup_provider::ErrorKind::DependencyViolation);
    assert!(e.message.contains(&subnet), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    block_on(async {
        ec2.delete_subnet()
            .subnet_id(&subnet)
            .send()
            .await
            .expect("delete subnet");
        ec2.delete_vpc().vpc_id(&vpc).send().await.expect("delete vpc");
    });
}

#[test]
fn sweep_after_the_state_is_lost_removes_everything_tagged() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let ec2 = moto.ec2();
    let s3 = moto.s3();
    let rds = aws_sdk_rds::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let efs = aws_sdk_efs::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);

    let stack = "td-sweep";
    let bucket = format!("stackup-td-sweep-{}", std::process::id());
    let project = Project::new(&moto.endpoint);
    project.write_stack(stack, &dev_stack(&bucket));
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let before = records(&project, stack);
    let vpc = before[&urn_named(&before, "vpc")].0.clone();
    let topic = before[&urn_named(&before, "alarms")].0.clone();
    block_on(async {
        s3.put_object()
            .bucket(&bucket)
            .key("index.html")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"<html></html>"))
            .send()
            .await
            .expect("put object");
    });

    // The state is lost.
    std::fs::remove_dir_all(project.state_dir()).expect("remove state");

    // A dry run lists what would go, with ids and owners, and deletes nothing.
    let dry = project
        .stackup(&["destroy", "--sweep", "--stack", stack])
        .expect_code(0);
    for needle in [
        vpc.as_str(),
        "aws:rds:DbInstance",
        "td-sweep-db",
        "aws:autoscaling:Group",
        bucket.as_str(),
    ] {
        assert!(dry.stdout.contains(needle), "{needle} not listed:\n{}", dry.stdout);
    }
    assert!(
        dry.stdout.contains(&format!("{stack}::aws:ec2:Vpc::vpc")),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("Dry run"), "{}", dry.stdout);
    // State no longer says the bucket may be emptied: the sweep would stop on it.
    assert!(dry.stdout.contains("--empty-buckets"), "{}", dry.stdout);
    block_on(async { assert_eq!(tagged_vpcs(&ec2, stack).await, 1) });

    // Something that may not be deleted stops the sweep before it deletes anything.
    let refused = project
        .stackup(&["destroy", "--sweep", "--yes", "--stack", stack])
        .expect_code(1);
    assert!(refused.stderr.contains(&bucket), "{}", refused.stderr);
    assert!(refused.stderr.contains("remain"), "{}", refused.stderr);
    block_on(async {
        assert_eq!(tagged_vpcs(&ec2, stack).await, 1, "nothing deleted");
        assert!(s3.head_bucket().bucket(&bucket).send().await.is_ok());
    });

    let swept = project.stackup(&["destroy", "--sweep", "--yes", "--empty-buckets", "--stack", stack]);
    let swept = swept.expect_code(0);
    assert!(swept.stdout.contains("remains"), "{}", swept.stdout);

    block_on(async {
        let f = || tagged(stack);
        assert_eq!(tagged_vpcs(&ec2, stack).await, 0, "VPC");
        let subnets = ec2.describe_subnets().filters(f()).send().await.expect("subnets");
        assert!(subnets.subnets().is_empty(), "subnets");
        let groups = ec2
            .describe_security_groups()
            .filters(f())
            .send()
            .await
            .expect("groups");
        assert!(groups.security_groups().is_empty(), "security groups");
        let tables = ec2
            .describe_route_tables()
            .filters(f())
            .send()
            .await
            .expect("route tables");
        assert!(tables.route_tables().is_empty(), "route tables");
        let acls = ec2.describe_network_acls().filters(f()).send().await.expect("acls");
        assert!(acls.network_acls().is_empty(), "network ACLs");
        let igws = ec2
            .describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .expect("igws");
        assert!(igws.internet_gateways().is_empty(), "internet gateways");
        let eips = ec2.describe_addresses().filters(f()).send().await.expect("eips");
        assert!(eips.addresses().is_empty(), "addresses");
        let nats = ec2.describe_nat_gateways().send().await.expect("nats");
        let live_nats: Vec<&str> = nats
            .nat_gateways()
            .iter()
            .filter(|n| n.vpc_id() == Some(vpc.as_str()))
            .filter(|n| n.state().map(|s| s.as_str()) != Some("deleted"))
            .filter_map(|n| n.nat_gateway_id())
            .collect();
        assert!(live_nats.is_empty(), "NAT gateways: {live_nats:?}");
        let instances = ec2.describe_instances().filters(f()).send().await.expect("instances");
        let running: Vec<&str> = instances
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
            .filter_map(|i| i.instance_id())
            .collect();
        assert!(running.is_empty(), "instances: {running:?}");
        let templates = ec2
            .describe_launch_templates()
            .filters(f())
            .send()
            .await
            .expect("templates");
        assert!(templates.launch_templates().is_empty(), "launch templates");
        let groups = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(format!("{stack}-web"))
            .send()
            .await
            .expect("asg");
        assert!(groups.auto_scaling_groups().is_empty(), "Auto Scaling group");
        let lbs = elb.describe_load_balancers().send().await.expect("lbs");
        assert!(
            lbs.load_balancers().iter().all(|lb| lb.vpc_id() != Some(vpc.as_str())),
            "load balancers"
        );
        let tgs = elb.describe_target_groups().send().await.expect("tgs");
        assert!(
            tgs.target_groups().iter().all(|tg| tg.vpc_id() != Some(vpc.as_str())),
            "target groups"
        );
        assert!(
            rds.describe_db_instances()
                .db_instance_identifier(format!("{stack}-db"))
                .send()
                .await
                .is_err(),
            "DB instance"
        );
        let subnet_groups = rds.describe_db_subnet_groups().send().await.expect("subnet groups");
        assert!(
            subnet_groups
                .db_subnet_groups()
                .iter()
                .all(|g| g.vpc_id() != Some(vpc.as_str())),
            "DB subnet groups"
        );
        // A database state knew nothing about keeps a final snapshot.
        let snapshots = rds
            .describe_db_snapshots()
            .db_instance_identifier(format!("{stack}-db"))
            .send()
            .await
            .expect("snapshots");
        assert!(
            snapshots.db_snapshots().iter().any(|s| s
                .db_snapshot_identifier()
                .is_some_and(|n| n.starts_with("td-sweep-db-final-"))),
            "a final snapshot: {:?}",
            snapshots.db_snapshots()
        );
        assert!(
            ddb.describe_table()
                .table_name(format!("{stack}-sessions"))
                .send()
                .await
                .is_err(),
            "session table"
        );
        let fss = efs.describe_file_systems().send().await.expect("efs");
        assert!(
            fss.file_systems().iter().all(|fs| !fs
                .tags()
                .iter()
                .any(|t| t.key() == "stackup:stack" && t.value() == stack)),
            "file systems"
        );
        assert!(s3.head_bucket().bucket(&bucket).send().await.is_err(), "bucket");
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix(format!("/stackup/{stack}/"))
            .send()
            .await
            .expect("logs");
        assert!(groups.log_groups().is_empty(), "log groups");
        let alarms = cw
            .describe_alarms()
            .alarm_name_prefix(format!("{stack}-"))
            .send()
            .await
            .expect("alarms");
        assert!(alarms.metric_alarms().is_empty(), "alarms");
        assert!(
            sns.get_topic_attributes().topic_arn(&topic).send().await.is_err(),
            "topic"
        );
        assert!(
            iam.get_role().role_name(format!("{stack}-web")).send().await.is_err(),
            "role"
        );
        assert!(
            iam.get_user()
                .user_name(format!("{stack}-deployer"))
                .send()
                .await
                .is_err(),
            "user"
        );
        assert!(
            iam.get_instance_profile()
                .instance_profile_name(format!("{stack}-web"))
                .send()
                .await
                .is_err(),
            "instance profile"
        );
    });

    // Nothing left: a second sweep has nothing to do.
    let again = project
        .stackup(&["destroy", "--sweep", "--yes", "--stack", stack])
        .expect_code(0);
    assert!(again.stdout.contains("Nothing tagged"), "{}", again.stdout);
}

#[test]
fn expired_demo_stacks_are_listed_and_reaped() {
    let moto = Moto::shared();
    let ec2 = moto.ec2();
    let project = Project::new(&moto.endpoint);
    let (a, b, c) = ("td-ttl-a", "td-ttl-b", "td-ttl-c");
    for stack in [a, b, c] {
        project.write_stack(stack, &NetworkStack::default().toml());
    }
    project
        .stackup(&["up", "--yes", "--ttl", "1s", "--stack", a])
        .expect_code(0);
    project
        .stackup(&["up", "--yes", "--ttl", "1s", "--stack", b])
        .expect_code(0);
    project
        .stackup(&["up", "--yes", "--ttl", "1d", "--stack", c])
        .expect_code(0);
    let bad = project.stackup(&["up", "--yes", "--ttl", "5x", "--stack", c]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("not a duration"), "{}", bad.stderr);

    let listed = project.stackup(&["ls", "--json"]).expect_code(0).json();
    let by_name: BTreeMap<String, Json> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|s| (s["stack"].as_str().expect("stack").to_string(), s.clone()))
        .collect();
    assert_eq!(by_name.keys().map(String::as_str).collect::<Vec<_>>(), [a, b, c]);
    let resources = by_name[a]["resources"].as_u64().expect("resources");
    assert!(resources > 20, "{listed}");
    assert!(by_name[a]["created_at"].as_u64().is_some(), "{listed}");
    assert!(by_name[a]["age_seconds"].as_u64().is_some(), "{listed}");
    let day_later = by_name[c]["expires_at"].as_u64().expect("expiry");
    assert!(day_later >= now_secs() as u64 + 86_000, "{listed}");
    let human = project.stackup(&["ls"]).expect_code(0);
    assert!(
        human.stdout.contains(a) && human.stdout.contains("UTC"),
        "{}",
        human.stdout
    );

    std::thread::sleep(Duration::from_secs(2));
    // b's stack file is gone: reap finds its objects by tag.
    std::fs::remove_file(project.path().join("stacks").join(format!("{b}.toml"))).expect("remove file");

    let dry = project.stackup(&["reap"]).expect_code(0);
    assert!(dry.stdout.contains(a) && dry.stdout.contains(b), "{}", dry.stdout);
    assert!(!dry.stdout.contains(c), "{}", dry.stdout);
    assert!(dry.stdout.contains("Dry run"), "{}", dry.stdout);
    assert!(dry.stdout.contains("sweep"), "{}", dry.stdout);
    block_on(async {
        for stack in [a, b, c] {
            assert_eq!(tagged_vpcs(&ec2, stack).await, 1, "{stack} untouched by a dry run");
        }
    });

    // --stack limits ls and reap to that stack.
    let only_b = project.stackup(&["ls", "--json", "--stack", b]).expect_code(0).json();
    let names: Vec<&str> = only_b
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["stack"].as_str())
        .collect();
    assert_eq!(names, [b], "{only_b}");
    let only_a = project.stackup(&["reap", "--yes", "--stack", a]).expect_code(0);
    assert!(
        only_a.stdout.contains(&format!("reaped stack {a}")),
        "{}",
        only_a.stdout
    );
    assert!(!only_a.stdout.contains(b), "{}", only_a.stdout);
    block_on(async {
        assert_eq!(tagged_vpcs(&ec2, b).await, 1, "{b} is out of --stack's scope");
    });
    let unknown = project
        .stackup(&["reap", "--yes", "--stack", "td-ttl-none"])
        .expect_code(1);
    assert!(
        unknown.stderr.contains("no stack named 'td-ttl-none'"),
        "{}",
        unknown.stderr
    );
    // Without --stack, reap says which stacks it touches before it does.
    let reaped = project.stackup(&["reap", "--yes"]).expect_code(0);
    let announced = reaped
        .stdout
        .find(&format!("Reaping 1 expired stack(s) under state: {b}"));
    let done = reaped.stdout.find(&format!("reaped stack {b}"));
    assert!(announced.is_some() && announced < done, "{}", reaped.stdout);
    assert!(reaped.stdout.contains("Reaped 1 of 1"), "{}", reaped.stdout);
    block_on(async {
        assert_eq!(tagged_vpcs(&ec2, a).await, 0);
        assert_eq!(tagged_vpcs(&ec2, b).await, 0);
        assert_eq!(tagged_vpcs(&ec2, c).await, 1, "not expired: kept");
        for stack in [a, b] {
            let subnets = ec2
                .describe_subnets()
                .filters(tagged(stack))
                .send()
                .await
                .expect("subnets");
            assert!(subnets.subnets().is_empty(), "{stack}");
            let groups = ec2
                .describe_security_groups()
                .filters(tagged(stack))
                .send()
                .await
                .expect("sgs");
            assert!(groups.security_groups().is_empty(), "{stack}");
        }
    });
    let listed = project.stackup(&["ls", "--json"]).expect_code(0).json();
    for s in listed.as_array().expect("array") {
        let name = s["stack"].as_str().expect("stack");
        if name == c {
            assert!(s["resources"].as_u64().unwrap_or(0) > 20, "{listed}");
        } else {
            assert_eq!(s["resources"], 0, "{listed}");
            assert!(s["expires_at"].is_null(), "{listed}");
        }
    }
    // Nothing else has expired.
    let again = project.stackup(&["reap", "--yes"]).expect_code(0);
    assert!(again.stdout.contains("No stack has expired"), "{}", again.stdout);
    project.stackup(&["destroy", "--yes", "--stack", c]).expect_code(0);
}

#[test]
fn final_snapshots_get_unique_names_and_non_empty_buckets_need_the_flag() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let s3 = moto.s3();
    let rds = aws_sdk_rds::Client::new(&config);
    let stack = "td-snap";
    let bucket = format!("stackup-td-snap-{}", std::process::id());
    let text = dev_stack(&bucket)
        .replace("skip_final_snapshot = true", "skip_final_snapshot = false")
        .replace("force_destroy = true", "force_destroy = false");
    assert!(text.contains("skip_final_snapshot = false") && text.contains("force_destroy = false"));
    let project = Project::new(&moto.endpoint);
    project.write_stack(stack, &text);
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let before = records(&project, stack);

    // A versioned bucket with a current object, two older versions and a delete marker.
    block_on(async {
        for (key, body) in [("a", "v1"), ("a", "v2"), ("b", "v1")] {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
                .send()
                .await
                .expect("put");
        }
        s3.delete_object()
            .bucket(&bucket)
            .key("b")
            .send()
            .await
            .expect("delete marker");
    });
    let count_versions = || {
        block_on(async {
            let out = s3
                .list_object_versions()
                .bucket(&bucket)
                .send()
                .await
                .expect("versions");
            out.versions().len() + out.delete_markers().len()
        })
    };
    assert_eq!(count_versions(), 4);

    let refused = project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(1);
    for needle in [
        bucket.as_str(),
        "1 object",
        "2 old versions",
        "1 delete marker",
        "storage.force_destroy = true",
        "--empty-buckets",
        "nothing was deleted",
    ] {
        assert!(refused.stderr.contains(needle), "{needle}:\n{}", refused.stderr);
    }
    assert_eq!(records(&project, stack), before, "nothing deleted from state");
    assert_eq!(count_versions(), 4, "nothing deleted from the bucket");
    block_on(async {
        assert!(rds
            .describe_db_instances()
            .db_instance_identifier(format!("{stack}-db"))
            .send()
            .await
            .is_ok());
    });

    // Take every name the next destroy could choose for the next few minutes, so that it
    // must add a suffix: as if another destroy had just run within the same second.
    let start = now_secs();
    let taken: BTreeSet<String> = (0..240)
        .map(|d| format!("{stack}-db-final-{}", stamp(start + d)))
        .collect();
    block_on(async {
        for name in &taken {
            rds.create_db_snapshot()
                .db_instance_identifier(format!("{stack}-db"))
                .db_snapshot_identifier(name)
                .send()
                .await
                .expect("snapshot");
        }
    });
    let final_snapshots = || -> BTreeSet<String> {
        block_on(async {
            rds.describe_db_snapshots()
                .db_instance_identifier(format!("{stack}-db"))
                .send()
                .await
                .expect("snapshots")
                .db_snapshots()
                .iter()
                .filter_map(|s| s.db_snapshot_identifier().map(str::to_string))
                .filter(|n| !taken.contains(n))
                .collect()
        })
    };

    project
        .stackup(&["destroy", "--yes", "--empty-buckets", "--stack", stack])
        .expect_code(0);
    let first = final_snapshots();
    assert_eq!(first.len(), 1, "{first:?}");
    let first_name = first.iter().next().expect("snapshot").clone();
    let base = first_name.strip_suffix("-2").expect("a -2 suffix");
    assert!(taken.contains(base), "{first_name}");
    block_on(async {
        assert!(
            s3.head_bucket().bucket(&bucket).send().await.is_err(),
            "emptied and deleted"
        );
    });

    // The database re-created and destroyed again keeps a second, distinct snapshot.
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
    let both = final_snapshots();
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.contains(&first_name));
    for name in &both {
        assert!(name.starts_with(&format!("{stack}-db-final-")), "{name}");
    }
}

#[test]
fn destroy_target_and_exclude_choose_what_goes() {
    let moto = Moto::shared();
    let ec2 = moto.ec2();
    let stack = "td-target";
    let project = Project::new(&moto.endpoint);
    project.write_stack(stack, &NetworkStack::default().toml());
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let all = records(&project, stack);
    let subnet_b = urn_named(&all, "private-b");
    let subnet_b_id = all[&subnet_b].0.clone();
    let nat = urn_named(&all, "nat-a");
    let vpc = urn_named(&all, "vpc");

    // Contradictions and unknown resources are refused before anything happens.
    let conflict = project.stackup(&[
        "destroy",
        "--yes",
        "--stack",
        stack,
        "--target",
        &vpc,
        "--exclude",
        &nat,
    ]);
    let conflict = conflict.expect_code(1);
    assert!(conflict.stderr.contains("--exclude"), "{}", conflict.stderr);
    let unknown = project.stackup(&[
        "destroy",
        "--yes",
        "--stack",
        stack,
        "--target",
        &format!("{stack}::aws:ec2:Vpc::nope"),
    ]);
    assert!(unknown.expect_code(1).stderr.contains("records no such resource"));
    assert_eq!(records(&project, stack), all);

    // --target: the subnet and everything that depends on it.
    let dependents: BTreeSet<String> = {
        let mut set = BTreeSet::from([subnet_b.clone()]);
        loop {
            let more: Vec<String> = all
                .iter()
                .filter(|(u, (_, deps))| !set.contains(*u) && deps.iter().any(|d| set.contains(d)))
                .map(|(u, _)| u.clone())
                .collect();
            if more.is_empty() {
                break set;
            }
            set.extend(more);
        }
    };
    assert!(dependents.len() > 1, "the subnet has dependents: {dependents:?}");
    project
        .stackup(&["destroy", "--yes", "--stack", stack, "--target", &subnet_b])
        .expect_code(0);
    let left = records(&project, stack);
    let expected: BTreeSet<&String> = all.keys().filter(|u| !dependents.contains(*u)).collect();
    assert_eq!(left.keys().collect::<BTreeSet<_>>(), expected);
    block_on(async {
        let subnets = ec2
            .describe_subnets()
            .filters(Filter::builder().name("subnet-id").values(&subnet_b_id).build())
            .send()
            .await
            .expect("subnets");
        assert!(subnets.subnets().is_empty(), "the targeted subnet is gone");
        assert_eq!(tagged_vpcs(&ec2, stack).await, 1, "the VPC stays");
    });

    // --exclude: the NAT gateway stays, and with it what it depends on.
    let kept: BTreeSet<String> = {
        let mut set = BTreeSet::from([nat.clone()]);
        loop {
            let more: Vec<String> = set
                .iter()
                .flat_map(|u| left[u].1.iter())
                .filter(|d| left.contains_key(*d) && !set.contains(*d))
                .cloned()
                .collect();
            if more.is_empty() {
                break set;
            }
            set.extend(more);
        }
    };
    assert!(kept.contains(&vpc), "{kept:?}");
    project
        .stackup(&["destroy", "--yes", "--stack", stack, "--exclude", &nat])
        .expect_code(0);
    let left = records(&project, stack);
    assert_eq!(left.keys().cloned().collect::<BTreeSet<_>>(), kept);
    block_on(async {
        let nats = ec2.describe_nat_gateways().send().await.expect("nats");
        let nat_id = &left[&nat].0;
        assert!(
            nats.nat_gateways()
                .iter()
                .any(|n| n.nat_gateway_id() == Some(nat_id.as_str())
                    && n.state().map(|s| s.as_str()) == Some("available"))
        );
        let groups = ec2
            .describe_security_groups()
            .filters(tagged(stack))
            .send()
            .await
            .expect("sgs");
        assert!(groups.security_groups().is_empty(), "groups were not excluded");
    });

    project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
    assert!(records(&project, stack).is_empty());
    block_on(async { assert_eq!(tagged_vpcs(&ec2, stack).await, 0) });
}
