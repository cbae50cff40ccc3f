//! Extended JSON v2 reading and writing: every BSON type both ways, canonical and relaxed,
//! malformed wrappers, nesting limits, document streams, and a round-trip property.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::oid::ObjectId;
use bson::raw::CString;
use bson::spec::BinarySubtype;
use bson::{
    doc, Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, Regex, Timestamp,
};
use proptest::prelude::*;
use rampart_mql::{
    from_json_value, parse_document, parse_documents, parse_value, to_json_string, to_json_value,
    to_plain_json, ErrorKind, ExtJsonMode, MAX_DEPTH, MAX_INPUT_DEPTH,
};
use serde_json::{json, Value};

use ExtJsonMode::{Canonical, Relaxed};

/// BSON equality that tells types apart (bson's `==` already does), compares doubles by bits
/// except that every NaN is the same NaN, and compares decimals by their text.
fn same(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Bson::Decimal128(x), Bson::Decimal128(y)) => x.to_string() == y.to_string(),
        (Bson::Document(x), Bson::Document(y)) => same_doc(x, y),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => {
            x.code == y.code && same_doc(&x.scope, &y.scope)
        }
        _ => a == b,
    }
}

fn same_doc(x: &Document, y: &Document) -> bool {
    x.len() == y.len()
        && x.iter()
            .zip(y)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
}

/// `same`, except that int64 may come back as int32 (relaxed output cannot tell them apart).
/// Doubles must come back bit for bit: the workspace enables serde_json's `float_roundtrip`.
fn close(got: &Bson, want: &Bson) -> bool {
    match (got, want) {
        (Bson::Int32(x), Bson::Int64(y)) => i64::from(*x) == *y,
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && close(v1, v2))
        }
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| close(p, q))
        }
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => {
            x.code == y.code
                && close(
                    &Bson::Document(x.scope.clone()),
                    &Bson::Document(y.scope.clone()),
                )
        }
        _ => same(got, want),
    }
}

fn oid() -> ObjectId {
    ObjectId::parse_str("57e193d7a9cc81b4027498b5").unwrap()
}

fn regex(pattern: &str, options: &str) -> Bson {
    Bson::RegularExpression(Regex {
        pattern: CString::try_from(pattern).unwrap(),
        options: CString::try_from(options).unwrap(),
    })
}

fn db_pointer() -> Bson {
    Bson::try_from(
        json!({"$dbPointer": {"$ref": "db.c", "$id": {"$oid": "57e193d7a9cc81b4027498b5"}}}),
    )
    .unwrap()
}

