//! A small, complete stackup program of a user's own: a VPC, an S3 bucket and a
//! DynamoDB table, declared from a stack file like this one:
//!
//! ```toml
//! program = "site"
//! region = "us-east-1"
//!
//! [site]
//! vpc_cidr = "10.60.0.0/16"
//! bucket = "my-site-assets"
//! table = "my-site-sessions"
//! ```
//!
//! A program is a [`ProgramDef`]: a name the stack file selects with `program = ...`,
//! and a function that reads the stack file (every problem naming the file, the key and
//! the reason) and declares resources through [`StackBuilder`], with the typed
//! arguments of `stackup-aws`. `main.rs` hands it to `stackup_cli::main`, which gives
//! it the whole `stackup` command line.

use std::collections::BTreeMap;
use std::path::Path;

use stackup_aws::dynamodb::TableArgs;
use stackup_aws::ec2::VpcArgs;
use stackup_aws::s3::BucketArgs;
use stackup_model::{DeclareError, Program, ProgramDef, StackBuilder};

/// The program, as stack files name it.
pub const PROGRAM: ProgramDef = ProgramDef { name: "site", declare };

/// The `[site]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub vpc_cidr: String,
    pub bucket: String,
    pub table: String,
}

/// Reads the stack file's `[site]` table; every problem names the file, the key and
/// the reason, all at once.
pub fn settings(file: &Path, text: &str) -> Result<Site, DeclareError> {
    let problem = |key: &str, reason: &str| format!("{}: key '{key}': {reason}", file.display());
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| problem("(file)", e.message()))?;
    let name = match doc.get("name") {
        Some(toml::Value::String(s)) => s.clone(),
        _ => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let mut problems = Vec::new();
    for key in doc.keys() {
        if !["name", "region", "program", "site"].contains(&key.as_str()) {
            problems.push(problem(key, "unknown key (known: name, region, program, site)"));
        }
    }
    let site = doc.get("site").and_then(toml::Value::as_table);
    if site.is_none() {
        problems.push(problem("site", "the [site] table is required"));
    }
    let get = |key: &str, problems: &mut Vec<String>| -> String {
        match site.and_then(|t| t.get(key)) {
            Some(toml::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                problems.push(problem(&format!("site.{key}"), "must be a non-empty string"));
                String::new()
            }
            None if site.is_some() => {
                problems.push(problem(&format!("site.{key}"), "is required"));
                String::new()
            }
            None => String::new(),
        }
    };
    let vpc_cidr = get("vpc_cidr", &mut problems);
    let bucket = get("bucket", &mut problems);
    let table = get("table", &mut problems);
    if let Some(t) = site {
        for key in t.keys() {
            if !["vpc_cidr", "bucket", "table"].contains(&key.as_str()) {
                problems.push(problem(
                    &format!("site.{key}"),
                    "unknown key (known: vpc_cidr, bucket, table)",
                ));
            }
        }
    }
    if !vpc_cidr.is_empty() && !cidr_ok(&vpc_cidr) {
        problems.push(problem(
            "site.vpc_cidr",
            "must be an IPv4 block from /16 to /28, such as 10.60.0.0/16",
        ));
    }
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !bucket.is_empty() && !bucket_ok {
        problems.push(problem(
            "site.bucket",
            "must be 3-63 characters of a-z, 0-9, '-' and '.'",
        ));
    }
    if problems.is_empty() {
        Ok(Site {
            name,
            vpc_cidr,
            bucket,
            table,
        })
    } else {
        Err(format!("invalid stack file: {}", problems.join("; ")).into())
    }
}

/// `a.b.c.d/n` with n from 16 to 28.
fn cidr_ok(text: &str) -> bool {
    let Some((ip, bits)) = text.split_once('/') else {
        return false;
    };
    let octets: Vec<&str> = ip.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| o.parse::<u8>().is_ok())
        && bits.parse::<u8>().is_ok_and(|b| (16..=28).contains(&b))
}

/// The program: a VPC, a bucket for the site's assets, a table for its sessions.
pub fn program(site: &Site) -> Program {
    let mut stack = StackBuilder::new(&site.name, Default::default());
    let tags = |name: &str| BTreeMap::from([("Name".to_string(), format!("{}-{name}", site.name))]);
    let vpc = stack.declare(
        "vpc",
        VpcArgs {
            cidr_block: site.vpc_cidr.clone().into(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
            tags: tags("vpc"),
        },
    );
    let bucket = stack.declare(
        "assets",
        BucketArgs {
            name: site.bucket.clone(),
            versioning: true,
            encryption: "AES256".into(),
            block_public_access: true,
            website: None,
            force_destroy: true,
            tags: tags("assets"),
        },
    );
    let table = stack.declare(
        "sessions",
        TableArgs {
            name: site.table.clone(),
            hash_key: "id".into(),
            hash_key_type: "S".into(),
            ttl_attribute: Some("expires_at".into()),
            point_in_time_recovery: false,
            tags: tags("sessions"),
        },
    );
    stack.export("vpc_id", vpc.id());
    stack.export("bucket", bucket.output::<String>("name"));
    stack.export("table_arn", table.output::<String>("arn"));
    stack.finish()
}

fn declare(file: &Path, text: &str) -> Result<Program, DeclareError> {
    Ok(program(&settings(file, text)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_file_declares_a_vpc_a_bucket_and_a_table() {
        let text = "program = \"site\"\nregion = \"us-east-1\"\n[site]\nvpc_cidr = \"10.60.0.0/16\"\nbucket = \"b-1\"\ntable = \"t\"\n";
        let site = settings(Path::new("stacks/demo.toml"), text).expect("valid");
        assert_eq!(site.name, "demo", "named after the file");
        let program = program(&site);
        let names: Vec<&str> = program.goals.iter().map(|g| g.urn.name()).collect();
        assert_eq!(names, ["vpc", "assets", "sessions"]);
        assert_eq!(program.exports.len(), 3);
    }

    #[test]
    fn every_problem_names_the_file_and_the_key() {
        let text = "region = \"us-east-1\"\ncolour = 1\n[site]\nvpc_cidr = \"10.60.0.0/8\"\nbucket = \"Bad_Name\"\n";
        let e = settings(Path::new("stacks/demo.toml"), text)
            .expect_err("invalid")
            .to_string();
        for needle in [
            "stacks/demo.toml: key 'colour'",
            "key 'site.vpc_cidr'",
            "key 'site.bucket'",
            "key 'site.table': is required",
        ] {
            assert!(e.contains(needle), "{needle} in {e}");
        }
    }
}
