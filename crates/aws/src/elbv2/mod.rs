//! elbv2 providers.

use std::sync::Arc;

use stackup_provider::Provider;

use crate::AwsClients;

/// Every elbv2 provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let _ = clients;
    vec![]
}
