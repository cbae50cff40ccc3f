//! Every combination of credential headers, with the exact status, code and message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use bson::doc;
use common::*;
use rampart_identity::{create_api_key, revoke_api_key, AuthError, AuthMethod};
use rampart_store::Namespace;

const NO_CREDENTIALS: (u16, &str, &str) = (
    400,
    "InvalidParameter",
    "no authentication methods were specified",
);
const PARTIAL: (u16, &str, &str) = (
    400,
    "MissingParameter",
    "must specify some form of authentication (either email+password, api-key, or jwt) in the request header or body",
);
const UNSUPPORTED: (u16, &str, &str) = (
    400,
    "AuthProviderNotFound",
    "authentication via 'local-userpass' is unsupported: use an api key or a jwt",
);
const NO_USER: (u16, &str, &str) = (
    401,
    "InvalidSession",
    "invalid session: error finding user for endpoint",
);
const BAD_TOKEN: (u16, &str, &str) = (401, "InvalidSession", "invalid session: invalid token");

fn assert_error(
    result: Result<rampart_identity::AuthenticatedUser, AuthError>,
    expected: (u16, &str, &str),
) {
    let error = result.expect_err("authentication should fail");
    let (status, code, message) = report(&error);
    assert_eq!((status, code, message.as_str()), expected);
}

/// An issuer with a fixed key, so header tests need no server.
fn fixed_issuer() -> String {
    format!(
        "[[jwt]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\npublic_keys = [{{ pem = '''{}''', kid = \"k1\" }}]\n",
        fixture("rsa1.pub.pem")
    )
}

#[tokio::test]
async fn no_credentials_is_400_invalid_parameter() {
    let (_dir, store) = store();
    let auth_ = authenticator("", &store);
    assert_error(auth(&auth_, &headers(&[])).await, NO_CREDENTIALS);
    let unrelated = headers(&[("content-type", "application/json"), ("x-api-key", "rk_x")]);
    assert_error(auth(&auth_, &unrelated).await, NO_CREDENTIALS);
}

#[tokio::test]
async fn another_authorization_scheme_counts_as_no_credentials() {
    let (_dir, store) = store();
    let auth_ = authenticator("", &store);
    let basic = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
    assert_error(auth(&auth_, &basic).await, NO_CREDENTIALS);
}

#[tokio::test]
async fn email_or_password_alone_is_400_missing_parameter() {
    let (_dir, store) = store();
    let auth_ = authenticator("anonymous = true", &store);
    for pairs in [[("email", "a@example.com")], [("password", "secret")]] {
        assert_error(auth(&auth_, &headers(&pairs)).await, PARTIAL);
    }
}

#[tokio::test]
async fn email_and_password_is_400_unsupported_provider() {
    let (_dir, store) = store();
    let auth_ = authenticator("", &store);
    let pairs = headers(&[("email", "a@example.com"), ("password", "secret")]);
    assert_error(auth(&auth_, &pairs).await, UNSUPPORTED);
}

#[tokio::test]
async fn a_valid_api_key_authenticates_as_its_server_user() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", Some("ci")).unwrap();
    let auth_ = authenticator("", &store);
    let found = auth(&auth_, &headers(&[("apiKey", &key.secret)]))
        .await
        .unwrap();
    assert_eq!(found.method, AuthMethod::ApiKey);
    assert_eq!(found.user.id, "svc-1");
    assert_eq!(found.user.user_type, "server");
    assert_eq!(found.user.data, doc! {});
    assert_eq!(found.user.custom_data, doc! {});
    assert_eq!(
        found.user.identities,
        vec![doc! { "id": &key.id, "provider_type": "api-key" }]
    );
}

#[tokio::test]
async fn an_api_key_works_as_a_bearer_token() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", None).unwrap();
    let auth_ = authenticator("", &store);
    let found = auth(&auth_, &bearer(&key.secret)).await.unwrap();
    assert_eq!(found.method, AuthMethod::ApiKey);
    assert_eq!(found.user.id, "svc-1");
}

#[tokio::test]
async fn unknown_revoked_or_wrong_api_keys_are_401() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", Some("ci")).unwrap();
    let auth_ = authenticator("", &store);
    let unknown = format!("rk_{}_{}", "a".repeat(24), "b".repeat(43));
    for presented in [unknown.as_str(), "garbage", "", "rk_"] {
        assert_error(
            auth(&auth_, &headers(&[("apiKey", presented)])).await,
            NO_USER,
        );
    }
    revoke_api_key(store.as_ref(), "ci").unwrap();
    assert_error(
        auth(&auth_, &headers(&[("apiKey", &key.secret)])).await,
        NO_USER,
    );
    assert_error(auth(&auth_, &bearer(&key.secret)).await, NO_USER);
}

