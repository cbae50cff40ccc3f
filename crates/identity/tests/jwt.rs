//! JWT verification: static keys and a live JWKS server on 127.0.0.1:0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bson::{doc, Bson};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use rampart_identity::{AuthError, AuthMethod, Authenticator};
use serde_json::json;

const INVALID: &str = "invalid session: invalid token";

async fn message(authenticator: &Authenticator, token: &str) -> String {
    let error = auth(authenticator, &bearer(token)).await.unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (401, "InvalidSession"),
        "{error}"
    );
    error.to_string()
}

async fn rsa1_server() -> JwksServer {
    JwksServer::start(jwks(vec![jwk(&rsa_key("rsa1"), Algorithm::RS256, "k1")])).await
}

#[tokio::test]
async fn a_valid_token_from_the_jwks_builds_the_user() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(&jwks_issuer(&server.url, ""), &store);
    let found = auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    assert_eq!(found.method, AuthMethod::BearerJwt);
    let user = found.user;
    assert_eq!(user.id, "ada");
    assert_eq!(user.user_type, "normal");
    assert_eq!(user.data.get_str("email").unwrap(), "ada@example.com");
    assert_eq!(user.data.get_str("name").unwrap(), "Ada Lovelace");
    assert_eq!(
        user.data.get_array("groups").unwrap(),
        &vec![Bson::from("admins"), Bson::from("math")]
    );
    assert_eq!(user.data.get_str("iss").unwrap(), ISSUER);
    assert_eq!(
        user.identities,
        vec![doc! { "id": "ada", "provider_type": "custom-token" }]
    );
    assert_eq!(server.fetches(), 1);
    // The cache serves the next token.
    auth(&auth_, &bearer(&rs256("k1", &claims("bob"))))
        .await
        .unwrap();
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn expiry_and_not_before_are_checked_with_leeway() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(&jwks_issuer(&server.url, "leeway_seconds = 30"), &store);
    let mut expired = claims("ada");
    expired["exp"] = json!(now() - 120);
    assert_eq!(
        message(&auth_, &rs256("k1", &expired)).await,
        "invalid session: token is expired"
    );
    let mut within_leeway = claims("ada");
    within_leeway["exp"] = json!(now() - 10);
    auth(&auth_, &bearer(&rs256("k1", &within_leeway)))
        .await
        .unwrap();
    let mut future = claims("ada");
    future["nbf"] = json!(now() + 600);
    assert_eq!(
        message(&auth_, &rs256("k1", &future)).await,
        "invalid session: token is not yet valid"
    );
    let mut no_exp = claims("ada");
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(message(&auth_, &rs256("k1", &no_exp)).await, INVALID);
}

#[tokio::test]
async fn issuer_and_audience_must_match() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let extra = "";
    let text = format!(
        "[[jwt]]\nissuer = \"{ISSUER}\"\naudience = [\"other\", \"{AUDIENCE}\"]\njwks_url = \"{}\"\n{extra}",
        server.url
    );
    let auth_ = authenticator(&text, &store);
    let mut wrong_iss = claims("ada");
    wrong_iss["iss"] = json!("https://evil.test/");
    assert_eq!(message(&auth_, &rs256("k1", &wrong_iss)).await, INVALID);
    let mut wrong_aud = claims("ada");
    wrong_aud["aud"] = json!("someone-else");
    assert_eq!(message(&auth_, &rs256("k1", &wrong_aud)).await, INVALID);
    let mut no_aud = claims("ada");
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(message(&auth_, &rs256("k1", &no_aud)).await, INVALID);
    let mut aud_list = claims("ada");
    aud_list["aud"] = json!(["x", "other"]);
    auth(&auth_, &bearer(&rs256("k1", &aud_list)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bad_signature_is_rejected() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(&jwks_issuer(&server.url, ""), &store);
    // Signed by another key under the known kid.
    let forged = sign(
        Algorithm::RS256,
        Some("k1"),
        &claims("ada"),
        &rsa_key("rsa2"),
    );
    assert_eq!(message(&auth_, &forged).await, INVALID);
    // A valid token with its payload swapped.
    let valid = rs256("k1", &claims("ada"));
    let other = rs256("k1", &claims("root"));
    let parts: Vec<&str> = valid.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_eq!(message(&auth_, &spliced).await, INVALID);
}

fn unsigned_token(header: serde_json::Value, claims: &serde_json::Value) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        engine.encode(header.to_string()),
        engine.encode(claims.to_string())
    )
}

