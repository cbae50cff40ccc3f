//! `[auth]` in `rampart.toml`: the serde model and its validation.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::error::IdentityConfigError;

/// `[auth]` in `rampart.toml`. Every key optional; unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Let requests without credential headers through as the anonymous user (default false:
    /// they fail with 400 `InvalidParameter`, as the Data API does).
    #[serde(default)]
    pub anonymous: bool,
    /// Seconds a verified API key is trusted without asking the store again (default 1; 0
    /// turns the cache off). A revoked key or changed user data takes effect within this time.
    #[serde(default)]
    pub api_key_cache_seconds: Option<u64>,
    /// Issuers whose JWTs are accepted (`[[auth.jwt]]`), as bearer tokens or in the
    /// `jwtTokenString` header.
    #[serde(default)]
    pub jwt: Vec<JwtIssuerConfig>,
    /// Where `%%user.custom_data` comes from (`[auth.custom_user_data]`).
    #[serde(default)]
    pub custom_user_data: Option<CustomUserDataConfig>,
    /// The directory relative `file` paths resolve against: the configuration directory. Not
    /// read from TOML; the loader sets it with [`AuthConfig::with_config_dir`].
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
}

/// One `[[auth.jwt]]` issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// Must equal the token's `iss`.
    pub issuer: String,
    /// The token's `aud` must contain one of these (a string or a list).
    pub audience: Audience,
    /// Where the issuer publishes its keys (`https://`; `http://` only for loopback hosts
    /// unless `allow_insecure_http`). Exclusive with `public_keys`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Fixed public keys in PEM. Exclusive with `jwks_url`.
    #[serde(default)]
    pub public_keys: Vec<PublicKeyConfig>,
    /// Allowed `alg` values (default `["RS256"]`): RS256/384/512, PS256/384/512, ES256,
    /// ES384, EdDSA. HMAC algorithms and `none` are rejected.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (default 60, at most 600).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// The claim holding the user id (default `sub`).
    #[serde(default = "default_user_id_claim")]
    pub user_id_claim: String,
    /// How long fetched keys are used before the JWKS is fetched again (default 300).
    #[serde(default = "default_jwks_cache")]
    pub jwks_cache_seconds: u64,
    /// The shortest time between two fetches, so tokens with unknown `kid`s cannot flood
    /// the issuer (default 10).
    #[serde(default = "default_jwks_refetch")]
    pub jwks_min_refetch_seconds: u64,
    /// Timeout of one JWKS fetch (default 5).
    #[serde(default = "default_jwks_timeout")]
    pub jwks_timeout_seconds: u64,
    /// Allow an `http://` JWKS URL on a host that is not loopback (default false).
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// `audience = "x"` or `audience = ["x", "y"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Any of several.
    Many(Vec<String>),
}

impl Audience {
    /// The accepted audiences.
    pub fn values(&self) -> Vec<String> {
        match self {
            Audience::One(one) => vec![one.clone()],
            Audience::Many(many) => many.clone(),
        }
    }
}

/// One public key: `{ pem = "-----BEGIN PUBLIC KEY-----..." }` or `{ file = "keys/idp.pem" }`,
/// with an optional `kid` the token header must then name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyConfig {
    /// The key id tokens signed with it carry in their header.
    #[serde(default)]
    pub kid: Option<String>,
    /// The key in PEM (SubjectPublicKeyInfo, or PKCS#1 for RSA).
    #[serde(default)]
    pub pem: Option<String>,
    /// A PEM file, relative to the configuration directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `[auth.custom_user_data]`: the document whose `user_id_field` equals the user id becomes
/// `%%user.custom_data`, read on every request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomUserDataConfig {
    /// The database.
    pub database: String,
    /// The collection.
    pub collection: String,
    /// The field holding the user id (default `user_id`).
    #[serde(default = "default_user_id_field")]
    pub user_id_field: String,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".to_owned()]
}
fn default_leeway() -> u64 {
    60
}
fn default_user_id_claim() -> String {
    "sub".to_owned()
}
fn default_jwks_cache() -> u64 {
    300
}
fn default_jwks_refetch() -> u64 {
    10
}
fn default_jwks_timeout() -> u64 {
    5
}
fn default_user_id_field() -> String {
    "user_id".to_owned()
}

const MAX_LEEWAY_SECONDS: u64 = 600;

impl AuthConfig {
    /// Sets the directory relative key files resolve against.
    pub fn with_config_dir(mut self, dir: &Path) -> AuthConfig {
        self.config_dir = Some(dir.to_path_buf());
        self
    }

