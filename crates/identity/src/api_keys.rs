//! API keys: creation, verification, revocation and listing.
//!
//! A key reads `rk_<key id>_<secret>`: the key id is 12 random bytes in lowercase hex (the
//! record's `_id`, so verification is one point lookup), the secret 32 random bytes from the
//! operating system in unpadded base64url. Only SHA-256 of the secret is stored: a key has 256
//! bits of entropy, so a slow password hash would add nothing, and the comparison runs in
//! constant time. The clear key exists only in the [`NewApiKey`] returned at creation.

use std::fmt;

use base64::Engine as _;
use bson::{doc, Bson, DateTime, Document};
use rampart_store::{FindOptions, IndexModel, Namespace, Store, StoreError, UpdateOptions};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::IdentityError;
use crate::users::{new_server_user, users_namespace, validate_user_id, SYSTEM_DATABASE};

/// The API keys collection in [`SYSTEM_DATABASE`].
pub const API_KEYS_COLLECTION: &str = "api_keys";
/// Every key starts with this, so a key is recognisable in a leaked file or a bearer header.
pub const KEY_PREFIX: &str = "rk_";

const KEY_ID_BYTES: usize = 12;
const SECRET_BYTES: usize = 32;
/// Longest secret part accepted when parsing, so a huge header costs nothing to reject.
const MAX_SECRET_LEN: usize = 128;
const NAME_INDEX: &str = "name_unique";

/// A key just created. `secret` is the whole key (`rk_<id>_<secret>`), shown once; it is
/// never stored, and `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The key id (the record's `_id`).
    pub id: String,
    /// The key's name (the id when none was given).
    pub name: String,
    /// The user the key authenticates as.
    pub user_id: String,
    /// The key to give to the client: `rk_<id>_<secret>`.
    pub secret: String,
    /// When it was created.
    pub created_at: DateTime,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What `list_api_keys` and `revoke_api_key` tell about a key: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// The key id.
    pub id: String,
    /// The key's name.
    pub name: String,
    /// The user it authenticates as.
    pub user_id: String,
    /// When it was created.
    pub created_at: DateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime>,
}

pub(crate) fn api_keys_namespace() -> Result<Namespace, IdentityError> {
    Ok(Namespace::new(SYSTEM_DATABASE, API_KEYS_COLLECTION)?)
}

/// Creates the indexes the identity collections need; cheap when they exist.
pub fn ensure_indexes(store: &dyn Store) -> Result<(), IdentityError> {
    // INVARIANT: names are unique across all users, so `keys revoke <name>` is unambiguous.
    let index = IndexModel {
        keys: doc! { "name": 1 },
        name: Some(NAME_INDEX.to_owned()),
        unique: true,
    };
    store.create_index(&api_keys_namespace()?, index)?;
    Ok(())
}

/// Creates a key for `user_id`, creating the user (as `type: "server"`) if it has no record.
pub fn create_api_key(
    store: &dyn Store,
    user_id: &str,
    name: Option<&str>,
) -> Result<NewApiKey, IdentityError> {
    validate_user_id(user_id)?;
    if let Some(name) = name {
        validate_key_name(name)?;
    }
    ensure_indexes(store)?;
    let id = hex(&random_bytes::<KEY_ID_BYTES>()?);
    let secret =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<SECRET_BYTES>()?);
    let name = name.map_or_else(|| id.clone(), str::to_owned);
    let created_at = DateTime::now();
    let record = doc! {
        "_id": &id,
        "name": &name,
        "user_id": user_id,
        "hash": hex(&hash_secret(&secret)),
        "created_at": created_at,
    };
    insert_key_and_user(store, record, user_id).map_err(|error| match error {
        IdentityError::Store(StoreError::DuplicateKey { index, .. }) if index == NAME_INDEX => {
            IdentityError::DuplicateKeyName(name.clone())
        }
        other => other,
    })?;
    Ok(NewApiKey {
        secret: format!("{KEY_PREFIX}{id}_{secret}"),
        id,
        name,
        user_id: user_id.to_owned(),
        created_at,
    })
}

