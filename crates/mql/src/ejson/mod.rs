//! MongoDB Extended JSON v2 (canonical and relaxed) in and out, and the plain-JSON downgrade
//! the Data API uses for `application/json` responses.
//!
//! Reading follows the specification's parser rules: an object holding any type-wrapper key
//! (`$oid`, `$numberLong`, `$binary`, `$date`, ...) must be exactly that wrapper with values of
//! the right type, or it is an `InvalidExtendedJson` error; other `$`-prefixed keys (query and
//! update operators, `$ref`/`$id` DBRefs) are left as ordinary keys. Deliberate choices:
//!
//! - The legacy `{"$regex": ..., "$options": ...}` regular-expression form is NOT converted:
//!   in a filter it is the `$regex` query operator and must reach the filter engine as such.
//!   Regular-expression literals use `$regularExpression`.
//! - The legacy binary form `{"$binary": "<base64>", "$type": "<hex>"}` is accepted (an object
//!   with `$type` but no `$binary` is the `$type` query operator and is left alone), and so is
//!   the legacy `{"$date": <integer millis>}`.
//! - As the specification says, a top-level document (and a `$scope` document) is never itself
//!   read as a wrapper: `parse_document(r#"{"$binary": "x"}"#)` is a document with a `$binary`
//!   key. `parse_value` reads its top-level value like any nested one.
//! - Keys containing a null character are refused (they cannot be stored in BSON).
//! - Duplicate keys in one object keep the last value (serde_json's behaviour).
//!
//! Nesting is counted in documents and arrays as [`check_depth`](crate::check_depth) counts it
//! (a type wrapper is not a level), and going past the limit is a `LimitExceeded` error. The
//! limit is [`MAX_INPUT_DEPTH`](crate::MAX_INPUT_DEPTH) (200) for a value or a document given
//! as input (a filter, an update, a pipeline, a request body), as MongoDB accepts any command
//! up to 200 levels; it is [`MAX_DEPTH`](crate::MAX_DEPTH) (100) for each document of
//! [`parse_documents`], which are documents to store.

mod read;
mod scalars;
mod write;

use bson::{Bson, Document};
use serde_json::Value;

use crate::error::{ErrorKind, MqlError, Result};
use crate::limits::{MAX_DEPTH, MAX_INPUT_DEPTH};
use read::{Depth, Path};
use serde::Deserialize as _;

/// Every key that marks a JSON object as an Extended JSON type wrapper (`$oid`, `$date`, ...).
/// `$regex`, `$options`, `$type`, `$ref`, `$id` and `$db` are not among them: they are query
/// operators or the DBRef convention.
pub use read::WRAPPER_KEYS;

/// Which Extended JSON v2 flavour to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtJsonMode {
    /// Every type wrapped (`{"$numberInt": "1"}`), lossless.
    Canonical,
    /// Numbers and dates in their natural JSON form where lossless.
    Relaxed,
}

/// serde_json's own limit on nesting: enough for any document to store (100 levels, 101 in
/// an array), not for an input, which may nest 200.
fn hit_recursion_limit(error: &serde_json::Error) -> bool {
    error.to_string().starts_with("recursion limit exceeded")
}

/// A parse error; `limit` is the nesting allowed, named when serde_json stopped on its own.
fn json_error(error: &serde_json::Error, context: &str, limit: usize) -> MqlError {
    if hit_recursion_limit(error) {
        return MqlError::limit(format!(
            "{context}extended json nests deeper than {limit} levels ({error})"
        ));
    }
    MqlError::new(
        ErrorKind::InvalidExtendedJson,
        format!("{context}invalid json: {error}"),
    )
}

/// JSON nesting the parser will recurse into without serde_json's own limit: the deepest input
/// allowed, plus the two levels a type wrapper may add without adding a BSON level
/// (`{"$date": {"$numberLong": "0"}}`) and one to spare. The limits that users see are checked
/// on the BSON levels by the reader; this only keeps the recursion bounded.
const JSON_NESTING_GUARD: usize = MAX_INPUT_DEPTH + 3;

