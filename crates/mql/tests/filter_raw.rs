//! Matching raw BSON bytes (`Filter::evaluate_raw`) must agree exactly with matching the decoded
//! document (`Filter::evaluate`): the same match, the same array position, the same error-ness.
//! Checked on random documents and filters built from every operator, and on every `find`
//! case of the data-driven filter corpus (`tests/cases/filter/*.json`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document, RawDocumentBuf, Regex, Timestamp};
use proptest::prelude::*;
use rampart_mql::Filter;
use serde_json::Value;

/// Asserts both paths agree on `doc`; returns a description of the difference otherwise.
fn agree(filter: &Filter, doc: &Document) -> Result<(), String> {
    let raw = RawDocumentBuf::try_from(doc).map_err(|e| e.to_string())?;
    let decoded = filter.evaluate(doc);
    let bytes = filter.evaluate_raw(&raw);
    let same = match (&decoded, &bytes) {
        (Ok(left), Ok(right)) => left == right,
        (Err(_), Err(_)) => true,
        _ => false,
    };
    if filter.matches_raw(&raw).ok() != decoded.as_ref().ok().map(|outcome| outcome.matched) {
        return Err(format!("matches_raw differs from evaluate on {doc}"));
    }
    if filter.matches_raw_ok(&raw) != filter.matches_raw(&raw).ok() {
        return Err(format!("matches_raw_ok differs from matches_raw on {doc}"));
    }
    if same {
        Ok(())
    } else {
        Err(format!("decoded {decoded:?} but raw {bytes:?} on {doc}"))
    }
}

// ---------------------------------------------------------------- generators

/// A regex value; options in alphabetical order, as BSON stores them.
fn regex(pattern: &str, options: &str) -> Regex {
    Regex {
        pattern: pattern.to_owned().try_into().unwrap(),
        options: options.to_owned().try_into().unwrap(),
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => Just("a"), 3 => Just("b"), 1 => Just("0"), 1 => Just("1")]
        .prop_map(String::from)
}

/// Mostly a few common values, so that filters and documents often meet; every other type
/// now and then.
fn scalar() -> impl Strategy<Value = Bson> {
    let common = prop_oneof![
        (0i32..3).prop_map(Bson::Int32),
        (1i64..3).prop_map(Bson::Int64),
        prop_oneof![Just(1.0), Just(2.0), Just(1.5), Just(-0.0), Just(f64::NAN)]
            .prop_map(Bson::Double),
        prop_oneof![Just("a"), Just("ab"), Just("b")].prop_map(|text| Bson::String(text.into())),
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
    ];
    let oid = |byte: u8| Bson::ObjectId(ObjectId::from_bytes([byte; 12]));
    let rare = prop_oneof![
        (-3i32..4).prop_map(Bson::Int32),
        (-3i64..4).prop_map(Bson::Int64),
        prop_oneof![
            Just(0.0),
            Just(-1.5),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(9.3e18),
        ]
        .prop_map(Bson::Double),
        // Decimals compare exactly: some sit just beside a double or an int64 of the other
        // values.
        prop_oneof![
            Just("2"),
            Just("2.5"),
            Just("NaN"),
            Just("-0"),
            Just("1.50000000000000000001"),
            Just("9.3E+18"),
            Just("2.000000000000000000000000000000000"),
        ]
        .prop_map(|text| Bson::Decimal128(text.parse().unwrap())),
        prop_oneof![Just(""), Just("B"), Just("é")].prop_map(|text| Bson::String(text.into())),
        Just(Bson::Symbol("a".to_owned())),
        Just(Bson::Undefined),
        prop_oneof![Just(1u8), Just(2u8)].prop_map(oid),
        (-1i64..2).prop_map(|millis| Bson::DateTime(bson::DateTime::from_millis(millis))),
        Just(Bson::RegularExpression(regex("a", "i"))),
        Just(Bson::RegularExpression(regex("^a", ""))),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        (0u32..2, 0u32..2)
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        prop_oneof![Just(vec![]), Just(vec![1u8]), Just(vec![0xff, 0])].prop_map(|bytes| {
            Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes,
            })
        }),
        Just(Bson::JavaScriptCode("x".to_owned())),
    ];
    prop_oneof![3 => common, 1 => rare]
}

fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec((key(), inner), 0..3)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    prop::collection::vec((key(), value()), 1..4).prop_map(|fields| fields.into_iter().collect())
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("a"),
        2 => Just("b"),
        1 => Just("0"),
        3 => Just("a.b"),
        2 => Just("a.0"),
        1 => Just("a.1"),
        1 => Just("a.a"),
        2 => Just("a.0.b"),
        1 => Just("b.1.a"),
        1 => Just("a.b.0"),
    ]
    .prop_map(String::from)
}

/// A comparison operand: any value but undefined (refused at compile time).
fn operand() -> impl Strategy<Value = Bson> {
    value().prop_filter("undefined is not an operand", |value| {
        !matches!(value, Bson::Undefined)
    })
}

fn named(name: &'static str) -> impl Fn(Bson) -> (String, Bson) {
    move |operand| (name.to_owned(), operand)
}

/// One `{$op: operand}` entry of an operator document.
fn operator() -> impl Strategy<Value = (String, Bson)> {
    let leaf = prop_oneof![
        operand().prop_map(named("$eq")),
        operand().prop_map(named("$ne")),
        operand().prop_map(named("$gt")),
        operand().prop_map(named("$gte")),
        operand().prop_map(named("$lt")),
        operand().prop_map(named("$lte")),
        prop::collection::vec(operand(), 0..4).prop_map(|list| named("$in")(Bson::Array(list))),
        prop::collection::vec(operand(), 0..4).prop_map(|list| named("$nin")(Bson::Array(list))),
        any::<bool>().prop_map(|flag| named("$exists")(Bson::Boolean(flag))),
        prop_oneof![
            Just(Bson::String("number".into())),
            Just(Bson::String("string".into())),
            Just(Bson::String("array".into())),
            Just(Bson::String("object".into())),
            Just(Bson::String("minKey".into())),
            Just(Bson::String("null".into())),
            Just(Bson::Int32(1)),
            Just(Bson::Int32(16)),
            Just(Bson::Int32(127)),
            Just(Bson::Array(vec![Bson::Int32(18), "bool".into()])),
        ]
        .prop_map(named("$type")),
        prop_oneof![Just("a"), Just("^A"), Just("b$")]
            .prop_map(|pattern| named("$regex")(Bson::String(pattern.into()))),
        Just(Bson::RegularExpression(regex("a", "i"))).prop_map(named("$regex")),
        (1i32..4, 0i32..2).prop_map(|(divisor, remainder)| named("$mod")(Bson::Array(vec![
            Bson::Int32(divisor),
            Bson::Int32(remainder)
        ]))),
        (
            prop_oneof![
                Just("$bitsAllSet"),
                Just("$bitsAllClear"),
                Just("$bitsAnySet"),
                Just("$bitsAnyClear")
            ],
            prop_oneof![
                Just(Bson::Int32(1)),
                Just(Bson::Int32(3)),
                Just(Bson::Array(vec![
                    Bson::Int32(0),
                    Bson::Int32(63),
                    Bson::Int32(70)
                ])),
            ]
        )
            .prop_map(|(name, mask)| (name.to_owned(), mask)),
        (0i32..3).prop_map(|size| named("$size")(Bson::Int32(size))),
        prop::collection::vec(operand(), 0..3).prop_map(|list| named("$all")(Bson::Array(list))),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            // `$not` and `$elemMatch`'s value form take an operator document.
            prop::collection::vec(inner.clone(), 1..3)
                .prop_map(|ops| ("$not".to_owned(), Bson::Document(ops.into_iter().collect()))),
            prop::collection::vec(inner, 1..3).prop_map(|ops| (
                "$elemMatch".to_owned(),
                Bson::Document(ops.into_iter().collect())
            )),
        ]
    })
}

