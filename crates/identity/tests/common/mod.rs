//! Shared test helpers: fixture keys, token signing, a JWKS server on 127.0.0.1:0.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rampart_identity::{AuthConfig, AuthError, AuthenticatedUser, Authenticator};
use rampart_store::{EmbeddedStore, Store};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://idp.test/";
pub const AUDIENCE: &str = "rampart";

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

pub fn rsa_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(fixture(&format!("{name}.key.pem")).as_bytes()).unwrap()
}

pub fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(fixture("ec256.key.pem").as_bytes()).unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a valid token for `sub`, valid for an hour.
pub fn claims(sub: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "exp": now() + 3600,
        "iat": now(),
        "email": format!("{sub}@example.com"),
        "name": "Ada Lovelace",
        "groups": ["admins", "math"],
    })
}

pub fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

pub fn rs256(kid: &str, claims: &Value) -> String {
    sign(Algorithm::RS256, Some(kid), claims, &rsa_key("rsa1"))
}

/// A JWK of a fixture key, with a `kid`.
pub fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

pub fn jwks(keys: Vec<Jwk>) -> Value {
    serde_json::to_value(JwkSet { keys }).unwrap()
}

/// A JWKS endpoint whose document can change and which counts its fetches.
pub struct JwksServer {
    pub url: String,
    pub document: Arc<Mutex<Value>>,
    pub fetches: Arc<AtomicUsize>,
    /// When set, the endpoint answers 503.
    pub down: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(document: Value) -> JwksServer {
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let served = Arc::clone(&document);
        let counter = Arc::clone(&fetches);
        let down = Arc::new(AtomicBool::new(false));
        let is_down = Arc::clone(&down);
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let served = Arc::clone(&served);
                let counter = Arc::clone(&counter);
                let is_down = Arc::clone(&is_down);
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if is_down.load(Ordering::SeqCst) {
                        return Err(http::StatusCode::SERVICE_UNAVAILABLE);
                    }
                    let body = served.lock().unwrap().clone();
                    Ok(axum::Json(body))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        JwksServer {
            url: format!("http://{address}/jwks.json"),
            document,
            fetches,
            down,
            task,
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn serve(&self, document: Value) {
        *self.document.lock().unwrap() = document;
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    (dir, store)
}

pub fn config(toml_text: &str) -> AuthConfig {
    toml::from_str(toml_text).unwrap()
}

pub fn authenticator(toml_text: &str, store: &Arc<dyn Store>) -> Authenticator {
    Authenticator::new(&config(toml_text), Arc::clone(store)).unwrap()
}

/// `[[jwt]]` for the JWKS server (an `[auth]` body, as the server's config nests it).
pub fn jwks_issuer(url: &str, extra: &str) -> String {
    format!(
        "[[jwt]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_url = \"{url}\"\n{extra}\n"
    )
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

pub fn bearer(token: &str) -> HeaderMap {
    headers(&[("authorization", &format!("Bearer {token}"))])
}

pub async fn auth(
    authenticator: &Authenticator,
    headers: &HeaderMap,
) -> Result<AuthenticatedUser, AuthError> {
    authenticator.authenticate(headers).await
}

/// The error as the Data API reports it: status, code and message.
pub fn report(error: &AuthError) -> (u16, &'static str, String) {
    (error.status(), error.code(), error.to_string())
}
