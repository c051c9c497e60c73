//! docs/openapi.json describes the routes the node really serves, with the
//! roles it really enforces.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::http::Method;
use epochd::api::routes::{required_role, table};
use serde_json::Value;

use crate::support::Proc;

const ADMIN: &str = "admin-token-for-openapi-0";

fn document() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every (method, path template) of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[test]
fn the_document_lists_exactly_the_routed_routes_with_their_roles() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = operations(&doc);
    let routed: BTreeSet<(String, String)> = table()
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/openapi.json is out of date: undocumented routes {missing:?}, documented routes that do not exist {extra:?}"
    );
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let want = required_role(&Method::from_bytes(method.as_bytes()).unwrap(), path).name();
        assert_eq!(
            op["x-epochd-role"], want,
            "{method} {path}: the document says role {}, the node enforces {want}",
            op["x-epochd-role"]
        );
        assert!(op["summary"].is_string(), "{method} {path} has a summary");
        // Every path parameter of the template is described.
        for param in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let described = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == param && p["in"] == "path"));
            assert!(
                described,
                "{method} {path}: parameter {param} is not described"
            );
        }
    }
}

/// Each documented operation reaches a handler of the running node (not the
/// router's fallback for unknown routes or methods).
#[test]
fn every_documented_route_is_served_by_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = Proc::serve(dir.path(), &["--admin-token", ADMIN]);
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let doc = document();
    for (method, path) in operations(&doc) {
        let concrete = path
            .replace("{epoch}", "1700000000")
            .replace("{dc}", "ams4")
            .replace("{event_type}", "WEB")
            .replace("{subtype}", "search")
            .replace("{chunk}", "0")
            .replace("{seq}", "0")
            .replace("{name}", "no-such-job")
            .replace("{file}", "app.js");
        let request = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{url}{concrete}"),
            )
            .bearer_auth(ADMIN);
        // A stream would not end: only its headers are read.
        let answer = request.send().unwrap();
        let status = answer.status().as_u16();
        let body: Value = if answer
            .headers()
            .get("content-type")
            .is_some_and(|c| c.to_str().unwrap().starts_with("application/json"))
        {
            answer.json().unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        assert!(
            body["error"] != "not_found" && body["error"] != "method_not_allowed",
            "{method} {path} ({concrete}) is not routed: {status} {body}"
        );
    }
    // The node serves the document itself, without a token.
    let served: Value = client
        .get(format!("{url}/v1/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served, doc);
}
