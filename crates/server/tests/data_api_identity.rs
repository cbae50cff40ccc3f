#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Data API with Rampart's own authenticator: API keys created in the store
//! (`rampart_identity::create_api_key`) authenticate as their user (`%%user.type` `server`),
//! and the documented authentication errors come back with their statuses.

mod data_api_harness;

use std::sync::{Arc, Mutex};

use data_api_harness::*;
use rampart_identity::{create_api_key, AuthConfig, Authenticator};
use rampart_server::data_api::Authenticate;
use serde_json::json;

#[tokio::test]
async fn api_keys_authenticate_as_their_user() {
    let app = tempfile::tempdir().unwrap();
    write_rules(
        app.path(),
        "app",
        "notes",
        &json!({"roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true}]}),
    );
    let keys = Arc::new(Mutex::new(Vec::new()));
    let created = Arc::clone(&keys);
    let server = Server::start_with(app, settings(), move |store| {
        for user in ["alice", "bob"] {
            let key = create_api_key(store.as_ref(), user, None).unwrap();
            created.lock().unwrap().push(key.secret);
        }
        let auth: Arc<dyn Authenticate> =
            Arc::new(Authenticator::new(&AuthConfig::default(), store).unwrap());
        auth
    })
    .await;
    let (alice, bob) = {
        let keys = keys.lock().unwrap();
        (keys[0].clone(), keys[1].clone())
    };
    let ns = json!({"dataSource": SERVICE, "database": "app", "collection": "notes"});
    let mut insert = ns.clone();
    insert["document"] = json!({"_id": 1, "owner": "alice", "text": "hi"});
    let response = server.call(&alice, "insertOne", &insert).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let mut find = ns.clone();
    find["filter"] = json!({});
    let mine = server.call(&alice, "find", &find).await;
    assert_eq!(mine.json()["documents"].as_array().unwrap().len(), 1);
    let theirs = server.call(&bob, "find", &find).await;
    assert_eq!(theirs.json(), json!({"documents": []}));

    let unknown = server.call("rk_0000_nope", "find", &find).await;
    unknown.expect_error(401, "InvalidSession");
    let none = server
        .request(
            "POST",
            &server.url("find"),
            &[],
            find.to_string().as_bytes(),
        )
        .await;
    assert_eq!(
        none.expect_error(400, "InvalidParameter"),
        "no authentication methods were specified"
    );
    server.stop().await;
}
