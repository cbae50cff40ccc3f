#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Inputs nested as deep as an input may be (`MAX_INPUT_DEPTH`, 200 levels, as a MongoDB
//! command) go through every part of the engine without exhausting the stack. The tests run on
//! libtest's threads, whose stacks are 2 MiB (tokio's workers have the same), and in debug
//! builds, where frames are largest; an overflow aborts the test binary.

use bson::{doc, Bson, Document};
use rampart_mql::{
    aggregate, find, parse_document, parse_value, update, ErrorKind, FindOptions, NoCollections,
    UpdateOptions, Variables, MAX_DEPTH, MAX_INPUT_DEPTH,
};

/// `{"<key>": {"<key>": ... leaf}}` as JSON text, `levels` objects deep.
fn wrapped(key: &str, levels: usize, leaf: &str) -> String {
    format!(
        "{}{leaf}{}",
        format!(r#"{{"{key}": "#).repeat(levels),
        "}".repeat(levels)
    )
}

/// `{"a": {"a": ... leaf}}` as JSON text, `depth` objects deep.
fn nested(depth: usize, leaf: &str) -> String {
    wrapped("a", depth, leaf)
}

/// MongoDB's nesting test query (`jstests/core/query/big_predicate.js`): `$and` in `$or` in
/// `$and` ..., four levels a step, `{e: 1}` at the bottom.
fn big_predicate(max_depth: usize) -> String {
    fn build(max_depth: usize, depth: usize) -> String {
        if depth + 1 >= max_depth {
            return r#"{"e": 1}"#.to_owned();
        }
        format!(
            r#"{{"$and": [{{"$or": [{}, {{"o": 0}}]}}, {{"a": 1}}]}}"#,
            build(max_depth, depth + 4)
        )
    }
    build(max_depth, 0)
}

fn depth_of(value: &Bson) -> usize {
    match value {
        Bson::Document(doc) => 1 + doc.values().map(depth_of).max().unwrap_or(0),
        Bson::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

fn find_with(docs: &[Document], filter: Document) -> rampart_mql::Result<Vec<Document>> {
    find(
        docs,
        &FindOptions {
            filter,
            ..FindOptions::default()
        },
    )
}

fn project(docs: &[Document], projection: Document) -> rampart_mql::Result<Vec<Document>> {
    find(
        docs,
        &FindOptions {
            projection: Some(projection),
            ..FindOptions::default()
        },
    )
}

#[test]
fn mongodb_nesting_test_query_runs_at_100_130_and_150() {
    let docs = [doc! {"_id": 1, "e": 1}];
    for max_depth in [100, 130, 150] {
        let filter = parse_document(&big_predicate(max_depth)).unwrap();
        assert!(depth_of(&Bson::Document(filter.clone())) >= max_depth - 3);
        assert_eq!(find_with(&docs, filter.clone()).unwrap(), vec![]);
        // Without `{a: 1}` beside it, the `{e: 1}` at the bottom decides.
        let either = doc! {"$or": [filter, {"e": 1}]};
        assert_eq!(find_with(&docs, either).unwrap(), docs.to_vec());
    }
    // Past 200 levels the text itself is refused, as MongoDB refuses the command.
    let error = parse_document(&big_predicate(200)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
}

/// `levels` nested `$and`s around `leaf`.
fn ands(levels: usize, leaf: &str) -> String {
    format!(
        "{}{leaf}{}",
        r#"{"$and": ["#.repeat(levels),
        "]}".repeat(levels)
    )
}

#[test]
fn operators_nest_100_levels_as_in_mongodb() {
    // MongoDB's parser allows 100 levels of `$and`/`$or`/`$nor` and object `$elemMatch`; an
    // operator document (`{$eq: 1}`) or a `$not` is not a level of its own. As text, 99 levels
    // is the most that fits in 200 levels of nesting.
    let docs = [doc! {"e": 1}];
    let filter = parse_document(&ands(MAX_DEPTH - 1, r#"{"e": 1}"#)).unwrap();
    assert_eq!(find_with(&docs, filter).unwrap(), docs.to_vec());
    let in_memory = |levels: usize| {
        (0..levels).fold(doc! {"e": {"$not": {"$eq": 2}}}, |inner, _| {
            doc! {"$and": [inner]}
        })
    };
    assert_eq!(
        find_with(&docs, in_memory(MAX_DEPTH)).unwrap(),
        docs.to_vec()
    );
    let error = find_with(&docs, in_memory(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LimitExceeded);
    assert!(
        error
            .message()
            .contains("filter nests deeper than 100 levels"),
        "{error}"
    );
    // `$not` 190 deep: an even number of them is the operator itself.
    let nots = |levels: usize| format!(r#"{{"e": {}}}"#, wrapped("$not", levels, r#"{"$gt": 0}"#));
    let filter = parse_document(&nots(190)).unwrap();
    assert_eq!(find_with(&docs, filter).unwrap(), docs.to_vec());
    let filter = parse_document(&nots(189)).unwrap();
    assert_eq!(find_with(&docs, filter).unwrap(), vec![]);
    // An expression keeps its own limit of 100 levels: 97 fit in the text, 101 are refused.
    let expression = |levels: usize| {
        (0..levels).fold(Bson::Int32(1), |inner, _| {
            Bson::Document(doc! {"$add": [1, inner]})
        })
    };
    let text = format!(
        r#"{{"$expr": {{"$eq": [{}, 98]}}}}"#,
        rampart_mql::to_json_string(&expression(97), rampart_mql::ExtJsonMode::Relaxed)
    );
    let filter = parse_document(&text).unwrap();
    assert_eq!(find_with(&docs, filter).unwrap(), docs.to_vec());
    let filter = doc! {"$expr": {"$eq": [expression(101), 0]}};
    let error = find_with(&docs, filter).unwrap_err();
    assert!(
        error.message().contains("expression nests deeper than 100"),
        "{error}"
    );
}

#[test]
fn deep_values_compare_and_deep_elem_match_runs() {
    let stored = parse_document(&nested(MAX_DEPTH, "1")).unwrap();
    let docs = [stored.clone()];
    // Equality with a value 199 levels deep, and with the stored one itself.
    let deep = parse_document(&nested(MAX_INPUT_DEPTH, "1")).unwrap();
    assert_eq!(find_with(&docs, deep.clone()).unwrap(), vec![]);
    assert_eq!(find_with(&docs, stored.clone()).unwrap(), docs.to_vec());
    let deep_in = doc! {"a": {"$in": [deep.get("a").unwrap().clone(), 5]}};
    assert_eq!(find_with(&docs, deep_in).unwrap(), vec![]);
    // 98 value-form `$elemMatch` levels (about 200 of nesting) over arrays 98 deep.
    let arrays = format!(r#"{{"a": {}1{}}}"#, "[".repeat(98), "]".repeat(98));
    let docs = [parse_document(&arrays).unwrap()];
    let elem_match = |levels: usize| {
        format!(
            r#"{{"a": {}}}"#,
            wrapped("$elemMatch", levels, r#"{"$eq": 1}"#)
        )
    };
    let filter = parse_document(&elem_match(98)).unwrap();
    assert_eq!(find_with(&docs, filter).unwrap(), docs.to_vec());
    let filter = parse_document(&elem_match(97)).unwrap();
    assert_eq!(find_with(&docs, filter).unwrap(), vec![]);
}

#[test]
fn deep_projections_run() {
    let docs = [parse_document(&nested(MAX_DEPTH, r#""x""#)).unwrap()];
    // A projection 199 levels deep, over a document 100 deep.
    let projection = parse_document(&nested(MAX_INPUT_DEPTH - 1, "1")).unwrap();
    let found = project(&docs, projection).unwrap();
    // The string at the bottom is not a document the path can go through: it is dropped, and
    // the document holding it stays, empty.
    let expected = parse_document(&nested(MAX_DEPTH - 1, "{}")).unwrap();
    assert_eq!(found, vec![expected]);
    let projection = parse_document(&nested(MAX_DEPTH, "1")).unwrap();
    let found = project(&docs, projection).unwrap();
    assert_eq!(found, docs.to_vec());
}

#[test]
fn updates_may_not_store_what_is_too_deep() {
    let mut docs = vec![doc! {"_id": 1}];
    let value = nested(MAX_INPUT_DEPTH - 2, "1");
    let set = parse_value(&format!(r#"{{"$set": {{"x": {value}}}}}"#)).unwrap();
    let error = update(&mut docs, &doc! {}, &set, &UpdateOptions::default()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
    assert_eq!(docs, vec![doc! {"_id": 1}]);
    // A pipeline update building the same, and an upsert seeded from a deep equality.
    let literal = nested(MAX_INPUT_DEPTH - 5, "1");
    let pipeline = parse_value(&format!(
        r#"[{{"$set": {{"x": {{"$literal": {literal}}}}}}}]"#
    ))
    .unwrap();
    let error = update(&mut docs, &doc! {}, &pipeline, &UpdateOptions::default()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
    let upsert = UpdateOptions {
        upsert: true,
        ..UpdateOptions::default()
    };
    let filter = parse_document(&nested(MAX_INPUT_DEPTH, "1")).unwrap();
    let set = parse_value(r#"{"$set": {"y": 1}}"#).unwrap();
    let error = update(&mut docs, &filter, &set, &upsert).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LimitExceeded, "{error}");
    assert_eq!(docs, vec![doc! {"_id": 1}]);
    // At the stored limit, the same update is applied.
    let value = nested(MAX_DEPTH - 1, "1");
    let set = parse_value(&format!(r#"{{"$set": {{"x": {value}}}}}"#)).unwrap();
    let outcome = update(&mut docs, &doc! {}, &set, &UpdateOptions::default()).unwrap();
    assert_eq!(outcome.modified_count, 1);
    assert_eq!(depth_of(&Bson::Document(docs[0].clone())), MAX_DEPTH);
}

#[test]
fn deep_pipelines_run() {
    let docs = vec![doc! {"_id": 1, "e": 1}];
    let literal = nested(MAX_INPUT_DEPTH - 5, r#""z""#);
    // An expression may nest 100 levels, an object expression's fields included.
    let group_id = nested(MAX_DEPTH - 1, r#""$e""#);
    let pipeline = format!(
        r#"[{{"$match": {}}}, {{"$project": {{"deep": {{"$literal": {literal}}}}}}},
            {{"$group": {{"_id": {group_id}, "n": {{"$sum": 1}}}}}}]"#,
        big_predicate(130)
    );
    let Bson::Array(stages) = parse_value(&pipeline).unwrap() else {
        panic!("not an array")
    };
    let stages: Vec<Document> = stages
        .into_iter()
        .map(|stage| match stage {
            Bson::Document(stage) => stage,
            other => panic!("not a stage: {other:?}"),
        })
        .collect();
    let out = aggregate(&docs, &stages, &NoCollections, &Variables::default()).unwrap();
    assert_eq!(out, vec![]);
    // Without the `$match`, the deep values flow through `$project` and `$group`.
    let out = aggregate(&docs, &stages[1..], &NoCollections, &Variables::default()).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].get_i32("n").unwrap(), 1);
    assert_eq!(depth_of(&Bson::Document(out[0].clone())), MAX_DEPTH);
}
