use bson::{doc, Bson, Document};

use super::{Filter, PathConstraint};

fn position(filter: Document, doc: Document) -> Option<usize> {
    let outcome = Filter::compile(&filter).unwrap().evaluate(&doc).unwrap();
    assert!(outcome.matched, "{filter} should match {doc}");
    outcome.array_position
}

#[test]
fn position_of_first_matching_element() {
    let grades = doc! {"grades": [80, 85, 90]};
    assert_eq!(
        position(doc! {"grades": {"$gte": 85}}, grades.clone()),
        Some(1)
    );
    assert_eq!(position(doc! {"grades": 90}, grades.clone()), Some(2));
    assert_eq!(
        position(doc! {"grades": [80, 85, 90]}, grades.clone()),
        None
    );
    assert_eq!(position(doc! {"grades.1": 85}, grades), None);
}

#[test]
fn position_through_documents_and_elem_match() {
    let doc = doc! {"a": [{"b": 1, "c": 1}, {"b": 2, "c": [5, 6]}]};
    assert_eq!(position(doc! {"a.b": 2}, doc.clone()), Some(1));
    // The outermost array's offset wins over the nested one.
    assert_eq!(position(doc! {"a.c": 6}, doc.clone()), Some(1));
    assert_eq!(
        position(doc! {"a": {"$elemMatch": {"c": 5}}}, doc.clone()),
        Some(1)
    );
    assert_eq!(
        position(doc! {"a.c": {"$elemMatch": {"$gt": 5}}}, doc.clone()),
        Some(1)
    );
    assert_eq!(position(doc! {"a.0.b": 1}, doc), None);
    let nested = doc! {"x": {"y": [3, 4]}};
    assert_eq!(
        position(doc! {"x.y": {"$elemMatch": {"$gt": 3}}}, nested),
        Some(1)
    );
}

#[test]
fn position_is_the_last_recorded_in_a_conjunction() {
    let doc = doc! {"a": [1, 2, 3], "b": [7, 8]};
    assert_eq!(position(doc! {"a": 3, "b": 7}, doc.clone()), Some(0));
    assert_eq!(position(doc! {"b": 7, "a": 3}, doc.clone()), Some(2));
    assert_eq!(
        position(doc! {"a": 2, "c": {"$exists": false}}, doc.clone()),
        Some(1)
    );
    assert_eq!(
        position(doc! {"$or": [{"a": 9}, {"b": 8}]}, doc.clone()),
        Some(1)
    );
    // Negations record nothing.
    assert_eq!(position(doc! {"a": {"$ne": 9}}, doc.clone()), None);
    assert_eq!(position(doc! {"$nor": [{"a": 9}]}, doc), None);
}

#[test]
fn unmatched_documents_have_no_position() {
    let filter = Filter::compile(&doc! {"a": 2, "b": 9}).unwrap();
    let outcome = filter.evaluate(&doc! {"a": [1, 2], "b": 1}).unwrap();
    assert!(!outcome.matched);
    assert_eq!(outcome.array_position, None);
}

fn constraints(filter: Document) -> Vec<(String, PathConstraint)> {
    Filter::compile(&filter)
        .unwrap()
        .constraints()
        .into_iter()
        .map(|(path, constraint)| (path.as_str().to_owned(), constraint))
        .collect()
}

#[test]
fn constraints_from_the_top_level_conjunction() {
    let found = constraints(doc! {
        "a": 1,
        "b": {"$in": [3, 2]},
        "c": {"$gt": 1, "$lte": 5},
        "d.e": {"$eq": "x"},
        "$and": [{"f": true}, {"$and": [{"g": 2}]}],
        "$or": [{"h": 1}, {"i": 2}],
    });
    let any = |values: Vec<Bson>| PathConstraint::AnyOf(values);
    assert_eq!(
        found,
        vec![
            ("a".to_owned(), any(vec![Bson::Int32(1)])),
            ("b".to_owned(), any(vec![Bson::Int32(2), Bson::Int32(3)])),
            (
                "c".to_owned(),
                PathConstraint::Range {
                    lower: Some((Bson::Int32(1), false)),
                    upper: None
                }
            ),
            (
                "c".to_owned(),
                PathConstraint::Range {
                    lower: None,
                    upper: Some((Bson::Int32(5), true))
                }
            ),
            ("d.e".to_owned(), any(vec![Bson::String("x".into())])),
            ("f".to_owned(), any(vec![Bson::Boolean(true)])),
            ("g".to_owned(), any(vec![Bson::Int32(2)])),
        ]
    );
}

#[test]
fn constraints_skip_what_an_index_cannot_answer() {
    let none = [
        doc! {"a": null},
        doc! {"a": {"$in": [1, null]}},
        doc! {"a": {"$in": [1, bson::Regex { pattern: "x".try_into().unwrap(), options: "".try_into().unwrap() }]}},
        doc! {"a": [1, 2]},
        doc! {"a": {"b": 1}},
        doc! {"a": {"$ne": 1}},
        doc! {"a": {"$not": {"$gt": 1}}},
        doc! {"a": {"$gte": null}},
        doc! {"a": {"$lt": Bson::MaxKey}},
        doc! {"a": {"$exists": true}},
        doc! {"a": {"$elemMatch": {"$gt": 1}}},
        doc! {"$or": [{"a": 1}, {"b": 1}]},
        doc! {"$nor": [{"a": 1}]},
        doc! {"a": {"$regex": "^x"}},
    ];
    for filter in none {
        assert_eq!(constraints(filter.clone()), vec![], "{filter}");
    }
    assert_eq!(
        constraints(doc! {"$or": [{"a": 1}]}),
        vec![("a".to_owned(), PathConstraint::AnyOf(vec![Bson::Int32(1)]))]
    );
}

