//! iam providers.

use std::sync::Arc;

use stackup_provider::Provider;

use crate::AwsClients;

/// Every iam provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let _ = clients;
    vec![]
}
