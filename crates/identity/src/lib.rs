//! Who is calling: API keys, JWTs verified against configured issuers, the users collection
//! and custom user data. Produces the `rampart_rules::User` the rules see as `%%user`.
//!
//! # Credentials, in the order they are checked (the Atlas Data API's order)
//! 1. `Authorization: Bearer <token>`. When this header is present with the Bearer scheme,
//!    its token decides: an invalid token is 401 and no other header is looked at. The token
//!    is a JWT from a configured issuer, or a Rampart API key (`rk_...`). Other schemes
//!    (`Basic`, ...) are ignored.
//! 2. `apiKey: rk_...`: the user is the key's user (`%%user.type` is the user record's type,
//!    `"server"` for users created with their first key).
//! 3. `jwtTokenString: <JWT>`: verified exactly like a bearer JWT.
//! 4. `email` + `password`: Rampart has no local email/password provider, so both headers
//!    together are 400 `AuthProviderNotFound` (a clear "unsupported" rather than a 401 that
//!    reads like a wrong password); one without the other is 400 `MissingParameter`.
//! 5. Nothing: 400 `InvalidParameter`, unless `anonymous = true`, where the caller is the
//!    anonymous user `{id: "", type: "normal", data: {}, custom_data: {}, identities:
//!    [{id: "", provider_type: "anon-user"}]}`. The empty id can belong to no other user, so
//!    rules like `{"owner": "%%user.id"}` give the anonymous caller nothing.
//!
//! A credential header given twice is 401: two values could be read differently by a proxy
//! in front and by Rampart.
//!
//! # API keys
//! A key reads `rk_<key id>_<secret>`: the key id is 24 lowercase hex characters (12 random
//! bytes), the secret 43 unpadded base64url characters (32 bytes from the operating system's
//! random number generator). The key id is the `_id` of its record in `rampart.api_keys`
//! (`{_id, name, user_id, hash, created_at, revoked_at?}`), so checking a key is one point
//! lookup. `hash` is the hex SHA-256 of the secret, compared in constant time; the clear key
//! is returned once by [`create_api_key`] and stored nowhere. Names are unique across all
//! users (a unique index), so a key can be revoked by id or by name; a key created without a
//! name is named by its id. Creating a key for a user with no record in `rampart.users`
//! creates `{_id, type: "server", data: {}, created_at}`. An unknown, malformed or revoked
//! key, a wrong secret, or a key whose user record is gone is 401 `InvalidSession`.
//!
//! The `rampart` database holds these collections: the Data API must never serve it
//! ([`SYSTEM_DATABASE`]).
//!
//! # JWT checks
//! - The header's `alg` must be in the issuer's `algorithms` (default RS256) and fit the
//!   key: RSA keys verify RS*/PS*, P-256 keys ES256, P-384 keys ES384, Ed25519 keys EdDSA. A
//!   JWK's own `alg`, when present, must equal the token's. HMAC algorithms cannot be
//!   configured and symmetric JWKs are ignored, so an HS256 token "signed" with a public key
//!   fails; `none` is never accepted.
//! - `iss` picks the issuer and must equal its `issuer`; `aud` must contain one of its
//!   `audience`; `exp` is required and checked, `nbf` is checked when present, both with
//!   `leeway_seconds` (default 60).
//! - The key is chosen by `kid` when the token has one (a key without a `kid` fits any);
//!   every key that fits `kid` and `alg` is tried. JWKS keys are cached for `jwks_cache_seconds`; a `kid` not in
//!   the cache triggers a refetch, at most once every `jwks_min_refetch_seconds`, so key
//!   rotation works and a flood of made-up `kid`s costs the issuer nothing. If a refetch
//!   fails the cached keys stay in use; if there were never any keys the request is 500
//!   (`authentication is unavailable`): the client's token may be fine, the issuer is down.
//! - Any failure is 401 `InvalidSession`; the message says only "expired", "not yet valid"
//!   or "invalid token"; the detailed reason is logged at debug level, never the token.
//! - The user: `id` from `user_id_claim` (default `sub`, a non-empty string), `type:
//!   "normal"`, `data`: every claim of the token, `identities: [{id: <sub or user id>,
//!   provider_type: "custom-token"}]`.
//!
//! # Custom user data
//! With `[auth.custom_user_data]`, `%%user.custom_data` is the whole document (its `_id`
//! included, as App Services returns it) of `database.collection` whose `user_id_field`
//! equals the user id, or `{}` when there is none. It is read on every request, so a change
//! applies to the next request.
//!
//! # Configuration (`[auth]` in `rampart.toml`)
//! ```toml
//! [auth]
//! anonymous = false                # allow requests without credentials
//! api_key_cache_seconds = 1        # trust a verified key this long (0: ask the store every time)
//!
//! [auth.custom_user_data]          # optional: %%user.custom_data
//! database = "app"
//! collection = "user_data"
//! user_id_field = "user_id"        # default
//!
//! [[auth.jwt]]                     # one per accepted issuer
//! issuer = "https://idp.example.com/"
//! audience = "rampart"             # or ["rampart", "other"]
//! jwks_url = "https://idp.example.com/.well-known/jwks.json"
//! # public_keys = [{ file = "keys/idp.pem", kid = "k1" }, { pem = "-----BEGIN PUBLIC KEY-----..." }]
//! algorithms = ["RS256"]           # default; RS/PS 256-512, ES256, ES384, EdDSA
//! leeway_seconds = 60              # default, at most 600
//! user_id_claim = "sub"            # default
//! jwks_cache_seconds = 300         # default
//! jwks_min_refetch_seconds = 10    # default
//! jwks_timeout_seconds = 5         # default
//! allow_insecure_http = false      # http:// JWKS only on loopback unless true
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod api_keys;
mod authenticator;
mod config;
mod error;
mod jwks;
mod jwt;
mod key_cache;
mod users;

