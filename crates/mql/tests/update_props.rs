//! Random updates built from every operator, over random documents: parsing and applying
//! never panic, a failed apply leaves the document unchanged, and an apply that reports no
//! change really changed nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{doc, Bson, Document};
use proptest::prelude::*;
use rampart_mql::{Update, UpdateContext, Variables};

const NAMES: &[&str] = &["a", "b", "c", "0", "1", "_id"];
const PARTS: &[&str] = &[
    "a", "b", "c", "0", "1", "2", "_id", "$", "$[]", "$[x]", "$[y]",
];
const OPERATORS: &[&str] = &[
    "$set",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$rename",
    "$currentDate",
    "$setOnInsert",
    "$push",
    "$addToSet",
    "$pop",
    "$pull",
    "$pullAll",
    "$bit",
    "$foo",
];

fn scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        (-3i32..3).prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        prop_oneof![Just(f64::NAN), Just(-0.0), Just(1.5), any::<f64>()].prop_map(Bson::Double),
        "[a-c]{0,2}".prop_map(Bson::String),
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
    ]
}

fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..4).prop_map(|fields| {
                let mut doc = Document::new();
                for (name, value) in fields {
                    doc.insert(name, value);
                }
                Bson::Document(doc)
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    prop::collection::vec((prop::sample::select(NAMES), value()), 0..5).prop_map(|fields| {
        let mut doc = doc! {"_id": 1};
        for (name, value) in fields {
            doc.insert(name, value);
        }
        doc
    })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PARTS), 1..4).prop_map(|parts| parts.join("."))
}

/// Operands shaped for each operator most of the time, arbitrary values otherwise.
fn operand() -> impl Strategy<Value = Bson> {
    prop_oneof![
        value(),
        path().prop_map(Bson::String),
        Just(Bson::Int32(1)),
        Just(Bson::Int32(-1)),
        Just(Bson::Document(doc! {"$type": "timestamp"})),
        (prop::collection::vec(value(), 0..3), -3i64..4, -3i64..4).prop_map(
            |(each, slice, position)| Bson::Document(doc! {
                "$each": each, "$slice": slice, "$position": position, "$sort": {"a": -1}
            })
        ),
        prop::collection::vec(value(), 0..3).prop_map(|each| Bson::Document(doc! {"$each": each})),
        Just(Bson::Document(doc! {"$gte": 1})),
        Just(Bson::Document(doc! {"a": {"$exists": true}})),
        Just(Bson::Document(doc! {"and": 6, "xor": 3_i64})),
    ]
}

fn update() -> impl Strategy<Value = Document> {
    prop::collection::vec(
        (
            prop::sample::select(OPERATORS),
            prop::collection::vec((path(), operand()), 0..3),
        ),
        1..4,
    )
    .prop_map(|ops| {
        let mut update = Document::new();
        for (operator, fields) in ops {
            let mut body = Document::new();
            for (path, operand) in fields {
                body.insert(path, operand);
            }
            update.insert(operator, body);
        }
        update
    })
}

fn filters() -> impl Strategy<Value = Vec<Document>> {
    prop_oneof![
        Just(Vec::new()),
        Just(vec![doc! {"x": {"$gt": 0}}]),
        Just(vec![
            doc! {"x": {"$gt": 0}},
            doc! {"y.a": {"$exists": true}}
        ]),
    ]
}

fn bytes(doc: &Document) -> Vec<u8> {
    doc.to_vec().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn apply_never_panics_and_is_atomic(
        target in document(),
        spec in update(),
        array_filters in filters(),
        position in prop::option::of(0usize..3),
        insert in any::<bool>(),
    ) {
        let Ok(parsed) = Update::parse(&Bson::Document(spec), &array_filters) else {
            return Ok(());
        };
        let context = UpdateContext {
            matched_position: position,
            is_upsert_insert: insert,
            variables: Variables::new().with_now(bson::DateTime::from_millis(1_700_000_000_000)),
        };
        let mut doc = target.clone();
        match parsed.apply(&mut doc, &context) {
            Ok(true) => {}
            Ok(false) => prop_assert_eq!(bytes(&doc), bytes(&target), "no-op changed the doc"),
            Err(_) => prop_assert_eq!(bytes(&doc), bytes(&target), "error changed the doc"),
        }
    }

    #[test]
    fn replacement_and_set_agree(target in document(), fields in value()) {
        // `$set` of every top-level field of a replacement (without `_id`) on a document
        // holding only the `_id` gives the same fields as the replacement; only the order of
        // new fields may differ (`$set` appends them sorted).
        let Bson::Document(mut replacement) = fields else { return Ok(()) };
        replacement.remove("_id");
        let mut replaced = target.clone();
        Update::parse(&Bson::Document(replacement.clone()), &[])
            .unwrap()
            .apply(&mut replaced, &UpdateContext::default())
            .unwrap();
        let mut set = doc! {"_id": target.get("_id").cloned().unwrap()};
        Update::parse(&Bson::Document(doc! {"$set": replacement.clone()}), &[])
            .unwrap()
            .apply(&mut set, &UpdateContext::default())
            .unwrap();
        prop_assert_eq!(replaced.len(), set.len());
        for (name, value) in &replaced {
            let other = set.get(name).unwrap();
            prop_assert_eq!(Bson::Document(doc! {"v": value}).to_string(), Bson::Document(doc! {"v": other}).to_string());
        }
    }
}
