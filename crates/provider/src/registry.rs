use std::collections::BTreeMap;
use std::sync::Arc;

use stackup_model::TypeToken;

use crate::{Lookup, Provider};

/// The lookups a registry knows, by type.
pub type Lookups = BTreeMap<TypeToken, Arc<dyn Lookup>>;

/// The providers available to a run, by resource type, and the lookups (data sources)
/// by lookup type.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<TypeToken, Arc<dyn Provider>>,
    lookups: Lookups,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.schema().ty.clone(), provider);
    }

    pub fn get(&self, ty: &TypeToken) -> Option<&Arc<dyn Provider>> {
        self.providers.get(ty)
    }

    pub fn register_lookup(&mut self, lookup: Arc<dyn Lookup>) {
        self.lookups.insert(lookup.ty().clone(), lookup);
    }

    pub fn lookup(&self, ty: &TypeToken) -> Option<&Arc<dyn Lookup>> {
        self.lookups.get(ty)
    }

    /// Adds every provider and lookup of `other` (a second provider set).
    pub fn extend(&mut self, other: Registry) {
        self.providers.extend(other.providers);
        self.lookups.extend(other.lookups);
    }

    pub fn types(&self) -> impl Iterator<Item = &TypeToken> {
        self.providers.keys()
    }
}
