//! JWT verification against the configured issuers.

use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Bson, Document};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use rampart_rules::User;
use serde_json::{Map, Value};

use crate::config::{AuthConfig, JwtIssuerConfig};
use crate::error::IdentityConfigError;
use crate::jwks::{JwksCache, JwksTimings, VerifyKey};
use crate::AuthError;

/// Longer tokens are rejected before any parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The configured issuers, by `iss`.
pub(crate) struct JwtVerifier {
    issuers: Vec<Issuer>,
}

struct Issuer {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    user_id_claim: String,
    keys: KeySource,
}

enum KeySource {
    Fixed(Arc<Vec<VerifyKey>>),
    Jwks(JwksCache),
}

impl JwtVerifier {
    pub(crate) fn new(config: &AuthConfig) -> Result<JwtVerifier, IdentityConfigError> {
        let issuers = config
            .jwt
            .iter()
            .enumerate()
            .map(|(index, issuer)| Issuer::new(config, issuer, &format!("auth.jwt[{index}]")))
            .collect::<Result<_, _>>()?;
        Ok(JwtVerifier { issuers })
    }

    /// Verifies `token` and builds its user (without custom data).
    pub(crate) async fn verify(&self, token: &str) -> Result<User, AuthError> {
        let (issuer, algorithm, kid) = self.preflight(token).map_err(reject)?;
        let keys = match &issuer.keys {
            KeySource::Fixed(keys) => Arc::clone(keys),
            KeySource::Jwks(cache) => cache.keys(kid.as_deref(), algorithm).await?,
        };
        let claims = issuer.check(token, algorithm, kid.as_deref(), &keys)?;
        issuer.user(claims).map_err(reject)
    }

    /// Reads the unverified header and `iss` to choose the issuer and the algorithm.
    fn preflight(&self, token: &str) -> Result<(&Issuer, Algorithm, Option<String>), Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Invalid("token is too long".to_owned()));
        }
        // `alg: none` and unknown algorithms fail here: they are not `Algorithm`s.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| Rejection::Invalid(format!("malformed header: {error}")))?;
        let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|error| Rejection::Invalid(format!("malformed claims: {error}")))?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let issuer = self
            .issuers
            .iter()
            .find(|issuer| issuer.issuer == iss)
            .ok_or_else(|| Rejection::Invalid(format!("unknown issuer `{iss}`")))?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(Rejection::Invalid(format!(
                "algorithm {:?} is not allowed for this issuer",
                header.alg
            )));
        }
        Ok((issuer, header.alg, header.kid))
    }
}

/// Why a token was refused: the client hears only the coarse kind.
enum Rejection {
    Expired,
    NotYetValid,
    Invalid(String),
}

fn reject(rejection: Rejection) -> AuthError {
    match rejection {
        Rejection::Expired => AuthError::InvalidToken("token is expired".to_owned()),
        Rejection::NotYetValid => AuthError::InvalidToken("token is not yet valid".to_owned()),
        Rejection::Invalid(reason) => {
            tracing::debug!(%reason, "jwt rejected");
            AuthError::InvalidToken("invalid token".to_owned())
        }
    }
}

impl Issuer {
    fn new(
        config: &AuthConfig,
        issuer: &JwtIssuerConfig,
        path: &str,
    ) -> Result<Issuer, IdentityConfigError> {
        let keys = match &issuer.jwks_url {
            Some(url) => KeySource::Jwks(JwksCache::new(
                url,
                &JwksTimings {
                    ttl: Duration::from_secs(issuer.jwks_cache_seconds),
                    min_refetch: Duration::from_secs(issuer.jwks_min_refetch_seconds),
                    timeout: Duration::from_secs(issuer.jwks_timeout_seconds.max(1)),
                },
            )),
            None => KeySource::Fixed(Arc::new(fixed_keys(config, issuer, path)?)),
        };
        Ok(Issuer {
            issuer: issuer.issuer.clone(),
            audiences: issuer.audience.values(),
            algorithms: issuer.parsed_algorithms(path)?,
            leeway: issuer.leeway_seconds,
            user_id_claim: issuer.user_id_claim.clone(),
            keys,
        })
    }

    /// Verifies the signature with the first fitting key that accepts it, then the claims.
    fn check(
        &self,
        token: &str,
        algorithm: Algorithm,
        kid: Option<&str>,
        keys: &[VerifyKey],
    ) -> Result<Map<String, Value>, AuthError> {
        let validation = self.validation(algorithm);
        let mut last = Rejection::Invalid(match kid {
            Some(kid) => format!("no key with kid `{kid}` for {algorithm:?}"),
            None => format!("no key for {algorithm:?}"),
        });
        for key in keys.iter().filter(|key| key.fits(kid, algorithm)) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(error) => last = rejection(error.kind()),
            }
            // An expired token is expired with every key: no need to try the others.
            if matches!(last, Rejection::Expired | Rejection::NotYetValid) {
                break;
            }
        }
        Err(reject(last))
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation
    }

    fn user(&self, claims: Map<String, Value>) -> Result<User, Rejection> {
        let id = match claims.get(&self.user_id_claim) {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                return Err(Rejection::Invalid(format!(
                    "claim `{}` is not a non-empty string",
                    self.user_id_claim
                )))
            }
        };
        let identity_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or(&id)
            .to_owned();
        Ok(User {
            id,
            user_type: "normal".to_owned(),
            data: claims_document(claims),
            custom_data: Document::new(),
            identities: vec![doc! { "id": identity_id, "provider_type": "custom-token" }],
        })
    }
}

fn rejection(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        other => Rejection::Invalid(format!("{other:?}")),
    }
}

fn fixed_keys(
    config: &AuthConfig,
    issuer: &JwtIssuerConfig,
    path: &str,
) -> Result<Vec<VerifyKey>, IdentityConfigError> {
    issuer
        .public_keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let at = format!("{path}.public_keys[{index}]");
            let pem = match (&key.pem, &key.file) {
                (Some(pem), _) => pem.clone().into_bytes(),
                (None, Some(file)) => {
                    let file = config.resolve(file);
                    std::fs::read(&file).map_err(|error| {
                        IdentityConfigError::at(
                            &at,
                            format_args!("cannot read `{}`: {error}", file.display()),
                        )
                    })?
                }
                (None, None) => return Err(IdentityConfigError::at(&at, "has no `pem` or `file`")),
            };
            VerifyKey::from_pem(key.kid.clone(), &pem)
                .map_err(|reason| IdentityConfigError::at(&at, reason))
        })
        .collect()
}

/// The claims as `%%user.data`: JSON to BSON without Extended JSON interpretation, so a
/// claim named `$oid` stays a plain field. Integers that fit become int64, others doubles.
fn claims_document(claims: Map<String, Value>) -> Document {
    claims
        .into_iter()
        .map(|(name, value)| (name, json_to_bson(value)))
        .collect()
}

fn json_to_bson(value: Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(flag) => Bson::Boolean(flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Bson::Int64(integer),
            None => Bson::Double(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Bson::String(text),
        Value::Array(items) => Bson::Array(items.into_iter().map(json_to_bson).collect()),
        Value::Object(map) => Bson::Document(claims_document(map)),
    }
}
