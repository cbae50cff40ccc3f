//! `Authenticator`: from request headers to a user.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bson::{doc, Document};
use http::header::AUTHORIZATION;
use http::HeaderMap;
use rampart_rules::User;
use rampart_store::Store;

use crate::api_keys::{looks_like_api_key, verify_api_key};
use crate::config::{AuthConfig, CustomUserDataConfig};
use crate::error::{IdentityConfigError, IdentityError};
use crate::jwt::JwtVerifier;
use crate::key_cache::{KeyCache, DEFAULT_KEY_CACHE_TTL};
use crate::users::{custom_data, find_user, record_user, user_from_record};
use crate::{AuthError, AuthMethod, AuthenticatedUser};

const API_KEY_HEADER: &str = "apikey";
const JWT_HEADER: &str = "jwttokenstring";
const EMAIL_HEADER: &str = "email";
const PASSWORD_HEADER: &str = "password";

/// Authenticates requests. Cheap to share behind an `Arc`.
pub struct Authenticator {
    store: Arc<dyn Store>,
    jwt: JwtVerifier,
    anonymous: bool,
    custom_user_data: Option<Arc<CustomUserDataConfig>>,
    verified_keys: KeyCache,
    /// JWT users known to have a record in `rampart.users`, so that only a user's first
    /// request (per process, and after the set is cleared at [`RECORDED_USERS`]) looks.
    recorded: RwLock<HashSet<String>>,
}

/// The most JWT user ids remembered as recorded; the set starts over when full.
const RECORDED_USERS: usize = 100_000;

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

/// The credential a request carries, chosen in the Data API's order.
enum Credential<'a> {
    Bearer(&'a str),
    ApiKey(&'a str),
    CustomJwt(&'a str),
    Anonymous,
}

/// The user of requests without credentials when `anonymous = true`.
pub fn anonymous_user() -> User {
    User {
        id: String::new(),
        user_type: "normal".to_owned(),
        data: Document::new(),
        custom_data: Document::new(),
        identities: vec![doc! { "id": "", "provider_type": "anon-user" }],
    }
}

impl Authenticator {
    /// Builds an authenticator from `[auth]`, reading keys and users from `store`. Reads PEM
    /// key files now; JWKS URLs are fetched on first use.
    pub fn new(
        config: &AuthConfig,
        store: Arc<dyn Store>,
    ) -> Result<Authenticator, IdentityConfigError> {
        config.validate()?;
        Ok(Authenticator {
            store,
            jwt: JwtVerifier::new(config)?,
            anonymous: config.anonymous,
            custom_user_data: config.custom_user_data.clone().map(Arc::new),
            verified_keys: KeyCache::new(
                config
                    .api_key_cache_seconds
                    .map_or(DEFAULT_KEY_CACHE_TTL, Duration::from_secs),
            ),
            recorded: RwLock::new(HashSet::new()),
        })
    }

    /// Authenticates one request from its headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AuthenticatedUser, AuthError> {
        let (user, method) = match credential(headers, self.anonymous)? {
            Credential::Bearer(token) if looks_like_api_key(token) => {
                return self.api_key_user(token).await
            }
            Credential::Bearer(token) => (self.jwt.verify(token).await?, AuthMethod::BearerJwt),
            Credential::ApiKey(key) => return self.api_key_user(key).await,
            Credential::CustomJwt(token) => (self.jwt.verify(token).await?, AuthMethod::CustomJwt),
            Credential::Anonymous => {
                return Ok(AuthenticatedUser {
                    user: anonymous_user(),
                    method: AuthMethod::Anonymous,
                })
            }
        };
        self.record(&user.id).await?;
        let user = self.with_custom_data(user).await?;
        Ok(AuthenticatedUser { user, method })
    }

    /// Makes sure a JWT user has a record in `rampart.users`. A user id that is not a valid
    /// one (longer than 256 bytes, control characters) is refused.
    async fn record(&self, user_id: &str) -> Result<(), AuthError> {
        if self.is_recorded(user_id) {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let id = user_id.to_owned();
        let outcome = tokio::task::spawn_blocking(move || record_user(store.as_ref(), &id)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(IdentityError::InvalidUserId(_, reason))) => {
                tracing::debug!(reason, "jwt rejected: its user id is not a valid user id");
                return Err(AuthError::InvalidToken("invalid token".to_owned()));
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "recording a jwt user failed on the store");
                return Err(AuthError::Unavailable);
            }
            Err(error) => {
                tracing::error!(%error, "recording a jwt user failed");
                return Err(AuthError::Unavailable);
            }
        }
        if let Ok(mut recorded) = self.recorded.write() {
            if recorded.len() >= RECORDED_USERS {
                recorded.clear();
            }
            recorded.insert(user_id.to_owned());
        }
        Ok(())
    }

    fn is_recorded(&self, user_id: &str) -> bool {
        self.recorded
            .read()
            .map(|recorded| recorded.contains(user_id))
            .unwrap_or(false)
    }

    async fn api_key_user(&self, key: &str) -> Result<AuthenticatedUser, AuthError> {
        if let Some(user) = self.verified_keys.get(key, Instant::now()) {
            return Ok(AuthenticatedUser {
                user,
                method: AuthMethod::ApiKey,
            });
        }
        let store = Arc::clone(&self.store);
        let custom = self.custom_user_data.clone();
        let owned_key = key.to_owned();
        let user =
            blocking(move || api_key_user_blocking(store.as_ref(), custom.as_deref(), &owned_key))
                .await?
                .ok_or(AuthError::InvalidSession)?;
        self.verified_keys.insert(key, &user, Instant::now());
        Ok(AuthenticatedUser {
            user,
            method: AuthMethod::ApiKey,
        })
    }

    async fn with_custom_data(&self, mut user: User) -> Result<User, AuthError> {
        if self.custom_user_data.is_none() {
            return Ok(user);
        }
        let store = Arc::clone(&self.store);
        let custom = self.custom_user_data.clone();
        let user_id = user.id.clone();
        user.custom_data =
            blocking(move || custom_data(store.as_ref(), custom.as_deref(), &user_id)).await?;
        Ok(user)
    }
}

