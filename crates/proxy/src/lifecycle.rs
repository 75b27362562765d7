//! Lifecycles: AWS answers a create or a delete at once and the object then passes
//! through states (`pending`, `creating`, `deleting`, ...) for minutes; moto is ready
//! (or gone) at once. For each type below, the proxy draws a duration when the call
//! that starts a phase succeeds, and until it has passed rewrites the responses that
//! show the object's state: reads by id, by filter or listing all, keyed by the id in
//! each response item. Objects moto forgets at once on delete (RDS instances, DynamoDB
//! tables, EFS file systems and mount targets) are served from a copy taken from the
//! delete's response (or the last response that showed them) during the window.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::notfound;
use crate::request::Call;
use crate::xml::{self, Doc, Edits};

/// A phase of an object's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Create,
    Delete,
    Modify,
    /// An instance's load balancer health checks (`initial` until they pass).
    Health,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Delete => "delete",
            Phase::Modify => "modify",
            Phase::Health => "health",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Phase> {
        [Phase::Create, Phase::Delete, Phase::Modify, Phase::Health]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// Where a call names the object a phase is about.
#[derive(Debug)]
pub(crate) enum IdFrom {
    /// EC2 ids with this prefix in the response.
    Token(&'static str),
    /// ARNs containing this marker in the response.
    Arn(&'static str),
    /// A request parameter, or its list members (`InstanceId.1`).
    Param(&'static str),
    /// A top-level string field of the JSON response.
    JsonField(&'static str),
    /// A value the request names (path segment, parameter) starting with this.
    Prefix(&'static str),
}

/// One lifecycle type: the calls that start its phases and its states.
#[derive(Debug)]
pub(crate) struct LifeSpec {
    /// The type name profiles use (`nat_gateway`).
    pub name: &'static str,
    pub service: &'static str,
    pub create: &'static [&'static str],
    pub delete: &'static [&'static str],
    pub modify: &'static [&'static str],
    /// Where a create names what it made.
    pub created: IdFrom,
    /// Where a delete or modify names its object.
    pub named: IdFrom,
    /// The transitional state shown in each phase: create, delete, modify.
    pub states: [&'static str; 3],
    /// Instances only: a health-check window, shown by DescribeTargetHealth.
    pub health: bool,
}

impl LifeSpec {
    pub(crate) fn has(&self, phase: Phase) -> bool {
        match phase {
            Phase::Create => !self.create.is_empty(),
            Phase::Delete => !self.delete.is_empty(),
            Phase::Modify => !self.modify.is_empty(),
            Phase::Health => self.health,
        }
    }

    /// The phase a successful call starts, if any.
    pub(crate) fn phase_of(&self, service: &str, action: &str) -> Option<Phase> {
        if service != self.service {
            return None;
        }
        let has = |list: &[&str]| list.contains(&action);
        if has(self.create) {
            Some(Phase::Create)
        } else if has(self.delete) {
            Some(Phase::Delete)
        } else if has(self.modify) {
            Some(Phase::Modify)
        } else {
            None
        }
    }

    /// The state shown `fraction` (0 to 1) of the way through a phase.
    pub(crate) fn state(&self, phase: Phase, fraction: f64) -> &'static str {
        match phase {
            // RDS: "creating", then "backing-up" for the first automated backup.
            Phase::Create if self.name == "db_instance" && fraction >= 0.75 => "backing-up",
            Phase::Create | Phase::Health => self.states[0],
            Phase::Delete => self.states[1],
            Phase::Modify => self.states[2],
        }
    }
}

use IdFrom::*;

#[allow(clippy::too_many_arguments)] // One row of the table below.
const fn life(
    name: &'static str,
    service: &'static str,
    create: &'static [&'static str],
    delete: &'static [&'static str],
    modify: &'static [&'static str],
    created: IdFrom,
    named: IdFrom,
    states: [&'static str; 3],
) -> LifeSpec {
    LifeSpec {
        name,
        service,
        create,
        delete,
        modify,
        created,
        named,
        states,
        health: false,
    }
}

/// Every lifecycle the proxy knows, by the name profiles give it.
#[rustfmt::skip] // One type per line reads as the table it is.
pub(crate) const TYPES: &[LifeSpec] = &[
    life("nat_gateway", "ec2", &["CreateNatGateway"], &["DeleteNatGateway"], &[], Token("nat"), Param("NatGatewayId"), ["pending", "deleting", ""]),
    LifeSpec { health: true, ..life("instance", "ec2", &["RunInstances"], &["TerminateInstances"], &[], Token("i"), Param("InstanceId"), ["pending", "shutting-down", ""]) },
    life("vpc", "ec2", &["CreateVpc"], &[], &[], Token("vpc"), Param("VpcId"), ["pending", "", ""]),
    life("subnet", "ec2", &["CreateSubnet"], &[], &[], Token("subnet"), Param("SubnetId"), ["pending", "", ""]),
    life("load_balancer", "elasticloadbalancing", &["CreateLoadBalancer"], &[], &[], Arn(":loadbalancer/"), Param("LoadBalancerArn"), ["provisioning", "", ""]),
    life("db_instance", "rds", &["CreateDBInstance"], &["DeleteDBInstance"], &["ModifyDBInstance"], Param("DBInstanceIdentifier"), Param("DBInstanceIdentifier"), ["creating", "deleting", "modifying"]),
    life("dynamodb_table", "dynamodb", &["CreateTable"], &["DeleteTable"], &["UpdateTable"], Param("TableName"), Param("TableName"), ["CREATING", "DELETING", "UPDATING"]),
    life("file_system", "elasticfilesystem", &["CreateFileSystem"], &["DeleteFileSystem"], &[], JsonField("FileSystemId"), Prefix("fs-"), ["creating", "deleting", ""]),
    life("vpc_peering_connection", "ec2", &["CreateVpcPeeringConnection"], &["DeleteVpcPeeringConnection"], &["AcceptVpcPeeringConnection"], Token("pcx"), Param("VpcPeeringConnectionId"), ["initiating-request", "deleting", "provisioning"]),
    life("mount_target", "elasticfilesystem", &["CreateMountTarget"], &["DeleteMountTarget"], &[], JsonField("MountTargetId"), Prefix("fsmt-"), ["creating", "deleting", ""]),
];

pub(crate) fn spec_named(name: &str) -> Option<&'static LifeSpec> {
    TYPES.iter().find(|t| t.name == name)
}

