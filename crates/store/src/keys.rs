//! Order-preserving binary keys for BSON values: `encode(a) < encode(b)` (bytewise) exactly
//! when `rampart_mql::compare_values(a, b)` is `Less`, and equal values encode equally. The
//! primary key of a document is the encoding of its `_id`; index keys concatenate encodings.
//!
//! Every value starts with its type-rank byte (`rampart_mql::type_rank`), so type brackets are
//! contiguous key ranges. Each encoding is self-delimiting (fixed width, length prefix or an
//! escaped terminator), so concatenations compare component by component.

use bson::{Bson, Document};
use rampart_mql::{decimal_floor, number, type_rank, Number};

/// Marks "another element follows" inside documents and arrays; the end marker is 0.
const MORE: u8 = 1;
const END: u8 = 0;

/// The key of one value.
pub fn encode(value: &Bson) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_into(value, &mut out);
    out
}

/// Appends the key of `value` to `out`.
pub fn encode_into(value: &Bson, out: &mut Vec<u8>) {
    out.push(type_rank(value));
    match value {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            encode_number(value, out)
        }
        Bson::String(text) | Bson::Symbol(text) => encode_bytes(text.as_bytes(), out),
        Bson::Document(doc) => encode_document(doc, out),
        Bson::Array(items) => {
            for item in items {
                out.push(MORE);
                encode_into(item, out);
            }
            out.push(END);
        }
        Bson::Binary(binary) => {
            let len = u32::try_from(binary.bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.push(u8::from(binary.subtype));
            out.extend_from_slice(&binary.bytes);
        }
        Bson::ObjectId(id) => out.extend_from_slice(&id.bytes()),
        Bson::Boolean(flag) => out.push(u8::from(*flag)),
        Bson::DateTime(date) => out.extend_from_slice(&order_i64(date.timestamp_millis())),
        Bson::Timestamp(ts) => {
            out.extend_from_slice(&ts.time.to_be_bytes());
            out.extend_from_slice(&ts.increment.to_be_bytes());
        }
        Bson::RegularExpression(regex) => {
            encode_bytes(regex.pattern.as_str().as_bytes(), out);
            encode_bytes(regex.options.as_str().as_bytes(), out);
        }
        Bson::JavaScriptCode(code) => encode_bytes(code.as_bytes(), out),
        Bson::JavaScriptCodeWithScope(code) => {
            encode_bytes(code.code.as_bytes(), out);
            encode_document(&code.scope, out);
        }
        // compare_values orders DbPointers by their debug form; so does the key.
        Bson::DbPointer(_) => encode_bytes(format!("{value:?}").as_bytes(), out),
        Bson::MinKey | Bson::MaxKey | Bson::Null | Bson::Undefined => {}
    }
}

/// Fields compare by (value type rank, name, value), and a prefix sorts first.
fn encode_document(doc: &Document, out: &mut Vec<u8>) {
    for (name, value) in doc {
        out.push(MORE);
        out.push(type_rank(value));
        encode_bytes(name.as_bytes(), out);
        encode_into(value, out);
    }
    out.push(END);
}

