use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Urn;

/// A resource's properties, ordered by key so that output and state are deterministic.
pub type Properties = BTreeMap<String, Value>;

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
    Ref(Reference),
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

    fn collect_references<'a>(&'a self, out: &mut Vec<&'a Reference>) {
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
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
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
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
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
                            return Value::Ref(Reference {
                                urn,
                                output: output.to_string(),
                            });
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
