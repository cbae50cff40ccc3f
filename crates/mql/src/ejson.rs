//! MongoDB Extended JSON v2 (canonical and relaxed) in and out, and the plain-JSON downgrade
//! the Data API uses for `application/json` responses.
// PLACEHOLDER: implemented by the Extended JSON work; signatures are the contract.

use bson::{Bson, Document};

use crate::error::{MqlError, Result};

/// Which Extended JSON v2 flavour to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtJsonMode {
    /// Every type wrapped (`{"$numberInt": "1"}`), lossless.
    Canonical,
    /// Numbers and dates in their natural JSON form where lossless.
    Relaxed,
}

fn pending() -> MqlError {
    MqlError::new(
        crate::ErrorKind::UnknownOperator,
        "extended json is not implemented yet",
    )
}

/// Parses one JSON text holding a value in Extended JSON v2 (canonical or relaxed).
pub fn parse_value(_text: &str) -> Result<Bson> {
    Err(pending())
}

/// Parses one JSON text that must be an object, in Extended JSON v2.
pub fn parse_document(_text: &str) -> Result<Document> {
    Err(pending())
}

/// Parses documents given either as one JSON array of objects or as one object per line.
pub fn parse_documents(_text: &str) -> Result<Vec<Document>> {
    Err(pending())
}

/// Interprets an already-parsed JSON tree as Extended JSON v2.
pub fn from_json_value(_value: &serde_json::Value) -> Result<Bson> {
    Err(pending())
}

/// Writes a value as Extended JSON v2.
pub fn to_json_value(value: &Bson, mode: ExtJsonMode) -> serde_json::Value {
    let _ = (value, mode);
    serde_json::Value::Null
}

/// Writes a value as Extended JSON v2 text on one line.
pub fn to_json_string(value: &Bson, mode: ExtJsonMode) -> String {
    to_json_value(value, mode).to_string()
}

/// The plain-JSON downgrade: ObjectId as its hex string, dates as ISO-8601 strings, numbers as
/// JSON numbers, and so on (what the Data API returns for `application/json`).
pub fn to_plain_json(value: &Bson) -> serde_json::Value {
    let _ = value;
    serde_json::Value::Null
}
