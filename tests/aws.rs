//! Real AWS, not moto: each failure mode that moto hides, reproduced through the
//! proxy's `profiles/aws.toml` (objects move through their states on reads; calls are
//! refused with AWS's real error for a while after, or until, another call), and the
//! provider shown to handle it. Provider-level tests call the providers as the engine
//! does (check, then create / update / delete) with clients pointed at the proxy; the
//! platform tests run the `stackup` binary.
//!
//! Durations are the profile's real AWS figures times a time scale chosen per test, so
//! that each window is long enough to be met and short enough for a test.

use std::collections::BTreeMap;
use std::path::Path;

use stackup_aws::autoscaling::AutoScalingGroupArgs;
use stackup_aws::ec2::{InstanceArgs, RouteTableAssociationArgs, SecurityGroupArgs, SubnetArgs};
use stackup_aws::elbv2::LoadBalancerArgs;
use stackup_aws::iam::{InstanceProfileArgs, RoleArgs};
use stackup_aws::rds::DbInstanceArgs;
use stackup_aws::s3::BucketArgs;
use stackup_model::{Properties, ResourceArgs, TypeToken, Urn, Value};
use stackup_provider::{
    CheckRequest, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, LiveResource, ProviderError, ReadRequest,
    ReadTarget, Registry, UpdateRequest,
};
use stackup_proxy::{Profile, Proxy};

use crate::support::{assert_exact, block_on, dev_stack, objects_per_urn, Moto, Project};

fn profile(name: &str) -> Profile {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Profile::load(&root.join(format!("profiles/{name}.toml"))).unwrap_or_else(|e| panic!("{e}"))
}

/// `aws.toml` with the causal rules whose window is `for_ms = <range>` lasting a minute of
/// AWS time instead: long enough, at a test's time scale, for the next call to meet it
/// however loaded the machine is.
fn aws_with_window(range: &str, what: &str) -> Profile {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("profiles/aws.toml")).expect("profiles/aws.toml");
    let pattern = format!("for_ms = {range}");
    assert!(text.contains(&pattern), "aws.toml has a rule with {pattern}");
    let text = text.replace(&pattern, "for_ms = [60000, 60000]");
    Profile::parse(&format!("aws ({what} of a minute)"), &text).expect("profile")
}

/// Providers called as the engine calls them, through a proxy running `aws.toml`.
struct AwsWorld {
    proxy: Proxy,
    registry: Registry,
    stack: String,
}

impl AwsWorld {
    fn new(stack: &str, time_scale: f64, seed: u64) -> AwsWorld {
        AwsWorld::with_profile(stack, profile("aws"), time_scale, seed)
    }

    fn with_profile(stack: &str, profile: Profile, time_scale: f64, seed: u64) -> AwsWorld {
        let moto = Moto::shared();
        let proxy = Proxy::start(&moto.endpoint, profile, time_scale, seed);
        AwsWorld {
            registry: stackup_testkit::aws_registry(&proxy.endpoint),
            proxy,
            stack: stack.to_string(),
        }
    }

    fn urn<A: ResourceArgs>(&self, name: &str) -> Urn {
        Urn::new(&self.stack, &TypeToken::from_static(A::TYPE), name)
    }

    fn provider(&self, ty: &'static str) -> std::sync::Arc<dyn stackup_provider::Provider> {
        self.registry
            .get(&TypeToken::from_static(ty))
            .unwrap_or_else(|| panic!("no provider for {ty}"))
            .clone()
    }

    /// The inputs as the planner would hand them over: checked and normalised.
    fn inputs<A: ResourceArgs>(&self, name: &str, args: A) -> Properties {
        let checked = self.provider(A::TYPE).check(CheckRequest {
            urn: &self.urn::<A>(name),
            inputs: args.into_properties(),
        });
        assert!(checked.failures.is_empty(), "{name}: {:?}", checked.failures);
        checked.inputs
    }

    fn create<A: ResourceArgs>(&self, name: &str, args: A) -> Result<(CreateResponse, Properties), ProviderError> {
        let inputs = self.inputs(name, args);
        let created = block_on(self.provider(A::TYPE).create(CreateRequest {
            urn: self.urn::<A>(name),
            stack: self.stack.clone(),
            inputs: inputs.clone(),
            token: uuid_like(name),
        }))?;
        Ok((created, inputs))
    }

    fn delete<A: ResourceArgs>(&self, name: &str, id: &str, inputs: &Properties) -> Result<(), ProviderError> {
        block_on(self.provider(A::TYPE).delete(DeleteRequest {
            urn: self.urn::<A>(name),
            id: id.to_string(),
            inputs: inputs.clone(),
            outputs: Properties::new(),
            replacing: false,
        }))
    }

    fn injected(&self, rule: &str) -> usize {
        self.proxy.injected().get(rule).copied().unwrap_or(0)
    }

    /// Asserts that AWS's `rule` refused `action` (`service:Action`) at first and that
    /// each refusal cost one more call, none else; returns the refusals.
    #[track_caller]
    fn refused_then_taken(&self, rule: &str, action: &str) -> usize {
        let refused = self.injected(rule);
        assert!(
            refused >= 1,
            "{rule} refused {action} at first: {:?}",
            self.proxy.injected()
        );
        let counts = self.proxy.counts();
        assert_eq!(
            counts.get(action).copied().unwrap_or(0),
            1 + refused,
            "{action}: one call per refusal, plus the one taken: {counts:?}"
        );
        refused
    }

    /// Reads the resource `name` (object `id`) back as refresh does, `inputs` and
    /// `outputs` as recorded.
    #[track_caller]
    fn read<A: ResourceArgs>(&self, name: &str, id: &str, inputs: &Properties, outputs: &Properties) -> LiveResource {
        self.found::<A>(name, id, inputs, outputs)
            .pop()
            .unwrap_or_else(|| panic!("{name} is found"))
    }

    /// What a read of the resource `name` finds: nothing once it is gone.
    #[track_caller]
    fn found<A: ResourceArgs>(
        &self,
        name: &str,
        id: &str,
        inputs: &Properties,
        outputs: &Properties,
    ) -> Vec<LiveResource> {
        block_on(self.provider(A::TYPE).read(ReadRequest {
            targets: vec![ReadTarget {
                urn: self.urn::<A>(name),
                id: id.to_string(),
                inputs: inputs.clone(),
                outputs: outputs.clone(),
            }],
        }))
        .expect("read")
        .found
    }
}

/// A token of the creation, unique enough per test.
fn uuid_like(name: &str) -> String {
    format!(
        "{:08x}-{name}",
        std::process::id() ^ (name.len() as u32).wrapping_mul(2654435761)
    )
}

fn tags(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("Name".to_string(), name.to_string())])
}

/// A VPC with an attached internet gateway and two subnets, made straight on moto (the
/// proxy does not see them, so no rule is about them).
fn network(moto: &Moto, cidr16: &str) -> (String, Vec<String>) {
    let ec2 = moto.ec2();
    block_on(async {
        let vpc = ec2
            .create_vpc()
            .cidr_block(format!("{cidr16}.0.0/16"))
            .send()
            .await
            .expect("vpc")
            .vpc()
            .and_then(|v| v.vpc_id().map(str::to_string))
            .expect("vpc id");
        let mut subnets = Vec::new();
        for (i, zone) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .availability_zone(*zone)
                .cidr_block(format!("{cidr16}.{i}.0/24"))
                .send()
                .await
                .expect("subnet")
                .subnet()
                .and_then(|s| s.subnet_id().map(str::to_string))
                .expect("subnet id");
            subnets.push(subnet);
        }
        (vpc, subnets)
    })
}

