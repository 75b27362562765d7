//! What every program's stack file reading shares: errors that name the file, the key
//! and the reason ([`ConfigError`], all of a file's at once in [`ConfigErrors`]), and
//! [`deserialize`], which reads a TOML stack file into a program's settings type with
//! the dotted key path of the first problem (or the key on the offending line, for a
//! syntax error).

use std::fmt;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net};
use serde::de::DeserializeOwned;

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

impl ConfigErrors {
    /// The problems as `(key, reason)`, in order.
    pub fn keyed(&self) -> Vec<(String, String)> {
        self.0.iter().map(|e| (e.key.clone(), e.reason.clone())).collect()
    }

    /// The problems `(key, reason)` of `file`; Ok when there are none.
    pub fn check(file: &Path, problems: Vec<(String, String)>) -> Result<(), ConfigErrors> {
        if problems.is_empty() {
            return Ok(());
        }
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

/// Reads the TOML `text` of `file` into `T` (whose serde attributes refuse unknown
/// keys and wrong types). Each error names the dotted key path of the problem, or, for
/// a syntax error, the key on the offending line, and the line.
///
/// serde stops at the first problem, so every problem is found by reading again with
/// the offending key blanked out of the text (line breaks kept, so later lines keep
/// their numbers) until the file reads or a problem cannot be stepped over (a syntax
/// error, a missing key): all of a file's unknown keys and wrong values at once.
pub fn deserialize<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigErrors> {
    let mut text = text.to_string();
    let mut found: Vec<ConfigError> = Vec::new();
    let mut stepped_over: Vec<String> = Vec::new();
    // Enough for any real file; a bound so that a pathological one cannot loop long.
    for _ in 0..100 {
        let deserializer = toml::Deserializer::new(&text);
        let e = match serde_path_to_error::deserialize::<_, T>(deserializer) {
            Ok(settings) if found.is_empty() => return Ok(settings),
            Ok(_) => break,
            Err(e) => e,
        };
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim().to_string();
        let span = inner.span();
        let line = span
            .as_ref()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let location = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        let top = path == "." || path.is_empty();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(|field| {
                if top {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                }
            });
        if let Some(key) = missing {
            // Missing only because an earlier problem's key was stepped over: not news.
            if !stepped_over.contains(&key) {
                found.push(ConfigError {
                    file: file.to_path_buf(),
                    key,
                    reason: message,
                });
            }
            break;
        }
        let syntax = top && !message.starts_with("unknown field");
        let key = if top {
            line.and_then(|l| crate::key_at_line(&text, l))
                .unwrap_or_else(|| "(document)".to_string())
        } else {
            path
        };
        found.push(ConfigError {
            file: file.to_path_buf(),
            key: key.clone(),
            reason: format!("{message}{location}"),
        });
        // A syntax error cannot be stepped over; an unknown key is blanked out, a wrong
        // value replaced by one of the type expected (or blanked out).
        let Some(at) = span.filter(|_| !syntax) else { break };
        let Some((entry, value)) = entry_at(&text, &at) else {
            break;
        };
        let (range, with) = match (message.starts_with("unknown field"), value, placeholder(&message)) {
            (false, Some(value), Some(with)) => (value, with),
            _ => (entry, String::new()),
        };
        // Line breaks stay, so that later problems keep their line numbers.
        let lines = text[range.clone()].matches('\n').count();
        let padded = format!("{with}{}", "\n".repeat(lines));
        let replacement: String = if with.is_empty() {
            text[range.clone()]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect()
        } else {
            padded
        };
        if text[range.clone()] == replacement {
            break;
        }
        text.replace_range(range, &replacement);
        stepped_over.push(key);
    }
    Err(ConfigErrors(found))
}

/// A TOML value of the type a serde "invalid type" or "unknown variant" message
/// expects (an enum's first variant), standing in for the wrong one so that reading
/// can go on past it.
fn placeholder(message: &str) -> Option<String> {
    let expected = message.rsplit_once("expected ")?.1.trim();
    Some(match expected {
        e if e.starts_with('`') || e.starts_with("one of `") => {
            let variant = e.split('`').nth(1)?;
            format!("\"{variant}\"")
        }
        e if e.contains("string") => "\"\"".into(),
        e if e.contains("bool") => "false".into(),
        e if e.starts_with("f32") || e.starts_with("f64") => "0.0".into(),
        e if e.starts_with('u') || e.starts_with('i') => "0".into(),
        e if e.contains("sequence") => "[]".into(),
        e if e.contains("map") || e.starts_with("struct") => "{}".into(),
        _ => return None,
    })
}

/// The text range of the innermost entry (key and value, or a table with its header
/// and every entry under it) of the TOML `text` that holds the byte range `at`, and
/// the range of its value when it is a plain `key = value`.
fn entry_at(
    text: &str,
    at: &std::ops::Range<usize>,
) -> Option<(std::ops::Range<usize>, Option<std::ops::Range<usize>>)> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    innermost(doc.as_table(), at)
}

fn innermost(
    table: &toml_edit::Table,
    at: &std::ops::Range<usize>,
) -> Option<(std::ops::Range<usize>, Option<std::ops::Range<usize>>)> {
    table.iter().find_map(|(name, _)| {
        let (key, item) = table.get_key_value(name)?;
        let range = item_range(key, item)?;
        if !(range.start <= at.start && at.start < range.end) {
            return None;
        }
        let inner = match item {
            toml_edit::Item::Table(t) => innermost(t, at),
            toml_edit::Item::ArrayOfTables(a) => a.iter().find_map(|t| innermost(t, at)),
            _ => None,
        };
        Some(inner.unwrap_or_else(|| (range, item.as_value().and_then(|v| v.span()))))
    })
}

/// Where the entry `key = item` is in the text: from its key (or table header) to the
/// end of its value (or of the table's last entry).
fn item_range(key: &toml_edit::Key, item: &toml_edit::Item) -> Option<std::ops::Range<usize>> {
    let table_range = |t: &toml_edit::Table| {
        let start = t.span().or_else(|| key.span())?.start;
        let end = t
            .iter()
            .filter_map(|(name, _)| t.get_key_value(name).and_then(|(k, i)| item_range(k, i)))
            .map(|r| r.end)
            .chain(t.span().map(|s| s.end))
            .max()?;
        Some(start..end)
    };
    match item {
        toml_edit::Item::Value(v) => Some(key.span()?.start..v.span()?.end),
        toml_edit::Item::Table(t) => table_range(t),
        toml_edit::Item::ArrayOfTables(a) => {
            let ranges: Vec<_> = a.iter().filter_map(table_range).collect();
            Some(ranges.iter().map(|r| r.start).min()?..ranges.iter().map(|r| r.end).max()?)
        }
        toml_edit::Item::None => None,
    }
}

/// A program's settings as its stack file holds them: what [`read`] needs to finish
/// reading them and to validate them.
pub trait Settings: DeserializeOwned {
    /// The `name` key (an empty one becomes the file's name) and where the path of the
    /// file the settings came from is kept.
    fn name_and_file(&mut self) -> (&mut String, &mut PathBuf);

