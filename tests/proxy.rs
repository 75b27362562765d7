//! The fault proxy itself, through the real SDK against moto: requests pass through
//! unchanged for query (EC2), JSON (DynamoDB) and REST (S3) services; each fault reaches
//! the SDK as the error AWS would give; latency holds; calls are counted per action;
//! profiles that do not parse name the file, the key and the reason.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::Filter;
use aws_smithy_types::retry::ErrorKind;
use stackup_proxy::{Profile, Proxy};

use crate::support::{block_on, Moto};

/// An SDK configuration looking at the proxy, with retries off so every fault shows.
fn config(proxy: &Proxy) -> aws_config::SdkConfig {
    Moto::shared()
        .sdk_config()
        .into_builder()
        .endpoint_url(&proxy.endpoint)
        .retry_config(RetryConfig::disabled())
        .build()
}

fn s3(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
}

fn profile(text: &str) -> Profile {
    Profile::parse("test profile", text).expect("test profile parses")
}

/// Unique per test process and call, for names moto shares across tests.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

#[test]
fn passthrough_serves_query_json_and_rest_services() {
    let proxy = Proxy::start(&Moto::shared().endpoint, Profile::passthrough(), 1.0, 1);
    let config = config(&proxy);
    block_on(async {
        // EC2 (query): a create and a read by id.
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.91.0.0/16")
            .send()
            .await
            .expect("CreateVpc through the proxy");
        let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
        let read = ec2
            .describe_vpcs()
            .vpc_ids(&vpc_id)
            .send()
            .await
            .expect("DescribeVpcs through the proxy");
        assert_eq!(read.vpcs().len(), 1);
        ec2.delete_vpc().vpc_id(&vpc_id).send().await.expect("DeleteVpc");

        // DynamoDB (JSON).
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let table = unique("stackup-proxy");
        dynamodb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .send()
            .await
            .expect("CreateTable through the proxy");
        let described = dynamodb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .expect("DescribeTable through the proxy");
        assert_eq!(described.table().and_then(|t| t.table_name()), Some(table.as_str()));
        dynamodb
            .delete_table()
            .table_name(&table)
            .send()
            .await
            .expect("DeleteTable");

        // S3 (REST): an object's bytes go up and come back unchanged.
        let s3 = s3(&config);
        let bucket = unique("stackup-proxy");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("CreateBucket through the proxy");
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        s3.put_object()
            .bucket(&bucket)
            .key("dir/object.bin")
            .body(payload.clone().into())
            .send()
            .await
            .expect("PutObject through the proxy");
        let got = s3
            .get_object()
            .bucket(&bucket)
            .key("dir/object.bin")
            .send()
            .await
            .expect("GetObject through the proxy");
        let bytes = got.body.collect().await.expect("object body").into_bytes();
        assert!(bytes.as_ref() == payload.as_slice(), "the object came back changed");
        s3.delete_object()
            .bucket(&bucket)
            .key("dir/object.bin")
            .send()
            .await
            .expect("DeleteObject");
        s3.delete_bucket().bucket(&bucket).send().await.expect("DeleteBucket");
    });
    let counts = proxy.counts();
    for key in [
        "ec2:CreateVpc",
        "ec2:DescribeVpcs",
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        "s3:CreateBucket",
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteBucket",
    ] {
        assert_eq!(counts.get(key), Some(&1), "{key} in {counts:?}");
    }
    assert!(proxy.injected().is_empty(), "{:?}", proxy.injected());
}

#[test]
fn throttling_reaches_the_sdk_as_each_services_error_code() {
    let proxy = Proxy::start(
        &Moto::shared().endpoint,
        profile(
            r#"
            [[rule]]
            service = "ec2"
            action = "DescribeVpcs"
            throttle_rate = 1.0

            [[rule]]
            service = "ec2"
            action = "DescribeSubnets"
            rate_per_second = 0.001
            burst = 2

            [[rule]]
            service = "dynamodb"
            action = "List*"
            throttle_rate = 1.0

            [[rule]]
            service = "s3"
            action = "ListBuckets"
            throttle_rate = 1.0

            [[rule]]
            service = "elbv2"
            action = "DescribeLoadBalancers"
            throttle_rate = 1.0

            [[rule]]
            service = "logs"
            action = "DescribeLogGroups"
            throttle_rate = 1.0

            [[rule]]
            service = "efs"
            action = "DescribeFileSystems"
            throttle_rate = 1.0
            "#,
        ),
        1.0,
        2,
    );
    let config = config(&proxy);
    block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let err = ec2.describe_vpcs().send().await.expect_err("DescribeVpcs is throttled");
        assert_eq!(err.code(), Some("RequestLimitExceeded"), "{err:?}");

        // The bucket holds two calls; the third finds it empty (it refills once in
        // 1000 s).
        for _ in 0..2 {
            ec2.describe_subnets().send().await.expect("within the burst");
        }
        let err = ec2.describe_subnets().send().await.expect_err("over the rate");
        assert_eq!(err.code(), Some("RequestLimitExceeded"), "{err:?}");
        // Actions no rule names are untouched.
        ec2.describe_security_groups()
            .send()
            .await
            .expect("no rule for DescribeSecurityGroups");

        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let err = dynamodb
            .list_tables()
            .send()
            .await
            .expect_err("ListTables is throttled");
        assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");

        let err = s3(&config)
            .list_buckets()
            .send()
            .await
            .expect_err("ListBuckets is throttled");
        assert_eq!(err.code(), Some("SlowDown"), "{err:?}");

        // A query service (ELBv2), a JSON one (Logs) and a REST JSON one (EFS).
        let err = aws_sdk_elasticloadbalancingv2::Client::new(&config)
            .describe_load_balancers()
            .send()
            .await
            .expect_err("DescribeLoadBalancers is throttled");
        assert_eq!(err.code(), Some("Throttling"), "{err:?}");
        let err = aws_sdk_cloudwatchlogs::Client::new(&config)
            .describe_log_groups()
            .send()
            .await
            .expect_err("DescribeLogGroups is throttled");
        assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
        let err = aws_sdk_efs::Client::new(&config)
            .describe_file_systems()
            .send()
            .await
            .expect_err("DescribeFileSystems is throttled");
        assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    });
    let injected = proxy.injected();
    assert_eq!(injected.get("throttle"), Some(&6), "{injected:?}");
    assert_eq!(injected.get("rate_limit"), Some(&1), "{injected:?}");
}