/// Verifies the key and loads its user; `None` when either is missing or the key is revoked.
fn api_key_user_blocking(
    store: &dyn Store,
    custom: Option<&CustomUserDataConfig>,
    key: &str,
) -> Result<Option<User>, IdentityError> {
    let Some(info) = verify_api_key(store, key)? else {
        tracing::debug!("api key rejected: unknown, revoked or wrong secret");
        return Ok(None);
    };
    let Some(record) = find_user(store, &info.user_id)? else {
        tracing::debug!(key_id = %info.id, "api key rejected: its user has no record");
        return Ok(None);
    };
    let identity = doc! { "id": &info.id, "provider_type": "api-key" };
    let mut user = user_from_record(&record, identity)?;
    user.custom_data = custom_data(store, custom, &user.id)?;
    Ok(Some(user))
}

/// Runs store work off the async runtime; any failure is a 500 with the cause in the log.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IdentityError> + Send + 'static,
) -> Result<T, AuthError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(%error, "authentication failed on the store");
            Err(AuthError::Unavailable)
        }
        Err(error) => {
            tracing::error!(%error, "authentication task failed");
            Err(AuthError::Unavailable)
        }
    }
}

/// Chooses the credential: `Authorization: Bearer` first (and alone when present), then
/// `apiKey`, `jwtTokenString`, `email`+`password`.
fn credential(headers: &HeaderMap, anonymous: bool) -> Result<Credential<'_>, AuthError> {
    if let Some(token) = bearer(headers)? {
        return Ok(Credential::Bearer(token));
    }
    if let Some(key) = single(headers, API_KEY_HEADER)? {
        return Ok(Credential::ApiKey(key));
    }
    if let Some(token) = single(headers, JWT_HEADER)? {
        return Ok(Credential::CustomJwt(token));
    }
    let email = headers.contains_key(EMAIL_HEADER);
    let password = headers.contains_key(PASSWORD_HEADER);
    match (email, password) {
        (true, true) => Err(AuthError::UnsupportedProvider),
        (true, false) | (false, true) => Err(AuthError::PartialCredentials),
        (false, false) if anonymous => Ok(Credential::Anonymous),
        (false, false) => Err(AuthError::NoCredentials),
    }
}

/// The token of `Authorization: Bearer <token>`; `None` when there is no such header or it
/// uses another scheme.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let is_bearer = bytes
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        || bytes.eq_ignore_ascii_case(b"bearer");
    if !is_bearer {
        return Ok(None);
    }
    if values.next().is_some() {
        tracing::debug!("two authorization headers");
        return Err(AuthError::InvalidSession);
    }
    let token = value
        .to_str()
        .ok()
        .and_then(|text| text.get(6..))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| AuthError::InvalidToken("invalid token".to_owned()))?;
    Ok(Some(token))
}

/// The one value of a credential header; two values, or one that is not text, is 401.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        tracing::debug!(header = name, "credential header given twice");
        return Err(AuthError::InvalidSession);
    }
    value
        .to_str()
        .map(|text| Some(text.trim()))
        .map_err(|_| AuthError::InvalidSession)
}