/// Values of a request parameter and its list members (`P.1`, `P.member.1`).
pub(crate) fn param_values<'c>(call: &'c Call, name: &'c str) -> impl Iterator<Item = &'c String> + 'c {
    call.params.iter().filter_map(move |(k, v)| {
        let member = k
            .strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
        (member && !v.is_empty()).then_some(v)
    })
}

/// The ids a call names for a phase, from its request or response.
pub(crate) fn ids_from(from: &IdFrom, call: &Call, response: &str) -> Vec<String> {
    let mut ids: Vec<String> = match from {
        Token(prefix) => notfound::tokens(response, prefix),
        Arn(marker) => notfound::arns(response)
            .into_iter()
            .filter(|a| a.contains(marker))
            .collect(),
        Param(name) => param_values(call, name).cloned().collect(),
        JsonField(name) => match serde_json::from_str::<Value>(response) {
            Ok(Value::Object(map)) => map
                .get(*name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        },
        Prefix(prefix) => call.ids.iter().filter(|i| i.starts_with(prefix)).cloned().collect(),
    };
    ids.sort();
    ids.dedup();
    ids
}

/// A phase drawn for one object.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub spec: &'static LifeSpec,
    pub id: String,
    pub phase: Phase,
    pub started: Instant,
    pub duration: Duration,
    /// What reads show of an object moto has forgotten: its XML element or JSON object.
    pub cached: Option<String>,
}

impl Transition {
    pub(crate) fn active(&self, now: Instant) -> bool {
        now < self.started + self.duration
    }

    fn fraction(&self, now: Instant) -> f64 {
        if self.duration.is_zero() {
            return 1.0;
        }
        (now.saturating_duration_since(self.started).as_secs_f64() / self.duration.as_secs_f64()).min(1.0)
    }

