//! What the proxy knows of the account behind it, for profiles that reshape moto:
//! the lifecycles drawn, what each create named (its relations), the triggers of
//! causal rules, and copies of objects moto has forgotten.
//!
//! **Relations.** At each create (the creates `notfound.rs` follows) the proxy notes
//! the ids the request and response named: a load balancer's subnets, security groups
//! and VPC; a launch template's instance profile; a subnet's VPC; a NAT gateway's
//! subnet, allocation and VPC; an instance's subnet, groups and VPC. A causal rule's
//! trigger object X is *used* by a call that names an id T when T is X, or one hop
//! apart in either direction: T among X's relations, or X among T's.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::catalog;
use crate::deferred;
use crate::lifecycle::{self, Phase, Transition, View};
use crate::notfound;
use crate::profile::{CausalKind, Profile, Trigger};
use crate::request::Call;
use crate::rng::Rng;

/// What a create named.
#[derive(Debug, Default)]
struct Object {
    related: BTreeSet<String>,
    /// The create's request parameters (`Scheme`, `ConnectivityType`, `Engine`, ...).
    params: Vec<(String, String)>,
}

/// A causal rule's trigger that happened.
#[derive(Debug)]
struct Event {
    rule: usize,
    objects: Vec<String>,
    at: Instant,
    /// `[[after]]`: how long calls fail; `[[requires]]`: how long until they pass.
    window: Duration,
}

/// What the proxy decides before forwarding, beyond the per-call rules.
#[derive(Debug, PartialEq)]
pub(crate) enum Pre {
    /// An error AWS would give; counted under `name`.
    Fault {
        name: String,
        code: String,
        status: u16,
        message: String,
    },
    /// An answer the proxy gives itself (the RDS engine catalog).
    Answer { body: String, content_type: &'static str },
    /// ModifyDBSubnetGroup, done so that moto keeps the group.
    FixSubnetGroup,
    /// GetResources, answered with the DB subnet groups moto's Tagging API misses.
    TagSubnetGroups,
    /// AssociateRouteTable, refused as AWS refuses a subnet associated already.
    CheckRouteTableAssociation,
}

/// Creates whose request names the object under a second name, by parameter.
const ALIASES: &[(&str, &str, &str)] = &[("ec2", "CreateLaunchTemplate", "LaunchTemplateName")];

/// EC2 id prefixes worth noting in a create's response.
const RELATED_TOKENS: &[&str] = &["vpc", "subnet", "sg", "eipalloc", "igw"];

#[derive(Debug, Default)]
pub(crate) struct World {
    /// Every phase drawn, in order.
    pub transitions: Vec<Transition>,
    objects: HashMap<String, Object>,
    events: Vec<Event>,
    seen_instances: HashSet<String>,
    /// EFS objects as last shown (EFS deletes answer no body).
    efs_last: HashMap<String, String>,
    /// Draws made per key, so the n-th draw of a key is the same in every run.
    draws: HashMap<String, usize>,
}

impl World {
    /// Rule indices refer to one profile: a new profile starts without triggers.
    pub(crate) fn forget_events(&mut self) {
        self.events.clear();
    }

    /// A duration from a range in profile milliseconds, scaled, drawn for `key`.
    fn draw(&mut self, seed: u64, key: &str, (lo, hi): (u64, u64), scale: f64) -> Duration {
        let n = {
            let count = self.draws.entry(key.to_string()).or_insert(0);
            *count += 1;
            *count - 1
        };
        let u = Rng::for_call(seed, key, n).unit();
        let ms = lo + ((hi - lo) as f64 * u).round() as u64;
        Duration::from_secs_f64(ms as f64 / 1000.0 * scale)
    }