/// Inserts the key record, and the user record when missing, in one transaction.
fn insert_key_and_user(
    store: &dyn Store,
    record: Document,
    user_id: &str,
) -> Result<(), IdentityError> {
    let keys = api_keys_namespace()?;
    let users = users_namespace()?;
    let user_key = Bson::String(user_id.to_owned());
    let mut record = Some(record);
    store.transaction(&mut |transaction| {
        if transaction.get(&users, &user_key)?.is_none() {
            transaction.insert(&users, new_server_user(user_id))?;
        }
        if let Some(record) = record.take() {
            transaction.insert(&keys, record)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Revokes the key with this id, or else this name. Revoking a revoked key changes nothing
/// and returns it with its original `revoked_at`.
pub fn revoke_api_key(store: &dyn Store, id_or_name: &str) -> Result<ApiKeyInfo, IdentityError> {
    let namespace = api_keys_namespace()?;
    let record = find_key_record(store, &namespace, id_or_name)?
        .ok_or_else(|| IdentityError::KeyNotFound(id_or_name.chars().take(64).collect()))?;
    let mut info = key_info(&record)?;
    if info.revoked_at.is_none() {
        let now = DateTime::now();
        let update = Bson::Document(doc! { "$set": { "revoked_at": now } });
        // The filter on `revoked_at` keeps the first revocation time if two race.
        let filter = doc! { "_id": &info.id, "revoked_at": { "$exists": false } };
        store.update_one(&namespace, &filter, &update, &UpdateOptions::default())?;
        info.revoked_at = Some(now);
    }
    Ok(info)
}

/// The key with this id, or else this name.
pub fn find_api_key(
    store: &dyn Store,
    id_or_name: &str,
) -> Result<Option<ApiKeyInfo>, IdentityError> {
    find_key_record(store, &api_keys_namespace()?, id_or_name)?
        .map(|record| key_info(&record))
        .transpose()
}

fn find_key_record(
    store: &dyn Store,
    namespace: &Namespace,
    id_or_name: &str,
) -> Result<Option<Document>, IdentityError> {
    for filter in [doc! { "_id": id_or_name }, doc! { "name": id_or_name }] {
        let options = FindOptions {
            limit: Some(1),
            ..FindOptions::filter(filter)
        };
        if let Some(record) = store.find(namespace, options)?.next().transpose()? {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// The keys, oldest first, of one user or of everyone.
pub fn list_api_keys(
    store: &dyn Store,
    user_id: Option<&str>,
) -> Result<Vec<ApiKeyInfo>, IdentityError> {
    let filter = user_id.map_or_else(Document::new, |user_id| doc! { "user_id": user_id });
    let options = FindOptions {
        sort: Some(doc! { "created_at": 1, "_id": 1 }),
        ..FindOptions::filter(filter)
    };
    store
        .find(&api_keys_namespace()?, options)?
        .map(|record| key_info(&record?))
        .collect()
}

/// Verifies a presented key: the key's info when it exists, is not revoked and its secret
/// matches; `None` otherwise (the caller cannot tell which, and neither can an attacker).
pub fn verify_api_key(
    store: &dyn Store,
    presented: &str,
) -> Result<Option<ApiKeyInfo>, IdentityError> {
    let Some((id, secret)) = parse_key(presented) else {
        return Ok(None);
    };
    let options = FindOptions {
        limit: Some(1),
        ..FindOptions::filter(doc! { "_id": id })
    };
    let Some(record) = store
        .find(&api_keys_namespace()?, options)?
        .next()
        .transpose()?
    else {
        return Ok(None);
    };
    let info = key_info(&record)?;
    let stored = match record.get("hash") {
        Some(Bson::String(hash)) => hash.as_str(),
        _ => return Err(malformed_key(&record, "`hash` is not a string")),
    };
    let matches: bool = hex(&hash_secret(secret))
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into();
    Ok((matches && info.revoked_at.is_none()).then_some(info))
}

/// Splits `rk_<id>_<secret>`; `None` when it is not in that shape.
pub(crate) fn parse_key(presented: &str) -> Option<(&str, &str)> {
    let (id, secret) = presented.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    let id_ok = id.len() == KEY_ID_BYTES * 2
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let secret_ok = !secret.is_empty() && secret.len() <= MAX_SECRET_LEN;
    (id_ok && secret_ok).then_some((id, secret))
}

/// Whether a bearer token or header value is shaped like a Rampart API key.
pub(crate) fn looks_like_api_key(value: &str) -> bool {
    value.starts_with(KEY_PREFIX)
}

fn key_info(record: &Document) -> Result<ApiKeyInfo, IdentityError> {
    let text = |field: &str| match record.get(field) {
        Some(Bson::String(value)) => Ok(value.clone()),
        _ => Err(malformed_key(record, &format!("`{field}` is not a string"))),
    };
    let created_at = match record.get("created_at") {
        Some(Bson::DateTime(at)) => *at,
        _ => return Err(malformed_key(record, "`created_at` is not a date")),
    };
    let revoked_at = match record.get("revoked_at") {
        None | Some(Bson::Null) => None,
        Some(Bson::DateTime(at)) => Some(*at),
        Some(_) => return Err(malformed_key(record, "`revoked_at` is not a date")),
    };
    Ok(ApiKeyInfo {
        id: text("_id")?,
        name: text("name")?,
        user_id: text("user_id")?,
        created_at,
        revoked_at,
    })
}

fn malformed_key(record: &Document, reason: &str) -> IdentityError {
    IdentityError::MalformedRecord {
        namespace: format!("{SYSTEM_DATABASE}.{API_KEYS_COLLECTION}"),
        id: record
            .get("_id")
            .map_or_else(|| "?".to_owned(), |id| id.to_string()),
        reason: reason.to_owned(),
    }
}

/// Checks a key name: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn validate_key_name(name: &str) -> Result<(), IdentityError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(IdentityError::InvalidKeyName(
            name.chars().take(64).collect(),
        ))
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], IdentityError> {
    let mut bytes = [0_u8; N];
    getrandom::fill(&mut bytes).map_err(|error| IdentityError::Random(error.to_string()))?;
    Ok(bytes)
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}
