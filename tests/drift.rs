//! Drift detection: changes made behind stackup's back across every tier are reported
//! with the attribute and both values, `up` reverts them, and refresh reads by type, not
//! by resource.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::support::{block_on, dev_stack, Moto, Project};

const STACK: &str = "drifty";

fn ids(project: &Project) -> BTreeMap<String, String> {
    project.ids_by_name(STACK)
}

/// The drift entry of the resource named `name`.
fn entry<'a>(drift: &'a [Json], name: &str) -> &'a Json {
    drift
        .iter()
        .find(|d| d["urn"].as_str().is_some_and(|u| u.ends_with(&format!("::{name}"))))
        .unwrap_or_else(|| panic!("no drift reported for {name}: {drift:#?}"))
}

/// The (recorded, live, desired) values of one drifted attribute.
fn attribute(drift: &[Json], name: &str, key: &str) -> (Json, Json, Json) {
    let e = entry(drift, name);
    assert_eq!(e["kind"], "changed", "{e}");
    let a = e["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .find(|a| a["key"] == key)
        .unwrap_or_else(|| panic!("{name}: no drift on {key}: {e}"));
    (a["recorded"].clone(), a["live"].clone(), a["desired"].clone())
}

#[test]
fn out_of_band_changes_across_tiers_are_reported_and_reverted() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let ec2 = moto.ec2();
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let s3 = moto.s3();

    let bucket = format!("stackup-drift-assets-{}", std::process::id());
    let project = Project::new(&moto.endpoint);
    project.write_stack(STACK, &dev_stack(&bucket));
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    assert_eq!(
        project.stackup(&["diff", "--stack", STACK]).code,
        0,
        "fresh deploy, no drift"
    );
    let before = ids(&project);

    // Someone in the console, across every tier.
    block_on(async {
        ec2.authorize_security_group_ingress()
            .group_id(&before["web-sg"])
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(8080)
                    .to_port(8080)
                    .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .send()
            .await
            .expect("extra rule");
        asg.update_auto_scaling_group()
            .auto_scaling_group_name(&before["web-asg"])
            .max_size(5)
            .send()
            .await
            .expect("asg max");
        ec2.delete_tags()
            .resources(&before["vpc"])
            .tags(aws_sdk_ec2::types::Tag::builder().key("Environment").build())
            .send()
            .await
            .expect("remove tag");
        logs.put_retention_policy()
            .log_group_name("/stackup/drifty/web/access")
            .retention_in_days(30)
            .send()
            .await
            .expect("log retention");
        rds.modify_db_instance()
            .db_instance_identifier(&before["db"])
            .backup_retention_period(3)
            .apply_immediately(true)
            .send()
            .await
            .expect("backup retention");
        ddb.update_time_to_live()
            .table_name(&before["sessions"])
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .enabled(false)
                    .attribute_name("expires_at")
                    .build()
                    .expect("ttl spec"),
            )
            .send()
            .await
            .expect("disable ttl");
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .expect("suspend versioning");
        ec2.terminate_instances()
            .instance_ids(&before["bastion"])
            .send()
            .await
            .expect("terminate bastion");
    });

    let run = project.stackup(&["diff", "--json", "--stack", STACK]).expect_code(2);
    let report = run.json();
    let drift = report["drift"].as_array().expect("drift").clone();

    let (recorded, live, desired) = attribute(&drift, "web-sg", "unmanaged_rules");
    assert_eq!(recorded, serde_json::json!([]));
    assert!(live.to_string().contains("8080"), "the extra rule: {live}");
    assert_eq!(desired, serde_json::json!([]), "up revokes it");
    assert_eq!(attribute(&drift, "web-asg", "max_size"), (2.into(), 5.into(), 2.into()));
    let (recorded, live, desired) = attribute(&drift, "vpc", "tags");
    assert_eq!(recorded["Environment"], "dev");
    assert!(live.get("Environment").is_none(), "{live}");
    assert_eq!(desired["Environment"], "dev");
    assert_eq!(
        attribute(&drift, "web-access-logs", "retention_days"),
        (7.into(), 30.into(), 7.into())
    );
    assert_eq!(
        attribute(&drift, "db", "backup_retention_days"),
        (7.into(), 3.into(), 7.into())
    );
    let (recorded, live, _) = attribute(&drift, "sessions", "ttl_attribute");
    assert_eq!((recorded, live), ("expires_at".into(), Json::Null));
    assert_eq!(
        attribute(&drift, "assets", "versioning"),
        (true.into(), false.into(), true.into())
    );
    let bastion = entry(&drift, "bastion");
    assert_eq!(
        (bastion["kind"].as_str(), bastion["up_action"].as_str()),
        (Some("deleted"), Some("create"))
    );
    assert_eq!(drift.len(), 8, "exactly the eight changes: {drift:#?}");

    // The human report names them too.
    let human = project.stackup(&["diff", "--stack", STACK]).expect_code(2);
    assert!(
        human.stdout.contains("max_size: recorded 2, live 5; up sets 2"),
        "{}",
        human.stdout
    );

    // up reverts everything and recreates the bastion; then there is nothing to do.
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    let run = project.stackup(&["diff", "--json", "--stack", STACK]);
    assert_eq!(run.code, 0, "converged after up:\n{}", run.stdout);
    let after = ids(&project);
    assert_ne!(after["bastion"], before["bastion"], "a new bastion");
    block_on(async {
        let groups = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&before["web-asg"])
            .send()
            .await
            .expect("asg");
        assert_eq!(groups.auto_scaling_groups()[0].max_size(), Some(2));
        let rules = ec2
            .describe_security_group_rules()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-id")
                    .values(&before["web-sg"])
                    .build(),
            )
            .send()
            .await
            .expect("rules");
        assert!(
            rules.security_group_rules().iter().all(|r| r.from_port() != Some(8080)),
            "revoked"
        );
        let dbs = rds
            .describe_db_instances()
            .db_instance_identifier(&before["db"])
            .send()
            .await
            .expect("db");
        assert_eq!(dbs.db_instances()[0].backup_retention_period(), Some(7));
        let ttl = ddb
            .describe_time_to_live()
            .table_name(&before["sessions"])
            .send()
            .await
            .expect("ttl");
        let status = ttl
            .time_to_live_description()
            .and_then(|t| t.time_to_live_status())
            .map(|s| s.as_str().to_string());
        assert_eq!(status.as_deref(), Some("ENABLED"));
    });

    // An object carrying the stack's tag that state does not know is reported, not
    // touched by up.
    let rogue = block_on(async {
        let spec = aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("stackup:stack")
                    .value(STACK)
                    .build(),
            )
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("stackup:urn")
                    .value("drifty::aws:ec2:SecurityGroup::rogue")
                    .build(),
            )
            .build();
        ec2.create_security_group()
            .group_name("rogue")
            .description("made by hand")
            .vpc_id(&after["vpc"])
            .tag_specifications(spec)
            .send()
            .await
            .expect("rogue group")
            .group_id()
            .expect("id")
            .to_string()
    });
    let run = project.stackup(&["diff", "--json", "--stack", STACK]).expect_code(2);
    let drift = run.json()["drift"].as_array().expect("drift").clone();
    let rogue_entry = entry(&drift, "rogue");
    assert_eq!(
        (rogue_entry["kind"].as_str(), rogue_entry["id"].as_str()),
        (Some("unmanaged"), Some(rogue.as_str()))
    );
    assert_eq!(rogue_entry["up_action"], "none");
    block_on(async {
        ec2.delete_security_group()
            .group_id(&rogue)
            .send()
            .await
            .expect("delete rogue")
    });
    project.stackup(&["diff", "--stack", STACK]).expect_code(0);

    // refresh records the live view and says what it changed.
    block_on(async {
        logs.put_retention_policy()
            .log_group_name("/stackup/drifty/web/error")
            .retention_in_days(14)
            .send()
            .await
            .expect("log retention");
    });
    let run = project.stackup(&["refresh", "--stack", STACK]).expect_code(2);
    assert!(
        run.stdout.contains("retention_days: recorded 7, live 14"),
        "{}",
        run.stdout
    );
    let show = project.stackup(&[
        "state",
        "show",
        "drifty::aws:logs:LogGroup::web-error-logs",
        "--json",
        "--stack",
        STACK,
    ]);
    assert_eq!(show.expect_code(0).json()["inputs"]["retention_days"], 14, "recorded");
    project.stackup(&["refresh", "--stack", STACK]).expect_code(0);

    project.stackup(&["destroy", "--yes", "--stack", STACK]).expect_code(0);
}

