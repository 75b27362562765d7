//! The RDS engine version catalog: moto answers DescribeDBEngineVersions with a 500,
//! so a profile with `[[rds_engine_version]]` entries has the proxy answer it, and
//! refuses creates and modifications that name a version the catalog does not offer.

use std::cmp::Ordering;

use crate::profile::EngineVersion;
use crate::request::Call;
use crate::xml::escape;

fn param<'c>(call: &'c Call, name: &str) -> Option<&'c str> {
    call.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `16.10` after `16.9`: numeric parts compare as numbers.
fn compare(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a).cmp(&parts(b))
}

/// DescribeDBEngineVersions, answered from the catalog in the query protocol's shape.
/// Honours `Engine`, `EngineVersion` (exact), `DBParameterGroupFamily`, `IncludeAll`
/// (deprecated versions only with it) and `DefaultOnly` (the newest available).
pub(crate) fn answer(versions: &[EngineVersion], call: &Call) -> String {
    let engine = param(call, "Engine");
    let version = param(call, "EngineVersion");
    let family = param(call, "DBParameterGroupFamily");
    let include_all = param(call, "IncludeAll") == Some("true");
    let default_only = param(call, "DefaultOnly") == Some("true");
    let mut chosen: Vec<&EngineVersion> = versions
        .iter()
        .filter(|v| engine.is_none_or(|e| e == v.engine))
        .filter(|v| version.is_none_or(|e| e == v.version))
        .filter(|v| family.is_none_or(|f| f == v.family))
        .filter(|v| v.available || include_all)
        .collect();
    chosen.sort_by(|a, b| a.engine.cmp(&b.engine).then_with(|| compare(&a.version, &b.version)));
    if default_only {
        let mut newest: Vec<&EngineVersion> = Vec::new();
        for v in chosen.into_iter().filter(|v| v.available) {
            newest.retain(|n| n.engine != v.engine);
            newest.push(v);
        }
        chosen = newest;
    }
    let mut items = String::new();
    for v in chosen {
        let status = if v.available { "available" } else { "deprecated" };
        let description = if v.engine == "postgres" {
            "PostgreSQL"
        } else {
            v.engine.as_str()
        };
        items.push_str(&format!(
            "<DBEngineVersion><Engine>{}</Engine><EngineVersion>{}</EngineVersion><DBParameterGroupFamily>{}</DBParameterGroupFamily><DBEngineDescription>{}</DBEngineDescription><DBEngineVersionDescription>{} {}</DBEngineVersionDescription><Status>{status}</Status></DBEngineVersion>",
            escape(&v.engine),
            escape(&v.version),
            escape(&v.family),
            escape(description),
            escape(description),
            escape(&v.version),
        ));
    }
    format!(
        "<DescribeDBEngineVersionsResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><DescribeDBEngineVersionsResult><DBEngineVersions>{items}</DBEngineVersions></DescribeDBEngineVersionsResult><ResponseMetadata><RequestId>stackup-proxy-catalog</RequestId></ResponseMetadata></DescribeDBEngineVersionsResponse>"
    )
}

/// Whether a create or modify may name `version`: an available entry of the engine,
/// or a major version (`16`) with an available minor. Engines the catalog does not
/// list pass; with the engine unknown (a modify of an instance the proxy never saw
/// created) any engine's entry will do. `Err` is AWS's message.
pub(crate) fn check(versions: &[EngineVersion], engine: Option<&str>, version: &str) -> Result<(), String> {
    let of_engine: Vec<&EngineVersion> = versions
        .iter()
        .filter(|v| engine.is_none_or(|e| e == v.engine))
        .collect();
    if of_engine.is_empty() {
        return Ok(());
    }
    let offered = of_engine
        .iter()
        .any(|v| v.available && (v.version == version || v.version.starts_with(&format!("{version}."))));
    if offered {
        return Ok(());
    }
    let engine = engine.unwrap_or(of_engine[0].engine.as_str());
    Err(format!("Cannot find version {version} for {engine}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Protocol;

    fn v(engine: &str, version: &str, available: bool) -> EngineVersion {
        EngineVersion {
            engine: engine.into(),
            version: version.into(),
            family: format!("{engine}{}", version.split('.').next().unwrap_or_default()),
            available,
        }
    }

    fn call(params: &[(&str, &str)]) -> Call {
        Call {
            service: "rds".into(),
            action: "DescribeDBEngineVersions".into(),
            protocol: Protocol::Query,
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ids: Vec::new(),
        }
    }

    #[test]
    fn answers_filters_and_hides_deprecated_unless_include_all() {
        let catalog = [
            v("postgres", "16.10", true),
            v("postgres", "16.2", false),
            v("postgres", "16.4", true),
            v("mysql", "8.0.39", true),
        ];
        let body = answer(&catalog, &call(&[("Engine", "postgres")]));
        assert!(body.contains("<EngineVersion>16.4</EngineVersion>"));
        assert!(!body.contains("16.2"), "{body}");
        assert!(!body.contains("mysql"));
        assert!(
            body.find("16.4").unwrap_or(0) < body.find("16.10").unwrap_or(0),
            "sorted numerically"
        );
        assert!(body.contains("<DBParameterGroupFamily>postgres16</DBParameterGroupFamily><DBEngineDescription>PostgreSQL</DBEngineDescription>"));
        let all = answer(&catalog, &call(&[("Engine", "postgres"), ("IncludeAll", "true")]));
        assert!(all.contains("<EngineVersion>16.2</EngineVersion>") && all.contains("<Status>deprecated</Status>"));
        let exact = answer(&catalog, &call(&[("Engine", "postgres"), ("EngineVersion", "16.4")]));
        assert_eq!(exact.matches("<DBEngineVersion>").count(), 1);
        let newest = answer(&catalog, &call(&[("DefaultOnly", "true")]));
        assert!(newest.contains("16.10") && newest.contains("8.0.39") && !newest.contains("16.4<"));
        assert!(crate::xml::Doc::parse(&body).is_some());
    }

    #[test]
    fn refuses_versions_not_available() {
        let catalog = [v("postgres", "16.2", false), v("postgres", "16.4", true)];
        assert_eq!(check(&catalog, Some("postgres"), "16.4"), Ok(()));
        assert_eq!(check(&catalog, Some("postgres"), "16"), Ok(()));
        assert_eq!(
            check(&catalog, Some("postgres"), "16.2"),
            Err("Cannot find version 16.2 for postgres".into())
        );
        assert_eq!(
            check(&catalog, Some("postgres"), "13.1"),
            Err("Cannot find version 13.1 for postgres".into())
        );
        assert_eq!(
            check(&catalog, Some("mysql"), "8.0"),
            Ok(()),
            "engines outside the catalog pass"
        );
        assert_eq!(
            check(&catalog, None, "16.2"),
            Err("Cannot find version 16.2 for postgres".into())
        );
    }
}