#[tokio::test]
async fn alg_none_is_always_rejected() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(&jwks_issuer(&server.url, ""), &store);
    for alg in ["none", "None", "NONE"] {
        let token = unsigned_token(
            json!({"alg": alg, "typ": "JWT", "kid": "k1"}),
            &claims("ada"),
        );
        assert_eq!(message(&auth_, &token).await, INVALID);
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let public_pem = fixture("rsa1.pub.pem");
    let confused = sign(
        Algorithm::HS256,
        Some("k1"),
        &claims("ada"),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    );
    let (_dir, store) = store();
    // A JWKS issuer, even one that allows every public-key algorithm.
    let server = rsa1_server().await;
    let all = "algorithms = [\"RS256\", \"RS384\", \"PS256\", \"ES256\", \"EdDSA\"]";
    let auth_ = authenticator(&jwks_issuer(&server.url, all), &store);
    assert_eq!(message(&auth_, &confused).await, INVALID);
    // A fixed-key issuer.
    let fixed = format!(
        "[[jwt]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\npublic_keys = [{{ pem = '''{public_pem}''', kid = \"k1\" }}]\n"
    );
    let auth_ = authenticator(&fixed, &store);
    assert_eq!(message(&auth_, &confused).await, INVALID);
    // HMAC cannot even be configured.
    let hmac = format!("{fixed}algorithms = [\"HS256\"]\n");
    let error = Authenticator::new(&config(&hmac), Arc::clone(&store)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`auth.jwt[0].algorithms`: `HS256` is not supported: only public-key algorithms are"
    );
}

#[tokio::test]
async fn symmetric_keys_in_a_jwks_are_ignored() {
    let secret = EncodingKey::from_secret(b"shared secret");
    let document = jwks(vec![jwk(&secret, Algorithm::HS256, "k1")]);
    let server = JwksServer::start(document).await;
    let (_dir, store) = store();
    let text = jwks_issuer(&server.url, "algorithms = [\"RS256\"]");
    let auth_ = authenticator(&text, &store);
    let token = sign(Algorithm::HS256, Some("k1"), &claims("ada"), &secret);
    assert_eq!(message(&auth_, &token).await, INVALID);
}

