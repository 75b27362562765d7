//! dynamodb providers.

use std::sync::Arc;

use stackup_provider::Provider;

use crate::AwsClients;

/// Every dynamodb provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let _ = clients;
    vec![]
}
