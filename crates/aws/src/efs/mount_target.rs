//! `aws:efs:MountTarget`: a file system's network endpoint in one subnet.
//!
//! A file system has at most one mount target per availability zone, so a replacement
//! (another subnet, maybe in the same zone) deletes the old one first.

use async_trait::async_trait;
use aws_sdk_efs::types::{LifeCycleState, MountTargetDescription};
use stackup_model::{Input, Properties, ResourceArgs, Value};
use stackup_provider::wait::{self, Poll};
use stackup_provider::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FindRequest, LiveResource,
    Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest, UpdateResponse,
};

use super::{efs_error, read_children, EFS_PATIENCE};
use crate::common::{failure, found, ok_if_gone, sort_ids};
use crate::props::{list_of, props, str_of, strings_of};

/// The type token of an EFS mount target.
pub const TYPE: &str = "aws:efs:MountTarget";

/// The most security groups a mount target takes.
const SECURITY_GROUPS_MAX: usize = 5;

/// Arguments of an EFS mount target.
#[derive(Clone, Debug)]
pub struct MountTargetArgs {
    pub file_system_id: Input<String>,
    pub subnet_id: Input<String>,
    /// One to five security groups of the subnet's VPC.
    pub security_group_ids: Vec<Input<String>>,
}

impl ResourceArgs for MountTargetArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticfilesystem:CreateMountTarget",
        "elasticfilesystem:DescribeMountTargets",
        "elasticfilesystem:DescribeMountTargetSecurityGroups",
        "elasticfilesystem:ModifyMountTargetSecurityGroups",
        "elasticfilesystem:DeleteMountTarget",
        // EFS manages the mount target's network interface with the caller's rights.
        "ec2:DescribeSubnets",
        "ec2:DescribeNetworkInterfaces",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaceAttribute",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:DeleteNetworkInterface",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("file_system_id", self.file_system_id.into()),
            ("subnet_id", self.subnet_id.into()),
            (
                "security_group_ids",
                Value::List(self.security_group_ids.into_iter().map(Into::into).collect()),
            ),
        ])
    }
}

/// The provider of `aws:efs:MountTarget`.
pub struct MountTarget {
    efs: aws_sdk_efs::Client,
    schema: Schema,
}

impl MountTarget {
    /// A provider calling EFS through `efs`.
    pub fn new(efs: aws_sdk_efs::Client) -> MountTarget {
        MountTarget {
            efs,
            schema: Schema::new(TYPE, &["file_system_id", "subnet_id"]).delete_before_replace(),
        }
    }

    /// The mount target `id`, or None when it does not exist.
    async fn describe(&self, id: &str) -> Result<Option<MountTargetDescription>, ProviderError> {
        let out = self.efs.describe_mount_targets().mount_target_id(id).send().await;
        Ok(found(out.map_err(|e| efs_error("DescribeMountTargets", e)))?
            .and_then(|out| out.mount_targets().first().cloned()))
    }

    /// Every mount target of `file_system_id`; none when the file system is gone.
    async fn of_file_system(&self, file_system_id: &str) -> Result<Vec<MountTargetDescription>, ProviderError> {
        let listed = self
            .efs
            .describe_mount_targets()
            .file_system_id(file_system_id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        Ok(found(listed.map_err(|e| efs_error("DescribeMountTargets", e)))?.unwrap_or_default())
    }

    /// The mount target's security groups, sorted; None when it is gone.
    async fn security_groups(&self, id: &str) -> Result<Option<Vec<String>>, ProviderError> {
        let out = self
            .efs
            .describe_mount_target_security_groups()
            .mount_target_id(id)
            .send()
            .await
            .map_err(|e| efs_error("DescribeMountTargetSecurityGroups", e));
        Ok(found(out)?.map(|out| {
            let mut groups = out.security_groups().to_vec();
            groups.sort();
            groups.dedup();
            groups
        }))
    }

    async fn set_security_groups(&self, id: &str, groups: Vec<String>) -> Result<(), ProviderError> {
        self.efs
            .modify_mount_target_security_groups()
            .mount_target_id(id)
            .set_security_groups(Some(groups))
            .send()
            .await
            .map_err(|e| efs_error("ModifyMountTargetSecurityGroups", e))?;
        Ok(())
    }

    async fn wait_available(&self, id: &str) -> Result<MountTargetDescription, ProviderError> {
        wait::until(&format!("mount target {id}"), "available", EFS_PATIENCE, || async {
            Ok(match self.describe(id).await? {
                // Not visible yet right after its create (eventual consistency): the
                // poller counts "not found" as pending for a grace period.
                None => return Err(ProviderError::new(ErrorKind::NotFound, format!("{id} is not listed"))),
                Some(mt) => match mt.life_cycle_state() {
                    LifeCycleState::Available => Poll::Ready(mt),
                    LifeCycleState::Creating | LifeCycleState::Updating => {
                        Poll::Pending(mt.life_cycle_state().as_str().to_string())
                    }
                    other => Poll::Failed(format!("state {}", other.as_str())),
                },
            })
        })
        .await
    }
}

fn outputs(mt: &MountTargetDescription) -> Properties {
    props([
        ("id", mt.mount_target_id().into()),
        ("ip_address", mt.ip_address().map_or(Value::Null, Value::from)),
    ])
}

fn is_gone(mt: &MountTargetDescription) -> bool {
    matches!(
        mt.life_cycle_state(),
        LifeCycleState::Deleting | LifeCycleState::Deleted
    )
}

#[async_trait]
impl Provider for MountTarget {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        sort_ids(&mut inputs, "security_group_ids");
        let count = list_of(&inputs, "security_group_ids").len();
        // Without groups EFS applies the VPC's default group, which would then read
        // back as a change.
        if !(1..=SECURITY_GROUPS_MAX).contains(&count) {
            failures.push(failure(
                "security_group_ids",
                format!("must list 1 to {SECURITY_GROUPS_MAX} security groups"),
            ));
        }
        CheckResponse { inputs, failures }
    }

