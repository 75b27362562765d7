//! Profiles: the rules a proxy applies, read from TOML.
//!
//! A profile is a list of `[[rule]]` tables. Each rule matches requests by service (the
//! SigV4 signing name, or `*`) and action (exact, a prefix ending in `*`, or `*`) and
//! sets one or more effects. For each effect the first matching rule that sets it wins,
//! so a specific rule placed before a general one overrides it for that effect only.
//! See `profiles/README.md` at the repository root for the format with examples.

use std::fmt;
use std::path::Path;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::lifecycle::{self, LifeSpec, Phase};

/// A parsed, validated profile.
#[derive(Debug, Clone)]
pub struct Profile {
    name: String,
    rules: Vec<Rule>,
    /// Durations per lifecycle type (`[[lifecycle]]`).
    pub(crate) lifecycles: Vec<LifecycleRule>,
    /// `[[after]]`, `[[requires]]` and `[[during]]` rules, in file order.
    pub(crate) causal: Vec<CausalRule>,
    /// `[[rds_engine_version]]`: the catalog the proxy answers DescribeDBEngineVersions from.
    pub(crate) engine_versions: Vec<EngineVersion>,
    /// `moto_workarounds`: which of moto's departures from AWS the proxy repairs.
    pub(crate) workarounds: Workarounds,
}

/// The names `moto_workarounds` accepts, in the order error messages list them.
pub(crate) const WORKAROUNDS: &[&str] = &[
    "modify_db_subnet_group",
    "deferred_db_modifications",
    "tagging_rds_subnet_groups",
    "route_table_already_associated",
];

/// The workarounds a profile turns on (`moto_workarounds`; see `fixes.rs`,
/// `deferred.rs` and `tagging.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Workarounds {
    /// ModifyDBSubnetGroup without losing the group (`fixes.rs`).
    pub modify_db_subnet_group: bool,
    /// ModifyDBInstance without ApplyImmediately waits for the maintenance window,
    /// shown under PendingModifiedValues (`deferred.rs`).
    pub deferred_db_modifications: bool,
    /// GetResources lists DB subnet groups (`rds:subgrp`) too (`tagging.rs`).
    pub tagging_rds_subnet_groups: bool,
    /// AssociateRouteTable refuses a subnet that already has an explicit association
    /// (`fixes.rs`).
    pub route_table_already_associated: bool,
}

impl Workarounds {
    fn set(&mut self, name: &str) -> bool {
        let flag = match name {
            "modify_db_subnet_group" => &mut self.modify_db_subnet_group,
            "deferred_db_modifications" => &mut self.deferred_db_modifications,
            "tagging_rds_subnet_groups" => &mut self.tagging_rds_subnet_groups,
            "route_table_already_associated" => &mut self.route_table_already_associated,
            _ => return false,
        };
        *flag = true;
        true
    }

    fn any(self) -> bool {
        self != Workarounds::default()
    }

    fn union(self, other: Workarounds) -> Workarounds {
        Workarounds {
            modify_db_subnet_group: self.modify_db_subnet_group || other.modify_db_subnet_group,
            deferred_db_modifications: self.deferred_db_modifications || other.deferred_db_modifications,
            tagging_rds_subnet_groups: self.tagging_rds_subnet_groups || other.tagging_rds_subnet_groups,
            route_table_already_associated: self.route_table_already_associated || other.route_table_already_associated,
        }
    }
}

/// Durations of one lifecycle type's phases, in profile milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct LifecycleRule {
    pub spec: &'static LifeSpec,
    pub create: Option<(u64, u64)>,
    pub delete: Option<(u64, u64)>,
    pub modify: Option<(u64, u64)>,
    pub health: Option<(u64, u64)>,
}

impl LifecycleRule {
    pub(crate) fn range(&self, phase: Phase) -> Option<(u64, u64)> {
        match phase {
            Phase::Create => self.create,
            Phase::Delete => self.delete,
            Phase::Modify => self.modify,
            Phase::Health => self.health,
        }
    }
}

/// A causal rule: which calls fail, with what, and when.
#[derive(Debug, Clone)]
pub(crate) struct CausalRule {
    pub name: String,
    pub kind: CausalKind,
    /// The calls that fail.
    pub service: String,
    pub actions: Vec<Pattern>,
    /// Request parameters (name, value) that exempt a call.
    pub unless: Vec<(String, String)>,
    /// Only ids of this kind (`vpc` for `vpc-...`) count as what the call uses.
    pub object: Option<String>,
    pub code: String,
    pub status: u16,
    /// `{id}`: the id of the failing call the rule is about; `{object}`: the trigger's.
    pub message: String,
}