#[test]
fn latency_holds_the_request_for_the_scaled_time() {
    // 4 profile seconds at a time scale of 1/20: 200 ms.
    let proxy = Proxy::start(
        &Moto::shared().endpoint,
        profile("[[rule]]\nservice = \"ec2\"\naction = \"DescribeVpcs\"\nlatency_ms = 4000\n"),
        1.0 / 20.0,
        3,
    );
    let config = config(&proxy);
    let elapsed = block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let started = Instant::now();
        ec2.describe_vpcs().send().await.expect("DescribeVpcs");
        started.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(200), "held only {elapsed:?}");
}

#[test]
fn counts_every_attempt_per_action() {
    let proxy = Proxy::start(
        &Moto::shared().endpoint,
        profile("[[rule]]\nservice = \"ec2\"\naction = \"DescribeSubnets\"\nerror_rate = 1.0\n"),
        1.0,
        4,
    );
    let config = config(&proxy);
    block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&config);
        for _ in 0..3 {
            ec2.describe_vpcs().send().await.expect("DescribeVpcs");
        }
        let err = ec2.describe_subnets().send().await.expect_err("a 5xx is injected");
        assert!(
            matches!(err.code(), Some("InternalError" | "ServiceUnavailable")),
            "{err:?}"
        );
    });
    let counts = proxy.counts();
    assert_eq!(counts.get("ec2:DescribeVpcs"), Some(&3), "{counts:?}");
    // A call answered with an injected fault is still an attempt.
    assert_eq!(counts.get("ec2:DescribeSubnets"), Some(&1), "{counts:?}");
    assert_eq!(proxy.injected().get("5xx"), Some(&1));
}

#[test]
fn a_dropped_connection_is_a_dispatch_failure() {
    let proxy = Proxy::start(
        &Moto::shared().endpoint,
        profile("[[rule]]\nservice = \"ec2\"\naction = \"DescribeVpcs\"\ndrop_rate = 1.0\n"),
        1.0,
        5,
    );
    let config = config(&proxy);
    block_on(async {
        let err = aws_sdk_ec2::Client::new(&config)
            .describe_vpcs()
            .send()
            .await
            .expect_err("the connection is dropped");
        // The SDK calls a connection closed before the response an incomplete message:
        // a transient dispatch failure, which its retries retry.
        match &err {
            SdkError::DispatchFailure(failure) => assert!(
                failure.is_io() || failure.as_other() == Some(ErrorKind::TransientError),
                "not a transient connection failure: {err:?}"
            ),
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
    });
    assert_eq!(proxy.injected().get("drop"), Some(&1));
}

#[test]
fn reads_by_id_miss_a_fresh_resource_within_the_window() {
    let proxy = Proxy::start(
        &Moto::shared().endpoint,
        profile("[[rule]]\nservice = \"*\"\nnot_found_after_create_ms = 600000\n"),
        1.0,
        6,
    );
    let config = config(&proxy);
    block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let vpc_id = ec2
            .create_vpc()
            .cidr_block("10.92.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let err = ec2
            .describe_vpcs()
            .vpc_ids(&vpc_id)
            .send()
            .await
            .expect_err("a read by id misses the new VPC");
        assert_eq!(err.code(), Some("InvalidVpcID.NotFound"), "{err:?}");
        // A filtered, list-style read is never turned into not-found.
        ec2.describe_vpcs()
            .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
            .send()
            .await
            .expect("a filtered read is untouched");

        // The same for a JSON service (by name in the request) and a REST one.
        let bucket = unique("stackup-proxy-fresh");
        let s3 = s3(&config);
        s3.create_bucket().bucket(&bucket).send().await.expect("CreateBucket");
        let err = s3
            .get_bucket_versioning()
            .bucket(&bucket)
            .send()
            .await
            .expect_err("the new bucket is not visible yet");
        assert_eq!(err.code(), Some("NoSuchBucket"), "{err:?}");
        s3.list_buckets()
            .send()
            .await
            .expect("a list names no bucket: untouched");

        // New rules forget the window.
        proxy.set_profile(Profile::passthrough());
        let read = ec2
            .describe_vpcs()
            .vpc_ids(&vpc_id)
            .send()
            .await
            .expect("found once the rules change");
        assert_eq!(read.vpcs().len(), 1);
        ec2.delete_vpc().vpc_id(&vpc_id).send().await.expect("DeleteVpc");
        s3.delete_bucket().bucket(&bucket).send().await.expect("DeleteBucket");
    });
    assert_eq!(proxy.injected().get("not_found"), Some(&2));
}

