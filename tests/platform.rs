//! The whole e-commerce platform against moto: deploy the dev stack, check every
//! requirement of the seed through the SDK, change the settings operators change, and
//! destroy leaving nothing behind.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;

use crate::support::{block_on, dev_stack, Moto, Project};

const STACK: &str = "shop";

fn set(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the stack file has no {from:?}");
    text.replace(from, to)
}

fn ids(project: &Project) -> BTreeMap<String, String> {
    let run = project
        .stackup(&["state", "list", "--json", "--stack", STACK])
        .expect_code(0);
    run.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["urn"].as_str().expect("urn").to_string(),
                r["id"].as_str().expect("id").to_string(),
            )
        })
        .collect()
}

fn id_of<'a>(ids: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    ids.iter()
        .find(|(urn, _)| urn.ends_with(&format!("::{name}")))
        .map(|(_, id)| id.as_str())
        .unwrap_or_else(|| panic!("no recorded resource {name}"))
}

/// `diff --json`: exit code and, per changed resource name, (action, changed keys).
fn diff(project: &Project) -> (i32, BTreeMap<String, (String, BTreeSet<String>)>) {
    let run = project.stackup(&["diff", "--json", "--stack", STACK]);
    assert!(
        run.code == 0 || run.code == 2,
        "diff failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let json = run.json();
    let steps = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let name = s["urn"]
                .as_str()
                .expect("urn")
                .rsplit("::")
                .next()
                .expect("name")
                .to_string();
            let keys = s["changes"]
                .as_array()
                .expect("changes")
                .iter()
                .map(|c| c["key"].as_str().expect("key").to_string())
                .collect();
            (name, (s["action"].as_str().expect("action").to_string(), keys))
        })
        .collect();
    (run.code, steps)
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|k| k.to_string()).collect()
}

fn ec2_tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

