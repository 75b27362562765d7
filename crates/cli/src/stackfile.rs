//! What every command needs of a stack file without running its program: the stack's
//! name (its state and lock), its region (its AWS endpoint), and which program it runs
//! (`program = "<name>"`, `ecommerce` when absent). `state *`, `unlock`, `ls`, `reap`
//! and `destroy --sweep` read only this, so a stack whose program settings no longer
//! validate (or whose program this binary does not ship) can still be inspected,
//! unlocked and swept. The program reads the whole file itself (see `session.rs`).

use std::path::{Path, PathBuf};

use stackup_model::DEFAULT_PROGRAM;

/// A stack file's common keys, and its text for the program.
#[derive(Debug, Clone)]
pub struct StackFile {
    pub path: PathBuf,
    pub name: String,
    pub region: String,
    pub program: String,
    pub text: String,
}

impl StackFile {
    /// Where `--stack ARG` points: a `.toml` path as given, or `stacks/<ARG>.toml`.
    pub fn path_for(arg: &str) -> PathBuf {
        if arg.ends_with(".toml") || arg.contains('/') {
            PathBuf::from(arg)
        } else {
            Path::new("stacks").join(format!("{arg}.toml"))
        }
    }

    /// Reads the file and its common keys. Errors name the file, the key and why.
    pub fn read(arg: &str) -> anyhow::Result<StackFile> {
        let file = StackFile::read_unchecked(arg)?;
        file.check()?;
        Ok(file)
    }

    /// Checks the common keys' values: the stack name (part of every URN, tag and
    /// state path) and the region.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(reason) =
            stackup_model::stackfile::stack_name_problem(&self.name, 32, "it is part of every URN, tag and AWS name")
        {
            anyhow::bail!("invalid stack file {}: key 'name': {reason}", self.path.display());
        }
        if self.region.is_empty() {
            anyhow::bail!("invalid stack file {}: key 'region': is required", self.path.display());
        }
        if !known_region(&self.region) {
            anyhow::bail!(
                "invalid stack file {}: key 'region': '{}' is not an AWS region stackup knows (like us-east-1 or eu-west-1); a region AWS opened after this build can be allowed with STACKUP_EXTRA_REGIONS={}",
                self.path.display(),
                self.region,
                self.region
            );
        }
        Ok(())
    }

    /// Reads the file and its common keys without checking their values: for a
    /// program, which reports every problem of the file at once (these included), and
    /// before which [`StackFile::check`] runs again.
    pub fn read_unchecked(arg: &str) -> anyhow::Result<StackFile> {
        let path = StackFile::path_for(arg);
        let problem =
            |key: &str, reason: String| anyhow::anyhow!("invalid stack file {}: key '{key}': {reason}", path.display());
        let text = read_capped(&path).map_err(|e| problem("(file)", e))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // The parser gives a position: name the line and the key written on it.
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let key = line
                .and_then(|l| stackup_model::key_at_line(&text, l))
                .unwrap_or_else(|| "(file)".to_string());
            let location = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            problem(&key, format!("{}{location}", e.message().trim()))
        })?;
        let string = |key: &str| -> anyhow::Result<Option<String>> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(problem(key, format!("must be a string, not {}", other.type_str()))),
            }
        };
        let name = string("name")?.unwrap_or_else(|| stackup_model::stackfile::name_from_file(&path));
        let region = string("region")?.unwrap_or_default();
        let program = string("program")?.unwrap_or_else(|| DEFAULT_PROGRAM.to_string());
        Ok(StackFile {
            path,
            name,
            region,
            program,
            text,
        })
    }
}

/// The regions of the AWS partitions (aws, aws-us-gov, aws-cn) when this was written.
const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` is one stackup knows, or one the operator allowed
/// (`STACKUP_EXTRA_REGIONS`, comma-separated) because AWS opened it since.
fn known_region(region: &str) -> bool {
    AWS_REGIONS.contains(&region)
        || std::env::var("STACKUP_EXTRA_REGIONS").is_ok_and(|extra| extra.split(',').any(|r| r.trim() == region))
}

/// The most a stack file may hold: a real one is a few kilobytes.
pub const MAX_STACK_FILE_BYTES: u64 = 1 << 20;

/// The text of `path`, refused beyond [`MAX_STACK_FILE_BYTES`] without reading further
/// (`/dev/zero` has no length to check first) and when it is not UTF-8.
fn read_capped(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the stack file: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_STACK_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the stack file: {e}"))?;
    if bytes.len() as u64 > MAX_STACK_FILE_BYTES {
        return Err(format!(
            "the file is larger than {} KiB; a stack file is a few KiB of TOML",
            MAX_STACK_FILE_BYTES / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("the file is not UTF-8 text: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` as `shop.toml`, in a directory of its own (tests run in parallel).
    fn read(text: &str) -> anyhow::Result<StackFile> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("stackup-stackfile-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("shop.toml");
        std::fs::write(&path, text).expect("write");
        StackFile::read(path.to_str().expect("utf-8 path"))
    }

    #[test]
    fn a_region_that_does_not_exist_is_refused_naming_the_key() {
        let e = read("region = \"us-east-9\"\n")
            .expect_err("no such region")
            .to_string();
        assert!(e.contains("key 'region': 'us-east-9' is not an AWS region"), "{e}");
        assert!(read("region = \"eu-central-2\"\n").is_ok());
    }

    #[test]
    fn a_stack_file_is_capped_and_an_endless_one_is_not_read_to_its_end() {
        let big = format!(
            "region = \"eu-west-1\"\n#{}\n",
            "x".repeat(MAX_STACK_FILE_BYTES as usize)
        );
        let e = read(&big).expect_err("too big").to_string();
        assert!(e.contains("key '(file)'") && e.contains("larger than 1024 KiB"), "{e}");
        let e = StackFile::read("/dev/zero").expect_err("endless").to_string();
        assert!(e.contains("larger than 1024 KiB"), "{e}");
    }

    #[test]
    fn the_common_keys_are_read_without_the_programs_settings() {
        let file = read("region = \"eu-west-1\"\n[network]\nwhatever = 1\n").expect("reads");
        assert_eq!(file.name, "shop", "the file's stem when unnamed");
        assert_eq!(file.region, "eu-west-1");
        assert_eq!(file.program, "ecommerce", "the default program");
        let file = read("name = \"demo\"\nregion = \"us-east-1\"\nprogram = \"mine\"\n").expect("reads");
        assert_eq!((file.name.as_str(), file.program.as_str()), ("demo", "mine"));
    }

    #[test]
    fn a_bad_common_key_names_the_file_the_key_and_why() {
        let e = read("name = \"Bad Name\"\nregion = \"us-east-1\"\n")
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("shop.toml") && e.contains("key 'name'") && e.contains("a-z"),
            "{e}"
        );
        let e = read("name = \"ok\"\n").expect_err("refused").to_string();
        assert!(e.contains("key 'region'") && e.contains("required"), "{e}");
        let e = read("region = 3\n").expect_err("refused").to_string();
        assert!(e.contains("key 'region'") && e.contains("must be a string"), "{e}");
    }
}
