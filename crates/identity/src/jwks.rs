//! Verification keys: fixed PEM keys and JWKS documents fetched over HTTP(S) and cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

use crate::AuthError;

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: u64 = 1 << 20;

/// One verification key and the algorithms it may verify.
pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
    /// INVARIANT: only public-key algorithms of the key's own type (never HMAC), narrowed to
    /// the JWK's `alg` when it names one.
    pub(crate) algorithms: Vec<Algorithm>,
}

impl VerifyKey {
    /// Reads a PEM public key of any supported type.
    pub(crate) fn from_pem(kid: Option<String>, pem: &[u8]) -> Result<VerifyKey, String> {
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            (key, AlgorithmFamily::Rsa.algorithms().to_vec())
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            // The PEM does not tell the curve here; verification fails on the wrong one.
            (key, vec![Algorithm::ES256, Algorithm::ES384])
        } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            (key, vec![Algorithm::EdDSA])
        } else {
            return Err("not an rsa, ec or ed25519 public key in pem".to_owned());
        };
        Ok(VerifyKey {
            kid,
            key,
            algorithms,
        })
    }

    /// Reads one JWK; `None` for keys that cannot verify signatures here (symmetric keys,
    /// encryption keys, unknown types or curves).
    fn from_jwk(jwk: &Jwk) -> Option<VerifyKey> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return None;
        }
        let mut algorithms = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa.algorithms().to_vec(),
            AlgorithmParameters::EllipticCurve(params) => match params.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(params) => match params.curve {
                EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
                _ => return None,
            },
            // Symmetric (`oct`) keys never verify here: that is the HS256 confusion attack.
            _ => return None,
        };
        if let Some(declared) = jwk.common.key_algorithm {
            let declared = Algorithm::try_from(declared).ok()?;
            algorithms.retain(|algorithm| *algorithm == declared);
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        (!algorithms.is_empty()).then(|| VerifyKey {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        })
    }

    /// Whether this key may verify a token with this `kid` and `alg`.
    pub(crate) fn fits(&self, kid: Option<&str>, algorithm: Algorithm) -> bool {
        // A key published or configured without a `kid` fits any token `kid` (RFC 7517
        // leaves `kid` optional); two `kid`s must be equal.
        let kid_fits = match (kid, self.kid.as_deref()) {
            (Some(wanted), Some(own)) => wanted == own,
            _ => true,
        };
        kid_fits && self.algorithms.contains(&algorithm)
    }
}

/// The keys of one JWKS URL, fetched lazily and refreshed on expiry or on an unknown `kid`.
pub(crate) struct JwksCache {
    url: String,
    agent: ureq::Agent,
    ttl: Duration,
    min_refetch: Duration,
    // A tokio mutex: a fetch happens with the lock held, so concurrent requests wait for it
    // instead of fetching too.
    state: tokio::sync::Mutex<JwksState>,
}

#[derive(Default)]
struct JwksState {
    keys: Arc<Vec<VerifyKey>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Timings of a [`JwksCache`].
pub(crate) struct JwksTimings {
    pub(crate) ttl: Duration,
    pub(crate) min_refetch: Duration,
    pub(crate) timeout: Duration,
}

impl JwksCache {
    pub(crate) fn new(url: &str, timings: &JwksTimings) -> JwksCache {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timings.timeout))
            .https_only(
                url.get(..8)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
            )
            .http_status_as_error(true)
            .max_redirects(3)
            .build()
            .new_agent();
        JwksCache {
            url: url.to_owned(),
            agent,
            ttl: timings.ttl,
            min_refetch: timings.min_refetch,
            state: tokio::sync::Mutex::new(JwksState::default()),
        }
    }

    /// The keys to try for a token with this `kid` and `alg`, fetching first when the cache
    /// is empty, expired, or lacks the `kid`, and the last attempt is old enough.
    pub(crate) async fn keys(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<Vec<VerifyKey>>, AuthError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let stale = state
            .fetched_at
            .is_none_or(|at| now.duration_since(at) >= self.ttl);
        let unknown = !state.keys.iter().any(|key| key.fits(kid, algorithm));
        let may_fetch = state
            .last_attempt
            .is_none_or(|at| now.duration_since(at) >= self.min_refetch);
        if (stale || unknown) && may_fetch {
            state.last_attempt = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    tracing::debug!(url = %self.url, keys = keys.len(), "jwks fetched");
                    state.keys = Arc::new(keys);
                    state.fetched_at = Some(now);
                }
                // Stale keys stay in use: a short outage of the issuer should not log
                // everybody out.
                Err(reason) => tracing::warn!(url = %self.url, %reason, "cannot fetch jwks"),
            }
        }
        if state.fetched_at.is_none() {
            return Err(AuthError::Unavailable);
        }
        Ok(Arc::clone(&state.keys))
    }

    async fn fetch(&self) -> Result<Vec<VerifyKey>, String> {
        let agent = self.agent.clone();
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || fetch_blocking(&agent, &url))
            .await
            .map_err(|error| format!("fetch task failed: {error}"))?
    }
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

fn fetch_blocking(agent: &ureq::Agent, url: &str) -> Result<Vec<VerifyKey>, String> {
    let mut response = agent.get(url).call().map_err(|error| error.to_string())?;
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_vec()
        .map_err(|error| error.to_string())?;
    parse_jwks(&body)
}

/// Parses a JWKS document, skipping the keys that cannot verify signatures here (a set
/// with one exotic key must not disable the others).
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyKey>, String> {
    let set: RawJwkSet =
        serde_json::from_slice(body).map_err(|error| format!("not a jwks document: {error}"))?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| VerifyKey::from_jwk(&jwk))
        .collect())
}
