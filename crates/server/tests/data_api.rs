#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Data API over HTTP: every action, JSON and EJSON in and out, every error status, rule
//! denials for each write kind, schema violations and duplicate keys.

mod data_api_harness;

use data_api_harness::*;
use serde_json::{json, Value};

const DB: &str = "app";
const COLL: &str = "items";

/// Owners read and write their documents; everyone reads everything but cannot write or
/// delete others' documents.
fn owner_rules() -> Value {
    json!({
        "roles": [
            {"name": "owner", "apply_when": {"owner": "%%user.id"},
             "read": true, "write": true, "insert": true, "delete": true},
            {"name": "reader", "apply_when": {}, "read": true, "write": false,
             "insert": false, "delete": false}
        ],
        "filters": []
    })
}

async fn owner_server() -> Server {
    let app = tempfile::tempdir().unwrap();
    write_rules(app.path(), DB, COLL, &owner_rules());
    Server::start(app, settings(), auth_for(&["alice", "bob"])).await
}

fn ns() -> Value {
    json!({"dataSource": SERVICE, "database": DB, "collection": COLL})
}

fn body(extra: Value) -> Value {
    let mut base = ns();
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

#[tokio::test]
async fn every_action_in_json() {
    let server = owner_server().await;
    let inserted = server
        .call(
            "alice",
            "insertOne",
            &body(json!({"document": {"_id": {"$oid": "64224f3cd79f54ad342dd9b1"}, "owner": "alice", "n": 1}})),
        )
        .await;
    assert_eq!(inserted.status, 200, "{}", inserted.text);
    assert_eq!(
        inserted.json(),
        json!({"insertedId": "64224f3cd79f54ad342dd9b1"})
    );
    assert!(inserted
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));

    let many = server
        .call(
            "alice",
            "insertMany",
            &body(json!({"documents": [
                {"_id": 2, "owner": "alice", "n": 2},
                {"_id": 3, "owner": "alice", "n": 3, "at": {"$date": "2023-03-29T15:54:47.069Z"}}
            ]})),
        )
        .await;
    assert_eq!(many.json(), json!({"insertedIds": [2, 3]}));

    let one = server
        .call(
            "alice",
            "findOne",
            &body(json!({"filter": {"_id": 3}, "projection": {"at": 1}})),
        )
        .await;
    assert_eq!(
        one.json(),
        json!({"document": {"_id": 3, "at": "2023-03-29T15:54:47.069Z"}})
    );

    let found = server
        .call(
            "alice",
            "find",
            &body(json!({"filter": {}, "sort": {"n": -1}, "skip": 1, "limit": 1, "projection": {"n": 1, "_id": 0}})),
        )
        .await;
    assert_eq!(found.json(), json!({"documents": [{"n": 2}]}));

    let updated = server
        .call(
            "alice",
            "updateOne",
            &body(json!({"filter": {"_id": 2}, "update": {"$inc": {"n": 10}}})),
        )
        .await;
    assert_eq!(
        updated.json(),
        json!({"matchedCount": 1, "modifiedCount": 1})
    );

    let updated = server
        .call(
            "alice",
            "updateMany",
            &body(json!({"filter": {"n": {"$gte": 3}}, "update": {"$set": {"big": true}}})),
        )
        .await;
    assert_eq!(
        updated.json(),
        json!({"matchedCount": 2, "modifiedCount": 2})
    );

    let upserted = server
        .call(
            "alice",
            "updateOne",
            &body(json!({"filter": {"_id": 9, "owner": "alice"}, "update": {"$set": {"n": 9}}, "upsert": true})),
        )
        .await;
    assert_eq!(
        upserted.json(),
        json!({"matchedCount": 0, "modifiedCount": 0, "upsertedId": 9})
    );

    let replaced = server
        .call(
            "alice",
            "replaceOne",
            &body(json!({"filter": {"_id": 9}, "replacement": {"owner": "alice", "r": 1}})),
        )
        .await;
    assert_eq!(
        replaced.json(),
        json!({"matchedCount": 1, "modifiedCount": 1})
    );

    let aggregated = server
        .call(
            "alice",
            "aggregate",
            &body(json!({"pipeline": [{"$match": {"big": true}}, {"$group": {"_id": null, "total": {"$sum": "$n"}}}]})),
        )
        .await;
    assert_eq!(
        aggregated.json(),
        json!({"documents": [{"_id": null, "total": 15}]})
    );

    let deleted = server
        .call("alice", "deleteOne", &body(json!({"filter": {"_id": 9}})))
        .await;
    assert_eq!(deleted.json(), json!({"deletedCount": 1}));
    let deleted = server
        .call("alice", "deleteMany", &body(json!({"filter": {}})))
        .await;
    assert_eq!(deleted.json(), json!({"deletedCount": 3}));
    assert!(contents(&server.store, DB, COLL).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn extended_json_in_and_out() {
    let server = owner_server().await;
    let inserted = server
        .call_ejson(
            "alice",
            "insertOne",
            &body(json!({"document": {"_id": {"$numberLong": "7"}, "owner": "alice", "d": {"$numberDecimal": "1.5"}}})),
        )
        .await;
    assert_eq!(inserted.status, 200, "{}", inserted.text);
    assert_eq!(inserted.json(), json!({"insertedId": {"$numberLong": "7"}}));
    assert!(inserted
        .header("content-type")
        .unwrap()
        .starts_with("application/ejson"));

    let found = server
        .call_ejson("alice", "find", &body(json!({"filter": {}})))
        .await;
    assert_eq!(
        found.json(),
        json!({"documents": [{"_id": {"$numberLong": "7"}, "owner": "alice", "d": {"$numberDecimal": "1.5"}}]})
    );
    // JSON output downgrades the decimal to a string.
    let plain = server
        .call("alice", "findOne", &body(json!({"filter": {}})))
        .await;
    assert_eq!(plain.json()["document"]["d"], "1.5");

    let deleted = server
        .call_ejson("alice", "deleteMany", &body(json!({"filter": {}})))
        .await;
    assert_eq!(deleted.json(), json!({"deletedCount": {"$numberInt": "1"}}));
    server.stop().await;
}

#[tokio::test]
async fn return_type_decides_without_accept() {
    let app = tempfile::tempdir().unwrap();
    write_rules(app.path(), DB, COLL, &owner_rules());
    write_file(
        app.path(),
        "data_api_config.json",
        r#"{"return_type": "EJSON", "versions": ["v1", "beta"]}"#,
    );
    let server = Server::start(app, settings(), auth_for(&["alice"])).await;
    let response = server
        .request(
            "POST",
            &format!("/app/{APP_ID}/endpoint/data/beta/action/deleteMany"),
            &[("apiKey", "alice")],
            body(json!({"filter": {}})).to_string().as_bytes(),
        )
        .await;
    assert_eq!(
        response.json(),
        json!({"deletedCount": {"$numberInt": "0"}})
    );
    let json = server
        .request(
            "POST",
            &server.url("deleteMany"),
            &[("apiKey", "alice"), ("Accept", "application/json")],
            body(json!({"filter": {}})).to_string().as_bytes(),
        )
        .await;
    assert_eq!(json.json(), json!({"deletedCount": 0}));
    server.stop().await;
}

#[tokio::test]
async fn routing_and_body_errors() {
    let server = owner_server().await;
    let good = body(json!({"filter": {}})).to_string();
    let key = [("apiKey", "alice")];
    type Case<'a> = (
        &'a str,
        String,
        Vec<(&'a str, &'a str)>,
        String,
        u16,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            "/app/other/endpoint/data/v1/action/find".to_owned(),
            key.to_vec(),
            good.clone(),
            404,
            "AppNotFound",
        ),
        (
            "POST",
            format!("/app/{APP_ID}/endpoint/data/v9/action/find"),
            key.to_vec(),
            good.clone(),
            404,
            "InvalidVersion",
        ),
        (
            "POST",
            server.url("explode"),
            key.to_vec(),
            good.clone(),
            404,
            "InvalidAction",
        ),
        (
            "GET",
            server.url("find"),
            key.to_vec(),
            String::new(),
            405,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("find"),
            vec![("apiKey", "alice"), ("Content-Type", "text/plain")],
            good.clone(),
            415,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("find"),
            key.to_vec(),
            "{\"filter\":".to_owned(),
            400,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("find"),
            key.to_vec(),
            body(json!({"filter": 1})).to_string(),
            400,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("find"),
            key.to_vec(),
            body(json!({"limit": -1})).to_string(),
            400,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("find"),
            key.to_vec(),
            body(json!({"filtre": {}})).to_string(),
            400,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("insertMany"),
            key.to_vec(),
            body(json!({"documents": {}})).to_string(),
            400,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("updateOne"),
            key.to_vec(),
            body(json!({"filter": {}})).to_string(),
            400,
            "MissingParameter",
        ),
        (
            "POST",
            server.url("find"),
            key.to_vec(),
            json!({"dataSource": "nope", "database": DB, "collection": COLL}).to_string(),
            404,
            "DataSourceNotFound",
        ),
        (
            "POST",
            server.url("find"),
            key.to_vec(),
            json!({"dataSource": SERVICE, "database": "a.b", "collection": COLL}).to_string(),
            400,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("find"),
            vec![],
            good.clone(),
            400,
            "InvalidParameter",
        ),
        (
            "POST",
            server.url("find"),
            vec![("apiKey", "mallory")],
            good.clone(),
            401,
            "InvalidSession",
        ),
    ];
    for (method, path, headers, text, status, code) in cases {
        let response = server
            .request(method, &path, &headers, text.as_bytes())
            .await;
        assert_eq!(
            response.status, status,
            "{method} {path} {text}: {}",
            response.text
        );
        assert_eq!(response.json()["error_code"], code, "{path} {text}");
    }
    let get = server.request("GET", &server.url("find"), &key, b"").await;
    assert_eq!(get.header("allow"), Some("POST"));
    // No Content-Type at all is read as JSON (Atlas's tested examples send none).
    let bare = server
        .request("POST", &server.url("find"), &key, good.as_bytes())
        .await;
    assert_eq!(bare.status, 200, "{}", bare.text);
    server.stop().await;
}