/// One refresh of a stack costs about one call per resource type and page, however many
/// resources there are: measured with moto's recorder on a server of our own.
#[test]
fn refresh_calls_grow_with_types_and_pages_not_resources() {
    let moto = Moto::dedicated_with_recorder();
    let registry = stackup_testkit::aws_registry(&moto.endpoint);
    let mut calls = BTreeMap::new();
    for n in [90usize, 900] {
        let stack = format!("scale{n}");
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn stackup_state::StateStore> =
            Arc::new(stackup_state::SledStore::open(dir.path(), &stack, "test").expect("store"));
        let program = stackup_testkit::synthetic_program(&stack, n);
        let resources = program.goals.len();
        block_on(stackup_testkit::up(&registry, store.clone(), &stack, &program, 16)).expect("deploy");
        let records = store.records().expect("records");
        assert_eq!(records.len(), resources);
        moto.start_recording();
        let refreshed = block_on(stackup_executor::refresh(&registry, &records)).expect("refresh");
        let recorded = moto.stop_recording();
        assert!(refreshed.drift.is_empty(), "nothing drifted: {:?}", refreshed.drift);
        assert_eq!(refreshed.records.len(), resources);
        let mut by_action: BTreeMap<String, usize> = BTreeMap::new();
        for action in &recorded {
            *by_action.entry(action.clone()).or_default() += 1;
        }
        eprintln!(
            "refresh of {resources} resources: {} calls {by_action:?}",
            recorded.len()
        );
        calls.insert(resources, (recorded.len(), by_action));
    }
    let (&small, (small_calls, _)) = calls.iter().next().expect("small");
    let (&large, (large_calls, by_action)) = calls.iter().last().expect("large");
    assert!(large >= 10 * small / 2, "the large stack has many more resources");
    // Four types; AWS takes 200 ids per filter, so the large stack needs a second page
    // of ids for some types: a handful more calls, not hundreds.
    assert!(
        *large_calls <= small_calls + 8,
        "{small} -> {small_calls} calls, {large} -> {large_calls} calls"
    );
    assert!(
        (*large_calls as f64) / (large as f64) < 0.05,
        "{large_calls} calls for {large} resources"
    );
    for (action, count) in by_action {
        assert!(*count <= 4, "{action} was called {count} times: a per-resource read");
    }
}

