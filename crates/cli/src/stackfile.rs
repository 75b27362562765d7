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
        let name = &self.name;
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-');
        if !name_ok {
            anyhow::bail!(
                "invalid stack file {}: key 'name': '{name}' must be 1-32 characters of a-z, 0-9 and '-' (it is part of every URN and tag)",
                self.path.display()
            );
        }
        if self.region.is_empty() {
            anyhow::bail!("invalid stack file {}: key 'region': is required", self.path.display());
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
        let text = std::fs::read_to_string(&path)
            .map_err(|e| problem("(file)", format!("cannot read the stack file: {e}")))?;
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
