//! EFS providers: file systems, their mount targets and access points.

mod access_point;
mod file_system;
mod mount_target;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_efs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_efs::types::Tag;
use stackup_model::{Properties, Urn, Value, RESERVED_TAG_PREFIX};
use stackup_provider::{ErrorKind, Provider, ProviderError};

pub use access_point::{AccessPoint, AccessPointArgs};
pub use file_system::{FileSystem, FileSystemArgs};
pub use mount_target::{MountTarget, MountTargetArgs};

use crate::props::is_known;
use crate::{classify, tags, AwsClients};

/// Every EFS provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn Provider>> {
    let efs = clients.efs.clone();
    vec![
        Arc::new(FileSystem::new(efs.clone())),
        Arc::new(MountTarget::new(efs.clone())),
        Arc::new(AccessPoint::new(efs)),
    ]
}

/// How long EFS may take to make an object available or to delete it.
const EFS_DEADLINE: Duration = Duration::from_secs(600);

/// How often the EFS waits poll (EFS has no SDK waiters).
const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// Classifies an EFS error; EFS's conflict codes do not follow the shared naming.
fn efs_error<E, R>(action: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let mut e = classify(action, err);
    match e.code.as_deref() {
        // Mount targets (or access points) still hold the file system.
        Some("FileSystemInUse") => e.kind = ErrorKind::DependencyViolation,
        Some("MountTargetConflict") => e.kind = ErrorKind::Conflict,
        _ => {}
    }
    e
}

/// What a poll learned about an object being waited for.
enum Poll<T> {
    Done(T),
    Pending(String),
    Failed(String),
}

/// Polls `probe` until it reports done or failed, or `EFS_DEADLINE` passes.
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ProviderError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        match probe().await? {
            Poll::Done(v) => return Ok(v),
            Poll::Failed(state) => {
                return Err(ProviderError::new(ErrorKind::Other, format!("{what}: {state}")));
            }
            Poll::Pending(state) if started.elapsed() > EFS_DEADLINE => {
                return Err(ProviderError::new(
                    ErrorKind::Transient,
                    format!("{what}: still {state} after {}s", EFS_DEADLINE.as_secs()),
                ));
            }
            Poll::Pending(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// Inserts the user tags into `inputs` if the program set none, so that a resource
/// declared without tags compares equal to its live empty tag set.
fn default_tags(inputs: &mut Properties) {
    inputs
        .entry("tags".to_string())
        .or_insert_with(|| Value::Map(BTreeMap::new()));
}

/// Sorts and deduplicates a list of ids once every element is known.
fn sort_ids(inputs: &mut Properties, key: &str) {
    let Some(Value::List(ids)) = inputs.get(key) else {
        return;
    };
    if ids.iter().all(is_known) {
        let mut sorted = ids.clone();
        sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        sorted.dedup();
        inputs.insert(key.to_string(), Value::List(sorted));
    }
}

fn efs_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::invalid(format!("tag {k}: {e}")))
        })
        .collect()
}

/// The live user tags (stackup's own removed) as a property value.
fn live_tags(tags: &[Tag]) -> Value {
    let map: BTreeMap<String, String> = tags
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX))
        .collect();
    Value::from_string_map(&map)
}

/// Brings an EFS object's user tags from `old` to `new` and restores the stackup tags,
/// which an out-of-band edit may have removed.
async fn sync_tags(
    efs: &aws_sdk_efs::Client,
    id: &str,
    stack: &str,
    urn: &Urn,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    let new_tags = tags::with_stackup(stack, urn, new);
    let removed: Vec<String> = tags::desired(old)
        .into_keys()
        .filter(|k| !new_tags.contains_key(k))
        .collect();
    if !removed.is_empty() {
        efs.untag_resource()
            .resource_id(id)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| efs_error("UntagResource", e))?;
    }
    efs.tag_resource()
        .resource_id(id)
        .set_tags(Some(efs_tags(&new_tags)?))
        .send()
        .await
        .map_err(|e| efs_error("TagResource", e))?;
    Ok(())
}
