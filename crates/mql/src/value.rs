//! BSON values as MongoDB compares them: the canonical type order, numeric comparison across
//! int32/int64/double/decimal128, and the `$type` names.

use std::cmp::Ordering;

use bson::spec::BinarySubtype;
use bson::{Bson, Document};

/// The rank of a value's type in MongoDB's comparison order (server `canonicalizeBSONType`).
/// Values of different ranks compare by rank; numbers share one rank, as do strings and symbols.
pub fn type_rank(value: &Bson) -> u8 {
    match value {
        Bson::MinKey => 0,
        Bson::Undefined => 1,
        Bson::Null => 2,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 3,
        Bson::String(_) | Bson::Symbol(_) => 4,
        Bson::Document(_) => 5,
        Bson::Array(_) => 6,
        Bson::Binary(_) => 7,
        Bson::ObjectId(_) => 8,
        Bson::Boolean(_) => 9,
        Bson::DateTime(_) => 10,
        Bson::Timestamp(_) => 11,
        Bson::RegularExpression(_) => 12,
        Bson::DbPointer(_) => 13,
        Bson::JavaScriptCode(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::MaxKey => 16,
    }
}

/// A number widened for comparison and arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// int32 or int64.
    Int(i64),
    /// double, or decimal128 converted to the nearest double (see [`number`]).
    Double(f64),
}

impl Number {
    /// The value as a double (exact for integers up to 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(value) => value as f64,
            Number::Double(value) => value,
        }
    }

    /// The value as an int64 the way the server's `safeNumberLong` takes it: a fraction
    /// truncated toward zero, NaN as 0, values out of range saturated.
    pub(crate) fn saturating_long(self) -> i64 {
        match self {
            Number::Int(value) => value,
            // Rust's float-to-int conversion truncates, saturates and maps NaN to 0.
            Number::Double(value) => value as i64,
        }
    }
}

/// The numeric value of `value`, if it is a number. Decimal128 is read through its string
/// form into the nearest double, for the uses that need a machine number (an array index, a
/// `$size`, a `$mod` divisor, index keys); comparisons and arithmetic involving a decimal do
/// not go through this: they are exact (`crate::decimal`).
pub fn number(value: &Bson) -> Option<Number> {
    match value {
        Bson::Int32(v) => Some(Number::Int(i64::from(*v))),
        Bson::Int64(v) => Some(Number::Int(*v)),
        Bson::Double(v) => Some(Number::Double(*v)),
        Bson::Decimal128(v) => Some(Number::Double(decimal_to_f64(v))),
        _ => None,
    }
}

/// The numeric value of `value` as a double (see [`number`]), if it is a number.
pub(crate) fn as_f64(value: &Bson) -> Option<f64> {
    number(value).map(Number::as_f64)
}

/// The nearest double to a decimal128 (`NaN`, `Infinity` and `-Infinity` included).
pub fn decimal_to_f64(value: &bson::Decimal128) -> f64 {
    let text = value.to_string();
    match text.as_str() {
        "NaN" | "-NaN" => f64::NAN,
        "Infinity" | "Inf" => f64::INFINITY,
        "-Infinity" | "-Inf" => f64::NEG_INFINITY,
        _ => text.parse::<f64>().unwrap_or(f64::NAN),
    }
}

/// Compares two numbers by value. NaN equals NaN and sorts below every other number, as in
/// MongoDB.
pub fn compare_numbers(a: Number, b: Number) -> Ordering {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => x.cmp(&y),
        (Number::Int(x), Number::Double(y)) => compare_int_double(x, y),
        (Number::Double(x), Number::Int(y)) => compare_int_double(y, x).reverse(),
        (Number::Double(x), Number::Double(y)) => compare_doubles(x, y),
    }
}

