#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every Data API bound has a test: body size (413), nesting depth (400), documents per
//! request, the request timeout (504) and the concurrency limit (429); and hot reload.

mod data_api_harness;

use std::time::Duration;

use data_api_harness::*;
use rampart_server::data_api::ReloadOutcome;
use serde_json::{json, Value};

const DB: &str = "app";
const COLL: &str = "items";

fn everyone_rules() -> Value {
    json!({"roles": [{"name": "all", "apply_when": {}, "read": true, "write": true}]})
}

fn body(extra: Value) -> Value {
    let mut base = json!({"dataSource": SERVICE, "database": DB, "collection": COLL});
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

async fn server_with(settings: rampart_server::DataApiSettings) -> Server {
    let app = tempfile::tempdir().unwrap();
    write_rules(app.path(), DB, COLL, &everyone_rules());
    Server::start(app, settings, auth_for(&["alice"])).await
}

#[tokio::test]
async fn body_size_is_bounded() {
    let mut settings = settings();
    settings.max_body_bytes = 1024;
    let server = server_with(settings).await;
    let big = body(json!({"document": {"text": "x".repeat(4096)}}));
    let response = server.call("alice", "insertOne", &big).await;
    response.expect_error(413, "PayloadTooLarge");
    let small = server
        .call(
            "alice",
            "insertOne",
            &body(json!({"document": {"text": "x"}})),
        )
        .await;
    assert_eq!(small.status, 200, "{}", small.text);
    server.stop().await;
}

/// `{"a": {"a": ... 1}}`, `depth` documents deep counting the outer one.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// The query of MongoDB's own test of nesting (`jstests/core/query/big_predicate.js`): `$and`
/// in `$or` in `$and` ..., four levels a step. "At the documented maximum nesting depth of
/// 100, all commands are guaranteed to succeed", and 130 works as a buffer.
fn big_predicate(max_depth: usize, depth: usize) -> Value {
    if depth + 1 >= max_depth {
        return json!({"e": 1});
    }
    json!({"$and": [{"$or": [big_predicate(max_depth, depth + 4), {"o": 0}]}, {"a": 1}]})
}

#[tokio::test]
async fn nesting_depth_is_bounded() {
    let server = server_with(settings()).await;
    // A document may nest 100 levels, though the request around it adds one.
    let inserted = server
        .call(
            "alice",
            "insertOne",
            &body(json!({"document": nested(100)})),
        )
        .await;
    assert_eq!(inserted.status, 200, "{}", inserted.text);
    let refused = server
        .call(
            "alice",
            "insertOne",
            &body(json!({"document": nested(101)})),
        )
        .await;
    let message = refused.expect_error(400, "InvalidParameter");
    assert!(message.contains("deeper than 100"), "{message}");
    // A request may nest 200 levels, as a MongoDB command may.
    let deep = format!(
        r#"{{"dataSource":"{SERVICE}","database":"{DB}","collection":"{COLL}","filter":{}1{}}}"#,
        r#"{"a":"#.repeat(200),
        "}".repeat(200)
    );
    let response = server
        .request(
            "POST",
            &server.url("find"),
            &[("apiKey", "alice")],
            deep.as_bytes(),
        )
        .await;
    let message = response.expect_error(400, "InvalidParameter");
    assert!(message.contains("deeper than 200"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_queries_run_as_mongodb_runs_them() {
    let server = server_with(settings()).await;
    seed(&server.store, DB, COLL, &[json!({"_id": 1, "e": 1})]);
    for max_depth in [100, 130, 150] {
        let filter = big_predicate(max_depth, 0);
        let found = server
            .call("alice", "find", &body(json!({ "filter": filter })))
            .await;
        assert_eq!(found.status, 200, "{max_depth}: {}", found.text);
        assert_eq!(found.json()["documents"], json!([]), "{max_depth}");
        let pipeline = json!([{"$match": filter}, {"$count": "n"}]);
        let counted = server
            .call("alice", "aggregate", &body(json!({ "pipeline": pipeline })))
            .await;
        assert_eq!(counted.status, 200, "{max_depth}: {}", counted.text);
        assert_eq!(counted.json()["documents"], json!([]), "{max_depth}");
    }
    // The same query with `{a: 1}` dropped from every level does match.
    let matching = json!({"$or": [big_predicate(130, 0), {"e": 1}]});
    let found = server
        .call("alice", "find", &body(json!({ "filter": matching })))
        .await;
    assert_eq!(found.json()["documents"], json!([{"_id": 1, "e": 1}]));
    server.stop().await;
}

#[tokio::test]
async fn documents_per_request_are_bounded() {
    let mut settings = settings();
    settings.max_documents = 3;
    let server = server_with(settings).await;
    let five: Vec<Value> = (0..5).map(|n| json!({"_id": n})).collect();
    let refused = server
        .call("alice", "insertMany", &body(json!({"documents": five})))
        .await;
    refused.expect_error(400, "InvalidParameter");
    seed(
        &server.store,
        DB,
        COLL,
        &(0..5).map(|n| json!({"_id": n})).collect::<Vec<_>>(),
    );
    // find truncates at the limit, as Atlas caps a query's documents.
    let found = server
        .call("alice", "find", &body(json!({"filter": {}})))
        .await;
    assert_eq!(found.json()["documents"].as_array().unwrap().len(), 3);
    let found = server
        .call("alice", "find", &body(json!({"filter": {}, "limit": 100})))
        .await;
    assert_eq!(found.json()["documents"].as_array().unwrap().len(), 3);
    // aggregate refuses to run on a truncated input.
    let aggregate = server
        .call(
            "alice",
            "aggregate",
            &body(json!({"pipeline": [{"$count": "n"}]})),
        )
        .await;
    aggregate.expect_error(400, "InvalidParameter");
    server.stop().await;
}

#[tokio::test]
async fn slow_requests_time_out() {
    let mut settings = settings();
    settings.request_timeout_seconds = 1;
    let server = server_with(settings).await;
    let text = body(json!({"document": {"_id": 1}})).to_string();
    let response = server
        .request(
            "POST",
            &server.url("insertOne"),
            &[("apiKey", "alice"), ("x-test-delay-ms", "3000")],
            text.as_bytes(),
        )
        .await;
    response.expect_error(504, "ExecutionTimeLimitExceeded");
    assert!(contents(&server.store, DB, COLL).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn concurrency_beyond_the_limit_is_429() {
    let mut settings = settings();
    settings.max_concurrent_requests = 1;
    let server = server_with(settings).await;
    let address = server.address;
    let url = server.url("find");
    let text = body(json!({"filter": {}})).to_string();
    let slow = {
        let (url, text) = (url.clone(), text.clone());
        tokio::spawn(async move {
            send(
                address,
                "POST",
                &url,
                &[("apiKey", "alice"), ("x-test-delay-ms", "1500")],
                text.as_bytes(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = server
        .request("POST", &url, &[("apiKey", "alice")], text.as_bytes())
        .await;
    refused.expect_error(429, "TooManyRequests");
    assert_eq!(slow.await.unwrap().status, 200);
    let after = server
        .request("POST", &url, &[("apiKey", "alice")], text.as_bytes())
        .await;
    assert_eq!(after.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn rule_changes_reload_and_bad_changes_are_rejected() {
    let app = tempfile::tempdir().unwrap();
    let dir = app.path().to_path_buf();
    write_rules(&dir, DB, COLL, &everyone_rules());
    let mut settings = settings();
    settings.reload_interval_seconds = 1;
    let server = Server::start(app, settings, auth_for(&["alice"])).await;
    let reloader = server.api.spawn_reloader();
    seed(
        &server.store,
        DB,
        COLL,
        &[json!({"_id": 1, "owner": "bob"})],
    );
    let find = body(json!({"filter": {}}));
    let visible = |response: &Response| response.json()["documents"].as_array().unwrap().len();
    assert_eq!(visible(&server.call("alice", "find", &find).await), 1);

    // Owner-only rules: alice no longer sees bob's document.
    write_rules(
        &dir,
        DB,
        COLL,
        &json!({"roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true}]}),
    );
    let mut reloaded = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if visible(&server.call("alice", "find", &find).await) == 0 {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the rule change did not take effect");

    // An invalid change is rejected and the last good rules stay.
    write_file(
        &dir,
        &format!("data_sources/{SERVICE}/{DB}/{COLL}/rules.json"),
        r#"{"roles": [{"name": "x", "bogus": 1}]}"#,
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(visible(&server.call("alice", "find", &find).await), 0);
    reloader.stop().await;

    // The same, driven by hand, reports what happened.
    assert_eq!(server.api.reload_if_changed(), ReloadOutcome::Unchanged);
    write_file(
        &dir,
        &format!("data_sources/{SERVICE}/{DB}/{COLL}/rules.json"),
        "{ not json",
    );
    match server.api.reload_if_changed() {
        ReloadOutcome::Rejected(error) => {
            assert!(error.to_string().contains("rules.json"), "{error}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    write_rules(&dir, DB, COLL, &everyone_rules());
    assert_eq!(server.api.reload_if_changed(), ReloadOutcome::Reloaded);
    assert_eq!(visible(&server.call("alice", "find", &find).await), 1);
    server.stop().await;
}
