//! `aws:ec2:Instance`: a single EC2 instance (the bastion).
//!
//! RunInstances is idempotent by ClientToken on AWS; moto ignores the token, so create
//! first looks for a pending or running instance carrying this resource's
//! `stackup:urn` tag and this create's token, and adopts it. The token check matters:
//! a replacement is created while the old instance (same URN tag) still runs.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeValue, Filter, IamInstanceProfileAssociation, IamInstanceProfileAssociationState,
    IamInstanceProfileSpecification, InstanceAttributeName, InstanceStateName, InstanceType, MonitoringState,
    Reservation, ResourceType, RunInstancesMonitoringEnabled, Volume,
};
use aws_smithy_types::base64;
use stackup_model::{Input, Properties, ResourceArgs, Value, URN_TAG};
use stackup_provider::wait::{self, Patience, Poll};
use stackup_provider::{
    CheckFailure, CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

use super::launch_template::{check_image, check_instance_type, check_key_name, sort_known_ids, USER_DATA_MAX};
use super::{checked, describe_each, id_filters, update_tags, Picked, Wanted, CLIENT_TOKEN_MAX};
use crate::common::{changed, client_token};
use crate::props::{bool_of, is_known, opt_str, props, str_of, strings_of};
use crate::{classify, tags};

/// The type token of an instance.
pub const TYPE: &str = "aws:ec2:Instance";

/// How long an instance may take to start, stop or terminate.
/// Instances take 30 to 60 seconds each way; poll at most every 5 seconds.
const INSTANCE_PATIENCE: Patience = Patience::new(600, 5);

/// An image input AWS resolves from an SSM parameter at launch.
const SSM_PREFIX: &str = "resolve:ssm:";

type Ec2Instance = aws_sdk_ec2::types::Instance;

/// Arguments of an instance.
#[derive(Clone, Debug)]
pub struct InstanceArgs {
    /// An AMI id, or `resolve:ssm:<parameter>` which AWS resolves at launch, or what a
    /// lookup found (`aws:ssm:getParameter`'s `value`).
    pub image_id: Input<String>,
    pub instance_type: String,
    pub subnet_id: Input<String>,
    pub security_group_ids: Vec<Input<String>>,
    pub key_name: Option<String>,
    /// The name of the instance profile the instance runs with, if any. Changed in
    /// place (AssociateIamInstanceProfile / ReplaceIamInstanceProfileAssociation).
    pub iam_instance_profile: Option<Input<String>>,
    pub detailed_monitoring: bool,
    /// Plain user data (not a template); base64-encoded when sent.
    pub user_data: String,
    pub tags: BTreeMap<String, String>,
}

impl ResourceArgs for InstanceArgs {
    const TYPE: &'static str = TYPE;
    const TAGGABLE: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:RunInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceAttribute",
        "ec2:ModifyInstanceAttribute",
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:MonitorInstances",
        "ec2:UnmonitorInstances",
        "ec2:TerminateInstances",
        "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:AssociateIamInstanceProfile",
        "ec2:ReplaceIamInstanceProfileAssociation",
        "ec2:DisassociateIamInstanceProfile",
        // Launching with a profile passes its role to EC2.
        "iam:PassRole",
        "ec2:DescribeVolumes",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        // RunInstances resolves a `resolve:ssm:` image with the caller's rights.
        "ssm:GetParameters",
    ];
    fn into_properties(self) -> Properties {
        props([
            ("image_id", self.image_id.into()),
            ("instance_type", self.instance_type.into()),
            ("subnet_id", self.subnet_id.into()),
            (
                "security_group_ids",
                Value::List(self.security_group_ids.into_iter().map(Into::into).collect()),
            ),
            ("key_name", self.key_name.map_or(Value::Null, Value::String)),
            (
                "iam_instance_profile",
                self.iam_instance_profile.map_or(Value::Null, Into::into),
            ),
            ("detailed_monitoring", self.detailed_monitoring.into()),
            ("user_data", self.user_data.into()),
            ("tags", Value::from_string_map(&self.tags)),
        ])
    }
}

/// The provider of `aws:ec2:Instance`.
pub struct Instance {
    ec2: aws_sdk_ec2::Client,
    schema: Schema,
}

