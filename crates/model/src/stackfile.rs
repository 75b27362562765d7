//! What every program's stack file reading shares: errors that name the file, the key
//! and the reason ([`ConfigError`], all of a file's at once in [`ConfigErrors`]), and
//! [`deserialize`], which reads a TOML stack file into a program's settings type with
//! the dotted key path of the first problem (or the key on the offending line, for a
//! syntax error).

use std::fmt;
use std::path::{Path, PathBuf};

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
/// keys and wrong types). The error names the dotted key path of the problem, or, for a
/// syntax error, the key on the offending line, and the line.
pub fn deserialize<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigErrors> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let location = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        let key = if path == "." || path.is_empty() {
            line.and_then(|l| crate::key_at_line(text, l))
                .unwrap_or_else(|| "(document)".to_string())
        } else {
            path
        };
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            key,
            reason: format!("{}{location}", inner.message().trim()),
        }])
    })
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
