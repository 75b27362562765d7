//! A resource's properties: a small map from names to values, ordered by name.

use std::fmt;
use std::ops::{Deref, DerefMut};

use litemap::LiteMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Value;

/// A property's name. Names are short (`cidr_block`, `vpc_id`) and a resource holds
/// three maps of them (its goal, its recorded inputs and outputs): a name of up to 23
/// bytes is kept inline rather than allocated (`smol_str`), and a clone of a longer one
/// is a reference count. It reads as a `&str` (`Deref`), compares with strings, and
/// `.to_string()` gives a `String`.
pub type Key = smol_str::SmolStr;

/// A resource's properties, ordered by key so that output and state are deterministic.
///
/// A sorted vector (ICU4X's `litemap`), not a `BTreeMap`: a resource has a handful to a
/// few dozen properties, where a sorted vector is as fast to search and a fraction of
/// the size (a `BTreeMap` allocates a node for eleven entries however few it holds; for
/// the records of 100,000 resources that was half the planner's memory). It reads as the
/// `LiteMap` it wraps (`get`, `insert`, `entry`, `iter`, `keys`, `remove`, `len`);
/// `collect` and `extend` take any key that converts into a [`Key`] (`&str`, `String`).
#[derive(Clone, Default, PartialEq)]
pub struct Properties(LiteMap<Key, Value>);

impl Properties {
    pub fn new() -> Properties {
        Properties(LiteMap::new())
    }

    /// Gives back the room a map grown entry by entry keeps spare (a vector doubles as it
    /// grows): a map about to be kept for the whole run (a goal's inputs, a record's) is
    /// then exactly as large as its entries.
    pub fn shrink_to_fit(&mut self) {
        let mut entries = std::mem::take(&mut self.0).into_tuple_vec();
        entries.shrink_to_fit();
        self.0 = LiteMap::from_sorted_store_unchecked(entries);
    }
}

impl Deref for Properties {
    type Target = LiteMap<Key, Value>;
    fn deref(&self) -> &LiteMap<Key, Value> {
        &self.0
    }
}

impl DerefMut for Properties {
    fn deref_mut(&mut self) -> &mut LiteMap<Key, Value> {
        &mut self.0
    }
}

impl<K: Into<Key>> FromIterator<(K, Value)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Properties {
        let mut collected = Properties(iter.into_iter().map(|(k, v)| (k.into(), v)).collect());
        collected.shrink_to_fit();
        collected
    }
}

impl<K: Into<Key>> Extend<(K, Value)> for Properties {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        self.0.extend(iter.into_iter().map(|(k, v)| (k.into(), v)));
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = (&'a Key, &'a Value);
    type IntoIter = <&'a LiteMap<Key, Value> as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Properties {
    type Item = (Key, Value);
    type IntoIter = <LiteMap<Key, Value> as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Printed as a map (`{"a": Int(1)}`), as the `BTreeMap` it replaced was.
impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Properties, D::Error> {
        LiteMap::deserialize(deserializer).map(Properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_ordered_by_key_and_a_later_one_wins() {
        let m: Properties = [("b", Value::Int(2)), ("a", Value::Int(1)), ("b", Value::Int(3))]
            .into_iter()
            .collect();
        let keys: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(m.get("b"), Some(&Value::Int(3)));
        let mut m = m;
        assert_eq!(m.insert("a".into(), Value::Int(9)), Some(Value::Int(1)));
        m.extend([("0", Value::Null)]);
        assert_eq!(format!("{m:?}"), r#"{"0": Null, "a": Int(9), "b": Int(3)}"#);
    }

    #[test]
    fn it_serialises_as_a_json_object_and_back() {
        let m: Properties = [("x", Value::Int(7)), ("a", Value::Bool(true))].into_iter().collect();
        let json = serde_json::to_string(&m).expect("serialises");
        assert_eq!(json, r#"{"a":true,"x":7}"#);
        let back: Properties = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, m);
    }

    #[test]
    fn a_short_key_is_not_allocated() {
        let key = Key::from("availability_zone");
        assert!(!key.is_heap_allocated());
    }
}
