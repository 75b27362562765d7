//! The network tier's whole life against moto: create from nothing, no changes right
//! after, changes in place, a replacement, and a destroy that leaves nothing, each
//! checked through the SDK the way a user would check the console, not by trusting
//! stackup's state.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use serde_json::Value as Json;

use crate::support::{block_on, Moto, NetworkStack, Project};

/// What AWS holds for one stack, found by the `stackup:stack` tag.
#[derive(Debug, Default)]
struct Inventory {
    vpcs: Vec<aws_sdk_ec2::types::Vpc>,
    subnets: Vec<aws_sdk_ec2::types::Subnet>,
    igws: Vec<aws_sdk_ec2::types::InternetGateway>,
    eips: Vec<aws_sdk_ec2::types::Address>,
    nats: Vec<aws_sdk_ec2::types::NatGateway>,
    route_tables: Vec<aws_sdk_ec2::types::RouteTable>,
    acls: Vec<aws_sdk_ec2::types::NetworkAcl>,
    groups: Vec<aws_sdk_ec2::types::SecurityGroup>,
    rules: Vec<aws_sdk_ec2::types::SecurityGroupRule>,
}

impl Inventory {
    fn total(&self) -> usize {
        self.vpcs.len()
            + self.subnets.len()
            + self.igws.len()
            + self.eips.len()
            + self.nats.len()
            + self.route_tables.len()
            + self.acls.len()
            + self.groups.len()
            + self.rules.len()
    }
}

fn stack_filter(stack: &str) -> Filter {
    Filter::builder().name("tag:stackup:stack").values(stack).build()
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

async fn inventory(ec2: &aws_sdk_ec2::Client, stack: &str) -> Inventory {
    let f = || stack_filter(stack);
    let nats = ec2.describe_nat_gateways().send().await.expect("nats");
    Inventory {
        vpcs: ec2
            .describe_vpcs()
            .filters(f())
            .send()
            .await
            .expect("vpcs")
            .vpcs()
            .to_vec(),
        subnets: ec2
            .describe_subnets()
            .filters(f())
            .send()
            .await
            .expect("subnets")
            .subnets()
            .to_vec(),
        igws: ec2
            .describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .expect("igws")
            .internet_gateways()
            .to_vec(),
        eips: ec2
            .describe_addresses()
            .filters(f())
            .send()
            .await
            .expect("eips")
            .addresses()
            .to_vec(),
        // moto ignores tag filters on NAT gateways and keeps deleted ones listed.
        nats: nats
            .nat_gateways()
            .iter()
            .filter(|n| tag(n.tags(), "stackup:stack") == Some(stack))
            .filter(|n| n.state().map(|s| s.as_str()) != Some("deleted"))
            .cloned()
            .collect(),
        route_tables: ec2
            .describe_route_tables()
            .filters(f())
            .send()
            .await
            .expect("route tables")
            .route_tables()
            .to_vec(),
        acls: ec2
            .describe_network_acls()
            .filters(f())
            .send()
            .await
            .expect("acls")
            .network_acls()
            .to_vec(),
        groups: ec2
            .describe_security_groups()
            .filters(f())
            .send()
            .await
            .expect("groups")
            .security_groups()
            .to_vec(),
        rules: ec2
            .describe_security_group_rules()
            .filters(f())
            .send()
            .await
            .expect("rules")
            .security_group_rules()
            .to_vec(),
    }
}

fn by_urn<'a, T>(items: &'a [T], tags: impl Fn(&T) -> &[aws_sdk_ec2::types::Tag], name: &str) -> &'a T {
    items
        .iter()
        .find(|i| tag(tags(i), "stackup:urn").is_some_and(|u| u.ends_with(&format!("::{name}"))))
        .unwrap_or_else(|| panic!("no object tagged as {name}"))
}

