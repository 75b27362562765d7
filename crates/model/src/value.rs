use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Properties, Urn};

/// A reference from one resource's input to another resource's output: the edges of
/// the dependency graph.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub urn: Urn,
    pub output: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.urn, self.output)
    }
}

/// A property value.
///
/// `Unknown` is a value that will only be known after apply (an id of a resource not yet
/// created). `Secret` wraps a value that must never be shown or persisted in plain
/// form: it prints as `[secret]` and serialises without its content.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(Properties),
    /// Boxed: a reference is rare beside strings and numbers, and a boxed one keeps
    /// every `Value` (and so every property map's nodes) at half the size.
    Ref(Box<Reference>),
    Secret(Box<Value>),
    Unknown,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&Properties> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// True when this value, or anything inside it, is not known until apply.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(l) => l.iter().any(Value::contains_unknown),
            Value::Map(m) => m.values().any(Value::contains_unknown),
            Value::Secret(v) => v.contains_unknown(),
            _ => false,
        }
    }

    /// Every reference inside this value, in order of appearance.
    pub fn references(&self) -> Vec<&Reference> {
        let mut out = Vec::new();
        self.collect_references(&mut out);
        out
    }

    pub(crate) fn collect_references<'a>(&'a self, out: &mut Vec<&'a Reference>) {
        match self {
            Value::Ref(r) => out.push(r),
            Value::List(l) => l.iter().for_each(|v| v.collect_references(out)),
            Value::Map(m) => m.values().for_each(|v| v.collect_references(out)),
            Value::Secret(v) => v.collect_references(out),
            _ => {}
        }
    }

    /// Replaces every reference with what `resolve` returns for it.
    pub fn resolve(&self, resolve: &mut impl FnMut(&Reference) -> Value) -> Value {
        match self {
            Value::Ref(r) => resolve(r),
            Value::List(l) => Value::List(l.iter().map(|v| v.resolve(resolve)).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), v.resolve(resolve))).collect()),
            Value::Secret(v) => Value::Secret(Box::new(v.resolve(resolve))),
            other => other.clone(),
        }
    }

    /// A string map from a `Value::Map` of strings (tags); other entries are ignored.
    pub fn string_map(&self) -> BTreeMap<String, String> {
        self.as_map()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.to_string(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn from_string_map(m: &BTreeMap<String, String>) -> Value {
        Value::Map(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    /// The JSON form used in state and `--json` output. Secrets lose their content.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()),
            Value::Ref(r) => serde_json::json!({"$ref": {"urn": r.urn.as_str(), "output": r.output}}),
            Value::Secret(_) => serde_json::json!({"$secret": true}),
            Value::Unknown => serde_json::json!({"$unknown": true}),
        }
    }

    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            J::Object(o) => {
                if o.len() == 1 {
                    if o.contains_key("$unknown") {
                        return Value::Unknown;
                    }
                    if o.contains_key("$secret") {
                        return Value::Secret(Box::new(Value::Null));
                    }
                    if let Some(r) = o.get("$ref") {
                        let urn = r.get("urn").and_then(|u| u.as_str()).map(Urn::parse);
                        let output = r.get("output").and_then(|u| u.as_str());
                        if let (Some(Ok(urn)), Some(output)) = (urn, output) {
                            return Value::Ref(Box::new(Reference {
                                urn,
                                output: output.to_string(),
                            }));
                        }
                    }
                }
                Value::Map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Ref(r) => write!(f, "${{{r}}}"),
            Value::Secret(_) => f.write_str("[secret]"),
            Value::Unknown => f.write_str("(known after apply)"),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Ok(Value::from_json(&serde_json::Value::deserialize(d)?))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(l: Vec<T>) -> Value {
        Value::List(l.into_iter().map(Into::into).collect())
    }
}
impl From<Properties> for Value {
    fn from(m: Properties) -> Value {
        Value::Map(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypeToken;

    fn urn(name: &str) -> Urn {
        Urn::new("dev", &TypeToken::from_static("aws:ec2:Vpc"), name)
    }

    fn reference(name: &str, output: &str) -> Reference {
        Reference {
            urn: urn(name),
            output: output.to_string(),
        }
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn accessors_answer_only_for_their_own_variant() {
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::Bool(true).as_bool(), Some(true));
        assert_eq!(Value::Int(3).as_int(), Some(3));
        assert_eq!(
            Value::from(vec![1i64, 2]).as_list(),
            Some(&[Value::Int(1), Value::Int(2)][..])
        );
        assert_eq!(map(&[]).as_map(), Some(&Properties::new()));
        let other = Value::Int(1);
        assert_eq!(other.as_str(), None);
        assert_eq!(other.as_bool(), None);
        assert_eq!(Value::from("1").as_int(), None, "no conversion from strings");
        assert_eq!(other.as_list(), None);
        assert_eq!(other.as_map(), None);
    }

    #[test]
    fn an_unknown_is_found_however_deeply_it_is_nested() {
        assert!(Value::Unknown.contains_unknown());
        assert!(Value::List(vec![Value::Int(1), Value::Unknown]).contains_unknown());
        assert!(map(&[("a", map(&[("b", Value::Unknown)]))]).contains_unknown());
        assert!(Value::Secret(Box::new(Value::Unknown)).contains_unknown());
        assert!(!Value::List(vec![Value::Null, map(&[("a", Value::from("x"))])]).contains_unknown());
        assert!(
            !Value::Ref(Box::new(reference("vpc", "id"))).contains_unknown(),
            "a reference is not itself unknown"
        );
    }

    #[test]
    fn references_are_collected_from_everywhere_in_order() {
        let v = Value::List(vec![
            Value::Ref(Box::new(reference("a", "id"))),
            map(&[("x", Value::Ref(Box::new(reference("b", "arn")))), ("y", Value::Int(1))]),
            Value::Secret(Box::new(Value::Ref(Box::new(reference("c", "password"))))),
        ]);
        let found: Vec<String> = v.references().iter().map(|r| r.to_string()).collect();
        assert_eq!(
            found,
            [
                "dev::aws:ec2:Vpc::a.id",
                "dev::aws:ec2:Vpc::b.arn",
                "dev::aws:ec2:Vpc::c.password"
            ]
        );
        assert!(Value::from("plain").references().is_empty());
    }

    #[test]
    fn resolving_replaces_every_reference_and_keeps_the_rest() {
        let v = map(&[
            ("id", Value::Ref(Box::new(reference("vpc", "id")))),
            (
                "list",
                Value::List(vec![Value::Ref(Box::new(reference("subnet", "id"))), Value::Int(7)]),
            ),
            (
                "secret",
                Value::Secret(Box::new(Value::Ref(Box::new(reference("db", "password"))))),
            ),
            ("plain", Value::from("kept")),
        ]);
        let mut asked = Vec::new();
        let resolved = v.resolve(&mut |r: &Reference| {
            asked.push(r.urn.name().to_string());
            Value::String(format!("{}-{}", r.urn.name(), r.output))
        });
        assert_eq!(
            resolved,
            map(&[
                ("id", Value::from("vpc-id")),
                ("list", Value::List(vec![Value::from("subnet-id"), Value::Int(7)])),
                ("secret", Value::Secret(Box::new(Value::from("db-password")))),
                ("plain", Value::from("kept")),
            ])
        );
        assert!(resolved.references().is_empty());
        asked.sort();
        assert_eq!(asked, ["db", "subnet", "vpc"], "each reference resolved once");
    }

    #[test]
    fn a_string_map_keeps_only_string_entries_and_round_trips() {
        let v = map(&[
            ("Name", Value::from("web")),
            ("Count", Value::Int(2)),
            ("Env", Value::from("dev")),
        ]);
        let strings = v.string_map();
        assert_eq!(strings.len(), 2);
        assert_eq!(strings.get("Name").map(String::as_str), Some("web"));
        assert_eq!(strings.get("Env").map(String::as_str), Some("dev"));
        assert_eq!(Value::from_string_map(&strings).string_map(), strings);
        assert!(Value::from("not a map").string_map().is_empty());
    }

    #[test]
    fn plain_values_survive_a_json_round_trip() {
        let v = map(&[
            ("null", Value::Null),
            ("bool", Value::Bool(false)),
            ("int", Value::Int(-42)),
            ("float", Value::Float(1.5)),
            ("string", Value::from("s")),
            ("list", Value::List(vec![Value::Int(1), Value::from("two")])),
            ("ref", Value::Ref(Box::new(reference("vpc", "id")))),
            ("unknown", Value::Unknown),
        ]);
        assert_eq!(Value::from_json(&v.to_json()), v);
        let text = serde_json::to_string(&v).expect("serialises");
        let back: Value = serde_json::from_str(&text).expect("deserialises");
        assert_eq!(back, v);
    }

    #[test]
    fn a_secret_loses_its_content_in_json() {
        let secret = Value::Secret(Box::new(Value::from("hunter2")));
        let json = secret.to_json();
        assert_eq!(json, serde_json::json!({"$secret": true}));
        assert!(!serde_json::to_string(&secret).expect("serialises").contains("hunter2"));
        assert_eq!(Value::from_json(&json), Value::Secret(Box::new(Value::Null)));
    }

    #[test]
    fn json_markers_are_recognised_only_when_alone_and_well_formed() {
        let json = serde_json::json!({"$unknown": true, "other": 1});
        assert_eq!(
            Value::from_json(&json),
            map(&[("$unknown", Value::Bool(true)), ("other", Value::Int(1))]),
            "a marker among other keys is an ordinary map"
        );
        let bad_ref = serde_json::json!({"$ref": {"urn": "not-a-urn", "output": "id"}});
        assert!(
            matches!(Value::from_json(&bad_ref), Value::Map(_)),
            "a reference to a malformed URN stays a map"
        );
        let no_output = serde_json::json!({"$ref": {"urn": "dev::aws:ec2:Vpc::a"}});
        assert!(matches!(Value::from_json(&no_output), Value::Map(_)));
    }

    #[test]
    fn json_numbers_are_ints_when_they_fit_and_non_finite_floats_are_null() {
        assert_eq!(Value::from_json(&serde_json::json!(7)), Value::Int(7));
        assert_eq!(Value::from_json(&serde_json::json!(7.25)), Value::Float(7.25));
        assert_eq!(Value::Float(f64::NAN).to_json(), serde_json::Value::Null);
        assert_eq!(Value::Float(f64::INFINITY).to_json(), serde_json::Value::Null);
    }

    #[test]
    fn values_print_readably_and_secrets_never_show() {
        let v = map(&[
            ("a", Value::List(vec![Value::Int(1), Value::Bool(true), Value::Null])),
            ("b", Value::from("x\"y")),
            ("c", Value::Ref(Box::new(reference("vpc", "id")))),
            ("d", Value::Secret(Box::new(Value::from("hunter2")))),
            ("e", Value::Unknown),
            ("f", Value::Float(0.5)),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{a: [1, true, null], b: "x\"y", c: ${dev::aws:ec2:Vpc::vpc.id}, d: [secret], e: (known after apply), f: 0.5}"#
        );
    }

    #[test]
    fn conversions_make_the_matching_variant() {
        assert_eq!(Value::from(String::from("s")), Value::String("s".into()));
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(3i64), Value::Int(3));
        assert_eq!(Value::from(2.5f64), Value::Float(2.5));
        assert_eq!(
            Value::from(vec!["a", "b"]),
            Value::List(vec![Value::from("a"), Value::from("b")])
        );
        let props: Properties = [("k".to_string(), Value::Int(1))].into_iter().collect();
        assert_eq!(Value::from(props.clone()), Value::Map(props));
    }
}