fn parse(text: &str) -> Bson {
    parse_value(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn assert_parses(text: &str, expected: Bson) {
    let got = parse(text);
    assert!(
        same(&got, &expected),
        "{text}: got {got:?}, expected {expected:?}"
    );
}

fn assert_error(text: &str, kind: ErrorKind, message: &str) {
    let error = parse_value(text).expect_err(text);
    assert_eq!(error.kind(), kind, "{text}: {error}");
    assert!(
        error.message().contains(message),
        "{text}: `{error}` lacks `{message}`"
    );
}

/// (value, canonical, relaxed) for every BSON type.
fn table() -> Vec<(Bson, Value, Value)> {
    let oid_json = json!({"$oid": "57e193d7a9cc81b4027498b5"});
    vec![
        (Bson::Null, json!(null), json!(null)),
        (Bson::Boolean(true), json!(true), json!(true)),
        (
            Bson::String("héllo \"x\"".into()),
            json!("héllo \"x\""),
            json!("héllo \"x\""),
        ),
        (Bson::Int32(-42), json!({"$numberInt": "-42"}), json!(-42)),
        (Bson::Int64(42), json!({"$numberLong": "42"}), json!(42)),
        (
            Bson::Int64(i64::MIN),
            json!({"$numberLong": "-9223372036854775808"}),
            json!(i64::MIN),
        ),
        (
            Bson::Double(1.0),
            json!({"$numberDouble": "1.0"}),
            json!(1.0),
        ),
        (
            Bson::Double(-0.0),
            json!({"$numberDouble": "-0.0"}),
            json!(-0.0),
        ),
        (
            Bson::Double(42.42),
            json!({"$numberDouble": "42.42"}),
            json!(42.42),
        ),
        (
            Bson::Double(1e300),
            json!({"$numberDouble": "1e+300"}),
            json!(1e300),
        ),
        (
            Bson::Double(f64::INFINITY),
            json!({"$numberDouble": "Infinity"}),
            json!({"$numberDouble": "Infinity"}),
        ),
        (
            Bson::Double(f64::NEG_INFINITY),
            json!({"$numberDouble": "-Infinity"}),
            json!({"$numberDouble": "-Infinity"}),
        ),
        (
            Bson::Double(f64::NAN),
            json!({"$numberDouble": "NaN"}),
            json!({"$numberDouble": "NaN"}),
        ),
        (
            Bson::Decimal128("1234.5".parse::<Decimal128>().unwrap()),
            json!({"$numberDecimal": "1234.5"}),
            json!({"$numberDecimal": "1234.5"}),
        ),
        (Bson::ObjectId(oid()), oid_json.clone(), oid_json.clone()),
        (
            Bson::Symbol("sym".into()),
            json!({"$symbol": "sym"}),
            json!({"$symbol": "sym"}),
        ),
        (
            Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes: vec![0xff, 0xff],
            }),
            json!({"$binary": {"base64": "//8=", "subType": "00"}}),
            json!({"$binary": {"base64": "//8=", "subType": "00"}}),
        ),
        (
            Bson::Binary(Binary {
                subtype: BinarySubtype::UserDefined(0x80),
                bytes: b"123".to_vec(),
            }),
            json!({"$binary": {"base64": "MTIz", "subType": "80"}}),
            json!({"$binary": {"base64": "MTIz", "subType": "80"}}),
        ),
        (
            Bson::JavaScriptCode("function() {}".into()),
            json!({"$code": "function() {}"}),
            json!({"$code": "function() {}"}),
        ),
        (
            Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code: "f".into(),
                scope: doc! {"x": 1},
            }),
            json!({"$code": "f", "$scope": {"x": {"$numberInt": "1"}}}),
            json!({"$code": "f", "$scope": {"x": 1}}),
        ),
        (
            Bson::Timestamp(Timestamp {
                time: 42,
                increment: 1,
            }),
            json!({"$timestamp": {"t": 42, "i": 1}}),
            json!({"$timestamp": {"t": 42, "i": 1}}),
        ),
        (
            regex("foo*", "ix"),
            json!({"$regularExpression": {"pattern": "foo*", "options": "ix"}}),
            json!({"$regularExpression": {"pattern": "foo*", "options": "ix"}}),
        ),
        (
            db_pointer(),
            json!({"$dbPointer": {"$ref": "db.c", "$id": oid_json.clone()}}),
            json!({"$dbPointer": {"$ref": "db.c", "$id": oid_json}}),
        ),
        (
            Bson::DateTime(DateTime::from_millis(0)),
            json!({"$date": {"$numberLong": "0"}}),
            json!({"$date": "1970-01-01T00:00:00Z"}),
        ),
        (
            Bson::DateTime(DateTime::from_millis(1_356_351_330_500)),
            json!({"$date": {"$numberLong": "1356351330500"}}),
            json!({"$date": "2012-12-24T12:15:30.500Z"}),
        ),
        (
            Bson::DateTime(DateTime::from_millis(1_356_351_330_001)),
            json!({"$date": {"$numberLong": "1356351330001"}}),
            json!({"$date": "2012-12-24T12:15:30.001Z"}),
        ),
        (
            Bson::DateTime(DateTime::from_millis(-284_643_869_500)),
            json!({"$date": {"$numberLong": "-284643869500"}}),
            json!({"$date": {"$numberLong": "-284643869500"}}),
        ),
        (
            Bson::DateTime(DateTime::from_millis(253_402_300_799_999)),
            json!({"$date": {"$numberLong": "253402300799999"}}),
            json!({"$date": "9999-12-31T23:59:59.999Z"}),
        ),
        (
            Bson::DateTime(DateTime::from_millis(253_402_300_800_000)),
            json!({"$date": {"$numberLong": "253402300800000"}}),
            json!({"$date": {"$numberLong": "253402300800000"}}),
        ),
        (Bson::MinKey, json!({"$minKey": 1}), json!({"$minKey": 1})),
        (Bson::MaxKey, json!({"$maxKey": 1}), json!({"$maxKey": 1})),
        (
            Bson::Undefined,
            json!({"$undefined": true}),
            json!({"$undefined": true}),
        ),
        (
            Bson::Array(vec![Bson::Int32(1), Bson::Document(doc! {"a": "b"})]),
            json!([{"$numberInt": "1"}, {"a": "b"}]),
            json!([1, {"a": "b"}]),
        ),
        (
            Bson::Document(doc! {"z": 1, "a": {"$gt": 1}, "$key": 2}),
            json!({"z": {"$numberInt": "1"}, "a": {"$gt": {"$numberInt": "1"}}, "$key": {"$numberInt": "2"}}),
            json!({"z": 1, "a": {"$gt": 1}, "$key": 2}),
        ),
    ]
}

#[test]
fn every_type_writes_canonical_and_relaxed() {
    for (value, canonical, relaxed) in table() {
        assert_eq!(to_json_value(&value, Canonical), canonical, "{value:?}");
        assert_eq!(to_json_value(&value, Relaxed), relaxed, "{value:?}");
    }
}

#[test]
fn every_type_reads_back_from_both_forms() {
    for (value, canonical, relaxed) in table() {
        let from_canonical = from_json_value(&canonical).unwrap();
        assert!(
            same(&from_canonical, &value),
            "{canonical}: {from_canonical:?}"
        );
        let from_text = parse_value(&canonical.to_string()).unwrap();
        assert!(same(&from_text, &value), "{canonical}");
        // Relaxed loses int64-ness for small values only.
        let from_relaxed = from_json_value(&relaxed).unwrap();
        let expected = match &value {
            Bson::Int64(small) if i32::try_from(*small).is_ok() => Bson::Int32(*small as i32),
            other => other.clone(),
        };
        assert!(
            same(&from_relaxed, &expected),
            "{relaxed}: {from_relaxed:?}"
        );
    }
}

#[test]
fn key_order_is_kept() {
    let text = r#"{"z":1,"a":2,"m":{"y":1,"b":2}}"#;
    let doc = parse_document(text).unwrap();
    assert_eq!(doc.keys().collect::<Vec<_>>(), ["z", "a", "m"]);
    assert_eq!(to_json_string(&Bson::Document(doc), Relaxed), text);
}

