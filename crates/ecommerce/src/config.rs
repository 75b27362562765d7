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

/// The web and bastion tier.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeConfig {
    /// An AMI id, or `resolve:ssm:<parameter>` resolved by AWS at launch (the default:
    /// the latest Amazon Linux 2023).
    #[serde(default = "default_ami")]
    pub ami: String,
    #[serde(default = "default_instance_type")]
    pub web_instance_type: String,
    #[serde(default = "default_instance_type")]
    pub bastion_instance_type: String,
    pub asg_min: i64,
    pub asg_max: i64,
    /// Average CPU the scaling policy keeps the group at.
    #[serde(default = "default_cpu_target")]
    pub cpu_target_percent: f64,
    #[serde(default = "default_true")]
    pub detailed_monitoring: bool,
    /// An EC2 key pair for SSH to the bastion; none by default (use SSM).
    #[serde(default)]
    pub key_name: Option<String>,
    /// With a certificate, HTTP redirects to an HTTPS listener.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    #[serde(default = "default_health_path")]
    pub health_check_path: String,
}

/// The PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(default = "default_db_class")]
    pub instance_class: String,
    /// A major version (`"16"`) or a version prefix (`"16.4"`): RDS resolves it to the
    /// newest version it offers with that prefix, upgrades minor versions itself, and a
    /// newer minor within the prefix is not drift.
    #[serde(default = "default_engine_version")]
    pub engine_version: String,
    #[serde(default = "default_storage")]
    pub allocated_storage_gb: i64,
    #[serde(default)]
    pub multi_az: bool,
    pub backup_retention_days: i64,
    /// UTC, `hh:mm-hh:mm`, at least 30 minutes.
    #[serde(default = "default_backup_window")]
    pub backup_window: String,
    #[serde(default = "default_maintenance_window")]
    pub maintenance_window: String,
    #[serde(default)]
    pub deletion_protection: bool,
    /// Without it, destroy takes a final snapshot with a unique timestamped name.
    #[serde(default)]
    pub skip_final_snapshot: bool,
    #[serde(default = "default_master_username")]
    pub master_username: String,
    /// Apply modifications (class, storage, Multi-AZ, engine version) now, restarting the
    /// instance if they need it; otherwise RDS applies them in the next maintenance
    /// window. Default false, as in RDS and Terraform.
    #[serde(default)]
    pub apply_immediately: bool,
    /// Accept a change that can only be made by deleting the instance and creating a new
    /// one under the same identifier (engine, encryption, master user name). A final
    /// snapshot is taken first regardless of `skip_final_snapshot`.
    #[serde(default)]
    pub allow_replacement: bool,
}

/// Static assets, sessions and shared product images.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Globally unique S3 bucket name.
    pub assets_bucket: String,
    /// Serve the bucket as a public website (off: private, public access blocked).
    #[serde(default)]
    pub public_website: bool,
    /// Let destroy empty the bucket (every object version); otherwise destroy refuses a
    /// bucket that is not empty.
    #[serde(default)]
    pub force_destroy: bool,
    #[serde(default = "default_ttl_attribute")]
    pub session_ttl_attribute: String,
}

/// Logs, alarms and notifications.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    pub log_retention_days: i64,
    pub alarm_email: String,
    #[serde(default = "default_cpu_alarm")]
    pub ec2_cpu_alarm_threshold: f64,
    #[serde(default = "default_cpu_alarm")]
    pub rds_cpu_alarm_threshold: f64,
}

