//! The multi-tier stack file, read with errors that name the file, the key and the
//! reason, then validated with every problem reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stackup_model::stackfile::{Problems, Settings};
use stackup_model::ConfigErrors;

/// A stack file with `program = "multitier"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultitierConfig {
    /// Defaults to the file's name without `.toml`.
    #[serde(default)]
    pub name: String,
    pub region: String,
    /// `multitier` (read by the command line to pick this program).
    pub program: String,
    pub network: NetworkConfig,
    pub monitoring: MonitoringConfig,
    pub app: AppConfig,
    pub database: DatabaseConfig,
    pub jenkins: JenkinsConfig,
    /// Tags on every object.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(skip)]
    pub file: PathBuf,
}

/// The application VPC: a public and a private subnet in each of two zones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    pub vpc_cidr: String,
    /// Two zones of the region; when left out, the region's first two available zones
    /// (a lookup, shown in the plan).
    #[serde(default)]
    pub availability_zones: Option<Vec<String>>,
    pub public_subnet_cidrs: Vec<String>,
    pub private_subnet_cidrs: Vec<String>,
}

/// The monitoring VPC, peered with the application VPC.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Must not overlap the application VPC: peered VPCs route by destination block.
    pub vpc_cidr: String,
    pub subnet_cidr: String,
    pub instance_type: String,
    /// Who may open Grafana (3000) and Prometheus (9090).
    pub admin_cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The SSM parameter that names the AMI every instance runs (read by a lookup
    /// while planning). AWS publishes Amazon Linux's there.
    #[serde(default = "default_ami_parameter")]
    pub ami_parameter: String,
    /// Pins an AMI id instead of reading `ami_parameter`.
    #[serde(default)]
    pub ami: Option<String>,
    pub frontend_instance_type: String,
    pub backend_instance_type: String,
    /// The port the backend listens on (frontend to backend only).
    #[serde(default = "default_app_port")]
    pub app_port: u16,
    /// What the load balancer's health check requests on the frontends.
    #[serde(default = "default_health_path")]
    pub health_check_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// PostgreSQL major version (`16`) or version prefix (`16.4`).
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage_gb: i64,
    pub master_username: String,
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default = "default_retention")]
    pub backup_retention_days: i64,
    #[serde(default)]
    pub deletion_protection: bool,
    /// Demo stacks delete without a final snapshot.
    #[serde(default)]
    pub skip_final_snapshot: bool,
    #[serde(default = "yes")]
    pub apply_immediately: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JenkinsConfig {
    pub instance_type: String,
    /// Who may open Jenkins (8080).
    pub admin_cidrs: Vec<String>,
}

/// Amazon Linux 2023, as AWS publishes it in every region.
pub const AL2023: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

fn default_ami_parameter() -> String {
    AL2023.into()
}

fn default_app_port() -> u16 {
    8080
}

fn default_health_path() -> String {
    "/health".into()
}

fn default_retention() -> i64 {
    7
}

fn yes() -> bool {
    true
}

/// The widest administrator range accepted: a /16 (no part of the internet at large).
const WIDEST_ADMIN_PREFIX: u8 = 16;

/// Ports the platform uses itself (SSH is never opened).
const RESERVED_PORTS: &[(u16, &str)] = &[
    (22, "SSH is never opened"),
    (80, "the frontends serve HTTP on it"),
    (5432, "the database listens on it"),
    (9100, "node exporter listens on it"),
];

impl MultitierConfig {
    /// Parses and validates stack file text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<MultitierConfig, ConfigErrors> {
        stackup_model::stackfile::read(file, text)
    }
}

impl Settings for MultitierConfig {
    fn name_and_file(&mut self) -> (&mut String, &mut PathBuf) {
        (&mut self.name, &mut self.file)
    }

