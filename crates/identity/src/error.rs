//! Errors of the identity crate's management functions (API keys, users) and of its config.

use rampart_store::StoreError;

/// Why an API key or user operation failed. Messages are one lowercase line and never contain
/// a key or its hash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A user id that is empty, too long or holds control characters.
    #[error("invalid user id `{0}`: {1}")]
    InvalidUserId(String, &'static str),
    /// A key name outside `[A-Za-z0-9._-]{1,64}`.
    #[error("invalid key name `{0}`: use 1 to 64 letters, digits, `.`, `_` or `-`")]
    InvalidKeyName(String),
    /// Another key already has this name (names are unique across all users).
    #[error("an api key named `{0}` already exists")]
    DuplicateKeyName(String),
    /// No key has this id or name.
    #[error("no api key with id or name `{0}`")]
    KeyNotFound(String),
    /// A record in `rampart.api_keys` or `rampart.users` that is not in the expected shape.
    #[error("malformed record `{id}` in `{namespace}`: {reason}")]
    MalformedRecord {
        /// `rampart.api_keys` or `rampart.users`.
        namespace: String,
        /// The record's `_id`.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("cannot generate a random key: {0}")]
    Random(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A configuration error in `[auth]` (a bad PEM key, a JWKS URL with a scheme that is not
/// allowed, ...). The message names the key, as `auth.jwt[0].jwks_url`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IdentityConfigError(pub String);

impl IdentityConfigError {
    pub(crate) fn at(path: &str, message: impl std::fmt::Display) -> IdentityConfigError {
        IdentityConfigError(format!("`{path}`: {message}"))
    }
}