#[test]
fn platform_lifecycle() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let ec2 = moto.ec2();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let efs = aws_sdk_efs::Client::new(&config);
    let s3 = moto.s3();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);

    let bucket = format!("stackup-test-assets-{}", std::process::id());
    let project = Project::new(&moto.endpoint);
    let mut text = dev_stack(&bucket);
    project.write_stack(STACK, &text);

    // --- the whole platform from nothing
    let run = project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    let ids0 = ids(&project);
    assert!(
        ids0.len() > 60,
        "the whole platform: {} resources\n{}",
        ids0.len(),
        run.stdout
    );

    block_on(async {
        let vpc = id_of(&ids0, "vpc");
        let public: BTreeSet<&str> = ["public-a", "public-b"].iter().map(|n| id_of(&ids0, n)).collect();
        let private: BTreeSet<&str> = ["private-a", "private-b"].iter().map(|n| id_of(&ids0, n)).collect();
        let sg = |name: &str| id_of(&ids0, name).to_string();

        // Web tier: an internet-facing ALB in the public subnets, 80/443 from anywhere.
        let lb = elb
            .describe_load_balancers()
            .load_balancer_arns(id_of(&ids0, "alb"))
            .send()
            .await
            .expect("alb");
        let lb = &lb.load_balancers()[0];
        assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
        let lb_subnets: BTreeSet<&str> = lb.availability_zones().iter().filter_map(|z| z.subnet_id()).collect();
        assert_eq!(lb_subnets, public);
        assert_eq!(lb.security_groups(), [sg("alb-sg")]);
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(id_of(&ids0, "alb"))
            .send()
            .await
            .expect("listeners");
        let http = &listeners.listeners()[0];
        assert_eq!(http.port(), Some(80));
        let action = &http.default_actions()[0];
        assert_eq!(
            action.target_group_arn(),
            Some(id_of(&ids0, "web-tg")),
            "HTTP forwards to the web servers"
        );
        let tg = elb
            .describe_target_groups()
            .target_group_arns(id_of(&ids0, "web-tg"))
            .send()
            .await
            .expect("tg");
        assert_eq!(tg.target_groups()[0].health_check_path(), Some("/"));
        let rules = elb
            .describe_rules()
            .listener_arn(id_of(&ids0, "http"))
            .send()
            .await
            .expect("rules");
        assert!(
            rules.rules().iter().any(|r| r.priority() == Some("10")),
            "the listener rule: {:?}",
            rules.rules()
        );

        // Web servers: launch template and Auto Scaling group in the private subnets.
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(id_of(&ids0, "web-lt"))
            .versions("$Default")
            .send()
            .await
            .expect("lt versions");
        let data = versions.launch_template_versions()[0]
            .launch_template_data()
            .expect("lt data");
        assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t3.micro"));
        assert_eq!(
            data.monitoring().and_then(|m| m.enabled()),
            Some(true),
            "detailed monitoring"
        );
        assert!(
            data.iam_instance_profile().and_then(|p| p.arn()).is_some(),
            "an instance profile"
        );
        let user_data = data.user_data().expect("user data");
        let user_data =
            String::from_utf8(aws_smithy_types::base64::decode(user_data).expect("base64 user data")).expect("utf-8");
        assert!(
            user_data.contains("nginx") && user_data.contains(id_of(&ids0, "images")),
            "{user_data}"
        );
        let groups = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("shop-web")
            .send()
            .await
            .expect("asg");
        let group = &groups.auto_scaling_groups()[0];
        assert_eq!((group.min_size(), group.max_size()), (Some(1), Some(2)));
        assert_eq!(group.health_check_type(), Some("ELB"));
        assert_eq!(group.target_group_arns(), [id_of(&ids0, "web-tg").to_string()]);
        let zones: BTreeSet<&str> = group.vpc_zone_identifier().unwrap_or_default().split(',').collect();
        assert_eq!(zones, private);
        let policies = asg
            .describe_policies()
            .auto_scaling_group_name("shop-web")
            .send()
            .await
            .expect("policies");
        let tracking = policies.scaling_policies()[0]
            .target_tracking_configuration()
            .expect("target tracking");
        assert_eq!(tracking.target_value(), Some(70.0));
        // Instances launched by the group carry the stack's tags.
        let launched = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:aws:autoscaling:groupName")
                    .values("shop-web")
                    .build(),
            )
            .send()
            .await
            .expect("instances");
        let instance = launched
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .expect("the group launched an instance");
        assert_eq!(ec2_tag(instance.tags(), "stackup:stack"), Some(STACK));
        assert_eq!(ec2_tag(instance.tags(), "Environment"), Some("dev"));

        // Security: web servers only from the load balancer (and SSH from the bastion);
        // SSH to the bastion only from the configured range; NFS only from the web tier.
        let rules = ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("tag:stackup:stack").values(STACK).build())
            .send()
            .await
            .expect("rules");
        let ingress = |group: &str| -> Vec<(Option<i32>, Option<String>, Option<String>)> {
            rules
                .security_group_rules()
                .iter()
                .filter(|r| r.group_id() == Some(group) && r.is_egress() == Some(false))
                .map(|r| {
                    (
                        r.from_port(),
                        r.cidr_ipv4().map(str::to_string),
                        r.referenced_group_info().and_then(|g| g.group_id()).map(str::to_string),
                    )
                })
                .collect()
        };
        let mut web = ingress(&sg("web-sg"));
        web.sort();
        assert_eq!(
            web,
            vec![
                (Some(22), None, Some(sg("bastion-sg"))),
                (Some(80), None, Some(sg("alb-sg")))
            ]
        );
        assert_eq!(
            ingress(&sg("bastion-sg")),
            vec![(Some(22), Some("203.0.113.0/24".into()), None)]
        );
        assert_eq!(ingress(&sg("efs-sg")), vec![(Some(2049), None, Some(sg("web-sg")))]);
        let mut alb = ingress(&sg("alb-sg"));
        alb.sort();
        assert_eq!(
            alb,
            vec![
                (Some(80), Some("0.0.0.0/0".into()), None),
                (Some(443), Some("0.0.0.0/0".into()), None)
            ]
        );

        // Bastion: a t3.micro in a public subnet.
        let bastion = ec2
            .describe_instances()
            .instance_ids(id_of(&ids0, "bastion"))
            .send()
            .await
            .expect("bastion");
        let bastion = &bastion.reservations()[0].instances()[0];
        assert_eq!(bastion.instance_type().map(|t| t.as_str()), Some("t3.micro"));
        assert!(public.contains(bastion.subnet_id().expect("subnet")));

        // Database: private, encrypted, backed up for 7 days, password managed by AWS.
        let dbs = rds
            .describe_db_instances()
            .db_instance_identifier("shop-db")
            .send()
            .await
            .expect("db");
        let db = &dbs.db_instances()[0];
        assert_eq!(db.engine(), Some("postgres"));
        assert_eq!(db.db_instance_class(), Some("db.t3.micro"));
        assert_eq!(db.publicly_accessible(), Some(false));
        assert_eq!(db.storage_encrypted(), Some(true));
        assert_eq!(db.backup_retention_period(), Some(7));
        assert_eq!(db.preferred_backup_window(), Some("03:00-04:00"));
        assert_eq!(db.multi_az(), Some(false));
        assert!(
            db.master_user_secret().and_then(|s| s.secret_arn()).is_some(),
            "AWS-managed password"
        );
        let db_subnets: BTreeSet<&str> = db
            .db_subnet_group()
            .map(|g| g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect())
            .unwrap_or_default();
        assert_eq!(db_subnets, private);

        // Sessions: on demand, TTL, point-in-time recovery.
        let table = ddb
            .describe_table()
            .table_name("shop-sessions")
            .send()
            .await
            .expect("table");
        let billing = table
            .table()
            .and_then(|t| t.billing_mode_summary())
            .and_then(|b| b.billing_mode());
        assert_eq!(billing.map(|b| b.as_str()), Some("PAY_PER_REQUEST"));
        let ttl = ddb
            .describe_time_to_live()
            .table_name("shop-sessions")
            .send()
            .await
            .expect("ttl");
        let ttl = ttl.time_to_live_description().expect("ttl description");
        assert_eq!(ttl.attribute_name(), Some("expires_at"));
        assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
        let backups = ddb
            .describe_continuous_backups()
            .table_name("shop-sessions")
            .send()
            .await
            .expect("pitr");
        let pitr = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status());
        assert_eq!(pitr.map(|s| s.as_str()), Some("ENABLED"));

        // Product images: encrypted EFS, a mount target in each private subnet.
        let fs_id = id_of(&ids0, "images");
        let fs = efs
            .describe_file_systems()
            .file_system_id(fs_id)
            .send()
            .await
            .expect("efs");
        assert_eq!(fs.file_systems()[0].encrypted(), Some(true));
        let targets = efs
            .describe_mount_targets()
            .file_system_id(fs_id)
            .send()
            .await
            .expect("mount targets");
        let mt_subnets: BTreeSet<&str> = targets.mount_targets().iter().map(|m| m.subnet_id()).collect();
        assert_eq!(mt_subnets, private);
        let points = efs
            .describe_access_points()
            .file_system_id(fs_id)
            .send()
            .await
            .expect("access points");
        assert_eq!(points.access_points().len(), 1);

        // Static assets: versioned, encrypted, private.
        // moto's answer has a root element the SDK refuses (see the bucket provider):
        // read the status from the raw body the way a console would show it.
        let versioning = match s3.get_bucket_versioning().bucket(&bucket).send().await {
            Ok(out) => out.status().map(|s| s.as_str().to_string()),
            Err(e) => e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|b| b.split_once("<Status>"))
                .and_then(|(_, rest)| rest.split_once("</Status>"))
                .map(|(status, _)| status.to_string()),
        };
        assert_eq!(versioning.as_deref(), Some("Enabled"));
        let encryption = s3
            .get_bucket_encryption()
            .bucket(&bucket)
            .send()
            .await
            .expect("encryption");
        let algorithm = encryption
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string());
        assert_eq!(algorithm.as_deref(), Some("AES256"));
        let block = s3
            .get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .expect("public access block");
        let block = block.public_access_block_configuration().expect("configuration");
        assert_eq!(
            (
                block.block_public_acls(),
                block.ignore_public_acls(),
                block.block_public_policy(),
                block.restrict_public_buckets()
            ),
            (Some(true), Some(true), Some(true), Some(true))
        );

        // Operations: 7-day log retention, CPU alarms notifying the topic by e-mail.
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix("/stackup/shop/web/")
            .send()
            .await
            .expect("logs");
        assert_eq!(groups.log_groups().len(), 2);
        assert!(groups.log_groups().iter().all(|g| g.retention_in_days() == Some(7)));
        let topic = id_of(&ids0, "alarms").to_string();
        let subs = sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic)
            .send()
            .await
            .expect("subscriptions");
        assert_eq!(subs.subscriptions()[0].endpoint(), Some("ops@example.com"));
        let alarms = cw
            .describe_alarms()
            .alarm_names("shop-web-cpu-high")
            .alarm_names("shop-db-cpu-high")
            .send()
            .await
            .expect("alarms");
        assert_eq!(alarms.metric_alarms().len(), 2);
        for alarm in alarms.metric_alarms() {
            assert_eq!(alarm.metric_name(), Some("CPUUtilization"));
            assert_eq!(alarm.alarm_actions(), std::slice::from_ref(&topic));
        }
        let web_alarm = alarms
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some("shop-web-cpu-high"));
        assert_eq!(web_alarm.and_then(|a| a.threshold()), Some(70.0));

        // Identity: the web role reads the bucket, uses the session table, writes logs;
        // the deployer may call exactly what stackup calls.
        let role_policy = iam
            .get_role_policy()
            .role_name("shop-web")
            .policy_name("web-tier")
            .send()
            .await
            .expect("role policy");
        let document = urlencoding_decode(role_policy.policy_document());
        for needle in ["s3:GetObject", "dynamodb:PutItem", "logs:PutLogEvents", &bucket] {
            assert!(document.contains(needle), "web role policy lacks {needle}: {document}");
        }
        assert!(
            !document.contains("\"*\""),
            "no wildcard action or resource: {document}"
        );
        let user_policy = iam
            .get_user_policy()
            .user_name("shop-deployer")
            .policy_name("stackup-deploy")
            .send()
            .await
            .expect("deployer policy");
        let document = urlencoding_decode(user_policy.policy_document());
        for needle in [
            "ec2:CreateVpc",
            "rds:CreateDBInstance",
            "autoscaling:UpdateAutoScalingGroup",
            "iam:PutUserPolicy",
        ] {
            assert!(document.contains(needle), "deployer policy lacks {needle}");
        }
        assert!(
            !document.contains("\"ec2:*\"") && !document.contains("\"Action\":\"*\""),
            "{document}"
        );
        let _ = vpc;
    });

    // The database's record holds the secret's ARN, never a password.
    let record = project.stackup(&[
        "state",
        "show",
        "shop::aws:rds:DbInstance::db",
        "--json",
        "--stack",
        STACK,
    ]);
    let record = record.expect_code(0).json();
    assert!(record["outputs"]["master_user_secret_arn"]
        .as_str()
        .is_some_and(|a| a.contains(":secret:")));
    for part in ["inputs", "outputs"] {
        let keys: Vec<&String> = record[part].as_object().expect("map").keys().collect();
        assert!(keys.iter().all(|k| !k.contains("password")), "{part}: {keys:?}");
    }

    let outputs = project
        .stackup(&["outputs", "--json", "--stack", STACK])
        .expect_code(0)
        .json();
    for key in [
        "load_balancer_dns_name",
        "bastion_public_ip",
        "database_endpoint",
        "assets_bucket",
        "file_system_id",
        "session_table",
        "alarm_topic_arn",
    ] {
        assert!(
            outputs[key].as_str().is_some_and(|v| !v.is_empty()),
            "output {key}: {outputs}"
        );
    }

    // --- nothing to do right after
    let (code, steps) = diff(&project);
    assert_eq!(
        (code, &steps),
        (0, &BTreeMap::new()),
        "a fresh deploy must show no changes"
    );

    // --- the settings operators change
    text = set(&text, "asg_max = 2", "asg_max = 3");
    text = set(
        &text,
        "web_instance_type = \"t3.micro\"",
        "web_instance_type = \"t3.small\"",
    );
    text = set(&text, "backup_retention_days = 7", "backup_retention_days = 10");
    text = set(&text, "log_retention_days = 7", "log_retention_days = 14");
    text = set(
        &text,
        "ec2_cpu_alarm_threshold = 70.0",
        "ec2_cpu_alarm_threshold = 75.0",
    );
    text = set(
        &text,
        "ssh_allowed_cidr = \"203.0.113.0/24\"",
        "ssh_allowed_cidr = \"198.51.100.0/24\"",
    );
    project.write_stack(STACK, &text);
    let (code, steps) = diff(&project);
    assert_eq!(code, 2);
    let update = |k: &[&str]| ("update".to_string(), keys(k));
    let expected: BTreeMap<String, (String, BTreeSet<String>)> = [
        ("web-asg", update(&["max_size", "launch_template_version"])),
        ("web-lt", update(&["instance_type"])),
        ("db", update(&["backup_retention_days"])),
        ("web-access-logs", update(&["retention_days"])),
        ("web-error-logs", update(&["retention_days"])),
        ("web-cpu-high", update(&["threshold", "description"])),
        (
            "bastion-in-ssh",
            ("create_then_delete".to_string(), keys(&["cidr_ipv4"])),
        ),
        ("public-acl", update(&["ingress"])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(steps, expected);
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    let ids1 = ids(&project);
    for (urn, id) in &ids0 {
        if !urn.ends_with("::bastion-in-ssh") {
            assert_eq!(ids1.get(urn), Some(id), "{urn} changed in place, keeping its id");
        }
    }
    block_on(async {
        let groups = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("shop-web")
            .send()
            .await
            .expect("asg");
        let group = &groups.auto_scaling_groups()[0];
        assert_eq!(group.max_size(), Some(3));
        let version = group
            .launch_template()
            .and_then(|t| t.version())
            .expect("template version");
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(id_of(&ids1, "web-lt"))
            .versions(version)
            .send()
            .await
            .expect("lt version");
        let data = versions.launch_template_versions()[0]
            .launch_template_data()
            .expect("data");
        assert_eq!(
            data.instance_type().map(|t| t.as_str()),
            Some("t3.small"),
            "the group uses the new version"
        );
        let dbs = rds
            .describe_db_instances()
            .db_instance_identifier("shop-db")
            .send()
            .await
            .expect("db");
        assert_eq!(dbs.db_instances()[0].backup_retention_period(), Some(10));
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix("/stackup/shop/web/")
            .send()
            .await
            .expect("logs");
        assert!(groups.log_groups().iter().all(|g| g.retention_in_days() == Some(14)));
        let alarms = cw
            .describe_alarms()
            .alarm_names("shop-web-cpu-high")
            .send()
            .await
            .expect("alarm");
        assert_eq!(alarms.metric_alarms()[0].threshold(), Some(75.0));
    });
    assert_eq!(diff(&project).0, 0, "converged");

    // --- destroy empties the bucket (force_destroy in dev) and leaves nothing
    block_on(async {
        for key in ["index.html", "index.html", "img/logo.png"] {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"<html></html>"))
                .send()
                .await
                .expect("put object");
        }
    });
    project.stackup(&["destroy", "--yes", "--stack", STACK]).expect_code(0);
    assert!(ids(&project).is_empty());
    block_on(async {
        let tagged = |name: &str| Filter::builder().name(name).values(STACK).build();
        assert!(ec2
            .describe_vpcs()
            .filters(tagged("tag:stackup:stack"))
            .send()
            .await
            .expect("vpcs")
            .vpcs()
            .is_empty());
        let running: Vec<String> = ec2
            .describe_instances()
            .filters(tagged("tag:stackup:stack"))
            .send()
            .await
            .expect("instances")
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        assert!(running.is_empty(), "instances left: {running:?}");
        assert!(
            elb.describe_load_balancers().names("shop-alb").send().await.is_err(),
            "the ALB is gone"
        );
        let groups = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("shop-web")
            .send()
            .await
            .expect("asg");
        assert!(groups.auto_scaling_groups().is_empty());
        assert!(rds
            .describe_db_instances()
            .db_instance_identifier("shop-db")
            .send()
            .await
            .is_err());
        assert!(ddb.describe_table().table_name("shop-sessions").send().await.is_err());
        let fss = efs.describe_file_systems().send().await.expect("efs");
        assert!(fss
            .file_systems()
            .iter()
            .all(|f| f.file_system_id() != id_of(&ids1, "images")));
        assert!(
            s3.head_bucket().bucket(&bucket).send().await.is_err(),
            "the bucket is gone"
        );
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix("/stackup/shop/")
            .send()
            .await
            .expect("logs");
        assert!(groups.log_groups().is_empty());
        let alarms = cw
            .describe_alarms()
            .alarm_name_prefix("shop-")
            .send()
            .await
            .expect("alarms");
        assert!(alarms.metric_alarms().is_empty());
        assert!(sns
            .get_topic_attributes()
            .topic_arn(id_of(&ids1, "alarms"))
            .send()
            .await
            .is_err());
        assert!(iam.get_role().role_name("shop-web").send().await.is_err());
        assert!(iam.get_user().user_name("shop-deployer").send().await.is_err());
        assert!(iam
            .get_instance_profile()
            .instance_profile_name("shop-web")
            .send()
            .await
            .is_err());
        let templates = ec2
            .describe_launch_templates()
            .filters(tagged("tag:stackup:stack"))
            .send()
            .await
            .expect("lts");
        assert!(templates.launch_templates().is_empty());
    });
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
