//! Unit tests of the reshaping profile (lifecycles, causal rules, composition) against
//! response samples captured from moto 5.2.1 (`testdata/`), without a server.

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
    assert!(err("moto_workarounds = [\"nope\"]\n").starts_with("p.toml: moto_workarounds[0]: unknown workaround"));
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