/// IAM propagation: an instance profile created a moment ago is refused by Auto
/// Scaling (`ValidationError` "Invalid IAM Instance Profile") until it propagates. The
/// group's create waits it out, then waits for its instances to be in service and
/// healthy in the target group (`initial` until their health checks pass) before it
/// calls the group created.
#[test]
fn an_auto_scaling_group_waits_out_iam_propagation_and_unhealthy_targets() {
    let moto = Moto::shared();
    // aws.toml's propagation (5 to 15 s) is 0.5 to 1.5 s at this scale; here it lasts a
    // minute of AWS time (6 s), so the group's create meets it however loaded the
    // machine is.
    let slow_iam = aws_with_window("[5000, 15000]", "IAM propagation");
    let w = AwsWorld::with_profile("aws-asg", slow_iam, 1.0 / 10.0, 11);
    let (vpc, subnets) = network(moto, "10.91");
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk_config());
    let target_group = block_on(async {
        elbv2
            .create_target_group()
            .name("aws-asg-tg")
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .send()
            .await
            .expect("target group")
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn().map(str::to_string))
            .expect("target group arn")
    });

    let (role, _) = w
        .create(
            "role",
            RoleArgs {
                name: "aws-asg-web".into(),
                assume_role_service: "ec2.amazonaws.com".into(),
                tags: tags("role"),
            },
        )
        .expect("role");
    let role_name = role
        .outputs
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("aws-asg-web");
    let (profile, _) = w
        .create(
            "profile",
            InstanceProfileArgs {
                name: "aws-asg-web".into(),
                role_name: role_name.to_string().into(),
                tags: tags("profile"),
            },
        )
        .expect("instance profile");
    let profile_arn = profile
        .outputs
        .get("arn")
        .and_then(Value::as_str)
        .expect("profile arn")
        .to_string();
    let (template, _) = w
        .create(
            "template",
            stackup_aws::ec2::LaunchTemplateArgs {
                name: "aws-asg-web".into(),
                image_id: "ami-12c6146b".into(),
                instance_type: "t3.micro".into(),
                user_data: "#!/bin/bash\n".into(),
                user_data_vars: BTreeMap::new(),
                iam_instance_profile_arn: profile_arn.into(),
                security_group_ids: Vec::new(),
                detailed_monitoring: false,
                key_name: None,
                instance_tags: tags("web"),
                tags: tags("template"),
            },
        )
        .expect("launch template");
    let version = template
        .outputs
        .get("latest_version")
        .map(|v| match v {
            Value::Int(i) => i.to_string(),
            other => other.as_str().unwrap_or("1").to_string(),
        })
        .unwrap_or_else(|| "1".into());
    let (group, _) = w
        .create(
            "web",
            AutoScalingGroupArgs {
                name: "aws-asg-web".into(),
                min_size: 1,
                max_size: 2,
                subnet_ids: subnets.iter().map(|s| s.clone().into()).collect(),
                launch_template_id: template.id.clone().into(),
                launch_template_version: version.into(),
                target_group_arns: vec![target_group.clone().into()],
                health_check_type: "ELB".into(),
                health_check_grace_period: 0,
                tags: tags("web"),
                wait_for_elb_capacity: 1,
            },
        )
        .expect("the group is created once the profile has propagated and its target is healthy");
    assert_eq!(group.id, "aws-asg-web");
    w.refused_then_taken("iam-propagation", "autoscaling:CreateAutoScalingGroup");
    let counts = w.proxy.counts();
    assert!(
        counts
            .get("elasticloadbalancing:DescribeTargetHealth")
            .copied()
            .unwrap_or(0)
            >= 2,
        "the create polled target health through `initial`: {counts:?}"
    );
    // Exactly one group of that name exists on the server.
    let autoscaling = aws_sdk_autoscaling::Client::new(&moto.sdk_config());
    let listed = block_on(async {
        autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("aws-asg-web")
            .send()
            .await
            .expect("describe groups")
            .auto_scaling_groups()
            .len()
    });
    assert_eq!(listed, 1);
    block_on(async {
        let _ = autoscaling
            .delete_auto_scaling_group()
            .auto_scaling_group_name("aws-asg-web")
            .force_delete(true)
            .send()
            .await;
    });
}

/// IAM propagation for a single instance: RunInstances naming an instance profile
/// created a moment ago is refused (`InvalidParameterValue` "Invalid IAM Instance
/// Profile name") until it propagates; the launch waits it out and launches one
/// instance. Giving the instance another fresh profile is a change in place
/// (ReplaceIamInstanceProfileAssociation, refused the same way for a while), never a
/// new instance.
#[test]
fn an_instance_waits_out_iam_propagation_and_changes_its_profile_in_place() {
    let moto = Moto::shared();
    let slow_iam = aws_with_window("[5000, 15000]", "IAM propagation");
    let w = AwsWorld::with_profile("aws-inst", slow_iam, 1.0 / 10.0, 17);
    let (vpc, subnets) = network(moto, "10.97");
    let group = block_on(async {
        moto.ec2()
            .create_security_group()
            .group_name("aws-inst-sg")
            .description("bastion")
            .vpc_id(&vpc)
            .send()
            .await
            .expect("security group")
            .group_id()
            .map(str::to_string)
            .expect("group id")
    });
    let (role, _) = w
        .create(
            "role",
            RoleArgs {
                name: "aws-inst-role".into(),
                assume_role_service: "ec2.amazonaws.com".into(),
                tags: tags("role"),
            },
        )
        .expect("role");
    let profile = |name: &str| {
        w.create(
            name,
            InstanceProfileArgs {
                name: name.into(),
                role_name: role.id.clone().into(),
                tags: tags(name),
            },
        )
        .unwrap_or_else(|e| panic!("instance profile {name}: {e}"))
    };
    profile("aws-inst-a");
    let args = |profile: &str| InstanceArgs {
        image_id: "ami-12c6146b".into(),
        instance_type: "t3.micro".into(),
        subnet_id: subnets[0].clone().into(),
        security_group_ids: vec![group.clone().into()],
        key_name: None,
        iam_instance_profile: Some(profile.to_string().into()),
        detailed_monitoring: false,
        user_data: String::new(),
        tags: tags("bastion"),
    };
    let (instance, old_inputs) = w
        .create("bastion", args("aws-inst-a"))
        .expect("the instance launches once its profile has propagated");
    let refused = w.refused_then_taken("iam-propagation", "ec2:RunInstances");
    let provider = w.provider(InstanceArgs::TYPE);
    let read = |inputs: &Properties| w.read::<InstanceArgs>("bastion", &instance.id, inputs, &instance.outputs);
    assert_eq!(
        read(&old_inputs).inputs.get("iam_instance_profile"),
        Some(&Value::from("aws-inst-a")),
        "the profile reads back by name"
    );

    profile("aws-inst-b");
    let new_inputs = w.inputs("bastion", args("aws-inst-b"));
    let diff = provider.diff(stackup_provider::DiffRequest {
        urn: &w.urn::<InstanceArgs>("bastion"),
        old_inputs: &old_inputs,
        new_inputs: &new_inputs,
    });
    assert_eq!(diff.changed, vec!["iam_instance_profile".to_string()]);
    assert!(diff.replace.is_empty(), "a new profile is a change in place: {diff:?}");
    block_on(provider.update(UpdateRequest {
        urn: w.urn::<InstanceArgs>("bastion"),
        stack: w.stack.clone(),
        id: instance.id.clone(),
        old_inputs,
        new_inputs: new_inputs.clone(),
        old_outputs: instance.outputs.clone(),
        changed: diff.changed,
    }))
    .expect("the profile is replaced once it has propagated");
    assert!(
        w.injected("iam-propagation") > refused,
        "the new profile was refused at first: {:?}",
        w.proxy.injected()
    );
    let counts = w.proxy.counts();
    assert_eq!(
        counts.get("ec2:RunInstances").copied().unwrap_or(0),
        1 + refused,
        "{counts:?}"
    );
    assert_eq!(
        counts.get("ec2:DisassociateIamInstanceProfile"),
        None,
        "never without a profile: {counts:?}"
    );
    assert_eq!(
        read(&new_inputs).inputs.get("iam_instance_profile"),
        Some(&Value::from("aws-inst-b"))
    );
    w.delete::<InstanceArgs>("bastion", &instance.id, &new_inputs)
        .expect("terminated");
}