    /// Fills in defaults that depend on other keys (zones from the region). None by
    /// default.
    fn complete(&mut self) {}

    /// Every semantic problem, as `(key, reason)`.
    fn problems(&self) -> Vec<(String, String)>;
}

/// Reads a program's settings from the TOML `text` of `file`: deserialized (see
/// [`deserialize`]), named after the file unless they say otherwise, completed, and
/// validated, every problem reported at once.
pub fn read<T: Settings>(file: &Path, text: &str) -> Result<T, ConfigErrors> {
    let mut settings: T = deserialize(file, text)?;
    let (name, path) = settings.name_and_file();
    *path = file.to_path_buf();
    if name.is_empty() {
        *name = name_from_file(file);
    }
    settings.complete();
    ConfigErrors::check(file, settings.problems())?;
    Ok(settings)
}

/// Why `name` cannot name a stack whose names AWS limits to `max` characters (`why`
/// says which), if it cannot. Stack names become RDS identifiers and load balancer
/// names, so they follow the stricter of those rules: a lowercase letter first, then
/// letters, digits and single hyphens, no hyphen last.
pub fn stack_name_problem(name: &str, max: usize, why: &str) -> Option<String> {
    let reason = if !(1..=max).contains(&name.len()) {
        format!("is {} characters; 1 to {max} are allowed ({why})", name.len())
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        "may hold only a-z, 0-9 and '-'".to_string()
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a letter (RDS identifiers and load balancer names built from it do)".to_string()
    } else if name.contains("--") {
        "must not hold two hyphens in a row (RDS refuses them in identifiers)".to_string()
    } else if name.ends_with('-') {
        "must not end with a hyphen (RDS and load balancer names may not)".to_string()
    } else {
        return None;
    };
    Some(format!("'{name}' {reason}"))
}

/// The stack name a file gives when it sets none: its name without `.toml`.
pub fn name_from_file(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The semantic problems of a stack file, as `(key, reason)`, collected by the checks
/// every program's settings share (stack name, VPC and subnet blocks, zones, AMI,
/// instance type, tags), so that each program reports all of them at once and words
/// them the same way.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<(String, String)>);

impl Problems {
    pub fn fail(&mut self, key: &str, reason: String) {
        self.0.push((key.to_string(), reason));
    }

    /// `program` is this program.
    pub fn program(&mut self, program: &str, expected: &str) {
        if program != expected {
            self.fail("program", format!("'{program}' is not this program ({expected})"));
        }
    }

    /// The stack name: 1 to `max` characters of a-z, 0-9 and '-', not starting with
    /// '-'; `why` says what limits it.
    pub fn stack_name(&mut self, name: &str, max: usize, why: &str) {
        if let Some(reason) = stack_name_problem(name, max, why) {
            self.fail("name", reason);
        }
    }

    /// An IPv4 block of `/16` to `/28` (what AWS accepts for VPCs and subnets) with no
    /// host bits set; `what` is "VPC" or "subnet".
    pub fn block(&mut self, key: &str, cidr: &str, what: &str) -> Option<Ipv4Net> {
        match cidr.parse::<Ipv4Net>() {
            Ok(b) if b != b.trunc() => {
                self.fail(key, format!("'{cidr}' has host bits set; the network is {}", b.trunc()));
                None
            }
            Ok(b) if !(16..=28).contains(&b.prefix_len()) => {
                self.fail(key, format!("a {what} block must be from /16 to /28"));
                None
            }
            Ok(b) => Some(b),
            Err(_) => {
                self.fail(key, format!("'{cidr}' is not an IPv4 CIDR block"));
                None
            }
        }
    }

    /// Exactly `count` subnet blocks under `key`, each inside `vpc` and overlapping
    /// none of `taken` (the blocks checked before, which this extends).
    pub fn subnets(
        &mut self,
        key: &str,
        cidrs: &[String],
        count: usize,
        vpc: Option<(&str, Ipv4Net)>,
        taken: &mut Vec<(String, Ipv4Net)>,
    ) {
        if cidrs.len() != count {
            self.fail(
                key,
                format!("exactly {count} block(s) (one per zone), not {}", cidrs.len()),
            );
        }
        for (i, cidr) in cidrs.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let Some(b) = self.block(&key, cidr, "subnet") else {
                continue;
            };
            if let Some((vpc_text, v)) = vpc {
                if !v.contains(&b) {
                    self.fail(&key, format!("'{cidr}' is outside the VPC's {vpc_text}"));
                }
            }
            if let Some((other, _)) = taken.iter().find(|(_, o)| o.contains(&b) || b.contains(o)) {
                let reason = format!("'{cidr}' overlaps {other}");
                self.fail(&key, reason);
            }
            taken.push((key, b));
        }
    }

    /// `count` distinct zones of `region` (`us-east-1a`).
    pub fn zones(&mut self, key: &str, zones: &[String], region: &str, count: usize) {
        if zones.len() != count {
            self.fail(key, format!("exactly {count} zones, not {}", zones.len()));
        }
        for (i, zone) in zones.iter().enumerate() {
            let in_region = zone.len() == region.len() + 1
                && zone.starts_with(region)
                && zone.ends_with(|c: char| c.is_ascii_lowercase());
            if !in_region {
                self.fail(&format!("{key}[{i}]"), format!("'{zone}' is not a zone of {region}"));
            }
        }
        let mut distinct = zones.to_vec();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != zones.len() {
            self.fail(key, "the zones must differ".into());
        }
    }

    /// An AMI id (`ami-` and hex digits) or `resolve:ssm:/<parameter>`.
    pub fn ami(&mut self, key: &str, ami: &str) {
        let ok = (ami.starts_with("ami-") && ami.len() > 4 && ami[4..].bytes().all(|b| b.is_ascii_hexdigit()))
            || ami.starts_with("resolve:ssm:/");
        if !ok {
            self.fail(
                key,
                format!("'{ami}' must be an AMI id (ami-...) or resolve:ssm:<parameter>"),
            );
        }
    }

    /// An EC2 instance type (`t3.micro`).
    pub fn instance_type(&mut self, key: &str, ty: &str) {
        let ok = ty.split_once('.').is_some_and(|(family, size)| {
            !family.is_empty()
                && !size.is_empty()
                && family
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && size.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !ok {
            self.fail(key, format!("'{ty}' is not an EC2 instance type (like t3.micro)"));
        }
    }

    /// An absolute URL path without spaces (a health check path).
    pub fn path(&mut self, key: &str, path: &str) {
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            self.fail(key, format!("'{path}' must be an absolute path without spaces"));
        }
    }

    /// A range allowed to reach an administrative port (SSH, a console): a block with
    /// no host bits, no wider than a `/widest` (IPv4) or a `/widest_v6` (IPv6), unless
    /// it lies wholly in private address space (RFC 1918 and RFC 6598's shared space;
    /// IPv6 unique local addresses), which the internet cannot reach. `0.0.0.0/1` or
    /// `2000::/3` open the port to a large part of the internet and are refused like
    /// `0.0.0.0/0`. `widest_v6` None: the program's network is IPv4 only, and an IPv6
    /// range is refused as one it cannot use.
    pub fn admin_range(&mut self, key: &str, cidr: &str, widest: u8, widest_v6: Option<u8>) -> Option<IpNet> {
        const PRIVATE: [&str; 5] = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "fc00::/7",
        ];
        let block = match cidr.parse::<IpNet>() {
            Ok(b) if b != b.trunc() => {
                self.fail(key, format!("'{cidr}' has host bits set; the network is {}", b.trunc()));
                return None;
            }
            Ok(b) => b,
            Err(_) => {
                self.fail(key, format!("'{cidr}' is not a CIDR block like 203.0.113.0/24"));
                return None;
            }
        };
        let limit = match (block, widest_v6) {
            (IpNet::V4(_), _) => widest,
            (IpNet::V6(_), Some(v6)) => v6,
            (IpNet::V6(_), None) => {
                self.fail(
                    key,
                    format!("'{cidr}' is an IPv6 range, and this platform's network and rules are IPv4 only: name an IPv4 range"),
                );
                return None;
            }
        };
        let private = PRIVATE
            .iter()
            .filter_map(|p| p.parse::<IpNet>().ok())
            .any(|p| p.contains(&block));
        if block.prefix_len() < limit && !private {
            let whole = if block.prefix_len() == 0 {
                " (the whole internet)"
            } else {
                ""
            };
            self.fail(
                key,
                format!(
                    "'{cidr}'{whole} is wider than a /{limit} of public address space: name your own range (an office or VPN block), or raise the limit deliberately"
                ),
            );
            return None;
        }
        Some(block)
    }

    /// The `[tags]` table: no reserved prefixes.
    pub fn tags(&mut self, tags: &std::collections::BTreeMap<String, String>) {
        for key in tags.keys() {
            if key.starts_with("aws:") || key.starts_with("stackup:") {
                self.fail(
                    &format!("tags.{key}"),
                    "the aws: and stackup: prefixes are reserved".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // Read by the deserializer only.
    struct Settings {
        name: String,
        web: Web,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Web {
        port: u16,
    }

    #[test]
    fn a_wrong_type_names_the_dotted_key_and_the_line() {
        let e = deserialize::<Settings>(Path::new("s.toml"), "name = \"x\"\n[web]\nport = \"eighty\"\n")
            .expect_err("wrong type");
        assert_eq!(e.0[0].key, "web.port");
        assert!(e.0[0].reason.contains("line 3"), "{e}");
        assert!(
            e.to_string().starts_with("invalid stack file s.toml: key 'web.port': "),
            "{e}"
        );
    }

    #[test]
    fn every_unknown_key_and_wrong_value_is_reported_at_once_with_its_line() {
        let text = "name = \"x\"\nnmae = \"typo\"\n[web]\nport = \"eighty\"\ncolour = [\n  1,\n]\n";
        let e = deserialize::<Settings>(Path::new("s.toml"), text).expect_err("three problems");
        let keys: Vec<&str> = e.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["nmae", "web.port", "web.colour"], "{e}");
        assert!(
            e.0[0].reason.contains("unknown field") && e.0[0].reason.contains("line 2"),
            "{e}"
        );
        assert!(e.0[1].reason.contains("line 4"), "{e}");
        assert!(e.0[2].reason.contains("line 5"), "{e}");
        assert!(e.to_string().starts_with("invalid stack file: 3 problems"), "{e}");
        // A wrong value of a required key is reported once, not again as missing.
        let e = deserialize::<Settings>(Path::new("s.toml"), "name = 1\nextra = 2\n[web]\nport = 80\n")
            .expect_err("wrong type");
        let keys: Vec<&str> = e.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["name", "extra"], "{e}");
        // A wrong value is replaced by one of the right type, so reading goes on past it.
        let e = deserialize::<Settings>(Path::new("s.toml"), "name = \"x\"\n[web]\nport = \"80\"\nhost = 1\n")
            .expect_err("two problems");
        let keys: Vec<&str> = e.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["web.port", "web.host"], "{e}");
        // A table that is missing is named as missing.
        let e = deserialize::<Settings>(Path::new("s.toml"), "name = \"x\"\n[wbe]\nport = 80\n").expect_err("typo");
        let keys: Vec<&str> = e.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["wbe", "web"], "{e}");
        assert!(e.0[1].reason.contains("missing field"), "{e}");
        // A syntax error stops the reading: it is the one problem.
        let e = deserialize::<Settings>(Path::new("s.toml"), "name = \nbad = 1\n").expect_err("syntax");
        assert_eq!(e.0.len(), 1, "{e}");
        // A file that reads is read.
        assert!(deserialize::<Settings>(Path::new("s.toml"), "name = \"x\"\n[web]\nport = 80\n").is_ok());
    }

    #[test]
    fn stack_names_follow_the_rules_of_the_aws_names_built_from_them() {
        for bad in ["9lives", "a--b", "dev-", "-dev", "Dev", "dev_1", ""] {
            assert!(stack_name_problem(bad, 28, "x").is_some(), "{bad}");
        }
        let long = "a".repeat(29);
        assert!(stack_name_problem(&long, 28, "the load balancer's name")
            .is_some_and(|r| r.contains("29 characters; 1 to 28") && r.contains("load balancer")));
        for good in ["dev", "shop-prod-2", "a"] {
            assert_eq!(stack_name_problem(good, 28, "x"), None, "{good}");
        }
    }

    #[test]
    fn an_admin_range_wider_than_the_limit_is_refused_unless_private() {
        let mut p = Problems::default();
        for wide in [
            "0.0.0.0/0",
            "0.0.0.0/1",
            "128.0.0.0/1",
            "0.0.0.0/2",
            "8.0.0.0/8",
            "203.0.0.0/15",
        ] {
            assert_eq!(p.admin_range("k", wide, 16, None), None, "{wide}");
        }
        assert_eq!(p.0.len(), 6);
        assert!(p.0[0].1.contains("the whole internet"), "{:?}", p.0);
        assert!(p.0[1].1.contains("wider than a /16"), "{:?}", p.0);
        let mut p = Problems::default();
        for ok in [
            "203.0.113.0/24",
            "198.51.100.7/32",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "203.0.0.0/16",
        ] {
            assert!(p.admin_range("k", ok, 16, None).is_some(), "{ok}");
        }
        assert!(p.0.is_empty(), "{:?}", p.0);
        // A deliberate, wider limit.
        assert!(p.admin_range("k", "203.0.0.0/12", 12, None).is_some());
        assert_eq!(p.admin_range("k", "203.0.113.9/24", 16, None), None);
        assert!(p.0[0].1.contains("host bits"));
        // IPv6: the limit of its own, unique local space allowed, or refused outright
        // by a program whose network is IPv4 only.
        let mut p = Problems::default();
        for wide in ["::/0", "2000::/3", "2001:db8::/32", "2001:db8::/47"] {
            assert_eq!(p.admin_range("k", wide, 16, Some(48)), None, "{wide}");
        }
        assert!(p.0[0].1.contains("the whole internet"), "{:?}", p.0);
        assert!(p.0[3].1.contains("wider than a /48"), "{:?}", p.0);
        let mut p = Problems::default();
        for ok in ["2001:db8:1::/48", "2001:db8:1:2::/64", "fd00::/8"] {
            assert!(p.admin_range("k", ok, 16, Some(48)).is_some(), "{ok}");
        }
        assert!(p.0.is_empty(), "{:?}", p.0);
        assert_eq!(p.admin_range("k", "2001:db8:1::/48", 16, None), None);
        assert!(p.0[0].1.contains("IPv4 only"), "{:?}", p.0);
    }

    #[test]
    fn problems_become_one_error_naming_each_and_none_is_ok() {
        assert!(ConfigErrors::check(Path::new("s.toml"), Vec::new()).is_ok());
        let e = ConfigErrors::check(
            Path::new("s.toml"),
            vec![("a".into(), "bad".into()), ("b.c".into(), "worse".into())],
        )
        .expect_err("two problems");
        let text = e.to_string();
        assert!(text.starts_with("invalid stack file: 2 problems"), "{text}");
        assert!(text.contains("s.toml: key 'b.c': worse"), "{text}");
    }
}
