//! Data-driven engine tests: every `tests/cases/**/*.json` file is one test.
//!
//! A file holds shared `documents` (Extended JSON) and a list of `cases`; each case has a
//! `name`, one operation (`find`, `update`, `delete` or `aggregate`), and either `expected`
//! (the documents returned, or for `update`/`delete` the whole collection afterwards) or
//! `error` (a substring of the error message) with an optional `errorKind`. An `update` case
//! may give `outcome` (`matchedCount`, `modifiedCount`, `upsertedId`), a `delete` case
//! `deletedCount`. A case may override `documents`. With `"ignoreGeneratedIds": true`,
//! generated ObjectId `_id`s in the result are removed before comparing (upserts without an
//! `_id` in the filter). The cases are read with the `bson` crate's own Extended JSON reader so
//! that this harness does not depend on the engine's parser under test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use bson::{Bson, Document};
use rampart_mql::{
    DeleteOptions, ExtJsonMode, FindOptions, NoCollections, UpdateOptions, Variables,
};
use serde_json::Value;

fn to_bson(value: &Value) -> Bson {
    Bson::try_from(value.clone())
        .unwrap_or_else(|error| panic!("bad extended json {value}: {error}"))
}

fn to_doc(value: &Value) -> Document {
    match to_bson(value) {
        Bson::Document(doc) => doc,
        other => panic!("expected a document, got {other}"),
    }
}

fn to_docs(value: Option<&Value>) -> Vec<Document> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(to_doc).collect(),
        Some(other) => panic!("expected an array of documents, got {other}"),
    }
}

fn show(docs: &[Document]) -> String {
    docs.iter()
        .map(|doc| rampart_mql::to_json_string(&Bson::Document(doc.clone()), ExtJsonMode::Relaxed))
        .collect::<Vec<_>>()
        .join("\n    ")
}

/// Equality that treats documents as equal when `values_equal` says so but also requires the
/// same BSON types (so `1` and `1.0` differ: the engine must keep types).
fn same(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Bson::Double(x), Bson::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

fn strip_generated_ids(docs: &mut [Document]) {
    for doc in docs {
        if matches!(doc.get("_id"), Some(Bson::ObjectId(_))) {
            doc.remove("_id");
        }
    }
}

struct CaseResult {
    docs: Vec<Document>,
    extra: Document,
}

fn run_case(case: &Value, shared_docs: &[Document]) -> Result<CaseResult, rampart_mql::MqlError> {
    let mut docs = match case.get("documents") {
        Some(value) => to_docs(Some(value)),
        None => shared_docs.to_vec(),
    };
    let mut extra = Document::new();
    if let Some(find) = case.get("find") {
        let options = FindOptions {
            filter: find.get("filter").map(to_doc).unwrap_or_default(),
            projection: find.get("projection").map(to_doc),
            sort: find.get("sort").map(to_doc),
            skip: find.get("skip").and_then(Value::as_u64).unwrap_or(0),
            limit: find.get("limit").and_then(Value::as_u64),
            variables: Variables::new(),
        };
        return Ok(CaseResult {
            docs: rampart_mql::find(&docs, &options)?,
            extra,
        });
    }
    if let Some(update) = case.get("update") {
        let options = UpdateOptions {
            many: update.get("many").and_then(Value::as_bool).unwrap_or(false),
            upsert: update
                .get("upsert")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            array_filters: to_docs(update.get("arrayFilters")),
            variables: Variables::new().with_now(bson::DateTime::from_millis(1_700_000_000_000)),
        };
        let filter = update.get("filter").map(to_doc).unwrap_or_default();
        let spec = to_bson(
            update
                .get("update")
                .expect("update case needs `update.update`"),
        );
        let outcome = rampart_mql::update(&mut docs, &filter, &spec, &options)?;
        extra.insert("matchedCount", outcome.matched_count as i64);
        extra.insert("modifiedCount", outcome.modified_count as i64);
        if let Some(id) = outcome.upserted_id {
            extra.insert("upsertedId", id);
        }
        return Ok(CaseResult { docs, extra });
    }
    if let Some(delete) = case.get("delete") {
        let filter = delete.get("filter").map(to_doc).unwrap_or_default();
        let options = DeleteOptions {
            many: delete.get("many").and_then(Value::as_bool).unwrap_or(false),
            variables: Variables::new(),
        };
        let deleted = rampart_mql::delete(&mut docs, &filter, &options)?;
        extra.insert("deletedCount", deleted as i64);
        return Ok(CaseResult { docs, extra });
    }
    if let Some(aggregate) = case.get("aggregate") {
        let pipeline = to_docs(aggregate.get("pipeline"));
        let collections: Vec<(String, Vec<Document>)> = aggregate
            .get("collections")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(name, docs)| (name.clone(), to_docs(Some(docs))))
                    .collect()
            })
            .unwrap_or_default();
        let variables = Variables::new().with_now(bson::DateTime::from_millis(1_700_000_000_000));
        let result = if collections.is_empty() {
            rampart_mql::aggregate(&docs, &pipeline, &NoCollections, &variables)?
        } else {
            rampart_mql::aggregate(&docs, &pipeline, &Collections(collections), &variables)?
        };
        return Ok(CaseResult {
            docs: result,
            extra,
        });
    }
    panic!("case has no operation (find, update, delete or aggregate)")
}

