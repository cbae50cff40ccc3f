//! Unit tests that need no filter or pipeline: operator updates applied directly.

use bson::{doc, Bson, Document};

use super::{Update, UpdateContext};
use crate::error::ErrorKind;
use crate::expr::Variables;

fn context() -> UpdateContext {
    UpdateContext {
        matched_position: None,
        is_upsert_insert: false,
        variables: Variables::new().with_now(bson::DateTime::from_millis(1_700_000_000_000)),
    }
}

fn run(doc: Document, update: Document) -> (Document, bool) {
    run_with(doc, update, &context())
}

fn run_with(mut doc: Document, update: Document, context: &UpdateContext) -> (Document, bool) {
    let parsed = Update::parse(&Bson::Document(update), &[]).unwrap();
    let changed = parsed.apply(&mut doc, context).unwrap();
    (doc, changed)
}

fn fails(doc: Document, update: Document) -> (ErrorKind, String) {
    let parsed = match Update::parse(&Bson::Document(update), &[]) {
        Ok(parsed) => parsed,
        Err(error) => return (error.kind(), error.message().to_owned()),
    };
    let mut work = doc.clone();
    let error = parsed.apply(&mut work, &context()).unwrap_err();
    // Order included: an update applied in place puts back what it changed.
    assert!(same(&work, &doc), "document changed on error: {work}");
    (error.kind(), error.message().to_owned())
}

fn same(a: &Document, b: &Document) -> bool {
    super::modifiers::documents_identical(a, b)
}

#[track_caller]
fn check(doc: Document, update: Document, expected: Document, changed: bool) {
    let (result, did) = run(doc, update);
    assert!(
        same(&result, &expected),
        "got {result}, expected {expected}"
    );
    assert_eq!(did, changed, "changed flag for {result}");
}

#[test]
fn a_failed_update_puts_back_the_fields_it_changed_where_they_were() {
    // Removes a middle field, renames one to the end, appends one, changes a nested value,
    // then fails on the last modifier.
    let doc = doc! {"_id": 1, "a": 1, "b": {"c": 2}, "d": "x", "e": [1, 2], "f": 3};
    let (kind, _) = fails(
        doc.clone(),
        doc! {
            "$unset": {"a": ""},
            "$rename": {"f": "g"},
            "$set": {"b.c": 5, "n": 1},
            "$push": {"e": 3},
            "$inc": {"d": 1},
        },
    );
    assert_eq!(kind, ErrorKind::TypeMismatch);
    // An `_id` change is caught after the walk, and undone too.
    fails(doc, doc! {"$set": {"a": 9, "_id": 2}});
}

#[test]
fn set_creates_paths_and_appends_in_sorted_order() {
    check(
        doc! {"_id": 1},
        doc! {"$set": {"z": 1, "b.y": 2, "b.x": 3}, "$inc": {"a": 1}},
        doc! {"_id": 1, "a": 1, "b": {"x": 3, "y": 2}, "z": 1},
        true,
    );
    check(
        doc! {"_id": 1, "a": [1, 2]},
        doc! {"$set": {"a.4": 9}},
        doc! {"_id": 1, "a": [1, 2, Bson::Null, Bson::Null, 9]},
        true,
    );
    check(
        doc! {"_id": 1, "a": 1},
        doc! {"$set": {"a": 1}},
        doc! {"_id": 1, "a": 1},
        false,
    );
    check(
        doc! {"_id": 1, "a": 1},
        doc! {"$set": {"a": 1.0}},
        doc! {"_id": 1, "a": 1.0},
        true,
    );
}

#[test]
fn numeric_fields_are_processed_in_numeric_order() {
    check(
        doc! {"_id": 1, "a": {}},
        doc! {"$set": {"a.10": 1, "a.2": 2, "a.b": 3}},
        doc! {"_id": 1, "a": {"2": 2, "10": 1, "b": 3}},
        true,
    );
}

