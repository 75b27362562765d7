//! Lookups (data sources) through the engine, in-process, against moto: the default
//! VPC, a subnet and a security group found through another lookup's result, the
//! region's zones, an AMI from an SSM parameter; shown in the plan, used by a resource,
//! never recorded, created or deleted; and the plan-time errors of a lookup that finds
//! nothing, finds too much, or uses a resource of the stack.

use std::collections::BTreeMap;
use std::sync::Arc;

use stackup_aws::ec2::SecurityGroupArgs;
use stackup_aws::lookups::{ParameterLookup, SecurityGroupLookup, SubnetLookup, VpcLookup, ZonesLookup};
use stackup_engine::{Actor, Cancel, DestroyOptions, EngineError, Quiet, RunOptions, Stack, UpOptions};
use stackup_model::{Program, StackBuilder, Value};
use stackup_state::SledStore;

use crate::support::{block_on, Moto};

const AL2023: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

fn open(dir: &std::path::Path, stack: &str, program: Program, endpoint: &str) -> Result<Stack, EngineError> {
    let store = Arc::new(SledStore::open(dir, stack, "test").expect("store"));
    Stack::open(stack, program, store, stackup_testkit::aws_registry(endpoint))
}

fn run() -> RunOptions {
    RunOptions {
        parallel: 4,
        actor: Actor {
            user: "tests".into(),
            host: stackup_state::hostname(),
        },
    }
}

/// A group in the default VPC, found through lookups that use each other, and a subnet
/// found by its id.
fn in_default_vpc(stack: &str, subnet_id: &str) -> Program {
    let mut b = StackBuilder::new(stack, Default::default());
    let vpc = b.lookup(
        "default-vpc",
        VpcLookup {
            default: true,
            ..VpcLookup::default()
        },
    );
    let zones = b.lookup("zones", ZonesLookup {});
    b.lookup(
        "first-subnet",
        SubnetLookup {
            vpc_id: Some(vpc.id()),
            availability_zone: Some(zones.output("names[0]")),
            ..SubnetLookup::default()
        },
    );
    b.lookup(
        "default-sg",
        SecurityGroupLookup {
            name: Some("default".into()),
            vpc_id: Some(vpc.id()),
            ..SecurityGroupLookup::default()
        },
    );
    b.lookup("ami", ParameterLookup { name: AL2023.into() });
    b.lookup(
        "by-id",
        SubnetLookup {
            id: Some(subnet_id.to_string()),
            ..SubnetLookup::default()
        },
    );
    b.declare(
        "app-sg",
        SecurityGroupArgs {
            name: format!("{stack}-app"),
            description: "placed by a lookup".into(),
            vpc_id: vpc.id(),
            tags: BTreeMap::new(),
        },
    );
    b.finish()
}

#[test]
fn lookups_are_read_while_planning_shown_used_and_never_recorded_or_deleted() {
    let moto = Moto::shared();
    let ec2 = moto.ec2();
    let filter = |name: &str, value: &str| aws_sdk_ec2::types::Filter::builder().name(name).values(value).build();
    let (default_vpc, subnet_id) = block_on(async {
        let vpcs = ec2
            .describe_vpcs()
            .filters(filter("is-default", "true"))
            .send()
            .await
            .expect("vpcs");
        let vpc = vpcs.vpcs()[0].vpc_id().expect("id").to_string();
        let subnets = ec2
            .describe_subnets()
            .filters(filter("vpc-id", &vpc))
            .send()
            .await
            .expect("subnets");
        let subnet = subnets.subnets()[0].subnet_id().expect("id").to_string();
        (vpc, subnet)
    });
    let dir = tempfile::tempdir().expect("dir");
    let stack = open(dir.path(), "look", in_default_vpc("look", &subnet_id), &moto.endpoint).expect("valid");
    block_on(async {
        let preview = stackup_engine::preview(&stack, true).await.expect("preview");
        let read = |name: &str| {
            preview
                .plan
                .reads
                .iter()
                .find(|r| r.urn.name() == name)
                .map(|r| r.outputs.clone())
                .unwrap_or_else(|| panic!("{name} read: {:?}", preview.plan.reads))
        };
        assert_eq!(preview.plan.reads.len(), 6);
        assert_eq!(*read("by-id").get("id").expect("id"), Value::String(subnet_id.clone()));
        assert_eq!(
            *read("default-vpc").get("id").expect("id"),
            Value::String(default_vpc.clone())
        );
        let subnet = read("first-subnet");
        assert_eq!(
            *subnet.get("vpc_id").expect("vpc_id"),
            Value::String(default_vpc.clone())
        );
        assert_eq!(
            *subnet.get("availability_zone").expect("availability_zone"),
            Value::String("us-east-1a".into())
        );
        assert_eq!(
            *read("default-sg").get("name").expect("name"),
            Value::String("default".into())
        );
        assert_eq!(
            read("zones")
                .get("names")
                .expect("names")
                .as_list()
                .map(|l| l[0].clone()),
            Some(Value::String("us-east-1a".into()))
        );
        let ami = read("ami");
        assert!(
            ami.get("value")
                .expect("value")
                .as_str()
                .is_some_and(|v| v.starts_with("ami-")),
            "{ami:?}"
        );
        // The resource's input is the value the lookup found, known at plan time.
        let create = &preview.plan.steps[0];
        let vpc_input = create
            .changes
            .list()
            .iter()
            .find(|c| c.key == "vpc_id")
            .and_then(|c| c.new.clone());
        assert_eq!(vpc_input, Some(Value::String(default_vpc.clone())));
        let json = stackup_engine::plan_json(&preview.plan, &preview.drift);
        assert_eq!(json["reads"].as_array().map(Vec::len), Some(6), "{json}");

        let up = UpOptions {
            run: run(),
            targets: Vec::new(),
            refresh: true,
        };
        let report = stackup_engine::up(&stack, &up, &Quiet, &Cancel::new())
            .await
            .expect("up");
        assert!(report.is_success(), "{:?}", report.applied);
    });
    let records = stack.records().expect("records");
    assert_eq!(records.len(), 1, "only the group is recorded: {records:?}");
    let group = records[0].id.clone();
    block_on(async {
        let groups = ec2
            .describe_security_groups()
            .group_ids(&group)
            .send()
            .await
            .expect("group");
        assert_eq!(groups.security_groups()[0].vpc_id(), Some(default_vpc.as_str()));
    });
    // A second plan is clean; destroy deletes the group and leaves the default VPC.
    drop(stack);
    let stack = open(dir.path(), "look", in_default_vpc("look", &subnet_id), &moto.endpoint).expect("valid");
    block_on(async {
        let preview = stackup_engine::preview(&stack, true).await.expect("preview");
        assert!(
            !preview.found_anything(),
            "{:?}",
            preview.plan.changed_steps().collect::<Vec<_>>()
        );
        let opts = DestroyOptions {
            run: run(),
            targets: Vec::new(),
            excludes: Vec::new(),
            refresh: true,
            delete_overrides: Vec::new(),
        };
        let report = stackup_engine::destroy(&stack, &opts, &Quiet, &Cancel::new())
            .await
            .expect("destroy");
        assert!(report.is_success());
        let vpcs = ec2.describe_vpcs().vpc_ids(&default_vpc).send().await.expect("vpc");
        assert_eq!(vpcs.vpcs().len(), 1, "the default VPC is never touched");
    });
}