#[derive(Debug, Clone)]
pub(crate) enum CausalKind {
    /// Fails for `for_ms` after the trigger, on calls that use its object.
    After(Trigger),
    /// Fails unless the trigger happened on the linked object at least `for_ms` ago;
    /// a `reset_action` undoes the trigger.
    Requires(Trigger, Vec<Pattern>),
    /// Fails while an object it uses is in one of the phases of a lifecycle type.
    During(&'static LifeSpec, Vec<Phase>),
}

#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub service: String,
    pub actions: Vec<Pattern>,
    /// Where the trigger names its object: this request parameter (and its list
    /// members `P.1`, `P.member.1`); by default what the create made, or every id the
    /// call names.
    pub param: Option<String>,
    /// Parameters of the trigger call, or of its object's create, that skip it.
    pub unless: Vec<(String, String)>,
    pub for_ms: (u64, u64),
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineVersion {
    pub engine: String,
    pub version: String,
    pub family: String,
    pub available: bool,
}

/// Why a profile could not be loaded: the file (or the name given to
/// [`Profile::parse`]), the key (`rule[2].latency_ms`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.key, self.reason)
    }
}

impl std::error::Error for ProfileError {}

/// One rule, validated. Durations are in profile milliseconds (before `time_scale`).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub service: String,
    pub actions: Vec<Pattern>,
    /// Inclusive range; a fixed latency has `min == max`.
    pub latency_ms: Option<(u64, u64)>,
    /// Token bucket: refill per second, capacity.
    pub rate: Option<(f64, f64)>,
    pub throttle_rate: Option<f64>,
    pub error_rate: Option<f64>,
    pub drop_rate: Option<f64>,
    /// Window after a create, and the share of creates that get one.
    pub not_found: Option<(u64, f64)>,
}

/// How a rule names actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    Any,
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        if text == "*" {
            return Ok(Pattern::Any);
        }
        if text.is_empty() {
            return Err("an action pattern may not be empty".to_string());
        }
        match text.find('*') {
            None => Ok(Pattern::Exact(text.to_string())),
            Some(i) if i == text.len() - 1 => Ok(Pattern::Prefix(text[..i].to_string())),
            Some(_) => Err(format!("`{text}`: `*` may appear only at the end of an action pattern")),
        }
    }

    pub(crate) fn matches(&self, action: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(a) => a == action,
            Pattern::Prefix(p) => action.starts_with(p.as_str()),
        }
    }
}

impl Rule {
    pub(crate) fn matches(&self, service: &str, action: &str) -> bool {
        (self.service == "*" || self.service == service) && self.actions.iter().any(|p| p.matches(action))
    }
}