#[test]
fn path_through_scalar_is_not_viable() {
    let (kind, message) = fails(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a.b": 1}});
    assert_eq!(kind, ErrorKind::PathNotViable);
    assert!(
        message.contains("cannot create field `b` in element {a: 1}"),
        "{message}"
    );
    check(
        doc! {"_id": 1, "a": 1},
        doc! {"$unset": {"a.b": 1}},
        doc! {"_id": 1, "a": 1},
        false,
    );
}

#[test]
fn inc_and_mul_follow_safe_num_rules() {
    check(
        doc! {"_id": 1, "a": i32::MAX},
        doc! {"$inc": {"a": 1}},
        doc! {"_id": 1, "a": i64::from(i32::MAX) + 1},
        true,
    );
    check(
        doc! {"_id": 1, "a": 2},
        doc! {"$mul": {"a": 1.5}, "$inc": {"b": 0_i64}},
        doc! {"_id": 1, "a": 3.0, "b": 0_i64},
        true,
    );
    check(
        doc! {"_id": 1},
        doc! {"$mul": {"a": 5_i64}},
        doc! {"_id": 1, "a": 0_i64},
        true,
    );
    check(
        doc! {"_id": 1, "a": 5},
        doc! {"$inc": {"a": 0}},
        doc! {"_id": 1, "a": 5},
        false,
    );
    let (kind, _) = fails(doc! {"_id": 1, "a": i64::MAX}, doc! {"$inc": {"a": 1}});
    assert_eq!(kind, ErrorKind::BadValue);
    let (kind, message) = fails(doc! {"_id": 1, "a": {"b": "x"}}, doc! {"$inc": {"a.b": 1}});
    assert_eq!(kind, ErrorKind::TypeMismatch);
    assert_eq!(
        message,
        "cannot apply `$inc` to a value of non-numeric type string at `a.b`"
    );
}

#[test]
fn error_leaves_document_unchanged() {
    let (kind, _) = fails(
        doc! {"_id": 1, "a": [1, "x", 3]},
        doc! {"$inc": {"a.$[]": 1}, "$set": {"b": 1}},
    );
    assert_eq!(kind, ErrorKind::TypeMismatch);
}

#[test]
fn conflicts_are_found_at_parse_time() {
    let error = Update::parse(
        &Bson::Document(doc! {"$set": {"a": 1}, "$inc": {"a.b": 1}}),
        &[],
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConflictingUpdateOperators);
    assert_eq!(
        error.message(),
        "updating the path `a.b` would create a conflict at `a`"
    );
    let error = Update::parse(
        &Bson::Document(doc! {"$rename": {"a": "b"}, "$unset": {"b.c": 1}}),
        &[],
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConflictingUpdateOperators);
    assert!(Update::parse(
        &Bson::Document(doc! {"$set": {"a.b": 1}, "$inc": {"a.bc": 1, "a-b": 1}}),
        &[]
    )
    .is_ok());
}

#[test]
fn all_positional_and_expanded_conflicts() {
    check(
        doc! {"_id": 1, "a": [{"b": 1}, {"b": 2}, {}]},
        doc! {"$inc": {"a.$[].b": 10}},
        doc! {"_id": 1, "a": [{"b": 11}, {"b": 12}, {"b": 10}]},
        true,
    );
    let (kind, message) = fails(
        doc! {"_id": 1, "a": [{"b": 1}, 3]},
        doc! {"$inc": {"a.$[].b": 10}},
    );
    assert_eq!(kind, ErrorKind::PathNotViable);
    assert!(message.contains("element {1: 3}"), "{message}");
    let (kind, _) = fails(
        doc! {"_id": 1, "a": [{"b": 1}]},
        doc! {"$set": {"a.$[]": 5, "a.0.b": 2}},
    );
    assert_eq!(kind, ErrorKind::ConflictingUpdateOperators);
    check(
        doc! {"_id": 1, "a": [{"b": 1}, {"b": 2}]},
        doc! {"$set": {"a.$[].c": 5, "a.1.b": 3}},
        doc! {"_id": 1, "a": [{"b": 1, "c": 5}, {"b": 3, "c": 5}]},
        true,
    );
}

#[test]
fn positional_uses_matched_position() {
    let context = UpdateContext {
        matched_position: Some(1),
        ..context()
    };
    let (result, changed) = run_with(
        doc! {"_id": 1, "a": [1, 2, 3]},
        doc! {"$set": {"a.$": 20}},
        &context,
    );
    assert!(changed);
    assert_eq!(result, doc! {"_id": 1, "a": [1, 20, 3]});
    let (kind, message) = fails(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$": 2}});
    assert_eq!(kind, ErrorKind::BadValue);
    assert!(message.contains("positional operator did not find the match"));
    let (kind, _) = fails(
        doc! {"_id": 1, "a": [{"b": 1}]},
        doc! {"$set": {"a.$[].b": 1, "a.0": 2}},
    );
    assert_eq!(kind, ErrorKind::ConflictingUpdateOperators);
}

#[test]
fn push_modifiers_compose() {
    check(
        doc! {"_id": 1, "a": [5, 1]},
        doc! {"$push": {"a": {"$sort": -1, "$slice": 3, "$each": [3, 9]}}},
        doc! {"_id": 1, "a": [9, 5, 3]},
        true,
    );
    check(
        doc! {"_id": 1, "a": [1, 2, 3]},
        doc! {"$push": {"a": {"$each": [8, 9], "$position": -1}}},
        doc! {"_id": 1, "a": [1, 2, 8, 9, 3]},
        true,
    );
    check(
        doc! {"_id": 1, "a": [{"s": 2}, {"s": 1}]},
        doc! {"$push": {"a": {"$each": [{"s": 0}], "$sort": {"s": 1}, "$slice": -2}}},
        doc! {"_id": 1, "a": [{"s": 1}, {"s": 2}]},
        true,
    );
    check(
        doc! {"_id": 1, "a": [1]},
        doc! {"$push": {"a": {"$each": []}}},
        doc! {"_id": 1, "a": [1]},
        false,
    );
    let (kind, _) = fails(doc! {"_id": 1, "a": 1}, doc! {"$push": {"a": 2}});
    assert_eq!(kind, ErrorKind::BadValue);
}

#[test]
fn add_to_set_pop_pull_all() {
    check(
        doc! {"_id": 1, "a": [1, 2]},
        doc! {"$addToSet": {"a": {"$each": [2.0, 3, 3]}}},
        doc! {"_id": 1, "a": [1, 2, 3]},
        true,
    );
    check(
        doc! {"_id": 1, "a": [1, 2, 3], "b": [1, 2, 1]},
        doc! {"$pop": {"a": -1}, "$pullAll": {"b": [1]}},
        doc! {"_id": 1, "a": [2, 3], "b": [2]},
        true,
    );
    check(
        doc! {"_id": 1, "a": [1, 2]},
        doc! {"$pull": {"a": 5}},
        doc! {"_id": 1, "a": [1, 2]},
        false,
    );
}

#[test]
fn rename_moves_values() {
    check(
        doc! {"_id": 1, "a": {"b": 1}, "c": 2},
        doc! {"$rename": {"a.b": "d.e", "c": "x"}},
        doc! {"_id": 1, "a": {}, "d": {"e": 1}, "x": 2},
        true,
    );
    check(
        doc! {"_id": 1},
        doc! {"$rename": {"a": "b"}},
        doc! {"_id": 1},
        false,
    );
    let (kind, _) = fails(
        doc! {"_id": 1, "a": [{"b": 1}]},
        doc! {"$rename": {"a.0.b": "c"}},
    );
    assert_eq!(kind, ErrorKind::BadValue);
}

#[test]
fn id_is_immutable() {
    let (kind, message) = fails(doc! {"_id": 1}, doc! {"$set": {"_id": 2}});
    assert_eq!(kind, ErrorKind::ImmutableField);
    assert!(message.contains("`_id`"));
    check(
        doc! {"_id": 1, "a": 1},
        doc! {"$set": {"_id": 1, "a": 2}},
        doc! {"_id": 1, "a": 2},
        true,
    );
}

#[test]
fn replacement_keeps_id_first() {
    let (result, changed) = {
        let mut doc = doc! {"_id": 7, "a": 1};
        let update = Update::parse(&Bson::Document(doc! {"b": 2}), &[]).unwrap();
        assert!(update.is_replacement());
        let changed = update.apply(&mut doc, &context()).unwrap();
        (doc, changed)
    };
    assert!(changed);
    assert_eq!(result, doc! {"_id": 7, "b": 2});
    let update = Update::parse(&Bson::Document(doc! {"_id": 8}), &[]).unwrap();
    let mut doc = doc! {"_id": 7};
    assert_eq!(
        update.apply(&mut doc, &context()).unwrap_err().kind(),
        ErrorKind::ImmutableField
    );
}

#[test]
fn current_date_and_bit() {
    check(
        doc! {"_id": 1, "f": 13},
        doc! {"$currentDate": {"d": true, "t": {"$type": "timestamp"}}, "$bit": {"f": {"and": 10, "or": 1_i64}}},
        doc! {
            "_id": 1,
            "f": 9_i64,
            "d": bson::DateTime::from_millis(1_700_000_000_000),
            "t": bson::Timestamp { time: 1_700_000_000, increment: 1 },
        },
        true,
    );
}

#[test]
fn set_on_insert_only_on_insert() {
    check(
        doc! {"_id": 1},
        doc! {"$setOnInsert": {"a": 1}},
        doc! {"_id": 1},
        false,
    );
    let insert = UpdateContext {
        is_upsert_insert: true,
        ..context()
    };
    let (result, _) = run_with(doc! {"_id": 1}, doc! {"$setOnInsert": {"a": 1}}, &insert);
    assert_eq!(result, doc! {"_id": 1, "a": 1});
}

#[test]
fn parse_errors_name_the_operator() {
    let cases: Vec<(Bson, ErrorKind, &str)> = vec![
        (
            Bson::Document(doc! {"$foo": {"a": 1}}),
            ErrorKind::UnknownOperator,
            "$foo",
        ),
        (
            Bson::Document(doc! {"$set": {"a": 1}, "b": 1}),
            ErrorKind::FailedToParse,
            "`b`",
        ),
        (
            Bson::Document(doc! {"a": 1, "$set": {"b": 1}}),
            ErrorKind::InvalidFieldName,
            "$set",
        ),
        (
            Bson::Document(doc! {"$set": 1}),
            ErrorKind::FailedToParse,
            "$set",
        ),
        (
            Bson::Document(doc! {"$inc": {"a": "x"}}),
            ErrorKind::TypeMismatch,
            "$inc",
        ),
        (
            Bson::Document(doc! {"$pop": {"a": 2}}),
            ErrorKind::FailedToParse,
            "$pop",
        ),
        (
            Bson::Document(doc! {"$set": {"a..b": 1}}),
            ErrorKind::FailedToParse,
            "a..b",
        ),
        (
            Bson::Document(doc! {"$set": {"$.a": 1}}),
            ErrorKind::BadValue,
            "first position",
        ),
        (
            Bson::Document(doc! {"$set": {"a.$.b.$": 1}}),
            ErrorKind::BadValue,
            "too many",
        ),
        (
            Bson::Document(doc! {"$set": {"a.$[x]": 1}}),
            ErrorKind::NoSuchArrayFilter,
            "`x`",
        ),
        (
            Bson::Document(doc! {"$rename": {"a": "a"}}),
            ErrorKind::BadValue,
            "must differ",
        ),
        (
            Bson::Document(doc! {"$rename": {"a": "a.b"}}),
            ErrorKind::BadValue,
            "same path",
        ),
        (
            Bson::Document(doc! {"$rename": {"a.$": "b"}}),
            ErrorKind::BadValue,
            "dynamic",
        ),
        (
            Bson::Document(doc! {"$bit": {"a": {"not": 1}}}),
            ErrorKind::BadValue,
            "$bit",
        ),
        (Bson::Int32(1), ErrorKind::FailedToParse, "update"),
        (
            Bson::Array(vec![Bson::Document(doc! {"$group": {"_id": 1}})]),
            ErrorKind::BadValue,
            "$group",
        ),
    ];
    for (update, kind, needle) in cases {
        let error = Update::parse(&update, &[]).unwrap_err();
        assert_eq!(error.kind(), kind, "{update}: {error}");
        assert!(error.message().contains(needle), "{update}: {error}");
    }
}

#[test]
fn empty_updates() {
    check(
        doc! {"_id": 1, "a": 1},
        doc! {"$set": {}},
        doc! {"_id": 1, "a": 1},
        false,
    );
    check(doc! {"_id": 1, "a": 1}, doc! {}, doc! {"_id": 1}, true);
}

#[test]
fn array_filters_see_elements_as_they_were() {
    // `y` tests what `x` sets: MongoDB matches every filter against the original element, so
    // the second modifier must not see the first one's change.
    let filters = vec![
        doc! {"x.b": {"$exists": false}},
        doc! {"y.b": {"$exists": true}},
    ];
    let update = Update::parse(
        &Bson::Document(doc! {"$set": {"a.$[x].b": 1, "a.$[y].c": 2}}),
        &filters,
    )
    .unwrap();
    let mut doc = doc! {"_id": 1, "a": [{}, {"b": 0}]};
    assert!(update.apply(&mut doc, &context()).unwrap());
    assert_eq!(doc, doc! {"_id": 1, "a": [{"b": 1}, {"b": 0, "c": 2}]});
}

#[test]
fn nan_and_negative_zero_are_changes_by_bytes() {
    check(
        doc! {"_id": 1, "a": f64::NAN},
        doc! {"$set": {"a": f64::NAN}},
        doc! {"_id": 1, "a": f64::NAN},
        false,
    );
    let (result, changed) = run(doc! {"_id": 1, "a": 0.0}, doc! {"$set": {"a": -0.0}});
    assert!(changed);
    assert!(result.get_f64("a").unwrap().is_sign_negative());
}

#[test]
fn upsert_document_seeds_from_the_filter() {
    let filter = crate::filter::Filter::compile(&doc! {"k": 1, "_id": 5}).unwrap();
    let insert = UpdateContext {
        is_upsert_insert: true,
        ..context()
    };
    let update = Update::parse(
        &Bson::Document(doc! {"$set": {"z": 1}, "$setOnInsert": {"n": true}}),
        &[],
    )
    .unwrap();
    let doc = update.upsert_document(&filter, &insert).unwrap();
    assert_eq!(doc, doc! {"_id": 5, "k": 1, "n": true, "z": 1});
    let replacement = Update::parse(&Bson::Document(doc! {"r": 1}), &[]).unwrap();
    let doc = replacement.upsert_document(&filter, &insert).unwrap();
    assert_eq!(doc, doc! {"_id": 5, "r": 1});
}

mod in_place {
    //! Applying in place, saving only the fields the modifiers name (what `Update::apply`
    //! does), against saving every field (what copying the whole document first amounted
    //! to): the same document, outcome and error.

    use bson::{doc, Bson, Document};
    use proptest::prelude::*;

    use super::super::apply::Saved;
    use super::super::{Kind, Update};
    use super::{context, same};

    fn value() -> impl Strategy<Value = Bson> {
        prop_oneof![
            (0i32..4).prop_map(Bson::Int32),
            Just(Bson::String("s".into())),
            Just(Bson::Null),
            prop::collection::vec((0i32..4).prop_map(Bson::Int32), 0..4).prop_map(Bson::Array),
            prop::collection::vec((0i32..4).prop_map(|x| Bson::Document(doc! {"x": x})), 0..4)
                .prop_map(Bson::Array),
            (0i32..4).prop_map(|x| Bson::Document(doc! {"x": x, "y": "t"})),
        ]
    }

    fn document() -> impl Strategy<Value = Document> {
        prop::collection::vec(
            (prop::sample::select(vec!["a", "b", "c", "d"]), value()),
            0..5,
        )
        .prop_map(|fields| {
            let mut doc = doc! {"_id": 1};
            for (name, value) in fields {
                doc.insert(name, value);
            }
            doc
        })
    }

    /// Modifiers, each with the array filters it needs (`e`, `f`).
    fn modifiers() -> Vec<(Document, Vec<Document>)> {
        let e = || vec![doc! {"e.x": {"$gt": 1}}];
        vec![
            (doc! {"$set": {"a": 9}}, vec![]),
            (doc! {"$set": {"b.x": 5}}, vec![]),
            (doc! {"$set": {"n": 1}}, vec![]),
            (doc! {"$unset": {"c": ""}}, vec![]),
            (doc! {"$inc": {"a": 1}}, vec![]),
            (doc! {"$inc": {"d.x": 2}}, vec![]),
            (doc! {"$rename": {"c": "m"}}, vec![]),
            (doc! {"$push": {"b": 7}}, vec![]),
            (doc! {"$pull": {"c": {"x": 2}}}, vec![]),
            (doc! {"$set": {"b.$[].x": 0}}, vec![]),
            (doc! {"$set": {"d.$[e].x": 0}}, e()),
            (doc! {"$inc": {"c.$[e].x": 10}}, e()),
            (doc! {"$set": {"_id": 2}}, vec![]),
            (doc! {"$min": {"a": 0}}, vec![]),
        ]
    }

    fn update() -> impl Strategy<Value = (Document, Vec<Document>)> {
        prop::sample::subsequence(modifiers(), 1..4).prop_map(|chosen| {
            let mut update = Document::new();
            let mut filters: Vec<Document> = Vec::new();
            for (modifier, needs) in chosen {
                for (operator, fields) in modifier {
                    let Bson::Document(fields) = fields else {
                        continue;
                    };
                    let entry = update
                        .entry(operator)
                        .or_insert_with(|| Bson::Document(Document::new()));
                    if let Bson::Document(existing) = entry {
                        existing.extend(fields);
                    }
                }
                for filter in needs {
                    if !filters.contains(&filter) {
                        filters.push(filter);
                    }
                }
            }
            (update, filters)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn in_place_equals_on_a_copy(doc in document(), (spec, filters) in update()) {
            let Ok(parsed) = Update::parse(&Bson::Document(spec), &filters) else {
                return Ok(());
            };
            let Kind::Operators(update) = &parsed.kind else {
                return Ok(());
            };
            // The reference saves every field: array filters see the whole document as it
            // was and an error puts every field back, which is what applying to a copy of the
            // whole document amounted to.
            let mut whole = doc.clone();
            let every_field = Saved::of(&doc, doc.keys().map(String::as_str).collect());
            let on_copy = update
                .apply_saving(&mut whole, &context(), false, every_field)
                .map(|changed| (whole, changed));
            let mut in_place = doc.clone();
            let outcome = update.apply_in_place(&mut in_place, &context(), false);
            match (on_copy, outcome) {
                (Ok((copy, changed)), Ok(changed_in_place)) => {
                    prop_assert_eq!(changed, changed_in_place);
                    let expected = if changed { copy } else { doc.clone() };
                    prop_assert!(same(&in_place, &expected), "{} vs {}", in_place, expected);
                }
                (Err(copy), Err(error)) => {
                    prop_assert_eq!(copy.message(), error.message());
                    prop_assert!(same(&in_place, &doc), "{} vs {}", in_place, doc);
                }
                (copy, error) => prop_assert!(false, "{:?} vs {:?}", copy, error),
            }
        }
    }
}