/// A new group's default egress rule is not visible for a moment
/// (`InvalidPermission.NotFound` on the revoke): the revoke is repeated until
/// DescribeSecurityGroupRules shows the rule gone, never assumed done.
#[test]
fn a_security_groups_default_egress_is_revoked_and_verified() {
    let moto = Moto::shared();
    let w = AwsWorld::new("aws-sg", 1.0, 12);
    let (vpc, _) = network(moto, "10.92");
    let (group, _) = w
        .create(
            "web-sg",
            SecurityGroupArgs {
                name: "aws-sg-web".into(),
                description: "web".into(),
                vpc_id: vpc.into(),
                tags: tags("web-sg"),
            },
        )
        .expect("security group");
    assert!(w.injected("sg-egress") >= 1, "{:?}", w.proxy.injected());
    let rules = block_on(async {
        moto.ec2()
            .describe_security_group_rules()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-id")
                    .values(&group.id)
                    .build(),
            )
            .send()
            .await
            .expect("rules")
            .security_group_rules()
            .iter()
            .filter(|r| r.is_egress() == Some(true))
            .count()
    });
    assert_eq!(rules, 0, "no egress rule is left on {}", group.id);
}

/// S3 refuses a bucket name deleted moments ago with `OperationAborted` (409): the
/// create waits until the name is free again instead of failing the run.
#[test]
fn a_bucket_name_deleted_moments_ago_is_created_once_s3_releases_it() {
    let w = AwsWorld::new("aws-s3", 1.0 / 20.0, 13);
    let name = format!("stackup-aws-reuse-{}", std::process::id());
    let args = || BucketArgs {
        name: name.clone(),
        versioning: true,
        encryption: "AES256".into(),
        block_public_access: true,
        website: None,
        force_destroy: true,
        tags: tags("assets"),
    };
    let (first, inputs) = w.create("assets", args()).expect("first bucket");
    w.delete::<BucketArgs>("assets", &first.id, &inputs).expect("delete");
    let (second, inputs) = w.create("assets", args()).expect("the same name again");
    assert_eq!(second.id, first.id);
    assert!(w.injected("s3-name-reuse") >= 1, "{:?}", w.proxy.injected());
    w.delete::<BucketArgs>("assets", &second.id, &inputs).expect("clean up");
}

fn db_args(identifier: &str, version: &str, subnet_group: &str, class: &str) -> DbInstanceArgs {
    DbInstanceArgs {
        identifier: identifier.into(),
        engine: "postgres".into(),
        engine_version: version.into(),
        instance_class: class.into(),
        allocated_storage_gb: 20,
        storage_encrypted: true,
        db_subnet_group_name: subnet_group.to_string().into(),
        vpc_security_group_ids: Vec::new(),
        multi_az: false,
        publicly_accessible: false,
        backup_retention_days: 7,
        backup_window: "03:00-04:00".into(),
        maintenance_window: "sun:05:00-sun:06:00".into(),
        deletion_protection: false,
        skip_final_snapshot: true,
        final_snapshot_prefix: String::new(),
        master_username: "shop".into(),
        apply_immediately: true,
        allow_replacement: false,
        tags: tags(identifier),
    }
}

/// RDS: a major version resolves to the newest minor RDS offers (and reads back as
/// declared, whatever minor runs); a deprecated minor is refused naming the ones
/// offered; creation is ready only when `available` holds; a modification sent while
/// the instance is still `modifying` is refused (`InvalidDBInstanceState`) and sent
/// again once it is available.
#[test]
fn rds_resolves_versions_from_the_catalog_and_waits_for_available_before_modifying() {
    let moto = Moto::shared();
    let w = AwsWorld::new("aws-rds", 1.0 / 60.0, 14);
    let (_, subnets) = network(moto, "10.93");
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config());
    block_on(async {
        rds.create_db_subnet_group()
            .db_subnet_group_name("aws-rds-subnets")
            .db_subnet_group_description("test")
            .set_subnet_ids(Some(subnets.clone()))
            .send()
            .await
            .expect("subnet group");
    });

    let refused = w
        .create("old", db_args("aws-rds-old", "16.2", "aws-rds-subnets", "db.t3.micro"))
        .expect_err("a deprecated minor version is refused");
    assert_eq!(refused.kind, ErrorKind::Invalid, "{refused}");
    assert!(
        refused.message.contains("16.2") && refused.message.contains("16.8"),
        "names what RDS offers: {refused}"
    );

    let (db, inputs) = w
        .create("db", db_args("aws-rds-db", "16", "aws-rds-subnets", "db.t3.micro"))
        .expect("created at the newest 16.x");
    assert_eq!(
        db.outputs.get("engine_version_actual").and_then(Value::as_str),
        Some("16.8"),
        "{:?}",
        db.outputs
    );
    let lifecycles = w.proxy.lifecycles();
    assert!(
        lifecycles.iter().any(|l| l.id == "aws-rds-db"),
        "the instance went through `creating` and `backing-up`: {lifecycles:?}"
    );
    let provider = w.provider(stackup_aws::rds::DbInstanceArgs::TYPE);
    let read = |inputs: &Properties| w.read::<DbInstanceArgs>("db", &db.id, inputs, &db.outputs);
    let live = read(&inputs);
    assert_eq!(
        live.inputs.get("engine_version").and_then(Value::as_str),
        Some("16"),
        "16.8 satisfies the declared 16: no drift"
    );
    // A stack that pinned a minor and now declares the major plans nothing.
    let mut pinned = inputs.clone();
    pinned.insert("engine_version".into(), Value::String("16.8".into()));
    let diff = provider.diff(stackup_provider::DiffRequest {
        urn: &w.urn::<DbInstanceArgs>("db"),
        old_inputs: &pinned,
        new_inputs: &inputs,
    });
    assert!(diff.changed.is_empty(), "{diff:?}");

    // Two modifications in a row: the second meets the instance `modifying`.
    let update = |old: &Properties, new: Properties, changed: &[&str]| {
        block_on(provider.update(UpdateRequest {
            urn: w.urn::<DbInstanceArgs>("db"),
            stack: w.stack.clone(),
            id: db.id.clone(),
            old_inputs: old.clone(),
            new_inputs: new,
            old_outputs: db.outputs.clone(),
            changed: changed.iter().map(|s| s.to_string()).collect(),
        }))
    };
    let bigger = w.inputs("db", db_args("aws-rds-db", "16", "aws-rds-subnets", "db.t3.small"));
    // Another tool modifies the instance first: it is `modifying` for a while.
    let proxied_rds = aws_sdk_rds::Client::new(&stackup_testkit::sdk_config(&w.proxy.endpoint));
    block_on(async {
        proxied_rds
            .modify_db_instance()
            .db_instance_identifier(&db.id)
            .backup_retention_period(7)
            .apply_immediately(true)
            .send()
            .await
            .expect("a modification the proxy sees: the instance is now modifying");
    });
    update(&inputs, bigger.clone(), &["instance_class"]).expect("modified once available");
    let live = read(&bigger);
    assert_eq!(
        live.inputs.get("instance_class").and_then(Value::as_str),
        Some("db.t3.small")
    );
    // Sent only once the instance was available again: never refused as busy.
    assert_eq!(w.injected("rds-state"), 0, "{:?}", w.proxy.injected());
    assert!(
        w.proxy
            .lifecycles()
            .iter()
            .any(|l| l.id == "aws-rds-db" && l.phase == stackup_proxy::Phase::Modify),
        "the instance was modifying when the update came: {:?}",
        w.proxy.lifecycles()
    );

    w.delete::<DbInstanceArgs>("db", &db.id, &bigger)
        .expect("deleted, waiting through `deleting`");
    let gone = block_on(async {
        rds.describe_db_instances()
            .db_instance_identifier(&db.id)
            .send()
            .await
            .is_err()
    });
    assert!(gone, "the instance is gone");
}