/// A filter document: path predicates, implicit equalities, `$elemMatch` object forms and the
/// logical operators, with an occasional `$expr`.
fn filter() -> impl Strategy<Value = Document> {
    let predicate = prop_oneof![
        (path(), operand()).prop_map(|(path, value)| doc! {path: value}),
        (path(), prop::collection::vec(operator(), 1..3))
            .prop_map(|(path, ops)| doc! {path: Bson::Document(ops.into_iter().collect())}),
        (path(), key(), prop::collection::vec(operator(), 1..2)).prop_map(|(path, inner, ops)| {
            let inner_filter = doc! {inner: Bson::Document(ops.into_iter().collect())};
            doc! {path: {"$elemMatch": inner_filter}}
        }),
        Just(doc! {"$expr": {"$gt": ["$a", 1]}}),
        Just(doc! {"$expr": {"$add": ["$a", 1]}}),
    ];
    predicate.prop_recursive(3, 12, 3, |inner| {
        let list = move || prop::collection::vec(inner.clone(), 1..3);
        let as_array = |children: Vec<Document>| {
            Bson::Array(children.into_iter().map(Bson::Document).collect())
        };
        prop_oneof![
            list().prop_map(move |children| doc! {"$and": as_array(children)}),
            list().prop_map(move |children| doc! {"$or": as_array(children)}),
            list().prop_map(move |children| doc! {"$nor": as_array(children)}),
            list().prop_map(|children| {
                let mut merged = Document::new();
                for child in children {
                    merged.extend(child);
                }
                merged
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn raw_matching_equals_decoded_matching(
        filter in filter(),
        docs in prop::collection::vec(document(), 1..4),
    ) {
        // Filters that do not compile (e.g. a `$regex` under `$elemMatch` value form is fine,
        // but `$size: -1` is not) have nothing to compare.
        if let Ok(compiled) = Filter::compile(&filter) {
            for doc in &docs {
                if let Err(difference) = agree(&compiled, doc) {
                    prop_assert!(false, "filter {}: {}", filter, difference);
                }
            }
        }
    }
}

/// The same outcome (match and array position) or both an error.
fn same_outcome(
    left: &Result<rampart_mql::MatchOutcome, rampart_mql::MqlError>,
    right: &Result<rampart_mql::MatchOutcome, rampart_mql::MqlError>,
) -> bool {
    match (left, right) {
        (Ok(left), Ok(right)) => left == right,
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Several operators on one path (`{a: {$gt: 1, $lt: 5}}`, `$all`) are matched with one
    /// walk of the path; the outcome, the array position and the error-ness must be those of
    /// the same operators as separate clauses of a `$and`, evaluated one after the other.
    #[test]
    fn one_path_operators_equal_their_and(
        path in path(),
        ops in prop::collection::vec(operator(), 2..5),
        docs in prop::collection::vec(document(), 1..4),
    ) {
        one_path_agrees(&path, ops, &docs)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6000))]

    /// The same on small integer arrays, where different operators match different elements
    /// (so the array position tells which one counted), inside an `$or` whose other clause
    /// always holds without an array (so a position left over by a failed conjunction shows).
    #[test]
    fn one_path_operators_equal_their_and_on_arrays(
        path in prop_oneof![Just("a"), Just("a.b"), Just("a.0"), Just("a.b.0")],
        ops in prop::collection::vec(int_operator(), 2..5),
        docs in prop::collection::vec(int_document(), 1..4),
    ) {
        one_path_agrees(path, ops, &docs)?;
    }
}

/// A comparison, membership, size or `$elemMatch` on small integers.
fn int_operator() -> impl Strategy<Value = (String, Bson)> {
    let small = || (0i32..5).prop_map(Bson::Int32);
    prop_oneof![
        2 => (
            prop_oneof![
                Just("$eq"),
                Just("$ne"),
                Just("$gt"),
                Just("$gte"),
                Just("$lt"),
                Just("$lte")
            ],
            small()
        )
            .prop_map(|(op, operand)| (op.to_owned(), operand)),
        1 => prop::collection::vec(small(), 1..3).prop_map(|list| named("$in")(Bson::Array(list))),
        1 => prop::collection::vec(small(), 1..3).prop_map(|list| named("$all")(Bson::Array(list))),
        1 => (0i32..3).prop_map(|size| named("$size")(Bson::Int32(size))),
        2 => small().prop_map(|n| named("$elemMatch")(Bson::Document(doc! {"$gt": n}))),
        1 => small().prop_map(|n| named("$elemMatch")(Bson::Document(doc! {"b": n}))),
        1 => any::<bool>().prop_map(|flag| named("$exists")(Bson::Boolean(flag))),
    ]
}

/// `{a: ...}` holding small integers, arrays of them, and arrays of `{b: ...}` documents.
fn int_document() -> impl Strategy<Value = Document> {
    let small = || (0i32..5).prop_map(Bson::Int32);
    let ints = || prop::collection::vec(small(), 0..5).prop_map(Bson::Array);
    let inner = prop_oneof![small(), ints()].prop_map(|b| Bson::Document(doc! {"b": b}));
    let value = prop_oneof![
        small(),
        ints(),
        prop::collection::vec(prop_oneof![small(), inner.clone(), ints()], 0..5)
            .prop_map(Bson::Array),
        inner,
    ];
    value.prop_map(|a| doc! {"a": a})
}

/// [`one_path_operators_equal_their_and`] for one path, operator list and documents.
fn one_path_agrees(
    path: &str,
    ops: Vec<(String, Bson)>,
    docs: &[Document],
) -> Result<(), TestCaseError> {
    let ops: Document = ops.into_iter().collect();
    let clauses: Vec<Bson> = ops
        .iter()
        .map(|(op, operand)| Bson::Document(doc! {path: {op: operand.clone()}}))
        .collect();
    let always = doc! {"zz": {"$exists": false}};
    let together = Filter::compile(&doc! {"$or": [{path: ops.clone()}, always.clone()]});
    let apart = Filter::compile(&doc! {"$or": [{"$and": clauses}, always]});
    if let (Ok(together), Ok(apart)) = (together, apart) {
        for doc in docs {
            let raw = RawDocumentBuf::try_from(doc).unwrap();
            let decoded = (together.evaluate(doc), apart.evaluate(doc));
            prop_assert!(
                same_outcome(&decoded.0, &decoded.1),
                "{path}: {ops} on {doc}: {:?} but apart {:?}",
                decoded.0,
                decoded.1
            );
            let bytes = (together.evaluate_raw(&raw), apart.evaluate_raw(&raw));
            prop_assert!(
                same_outcome(&bytes.0, &bytes.1),
                "{path}: {ops} on raw {doc}: {:?} but apart {:?}",
                bytes.0,
                bytes.1
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- the data-driven corpus

fn to_doc(value: &Value) -> Document {
    match Bson::try_from(value.clone()).unwrap() {
        Bson::Document(doc) => doc,
        other => panic!("expected a document, got {other}"),
    }
}

fn to_docs(value: Option<&Value>) -> Vec<Document> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().map(to_doc).collect())
        .unwrap_or_default()
}

#[test]
fn every_filter_case_agrees_on_raw_bytes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/filter");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|ext| ext.to_str()) != Some("json") {
            continue;
        }
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let shared = to_docs(file.get("documents"));
        for case in file["cases"].as_array().into_iter().flatten() {
            let Some(find) = case.get("find").and_then(Value::as_object) else {
                continue;
            };
            if find.keys().any(|key| key != "filter") {
                continue;
            }
            let Ok(filter) = Filter::compile(&to_doc(&find["filter"])) else {
                continue;
            };
            let docs = match case.get("documents") {
                Some(docs) => to_docs(Some(docs)),
                None => shared.clone(),
            };
            for doc in &docs {
                if let Err(difference) = agree(&filter, doc) {
                    panic!("{} / {}: {difference}", path.display(), case["name"]);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "only {checked} documents checked");
}

#[test]
fn malformed_bytes_are_errors_not_panics() {
    let filter = Filter::compile(&doc! {"a.b": {"$gt": 1}, "c": {"$size": 1}}).unwrap();
    // One top-level test: matched without the general evaluator.
    let one_field = Filter::compile(&doc! {"d": {"$ne": "text"}}).unwrap();
    let good =
        RawDocumentBuf::try_from(&doc! {"a": [{"b": 2}, "x"], "c": [1], "d": "text"}).unwrap();
    let bytes = good.as_bytes().to_vec();
    // Corrupt each byte in turn (keeping the outer header valid, which `RawDocument` checks):
    // matching must return, whatever it returns.
    for index in 4..bytes.len() - 1 {
        for replacement in [0x00, 0x7f, 0xff, 0x05] {
            let mut corrupt = bytes.clone();
            corrupt[index] = replacement;
            if let Ok(raw) = bson::RawDocument::from_bytes(&corrupt) {
                let _ = filter.evaluate_raw(raw);
                for filter in [&filter, &one_field] {
                    assert_eq!(
                        filter.matches_raw_ok(raw),
                        filter.matches_raw(raw).ok(),
                        "byte {index} set to {replacement}"
                    );
                }
            }
        }
    }
    assert!(filter.matches_raw(&good).unwrap());
}
