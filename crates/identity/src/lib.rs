//! Who is calling: API keys, bearer JWTs verified against configured issuers, the users
//! collection and custom user data. Produces the `rampart_rules::User` the rules see as `%%user`.
// PLACEHOLDER: the contract below is fixed; the bodies are being implemented.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::sync::Arc;

use rampart_rules::User;
use rampart_store::Store;
use serde::Deserialize;

/// `[auth]` in `rampart.toml`. Every key optional; unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The `apiKey` header.
    ApiKey,
    /// `Authorization: Bearer <JWT>` from a configured issuer.
    BearerJwt,
    /// No credentials, allowed by configuration.
    Anonymous,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    /// The user as the rules see it (`%%user`).
    pub user: User,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// Why a request could not be authenticated. Each maps to the Data API's documented status and
/// `error_code`; the message never contains a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials at all (400 `InvalidParameter`).
    #[error("no authentication methods were specified")]
    NoCredentials,
    /// Some credential headers but not a complete set (400 `MissingParameter`).
    #[error("must specify some form of authentication (either email+password, api-key, or jwt) in the request header or body")]
    PartialCredentials,
    /// Credentials that match no user: unknown or revoked key (401 `InvalidSession`).
    #[error("invalid session: error finding user for endpoint")]
    InvalidSession,
    /// A bearer token that fails verification (401 `InvalidSession`); the reason is for logs.
    #[error("invalid session: {0}")]
    InvalidToken(String),
    /// The identity backend failed (500, no details to the client).
    #[error("authentication is unavailable")]
    Unavailable,
}

impl AuthError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::NoCredentials | AuthError::PartialCredentials => 400,
            AuthError::InvalidSession | AuthError::InvalidToken(_) => 401,
            AuthError::Unavailable => 500,
        }
    }

    /// The Data API `error_code`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::NoCredentials => "InvalidParameter",
            AuthError::PartialCredentials => "MissingParameter",
            AuthError::InvalidSession | AuthError::InvalidToken(_) => "InvalidSession",
            AuthError::Unavailable => "InternalServerError",
        }
    }
}

/// A configuration error in `[auth]` (a bad PEM key, an unreachable JWKS URL scheme, ...).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IdentityConfigError(pub String);

/// Authenticates requests. Cheap to share behind an `Arc`.
pub struct Authenticator {
    _store: Arc<dyn Store>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds an authenticator from `[auth]`, reading keys and users from `store`.
    pub fn new(
        config: &AuthConfig,
        store: Arc<dyn Store>,
    ) -> Result<Authenticator, IdentityConfigError> {
        let _ = config;
        Ok(Authenticator { _store: store })
    }

    /// Authenticates one request from its headers.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<AuthenticatedUser, AuthError> {
        let _ = headers;
        Err(AuthError::InvalidSession)
    }
}
