//! The stack file: parsing with errors that name the file, the key and the reason, then
//! semantic validation that reports every problem at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::Deserialize;

pub use stackup_model::{ConfigError, ConfigErrors};

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
    /// The widest prefix `ssh_allowed_cidr` may have when it holds public addresses
    /// (default 16: a /15 or wider of public space is refused).
    #[serde(default = "default_ssh_widest_prefix")]
    pub ssh_widest_prefix: u8,
}

fn default_ssh_widest_prefix() -> u8 {
    16
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

impl stackup_model::stackfile::Settings for StackConfig {
    fn name_and_file(&mut self) -> (&mut String, &mut PathBuf) {
        (&mut self.name, &mut self.file)
    }

    /// No zones given: every zone letter of the region (the tiers use the first ones).
    fn complete(&mut self) {
        if self.network.availability_zones.is_empty() {
            self.network.availability_zones = (b'a'..=b'f').map(|c| format!("{}{}", self.region, c as char)).collect();
        }
    }

    fn problems(&self) -> Vec<(String, String)> {
        self.validate()
    }
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
        stackup_model::stackfile::read(file, text)
    }

    /// Every semantic problem, as (key, reason).
    fn validate(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        if let Some(reason) = stackup_model::stackfile::stack_name_problem(
            &self.name,
            28,
            "it prefixes the load balancer's and target group's 32-character names",
        ) {
            p.push(("name".into(), reason));
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
        let security = &self.security;
        if !(1..=32).contains(&security.ssh_widest_prefix) {
            p.push((
                "security.ssh_widest_prefix".into(),
                format!(
                    "{} is not an IPv4 prefix length from 1 to 32",
                    security.ssh_widest_prefix
                ),
            ));
        } else {
            let mut checks = stackup_model::stackfile::Problems::default();
            checks.admin_range(
                "security.ssh_allowed_cidr",
                &security.ssh_allowed_cidr,
                security.ssh_widest_prefix,
                None,
            );
            p.extend(checks.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete, valid stack file: every tier, explicit values for the checked keys.
    const VALID: &str = r#"region = "eu-west-1"

[network]
vpc_cidr = "10.0.0.0/16"
az_count = 2
public_subnet_cidrs = ["10.0.0.0/24", "10.0.1.0/24"]
private_subnet_cidrs = ["10.0.10.0/24", "10.0.11.0/24"]

[security]
ssh_allowed_cidr = "203.0.113.0/24"

[tags]
Project = "shop"

[compute]
ami = "ami-0123456789abcdef0"
web_instance_type = "t3.micro"
bastion_instance_type = "t3.micro"
asg_min = 1
asg_max = 2
cpu_target_percent = 70.0
health_check_path = "/health"

[database]
instance_class = "db.t3.micro"
engine_version = "16.4"
allocated_storage_gb = 20
backup_retention_days = 7
backup_window = "03:00-04:00"
maintenance_window = "sun:05:00-sun:06:00"
master_username = "shop"

[storage]
assets_bucket = "shop-assets"

[monitoring]
log_retention_days = 7
alarm_email = "ops@example.com"
ec2_cpu_alarm_threshold = 70.0
rds_cpu_alarm_threshold = 80.0
"#;

    /// Only the sections every stack needs: the network tier alone.
    const NETWORK_ONLY: &str = r#"region = "us-east-1"

[network]
vpc_cidr = "10.1.0.0/16"
az_count = 1
public_subnet_cidrs = ["10.1.0.0/24"]
private_subnet_cidrs = ["10.1.1.0/24"]

[security]
ssh_allowed_cidr = "198.51.100.7/32"
"#;

    fn file() -> &'static Path {
        Path::new("stacks/shop.toml")
    }

    fn parse(text: &str) -> Result<StackConfig, ConfigErrors> {
        StackConfig::parse(file(), text)
    }

    /// `VALID` with the line `line` replaced by `with` (which may be several lines).
    fn edit(line: &str, with: &str) -> String {
        edit_of(VALID, line, with)
    }

    fn edit_of(text: &str, line: &str, with: &str) -> String {
        let mut found = false;
        let edited: Vec<&str> = text
            .lines()
            .map(|l| {
                if l == line {
                    found = true;
                    with
                } else {
                    l
                }
            })
            .collect();
        assert!(found, "the test's base text has no line {line:?}");
        edited.join("\n") + "\n"
    }

    /// Every problem, as (key, reason), checking that each names the file.
    fn problems(text: &str) -> Vec<(String, String)> {
        let errors = parse(text).expect_err("the stack file is refused");
        assert!(!errors.0.is_empty(), "an error without problems");
        errors
            .0
            .into_iter()
            .map(|e| {
                assert_eq!(e.file, file(), "every problem names the file");
                (e.key, e.reason)
            })
            .collect()
    }

    /// The single problem of a stack file, as (key, reason).
    fn problem(text: &str) -> (String, String) {
        let mut all = problems(text);
        assert_eq!(all.len(), 1, "exactly one problem expected: {all:?}");
        all.remove(0)
    }

    /// Asserts the single problem is at `key` with a reason containing `because`.
    fn refused(text: &str, key: &str, because: &str) {
        let (k, reason) = problem(text);
        assert_eq!(k, key, "{reason}");
        assert!(
            reason.contains(because),
            "the reason for {key} is {reason:?}, not about {because:?}"
        );
    }

    fn keys(text: &str) -> Vec<String> {
        problems(text).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn a_complete_stack_file_loads_with_its_values_and_defaults() {
        let c = parse(VALID).expect("valid");
        assert_eq!(c.name, "shop", "the name defaults to the file's stem");
        assert_eq!(c.file, file());
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.program, None);
        assert_eq!(c.network.nat_mode, NatMode::PerAz, "the default NAT mode");
        assert_eq!(
            c.network.availability_zones,
            [
                "eu-west-1a",
                "eu-west-1b",
                "eu-west-1c",
                "eu-west-1d",
                "eu-west-1e",
                "eu-west-1f"
            ],
            "zones default to the region's a to f"
        );
        assert_eq!(c.tags.get("Project").map(String::as_str), Some("shop"));
        let p = c.platform().expect("all four tiers are present");
        assert_eq!((p.compute.asg_min, p.compute.asg_max), (1, 2));
        assert!(p.compute.detailed_monitoring, "on by default");
        assert_eq!(p.compute.key_name, None);
        assert_eq!(p.database.engine_version, "16.4");
        assert!(!p.database.multi_az && !p.database.deletion_protection && !p.database.apply_immediately);
        assert_eq!(p.storage.session_ttl_attribute, "expires_at");
        assert!(!p.storage.force_destroy);
        assert_eq!(p.monitoring.rds_cpu_alarm_threshold, 80.0);
    }

    #[test]
    fn the_shipped_stack_files_are_valid() {
        let dev = StackConfig::parse(Path::new("stacks/dev.toml"), include_str!("../../../stacks/dev.toml"))
            .expect("stacks/dev.toml is valid");
        assert_eq!(dev.name, "dev");
        assert_eq!(dev.network.nat_mode, NatMode::Single);
        assert!(dev.platform().is_some());
        let prod = StackConfig::parse(Path::new("stacks/prod.toml"), include_str!("../../../stacks/prod.toml"))
            .expect("stacks/prod.toml is valid");
        assert_eq!(prod.name, "prod");
        assert_eq!(prod.network.nat_mode, NatMode::PerAz);
        assert_eq!(prod.network.availability_zones, ["us-east-1a", "us-east-1b"]);
    }

    #[test]
    fn a_stack_without_tiers_is_the_network_alone() {
        let c = parse(NETWORK_ONLY).expect("valid");
        assert!(c.compute.is_none() && c.database.is_none() && c.storage.is_none() && c.monitoring.is_none());
        assert!(c.platform().is_none());
        assert!(c.tags.is_empty());
    }

    #[test]
    fn explicit_name_program_and_zones_are_kept() {
        let text = edit(
            r#"region = "eu-west-1""#,
            "name = \"shop-2\"\nprogram = \"ecommerce\"\nregion = \"eu-west-1\"",
        );
        let text = edit_of(
            &text,
            "az_count = 2",
            "az_count = 2\navailability_zones = [\"eu-west-1c\", \"eu-west-1a\"]\nnat_mode = \"single\"",
        );
        let c = parse(&text).expect("valid");
        assert_eq!(c.name, "shop-2");
        assert_eq!(c.program.as_deref(), Some("ecommerce"));
        assert_eq!(c.network.availability_zones, ["eu-west-1c", "eu-west-1a"]);
        assert_eq!(c.network.nat_mode, NatMode::Single);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key_the_type_and_the_line() {
        refused(
            &edit("az_count = 2", r#"az_count = "two""#),
            "network.az_count",
            "invalid type",
        );
        let (_, reason) = problem(&edit("az_count = 2", r#"az_count = "two""#));
        assert!(reason.ends_with("(line 5)"), "{reason}");
        refused(&edit("asg_min = 1", "asg_min = 1.5"), "compute.asg_min", "expected i64");
        refused(&edit(r#"region = "eu-west-1""#, "region = 3"), "region", "invalid type");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_table_and_the_keys_allowed() {
        let (key, reason) = problem(&edit("az_count = 2", "az_count = 2\nvpc_cidrs = 1"));
        assert_eq!(key, "network.vpc_cidrs");
        assert!(reason.contains("unknown field `vpc_cidrs`"), "{reason}");
        assert!(reason.contains("`vpc_cidr`"), "the allowed keys are listed: {reason}");
        // The misspelt table is unknown, and the table it meant is missing.
        let both = problems(&edit("[security]", "[securty]"));
        assert_eq!(both[0].0, "securty", "{both:?}");
        assert!(both[0].1.contains("unknown field"), "{both:?}");
        assert_eq!(both[1], ("security".into(), "missing field `security`".into()));
        refused(
            &edit("asg_max = 2", "asg_max = 2\nmax_size = 3"),
            "compute.max_size",
            "unknown field",
        );
    }

    #[test]
    fn an_unknown_nat_mode_lists_the_modes() {
        refused(
            &edit("az_count = 2", "az_count = 2\nnat_mode = \"double\""),
            "network.nat_mode",
            "expected `per_az` or `single`",
        );
    }

    #[test]
    fn a_missing_required_key_is_reported() {
        refused(
            &edit("az_count = 2", ""),
            "network.az_count",
            "missing field `az_count`",
        );
        let (_, reason) = problem(&edit(r#"region = "eu-west-1""#, ""));
        assert!(reason.contains("missing field `region`"), "{reason}");
    }

    #[test]
    fn a_syntax_error_is_pinned_to_the_key_on_its_line() {
        refused(
            &edit(r#"vpc_cidr = "10.0.0.0/16""#, "vpc_cidr = 10.0.0.0/16"),
            "network.vpc_cidr",
            "(line 4)",
        );
    }

    #[test]
    fn a_cidr_that_does_not_parse_is_refused() {
        refused(
            &edit(
                r#"ssh_allowed_cidr = "203.0.113.0/24""#,
                r#"ssh_allowed_cidr = "203.0.113.300/24""#,
            ),
            "security.ssh_allowed_cidr",
            "is not a CIDR block",
        );
        refused(
            &edit(
                r#"ssh_allowed_cidr = "203.0.113.0/24""#,
                r#"ssh_allowed_cidr = "203.0.113.0""#,
            ),
            "security.ssh_allowed_cidr",
            "is not a CIDR block",
        );
        // The platform's network is IPv4 only: an IPv6 range could never be used.
        refused(
            &edit(
                r#"ssh_allowed_cidr = "203.0.113.0/24""#,
                r#"ssh_allowed_cidr = "2001:db8::/32""#,
            ),
            "security.ssh_allowed_cidr",
            "IPv4 only",
        );
    }

    #[test]
    fn a_cidr_with_host_bits_set_names_its_network() {
        refused(
            &edit(
                r#"ssh_allowed_cidr = "203.0.113.0/24""#,
                r#"ssh_allowed_cidr = "203.0.113.9/24""#,
            ),
            "security.ssh_allowed_cidr",
            "has host bits set; the network is 203.0.113.0/24",
        );
    }

    #[test]
    fn ssh_from_the_whole_internet_is_refused() {
        refused(
            &edit(
                r#"ssh_allowed_cidr = "203.0.113.0/24""#,
                r#"ssh_allowed_cidr = "0.0.0.0/0""#,
            ),
            "security.ssh_allowed_cidr",
            "whole internet",
        );
    }

    #[test]
    fn ssh_from_half_the_internet_is_refused_and_the_limit_is_configurable() {
        for wide in ["0.0.0.0/1", "128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/8"] {
            refused(
                &edit(
                    r#"ssh_allowed_cidr = "203.0.113.0/24""#,
                    &format!(r#"ssh_allowed_cidr = "{wide}""#),
                ),
                "security.ssh_allowed_cidr",
                "wider than a /16",
            );
        }
        let private = edit(
            r#"ssh_allowed_cidr = "203.0.113.0/24""#,
            r#"ssh_allowed_cidr = "10.0.0.0/8""#,
        );
        assert!(parse(&private).is_ok(), "a private range is no part of the internet");
        let limit = edit(
            r#"ssh_allowed_cidr = "203.0.113.0/24""#,
            "ssh_allowed_cidr = \"203.0.0.0/12\"\nssh_widest_prefix = 12",
        );
        assert!(parse(&limit).is_ok(), "a deliberately raised limit");
        refused(
            &edit(
                r#"ssh_allowed_cidr = "203.0.113.0/24""#,
                "ssh_allowed_cidr = \"203.0.113.0/24\"\nssh_widest_prefix = 0",
            ),
            "security.ssh_widest_prefix",
            "prefix length",
        );
    }

    #[test]
    fn a_vpc_block_must_be_between_16_and_28_bits() {
        // The subnets stay inside a /8, so the VPC's size is the only problem.
        refused(
            &edit(r#"vpc_cidr = "10.0.0.0/16""#, r#"vpc_cidr = "10.0.0.0/8""#),
            "network.vpc_cidr",
            "between /16 and /28",
        );
        // In a /29 every /24 subnet is outside, and those are reported too.
        let found = keys(&edit(r#"vpc_cidr = "10.0.0.0/16""#, r#"vpc_cidr = "10.0.0.0/29""#));
        assert!(found.contains(&"network.vpc_cidr".to_string()), "{found:?}");
    }

    #[test]
    fn a_subnet_outside_the_vpc_is_refused() {
        refused(
            &edit(
                r#"private_subnet_cidrs = ["10.0.10.0/24", "10.0.11.0/24"]"#,
                r#"private_subnet_cidrs = ["10.0.10.0/24", "10.9.11.0/24"]"#,
            ),
            "network.private_subnet_cidrs[1]",
            "10.9.11.0/24 is outside the VPC block 10.0.0.0/16",
        );
    }

    #[test]
    fn overlapping_subnets_name_the_subnet_they_overlap() {
        refused(
            &edit(
                r#"private_subnet_cidrs = ["10.0.10.0/24", "10.0.11.0/24"]"#,
                r#"private_subnet_cidrs = ["10.0.10.0/24", "10.0.1.0/25"]"#,
            ),
            "network.private_subnet_cidrs[1]",
            "overlaps 10.0.1.0/24 (network.public_subnet_cidrs[1])",
        );
    }

    #[test]
    fn a_subnet_block_must_be_between_16_and_28_bits() {
        refused(
            &edit(
                r#"public_subnet_cidrs = ["10.0.0.0/24", "10.0.1.0/24"]"#,
                r#"public_subnet_cidrs = ["10.0.0.0/24", "10.0.1.0/29"]"#,
            ),
            "network.public_subnet_cidrs[1]",
            "a subnet block must be between /16 and /28",
        );
    }

    #[test]
    fn each_zone_needs_one_subnet_of_each_kind() {
        refused(
            &edit(
                r#"public_subnet_cidrs = ["10.0.0.0/24", "10.0.1.0/24"]"#,
                r#"public_subnet_cidrs = ["10.0.0.0/24"]"#,
            ),
            "network.public_subnet_cidrs",
            "has 1 entries but az_count is 2",
        );
    }

    #[test]
    fn az_count_must_be_positive_and_within_the_listed_zones() {
        let found = keys(&edit("az_count = 2", "az_count = 0"));
        assert_eq!(
            found,
            ["network.az_count"],
            "no per-subnet count complaints when az_count is 0"
        );
        refused(&edit("az_count = 2", "az_count = 0"), "network.az_count", "at least 1");
        refused(
            &edit("az_count = 2", "az_count = 2\navailability_zones = [\"eu-west-1a\"]"),
            "network.az_count",
            "is 2 but only 1 availability zones are listed",
        );
        let (key, reason) = problem(&edit("az_count = 2", "az_count = -1"));
        assert_eq!(key, "network.az_count");
        assert!(
            reason.contains("invalid value"),
            "a negative count is a type error: {reason}"
        );
    }

    #[test]
    fn a_zone_outside_the_region_is_refused() {
        refused(
            &edit(
                "az_count = 2",
                "az_count = 2\navailability_zones = [\"eu-west-1a\", \"us-east-1b\"]",
            ),
            "network.availability_zones[1]",
            "'us-east-1b' is not a zone of region eu-west-1",
        );
        refused(
            &edit(
                "az_count = 2",
                "az_count = 2\navailability_zones = [\"eu-west-1a\", \"eu-west-1bb\"]",
            ),
            "network.availability_zones[1]",
            "is not a zone of region",
        );
    }

    #[test]
    fn a_region_must_look_like_an_aws_region() {
        for bad in ["eu-west", "EU-west-1", "eu-west-one", "eu--1", "euwest1"] {
            let text = VALID.replace("eu-west-1", bad);
            let found = problems(&text);
            assert!(
                found
                    .iter()
                    .any(|(k, r)| k == "region" && r.contains("is not an AWS region name")),
                "{bad}: {found:?}"
            );
        }
        let text = VALID.replace("eu-west-1", "us-gov-west-1");
        assert!(parse(&text).is_ok(), "a region of four parts");
    }

    #[test]
    fn a_stack_name_must_fit_the_aws_names_built_from_it() {
        for (bad, because) in [
            ("Shop", "only a-z"),
            ("shop_1", "only a-z"),
            ("-shop", "start with a letter"),
            ("9lives", "start with a letter"),
            ("a--b", "two hyphens"),
            ("dev-", "end with a hyphen"),
            (&"a".repeat(29), "1 to 28"),
        ] {
            let text = format!("name = \"{bad}\"\n{VALID}");
            refused(&text, "name", because);
        }
        let text = format!("name = \"{}\"\n{VALID}", "a".repeat(28));
        assert!(parse(&text).is_ok(), "28 characters are allowed (`<name>-alb` is 32)");
        let unnamed = StackConfig::parse(Path::new("stacks/Bad_Name.toml"), VALID).expect_err("refused");
        assert_eq!(unnamed.0[0].key, "name", "the file's stem is checked like a name");
    }

    #[test]
    fn reserved_and_oversized_tags_are_refused() {
        refused(
            &edit(r#"Project = "shop""#, r#""stackup:owner" = "me""#),
            "tags.stackup:owner",
            "reserved",
        );
        refused(
            &edit(r#"Project = "shop""#, r#""aws:x" = "y""#),
            "tags.aws:x",
            "reserved",
        );
        refused(
            &edit(r#"Project = "shop""#, &format!("Project = \"{}\"", "v".repeat(257))),
            "tags.Project",
            "values at most 256",
        );
        let many: Vec<String> = (0..41).map(|i| format!("T{i} = \"v\"")).collect();
        refused(
            &edit(r#"Project = "shop""#, &many.join("\n")),
            "tags",
            "at most 40 tags",
        );
        let forty: Vec<String> = (0..40).map(|i| format!("T{i} = \"v\"")).collect();
        assert!(
            parse(&edit(r#"Project = "shop""#, &forty.join("\n"))).is_ok(),
            "40 tags are allowed"
        );
    }

    #[test]
    fn a_platform_needs_all_four_tiers_and_names_the_missing_ones() {
        let text = format!("{NETWORK_ONLY}\n[storage]\nassets_bucket = \"shop-assets\"\n");
        let found = problems(&text);
        let missing: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(missing, ["compute", "database", "monitoring"]);
        assert!(found.iter().all(|(_, r)| r.starts_with("missing")), "{found:?}");
    }

    #[test]
    fn the_scaling_group_bounds_must_be_ordered_and_sane() {
        refused(
            &edit("asg_min = 1", "asg_min = 3"),
            "compute.asg_max",
            "asg_min 3, asg_max 2",
        );
        refused(&edit("asg_min = 1", "asg_min = -1"), "compute.asg_max", "0 <= asg_min");
        refused(
            &edit("asg_max = 2", "asg_max = 0").replace("asg_min = 1", "asg_min = 0"),
            "compute.asg_max",
            "asg_max >= 1",
        );
        refused(
            &edit("asg_max = 2", "asg_max = 101"),
            "compute.asg_max",
            "surely a typo",
        );
        assert!(parse(&edit("asg_max = 2", "asg_max = 100")).is_ok(), "100 is allowed");
        assert!(
            parse(&edit("asg_min = 1", "asg_min = 0")).is_ok(),
            "a group may scale to zero"
        );
    }

    #[test]
    fn cpu_percentages_must_be_between_1_and_100() {
        refused(
            &edit("cpu_target_percent = 70.0", "cpu_target_percent = 0.5"),
            "compute.cpu_target_percent",
            "between 1 and 100",
        );
        refused(
            &edit("ec2_cpu_alarm_threshold = 70.0", "ec2_cpu_alarm_threshold = 100.5"),
            "monitoring.ec2_cpu_alarm_threshold",
            "between 1 and 100",
        );
        refused(
            &edit("rds_cpu_alarm_threshold = 80.0", "rds_cpu_alarm_threshold = 0.0"),
            "monitoring.rds_cpu_alarm_threshold",
            "between 1 and 100",
        );
        assert!(parse(&edit("cpu_target_percent = 70.0", "cpu_target_percent = 100.0")).is_ok());
    }

    #[test]
    fn instance_types_and_classes_must_look_like_ec2_and_rds_ones() {
        refused(
            &edit(r#"web_instance_type = "t3.micro""#, r#"web_instance_type = "t3micro""#),
            "compute.web_instance_type",
            "'t3micro' is not an EC2 instance type",
        );
        refused(
            &edit(
                r#"bastion_instance_type = "t3.micro""#,
                r#"bastion_instance_type = "T3.micro""#,
            ),
            "compute.bastion_instance_type",
            "is not an EC2 instance type",
        );
        refused(
            &edit(r#"instance_class = "db.t3.micro""#, r#"instance_class = "t3.micro""#),
            "database.instance_class",
            "is not an RDS class like db.t3.micro",
        );
        assert!(parse(&edit(
            r#"web_instance_type = "t3.micro""#,
            r#"web_instance_type = "c6in.2xlarge""#
        ))
        .is_ok());
    }

    #[test]
    fn instance_type_names_are_a_lowercase_family_a_dot_and_a_size() {
        for good in ["t3.micro", "m7g.large", "c6in.2xlarge", "u-6tb1.metal"] {
            assert!(instance_type_ok(good), "{good}");
        }
        for bad in [
            "",
            "t3",
            "t3.",
            ".micro",
            "3t.micro",
            "T3.micro",
            "t3.Micro",
            "t3.micro.x",
            "t3_x.micro",
        ] {
            assert!(!instance_type_ok(bad), "{bad}");
        }
    }

    #[test]
    fn an_ami_is_an_image_id_or_an_ssm_parameter() {
        for good in [
            "ami-0123abcd",
            "ami-0123456789abcdef0",
            "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        ] {
            let text = edit(r#"ami = "ami-0123456789abcdef0""#, &format!("ami = \"{good}\""));
            assert!(parse(&text).is_ok(), "{good}");
        }
        for bad in [
            "ami-123",
            "ami-0123xyz0",
            "resolve:ssm:",
            "resolve:ssm:name",
            "img-0123456789",
        ] {
            let text = edit(r#"ami = "ami-0123456789abcdef0""#, &format!("ami = \"{bad}\""));
            refused(&text, "compute.ami", "neither an AMI id");
        }
        let without = edit(r#"ami = "ami-0123456789abcdef0""#, "");
        let c = parse(&without).expect("the AMI has a default");
        assert!(c.compute.expect("compute").ami.starts_with("resolve:ssm:/aws/service/"));
    }

    #[test]
    fn a_certificate_must_be_an_acm_arn_and_a_health_path_absolute() {
        refused(
            &edit(
                "asg_max = 2",
                "asg_max = 2\ncertificate_arn = \"arn:aws:iam::1:server-certificate/x\"",
            ),
            "compute.certificate_arn",
            "is not an ACM certificate ARN",
        );
        let ok = edit(
            "asg_max = 2",
            "asg_max = 2\ncertificate_arn = \"arn:aws:acm:eu-west-1:1:certificate/x\"",
        );
        assert!(parse(&ok).is_ok());
        refused(
            &edit(r#"health_check_path = "/health""#, r#"health_check_path = "health""#),
            "compute.health_check_path",
            "must start with '/'",
        );
    }

    #[test]
    fn an_engine_version_is_dotted_digits() {
        for bad in ["", "16.", "v16", "16.x", ".4"] {
            let text = edit(r#"engine_version = "16.4""#, &format!("engine_version = \"{bad}\""));
            refused(&text, "database.engine_version", "is not a PostgreSQL version");
        }
        for good in ["16", "16.4", "15.10.2"] {
            let text = edit(r#"engine_version = "16.4""#, &format!("engine_version = \"{good}\""));
            assert!(parse(&text).is_ok(), "{good}");
        }
    }

    #[test]
    fn database_numbers_out_of_range_are_refused_with_their_bounds() {
        refused(
            &edit("backup_retention_days = 7", "backup_retention_days = 0"),
            "database.backup_retention_days",
            "must be 1 to 35 days",
        );
        refused(
            &edit("backup_retention_days = 7", "backup_retention_days = 36"),
            "database.backup_retention_days",
            "must be 1 to 35 days",
        );
        assert!(parse(&edit("backup_retention_days = 7", "backup_retention_days = 35")).is_ok());
        refused(
            &edit("allocated_storage_gb = 20", "allocated_storage_gb = 19"),
            "database.allocated_storage_gb",
            "must be 20 to 65536",
        );
        refused(
            &edit("allocated_storage_gb = 20", "allocated_storage_gb = 65537"),
            "database.allocated_storage_gb",
            "must be 20 to 65536",
        );
    }

    #[test]
    fn a_backup_window_is_hh_mm_and_lasts_half_an_hour() {
        refused(
            &edit(r#"backup_window = "03:00-04:00""#, r#"backup_window = "03:00-03:29""#),
            "database.backup_window",
            "at least 30 minutes",
        );
        refused(
            &edit(r#"backup_window = "03:00-04:00""#, r#"backup_window = "3:00-4:00""#),
            "database.backup_window",
            "is not hh:mm-hh:mm",
        );
        let across_midnight = edit(r#"backup_window = "03:00-04:00""#, r#"backup_window = "23:45-00:15""#);
        assert!(parse(&across_midnight).is_ok(), "a window may wrap midnight");
    }

    #[test]
    fn window_lengths_wrap_midnight_and_reject_bad_times() {
        assert_eq!(window_minutes("03:00-04:00"), Some(60));
        assert_eq!(window_minutes("23:45-00:15"), Some(30));
        assert_eq!(
            window_minutes("10:00-10:00"),
            Some(24 * 60),
            "the same time is a whole day"
        );
        for bad in [
            "",
            "03:00",
            "03:00-24:00",
            "03:60-04:00",
            "3:00-04:00",
            "03:00-04",
            "ab:cd-04:00",
        ] {
            assert_eq!(window_minutes(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_maintenance_window_names_a_day_and_a_time_at_each_end() {
        assert!(maintenance_window_ok("sun:05:00-sun:06:00"));
        assert!(maintenance_window_ok("sat:23:30-sun:00:30"));
        for bad in [
            "sun:05:00",
            "sunday:05:00-sun:06:00",
            "Sun:05:00-sun:06:00",
            "sun:25:00-sun:06:00",
            "05:00-06:00",
        ] {
            assert!(!maintenance_window_ok(bad), "{bad}");
        }
        refused(
            &edit(
                r#"maintenance_window = "sun:05:00-sun:06:00""#,
                r#"maintenance_window = "sun 05:00-06:00""#,
            ),
            "database.maintenance_window",
            "is not ddd:hh:mm-ddd:hh:mm",
        );
    }

    #[test]
    fn a_master_username_must_be_a_plain_unreserved_name() {
        for bad in ["postgres", "admin", "rdsadmin", "1shop", "shop-user", ""] {
            let text = edit(r#"master_username = "shop""#, &format!("master_username = \"{bad}\""));
            refused(&text, "database.master_username", "not a reserved name");
        }
        let text = edit(r#"master_username = "shop""#, "master_username = \"shop_admin2\"");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn bucket_names_follow_s3s_rules() {
        assert_eq!(bucket_name_ok("shop-assets.v2"), Ok(()));
        assert_eq!(bucket_name_ok("ab"), Err("bucket names are 3 to 63 characters"));
        assert_eq!(
            bucket_name_ok(&"a".repeat(64)),
            Err("bucket names are 3 to 63 characters")
        );
        assert_eq!(bucket_name_ok(&"a".repeat(63)), Ok(()));
        assert_eq!(
            bucket_name_ok("Shop"),
            Err("only lowercase letters, digits, '.' and '-'")
        );
        assert_eq!(
            bucket_name_ok("shop_assets"),
            Err("only lowercase letters, digits, '.' and '-'")
        );
        assert_eq!(
            bucket_name_ok("-shop"),
            Err("must begin and end with a letter or digit")
        );
        assert_eq!(
            bucket_name_ok("shop."),
            Err("must begin and end with a letter or digit")
        );
        assert_eq!(
            bucket_name_ok("shop..assets"),
            Err("no adjacent dots, and not an IP address")
        );
        assert_eq!(
            bucket_name_ok("192.168.1.1"),
            Err("no adjacent dots, and not an IP address")
        );
        assert_eq!(bucket_name_ok("xn--shop"), Err("reserved prefix or suffix"));
        assert_eq!(bucket_name_ok("shop-s3alias"), Err("reserved prefix or suffix"));
    }

    #[test]
    fn a_bad_bucket_name_is_reported_with_the_name_and_the_rule() {
        refused(
            &edit(r#"assets_bucket = "shop-assets""#, r#"assets_bucket = "Shop_Assets""#),
            "storage.assets_bucket",
            "'Shop_Assets': only lowercase letters",
        );
        refused(
            &edit(
                r#"assets_bucket = "shop-assets""#,
                "assets_bucket = \"shop-assets\"\nsession_ttl_attribute = \"\"",
            ),
            "storage.session_ttl_attribute",
            "1-255 characters",
        );
    }

    #[test]
    fn log_retention_must_be_a_period_cloudwatch_offers() {
        refused(
            &edit("log_retention_days = 7", "log_retention_days = 10"),
            "monitoring.log_retention_days",
            "10 is not a retention CloudWatch Logs offers",
        );
        for days in LOG_RETENTION_DAYS {
            let text = edit("log_retention_days = 7", &format!("log_retention_days = {days}"));
            assert!(parse(&text).is_ok(), "{days}");
        }
    }

    #[test]
    fn an_alarm_email_needs_a_user_and_a_dotted_domain() {
        for bad in ["ops", "@example.com", "ops@example", "ops@.example.com", "ops@example."] {
            let text = edit(
                r#"alarm_email = "ops@example.com""#,
                &format!("alarm_email = \"{bad}\""),
            );
            refused(&text, "monitoring.alarm_email", "is not an e-mail address");
        }
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let text = edit(r#"region = "eu-west-1""#, "name = \"Shop\"\nregion = \"eu-west-1\"")
            .replace("asg_min = 1", "asg_min = 5")
            .replace("log_retention_days = 7", "log_retention_days = 2")
            .replace(r#"ssh_allowed_cidr = "203.0.113.0/24""#, r#"ssh_allowed_cidr = "nope""#);
        let found = keys(&text);
        assert_eq!(
            found,
            [
                "name",
                "security.ssh_allowed_cidr",
                "compute.asg_max",
                "monitoring.log_retention_days"
            ]
        );
    }

    #[test]
    fn one_problem_prints_on_one_line_with_the_file_and_key() {
        let errors = parse(&edit("asg_max = 2", "asg_max = 101")).expect_err("refused");
        assert_eq!(
            errors.to_string(),
            "invalid stack file stacks/shop.toml: key 'compute.asg_max': more than 100 instances is surely a typo"
        );
    }

    #[test]
    fn several_problems_print_as_a_count_and_one_line_each() {
        let errors =
            parse(&edit("asg_max = 2", "asg_max = 101").replace("az_count = 2", "az_count = 0")).expect_err("refused");
        let text = errors.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "invalid stack file: 2 problems", "{text}");
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[1],
            "  - stacks/shop.toml: key 'network.az_count': must be at least 1"
        );
        assert_eq!(
            lines[2],
            "  - stacks/shop.toml: key 'compute.asg_max': more than 100 instances is surely a typo"
        );
    }

    #[test]
    fn a_stack_argument_is_a_path_or_a_name_under_stacks() {
        assert_eq!(StackConfig::path_for("dev"), Path::new("stacks").join("dev.toml"));
        assert_eq!(StackConfig::path_for("my.toml"), PathBuf::from("my.toml"));
        assert_eq!(StackConfig::path_for("elsewhere/dev"), PathBuf::from("elsewhere/dev"));
    }

    #[test]
    fn a_stack_file_that_cannot_be_read_is_one_whole_file_problem() {
        let missing = std::env::temp_dir().join(format!("stackup-no-such-stack-{}.toml", std::process::id()));
        let arg = missing.to_str().expect("utf-8 path");
        let errors = StackConfig::load(arg).expect_err("no such file");
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].file, missing);
        assert_eq!(errors.0[0].key, "(file)");
        assert!(
            errors.0[0].reason.starts_with("cannot read the stack file"),
            "{}",
            errors.0[0].reason
        );
    }

    #[test]
    fn a_stack_file_on_disk_loads_and_is_named_after_the_file() {
        let dir = std::env::temp_dir().join(format!("stackup-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("staging.toml");
        std::fs::write(&path, NETWORK_ONLY).expect("write");
        let loaded = StackConfig::load(path.to_str().expect("utf-8 path"));
        std::fs::remove_dir_all(&dir).expect("clean up");
        let c = loaded.expect("valid");
        assert_eq!(c.name, "staging");
        assert_eq!(c.file, path);
    }
}