    /// Checks a call against the catalog and the causal rules, before it is forwarded.
    pub(crate) fn pre(&self, profile: &Profile, call: &Call, now: Instant) -> Option<Pre> {
        if call.service == "rds" && !profile.engine_versions.is_empty() {
            if call.action == "DescribeDBEngineVersions" {
                return Some(Pre::Answer {
                    body: catalog::answer(&profile.engine_versions, call),
                    content_type: "text/xml",
                });
            }
            if call.action == "CreateDBInstance" || call.action == "ModifyDBInstance" {
                let param = |name: &str| call.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                if let Some(version) = param("EngineVersion") {
                    let engine = param("Engine").or_else(|| {
                        let id = param("DBInstanceIdentifier")?;
                        let object = self.objects.get(&id)?;
                        object
                            .params
                            .iter()
                            .find(|(k, _)| k == "Engine")
                            .map(|(_, v)| v.clone())
                    });
                    if let Err(message) = catalog::check(&profile.engine_versions, engine.as_deref(), &version) {
                        return Some(Pre::Fault {
                            name: "rds-engine-version".to_string(),
                            code: "InvalidParameterCombination".to_string(),
                            status: 400,
                            message,
                        });
                    }
                }
            }
        }
        for (index, rule) in profile.causal.iter().enumerate() {
            if rule.service != call.service || !rule.actions.iter().any(|p| p.matches(&call.action)) {
                continue;
            }
            if rule
                .unless
                .iter()
                .any(|(k, v)| call.params.iter().any(|(pk, pv)| pk == k && pv == v))
            {
                continue;
            }
            let of_kind = |id: &str| rule.object.as_ref().is_none_or(|k| kind_of(id) == Some(k.as_str()));
            let targets: Vec<&String> = call.ids.iter().filter(|t| of_kind(t)).collect();
            let hit = match &rule.kind {
                CausalKind::After(_) => self
                    .events
                    .iter()
                    .filter(|e| e.rule == index && now < e.at + e.window)
                    .find_map(|e| self.link(&e.objects, &targets)),
                CausalKind::Requires(..) => {
                    let mut linked: Vec<&str> = Vec::new();
                    for t in &call.ids {
                        let hop = self
                            .objects
                            .get(t)
                            .map(|o| o.related.iter().collect::<Vec<_>>())
                            .unwrap_or_default();
                        for o in std::iter::once(t).chain(hop) {
                            if of_kind(o) && self.objects.contains_key(o) && !linked.contains(&o.as_str()) {
                                linked.push(o);
                            }
                        }
                    }
                    linked
                        .into_iter()
                        .find(|o| {
                            !self
                                .events
                                .iter()
                                .any(|e| e.rule == index && e.objects.iter().any(|x| x == o) && e.at + e.window <= now)
                        })
                        .map(|o| (o.to_string(), o.to_string()))
                }
                CausalKind::During(spec, phases) => {
                    let view = View {
                        now,
                        active: self.transitions.iter().filter(|t| t.active(now)).cloned().collect(),
                    };
                    view.active
                        .iter()
                        .filter(|t| t.spec.name == spec.name && phases.contains(&t.phase))
                        .filter(|t| view.current(spec.name, &t.id).is_some_and(|c| c.phase == t.phase))
                        .find_map(|t| self.link(std::slice::from_ref(&t.id), &targets))
                }
            };
            if let Some((object, id)) = hit {
                return Some(Pre::Fault {
                    name: rule.name.clone(),
                    code: rule.code.clone(),
                    status: rule.status,
                    message: rule.message.replace("{id}", &id).replace("{object}", &object),
                });
            }
        }
        let fixes = profile.workarounds;
        if fixes.modify_db_subnet_group && call.service == "rds" && call.action == "ModifyDBSubnetGroup" {
            return Some(Pre::FixSubnetGroup);
        }
        if fixes.tagging_rds_subnet_groups && call.service == "tagging" && call.action == "GetResources" {
            return Some(Pre::TagSubnetGroups);
        }
        if fixes.route_table_already_associated && call.service == "ec2" && call.action == "AssociateRouteTable" {
            return Some(Pre::CheckRouteTableAssociation);
        }
        None
    }