impl Profile {
    /// Reads and parses a TOML profile; errors name the file, the key and the reason.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            file: file.clone(),
            key: "(file)".to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        let mut profile = Profile::parse(&file, &text)?;
        // A profile loaded from a file is named after it (`realistic`), not its path.
        if let Some(stem) = path.file_stem() {
            profile.name = stem.to_string_lossy().into_owned();
        }
        Ok(profile)
    }

    /// Parses profile text; `name` stands for the file in errors and names the profile.
    pub fn parse(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let error = |key: String, reason: String| ProfileError {
            file: name.to_string(),
            key,
            reason,
        };
        let raw: RawProfile = serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().trim().to_string();
            let line = inner
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let key = key_of(&path, &message, line, text);
            let location = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            error(key, format!("{message}{location}"))
        })?;
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (i, r) in raw.rule.into_iter().enumerate() {
            rules.push(r.validate().map_err(|(field, reason)| {
                let key = if field.is_empty() {
                    format!("rule[{i}]")
                } else {
                    format!("rule[{i}].{field}")
                };
                error(key, reason)
            })?);
        }
        let mut lifecycles: Vec<LifecycleRule> = Vec::new();
        for (i, l) in raw.lifecycle.into_iter().enumerate() {
            let rule = l.validate().map_err(|(f, r)| error(format!("lifecycle[{i}].{f}"), r))?;
            if lifecycles.iter().any(|o| o.spec.name == rule.spec.name) {
                return Err(error(
                    format!("lifecycle[{i}].type"),
                    format!("`{}` is already given above", rule.spec.name),
                ));
            }
            lifecycles.push(rule);
        }
        let mut causal = Vec::new();
        for (i, r) in raw.after.into_iter().enumerate() {
            causal.push(
                r.validate(false)
                    .map_err(|(f, r)| error(format!("after[{i}].{f}"), r))?,
            );
        }
        for (i, r) in raw.requires.into_iter().enumerate() {
            causal.push(
                r.validate(true)
                    .map_err(|(f, r)| error(format!("requires[{i}].{f}"), r))?,
            );
        }
        for (i, r) in raw.during.into_iter().enumerate() {
            causal.push(r.validate().map_err(|(f, r)| error(format!("during[{i}].{f}"), r))?);
        }
        let mut engine_versions = Vec::new();
        for (i, v) in raw.rds_engine_version.into_iter().enumerate() {
            engine_versions.push(
                v.validate()
                    .map_err(|(f, r)| error(format!("rds_engine_version[{i}].{f}"), r))?,
            );
        }
        let mut workarounds = Workarounds::default();
        for (i, w) in raw.moto_workarounds.iter().enumerate() {
            if !workarounds.set(w.trim()) {
                return Err(error(
                    format!("moto_workarounds[{i}]"),
                    format!("unknown workaround `{w}` (known: {})", WORKAROUNDS.join(", ")),
                ));
            }
        }
        Ok(Profile {
            name: name.to_string(),
            rules,
            lifecycles,
            causal,
            engine_versions,
            workarounds,
        })
    }

    /// Reads several profiles and combines them in order (see [`Profile::combine`]).
    pub fn load_all(paths: &[&Path]) -> Result<Profile, ProfileError> {
        let mut combined: Option<Profile> = None;
        for path in paths {
            let next = Profile::load(path)?;
            combined = Some(match combined {
                None => next,
                Some(c) => c.combine(next),
            });
        }
        Ok(combined.unwrap_or_else(Profile::passthrough))
    }

    /// Both profiles at once: `aws.combine(chaos)` runs chaos on top of aws. Rules:
    /// `self`'s first, then `other`'s (for an effect both set on a call, `self`'s
    /// wins, as the first match always does); lifecycle durations: `other`'s replace
    /// `self`'s for the same type; causal rules: both; engine catalog: both, `other`'s
    /// entry replacing `self`'s for the same engine and version; moto workarounds: both.
    /// Named `self+other`.
    pub fn combine(mut self, other: Profile) -> Profile {
        self.name = format!("{}+{}", self.name, other.name);
        self.rules.extend(other.rules);
        for l in other.lifecycles {
            self.lifecycles.retain(|o| o.spec.name != l.spec.name);
            self.lifecycles.push(l);
        }
        self.causal.extend(other.causal);
        for v in other.engine_versions {
            self.engine_versions
                .retain(|o| !(o.engine == v.engine && o.version == v.version));
            self.engine_versions.push(v);
        }
        self.workarounds = self.workarounds.union(other.workarounds);
        self
    }

    /// Whether the profile does more than the per-call rules: lifecycles, causal
    /// rules, a catalog or a workaround. Only then are responses read and rewritten.
    pub(crate) fn reshapes(&self) -> bool {
        !self.lifecycles.is_empty()
            || !self.causal.is_empty()
            || !self.engine_versions.is_empty()
            || self.workarounds.any()
    }

    /// The durations for a lifecycle type, if the profile gives any.
    pub(crate) fn lifecycle(&self, name: &str) -> Option<&LifecycleRule> {
        self.lifecycles.iter().find(|l| l.spec.name == name)
    }

    /// No rules: every request is forwarded at once, unchanged.
    pub fn passthrough() -> Profile {
        Profile {
            name: "passthrough".to_string(),
            rules: Vec::new(),
            lifecycles: Vec::new(),
            causal: Vec::new(),
            engine_versions: Vec::new(),
            workarounds: Workarounds::default(),
        }
    }

    /// No rules, only the moto workarounds that repair what moto gets wrong whatever
    /// the timing: `modify_db_subnet_group` (moto drops the group) and
    /// `tagging_rds_subnet_groups` (moto's GetResources misses DB subnet groups). For
    /// clients that would otherwise talk to moto directly and need those (a listing
    /// through the Tagging API, say); AWS's timing and deferrals are `aws.toml`'s.
    pub fn moto_fixes() -> Profile {
        let mut profile = Profile::passthrough();
        profile.name = "moto-fixes".to_string();
        profile.workarounds.modify_db_subnet_group = true;
        profile.workarounds.tagging_rds_subnet_groups = true;
        profile.workarounds.route_table_already_associated = true;
        profile
    }

    /// The profile's name (the file's stem for loaded profiles).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first rule, in order, that matches the call and sets the effect `pick`
    /// reads, with its index (token buckets are kept per rule).
    pub(crate) fn first<T>(
        &self,
        service: &str,
        action: &str,
        pick: impl Fn(&Rule) -> Option<T>,
    ) -> Option<(usize, T)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(service, action))
            .find_map(|(i, r)| pick(r).map(|v| (i, v)))
    }
}

