//! `rampart rules` as a user runs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn rampart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .output()
        .unwrap()
}

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/tests/conformance/cases")
}

#[test]
fn rules_test_passes_every_conformance_case() {
    let output = rampart(&["rules", "test", cases_dir().to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.ends_with("61 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn simulate_prints_one_decision_object() {
    let case = cases_dir().join("tpl-15-deny-all-insert.json");
    let output = rampart(&["rules", "simulate", case.to_str().unwrap()]);
    assert!(output.status.success());
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["outcome"], "denied");
    assert_eq!(value["error"], "insert not permitted");
    assert_eq!(value["documents_after"].as_array().unwrap().len(), 1);
    assert_eq!(value["explain"]["documents"][0]["role"], "denyAllAccess");
}

#[test]
fn a_failing_case_is_reported_and_a_malformed_case_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cases_dir().join("tpl-14-deny-all-read.json")).unwrap(),
    )
    .unwrap();
    case["expected"]["result"] = serde_json::json!([{"_id": 1}]);
    std::fs::write(dir.path().join("wrong.json"), case.to_string()).unwrap();
    let output = rampart(&["rules", "test", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains("FAIL wrong: got result []"));

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"rules": {}, "operation": {"op": "find"}}"#).unwrap();
    let output = rampart(&["rules", "simulate", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn check_loads_an_app_and_reports_lints() {
    let dir = tempfile::tempdir().unwrap();
    let collection = dir.path().join("data_sources/mongodb-atlas/app/notes");
    std::fs::create_dir_all(&collection).unwrap();
    std::fs::write(
        collection.join("rules.json"),
        r#"{"database": "app", "collection": "notes", "roles": [
            {"name": "all", "apply_when": {}, "read": true},
            {"name": "owner", "apply_when": {"owner": "%%user.id"}, "write": false,
             "fields": {"title": {"write": true}, "nope": {"read": true}}}
        ], "filters": [{"name": "off", "apply_when": false, "query": {}}]}"#,
    )
    .unwrap();
    std::fs::write(
        collection.join("schema.json"),
        r#"{"bsonType": "object", "properties": {"title": {"bsonType": "string"}}}"#,
    )
    .unwrap();
    let app = dir.path().to_str().unwrap();
    let output = rampart(&["rules", "check", app]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("$.roles[1]: role `owner` is never chosen"),
        "{stdout}"
    );
    assert!(
        stdout.contains("$.roles[1].write: `write: false` overrides"),
        "{stdout}"
    );
    assert!(
        stdout.contains("$.roles[1].fields.nope: field `nope` is not in the collection schema"),
        "{stdout}"
    );
    assert!(
        stdout.contains("$.filters[0].apply_when: filter `off` can never apply"),
        "{stdout}"
    );

    std::fs::write(
        collection.join("rules.json"),
        r#"{"roles": [{"name": "r", "apply_when": {"%%usr.id": 1}}]}"#,
    )
    .unwrap();
    let output = rampart(&["rules", "check", app]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains(
            "rules.json` at `$.roles[0].apply_when[\"%%usr.id\"]`: unknown expansion `%%usr`"
        ),
        "{stderr}"
    );

    std::fs::write(
        collection.join("rules.json"),
        r#"{"roles": [{"name": "r", "apply_when": {}, "raed": true}]}"#,
    )
    .unwrap();
    let output = rampart(&["rules", "check", app]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("rules.json` at `$.roles[0]"), "{stderr}");
    assert!(stderr.contains("unknown field `raed`"), "{stderr}");
}

#[test]
fn check_lists_every_error_of_every_file_then_skips_lints() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data_sources/mongodb-atlas");
    for collection in ["shop/orders", "shop/items"] {
        std::fs::create_dir_all(source.join(collection)).unwrap();
    }
    std::fs::write(
        source.join("default_rule.json"),
        r#"{"roles": [{"name": "default", "apply_when": {}, "read": true, "delet": false}]}"#,
    )
    .unwrap();
    // Two unknown keys in one file, and a role that no lint would miss (never chosen).
    std::fs::write(
        source.join("shop/orders/rules.json"),
        r#"{"roles": [
            {"name": "all", "apply_when": {}, "raed": true},
            {"name": "owner", "apply_when": {"owner": "%%user.id"}, "wirte": true}
        ]}"#,
    )
    .unwrap();
    std::fs::write(
        source.join("shop/items/rules.json"),
        r#"{"roles": [{"name": "r", "apply_when": {"%%usr.id": 1}}]}"#,
    )
    .unwrap();
    let app = dir.path().to_str().unwrap();
    let output = rampart(&["rules", "check", app]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "");
    let stderr = String::from_utf8(output.stderr)
        .unwrap()
        .replace(&format!("{app}/"), "");
    let role_keys = "expected one of `name`, `applyWhen`, `apply_when`, `document_filters`, \
        `read`, `write`, `insert`, `delete`, `search`, `fields`, `additional_fields`, `_id`";
    let expected = [
        format!("error: `data_sources/mongodb-atlas/default_rule.json` at `$.roles[0]`: unknown field `delet`, {role_keys}"),
        "error: `data_sources/mongodb-atlas/shop/items/rules.json` at `$.roles[0].apply_when[\"%%usr.id\"]`: unknown expansion `%%usr`".to_owned(),
        format!("error: `data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[0]`: unknown field `raed`, {role_keys}"),
        format!("error: `data_sources/mongodb-atlas/shop/orders/rules.json` at `$.roles[1]`: unknown field `wirte`, {role_keys}"),
        "error: 4 configuration errors; lints not run".to_owned(),
    ];
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected, "{stderr}");
}
