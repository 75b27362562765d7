//! Deferred RDS modifications (`moto_workarounds = ["deferred_db_modifications"]`).
//!
//! **AWS.** ModifyDBInstance's ApplyImmediately "specifies whether the modifications
//! in this request and any pending modifications are asynchronously applied as soon as
//! possible, regardless of the PreferredMaintenanceWindow setting for the DB instance.
//! By default, this parameter is disabled. If this parameter is disabled, changes to
//! the DB instance are applied during the next maintenance window" (RDS API Reference,
//! ModifyDBInstance, ApplyImmediately,
//! https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html;
//! which settings wait: Amazon RDS User Guide, "Settings for DB instances",
//! https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ModifyInstance.Settings.html).
//! Until then the instance stays `available`, keeps its old values, and shows the
//! requested ones under `PendingModifiedValues` (RDS API Reference, DBInstance and
//! PendingModifiedValues). The settings in [`DEFERRED`] wait; the rest of a request
//! (backup and maintenance windows, retention, security groups, deletion protection,
//! ...) applies at once, as `crates/aws/src/rds/instance.rs` expects too.
//!
//! **moto 5.2.1** applies every parameter at once (`RDSBackend.modify_db_instance`,
//! moto/rds/models.py, ends in `database.update(**db_kwargs)` whatever
//! ApplyImmediately says), and its DBInstance answers carry no PendingModifiedValues.
//!
//! **The proxy** takes the [`DEFERRED`] parameters out of a ModifyDBInstance without
//! `ApplyImmediately=true`, forwards the rest, and once moto accepted it remembers them
//! for the instance (by region and identifier; a later deferred value replaces an
//! earlier one of the same setting). It adds them as PendingModifiedValues to that
//! answer and to every later answer that shows the instance ([`SHOWN_BY`]). A
//! ModifyDBInstance with `ApplyImmediately=true` carries the pending values along (its
//! own parameters win) and clears them once moto accepted it; a DeleteDBInstance
//! clears them. A deferred DB subnet group must exist, as RDS checks at once
//! (DBSubnetGroupNotFoundFault). The "modifying" lifecycle phase starts only with
//! ApplyImmediately (`world.rs`). What is left different from AWS: the maintenance
//! window never comes (the values stay pending until an immediate modify or the
//! delete), and a deferred NewDBInstanceIdentifier applies at once, as moto does it
//! (the pending values follow the instance to its new name).

use std::collections::HashMap;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response};

use crate::fixes::{call_moto, form_body, xml_response};
use crate::request::{form_pairs, Call};
use crate::xml::{self, Doc, Edits};
use crate::{Body, Shared};

/// ModifyDBInstance parameters that wait for the maintenance window unless applied
/// immediately; each is also the name of its element in PendingModifiedValues.
pub(crate) const DEFERRED: &[&str] = &[
    "DBInstanceClass",
    "AllocatedStorage",
    "EngineVersion",
    "MultiAZ",
    "DBSubnetGroupName",
];

/// RDS actions whose answers show DB instances, and so their pending values.
const SHOWN_BY: &[&str] = &[
    "DescribeDBInstances",
    "ModifyDBInstance",
    "RebootDBInstance",
    "StartDBInstance",
    "StopDBInstance",
];

/// Whether a ModifyDBInstance applies at once (`ApplyImmediately=true`; the SDKs send
/// `true` or `false`, and leave it out by default).
pub(crate) fn applies_immediately(call: &Call) -> bool {
    call.params.iter().any(|(k, v)| k == "ApplyImmediately" && v == "true")
}

/// The region a request is signed for: the SigV4 credential scope's third part.
pub(crate) fn region_of(parts: &Parts) -> String {
    parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .and_then(|scope| scope.split('/').nth(2))
        .unwrap_or_default()
        .to_string()
}

/// The modifications waiting for the maintenance window, per instance.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// `region/identifier` -> (parameter, value), in the order first requested.
    by_instance: HashMap<String, Vec<(String, String)>>,
}

fn key(region: &str, id: &str) -> String {
    format!("{region}/{id}")
}