/// The key an error is about: serde's path, completed with the unknown field's name
/// (serde reports the table that holds it), or the key on the offending line for
/// syntax errors.
fn key_of(path: &str, message: &str, line: Option<usize>, text: &str) -> String {
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let base = if path == "." || path.is_empty() {
        None
    } else {
        Some(path.to_string())
    };
    match (base, unknown) {
        (Some(b), Some(u)) if !b.ends_with(u) => format!("{b}.{u}"),
        (Some(b), _) => b,
        (None, Some(u)) => u.to_string(),
        (None, None) => line
            .and_then(|l| text.lines().nth(l.saturating_sub(1)))
            .and_then(|l| l.split('=').next())
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "(document)".to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    /// Free text for people; the proxy ignores it.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    lifecycle: Vec<RawLifecycle>,
    #[serde(default)]
    after: Vec<RawCausal>,
    #[serde(default)]
    requires: Vec<RawCausal>,
    #[serde(default)]
    during: Vec<RawDuring>,
    #[serde(default)]
    rds_engine_version: Vec<RawEngineVersion>,
    #[serde(default)]
    moto_workarounds: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLifecycle {
    #[serde(rename = "type")]
    kind: String,
    create_ms: Option<Latency>,
    delete_ms: Option<Latency>,
    modify_ms: Option<Latency>,
    health_ms: Option<Latency>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCausal {
    name: String,
    trigger_service: String,
    trigger_action: OneOrMany,
    trigger_param: Option<String>,
    #[serde(default)]
    trigger_unless: BTreeMap<String, String>,
    #[serde(default)]
    reset_action: Option<OneOrMany>,
    service: String,
    action: OneOrMany,
    #[serde(default)]
    unless: BTreeMap<String, String>,
    object: Option<String>,
    code: String,
    status: u16,
    message: String,
    for_ms: Latency,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDuring {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    phase: OneOrMany,
    service: String,
    action: OneOrMany,
    #[serde(default)]
    unless: BTreeMap<String, String>,
    object: Option<String>,
    code: String,
    status: u16,
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEngineVersion {
    engine: String,
    version: String,
    #[serde(default = "available")]
    status: String,
    family: Option<String>,
}

fn available() -> String {
    "available".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    service: String,
    #[serde(default = "any_action")]
    action: OneOrMany,
    latency_ms: Option<Latency>,
    rate_per_second: Option<f64>,
    burst: Option<f64>,
    throttle_rate: Option<f64>,
    error_rate: Option<f64>,
    drop_rate: Option<f64>,
    not_found_after_create_ms: Option<u64>,
    not_found_rate: Option<f64>,
}

fn any_action() -> OneOrMany {
    OneOrMany::One("*".to_string())
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "an action pattern or a list of them")]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "milliseconds as a whole number, or a range [min, max]")]
enum Latency {
    Fixed(u64),
    Range([u64; 2]),
}

/// The service names profiles may use for convenience, and the signing names they
/// stand for (the proxy knows services by signing name only).
const ALIASES: &[(&str, &str)] = &[
    ("elbv2", "elasticloadbalancing"),
    ("elb", "elasticloadbalancing"),
    ("efs", "elasticfilesystem"),
    ("cloudwatch", "monitoring"),
];

type Invalid = (String, String);

/// A service name as the proxy knows it (signing name), from a profile's spelling.
fn service_name(field: &str, text: &str) -> Result<String, Invalid> {
    let service = text.trim().to_ascii_lowercase();
    if service.is_empty() {
        return Err((field.into(), "may not be empty".into()));
    }
    Ok(ALIASES
        .iter()
        .find(|(alias, _)| *alias == service)
        .map(|(_, real)| real.to_string())
        .unwrap_or(service))
}

fn patterns(field: &str, action: OneOrMany) -> Result<Vec<Pattern>, Invalid> {
    let patterns = match action {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(v) => v,
    };
    if patterns.is_empty() {
        return Err((field.into(), "the list may not be empty".into()));
    }
    patterns
        .iter()
        .map(|p| Pattern::parse(p.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (field.to_string(), e))
}

fn range(field: &str, latency: Option<Latency>) -> Result<Option<(u64, u64)>, Invalid> {
    match latency {
        None => Ok(None),
        Some(Latency::Fixed(ms)) => Ok(Some((ms, ms))),
        Some(Latency::Range([lo, hi])) if lo <= hi => Ok(Some((lo, hi))),
        Some(Latency::Range([lo, hi])) => Err((
            field.into(),
            format!("the range's minimum ({lo}) exceeds its maximum ({hi})"),
        )),
    }
}

fn lifecycle_type(field: &str, name: &str) -> Result<&'static LifeSpec, Invalid> {
    lifecycle::spec_named(name.trim()).ok_or_else(|| {
        let known: Vec<&str> = lifecycle::TYPES.iter().map(|t| t.name).collect();
        (
            field.into(),
            format!("unknown lifecycle type `{name}` (known: {})", known.join(", ")),
        )
    })
}

fn error_fields(code: &str, status: u16, message: &str) -> Result<(), Invalid> {
    if code.trim().is_empty() {
        return Err(("code".into(), "may not be empty".into()));
    }
    if !(400..=599).contains(&status) {
        return Err((
            "status".into(),
            format!("{status} is not an HTTP error status (400-599)"),
        ));
    }
    if message.trim().is_empty() {
        return Err(("message".into(), "may not be empty".into()));
    }
    Ok(())
}

fn name_field(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    if name.is_empty() {
        return Err(("name".into(), "may not be empty".into()));
    }
    Ok(name.to_string())
}

fn object_kind(object: Option<String>) -> Result<Option<String>, Invalid> {
    match object {
        Some(o) if o.trim().is_empty() || o.contains('-') => Err((
            "object".into(),
            format!("`{o}` is not an id kind (the part before the dash, like `vpc` in vpc-0abc)"),
        )),
        other => Ok(other.map(|o| o.trim().to_string())),
    }
}

impl RawLifecycle {
    fn validate(self) -> Result<LifecycleRule, Invalid> {
        let spec = lifecycle_type("type", &self.kind)?;
        let rule = LifecycleRule {
            spec,
            create: range("create_ms", self.create_ms)?,
            delete: range("delete_ms", self.delete_ms)?,
            modify: range("modify_ms", self.modify_ms)?,
            health: range("health_ms", self.health_ms)?,
        };
        for phase in [Phase::Create, Phase::Delete, Phase::Modify, Phase::Health] {
            if rule.range(phase).is_some() && !spec.has(phase) {
                return Err((
                    format!("{}_ms", phase.as_str()),
                    format!("type `{}` has no {} phase", spec.name, phase.as_str()),
                ));
            }
        }
        Ok(rule)
    }
}

impl RawCausal {
    fn validate(self, requires: bool) -> Result<CausalRule, Invalid> {
        let name = name_field(&self.name)?;
        let for_ms = range("for_ms", Some(self.for_ms))?.unwrap_or_default();
        let trigger = Trigger {
            service: service_name("trigger_service", &self.trigger_service)?,
            actions: patterns("trigger_action", self.trigger_action)?,
            param: self
                .trigger_param
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
            unless: self.trigger_unless.into_iter().collect(),
            for_ms,
        };
        let kind = match (requires, self.reset_action) {
            (false, Some(_)) => {
                return Err((
                    "reset_action".into(),
                    "only a [[requires]] rule has a reset action".into(),
                ))
            }
            (false, None) => CausalKind::After(trigger),
            (true, reset) => CausalKind::Requires(
                trigger,
                match reset {
                    Some(r) => patterns("reset_action", r)?,
                    None => Vec::new(),
                },
            ),
        };
        let object = object_kind(self.object)?;
        if requires && object.is_none() {
            return Err((
                "object".into(),
                "a [[requires]] rule names the kind of object the trigger must have happened on (`vpc`)".into(),
            ));
        }
        error_fields(&self.code, self.status, &self.message)?;
        Ok(CausalRule {
            name,
            kind,
            service: service_name("service", &self.service)?,
            actions: patterns("action", self.action)?,
            unless: self.unless.into_iter().collect(),
            object,
            code: self.code.trim().to_string(),
            status: self.status,
            message: self.message,
        })
    }
}

impl RawDuring {
    fn validate(self) -> Result<CausalRule, Invalid> {
        let name = name_field(&self.name)?;
        let spec = lifecycle_type("type", &self.kind)?;
        let names = match self.phase {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(v) => v,
        };
        if names.is_empty() {
            return Err(("phase".into(), "the list may not be empty".into()));
        }
        let mut phases = Vec::new();
        for n in names {
            let phase = Phase::parse(n.trim())
                .filter(|p| spec.has(*p))
                .ok_or_else(|| ("phase".to_string(), format!("type `{}` has no phase `{n}`", spec.name)))?;
            phases.push(phase);
        }
        error_fields(&self.code, self.status, &self.message)?;
        Ok(CausalRule {
            name,
            kind: CausalKind::During(spec, phases),
            service: service_name("service", &self.service)?,
            actions: patterns("action", self.action)?,
            unless: self.unless.into_iter().collect(),
            object: object_kind(self.object)?,
            code: self.code.trim().to_string(),
            status: self.status,
            message: self.message,
        })
    }
}

impl RawEngineVersion {
    fn validate(self) -> Result<EngineVersion, Invalid> {
        let engine = self.engine.trim().to_string();
        if engine.is_empty() {
            return Err(("engine".into(), "may not be empty".into()));
        }
        let version = self.version.trim().to_string();
        if version.is_empty() {
            return Err(("version".into(), "may not be empty".into()));
        }
        let available = match self.status.as_str() {
            "available" => true,
            "deprecated" => false,
            other => {
                return Err((
                    "status".into(),
                    format!("`{other}` is neither `available` nor `deprecated`"),
                ))
            }
        };
        let family = self.family.unwrap_or_else(|| {
            // AWS's families: postgres16, mysql8.0: the engine and its major version.
            let major = if engine == "postgres" {
                version.split('.').next().unwrap_or(&version).to_string()
            } else {
                version.split('.').take(2).collect::<Vec<_>>().join(".")
            };
            format!("{engine}{major}")
        });
        Ok(EngineVersion {
            engine,
            version,
            family,
            available,
        })
    }
}

impl RawRule {
    /// Checks values; an error is (field, reason).
    fn validate(self) -> Result<Rule, (String, String)> {
        let service = service_name("service", &self.service)?;
        let actions = patterns("action", self.action)?;
        let latency_ms = range("latency_ms", self.latency_ms)?;
        let probability = |field: &str, v: Option<f64>| match v {
            Some(p) if !(0.0..=1.0).contains(&p) => {
                Err((field.to_string(), format!("{p} is not a probability between 0 and 1")))
            }
            other => Ok(other),
        };
        let throttle_rate = probability("throttle_rate", self.throttle_rate)?;
        let error_rate = probability("error_rate", self.error_rate)?;
        let drop_rate = probability("drop_rate", self.drop_rate)?;
        let not_found_rate = probability("not_found_rate", self.not_found_rate)?;
        let rate = match (self.rate_per_second, self.burst) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err((
                    "burst".into(),
                    "needs rate_per_second (a burst is the capacity of a rate limit)".into(),
                ))
            }
            (Some(r), _) if !(r.is_finite() && r > 0.0) => {
                return Err((
                    "rate_per_second".into(),
                    format!("{r} is not a positive number of requests per second"),
                ))
            }
            (Some(_), Some(b)) if !(b.is_finite() && b >= 1.0) => {
                return Err(("burst".into(), format!("{b} is not a capacity of at least one request")))
            }
            // Without a burst the bucket holds one second's worth, at least one call.
            (Some(r), b) => Some((r, b.unwrap_or(r.ceil().max(1.0)))),
        };
        let not_found = match (self.not_found_after_create_ms, not_found_rate) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err((
                    "not_found_rate".into(),
                    "needs not_found_after_create_ms (the window it applies to)".into(),
                ))
            }
            (Some(ms), rate) => Some((ms, rate.unwrap_or(1.0))),
        };
        Ok(Rule {
            service,
            actions,
            latency_ms,
            rate,
            throttle_rate,
            error_rate,
            drop_rate,
            not_found,
        })
    }
}
