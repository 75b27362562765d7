//! The stack file: parsing with errors that name the file, the key and the reason, then
//! semantic validation that reports every problem at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::Deserialize;

/// One problem with a stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// The dotted key path, e.g. `network.vpc_cidr`; `(file)` for whole-file problems.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: key '{}': {}", self.file.display(), self.key, self.reason)
    }
}

/// Every problem found in a stack file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [one] = self.0.as_slice() {
            return write!(f, "invalid stack file {one}");
        }
        writeln!(f, "invalid stack file: {} problems", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// How private subnets reach the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatMode {
    /// One NAT gateway per availability zone: an AZ outage cannot cut the others off.
    PerAz,
    /// One shared NAT gateway: cheaper, for non-production stacks.
    Single,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    pub vpc_cidr: String,
    pub az_count: usize,
    /// Defaults to `<region>a`, `<region>b`, ...
    #[serde(default)]
    pub availability_zones: Vec<String>,
    pub public_subnet_cidrs: Vec<String>,
    pub private_subnet_cidrs: Vec<String>,
    #[serde(default = "default_nat_mode")]
    pub nat_mode: NatMode,
}

fn default_nat_mode() -> NatMode {
    NatMode::PerAz
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// The only range allowed to reach the bastion over SSH.
    pub ssh_allowed_cidr: String,
}

/// A validated stack configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// Defaults to the file's name without `.toml`.
    #[serde(default)]
    pub name: String,
    pub region: String,
    pub network: NetworkConfig,
    pub security: SecurityConfig,
    /// Applied to every taggable resource.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(skip)]
    pub file: PathBuf,
}

impl StackConfig {
    /// Where `--stack ARG` points: a `.toml` path as given, or `stacks/<ARG>.toml`.
    pub fn path_for(arg: &str) -> PathBuf {
        if arg.ends_with(".toml") || arg.contains('/') {
            PathBuf::from(arg)
        } else {
            Path::new("stacks").join(format!("{arg}.toml"))
        }
    }

