//! JSON tree to BSON: relaxed and canonical Extended JSON v2 type wrappers, strictly checked.

use std::fmt;

use bson::oid::ObjectId;
use bson::raw::CString;
use bson::spec::BinarySubtype;
use bson::{
    Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, Regex, Timestamp,
};
use serde_json::{Map, Number, Value};

use super::scalars;
use crate::error::{ErrorKind, MqlError, Result};

/// Where a value sits, built on the stack and only rendered when an error needs it.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn write_dotted(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Path::Root => {}
            Path::Key(Path::Root, key) => out.push_str(&one_line(key)),
            Path::Index(Path::Root, index) => {
                let _ = write!(out, "{index}");
            }
            Path::Key(parent, key) => {
                parent.write_dotted(out);
                out.push('.');
                out.push_str(&one_line(key));
            }
            Path::Index(parent, index) => {
                parent.write_dotted(out);
                let _ = write!(out, ".{index}");
            }
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if matches!(self, Path::Root) {
            return f.write_str("the top level");
        }
        let mut dotted = String::new();
        self.write_dotted(&mut dotted);
        write!(f, "`{dotted}`")
    }
}

/// Every key that marks an object as a type wrapper. `$type`, `$options`, `$regex`, `$ref`,
/// `$id` and `$db` are deliberately absent: they are query operators or the DBRef convention
/// and must reach the engine untouched.
pub const WRAPPER_KEYS: [&str; 17] = [
    "$oid",
    "$symbol",
    "$numberInt",
    "$numberLong",
    "$numberDouble",
    "$numberDecimal",
    "$binary",
    "$uuid",
    "$code",
    "$scope",
    "$timestamp",
    "$regularExpression",
    "$date",
    "$minKey",
    "$maxKey",
    "$undefined",
    "$dbPointer",
];

fn wrapper_key(map: &Map<String, Value>) -> Option<&'static str> {
    map.keys()
        .filter(|key| key.starts_with('$'))
        .find_map(|key| WRAPPER_KEYS.iter().copied().find(|known| known == key))
}

fn invalid(wrapper: &str, path: &Path<'_>, reason: impl fmt::Display) -> MqlError {
    MqlError::new(
        ErrorKind::InvalidExtendedJson,
        format!("invalid `{wrapper}` at {path}: {reason}"),
    )
}

/// How many documents and arrays hold a value, and how many may: a document or an array is a
/// level, the top-level document is level 1 (as [`check_depth`](crate::check_depth) counts).
#[derive(Clone, Copy)]
pub(crate) struct Depth {
    at: usize,
    limit: usize,
}

impl Depth {
    /// Outside everything, with `limit` levels allowed.
    pub(crate) fn top(limit: usize) -> Self {
        Self { at: 0, limit }
    }

    /// One level further in, for the container at `path`.
    fn deeper(self, path: &Path<'_>) -> Result<Self> {
        if self.at >= self.limit {
            return Err(MqlError::limit(format!(
                "extended json nests deeper than {} levels at {path}",
                self.limit
            )));
        }
        Ok(Self {
            at: self.at + 1,
            ..self
        })
    }
}

/// A JSON value as BSON. `depth` is that of the container holding it.
pub(crate) fn value(json: Value, path: &Path<'_>, depth: Depth) -> Result<Bson> {
    Ok(match json {
        Value::Null => Bson::Null,
        Value::Bool(flag) => Bson::Boolean(flag),
        Value::String(text) => Bson::String(text),
        Value::Number(number) => plain_number(&number),
        Value::Array(items) => {
            let inner = depth.deeper(path)?;
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                out.push(value(item, &Path::Index(path, index), inner)?);
            }
            Bson::Array(out)
        }
        Value::Object(map) => match wrapper_key(&map) {
            Some(key) => wrapper(key, &map, path, depth)?,
            None => Bson::Document(document(map, path, depth)?),
        },
    })
}