/// Bytes with 0 escaped as `0 0xFF` and terminated by `0 0`, so a prefix sorts first and the
/// encoding is self-delimiting.
fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for byte in bytes {
        out.push(*byte);
        if *byte == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

fn order_i64(value: i64) -> [u8; 8] {
    (value as u64 ^ (1 << 63)).to_be_bytes()
}

/// Numbers of all four types share one space: the nearest double (in total-order bits) then
/// the exact integer remainder. Rounding an int64 to a double is monotone, and the remainder
/// (`value - double`, small and exact in i128) breaks ties, so distinct int64s near 2^63 stay
/// distinct and ordered while `1`, `1.0` and `NumberLong(1)` encode equally, as they compare.
/// Decimal128 compares exactly (with integers exactly, with doubles rounded to 34 digits): an
/// integral one, or one of at least 2^53 in magnitude, indexes as its floor (so it equals the
/// integer it equals, and no integer lies between it and its key), any other as its nearest
/// double, which no integer lies beyond (below 2^53 every integer is a double).
fn encode_number(value: &Bson, out: &mut Vec<u8>) {
    let decimal_floor = match value {
        Bson::Decimal128(decimal) => decimal_floor(decimal)
            .filter(|(floor, exact)| *exact || floor.unsigned_abs() >= 1 << 53)
            .map(|(floor, _)| floor),
        _ => None,
    };
    let number = match decimal_floor {
        Some(floor) => Some(Number::Int(floor)),
        None => number(value),
    };
    let (double, remainder) = match number {
        Some(Number::Int(int)) => {
            let double = int as f64;
            // `double` lies within 2^63 of zero and is integral, so the cast is exact.
            let remainder = i128::from(int) - double as i128;
            (double, i64::try_from(remainder).unwrap_or(0))
        }
        Some(Number::Double(double)) => (double, 0),
        None => (0.0, 0),
    };
    out.extend_from_slice(&order_f64(double));
    out.extend_from_slice(&order_i64(remainder));
}

/// Total-order bits of a double, with every NaN below -infinity (as MongoDB sorts NaN) and
/// -0.0 equal to 0.0.
fn order_f64(value: f64) -> [u8; 8] {
    if value.is_nan() {
        return [0; 8];
    }
    let value = if value == 0.0 { 0.0 } else { value };
    let bits = value.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    // Leave 0 free for NaN; no finite double or infinity maps to 0 (that is `!u64::MAX`,
    // the bits of a NaN).
    ordered.to_be_bytes()
}

/// The smallest key greater than every key that starts with `prefix` (None when there is
/// none: the prefix is all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};
    use rampart_mql::compare_values;
    use std::cmp::Ordering;

    fn samples() -> Vec<Bson> {
        vec![
            Bson::MinKey,
            Bson::Null,
            Bson::Double(f64::NAN),
            Bson::Double(f64::NEG_INFINITY),
            Bson::Int64(i64::MIN),
            Bson::Int32(-5),
            Bson::Double(-0.0),
            Bson::Int32(0),
            Bson::Double(0.5),
            Bson::Int64(1),
            Bson::Double(1.0),
            Bson::Int64((1 << 53) + 1),
            Bson::Double(9_007_199_254_740_992.0),
            Bson::Int64(i64::MAX - 1),
            Bson::Int64(i64::MAX),
            Bson::Double(f64::INFINITY),
            Bson::String(String::new()),
            Bson::String("a".into()),
            Bson::String("a\0".into()),
            Bson::String("ab".into()),
            Bson::Document(doc! {}),
            Bson::Document(doc! {"a": 1}),
            Bson::Document(doc! {"a": 1, "b": 1}),
            Bson::Document(doc! {"a": "x"}),
            Bson::Document(doc! {"b": 1}),
            Bson::Array(vec![]),
            Bson::Array(vec![Bson::Int32(1)]),
            Bson::Array(vec![Bson::Int32(1), Bson::Int32(2)]),
            Bson::Array(vec![Bson::Int32(2)]),
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::ObjectId(ObjectId::from_bytes([1; 12])),
            Bson::Boolean(false),
            Bson::Boolean(true),
            Bson::DateTime(bson::DateTime::from_millis(-1)),
            Bson::DateTime(bson::DateTime::from_millis(1)),
            Bson::MaxKey,
        ]
    }

    #[test]
    fn encoding_orders_like_compare_values() {
        let values = samples();
        for a in &values {
            for b in &values {
                let expected = compare_values(a, b);
                let actual = encode(a).cmp(&encode(b));
                assert_eq!(actual, expected, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn near_equal_int64s_stay_distinct() {
        let a = encode(&Bson::Int64((1 << 53) + 1));
        let b = encode(&Bson::Int64(1 << 53));
        assert_eq!(a.cmp(&b), Ordering::Greater);
        assert_eq!(
            encode(&Bson::Int64(1 << 53)),
            encode(&Bson::Double(9_007_199_254_740_992.0))
        );
    }

    /// Decimals compare exactly, and keys cannot always tell them apart: keys must never
    /// order two numbers against their values, and equal numbers must share a key (index
    /// scans are inclusive and every candidate is re-checked).
    #[test]
    fn decimal_keys_keep_the_order_of_exact_comparison() {
        let decimal = |text: &str| Bson::Decimal128(text.parse().unwrap());
        let numbers = [
            decimal("NaN"),
            Bson::Double(f64::NAN),
            decimal("-Infinity"),
            decimal("-2.5"),
            Bson::Int32(-3),
            Bson::Int32(-2),
            decimal("-0"),
            Bson::Double(0.0),
            decimal("0.1"),
            Bson::Double(0.1),
            decimal("0.1000000000000000055511151231257827"),
            decimal("1.00000000000000001"),
            decimal("1.0"),
            Bson::Int32(1),
            decimal("9007199254740991.5"),
            Bson::Int64((1 << 53) - 1),
            Bson::Int64(1 << 53),
            decimal("9007199254740993"),
            Bson::Int64((1 << 53) + 1),
            decimal("9007199254740993.5"),
            // Doubles are 4 apart here: 2^54 + 2.5 rounds to 2^54 + 4, past 2^54 + 3.
            decimal("18014398509481986.5"),
            Bson::Int64((1 << 54) + 2),
            Bson::Int64((1 << 54) + 3),
            Bson::Double(18_014_398_509_481_988.0),
            decimal("-9223372036854775807.5"),
            Bson::Int64(i64::MIN),
            decimal("9223372036854775808"),
            decimal("1E+400"),
            Bson::Double(f64::INFINITY),
            decimal("Infinity"),
        ];
        for a in &numbers {
            for b in &numbers {
                let (key_a, key_b) = (encode(a), encode(b));
                match compare_values(a, b) {
                    Ordering::Equal => assert_eq!(key_a, key_b, "{a:?} == {b:?}"),
                    Ordering::Less => assert!(key_a <= key_b, "{a:?} < {b:?}"),
                    Ordering::Greater => assert!(key_a >= key_b, "{a:?} > {b:?}"),
                }
            }
        }
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
