use std::fmt;

use serde::{Deserialize, Serialize};

/// Errors from parsing model values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("malformed URN '{0}': expected <stack>::<type>::<name>")]
    MalformedUrn(String),
    #[error("malformed type token '{0}': expected <package>:<module>:<Type>")]
    MalformedType(String),
}

/// A resource type, `<package>:<module>:<Type>`, for example `aws:ec2:Vpc`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TypeToken(String);

impl TypeToken {
    pub fn parse(s: &str) -> Result<TypeToken, ModelError> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(ModelError::MalformedType(s.to_string()));
        }
        Ok(TypeToken(s.to_string()))
    }

    /// For type constants in providers; the token is checked by tests, not at runtime.
    pub fn from_static(s: &'static str) -> TypeToken {
        TypeToken(s.to_string())
    }

    /// A type token from a string known to be well formed (a provider's own type).
    pub fn from_static_or_owned(s: &str) -> TypeToken {
        TypeToken(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TypeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stable logical key of a resource: `<stack>::<type>::<name>`. Never a physical id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Urn {
    text: String,
    type_start: usize,
    name_start: usize,
}

impl Urn {
    pub fn new(stack: &str, ty: &TypeToken, name: &str) -> Urn {
        let text = format!("{stack}::{ty}::{name}");
        let type_start = stack.len() + 2;
        let name_start = type_start + ty.as_str().len() + 2;
        Urn {
            text,
            type_start,
            name_start,
        }
    }

    pub fn parse(s: &str) -> Result<Urn, ModelError> {
        let bad = || ModelError::MalformedUrn(s.to_string());
        let (stack, rest) = s.split_once("::").ok_or_else(bad)?;
        let (ty, name) = rest.split_once("::").ok_or_else(bad)?;
        if stack.is_empty() || name.is_empty() {
            return Err(bad());
        }
        let ty = TypeToken::parse(ty).map_err(|_| bad())?;
        Ok(Urn::new(stack, &ty, name))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn stack(&self) -> &str {
        &self.text[..self.type_start - 2]
    }

    pub fn type_token(&self) -> TypeToken {
        TypeToken(self.text[self.type_start..self.name_start - 2].to_string())
    }

    pub fn name(&self) -> &str {
        &self.text[self.name_start..]
    }
}

impl fmt::Display for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for Urn {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Urn, ModelError> {
        Urn::parse(&s)
    }
}

impl From<Urn> for String {
    fn from(u: Urn) -> String {
        u.text
    }
}
