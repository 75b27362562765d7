//! What a request is: its service, action, wire protocol, and the resource ids it names.
//!
//! Everything here reads only what the SDK puts on the wire: the SigV4 credential scope
//! for the service, `X-Amz-Target` or `Action=` for the action, and for REST services
//! (S3, EFS) the method and the shape of the path.

use http::request::Parts;
use http::Method;

/// How a service speaks, which decides the shape of the errors the proxy invents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// EC2's own query dialect: `<Response><Errors><Error>`.
    Ec2,
    /// awsQuery (ELBv2, Auto Scaling, RDS, IAM, SNS, CloudWatch): `<ErrorResponse>`.
    Query,
    /// awsJson with `X-Amz-Target` (DynamoDB, Logs, Secrets Manager); the request's
    /// content type, echoed in errors.
    Json(String),
    /// restJson (EFS and the like): the error type in `x-amzn-ErrorType`.
    RestJson,
    /// restXml S3: `<Error><Code>`.
    S3,
}

/// One classified request.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub service: String,
    pub action: String,
    pub protocol: Protocol,
    /// Request parameters by name (form fields, top-level JSON strings): where a create
    /// names what it creates (`DBInstanceIdentifier`, `TableName`, ...).
    pub params: Vec<(String, String)>,
    /// Values that may name a resource: form values outside `Filter.*`, JSON strings,
    /// REST path segments and query values. A call without any is list-style.
    pub ids: Vec<String>,
}

/// The service a request is signed for: the credential scope's fourth part, from the
/// `Authorization` header or a presigned URL's `X-Amz-Credential`.
pub(crate) fn service_of(parts: &Parts) -> String {
    let from_header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or_default().to_string());
    let from_query = || {
        parts.uri.query().and_then(|q| {
            form_pairs(q)
                .into_iter()
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v)
        })
    };
    from_header
        .or_else(from_query)
        .and_then(|scope| scope.split('/').nth(3).map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Classifies a request; `body` is the buffered body (None when streamed: S3).
pub(crate) fn classify(parts: &Parts, service: String, body: Option<&[u8]>) -> Call {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = parts.uri.path().to_string();
    let query = form_pairs(parts.uri.query().unwrap_or_default());
    let body_text = body.map(|b| String::from_utf8_lossy(b).into_owned());

    if service == "s3" {
        let action = s3_action(&parts.method, &path, &query, header("x-amz-copy-source"));
        // The bucket is the only id S3 calls name that the proxy tracks.
        let ids = path_segments(&path).into_iter().take(1).collect();
        return Call {
            service,
            action,
            protocol: Protocol::S3,
            params: Vec::new(),
            ids,
        };
    }

    if let Some(target) = header("x-amz-target") {
        let action = target.rsplit('.').next().unwrap_or(&target).to_string();
        let content_type = header("content-type").unwrap_or_else(|| {
            if service == "dynamodb" {
                "application/x-amz-json-1.0".to_string()
            } else {
                "application/x-amz-json-1.1".to_string()
            }
        });
        let (params, ids) = json_values(body_text.as_deref().unwrap_or_default());
        return Call {
            service,
            action,
            protocol: Protocol::Json(content_type),
            params,
            ids,
        };
    }

    let is_form = header("content-type")
        .map(|c| c.starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(false);
    let mut form = query.clone();
    if is_form || body_text.as_deref().is_some_and(|b| b.contains("Action=")) {
        form.extend(form_pairs(body_text.as_deref().unwrap_or_default()));
    }
    if let Some(action) = form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.clone()) {
        let ids = form
            .iter()
            .filter(|(k, _)| !is_meta_param(k))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .collect();
        let protocol = if service == "ec2" {
            Protocol::Ec2
        } else {
            Protocol::Query
        };
        return Call {
            service,
            action,
            protocol,
            params: form,
            ids,
        };
    }

    let action = if service == "elasticfilesystem" {
        efs_action(&parts.method, &path)
    } else {
        None
    }
    .unwrap_or_else(|| parts.method.as_str().to_string());
    let mut ids: Vec<String> = path_segments(&path);
    ids.extend(query.iter().map(|(_, v)| v.clone()));
    // Query parameters (`FileSystemId=fs-...`) and, for creates, the body's top-level
    // strings (`FileSystemId` of CreateMountTarget) are the call's parameters.
    let (mut params, body_ids) = json_values(body_text.as_deref().unwrap_or_default());
    ids.extend(body_ids);
    params.extend(query);
    Call {
        service,
        action,
        protocol: Protocol::RestJson,
        params,
        ids,
    }
}

/// Parameters that never name a resource: the action and version, and filters (a
/// filtered Describe answers an empty list on AWS, never not-found).
fn is_meta_param(key: &str) -> bool {
    key == "Action"
        || key == "Version"
        || key.starts_with("Filter.")
        || key.starts_with("Filters.")
        || key == "MaxResults"
        || key == "NextToken"
        || key == "Marker"
}

/// Top-level string fields (as parameters) and every top-level string or string in a
/// top-level array (as possible ids) of a JSON body.
fn json_values(body: &str) -> (Vec<(String, String)>, Vec<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body) else {
        return (Vec::new(), Vec::new());
    };
    let mut params = Vec::new();
    let mut ids = Vec::new();
    for (k, v) in map {
        match v {
            serde_json::Value::String(s) => {
                if k != "NextToken" && k != "nextToken" {
                    ids.push(s.clone());
                }
                params.push((k, s));
            }
            serde_json::Value::Array(items) => {
                ids.extend(items.into_iter().filter_map(|i| match i {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                }));
            }
            _ => {}
        }
    }
    (params, ids)
}

