//! API keys through the public functions, on a real embedded store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{doc, Bson};
use rampart_identity::{
    create_api_key, list_api_keys, revoke_api_key, verify_api_key, IdentityError,
};
use rampart_store::{EmbeddedStore, FindOptions, Namespace, Store};

fn store() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

/// The secret part of `rk_<id>_<secret>` (the secret itself may contain `_`).
fn secret_of(key: &str) -> &str {
    key.strip_prefix("rk_").unwrap().split_once('_').unwrap().1
}

fn all_documents(store: &dyn Store, collection: &str) -> Vec<bson::Document> {
    let ns = Namespace::new("rampart", collection).unwrap();
    store
        .find(&ns, FindOptions::default())
        .unwrap()
        .collect_all()
        .unwrap()
}

#[test]
fn a_key_has_the_documented_shape_and_verifies() {
    let (_dir, store) = store();
    let key = create_api_key(&store, "svc-1", Some("ci")).unwrap();
    assert_eq!(key.user_id, "svc-1");
    assert_eq!(key.name, "ci");
    assert_eq!(key.id.len(), 24);
    let (id, secret) = key
        .secret
        .strip_prefix("rk_")
        .unwrap()
        .split_once('_')
        .unwrap();
    assert_eq!(id, key.id);
    assert_eq!(secret.len(), 43, "32 bytes in unpadded base64url");
    assert!(key
        .secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    let info = verify_api_key(&store, &key.secret).unwrap().unwrap();
    assert_eq!(info.id, key.id);
    assert_eq!(info.user_id, "svc-1");
    assert!(
        !format!("{key:?}").contains(secret),
        "debug output hides the secret"
    );
}

#[test]
fn two_keys_are_different() {
    let (_dir, store) = store();
    let first = create_api_key(&store, "u", None).unwrap();
    let second = create_api_key(&store, "u", None).unwrap();
    assert_ne!(first.secret, second.secret);
    assert_ne!(first.id, second.id);
    assert_eq!(first.name, first.id, "an unnamed key is named by its id");
}

#[test]
fn the_secret_is_stored_only_as_a_hash() {
    let (_dir, store) = store();
    let key = create_api_key(&store, "svc-1", Some("ci")).unwrap();
    let secret = secret_of(&key.secret).to_owned();
    for collection in ["api_keys", "users"] {
        for document in all_documents(&store, collection) {
            let text = format!(
                "{document:?} {}",
                Bson::Document(document.clone()).into_relaxed_extjson()
            );
            assert!(
                !text.contains(&secret),
                "{collection} holds the secret: {text}"
            );
        }
    }
    let records = all_documents(&store, "api_keys");
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let mut fields: Vec<&str> = record.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["_id", "created_at", "hash", "name", "user_id"]);
    assert_eq!(record.get_str("hash").unwrap().len(), 64);
}

#[test]
fn creating_a_key_creates_a_server_user_once() {
    let (_dir, store) = store();
    create_api_key(&store, "svc-1", None).unwrap();
    create_api_key(&store, "svc-1", None).unwrap();
    let users = all_documents(&store, "users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].get_str("_id").unwrap(), "svc-1");
    assert_eq!(users[0].get_str("type").unwrap(), "server");
    assert_eq!(users[0].get_document("data").unwrap(), &doc! {});
    assert!(users[0].get_datetime("created_at").is_ok());
}

#[test]
fn an_existing_user_keeps_its_record() {
    let (_dir, store) = store();
    let users = Namespace::new("rampart", "users").unwrap();
    store
        .insert_one(
            &users,
            doc! { "_id": "ada", "type": "normal", "data": { "email": "ada@example.com" } },
        )
        .unwrap();
    create_api_key(&store, "ada", None).unwrap();
    let stored = all_documents(&store, "users");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].get_str("type").unwrap(), "normal");
}

#[test]
fn wrong_secrets_and_malformed_keys_do_not_verify() {
    let (_dir, store) = store();
    let key = create_api_key(&store, "u", None).unwrap();
    let mut wrong = key.secret.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let other_id = format!("rk_{}_{}", "0".repeat(24), secret_of(&key.secret));
    for presented in [
        wrong.as_str(),
        other_id.as_str(),
        "",
        "rk_",
        "rk_abc_def",
        "not-a-key",
        &key.secret[..key.secret.len() - 1],
        &format!("{}x", key.secret),
        &key.secret.to_uppercase(),
    ] {
        assert!(
            verify_api_key(&store, presented).unwrap().is_none(),
            "{presented:?}"
        );
    }
}

#[test]
fn revoke_by_id_or_name_stops_verification() {
    let (_dir, store) = store();
    let by_id = create_api_key(&store, "u", Some("one")).unwrap();
    let by_name = create_api_key(&store, "u", Some("two")).unwrap();
    let revoked = revoke_api_key(&store, &by_id.id).unwrap();
    assert_eq!(revoked.name, "one");
    assert!(revoked.revoked_at.is_some());
    revoke_api_key(&store, "two").unwrap();
    assert!(verify_api_key(&store, &by_id.secret).unwrap().is_none());
    assert!(verify_api_key(&store, &by_name.secret).unwrap().is_none());
    let again = revoke_api_key(&store, "one").unwrap();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "revoking twice keeps the first time"
    );
    assert!(matches!(
        revoke_api_key(&store, "three"),
        Err(IdentityError::KeyNotFound(name)) if name == "three"
    ));
}

#[test]
fn list_shows_every_key_without_secrets() {
    let (_dir, store) = store();
    let first = create_api_key(&store, "a", Some("first")).unwrap();
    let second = create_api_key(&store, "b", Some("second")).unwrap();
    revoke_api_key(&store, "first").unwrap();
    let all = list_api_keys(&store, None).unwrap();
    assert_eq!(all.len(), 2);
    let names: Vec<&str> = all.iter().map(|key| key.name.as_str()).collect();
    assert!(names.contains(&"first") && names.contains(&"second"));
    let printed = format!("{all:?}");
    for secret in [&first.secret, &second.secret] {
        assert!(!printed.contains(secret_of(secret)));
    }
    let of_b = list_api_keys(&store, Some("b")).unwrap();
    assert_eq!(of_b.len(), 1);
    assert_eq!(of_b[0].id, second.id);
    assert!(of_b[0].revoked_at.is_none());
    assert!(all
        .iter()
        .find(|key| key.id == first.id)
        .unwrap()
        .revoked_at
        .is_some());
}

#[test]
fn names_are_unique_and_checked() {
    let (_dir, store) = store();
    create_api_key(&store, "a", Some("ci")).unwrap();
    let duplicate = create_api_key(&store, "b", Some("ci")).unwrap_err();
    assert_eq!(
        duplicate.to_string(),
        "an api key named `ci` already exists"
    );
    assert_eq!(
        list_api_keys(&store, None).unwrap().len(),
        1,
        "nothing half-created"
    );
    assert_eq!(
        all_documents(&store, "users").len(),
        1,
        "the user of a failed key is not created"
    );
    for bad in ["", "has space", "slash/", &"x".repeat(65)] {
        let error = create_api_key(&store, "a", Some(bad)).unwrap_err();
        assert!(matches!(error, IdentityError::InvalidKeyName(_)), "{bad:?}");
    }
    for bad in ["", "tab\there", &"u".repeat(257)] {
        let error = create_api_key(&store, bad, None).unwrap_err();
        assert!(matches!(error, IdentityError::InvalidUserId(..)), "{bad:?}");
    }
}