    /// Reads, parses and validates a stack file.
    pub fn load(arg: &str) -> Result<StackConfig, ConfigErrors> {
        let file = StackConfig::path_for(arg);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.clone(),
                key: "(file)".into(),
                reason: format!("cannot read the stack file: {e}"),
            }])
        })?;
        StackConfig::parse(&file, &text)
    }

    /// Parses and validates stack file text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<StackConfig, ConfigErrors> {
        let error = |key: String, reason: String| {
            ConfigErrors(vec![ConfigError {
                file: file.to_path_buf(),
                key,
                reason,
            }])
        };
        let deserializer = toml::Deserializer::new(text);
        let mut config: StackConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let location = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            let key = if path == "." || path.is_empty() {
                line.and_then(|l| key_at_line(text, l))
                    .unwrap_or_else(|| "(document)".to_string())
            } else {
                path
            };
            error(key, format!("{}{location}", inner.message().trim()))
        })?;
        config.file = file.to_path_buf();
        if config.name.is_empty() {
            config.name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        if config.network.availability_zones.is_empty() {
            config.network.availability_zones = (b'a'..=b'f')
                .map(|c| format!("{}{}", config.region, c as char))
                .collect();
        }
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(
                problems
                    .into_iter()
                    .map(|(key, reason)| ConfigError {
                        file: file.to_path_buf(),
                        key,
                        reason,
                    })
                    .collect(),
            ))
        }
    }

    /// Every semantic problem, as (key, reason).
    fn validate(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.name.starts_with('-');
        if !name_ok {
            p.push((
                "name".into(),
                format!(
                    "'{}' must be 1-32 characters of a-z, 0-9 and '-' (it is part of every URN and tag)",
                    self.name
                ),
            ));
        }
        let region_ok = {
            let parts: Vec<&str> = self.region.split('-').collect();
            parts.len() >= 3
                && parts
                    .iter()
                    .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
                && parts.last().is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
        };
        if !region_ok {
            p.push((
                "region".into(),
                format!("'{}' is not an AWS region name like us-east-1", self.region),
            ));
        }
        let n = &self.network;
        let vpc = cidr(&mut p, "network.vpc_cidr", &n.vpc_cidr);
        if let Some(v) = vpc {
            if !(16..=28).contains(&v.prefix_len()) {
                p.push((
                    "network.vpc_cidr".into(),
                    format!("{v}: a VPC block must be between /16 and /28"),
                ));
            }
        }
        if n.az_count == 0 {
            p.push(("network.az_count".into(), "must be at least 1".into()));
        } else if n.az_count > n.availability_zones.len() {
            p.push((
                "network.az_count".into(),
                format!(
                    "is {} but only {} availability zones are listed",
                    n.az_count,
                    n.availability_zones.len()
                ),
            ));
        }
        for (i, az) in n.availability_zones.iter().enumerate() {
            if !az.starts_with(&self.region) || az.len() != self.region.len() + 1 {
                p.push((
                    format!("network.availability_zones[{i}]"),
                    format!("'{az}' is not a zone of region {}", self.region),
                ));
            }
        }
        let mut subnets: Vec<(String, Ipv4Net)> = Vec::new();
        for key in ["public_subnet_cidrs", "private_subnet_cidrs"] {
            let list = if key == "public_subnet_cidrs" {
                &n.public_subnet_cidrs
            } else {
                &n.private_subnet_cidrs
            };
            if n.az_count > 0 && list.len() != n.az_count {
                p.push((
                    format!("network.{key}"),
                    format!(
                        "has {} entries but az_count is {}: give one subnet per zone",
                        list.len(),
                        n.az_count
                    ),
                ));
            }
            for (i, c) in list.iter().enumerate() {
                let k = format!("network.{key}[{i}]");
                let Some(net) = cidr(&mut p, &k, c) else { continue };
                if let Some(v) = vpc {
                    if !v.contains(&net) {
                        p.push((k.clone(), format!("{net} is outside the VPC block {v}")));
                    }
                }
                if !(16..=28).contains(&net.prefix_len()) {
                    p.push((k.clone(), format!("{net}: a subnet block must be between /16 and /28")));
                }
                for (other_key, other) in &subnets {
                    if other.contains(&net.network()) || net.contains(&other.network()) {
                        p.push((k.clone(), format!("{net} overlaps {other} ({other_key})")));
                    }
                }
                subnets.push((k, net));
            }
        }
        if let Some(ssh) = cidr(&mut p, "security.ssh_allowed_cidr", &self.security.ssh_allowed_cidr) {
            if ssh.prefix_len() == 0 {
                p.push((
                    "security.ssh_allowed_cidr".into(),
                    "0.0.0.0/0 would open SSH to the whole internet; name your own range".into(),
                ));
            }
        }
        for (k, v) in &self.tags {
            if k.starts_with(stackup_model::RESERVED_TAG_PREFIX) || k.starts_with("aws:") {
                p.push((
                    format!("tags.{k}"),
                    "the prefixes 'stackup:' and 'aws:' are reserved".into(),
                ));
            }
            if k.is_empty() || k.len() > 128 || v.len() > 256 {
                p.push((
                    format!("tags.{k}"),
                    "keys are 1-128 characters, values at most 256".into(),
                ));
            }
        }
        if self.tags.len() > 40 {
            p.push((
                "tags".into(),
                "at most 40 tags: stackup adds 2 and AWS allows 50, Name included".into(),
            ));
        }
        p
    }
}

/// The dotted key a TOML line assigns (`[network]` then `vpc_cidr = ...` gives
/// `network.vpc_cidr`), for syntax errors, which the parser reports by position only.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?;
    let (lhs, _) = here.split_once('=')?;
    let key = lhs.trim().trim_matches('"');
    let table = lines[..line - 1]
        .iter()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(|t| t.trim().trim_matches('[').trim_matches(']').to_string());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

fn cidr(problems: &mut Vec<(String, String)>, key: &str, text: &str) -> Option<Ipv4Net> {
    match text.parse::<Ipv4Net>() {
        Ok(net) if net.trunc() == net => Some(net),
        Ok(net) => {
            problems.push((
                key.into(),
                format!("'{text}' has host bits set; the network is {}", net.trunc()),
            ));
            None
        }
        Err(_) => {
            problems.push((
                key.into(),
                format!("'{text}' is not an IPv4 CIDR block like 10.0.0.0/16"),
            ));
            None
        }
    }
}