    pub(crate) fn state(&self, now: Instant) -> &'static str {
        self.spec.state(self.phase, self.fraction(now))
    }
}

/// One drawn transition, as [`crate::Proxy::lifecycles`] reports it.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    /// SigV4 signing name (`ec2`, `rds`, ...).
    pub service: String,
    /// The lifecycle type (`nat_gateway`, `db_instance`, ...).
    pub kind: String,
    /// The object's id (EC2 id, ARN, RDS identifier, table name, EFS id).
    pub id: String,
    pub phase: Phase,
    /// When the call that began it was answered.
    pub started: Instant,
    /// How long the phase lasts (the profile's draw, times the time scale).
    pub duration: Duration,
}

impl From<&Transition> for Lifecycle {
    fn from(t: &Transition) -> Lifecycle {
        Lifecycle {
            service: t.spec.service.to_string(),
            kind: t.spec.name.to_string(),
            id: t.id.clone(),
            phase: t.phase,
            started: t.started,
            duration: t.duration,
        }
    }
}

/// The transitions in force at one moment, for rewriting one response.
pub(crate) struct View {
    pub now: Instant,
    /// Active transitions (phases create, delete, modify; health separately).
    pub active: Vec<Transition>,
}

impl View {
    /// The phase an object is in: the latest begun, if it has not ended.
    pub(crate) fn current(&self, kind: &str, id: &str) -> Option<&Transition> {
        self.active
            .iter()
            .filter(|t| t.spec.name == kind && t.id == id && t.phase != Phase::Health)
            .max_by_key(|t| t.started)
    }

    fn health(&self, id: &str) -> bool {
        self.active.iter().any(|t| t.phase == Phase::Health && t.id == id)
    }

    /// Deleted objects still shown, with their copies.
    fn deleting<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.active.iter().filter_map(move |t| match (&t.cached, t.phase) {
            (Some(c), Phase::Delete)
                if t.spec.name == kind && self.current(kind, &t.id).is_some_and(|c| c.phase == Phase::Delete) =>
            {
                Some((t.id.as_str(), c.as_str()))
            }
            _ => None,
        })
    }
}

/// A response the proxy rewrote: status, body, and the content type if it changed.
#[derive(Debug)]
pub(crate) struct Rewritten {
    pub status: u16,
    pub body: String,
    pub content_type: Option<&'static str>,
}

/// Rewrites a response to show the objects in transition; `None` leaves it as it is.
pub(crate) fn rewrite(call: &Call, status: u16, body: &str, view: &View) -> Option<Rewritten> {
    if view.active.is_empty() {
        return None;
    }
    let ok = (200..300).contains(&status);
    let same = |body: String| {
        Some(Rewritten {
            status,
            body,
            content_type: None,
        })
    };
    match (call.service.as_str(), call.action.as_str()) {
        ("ec2", "DescribeNatGateways" | "CreateNatGateway") if ok => {
            same(xml_states(body, view, "nat_gateway", "natGatewayId", 1, &["state"])?)
        }
        ("ec2", "DescribeVpcs" | "CreateVpc") if ok => same(xml_states(body, view, "vpc", "vpcId", 1, &["state"])?),
        ("ec2", "DescribeSubnets" | "CreateSubnet") if ok => {
            same(xml_states(body, view, "subnet", "subnetId", 1, &["state"])?)
        }
        ("ec2", "DescribeInstances" | "RunInstances") if ok => same(xml_instances(body, view)?),
        ("ec2", "DescribeVpcPeeringConnections" | "CreateVpcPeeringConnection" | "AcceptVpcPeeringConnection")
            if ok =>
        {
            same(xml_states(
                body,
                view,
                "vpc_peering_connection",
                "vpcPeeringConnectionId",
                1,
                &["status", "code"],
            )?)
        }
        ("elasticloadbalancing", "DescribeLoadBalancers" | "CreateLoadBalancer") if ok => same(xml_states(
            body,
            view,
            "load_balancer",
            "LoadBalancerArn",
            1,
            &["State", "Code"],
        )?),
        ("elasticloadbalancing", "DescribeTargetHealth") if ok => same(xml_target_health(body, view)?),
        ("autoscaling", "DescribeAutoScalingGroups" | "DescribeAutoScalingInstances") if ok => {
            same(xml_asg(body, view)?)
        }
        ("rds", "DescribeDBInstances") => rds_describe(call, status, body, view),
        ("rds", "CreateDBInstance" | "ModifyDBInstance") if ok => same(xml_states(
            body,
            view,
            "db_instance",
            "DBInstanceIdentifier",
            1,
            &["DBInstanceStatus"],
        )?),
        ("dynamodb", "DescribeTable") => dynamodb_describe(call, status, body, view),
        ("dynamodb", "CreateTable" | "UpdateTable" | "DeleteTable") if ok => {
            same(json_states(body, view, "dynamodb_table", "TableName", "TableStatus")?)
        }
        ("elasticfilesystem", "DescribeFileSystems") => efs_describe(call, status, body, view, EFS_FS),
        ("elasticfilesystem", "DescribeMountTargets") => efs_describe(call, status, body, view, EFS_MT),
        ("elasticfilesystem", "CreateFileSystem") if ok => same(json_states(
            body,
            view,
            "file_system",
            "FileSystemId",
            "LifeCycleState",
        )?),
        ("elasticfilesystem", "CreateMountTarget") if ok => same(json_states(
            body,
            view,
            "mount_target",
            "MountTargetId",
            "LifeCycleState",
        )?),
        _ => None,
    }
}

