//! The web-pair platform (seed 001, `program = "web-pair"`) through the `stackup`
//! binary on moto: up, a clean diff, a change in place, drift found and repaired, one
//! server lost while the other keeps serving, and a destroy that leaves nothing, each
//! checked through the SDK rather than through stackup's own output.

use aws_sdk_ec2::types::Filter;

use crate::support::{assert_exact, block_on, objects_per_urn, Moto, Project};

const STACK: &str = "wp-life";

fn stack_text() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("stacks/web-pair-dev.toml"))
        .expect("stacks/web-pair-dev.toml")
        .replace("name = \"web-pair-dev\"", &format!("name = \"{STACK}\""))
        .replace("10.40.", "10.41.")
}

fn tagged(stack: &str) -> Filter {
    Filter::builder().name("tag:stackup:stack").values(stack).build()
}

/// (target id, state) of every target of `group`.
fn targets(elbv2: &aws_sdk_elasticloadbalancingv2::Client, group: &str) -> Vec<(String, String)> {
    block_on(async {
        let mut out: Vec<(String, String)> = elbv2
            .describe_target_health()
            .target_group_arn(group)
            .send()
            .await
            .expect("target health")
            .target_health_descriptions()
            .iter()
            .map(|d| {
                (
                    d.target().and_then(|t| t.id()).unwrap_or_default().to_string(),
                    d.target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        out.sort();
        out
    })
}

#[test]
fn the_web_pair_deploys_keeps_serving_without_one_server_and_leaves_nothing() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let ec2 = moto.ec2();
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let project = Project::new(&moto.endpoint);
    project.write_stack(STACK, &stack_text());

    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    project.stackup(&["diff", "--stack", STACK]).expect_code(0);
    assert_exact(&project, &moto.endpoint, STACK);
    let ids = project.ids_by_name(STACK);
    let (web_a, web_b, group) = (ids["web-a"].clone(), ids["web-b"].clone(), ids["web-tg"].clone());

    // Both servers are private, carry the SSM profile, and are the group's targets.
    block_on(async {
        let reservations = ec2
            .describe_instances()
            .instance_ids(&web_a)
            .instance_ids(&web_b)
            .send()
            .await
            .expect("instances");
        let instances: Vec<_> = reservations.reservations().iter().flat_map(|r| r.instances()).collect();
        assert_eq!(instances.len(), 2);
        for i in instances {
            assert!(i.public_ip_address().is_none(), "{:?} is private", i.instance_id());
            assert!(
                i.iam_instance_profile()
                    .and_then(|p| p.arn())
                    .is_some_and(|a| a.ends_with(&format!("/{STACK}-web"))),
                "{:?}",
                i.iam_instance_profile()
            );
            let subnet = i.subnet_id().unwrap_or_default();
            assert!(subnet == ids["private-a"] || subnet == ids["private-b"], "{subnet}");
        }
        // The servers' group takes HTTP from the load balancer's group only, and no
        // rule of the stack opens SSH.
        let rules = ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(&ids["web-sg"]).build())
            .send()
            .await
            .expect("rules");
        let ingress: Vec<_> = rules
            .security_group_rules()
            .iter()
            .filter(|r| r.is_egress() == Some(false))
            .collect();
        assert_eq!(ingress.len(), 1, "{ingress:?}");
        assert_eq!(
            ingress[0].referenced_group_info().and_then(|g| g.group_id()),
            Some(ids["alb-sg"].as_str())
        );
        assert_eq!((ingress[0].from_port(), ingress[0].to_port()), (Some(80), Some(80)));
        for sg in ["web-sg", "alb-sg"] {
            let rules = ec2
                .describe_security_group_rules()
                .filters(Filter::builder().name("group-id").values(&ids[sg]).build())
                .send()
                .await
                .expect("rules");
            assert!(
                rules
                    .security_group_rules()
                    .iter()
                    .all(|r| !(r.from_port().unwrap_or(0)..=r.to_port().unwrap_or(0)).contains(&22)),
                "no SSH in {sg}"
            );
        }
    });
    let registered: Vec<String> = targets(&elbv2, &group).into_iter().map(|(id, _)| id).collect();
    let mut both = vec![web_a.clone(), web_b.clone()];
    both.sort();
    assert_eq!(registered, both);

    // A change in place: a tag on every object, nothing replaced.
    project.change_in_place(
        STACK,
        &stack_text().replace("environment = \"dev\"", "environment = \"qa\""),
        10,
    );
    assert_eq!(project.ids_by_name(STACK)["web-a"], web_a, "updated in place");
    block_on(async {
        let vpcs = ec2.describe_vpcs().filters(tagged(STACK)).send().await.expect("vpcs");
        let environment = vpcs.vpcs()[0]
            .tags()
            .iter()
            .find(|t| t.key() == Some("environment"))
            .and_then(|t| t.value())
            .map(str::to_string);
        assert_eq!(environment.as_deref(), Some("qa"));
    });

    // Drift: the health check path changed in the console; diff finds it, up repairs.
    block_on(async {
        elbv2
            .modify_target_group()
            .target_group_arn(&group)
            .health_check_path("/console-edit")
            .send()
            .await
            .expect("modify");
    });
    let drifted = project.drifted(STACK);
    assert!(drifted.iter().any(|u| u.ends_with("::web-tg")), "{drifted:?}");
    project.stackup(&["up", "--yes", "--stack", STACK]).expect_code(0);
    block_on(async {
        let described = elbv2
            .describe_target_groups()
            .target_group_arns(&group)
            .send()
            .await
            .expect("group");
        assert_eq!(described.target_groups()[0].health_check_path(), Some("/health"));
    });

    // One server lost: the other is still a registered target the group can serve from.
    block_on(async {
        ec2.stop_instances().instance_ids(&web_a).send().await.expect("stop");
    });
    let after: Vec<(String, String)> = targets(&elbv2, &group);
    let serving: Vec<&(String, String)> = after
        .iter()
        .filter(|(_, state)| state == "healthy" || state == "initial")
        .collect();
    assert_eq!(
        serving.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        [web_b.as_str()],
        "only the stopped server left service: {after:?}"
    );

    project.stackup(&["destroy", "--yes", "--stack", STACK]).expect_code(0);
    assert!(
        objects_per_urn(&moto.endpoint, STACK).is_empty(),
        "nothing tagged is left"
    );
    block_on(async {
        let instances = ec2
            .describe_instances()
            .instance_ids(&web_a)
            .instance_ids(&web_b)
            .send()
            .await
            .expect("instances");
        for i in instances.reservations().iter().flat_map(|r| r.instances()) {
            assert_eq!(
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                Some("terminated"),
                "{:?}",
                i.instance_id()
            );
        }
        let groups = elbv2.describe_target_groups().target_group_arns(&group).send().await;
        assert!(
            groups.map(|g| g.target_groups().is_empty()).unwrap_or(true),
            "the target group is gone"
        );
    });
}