    fn problems(&self) -> Vec<(String, String)> {
        let mut p = Problems::default();
        p.program(&self.program, "multitier");
        p.stack_name(
            &self.name,
            22,
            "it prefixes the load balancer's and target group's 32-character names",
        );
        let net = &self.network;
        let app_vpc = p.block("network.vpc_cidr", &net.vpc_cidr, "VPC");
        if let Some(zones) = &net.availability_zones {
            p.zones("network.availability_zones", zones, &self.region, 2);
        }
        let mut taken = Vec::new();
        for (key, cidrs) in [
            ("network.public_subnet_cidrs", &net.public_subnet_cidrs),
            ("network.private_subnet_cidrs", &net.private_subnet_cidrs),
        ] {
            p.subnets(key, cidrs, 2, app_vpc.map(|v| (net.vpc_cidr.as_str(), v)), &mut taken);
        }

        let mon = &self.monitoring;
        let mon_vpc = p.block("monitoring.vpc_cidr", &mon.vpc_cidr, "VPC");
        if let (Some(a), Some(m)) = (app_vpc, mon_vpc) {
            if a.contains(&m) || m.contains(&a) {
                p.fail(
                    "monitoring.vpc_cidr",
                    format!(
                        "'{}' overlaps network.vpc_cidr '{}': peered VPCs route to each other by destination block, so their blocks must not overlap",
                        mon.vpc_cidr, net.vpc_cidr
                    ),
                );
            }
        }
        let mut mon_taken = Vec::new();
        p.subnets(
            "monitoring.subnet_cidr",
            std::slice::from_ref(&mon.subnet_cidr),
            1,
            mon_vpc.map(|v| (mon.vpc_cidr.as_str(), v)),
            &mut mon_taken,
        );
        p.instance_type("monitoring.instance_type", &mon.instance_type);
        admin_cidrs(&mut p, "monitoring.admin_cidrs", &mon.admin_cidrs);

        let app = &self.app;
        match &app.ami {
            Some(ami) => p.ami("app.ami", ami),
            None => {
                if !app.ami_parameter.starts_with('/') || app.ami_parameter.contains(char::is_whitespace) {
                    p.fail(
                        "app.ami_parameter",
                        format!("'{}' is not an SSM parameter name (/...)", app.ami_parameter),
                    );
                }
            }
        }
        p.instance_type("app.frontend_instance_type", &app.frontend_instance_type);
        p.instance_type("app.backend_instance_type", &app.backend_instance_type);
        if let Some((_, why)) = RESERVED_PORTS.iter().find(|(port, _)| *port == app.app_port) {
            p.fail("app.app_port", format!("{} is not available: {why}", app.app_port));
        } else if app.app_port < 1024 {
            p.fail(
                "app.app_port",
                format!("{} is a privileged port; use 1024-65535", app.app_port),
            );
        }
        p.path("app.health_check_path", &app.health_check_path);

        let db = &self.database;
        let version_ok = !db.engine_version.is_empty()
            && db
                .engine_version
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        if !version_ok {
            p.fail(
                "database.engine_version",
                format!("'{}' must be a PostgreSQL version like 16 or 16.4", db.engine_version),
            );
        }
        if !db.instance_class.starts_with("db.") {
            p.fail(
                "database.instance_class",
                format!(
                    "'{}' is not an RDS instance class (like db.t3.micro)",
                    db.instance_class
                ),
            );
        }
        if !(20..=65536).contains(&db.allocated_storage_gb) {
            p.fail(
                "database.allocated_storage_gb",
                format!(
                    "{} GB is outside what RDS allocates for PostgreSQL (20-65536)",
                    db.allocated_storage_gb
                ),
            );
        }
        let user_ok = (1..=63).contains(&db.master_username.len())
            && db.master_username.starts_with(|c: char| c.is_ascii_alphabetic())
            && db
                .master_username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !["postgres", "admin", "rdsadmin"].contains(&db.master_username.as_str());
        if !user_ok {
            p.fail(
                "database.master_username",
                format!(
                    "'{}' must be 1-63 letters, digits and '_', start with a letter, and not be a reserved name",
                    db.master_username
                ),
            );
        }
        if !(0..=35).contains(&db.backup_retention_days) {
            p.fail("database.backup_retention_days", "must be from 0 to 35 days".into());
        }

        p.instance_type("jenkins.instance_type", &self.jenkins.instance_type);
        admin_cidrs(&mut p, "jenkins.admin_cidrs", &self.jenkins.admin_cidrs);
        p.tags(&self.tags);
        p.0
    }
}