#[tokio::test]
async fn the_algorithm_must_fit_the_key() {
    let server = JwksServer::start(jwks(vec![
        jwk(&rsa_key("rsa1"), Algorithm::RS256, "rsa"),
        jwk(&ec_key(), Algorithm::ES256, "ec"),
    ]))
    .await;
    let (_dir, store) = store();
    let extra = "algorithms = [\"RS256\", \"ES256\", \"PS256\"]";
    let auth_ = authenticator(&jwks_issuer(&server.url, extra), &store);
    let ec = sign(Algorithm::ES256, Some("ec"), &claims("ada"), &ec_key());
    assert_eq!(auth(&auth_, &bearer(&ec)).await.unwrap().user.id, "ada");
    // ES256 under the RSA key's kid, RS256 under the EC key's kid.
    let ec_as_rsa = sign(Algorithm::ES256, Some("rsa"), &claims("ada"), &ec_key());
    assert_eq!(message(&auth_, &ec_as_rsa).await, INVALID);
    let rsa_as_ec = sign(
        Algorithm::RS256,
        Some("ec"),
        &claims("ada"),
        &rsa_key("rsa1"),
    );
    assert_eq!(message(&auth_, &rsa_as_ec).await, INVALID);
    // The JWK says RS256: a PS256 token with that key is refused even though PS256 is allowed.
    let ps = sign(
        Algorithm::PS256,
        Some("rsa"),
        &claims("ada"),
        &rsa_key("rsa1"),
    );
    assert_eq!(message(&auth_, &ps).await, INVALID);
    // An allowed-list miss.
    let rs384 = sign(
        Algorithm::RS384,
        Some("rsa"),
        &claims("ada"),
        &rsa_key("rsa1"),
    );
    assert_eq!(message(&auth_, &rs384).await, INVALID);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_and_accepts_a_rotated_key() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(
        &jwks_issuer(&server.url, "jwks_min_refetch_seconds = 1"),
        &store,
    );
    auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    assert_eq!(server.fetches(), 1);
    // The issuer rotates to a new key.
    server.serve(jwks(vec![
        jwk(&rsa_key("rsa1"), Algorithm::RS256, "k1"),
        jwk(&rsa_key("rsa2"), Algorithm::RS256, "k2"),
    ]));
    let rotated = sign(
        Algorithm::RS256,
        Some("k2"),
        &claims("ada"),
        &rsa_key("rsa2"),
    );
    // Within the refetch interval, the unknown kid is refused without a fetch.
    assert_eq!(message(&auth_, &rotated).await, INVALID);
    assert_eq!(server.fetches(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let found = auth(&auth_, &bearer(&rotated)).await.unwrap();
    assert_eq!(found.user.id, "ada");
    assert_eq!(server.fetches(), 2);
    // Both keys now verify from the cache.
    auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    auth(&auth_, &bearer(&rotated)).await.unwrap();
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(
        &jwks_issuer(&server.url, "jwks_min_refetch_seconds = 60"),
        &store,
    );
    auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    for index in 0..50 {
        let token = rs256(&format!("bogus-{index}"), &claims("ada"));
        assert_eq!(message(&auth_, &token).await, INVALID);
    }
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn an_unreachable_jwks_fails_closed_with_500() {
    let server = rsa1_server().await;
    let url = server.url.clone();
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_dir, store) = store();
    let auth_ = authenticator(&jwks_issuer(&url, "jwks_timeout_seconds = 2"), &store);
    let error = auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap_err();
    assert_eq!(error, AuthError::Unavailable);
    assert_eq!((error.status(), error.code()), (500, "InternalServerError"));
    // A token for an issuer that is not configured is still a plain 401.
    let mut other = claims("ada");
    other["iss"] = json!("https://other.test/");
    assert_eq!(message(&auth_, &rs256("k1", &other)).await, INVALID);
}

#[tokio::test]
async fn cached_keys_stay_in_use_when_the_issuer_goes_down() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let text = jwks_issuer(
        &server.url,
        "jwks_cache_seconds = 0\njwks_min_refetch_seconds = 0",
    );
    let auth_ = authenticator(&text, &store);
    auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    server.set_down(true);
    auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    assert_eq!(
        server.fetches(),
        2,
        "the expired cache was refetched, and that failed"
    );
}

#[tokio::test]
async fn a_jwks_answering_errors_from_the_start_is_500() {
    let server = rsa1_server().await;
    server.set_down(true);
    let (_dir, store) = store();
    let auth_ = authenticator(
        &jwks_issuer(&server.url, "jwks_min_refetch_seconds = 60"),
        &store,
    );
    for _ in 0..5 {
        let error = auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
            .await
            .unwrap_err();
        assert_eq!(error, AuthError::Unavailable);
    }
    assert_eq!(server.fetches(), 1, "failed fetches are rate limited too");
}

#[tokio::test]
async fn fixed_keys_from_files_relative_to_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/ec.pem"), fixture("ec256.pub.pem")).unwrap();
    std::fs::write(dir.path().join("keys/rsa.pem"), fixture("rsa1.pub.pem")).unwrap();
    let text = format!(
        "[[jwt]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\nalgorithms = [\"ES256\", \"RS256\"]\npublic_keys = [{{ file = \"keys/ec.pem\" }}, {{ file = \"keys/rsa.pem\", kid = \"r\" }}]\n"
    );
    let (_store_dir, store) = store();
    let auth_config = config(&text).with_config_dir(dir.path());
    let auth_ = Authenticator::new(&auth_config, Arc::clone(&store)).unwrap();
    let ec = sign(Algorithm::ES256, None, &claims("ada"), &ec_key());
    assert_eq!(auth(&auth_, &bearer(&ec)).await.unwrap().user.id, "ada");
    let rsa = sign(
        Algorithm::RS256,
        Some("r"),
        &claims("bob"),
        &rsa_key("rsa1"),
    );
    assert_eq!(auth(&auth_, &bearer(&rsa)).await.unwrap().user.id, "bob");
    // Without a kid every fitting key is tried.
    let rsa_no_kid = sign(Algorithm::RS256, None, &claims("bob"), &rsa_key("rsa1"));
    assert_eq!(
        auth(&auth_, &bearer(&rsa_no_kid)).await.unwrap().user.id,
        "bob"
    );
    let wrong_kid = sign(
        Algorithm::RS256,
        Some("x"),
        &claims("bob"),
        &rsa_key("rsa1"),
    );
    assert_eq!(message(&auth_, &wrong_kid).await, INVALID);
    // A key configured without a kid accepts tokens that name one.
    let ec_with_kid = sign(Algorithm::ES256, Some("any"), &claims("ada"), &ec_key());
    assert_eq!(
        auth(&auth_, &bearer(&ec_with_kid)).await.unwrap().user.id,
        "ada"
    );
    // A missing file is a config error naming the key.
    let error = Authenticator::new(&config(&text), Arc::clone(&store)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("`auth.jwt[0].public_keys[0]`: cannot read `keys/ec.pem`"),
        "{error}"
    );
}

