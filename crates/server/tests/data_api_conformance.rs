#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The `data_api` conformance cases (`crates/rules/tests/conformance/cases/dapi-*.json`) run
//! over HTTP against a real server: the case's rules and `data_api_config.json` are written
//! into a temporary app directory, `documents_before` into the store, and the case's request
//! is sent with its method, headers and body. The case's `apiKey` names its user (a fake
//! authenticator stands in for API keys until the identity crate can create them).

mod data_api_harness;

use std::path::PathBuf;

use data_api_harness::*;
use serde_json::Value;

fn cases() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/tests/conformance/cases");
    let mut cases: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("dapi-") && name.ends_with(".json")
        })
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

fn write_app(dir: &std::path::Path, case: &Value, db: &str, coll: &str) {
    let rules = &case["rules"];
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap();
    // The data source must exist even when the case has no rules at all.
    std::fs::create_dir_all(dir.join(format!("data_sources/{SERVICE}"))).unwrap();
    if !rules["default"].is_null() {
        write_file(
            dir,
            &format!("data_sources/{SERVICE}/default_rule.json"),
            &pretty(&rules["default"]),
        );
    }
    if !rules["collection"].is_null() {
        write_rules(dir, db, coll, &rules["collection"]);
    }
    if let Some(schema) = rules.get("schema").filter(|schema| !schema.is_null()) {
        write_file(
            dir,
            &format!("data_sources/{SERVICE}/{db}/{coll}/schema.json"),
            &pretty(schema),
        );
    }
    if let Some(config) = rules
        .get("data_api_config")
        .filter(|config| !config.is_null())
    {
        write_file(dir, "data_api_config.json", &pretty(config));
    }
}

fn case_user(case: &Value) -> rampart_rules::User {
    let raw = &case["user"];
    let doc = |key: &str| match rampart_mql::from_json_value(&raw[key]) {
        Ok(bson::Bson::Document(doc)) => doc,
        _ => bson::Document::new(),
    };
    rampart_rules::User {
        id: raw["id"].as_str().unwrap_or_default().to_owned(),
        user_type: raw["type"].as_str().unwrap_or("normal").to_owned(),
        data: doc("data"),
        custom_data: doc("custom_data"),
        identities: raw["identities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| match rampart_mql::from_json_value(item) {
                Ok(bson::Bson::Document(doc)) => Some(doc),
                _ => None,
            })
            .collect(),
    }
}

async fn run_case(name: &str, case: &Value) {
    let operation = &case["operation"];
    let body = &operation["body"];
    let db = body["database"].as_str().unwrap();
    let coll = body["collection"].as_str().unwrap();
    let app = tempfile::tempdir().unwrap();
    write_app(app.path(), case, db, coll);
    let key = operation["headers"]["apiKey"]
        .as_str()
        .unwrap_or("<API_KEY>")
        .to_owned();
    let mut auth = FakeAuth::default();
    auth.users.insert(key, case_user(case));
    let server = Server::start(app, settings(), auth).await;
    let before: Vec<Value> = case["documents_before"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    seed(&server.store, db, coll, &before);

    let url = operation["url"].as_str().unwrap();
    let path = url
        .split_once("/app/")
        .map(|(_, rest)| format!("/app/{rest}"))
        .unwrap()
        .replace("<CLIENT_APP_ID>", APP_ID);
    let headers: Vec<(String, String)> = operation["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let method = operation["http_method"].as_str().unwrap_or("POST");
    let response = server
        .request(method, &path, &header_refs, body.to_string().as_bytes())
        .await;

    let expected = &case["expected"];
    assert_eq!(
        Some(u64::from(response.status)),
        expected["http_status"].as_u64(),
        "{name}: {}",
        response.text
    );
    if let Some(expected_body) = expected.get("body") {
        assert!(
            equivalent(expected_body, &response.json()),
            "{name}: expected {expected_body}, got {}",
            response.text
        );
    }
    if let Some(after) = expected.get("documents_after").and_then(Value::as_array) {
        let actual = contents(&server.store, db, coll);
        let mut unmatched: Vec<&Value> = after.iter().collect();
        for document in &actual {
            let position = unmatched.iter().position(|want| equivalent(want, document));
            assert!(position.is_some(), "{name}: unexpected document {document}");
            unmatched.remove(position.unwrap());
        }
        assert!(
            unmatched.is_empty(),
            "{name}: missing documents {unmatched:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn data_api_conformance_cases_pass_over_http() {
    let cases = cases();
    assert!(cases.len() >= 9, "found only {} dapi cases", cases.len());
    for (name, case) in &cases {
        run_case(name, case).await;
    }
}