fn path_segments(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
}

/// `a=1&b=x%2Fy` as decoded pairs (`+` is a space in forms).
pub(crate) fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// S3's operation from method, path and subresource, named as the SDK names it.
fn s3_action(method: &Method, path: &str, query: &[(String, String)], copy_source: Option<String>) -> String {
    // The Rust SDK (and others) add `x-id=PutObject` to some requests: the answer itself.
    if let Some((_, id)) = query.iter().find(|(k, _)| k == "x-id") {
        return id.clone();
    }
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let segments = path_segments(path);
    let verb = match *method {
        Method::GET => "Get",
        Method::PUT => "Put",
        Method::DELETE => "Delete",
        _ => "",
    };
    let sub = query
        .iter()
        .map(|(k, _)| k.as_str())
        .find_map(|k| SUBRESOURCES.iter().find(|(name, _)| *name == k))
        .map(|(_, camel)| *camel);
    let fallback = || method.as_str().to_string();
    match (segments.len(), method.clone(), sub) {
        (0, Method::GET, _) => "ListBuckets".into(),
        (0, _, _) => fallback(),
        (1, Method::GET, None) if has("versions") => "ListObjectVersions".into(),
        (1, Method::GET, None) if has("uploads") => "ListMultipartUploads".into(),
        (1, Method::GET, None) if has("location") => "GetBucketLocation".into(),
        (1, Method::GET, None) if query.iter().any(|(k, v)| k == "list-type" && v == "2") => "ListObjectsV2".into(),
        (1, Method::GET, None) => "ListObjects".into(),
        (1, Method::PUT, None) => "CreateBucket".into(),
        (1, Method::DELETE, None) => "DeleteBucket".into(),
        (1, Method::HEAD, _) => "HeadBucket".into(),
        (1, Method::POST, _) if has("delete") => "DeleteObjects".into(),
        (1, _, Some(s)) if !verb.is_empty() => format!("{verb}Bucket{s}"),
        (1, _, _) => fallback(),
        (_, Method::POST, _) if has("uploads") => "CreateMultipartUpload".into(),
        (_, Method::PUT, _) if has("uploadId") && copy_source.is_some() => "UploadPartCopy".into(),
        (_, Method::PUT, _) if has("uploadId") => "UploadPart".into(),
        (_, Method::POST, _) if has("uploadId") => "CompleteMultipartUpload".into(),
        (_, Method::DELETE, _) if has("uploadId") => "AbortMultipartUpload".into(),
        (_, Method::GET, _) if has("uploadId") => "ListParts".into(),
        (_, Method::PUT, None) if copy_source.is_some() => "CopyObject".into(),
        (_, Method::PUT, None) => "PutObject".into(),
        (_, Method::GET, None) => "GetObject".into(),
        (_, Method::HEAD, _) => "HeadObject".into(),
        (_, Method::DELETE, None) => "DeleteObject".into(),
        (_, _, Some(s)) if !verb.is_empty() => format!("{verb}Object{s}"),
        _ => fallback(),
    }
}