#[tokio::test]
async fn the_user_id_claim_is_configurable_and_required() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(
        &jwks_issuer(&server.url, "user_id_claim = \"email\""),
        &store,
    );
    let found = auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    assert_eq!(found.user.id, "ada@example.com");
    assert_eq!(
        found.user.identities,
        vec![doc! { "id": "ada", "provider_type": "custom-token" }]
    );
    let mut no_email = claims("ada");
    no_email.as_object_mut().unwrap().remove("email");
    assert_eq!(message(&auth_, &rs256("k1", &no_email)).await, INVALID);
    let mut empty = claims("ada");
    empty["email"] = json!("");
    assert_eq!(message(&auth_, &rs256("k1", &empty)).await, INVALID);
}

#[tokio::test]
async fn jwt_users_get_custom_data() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let text = format!(
        "{}[custom_user_data]\ndatabase = \"app\"\ncollection = \"profiles\"\nuser_id_field = \"owner\"\n",
        jwks_issuer(&server.url, "")
    );
    let auth_ = authenticator(&text, &store);
    let profiles = rampart_store::Namespace::new("app", "profiles").unwrap();
    store
        .insert_one(
            &profiles,
            doc! { "_id": 1, "owner": "ada", "role": "editor" },
        )
        .unwrap();
    let found = auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    assert_eq!(
        found.user.custom_data,
        doc! { "_id": 1, "owner": "ada", "role": "editor" }
    );
}

#[tokio::test]
async fn malformed_tokens_are_401() {
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(&jwks_issuer(&server.url, ""), &store);
    let huge = "a".repeat(20_000);
    for token in ["x", "a.b", "a.b.c", "a.b.c.d", "....", huge.as_str()] {
        assert_eq!(message(&auth_, token).await, INVALID, "{token:.20}");
    }
}

