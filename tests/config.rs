//! Bad stack files fail with a message naming the file, the key and the reason, exit 1,
//! touch no state and make no API call. The "endpoint" here is a listener that counts
//! connections: any AWS call would show up as one.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::{NetworkStack, Project};

/// A loopback listener standing in for AWS, counting every connection made to it.
struct CountingEndpoint {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl CountingEndpoint {
    fn start() -> CountingEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        CountingEndpoint { url, connections }
    }
}

/// Runs `diff` and `up --yes` on `text` and checks each rejects it with every fragment in
/// `expected` (file, key, reason) in its message, before any API call.
#[track_caller]
fn assert_rejected(text: &str, expected: &[&str]) {
    let endpoint = CountingEndpoint::start();
    let project = Project::new(&endpoint.url);
    project.write_stack("bad", text);
    for args in [&["diff", "--stack", "bad"][..], &["up", "--yes", "--stack", "bad"][..]] {
        let run = project.stackup(args).expect_code(1);
        for fragment in expected.iter().chain(&["stacks/bad.toml"]) {
            assert!(
                run.stderr.contains(fragment),
                "`stackup {}` should mention {fragment:?}; stderr was:\n{}",
                args.join(" "),
                run.stderr
            );
        }
        assert!(!run.stderr.contains("panicked"), "no panics: {}", run.stderr);
        assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    }
    assert_eq!(
        endpoint.connections.load(Ordering::SeqCst),
        0,
        "no API call may be made"
    );
    assert!(
        !project.state_dir().exists(),
        "no state may be written for a rejected stack"
    );
}

fn valid() -> String {
    NetworkStack::default().toml()
}

#[test]
fn malformed_toml_names_the_line_and_key() {
    let text = valid().replace("vpc_cidr = \"10.30.0.0/16\"", "vpc_cidr = 10.30.0.0/16");
    assert_rejected(&text, &["network.vpc_cidr", "line 4"]);
}

#[test]
fn unknown_key_is_refused() {
    let text = valid().replace("az_count = 2", "az_count = 2\nnat_gateways = 3");
    assert_rejected(&text, &["network", "nat_gateways", "unknown field"]);
}

#[test]
fn wrong_type_is_refused() {
    let text = valid().replace("az_count = 2", "az_count = \"two\"");
    assert_rejected(&text, &["network.az_count", "invalid type"]);
}

#[test]
fn bad_cidr_is_refused() {
    let text = valid().replace("10.30.0.0/16", "10.30.0.0/33");
    assert_rejected(&text, &["network.vpc_cidr", "not an IPv4 CIDR block"]);
}

#[test]
fn cidr_with_host_bits_is_refused_with_the_network_it_meant() {
    let text = valid().replace("10.30.0.0/16", "10.30.0.1/16");
    assert_rejected(&text, &["network.vpc_cidr", "host bits set", "10.30.0.0/16"]);
}

#[test]
fn subnet_outside_the_vpc_is_refused() {
    let text = valid().replace("\"10.30.1.0/24\"", "\"10.99.1.0/24\"");
    assert_rejected(
        &text,
        &["network.public_subnet_cidrs[1]", "outside the VPC block 10.30.0.0/16"],
    );
}

#[test]
fn overlapping_subnets_are_refused() {
    let text = valid().replace("\"10.30.10.0/24\"", "\"10.30.0.128/25\"");
    assert_rejected(&text, &["network.private_subnet_cidrs[0]", "overlaps 10.30.0.0/24"]);
}

#[test]
fn az_count_zero_is_refused() {
    let text = valid().replace("az_count = 2", "az_count = 0");
    assert_rejected(&text, &["network.az_count", "at least 1"]);
}