/// `aws.toml` with RDS instances that take 3 s of AWS time to create, modify and delete,
/// plus `extra` rules.
fn aws_with_quick_rds(what: &str, extra: &str) -> Profile {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("profiles/aws.toml")).expect("profiles/aws.toml");
    for window in [
        "create_ms = [300000, 600000]",
        "modify_ms = [60000, 300000]",
        "delete_ms = [180000, 360000]",
    ] {
        assert!(text.contains(window), "aws.toml has the RDS {window}");
        let quick = format!("{}= [3000, 3000]", &window[..window.find('=').expect("key")]);
        text = text.replace(window, &quick);
    }
    text.push_str(extra);
    Profile::parse(&format!("aws ({what})"), &text).expect("profile")
}

/// A change RDS applies in the maintenance window (`apply_immediately = false`, prod's
/// setting) leaves the instance `available` with the value under PendingModifiedValues:
/// the update returns without waiting for a window hours away, the pending value reads
/// back as the declared one (no drift on every `diff`), and the next immediate change
/// applies it along.
#[test]
fn a_deferred_database_change_reads_back_as_pending_not_as_drift() {
    let moto = Moto::shared();
    let w = AwsWorld::with_profile("aws-rdsdefer", aws_with_quick_rds("deferred", ""), 1.0 / 10.0, 19);
    let (_, subnets) = network(moto, "10.99");
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config());
    block_on(async {
        rds.create_db_subnet_group()
            .db_subnet_group_name("aws-rdsdefer-subnets")
            .db_subnet_group_description("test")
            .set_subnet_ids(Some(subnets.clone()))
            .send()
            .await
            .expect("subnet group");
    });
    let args = |class: &str, immediately: bool, retention: i64| DbInstanceArgs {
        apply_immediately: immediately,
        backup_retention_days: retention,
        ..db_args("aws-rdsdefer-db", "16", "aws-rdsdefer-subnets", class)
    };
    let (db, inputs) = w.create("db", args("db.t3.micro", false, 7)).expect("created");
    let provider = w.provider(DbInstanceArgs::TYPE);
    let live_class = || {
        block_on(async {
            rds.describe_db_instances()
                .db_instance_identifier(&db.id)
                .send()
                .await
                .expect("described")
                .db_instances()
                .first()
                .and_then(|d| d.db_instance_class().map(str::to_string))
        })
    };
    let update = |old: &Properties, new: &Properties| {
        let diff = provider.diff(stackup_provider::DiffRequest {
            urn: &w.urn::<DbInstanceArgs>("db"),
            old_inputs: old,
            new_inputs: new,
        });
        block_on(provider.update(UpdateRequest {
            urn: w.urn::<DbInstanceArgs>("db"),
            stack: w.stack.clone(),
            id: db.id.clone(),
            old_inputs: old.clone(),
            new_inputs: new.clone(),
            old_outputs: db.outputs.clone(),
            changed: diff.changed,
        }))
    };

    let bigger = w.inputs("db", args("db.t3.small", false, 7));
    update(&inputs, &bigger).expect("accepted for the maintenance window");
    assert_eq!(live_class().as_deref(), Some("db.t3.micro"), "not applied yet");
    assert!(
        !w.proxy
            .lifecycles()
            .iter()
            .any(|l| l.id == "aws-rdsdefer-db" && l.phase == stackup_proxy::Phase::Modify),
        "a deferred change leaves the instance available: {:?}",
        w.proxy.lifecycles()
    );
    let read = w.read::<DbInstanceArgs>("db", &db.id, &bigger, &db.outputs);
    assert_eq!(
        read.inputs.get("instance_class").and_then(Value::as_str),
        Some("db.t3.small"),
        "the pending class reads back as the declared one"
    );
    let again = provider.diff(stackup_provider::DiffRequest {
        urn: &w.urn::<DbInstanceArgs>("db"),
        old_inputs: &read.inputs,
        new_inputs: &bigger,
    });
    // (Only the class: with no groups declared, RDS gives the instance the VPC's
    // default group, which this test leaves be.)
    assert!(
        !again.changed.iter().any(|k| k == "instance_class"),
        "no drift while pending: {again:?}"
    );

    // An immediate change applies the pending one along.
    let now = w.inputs("db", args("db.t3.small", true, 14));
    update(&bigger, &now).expect("applied now");
    assert_eq!(
        live_class().as_deref(),
        Some("db.t3.small"),
        "the pending class went along"
    );
    w.delete::<DbInstanceArgs>("db", &db.id, &now).expect("deleted");
}

/// RDS can refuse a modification (`InvalidDBInstanceState`, "RDS is configuring
/// Enhanced Monitoring or Performance Insights for this DB instance. Try your request
/// later.") while DescribeDBInstances already shows the instance `available`: the
/// status alone cannot tell. The modification is sent again, once available again,
/// until RDS takes it; the refusal never fails the update.
#[test]
fn rds_sends_a_modification_again_when_refused_while_it_reads_available() {
    let moto = Moto::shared();
    // A quick instance, and a refusal for a minute of AWS time after its create: it
    // is available (and confirmed so) well before RDS takes modifications.
    let profile = aws_with_quick_rds(
        "RDS busy while available",
        r#"
[[after]]
name = "rds-configuring"
trigger_service = "rds"
trigger_action = "CreateDBInstance"
trigger_param = "DBInstanceIdentifier"
service = "rds"
action = "ModifyDBInstance"
code = "InvalidDBInstanceState"
status = 400
message = "RDS is configuring Enhanced Monitoring or Performance Insights for this DB instance. Try your request later."
for_ms = [60000, 60000]
"#,
    );
    let w = AwsWorld::with_profile("aws-rdsbusy", profile, 1.0 / 10.0, 18);
    let (_, subnets) = network(moto, "10.98");
    block_on(async {
        aws_sdk_rds::Client::new(&moto.sdk_config())
            .create_db_subnet_group()
            .db_subnet_group_name("aws-rdsbusy-subnets")
            .db_subnet_group_description("test")
            .set_subnet_ids(Some(subnets.clone()))
            .send()
            .await
            .expect("subnet group");
    });
    let (db, inputs) = w
        .create(
            "db",
            db_args("aws-rdsbusy-db", "16", "aws-rdsbusy-subnets", "db.t3.micro"),
        )
        .expect("created");
    let provider = w.provider(DbInstanceArgs::TYPE);
    let bigger = w.inputs(
        "db",
        db_args("aws-rdsbusy-db", "16", "aws-rdsbusy-subnets", "db.t3.small"),
    );
    block_on(provider.update(UpdateRequest {
        urn: w.urn::<DbInstanceArgs>("db"),
        stack: w.stack.clone(),
        id: db.id.clone(),
        old_inputs: inputs,
        new_inputs: bigger.clone(),
        old_outputs: db.outputs.clone(),
        changed: vec!["instance_class".into()],
    }))
    .expect("modified once RDS takes it");
    w.refused_then_taken("rds-configuring", "rds:ModifyDBInstance");
    let class = block_on(async {
        aws_sdk_rds::Client::new(&moto.sdk_config())
            .describe_db_instances()
            .db_instance_identifier(&db.id)
            .send()
            .await
            .expect("described")
            .db_instances()
            .first()
            .and_then(|d| d.db_instance_class().map(str::to_string))
    });
    assert_eq!(class.as_deref(), Some("db.t3.small"));
    w.delete::<DbInstanceArgs>("db", &db.id, &bigger).expect("deleted");
}

