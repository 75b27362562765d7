//! `stackup graph`: the stack drawn from its program and, once deployed, its records.
//!
//! The picture is derived, never configured:
//! - containers: each VPC, inside it one box per availability zone, inside those the
//!   subnets; a resource sits in the subnet its `subnet_id` names, else in the VPC its
//!   `vpc_id` (or its subnets) name, else outside every VPC;
//! - dependency edges: every reference and `depends_on` of a goal (dashed);
//! - traffic edges: an ingress rule whose source is another security group lets that
//!   group's members reach the rule's group's members (bold, labelled with the port);
//!   a resource is a member of the groups its `security_group_ids`,
//!   `vpc_security_group_ids` or launch template name.
//!
//! Three renderings of one [`Diagram`]: Graphviz DOT, Mermaid (which GitHub renders in a
//! README) and draw.io (diagrams.net), with AWS shapes and a laid-out grid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use stackup_model::{ResourceGoal, ResourceRecord, Urn, Value};

/// Indentation for a line at `depth`.
fn pad(depth: usize) -> String {
    " ".repeat(depth * 2)
}

/// One line of a nested drawing: a box opens (its id, label and depth), a resource,
/// or a box closes.
enum Part<'a> {
    Open(String, String, usize),
    Node(&'a Node, usize),
    Close(usize),
}

/// A box that holds others: a VPC, a zone of it, or a subnet.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Container {
    Vpc(Urn),
    Zone { vpc: Urn, zone: String },
    Subnet(Urn),
}

/// One resource as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub urn: Urn,
    /// The type's last part (`Vpc`, `LoadBalancer`).
    pub kind: String,
    /// The AWS id, when the resource is deployed.
    pub id: Option<String>,
    /// Where it sits: None outside every VPC.
    pub container: Option<Container>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    Dependency,
    Traffic,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: Urn,
    pub to: Urn,
    pub kind: EdgeKind,
    /// For traffic: the protocol and ports (`tcp 5432`).
    pub label: Option<String>,
}

/// The stack as a picture: nodes in containers, and edges.
#[derive(Clone, Debug, Default)]
pub struct Diagram {
    pub stack: String,
    pub nodes: Vec<Node>,
    /// VPC -> zone -> subnets, each VPC's zones and subnets in name order.
    pub vpcs: BTreeMap<Urn, BTreeMap<String, Vec<Urn>>>,
    pub edges: Vec<Edge>,
}

const SUBNET: &str = "aws:ec2:Subnet";
const VPC: &str = "aws:ec2:Vpc";
const GROUP: &str = "aws:ec2:SecurityGroup";
const RULE: &str = "aws:ec2:SecurityGroupRule";
const TEMPLATE: &str = "aws:ec2:LaunchTemplate";
const GROUP_LISTS: [&str; 3] = ["security_group_ids", "vpc_security_group_ids", "security_groups"];

/// Every URN an input refers to, in order (none when it refers to nothing).
fn referenced(goal: &ResourceGoal, key: &str) -> Vec<Urn> {
    goal.inputs
        .get(key)
        .map(|v| v.references().into_iter().map(|r| r.urn.clone()).collect())
        .unwrap_or_default()
}

fn is(urn: &Urn, ty: &str) -> bool {
    urn.type_token().as_str() == ty
}

