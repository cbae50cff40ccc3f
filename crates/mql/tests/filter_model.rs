//! Property tests of the filter engine: a deliberately naive second implementation of matching
//! (collect every value a path reaches, then test them) must agree with `Filter` on random
//! documents and filters; and random, mostly invalid, filters must never panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cmp::Ordering;

use bson::{doc, Bson, Document};
use proptest::prelude::*;
use rampart_mql::{compare_values, Filter};

// ---------------------------------------------------------------- the naive model

/// Every value `path` reaches in `value`, as MongoDB documents it: documents are entered by
/// field name; an array met before the end of the path is entered element by element (each
/// document element continues the path) and, when the next component is a number, also at that
/// index; a leaf array yields its elements (one level) and itself. `None` is a missing value.
fn reach(value: Option<&Bson>, path: &[&str], expand_leaf: bool, out: &mut Vec<Option<Bson>>) {
    let Some((first, rest)) = path.split_first() else {
        if let (Some(Bson::Array(items)), true) = (value, expand_leaf) {
            out.extend(items.iter().cloned().map(Some));
        }
        out.push(value.cloned());
        return;
    };
    match value {
        Some(Bson::Document(doc)) => reach(doc.get(*first), rest, expand_leaf, out),
        Some(Bson::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                if matches!(item, Bson::Document(_)) {
                    reach(Some(item), path, expand_leaf, out);
                }
                if *first != index.to_string() {
                    continue;
                }
                if rest.is_empty() {
                    out.push(Some(item.clone()));
                } else if matches!(item, Bson::Document(_) | Bson::Array(_)) {
                    reach(Some(item), rest, expand_leaf, out);
                }
            }
        }
        _ => out.push(None),
    }
}

fn values(doc: &Document, path: &str, expand_leaf: bool) -> Vec<Option<Bson>> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    reach(
        Some(&Bson::Document(doc.clone())),
        &parts,
        expand_leaf,
        &mut out,
    );
    out
}

fn bracket(value: &Bson) -> u8 {
    match value {
        Bson::Null => 1,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) => 2,
        Bson::String(_) => 3,
        Bson::Document(_) => 4,
        Bson::Array(_) => 5,
        Bson::Boolean(_) => 6,
        other => panic!("model does not generate {other:?}"),
    }
}

fn ordered(operand: &Bson, value: Option<&Bson>) -> Option<Ordering> {
    let value = value?;
    (bracket(value) == bracket(operand)).then(|| compare_values(value, operand))
}

#[derive(Debug, Clone)]
enum Op {
    Implicit(Bson),
    Eq(Bson),
    Ne(Bson),
    Gt(Bson),
    Gte(Bson),
    Lt(Bson),
    Lte(Bson),
    In(Vec<Bson>),
    Nin(Vec<Bson>),
    Exists(bool),
    Size(i32),
    Not(Box<Op>),
}

#[derive(Debug, Clone)]
enum Model {
    Leaf(String, Op),
    And(Vec<Model>),
    Or(Vec<Model>),
    Nor(Vec<Model>),
}