    /// The first trigger object and target id that are one hop apart at most.
    fn link(&self, objects: &[String], targets: &[&String]) -> Option<(String, String)> {
        for x in objects {
            for t in targets {
                let t = t.as_str();
                let same = t == x || (t.starts_with("arn:") && t.ends_with(&format!("/{x}")));
                let related = |a: &str, b: &str| self.objects.get(a).is_some_and(|o| o.related.contains(b));
                if same || related(x, t) || related(t, x) {
                    return Some((x.clone(), t.to_string()));
                }
            }
        }
        None
    }

    /// Learns from a forwarded call's answer, and returns the transitions in force for
    /// rewriting it.
    #[allow(clippy::too_many_arguments)] // The call, its answer, and the run's clock and seed.
    pub(crate) fn post(
        &mut self,
        profile: &Profile,
        call: &Call,
        status: u16,
        body: &str,
        now: Instant,
        seed: u64,
        scale: f64,
    ) -> View {
        if (200..300).contains(&status) {
            self.learn(profile, call, body, now, seed, scale);
        }
        View {
            now,
            active: self.transitions.iter().filter(|t| t.active(now)).cloned().collect(),
        }
    }

    fn learn(&mut self, profile: &Profile, call: &Call, body: &str, now: Instant, seed: u64, scale: f64) {
        let (service, action) = (call.service.as_str(), call.action.as_str());
        // Relations of what a create made.
        if let Some(spec) = notfound::spec_for(service, action) {
            let mut made = notfound::created_ids(spec, call, body.as_bytes());
            for (_, _, param) in ALIASES.iter().filter(|(s, a, _)| *s == service && *a == action) {
                made.extend(lifecycle::param_values(call, param).cloned());
            }
            let mut named: BTreeSet<String> = call
                .params
                .iter()
                .filter(|(k, v)| id_like(k, v))
                .map(|(_, v)| v.clone())
                .collect();
            named.extend(RELATED_TOKENS.iter().flat_map(|p| notfound::tokens(body, p)));
            for id in &made {
                let object = self.objects.entry(id.clone()).or_default();
                object.related.extend(named.iter().filter(|n| *n != id).cloned());
                object.params = call.params.clone();
            }
        }
        // EFS copies, before a delete needs them.
        for (id, text) in lifecycle::efs_objects(call, body) {
            self.efs_last.insert(id, text);
        }
        // Phases this call begins.
        for rule in &profile.lifecycles {
            let spec = rule.spec;
            let Some(phase) = spec.phase_of(service, action) else {
                continue;
            };
            if phase == Phase::Modify && spec.name == "db_instance" && !deferred::applies_immediately(call) {
                // Without ApplyImmediately, RDS waits for the maintenance window: the
                // instance stays `available` (the pending values show under
                // PendingModifiedValues with `deferred_db_modifications`, deferred.rs).
                continue;
            }
            let ids = match phase {
                Phase::Create => lifecycle::ids_from(&spec.created, call, body),
                _ => lifecycle::ids_from(&spec.named, call, body),
            };
            for id in ids {
                if spec.name == "instance" {
                    self.seen_instances.insert(id.clone());
                    if phase == Phase::Create {
                        self.begin_instance(profile, &id, now, seed, scale);
                        continue;
                    }
                }
                let Some(range) = rule.range(phase) else { continue };
                let duration = self.draw(
                    seed,
                    &format!("lifecycle:{}:{}", spec.name, phase.as_str()),
                    range,
                    scale,
                );
                let cached = (phase == Phase::Delete)
                    .then(|| lifecycle::cached_on_delete(spec, &id, body, self.efs_last.get(&id)))
                    .flatten();
                self.transitions.push(Transition {
                    spec,
                    id,
                    phase,
                    started: now,
                    duration,
                    cached,
                });
            }
        }
        // Instances first seen here (Auto Scaling launches them unseen) start now.
        for (id, related) in lifecycle::instances_seen(call, body) {
            if !related.is_empty() && !self.objects.contains_key(&id) {
                self.objects.insert(
                    id.clone(),
                    Object {
                        related: related.into_iter().collect(),
                        params: Vec::new(),
                    },
                );
            }
            if self.seen_instances.insert(id.clone()) {
                self.begin_instance(profile, &id, now, seed, scale);
            }
        }
        // Causal triggers, and resets of [[requires]] triggers.
        for (index, rule) in profile.causal.iter().enumerate() {
            let (trigger, reset) = match &rule.kind {
                CausalKind::After(t) => (t, None),
                CausalKind::Requires(t, r) => (t, Some(r)),
                CausalKind::During(..) => continue,
            };
            if trigger.service != service {
                continue;
            }
            if reset.is_some_and(|r| r.iter().any(|p| p.matches(action))) {
                let gone = self.trigger_objects(trigger, call, body);
                self.events
                    .retain(|e| !(e.rule == index && e.objects.iter().any(|o| gone.contains(o))));
                continue;
            }
            if !trigger.actions.iter().any(|p| p.matches(action)) {
                continue;
            }
            let skip = |params: &[(String, String)]| {
                trigger
                    .unless
                    .iter()
                    .any(|(k, v)| params.iter().any(|(pk, pv)| pk == k && pv == v))
            };
            if skip(&call.params) {
                continue;
            }
            let objects: Vec<String> = self
                .trigger_objects(trigger, call, body)
                .into_iter()
                .filter(|o| !self.objects.get(o).is_some_and(|obj| skip(&obj.params)))
                .collect();
            if objects.is_empty() {
                continue;
            }
            let window = self.draw(seed, &format!("causal:{}:{index}", rule.name), trigger.for_ms, scale);
            self.events.push(Event {
                rule: index,
                objects,
                at: now,
                window,
            });
        }
    }

