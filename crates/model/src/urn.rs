use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors from parsing model values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("malformed URN '{0}': expected <stack>::<type>::<name>")]
    MalformedUrn(String),
    #[error("malformed type token '{0}': expected <package>:<module>:<Type>")]
    MalformedType(String),
}

/// A resource type, `<package>:<module>:<Type>`, for example `aws:ec2:Vpc`.
///
/// Interned: every token with the same text shares one allocation (a program of 100,000
/// resources has a few dozen types), so a clone or a parse costs no memory.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeToken(Arc<str>);

/// The interned type texts. Bounded by the number of distinct types a process ever
/// names: providers' own types plus what programs and state files declare.
fn intern_type(s: &str) -> Arc<str> {
    static TYPES: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    let mut types = TYPES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = types.get(s) {
        return known.clone();
    }
    let text: Arc<str> = Arc::from(s);
    types.insert(text.clone());
    text
}

impl TypeToken {
    pub fn parse(s: &str) -> Result<TypeToken, ModelError> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(ModelError::MalformedType(s.to_string()));
        }
        Ok(TypeToken(intern_type(s)))
    }

    /// For type constants in providers; the token is checked by tests, not at runtime.
    pub fn from_static(s: &'static str) -> TypeToken {
        TypeToken(intern_type(s))
    }

    /// A type token from a string known to be well formed (a provider's own type).
    pub fn from_static_or_owned(s: &str) -> TypeToken {
        TypeToken(intern_type(s))
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

impl Serialize for TypeToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TypeToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TypeToken, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(TypeToken(intern_type(&text)))
    }
}

/// The stable logical key of a resource: `<stack>::<type>::<name>`. Never a physical id.
///
/// The text is shared: a clone (the plan, the graph, the records and the executor each
/// hold the URNs they work on) is a reference count, not a copy of the string.
///
/// Its hash is computed once, when it is made: the planner, the graph and the executor
/// look URNs up in hash maps hundreds of thousands of times, and hashing the text each
/// time was the largest single cost of planning 100,000 resources.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Urn {
    text: Arc<str>,
    hash: u64,
    type_start: u32,
    name_start: u32,
}

impl Urn {
    pub fn new(stack: &str, ty: &TypeToken, name: &str) -> Urn {
        let text = format!("{stack}::{ty}::{name}");
        let type_start = stack.len() + 2;
        let name_start = type_start + ty.as_str().len() + 2;
        let mut hasher = std::hash::DefaultHasher::new();
        text.hash(&mut hasher);
        Urn {
            hash: hasher.finish(),
            text: Arc::from(text),
            type_start: offset(type_start),
            name_start: offset(name_start),
        }
    }

    pub fn parse(s: &str) -> Result<Urn, ModelError> {
        let bad = || ModelError::MalformedUrn(s.to_string());
        let (stack, rest) = s.split_once("::").ok_or_else(bad)?;
        let (ty, name) = rest.split_once("::").ok_or_else(bad)?;
        if stack.is_empty() || name.is_empty() || u32::try_from(s.len()).is_err() {
            return Err(bad());
        }
        let ty = TypeToken::parse(ty).map_err(|_| bad())?;
        Ok(Urn::new(stack, &ty, name))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn stack(&self) -> &str {
        &self.text[..self.type_start as usize - 2]
    }

    pub fn type_token(&self) -> TypeToken {
        TypeToken(intern_type(self.type_str()))
    }

    fn type_str(&self) -> &str {
        &self.text[self.type_start as usize..self.name_start as usize - 2]
    }

    pub fn name(&self) -> &str {
        &self.text[self.name_start as usize..]
    }
}

/// A part's offset in a URN's text. URNs are names: one over 4 GiB is not one (`parse`
/// refuses it), and `new` is given a stack, type and name a program declared.
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl PartialEq for Urn {
    fn eq(&self, other: &Urn) -> bool {
        // The text decides; the hash and the shared allocation only answer faster.
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for Urn {}

/// Equal URNs have equal text and so equal hashes: consistent with `Eq`.
impl Hash for Urn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Urn {
    fn partial_cmp(&self, other: &Urn) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By text, as before the hash was kept: state keys and printed plans sort by it.
impl Ord for Urn {
    fn cmp(&self, other: &Urn) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Debug for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Urn").field(&&*self.text).finish()
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
        u.text.to_string()
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