/// ELB does not see a VPC's internet gateway for a moment after it is attached
/// (`InvalidSubnet`: no internet gateway): the load balancer's create waits it out. After
/// the load balancer is deleted, AWS keeps its network interfaces for minutes, and
/// DeleteSubnet answers `DependencyViolation` meanwhile: the subnet's delete waits for
/// them to go (reporting what it waits for) instead of giving up.
#[test]
fn a_load_balancer_waits_for_the_gateway_and_its_subnets_wait_for_its_interfaces() {
    let moto = Moto::shared();
    // aws.toml's gateway lag (2 to 5 s) is 66 to 166 ms at this scale, less than the
    // attachment's own wait may take: here it lasts a minute of AWS time (2 s), so the
    // load balancer's create meets it every time.
    let lagging = aws_with_window("[2000, 5000]", "gateway lag");
    let w = AwsWorld::with_profile("aws-lb", lagging, 1.0 / 30.0, 15);
    // The network through the proxy: it must see the attachment and the subnets.
    let (vpc, _) = w
        .create(
            "vpc",
            stackup_aws::ec2::VpcArgs {
                cidr_block: "10.94.0.0/16".to_string().into(),
                enable_dns_support: true,
                enable_dns_hostnames: true,
                tags: tags("vpc"),
            },
        )
        .expect("vpc");
    let mut subnets = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let name = format!("public-{i}");
        let (subnet, inputs) = w
            .create(
                &name,
                SubnetArgs {
                    vpc_id: vpc.id.clone().into(),
                    cidr_block: format!("10.94.{i}.0/24").into(),
                    availability_zone: zone.to_string().into(),
                    map_public_ip_on_launch: true,
                    tags: tags(&name),
                },
            )
            .expect("subnet");
        subnets.push((name, subnet.id, inputs));
    }
    let (group, _) = w
        .create(
            "alb-sg",
            SecurityGroupArgs {
                name: "aws-lb-alb".into(),
                description: "alb".into(),
                vpc_id: vpc.id.clone().into(),
                tags: tags("alb-sg"),
            },
        )
        .expect("security group");
    let (igw, _) = w
        .create("igw", stackup_aws::ec2::InternetGatewayArgs { tags: tags("igw") })
        .expect("internet gateway");
    w.create(
        "igw-attachment",
        stackup_aws::ec2::InternetGatewayAttachmentArgs {
            internet_gateway_id: igw.id.clone().into(),
            vpc_id: vpc.id.clone().into(),
        },
    )
    .expect("attachment");
    let (lb, lb_inputs) = w
        .create(
            "alb",
            LoadBalancerArgs {
                name: "aws-lb-alb".into(),
                internal: false,
                subnet_ids: subnets.iter().map(|(_, id, _)| id.clone().into()).collect(),
                security_group_ids: vec![group.id.clone().into()],
                tags: tags("alb"),
            },
        )
        .expect("the load balancer, once ELB sees the gateway");
    assert!(w.injected("igw-propagation") >= 1, "{:?}", w.proxy.injected());

    w.delete::<LoadBalancerArgs>("alb", &lb.id, &lb_inputs)
        .expect("load balancer deleted");
    let (name, subnet, inputs) = &subnets[0];
    w.delete::<SubnetArgs>(name, subnet, inputs)
        .expect("the subnet is deleted once AWS releases the load balancer's interfaces");
    assert!(w.injected("eni-linger") >= 1, "{:?}", w.proxy.injected());
    let left = block_on(async {
        moto.ec2()
            .describe_subnets()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("subnet-id")
                    .values(subnet)
                    .build(),
            )
            .send()
            .await
            .expect("subnets")
            .subnets()
            .len()
    });
    assert_eq!(left, 0);
}

/// Re-pointing a subnet to another route table is one ReplaceRouteTableAssociation (no
/// moment on the main table's routes), recorded under the association's new id.
#[test]
fn a_subnet_is_re_pointed_to_another_route_table_in_place() {
    let moto = Moto::shared();
    let w = AwsWorld::new("aws-rta", 1.0, 16);
    let (vpc, subnets) = network(moto, "10.95");
    let ec2 = moto.ec2();
    let table = |name: &str| {
        block_on(async {
            ec2.create_route_table()
                .vpc_id(&vpc)
                .send()
                .await
                .unwrap_or_else(|e| panic!("route table {name}: {e}"))
                .route_table()
                .and_then(|t| t.route_table_id().map(str::to_string))
                .expect("route table id")
        })
    };
    let (first, second) = (table("first"), table("second"));
    let args = |rt: &str| RouteTableAssociationArgs {
        route_table_id: rt.to_string().into(),
        subnet_id: subnets[0].clone().into(),
    };
    let (association, old_inputs) = w.create("rta", args(&first)).expect("association");
    let new_inputs = w.inputs("rta", args(&second));
    let provider = w.provider(RouteTableAssociationArgs::TYPE);
    let diff = provider.diff(stackup_provider::DiffRequest {
        urn: &w.urn::<RouteTableAssociationArgs>("rta"),
        old_inputs: &old_inputs,
        new_inputs: &new_inputs,
    });
    assert!(diff.replace.is_empty(), "a new route table is an update: {diff:?}");
    let updated = block_on(provider.update(UpdateRequest {
        urn: w.urn::<RouteTableAssociationArgs>("rta"),
        stack: w.stack.clone(),
        id: association.id.clone(),
        old_inputs,
        new_inputs,
        old_outputs: association.outputs.clone(),
        changed: diff.changed,
    }))
    .expect("re-pointed");
    let new_id = updated.new_id.expect("the association has a new id");
    assert_ne!(new_id, association.id);
    let counts = w.proxy.counts();
    assert_eq!(counts.get("ec2:ReplaceRouteTableAssociation"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("ec2:DisassociateRouteTable"),
        None,
        "never disassociated: {counts:?}"
    );
    let tables = |subnet: &str| -> Vec<String> { associations_of(&ec2, subnet).into_iter().map(|(_, t)| t).collect() };
    let routed_by = tables(&subnets[0]);
    assert_eq!(routed_by, vec![second.clone()]);

    // A subnet associated already (out of band, or by a run whose state was lost):
    // AWS refuses a second association with `Resource.AlreadyAssociated`, and the create
    // takes the existing association over and points it at the declared table.
    block_on(async {
        ec2.associate_route_table()
            .route_table_id(&first)
            .subnet_id(&subnets[1])
            .send()
            .await
            .expect("an association made outside stackup");
    });
    let before = w.proxy.counts();
    let (taken, _) = w
        .create(
            "rta2",
            RouteTableAssociationArgs {
                route_table_id: second.clone().into(),
                subnet_id: subnets[1].clone().into(),
            },
        )
        .expect("the existing association is taken over");
    let after = w.proxy.counts();
    let delta = |action: &str| after.get(action).copied().unwrap_or(0) - before.get(action).copied().unwrap_or(0);
    assert_eq!(delta("ec2:AssociateRouteTable"), 1, "refused once: {after:?}");
    assert_eq!(
        delta("ec2:ReplaceRouteTableAssociation"),
        1,
        "re-pointed in place: {after:?}"
    );
    let associations = associations_of(&ec2, &subnets[1]);
    assert_eq!(associations, vec![(taken.id.clone(), second)], "one association, ours");
}

/// The explicit route table associations of `subnet`: (association id, table id).
fn associations_of(ec2: &aws_sdk_ec2::Client, subnet: &str) -> Vec<(String, String)> {
    block_on(async {
        ec2.describe_route_tables()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("association.subnet-id")
                    .values(subnet)
                    .build(),
            )
            .send()
            .await
            .expect("route tables")
            .route_tables()
            .iter()
            .flat_map(|t| t.associations())
            .filter(|a| a.subnet_id() == Some(subnet))
            .map(|a| {
                (
                    a.route_table_association_id().unwrap_or_default().to_string(),
                    a.route_table_id().unwrap_or_default().to_string(),
                )
            })
            .collect()
    })
}

