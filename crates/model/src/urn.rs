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

#[cfg(test)]
mod tests {
    use super::*;

    fn vpc() -> TypeToken {
        TypeToken::parse("aws:ec2:Vpc").expect("a valid type")
    }

    #[test]
    fn a_urn_is_stack_type_and_name_joined_by_double_colons() {
        let urn = Urn::new("dev", &vpc(), "main");
        assert_eq!(urn.as_str(), "dev::aws:ec2:Vpc::main");
        assert_eq!(urn.to_string(), "dev::aws:ec2:Vpc::main");
        assert_eq!(urn.stack(), "dev");
        assert_eq!(urn.type_token(), vpc());
        assert_eq!(urn.name(), "main");
    }

    #[test]
    fn a_parsed_urn_has_the_parts_it_was_made_of() {
        let urn = Urn::parse("prod-2::aws:rds:DbInstance::orders-db").expect("valid");
        assert_eq!(urn.stack(), "prod-2");
        assert_eq!(urn.type_token().as_str(), "aws:rds:DbInstance");
        assert_eq!(urn.name(), "orders-db");
    }

    #[test]
    fn formatting_then_parsing_gives_the_same_urn() {
        for (stack, name) in [("dev", "main"), ("s", "a.b-c_d"), ("dev", "public::a"), ("dev", "x:y")] {
            let urn = Urn::new(stack, &vpc(), name);
            let parsed = Urn::parse(&urn.to_string()).expect("a formatted URN parses");
            assert_eq!(parsed, urn, "{urn}");
            assert_eq!((parsed.stack(), parsed.name()), (stack, name));
        }
    }

    #[test]
    fn malformed_urns_are_rejected_naming_the_text() {
        for bad in [
            "",
            "dev",
            "dev::aws:ec2:Vpc",
            "::aws:ec2:Vpc::main",
            "dev::aws:ec2:Vpc::",
            "dev::aws:ec2::main",
            "dev::ec2:Vpc::main",
            "dev::aws:ec2:Vpc:Extra::main",
            "dev:aws:ec2:Vpc:main",
        ] {
            assert_eq!(
                Urn::parse(bad),
                Err(ModelError::MalformedUrn(bad.to_string())),
                "{bad:?}"
            );
        }
        let message = ModelError::MalformedUrn("dev".into()).to_string();
        assert_eq!(message, "malformed URN 'dev': expected <stack>::<type>::<name>");
    }

    #[test]
    fn a_type_token_has_three_non_empty_parts() {
        assert_eq!(vpc().as_str(), "aws:ec2:Vpc");
        assert_eq!(vpc().to_string(), "aws:ec2:Vpc");
        for bad in [
            "",
            "aws",
            "aws:ec2",
            "aws:ec2:",
            ":ec2:Vpc",
            "aws::Vpc",
            "aws:ec2:Vpc:x",
        ] {
            assert_eq!(
                TypeToken::parse(bad),
                Err(ModelError::MalformedType(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_urn_serialises_as_its_text_and_a_malformed_one_does_not_deserialise() {
        let urn = Urn::new("dev", &vpc(), "main");
        let json = serde_json::to_string(&urn).expect("serialises");
        assert_eq!(json, r#""dev::aws:ec2:Vpc::main""#);
        let back: Urn = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, urn);
        assert_eq!(back.name(), "main", "the parts are rebuilt, not just the text");
        let err = serde_json::from_str::<Urn>(r#""dev::main""#).expect_err("malformed");
        assert!(err.to_string().contains("malformed URN 'dev::main'"), "{err}");
    }

    #[test]
    fn urns_order_by_their_text() {
        let mut urns = [
            Urn::new("dev", &vpc(), "b"),
            Urn::new("dev", &vpc(), "a"),
            Urn::new("alpha", &vpc(), "z"),
        ];
        urns.sort();
        let texts: Vec<&str> = urns.iter().map(Urn::as_str).collect();
        assert_eq!(
            texts,
            ["alpha::aws:ec2:Vpc::z", "dev::aws:ec2:Vpc::a", "dev::aws:ec2:Vpc::b"]
        );
    }
}
