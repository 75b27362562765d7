//! Property maps shared between the program, the records and the plan.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Key, Properties, Value};

/// A property map that a goal, a record, a plan step and the planner's table of known
/// outputs hold at once without copying it: cloning it is a reference count. Reading
/// it is reading a [`Properties`] (it dereferences to one); changing it copies the map
/// first if anything else still holds it (copy on write), so no holder ever sees
/// another's change.
///
/// Why: a plan of 100,000 resources held every resource's inputs five times over
/// (program, record, step, the step's copy of the record, known outputs), about 10 KB
/// per resource; shared, it holds each map once.
#[derive(Clone, Default, PartialEq)]
pub struct SharedProperties(Arc<Properties>);

impl SharedProperties {
    /// Shares `properties`, giving back any spare room first: a shared map is kept.
    pub fn new(mut properties: Properties) -> SharedProperties {
        properties.shrink_to_fit();
        SharedProperties(Arc::new(properties))
    }

    /// The map itself: moved out when nothing else holds it, copied when something does.
    pub fn into_inner(self) -> Properties {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
    }

    /// True when both are the same map (not merely equal ones).
    pub fn ptr_eq(a: &SharedProperties, b: &SharedProperties) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for SharedProperties {
    type Target = Properties;
    fn deref(&self) -> &Properties {
        &self.0
    }
}

impl DerefMut for SharedProperties {
    fn deref_mut(&mut self) -> &mut Properties {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Properties> for SharedProperties {
    fn from(properties: Properties) -> SharedProperties {
        SharedProperties::new(properties)
    }
}

impl From<SharedProperties> for Properties {
    fn from(shared: SharedProperties) -> Properties {
        shared.into_inner()
    }
}

impl<K: Into<Key>> FromIterator<(K, Value)> for SharedProperties {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> SharedProperties {
        SharedProperties::new(iter.into_iter().collect())
    }
}

impl<K: Into<Key>> Extend<(K, Value)> for SharedProperties {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        Arc::make_mut(&mut self.0).extend(iter);
    }
}

impl<'a> IntoIterator for &'a SharedProperties {
    type Item = (&'a Key, &'a Value);
    type IntoIter = <&'a Properties as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for SharedProperties {
    type Item = (Key, Value);
    type IntoIter = <Properties as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.into_inner().into_iter()
    }
}

impl PartialEq<Properties> for SharedProperties {
    fn eq(&self, other: &Properties) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<SharedProperties> for Properties {
    fn eq(&self, other: &SharedProperties) -> bool {
        *self == *other.0
    }
}

impl fmt::Debug for SharedProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for SharedProperties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedProperties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedProperties, D::Error> {
        Properties::deserialize(deserializer).map(SharedProperties::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, i64)]) -> Properties {
        pairs.iter().map(|(k, v)| (*k, Value::Int(*v))).collect()
    }

    #[test]
    fn a_clone_shares_the_map_and_a_change_copies_it_first() {
        let original = SharedProperties::new(map(&[("a", 1)]));
        let mut changed = original.clone();
        assert!(SharedProperties::ptr_eq(&original, &changed), "a clone is the same map");
        changed.insert("b".into(), Value::Int(2));
        assert!(
            !SharedProperties::ptr_eq(&original, &changed),
            "a change made its own copy"
        );
        assert_eq!(original, map(&[("a", 1)]), "the other holder does not see the change");
        assert_eq!(changed, map(&[("a", 1), ("b", 2)]));
    }

    #[test]
    fn a_map_held_once_is_changed_and_taken_without_a_copy() {
        let mut only = SharedProperties::new(map(&[("a", 1)]));
        let before: *const Properties = &*only;
        only.insert("b".into(), Value::Int(2));
        assert_eq!(&*only as *const Properties, before, "changed in place");
        assert_eq!(only.into_inner(), map(&[("a", 1), ("b", 2)]));
    }

    #[test]
    fn it_serialises_and_prints_exactly_as_the_map_does() {
        let m = map(&[("x", 7), ("a", 1)]);
        let shared = SharedProperties::new(m.clone());
        assert_eq!(
            serde_json::to_string(&shared).expect("serialises"),
            serde_json::to_string(&m).expect("serialises")
        );
        let back: SharedProperties = serde_json::from_str(r#"{"a":1,"x":7}"#).expect("deserialises");
        assert_eq!(back, m);
        assert_eq!(format!("{shared:?}"), format!("{m:?}"));
    }
}