fn compare_doubles(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// Exact comparison of an i64 with a double (no rounding of the integer through f64).
fn compare_int_double(x: i64, y: f64) -> Ordering {
    if y.is_nan() {
        return Ordering::Greater;
    }
    // 2^63 as f64; every double at or above it is greater than every i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if y >= TWO_63 {
        return Ordering::Less;
    }
    if y < -TWO_63 {
        return Ordering::Greater;
    }
    let truncated = y.trunc();
    // In range, so the cast is exact.
    let whole = truncated as i64;
    match x.cmp(&whole) {
        Ordering::Equal => {
            let fraction = y - truncated;
            if fraction > 0.0 {
                Ordering::Less
            } else if fraction < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        other => other,
    }
}

/// Compares two values in MongoDB's total order: by type rank, then within the type.
/// Documents compare field by field (type rank, name, value), then by length; arrays element by
/// element, then by length. Strings compare by bytes (no collation).
pub fn compare_values(a: &Bson, b: &Bson) -> Ordering {
    let rank = type_rank(a).cmp(&type_rank(b));
    if rank != Ordering::Equal {
        return rank;
    }
    match (a, b) {
        (Bson::String(x), Bson::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bson::String(x), Bson::Symbol(y))
        | (Bson::Symbol(x), Bson::String(y))
        | (Bson::Symbol(x), Bson::Symbol(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => compare_arrays(x, y),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| subtype_byte(x.subtype).cmp(&subtype_byte(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => x
            .time
            .cmp(&y.time)
            .then_with(|| x.increment.cmp(&y.increment)),
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .as_str()
            .cmp(y.pattern.as_str())
            .then_with(|| x.options.as_str().cmp(y.options.as_str())),
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.cmp(y),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x
            .code
            .cmp(&y.code)
            .then_with(|| compare_documents(&x.scope, &y.scope)),
        (Bson::DbPointer(_), Bson::DbPointer(_)) => format!("{a:?}").cmp(&format!("{b:?}")),
        (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_)) => {
            crate::decimal::compare_with_decimal(a, b).unwrap_or(Ordering::Equal)
        }
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => compare_numbers(x, y),
            // MinKey, MaxKey, Null, Undefined: one value per type.
            _ => Ordering::Equal,
        },
    }
}

fn subtype_byte(subtype: BinarySubtype) -> u8 {
    u8::from(subtype)
}

/// Compares documents as MongoDB does: pairwise by the values' type rank, then field name, then
/// value; a prefix sorts first.
pub fn compare_documents(a: &Document, b: &Document) -> Ordering {
    let mut left = a.iter();
    let mut right = b.iter();
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((ka, va)), Some((kb, vb))) => {
                let order = type_rank(va)
                    .cmp(&type_rank(vb))
                    .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                    .then_with(|| compare_values(va, vb));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn compare_arrays(a: &[Bson], b: &[Bson]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = compare_values(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// Equality as a query's `$eq` sees it: same type rank and equal value (`1`, `1.0` and
/// `NumberLong(1)` are equal; documents are equal only with the same fields in the same order).
pub fn values_equal(a: &Bson, b: &Bson) -> bool {
    compare_values(a, b) == Ordering::Equal
}

/// The `$type` name of a value's type.
pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// The BSON type number of a value (`$type: 2` means string).
pub fn type_number(value: &Bson) -> i32 {
    match value {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// The type number for a `$type` alias (`"string"` → 2); `"number"` is not a single type and
/// returns `None`, as does an unknown alias.
pub fn type_number_for_alias(alias: &str) -> Option<i32> {
    Some(match alias {
        "double" => 1,
        "string" => 2,
        "object" => 3,
        "array" => 4,
        "binData" => 5,
        "undefined" => 6,
        "objectId" => 7,
        "bool" => 8,
        "date" => 9,
        "null" => 10,
        "regex" => 11,
        "dbPointer" => 12,
        "javascript" => 13,
        "symbol" => 14,
        "javascriptWithScope" => 15,
        "int" => 16,
        "timestamp" => 17,
        "long" => 18,
        "decimal" => 19,
        "minKey" => -1,
        "maxKey" => 127,
        _ => return None,
    })
}

/// True for int32, int64, double and decimal128.
pub fn is_number(value: &Bson) -> bool {
    matches!(
        value,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    #[test]
    fn numbers_compare_by_value_across_types() {
        assert!(values_equal(&Bson::Int32(1), &Bson::Double(1.0)));
        assert!(values_equal(&Bson::Int64(1), &Bson::Int32(1)));
        assert_eq!(
            compare_values(&Bson::Int64(i64::MAX), &Bson::Double(9.3e18)),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&Bson::Int64(3), &Bson::Double(2.5)),
            Ordering::Greater
        );
        assert_eq!(
            compare_values(&Bson::Int64(-3), &Bson::Double(-2.5)),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&Bson::Double(f64::NAN), &Bson::Int32(i32::MIN)),
            Ordering::Less
        );
        assert!(values_equal(
            &Bson::Double(f64::NAN),
            &Bson::Double(f64::NAN)
        ));
        let decimal: bson::Decimal128 = "2.50".parse().unwrap();
        assert!(values_equal(&Bson::Decimal128(decimal), &Bson::Double(2.5)));
    }

    #[test]
    fn type_order_follows_mongodb() {
        let ordered = [
            Bson::MinKey,
            Bson::Null,
            Bson::Int32(5),
            Bson::String("a".into()),
            Bson::Document(doc! {}),
            Bson::Array(vec![]),
            Bson::ObjectId(ObjectId::new()),
            Bson::Boolean(false),
            Bson::DateTime(bson::DateTime::from_millis(0)),
            Bson::MaxKey,
        ];
        for pair in ordered.windows(2) {
            assert_eq!(
                compare_values(&pair[0], &pair[1]),
                Ordering::Less,
                "{pair:?}"
            );
        }
    }

    #[test]
    fn documents_compare_field_by_field() {
        assert_eq!(
            compare_documents(&doc! {"a": 1}, &doc! {"a": 1, "b": 1}),
            Ordering::Less
        );
        assert_eq!(
            compare_documents(&doc! {"a": 2}, &doc! {"b": 1}),
            Ordering::Less
        );
        assert!(!values_equal(
            &Bson::Document(doc! {"a": 1, "b": 2}),
            &Bson::Document(doc! {"b": 2, "a": 1})
        ));
    }
}