impl Pending {
    pub(crate) fn of(&self, region: &str, id: &str) -> Option<&[(String, String)]> {
        self.by_instance.get(&key(region, id)).map(Vec::as_slice)
    }

    /// What a ModifyDBInstance (its form, decoded) becomes; `None` when it goes to moto
    /// as it came and nothing is to be remembered.
    pub(crate) fn plan(&self, region: &str, form: &[(String, String)]) -> Option<Modify> {
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let id = get("DBInstanceIdentifier").filter(|id| !id.is_empty())?;
        let renamed = get("NewDBInstanceIdentifier").filter(|n| !n.is_empty() && *n != id);
        let pending = self.of(region, &id).unwrap_or_default();
        let immediately = get("ApplyImmediately").as_deref() == Some("true");
        let plan = if immediately {
            let mut merged = form.to_vec();
            for (k, v) in pending {
                if !form.iter().any(|(f, _)| f == k) {
                    merged.push((k.clone(), v.clone()));
                }
            }
            Modify {
                region: region.to_string(),
                id,
                renamed,
                form: (!pending.is_empty()).then_some(merged),
                defer: Vec::new(),
                applies_pending: !pending.is_empty(),
            }
        } else {
            let (defer, kept): (Vec<_>, Vec<_>) =
                form.iter().cloned().partition(|(k, _)| DEFERRED.contains(&k.as_str()));
            Modify {
                region: region.to_string(),
                id,
                renamed,
                form: (!defer.is_empty()).then_some(kept),
                defer,
                applies_pending: false,
            }
        };
        let moves = plan.renamed.is_some() && !pending.is_empty();
        (plan.form.is_some() || moves).then_some(plan)
    }

    /// Moto accepted the (reshaped) ModifyDBInstance: remember what waits, forget what
    /// was applied, and follow a rename.
    pub(crate) fn accepted(&mut self, plan: &Modify) {
        let old = key(&plan.region, &plan.id);
        if plan.applies_pending {
            self.by_instance.remove(&old);
        }
        if !plan.defer.is_empty() {
            let entry = self.by_instance.entry(old.clone()).or_default();
            for (k, v) in &plan.defer {
                match entry.iter_mut().find(|(e, _)| e == k) {
                    Some(slot) => slot.1 = v.clone(),
                    None => entry.push((k.clone(), v.clone())),
                }
            }
        }
        if let Some(new) = &plan.renamed {
            if let Some(values) = self.by_instance.remove(&old) {
                self.by_instance.insert(key(&plan.region, new), values);
            }
        }
    }

    /// The instance is gone (DeleteDBInstance): nothing of it is pending any more.
    pub(crate) fn forget(&mut self, region: &str, id: &str) {
        self.by_instance.remove(&key(region, id));
    }
}

/// A ModifyDBInstance as the proxy forwards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Modify {
    region: String,
    id: String,
    renamed: Option<String>,
    /// The form to send instead of the request's, if it changed.
    pub form: Option<Vec<(String, String)>>,
    /// The settings that wait, to remember once moto accepted the rest.
    pub defer: Vec<(String, String)>,
    /// Whether it carries the pending values (immediate), to forget once accepted.
    applies_pending: bool,
}

/// Before forwarding a ModifyDBInstance: the plan and the body to send instead (its
/// headers fixed in `parts`), or the answer RDS gives at once (a deferred subnet group
/// that does not exist); `Ok(None)` forwards the request as it came.
pub(crate) async fn before_modify(
    shared: &Shared,
    parts: &mut Parts,
    body: &Bytes,
) -> Result<Option<(Modify, Bytes)>, Response<Body>> {
    let region = region_of(parts);
    let form = form_pairs(&String::from_utf8_lossy(body));
    let plan = shared.lock().deferred.plan(&region, &form);
    let Some(plan) = plan else { return Ok(None) };
    if let Some((_, group)) = plan.defer.iter().find(|(k, _)| k == "DBSubnetGroupName") {
        let check = [
            ("Action".to_string(), "DescribeDBSubnetGroups".to_string()),
            ("Version".to_string(), "2014-10-31".to_string()),
            ("DBSubnetGroupName".to_string(), group.clone()),
        ];
        match call_moto(shared, parts, &check).await {
            Ok((status, answer)) if !(200..300).contains(&status) => return Err(xml_response(status, answer)),
            // Found, or moto could not be asked: the forward will tell.
            _ => {}
        }
    }
    let bytes = match &plan.form {
        Some(form) => {
            let text = form_body(form);
            if let Ok(v) = HeaderValue::from_str(&text.len().to_string()) {
                parts.headers.insert(http::header::CONTENT_LENGTH, v);
            }
            // The body changed: its signed hash no longer holds (moto checks neither).
            parts.headers.remove("x-amz-content-sha256");
            Bytes::from(text)
        }
        None => body.clone(),
    };
    Ok(Some((plan, bytes)))
}

