//! S3 providers.

mod bucket;

use std::sync::Arc;

use stackup_provider::Provider;

pub use bucket::{Bucket, BucketArgs, Website};

use crate::AwsClients;

/// Every S3 provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(Bucket::new(clients.s3.clone(), clients.tagging.clone()))]
}
