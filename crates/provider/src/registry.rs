use std::collections::BTreeMap;
use std::sync::Arc;

use stackup_model::TypeToken;

use crate::Provider;

/// The providers available to a run, by resource type.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<TypeToken, Arc<dyn Provider>>,
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

    /// Adds every provider of `other` (a second provider set).
    pub fn extend(&mut self, other: Registry) {
        self.providers.extend(other.providers);
    }

    pub fn types(&self) -> impl Iterator<Item = &TypeToken> {
        self.providers.keys()
    }
}