#[test]
fn config_errors_name_the_key() {
    let (_dir, store) = store();
    let cases = [
        (
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"http://idp.example.com/jwks\"\n",
            "`auth.jwt[0].jwks_url`: `http://idp.example.com/jwks` is plain http on a host that is not loopback: use https or set `allow_insecure_http = true`",
        ),
        (
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"ftp://idp/jwks\"\n",
            "`auth.jwt[0].jwks_url`: `ftp://idp/jwks` must be an https url",
        ),
        (
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\n",
            "`auth.jwt[0]`: set `jwks_url` or `public_keys`",
        ),
        (
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"https://x/\"\npublic_keys = [{ pem = \"x\" }]\n",
            "`auth.jwt[0]`: set either `jwks_url` or `public_keys`, not both",
        ),
        (
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\npublic_keys = [{ pem = \"not a key\" }]\n",
            "`auth.jwt[0].public_keys[0]`: not an rsa, ec or ed25519 public key in pem",
        ),
        (
            "[[jwt]]\nissuer = \"i\"\naudience = []\njwks_url = \"https://x/\"\n",
            "`auth.jwt[0].audience`: needs at least one non-empty audience",
        ),
        (
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"https://x/\"\nalgorithms = [\"none\"]\n",
            "`auth.jwt[0].algorithms`: unknown algorithm `none`",
        ),
        (
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"https://x/\"\n[[jwt]]\nissuer = \"i\"\naudience = \"b\"\njwks_url = \"https://y/\"\n",
            "`auth.jwt[1].issuer`: issuer `i` is configured twice",
        ),
        (
            "[custom_user_data]\ndatabase = \"\"\ncollection = \"c\"\n",
            "`auth.custom_user_data`: invalid namespace",
        ),
    ];
    for (text, expected) in cases {
        let error = Authenticator::new(&config(text), Arc::clone(&store)).unwrap_err();
        assert!(error.to_string().starts_with(expected), "{text}\n{error}");
    }
    let allowed = "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"http://idp.internal/jwks\"\nallow_insecure_http = true\n";
    Authenticator::new(&config(allowed), Arc::clone(&store)).unwrap();
    for loopback in [
        "http://127.0.0.1:1/j",
        "http://localhost:1/j",
        "http://[::1]:1/j",
    ] {
        let text =
            format!("[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"{loopback}\"\n");
        Authenticator::new(&config(&text), Arc::clone(&store)).unwrap();
    }
}

#[test]
fn unknown_keys_are_errors() {
    for text in [
        "anonymus = true",
        "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"https://x/\"\nleeway = 5\n",
        "[custom_user_data]\ndatabase = \"d\"\ncollection = \"c\"\nfield = \"x\"\n",
    ] {
        let error = toml::from_str::<rampart_identity::AuthConfig>(text).unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }
}

/// The first authentication of a JWT user records it in `rampart.users` (App Services'
/// `create_user_on_auth`); later ones find the record; a user id that is not a valid one is
/// refused.
#[tokio::test]
async fn the_first_jwt_authentication_records_the_user() {
    use rampart_identity::{SYSTEM_DATABASE, USERS_COLLECTION};
    use rampart_store::{FindOptions, Namespace};
    let server = rsa1_server().await;
    let (_dir, store) = store();
    let auth_ = authenticator(&jwks_issuer(&server.url, ""), &store);
    let users = Namespace::new(SYSTEM_DATABASE, USERS_COLLECTION).unwrap();
    let records = || -> Vec<bson::Document> {
        store
            .find(&users, FindOptions::filter(doc! {}))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(records().is_empty());
    for _ in 0..2 {
        auth(&auth_, &bearer(&rs256("k1", &claims("ada"))))
            .await
            .unwrap();
    }
    let stored = records();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].get_str("_id").unwrap(), "ada");
    assert_eq!(stored[0].get_str("type").unwrap(), "normal");
    // A fresh authenticator (a restart) finds the record instead of adding another.
    let again = authenticator(&jwks_issuer(&server.url, ""), &store);
    auth(&again, &bearer(&rs256("k1", &claims("ada"))))
        .await
        .unwrap();
    assert_eq!(records().len(), 1);
    let too_long = "x".repeat(300);
    assert_eq!(
        message(&auth_, &rs256("k1", &claims(&too_long))).await,
        INVALID
    );
    assert_eq!(records().len(), 1);
}