/// The name of the instance profile `arn` names:
/// `arn:aws:iam::<account>:instance-profile/<path>/<name>` (the path may be `/`).
fn profile_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// An association that holds (or is about to hold) the instance's profile, not one
/// being taken away.
fn is_current(association: &IamInstanceProfileAssociation) -> bool {
    matches!(
        association.state(),
        Some(IamInstanceProfileAssociationState::Associated | IamInstanceProfileAssociationState::Associating)
    )
}

/// An instance in one of these states is gone or going, and never comes back.
fn is_gone(instance: &Ec2Instance) -> bool {
    matches!(
        instance.state().and_then(|s| s.name()),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
    )
}

fn outputs(instance: &Ec2Instance) -> Properties {
    let ip = |v: Option<&str>| v.filter(|s| !s.is_empty()).map_or(Value::Null, Value::from);
    props([
        ("id", instance.instance_id().unwrap_or_default().into()),
        ("public_ip", ip(instance.public_ip_address())),
        ("private_ip", ip(instance.private_ip_address())),
    ])
}

impl Instance {
    /// A provider that calls AWS through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> Instance {
        Instance {
            ec2,
            schema: Schema::new(TYPE, &["image_id", "subnet_id", "key_name", "user_data"]),
        }
    }

    /// Instances matching `filters` (all of them), gone ones included.
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Ec2Instance>, ProviderError> {
        let reservations: Vec<Reservation> = paginated!(
            self.ec2.describe_instances().set_filters(Some(filters)),
            "DescribeInstances"
        )?;
        Ok(reservations
            .into_iter()
            .flat_map(|r| r.instances.unwrap_or_default())
            .collect())
    }

    /// The instances a read or list wants, as live resources; gone ones are left out.
    async fn found(&self, wanted: &Wanted<'_>) -> Result<Vec<LiveResource>, ProviderError> {
        let instances = describe_each(wanted.filters("instance-id"), |filter| self.describe(vec![filter])).await?;
        let picked: Vec<_> = wanted
            .pick_all(&instances, Ec2Instance::instance_id, Ec2Instance::tags)
            .into_iter()
            .filter(|(_, instance)| !is_gone(instance))
            .collect();
        let profiles = self
            .profiles_of(picked.iter().filter_map(|(_, i)| i.instance_id()).map(str::to_string))
            .await?;
        let mut found = Vec::new();
        for (picked, instance) in picked {
            let profile = instance.instance_id().and_then(|id| profiles.get(id)).cloned();
            found.push(self.resource(picked, instance, profile).await?);
        }
        Ok(found)
    }

    /// The instance profile (by name) each of the instances `ids` runs with, from its
    /// current association: one call per 200 instances. DescribeInstances also shows
    /// a profile, but the launch's (moto does not follow a replaced association).
    async fn profiles_of(
        &self,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self
            .current_associations(ids)
            .await?
            .iter()
            .filter_map(|a| {
                let arn = a.iam_instance_profile().and_then(|p| p.arn())?;
                Some((a.instance_id()?.to_string(), profile_name(arn).to_string()))
            })
            .collect())
    }

    /// The profile associations of the instances `ids` that hold (or are about to
    /// hold) their profile: one call per 200 instances.
    async fn current_associations(
        &self,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<Vec<IamInstanceProfileAssociation>, ProviderError> {
        let ids: Vec<String> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let associations: Vec<IamInstanceProfileAssociation> =
            describe_each(id_filters("instance-id", ids), |filter| async move {
                paginated!(
                    self.ec2.describe_iam_instance_profile_associations().filters(filter),
                    "DescribeIamInstanceProfileAssociations"
                )
            })
            .await?;
        Ok(associations.into_iter().filter(is_current).collect())
    }

    /// A live instance as stackup reports it.
    async fn resource(
        &self,
        picked: Picked<'_>,
        instance: &Ec2Instance,
        profile: Option<String>,
    ) -> Result<LiveResource, ProviderError> {
        Ok(LiveResource {
            urn: picked.urn,
            inputs: self.live_inputs(instance, picked.recorded, profile).await?,
            outputs: outputs(instance),
            id: picked.id,
        })
    }

    /// The instance `id`, unless it is gone.
    async fn one(&self, id: &str) -> Result<Ec2Instance, ProviderError> {
        self.describe(id_filters("instance-id", [id.to_string()]))
            .await?
            .into_iter()
            .find(|i| !is_gone(i))
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("instance {id} is gone")))
    }

    async fn wait_running(&self, id: &str) -> Result<(), ProviderError> {
        self.wait_state(id, InstanceStateName::Running).await
    }

    /// Polls the instance until it is in `wanted` (`Running`, `Stopped` or
    /// `Terminated`; an instance no longer described counts as terminated). The
    /// states each wait cannot end from are those of the SDK's own waiters.
    async fn wait_state(&self, id: &str, wanted: InstanceStateName) -> Result<(), ProviderError> {
        use InstanceStateName as S;
        let terminating = wanted == S::Terminated;
        wait::until(
            &format!("instance {id}"),
            wanted.as_str(),
            INSTANCE_PATIENCE,
            || async {
                let described = self
                    .ec2
                    .describe_instances()
                    .instance_ids(id)
                    .send()
                    .await
                    .map_err(|e| classify("DescribeInstances", e));
                let state = match described {
                    Ok(out) => out
                        .reservations()
                        .iter()
                        .flat_map(|r| r.instances())
                        .find_map(|i| i.state().and_then(|s| s.name()).cloned()),
                    Err(e) if terminating && e.kind == ErrorKind::NotFound => None,
                    Err(e) => return Err(e),
                };
                let cannot_leave = match wanted {
                    S::Running => matches!(state, Some(S::ShuttingDown | S::Terminated | S::Stopping)),
                    S::Stopped => matches!(state, Some(S::Pending | S::Terminated)),
                    _ => false,
                };
                Ok(match state {
                    Some(s) if s == wanted => Poll::Ready(()),
                    None if terminating => Poll::Ready(()),
                    None => Poll::Pending("not described yet".to_string()),
                    Some(s) if cannot_leave => Poll::Failed(format!("it is {}", s.as_str())),
                    Some(s) => Poll::Pending(s.as_str().to_string()),
                })
            },
        )
        .await
    }

    /// The decoded user data of an instance (empty when it has none).
    async fn user_data(&self, id: &str) -> Result<String, ProviderError> {
        let out = self
            .ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .map_err(|e| classify("DescribeInstanceAttribute", e))?;
        Ok(out
            .user_data()
            .and_then(|v| v.value())
            .map(|b64| match base64::decode(b64) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => b64.to_string(),
            })
            .unwrap_or_default())
    }

    /// Stops the instance, changes its type and starts it again: the only way AWS
    /// allows.
    async fn change_type(&self, id: &str, instance_type: &str) -> Result<(), ProviderError> {
        self.ec2
            .stop_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(|e| classify("StopInstances", e))?;
        self.wait_state(id, InstanceStateName::Stopped).await?;
        self.ec2
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(instance_type).build())
            .send()
            .await
            .map_err(|e| classify("ModifyInstanceAttribute", e))?;
        self.ec2
            .start_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(|e| classify("StartInstances", e))?;
        self.wait_running(id).await
    }

    /// Gives the running instance the profile `name` (none: takes its profile away), in
    /// place: AWS allows one association per instance, which is replaced rather than
    /// removed and made again, so the instance never runs without credentials. A
    /// profile created moments ago is refused until IAM has propagated it.
    async fn set_profile(&self, id: &str, name: Option<&str>) -> Result<(), ProviderError> {
        let current = self
            .current_associations([id.to_string()])
            .await?
            .into_iter()
            .find_map(|a| a.association_id);
        let spec = |name: &str| IamInstanceProfileSpecification::builder().name(name).build();
        match (current, name) {
            (Some(association), Some(name)) => {
                crate::common::while_iam_propagates("changing an instance's profile", || async {
                    self.ec2
                        .replace_iam_instance_profile_association()
                        .association_id(&association)
                        .iam_instance_profile(spec(name))
                        .send()
                        .await
                        .map_err(|e| classify("ReplaceIamInstanceProfileAssociation", e))
                })
                .await?;
            }
            (None, Some(name)) => {
                crate::common::while_iam_propagates("giving an instance a profile", || async {
                    self.ec2
                        .associate_iam_instance_profile()
                        .instance_id(id)
                        .iam_instance_profile(spec(name))
                        .send()
                        .await
                        .map_err(|e| classify("AssociateIamInstanceProfile", e))
                })
                .await?;
            }
            (Some(association), None) => {
                self.ec2
                    .disassociate_iam_instance_profile()
                    .association_id(&association)
                    .send()
                    .await
                    .map_err(|e| classify("DisassociateIamInstanceProfile", e))?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// The user tags of the instance's volumes follow the instance's, as at launch.
    async fn sync_volume_tags(&self, req: &UpdateRequest) -> Result<(), ProviderError> {
        let volumes: Vec<Volume> = paginated!(
            self.ec2
                .describe_volumes()
                .filters(Filter::builder().name("attachment.instance-id").values(&req.id).build()),
            "DescribeVolumes"
        )?;
        for volume in volumes {
            if let Some(volume_id) = volume.volume_id() {
                tags::sync_ec2(
                    &self.ec2,
                    volume_id,
                    &req.stack,
                    &req.urn,
                    &req.old_inputs,
                    &req.new_inputs,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The managed inputs of a live instance, normalised like `check` output.
    /// `recorded` is what state holds, for a read (none for a list).
    async fn live_inputs(
        &self,
        instance: &Ec2Instance,
        recorded: Option<&Properties>,
        profile: Option<String>,
    ) -> Result<Properties, ProviderError> {
        let id = instance.instance_id().unwrap_or_default();
        let live_image = instance.image_id().unwrap_or_default();
        // AWS launched the AMI the parameter named then: that is its resolution, not
        // a change, so the declared parameter is what compares.
        let image = match recorded.and_then(|r| r.get("image_id")).and_then(Value::as_str) {
            Some(declared) if declared.starts_with(SSM_PREFIX) => declared,
            _ => live_image,
        };
        let mut groups: Vec<String> = instance
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        groups.sort();
        groups.dedup();
        let monitoring = matches!(
            instance.monitoring().and_then(|m| m.state()),
            Some(MonitoringState::Enabled | MonitoringState::Pending)
        );
        Ok(props([
            ("image_id", image.into()),
            (
                "instance_type",
                instance.instance_type().map(|t| t.as_str()).unwrap_or_default().into(),
            ),
            ("subnet_id", instance.subnet_id().unwrap_or_default().into()),
            ("security_group_ids", groups.into()),
            (
                "key_name",
                instance
                    .key_name()
                    .filter(|k| !k.is_empty())
                    .map_or(Value::Null, Value::from),
            ),
            ("iam_instance_profile", profile.map_or(Value::Null, Value::String)),
            ("detailed_monitoring", monitoring.into()),
            // DescribeInstances does not carry user data: one call per instance.
            ("user_data", self.user_data(id).await?.into()),
            ("tags", tags::live_ec2(instance.tags())),
        ]))
    }
}

#[async_trait]
impl Provider for Instance {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let mut inputs = req.inputs;
        let mut failures = Vec::new();
        check_image(&inputs, &mut failures);
        check_instance_type(&inputs, &mut failures);
        if !inputs
            .get("subnet_id")
            .is_some_and(|v| !is_known(v) || v.as_str().is_some_and(|s| !s.is_empty()))
        {
            failures.push(CheckFailure {
                property: "subnet_id".into(),
                reason: "is required".into(),
            });
        }
        sort_known_ids(&mut inputs, "security_group_ids", &mut failures);
        // Without a group AWS attaches the VPC's default one, which would then read
        // back as a difference on every refresh.
        if inputs
            .get("security_group_ids")
            .and_then(Value::as_list)
            .is_some_and(|l| l.is_empty())
        {
            failures.push(CheckFailure {
                property: "security_group_ids".into(),
                reason: "needs at least one security group".into(),
            });
        }
        check_key_name(&mut inputs, &mut failures);
        inputs.entry("detailed_monitoring".into()).or_insert(Value::Bool(false));
        let user_data = inputs
            .entry("user_data".into())
            .or_insert_with(|| Value::String(String::new()));
        match user_data.as_str() {
            Some(u) if u.len() > USER_DATA_MAX => failures.push(CheckFailure {
                property: "user_data".into(),
                reason: format!("is {} bytes; AWS accepts at most {USER_DATA_MAX}", u.len()),
            }),
            Some(_) => {}
            None => failures.push(CheckFailure {
                property: "user_data".into(),
                reason: "must be a string".into(),
            }),
        }
        checked(inputs, failures)
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let token = client_token(&req.token, CLIENT_TOKEN_MAX);
        let mine = self
            .describe(vec![
                Filter::builder()
                    .name(format!("tag:{URN_TAG}"))
                    .values(req.urn.as_str())
                    .build(),
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            ])
            .await?;
        if let Some(id) = mine
            .iter()
            .find(|i| i.client_token() == Some(token.as_str()))
            .and_then(|i| i.instance_id())
        {
            self.wait_running(id).await?;
            let instance = self.one(id).await?;
            return Ok(CreateResponse {
                outputs: outputs(&instance),
                id: id.to_string(),
            });
        }
        let tags = tags::with_stackup(&req.stack, &req.urn, &req.inputs);
        let mut run = self
            .ec2
            .run_instances()
            .image_id(str_of(&req.inputs, "image_id")?)
            .instance_type(InstanceType::from(str_of(&req.inputs, "instance_type")?))
            .min_count(1)
            .max_count(1)
            .subnet_id(str_of(&req.inputs, "subnet_id")?)
            .set_security_group_ids(Some(strings_of(&req.inputs, "security_group_ids")))
            .monitoring(
                RunInstancesMonitoringEnabled::builder()
                    .enabled(bool_of(&req.inputs, "detailed_monitoring"))
                    .build(),
            )
            .client_token(&token)
            .tag_specifications(tags::ec2_spec(ResourceType::Instance, &tags))
            .tag_specifications(tags::ec2_spec(ResourceType::Volume, &tags));
        if let Some(key) = opt_str(&req.inputs, "key_name") {
            run = run.key_name(key);
        }
        if let Some(profile) = opt_str(&req.inputs, "iam_instance_profile") {
            run = run.iam_instance_profile(IamInstanceProfileSpecification::builder().name(profile).build());
        }
        if let Some(user_data) = opt_str(&req.inputs, "user_data") {
            run = run.user_data(base64::encode(user_data));
        }
        // A profile created moments ago is refused until IAM has propagated it to EC2.
        let out = crate::common::while_iam_propagates("launching an instance", || async {
            run.clone().send().await.map_err(|e| classify("RunInstances", e))
        })
        .await?;
        let id = out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .ok_or_else(|| ProviderError::invalid("RunInstances returned no instance id"))?
            .to_string();
        // From here the instance exists: one that never runs is recorded tainted.
        self.wait_running(&id).await.map_err(|e| e.created(&id))?;
        // The public address is assigned while the instance starts.
        let instance = self.one(&id).await?;
        Ok(CreateResponse {
            outputs: outputs(&instance),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        Ok(ReadResponse {
            found: self.found(&Wanted::read(&req.targets)).await?,
        })
    }

    /// The instances an Auto Scaling group launched carry the stack's tags too, but
    /// the group's URN: `Wanted::pick` leaves them to the group.
    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        Ok(Some(ListResponse {
            found: self.found(&Wanted::list(&req, TYPE)).await?,
        }))
    }

    fn list_reads(&self) -> bool {
        true
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        if changed(&req.changed, "security_group_ids") {
            self.ec2
                .modify_instance_attribute()
                .instance_id(&req.id)
                .set_groups(Some(strings_of(&req.new_inputs, "security_group_ids")))
                .send()
                .await
                .map_err(|e| classify("ModifyInstanceAttribute", e))?;
        }
        if changed(&req.changed, "instance_type") {
            self.change_type(&req.id, str_of(&req.new_inputs, "instance_type")?)
                .await?;
        }
        if changed(&req.changed, "iam_instance_profile") {
            self.set_profile(&req.id, opt_str(&req.new_inputs, "iam_instance_profile"))
                .await?;
        }
        if changed(&req.changed, "detailed_monitoring") {
            if bool_of(&req.new_inputs, "detailed_monitoring") {
                self.ec2
                    .monitor_instances()
                    .instance_ids(&req.id)
                    .send()
                    .await
                    .map_err(|e| classify("MonitorInstances", e))?;
            } else {
                self.ec2
                    .unmonitor_instances()
                    .instance_ids(&req.id)
                    .send()
                    .await
                    .map_err(|e| classify("UnmonitorInstances", e))?;
            }
        }
        if update_tags(&self.ec2, &req).await? {
            self.sync_volume_tags(&req).await?;
        }
        // A stop and start gives the instance a new public address.
        let instance = self.one(&req.id).await?;
        Ok(UpdateResponse {
            outputs: outputs(&instance),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let terminated = self
            .ec2
            .terminate_instances()
            .instance_ids(&req.id)
            .send()
            .await
            .map_err(|e| classify("TerminateInstances", e));
        match terminated {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        self.wait_state(&req.id, InstanceStateName::Terminated).await
    }
}
