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
use stackup_model::Value;
use stackup_provider::wait::Patience;
use stackup_provider::{ErrorKind, Provider, ProviderError, ReadTarget, UpdateRequest};

pub use access_point::{AccessPoint, AccessPointArgs};
pub use file_system::{FileSystem, FileSystemArgs};
pub use mount_target::{MountTarget, MountTargetArgs};

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

/// Waiting for an EFS object to become available or to go: up to `EFS_DEADLINE`, polled
/// at most every 3 seconds (EFS has no SDK waiters).
const EFS_PATIENCE: Patience = Patience::new(EFS_DEADLINE.as_secs(), 3);

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

/// The live objects behind read targets that belong to a file system (mount targets,
/// access points), as (target index, object): one listing per recorded file system, and
/// one describe by id for a target whose file system is not recorded.
async fn read_children<T, L, LF, D, DF>(
    targets: &[ReadTarget],
    id_of: fn(&T) -> Option<&str>,
    of_file_system: L,
    describe: D,
) -> Result<Vec<(usize, T)>, ProviderError>
where
    T: Clone,
    L: Fn(String) -> LF,
    LF: Future<Output = Result<Vec<T>, ProviderError>>,
    D: Fn(String) -> DF,
    DF: Future<Output = Result<Option<T>, ProviderError>>,
{
    let mut by_file_system: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut by_id = Vec::new();
    for (n, t) in targets.iter().enumerate() {
        match t.inputs.get("file_system_id").and_then(Value::as_str) {
            Some(fs) => by_file_system.entry(fs).or_default().push(n),
            None => by_id.push(n),
        }
    }
    let mut described = Vec::new();
    for (fs, of_fs) in by_file_system {
        let all = of_file_system(fs.to_string()).await?;
        for n in of_fs {
            if let Some(object) = all.iter().find(|o| id_of(o) == Some(targets[n].id.as_str())) {
                described.push((n, object.clone()));
            }
        }
    }
    for n in by_id {
        if let Some(object) = describe(targets[n].id.clone()).await? {
            described.push((n, object));
        }
    }
    Ok(described)
}

/// EFS tags from a tag map.
fn efs_tags(all: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags::build_all(all, |k, v| Tag::builder().key(k).value(v).build())
}

/// The live tags of an EFS object, stackup's included.
fn tag_map(live: &[Tag]) -> BTreeMap<String, String> {
    tags::map(live.iter().map(|t| (t.key(), t.value())))
}

/// The live user tags (stackup's own removed) as a property value.
fn live_tags(live: &[Tag]) -> Value {
    tags::user_tags(live.iter().map(|t| (t.key(), t.value())))
}

/// Brings an EFS object's user tags from `old` to `new` and restores the stackup tags,
/// which an out-of-band edit may have removed. Does nothing unless the diff found the
/// tags changed.
async fn update_tags(efs: &aws_sdk_efs::Client, req: &UpdateRequest) -> Result<(), ProviderError> {
    if !crate::common::changed(&req.changed, "tags") {
        return Ok(());
    }
    let id = req.id.as_str();
    let new_tags = tags::with_stackup(&req.stack, &req.urn, &req.new_inputs);
    tags::sync(
        &tags::desired(&req.old_inputs),
        &new_tags,
        |removed| async move {
            efs.untag_resource()
                .resource_id(id)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| efs_error("UntagResource", e))
        },
        || async {
            efs.tag_resource()
                .resource_id(id)
                .set_tags(Some(efs_tags(&new_tags)?))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| efs_error("TagResource", e))
        },
    )
    .await
}