/// Sets the state at `path` (from the element `up` levels above each `<id_tag>`) of
/// every object of `kind` in transition.
fn xml_states(body: &str, view: &View, kind: &str, id_tag: &str, up: usize, path: &[&str]) -> Option<String> {
    let doc = Doc::parse(body)?;
    let mut edits = Edits::default();
    for id_elem in doc.named(id_tag) {
        let id = doc.text(id_elem);
        let Some(t) = view.current(kind, &id) else { continue };
        if let Some(state) = doc.up(id_elem, up).and_then(|item| doc.path(item, path)) {
            edits.set_text(&doc, state, t.state(view.now));
        }
    }
    (!edits.is_empty()).then(|| edits.apply(body))
}

/// EC2's instance state: `<instanceState><code>0</code><name>pending</name>`.
fn xml_instances(body: &str, view: &View) -> Option<String> {
    let doc = Doc::parse(body)?;
    let mut edits = Edits::default();
    for id_elem in doc.named("instanceId") {
        let id = doc.text(id_elem);
        let Some(t) = view.current("instance", &id) else {
            continue;
        };
        let name = t.state(view.now);
        let code = match name {
            "pending" => "0",
            "shutting-down" => "32",
            _ => continue,
        };
        let Some(item) = doc.up(id_elem, 1) else { continue };
        if let (Some(c), Some(n)) = (
            doc.path(item, &["instanceState", "code"]),
            doc.path(item, &["instanceState", "name"]),
        ) {
            edits.set_text(&doc, c, code);
            edits.set_text(&doc, n, name);
        }
    }
    (!edits.is_empty()).then(|| edits.apply(body))
}

/// Auto Scaling shows a launching instance `Pending` until it runs.
fn xml_asg(body: &str, view: &View) -> Option<String> {
    let doc = Doc::parse(body)?;
    let mut edits = Edits::default();
    for id_elem in doc.named("InstanceId") {
        let id = doc.text(id_elem);
        if !view.current("instance", &id).is_some_and(|t| t.phase == Phase::Create) {
            continue;
        }
        if let Some(state) = doc.up(id_elem, 1).and_then(|m| doc.path(m, &["LifecycleState"])) {
            edits.set_text(&doc, state, "Pending");
        }
    }
    (!edits.is_empty()).then(|| edits.apply(body))
}

