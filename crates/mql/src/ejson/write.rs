//! BSON to JSON: canonical and relaxed Extended JSON v2, and the plain-JSON downgrade.

use bson::{Binary, Bson, DbPointer, Document, Regex};
use serde_json::{json, Map, Number, Value};

use super::scalars;
use super::ExtJsonMode;

/// What a writer does with the types that differ between the output flavours.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Canonical,
    Relaxed,
    Plain,
}

impl From<ExtJsonMode> for Flavour {
    fn from(mode: ExtJsonMode) -> Self {
        match mode {
            ExtJsonMode::Canonical => Flavour::Canonical,
            ExtJsonMode::Relaxed => Flavour::Relaxed,
        }
    }
}

pub(crate) fn extended(value: &Bson, mode: ExtJsonMode) -> Value {
    write(value, Flavour::from(mode))
}

pub(crate) fn plain(value: &Bson) -> Value {
    write(value, Flavour::Plain)
}

fn wrap(key: &str, inner: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_owned(), inner);
    Value::Object(map)
}

fn write(value: &Bson, flavour: Flavour) -> Value {
    match value {
        Bson::Null => Value::Null,
        Bson::Boolean(flag) => Value::Bool(*flag),
        Bson::String(text) => Value::String(text.clone()),
        Bson::Document(doc) => write_document(doc, flavour),
        Bson::Array(items) => Value::Array(items.iter().map(|item| write(item, flavour)).collect()),
        Bson::Int32(int) => match flavour {
            Flavour::Canonical => wrap("$numberInt", Value::String(int.to_string())),
            _ => Value::from(*int),
        },
        Bson::Int64(int) => match flavour {
            Flavour::Canonical => wrap("$numberLong", Value::String(int.to_string())),
            _ => Value::from(*int),
        },
        Bson::Double(double) => write_double(*double, flavour),
        Bson::Decimal128(decimal) => match flavour {
            Flavour::Plain => Value::String(decimal.to_string()),
            _ => wrap("$numberDecimal", Value::String(decimal.to_string())),
        },
        Bson::ObjectId(id) => match flavour {
            Flavour::Plain => Value::String(id.to_hex()),
            _ => wrap("$oid", Value::String(id.to_hex())),
        },
        Bson::DateTime(date) => write_date(date.timestamp_millis(), flavour),
        Bson::Binary(binary) => write_binary(binary, flavour),
        Bson::RegularExpression(regex) => write_regex(regex, flavour),
        Bson::Timestamp(ts) => match flavour {
            // The Data API's downgrade capitalises the keys (reference §9.3).
            Flavour::Plain => json!({ "T": ts.time, "I": ts.increment }),
            _ => wrap("$timestamp", json!({ "t": ts.time, "i": ts.increment })),
        },
        Bson::Symbol(text) => match flavour {
            Flavour::Plain => Value::String(text.clone()),
            _ => wrap("$symbol", Value::String(text.clone())),
        },
        Bson::JavaScriptCode(code) => match flavour {
            Flavour::Plain => Value::String(code.clone()),
            _ => wrap("$code", Value::String(code.clone())),
        },
        Bson::JavaScriptCodeWithScope(code) => {
            let (code_key, scope_key) = match flavour {
                Flavour::Plain => ("code", "scope"),
                _ => ("$code", "$scope"),
            };
            let mut map = Map::with_capacity(2);
            map.insert(code_key.to_owned(), Value::String(code.code.clone()));
            map.insert(scope_key.to_owned(), write_document(&code.scope, flavour));
            Value::Object(map)
        }
        Bson::DbPointer(pointer) => write_db_pointer(pointer, flavour),
        // The Data API downgrades both keys to an empty object (reference §9.3).
        Bson::MinKey | Bson::MaxKey if flavour == Flavour::Plain => json!({}),
        Bson::MinKey => json!({ "$minKey": 1 }),
        Bson::MaxKey => json!({ "$maxKey": 1 }),
        Bson::Undefined => match flavour {
            Flavour::Plain => Value::Null,
            _ => json!({ "$undefined": true }),
        },
    }
}

fn write_document(doc: &Document, flavour: Flavour) -> Value {
    let mut map = Map::with_capacity(doc.len());
    for (key, item) in doc {
        map.insert(key.clone(), write(item, flavour));
    }
    Value::Object(map)
}

fn write_double(double: f64, flavour: Flavour) -> Value {
    let finite = Number::from_f64(double);
    match (flavour, finite) {
        (Flavour::Canonical, _) => wrap(
            "$numberDouble",
            Value::String(scalars::double_to_text(double)),
        ),
        // serde_json writes a float with a `.` or an exponent (`1.0`, `-0.0`, `1e300`), so a
        // whole double stays a double when read back.
        (_, Some(number)) => Value::Number(number),
        (Flavour::Relaxed, None) => wrap(
            "$numberDouble",
            Value::String(scalars::double_to_text(double)),
        ),
        (Flavour::Plain, None) => Value::String(scalars::double_to_text(double)),
    }
}

fn write_date(millis: i64, flavour: Flavour) -> Value {
    match flavour {
        Flavour::Plain => Value::String(scalars::iso_date(millis, true)),
        Flavour::Relaxed if (0..=scalars::MAX_ISO_MILLIS).contains(&millis) => {
            wrap("$date", Value::String(scalars::iso_date(millis, false)))
        }
        _ => wrap(
            "$date",
            wrap("$numberLong", Value::String(millis.to_string())),
        ),
    }
}

fn write_binary(binary: &Binary, flavour: Flavour) -> Value {
    let base64 = scalars::base64_encode(&binary.bytes);
    if flavour == Flavour::Plain {
        return json!({ "Subtype": u8::from(binary.subtype), "Data": base64 });
    }
    let subtype = format!("{:02x}", u8::from(binary.subtype));
    wrap("$binary", json!({ "base64": base64, "subType": subtype }))
}

fn write_regex(regex: &Regex, flavour: Flavour) -> Value {
    // The specification requires options in alphabetical order on output.
    let mut letters: Vec<char> = regex.options.as_str().chars().collect();
    letters.sort_unstable();
    let options: String = letters.into_iter().collect();
    match flavour {
        Flavour::Plain => json!({ "Pattern": regex.pattern.as_str(), "Options": options }),
        _ => wrap(
            "$regularExpression",
            json!({ "pattern": regex.pattern.as_str(), "options": options }),
        ),
    }
}

fn write_db_pointer(pointer: &DbPointer, flavour: Flavour) -> Value {
    // `bson::DbPointer` keeps its fields private; its own canonical writer is the only way to
    // read them, and it writes exactly the specification's form.
    let canonical = Bson::DbPointer(pointer.clone()).into_canonical_extjson();
    if flavour != Flavour::Plain {
        return canonical;
    }
    let body = canonical.get("$dbPointer");
    let namespace = body
        .and_then(|b| b.get("$ref"))
        .cloned()
        .unwrap_or(Value::Null);
    let id = body
        .and_then(|b| b.get("$id"))
        .and_then(|id| id.get("$oid"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({ "$ref": namespace, "$id": id })
}