    /// Checks everything that can be checked without reading files or the network.
    pub fn validate(&self) -> Result<(), IdentityConfigError> {
        for (index, issuer) in self.jwt.iter().enumerate() {
            issuer.validate(&format!("auth.jwt[{index}]"))?;
            let duplicate = self
                .jwt
                .iter()
                .take(index)
                .any(|other| other.issuer == issuer.issuer);
            if duplicate {
                return Err(IdentityConfigError::at(
                    &format!("auth.jwt[{index}].issuer"),
                    format_args!("issuer `{}` is configured twice", issuer.issuer),
                ));
            }
        }
        if let Some(custom) = &self.custom_user_data {
            rampart_store::Namespace::new(&custom.database, &custom.collection)
                .map_err(|error| IdentityConfigError::at("auth.custom_user_data", error))?;
            if custom.user_id_field.is_empty() || custom.user_id_field.starts_with('$') {
                return Err(IdentityConfigError::at(
                    "auth.custom_user_data.user_id_field",
                    "must be a field name",
                ));
            }
        }
        Ok(())
    }

    /// Resolves a key file path against the configuration directory.
    pub(crate) fn resolve(&self, file: &Path) -> PathBuf {
        match &self.config_dir {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.to_path_buf(),
        }
    }
}

impl JwtIssuerConfig {
    fn validate(&self, path: &str) -> Result<(), IdentityConfigError> {
        if self.issuer.is_empty() {
            return Err(IdentityConfigError::at(
                &format!("{path}.issuer"),
                "is empty",
            ));
        }
        let audiences = self.audience.values();
        if audiences.is_empty() || audiences.iter().any(String::is_empty) {
            return Err(IdentityConfigError::at(
                &format!("{path}.audience"),
                "needs at least one non-empty audience",
            ));
        }
        if self.user_id_claim.is_empty() {
            return Err(IdentityConfigError::at(
                &format!("{path}.user_id_claim"),
                "is empty",
            ));
        }
        if self.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(IdentityConfigError::at(
                &format!("{path}.leeway_seconds"),
                format_args!("is over the limit of {MAX_LEEWAY_SECONDS}"),
            ));
        }
        self.parsed_algorithms(path)?;
        self.validate_key_source(path)
    }

    fn validate_key_source(&self, path: &str) -> Result<(), IdentityConfigError> {
        match (&self.jwks_url, self.public_keys.is_empty()) {
            (Some(_), false) => Err(IdentityConfigError::at(
                path,
                "set either `jwks_url` or `public_keys`, not both",
            )),
            (None, true) => Err(IdentityConfigError::at(
                path,
                "set `jwks_url` or `public_keys`",
            )),
            (Some(url), true) => check_jwks_url(url, self.allow_insecure_http)
                .map_err(|reason| IdentityConfigError::at(&format!("{path}.jwks_url"), reason)),
            (None, false) => {
                for (index, key) in self.public_keys.iter().enumerate() {
                    if key.pem.is_some() == key.file.is_some() {
                        return Err(IdentityConfigError::at(
                            &format!("{path}.public_keys[{index}]"),
                            "set exactly one of `pem` and `file`",
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// The allowed algorithms; HMAC (a shared secret, and the classic confusion attack's
    /// target) and anything unknown are errors.
    pub(crate) fn parsed_algorithms(
        &self,
        path: &str,
    ) -> Result<Vec<Algorithm>, IdentityConfigError> {
        if self.algorithms.is_empty() {
            return Err(IdentityConfigError::at(
                &format!("{path}.algorithms"),
                "is empty",
            ));
        }
        self.algorithms
            .iter()
            .map(|name| match Algorithm::from_str(name) {
                Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
                    Err(IdentityConfigError::at(
                        &format!("{path}.algorithms"),
                        format_args!("`{name}` is not supported: only public-key algorithms are"),
                    ))
                }
                Ok(algorithm) => Ok(algorithm),
                Err(_) => Err(IdentityConfigError::at(
                    &format!("{path}.algorithms"),
                    format_args!("unknown algorithm `{name}`"),
                )),
            })
            .collect()
    }
}

/// `https://` anywhere; `http://` only on a loopback host unless `allow_insecure_http`.
pub(crate) fn check_jwks_url(url: &str, allow_insecure_http: bool) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("`{url}` is not a valid url"))?;
    let host = uri.host().ok_or_else(|| format!("`{url}` has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_insecure_http || is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "`{url}` is plain http on a host that is not loopback: use https or set `allow_insecure_http = true`"
        )),
        _ => Err(format!("`{url}` must be an https url")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}