/// URN -> physical id, from `state list --json`.
fn ids(project: &Project, stack: &str) -> BTreeMap<String, String> {
    let run = project
        .stackup(&["state", "list", "--json", "--stack", stack])
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

/// `diff --json`: (exit code, name -> action of every changed step, the JSON).
fn diff(project: &Project, stack: &str) -> (i32, BTreeMap<String, String>, Json) {
    let run = project.stackup(&["diff", "--json", "--stack", stack]);
    assert!(
        run.code == 0 || run.code == 2,
        "diff failed: {}\n{}",
        run.stdout,
        run.stderr
    );
    let json = run.json();
    let steps = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let urn = s["urn"].as_str().expect("urn");
            let name = urn.rsplit("::").next().expect("name").to_string();
            (name, s["action"].as_str().expect("action").to_string())
        })
        .collect();
    (run.code, steps, json)
}

fn changed_keys(json: &Json, name: &str) -> BTreeSet<String> {
    json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["urn"].as_str().is_some_and(|u| u.ends_with(&format!("::{name}"))))
        .map(|s| {
            s["changes"]
                .as_array()
                .expect("changes")
                .iter()
                .map(|c| c["key"].as_str().expect("key").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Every id in `before` is unchanged in `after`, except those of `replaced` names.
#[track_caller]
fn assert_ids_kept(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>, replaced: &[&str]) {
    for (urn, id) in before {
        let name = urn.rsplit("::").next().expect("name");
        let Some(now) = after.get(urn) else { continue };
        if replaced.contains(&name) {
            assert_ne!(now, id, "{urn} should have been replaced");
        } else {
            assert_eq!(now, id, "{urn} should have kept its id");
        }
    }
}

#[test]
fn network_tier_lifecycle() {
    let moto = Moto::shared();
    let ec2 = moto.ec2();
    let project = Project::new(&moto.endpoint);
    let stack = "netlife";
    let mut config = NetworkStack::default();
    project.write_stack(stack, &config.toml());

    // --- up from nothing
    let run = project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    assert!(run.stdout.contains("32 created"), "{}", run.stdout);
    assert!(
        run.stderr.contains("created netlife::aws:ec2:Vpc::vpc"),
        "progress view: {}",
        run.stderr
    );
    let live = block_on(inventory(&ec2, stack));
    assert_eq!(live.vpcs.len(), 1);
    let vpc = &live.vpcs[0];
    let vpc_id = vpc.vpc_id().expect("vpc id");
    assert_eq!(vpc.cidr_block(), Some("10.30.0.0/16"));
    assert_eq!(tag(vpc.tags(), "stackup:urn"), Some("netlife::aws:ec2:Vpc::vpc"));
    assert_eq!(tag(vpc.tags(), "Project"), Some("ecommerce"));
    assert_eq!(tag(vpc.tags(), "Environment"), Some("test"));
    assert_eq!(tag(vpc.tags(), "Name"), Some("netlife-vpc"));
    for attribute in [VpcAttributeName::EnableDnsSupport, VpcAttributeName::EnableDnsHostnames] {
        let out = block_on(
            ec2.describe_vpc_attribute()
                .vpc_id(vpc_id)
                .attribute(attribute.clone())
                .send(),
        )
        .expect("vpc attribute");
        let on = match attribute {
            VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
            _ => out.enable_dns_hostnames(),
        };
        assert_eq!(on.and_then(|v| v.value()), Some(true), "{attribute:?}");
    }
    assert_eq!(live.subnets.len(), 4);
    let zones: BTreeSet<&str> = live.subnets.iter().filter_map(|s| s.availability_zone()).collect();
    assert_eq!(zones, BTreeSet::from(["us-east-1a", "us-east-1b"]));
    for s in &live.subnets {
        let public = tag(s.tags(), "Tier") == Some("public");
        assert_eq!(s.map_public_ip_on_launch(), Some(public), "{:?}", s.cidr_block());
        assert_eq!(s.vpc_id(), Some(vpc_id));
    }
    assert_eq!(live.igws.len(), 1);
    let igw_id = live.igws[0].internet_gateway_id().expect("igw id");
    assert_eq!(live.igws[0].attachments()[0].vpc_id(), Some(vpc_id));
    assert_eq!(live.nats.len(), 1, "single NAT mode");
    assert_eq!(live.eips.len(), 1);
    let public_a = by_urn(&live.subnets, |s| s.tags(), "public-a");
    assert_eq!(live.nats[0].subnet_id(), public_a.subnet_id());
    let nat_a = live.nats[0].nat_gateway_id().expect("nat id");
    let default_route = |rt: &aws_sdk_ec2::types::RouteTable| {
        rt.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .cloned()
            .expect("default route")
    };
    let public_rt = by_urn(&live.route_tables, |r| r.tags(), "public-rt");
    assert_eq!(default_route(public_rt).gateway_id(), Some(igw_id));
    for name in ["private-rt-a", "private-rt-b"] {
        let rt = by_urn(&live.route_tables, |r| r.tags(), name);
        assert_eq!(default_route(rt).nat_gateway_id(), Some(nat_a), "{name}");
        assert_eq!(rt.associations().len(), 1, "{name} guards one subnet");
    }
    let public_acl = by_urn(&live.acls, |a| a.tags(), "public-acl");
    assert_eq!(public_acl.associations().len(), 2);
    let ssh_entry = public_acl
        .entries()
        .iter()
        .find(|e| e.rule_number() == Some(120))
        .expect("rule 120");
    assert_eq!(ssh_entry.cidr_block(), Some("203.0.113.0/24"));
    assert_eq!(live.groups.len(), 4);
    assert_eq!(
        live.rules.len(),
        10,
        "exactly the declared rules: AWS's default egress was revoked"
    );
    for r in &live.rules {
        if r.from_port() == Some(22) {
            assert_ne!(r.cidr_ipv4(), Some("0.0.0.0/0"), "SSH is never open to the world");
        }
    }
    let web_http = by_urn(&live.rules, |r| r.tags(), "web-in-http");
    let alb_sg = by_urn(&live.groups, |g| g.tags(), "alb-sg");
    assert_eq!(
        web_http.referenced_group_info().and_then(|g| g.group_id()),
        alb_sg.group_id()
    );
    let ids0 = ids(&project, stack);
    assert_eq!(ids0.len(), 32);
    let outputs = project
        .stackup(&["outputs", "--json", "--stack", stack])
        .expect_code(0)
        .json();
    assert_eq!(outputs["vpc_id"], vpc_id);
    // The diagram of the deployed stack labels every resource with its AWS id.
    let dot = project
        .stackup(&["graph", "--format", "dot", "--stack", stack])
        .expect_code(0);
    for (urn, id) in &ids0 {
        assert!(dot.stdout.contains(id.as_str()), "{urn} ({id}) is not in the diagram");
    }

    // --- no changes right after
    let (code, steps, json) = diff(&project, stack);
    assert_eq!((code, steps.len()), (0, 0), "fresh deploy must show no changes: {json}");
    assert_eq!(json["has_changes"], false);

    // --- a tag: every taggable resource updated in place, tags only
    config.tags[1].1 = "staging".into();
    project.write_stack(stack, &config.toml());
    let (code, steps, json) = diff(&project, stack);
    assert_eq!(code, 2);
    assert_eq!(steps.len(), 27, "every taggable resource: {steps:?}");
    for (name, action) in &steps {
        assert_eq!(action, "update", "{name}");
        assert_eq!(
            changed_keys(&json, name),
            BTreeSet::from(["tags".to_string()]),
            "{name}"
        );
    }
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let ids1 = ids(&project, stack);
    assert_eq!(ids1, ids0, "tag changes keep every id");
    let live = block_on(inventory(&ec2, stack));
    assert_eq!(tag(live.vpcs[0].tags(), "Environment"), Some("staging"));
    assert!(live
        .rules
        .iter()
        .all(|r| tag(r.tags(), "Environment") == Some("staging")));
    assert_eq!(diff(&project, stack).0, 0);

    // --- the SSH range: the rule is replaced, the ACL entry updated in place
    config.ssh = "198.51.100.0/24".into();
    project.write_stack(stack, &config.toml());
    let (code, steps, json) = diff(&project, stack);
    assert_eq!(code, 2);
    assert_eq!(
        steps,
        expect(&[("bastion-in-ssh", "create_then_delete"), ("public-acl", "update")]),
        "{json}"
    );
    assert_eq!(
        changed_keys(&json, "bastion-in-ssh"),
        BTreeSet::from(["cidr_ipv4".to_string()])
    );
    assert_eq!(
        changed_keys(&json, "public-acl"),
        BTreeSet::from(["ingress".to_string()])
    );
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let ids2 = ids(&project, stack);
    assert_ids_kept(&ids1, &ids2, &["bastion-in-ssh"]);
    let live = block_on(inventory(&ec2, stack));
    let bastion_sg = by_urn(&live.groups, |g| g.tags(), "bastion-sg").group_id().expect("sg");
    let ssh: Vec<Option<&str>> = live
        .rules
        .iter()
        .filter(|r| r.group_id() == Some(bastion_sg) && r.from_port() == Some(22))
        .map(|r| r.cidr_ipv4())
        .collect();
    assert_eq!(
        ssh,
        vec![Some("198.51.100.0/24")],
        "the old rule is gone, the new one there"
    );
    let public_acl = by_urn(&live.acls, |a| a.tags(), "public-acl");
    let entry = public_acl
        .entries()
        .iter()
        .find(|e| e.rule_number() == Some(120))
        .expect("rule 120");
    assert_eq!(entry.cidr_block(), Some("198.51.100.0/24"));
    assert_eq!(diff(&project, stack).0, 0);

    // --- NAT mode: a second NAT gateway and its address, one route repointed in place
    config.nat_mode = "per_az".into();
    project.write_stack(stack, &config.toml());
    let (code, steps, json) = diff(&project, stack);
    assert_eq!(code, 2);
    assert_eq!(
        steps,
        expect(&[("nat-eip-b", "create"), ("nat-b", "create"), ("private-rt-b", "update")]),
        "{json}"
    );
    assert_eq!(
        changed_keys(&json, "private-rt-b"),
        BTreeSet::from(["routes".to_string()])
    );
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let ids3 = ids(&project, stack);
    assert_ids_kept(&ids2, &ids3, &[]);
    let live = block_on(inventory(&ec2, stack));
    assert_eq!(live.nats.len(), 2);
    let nat_b = &ids3["netlife::aws:ec2:NatGateway::nat-b"];
    let rt_b = by_urn(&live.route_tables, |r| r.tags(), "private-rt-b");
    assert_eq!(default_route(rt_b).nat_gateway_id(), Some(nat_b.as_str()));
    assert_eq!(diff(&project, stack).0, 0);

    // --- a subnet CIDR: only that subnet and what hangs on it are replaced
    config.private[1] = "10.30.12.0/24".into();
    project.write_stack(stack, &config.toml());
    let (code, steps, json) = diff(&project, stack);
    assert_eq!(code, 2);
    assert_eq!(
        steps,
        expect(&[
            ("private-b", "create_then_delete"),
            ("private-rta-b", "delete_then_create"),
            ("private-acl", "update"),
        ]),
        "{json}"
    );
    assert_eq!(
        changed_keys(&json, "private-b"),
        BTreeSet::from(["cidr_block".to_string()])
    );
    project.stackup(&["up", "--yes", "--stack", stack]).expect_code(0);
    let ids4 = ids(&project, stack);
    assert_ids_kept(&ids3, &ids4, &["private-b", "private-rta-b"]);
    let live = block_on(inventory(&ec2, stack));
    let cidrs: BTreeSet<&str> = live.subnets.iter().filter_map(|s| s.cidr_block()).collect();
    assert_eq!(
        cidrs,
        BTreeSet::from(["10.30.0.0/24", "10.30.1.0/24", "10.30.10.0/24", "10.30.12.0/24"]),
        "the old subnet is deleted"
    );
    let private_acl = by_urn(&live.acls, |a| a.tags(), "private-acl");
    let guarded: BTreeSet<&str> = private_acl
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id())
        .collect();
    let private_b = &ids4["netlife::aws:ec2:Subnet::private-b"];
    assert!(guarded.contains(private_b.as_str()), "the ACL guards the new subnet");
    assert_eq!(diff(&project, stack).0, 0);

    // --- destroy asks first; without a terminal and without --yes it changes nothing
    let run = project.stackup(&["destroy", "--stack", stack]).expect_code(1);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(ids(&project, stack).len(), 34);

    // --- destroy leaves nothing in the API
    project.stackup(&["destroy", "--yes", "--stack", stack]).expect_code(0);
    let live = block_on(inventory(&ec2, stack));
    assert_eq!(live.total(), 0, "left behind: {live:#?}");
    assert!(ids(&project, stack).is_empty());
}