#[test]
fn a_test_that_never_holds_is_a_lookup_of_nothing() {
    for filter in [
        doc! {"a": {"$in": []}},
        doc! {"a": {"$all": []}},
        doc! {"a": {"$gt": 1, "$in": []}},
    ] {
        assert!(
            constraints(filter.clone()).contains(&("a".to_owned(), PathConstraint::AnyOf(vec![]))),
            "{filter}"
        );
    }
}

#[test]
fn constant_filters_read_no_document() {
    // Not even a malformed one: the outcome does not depend on the document.
    let malformed = bson::RawDocument::from_bytes(&[6, 0, 0, 0, 0x10, 0]).unwrap();
    assert!(Filter::compile(&doc! {"a": 1})
        .unwrap()
        .matches_raw(malformed)
        .is_err());
    for (filter, outcome) in [
        (doc! {}, true),
        (doc! {"a": {"$in": []}}, false),
        (doc! {"a": {"$nin": []}}, true),
        (
            doc! {"$and": [{"a": {"$all": []}}, {"$expr": {"$divide": [1, 0]}}]},
            false,
        ),
        (doc! {"$or": [{"a": {"$nin": []}}, {"b": 1}]}, true),
        (doc! {"$nor": [{"a": {"$in": []}}]}, true),
    ] {
        let compiled = Filter::compile(&filter).unwrap();
        assert_eq!(compiled.constant, Some(outcome), "{filter}");
        assert_eq!(
            compiled.matches_raw(malformed).unwrap(),
            outcome,
            "{filter}"
        );
        assert_eq!(
            compiled.matches(&doc! {"a": 1}).unwrap(),
            outcome,
            "{filter}"
        );
    }
    for filter in [
        doc! {"$or": [{"a": {"$in": []}}, {"b": 1}]},
        doc! {"$and": [{"a": {"$nin": []}}, {"b": 1}]},
        doc! {"$expr": true},
    ] {
        assert_eq!(Filter::compile(&filter).unwrap().constant, None, "{filter}");
    }
}

fn seed(filter: Document) -> crate::Result<Document> {
    Filter::compile(&filter).unwrap().upsert_seed()
}

#[test]
fn upsert_seed_from_equalities() {
    assert_eq!(
        seed(doc! {"_id": 7, "a": 1, "b.c": "x", "b.d": [1], "e": {"$gt": 1}}).unwrap(),
        doc! {"_id": 7, "a": 1, "b": {"c": "x", "d": [1]}}
    );
    assert_eq!(
        seed(doc! {"$and": [{"a": {"$eq": 1}}, {"$and": [{"b": null}]}], "c": {"$in": [5]}})
            .unwrap(),
        doc! {"a": 1, "b": null, "c": 5}
    );
    assert_eq!(seed(doc! {"$or": [{"a": 1}]}).unwrap(), doc! {"a": 1});
    assert_eq!(
        seed(doc! {"$or": [{"a": 1}, {"a": 2}], "b": {"$in": [1, 2]}, "c": {"$ne": 1}}).unwrap(),
        doc! {}
    );
    assert_eq!(
        seed(doc! {"a": {"$elemMatch": {"b": 1}}, "d": {"$not": {"$eq": 1}}}).unwrap(),
        doc! {}
    );
    assert_eq!(
        seed(doc! {"a": {"b": 1}, "x.0": 2}).unwrap(),
        doc! {"a": {"b": 1}, "x": {"0": 2}}
    );
}

#[test]
fn upsert_seed_conflicts() {
    let message = seed(doc! {"a": 1, "a.b": 2}).unwrap_err().to_string();
    assert!(message.contains("both paths `a` and `a.b`"), "{message}");
    let message = seed(doc! {"$and": [{"a": 1}, {"a": 1}]})
        .unwrap_err()
        .to_string();
    assert!(message.contains("`a` is matched twice"), "{message}");
    assert!(seed(doc! {"a.b": 1, "a": {"$eq": {"c": 1}}}).is_err());
    assert!(seed(doc! {"a": {"$all": [1, 2]}}).is_err());
    assert!(seed(doc! {"a.b": 1, "a.c": 2}).is_ok());
    assert!(seed(doc! {"a.b": 1, "ab": 2}).is_ok());
}

#[test]
fn deep_filters_hit_the_depth_limit() {
    let mut filter = doc! {"a": 1};
    for _ in 0..200 {
        filter = doc! {"$and": [filter]};
    }
    let error = Filter::compile(&filter).unwrap_err();
    assert_eq!(error.kind(), crate::ErrorKind::LimitExceeded);
    let mut value = doc! {"$gt": 1};
    for _ in 0..200 {
        value = doc! {"$not": value};
    }
    let error = Filter::compile(&doc! {"a": value}).unwrap_err();
    assert_eq!(error.kind(), crate::ErrorKind::LimitExceeded);
}

#[test]
fn compiled_filter_is_reusable_and_matches_is_evaluate() {
    let filter = Filter::compile(&doc! {"a": {"$in": [1, 2]}, "b": {"$exists": false}}).unwrap();
    for (doc, expected) in [
        (doc! {"a": 1}, true),
        (doc! {"a": [5, 2]}, true),
        (doc! {"a": 1, "b": null}, false),
        (doc! {"a": 3}, false),
    ] {
        assert_eq!(filter.matches(&doc).unwrap(), expected, "{doc}");
        assert_eq!(filter.evaluate(&doc).unwrap().matched, expected, "{doc}");
    }
}
