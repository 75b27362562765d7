//! The web-pair stack file, read with errors that name the file, the key and the reason,
//! then validated with every problem reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::Deserialize;
use stackup_model::ConfigErrors;

/// A stack file with `program = "web-pair"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPairConfig {
    /// Defaults to the file's name without `.toml`.
    #[serde(default)]
    pub name: String,
    pub region: String,
    /// `web-pair` (read by the command line to pick this program).
    pub program: String,
    pub network: NetworkConfig,
    pub web: WebConfig,
    /// Tags on every object.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(skip)]
    pub file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    pub vpc_cidr: String,
    /// Two zones of the region: a public and a private subnet in each.
    pub availability_zones: Vec<String>,
    pub public_subnet_cidrs: Vec<String>,
    pub private_subnet_cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// An AMI id, or `resolve:ssm:<parameter>`.
    pub ami: String,
    pub instance_type: String,
    /// The path the load balancer's health check requests.
    #[serde(default = "default_health_path")]
    pub health_check_path: String,
    /// An ACM certificate: adds an HTTPS listener, and HTTP redirects to it.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// The heading of the page the servers serve.
    #[serde(default = "default_title")]
    pub page_title: String,
}

fn default_health_path() -> String {
    "/health".into()
}

fn default_title() -> String {
    "stackup web pair".into()
}

impl WebPairConfig {
    /// Parses and validates stack file text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<WebPairConfig, ConfigErrors> {
        let mut config: WebPairConfig = stackup_model::stackfile::deserialize(file, text)?;
        config.file = file.to_path_buf();
        if config.name.is_empty() {
            config.name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        ConfigErrors::check(file, config.validate())?;
        Ok(config)
    }