#[test]
fn a_lookup_that_finds_nothing_or_too_much_fails_the_plan_naming_it() {
    let moto = Moto::shared();
    let dir = tempfile::tempdir().expect("dir");
    let mut b = StackBuilder::new("miss", Default::default());
    let vpc = b.lookup(
        "shared-vpc",
        VpcLookup {
            tags: BTreeMap::from([("Name".to_string(), "no-such-vpc".to_string())]),
            ..VpcLookup::default()
        },
    );
    b.lookup(
        "missing-parameter",
        ParameterLookup {
            name: "/stackup/none".into(),
        },
    );
    b.declare(
        "sg",
        SecurityGroupArgs {
            name: "miss".into(),
            description: "never created".into(),
            vpc_id: vpc.id(),
            tags: BTreeMap::new(),
        },
    );
    let stack = open(dir.path(), "miss", b.finish(), &moto.endpoint).expect("valid before any call");
    let err = block_on(stackup_engine::preview(&stack, true)).expect_err("nothing found");
    let text = err.to_string();
    assert!(matches!(err, EngineError::Lookup(_)), "{err:?}");
    assert!(
        text.contains("lookup miss::aws:ec2:getVpc::shared-vpc found nothing matching") && text.contains("no-such-vpc"),
        "{text}"
    );
    assert!(
        text.contains("miss::aws:ssm:getParameter::missing-parameter found nothing"),
        "{text}"
    );
    assert!(stack.records().expect("records").is_empty());

    // A subnet query that matches every subnet of the default VPC is too broad.
    let mut b = StackBuilder::new("broad", Default::default());
    let vpc = b.lookup(
        "vpc",
        VpcLookup {
            default: true,
            ..VpcLookup::default()
        },
    );
    b.lookup(
        "any-subnet",
        SubnetLookup {
            vpc_id: Some(vpc.id()),
            ..SubnetLookup::default()
        },
    );
    let stack = open(dir.path(), "broad", b.finish(), &moto.endpoint).expect("valid");
    let text = block_on(stackup_engine::preview(&stack, true))
        .expect_err("ambiguous")
        .to_string();
    assert!(
        text.contains("broad::aws:ec2:getSubnet::any-subnet") && text.contains("subnets match"),
        "{text}"
    );
}

#[test]
fn a_lookup_that_uses_a_resource_or_says_nothing_is_refused_before_any_call() {
    let mut b = StackBuilder::new("bad", Default::default());
    let group = b.declare(
        "sg",
        SecurityGroupArgs {
            name: "bad".into(),
            description: "d".into(),
            vpc_id: "vpc-1".to_string().into(),
            tags: BTreeMap::new(),
        },
    );
    b.lookup(
        "by-group",
        SecurityGroupLookup {
            id: None,
            name: None,
            vpc_id: Some(group.output("vpc_id")),
            tags: BTreeMap::new(),
        },
    );
    let dir = tempfile::tempdir().expect("dir");
    // An endpoint nothing listens on: validation must not call it.
    let err = open(dir.path(), "bad", b.finish(), "http://127.0.0.1:9")
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("bad::aws:ec2:getSecurityGroup::by-group: input 'vpc_id': uses bad::aws:ec2:SecurityGroup::sg, which is not a lookup"),
        "{text}"
    );
    assert!(text.contains("input '(query)': say which security group"), "{text}");
}
