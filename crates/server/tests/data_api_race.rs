#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Check and write cannot be split by another writer: many tasks hand a document's ownership
//! around while others try to update it under an owner-only rule. Every successful write
//! appends its author to the document's log, in commit order; replaying the log must show that
//! each write was made by the owner of the document as it was just before that write.

mod data_api_harness;

use data_api_harness::*;
use serde_json::{json, Value};

const DB: &str = "app";
const COLL: &str = "race";
const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];

fn body(extra: Value) -> Value {
    let mut base = json!({"dataSource": SERVICE, "database": DB, "collection": COLL});
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_write_is_allowed_against_a_stale_owner() {
    let app = tempfile::tempdir().unwrap();
    // Only the owner sees (and so can update) the document.
    write_rules(
        app.path(),
        DB,
        COLL,
        &json!({
            "roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true}]
        }),
    );
    let server = Server::start(app, settings(), auth_for(&USERS)).await;
    seed(
        &server.store,
        DB,
        COLL,
        &[json!({"_id": 1, "owner": "u0", "log": []})],
    );
    let address = server.address;
    let url = server.url("updateOne");
    let mut tasks = Vec::new();
    for round in 0..12 {
        for (index, user) in USERS.iter().enumerate() {
            let url = url.clone();
            let user = user.to_string();
            let next = USERS[(index + 1 + round % 3) % USERS.len()].to_owned();
            // Half the attempts hand the document on, half only touch it.
            let update = if round % 2 == 0 {
                json!({"$set": {"owner": next}, "$push": {"log": format!("{user}>{next}")}})
            } else {
                json!({"$push": {"log": user.clone()}})
            };
            let text = body(json!({"filter": {"_id": 1}, "update": update})).to_string();
            tasks.push(tokio::spawn(async move {
                let response =
                    send(address, "POST", &url, &[("apiKey", &user)], text.as_bytes()).await;
                assert_eq!(response.status, 200, "{}", response.text);
                response.json()["modifiedCount"].as_u64().unwrap()
            }));
        }
    }
    let mut successes = 0;
    for task in tasks {
        successes += task.await.unwrap();
    }
    let stored = contents(&server.store, DB, COLL);
    let log: Vec<String> = stored[0]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(log.len() as u64, successes, "every success is logged once");
    assert!(successes > 0);
    let mut owner = "u0".to_owned();
    for entry in &log {
        match entry.split_once('>') {
            Some((author, next)) => {
                assert_eq!(
                    author, owner,
                    "a hand-over by a non-owner committed: {log:?}"
                );
                owner = next.to_owned();
            }
            None => assert_eq!(entry, &owner, "an update by a non-owner committed: {log:?}"),
        }
    }
    assert_eq!(stored[0]["owner"], owner.as_str());
    server.stop().await;
}