struct Collections(Vec<(String, Vec<Document>)>);

impl rampart_mql::CollectionSource for Collections {
    fn documents(&self, collection: &str) -> rampart_mql::Result<Vec<Document>> {
        Ok(self
            .0
            .iter()
            .find(|(name, _)| name == collection)
            .map(|(_, docs)| docs.clone())
            .unwrap_or_default())
    }
}

fn check_case(case: &Value, shared_docs: &[Document]) -> Result<(), String> {
    let result = run_case(case, shared_docs);
    if let Some(expected_error) = case.get("error") {
        let expected_error = expected_error.as_str().unwrap_or("");
        return match result {
            Ok(result) => Err(format!(
                "expected error containing `{expected_error}`, got\n    {}",
                show(&result.docs)
            )),
            Err(error) => {
                if !error.message().contains(expected_error) {
                    return Err(format!(
                        "expected error containing `{expected_error}`, got `{error}`"
                    ));
                }
                if let Some(kind) = case.get("errorKind").and_then(Value::as_str) {
                    if error.kind().name() != kind {
                        return Err(format!(
                            "expected error kind {kind}, got {} (`{error}`)",
                            error.kind()
                        ));
                    }
                }
                Ok(())
            }
        };
    }
    let mut result =
        result.map_err(|error| format!("unexpected error: {error} ({})", error.kind()))?;
    if case
        .get("ignoreGeneratedIds")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        strip_generated_ids(&mut result.docs);
    }
    let expected = to_docs(case.get("expected"));
    let equal = expected.len() == result.docs.len()
        && expected
            .iter()
            .zip(&result.docs)
            .all(|(e, a)| same(&Bson::Document(e.clone()), &Bson::Document(a.clone())));
    if !equal {
        return Err(format!(
            "expected\n    {}\ngot\n    {}",
            show(&expected),
            show(&result.docs)
        ));
    }
    for key in ["outcome"] {
        if let Some(outcome) = case.get(key) {
            let outcome = to_doc(outcome);
            for (field, value) in &outcome {
                let actual = result.extra.get(field).cloned().unwrap_or(Bson::Null);
                if !rampart_mql::values_equal(value, &actual) {
                    return Err(format!("{field}: expected {value}, got {actual}"));
                }
            }
        }
    }
    if let Some(count) = case.get("deletedCount") {
        let actual = result.extra.get_i64("deletedCount").unwrap_or(-1);
        if count.as_i64() != Some(actual) {
            return Err(format!("deletedCount: expected {count}, got {actual}"));
        }
    }
    Ok(())
}

fn run_file(path: &Path) -> datatest_stable::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let file: Value = serde_json::from_str(&text)?;
    let shared_docs = to_docs(file.get("documents"));
    let cases = file
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("file has no `cases` array")?;
    let mut failures = Vec::new();
    for case in cases {
        let name = case
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        if let Err(message) = check_case(case, &shared_docs) {
            failures.push(format!("case `{name}`: {message}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        )
        .into())
    }
}

datatest_stable::harness! {
    { test = run_file, root = "tests/cases", pattern = r"\.json$" },
}