#[tokio::test]
async fn a_verified_key_is_cached_briefly_and_revocation_lands_after_the_ttl() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", Some("ci")).unwrap();
    let auth_ = authenticator("api_key_cache_seconds = 1\n", &store);
    let presented = headers(&[("apiKey", &key.secret)]);
    assert_eq!(auth(&auth_, &presented).await.unwrap().user.id, "svc-1");
    revoke_api_key(store.as_ref(), "ci").unwrap();
    // Within the TTL the cached verification answers (proof that the cache is used)...
    assert_eq!(auth(&auth_, &presented).await.unwrap().user.id, "svc-1");
    // ...and once it has passed, the revocation is seen. The sleep waits out a configured TTL;
    // it measures nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_error(auth(&auth_, &presented).await, NO_USER);
    // A wrong secret for a cached key id is never served from the cache.
    let tampered = format!("{}x", key.secret);
    assert_error(
        auth(&auth_, &headers(&[("apiKey", &tampered)])).await,
        NO_USER,
    );
}

#[tokio::test]
async fn a_key_whose_user_record_is_gone_is_401() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", None).unwrap();
    let users = Namespace::new("rampart", "users").unwrap();
    assert_eq!(
        store.delete_one(&users, &doc! { "_id": "svc-1" }).unwrap(),
        1
    );
    let auth_ = authenticator("", &store);
    assert_error(
        auth(&auth_, &headers(&[("apiKey", &key.secret)])).await,
        NO_USER,
    );
}

#[tokio::test]
async fn an_invalid_bearer_token_never_falls_back_to_other_headers() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", None).unwrap();
    let auth_ = authenticator(&fixed_issuer(), &store);
    let pairs = headers(&[
        ("authorization", "Bearer not.a.token"),
        ("apiKey", &key.secret),
    ]);
    assert_error(auth(&auth_, &pairs).await, BAD_TOKEN);
    for empty in ["Bearer", "Bearer ", "bearer    "] {
        let pairs = headers(&[("authorization", empty), ("apiKey", &key.secret)]);
        assert_error(auth(&auth_, &pairs).await, BAD_TOKEN);
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (_dir, store) = store();
    let auth_ = authenticator(&fixed_issuer(), &store);
    let token = rs256("k1", &claims("ada"));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let pairs = headers(&[("authorization", &format!("{scheme} {token}"))]);
        let found = auth(&auth_, &pairs).await.unwrap();
        assert_eq!(found.method, AuthMethod::BearerJwt);
    }
}

#[tokio::test]
async fn a_valid_bearer_wins_over_other_headers() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", None).unwrap();
    let auth_ = authenticator(&fixed_issuer(), &store);
    let token = rs256("k1", &claims("ada"));
    let pairs = headers(&[
        ("authorization", &format!("Bearer {token}")),
        ("apiKey", &key.secret),
    ]);
    let found = auth(&auth_, &pairs).await.unwrap();
    assert_eq!(
        (found.method, found.user.id.as_str()),
        (AuthMethod::BearerJwt, "ada")
    );
}

#[tokio::test]
async fn api_key_comes_before_jwt_token_string_and_email() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", None).unwrap();
    let auth_ = authenticator(&fixed_issuer(), &store);
    let token = rs256("k1", &claims("ada"));
    let pairs = headers(&[
        ("apiKey", &key.secret),
        ("jwtTokenString", &token),
        ("email", "a@example.com"),
    ]);
    let found = auth(&auth_, &pairs).await.unwrap();
    assert_eq!(found.method, AuthMethod::ApiKey);
    // An invalid apiKey decides too: no fallback to the JWT header.
    let pairs = headers(&[("apiKey", "rk_nope"), ("jwtTokenString", &token)]);
    assert_error(auth(&auth_, &pairs).await, NO_USER);
}