/// A JSON object as a document whose own keys are never read as a type wrapper (a top-level
/// document, a `$scope`). `depth` is that of the container holding it.
pub(crate) fn document(map: Map<String, Value>, path: &Path<'_>, depth: Depth) -> Result<Document> {
    let depth = depth.deeper(path)?;
    let mut out = Document::new();
    for (key, item) in map {
        let child = Path::Key(path, &key);
        if key.contains('\0') {
            return Err(MqlError::new(
                ErrorKind::InvalidExtendedJson,
                format!("invalid key at {child}: keys cannot contain a null character"),
            ));
        }
        let item = value(item, &child, depth)?;
        out.insert(key, item);
    }
    Ok(out)
}

/// The relaxed number rules: integers in the smallest integer type that holds them, everything
/// else (fractions, exponents, integers beyond int64) a double.
fn plain_number(number: &Number) -> Bson {
    match number.as_i64() {
        Some(int) => match i32::try_from(int) {
            Ok(small) => Bson::Int32(small),
            Err(_) => Bson::Int64(int),
        },
        None => Bson::Double(number.as_f64().unwrap_or(f64::NAN)),
    }
}

/// The checked view of one wrapper object: its name, where it is, and its fields.
struct Wrapper<'a> {
    name: &'a str,
    path: &'a Path<'a>,
    map: &'a Map<String, Value>,
}

impl<'a> Wrapper<'a> {
    fn fail(&self, reason: impl fmt::Display) -> MqlError {
        invalid(self.name, self.path, reason)
    }

    /// Fails unless the object has exactly `keys`.
    fn keys(&self, keys: &[&str]) -> Result<()> {
        if let Some(extra) = self.map.keys().find(|key| !keys.contains(&key.as_str())) {
            return Err(self.fail(format_args!("unexpected key `{}`", one_line(extra))));
        }
        if let Some(missing) = keys.iter().find(|key| !self.map.contains_key(**key)) {
            return Err(self.fail(format_args!("missing key `{missing}`")));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Result<&'a Value> {
        self.map
            .get(key)
            .ok_or_else(|| self.fail(format_args!("missing key `{key}`")))
    }

    fn string(&self, key: &str) -> Result<&'a str> {
        match self.get(key)? {
            Value::String(text) => Ok(text),
            other => Err(self.fail(format_args!(
                "`{key}` must be a string, got {}",
                kind(other)
            ))),
        }
    }

    /// The only value of a single-key wrapper.
    fn only(&self) -> Result<&'a Value> {
        self.keys(&[self.name])?;
        self.get(self.name)
    }

    fn only_string(&self) -> Result<&'a str> {
        self.keys(&[self.name])?;
        self.string(self.name)
    }
}