/// A registered target whose health checks have not passed yet is `initial`; one that
/// is not registered (`unused`) or on its way out (`draining`) stays as it is.
fn xml_target_health(body: &str, view: &View) -> Option<String> {
    let doc = Doc::parse(body)?;
    let mut edits = Edits::default();
    for id_elem in doc.named("Id") {
        let id = doc.text(id_elem);
        if !view.health(&id) || doc.up(id_elem, 1).map(|t| doc.elems[t].name.as_str()) != Some("Target") {
            continue;
        }
        if let Some(health) = doc.up(id_elem, 2).and_then(|m| doc.path(m, &["TargetHealth"])) {
            let state = doc.path(health, &["State"]).map(|e| doc.text(e));
            if matches!(state.as_deref(), Some("unused" | "draining")) {
                continue;
            }
            edits.set_inner(
                &doc,
                health,
                "<State>initial</State><Reason>Elb.RegistrationInProgress</Reason><Description>Target registration is in progress</Description>",
            );
        }
    }
    (!edits.is_empty()).then(|| edits.apply(body))
}

const RDS_XMLNS: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// DescribeDBInstances: states, plus the instances deleted moments ago (moto forgets
/// them at once) when the call names them or lists all.
fn rds_describe(call: &Call, status: u16, body: &str, view: &View) -> Option<Rewritten> {
    let asked = call
        .params
        .iter()
        .find(|(k, _)| k == "DBInstanceIdentifier")
        .map(|(_, v)| v.as_str());
    let filtered: Vec<&str> = call
        .params
        .iter()
        .filter(|(k, _)| k.starts_with("Filters.") && k.contains(".Values."))
        .map(|(_, v)| v.as_str())
        .collect();
    let has_filters = call.params.iter().any(|(k, _)| k.starts_with("Filters."));
    let wanted: Vec<(&str, &str)> = view
        .deleting("db_instance")
        .filter(|(id, _)| match asked {
            Some(a) => a == *id || id_of_arn(a) == *id,
            None => !has_filters || filtered.iter().any(|f| f == id || id_of_arn(f) == *id),
        })
        .collect();
    if !(200..300).contains(&status) {
        // Asked by identifier for one moto has forgotten: AWS still shows it deleting.
        let (_, element) = wanted.first()?;
        let request_id = Doc::parse(body)
            .and_then(|d| d.named("RequestId").next().map(|i| d.text(i)))
            .unwrap_or_default();
        return Some(Rewritten {
            status: 200,
            body: format!(
                "<DescribeDBInstancesResponse xmlns=\"{RDS_XMLNS}\"><DescribeDBInstancesResult><DBInstances>{element}</DBInstances></DescribeDBInstancesResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></DescribeDBInstancesResponse>",
                xml::escape(&request_id)
            ),
            content_type: Some("text/xml"),
        });
    }
    let doc = Doc::parse(body)?;
    let mut edits = Edits::default();
    let mut present = Vec::new();
    for id_elem in doc.named("DBInstanceIdentifier") {
        let id = doc.text(id_elem);
        let Some(item) = doc.up(id_elem, 1).filter(|i| doc.elems[*i].name == "DBInstance") else {
            continue;
        };
        present.push(id.clone());
        if let Some(t) = view.current("db_instance", &id) {
            if let Some(state) = doc.path(item, &["DBInstanceStatus"]) {
                edits.set_text(&doc, state, t.state(view.now));
            }
        }
    }
    if let Some(list) = doc.named("DBInstances").next() {
        for (id, element) in &wanted {
            if !present.iter().any(|p| p == id) {
                xml::append_child(&mut edits, &doc, list, element);
            }
        }
    }
    (!edits.is_empty()).then(|| Rewritten {
        status,
        body: edits.apply(body),
        content_type: None,
    })
}

/// `arn:aws:rds:...:db:name` -> `name`; anything else as it is.
fn id_of_arn(text: &str) -> &str {
    if text.starts_with("arn:") {
        text.rsplit(':').next().unwrap_or(text)
    } else {
        text
    }
}

/// Sets `state_key` of every JSON object (at any depth) whose `id_key` names an object
/// of `kind` in transition.
fn json_states(body: &str, view: &View, kind: &str, id_key: &str, state_key: &str) -> Option<String> {
    let mut value: Value = serde_json::from_str(body).ok()?;
    let changed = set_json_states(&mut value, view, kind, id_key, state_key);
    changed.then(|| value.to_string())
}