    /// The file system's mount target in this subnet: mount targets carry no tags.
    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let file_system_id = str_of(&req.inputs, "file_system_id")?;
        let subnet_id = str_of(&req.inputs, "subnet_id")?;
        let existing = self
            .of_file_system(file_system_id)
            .await?
            .into_iter()
            .find(|mt| mt.subnet_id() == subnet_id && !is_gone(mt));
        match existing {
            Some(mt) => crate::common::read_one(self, &req.urn, mt.mount_target_id().to_string(), &req.inputs).await,
            None => Ok(None),
        }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let file_system_id = str_of(&req.inputs, "file_system_id")?;
        let subnet_id = str_of(&req.inputs, "subnet_id")?;
        let groups = strings_of(&req.inputs, "security_group_ids");
        let created = self
            .efs
            .create_mount_target()
            .file_system_id(file_system_id)
            .subnet_id(subnet_id)
            .set_security_groups(Some(groups.clone()))
            .send()
            .await;
        let id = match created {
            Ok(out) => out.mount_target_id().to_string(),
            Err(e) => {
                let e = efs_error("CreateMountTarget", e);
                if e.kind != ErrorKind::Conflict {
                    return Err(e);
                }
                // Mount targets carry no tags and CreateMountTarget no token: one in
                // this very subnet of this file system is what an interrupted run
                // created for this resource. One in another subnet of the zone is not.
                let existing = self
                    .of_file_system(file_system_id)
                    .await?
                    .into_iter()
                    .find(|mt| mt.subnet_id() == subnet_id && !is_gone(mt))
                    .ok_or(e)?;
                let id = existing.mount_target_id().to_string();
                self.wait_available(&id).await?;
                if self.security_groups(&id).await?.as_ref() != Some(&groups) {
                    self.set_security_groups(&id, groups).await?;
                }
                id
            }
        };
        let mt = self.wait_available(&id).await.map_err(|e| e.created(&id))?;
        Ok(CreateResponse {
            outputs: outputs(&mt),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        // One DescribeMountTargets per file system; targets with no recorded file
        // system are asked for by id.
        let live = read_children(
            &req.targets,
            |mt: &MountTargetDescription| Some(mt.mount_target_id()),
            |fs| async move { self.of_file_system(&fs).await },
            |id| async move { self.describe(&id).await },
        )
        .await?;
        let mut found = Vec::new();
        for (n, mt) in live {
            if is_gone(&mt) {
                continue;
            }
            let target = &req.targets[n];
            // No batch form: one call per mount target.
            let Some(groups) = self.security_groups(mt.mount_target_id()).await? else {
                continue;
            };
            found.push(LiveResource {
                urn: target.urn.clone(),
                id: target.id.clone(),
                inputs: props([
                    ("file_system_id", mt.file_system_id().into()),
                    ("subnet_id", mt.subnet_id().into()),
                    ("security_group_ids", groups.into()),
                ]),
                outputs: outputs(&mt),
            });
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if crate::common::changed(&req.changed, "security_group_ids") {
            self.set_security_groups(&req.id, strings_of(&req.new_inputs, "security_group_ids"))
                .await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        ok_if_gone(
            self.efs
                .delete_mount_target()
                .mount_target_id(&req.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| efs_error("DeleteMountTarget", e)),
        )?;
        wait::until(&format!("mount target {}", req.id), "deleted", EFS_PATIENCE, || async {
            Ok(match self.describe(&req.id).await? {
                None => Poll::Ready(()),
                Some(mt) if mt.life_cycle_state() == &LifeCycleState::Deleted => Poll::Ready(()),
                Some(mt) => Poll::Pending(mt.life_cycle_state().as_str().to_string()),
            })
        })
        .await
    }
}