#[tokio::test]
async fn rules_allow_and_deny_by_owner() {
    let server = owner_server().await;
    seed(
        &server.store,
        DB,
        COLL,
        &[
            json!({"_id": 1, "owner": "alice", "n": 1}),
            json!({"_id": 2, "owner": "bob", "n": 2}),
        ],
    );
    // bob may insert his own document but not one owned by alice.
    let own = server
        .call(
            "bob",
            "insertOne",
            &body(json!({"document": {"_id": 3, "owner": "bob"}})),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    let theirs = server
        .call(
            "bob",
            "insertOne",
            &body(json!({"document": {"_id": 4, "owner": "alice"}})),
        )
        .await;
    assert_eq!(
        theirs.expect_error(403, "NotPermitted"),
        "insert not permitted"
    );
    // insertMany is all or nothing.
    let mixed = server
        .call(
            "bob",
            "insertMany",
            &body(json!({"documents": [{"_id": 5, "owner": "bob"}, {"_id": 6, "owner": "alice"}]})),
        )
        .await;
    assert_eq!(
        mixed.expect_error(403, "NotPermitted"),
        "insert not permitted"
    );
    // Updating, replacing and deleting alice's document is refused and changes nothing.
    let update = server
        .call(
            "bob",
            "updateOne",
            &body(json!({"filter": {"_id": 1}, "update": {"$set": {"n": 0}}})),
        )
        .await;
    assert_eq!(
        update.expect_error(403, "NotPermitted"),
        "update not permitted"
    );
    let update = server
        .call(
            "bob",
            "updateMany",
            &body(json!({"filter": {}, "update": {"$set": {"n": 0}}})),
        )
        .await;
    assert_eq!(
        update.expect_error(403, "NotPermitted"),
        "update not permitted"
    );
    let replace = server
        .call(
            "bob",
            "replaceOne",
            &body(json!({"filter": {"_id": 1}, "replacement": {"owner": "bob"}})),
        )
        .await;
    assert_eq!(
        replace.expect_error(403, "NotPermitted"),
        "update not permitted"
    );
    let delete = server
        .call("bob", "deleteMany", &body(json!({"filter": {}})))
        .await;
    assert_eq!(
        delete.expect_error(403, "NotPermitted"),
        "delete not permitted"
    );
    let upsert = server
        .call("bob", "updateOne", &body(json!({"filter": {"_id": 8, "owner": "alice"}, "update": {"$set": {"n": 1}}, "upsert": true})))
        .await;
    assert_eq!(
        upsert.expect_error(403, "NotPermitted"),
        "insert not permitted"
    );
    assert_eq!(
        contents(&server.store, DB, COLL),
        vec![
            json!({"_id": {"$numberInt": "1"}, "owner": "alice", "n": {"$numberInt": "1"}}),
            json!({"_id": {"$numberInt": "2"}, "owner": "bob", "n": {"$numberInt": "2"}}),
            json!({"_id": {"$numberInt": "3"}, "owner": "bob"}),
        ]
    );
    // Everyone reads everything under the reader role.
    let all = server
        .call("bob", "find", &body(json!({"filter": {}})))
        .await;
    assert_eq!(all.json()["documents"].as_array().unwrap().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn reads_count_only_visible_documents() {
    let app = tempfile::tempdir().unwrap();
    write_rules(
        app.path(),
        DB,
        COLL,
        &json!({
            "roles": [{"name": "own", "apply_when": {}, "document_filters": {"read": {"owner": "%%user.id"}, "write": {"owner": "%%user.id"}},
                       "fields": {"secret": {"read": false, "write": false}},
                       "additional_fields": {"read": true, "write": true}}]
        }),
    );
    let server = Server::start(app, settings(), auth_for(&["alice", "bob"])).await;
    seed(
        &server.store,
        DB,
        COLL,
        &[
            json!({"_id": 1, "owner": "bob"}),
            json!({"_id": 2, "owner": "alice", "secret": "x"}),
            json!({"_id": 3, "owner": "bob"}),
            json!({"_id": 4, "owner": "alice"}),
        ],
    );
    let one = server
        .call("alice", "findOne", &body(json!({"filter": {}})))
        .await;
    assert_eq!(
        one.json(),
        json!({"document": {"_id": 2, "owner": "alice"}})
    );
    let page = server
        .call(
            "alice",
            "find",
            &body(json!({"filter": {}, "skip": 1, "limit": 5})),
        )
        .await;
    assert_eq!(
        page.json(),
        json!({"documents": [{"_id": 4, "owner": "alice"}]})
    );
    // bob's documents are not matched for alice: updates skip them.
    let update = server
        .call(
            "alice",
            "updateMany",
            &body(json!({"filter": {}, "update": {"$set": {"seen": true}}})),
        )
        .await;
    assert_eq!(
        update.json(),
        json!({"matchedCount": 2, "modifiedCount": 2})
    );
    let aggregate = server
        .call(
            "alice",
            "aggregate",
            &body(json!({"pipeline": [{"$count": "n"}]})),
        )
        .await;
    assert_eq!(aggregate.json(), json!({"documents": [{"n": 2}]}));
    server.stop().await;
}

#[tokio::test]
async fn schema_violations_and_duplicate_keys() {
    let app = tempfile::tempdir().unwrap();
    write_rules(
        app.path(),
        DB,
        COLL,
        &json!({"roles": [{"name": "all", "apply_when": {}, "read": true, "write": true}]}),
    );
    write_file(
        app.path(),
        &format!("data_sources/{SERVICE}/{DB}/{COLL}/schema.json"),
        r#"{"bsonType": "object", "properties": {"n": {"bsonType": "int"}}}"#,
    );
    let server = Server::start(app, settings(), auth_for(&["alice"])).await;
    let bad = server
        .call(
            "alice",
            "insertOne",
            &body(json!({"document": {"n": "one"}})),
        )
        .await;
    assert_eq!(
        bad.expect_error(400, "SchemaValidationFailedWrite"),
        "insert not permitted"
    );
    let good = server
        .call(
            "alice",
            "insertOne",
            &body(json!({"document": {"_id": "top-secret-key", "n": 1}})),
        )
        .await;
    assert_eq!(good.status, 200);
    let update = server
        .call(
            "alice",
            "updateOne",
            &body(json!({"filter": {}, "update": {"$set": {"n": "x"}}})),
        )
        .await;
    assert_eq!(
        update.expect_error(400, "SchemaValidationFailedWrite"),
        "update not permitted"
    );
    let again = server
        .call(
            "alice",
            "insertMany",
            &body(
                json!({"documents": [{"_id": "fresh", "n": 2}, {"_id": "top-secret-key", "n": 1}]}),
            ),
        )
        .await;
    let message = again.expect_error(409, "DuplicateKey");
    assert!(!message.contains("top-secret-key"), "{message}");
    // All or nothing: the first document of the failed insertMany is not stored.
    assert_eq!(contents(&server.store, DB, COLL).len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn rampart_system_database_is_never_reachable() {
    // Rules that would allow anything on `rampart.api_keys` must not open Rampart's own keys and
    // users: reading would expose key hashes, inserting would mint a key.
    let app = tempfile::tempdir().unwrap();
    let allow_all = json!({"roles": [{"name": "all", "apply_when": {}, "read": true, "write": true,
        "insert": true, "delete": true}], "filters": []});
    write_rules(app.path(), "rampart", "api_keys", &allow_all);
    let server = Server::start(app, settings(), auth_for(&["alice"])).await;
    seed(
        &server.store,
        "rampart",
        "api_keys",
        &[json!({"_id": "k1", "hash": "secret-hash"})],
    );
    let target = json!({"dataSource": SERVICE, "database": "rampart", "collection": "api_keys"});
    let mut insert = target.clone();
    insert["document"] = json!({"_id": "k2", "user_id": "alice", "hash": "chosen"});
    let mut find = target.clone();
    find["filter"] = json!({});
    for (action, request) in [
        ("insertOne", &insert),
        ("find", &find),
        ("deleteMany", &find),
    ] {
        let response = server.call("alice", action, request).await;
        let message = response.expect_error(403, "NotPermitted");
        assert!(
            message.contains("not reachable through the data api"),
            "{message}"
        );
        assert!(!response.text.contains("secret-hash"), "{}", response.text);
    }
    assert_eq!(
        contents(&server.store, "rampart", "api_keys"),
        vec![json!({"_id": "k1", "hash": "secret-hash"})]
    );
    server.stop().await;
}

#[tokio::test]
async fn query_operators_users_may_not_use_are_refused() {
    // Reference §6: these would let a caller probe fields the rules do not let them read.
    let server = owner_server().await;
    for (action, extra) in [
        ("find", json!({"filter": {"salary": {"$regex": "^9"}}})),
        (
            "find",
            json!({"filter": {"$expr": {"$gt": ["$salary", 100]}}}),
        ),
        (
            "find",
            json!({"filter": {"$or": [{"n": 1}, {"$where": "true"}]}}),
        ),
        ("findOne", json!({"filter": {"flags": {"$bitsAllSet": 1}}})),
        (
            "find",
            json!({"filter": {"name": {"$regularExpression": {"pattern": "a", "options": ""}}}}),
        ),
        (
            "updateOne",
            json!({"filter": {"$expr": {"$eq": [1, 1]}}, "update": {"$set": {"n": 2}}}),
        ),
        (
            "deleteMany",
            json!({"filter": {"name": {"$in": [{"$regularExpression": {"pattern": "a", "options": ""}}]}}}),
        ),
        (
            "aggregate",
            json!({"pipeline": [{"$match": {"name": {"$regex": "a"}}}]}),
        ),
    ] {
        let response = server.call("alice", action, &body(extra.clone())).await;
        let message = response.expect_error(400, "InvalidParameter");
        assert!(
            message.contains("not available in a Data API query"),
            "{action} {extra}: {message}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn forbidden_pipeline_stages_are_refused() {
    let server = owner_server().await;
    for stage in [
        json!({"$lookup": {"from": "x", "localField": "a", "foreignField": "b", "as": "c"}}),
        json!({"$out": "x"}),
        json!({"$facet": {"a": [{"$match": {}}]}}),
        json!({"$project": {"x": {"$function": {"body": "f", "args": [], "lang": "js"}}}}),
    ] {
        let response = server
            .call("alice", "aggregate", &body(json!({"pipeline": [stage]})))
            .await;
        let message = response.expect_error(400, "InvalidParameter");
        assert!(message.contains("not allowed"), "{message}");
    }
    server.stop().await;
}

#[tokio::test]
async fn request_validation_and_can_evaluate() {
    let app = tempfile::tempdir().unwrap();
    write_rules(app.path(), DB, COLL, &owner_rules());
    write_file(
        app.path(),
        "data_api_config.json",
        r#"{"validation_method": "SECRET_AS_QUERY_PARAM", "secret_name": "hook",
            "can_evaluate": {"%%request.requestHeaders.x-team": "blue"}}"#,
    );
    let mut settings = settings();
    settings
        .secrets
        .insert("hook".to_owned(), "s3cret".to_owned());
    let server = Server::start(app, settings, auth_for(&["alice"])).await;
    let text = body(json!({"filter": {}})).to_string();
    let url = server.url("find");
    let no_secret = server
        .request(
            "POST",
            &url,
            &[("apiKey", "alice"), ("x-team", "blue")],
            text.as_bytes(),
        )
        .await;
    let message = no_secret.expect_error(401, "Unauthorized");
    assert!(!message.contains("s3cret"));
    let with_secret = format!("{url}?secret=s3cret");
    let wrong_team = server
        .request(
            "POST",
            &with_secret,
            &[("apiKey", "alice"), ("x-team", "red")],
            text.as_bytes(),
        )
        .await;
    wrong_team.expect_error(403, "NotPermitted");
    let ok = server
        .request(
            "POST",
            &with_secret,
            &[("apiKey", "alice"), ("x-team", "blue")],
            text.as_bytes(),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    server.stop().await;
}

#[tokio::test]
async fn unsupported_config_is_rejected_at_load() {
    for (config, key) in [
        (r#"{"run_as_system": true}"#, "run_as_system"),
        (r#"{"run_as_user_id": "abc"}"#, "run_as_user_id"),
        (r#"{"bogus": 1}"#, "bogus"),
        (r#"{"return_type": "XML"}"#, "return_type"),
        (r#"{"versions": ["v2"]}"#, "versions"),
        (
            r#"{"validation_method": "VERIFY_PAYLOAD", "secret_name": "missing"}"#,
            "validation_method",
        ),
    ] {
        let app = tempfile::tempdir().unwrap();
        write_file(app.path(), "data_api_config.json", config);
        let error = rampart_server::data_api::load_snapshot(app.path(), &settings()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("data_api_config.json") && text.contains(key),
            "{config}: {text}"
        );
    }
}

#[tokio::test]
async fn every_config_problem_is_listed_at_once() {
    let app = tempfile::tempdir().unwrap();
    write_file(
        app.path(),
        "data_api_config.json",
        r#"{"bogus": 1, "return_type": "XML", "disabled": "yes", "run_as_system": true, "also_bogus": 2}"#,
    );
    // A rules error too: an unknown key in a collection's rules.
    write_file(
        app.path(),
        "data_sources/mongodb-atlas/db/c/rules.json",
        r#"{"roles": [{"name": "r", "apply_when": {}, "raed": true}]}"#,
    );
    // Type and key errors stop the file there: the checks of values that parsed come after
    // they are fixed.
    assert_lists_exactly(
        app.path(),
        &["raed", "$.bogus", "$.disabled", "$.also_bogus"],
    );

    write_file(
        app.path(),
        "data_api_config.json",
        r#"{"return_type": "XML", "run_as_system": true, "versions": ["v9"]}"#,
    );
    assert_lists_exactly(
        app.path(),
        &["raed", "$.return_type", "$.run_as_system", "$.versions"],
    );
}

/// Loading `app` fails with one line per `expected` problem, each named.
#[track_caller]
fn assert_lists_exactly(app: &std::path::Path, expected: &[&str]) {
    let error = rampart_server::data_api::load_snapshot(app, &settings()).unwrap_err();
    let text = error.to_string();
    for expected in expected {
        assert!(text.contains(expected), "missing {expected}: {text}");
    }
    assert_eq!(text.lines().count(), expected.len(), "{text}");
}

#[tokio::test]
async fn actions_run_below_http_with_a_given_user() {
    use rampart_server::data_api::{parse_body, Action};
    let server = owner_server().await;
    seed(
        &server.store,
        DB,
        COLL,
        &[
            json!({"_id": 1, "owner": "alice"}),
            json!({"_id": 2, "owner": "bob"}),
        ],
    );
    let text = body(json!({"filter": {}, "update": {"$set": {"seen": true}}})).to_string();
    let parsed = parse_body(Action::UpdateMany, text.as_bytes()).unwrap();
    let error = server
        .api
        .run_action(
            server.store.clone(),
            &user("alice"),
            Action::UpdateMany,
            parsed,
            bson::Document::new(),
        )
        .await
        .unwrap_err();
    assert_eq!((error.status.as_u16(), error.code), (403, "NotPermitted"));
    let text =
        body(json!({"filter": {"owner": "alice"}, "update": {"$set": {"seen": true}}})).to_string();
    let parsed = parse_body(Action::UpdateMany, text.as_bytes()).unwrap();
    let result = server
        .api
        .run_action(
            server.store.clone(),
            &user("alice"),
            Action::UpdateMany,
            parsed,
            bson::Document::new(),
        )
        .await
        .unwrap();
    assert_eq!(result, bson::doc! {"matchedCount": 1, "modifiedCount": 1});
    server.stop().await;
}