#[test]
fn relaxed_text_of_doubles_keeps_them_doubles() {
    let doc = Bson::Document(doc! {"a": 1.0, "b": -0.0, "c": 1e300, "d": 0.1, "e": 1i64});
    let text = to_json_string(&doc, Relaxed);
    assert_eq!(text, r#"{"a":1.0,"b":-0.0,"c":1e+300,"d":0.1,"e":1}"#);
    assert_parses(
        &text,
        Bson::Document(doc! {"a": 1.0, "b": -0.0, "c": 1e300, "d": 0.1, "e": 1}),
    );
}

#[test]
fn canonical_strings() {
    let value = Bson::Document(doc! {"d": 1.2345678901234568e18, "i": 1, "s": "a\nb"});
    assert_eq!(
        to_json_string(&value, Canonical),
        r#"{"d":{"$numberDouble":"1.2345678901234568e+18"},"i":{"$numberInt":"1"},"s":"a\nb"}"#
    );
}

#[test]
fn plain_json_numbers_pick_the_smallest_type() {
    assert_parses("1", Bson::Int32(1));
    assert_parses("-2147483648", Bson::Int32(i32::MIN));
    assert_parses("2147483648", Bson::Int64(2_147_483_648));
    assert_parses("-9223372036854775808", Bson::Int64(i64::MIN));
    assert_parses(
        "9223372036854775808",
        Bson::Double(9_223_372_036_854_775_808.0),
    );
    assert_parses(
        "18446744073709551616",
        Bson::Double(18_446_744_073_709_551_616.0),
    );
    assert_parses("1.0", Bson::Double(1.0));
    assert_parses("1e2", Bson::Double(100.0));
    assert_parses("-0.0", Bson::Double(-0.0));
    assert_parses("0", Bson::Int32(0));
}

#[test]
fn wrapper_input_variants() {
    assert_parses(
        r#"{"$oid": "57E193D7A9CC81B4027498B5"}"#,
        Bson::ObjectId(oid()),
    );
    assert_parses(r#"{"$numberInt": "-2147483648"}"#, Bson::Int32(i32::MIN));
    assert_parses(
        r#"{"$numberLong": "9223372036854775807"}"#,
        Bson::Int64(i64::MAX),
    );
    assert_parses(r#"{"$numberDouble": "-1.5E+3"}"#, Bson::Double(-1500.0));
    assert_parses(r#"{"$numberDouble": "1"}"#, Bson::Double(1.0));
    assert_parses(
        r#"{"$numberDecimal": "-Infinity"}"#,
        Bson::Decimal128("-Infinity".parse().unwrap()),
    );
    // Keys reversed, one-digit subtype, upper-case hex.
    assert_parses(
        r#"{"$binary": {"subType": "5", "base64": ""}}"#,
        Bson::Binary(Binary {
            subtype: BinarySubtype::Md5,
            bytes: vec![],
        }),
    );
    assert_parses(
        r#"{"$binary": {"base64": "//8=", "subType": "FF"}}"#,
        Bson::Binary(Binary {
            subtype: BinarySubtype::UserDefined(0xff),
            bytes: vec![255, 255],
        }),
    );
    // The legacy binary form.
    assert_parses(
        r#"{"$type": "80", "$binary": "MTIz"}"#,
        Bson::Binary(Binary {
            subtype: BinarySubtype::UserDefined(0x80),
            bytes: b"123".to_vec(),
        }),
    );
    let uuid = parse(r#"{"$uuid": "73ffd264-44b3-4c69-90e8-e7d1dfc035d4"}"#);
    assert_eq!(
        to_json_value(&uuid, Canonical),
        json!({"$binary": {"base64": "c//SZESzTGmQ6OfR38A11A==", "subType": "04"}})
    );
    assert_parses(
        r#"{"$scope": {"x": {"$oid": "57e193d7a9cc81b4027498b5"}}, "$code": "f"}"#,
        Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: "f".into(),
            scope: doc! {"x": oid()},
        }),
    );
    assert_parses(
        r#"{"$regularExpression": {"options": "xi", "pattern": "a"}}"#,
        regex("a", "ix"),
    );
    assert_parses(
        r#"{"$timestamp": {"i": 4294967295, "t": 0}}"#,
        Bson::Timestamp(Timestamp {
            time: 0,
            increment: u32::MAX,
        }),
    );
}

#[test]
fn date_input_forms() {
    let date = |millis| Bson::DateTime(DateTime::from_millis(millis));
    assert_parses(r#"{"$date": "1970-01-01T00:00:00Z"}"#, date(0));
    assert_parses(r#"{"$date": "1970-01-01T00:00:00.000Z"}"#, date(0));
    assert_parses(
        r#"{"$date": "2012-12-24T12:15:30.5Z"}"#,
        date(1_356_351_330_500),
    );
    assert_parses(
        r#"{"$date": "2012-12-24T12:15:30.500999Z"}"#,
        date(1_356_351_330_500),
    );
    assert_parses(
        r#"{"$date": "2012-12-24T13:15:30.500+01:00"}"#,
        date(1_356_351_330_500),
    );
    assert_parses(
        r#"{"$date": "2012-12-24T07:15:30.500-0500"}"#,
        date(1_356_351_330_500),
    );
    assert_parses(
        r#"{"$date": "1960-12-24T12:15:30.500Z"}"#,
        date(-284_643_869_500),
    );
    assert_parses(
        r#"{"$date": {"$numberLong": "-284643869500"}}"#,
        date(-284_643_869_500),
    );
    assert_parses(r#"{"$date": 1356351330500}"#, date(1_356_351_330_500));
    assert_parses(r#"{"$date": -1}"#, date(-1));
}

#[test]
fn dollar_keys_that_are_not_wrappers_stay_keys() {
    let filter = r#"{"name": {"$regex": "^a", "$options": "i"}, "n": {"$gt": 5, "$type": "int"},
        "ref": {"$ref": "c", "$id": {"$oid": "57e193d7a9cc81b4027498b5"}}}"#;
    let doc = parse_document(filter).unwrap();
    assert_eq!(
        doc,
        doc! {
            "name": {"$regex": "^a", "$options": "i"},
            "n": {"$gt": 5, "$type": "int"},
            "ref": {"$ref": "c", "$id": oid()},
        }
    );
    // The spec's disambiguation example: `$regex` with a regex literal inside.
    let doc = parse_document(
        r#"{"a": {"$regex": {"$regularExpression": {"pattern": "foo*", "options": ""}}, "$options": "ix"}}"#,
    )
    .unwrap();
    assert_eq!(
        doc,
        doc! {"a": {"$regex": regex("foo*", ""), "$options": "ix"}}
    );
    // A `$type` operator with an integer or an alias is not legacy binary.
    assert_parses(r#"{"$type": 2}"#, Bson::Document(doc! {"$type": 2}));
    assert_parses(
        r#"{"$type": {"$numberInt": "2"}}"#,
        Bson::Document(doc! {"$type": 2}),
    );
}

#[test]
fn top_level_documents_are_never_wrappers() {
    // The BSON corpus' top.json valid cases.
    assert_eq!(
        parse_document(r#"{"$key": {"$numberInt": "42"}}"#).unwrap(),
        doc! {"$key": 42}
    );
    assert_eq!(
        parse_document(r#"{"$regex": "not-a-regex", "$options": "i", "$banana": "peel"}"#).unwrap(),
        doc! {"$regex": "not-a-regex", "$options": "i", "$banana": "peel"}
    );
    assert_eq!(
        parse_document(r#"{"$binary": "abcdefg"}"#).unwrap(),
        doc! {"$binary": "abcdefg"}
    );
    // The same objects nested are wrappers, and bad ones.
    assert_error(
        r#"{"a": {"$binary": "abcdefg"}}"#,
        ErrorKind::InvalidExtendedJson,
        "`$binary` at `a`",
    );
    // parse_value reads its top-level value as a value.
    assert_parses(r#"{"$numberLong": "1"}"#, Bson::Int64(1));
}

#[test]
fn parse_document_needs_an_object() {
    for text in ["[1]", "1", "\"x\"", "null"] {
        let error = parse_document(text).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidExtendedJson);
        assert!(
            error.message().contains("expected a json object"),
            "{error}"
        );
    }
    let error = parse_document("{\"a\": }").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidExtendedJson);
    assert!(error.message().starts_with("invalid json: "), "{error}");
    assert!(error.message().contains("line 1 column 7"), "{error}");
}

#[test]
fn malformed_wrappers_are_errors() {
    use ErrorKind::InvalidExtendedJson as Bad;
    let cases: &[(&str, &str)] = &[
        // From the brief and the BSON corpus parseErrors.
        (
            r#"{"a": {"$oid": 5}}"#,
            "invalid `$oid` at `a`: `$oid` must be a string, got a number",
        ),
        (
            r#"{"a": {"$oid": "zz"}}"#,
            "invalid `$oid` at `a`: expected 24 hex characters",
        ),
        (
            r#"{"a": {"$oid": "57e193d7a9cc81b4027498b"}}"#,
            "expected 24 hex characters",
        ),
        (
            r#"{"a": {"$oid": "57e193d7a9cc81b4027498b5", "x": 1}}"#,
            "invalid `$oid` at `a`: unexpected key `x`",
        ),
        (
            r#"{"a": {"b": [0, {"$oid": 1}]}}"#,
            "invalid `$oid` at `a.b.1`",
        ),
        (
            r#"{"a": {"$numberInt": "1.5"}}"#,
            "invalid `$numberInt` at `a`: expected a 32-bit integer string, got \"1.5\"",
        ),
        (
            r#"{"a": {"$numberInt": "99999999999"}}"#,
            "expected a 32-bit integer string",
        ),
        (
            r#"{"a": {"$numberInt": 42}}"#,
            "`$numberInt` must be a string",
        ),
        (
            r#"{"a": {"$numberInt": ""}}"#,
            "expected a 32-bit integer string",
        ),
        (
            r#"{"a": {"$numberInt": " 1"}}"#,
            "expected a 32-bit integer string",
        ),
        (
            r#"{"a": {"$numberLong": 42}}"#,
            "`$numberLong` must be a string",
        ),
        (
            r#"{"a": {"$numberLong": "9223372036854775808"}}"#,
            "expected a 64-bit integer string",
        ),
        (
            r#"{"a": {"$numberDouble": 42}}"#,
            "`$numberDouble` must be a string",
        ),
        (r#"{"a": {"$numberDouble": "inf"}}"#, "got \"inf\""),
        (r#"{"a": {"$numberDouble": "1e400"}}"#, "got \"1e400\""),
        (
            r#"{"a": {"$numberDecimal": 42}}"#,
            "`$numberDecimal` must be a string",
        ),
        (
            r#"{"a": {"$numberDecimal": "abc"}}"#,
            "not a representable decimal128",
        ),
        (
            r#"{"x": {"$binary": 0, "$type": "00"}}"#,
            "invalid `$binary` at `x`",
        ),
        (
            r#"{"x": {"$binary": "", "$type": 0}}"#,
            "`$type` must be a string",
        ),
        (
            r#"{"x": {"$binary": {"base64": "//8=", "subType": "100"}}}"#,
            "one or two hex digits",
        ),
        (
            r#"{"x": {"$binary": {"base64": "//8", "subType": "00"}}}"#,
            "not padded base64",
        ),
        (
            r#"{"x": {"$binary": {"base64": "//8="}}}"#,
            "missing key `subType`",
        ),
        (
            r#"{"x": {"$binary": {"base64": "//8=", "subType": "00"}, "$type": "00"}}"#,
            "unexpected key `$type`",
        ),
        (
            r#"{"x": {"$uuid": "73ffd26444b34c6990e8e7d1dfc035d4"}}"#,
            "invalid `$uuid`",
        ),
        (
            r#"{"x": {"$uuid": {"data": "73ffd264-44b3-4c69-90e8-e7d1dfc035d4"}}}"#,
            "`$uuid` must be a string",
        ),
        (
            r#"{"x": {"$uuid": "73ffd264-44b3-90e8-e7d1dfc035d4"}}"#,
            "invalid `$uuid`",
        ),
        (r#"{"a": {"$code": 42}}"#, "`$code` must be a string"),
        (
            r#"{"x": {"$code": "", "$scope": 42}}"#,
            "`$scope` must be an object",
        ),
        (
            r#"{"x": {"$scope": {}}}"#,
            "invalid `$code` at `x`: missing key `$code`",
        ),
        (
            r#"{"a": {"$timestamp": 42}}"#,
            "expected an object with `t` and `i`",
        ),
        (
            r#"{"a": {"$timestamp": {"t": "123456789", "i": 42}}}"#,
            "`t` must be an integer",
        ),
        (
            r#"{"a": {"$timestamp": {"t": 123456789, "i": "42"}}}"#,
            "`i` must be an integer",
        ),
        (
            r#"{"a": {"$timestamp": {"t": 4294967296, "i": 1}}}"#,
            "`t` must be an integer",
        ),
        (
            r#"{"a": {"$timestamp": {"t": 1, "i": 1, "x": 1}}}"#,
            "unexpected key `x`",
        ),
        (
            r#"{"a": {"$regularExpression": {"pattern": 42, "options": ""}}}"#,
            "`pattern` must be a string",
        ),
        (
            r#"{"a": {"$regularExpression": {"pattern": "a"}}}"#,
            "missing key `options`",
        ),
        (
            r#"{"a": {"$regularExpression": {"pattern": "a", "options": "", "flags": ""}}}"#,
            "unexpected key `flags`",
        ),
        (
            r#"{"a": {"$regularExpression": {"pattern": "a\u0000", "options": ""}}}"#,
            "null character",
        ),
        (
            r#"{"a": {"$date": "not a date"}}"#,
            "invalid `$date` at `a`: expected an iso-8601 date",
        ),
        (
            r#"{"a": {"$date": "2020-01-01"}}"#,
            "expected an iso-8601 date",
        ),
        (
            r#"{"a": {"$date": 1.5}}"#,
            "milliseconds must be an integer",
        ),
        (
            r#"{"a": {"$date": {"$numberLong": 5}}}"#,
            "`$numberLong` must be a string",
        ),
        (
            r#"{"a": {"$date": {"$numberLong": "5", "x": 1}}}"#,
            "unexpected key `x`",
        ),
        (r#"{"a": {"$date": true}}"#, "got a boolean"),
        (r#"{"a": {"$minKey": true}}"#, "expected the integer 1"),
        (r#"{"a": {"$minKey": 0}}"#, "expected the integer 1"),
        (r#"{"a": {"$maxKey": 1.0}}"#, "expected the integer 1"),
        (r#"{"a": {"$undefined": false}}"#, "expected `true`"),
        (r#"{"a": {"$symbol": 1}}"#, "`$symbol` must be a string"),
        (
            r#"{"a": {"$dbPointer": {"$ref": "a.b", "$id": "57e193d7a9cc81b4027498b5"}}}"#,
            "`$id` must be an `$oid` object",
        ),
        (
            r#"{"a": {"$dbPointer": {"$ref": 1, "$id": {"$oid": "57e193d7a9cc81b4027498b5"}}}}"#,
            "`$ref` must be a string",
        ),
        (
            r#"{"a": {"$dbPointer": {"$ref": "a.b", "$id": {"$oid": "zz"}}}}"#,
            "expected 24 hex characters",
        ),
        (
            r#"{"a\u0000b": 1}"#,
            "invalid key at `a\\0b`: keys cannot contain a null character",
        ),
    ];
    for (text, message) in cases {
        assert_error(text, Bad, message);
    }
    // User text in messages stays on one line and short.
    assert_error(r#"{"a": {"$numberInt": "1\n2"}}"#, Bad, r#"got "1\n2""#);
    let long = format!(r#"{{"a": {{"$date": "{}"}}}}"#, "x".repeat(100));
    let error = parse_value(&long).unwrap_err();
    assert!(
        error
            .message()
            .ends_with(&format!(r#"got "{}...""#, "x".repeat(40))),
        "{error}"
    );
    assert_error(
        r#"{"a\nb": {"$oid": 1}}"#,
        Bad,
        r#"invalid `$oid` at `a\nb`"#,
    );
    assert_error(r#"{"$oid": 5}"#, Bad, "invalid `$oid` at the top level");
}

fn nested(depth: usize, leaf: &str) -> String {
    format!("{}{leaf}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

#[test]
fn depth_limit() {
    // An input may nest MAX_INPUT_DEPTH levels, a wrapper at the bottom adding none.
    let ok = nested(MAX_INPUT_DEPTH, r#"{"$date": {"$numberLong": "1"}}"#);
    assert!(parse_value(&ok).is_ok());
    assert!(parse_document(&ok).is_ok());
    let too_deep = nested(MAX_INPUT_DEPTH + 1, "1");
    let error = parse_value(&too_deep).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
    assert!(
        error
            .message()
            .starts_with("extended json nests deeper than 200 levels at `a.a.a."),
        "{error}"
    );
    assert_eq!(
        parse_document(&too_deep).unwrap_err().kind(),
        ErrorKind::LimitExceeded
    );
    let arrays = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(
        parse_value(&arrays(MAX_INPUT_DEPTH + 1))
            .unwrap_err()
            .kind(),
        ErrorKind::LimitExceeded
    );
    assert!(parse_value(&arrays(MAX_INPUT_DEPTH)).is_ok());
    // Past serde_json's own limit of 128 is fine; far past the input limit fails cleanly: an
    // unterminated text the parser may reach is malformed, one it must not reach is too deep.
    for depth in [127, 128, 129, 203, 204, 100_000] {
        let error = parse_value(&"[".repeat(depth)).unwrap_err();
        let expected = if depth > MAX_INPUT_DEPTH + 3 {
            ErrorKind::LimitExceeded
        } else {
            ErrorKind::InvalidExtendedJson
        };
        assert_eq!(error.kind(), expected, "{depth}: {error}");
        let closed = parse_value(&nested(depth, "1"));
        if depth > MAX_INPUT_DEPTH {
            assert_eq!(closed.unwrap_err().kind(), ErrorKind::LimitExceeded);
        } else {
            assert!(closed.is_ok(), "{depth}");
        }
    }
    // Nested far past the limit, the text is refused before it is parsed, with its place.
    let error = parse_value(&format!("\n  {}", "[".repeat(100_000))).unwrap_err();
    assert_eq!(
        error.message(),
        "extended json nests deeper than 200 levels (line 2, column 206)"
    );
    // Brackets inside strings, escaped quotes included, are not nesting.
    let brackets = format!(
        r#"{{"a": "\"{}", "b": "{}"}}"#,
        "[".repeat(1_000),
        "{".repeat(1_000)
    );
    let parsed = parse_document(&brackets).unwrap();
    assert_eq!(parsed.get_str("b").unwrap().len(), 1_000);
    // A code-with-scope's scope counts as a document.
    let scoped = nested(MAX_INPUT_DEPTH - 1, r#"{"$code": "", "$scope": {"b": 1}}"#);
    assert!(parse_value(&scoped).is_ok());
    let scoped = nested(MAX_INPUT_DEPTH, r#"{"$code": "", "$scope": {"b": 1}}"#);
    assert_eq!(
        parse_value(&scoped).unwrap_err().kind(),
        ErrorKind::LimitExceeded
    );
    // A deep tree built in memory is refused without recursing further.
    let mut deep = json!(1);
    for _ in 0..1_000 {
        deep = json!([deep]);
    }
    assert_eq!(
        from_json_value(&deep).unwrap_err().kind(),
        ErrorKind::LimitExceeded
    );
}

#[test]
fn documents_to_store_nest_at_most_max_depth() {
    for layout in [|doc: &str| doc.to_owned(), |doc: &str| format!("[{doc}]")] {
        let ok = layout(&nested(MAX_DEPTH, r#"{"$date": {"$numberLong": "1"}}"#));
        assert_eq!(parse_documents(&ok).unwrap().len(), 1);
        let error = parse_documents(&layout(&nested(MAX_DEPTH + 1, "1"))).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
        assert!(
            error.message().contains("nests deeper than 100 levels"),
            "{error}"
        );
    }
}

#[test]
fn parse_documents_layouts() {
    let expected = vec![doc! {"a": 1}, doc! {"b": oid()}, doc! {}];
    let array = r#" [ {"a": 1}, {"b": {"$oid": "57e193d7a9cc81b4027498b5"}}, {} ] "#;
    assert_eq!(parse_documents(array).unwrap(), expected);
    let lines = "{\"a\": 1}\n\n{\"b\": {\"$oid\": \"57e193d7a9cc81b4027498b5\"}}\r\n{}\n";
    assert_eq!(parse_documents(lines).unwrap(), expected);
    let concatenated = r#"{"a": 1}{"b": {"$oid": "57e193d7a9cc81b4027498b5"}}  {}"#;
    assert_eq!(parse_documents(concatenated).unwrap(), expected);
    let pretty = "{\n  \"a\": 1\n}\n{\n  \"b\": {\"$oid\": \"57e193d7a9cc81b4027498b5\"}\n}\n{}";
    assert_eq!(parse_documents(pretty).unwrap(), expected);
    assert_eq!(parse_documents("").unwrap(), Vec::<Document>::new());
    assert_eq!(parse_documents(" \n\n ").unwrap(), Vec::<Document>::new());
    assert_eq!(parse_documents("[]").unwrap(), Vec::<Document>::new());
}

#[test]
fn parse_documents_errors_name_the_document() {
    let error = parse_documents("{\"a\": 1}\n\n{\"a\": {\"$oid\": 1}}\n").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidExtendedJson);
    assert_eq!(
        error.message(),
        "document 2 (line 3): invalid `$oid` at `a`: `$oid` must be a string, got a number"
    );
    let error = parse_documents("{\"a\": 1}\n{\"a\": 2}\n{\"a\": }\n").unwrap_err();
    assert!(
        error
            .message()
            .starts_with("document 3 (line 3): invalid json: "),
        "{error}"
    );
    let error = parse_documents("{\"a\": 1}\n5\n").unwrap_err();
    assert_eq!(
        error.message(),
        "document 2 (line 2): expected a json object, got a number"
    );
    let error = parse_documents(r#"[{"a": 1}, 2]"#).unwrap_err();
    assert_eq!(
        error.message(),
        "document 2: expected a json object, got a number"
    );
    let error = parse_documents(r#"[{"a": 1}, {"b": {"$numberInt": "x"}}]"#).unwrap_err();
    assert!(
        error
            .message()
            .starts_with("document 2: invalid `$numberInt` at `b`"),
        "{error}"
    );
    let error = parse_documents(r#"[{"a": 1}] {"b": 2}"#).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidExtendedJson);
    let deep = format!("{{}}\n{}", nested(MAX_DEPTH + 1, "1"));
    let error = parse_documents(&deep).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LimitExceeded);
    assert!(
        error.message().starts_with("document 2 (line 2): "),
        "{error}"
    );
}

#[test]
fn plain_json_downgrade() {
    let doc = Bson::Document(doc! {
        "_id": oid(),
        "date": DateTime::from_millis(1_577_880_000_123),
        "epoch": DateTime::from_millis(0),
        "far": DateTime::from_millis(253_402_300_800_000),
        "i": 1,
        "l": 2i64,
        "d": 1.0,
        "nan": f64::NAN,
        "inf": f64::INFINITY,
        "ninf": f64::NEG_INFINITY,
        "dec": Bson::Decimal128("1.50".parse().unwrap()),
        "bin": Binary { subtype: BinarySubtype::Generic, bytes: b"123".to_vec() },
        "ts": Timestamp { time: 42, increment: 1 },
        "re": regex("a.b", "i"),
        "min": Bson::MinKey,
        "max": Bson::MaxKey,
        "undef": Bson::Undefined,
        "sym": Bson::Symbol("s".into()),
        "code": Bson::JavaScriptCode("f()".into()),
        "scoped": JavaScriptCodeWithScope { code: "g()".into(), scope: doc! {"x": 1} },
        "ptr": db_pointer(),
        "arr": [1, "x", null],
    });
    let expected = json!({
        "_id": "57e193d7a9cc81b4027498b5",
        "date": "2020-01-01T12:00:00.123Z",
        "epoch": "1970-01-01T00:00:00.000Z",
        "far": "+010000-01-01T00:00:00.000Z",
        "i": 1,
        "l": 2,
        "d": 1.0,
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "dec": "1.50",
        "bin": {"Subtype": 0, "Data": "MTIz"},
        "ts": {"T": 42, "I": 1},
        "re": {"Pattern": "a.b", "Options": "i"},
        "min": {},
        "max": {},
        "undef": null,
        "sym": "s",
        "code": "f()",
        "scoped": {"code": "g()", "scope": {"x": 1}},
        "ptr": {"$ref": "db.c", "$id": "57e193d7a9cc81b4027498b5"},
        "arr": [1, "x", null],
    });
    let plain = to_plain_json(&doc);
    assert_eq!(plain, expected);
    assert!(plain.to_string().contains(r#""d":1.0"#));
}

#[test]
fn decimal128_corpus_values_round_trip() {
    // A few strings from the BSON corpus decimal128 files, in their canonical spelling.
    for text in [
        "0",
        "-0",
        "1",
        "-1",
        "0.1",
        "1.2E+3",
        "1E+3",
        "-1.00E-8",
        "NaN",
        "Infinity",
        "-Infinity",
        "9.999999999999999999999999999999999E+6144",
        "1E-6176",
        "0E-6176",
        "0E+6111",
        "1234567890123456789012345678901234",
        "0.000001",
        "1E-7",
        "1.000000000000000000000000000000000E+6144",
    ] {
        let value = parse(&format!(r#"{{"$numberDecimal": "{text}"}}"#));
        assert_eq!(
            to_json_value(&value, Canonical),
            json!({"$numberDecimal": text}),
            "{text}"
        );
    }
}

fn leaf() -> impl Strategy<Value = Bson> {
    let key_text = "[a-z$\\.é\"\\\\]{0,6}";
    prop_oneof![
        Just(Bson::Null),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        Just(Bson::Undefined),
        any::<bool>().prop_map(Bson::Boolean),
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>().prop_map(Bson::Double),
        prop_oneof![Just(0.0), Just(-0.0), Just(1.0), Just(1e300), Just(5e-324), Just(f64::MAX)]
            .prop_map(Bson::Double),
        any::<[u8; 16]>().prop_map(|bytes| Bson::Decimal128(Decimal128::from_bytes(bytes))),
        any::<String>().prop_map(Bson::String),
        key_text.prop_map(Bson::Symbol),
        any::<String>().prop_map(Bson::JavaScriptCode),
        any::<[u8; 12]>().prop_map(|bytes| Bson::ObjectId(ObjectId::from_bytes(bytes))),
        any::<i64>().prop_map(|millis| Bson::DateTime(DateTime::from_millis(millis))),
        (0i64..=253_402_300_799_999).prop_map(|millis| Bson::DateTime(DateTime::from_millis(millis))),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(subtype, bytes)| {
            Bson::Binary(Binary { subtype: BinarySubtype::from(subtype), bytes })
        }),
        (any::<u32>(), any::<u32>())
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        ("[^\u{0}]{0,8}", proptest::sample::subsequence(vec!['i', 'l', 'm', 's', 'u', 'x'], 0..=6))
            .prop_map(|(pattern, options)| regex(&pattern, &options.into_iter().collect::<String>())),
        ("[a-z]{1,5}\\.[a-z]{1,5}", any::<[u8; 12]>()).prop_map(|(namespace, id)| {
            Bson::try_from(json!({"$dbPointer": {"$ref": namespace, "$id": {"$oid": ObjectId::from_bytes(id).to_hex()}}}))
                .unwrap()
        }),
    ]
}

/// Keys never start with `$` (a `$`-prefixed wrapper key would make the output ambiguous, the
/// limitation the specification describes) and never hold a null character.
fn key() -> impl Strategy<Value = String> {
    "[a-z_\\.é\"\\\\ ][a-z$_\\.é ]{0,5}"
}

fn bson_value() -> impl Strategy<Value = Bson> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
            proptest::collection::vec((key(), inner.clone()), 0..6)
                .prop_map(|pairs| Bson::Document(pairs.into_iter().collect())),
            (
                "[a-z ]{0,10}",
                proptest::collection::vec((key(), inner), 0..4)
            )
                .prop_map(|(code, pairs)| {
                    Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                        code,
                        scope: pairs.into_iter().collect(),
                    })
                }),
        ]
    })
}

/// JSON trees that often look like type wrappers, right or wrong.
fn wrapper_like_json() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| serde_json::Number::from_f64(x).map_or(json!(0), Value::Number)),
        (0u64..3).prop_map(Value::from),
        prop_oneof![
            Just("1"),
            Just("-0"),
            Just("+1"),
            Just("1.5"),
            Just("-0.0"),
            Just("1e400"),
            Just("NaN"),
            Just("Infinity"),
            Just("-Infinity"),
            Just("inf"),
            Just("1E+3"),
            Just("00"),
            Just("80"),
            Just("4"),
            Just("//8="),
            Just(""),
            Just("MTIz"),
            Just("57e193d7a9cc81b4027498b5"),
            Just("73ffd264-44b3-4c69-90e8-e7d1dfc035d4"),
            Just("1970-01-01T00:00:00Z"),
            Just("2012-12-24T07:15:30.5009-0500"),
            Just("9999-12-31T23:59:59.999+00:00"),
            Just("0000-01-01T00:00:00Z"),
            Just("9223372036854775807"),
            Just("-9223372036854775808"),
            Just("ix"),
            Just("db.c"),
        ]
        .prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        proptest::sample::select(vec![
            "$oid",
            "$symbol",
            "$numberInt",
            "$numberLong",
            "$numberDouble",
            "$numberDecimal",
            "$binary",
            "$type",
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
            "$ref",
            "$id",
            "$regex",
            "$options",
            "base64",
            "subType",
            "t",
            "i",
            "pattern",
            "options",
            "a",
            "$gt",
        ])
        .prop_map(String::from),
        "[a-z$]{0,3}",
    ];
    scalar.prop_recursive(5, 40, 3, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..3)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The fuzz target's property: whatever is accepted survives canonical -> parse ->
    /// canonical unchanged.
    #[test]
    fn accepted_input_round_trips(json in wrapper_like_json()) {
        let text = json.to_string();
        if let Ok(value) = parse_value(&text) {
            let canonical = to_json_string(&value, Canonical);
            let again = parse_value(&canonical).unwrap_or_else(|error| panic!("{canonical}: {error}"));
            prop_assert_eq!(to_json_string(&again, Canonical), canonical);
            let relaxed = to_json_string(&value, Relaxed);
            prop_assert!(parse_value(&relaxed).is_ok(), "{}", relaxed);
        }
        if let Ok(docs) = parse_documents(&text) {
            for doc in docs {
                let canonical = to_json_string(&Bson::Document(doc), Canonical);
                let again = parse_document(&canonical).unwrap_or_else(|error| panic!("{canonical}: {error}"));
                prop_assert_eq!(to_json_string(&Bson::Document(again), Canonical), canonical);
            }
        }
    }

    #[test]
    fn canonical_round_trip_is_identity(value in bson_value()) {
        let text = to_json_string(&value, Canonical);
        let back = parse_value(&text).unwrap_or_else(|error| panic!("{text}: {error}"));
        prop_assert!(same(&back, &value), "{} -> {:?}", text, back);
        prop_assert_eq!(to_json_string(&back, Canonical), text);
    }

    #[test]
    fn relaxed_output_reads_back(value in bson_value()) {
        let text = to_json_string(&value, Relaxed);
        let back = parse_value(&text).unwrap_or_else(|error| panic!("{text}: {error}"));
        // Relaxed is lossy for int64s that fit an int32 (by design); doubles must be exact.
        prop_assert!(close(&back, &value), "{} -> {:?}", text, back);
    }

    #[test]
    fn documents_round_trip_through_parse_documents(
        docs in proptest::collection::vec(proptest::collection::vec((key(), bson_value()), 0..4), 0..4)
    ) {
        let docs: Vec<Document> = docs.into_iter().map(|pairs| pairs.into_iter().collect()).collect();
        let lines: Vec<String> = docs
            .iter()
            .map(|doc| to_json_string(&Bson::Document(doc.clone()), Canonical))
            .collect();
        let back = parse_documents(&lines.join("\n")).unwrap();
        prop_assert_eq!(back.len(), docs.len());
        for (got, want) in back.iter().zip(&docs) {
            prop_assert!(same_doc(got, want));
        }
        let array = format!("[{}]", lines.join(","));
        prop_assert_eq!(parse_documents(&array).unwrap().len(), docs.len());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        let _ = parse_value(&text);
        let _ = parse_documents(&text);
    }
}
