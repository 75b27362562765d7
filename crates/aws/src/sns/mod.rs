//! SNS providers: topics and their subscriptions.

mod subscription;
mod topic;

use std::sync::Arc;

use stackup_provider::Provider;

pub use subscription::{Subscription, SubscriptionArgs};
pub use topic::{Topic, TopicArgs};

use crate::AwsClients;

/// Every SNS provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let sns = clients.sns.clone();
    vec![
        Arc::new(Topic::new(sns.clone(), clients.tagging.clone())),
        Arc::new(Subscription::new(sns)),
    ]
}
