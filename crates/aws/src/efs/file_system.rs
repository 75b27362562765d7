//! `aws:efs:FileSystem`: a regional EFS file system.
//!
//! The creation token is the operation's idempotency token, so a retried create finds
//! the file system the first attempt made.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_efs::types::{FileSystemDescription, LifeCycleState, PerformanceMode, ThroughputMode};
use stackup_model::{Properties, ResourceArgs, Urn, Value};
use stackup_provider::wait::{self, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest, ListResponse,
    LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{efs_error, efs_tags, live_tags, tag_map, update_tags, EFS_DEADLINE, EFS_PATIENCE};
use crate::common::{client_token, failure, found};
use crate::ec2::retry_dependency;
use crate::props::{bool_of, props, str_of};
use crate::tags;

/// The type token of an EFS file system.
pub const TYPE: &str = "aws:efs:FileSystem";

/// The longest creation token EFS accepts.
const CREATION_TOKEN_MAX: usize = 64;

/// Arguments of an EFS file system.
#[derive(Clone, Debug)]
pub struct FileSystemArgs {
    pub encrypted: bool,
    /// `generalPurpose` or `maxIO`.
    pub performance_mode: String,
    /// `bursting` or `elastic`.
    pub throughput_mode: String,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for FileSystemArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticfilesystem:CreateFileSystem",
        "elasticfilesystem:DescribeFileSystems",
        "elasticfilesystem:UpdateFileSystem",
        "elasticfilesystem:DeleteFileSystem",
        "elasticfilesystem:DescribeMountTargets",
        "elasticfilesystem:DeleteMountTarget",
        "elasticfilesystem:TagResource",
        "elasticfilesystem:UntagResource",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("encrypted", self.encrypted.into()),
            ("performance_mode", self.performance_mode.into()),
            ("throughput_mode", self.throughput_mode.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:efs:FileSystem`.
pub struct FileSystem {
    efs: aws_sdk_efs::Client,
    schema: Schema,
}

impl FileSystem {
    /// A provider calling EFS through `efs`.
    pub fn new(efs: aws_sdk_efs::Client) -> FileSystem {
        FileSystem {
            efs,
            schema: Schema::new(TYPE, &["encrypted", "performance_mode"]),
        }
    }

    /// Deletes every mount target of file system `id` and waits until they are gone:
    /// EFS refuses to delete a file system that still has one. The stack's mount
    /// target resources are deleted first (by the graph); a sweep finds none (they carry
    /// no tags) and relies on this.
    async fn remove_mount_targets(&self, id: &str) -> Result<(), ProviderError> {
        let listed = self
            .efs
            .describe_mount_targets()
            .file_system_id(id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| efs_error("DescribeMountTargets", e));
        let targets: Vec<aws_sdk_efs::types::MountTargetDescription> = found(listed)?.unwrap_or_default();
        for mt in &targets {
            let deleted = self
                .efs
                .delete_mount_target()
                .mount_target_id(mt.mount_target_id())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| efs_error("DeleteMountTarget", e));
            crate::common::ok_if_gone(deleted)?;
        }
        if targets.is_empty() {
            return Ok(());
        }
        wait::until(
            &format!("the mount targets of file system {id}"),
            "deleted",
            EFS_PATIENCE,
            || async {
                let left = self
                    .efs
                    .describe_mount_targets()
                    .file_system_id(id)
                    .send()
                    .await
                    .map_err(|e| efs_error("DescribeMountTargets", e));
                let left = found(left)?.map(|out| {
                    out.mount_targets()
                        .iter()
                        .filter(|mt| mt.life_cycle_state() != &LifeCycleState::Deleted)
                        .count()
                });
                Ok(match left {
                    None | Some(0) => Poll::Ready(()),
                    Some(n) => Poll::Pending(format!("{n} mount target(s) left")),
                })
            },
        )
        .await
    }

    /// The file system `id`, or None when it does not exist.
    async fn describe(&self, id: &str) -> Result<Option<FileSystemDescription>, ProviderError> {
        let out = self.efs.describe_file_systems().file_system_id(id).send().await;
        Ok(found(out.map_err(|e| efs_error("DescribeFileSystems", e)))?
            .and_then(|out| out.file_systems().first().cloned()))
    }

    /// Every file system of the account in the region still alive, page by page.
    async fn describe_all(&self) -> Result<Vec<FileSystemDescription>, ProviderError> {
        // DescribeFileSystems takes one id or none: reads list them all too.
        let all: Vec<FileSystemDescription> = self
            .efs
            .describe_file_systems()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| efs_error("DescribeFileSystems", e))?;
        Ok(all.into_iter().filter(|fs| !is_gone(fs)).collect())
    }

    /// The live resource a file system is, as read and list report it.
    fn live(&self, urn: Urn, fs: &FileSystemDescription) -> LiveResource {
        LiveResource {
            urn,
            id: fs.file_system_id().to_string(),
            inputs: props([
                ("encrypted", fs.encrypted().unwrap_or(false).into()),
                ("performance_mode", fs.performance_mode().as_str().into()),
                (
                    "throughput_mode",
                    fs.throughput_mode().map_or("bursting", |t| t.as_str()).into(),
                ),
                ("tags", live_tags(fs.tags())),
            ]),
            outputs: self.outputs(fs),
        }
    }

    async fn wait_available(&self, id: &str) -> Result<FileSystemDescription, ProviderError> {
        wait::until(&format!("file system {id}"), "available", EFS_PATIENCE, || async {
            Ok(match self.describe(id).await? {
                // Not visible yet right after its create (eventual consistency): the
                // poller counts "not found" as pending for a grace period.
                None => return Err(ProviderError::new(ErrorKind::NotFound, format!("{id} is not listed"))),
                Some(fs) => match fs.life_cycle_state() {
                    LifeCycleState::Available => Poll::Ready(fs),
                    LifeCycleState::Creating | LifeCycleState::Updating => {
                        Poll::Pending(fs.life_cycle_state().as_str().to_string())
                    }
                    other => Poll::Failed(format!("state {}", other.as_str())),
                },
            })
        })
        .await
    }

    fn outputs(&self, fs: &FileSystemDescription) -> Properties {
        let id = fs.file_system_id();
        let region = self.efs.config().region().map_or("us-east-1", |r| r.as_ref());
        props([
            ("id", id.into()),
            ("arn", fs.file_system_arn().unwrap_or_default().into()),
            ("dns_name", format!("{id}.efs.{region}.amazonaws.com").into()),
        ])
    }
}

fn is_gone(fs: &FileSystemDescription) -> bool {
    matches!(
        fs.life_cycle_state(),
        LifeCycleState::Deleting | LifeCycleState::Deleted
    )
}

#[async_trait]
impl Provider for FileSystem {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        inputs.entry("encrypted".into()).or_insert(Value::Bool(false));
        let performance = match inputs.get("performance_mode") {
            None => Some("generalPurpose"),
            Some(v) => match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("generalpurpose") => Some("generalPurpose"),
                Some("maxio") => Some("maxIO"),
                _ => None,
            },
        };
        match performance {
            Some(p) => {
                inputs.insert("performance_mode".into(), p.into());
            }
            None => failures.push(failure("performance_mode", "must be generalPurpose or maxIO")),
        }
        let throughput = match inputs.get("throughput_mode") {
            None => Some("bursting"),
            Some(v) => match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("bursting") => Some("bursting"),
                Some("elastic") => Some("elastic"),
                Some("provisioned") => {
                    failures.push(failure(
                        "throughput_mode",
                        "provisioned needs a provisioned throughput, which stackup does not manage: \
                         use bursting or elastic",
                    ));
                    Some("provisioned")
                }
                _ => None,
            },
        };
        match throughput {
            Some(t) => {
                inputs.insert("throughput_mode".into(), t.into());
            }
            None => failures.push(failure("throughput_mode", "must be bursting or elastic")),
        }
        if performance == Some("maxIO") && throughput == Some("elastic") {
            failures.push(failure(
                "throughput_mode",
                "elastic throughput works only with the generalPurpose performance mode",
            ));
        }
        tags::default_tags(&mut inputs);
        CheckResponse { inputs, failures }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let token = client_token(&req.token, CREATION_TOKEN_MAX);
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let created = self
            .efs
            .create_file_system()
            .creation_token(&token)
            .encrypted(bool_of(&req.inputs, "encrypted"))
            .performance_mode(PerformanceMode::from(str_of(&req.inputs, "performance_mode")?))
            .throughput_mode(ThroughputMode::from(str_of(&req.inputs, "throughput_mode")?))
            .set_tags(Some(efs_tags(&tags)?))
            .send()
            .await;
        let id = match created {
            Ok(out) => out.file_system_id().to_string(),
            Err(e) => {
                let e = efs_error("CreateFileSystem", e);
                if e.code.as_deref() != Some("FileSystemAlreadyExists") {
                    return Err(e);
                }
                // An earlier attempt with this token succeeded: that file system is ours.
                let out = self
                    .efs
                    .describe_file_systems()
                    .creation_token(&token)
                    .send()
                    .await
                    .map_err(|e| efs_error("DescribeFileSystems", e))?;
                out.file_systems()
                    .first()
                    .map(|fs| fs.file_system_id().to_string())
                    .ok_or(e)?
            }
        };
        let fs = self.wait_available(&id).await.map_err(|e| e.created(&id))?;
        Ok(CreateResponse {
            outputs: self.outputs(&fs),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let urns = crate::common::urns_by_id(&req.targets);
        if urns.is_empty() {
            return Ok(ReadResponse { found: Vec::new() });
        }
        let found = self
            .describe_all()
            .await?
            .iter()
            .filter_map(|fs| Some(self.live(urns.get(fs.file_system_id())?.clone(), fs)))
            .collect();
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "throughput_mode") {
            self.efs
                .update_file_system()
                .file_system_id(&req.id)
                .throughput_mode(ThroughputMode::from(str_of(&req.new_inputs, "throughput_mode")?))
                .send()
                .await
                .map_err(|e| efs_error("UpdateFileSystem", e))?;
            self.wait_available(&req.id).await?;
        }
        update_tags(&self.efs, &req).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        self.remove_mount_targets(&req.id).await?;
        // Mount targets deleted just before are released asynchronously: EFS answers
        // FileSystemInUse until they are gone.
        retry_dependency(&format!("file system {}", req.id), EFS_DEADLINE, || async {
            self.efs
                .delete_file_system()
                .file_system_id(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| efs_error("DeleteFileSystem", e))
        })
        .await?;
        wait::until(&format!("file system {}", req.id), "deleted", EFS_PATIENCE, || async {
            Ok(match self.describe(&req.id).await? {
                None => Poll::Ready(()),
                Some(fs) if fs.life_cycle_state() == &LifeCycleState::Deleted => Poll::Ready(()),
                Some(fs) => Poll::Pending(fs.life_cycle_state().as_str().to_string()),
            })
        })
        .await
    }

    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        // DescribeFileSystems answers each file system's tags: no call per object.
        let found = self
            .describe_all()
            .await?
            .iter()
            .filter_map(|fs| {
                let id = fs.file_system_id();
                let urn = req.urn_of(id, || tags::listed_urn(&req.stack, TYPE, id, &tag_map(fs.tags())))?;
                Some(self.live(urn, fs))
            })
            .collect();
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        true
    }
}