fn single(op: &Op, value: Option<&Bson>) -> bool {
    let null_or_missing = matches!(value, None | Some(Bson::Null));
    match op {
        Op::Implicit(operand) | Op::Eq(operand) => match operand {
            Bson::Null => null_or_missing,
            _ => ordered(operand, value) == Some(Ordering::Equal),
        },
        Op::Gte(Bson::Null) | Op::Lte(Bson::Null) => null_or_missing,
        Op::Gt(Bson::Null) | Op::Lt(Bson::Null) => false,
        Op::Gt(operand) => ordered(operand, value) == Some(Ordering::Greater),
        Op::Gte(operand) => matches!(
            ordered(operand, value),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        Op::Lt(operand) => ordered(operand, value) == Some(Ordering::Less),
        Op::Lte(operand) => matches!(
            ordered(operand, value),
            Some(Ordering::Less | Ordering::Equal)
        ),
        Op::In(operands) => operands
            .iter()
            .any(|operand| single(&Op::Eq(operand.clone()), value)),
        Op::Exists(true) => value.is_some(),
        other => panic!("not a single-value test: {other:?}"),
    }
}

fn model_op(op: &Op, doc: &Document, path: &str) -> bool {
    match op {
        Op::Not(inner) => !model_op(inner, doc, path),
        Op::Ne(operand) => !model_op(&Op::Eq(operand.clone()), doc, path),
        Op::Nin(operands) => !model_op(&Op::In(operands.clone()), doc, path),
        Op::Exists(false) => !model_op(&Op::Exists(true), doc, path),
        Op::Size(size) => values(doc, path, false)
            .iter()
            .any(|value| matches!(value, Some(Bson::Array(items)) if items.len() as i32 == *size)),
        _ => values(doc, path, true)
            .iter()
            .any(|value| single(op, value.as_ref())),
    }
}

fn model(filter: &Model, doc: &Document) -> bool {
    match filter {
        Model::Leaf(path, op) => model_op(op, doc, path),
        Model::And(children) => children.iter().all(|child| model(child, doc)),
        Model::Or(children) => children.iter().any(|child| model(child, doc)),
        Model::Nor(children) => !children.iter().any(|child| model(child, doc)),
    }
}

fn op_document(op: &Op) -> Document {
    match op {
        Op::Implicit(_) => panic!("implicit equality has no operator document"),
        Op::Eq(value) => doc! {"$eq": value.clone()},
        Op::Ne(value) => doc! {"$ne": value.clone()},
        Op::Gt(value) => doc! {"$gt": value.clone()},
        Op::Gte(value) => doc! {"$gte": value.clone()},
        Op::Lt(value) => doc! {"$lt": value.clone()},
        Op::Lte(value) => doc! {"$lte": value.clone()},
        Op::In(values) => doc! {"$in": values.clone()},
        Op::Nin(values) => doc! {"$nin": values.clone()},
        Op::Exists(flag) => doc! {"$exists": *flag},
        Op::Size(size) => doc! {"$size": *size},
        Op::Not(inner) => doc! {"$not": op_document(inner)},
    }
}

fn to_filter(filter: &Model) -> Document {
    let list = |children: &[Model]| -> Vec<Bson> {
        children
            .iter()
            .map(|child| Bson::Document(to_filter(child)))
            .collect()
    };
    match filter {
        Model::Leaf(path, Op::Implicit(value)) => doc! {path.as_str(): value.clone()},
        Model::Leaf(path, op) => doc! {path.as_str(): op_document(op)},
        Model::And(children) => doc! {"$and": list(children)},
        Model::Or(children) => doc! {"$or": list(children)},
        Model::Nor(children) => doc! {"$nor": list(children)},
    }
}

// ---------------------------------------------------------------- generators

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("0"), Just("1")].prop_map(String::from)
}

fn scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        (-2i32..4).prop_map(Bson::Int32),
        (-2i64..4).prop_map(Bson::Int64),
        Just(Bson::Double(1.5)),
        Just(Bson::Double(2.0)),
        prop_oneof![Just("x"), Just("y")].prop_map(|text| Bson::String(text.into())),
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
    ]
}

fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec((field_name(), inner), 0..3)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    prop::collection::vec((field_name(), value()), 0..4)
        .prop_map(|fields| fields.into_iter().collect())
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a"),
        Just("b"),
        Just("a.b"),
        Just("a.0"),
        Just("a.1"),
        Just("a.b.a"),
        Just("a.0.b"),
        Just("a.0.0"),
        Just("b.1.a"),
        Just("a.a.a"),
    ]
    .prop_map(String::from)
}

fn operand() -> impl Strategy<Value = Bson> {
    prop_oneof![3 => scalar(), 1 => value()]
}