pub use crate::api_keys::{
    create_api_key, ensure_indexes, find_api_key, list_api_keys, revoke_api_key, validate_key_name,
    verify_api_key, ApiKeyInfo, NewApiKey, API_KEYS_COLLECTION, KEY_PREFIX,
};
pub use crate::authenticator::{anonymous_user, Authenticator};
pub use crate::config::{
    Audience, AuthConfig, CustomUserDataConfig, JwtIssuerConfig, PublicKeyConfig,
};
pub use crate::error::{IdentityConfigError, IdentityError};
pub use crate::users::{validate_user_id, SYSTEM_DATABASE, USERS_COLLECTION};

use rampart_rules::User;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// An API key, in the `apiKey` header or as a bearer token.
    ApiKey,
    /// `Authorization: Bearer <JWT>` from a configured issuer.
    BearerJwt,
    /// A JWT from a configured issuer in the `jwtTokenString` header.
    CustomJwt,
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
    /// `email` + `password`: Rampart has no local email/password provider (400
    /// `AuthProviderNotFound`, App Services' code for a disabled provider).
    #[error("authentication via 'local-userpass' is unsupported: use an api key or a jwt")]
    UnsupportedProvider,
    /// Credentials that match no user: unknown or revoked key (401 `InvalidSession`).
    #[error("invalid session: error finding user for endpoint")]
    InvalidSession,
    /// A bearer token that fails verification (401 `InvalidSession`); the reason is coarse
    /// (`expired`, `not yet valid`, `invalid token`), the details go to the debug log.
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
            AuthError::NoCredentials
            | AuthError::PartialCredentials
            | AuthError::UnsupportedProvider => 400,
            AuthError::InvalidSession | AuthError::InvalidToken(_) => 401,
            AuthError::Unavailable => 500,
        }
    }

    /// The Data API `error_code`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::NoCredentials => "InvalidParameter",
            AuthError::PartialCredentials => "MissingParameter",
            AuthError::UnsupportedProvider => "AuthProviderNotFound",
            AuthError::InvalidSession | AuthError::InvalidToken(_) => "InvalidSession",
            AuthError::Unavailable => "InternalServerError",
        }
    }
}