    /// An instance starts: its launch, and its health checks if the profile times them.
    fn begin_instance(&mut self, profile: &Profile, id: &str, now: Instant, seed: u64, scale: f64) {
        let Some(rule) = profile.lifecycle("instance") else {
            return;
        };
        for phase in [Phase::Create, Phase::Health] {
            if let Some(range) = rule.range(phase) {
                let duration = self.draw(seed, &format!("lifecycle:instance:{}", phase.as_str()), range, scale);
                self.transitions.push(Transition {
                    spec: rule.spec,
                    id: id.to_string(),
                    phase,
                    started: now,
                    duration,
                    cached: None,
                });
            }
        }
    }

    /// The objects a trigger call is about.
    fn trigger_objects(&self, trigger: &Trigger, call: &Call, body: &str) -> Vec<String> {
        if let Some(param) = &trigger.param {
            return lifecycle::param_values(call, param).cloned().collect();
        }
        if let Some(spec) = notfound::spec_for(&call.service, &call.action) {
            return notfound::created_ids(spec, call, body.as_bytes());
        }
        call.ids.clone()
    }
}

/// `vpc` for `vpc-0abc...`, `subnet` for `subnet-...`: the kind of an EC2-style id.
fn kind_of(id: &str) -> Option<&str> {
    let (kind, hex) = id.rsplit_once('-')?;
    let ok = !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && hex.len() >= 8
        && hex.chars().all(|c| c.is_ascii_hexdigit());
    ok.then_some(kind)
}

/// Whether a request parameter's value names another object (and so is a relation).
fn id_like(key: &str, value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    if value.starts_with("arn:") || kind_of(value).is_some() {
        return true;
    }
    let last = key
        .split('.')
        .rfind(|p| !p.chars().all(|c| c.is_ascii_digit()) && *p != "member")
        .unwrap_or(key);
    ["Name", "Id", "Identifier", "Arn", "Ids", "Subnets", "SecurityGroups"]
        .iter()
        .any(|s| last.ends_with(s))
}