    /// Every semantic problem, as (key, reason).
    fn validate(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut fail = |key: &str, reason: String| p.push((key.to_string(), reason));
        if self.program != "web-pair" {
            fail("program", format!("'{}' is not this program (web-pair)", self.program));
        }
        let name_ok = (1..=24).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.name.starts_with('-');
        if !name_ok {
            fail(
                "name",
                format!(
                    "'{}' must be 1-24 characters of a-z, 0-9 and '-' (it prefixes the load balancer's and target group's 32-character names)",
                    self.name
                ),
            );
        }
        let net = &self.network;
        let vpc = match net.vpc_cidr.parse::<Ipv4Net>() {
            Ok(v) if v != v.trunc() => {
                fail(
                    "network.vpc_cidr",
                    format!("'{}' has host bits set; the network is {}", net.vpc_cidr, v.trunc()),
                );
                None
            }
            Ok(v) if !(16..=28).contains(&v.prefix_len()) => {
                fail("network.vpc_cidr", "a VPC block must be from /16 to /28".into());
                None
            }
            Ok(v) => Some(v),
            Err(_) => {
                fail(
                    "network.vpc_cidr",
                    format!("'{}' is not an IPv4 CIDR block", net.vpc_cidr),
                );
                None
            }
        };
        if net.availability_zones.len() != 2 {
            fail(
                "network.availability_zones",
                format!(
                    "exactly two zones (one server in each), not {}",
                    net.availability_zones.len()
                ),
            );
        }
        for (i, zone) in net.availability_zones.iter().enumerate() {
            let in_region = zone.len() == self.region.len() + 1
                && zone.starts_with(&self.region)
                && zone.ends_with(|c: char| c.is_ascii_lowercase());
            if !in_region {
                fail(
                    &format!("network.availability_zones[{i}]"),
                    format!("'{zone}' is not a zone of {}", self.region),
                );
            }
        }
        if net.availability_zones.len() == 2 && net.availability_zones[0] == net.availability_zones[1] {
            fail("network.availability_zones", "the two zones must differ".into());
        }
        let mut blocks: Vec<(String, Ipv4Net)> = Vec::new();
        for (key, cidrs) in [
            ("network.public_subnet_cidrs", &net.public_subnet_cidrs),
            ("network.private_subnet_cidrs", &net.private_subnet_cidrs),
        ] {
            if cidrs.len() != 2 {
                fail(key, format!("exactly two blocks (one per zone), not {}", cidrs.len()));
            }
            for (i, cidr) in cidrs.iter().enumerate() {
                let key = format!("{key}[{i}]");
                match cidr.parse::<Ipv4Net>() {
                    Ok(b) if b != b.trunc() => fail(
                        &key,
                        format!("'{cidr}' has host bits set; the network is {}", b.trunc()),
                    ),
                    Ok(b) if !(16..=28).contains(&b.prefix_len()) => {
                        fail(&key, "a subnet block must be from /16 to /28".into())
                    }
                    Ok(b) => {
                        if vpc.is_some_and(|v| !v.contains(&b)) {
                            fail(&key, format!("'{cidr}' is outside the VPC's {}", net.vpc_cidr));
                        }
                        if let Some((other, _)) = blocks.iter().find(|(_, o)| o.contains(&b) || b.contains(o)) {
                            fail(&key, format!("'{cidr}' overlaps {other}"));
                        }
                        blocks.push((key.clone(), b));
                    }
                    Err(_) => fail(&key, format!("'{cidr}' is not an IPv4 CIDR block")),
                }
            }
        }
        let web = &self.web;
        let ami_ok =
            (web.ami.starts_with("ami-") && web.ami.len() > 4 && web.ami[4..].bytes().all(|b| b.is_ascii_hexdigit()))
                || web.ami.starts_with("resolve:ssm:/");
        if !ami_ok {
            fail(
                "web.ami",
                format!("'{}' must be an AMI id (ami-...) or resolve:ssm:<parameter>", web.ami),
            );
        }
        let type_ok = web.instance_type.split_once('.').is_some_and(|(family, size)| {
            !family.is_empty()
                && !size.is_empty()
                && family
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && size.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !type_ok {
            fail(
                "web.instance_type",
                format!("'{}' is not an EC2 instance type (like t3.micro)", web.instance_type),
            );
        }
        if !web.health_check_path.starts_with('/') || web.health_check_path.contains(char::is_whitespace) {
            fail(
                "web.health_check_path",
                format!("'{}' must be an absolute path without spaces", web.health_check_path),
            );
        }
        if let Some(arn) = &web.certificate_arn {
            if !(arn.starts_with("arn:aws:acm:") && arn.contains(":certificate/")) {
                fail("web.certificate_arn", format!("'{arn}' is not an ACM certificate ARN"));
            }
        }
        if web.page_title.contains(['<', '>', '\'']) {
            fail("web.page_title", "must not contain '<', '>' or quotes".into());
        }
        for key in self.tags.keys() {
            if key.starts_with("aws:") || key.starts_with("stackup:") {
                fail(
                    &format!("tags.{key}"),
                    "the aws: and stackup: prefixes are reserved".into(),
                );
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = include_str!("../../../stacks/web-pair-dev.toml");

    fn parse(text: &str) -> Result<WebPairConfig, ConfigErrors> {
        WebPairConfig::parse(Path::new("stacks/wp.toml"), text)
    }

    fn problems(text: &str) -> Vec<(String, String)> {
        parse(text)
            .expect_err("invalid")
            .0
            .into_iter()
            .map(|e| (e.key, e.reason))
            .collect()
    }

    #[test]
    fn the_dev_stack_file_is_valid_and_has_defaults() {
        let config = parse(DEV).expect("valid");
        assert_eq!(config.name, "web-pair-dev");
        assert_eq!(config.web.health_check_path, "/health");
        assert_eq!(config.web.certificate_arn, None);
    }

    #[test]
    fn a_wrong_type_or_unknown_key_names_the_key() {
        let e = problems(&DEV.replace("instance_type = \"t3.micro\"", "instance_type = 3"));
        assert_eq!(e[0].0, "web.instance_type", "{e:?}");
        let e = problems(&DEV.replace("[web]\n", "[web]\nssh_key = \"k\"\n"));
        assert!(e[0].1.contains("unknown field `ssh_key`"), "{e:?}");
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let text = DEV
            .replace("vpc_cidr = \"10.40.0.0/16\"", "vpc_cidr = \"10.40.0.1/16\"")
            .replace("\"10.40.11.0/24\"", "\"10.50.11.0/24\"")
            .replace("\"10.40.1.0/24\"", "\"10.40.0.0/24\"")
            .replace("health_check_path = \"/health\"", "health_check_path = \"health\"")
            .replace("us-east-1b", "eu-west-1b");
        let keys: Vec<String> = problems(&text).into_iter().map(|(k, _)| k).collect();
        for key in [
            "network.vpc_cidr",
            "network.availability_zones[1]",
            "network.public_subnet_cidrs[1]",
            "web.health_check_path",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        let e = problems(&DEV.replace("\"10.40.11.0/24\"", "\"10.50.11.0/24\""));
        assert_eq!(
            e,
            vec![(
                "network.private_subnet_cidrs[1]".to_string(),
                "'10.50.11.0/24' is outside the VPC's 10.40.0.0/16".to_string()
            )]
        );
    }

    #[test]
    fn a_certificate_must_be_an_acm_arn_and_the_pair_needs_two_zones() {
        let e = problems(&DEV.replace(
            "[web]\n",
            "[web]\ncertificate_arn = \"arn:aws:iam::1:server-certificate/x\"\n",
        ));
        assert_eq!(e[0].0, "web.certificate_arn");
        let e = problems(&DEV.replace(", \"us-east-1b\"", ""));
        assert!(
            e.iter()
                .any(|(k, r)| k == "network.availability_zones" && r.contains("exactly two")),
            "{e:?}"
        );
    }
}