/// Control characters escaped, so that every message stays on one line.
pub(crate) fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for symbol in text.chars() {
        if symbol.is_control() {
            out.extend(symbol.escape_debug());
        } else {
            out.push(symbol);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A user-supplied string for an error message: quoted, on one line, and cut short.
fn quoted(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut cut: String = text.chars().take(MAX_CHARS).collect();
    if cut.len() < text.len() {
        cut.push_str("...");
    }
    format!("\"{}\"", one_line(&cut))
}

fn kind(json: &Value) -> &'static str {
    match json {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrapper(key: &str, map: &Map<String, Value>, path: &Path<'_>, depth: Depth) -> Result<Bson> {
    // `$scope` alone names the code-with-scope wrapper by its `$code`.
    let name = if key == "$scope" { "$code" } else { key };
    let w = Wrapper { name, path, map };
    match name {
        "$oid" => object_id(&w, w.only_string()?).map(Bson::ObjectId),
        "$symbol" => Ok(Bson::Symbol(w.only_string()?.to_owned())),
        "$numberInt" => number_int(&w),
        "$numberLong" => number_long(&w, w.only_string()?).map(Bson::Int64),
        "$numberDouble" => number_double(&w),
        "$numberDecimal" => number_decimal(&w),
        "$binary" => binary(&w),
        "$uuid" => uuid(&w),
        "$code" => code(&w, depth),
        "$timestamp" => timestamp(&w),
        "$regularExpression" => regular_expression(&w),
        "$date" => date(&w),
        "$minKey" | "$maxKey" => min_max_key(&w),
        "$undefined" => match w.only()? {
            Value::Bool(true) => Ok(Bson::Undefined),
            _ => Err(w.fail("expected `true`")),
        },
        _ => db_pointer(&w),
    }
}

fn object_id(w: &Wrapper<'_>, text: &str) -> Result<ObjectId> {
    scalars::hex_bytes::<12>(text)
        .map(ObjectId::from_bytes)
        .ok_or_else(|| w.fail("expected 24 hex characters"))
}

fn number_int(w: &Wrapper<'_>) -> Result<Bson> {
    let text = w.only_string()?;
    scalars::integer_text(text)
        .and_then(|int| i32::try_from(int).ok())
        .map(Bson::Int32)
        .ok_or_else(|| {
            w.fail(format_args!(
                "expected a 32-bit integer string, got {}",
                quoted(text)
            ))
        })
}

fn number_long(w: &Wrapper<'_>, text: &str) -> Result<i64> {
    scalars::integer_text(text).ok_or_else(|| {
        w.fail(format_args!(
            "expected a 64-bit integer string, got {}",
            quoted(text)
        ))
    })
}

fn number_double(w: &Wrapper<'_>) -> Result<Bson> {
    let text = w.only_string()?;
    scalars::double_text(text).map(Bson::Double).ok_or_else(|| {
        w.fail(format_args!(
            "expected a decimal number, \"Infinity\", \"-Infinity\" or \"NaN\", got {}",
            quoted(text)
        ))
    })
}

fn number_decimal(w: &Wrapper<'_>) -> Result<Bson> {
    let text = w.only_string()?;
    text.parse::<Decimal128>()
        .map(Bson::Decimal128)
        .map_err(|_| {
            w.fail(format_args!(
                "{} is not a representable decimal128",
                quoted(text)
            ))
        })
}

fn binary(w: &Wrapper<'_>) -> Result<Bson> {
    let (payload, subtype) = match w.get("$binary")? {
        Value::Object(body) => {
            w.keys(&["$binary"])?;
            let inner = Wrapper {
                name: w.name,
                path: w.path,
                map: body,
            };
            inner.keys(&["base64", "subType"])?;
            (inner.string("base64")?, inner.string("subType")?)
        }
        // The legacy form, kept because mongoexport wrote it; `$type` without `$binary` is the
        // query operator and never gets here.
        Value::String(payload) => {
            w.keys(&["$binary", "$type"])?;
            (payload.as_str(), w.string("$type")?)
        }
        other => {
            return Err(w.fail(format_args!(
                "expected an object with `base64` and `subType`, got {}",
                kind(other)
            )))
        }
    };
    let bytes =
        scalars::base64_decode(payload).ok_or_else(|| w.fail("`base64` is not padded base64"))?;
    let subtype = scalars::hex_subtype(subtype)
        .ok_or_else(|| w.fail("`subType` must be one or two hex digits"))?;
    Ok(Bson::Binary(Binary {
        subtype: BinarySubtype::from(subtype),
        bytes,
    }))
}

fn uuid(w: &Wrapper<'_>) -> Result<Bson> {
    let bytes = scalars::uuid_bytes(w.only_string()?)
        .ok_or_else(|| w.fail("expected a uuid like `c8edabc3-f738-4ca3-b68d-ab92a91478a3`"))?;
    Ok(Bson::Binary(Binary {
        subtype: BinarySubtype::Uuid,
        bytes: bytes.to_vec(),
    }))
}

fn code(w: &Wrapper<'_>, depth: Depth) -> Result<Bson> {
    if !w.map.contains_key("$scope") {
        return Ok(Bson::JavaScriptCode(w.only_string()?.to_owned()));
    }
    w.keys(&["$code", "$scope"])?;
    let code = w.string("$code")?.to_owned();
    let Value::Object(scope) = w.get("$scope")? else {
        return Err(w.fail("`$scope` must be an object"));
    };
    let scope = document(scope.clone(), &Path::Key(w.path, "$scope"), depth)?;
    Ok(Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
        code,
        scope,
    }))
}

fn timestamp(w: &Wrapper<'_>) -> Result<Bson> {
    let Value::Object(body) = w.only()? else {
        return Err(w.fail("expected an object with `t` and `i`"));
    };
    let inner = Wrapper {
        name: w.name,
        path: w.path,
        map: body,
    };
    inner.keys(&["t", "i"])?;
    let part = |key: &str| -> Result<u32> {
        inner
            .get(key)?
            .as_u64()
            .and_then(|int| u32::try_from(int).ok())
            .ok_or_else(|| {
                w.fail(format_args!(
                    "`{key}` must be an integer from 0 to 4294967295"
                ))
            })
    };
    Ok(Bson::Timestamp(Timestamp {
        time: part("t")?,
        increment: part("i")?,
    }))
}

fn regular_expression(w: &Wrapper<'_>) -> Result<Bson> {
    let Value::Object(body) = w.only()? else {
        return Err(w.fail("expected an object with `pattern` and `options`"));
    };
    let inner = Wrapper {
        name: w.name,
        path: w.path,
        map: body,
    };
    inner.keys(&["pattern", "options"])?;
    let pattern = CString::try_from(inner.string("pattern")?)
        .map_err(|_| w.fail("`pattern` cannot contain a null character"))?;
    // BSON stores options sorted; sorting here keeps `"mi"` and `"im"` the same value.
    let mut letters: Vec<char> = inner.string("options")?.chars().collect();
    letters.sort_unstable();
    let options = CString::try_from(letters.into_iter().collect::<String>())
        .map_err(|_| w.fail("`options` cannot contain a null character"))?;
    Ok(Bson::RegularExpression(Regex { pattern, options }))
}

fn date(w: &Wrapper<'_>) -> Result<Bson> {
    let millis = match w.only()? {
        Value::String(text) => scalars::parse_iso_date(text).ok_or_else(|| {
            w.fail(format_args!(
                "expected an iso-8601 date like \"1970-01-01T00:00:00Z\", got {}",
                quoted(text)
            ))
        })?,
        Value::Object(body) => {
            let inner = Wrapper {
                name: "$numberLong",
                path: w.path,
                map: body,
            };
            number_long(w, inner.only_string()?)?
        }
        // Legacy integer milliseconds, as older mongoexport wrote them.
        Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| w.fail("milliseconds must be an integer that fits in 64 bits"))?,
        other => {
            return Err(w.fail(format_args!(
            "expected a date string, `{{\"$numberLong\": ...}}` or integer milliseconds, got {}",
            kind(other)
        )))
        }
    };
    Ok(Bson::DateTime(DateTime::from_millis(millis)))
}