/// S3 subresources (query keys) and their names in operation names.
const SUBRESOURCES: &[(&str, &str)] = &[
    ("versioning", "Versioning"),
    ("encryption", "Encryption"),
    ("publicAccessBlock", "PublicAccessBlock"),
    ("policy", "Policy"),
    ("policyStatus", "PolicyStatus"),
    ("website", "Website"),
    ("tagging", "Tagging"),
    ("lifecycle", "LifecycleConfiguration"),
    ("notification", "NotificationConfiguration"),
    ("cors", "Cors"),
    ("acl", "Acl"),
    ("logging", "Logging"),
    ("ownershipControls", "OwnershipControls"),
    ("object-lock", "ObjectLockConfiguration"),
    ("accelerate", "AccelerateConfiguration"),
    ("replication", "Replication"),
    ("requestPayment", "RequestPayment"),
    ("legal-hold", "LegalHold"),
    ("retention", "Retention"),
    ("attributes", "Attributes"),
];

/// EFS's operation from method and path (`/2015-02-01/file-systems/{id}/...`).
fn efs_action(method: &Method, path: &str) -> Option<String> {
    let segments = path_segments(path);
    let rest: Vec<&str> = segments.iter().skip(1).map(String::as_str).collect();
    let m = method.as_str();
    let name = match (m, rest.as_slice()) {
        ("POST", ["file-systems"]) => "CreateFileSystem",
        ("GET", ["file-systems"]) => "DescribeFileSystems",
        ("GET", ["file-systems", _]) => "DescribeFileSystems",
        ("DELETE", ["file-systems", _]) => "DeleteFileSystem",
        ("PUT", ["file-systems", _]) => "UpdateFileSystem",
        ("PUT", ["file-systems", _, "lifecycle-configuration"]) => "PutLifecycleConfiguration",
        ("GET", ["file-systems", _, "lifecycle-configuration"]) => "DescribeLifecycleConfiguration",
        ("PUT", ["file-systems", _, "backup-policy"]) => "PutBackupPolicy",
        ("GET", ["file-systems", _, "backup-policy"]) => "DescribeBackupPolicy",
        ("PUT", ["file-systems", _, "policy"]) => "PutFileSystemPolicy",
        ("GET", ["file-systems", _, "policy"]) => "DescribeFileSystemPolicy",
        ("DELETE", ["file-systems", _, "policy"]) => "DeleteFileSystemPolicy",
        ("PUT", ["file-systems", _, "protection"]) => "UpdateFileSystemProtection",
        ("POST", ["mount-targets"]) => "CreateMountTarget",
        ("GET", ["mount-targets"]) => "DescribeMountTargets",
        ("DELETE", ["mount-targets", _]) => "DeleteMountTarget",
        ("GET", ["mount-targets", _, "security-groups"]) => "DescribeMountTargetSecurityGroups",
        ("PUT", ["mount-targets", _, "security-groups"]) => "ModifyMountTargetSecurityGroups",
        ("POST", ["access-points"]) => "CreateAccessPoint",
        ("GET", ["access-points"]) => "DescribeAccessPoints",
        ("DELETE", ["access-points", _]) => "DeleteAccessPoint",
        ("POST", ["resource-tags", _]) => "TagResource",
        ("DELETE", ["resource-tags", _]) => "UntagResource",
        ("GET", ["resource-tags", _]) => "ListTagsForResource",
        ("POST", ["create-tags", _]) => "CreateTags",
        ("POST", ["delete-tags", _]) => "DeleteTags",
        ("GET", ["tags", _]) => "DescribeTags",
        ("GET", ["account-preferences"]) => "DescribeAccountPreferences",
        ("PUT", ["account-preferences"]) => "PutAccountPreferences",
        _ => return None,
    };
    Some(name.to_string())
}
