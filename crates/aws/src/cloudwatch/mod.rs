//! CloudWatch providers: metric alarms.
//!
//! `aws-sdk-cloudwatch` is pinned to 1.99.0, the last release on the awsQuery protocol,
//! which moto serves and real CloudWatch still accepts.

mod metric_alarm;

use std::sync::Arc;

use stackup_provider::Provider;

pub use metric_alarm::{MetricAlarm, MetricAlarmArgs};

use crate::AwsClients;

/// Every CloudWatch provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(MetricAlarm::new(
        clients.cloudwatch.clone(),
        clients.tagging.clone(),
    ))]
}
