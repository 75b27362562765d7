//! Profiles: the rules a proxy applies, read from TOML.
//!
//! A profile is a list of `[[rule]]` tables. Each rule matches requests by service (the
//! SigV4 signing name, or `*`) and action (exact, a prefix ending in `*`, or `*`) and
//! sets one or more effects. For each effect the first matching rule that sets it wins,
//! so a specific rule placed before a general one overrides it for that effect only.
//! See `profiles/README.md` at the repository root for the format with examples.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A parsed, validated profile.
#[derive(Debug, Clone)]
pub struct Profile {
    name: String,
    rules: Vec<Rule>,
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

    fn matches(&self, action: &str) -> bool {
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
        Ok(Profile {
            name: name.to_string(),
            rules,
        })
    }

    /// No rules: every request is forwarded at once, unchanged.
    pub fn passthrough() -> Profile {
        Profile {
            name: "passthrough".to_string(),
            rules: Vec::new(),
        }
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

impl RawRule {
    /// Checks values; an error is (field, reason).
    fn validate(self) -> Result<Rule, (String, String)> {
        let service = self.service.trim().to_ascii_lowercase();
        if service.is_empty() {
            return Err(("service".into(), "may not be empty".into()));
        }
        let service = ALIASES
            .iter()
            .find(|(alias, _)| *alias == service)
            .map(|(_, real)| real.to_string())
            .unwrap_or(service);
        let patterns = match self.action {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(v) => v,
        };
        if patterns.is_empty() {
            return Err(("action".into(), "the list may not be empty".into()));
        }
        let actions = patterns
            .iter()
            .map(|p| Pattern::parse(p.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ("action".to_string(), e))?;
        let latency_ms = match self.latency_ms {
            None => None,
            Some(Latency::Fixed(ms)) => Some((ms, ms)),
            Some(Latency::Range([lo, hi])) if lo <= hi => Some((lo, hi)),
            Some(Latency::Range([lo, hi])) => {
                return Err((
                    "latency_ms".into(),
                    format!("the range's minimum ({lo}) exceeds its maximum ({hi})"),
                ))
            }
        };
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