#[test]
fn ssh_open_to_the_world_is_refused() {
    let text = valid().replace("203.0.113.0/24", "0.0.0.0/0");
    assert_rejected(&text, &["security.ssh_allowed_cidr", "whole internet"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = valid()
        .replace("az_count = 2", "az_count = 0")
        .replace("\"10.30.1.0/24\"", "\"10.99.1.0/24\"")
        .replace("203.0.113.0/24", "0.0.0.0/0");
    assert_rejected(
        &text,
        &[
            "3 problems",
            "network.az_count",
            "network.public_subnet_cidrs[1]",
            "security.ssh_allowed_cidr",
        ],
    );
}

#[test]
fn every_unknown_key_and_wrong_type_is_reported_at_once() {
    let text = valid()
        .replace("az_count = 2", "az_count = \"two\"\nnat_gateways = 3")
        .replace("203.0.113.0/24\"", "203.0.113.0/24\"\nssh_port = \"22\"");
    assert_rejected(
        &text,
        &[
            "3 problems",
            "network.az_count",
            "unknown field `nat_gateways`",
            "unknown field `ssh_port`",
        ],
    );
}

#[test]
fn missing_stack_file_is_refused() {
    let endpoint = CountingEndpoint::start();
    let project = Project::new(&endpoint.url);
    let run = project.stackup(&["diff", "--stack", "nowhere"]).expect_code(1);
    assert!(
        run.stderr.contains("stacks/nowhere.toml") && run.stderr.contains("cannot read"),
        "{}",
        run.stderr
    );
    assert_eq!(endpoint.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn stack_given_as_a_path_is_named_after_the_file_unless_it_sets_a_name() {
    let endpoint = CountingEndpoint::start();
    let project = Project::new(&endpoint.url);
    let path = project.path().join("custom.toml");
    std::fs::write(&path, format!("name = \"shop\"\n{}", valid())).expect("write");
    // `outputs` reads state only: with no AWS call, it proves the name and file resolved.
    let run = project
        .stackup(&["outputs", "--stack", path.to_str().expect("utf-8 path")])
        .expect_code(0);
    assert!(run.stdout.contains("Outputs of stack shop"), "{}", run.stdout);
    std::fs::write(&path, valid()).expect("write");
    let run = project
        .stackup(&["outputs", "--stack", path.to_str().expect("utf-8 path")])
        .expect_code(0);
    assert!(run.stdout.contains("Outputs of stack custom"), "{}", run.stdout);
    assert_eq!(endpoint.connections.load(Ordering::SeqCst), 0);
}

/// The shipped dev stack file, which carries every tier.
fn platform() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/dev.toml"))
        .expect("stacks/dev.toml")
}

#[test]
fn a_partial_platform_names_the_missing_sections() {
    let text = platform();
    let cut = text.find("[storage]").expect("storage section");
    let text = format!(
        "{}{}",
        &text[..cut],
        &text[text.find("[monitoring]").expect("monitoring")..]
    );
    assert_rejected(
        &text,
        &[
            "key 'storage'",
            "missing",
            "[compute], [database], [storage] and [monitoring]",
        ],
    );
}

#[test]
fn platform_settings_are_validated() {
    let text = platform()
        .replace("log_retention_days = 7", "log_retention_days = 8")
        .replace("asg_min = 1", "asg_min = 3")
        .replace("backup_retention_days = 7", "backup_retention_days = 0")
        .replace("stackup-dev-ecommerce-assets", "Stackup_Assets")
        .replace("ops@example.com", "ops-at-example")
        .replace("web_instance_type = \"t3.micro\"", "web_instance_type = \"large\"");
    assert_rejected(
        &text,
        &[
            "monitoring.log_retention_days",
            "8 is not a retention CloudWatch Logs offers",
            "compute.asg_max",
            "asg_min 3, asg_max 2",
            "database.backup_retention_days",
            "storage.assets_bucket",
            "only lowercase letters",
            "monitoring.alarm_email",
            "compute.web_instance_type",
        ],
    );
}

#[test]
fn the_shipped_stacks_are_valid_and_prod_is_built_for_production() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dev = stackup_ecommerce::StackConfig::load(root.join("stacks/dev.toml").to_str().expect("path")).expect("dev");
    let prod =
        stackup_ecommerce::StackConfig::load(root.join("stacks/prod.toml").to_str().expect("path")).expect("prod");
    assert_eq!(dev.name, "dev");
    assert_eq!(prod.name, "prod");
    assert_eq!(prod.network.nat_mode, stackup_ecommerce::NatMode::PerAz);
    assert!(prod.network.az_count >= 2);
    let (dev, prod) = (
        dev.platform().expect("dev platform"),
        prod.platform().expect("prod platform"),
    );
    assert!(
        prod.database.multi_az && !dev.database.multi_az,
        "Multi-AZ database in prod"
    );
    assert!(prod.database.deletion_protection && !prod.database.skip_final_snapshot);
    assert!(prod.database.backup_retention_days > dev.database.backup_retention_days);
    assert!(prod.monitoring.log_retention_days > dev.monitoring.log_retention_days);
    assert!(!prod.storage.force_destroy, "destroy never empties production's bucket");
}

/// `stackup graph` draws the platform from its file alone: every resource in every
/// format, the load balancer's traffic to the web tier and the web tier's to the
/// database, written where `--output` says, with no AWS call and no state created.
#[test]
fn graph_draws_the_platform_in_every_format_without_calling_aws() {
    let endpoint = CountingEndpoint::start();
    let project = Project::new(&endpoint.url);
    project.write_stack("shop", &platform());
    for format in ["drawio", "dot", "mermaid"] {
        let out = project.path().join(format!("shop.{format}"));
        let run = project
            .stackup(&[
                "graph",
                "--format",
                format,
                "--output",
                out.to_str().expect("utf-8 path"),
                "--stack",
                "shop",
            ])
            .expect_code(0);
        assert!(run.stderr.contains("wrote"), "{}", run.stderr);
        let text = std::fs::read_to_string(&out).expect("the file was written");
        for name in [
            "vpc",
            "alb",
            "web-asg",
            "db",
            "alb-sg",
            "web-sg",
            "db-sg",
            "public-a",
            "private-b",
        ] {
            assert!(text.contains(name), "{format} lacks {name}");
        }
        match format {
            "drawio" => {
                assert!(text.starts_with("<mxfile") && text.trim_end().ends_with("</mxfile>"));
                assert!(text.contains("mxgraph.aws4.application_load_balancer"), "AWS shapes");
                assert_eq!(text.matches("<mxCell").count(), text.matches("</mxCell>").count() + 2);
            }
            "dot" => {
                assert!(text.starts_with("digraph \"shop\""));
                assert!(text.contains("cluster_vpc0z1"), "two zones");
                assert!(text.contains("style=bold"), "traffic edges");
            }
            _ => {
                assert!(text.starts_with("flowchart LR"));
                assert!(text.contains("\"tcp 80\"") || text.contains("\"tcp 443\""), "{text}");
            }
        }
    }
    assert_eq!(endpoint.connections.load(Ordering::SeqCst), 0, "no AWS call");
    assert!(!project.state_dir().join("shop").exists(), "no state created");
}