#[tokio::test]
async fn jwt_token_string_is_verified_like_a_bearer_token() {
    let (_dir, store) = store();
    let auth_ = authenticator(&fixed_issuer(), &store);
    let token = rs256("k1", &claims("ada"));
    let pairs = headers(&[("jwtTokenString", &token), ("email", "x@example.com")]);
    let found = auth(&auth_, &pairs).await.unwrap();
    assert_eq!(found.method, AuthMethod::CustomJwt);
    assert_eq!(found.user.id, "ada");
    assert_error(
        auth(&auth_, &headers(&[("jwtTokenString", "garbage")])).await,
        BAD_TOKEN,
    );
}

#[tokio::test]
async fn jwt_without_any_configured_issuer_is_401() {
    let (_dir, store) = store();
    let auth_ = authenticator("", &store);
    let token = rs256("k1", &claims("ada"));
    assert_error(auth(&auth_, &bearer(&token)).await, BAD_TOKEN);
}

#[tokio::test]
async fn a_credential_header_given_twice_is_401() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", None).unwrap();
    let auth_ = authenticator(&fixed_issuer(), &store);
    let token = rs256("k1", &claims("ada"));
    let twice = headers(&[("apiKey", &key.secret), ("apiKey", &key.secret)]);
    assert_error(auth(&auth_, &twice).await, NO_USER);
    let two_bearers = headers(&[
        ("authorization", &format!("Bearer {token}")),
        ("authorization", &format!("Bearer {token}")),
    ]);
    assert_error(auth(&auth_, &two_bearers).await, NO_USER);
}

#[tokio::test]
async fn anonymous_access_only_when_configured() {
    let (_dir, store) = store();
    let closed = authenticator("anonymous = false", &store);
    assert_error(auth(&closed, &headers(&[])).await, NO_CREDENTIALS);
    let open = authenticator("anonymous = true", &store);
    let found = auth(&open, &headers(&[])).await.unwrap();
    assert_eq!(found.method, AuthMethod::Anonymous);
    assert_eq!(found.user.id, "");
    assert_eq!(found.user.user_type, "normal");
    assert_eq!(
        found.user.identities,
        vec![doc! { "id": "", "provider_type": "anon-user" }]
    );
    // Credentials given are still checked: a bad key is not downgraded to anonymous.
    assert_error(
        auth(&open, &headers(&[("apiKey", "rk_bad")])).await,
        NO_USER,
    );
}

#[tokio::test]
async fn custom_user_data_is_read_on_every_request() {
    let (_dir, store) = store();
    let key = create_api_key(store.as_ref(), "svc-1", None).unwrap();
    // With the verified-key cache off, every request reads the user's custom data afresh.
    let toml_text = "api_key_cache_seconds = 0\n[custom_user_data]\ndatabase = \"app\"\ncollection = \"profiles\"\n";
    let auth_ = authenticator(toml_text, &store);
    let api_key = headers(&[("apiKey", &key.secret)]);
    // No collection, no document: empty custom data.
    assert_eq!(
        auth(&auth_, &api_key).await.unwrap().user.custom_data,
        doc! {}
    );
    let profiles = Namespace::new("app", "profiles").unwrap();
    store
        .insert_one(
            &profiles,
            doc! { "_id": 7, "user_id": "svc-1", "team": "blue" },
        )
        .unwrap();
    store
        .insert_one(
            &profiles,
            doc! { "_id": 8, "user_id": "other", "team": "red" },
        )
        .unwrap();
    let found = auth(&auth_, &api_key).await.unwrap();
    assert_eq!(
        found.user.custom_data,
        doc! { "_id": 7, "user_id": "svc-1", "team": "blue" }
    );
    store
        .update_one(
            &profiles,
            &doc! { "_id": 7 },
            &bson::Bson::Document(doc! { "$set": { "team": "green" } }),
            &Default::default(),
        )
        .unwrap();
    let found = auth(&auth_, &api_key).await.unwrap();
    assert_eq!(found.user.custom_data.get_str("team").unwrap(), "green");
}

#[test]
fn status_and_code_of_every_error() {
    let cases = [
        (AuthError::NoCredentials, 400, "InvalidParameter"),
        (AuthError::PartialCredentials, 400, "MissingParameter"),
        (AuthError::UnsupportedProvider, 400, "AuthProviderNotFound"),
        (AuthError::InvalidSession, 401, "InvalidSession"),
        (AuthError::InvalidToken("x".into()), 401, "InvalidSession"),
        (AuthError::Unavailable, 500, "InternalServerError"),
    ];
    for (error, status, code) in cases {
        assert_eq!((error.status(), error.code()), (status, code), "{error:?}");
    }
}