/// Refuses `text` if its arrays and objects nest deeper than [`JSON_NESTING_GUARD`], in one
/// pass over the bytes that skips string contents. On malformed JSON it may overcount, never
/// undercount, the nesting serde_json would reach before reporting the error.
fn check_nesting(text: &str, limit: usize) -> Result<()> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, byte) in text.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > JSON_NESTING_GUARD {
                    let (line, column) = line_and_column(text, offset);
                    return Err(MqlError::limit(format!(
                        "extended json nests deeper than {limit} levels \
                         (line {line}, column {column})"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before
        .get(line_start..)
        .map_or(0, |rest| rest.chars().count());
    (before.matches('\n').count() + 1, column + 1)
}

/// One JSON value, nested at most as deep as an input may be. serde_json parses it with its
/// own recursion limit (128); only a text deeper than that is scanned by [`check_nesting`] and
/// parsed again without the limit, so the common case pays for one parse.
fn read_json(text: &str) -> Result<Value> {
    match serde_json::from_str(text) {
        Err(error) if hit_recursion_limit(&error) => {
            check_nesting(text, MAX_INPUT_DEPTH)?;
            let mut json = serde_json::Deserializer::from_str(text);
            json.disable_recursion_limit();
            let value = Value::deserialize(&mut json)
                .and_then(|value| json.end().map(|()| value))
                .map_err(|error| json_error(&error, "", MAX_INPUT_DEPTH))?;
            Ok(value)
        }
        parsed => parsed.map_err(|error| json_error(&error, "", MAX_INPUT_DEPTH)),
    }
}

fn not_an_object(got: &Value, context: &str) -> MqlError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    MqlError::new(
        ErrorKind::InvalidExtendedJson,
        format!("{context}expected a json object, got {kind}"),
    )
}

/// Parses one JSON text holding a value in Extended JSON v2 (canonical or relaxed).
pub fn parse_value(text: &str) -> Result<Bson> {
    read::value(read_json(text)?, &Path::Root, Depth::top(MAX_INPUT_DEPTH))
}

/// Parses one JSON text that must be an object, in Extended JSON v2.
pub fn parse_document(text: &str) -> Result<Document> {
    match read_json(text)? {
        Value::Object(map) => read::document(map, &Path::Root, Depth::top(MAX_INPUT_DEPTH)),
        other => Err(not_an_object(&other, "")),
    }
}

/// Parses documents given either as one JSON array of objects or as one object per line (any
/// whitespace between objects will do; blank lines are ignored). Errors name the document by
/// its 1-based number and, for the line layout, its starting line.
pub fn parse_documents(text: &str) -> Result<Vec<Document>> {
    // Documents to store nest at most 100 levels (101 inside the array): serde_json's own
    // recursion limit holds them, so the text is neither scanned nor parsed twice.
    if text.trim_start().starts_with('[') {
        let Value::Array(items) =
            serde_json::from_str(text).map_err(|error| json_error(&error, "", MAX_DEPTH))?
        else {
            return Err(MqlError::new(
                ErrorKind::InvalidExtendedJson,
                "expected a json array",
            ));
        };
        return items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let context = format!("document {}: ", index + 1);
                document_at(item, &context)
            })
            .collect();
    }
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut docs = Vec::new();
    let mut lines = LineCounter::default();
    loop {
        let line = lines.line_of_next(text, stream.byte_offset());
        let context = format!("document {} (line {line}): ", docs.len() + 1);
        match stream.next() {
            None => return Ok(docs),
            Some(Err(error)) => return Err(json_error(&error, &context, MAX_DEPTH)),
            Some(Ok(item)) => docs.push(document_at(item, &context)?),
        }
    }
}

fn document_at(item: Value, context: &str) -> Result<Document> {
    let Value::Object(map) = item else {
        return Err(not_an_object(&item, context));
    };
    read::document(map, &Path::Root, Depth::top(MAX_DEPTH))
        .map_err(|error| MqlError::new(error.kind(), format!("{context}{}", error.message())))
}

/// Turns byte offsets into 1-based line numbers, scanning each byte of the text once.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    /// The line where the next value starts, skipping the whitespace after `offset`.
    fn line_of_next(&mut self, text: &str, offset: usize) -> usize {
        let rest = text.get(offset..).unwrap_or("");
        let start = offset + (rest.len() - rest.trim_start().len());
        let newlines = text
            .get(self.offset..start)
            .map_or(0, |gap| gap.matches('\n').count());
        self.line += newlines;
        self.offset = start.max(self.offset);
        self.line + 1
    }
}

/// Interprets an already-parsed JSON tree as Extended JSON v2.
pub fn from_json_value(value: &Value) -> Result<Bson> {
    read::value(value.clone(), &Path::Root, Depth::top(MAX_INPUT_DEPTH))
}

/// Writes a value as Extended JSON v2.
///
/// Canonical wraps every number (`{"$numberInt": "1"}`, `{"$numberDouble": "1.0"}`) and every
/// date (`{"$date": {"$numberLong": "0"}}`). Relaxed writes int32, int64 and finite doubles as
/// JSON numbers (a whole double keeps its `.0`, so it reads back as a double), non-finite
/// doubles wrapped, and dates from 1970 to 9999 as ISO-8601 strings with milliseconds only when
/// non-zero (`"1970-01-01T00:00:00Z"`, `"2020-01-01T12:00:00.123Z"`). Regular-expression
/// options are written in alphabetical order, as the specification requires.
pub fn to_json_value(value: &Bson, mode: ExtJsonMode) -> Value {
    write::extended(value, mode)
}

/// Writes a value as Extended JSON v2 text on one line.
pub fn to_json_string(value: &Bson, mode: ExtJsonMode) -> String {
    to_json_value(value, mode).to_string()
}

/// The plain-JSON downgrade (what the Data API returns for `application/json`); lossy:
///
/// | BSON | JSON |
/// |---|---|
/// | ObjectId | its 24-character lowercase hex string |
/// | Date | ISO-8601 string with milliseconds and `Z` (`"1970-01-01T00:00:00.000Z"`); years outside 0-9999 in the expanded `"+010000-..."` form |
/// | Int32, Int64 | JSON integer |
/// | Double | JSON number (`1.0` stays `1.0`); NaN and infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
/// | Decimal128 | its string (`"1.5"`, `"NaN"`) |
/// | Binary | `{"Subtype": <number>, "Data": <base64 string>}` |
/// | Timestamp | `{"T": <seconds>, "I": <increment>}` |
/// | Regular expression | `{"Pattern": <string>, "Options": <string>}` |
/// | Symbol, JavaScript code | the string |
/// | Code with scope | `{"code": <string>, "scope": <plain document>}` |
/// | DBPointer | `{"$ref": <namespace>, "$id": <hex string>}` |
/// | MinKey, MaxKey | `{}` |
/// | Undefined, Null | `null` |
pub fn to_plain_json(value: &Bson) -> Value {
    write::plain(value)
}