fn min_max_key(w: &Wrapper<'_>) -> Result<Bson> {
    if w.only()?.as_u64() != Some(1) {
        return Err(w.fail("expected the integer 1"));
    }
    Ok(if w.name == "$minKey" {
        Bson::MinKey
    } else {
        Bson::MaxKey
    })
}

fn db_pointer(w: &Wrapper<'_>) -> Result<Bson> {
    let Value::Object(body) = w.only()? else {
        return Err(w.fail("expected an object with `$ref` and `$id`"));
    };
    let inner = Wrapper {
        name: w.name,
        path: w.path,
        map: body,
    };
    inner.keys(&["$ref", "$id"])?;
    let namespace = inner.string("$ref")?;
    let Value::Object(id) = inner.get("$id")? else {
        return Err(w.fail("`$id` must be an `$oid` object"));
    };
    let id_wrapper = Wrapper {
        name: "$oid",
        path: w.path,
        map: id,
    };
    let id = object_id(w, id_wrapper.only_string()?)?;
    // `bson::DbPointer` has no public constructor; its own reader builds one from the exact
    // canonical form checked above.
    let canonical = serde_json::json!({
        "$dbPointer": { "$ref": namespace, "$id": { "$oid": id.to_hex() } }
    });
    match Bson::try_from(canonical) {
        Ok(pointer @ Bson::DbPointer(_)) => Ok(pointer),
        _ => Err(w.fail("cannot build a db pointer")),
    }
}