/// The whole platform under `profiles/aws.toml`: states moving on every read, every
/// causal rule on, nothing held. `up` converges, `diff` is clean, a change applies in
/// place, a change that would replace the database under its own identifier is refused
/// at plan time, and `destroy` leaves nothing.
#[test]
fn the_platform_converges_under_the_aws_profile() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint, profile("aws"), 1.0 / 60.0, 21);
    run_platform(&proxy, moto, "awsplat", false);
    let injected = proxy.injected();
    eprintln!("aws profile: injected {injected:?}");
    // (sg-egress lasts 16 to 50 ms at this scale: it has a test of its own.)
    assert!(
        injected.get("eni-linger").copied().unwrap_or(0) >= 1,
        "the subnets' deletes waited for the load balancer's interfaces: {injected:?}"
    );
    let kinds: std::collections::BTreeSet<String> = proxy.lifecycles().into_iter().map(|l| l.kind).collect();
    for kind in [
        "nat_gateway",
        "db_instance",
        "load_balancer",
        "instance",
        "mount_target",
    ] {
        assert!(kinds.contains(kind), "{kind} moved through its states: {kinds:?}");
    }
}

/// The same under chaos on top of the AWS profile (throttling, 5xx, dropped
/// connections): converges within three runs of each command, nothing duplicated,
/// nothing left.
#[test]
fn the_platform_converges_under_the_aws_profile_with_chaos() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint, profile("aws").combine(profile("chaos")), 1.0 / 60.0, 22);
    run_platform(&proxy, moto, "awschaos", true);
    eprintln!("aws+chaos: injected {:?}", proxy.injected());
}

/// The SDK's adaptive retry, as an operator would run against a throttled account.
const ENV: [(&str, &str); 2] = [("AWS_RETRY_MODE", "adaptive"), ("AWS_MAX_ATTEMPTS", "10")];

/// Runs `stackup args` until it succeeds, at most `tries` times.
#[track_caller]
fn converge(project: &Project, args: &[&str], tries: usize) {
    for run in 1..=tries {
        let result = project.stackup_with_env(args, &ENV);
        if result.code == 0 {
            return;
        }
        eprintln!(
            "`stackup {}` run {run} failed:\n{}\n{}",
            args.join(" "),
            result.stdout,
            result.stderr
        );
    }
    panic!("`stackup {}` did not converge in {tries} run(s)", args.join(" "));
}

fn run_platform(proxy: &Proxy, moto: &Moto, stack: &str, chaos: bool) {
    let project = Project::new(&proxy.endpoint);
    let bucket = format!("stackup-{stack}-{}", std::process::id());
    let text = dev_stack(&bucket);
    project.write_stack(stack, &text);
    let env = ENV;
    let tries = if chaos { 3 } else { 1 };
    let until_success = |args: &[&str]| converge(&project, args, tries);
    until_success(&["up", "--yes", "--stack", stack]);
    assert_exact(&project, &moto.endpoint, stack);
    let diff = project.stackup_with_env(&["diff", "--stack", stack], &env);
    assert_eq!(diff.code, 0, "clean after up:\n{}\n{}", diff.stdout, diff.stderr);

    if !chaos {
        // A change in place, through the states it causes.
        let changed = text
            .replace("asg_max = 2", "asg_max = 3")
            .replace("backup_retention_days = 7", "backup_retention_days = 9");
        assert_ne!(changed, text, "the dev stack has the keys this test changes");
        project.write_stack(stack, &changed);
        until_success(&["up", "--yes", "--stack", stack]);
        let diff = project.stackup_with_env(&["diff", "--stack", stack], &env);
        assert_eq!(
            diff.code, 0,
            "clean after the change:\n{}\n{}",
            diff.stdout, diff.stderr
        );

        // Replacing the database under its own identifier would delete it first.
        let replacing = changed.replace("[database]\n", "[database]\nmaster_username = \"shopadmin\"\n");
        project.write_stack(stack, &replacing);
        let refused = project.stackup_with_env(&["diff", "--stack", stack], &env);
        assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
        assert!(
            refused.stderr.contains("master_username") && refused.stderr.contains("allow_replacement"),
            "{}",
            refused.stderr
        );
        project.write_stack(stack, &changed);
    }

    until_success(&["destroy", "--yes", "--stack", stack]);
    let left = objects_per_urn(&moto.endpoint, stack);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// What AWS needs first and no reference says: web servers run `dnf install` (through
/// the NAT route) and mount the file system (through its mount targets) at first
/// boot, and an internet-facing load balancer or a public instance needs the VPC's
/// gateway attached and the public routes in place. The platform declares those
/// orderings, so the plan starts the group, the ALB and the bastion only after them.
#[test]
fn the_platform_launches_servers_only_after_their_routes_mounts_and_gateway() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/dev.toml");
    let text = std::fs::read_to_string(&file).expect("stacks/dev.toml");
    let config = stackup_ecommerce::StackConfig::parse(&file, &text).expect("dev stack");
    let program = stackup_ecommerce::program(&config);
    let deps = |name: &str| -> Vec<String> {
        program
            .goals
            .iter()
            .find(|g| g.urn.name() == name)
            .unwrap_or_else(|| panic!("no resource {name}"))
            .dependencies()
            .iter()
            .map(|u| u.name().to_string())
            .collect()
    };
    let all_named = |prefix: &str| -> Vec<String> {
        program
            .goals
            .iter()
            .map(|g| g.urn.name().to_string())
            .filter(|n| n.starts_with(prefix))
            .collect()
    };
    let group = deps("web-asg");
    for needed in all_named("private-rta-").into_iter().chain(all_named("images-mt-")) {
        assert!(group.contains(&needed), "web-asg waits for {needed}: {group:?}");
    }
    for server in ["alb", "bastion"] {
        let d = deps(server);
        assert!(d.contains(&"igw-attachment".to_string()), "{server}: {d:?}");
        for route in all_named("public-rta-") {
            assert!(d.contains(&route), "{server} waits for {route}: {d:?}");
        }
    }
}