fn set_json_states(value: &mut Value, view: &View, kind: &str, id_key: &str, state_key: &str) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            let state = map
                .get(id_key)
                .and_then(Value::as_str)
                .and_then(|id| view.current(kind, id))
                .map(|t| t.state(view.now));
            if let (Some(state), Some(slot)) = (state, map.get_mut(state_key)) {
                *slot = Value::String(state.to_string());
                changed = true;
            }
            for v in map.values_mut() {
                changed |= set_json_states(v, view, kind, id_key, state_key);
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, v| set_json_states(v, view, kind, id_key, state_key) | c),
        _ => false,
    }
}

/// DescribeTable of a table deleted moments ago answers it `DELETING`.
fn dynamodb_describe(call: &Call, status: u16, body: &str, view: &View) -> Option<Rewritten> {
    if (200..300).contains(&status) {
        return json_states(body, view, "dynamodb_table", "TableName", "TableStatus").map(|body| Rewritten {
            status,
            body,
            content_type: None,
        });
    }
    let name = call
        .params
        .iter()
        .find(|(k, _)| k == "TableName")
        .map(|(_, v)| v.as_str())?;
    let (_, cached) = view
        .deleting("dynamodb_table")
        .find(|(id, _)| *id == name || id_of_arn_slash(name) == *id)?;
    let table: Value = serde_json::from_str(cached).ok()?;
    Some(Rewritten {
        status: 200,
        body: serde_json::json!({ "Table": table }).to_string(),
        content_type: Some("application/x-amz-json-1.0"),
    })
}

/// `arn:...:table/name` -> `name`.
fn id_of_arn_slash(text: &str) -> &str {
    if text.starts_with("arn:") {
        text.rsplit('/').next().unwrap_or(text)
    } else {
        text
    }
}

/// How an EFS list is shaped.
struct EfsList {
    kind: &'static str,
    list: &'static str,
    id_key: &'static str,
    /// Query parameters that select by id; `(param, key in the object)`.
    selectors: &'static [(&'static str, &'static str)],
}

const EFS_FS: EfsList = EfsList {
    kind: "file_system",
    list: "FileSystems",
    id_key: "FileSystemId",
    selectors: &[("FileSystemId", "FileSystemId"), ("CreationToken", "CreationToken")],
};

const EFS_MT: EfsList = EfsList {
    kind: "mount_target",
    list: "MountTargets",
    id_key: "MountTargetId",
    selectors: &[
        ("MountTargetId", "MountTargetId"),
        ("FileSystemId", "FileSystemId"),
        ("AccessPointId", ""),
    ],
};

fn efs_describe(call: &Call, status: u16, body: &str, view: &View, shape: EfsList) -> Option<Rewritten> {
    let ok = (200..300).contains(&status);
    let mut value: Value = if ok {
        serde_json::from_str(body).ok()?
    } else {
        serde_json::json!({ shape.list: [] })
    };
    let mut changed = set_json_states(&mut value, view, shape.kind, shape.id_key, "LifeCycleState");
    let selectors: Vec<(&str, &str)> = shape
        .selectors
        .iter()
        .filter_map(|(param, key)| {
            call.params
                .iter()
                .find(|(k, _)| k == param)
                .map(|(_, v)| (*key, v.as_str()))
        })
        .collect();
    let present: Vec<String> = value
        .get(shape.list)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get(shape.id_key).and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut added = false;
    for (id, cached) in view.deleting(shape.kind) {
        let Ok(mut object) = serde_json::from_str::<Value>(cached) else {
            continue;
        };
        let selected = selectors
            .iter()
            .all(|(key, v)| !key.is_empty() && object.get(*key).and_then(Value::as_str) == Some(*v));
        if !selected || present.iter().any(|p| p == id) {
            continue;
        }
        if let Some(slot) = object.get_mut("LifeCycleState") {
            *slot = Value::String("deleting".to_string());
        }
        if let Some(Value::Array(items)) = value.get_mut(shape.list) {
            items.push(object);
            added = true;
        }
    }
    changed |= added;
    if !ok && !added {
        return None;
    }
    changed.then(|| Rewritten {
        status: 200,
        body: value.to_string(),
        content_type: (!ok).then_some("application/json"),
    })
}

