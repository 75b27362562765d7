//! The web-pair stack file, read with errors that name the file, the key and the reason,
//! then validated with every problem reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stackup_model::stackfile::{Problems, Settings};
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
        stackup_model::stackfile::read(file, text)
    }
}

impl Settings for WebPairConfig {
    fn name_and_file(&mut self) -> (&mut String, &mut PathBuf) {
        (&mut self.name, &mut self.file)
    }

    fn problems(&self) -> Vec<(String, String)> {
        let mut p = Problems::default();
        p.program(&self.program, "web-pair");
        p.stack_name(
            &self.name,
            24,
            "it prefixes the load balancer's and target group's 32-character names",
        );
        let net = &self.network;
        let vpc = p.block("network.vpc_cidr", &net.vpc_cidr, "VPC");
        p.zones("network.availability_zones", &net.availability_zones, &self.region, 2);
        let mut taken = Vec::new();
        for (key, cidrs) in [
            ("network.public_subnet_cidrs", &net.public_subnet_cidrs),
            ("network.private_subnet_cidrs", &net.private_subnet_cidrs),
        ] {
            p.subnets(key, cidrs, 2, vpc.map(|v| (net.vpc_cidr.as_str(), v)), &mut taken);
        }
        let web = &self.web;
        p.ami("web.ami", &web.ami);
        p.instance_type("web.instance_type", &web.instance_type);
        p.path("web.health_check_path", &web.health_check_path);
        if let Some(arn) = &web.certificate_arn {
            if !(arn.starts_with("arn:aws:acm:") && arn.contains(":certificate/")) {
                p.fail("web.certificate_arn", format!("'{arn}' is not an ACM certificate ARN"));
            }
        }
        if web.page_title.contains(['<', '>', '\'']) {
            p.fail("web.page_title", "must not contain '<', '>' or quotes".into());
        }
        p.tags(&self.tags);
        p.0
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
        parse(text).expect_err("invalid").keyed()
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
                .any(|(k, r)| k == "network.availability_zones" && r.contains("exactly 2 zones")),
            "{e:?}"
        );
    }
}