/// Draws `goals` (the program's resources; lookups are not drawn) with the ids
/// `records` hold for them.
pub fn diagram(stack: &str, goals: &[ResourceGoal], records: &[ResourceRecord]) -> Diagram {
    let ids: BTreeMap<&Urn, &str> = records.iter().map(|r| (&r.urn, r.id.as_str())).collect();
    let by_urn: BTreeMap<&Urn, &ResourceGoal> = goals.iter().map(|g| (&g.urn, g)).collect();
    // Subnets: their VPC and zone.
    let mut vpcs: BTreeMap<Urn, BTreeMap<String, Vec<Urn>>> = BTreeMap::new();
    let mut subnet_vpc: BTreeMap<&Urn, Urn> = BTreeMap::new();
    for g in goals.iter().filter(|g| g.ty.as_str() == VPC) {
        vpcs.entry(g.urn.clone()).or_default();
    }
    for g in goals.iter().filter(|g| g.ty.as_str() == SUBNET) {
        let Some(vpc) = referenced(g, "vpc_id").into_iter().find(|u| is(u, VPC)) else {
            continue;
        };
        let zone = match g.inputs.get("availability_zone") {
            Some(Value::String(z)) => z.clone(),
            // A zone a lookup finds: named by the subnet, as it is only known at plan.
            _ => "zone".to_string(),
        };
        vpcs.entry(vpc.clone())
            .or_default()
            .entry(zone)
            .or_default()
            .push(g.urn.clone());
        subnet_vpc.insert(&g.urn, vpc);
    }
    let container_of = |g: &ResourceGoal| -> Option<Container> {
        if g.ty.as_str() == SUBNET {
            // A subnet is drawn as its own box.
            return None;
        }
        if let Some(s) = referenced(g, "subnet_id")
            .into_iter()
            .find(|u| subnet_vpc.contains_key(u))
        {
            return Some(Container::Subnet(s));
        }
        if let Some(v) = referenced(g, "vpc_id").into_iter().find(|u| vpcs.contains_key(u)) {
            return Some(Container::Vpc(v));
        }
        let via_subnets = referenced(g, "subnet_ids")
            .into_iter()
            .find_map(|s| subnet_vpc.get(&s).cloned());
        via_subnets.map(Container::Vpc)
    };
    let direct: BTreeMap<&Urn, Option<Container>> = goals.iter().map(|g| (&g.urn, container_of(g))).collect();
    // What names no subnet or VPC itself (a rule, a database, a route) goes in the VPC of
    // the first resource it depends on that has one (its group, its subnet group).
    let vpc_of = |c: &Container| match c {
        Container::Vpc(v) | Container::Zone { vpc: v, .. } => Some(v.clone()),
        Container::Subnet(s) => subnet_vpc.get(s).cloned(),
    };
    let nodes: Vec<Node> = goals
        .iter()
        .map(|g| {
            let inherited = || {
                g.dependencies()
                    .iter()
                    .find_map(|d| direct.get(d).cloned().flatten().and_then(|c| vpc_of(&c)))
                    .map(Container::Vpc)
            };
            let is_box = g.ty.as_str() == VPC || subnet_vpc.contains_key(&g.urn);
            Node {
                urn: g.urn.clone(),
                kind: g.ty.as_str().rsplit(':').next().unwrap_or_default().to_string(),
                id: ids.get(&g.urn).map(|s| s.to_string()),
                container: direct[&g.urn]
                    .clone()
                    .or_else(|| if is_box { None } else { inherited() }),
            }
        })
        .collect();

    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    for g in goals {
        for dep in g.dependencies() {
            if by_urn.contains_key(&dep) {
                edges.insert(Edge {
                    from: g.urn.clone(),
                    to: dep,
                    kind: EdgeKind::Dependency,
                    label: None,
                });
            }
        }
    }
    // Group members: the resources that name a group, directly or through the launch
    // template they use.
    let mut members: BTreeMap<Urn, BTreeSet<Urn>> = BTreeMap::new();
    let groups_of = |g: &ResourceGoal| -> Vec<Urn> {
        GROUP_LISTS
            .iter()
            .flat_map(|k| referenced(g, k))
            .filter(|u| is(u, GROUP))
            .collect()
    };
    for g in goals {
        let mut groups = groups_of(g);
        for t in referenced(g, "launch_template_id")
            .into_iter()
            .chain(referenced(g, "launch_template"))
        {
            if let Some(template) = by_urn.get(&t).filter(|t| t.ty.as_str() == TEMPLATE) {
                groups.extend(groups_of(template));
            }
        }
        if g.ty.as_str() == TEMPLATE {
            continue;
        }
        for group in groups {
            members.entry(group).or_default().insert(g.urn.clone());
        }
    }
    for rule in goals.iter().filter(|g| g.ty.as_str() == RULE) {
        if rule.inputs.get("type").and_then(Value::as_str) == Some("egress") {
            continue;
        }
        let (Some(to), Some(from)) = (
            referenced(rule, "security_group_id").into_iter().next(),
            referenced(rule, "source_security_group_id").into_iter().next(),
        ) else {
            continue;
        };
        let port = |k: &str| rule.inputs.get(k).and_then(Value::as_int);
        let label = match (
            rule.inputs.get("protocol").and_then(Value::as_str),
            port("from_port"),
            port("to_port"),
        ) {
            (Some(p), Some(a), Some(b)) if a == b => format!("{p} {a}"),
            (Some(p), Some(a), Some(b)) => format!("{p} {a}-{b}"),
            (Some(p), _, _) => p.to_string(),
            _ => String::new(),
        };
        for source in members.get(&from).into_iter().flatten() {
            for target in members.get(&to).into_iter().flatten() {
                if source != target {
                    edges.insert(Edge {
                        from: source.clone(),
                        to: target.clone(),
                        kind: EdgeKind::Traffic,
                        label: Some(label.clone()),
                    });
                }
            }
        }
    }
    Diagram {
        stack: stack.to_string(),
        nodes,
        vpcs,
        edges: edges.into_iter().collect(),
    }
}