/// The search for unmanaged objects costs per type, not per object in the account: the
/// stack's buckets, topics, log groups, tables, load balancers, target groups and alarms
/// are found by their tag with the Resource Groups Tagging API (one paginated call per
/// type), where S3, SNS, Logs, DynamoDB, ELB and CloudWatch would each take a tag read
/// per object; the stack's IAM roles, users and instance profiles live under the
/// stack's IAM path, which List* filters on, so only the stack's own entities get a
/// tag read.
#[test]
fn listing_unmanaged_objects_costs_per_type_not_per_object_in_the_account() {
    let moto = Moto::dedicated_with_recorder();
    let registry = stackup_testkit::aws_registry(&moto.endpoint);
    let config = moto.sdk_config();
    let (s3, sns) = (moto.s3(), aws_sdk_sns::Client::new(&config));
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let prefix = format!("foreign-{}", std::process::id());
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    // Objects of someone else's: 20 of each type.
    block_on(async {
        for i in 0..20 {
            s3.create_bucket()
                .bucket(format!("{prefix}-{i}"))
                .send()
                .await
                .expect("bucket");
            sns.create_topic()
                .name(format!("{prefix}-{i}"))
                .send()
                .await
                .expect("topic");
            logs.create_log_group()
                .log_group_name(format!("{prefix}-{i}"))
                .send()
                .await
                .expect("log group");
            dynamodb
                .create_table()
                .table_name(format!("{prefix}-{i}"))
                .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
                .attribute_definitions(
                    aws_sdk_dynamodb::types::AttributeDefinition::builder()
                        .attribute_name("id")
                        .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                        .build()
                        .expect("attribute"),
                )
                .key_schema(
                    aws_sdk_dynamodb::types::KeySchemaElement::builder()
                        .attribute_name("id")
                        .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                        .build()
                        .expect("key"),
                )
                .send()
                .await
                .expect("table");
            iam.create_role()
                .role_name(format!("{prefix}-{i}"))
                .assume_role_policy_document(trust)
                .send()
                .await
                .expect("role");
            iam.create_user()
                .user_name(format!("{prefix}-{i}"))
                .send()
                .await
                .expect("user");
            iam.create_instance_profile()
                .instance_profile_name(format!("{prefix}-{i}"))
                .send()
                .await
                .expect("instance profile");
        }
        // DB subnet groups of someone else's, and one of the stack's.
        let ec2 = moto.ec2();
        let rds = aws_sdk_rds::Client::new(&config);
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.77.0.0/16")
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
                .cidr_block(format!("10.77.{i}.0/24"))
                .send()
                .await
                .expect("subnet")
                .subnet()
                .and_then(|s| s.subnet_id().map(str::to_string))
                .expect("subnet id");
            subnets.push(subnet);
        }
        let rds_tag = |k: &str, v: &str| aws_sdk_rds::types::Tag::builder().key(k).value(v).build();
        for i in 0..20 {
            rds.create_db_subnet_group()
                .db_subnet_group_name(format!("{prefix}-{i}"))
                .db_subnet_group_description("foreign")
                .set_subnet_ids(Some(subnets.clone()))
                .tags(rds_tag("owner", "someone-else"))
                .send()
                .await
                .expect("DB subnet group");
        }
        rds.create_db_subnet_group()
            .db_subnet_group_name(format!("{prefix}-ours"))
            .db_subnet_group_description("ours")
            .set_subnet_ids(Some(subnets.clone()))
            .tags(rds_tag("stackup:stack", "lonely"))
            .tags(rds_tag("stackup:urn", "lonely::aws:rds:DbSubnetGroup::db"))
            .send()
            .await
            .expect("our DB subnet group");
        // One role of the stack, made outside stackup's state, where stackup puts them:
        // it must be found.
        let tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("tag");
        iam.create_role()
            .role_name(format!("{prefix}-ours"))
            .path("/stackup/lonely/")
            .assume_role_policy_document(trust)
            .tags(tag("stackup:stack", "lonely"))
            .tags(tag("stackup:urn", "lonely::aws:iam:Role::web"))
            .send()
            .await
            .expect("our role");
        // One bucket of the stack, made outside stackup's state: it must be found.
        let ours = format!("{prefix}-ours");
        s3.create_bucket().bucket(&ours).send().await.expect("bucket");
        s3.put_bucket_tagging()
            .bucket(&ours)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("stackup:stack")
                            .value("lonely")
                            .build()
                            .expect("tag"),
                    )
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("stackup:urn")
                            .value("lonely::aws:s3:Bucket::assets")
                            .build()
                            .expect("tag"),
                    )
                    .build()
                    .expect("tagging"),
            )
            .send()
            .await
            .expect("tags");
    });
    for ty in [
        "aws:s3:Bucket",
        "aws:sns:Topic",
        "aws:logs:LogGroup",
        "aws:dynamodb:Table",
        "aws:elbv2:LoadBalancer",
        "aws:elbv2:TargetGroup",
        "aws:cloudwatch:MetricAlarm",
        "aws:iam:Role",
        "aws:iam:User",
        "aws:iam:InstanceProfile",
        "aws:rds:DbSubnetGroup",
    ] {
        let provider = registry
            .get(&stackup_model::TypeToken::parse(ty).expect("type"))
            .expect("provider")
            .clone();
        // Counted where the clients' calls arrive: the server's recorder would also see
        // the calls the test double makes to emulate the Tagging API for DB subnet
        // groups, which AWS answers from its index.
        let before = moto.calls();
        let listed = block_on(provider.list(stackup_provider::ListRequest::stack("lonely")))
            .expect("list")
            .expect("the type lists");
        let calls: Vec<String> = moto
            .calls()
            .into_iter()
            .flat_map(|(action, n)| {
                let new = n - before.get(&action).copied().unwrap_or(0);
                std::iter::repeat_n(action, new)
            })
            .collect();
        eprintln!("{ty}: {} call(s) {calls:?}", calls.len());
        let found: Vec<String> = listed.found.iter().map(|f| f.urn.to_string()).collect();
        if ty == "aws:s3:Bucket" {
            assert_eq!(found, vec!["lonely::aws:s3:Bucket::assets".to_string()]);
            // One lookup, then the reads of the one bucket found: none per foreign bucket.
            assert!(calls.len() <= 8, "{ty}: {calls:?}");
        } else if ty == "aws:rds:DbSubnetGroup" {
            assert_eq!(found, vec!["lonely::aws:rds:DbSubnetGroup::db".to_string()]);
            // One tag lookup, then the one group read by name.
            assert_eq!(calls.len(), 2, "{ty}: {calls:?}");
        } else if ty == "aws:iam:Role" {
            assert_eq!(found, vec!["lonely::aws:iam:Role::web".to_string()]);
            // One page of the stack's path, then the one role's tags.
            assert_eq!(calls.len(), 2, "{ty}: {calls:?}");
        } else {
            assert!(found.is_empty(), "{ty}: {found:?}");
            assert_eq!(calls.len(), 1, "{ty}: one tag lookup, nothing per object: {calls:?}");
        }
    }
}