fn default_ami() -> String {
    "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".into()
}
fn default_instance_type() -> String {
    "t3.micro".into()
}
fn default_cpu_target() -> f64 {
    70.0
}
fn default_cpu_alarm() -> f64 {
    70.0
}
fn default_true() -> bool {
    true
}
fn default_health_path() -> String {
    "/".into()
}
fn default_db_class() -> String {
    "db.t3.micro".into()
}
fn default_engine_version() -> String {
    "16".into()
}
fn default_storage() -> i64 {
    20
}
fn default_backup_window() -> String {
    "03:00-04:00".into()
}
fn default_maintenance_window() -> String {
    "sun:05:00-sun:06:00".into()
}
fn default_master_username() -> String {
    "ecommerce".into()
}
fn default_ttl_attribute() -> String {
    "expires_at".into()
}

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/// A validated stack configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// Defaults to the file's name without `.toml`.
    #[serde(default)]
    pub name: String,
    /// The program the stack runs; this one is `ecommerce`, the default.
    #[serde(default)]
    pub program: Option<String>,
    pub region: String,
    pub network: NetworkConfig,
    pub security: SecurityConfig,
    /// The tiers above the network. A stack with none of these sections provisions the
    /// network tier alone; the platform needs all four.
    #[serde(default)]
    pub compute: Option<ComputeConfig>,
    #[serde(default)]
    pub database: Option<DatabaseConfig>,
    #[serde(default)]
    pub storage: Option<StorageConfig>,
    #[serde(default)]
    pub monitoring: Option<MonitoringConfig>,
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
                line.and_then(|l| stackup_model::key_at_line(text, l))
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
        self.validate_tiers(&mut p);
        p
    }

    /// The platform's tiers, when the stack declares them.
    pub fn platform(&self) -> Option<Platform<'_>> {
        Some(Platform {
            compute: self.compute.as_ref()?,
            database: self.database.as_ref()?,
            storage: self.storage.as_ref()?,
            monitoring: self.monitoring.as_ref()?,
        })
    }

    fn validate_tiers(&self, p: &mut Vec<(String, String)>) {
        let present = [
            ("compute", self.compute.is_some()),
            ("database", self.database.is_some()),
            ("storage", self.storage.is_some()),
            ("monitoring", self.monitoring.is_some()),
        ];
        let count = present.iter().filter(|(_, on)| *on).count();
        if count > 0 && count < present.len() {
            for (name, on) in present {
                if !on {
                    p.push((
                        name.into(),
                        "missing: the platform needs [compute], [database], [storage] and [monitoring] together (or none of them for the network tier alone)".into(),
                    ));
                }
            }
        }
        if let Some(c) = &self.compute {
            if c.asg_min < 0 || c.asg_max < 1 || c.asg_min > c.asg_max {
                p.push((
                    "compute.asg_max".into(),
                    format!(
                        "needs 0 <= asg_min <= asg_max and asg_max >= 1 (asg_min {}, asg_max {})",
                        c.asg_min, c.asg_max
                    ),
                ));
            }
            if c.asg_max > 100 {
                p.push((
                    "compute.asg_max".into(),
                    "more than 100 instances is surely a typo".into(),
                ));
            }
            if !(1.0..=100.0).contains(&c.cpu_target_percent) {
                p.push(("compute.cpu_target_percent".into(), "must be between 1 and 100".into()));
            }
            for (key, t) in [
                ("compute.web_instance_type", &c.web_instance_type),
                ("compute.bastion_instance_type", &c.bastion_instance_type),
            ] {
                if !instance_type_ok(t) {
                    p.push((key.into(), format!("'{t}' is not an EC2 instance type like t3.micro")));
                }
            }
            let ami_ok =
                (c.ami.starts_with("ami-") && c.ami.len() >= 12 && c.ami[4..].bytes().all(|b| b.is_ascii_hexdigit()))
                    || c.ami
                        .strip_prefix("resolve:ssm:")
                        .is_some_and(|n| n.starts_with('/') && n.len() > 1);
            if !ami_ok {
                p.push((
                    "compute.ami".into(),
                    format!(
                        "'{}' is neither an AMI id (ami-<hex>) nor resolve:ssm:/<parameter>",
                        c.ami
                    ),
                ));
            }
            if let Some(arn) = &c.certificate_arn {
                if !arn.starts_with("arn:aws:acm:") {
                    p.push((
                        "compute.certificate_arn".into(),
                        format!("'{arn}' is not an ACM certificate ARN"),
                    ));
                }
            }
            if !c.health_check_path.starts_with('/') {
                p.push(("compute.health_check_path".into(), "must start with '/'".into()));
            }
        }
        if let Some(d) = &self.database {
            if !d.instance_class.strip_prefix("db.").is_some_and(instance_type_ok) {
                p.push((
                    "database.instance_class".into(),
                    format!("'{}' is not an RDS class like db.t3.micro", d.instance_class),
                ));
            }
            let version_ok = !d.engine_version.is_empty()
                && d.engine_version
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            if !version_ok {
                p.push((
                    "database.engine_version".into(),
                    format!(
                        "'{}' is not a PostgreSQL version or version prefix like \"16\" or \"16.4\"",
                        d.engine_version
                    ),
                ));
            }
            if !(1..=35).contains(&d.backup_retention_days) {
                p.push((
                    "database.backup_retention_days".into(),
                    "must be 1 to 35 days (0 would turn backups off)".into(),
                ));
            }
            if !(20..=65536).contains(&d.allocated_storage_gb) {
                p.push(("database.allocated_storage_gb".into(), "must be 20 to 65536".into()));
            }
            match window_minutes(&d.backup_window) {
                Some(m) if m >= 30 => {}
                Some(_) => p.push(("database.backup_window".into(), "must last at least 30 minutes".into())),
                None => p.push((
                    "database.backup_window".into(),
                    format!("'{}' is not hh:mm-hh:mm (UTC)", d.backup_window),
                )),
            }
            if !maintenance_window_ok(&d.maintenance_window) {
                p.push((
                    "database.maintenance_window".into(),
                    format!("'{}' is not ddd:hh:mm-ddd:hh:mm (UTC)", d.maintenance_window),
                ));
            }
            let user_ok = d.master_username.len() <= 63
                && d.master_username
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && d.master_username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !["postgres", "admin", "rdsadmin"].contains(&d.master_username.as_str());
            if !user_ok {
                p.push((
                    "database.master_username".into(),
                    "1-63 letters, digits or '_', starting with a letter, not a reserved name".into(),
                ));
            }
        }
        if let Some(s) = &self.storage {
            if let Err(reason) = bucket_name_ok(&s.assets_bucket) {
                p.push((
                    "storage.assets_bucket".into(),
                    format!("'{}': {reason}", s.assets_bucket),
                ));
            }
            let attr_ok = !s.session_ttl_attribute.is_empty() && s.session_ttl_attribute.len() <= 255;
            if !attr_ok {
                p.push((
                    "storage.session_ttl_attribute".into(),
                    "must be 1-255 characters".into(),
                ));
            }
        }
        if let Some(m) = &self.monitoring {
            if !LOG_RETENTION_DAYS.contains(&m.log_retention_days) {
                p.push((
                    "monitoring.log_retention_days".into(),
                    format!(
                        "{} is not a retention CloudWatch Logs offers ({LOG_RETENTION_DAYS:?})",
                        m.log_retention_days
                    ),
                ));
            }
            let email_ok = m
                .alarm_email
                .split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'));
            if !email_ok {
                p.push((
                    "monitoring.alarm_email".into(),
                    format!("'{}' is not an e-mail address", m.alarm_email),
                ));
            }
            for (key, v) in [
                ("monitoring.ec2_cpu_alarm_threshold", m.ec2_cpu_alarm_threshold),
                ("monitoring.rds_cpu_alarm_threshold", m.rds_cpu_alarm_threshold),
            ] {
                if !(1.0..=100.0).contains(&v) {
                    p.push((key.into(), "a CPU percentage between 1 and 100".into()));
                }
            }
        }
    }
}