impl Diagram {
    fn label(node: &Node) -> String {
        match &node.id {
            Some(id) => format!("{}\\n{}\\n{}", node.urn.name(), node.kind, id),
            None => format!("{}\\n{}", node.urn.name(), node.kind),
        }
    }

    fn in_container(&self, c: Container) -> impl Iterator<Item = &Node> + '_ {
        self.nodes.iter().filter(move |n| n.container.as_ref() == Some(&c))
    }

    /// The boxes and the resources in them, in drawing order: what DOT and Mermaid
    /// both nest (draw.io lays its boxes out itself).
    fn outline(&self) -> Vec<Part<'_>> {
        let mut parts = Vec::new();
        let own = |urn: &Urn, depth: usize| self.nodes.iter().find(|n| &n.urn == urn).map(|n| Part::Node(n, depth));
        for (v, (vpc, zones)) in self.vpcs.iter().enumerate() {
            parts.push(Part::Open(format!("vpc{v}"), format!("VPC {}", vpc.name()), 1));
            parts.extend(own(vpc, 2));
            parts.extend(self.in_container(Container::Vpc(vpc.clone())).map(|n| Part::Node(n, 2)));
            for (z, (zone, subnets)) in zones.iter().enumerate() {
                parts.push(Part::Open(format!("vpc{v}z{z}"), zone.clone(), 2));
                for (s, subnet) in subnets.iter().enumerate() {
                    parts.push(Part::Open(
                        format!("vpc{v}z{z}s{s}"),
                        format!("subnet {}", subnet.name()),
                        3,
                    ));
                    parts.extend(own(subnet, 4));
                    parts.extend(
                        self.in_container(Container::Subnet(subnet.clone()))
                            .map(|n| Part::Node(n, 4)),
                    );
                    parts.push(Part::Close(3));
                }
                parts.push(Part::Close(2));
            }
            parts.push(Part::Close(1));
        }
        parts.extend(self.outside().into_iter().map(|n| Part::Node(n, 1)));
        parts
    }

    /// The resources outside every VPC.
    fn outside(&self) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.container.is_none() && !self.is_container_node(&n.urn))
            .collect()
    }

    /// Graphviz DOT: containers as clusters, dependencies dashed, traffic bold.
    pub fn to_dot(&self) -> String {
        let id = |u: &Urn| format!("\"{}\"", u.as_str().replace('"', "'"));
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", self.stack.replace('"', "'"));
        out.push_str("  rankdir=LR;\n  compound=true;\n  node [shape=box, style=rounded, fontsize=10];\n");
        for part in self.outline() {
            match part {
                Part::Open(name, label, depth) => {
                    let _ = writeln!(out, "{}subgraph cluster_{name} {{", pad(depth));
                    let _ = writeln!(out, "{}  label=\"{}\";", pad(depth), label.replace('"', "'"));
                }
                Part::Close(depth) => {
                    let _ = writeln!(out, "{}}}", pad(depth));
                }
                Part::Node(n, depth) => {
                    let label = Diagram::label(n).replace('"', "'");
                    let _ = writeln!(out, "{}{} [label=\"{label}\"];", pad(depth), id(&n.urn));
                }
            }
        }
        for e in &self.edges {
            let style = match (&e.kind, &e.label) {
                (EdgeKind::Dependency, _) => "[style=dashed, color=gray50, arrowsize=0.6]".to_string(),
                (EdgeKind::Traffic, label) => format!(
                    "[style=bold, color=blue, label=\"{}\"]",
                    label.as_deref().unwrap_or_default()
                ),
            };
            let _ = writeln!(out, "  {} -> {} {style};", id(&e.from), id(&e.to));
        }
        out.push_str("}\n");
        out
    }

    /// Short ids for the nodes (`n0`, `n1`...), where a format wants plain names.
    fn short_ids(&self) -> BTreeMap<&Urn, String> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.urn, format!("n{i}")))
            .collect()
    }

    /// A VPC or subnet is drawn as its container's own node.
    fn is_container_node(&self, urn: &Urn) -> bool {
        self.vpcs.contains_key(urn) || self.vpcs.values().any(|z| z.values().any(|s| s.contains(urn)))
    }

    /// Mermaid `flowchart`: containers as subgraphs; GitHub draws it in Markdown.
    pub fn to_mermaid(&self) -> String {
        let ids = self.short_ids();
        let mut out = String::from("flowchart LR\n");
        for part in self.outline() {
            match part {
                Part::Open(name, label, depth) => {
                    let _ = writeln!(out, "{}subgraph {name}[\"{}\"]", pad(depth), label.replace('"', "'"));
                }
                Part::Close(depth) => {
                    let _ = writeln!(out, "{}end", pad(depth));
                }
                Part::Node(n, depth) => {
                    let label = Diagram::label(n).replace("\\n", "<br/>").replace('"', "'");
                    let _ = writeln!(out, "{}{}[\"{label}\"]", pad(depth), ids[&n.urn]);
                }
            }
        }
        for e in &self.edges {
            let (from, to) = (&ids[&e.from], &ids[&e.to]);
            match (&e.kind, &e.label) {
                (EdgeKind::Dependency, _) => {
                    let _ = writeln!(out, "  {from} -.-> {to}");
                }
                (EdgeKind::Traffic, label) => {
                    let _ = writeln!(
                        out,
                        "  {from} == \"{}\" ==> {to}",
                        label.as_deref().unwrap_or("traffic")
                    );
                }
            }
        }
        out
    }

    /// draw.io (diagrams.net) XML: containers as groups laid out in a grid, resources as
    /// AWS shapes inside them, edges between them.
    pub fn to_drawio(&self) -> String {
        const W: i64 = 150;
        const H: i64 = 80;
        const PAD: i64 = 30;
        const COLS: usize = 4;
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\n', "&#10;")
        };
        let ids = self.short_ids();
        // (id, parent, label, style, x, y, w, h) for containers; nodes then edges.
        let mut cells = String::new();
        let mut cell = |id: &str, parent: &str, label: &str, style: &str, (x, y, w, h): (i64, i64, i64, i64)| {
            let _ = writeln!(
                cells,
                "        <mxCell id=\"{id}\" value=\"{}\" style=\"{style}\" vertex=\"1\" parent=\"{parent}\">\n          <mxGeometry x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" as=\"geometry\"/>\n        </mxCell>",
                esc(label)
            );
        };
        let grid = |count: usize| -> (i64, i64) {
            let cols = count.clamp(1, COLS) as i64;
            let rows = count.div_ceil(COLS).max(1) as i64;
            (cols * (W + PAD) + PAD, rows * (H + PAD) + PAD + 20)
        };
        let place = |i: usize, top: i64| -> (i64, i64) {
            (
                PAD + (i % COLS) as i64 * (W + PAD),
                top + 20 + (i / COLS) as i64 * (H + PAD),
            )
        };
        let label = |n: &Node| Diagram::label(n).replace("\\n", "\n");
        let shape = |n: &Node| {
            format!(
                "shape=mxgraph.aws4.resourceIcon;resIcon=mxgraph.aws4.{};whiteSpace=wrap;verticalLabelPosition=bottom;verticalAlign=top;fontSize=10;",
                aws_icon(&n.kind)
            )
        };
        let mut y_outer = PAD;
        for (v, (vpc, zones)) in self.vpcs.iter().enumerate() {
            let vpc_id = format!("vpc{v}");
            let loose: Vec<&Node> = self.in_container(Container::Vpc(vpc.clone())).collect();
            let (loose_w, loose_h) = grid(loose.len());
            // Zones side by side below the VPC's own resources.
            let mut zone_boxes = Vec::new();
            let mut x = PAD;
            for (z, (zone, subnets)) in zones.iter().enumerate() {
                let mut sy = PAD + 20;
                let mut subnet_boxes = Vec::new();
                let mut zw = 0;
                for (s, subnet) in subnets.iter().enumerate() {
                    let inside: Vec<&Node> = self.in_container(Container::Subnet(subnet.clone())).collect();
                    let (w, h) = grid(inside.len());
                    subnet_boxes.push((s, subnet, inside, (PAD, sy, w, h)));
                    sy += h + PAD;
                    zw = zw.max(w);
                }
                let zone_geom = (x, loose_h + PAD, zw + 2 * PAD, sy);
                x += zone_geom.2 + PAD;
                zone_boxes.push((z, zone, subnet_boxes, zone_geom));
            }
            let height = loose_h + PAD + zone_boxes.iter().map(|z| z.3 .3).max().unwrap_or(0) + PAD;
            let width = x.max(loose_w + PAD);
            let name = self.nodes.iter().find(|n| &n.urn == vpc).map(label).unwrap_or_default();
            cell(
                &vpc_id,
                "1",
                &format!("VPC {name}"),
                "points=[];shape=mxgraph.aws4.group;grIcon=mxgraph.aws4.group_vpc;strokeColor=#248814;fillColor=none;verticalAlign=top;align=left;spacingLeft=30;fontColor=#AAB7B8;dashed=0;container=1;",
                (PAD, y_outer, width, height),
            );
            for (i, n) in loose.iter().enumerate() {
                let (nx, ny) = place(i, 0);
                cell(&ids[&n.urn], &vpc_id, &label(n), &shape(n), (nx, ny, 60, 60));
            }
            for (z, zone, subnet_boxes, geom) in zone_boxes {
                let zone_id = format!("vpc{v}z{z}");
                cell(
                    &zone_id,
                    &vpc_id,
                    zone,
                    "fillColor=none;strokeColor=#147EBA;dashed=1;verticalAlign=top;fontStyle=0;fontColor=#147EBA;container=1;",
                    geom,
                );
                for (s, subnet, inside, sgeom) in subnet_boxes {
                    let subnet_id = format!("vpc{v}z{z}s{s}");
                    let name = self
                        .nodes
                        .iter()
                        .find(|n| &n.urn == subnet)
                        .map(label)
                        .unwrap_or_default();
                    cell(
                        &subnet_id,
                        &zone_id,
                        &format!("subnet {name}"),
                        "points=[];shape=mxgraph.aws4.group;grIcon=mxgraph.aws4.group_security_group;grStroke=0;strokeColor=#147EBA;fillColor=#E6F2F8;verticalAlign=top;align=left;spacingLeft=30;fontColor=#147EBA;dashed=0;container=1;",
                        sgeom,
                    );
                    for (i, n) in inside.iter().enumerate() {
                        let (nx, ny) = place(i, 0);
                        cell(&ids[&n.urn], &subnet_id, &label(n), &shape(n), (nx, ny, 60, 60));
                    }
                }
            }
            y_outer += height + PAD;
        }
        let outside = self.outside();
        for (i, n) in outside.iter().enumerate() {
            let (nx, ny) = place(i, y_outer);
            cell(&ids[&n.urn], "1", &label(n), &shape(n), (nx, ny, 60, 60));
        }
        for (i, e) in self.edges.iter().enumerate() {
            // A VPC or subnet is its container, not a shape: its edges would point at
            // the box, so only the traffic and the edges between shapes are drawn.
            if self.is_container_node(&e.from) || self.is_container_node(&e.to) {
                continue;
            }
            let style = match e.kind {
                EdgeKind::Dependency => "endArrow=open;dashed=1;strokeColor=#999999;",
                EdgeKind::Traffic => "endArrow=block;strokeWidth=2;strokeColor=#1A73E8;",
            };
            let _ = writeln!(
                cells,
                "        <mxCell id=\"e{i}\" value=\"{}\" style=\"{style}\" edge=\"1\" parent=\"1\" source=\"{}\" target=\"{}\">\n          <mxGeometry relative=\"1\" as=\"geometry\"/>\n        </mxCell>",
                esc(e.label.as_deref().unwrap_or_default()),
                ids[&e.from],
                ids[&e.to]
            );
        }
        format!(
            "<mxfile host=\"stackup\">\n  <diagram name=\"{}\" id=\"stackup\">\n    <mxGraphModel grid=\"1\" gridSize=\"10\">\n      <root>\n        <mxCell id=\"0\"/>\n        <mxCell id=\"1\" parent=\"0\"/>\n{cells}      </root>\n    </mxGraphModel>\n  </diagram>\n</mxfile>\n",
            esc(&self.stack)
        )
    }
}