/// AWS will not move a DB instance to another subnet group of its VPC, so a change of
/// the database's subnets modifies the group in place (ModifyDBSubnetGroup) instead of
/// replacing it; the group keeps its name, and its subnets are the new ones. (moto
/// drops a group on ModifyDBSubnetGroup; `aws.toml`'s `moto_workarounds` repairs that
/// in the test double, not in the provider.)
#[test]
fn a_db_subnet_groups_subnets_change_in_place() {
    let moto = Moto::shared();
    let w = AwsWorld::new("aws-dbsg", 1.0 / 60.0, 17);
    let (vpc, subnets) = network(moto, "10.96");
    let third = block_on(async {
        moto.ec2()
            .create_subnet()
            .vpc_id(&vpc)
            .availability_zone("us-east-1c")
            .cidr_block("10.96.2.0/24")
            .send()
            .await
            .expect("subnet")
            .subnet()
            .and_then(|s| s.subnet_id().map(str::to_string))
            .expect("subnet id")
    });
    let args = |ids: &[&String]| stackup_aws::rds::DbSubnetGroupArgs {
        name: "aws-dbsg".into(),
        description: "database subnets".into(),
        subnet_ids: ids.iter().map(|s| s.to_string().into()).collect(),
        tags: tags("db-subnets"),
    };
    let (group, old_inputs) = w
        .create("db-subnets", args(&[&subnets[0], &subnets[1]]))
        .expect("subnet group");
    let new_inputs = w.inputs("db-subnets", args(&[&subnets[1], &third]));
    let provider = w.provider(stackup_aws::rds::DbSubnetGroupArgs::TYPE);
    let diff = provider.diff(stackup_provider::DiffRequest {
        urn: &w.urn::<stackup_aws::rds::DbSubnetGroupArgs>("db-subnets"),
        old_inputs: &old_inputs,
        new_inputs: &new_inputs,
    });
    assert_eq!(diff.changed, vec!["subnet_ids".to_string()]);
    assert!(diff.replace.is_empty(), "subnets change in place: {diff:?}");
    block_on(provider.update(UpdateRequest {
        urn: w.urn::<stackup_aws::rds::DbSubnetGroupArgs>("db-subnets"),
        stack: w.stack.clone(),
        id: group.id.clone(),
        old_inputs,
        new_inputs,
        old_outputs: group.outputs.clone(),
        changed: diff.changed,
    }))
    .expect("modified in place");
    let live: Vec<String> = block_on(async {
        aws_sdk_rds::Client::new(&moto.sdk_config())
            .describe_db_subnet_groups()
            .db_subnet_group_name(&group.id)
            .send()
            .await
            .expect("the group is still there, under its name")
            .db_subnet_groups()
            .iter()
            .flat_map(|g| g.subnets())
            .filter_map(|s| s.subnet_identifier().map(str::to_string))
            .collect()
    });
    let mut live = live;
    live.sort();
    let mut wanted = vec![subnets[1].clone(), third];
    wanted.sort();
    assert_eq!(live, wanted);
    assert_eq!(
        w.proxy.counts().get("rds:ModifyDBSubnetGroup"),
        Some(&1),
        "{:?}",
        w.proxy.counts()
    );
}

/// Right after CreateFileSystem, EFS may answer a describe of the new file system with
/// not-found: the wait counts that as "not visible yet" (it used to fail at once as
/// "vanished") and the create finishes.
#[test]
fn an_efs_file_system_is_waited_for_through_a_moments_not_found() {
    let profile = Profile::parse(
        "efs eventual consistency",
        "[[rule]]\nservice = \"elasticfilesystem\"\nnot_found_after_create_ms = 1500\n",
    )
    .expect("profile");
    let w = AwsWorld::with_profile("aws-efs", profile, 1.0, 18);
    let (fs, inputs) = w
        .create(
            "images",
            stackup_aws::efs::FileSystemArgs {
                encrypted: true,
                performance_mode: "generalPurpose".into(),
                throughput_mode: "bursting".into(),
                tags: tags("images"),
            },
        )
        .expect("created once the file system is visible");
    assert!(fs.id.starts_with("fs-"), "{}", fs.id);
    assert!(
        w.proxy.injected().get("not_found").copied().unwrap_or(0) >= 1,
        "the first describe missed it: {:?}",
        w.proxy.injected()
    );
    w.delete::<stackup_aws::efs::FileSystemArgs>("images", &fs.id, &inputs)
        .expect("deleted");
}

/// A target group attachment: ELB refuses to register an instance that is still
/// `pending` (`InvalidTarget`); the create waits that out, then waits until the target
/// shows in DescribeTargetHealth. The read reports it (`initial` while its health
/// checks run), loses it once deregistered, and a delete of a registration that is
/// already gone succeeds.
#[test]
fn an_instance_is_registered_once_it_runs_and_is_gone_once_deregistered() {
    use stackup_aws::elbv2::TargetGroupAttachmentArgs;

    let moto = Moto::shared();
    let w = AwsWorld::new("aws-tga", 1.0 / 20.0, 23);
    let (vpc, subnets) = network(moto, "10.93");
    let config = stackup_testkit::sdk_config(&w.proxy.endpoint);
    let (ec2, elbv2) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_elasticloadbalancingv2::Client::new(&config),
    );
    let (group, instance) = block_on(async {
        let group = elbv2
            .create_target_group()
            .name("aws-tga-web")
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .send()
            .await
            .expect("target group")
            .target_groups()[0]
            .target_group_arn()
            .map(str::to_string)
            .expect("arn");
        // Through the proxy: the instance is `pending` for its launch window.
        let instance = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .subnet_id(&subnets[0])
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("instance")
            .instances()[0]
            .instance_id()
            .map(str::to_string)
            .expect("id");
        (group, instance)
    });
    let args = || TargetGroupAttachmentArgs {
        target_group_arn: group.clone().into(),
        target_id: instance.clone().into(),
        port: None,
    };
    let (created, inputs) = w.create("web-a", args()).expect("registered once the instance runs");
    assert_eq!(created.id, format!("{group},{instance}"));
    w.refused_then_taken("target-not-running", "elasticloadbalancing:RegisterTargets");

    let live = w.read::<TargetGroupAttachmentArgs>("web-a", &created.id, &inputs, &created.outputs);
    assert_eq!(live.inputs, inputs, "reads back as declared");
    let health = live.outputs.get("health").and_then(Value::as_str).map(str::to_string);
    assert!(
        matches!(
            health.as_deref(),
            Some("initial" | "healthy" | "unhealthy" | "unavailable")
        ),
        "{health:?}"
    );

    w.delete::<TargetGroupAttachmentArgs>("web-a", &created.id, &inputs)
        .expect("deregistered");
    let gone = w.found::<TargetGroupAttachmentArgs>("web-a", &created.id, &inputs, &created.outputs);
    assert!(gone.is_empty(), "deregistered: {gone:?}");
    block_on(async {
        let described = elbv2
            .describe_target_health()
            .target_group_arn(&group)
            .send()
            .await
            .expect("health");
        let still: Vec<_> = described
            .target_health_descriptions()
            .iter()
            .filter(|d| d.target().and_then(|t| t.id()) == Some(instance.as_str()))
            .filter_map(|d| {
                d.target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_string())
            })
            .filter(|s| s != "unused" && s != "draining")
            .collect();
        assert!(still.is_empty(), "AWS no longer has it registered: {still:?}");
    });
    w.delete::<TargetGroupAttachmentArgs>("web-a", &created.id, &inputs)
        .expect("a second delete finds it gone");
    block_on(async {
        elbv2
            .delete_target_group()
            .target_group_arn(&group)
            .send()
            .await
            .expect("delete group");
    });
    w.delete::<TargetGroupAttachmentArgs>("web-a", &created.id, &inputs)
        .expect("its group gone: nothing to deregister");
}