#[test]
fn profile_errors_name_file_key_and_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("typo.toml");
    std::fs::write(
        &path,
        "[[rule]]\nservice = \"ec2\"\nthrottle_rate = 0.1\n\n[[rule]]\nservice = \"ec2\"\nlatncy_ms = 5\n",
    )
    .expect("write profile");
    let err = Profile::load(&path).expect_err("an unknown key is refused");
    assert_eq!(err.file, path.display().to_string());
    assert_eq!(err.key, "rule[1].latncy_ms", "{err}");
    assert!(err.reason.contains("unknown field"), "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("typo.toml") && shown.contains("rule[1].latncy_ms"),
        "{shown}"
    );

    let err = Profile::parse("inline", "[[rule]]\nservice = \"s3\"\nerror_rate = 2\n")
        .expect_err("a probability above 1 is refused");
    assert_eq!((err.file.as_str(), err.key.as_str()), ("inline", "rule[0].error_rate"));
    assert!(err.reason.contains("probability"), "{err}");

    // The shipped profiles parse.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["realistic", "chaos"] {
        let loaded = Profile::load(&root.join(format!("profiles/{name}.toml")))
            .unwrap_or_else(|e| panic!("profiles/{name}.toml: {e}"));
        assert_eq!(loaded.name(), name);
    }
}

/// The limiter under stackup's clients (`stackup_aws::Pacer`) sends EC2's reads no
/// faster than AWS's published bucket (100 tokens, 20 per second; here twice as fast on
/// both sides): a burst of 160 concurrent calls through a proxy that enforces that
/// bucket is never refused, where the same burst unpaced is. Retries are off, so a
/// refusal would fail its call.
#[test]
fn paced_clients_stay_within_the_published_rate_limits() {
    const SCALE: f64 = 2.0;
    const CALLS: usize = 160;
    let rules = r#"
        [[rule]]
        service = "ec2"
        action = ["Describe*", "Get*", "List*", "Search*"]
        rate_per_second = 20
        burst = 100
    "#;
    let burst = |pace: f64| -> (usize, usize, Vec<String>) {
        let proxy = Proxy::start(&Moto::shared().endpoint, profile(rules), 1.0, 3);
        proxy.set_rate_scale(SCALE);
        let clients = stackup_aws::AwsClients::paced(&config(&proxy), stackup_aws::Pacer::scaled(pace));
        // Many threads, as the command line runs: calls released one refill apart leave
        // one refill apart, not bunched behind a single thread.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let failed = runtime.block_on(async {
            // AWS's buckets are long-lived and full when a run starts: one call makes
            // the proxy's (and the limiter's), then both refill.
            clients.ec2.describe_vpcs().send().await.expect("the first call");
            tokio::time::sleep(Duration::from_secs_f64(100.0 / (20.0 * SCALE) + 0.2)).await;
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..CALLS {
                let ec2 = clients.ec2.clone();
                calls.spawn(async move { ec2.describe_vpcs().send().await.is_err() });
            }
            let mut failed = 0;
            while let Some(done) = calls.join_next().await {
                failed += usize::from(done.expect("the call's task finishes"));
            }
            failed
        });
        let refused = proxy.injected().get("rate_limit").copied().unwrap_or(0);
        (failed, refused, clients.pacer.summary())
    };

    let (failed, refused, summary) = burst(SCALE);
    assert_eq!(
        (failed, refused),
        (0, 0),
        "paced: nothing refused; the limiter: {summary:?}"
    );
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert!(
        summary[0].starts_with(&format!("ec2 non-mutating: {} calls", CALLS + 1)) && !summary[0].contains(", 0 waited"),
        "what the burst could not take waited for a token: {summary:?}"
    );

    let (failed, refused, summary) = burst(0.0);
    assert!(
        refused > 0 && failed == refused,
        "unpaced, the bucket refuses calls: {refused} refused, {failed} failed"
    );
    assert!(summary.is_empty(), "an unpaced limiter keeps no buckets: {summary:?}");
}