/// The draw.io AWS 4 icon for a resource kind.
fn aws_icon(kind: &str) -> &'static str {
    match kind {
        "Instance" | "LaunchTemplate" | "Eip" => "ec2",
        "Group" | "Policy" => "auto_scaling2",
        "LoadBalancer" | "Listener" | "ListenerRule" | "TargetGroup" | "TargetGroupAttachment" => {
            "application_load_balancer"
        }
        "NatGateway" => "nat_gateway",
        "InternetGateway" | "InternetGatewayAttachment" => "internet_gateway",
        "RouteTable" | "RouteTableAssociation" => "route_table",
        "SecurityGroup" | "SecurityGroupRule" | "NetworkAcl" => "network_access_control_list",
        "VpcPeeringConnection" => "peering",
        "DbInstance" | "DbSubnetGroup" => "rds",
        "Table" => "dynamodb",
        "Bucket" => "s3",
        "Topic" | "Subscription" => "sns",
        "MetricAlarm" => "cloudwatch_2",
        "LogGroup" => "cloudwatch_2",
        "Role" | "RolePolicy" | "InstanceProfile" | "User" | "UserPolicy" => "role",
        "FileSystem" | "AccessPoint" | "MountTarget" => "elastic_file_system",
        _ => "general",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackup_model::{Properties, Reference, TypeToken};

    fn urn(ty: &'static str, name: &str) -> Urn {
        Urn::new("dev", &TypeToken::from_static(ty), name)
    }

    fn reference(to: &Urn) -> Value {
        Value::Ref(Box::new(Reference {
            urn: to.clone(),
            output: "id".into(),
        }))
    }

    fn goal(ty: &'static str, name: &str, inputs: Vec<(&str, Value)>) -> ResourceGoal {
        ResourceGoal {
            urn: urn(ty, name),
            ty: TypeToken::from_static(ty),
            inputs: inputs.into_iter().collect::<Properties>().into(),
            depends_on: Vec::new(),
        }
    }

    /// A VPC with a public and a private subnet in two zones, a load balancer in front
    /// of an instance, a database behind it, a bucket outside the VPC.
    fn shop() -> Vec<ResourceGoal> {
        let vpc = urn(VPC, "main");
        let public = urn(SUBNET, "public-a");
        let private = urn(SUBNET, "private-b");
        let (alb_sg, web_sg, db_sg) = (urn(GROUP, "alb-sg"), urn(GROUP, "web-sg"), urn(GROUP, "db-sg"));
        let rule = |name: &str, to: &Urn, from: &Urn, port: i64| {
            goal(
                RULE,
                name,
                vec![
                    ("security_group_id", reference(to)),
                    ("source_security_group_id", reference(from)),
                    ("type", "ingress".into()),
                    ("protocol", "tcp".into()),
                    ("from_port", port.into()),
                    ("to_port", port.into()),
                ],
            )
        };
        vec![
            goal(VPC, "main", vec![("cidr_block", "10.0.0.0/16".into())]),
            goal(
                SUBNET,
                "public-a",
                vec![("vpc_id", reference(&vpc)), ("availability_zone", "us-east-1a".into())],
            ),
            goal(
                SUBNET,
                "private-b",
                vec![("vpc_id", reference(&vpc)), ("availability_zone", "us-east-1b".into())],
            ),
            goal(GROUP, "alb-sg", vec![("vpc_id", reference(&vpc))]),
            goal(GROUP, "web-sg", vec![("vpc_id", reference(&vpc))]),
            goal(GROUP, "db-sg", vec![("vpc_id", reference(&vpc))]),
            rule("web-in", &web_sg, &alb_sg, 80),
            rule("db-in", &db_sg, &web_sg, 5432),
            goal(
                "aws:elbv2:LoadBalancer",
                "alb",
                vec![
                    ("subnet_ids", Value::List(vec![reference(&public)])),
                    ("security_group_ids", Value::List(vec![reference(&alb_sg)])),
                ],
            ),
            goal(
                "aws:ec2:Instance",
                "web",
                vec![
                    ("subnet_id", reference(&public)),
                    ("vpc_security_group_ids", Value::List(vec![reference(&web_sg)])),
                ],
            ),
            goal(
                "aws:rds:DbInstance",
                "db",
                vec![("vpc_security_group_ids", Value::List(vec![reference(&db_sg)]))],
            ),
            goal("aws:ec2:Instance", "worker", vec![("subnet_id", reference(&private))]),
            goal("aws:s3:Bucket", "images", vec![("bucket", "shop-images".into())]),
        ]
    }

    fn node<'a>(d: &'a Diagram, name: &str) -> &'a Node {
        d.nodes.iter().find(|n| n.urn.name() == name).expect(name)
    }

    #[test]
    fn resources_sit_in_their_subnet_or_vpc_and_subnets_in_their_zone() {
        let d = diagram("dev", &shop(), &[]);
        let vpc = urn(VPC, "main");
        let zones: Vec<(&String, Vec<&str>)> = d.vpcs[&vpc]
            .iter()
            .map(|(z, s)| (z, s.iter().map(Urn::name).collect()))
            .collect();
        assert_eq!(
            zones,
            [
                (&"us-east-1a".to_string(), vec!["public-a"]),
                (&"us-east-1b".to_string(), vec!["private-b"])
            ]
        );
        assert_eq!(
            node(&d, "web").container,
            Some(Container::Subnet(urn(SUBNET, "public-a")))
        );
        assert_eq!(
            node(&d, "worker").container,
            Some(Container::Subnet(urn(SUBNET, "private-b")))
        );
        assert_eq!(
            node(&d, "alb").container,
            Some(Container::Vpc(vpc.clone())),
            "through its subnets"
        );
        assert_eq!(node(&d, "web-sg").container, Some(Container::Vpc(vpc)));
        assert_eq!(node(&d, "images").container, None);
        assert_eq!(
            node(&d, "db").container,
            Some(Container::Vpc(urn(VPC, "main"))),
            "in the VPC of the group it uses"
        );
        assert_eq!(node(&d, "web-in").container, Some(Container::Vpc(urn(VPC, "main"))));
    }

    #[test]
    fn traffic_follows_the_rules_between_groups_members() {
        let d = diagram("dev", &shop(), &[]);
        let traffic: Vec<(&str, &str, &str)> = d
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Traffic)
            .map(|e| (e.from.name(), e.to.name(), e.label.as_deref().unwrap_or_default()))
            .collect();
        let mut traffic = traffic;
        traffic.sort();
        assert_eq!(traffic, [("alb", "web", "tcp 80"), ("web", "db", "tcp 5432")]);
        let web_deps = d
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Dependency && e.from.name() == "web")
            .count();
        assert_eq!(web_deps, 2, "its subnet and its group");
    }

    #[test]
    fn every_format_holds_every_resource_and_is_well_formed() {
        let records = [ResourceRecord {
            urn: urn("aws:ec2:Instance", "web"),
            ty: TypeToken::from_static("aws:ec2:Instance"),
            id: "i-0abc".into(),
            inputs: Properties::new().into(),
            outputs: Properties::new().into(),
            dependencies: Vec::new(),
            tainted: None,
        }];
        let d = diagram("dev", &shop(), &records);
        assert_eq!(node(&d, "web").id.as_deref(), Some("i-0abc"));
        for (format, text) in [
            ("dot", d.to_dot()),
            ("mermaid", d.to_mermaid()),
            ("drawio", d.to_drawio()),
        ] {
            for g in shop() {
                assert!(text.contains(g.urn.name()), "{format} lacks {}:\n{text}", g.urn);
            }
            assert!(text.contains("i-0abc"), "{format} shows the deployed id");
            match format {
                "dot" => assert_eq!(text.matches('{').count(), text.matches('}').count(), "{text}"),
                "mermaid" => assert_eq!(
                    text.matches("subgraph ").count(),
                    text.lines().filter(|l| l.trim() == "end").count(),
                    "{text}"
                ),
                _ => assert_well_formed_xml(&text),
            }
        }
    }

    /// Every element closes in order (draw.io refuses a file that does not).
    fn assert_well_formed_xml(text: &str) {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("a tag closes") + start;
            let tag = &rest[start + 1..end];
            let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
            if tag.starts_with('/') {
                assert_eq!(open.pop(), Some(name), "</{name}> closes what was opened");
            } else if !tag.ends_with('/') {
                open.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
        assert!(!text.contains("<br"), "no raw markup in attribute values");
    }
}