/// Administrator ranges: at least one, each no wider than a /16 of public space.
fn admin_cidrs(p: &mut Problems, key: &str, cidrs: &[String]) {
    if cidrs.is_empty() {
        p.fail(
            key,
            "name at least one administrator range (your office or VPN, like 203.0.113.0/24)".into(),
        );
    }
    for (i, cidr) in cidrs.iter().enumerate() {
        p.admin_range(&format!("{key}[{i}]"), cidr, WIDEST_ADMIN_PREFIX, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = include_str!("../../../stacks/multitier-dev.toml");

    fn parse(text: &str) -> Result<MultitierConfig, ConfigErrors> {
        MultitierConfig::parse(Path::new("stacks/mt.toml"), text)
    }

    fn problems(text: &str) -> Vec<(String, String)> {
        parse(text).expect_err("invalid").keyed()
    }

    #[test]
    fn the_dev_stack_file_is_valid_and_reads_its_zones_and_ami_by_lookup() {
        let config = parse(DEV).expect("valid");
        assert_eq!(config.name, "multitier-dev");
        assert_eq!(config.network.availability_zones, None);
        assert_eq!(config.app.ami, None);
        assert_eq!(config.app.ami_parameter, AL2023);
        assert_eq!(config.app.app_port, 8080);
    }

    #[test]
    fn overlapping_vpc_blocks_are_refused_naming_both_keys() {
        let e = problems(&DEV.replace("vpc_cidr = \"10.60.0.0/16\"", "vpc_cidr = \"10.50.0.0/16\""));
        let overlap = e
            .iter()
            .find(|(k, _)| k == "monitoring.vpc_cidr")
            .expect("monitoring.vpc_cidr refused");
        assert!(overlap.1.contains("overlaps network.vpc_cidr"), "{e:?}");
        // A block inside the other overlaps too.
        let e = problems(
            &DEV.replace("vpc_cidr = \"10.60.0.0/16\"", "vpc_cidr = \"10.50.128.0/20\"")
                .replace("subnet_cidr = \"10.60.0.0/24\"", "subnet_cidr = \"10.50.128.0/24\""),
        );
        assert!(e.iter().any(|(k, _)| k == "monitoring.vpc_cidr"), "{e:?}");
    }

    #[test]
    fn consoles_are_never_open_to_the_internet_and_ssh_is_not_the_app_port() {
        let e = problems(&DEV.replace("admin_cidrs = [\"203.0.113.0/24\"]", "admin_cidrs = [\"0.0.0.0/1\"]"));
        assert!(
            e.iter()
                .any(|(k, r)| k == "jenkins.admin_cidrs[0]" && r.contains("wider than a /16")),
            "{e:?}"
        );
        let e = problems(&DEV.replace("app_port = 8080", "app_port = 22"));
        assert_eq!(
            e,
            vec![(
                "app.app_port".to_string(),
                "22 is not available: SSH is never opened".to_string()
            )]
        );
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let text = DEV
            .replace("\"10.50.11.0/24\"", "\"10.70.11.0/24\"")
            .replace("engine_version = \"16\"", "engine_version = \"sixteen\"")
            .replace("master_username = \"app\"", "master_username = \"postgres\"")
            .replace(
                "[network]\n",
                "[network]\navailability_zones = [\"us-east-1a\", \"us-east-1a\"]\n",
            );
        let keys: Vec<String> = problems(&text).into_iter().map(|(k, _)| k).collect();
        for key in [
            "network.private_subnet_cidrs[1]",
            "database.engine_version",
            "database.master_username",
            "network.availability_zones",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
    }
}