/// A VPC peering connection: requested, accepted only once AWS shows it
/// `pending-acceptance` (accepting while it is `initiating-request` is refused), active
/// before the create returns; DNS resolution changes in place; a route table routes
/// the peer's CIDR over it; deleted, it reads as gone.
#[test]
fn two_vpcs_peer_route_to_each_other_and_part() {
    use stackup_aws::ec2::{Route, RouteTableArgs, VpcPeeringConnectionArgs};

    let moto = Moto::shared();
    let w = AwsWorld::new("aws-pcx", 1.0 / 2.0, 29);
    let (app, _) = network(moto, "10.91");
    let (monitoring, _) = network(moto, "10.92");
    let args = |dns: bool| VpcPeeringConnectionArgs {
        vpc_id: app.clone().into(),
        peer_vpc_id: monitoring.clone().into(),
        allow_remote_vpc_dns_resolution: dns,
        tags: tags("app-to-monitoring"),
    };
    let (peering, inputs) = w.create("link", args(false)).expect("peered");
    assert!(peering.id.starts_with("pcx-"), "{}", peering.id);
    assert_eq!(w.injected("peering-not-pending"), 0, "accepted only once pending");
    let status = |id: &str| {
        block_on(async {
            moto.ec2()
                .describe_vpc_peering_connections()
                .vpc_peering_connection_ids(id)
                .send()
                .await
                .expect("describe")
                .vpc_peering_connections()
                .first()
                .and_then(|p| p.status())
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_string())
        })
    };
    assert_eq!(status(&peering.id).as_deref(), Some("active"));
    let live = w.read::<VpcPeeringConnectionArgs>("link", &peering.id, &inputs, &peering.outputs);
    assert_eq!(live.inputs, inputs, "reads back as declared");
    assert_eq!(live.outputs.get("status"), Some(&Value::from("active")));

    let provider = w.provider(VpcPeeringConnectionArgs::TYPE);
    let new_inputs = w.inputs("link", args(true));
    let diff = provider.diff(stackup_provider::DiffRequest {
        urn: &w.urn::<VpcPeeringConnectionArgs>("link"),
        old_inputs: &inputs,
        new_inputs: &new_inputs,
    });
    assert_eq!(diff.changed, vec!["allow_remote_vpc_dns_resolution".to_string()]);
    assert!(diff.replace.is_empty(), "an option is a change in place: {diff:?}");
    block_on(provider.update(UpdateRequest {
        urn: w.urn::<VpcPeeringConnectionArgs>("link"),
        stack: w.stack.clone(),
        id: peering.id.clone(),
        old_inputs: inputs.clone(),
        new_inputs: new_inputs.clone(),
        old_outputs: peering.outputs.clone(),
        changed: diff.changed,
    }))
    .expect("updated in place");
    let live = w.read::<VpcPeeringConnectionArgs>("link", &peering.id, &new_inputs, &peering.outputs);
    assert_eq!(live.inputs, new_inputs, "DNS resolution reads back on");

    let (table, table_inputs) = w
        .create(
            "to-monitoring",
            RouteTableArgs {
                vpc_id: app.clone().into(),
                routes: vec![Route {
                    destination_cidr_block: "10.92.0.0/16".into(),
                    gateway_id: None,
                    nat_gateway_id: None,
                    vpc_peering_connection_id: Some(peering.id.clone().into()),
                }],
                tags: tags("to-monitoring"),
            },
        )
        .expect("route table");
    let routed = w.read::<RouteTableArgs>("to-monitoring", &table.id, &table_inputs, &table.outputs);
    assert_eq!(routed.inputs, table_inputs, "the route over the peering reads back");
    w.delete::<RouteTableArgs>("to-monitoring", &table.id, &table_inputs)
        .expect("route table deleted");

    w.delete::<VpcPeeringConnectionArgs>("link", &peering.id, &new_inputs)
        .expect("deleted");
    assert_eq!(status(&peering.id).as_deref(), Some("deleted"));
    let gone = w.found::<VpcPeeringConnectionArgs>("link", &peering.id, &new_inputs, &peering.outputs);
    assert!(gone.is_empty(), "a deleted peering is gone: {gone:?}");
    w.delete::<VpcPeeringConnectionArgs>("link", &peering.id, &new_inputs)
        .expect("a second delete finds it gone");
}

/// The web pair (seed 001) under the AWS profile with chaos on top: instances pending,
/// the load balancer provisioning, the NAT gateway's and load balancer's interfaces
/// lingering after their deletes, throttling, 5xx and dropped connections. `up` and
/// `destroy` converge within three runs each, nothing duplicated, nothing left.
#[test]
fn the_web_pair_converges_under_the_aws_profile_with_chaos() {
    seed_platform_converges(
        ("web-pair-dev", "awswp", ("10.40.", "10.42.")),
        31,
        &["nat_gateway", "load_balancer", "instance"],
    );
}

/// The multi-tier platform (seed 000) likewise: on top of the web pair's, the peering
/// pending acceptance, the database creating and deleting, two NAT gateways, and the
/// lookups read through throttling.
#[test]
fn the_multitier_platform_converges_under_the_aws_profile_with_chaos() {
    seed_platform_converges(
        ("multitier-dev", "awsmt", ("10.50.", "10.52.")),
        37,
        &[
            "nat_gateway",
            "load_balancer",
            "instance",
            "vpc_peering_connection",
            "db_instance",
        ],
    );
}

/// Runs the shipped stack file `file` as `stack` (its blocks moved by `cidrs`, so that
/// tests sharing the server do not collide) through `up`, a clean `diff` and `destroy`
/// under the AWS profile with chaos (seeded `seed`), each converging within three runs;
/// checks that nothing was duplicated or left, and that each of `kinds` moved through
/// its states.
fn seed_platform_converges((file, stack, cidrs): (&str, &str, (&str, &str)), seed: u64, kinds: &[&str]) {
    let moto = Moto::shared();
    let proxy = Proxy::start(
        &moto.endpoint,
        profile("aws").combine(profile("chaos")),
        1.0 / 60.0,
        seed,
    );
    let project = Project::new(&proxy.endpoint);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(format!("stacks/{file}.toml")))
        .unwrap_or_else(|e| panic!("stacks/{file}.toml: {e}"))
        .replace(&format!("name = \"{file}\""), &format!("name = \"{stack}\""))
        .replace(cidrs.0, cidrs.1);
    project.write_stack(stack, &text);
    let until_success = |args: &[&str]| converge(&project, args, 3);
    until_success(&["up", "--yes", "--stack", stack]);
    assert_exact(&project, &moto.endpoint, stack);
    let diff = project.stackup_with_env(&["diff", "--stack", stack], &ENV);
    assert_eq!(diff.code, 0, "clean after up:\n{}\n{}", diff.stdout, diff.stderr);
    until_success(&["destroy", "--yes", "--stack", stack]);
    let left = objects_per_urn(&moto.endpoint, stack);
    assert!(left.is_empty(), "left behind: {left:?}");
    let moved: std::collections::BTreeSet<String> = proxy.lifecycles().into_iter().map(|l| l.kind).collect();
    for kind in kinds {
        assert!(moved.contains(*kind), "{kind} moved through its states: {moved:?}");
    }
    eprintln!("{file}, aws+chaos: injected {:?}", proxy.injected());
}
