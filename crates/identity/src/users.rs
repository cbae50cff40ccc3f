//! The users collection (`rampart.users`) and custom user data.
//!
//! A user record is `{_id: <user id>, type: "normal" | "server", data: {..}, created_at}`.
//! API-key users are created with `type: "server"` the first time a key is made for them, JWT
//! users with `type: "normal"` on their first authentication.

use bson::{doc, Bson, Document};
use rampart_rules::User;
use rampart_store::{FindOptions, Namespace, Store};

use crate::config::CustomUserDataConfig;
use crate::error::IdentityError;

/// The database holding Rampart's own collections. The Data API must never expose it.
pub const SYSTEM_DATABASE: &str = "rampart";
/// The users collection in [`SYSTEM_DATABASE`].
pub const USERS_COLLECTION: &str = "users";

/// The longest user id accepted.
const MAX_USER_ID_LEN: usize = 256;

pub(crate) fn users_namespace() -> Result<Namespace, IdentityError> {
    Ok(Namespace::new(SYSTEM_DATABASE, USERS_COLLECTION)?)
}

/// Checks a user id: non-empty, at most 256 bytes, no control characters.
pub fn validate_user_id(user_id: &str) -> Result<(), IdentityError> {
    let reason = if user_id.is_empty() {
        "it is empty"
    } else if user_id.len() > MAX_USER_ID_LEN {
        "it is longer than 256 bytes"
    } else if user_id.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(IdentityError::InvalidUserId(
        user_id.chars().take(64).collect(),
        reason,
    ))
}

/// A new server user record (what creating an API key for an unknown user stores).
pub(crate) fn new_server_user(user_id: &str) -> Document {
    doc! {
        "_id": user_id,
        "type": "server",
        "data": {},
        "created_at": bson::DateTime::now(),
    }
}

/// A new normal user record (what the first JWT authentication of an unknown user stores).
fn new_normal_user(user_id: &str) -> Document {
    doc! {
        "_id": user_id,
        "type": "normal",
        "data": {},
        "created_at": bson::DateTime::now(),
    }
}

/// Records `user_id` as a normal user unless it has a record (App Services'
/// `create_user_on_auth`). Two first requests at once both try; the loser's duplicate key is
/// the record it wanted.
pub(crate) fn record_user(store: &dyn Store, user_id: &str) -> Result<(), IdentityError> {
    validate_user_id(user_id)?;
    if find_user(store, user_id)?.is_some() {
        return Ok(());
    }
    match store.insert_one(&users_namespace()?, new_normal_user(user_id)) {
        Ok(_) | Err(rampart_store::StoreError::DuplicateKey { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The stored record of `user_id`, if any.
pub(crate) fn find_user(
    store: &dyn Store,
    user_id: &str,
) -> Result<Option<Document>, IdentityError> {
    let options = FindOptions {
        limit: Some(1),
        ..FindOptions::filter(doc! { "_id": user_id })
    };
    let mut cursor = store.find(&users_namespace()?, options)?;
    Ok(cursor.next().transpose()?)
}

/// Builds `%%user` from a stored user record; `identity` is how it authenticated.
pub(crate) fn user_from_record(
    record: &Document,
    identity: Document,
) -> Result<User, IdentityError> {
    let id = match record.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        _ => return Err(malformed_user(record, "`_id` is not a string")),
    };
    let user_type = match record.get("type") {
        Some(Bson::String(kind)) if kind == "normal" || kind == "server" => kind.clone(),
        _ => return Err(malformed_user(record, "`type` is not `normal` or `server`")),
    };
    let data = match record.get("data") {
        Some(Bson::Document(data)) => data.clone(),
        None => Document::new(),
        Some(_) => return Err(malformed_user(record, "`data` is not a document")),
    };
    Ok(User {
        id,
        user_type,
        data,
        custom_data: Document::new(),
        identities: vec![identity],
    })
}

fn malformed_user(record: &Document, reason: &str) -> IdentityError {
    IdentityError::MalformedRecord {
        namespace: format!("{SYSTEM_DATABASE}.{USERS_COLLECTION}"),
        id: record
            .get("_id")
            .map_or_else(|| "?".to_owned(), |id| id.to_string()),
        reason: reason.to_owned(),
    }
}

/// The custom user data document of `user_id`: the whole matching document (`_id` included,
/// as App Services does), or an empty document when there is none or none is configured.
pub(crate) fn custom_data(
    store: &dyn Store,
    config: Option<&CustomUserDataConfig>,
    user_id: &str,
) -> Result<Document, IdentityError> {
    let Some(config) = config else {
        return Ok(Document::new());
    };
    let namespace = Namespace::new(&config.database, &config.collection)?;
    let options = FindOptions {
        limit: Some(1),
        ..FindOptions::filter(doc! { config.user_id_field.as_str(): user_id })
    };
    let mut cursor = store.find(&namespace, options)?;
    Ok(cursor.next().transpose()?.unwrap_or_default())
}
