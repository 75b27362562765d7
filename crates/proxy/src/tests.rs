//! Unit tests of the reshaping profile (lifecycles, causal rules, composition) against
//! response samples captured from moto 5.2.1 (`testdata/`), without a server; and of
//! the moto workarounds that need moto's own answers, through a running proxy against
//! a moto server these tests start (`Moto` below).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::lifecycle::{self, Phase};
use crate::profile::Profile;
use crate::request::{classify, Call};
use crate::world::{Pre, World};

const AWS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../profiles/aws.toml");

fn aws() -> Profile {
    Profile::load(Path::new(AWS)).expect("aws.toml parses")
}

fn scope(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// A query-protocol call (EC2, RDS, ELB, IAM, Auto Scaling) from its form body.
fn query(service: &str, form: &str) -> Call {
    let (parts, ()) = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("authorization", scope(service))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(())
        .expect("a request")
        .into_parts();
    classify(&parts, service.to_string(), Some(form.as_bytes()))
}

fn json(service: &str, action: &str, body: &str) -> Call {
    let (parts, ()) = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("authorization", scope(service))
        .header("x-amz-target", format!("DynamoDB_20120810.{action}"))
        .body(())
        .expect("a request")
        .into_parts();
    classify(&parts, service.to_string(), Some(body.as_bytes()))
}

fn rest(service: &str, method: &str, uri: &str, body: &str) -> Call {
    let (parts, ()) = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", scope(service))
        .body(())
        .expect("a request")
        .into_parts();
    classify(&parts, service.to_string(), Some(body.as_bytes()))
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata").join(name)).expect("a sample")
}

/// A world seeing calls at chosen moments, at time scale 1 (profile ms are real ms).
struct Run {
    world: World,
    profile: Profile,
    t0: Instant,
}

impl Run {
    fn new(profile: Profile) -> Run {
        Run {
            world: World::default(),
            profile,
            t0: Instant::now(),
        }
    }

    fn at(&self, s: u64) -> Instant {
        self.t0 + Duration::from_secs(s)
    }

    /// The call succeeded at second `s` with this response; the rewritten response.
    fn answer(&mut self, s: u64, call: &Call, status: u16, body: &str) -> Option<(u16, String)> {
        let now = self.at(s);
        let view = self.world.post(&self.profile, call, status, body, now, 7, 1.0);
        lifecycle::rewrite(call, status, body, &view).map(|r| (r.status, r.body))
    }

    fn check(&self, s: u64, call: &Call) -> Option<Pre> {
        self.world.pre(&self.profile, call, call_time(self, s))
    }
}

fn call_time(run: &Run, s: u64) -> Instant {
    run.at(s)
}

fn fault_of(pre: Option<Pre>) -> (String, String, u16, String) {
    match pre {
        Some(Pre::Fault {
            name,
            code,
            status,
            message,
        }) => (name, code, status, message),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn every_shipped_profile_parses_and_only_aws_reshapes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    for name in ["realistic", "chaos"] {
        let p = Profile::load(&dir.join(format!("{name}.toml"))).expect("parses");
        assert!(!p.reshapes(), "{name} must behave as before");
    }
    let p = aws();
    assert!(p.reshapes());
    assert_eq!(p.lifecycles.len(), lifecycle::TYPES.len());
    assert!(p.engine_versions.iter().any(|v| v.version == "16.4" && v.available));
    // No holds in aws.toml: every call is answered at moto's speed.
    assert!(p.first("ec2", "CreateNatGateway", |r| r.latency_ms).is_none());
    assert!(p.first("rds", "CreateDBInstance", |r| r.latency_ms).is_none());
    let fixes = p.workarounds;
    assert!(
        fixes.modify_db_subnet_group
            && fixes.deferred_db_modifications
            && fixes.tagging_rds_subnet_groups
            && fixes.route_table_already_associated
    );
    let one = Profile::parse("t", "moto_workarounds = [\"tagging_rds_subnet_groups\"]\n").expect("parses");
    assert!(one.reshapes() && !one.workarounds.deferred_db_modifications);
    assert!(
        Profile::passthrough()
            .combine(one)
            .workarounds
            .tagging_rds_subnet_groups
    );
    let fixes = Profile::moto_fixes();
    assert_eq!(fixes.name(), "moto-fixes");
    assert!(
        fixes.workarounds.tagging_rds_subnet_groups
            && fixes.workarounds.modify_db_subnet_group
            && fixes.workarounds.route_table_already_associated
    );
    assert!(!fixes.workarounds.deferred_db_modifications && fixes.lifecycles.is_empty() && fixes.causal.is_empty());
}

#[test]
fn combine_keeps_both_profiles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
    let chaos = Profile::load(&dir.join("chaos.toml")).expect("parses");
    let both = aws().combine(chaos);
    assert_eq!(both.name(), "aws+chaos");
    assert!(both.reshapes());
    assert!(both.first("ec2", "CreateVpc", |r| r.drop_rate).is_some());
    // aws.toml's EC2 buckets come first, chaos's latency still applies.
    assert!(both.first("ec2", "CreateVpc", |r| r.rate).is_some());
    assert!(both.first("ec2", "CreateVpc", |r| r.latency_ms).is_some());
    let loaded = Profile::load_all(&[Path::new(AWS), &dir.join("chaos.toml")]).expect("both load");
    assert_eq!(loaded.name(), "aws+chaos");
    let over = Profile::parse("t", "[[lifecycle]]\ntype = \"vpc\"\ncreate_ms = 5\n").expect("parses");
    let combined = aws().combine(over);
    assert_eq!(combined.lifecycle("vpc").and_then(|l| l.create), Some((5, 5)));
    assert_eq!(combined.lifecycles.len(), lifecycle::TYPES.len());
}

#[test]
fn refuses_unknown_types_phases_and_incomplete_rules() {
    let err = |text: &str| Profile::parse("p.toml", text).expect_err("refused").to_string();
    assert!(
        err("[[lifecycle]]\ntype = \"nat\"\ncreate_ms = 1\n")
            .starts_with("p.toml: lifecycle[0].type: unknown lifecycle type `nat`"),
        "{}",
        err("[[lifecycle]]\ntype = \"nat\"\ncreate_ms = 1\n")
    );
    assert_eq!(
        err("[[lifecycle]]\ntype = \"nat_gateway\"\nmodify_ms = 1\n"),
        "p.toml: lifecycle[0].modify_ms: type `nat_gateway` has no modify phase"
    );
    assert!(err("[[lifecycle]]\ntype = \"vpc\"\nupdate_ms = 1\n")
        .starts_with("p.toml: lifecycle[0].update_ms: unknown field"));
    assert_eq!(
        err("[[lifecycle]]\ntype = \"vpc\"\ncreate_ms = [3, 1]\n"),
        "p.toml: lifecycle[0].create_ms: the range's minimum (3) exceeds its maximum (1)"
    );
    let during = "[[during]]\nname = \"x\"\ntype = \"vpc\"\nphase = \"delete\"\nservice = \"ec2\"\naction = \"X\"\ncode = \"C\"\nstatus = 400\nmessage = \"m\"\n";
    assert_eq!(err(during), "p.toml: during[0].phase: type `vpc` has no phase `delete`");
    let requires = "[[requires]]\nname = \"x\"\ntrigger_service = \"ec2\"\ntrigger_action = \"A\"\nservice = \"ec2\"\naction = \"B\"\ncode = \"C\"\nstatus = 400\nmessage = \"m\"\nfor_ms = 1\n";
    assert!(err(requires).starts_with("p.toml: requires[0].object:"));
    let after = "[[after]]\nname = \"x\"\ntrigger_service = \"ec2\"\ntrigger_action = \"A\"\nservice = \"ec2\"\naction = \"B\"\ncode = \"C\"\nstatus = 200\nmessage = \"m\"\nfor_ms = 1\n";
    assert!(err(after).starts_with("p.toml: after[0].status: 200 is not an HTTP error status"));
    assert!(
        err("[[rds_engine_version]]\nengine = \"postgres\"\nversion = \"16.4\"\nstatus = \"old\"\n")
            .starts_with("p.toml: rds_engine_version[0].status:")
    );
    assert_eq!(
        err("moto_workarounds = [\"nope\"]\n"),
        "p.toml: moto_workarounds[0]: unknown workaround `nope` (known: modify_db_subnet_group, \
         deferred_db_modifications, tagging_rds_subnet_groups, route_table_already_associated)"
    );
}

#[test]
fn nat_gateway_reads_pending_then_available_and_deleting_then_deleted() {
    let mut run = Run::new(aws());
    let create = query(
        "ec2",
        "Action=CreateNatGateway&SubnetId=subnet-9e1331ee834b51aa7&AllocationId=eipalloc-0a8c796bd0668b73a",
    );
    let (_, created) = run
        .answer(0, &create, 200, &sample("nat_create.xml"))
        .expect("create answer rewritten");
    assert!(created.contains("<state>pending</state>"), "{created}");
    let drawn = run.world.transitions.clone();
    assert_eq!(drawn.len(), 1);
    let window = drawn[0].duration;
    assert!(
        (Duration::from_secs(60)..=Duration::from_secs(120)).contains(&window),
        "{window:?}"
    );

    let describe = query("ec2", "Action=DescribeNatGateways");
    let (_, body) = run
        .answer(1, &describe, 200, &sample("nat_describe.xml"))
        .expect("rewritten");
    assert!(body.contains("<state>pending</state>") && !body.contains("available"));
    // Only the state changed, byte for byte.
    assert_eq!(
        body.len(),
        sample("nat_describe.xml").len() - "available".len() + "pending".len()
    );
    assert!(
        run.answer(121, &describe, 200, &sample("nat_describe.xml")).is_none(),
        "available after the window"
    );

    let delete = query("ec2", "Action=DeleteNatGateway&NatGatewayId=nat-1269086c92b4db8c8");
    run.answer(
        200,
        &delete,
        200,
        "<DeleteNatGatewayResponse><natGatewayId>nat-1269086c92b4db8c8</natGatewayId></DeleteNatGatewayResponse>",
    );
    let (_, body) = run
        .answer(201, &describe, 200, &sample("nat_describe_deleted.xml"))
        .expect("rewritten");
    assert!(body.contains("<state>deleting</state>"));
    assert!(run
        .answer(300, &describe, 200, &sample("nat_describe_deleted.xml"))
        .is_none());
}

#[test]
fn instances_launched_by_auto_scaling_are_pending_in_service_later_and_healthy_last() {
    let mut run = Run::new(aws());
    // First seen in DescribeAutoScalingGroups: both instances start now.
    let asg = query(
        "autoscaling",
        "Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=a",
    );
    let (_, body) = run
        .answer(0, &asg, 200, &sample("asg_describe.xml"))
        .expect("rewritten");
    assert_eq!(body.matches("<LifecycleState>Pending</LifecycleState>").count(), 2);
    let phases: Vec<Phase> = run.world.transitions.iter().map(|t| t.phase).collect();
    assert_eq!(phases, [Phase::Create, Phase::Health, Phase::Create, Phase::Health]);

    let health = query(
        "elasticloadbalancing",
        "Action=DescribeTargetHealth&TargetGroupArn=arn:aws:x",
    );
    let (_, body) = run
        .answer(61, &health, 200, &sample("target_health.xml"))
        .expect("rewritten");
    assert_eq!(
        body.matches("<State>initial</State><Reason>Elb.RegistrationInProgress</Reason>")
            .count(),
        2
    );
    assert!(
        run.answer(61, &asg, 200, &sample("asg_describe.xml")).is_none(),
        "InService after the launch"
    );
    assert!(
        run.answer(181, &health, 200, &sample("target_health.xml")).is_none(),
        "healthy at last"
    );

    // DescribeInstances: moto's running is pending for an instance seen just now.
    let mut run = Run::new(aws());
    let describe = query("ec2", "Action=DescribeInstances");
    let (_, body) = run
        .answer(0, &describe, 200, &sample("instances_describe.xml"))
        .expect("rewritten");
    assert!(body.contains("<instanceState><code>0</code><name>pending</name></instanceState>"));
    let terminate = query("ec2", "Action=TerminateInstances&InstanceId.1=i-d06cb7da216f2b583");
    run.answer(100, &terminate, 200, "<TerminateInstancesResponse/>");
    let (_, body) = run
        .answer(101, &describe, 200, &sample("instances_terminated.xml"))
        .expect("rewritten");
    assert!(body.contains("<code>32</code><name>shutting-down</name>"), "{body}");
    assert!(run
        .answer(200, &describe, 200, &sample("instances_terminated.xml"))
        .is_none());
    // One first seen terminated is left as moto says.
    let mut run = Run::new(aws());
    assert!(run
        .answer(0, &describe, 200, &sample("instances_terminated.xml"))
        .is_none());
}

#[test]
fn rds_instance_creating_backing_up_modifying_and_deleting_from_cache() {
    let mut run = Run::new(aws());
    let create = query(
        "rds",
        "Action=CreateDBInstance&DBInstanceIdentifier=db1&Engine=postgres&EngineVersion=16.4&DBSubnetGroupName=sg1",
    );
    run.answer(0, &create, 200, "<CreateDBInstanceResponse/>");
    let window = run.world.transitions[0].duration.as_secs();
    let by_id = query("rds", "Action=DescribeDBInstances&DBInstanceIdentifier=db1");
    let (_, body) = run
        .answer(1, &by_id, 200, &sample("rds_describe.xml"))
        .expect("rewritten");
    assert!(body.contains("<DBInstanceStatus>creating</DBInstanceStatus>"));
    let (_, body) = run
        .answer(window - 1, &by_id, 200, &sample("rds_describe.xml"))
        .expect("rewritten");
    assert!(body.contains("<DBInstanceStatus>backing-up</DBInstanceStatus>"));

    // rds-state: no modification while creating.
    let modify = query(
        "rds",
        "Action=ModifyDBInstance&DBInstanceIdentifier=db1&AllocatedStorage=30&ApplyImmediately=true",
    );
    let (name, code, status, message) = fault_of(run.check(2, &modify));
    assert_eq!(
        (name.as_str(), code.as_str(), status),
        ("rds-state", "InvalidDBInstanceState", 400)
    );
    assert_eq!(message, "Database instance is not in available state.");
    let other = query(
        "rds",
        "Action=ModifyDBInstance&DBInstanceIdentifier=db2&AllocatedStorage=30&ApplyImmediately=true",
    );
    assert_eq!(run.check(2, &other), None, "another instance is not in transition");
    assert_eq!(run.check(window + 1, &modify), None);
    run.answer(window + 1, &modify, 200, "<ModifyDBInstanceResponse/>");
    let (_, body) = run
        .answer(window + 2, &by_id, 200, &sample("rds_describe.xml"))
        .expect("rewritten");
    assert!(body.contains("<DBInstanceStatus>modifying</DBInstanceStatus>"));

    // Delete: moto forgets it; AWS shows it deleting.
    let later = window + 400;
    let delete = query(
        "rds",
        "Action=DeleteDBInstance&DBInstanceIdentifier=db1&SkipFinalSnapshot=true",
    );
    run.answer(later, &delete, 200, &sample("rds_delete.xml"));
    let (status, body) = run
        .answer(later + 1, &by_id, 404, &sample("rds_not_found.xml"))
        .expect("replaced");
    assert_eq!(status, 200);
    assert!(body.starts_with("<DescribeDBInstancesResponse"));
    assert!(body.contains("<DBInstances><DBInstance><DBInstanceIdentifier>db1</DBInstanceIdentifier>"));
    assert!(body.contains("<DBInstanceStatus>deleting</DBInstanceStatus>"));
    assert!(crate::xml::Doc::parse(&body).is_some());
    let listing = query("rds", "Action=DescribeDBInstances");
    let (_, body) = run
        .answer(later + 1, &listing, 200, &sample("rds_describe_empty.xml"))
        .expect("inserted");
    assert!(body.contains("<DBInstances><DBInstance><DBInstanceIdentifier>db1</DBInstanceIdentifier>"));
    let filtered = query(
        "rds",
        "Action=DescribeDBInstances&Filters.Filter.1.Name=db-instance-id&Filters.Filter.1.Values.Value.1=db1",
    );
    assert!(run
        .answer(later + 1, &filtered, 200, &sample("rds_describe_empty.xml"))
        .is_some());
    let elsewhere = query(
        "rds",
        "Action=DescribeDBInstances&Filters.Filter.1.Name=db-instance-id&Filters.Filter.1.Values.Value.1=db9",
    );
    assert!(run
        .answer(later + 1, &elsewhere, 200, &sample("rds_describe_empty.xml"))
        .is_none());
    assert!(
        run.answer(later + 400, &by_id, 404, &sample("rds_not_found.xml"))
            .is_none(),
        "gone after the window"
    );
}

#[test]
fn dynamodb_table_deleting_is_served_from_the_delete_answer() {
    let mut run = Run::new(aws());
    let create = json("dynamodb", "CreateTable", r#"{"TableName":"t"}"#);
    let created = sample("ddb_delete.json");
    let (_, body) = run.answer(0, &create, 200, &created).expect("rewritten");
    assert!(body.contains(r#""TableStatus":"CREATING""#), "{body}");
    let delete = json("dynamodb", "DeleteTable", r#"{"TableName":"t"}"#);
    let (_, body) = run
        .answer(100, &delete, 200, &sample("ddb_delete.json"))
        .expect("rewritten");
    assert!(body.contains(r#""TableStatus":"DELETING""#));
    let describe = json("dynamodb", "DescribeTable", r#"{"TableName":"t"}"#);
    let missing = r#"{"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "Requested resource not found: Table: t not found"}"#;
    let (status, body) = run.answer(101, &describe, 400, missing).expect("replaced");
    assert_eq!(status, 200);
    let value: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(value["Table"]["TableStatus"], "DELETING");
    assert!(run.answer(200, &describe, 400, missing).is_none());
}

#[test]
fn efs_mount_target_deleting_blocks_the_file_system_delete() {
    let mut run = Run::new(aws());
    let fs = "fs-49f493ca";
    let create = rest(
        "elasticfilesystem",
        "POST",
        "/2015-02-01/mount-targets",
        r#"{"FileSystemId":"fs-49f493ca","SubnetId":"subnet-9e1331ee834b51aa7"}"#,
    );
    let mt: serde_json::Value = serde_json::from_str(&sample("efs_mount_targets.json")).expect("json");
    let (_, body) = run
        .answer(0, &create, 200, &mt["MountTargets"][0].to_string())
        .expect("rewritten");
    assert!(body.contains(r#""LifeCycleState":"creating""#));
    let delete = rest(
        "elasticfilesystem",
        "DELETE",
        "/2015-02-01/mount-targets/fsmt-b41b80e8",
        "",
    );
    run.answer(100, &delete, 204, "");
    let describe = rest(
        "elasticfilesystem",
        "GET",
        &format!("/2015-02-01/mount-targets?FileSystemId={fs}"),
        "",
    );
    let (status, body) = run
        .answer(101, &describe, 200, r#"{"MountTargets": []}"#)
        .expect("inserted");
    assert_eq!(status, 200);
    assert!(body.contains(r#""LifeCycleState":"deleting""#) && body.contains("fsmt-b41b80e8"));
    let delete_fs = rest(
        "elasticfilesystem",
        "DELETE",
        &format!("/2015-02-01/file-systems/{fs}"),
        "",
    );
    let (name, code, status, message) = fault_of(run.check(102, &delete_fs));
    assert_eq!(
        (name.as_str(), code.as_str(), status),
        ("efs-in-use", "FileSystemInUse", 409)
    );
    assert_eq!(message, format!("File system '{fs}' has mount targets"));
    assert_eq!(run.check(200, &delete_fs), None);
}

#[test]
fn iam_propagation_reaches_run_instances_and_groups_through_the_launch_template() {
    let mut run = Run::new(aws());
    let lt = query(
        "ec2",
        "Action=CreateLaunchTemplate&LaunchTemplateName=web&LaunchTemplateData.IamInstanceProfile.Name=prof&LaunchTemplateData.ImageId=ami-12345678",
    );
    // AWS does not check the profile at CreateLaunchTemplate.
    run.answer(
        0,
        &query("iam", "Action=CreateInstanceProfile&InstanceProfileName=prof"),
        200,
        "<CreateInstanceProfileResponse/>",
    );
    assert_eq!(run.check(1, &lt), None);
    run.answer(1, &lt, 200, "<CreateLaunchTemplateResponse><launchTemplate><launchTemplateId>lt-0123456789abcdef0</launchTemplateId></launchTemplate></CreateLaunchTemplateResponse>");
    let direct = query(
        "ec2",
        "Action=RunInstances&ImageId=ami-1&IamInstanceProfile.Name=prof&MinCount=1&MaxCount=1",
    );
    let (name, code, _, message) = fault_of(run.check(2, &direct));
    assert_eq!(
        (name.as_str(), code.as_str()),
        ("iam-propagation", "InvalidParameterValue")
    );
    assert_eq!(
        message,
        "Value (prof) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
    );
    let via_template = query(
        "ec2",
        "Action=RunInstances&LaunchTemplate.LaunchTemplateId=lt-0123456789abcdef0&MinCount=1&MaxCount=1",
    );
    assert!(run.check(2, &via_template).is_some());
    let group = query("autoscaling", "Action=CreateAutoScalingGroup&AutoScalingGroupName=a&LaunchTemplate.LaunchTemplateName=web&MinSize=1&MaxSize=1");
    let (_, code, _, message) = fault_of(run.check(2, &group));
    assert_eq!(code, "ValidationError");
    assert!(message.starts_with("You must use a valid fully-formed launch template. Value (prof)"));
    let unrelated = query(
        "ec2",
        "Action=RunInstances&ImageId=ami-1&IamInstanceProfile.Name=other&MinCount=1&MaxCount=1",
    );
    assert_eq!(run.check(2, &unrelated), None);
    assert_eq!(run.check(16, &direct), None, "propagated after 15 s at most");
}

#[test]
fn eni_linger_after_load_balancer_and_nat_gateway_deletes() {
    let mut run = Run::new(aws());
    let (vpc, subnet, sg) = (
        "vpc-62bd198d4e9307543",
        "subnet-9e1331ee834b51aa7",
        "sg-e533625cfa79ab783",
    );
    let lb = query(
        "elasticloadbalancing",
        &format!("Action=CreateLoadBalancer&Name=lb&Subnets.member.1={subnet}&Subnets.member.2=subnet-33a97539310bd01a4&SecurityGroups.member.1={sg}"),
    );
    run.answer(0, &lb, 200, &sample("lb_create.xml"));
    let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb/5d60e0bbe4d852ff";
    run.answer(
        10,
        &query(
            "elasticloadbalancing",
            &format!("Action=DeleteLoadBalancer&LoadBalancerArn={arn}"),
        ),
        200,
        "<DeleteLoadBalancerResponse/>",
    );
    let delete_subnet = query("ec2", &format!("Action=DeleteSubnet&SubnetId={subnet}"));
    let (name, code, _, message) = fault_of(run.check(11, &delete_subnet));
    assert_eq!((name.as_str(), code.as_str()), ("eni-linger", "DependencyViolation"));
    assert_eq!(
        message,
        format!("The subnet '{subnet}' has dependencies and cannot be deleted.")
    );
    let (_, _, _, message) =
        fault_of(run.check(11, &query("ec2", &format!("Action=DeleteSecurityGroup&GroupId={sg}"))));
    assert_eq!(message, format!("resource {sg} has a dependent object"));
    let detach = query(
        "ec2",
        &format!("Action=DetachInternetGateway&InternetGatewayId=igw-0123456789abcdef0&VpcId={vpc}"),
    );
    let (_, _, _, message) = fault_of(run.check(11, &detach));
    assert!(message.starts_with(&format!("Network {vpc} has some mapped public address(es).")));
    assert_eq!(
        run.check(
            11,
            &query("ec2", "Action=DeleteSubnet&SubnetId=subnet-0000000000000000f")
        ),
        None
    );
    assert_eq!(
        run.check(10 + 301, &delete_subnet),
        None,
        "ENIs gone after five minutes at most"
    );

    // A private NAT gateway's deletion does not block the gateway detach; its
    // allocation is held a minute or so.
    let mut run = Run::new(aws());
    let nat = query(
        "ec2",
        &format!("Action=CreateNatGateway&SubnetId={subnet}&AllocationId=eipalloc-0a8c796bd0668b73a"),
    );
    run.answer(0, &nat, 200, &sample("nat_create.xml"));
    run.answer(
        5,
        &query("ec2", "Action=DeleteNatGateway&NatGatewayId=nat-1269086c92b4db8c8"),
        200,
        "<DeleteNatGatewayResponse/>",
    );
    let release = query("ec2", "Action=ReleaseAddress&AllocationId=eipalloc-0a8c796bd0668b73a");
    let (_, code, _, _) = fault_of(run.check(6, &release));
    assert_eq!(code, "InvalidIPAddress.InUse");
    assert!(run.check(6, &detach).is_some(), "public NAT: mapped address");
    let mut run = Run::new(aws());
    let private = query(
        "ec2",
        &format!("Action=CreateNatGateway&SubnetId={subnet}&ConnectivityType=private"),
    );
    run.answer(0, &private, 200, &sample("nat_create.xml"));
    run.answer(
        5,
        &query("ec2", "Action=DeleteNatGateway&NatGatewayId=nat-1269086c92b4db8c8"),
        200,
        "<DeleteNatGatewayResponse/>",
    );
    assert_eq!(run.check(6, &detach), None);
    assert!(run.check(6, &delete_subnet).is_some());
}

#[test]
fn igw_must_be_attached_a_while_before_an_internet_facing_load_balancer() {
    let mut run = Run::new(aws());
    let vpc = "vpc-0123456789abcdef0";
    let subnet = "subnet-0123456789abcdef0";
    run.answer(
        0,
        &query("ec2", "Action=CreateVpc&CidrBlock=10.0.0.0/16"),
        200,
        &format!("<CreateVpcResponse><vpc><vpcId>{vpc}</vpcId><state>available</state></vpc></CreateVpcResponse>"),
    );
    run.answer(0, &query("ec2", &format!("Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0/24")), 200, &format!("<CreateSubnetResponse><subnet><subnetId>{subnet}</subnetId><vpcId>{vpc}</vpcId></subnet></CreateSubnetResponse>"));
    let lb = query(
        "elasticloadbalancing",
        &format!("Action=CreateLoadBalancer&Name=lb&Subnets.member.1={subnet}"),
    );
    let (name, code, _, message) = fault_of(run.check(1, &lb));
    assert_eq!((name.as_str(), code.as_str()), ("igw-propagation", "InvalidSubnet"));
    assert_eq!(message, format!("VPC {vpc} has no internet gateway"));
    let internal = query(
        "elasticloadbalancing",
        &format!("Action=CreateLoadBalancer&Name=lb&Scheme=internal&Subnets.member.1={subnet}"),
    );
    assert_eq!(run.check(1, &internal), None);
    let attach = query(
        "ec2",
        &format!("Action=AttachInternetGateway&InternetGatewayId=igw-0123456789abcdef0&VpcId={vpc}"),
    );
    run.answer(2, &attach, 200, "<AttachInternetGatewayResponse/>");
    assert!(run.check(3, &lb).is_some(), "attached a moment ago");
    assert_eq!(run.check(8, &lb), None, "attached long enough");
    run.answer(
        9,
        &query(
            "ec2",
            &format!("Action=DetachInternetGateway&InternetGatewayId=igw-0123456789abcdef0&VpcId={vpc}"),
        ),
        200,
        "<R/>",
    );
    assert!(run.check(20, &lb).is_some(), "detached again");
    // A VPC the proxy never saw created is not checked.
    let unknown = query(
        "elasticloadbalancing",
        "Action=CreateLoadBalancer&Name=lb&Subnets.member.1=subnet-0fffffffffffffff0",
    );
    assert_eq!(run.check(1, &unknown), None);
}

#[test]
fn new_group_egress_bucket_names_and_the_engine_catalog() {
    let mut run = Run::new(aws());
    let sg = "sg-0123456789abcdef0";
    run.answer(
        0,
        &query(
            "ec2",
            "Action=CreateSecurityGroup&GroupName=g&GroupDescription=d&VpcId=vpc-0123456789abcdef0",
        ),
        200,
        &format!("<CreateSecurityGroupResponse><groupId>{sg}</groupId></CreateSecurityGroupResponse>"),
    );
    let revoke = query(
        "ec2",
        &format!("Action=RevokeSecurityGroupEgress&GroupId={sg}&IpPermissions.1.IpProtocol=-1"),
    );
    let (_, code, _, _) = fault_of(run.check(0, &revoke));
    assert_eq!(code, "InvalidPermission.NotFound");
    assert_eq!(run.check(4, &revoke), None);
    let other = query("ec2", "Action=RevokeSecurityGroupEgress&GroupId=sg-0fffffffffffffff0");
    assert_eq!(run.check(0, &other), None, "another group of the same VPC");

    let delete = rest("s3", "DELETE", "/my-bucket", "");
    run.answer(10, &delete, 204, "");
    let create = rest("s3", "PUT", "/my-bucket", "");
    let (name, code, status, _) = fault_of(run.check(11, &create));
    assert_eq!(
        (name.as_str(), code.as_str(), status),
        ("s3-name-reuse", "OperationAborted", 409)
    );
    assert_eq!(run.check(11, &rest("s3", "PUT", "/other-bucket", "")), None);

    let bad = query(
        "rds",
        "Action=CreateDBInstance&DBInstanceIdentifier=db&Engine=postgres&EngineVersion=16.2",
    );
    let (name, code, _, message) = fault_of(run.check(0, &bad));
    assert_eq!(
        (name.as_str(), code.as_str()),
        ("rds-engine-version", "InvalidParameterCombination")
    );
    assert_eq!(message, "Cannot find version 16.2 for postgres");
    let good = query(
        "rds",
        "Action=CreateDBInstance&DBInstanceIdentifier=db&Engine=postgres&EngineVersion=16.4",
    );
    assert_eq!(run.check(0, &good), None);
    match run.check(0, &query("rds", "Action=DescribeDBEngineVersions&Engine=postgres")) {
        Some(Pre::Answer { body, .. }) => {
            assert!(body.contains("<EngineVersion>16.8</EngineVersion>") && !body.contains("16.1<"));
        }
        other => panic!("expected the catalog, got {other:?}"),
    }
    assert_eq!(
        run.check(
            0,
            &query(
                "rds",
                "Action=ModifyDBSubnetGroup&DBSubnetGroupName=x&SubnetIds.SubnetIdentifier.1=subnet-1"
            )
        ),
        Some(Pre::FixSubnetGroup)
    );
}

#[test]
fn draws_repeat_for_a_seed() {
    let durations = || {
        let mut run = Run::new(aws());
        for i in 0..3 {
            let create = query("rds", &format!("Action=CreateDBInstance&DBInstanceIdentifier=db{i}"));
            run.answer(0, &create, 200, "<R/>");
        }
        run.world.transitions.iter().map(|t| t.duration).collect::<Vec<_>>()
    };
    let first = durations();
    assert_eq!(first, durations());
    assert_eq!(first.len(), 3);
    assert!(first
        .iter()
        .all(|d| (Duration::from_secs(300)..=Duration::from_secs(600)).contains(d)));
}

// ============================================== Through a running proxy, against moto

/// moto's server for the tests below: one per test process on a free loopback port,
/// installed by `scripts/ensure-moto`, as `crates/testkit/src/moto.rs` runs it (that
/// crate depends on this one, so it cannot serve here). The server runs under a shell
/// that holds a pipe from this process and stops it when the pipe closes, so it goes
/// away with the test process however that ends.
struct Moto {
    endpoint: String,
    _wrapper: std::process::Child,
}

fn moto() -> &'static str {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    static MOTO: std::sync::OnceLock<Moto> = std::sync::OnceLock::new();
    let moto = MOTO.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ensure = Command::new(root.join("scripts/ensure-moto"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/ensure-moto");
        assert!(ensure.status.success(), "scripts/ensure-moto failed");
        let server = String::from_utf8_lossy(&ensure.stdout).trim().to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let log = std::env::temp_dir().join(format!("stackup-proxy-moto-{port}.log"));
        // `cat` returns when our end of its stdin closes, i.e. when this process dies.
        let script = format!(
            "'{server}' -H 127.0.0.1 -p {port} > '{}' 2>&1 & pid=$!; cat > /dev/null; kill $pid",
            log.display()
        );
        let wrapper = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut buf = [0u8; 16];
                if s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _wrapper: wrapper,
        }
    });
    &moto.endpoint
}

/// Names unique per test process and call: the moto server is shared by the tests.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// One POST to `endpoint` (a proxy, or moto itself) signed (in form: neither checks
/// signatures) for `service`: its status and body.
fn post(endpoint: &str, service: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    let authority = endpoint.trim_start_matches("http://").to_string();
    let mut request = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", &authority)
        .header("authorization", scope(service));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
        .expect("a request");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(&authority).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let response = sender.send_request(request).await.expect("an answer");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.expect("its body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

/// A query-protocol call (RDS, EC2) to `endpoint`.
fn call(endpoint: &str, service: &str, form: &str) -> (u16, String) {
    post(
        endpoint,
        service,
        &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
        form,
    )
}

/// The text at `path` below the first `DBInstance` of an answer.
fn instance_field(body: &str, path: &[&str]) -> Option<String> {
    let doc = crate::xml::Doc::parse(body).unwrap_or_else(|| panic!("not XML: {body}"));
    let instance = doc.named("DBInstance").next()?;
    doc.child_text(instance, path)
}

#[test]
fn deferred_db_modifications_wait_until_applied_immediately_through_moto() {
    // aws.toml, with the instance available a moment after its create and a modify
    // that, once begun, lasts the whole test: a deferred modify that began it would
    // show.
    let quick = Profile::parse(
        "quick create",
        "[[lifecycle]]\ntype = \"db_instance\"\ncreate_ms = 1\nmodify_ms = 600000\ndelete_ms = 1\n",
    )
    .expect("parses");
    let proxy = crate::Proxy::start(moto(), aws().combine(quick), 1.0, 3);
    let rds = |form: &str| call(&proxy.endpoint, "rds", &format!("Action={form}&Version=2014-10-31"));
    let id = unique("deferred");
    let create = format!(
        "CreateDBInstance&DBInstanceIdentifier={id}&Engine=postgres&DBInstanceClass=db.t3.micro&AllocatedStorage=20&MasterUsername=u&MasterUserPassword=password1"
    );
    let (status, body) = rds(&create);
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(50));

    // Deferred: the class and the storage wait; the retention applies at once.
    let (status, body) = rds(&format!(
        "ModifyDBInstance&DBInstanceIdentifier={id}&DBInstanceClass=db.t3.small&AllocatedStorage=30&BackupRetentionPeriod=5"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        instance_field(&body, &["DBInstanceClass"]).as_deref(),
        Some("db.t3.micro")
    );
    assert_eq!(
        instance_field(&body, &["PendingModifiedValues", "DBInstanceClass"]).as_deref(),
        Some("db.t3.small"),
        "{body}"
    );
    let describe = format!("DescribeDBInstances&DBInstanceIdentifier={id}");
    let (status, body) = rds(&describe);
    assert_eq!(status, 200, "{body}");
    let field = |path: &[&str]| instance_field(&body, path);
    assert_eq!(field(&["DBInstanceStatus"]).as_deref(), Some("available"));
    assert_eq!(field(&["DBInstanceClass"]).as_deref(), Some("db.t3.micro"));
    assert_eq!(field(&["AllocatedStorage"]).as_deref(), Some("20"));
    assert_eq!(field(&["BackupRetentionPeriod"]).as_deref(), Some("5"));
    assert_eq!(
        field(&["PendingModifiedValues", "DBInstanceClass"]).as_deref(),
        Some("db.t3.small")
    );
    assert_eq!(
        field(&["PendingModifiedValues", "AllocatedStorage"]).as_deref(),
        Some("30")
    );
    assert_eq!(body.matches("<PendingModifiedValues>").count(), 1, "{body}");
    let modifying = |proxy: &crate::Proxy| {
        proxy
            .lifecycles()
            .iter()
            .any(|l| l.id == id && l.phase == Phase::Modify)
    };
    assert!(!modifying(&proxy), "a deferred modify leaves the instance available");

    // RDS checks a deferred subnet group at once.
    let (status, body) = rds(&format!(
        "ModifyDBInstance&DBInstanceIdentifier={id}&DBSubnetGroupName={}",
        unique("missing")
    ));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("DBSubnetGroupNotFoundFault"), "{body}");

    // Immediate: the pending class comes along, the request's own storage wins.
    let (status, body) = rds(&format!(
        "ModifyDBInstance&DBInstanceIdentifier={id}&AllocatedStorage=40&ApplyImmediately=true"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        instance_field(&body, &["DBInstanceStatus"]).as_deref(),
        Some("modifying")
    );
    let (_, body) = rds(&describe);
    let field = |path: &[&str]| instance_field(&body, path);
    assert_eq!(field(&["DBInstanceStatus"]).as_deref(), Some("modifying"));
    assert_eq!(field(&["DBInstanceClass"]).as_deref(), Some("db.t3.small"));
    assert_eq!(field(&["AllocatedStorage"]).as_deref(), Some("40"));
    assert!(!body.contains("PendingModifiedValues"), "{body}");
    assert!(modifying(&proxy));

    // A delete forgets what was pending: an instance made again under the name has none.
    let other = unique("deferred");
    let (status, _) = rds(&create.replace(&id, &other));
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(50));
    let (status, body) = rds(&format!("ModifyDBInstance&DBInstanceIdentifier={other}&MultiAZ=true"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        instance_field(&body, &["PendingModifiedValues", "MultiAZ"]).as_deref(),
        Some("true")
    );
    for gone in [&id, &other] {
        let (status, body) = rds(&format!(
            "DeleteDBInstance&DBInstanceIdentifier={gone}&SkipFinalSnapshot=true"
        ));
        assert_eq!(status, 200, "{body}");
    }
    std::thread::sleep(Duration::from_millis(50));
    let (status, _) = rds(&create.replace(&id, &other));
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(50));
    let (_, body) = rds(&format!("DescribeDBInstances&DBInstanceIdentifier={other}"));
    assert_eq!(instance_field(&body, &["MultiAZ"]).as_deref(), Some("false"));
    assert!(!body.contains("PendingModifiedValues"), "{body}");
    let _ = rds(&format!(
        "DeleteDBInstance&DBInstanceIdentifier={other}&SkipFinalSnapshot=true"
    ));
}

#[test]
fn get_resources_lists_tagged_db_subnet_groups_through_moto() {
    // Only moto's repairs: what a test without aws.toml would put in front of moto.
    let proxy = crate::Proxy::start(moto(), Profile::moto_fixes(), 1.0, 4);
    let ec2 = |form: &str| call(&proxy.endpoint, "ec2", &format!("Action={form}&Version=2016-11-15"));
    let rds = |form: &str| call(&proxy.endpoint, "rds", &format!("Action={form}&Version=2014-10-31"));
    let (_, vpc) = ec2("CreateVpc&CidrBlock=10.77.0.0/16");
    let vpc = crate::notfound::tokens(&vpc, "vpc").into_iter().next().expect("a VPC");
    let (_, subnet) = ec2(&format!(
        "CreateSubnet&VpcId={vpc}&CidrBlock=10.77.1.0/24&AvailabilityZone=us-east-1a"
    ));
    let subnet = crate::notfound::tokens(&subnet, "subnet")
        .into_iter()
        .next()
        .expect("a subnet");
    let stack = unique("stack");
    let (tagged, plain, elsewhere) = (unique("tagged"), unique("plain"), unique("elsewhere"));
    for (name, tags) in [
        (
            &tagged,
            format!("&Tags.Tag.1.Key=stackup%3Astack&Tags.Tag.1.Value={stack}&Tags.Tag.2.Key=team&Tags.Tag.2.Value=a"),
        ),
        (&plain, String::new()),
        (
            &elsewhere,
            "&Tags.Tag.1.Key=stackup%3Astack&Tags.Tag.1.Value=other".to_string(),
        ),
    ] {
        let (status, body) = rds(&format!(
            "CreateDBSubnetGroup&DBSubnetGroupName={name}&DBSubnetGroupDescription=d&SubnetIds.SubnetIdentifier.1={subnet}{tags}"
        ));
        assert_eq!(status, 200, "{body}");
    }

    let get_resources = |endpoint: &str, request: serde_json::Value| {
        let (status, body) = post(
            endpoint,
            "tagging",
            &[
                ("x-amz-target", "ResourceGroupsTaggingAPI_20170126.GetResources"),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            &request.to_string(),
        );
        assert_eq!(status, 200, "{body}");
        let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        value["ResourceTagMappingList"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|m| {
                (
                    m["ResourceARN"].as_str().expect("an ARN").to_string(),
                    m["Tags"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let by_stack = serde_json::json!({
        "ResourceTypeFilters": ["rds:subgrp"],
        "TagFilters": [{"Key": "stackup:stack", "Values": [stack]}],
    });
    let found = get_resources(&proxy.endpoint, by_stack.clone());
    assert_eq!(found.len(), 1, "{found:?}");
    let (arn, tags) = &found[0];
    assert_eq!(*arn, format!("arn:aws:rds:us-east-1:123456789012:subgrp:{tagged}"));
    let tags = tags.as_array().expect("tags");
    assert!(tags.contains(&serde_json::json!({"Key": "stackup:stack", "Value": stack})));
    assert!(tags.contains(&serde_json::json!({"Key": "team", "Value": "a"})));
    assert!(
        get_resources(moto(), by_stack).is_empty(),
        "moto alone does not list subnet groups"
    );

    // The whole service, or every type, takes them too; another RDS type does not.
    let key_only = serde_json::json!([{"Key": "stackup:stack", "Values": [stack]}, {"Key": "team"}]);
    for types in [serde_json::json!(["rds"]), serde_json::json!([])] {
        let found = get_resources(
            &proxy.endpoint,
            serde_json::json!({"ResourceTypeFilters": types, "TagFilters": key_only}),
        );
        assert_eq!(found.len(), 1, "{found:?}");
    }
    let found = get_resources(
        &proxy.endpoint,
        serde_json::json!({"ResourceTypeFilters": ["rds:db"], "TagFilters": key_only}),
    );
    assert!(found.is_empty(), "{found:?}");
    // Without a tag filter: every tagged group, never an untagged one.
    let all: Vec<String> = get_resources(
        &proxy.endpoint,
        serde_json::json!({"ResourceTypeFilters": ["rds:subgrp"]}),
    )
    .into_iter()
    .map(|(arn, _)| arn)
    .collect();
    assert!(all.iter().any(|a| a.ends_with(&format!(":subgrp:{tagged}"))));
    assert!(all.iter().any(|a| a.ends_with(&format!(":subgrp:{elsewhere}"))));
    assert!(!all.iter().any(|a| a.ends_with(&format!(":subgrp:{plain}"))), "{all:?}");

    for name in [&tagged, &plain, &elsewhere] {
        let _ = rds(&format!("DeleteDBSubnetGroup&DBSubnetGroupName={name}"));
    }
}

/// End to end through a running proxy, when `STACKUP_PROXY_E2E` names a moto endpoint
/// and `STACKUP_PROXY_E2E_SCRIPT` a program to run with the proxy's endpoint as its
/// argument (a boto3 script, say). Skipped otherwise: unit tests need no server.
#[test]
fn end_to_end_when_asked() {
    let (Ok(moto), Ok(script)) = (
        std::env::var("STACKUP_PROXY_E2E"),
        std::env::var("STACKUP_PROXY_E2E_SCRIPT"),
    ) else {
        return;
    };
    let proxy = crate::Proxy::start(&moto, aws(), 1.0 / 60.0, 1);
    let status = std::process::Command::new(&script)
        .arg(&proxy.endpoint)
        .status()
        .expect("the script runs");
    eprintln!("injected: {:?}", proxy.injected());
    for l in proxy.lifecycles() {
        eprintln!("{} {} {} {:?} {:?}", l.service, l.kind, l.id, l.phase, l.duration);
    }
    assert!(status.success());
}