/// The platform's tier settings, all present.
#[derive(Debug, Clone, Copy)]
pub struct Platform<'a> {
    pub compute: &'a ComputeConfig,
    pub database: &'a DatabaseConfig,
    pub storage: &'a StorageConfig,
    pub monitoring: &'a MonitoringConfig,
}

/// `t3.micro`, `m7g.large`, `c6in.2xlarge`: family (letters and digits, starting with a
/// letter), a dot, a size.
fn instance_type_ok(t: &str) -> bool {
    t.split_once('.').is_some_and(|(family, size)| {
        family.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && family
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !size.is_empty()
            && size.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Length in minutes of an `hh:mm-hh:mm` window (it may wrap midnight).
fn window_minutes(w: &str) -> Option<u32> {
    let (a, b) = w.split_once('-')?;
    let (a, b) = (hhmm(a)?, hhmm(b)?);
    Some(if b > a { b - a } else { b + 24 * 60 - a })
}

fn maintenance_window_ok(w: &str) -> bool {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let Some((a, b)) = w.split_once('-') else { return false };
    [a, b].iter().all(|part| {
        part.split_once(':')
            .is_some_and(|(day, time)| DAYS.contains(&day) && hhmm(time).is_some())
    })
}

/// S3's bucket naming rules.
fn bucket_name_ok(name: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&name.len()) {
        return Err("bucket names are 3 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("only lowercase letters, digits, '.' and '-'");
    }
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge_ok(name.as_bytes().first()) || !edge_ok(name.as_bytes().last()) {
        return Err("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("no adjacent dots, and not an IP address");
    }
    if name.starts_with("xn--") || name.ends_with("-s3alias") {
        return Err("reserved prefix or suffix");
    }
    Ok(())
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