/// After moto answered an RDS call: remembers or forgets pending values, and adds
/// them to the DB instances the answer shows. The new body, if it changed.
pub(crate) fn after(
    shared: &Shared,
    region: &str,
    call: &Call,
    status: u16,
    body: &str,
    modify: Option<&Modify>,
) -> Option<String> {
    if !(200..300).contains(&status) {
        return None;
    }
    let mut state = shared.lock();
    if let Some(plan) = modify {
        state.deferred.accepted(plan);
    }
    if call.action == "DeleteDBInstance" {
        if let Some((_, id)) = call.params.iter().find(|(k, _)| k == "DBInstanceIdentifier") {
            state.deferred.forget(region, id);
        }
        return None;
    }
    if !SHOWN_BY.contains(&call.action.as_str()) {
        return None;
    }
    inject(&state.deferred, region, body)
}

/// Adds each shown instance's pending values to its PendingModifiedValues (made where
/// AWS puts it, after PreferredMaintenanceWindow, when moto sent none).
pub(crate) fn inject(pending: &Pending, region: &str, body: &str) -> Option<String> {
    if pending.by_instance.is_empty() {
        return None;
    }
    let doc = Doc::parse(body)?;
    let mut edits = Edits::default();
    for instance in doc.named("DBInstance") {
        let Some(id) = doc.child_text(instance, &["DBInstanceIdentifier"]) else {
            continue;
        };
        let Some(values) = pending.of(region, &id).filter(|v| !v.is_empty()) else {
            continue;
        };
        match doc.path(instance, &["PendingModifiedValues"]) {
            Some(existing) => {
                let mut added = String::new();
                for (k, v) in values {
                    match doc.path(existing, &[k.as_str()]) {
                        Some(slot) => edits.set_text(&doc, slot, v),
                        None => added.push_str(&element(k, v)),
                    }
                }
                if !added.is_empty() {
                    xml::append_child(&mut edits, &doc, existing, &added);
                }
            }
            None => {
                let raw = format!(
                    "<PendingModifiedValues>{}</PendingModifiedValues>",
                    values.iter().map(|(k, v)| element(k, v)).collect::<String>()
                );
                match doc.path(instance, &["PreferredMaintenanceWindow"]) {
                    Some(window) => edits.insert(doc.elems[window].outer.end, &raw),
                    None => xml::append_child(&mut edits, &doc, instance, &raw),
                }
            }
        }
    }
    (!edits.is_empty()).then(|| edits.apply(body))
}

