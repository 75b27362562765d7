//! The data tier: PostgreSQL on RDS in the private subnets, the session table in
//! DynamoDB, the shared product-image store on EFS, and the static-asset bucket.

use std::collections::BTreeMap;

use stackup_aws::dynamodb::TableArgs;
use stackup_aws::efs::{AccessPointArgs, FileSystemArgs, MountTargetArgs};
use stackup_aws::rds::{DbInstanceArgs, DbSubnetGroupArgs};
use stackup_aws::s3::{BucketArgs, Website};
use stackup_model::{Handle, StackBuilder};

use crate::network::Network;
use crate::{Platform, StackConfig};

/// What the other tiers need from the data tier.
pub struct Data {
    pub db: Handle<DbInstanceArgs>,
    pub table: Handle<TableArgs>,
    pub file_system: Handle<FileSystemArgs>,
    pub access_point: Handle<AccessPointArgs>,
    pub bucket: Handle<BucketArgs>,
    /// The file system's mount targets: web servers mount it at boot.
    pub mount_targets: Vec<stackup_model::Urn>,
}

fn name_tag(stack: &StackBuilder, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("Name".to_string(), format!("{}-{name}", stack.stack()))])
}

pub fn declare(stack: &mut StackBuilder, config: &StackConfig, platform: Platform<'_>, net: &Network) -> Data {
    let s = stack.stack().to_string();
    let db_config = platform.database;

    // The database lives in the private subnets, reachable only through its group.
    let subnet_group = stack.declare(
        "db-subnets",
        DbSubnetGroupArgs {
            name: format!("{s}-db"),
            description: format!("Private subnets of the {s} database"),
            subnet_ids: net.private_subnets.iter().map(|h| h.id()).collect(),
            tags: name_tag(stack, "db-subnets"),
        },
    );
    let db = stack.declare(
        "db",
        DbInstanceArgs {
            identifier: format!("{s}-db"),
            engine: "postgres".into(),
            engine_version: db_config.engine_version.clone(),
            instance_class: db_config.instance_class.clone(),
            allocated_storage_gb: db_config.allocated_storage_gb,
            storage_encrypted: true,
            db_subnet_group_name: subnet_group.output("name"),
            vpc_security_group_ids: vec![net.db_sg.id()],
            multi_az: db_config.multi_az,
            publicly_accessible: false,
            backup_retention_days: db_config.backup_retention_days,
            backup_window: db_config.backup_window.clone(),
            maintenance_window: db_config.maintenance_window.clone(),
            deletion_protection: db_config.deletion_protection,
            skip_final_snapshot: db_config.skip_final_snapshot,
            final_snapshot_prefix: format!("{s}-db-final"),
            master_username: db_config.master_username.clone(),
            apply_immediately: db_config.apply_immediately,
            allow_replacement: db_config.allow_replacement,
            tags: name_tag(stack, "db"),
        },
    );

    // Sessions expire by themselves (TTL) and can be restored to any second of the last
    // 35 days (point-in-time recovery).
    let table = stack.declare(
        "sessions",
        TableArgs {
            name: format!("{s}-sessions"),
            hash_key: "session_id".into(),
            hash_key_type: "S".into(),
            ttl_attribute: Some(platform.storage.session_ttl_attribute.clone()),
            point_in_time_recovery: true,
            tags: name_tag(stack, "sessions"),
        },
    );

    // Product images shared by every web server: one mount target per private subnet.
    let file_system = stack.declare(
        "images",
        FileSystemArgs {
            encrypted: true,
            performance_mode: "generalPurpose".into(),
            throughput_mode: "bursting".into(),
            tags: name_tag(stack, "images"),
        },
    );
    let mut mount_targets = Vec::new();
    if let Some(efs_sg) = &net.efs_sg {
        for (subnet, zone) in net.private_subnets.iter().zip(&config.network.availability_zones) {
            let target = stack.declare(
                &format!(
                    "images-mt-{}",
                    zone.chars().last().map(String::from).unwrap_or_default()
                ),
                MountTargetArgs {
                    file_system_id: file_system.id(),
                    subnet_id: subnet.id(),
                    security_group_ids: vec![efs_sg.id()],
                },
            );
            mount_targets.push(target.urn().clone());
        }
    }
    let access_point = stack.declare(
        "images-ap",
        AccessPointArgs {
            file_system_id: file_system.id(),
            uid: 1000,
            gid: 1000,
            path: "/images".into(),
            permissions: "0755".into(),
            tags: name_tag(stack, "images-ap"),
        },
    );

    let storage = platform.storage;
    let bucket = stack.declare(
        "assets",
        BucketArgs {
            name: storage.assets_bucket.clone(),
            versioning: true,
            encryption: "AES256".into(),
            block_public_access: !storage.public_website,
            website: storage.public_website.then(|| Website {
                index_document: "index.html".into(),
                error_document: "error.html".into(),
            }),
            force_destroy: storage.force_destroy,
            tags: name_tag(stack, "assets"),
        },
    );

    Data {
        db,
        table,
        file_system,
        access_point,
        bucket,
        mount_targets,
    }
}
