//! One error type for the store, with MongoDB's numeric codes so the Data API reports what a
//! MongoDB server would.

use std::collections::BTreeMap;

use bson::Bson;
use rampart_mql::MqlError;

/// Everything a store operation can fail with. Messages are one lowercase line with names in
/// backticks; they never include a stored document or a file's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A write would put two documents under the same key of a unique index (`_id_` included).
    #[error("duplicate key in index `{index}` of `{namespace}`: key `{key}`")]
    DuplicateKey {
        /// `db.collection`.
        namespace: String,
        /// The index name.
        index: String,
        /// The duplicated key values, as a document of the index's fields.
        key: String,
    },
    /// A database or collection name MongoDB would reject.
    #[error("invalid namespace `{name}`: {reason}")]
    InvalidNamespace {
        /// The name as given.
        name: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The collection does not exist (for operations that need it to).
    #[error("namespace `{0}` does not exist")]
    NamespaceNotFound(String),
    /// The collection already exists.
    #[error("collection `{0}` already exists")]
    NamespaceExists(String),
    /// No index of this name on the collection.
    #[error("index `{index}` does not exist on `{namespace}`")]
    IndexNotFound {
        /// `db.collection`.
        namespace: String,
        /// The index name.
        index: String,
    },
    /// An index specification that is malformed or conflicts with an existing index.
    #[error("invalid index `{index}`: {reason}")]
    InvalidIndex {
        /// The index name (or its key pattern when unnamed).
        index: String,
        /// What is wrong.
        reason: String,
    },
    /// A document over the 16 MiB limit.
    #[error("document is {size} bytes, over the limit of {limit}")]
    DocumentTooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The data file is not a Rampart store, is of an unknown format version, or is damaged.
    #[error("store file `{path}` is not a usable rampart store: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process (or another handle in this one) has the data directory open.
    #[error("store file `{0}` is already open in another process or handle")]
    Locked(String),
    /// A transaction could not commit because of a concurrent write; retrying may succeed.
    #[error("write conflict: {0}")]
    Conflict(String),
    /// A transaction body chose not to commit (a permission check refused the write); nothing
    /// was written and retrying will not help.
    #[error("transaction aborted: {0}")]
    Aborted(String),
    /// The query engine rejected a filter, update, projection, sort or pipeline, or a document.
    #[error("{0}")]
    Query(#[from] MqlError),
    /// Some documents of an `insert_many` failed; the others are stored.
    #[error("{} document(s) of a bulk insert failed, first: {}", .0.errors.len(), first_error(&.0.errors))]
    BulkWrite(Box<BulkWriteFailure>),
    /// Reading or writing the data directory failed.
    #[error("store io error: {0}")]
    Io(#[from] std::io::Error),
    /// The storage engine failed in a way not covered above.
    #[error("storage engine error: {0}")]
    Storage(String),
}

/// The outcome of a partly failed `insert_many`.
#[derive(Debug)]
pub struct BulkWriteFailure {
    /// The `_id` of each stored document, by its position in the input.
    pub inserted_ids: BTreeMap<usize, Bson>,
    /// The failures, by position in the input.
    pub errors: Vec<(usize, StoreError)>,
}

fn first_error(errors: &[(usize, StoreError)]) -> String {
    match errors.first() {
        Some((index, error)) => format!("document {index}: {error}"),
        None => "none".to_owned(),
    }
}

impl StoreError {
    /// MongoDB's numeric server error code for this error's class.
    pub fn code(&self) -> i32 {
        match self {
            StoreError::DuplicateKey { .. } => 11000,
            StoreError::InvalidNamespace { .. } => 73,
            StoreError::NamespaceNotFound(_) => 26,
            StoreError::NamespaceExists(_) => 48,
            StoreError::IndexNotFound { .. } => 27,
            StoreError::InvalidIndex { .. } => 67,
            StoreError::DocumentTooLarge { .. } => 10334,
            StoreError::Corrupt { .. } => 12,
            StoreError::Locked(_) => 98,
            StoreError::Conflict(_) => 112,
            StoreError::Aborted(_) => 251,
            StoreError::Query(error) => error.code(),
            StoreError::BulkWrite(failure) => {
                failure.errors.first().map_or(1, |(_, error)| error.code())
            }
            StoreError::Io(_) | StoreError::Storage(_) => 1,
        }
    }

    /// MongoDB's code name for this error's class.
    pub fn code_name(&self) -> &'static str {
        match self {
            StoreError::DuplicateKey { .. } => "DuplicateKey",
            StoreError::InvalidNamespace { .. } => "InvalidNamespace",
            StoreError::NamespaceNotFound(_) => "NamespaceNotFound",
            StoreError::NamespaceExists(_) => "NamespaceExists",
            StoreError::IndexNotFound { .. } => "IndexNotFound",
            StoreError::InvalidIndex { .. } => "CannotCreateIndex",
            StoreError::DocumentTooLarge { .. } => "BSONObjectTooLarge",
            StoreError::Corrupt { .. } => "DataCorruptionDetected",
            StoreError::Locked(_) => "DBPathInUse",
            StoreError::Conflict(_) => "WriteConflict",
            StoreError::Aborted(_) => "TransactionAborted",
            StoreError::Query(error) => error.kind().name(),
            StoreError::BulkWrite(_) => "BulkWriteError",
            StoreError::Io(_) | StoreError::Storage(_) => "InternalError",
        }
    }

    pub(crate) fn storage(error: impl std::fmt::Display) -> StoreError {
        StoreError::Storage(one_line(&error.to_string()))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Result alias used across the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

macro_rules! from_redb {
    ($($kind:ty),*) => {$(
        impl From<$kind> for StoreError {
            fn from(error: $kind) -> Self {
                StoreError::storage(error)
            }
        }
    )*};
}

from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);