fn element(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", xml::escape(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defers_then_applies_with_the_new_request_winning() {
        let mut pending = Pending::default();
        let deferred = form(&[
            ("Action", "ModifyDBInstance"),
            ("DBInstanceIdentifier", "db1"),
            ("DBInstanceClass", "db.t3.small"),
            ("AllocatedStorage", "30"),
            ("BackupRetentionPeriod", "3"),
        ]);
        let plan = pending.plan("us-east-1", &deferred).expect("reshaped");
        assert_eq!(
            plan.form.as_deref(),
            Some(
                &form(&[
                    ("Action", "ModifyDBInstance"),
                    ("DBInstanceIdentifier", "db1"),
                    ("BackupRetentionPeriod", "3")
                ])[..]
            )
        );
        pending.accepted(&plan);
        assert_eq!(pending.of("us-east-1", "db1").map(<[_]>::len), Some(2));
        assert!(pending.of("eu-west-1", "db1").is_none(), "per region");

        let immediate = form(&[
            ("Action", "ModifyDBInstance"),
            ("DBInstanceIdentifier", "db1"),
            ("AllocatedStorage", "40"),
            ("ApplyImmediately", "true"),
        ]);
        let plan = pending.plan("us-east-1", &immediate).expect("merged");
        let sent = plan.form.clone().expect("a new form");
        let get = |k: &str| {
            sent.iter()
                .filter(|(a, _)| a == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("AllocatedStorage"), ["40"], "the request's own value wins");
        assert_eq!(get("DBInstanceClass"), ["db.t3.small"]);
        pending.accepted(&plan);
        assert!(pending.of("us-east-1", "db1").is_none());
        assert_eq!(pending.plan("us-east-1", &immediate), None, "nothing left to carry");
    }

    #[test]
    fn pending_values_are_added_where_aws_puts_them() {
        let mut pending = Pending::default();
        let plan = pending
            .plan(
                "r",
                &form(&[("DBInstanceIdentifier", "db1"), ("DBInstanceClass", "db.t3.small")]),
            )
            .expect("deferred");
        pending.accepted(&plan);
        let body = "<R><DBInstances><DBInstance><DBInstanceIdentifier>db1</DBInstanceIdentifier><DBInstanceClass>db.t3.micro</DBInstanceClass><PreferredMaintenanceWindow>wed:06:38-wed:07:08</PreferredMaintenanceWindow><MultiAZ>false</MultiAZ></DBInstance><DBInstance><DBInstanceIdentifier>db2</DBInstanceIdentifier></DBInstance></DBInstances></R>";
        let out = inject(&pending, "r", body).expect("rewritten");
        assert!(out.contains("<PreferredMaintenanceWindow>wed:06:38-wed:07:08</PreferredMaintenanceWindow><PendingModifiedValues><DBInstanceClass>db.t3.small</DBInstanceClass></PendingModifiedValues><MultiAZ>"), "{out}");
        assert!(
            out.contains("<DBInstanceClass>db.t3.micro</DBInstanceClass>"),
            "the live value stays"
        );
        assert_eq!(out.matches("PendingModifiedValues").count(), 2, "db2 has none");
        assert!(Doc::parse(&out).is_some());

        // One moto (or a later version) already sent is completed, not doubled.
        let existing = "<R><DBInstance><DBInstanceIdentifier>db1</DBInstanceIdentifier><PendingModifiedValues><DBInstanceClass>x</DBInstanceClass><Port>1</Port></PendingModifiedValues></DBInstance></R>";
        let out = inject(&pending, "r", existing).expect("rewritten");
        assert!(out.contains("<PendingModifiedValues><DBInstanceClass>db.t3.small</DBInstanceClass><Port>1</Port></PendingModifiedValues>"), "{out}");
        let empty =
            "<R><DBInstance><DBInstanceIdentifier>db1</DBInstanceIdentifier><PendingModifiedValues/></DBInstance></R>";
        let out = inject(&pending, "r", empty).expect("rewritten");
        assert!(
            out.contains(
                "<PendingModifiedValues><DBInstanceClass>db.t3.small</DBInstanceClass></PendingModifiedValues>"
            ),
            "{out}"
        );

        pending.forget("r", "db1");
        assert_eq!(inject(&pending, "r", body), None);
    }

    #[test]
    fn a_rename_carries_the_pending_values_along() {
        let mut pending = Pending::default();
        let plan = pending
            .plan("r", &form(&[("DBInstanceIdentifier", "a"), ("MultiAZ", "true")]))
            .expect("deferred");
        pending.accepted(&plan);
        let rename = form(&[("DBInstanceIdentifier", "a"), ("NewDBInstanceIdentifier", "b")]);
        let plan = pending.plan("r", &rename).expect("follows the rename");
        assert_eq!(plan.form, None, "sent as it came");
        pending.accepted(&plan);
        assert!(pending.of("r", "a").is_none());
        assert_eq!(pending.of("r", "b"), Some(&form(&[("MultiAZ", "true")])[..]));
    }
}