/// What a delete leaves behind for reads: moto's copy of the object in its deleting
/// state, from the delete's response (RDS, DynamoDB), or `last` (EFS, whose deletes
/// answer 204 with no body).
pub(crate) fn cached_on_delete(spec: &LifeSpec, id: &str, response: &str, last: Option<&String>) -> Option<String> {
    match spec.name {
        "db_instance" => {
            let doc = Doc::parse(response)?;
            let element = doc.named("DBInstance").next()?;
            let mut edits = Edits::default();
            if let Some(state) = doc.path(element, &["DBInstanceStatus"]) {
                edits.set_text(&doc, state, "deleting");
            }
            let outer = doc.elems[element].outer.clone();
            let text = edits.apply(response);
            // The edit is inside the element, so its end moved by the length change.
            let end = outer.end + text.len() - response.len();
            Some(text[outer.start..end].to_string())
        }
        "dynamodb_table" => {
            let value: Value = serde_json::from_str(response).ok()?;
            let mut table = value.get("TableDescription")?.clone();
            if let Some(slot) = table.get_mut("TableStatus") {
                *slot = Value::String("DELETING".to_string());
            }
            Some(table.to_string())
        }
        "file_system" | "mount_target" => {
            let mut value: Value = serde_json::from_str(last?).ok()?;
            if let Some(slot) = value.get_mut("LifeCycleState") {
                *slot = Value::String("deleting".to_string());
            }
            let _ = id;
            Some(value.to_string())
        }
        _ => None,
    }
}

/// EFS objects as the latest response showed them, by id: the copies a delete serves.
pub(crate) fn efs_objects(call: &Call, response: &str) -> Vec<(String, String)> {
    if call.service != "elasticfilesystem" {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_str::<Value>(response) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match call.action.as_str() {
        "CreateFileSystem" | "CreateMountTarget" => vec![&value],
        "DescribeFileSystems" => value
            .get("FileSystems")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        "DescribeMountTargets" => value
            .get("MountTargets")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|i| {
            let id = i
                .get("MountTargetId")
                .or_else(|| i.get("FileSystemId"))
                .and_then(Value::as_str)?;
            Some((id.to_string(), i.to_string()))
        })
        .collect()
}

/// Instance ids a response shows (to start the lifecycle of instances the proxy never
/// saw launched: Auto Scaling's), with the ids each one's item names (its subnet,
/// VPC and groups) when the response is DescribeInstances.
pub(crate) fn instances_seen(call: &Call, response: &str) -> Vec<(String, Vec<String>)> {
    let tag = match (call.service.as_str(), call.action.as_str()) {
        ("ec2", "DescribeInstances" | "RunInstances") => "instanceId",
        ("autoscaling", "DescribeAutoScalingGroups" | "DescribeAutoScalingInstances") => "InstanceId",
        ("elasticloadbalancing", "DescribeTargetHealth") => "Id",
        _ => return Vec::new(),
    };
    let Some(doc) = Doc::parse(response) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for elem in doc.named(tag) {
        let id = doc.text(elem);
        if !id.starts_with("i-") || out.iter().any(|(i, _)| *i == id) {
            continue;
        }
        // One first seen already on its way out was not launched just now.
        let leaving = tag == "instanceId"
            && doc
                .up(elem, 1)
                .and_then(|item| doc.child_text(item, &["instanceState", "name"]))
                .is_some_and(|state| !matches!(state.as_str(), "pending" | "running"));
        if leaving {
            continue;
        }
        let related = if tag == "instanceId" {
            doc.up(elem, 1)
                .map(|item| {
                    let text = doc.outer(item);
                    ["vpc", "subnet", "sg"]
                        .iter()
                        .flat_map(|p| notfound::tokens(text, p))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push((id, related));
    }
    out
}