fn basic_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        operand().prop_map(Op::Eq),
        operand().prop_map(Op::Ne),
        operand().prop_map(Op::Gt),
        operand().prop_map(Op::Gte),
        operand().prop_map(Op::Lt),
        operand().prop_map(Op::Lte),
        prop::collection::vec(operand(), 0..4).prop_map(Op::In),
        prop::collection::vec(operand(), 0..4).prop_map(Op::Nin),
        any::<bool>().prop_map(Op::Exists),
        (0i32..3).prop_map(Op::Size),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => basic_op(),
        1 => basic_op().prop_map(|inner| Op::Not(Box::new(inner))),
        2 => operand().prop_map(Op::Implicit),
    ]
}

fn model_filter() -> impl Strategy<Value = Model> {
    let leaf = (path(), op()).prop_map(|(path, op)| Model::Leaf(path, op));
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Model::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Model::Or),
            prop::collection::vec(inner, 1..3).prop_map(Model::Nor),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn filter_agrees_with_the_naive_model(
        filter in model_filter(),
        docs in prop::collection::vec(document(), 1..6),
    ) {
        let source = to_filter(&filter);
        let compiled = Filter::compile(&source).unwrap();
        for doc in &docs {
            let expected = model(&filter, doc);
            let actual = compiled.matches(doc).unwrap();
            prop_assert_eq!(actual, expected, "filter {} on {}", source, doc);
        }
    }
}

// ---------------------------------------------------------------- never panic

const OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$and",
    "$or",
    "$nor",
    "$not",
    "$exists",
    "$type",
    "$regex",
    "$options",
    "$mod",
    "$all",
    "$elemMatch",
    "$size",
    "$expr",
    "$comment",
    "$where",
    "$text",
    "$near",
    "$geoWithin",
    "$jsonSchema",
    "$bitsAllSet",
    "$bitsAnySet",
    "$bitsAllClear",
    "$bitsAnyClear",
    "$foo",
    "a",
    "b",
    "a.b",
    "a.0",
    "",
];

fn wild_scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>().prop_map(Bson::Double),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1e300),
            Just(2.5)
        ]
        .prop_map(Bson::Double),
        "[a-z(\\[.*^$]{0,4}".prop_map(Bson::String),
        prop_oneof![
            Just("number"),
            Just("array"),
            Just("int"),
            Just("bogus"),
            Just("i"),
            Just("q")
        ]
        .prop_map(|text| Bson::String(text.into())),
        (
            "[a-z(.*]{0,3}",
            prop_oneof![Just(""), Just("i"), Just("ms"), Just("z")]
        )
            .prop_map(|(pattern, options)| Bson::RegularExpression(bson::Regex {
                pattern: pattern.try_into().unwrap(),
                options: options.try_into().unwrap(),
            })),
        Just(Bson::Null),
        Just(Bson::Undefined),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        any::<bool>().prop_map(Bson::Boolean),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(|bytes| Bson::Binary(bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes,
        })),
        Just(Bson::Decimal128("1.5".parse().unwrap())),
    ]
}

fn wild_value() -> impl Strategy<Value = Bson> {
    wild_scalar().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec((prop::sample::select(OPERATORS), inner), 0..4).prop_map(
                |fields| Bson::Document(
                    fields
                        .into_iter()
                        .map(|(key, value)| (key.to_owned(), value))
                        .collect()
                )
            ),
        ]
    })
}

fn wild_filter() -> impl Strategy<Value = Document> {
    prop::collection::vec((prop::sample::select(OPERATORS), wild_value()), 0..4).prop_map(
        |fields| {
            fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn random_filters_never_panic(
        filter in wild_filter(),
        docs in prop::collection::vec(wild_filter(), 0..4),
    ) {
        if let Ok(compiled) = Filter::compile(&filter) {
            for doc in &docs {
                let _ = compiled.evaluate(doc);
            }
            let _ = compiled.constraints();
            let _ = compiled.upsert_seed();
        }
    }
}
