#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Runs the vendored MongoDB CRUD unified tests (`tests/crud-unified/`) against the embedded
//! store and enforces `PASSING.txt`. See that directory's README.

#[path = "support/unified_match.rs"]
mod unified_match;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bson::{Bson, Document};
use rampart_store::{
    EmbeddedStore, FindOneAndModifyOptions, FindOptions, IndexModel, Namespace, ReturnDocument,
    Store, StoreError, UpdateOptions, UpdateResult,
};
use unified_match::matches;

/// The server this store claims to behave like, for `runOnRequirements`.
const EMULATED_VERSION: [u32; 3] = [8, 2, 0];

#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Pass,
    Fail(String),
    OutOfScope(String),
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crud-unified")
}

fn to_bson(value: &serde_json::Value) -> Bson {
    rampart_mql::from_json_value(value)
        .ok()
        .or_else(|| Bson::try_from(value.clone()).ok())
        .unwrap_or(Bson::Null)
}

fn doc_of(value: Option<&Bson>) -> Document {
    match value {
        Some(Bson::Document(doc)) => doc.clone(),
        _ => Document::new(),
    }
}

fn version(text: &str) -> [u32; 3] {
    let mut parts = text.split('.').map(|part| part.parse().unwrap_or(0));
    [
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    ]
}

fn requirement_met(requirement: &Document) -> bool {
    requirement.iter().all(|(key, value)| match key.as_str() {
        "minServerVersion" => version(value.as_str().unwrap_or("0")) <= EMULATED_VERSION,
        "maxServerVersion" => version(value.as_str().unwrap_or("0")) >= EMULATED_VERSION,
        "topologies" => value.as_array().is_some_and(|list| {
            list.iter()
                .any(|t| matches!(t.as_str(), Some("single" | "replicaset")))
        }),
        "serverless" => value.as_str() != Some("require"),
        _ => false,
    })
}

fn requirements_reason(requirements: Option<&Bson>) -> Option<String> {
    let list = requirements?.as_array()?;
    let met = list
        .iter()
        .any(|r| matches!(r, Bson::Document(r) if requirement_met(r)));
    (!met).then(|| {
        format!(
            "runOnRequirements {} not met by a single 8.2 server",
            Bson::Array(list.clone())
        )
    })
}

/// Entities of a file: collection id → (namespace, options), database id → name.
#[derive(Default)]
struct Entities {
    collections: HashMap<String, (String, String, Document)>,
    databases: HashMap<String, String>,
}

fn entities(file: &Document) -> Entities {
    let mut out = Entities::default();
    let list = file
        .get_array("createEntities")
        .cloned()
        .unwrap_or_default();
    for entity in list.iter().filter_map(Bson::as_document) {
        if let Ok(db) = entity.get_document("database") {
            let id = db.get_str("id").unwrap_or_default().to_owned();
            out.databases.insert(
                id,
                db.get_str("databaseName").unwrap_or_default().to_owned(),
            );
        }
    }
    for entity in list.iter().filter_map(Bson::as_document) {
        if let Ok(coll) = entity.get_document("collection") {
            let id = coll.get_str("id").unwrap_or_default().to_owned();
            let db = out
                .databases
                .get(coll.get_str("database").unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            let name = coll
                .get_str("collectionName")
                .unwrap_or_default()
                .to_owned();
            out.collections
                .insert(id, (db, name, doc_of(coll.get("collectionOptions"))));
        }
    }
    out
}

const UNSUPPORTED_OPTIONS: [&str; 5] = ["hint", "collation", "let", "rawData", "writeConcern"];

fn has_key(value: &Bson, names: &[&str]) -> Option<String> {
    match value {
        Bson::Document(doc) => doc.iter().find_map(|(key, inner)| {
            if names.contains(&key.as_str()) {
                Some(key.clone())
            } else if key == "filter"
                || key == "document"
                || key == "documents"
                || key == "update"
                || key == "replacement"
                || key == "pipeline"
            {
                None
            } else {
                has_key(inner, names)
            }
        }),
        Bson::Array(items) => items.iter().find_map(|item| has_key(item, names)),
        _ => None,
    }
}

/// Why a test is out of scope, if it is.
fn scope_reason(test: &Document, entities: &Entities) -> Option<String> {
    if let Ok(reason) = test.get_str("skipReason") {
        return Some(format!("skipped upstream: {reason}"));
    }
    if let Some(reason) = requirements_reason(test.get("runOnRequirements")) {
        return Some(reason);
    }
    let operations = test.get_array("operations").cloned().unwrap_or_default();
    let mut asserts = test.contains_key("outcome");
    for op in operations.iter().filter_map(Bson::as_document) {
        let name = op.get_str("name").unwrap_or_default();
        let object = op.get_str("object").unwrap_or_default();
        let arguments = op
            .get("arguments")
            .cloned()
            .unwrap_or(Bson::Document(Document::new()));
        asserts |= op.contains_key("expectResult") || op.contains_key("expectError");
        if matches!(
            name,
            "failPoint" | "targetedFailPoint" | "clientBulkWrite" | "modifyCollection"
        ) {
            return Some(format!("operation `{name}`"));
        }
        if entities.databases.contains_key(object)
            && name != "createCollection"
            && name != "dropCollection"
        {
            return Some(format!("database-level `{name}`"));
        }
        let options = match entities.collections.get(object) {
            Some((_, _, options)) => options.clone(),
            None if entities.databases.contains_key(object) => Document::new(),
            None => return Some(format!("operation on entity `{object}`")),
        };
        if options
            .get_document("writeConcern")
            .is_ok_and(|wc| wc.get("w") == Some(&Bson::Int32(0)))
        {
            return Some("write concern w:0".to_owned());
        }
        if let Some(option) = has_key(&arguments, &UNSUPPORTED_OPTIONS) {
            return Some(format!("option `{option}`"));
        }
        if name == "createCollection" && has_key(&arguments, &["viewOn"]).is_some() {
            return Some("views".to_owned());
        }
        if name == "aggregate" {
            let pipeline = doc_of(Some(&arguments))
                .get_array("pipeline")
                .cloned()
                .unwrap_or_default();
            let writes = pipeline
                .iter()
                .filter_map(Bson::as_document)
                .any(|s| s.contains_key("$out") || s.contains_key("$merge"));
            if writes {
                return Some("`$out`/`$merge`".to_owned());
            }
        }
    }
    if !asserts {
        return Some("only `expectEvents` assertions".to_owned());
    }
    None
}

fn namespace(entities: &Entities, object: &str) -> Result<Namespace, String> {
    let (db, coll, _) = entities
        .collections
        .get(object)
        .ok_or_else(|| format!("unknown entity `{object}`"))?;
    Namespace::new(db, coll).map_err(|e| e.to_string())
}

fn setup(store: &dyn Store, file: &Document) -> Result<(), String> {
    for data in file
        .get_array("initialData")
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(Bson::as_document)
    {
        let ns = Namespace::new(
            data.get_str("databaseName").unwrap_or_default(),
            data.get_str("collectionName").unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        store
            .create_collection(&ns)
            .map_err(|e| format!("setup: {e}"))?;
        let docs: Vec<Document> = data
            .get_array("documents")
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.as_document().cloned())
            .collect();
        if !docs.is_empty() {
            store
                .insert_many(&ns, docs, true)
                .map_err(|e| format!("setup: {e}"))?;
        }
    }
    Ok(())
}

fn update_result(result: &UpdateResult) -> Bson {
    let mut doc = bson::doc! {
        "matchedCount": result.matched_count as i64,
        "modifiedCount": result.modified_count as i64,
        "upsertedCount": i64::from(result.upserted_id.is_some()),
    };
    if let Some(id) = &result.upserted_id {
        doc.insert("upsertedId", id.clone());
    }
    Bson::Document(doc)
}

fn modify_options(args: &Document) -> FindOneAndModifyOptions {
    FindOneAndModifyOptions {
        sort: args.get_document("sort").ok().cloned(),
        projection: args.get_document("projection").ok().cloned(),
        upsert: args.get_bool("upsert").unwrap_or(false),
        return_document: if args.get_str("returnDocument").ok() == Some("After") {
            ReturnDocument::After
        } else {
            ReturnDocument::Before
        },
        array_filters: array_filters(args),
    }
}

fn array_filters(args: &Document) -> Vec<Document> {
    args.get_array("arrayFilters")
        .map(|list| {
            list.iter()
                .filter_map(|d| d.as_document().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn count(value: u64) -> Bson {
    Bson::Int64(value as i64)
}

fn or_null(doc: Option<Document>) -> Bson {
    doc.map_or(Bson::Null, Bson::Document)
}

type OpResult = Result<Bson, StoreError>;

fn run_operation(
    store: &dyn Store,
    ns: &Namespace,
    name: &str,
    args: &Document,
) -> Result<OpResult, String> {
    let filter = doc_of(args.get("filter"));
    let update = args.get("update").cloned().unwrap_or(Bson::Null);
    let replacement = doc_of(args.get("replacement"));
    let upsert = args.get_bool("upsert").unwrap_or(false);
    let update_options = UpdateOptions {
        upsert,
        array_filters: array_filters(args),
        sort: args.get_document("sort").ok().cloned(),
    };
    let number = |key: &str| {
        args.get(key)
            .and_then(rampart_mql::number)
            .map(|n| n.as_f64() as i64)
    };
    Ok(match name {
        "find" | "findOne" => {
            let options = FindOptions {
                filter,
                projection: args.get_document("projection").ok().cloned(),
                sort: args.get_document("sort").ok().cloned(),
                skip: number("skip").unwrap_or(0).max(0) as u64,
                limit: if name == "findOne" {
                    Some(1)
                } else {
                    number("limit").map(|l| l.unsigned_abs())
                },
                batch_size: number("batchSize").map(|b| b.max(1) as usize),
            };
            store
                .find(ns, options)
                .and_then(|c| c.collect_all())
                .map(|docs| {
                    if name == "findOne" {
                        or_null(docs.into_iter().next())
                    } else {
                        Bson::Array(docs.into_iter().map(Bson::Document).collect())
                    }
                })
        }
        "countDocuments" | "count" => store
            .count_documents(
                ns,
                &filter,
                number("skip").unwrap_or(0).max(0) as u64,
                number("limit").map(|l| l.unsigned_abs()),
            )
            .map(count),
        "estimatedDocumentCount" => store.estimated_document_count(ns).map(count),
        "distinct" => store
            .distinct(ns, args.get_str("fieldName").unwrap_or_default(), &filter)
            .map(Bson::Array),
        "insertOne" => store
            .insert_one(ns, doc_of(args.get("document")))
            .map(|id| Bson::Document(bson::doc! {"insertedId": id})),
        "insertMany" => {
            let docs = args
                .get_array("documents")
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| d.as_document().cloned())
                .collect();
            store
                .insert_many(ns, docs, args.get_bool("ordered").unwrap_or(true))
                .map(|ids| {
                    let ids: Document = ids
                        .into_iter()
                        .enumerate()
                        .map(|(i, id)| (i.to_string(), id))
                        .collect();
                    Bson::Document(bson::doc! {"insertedIds": ids})
                })
        }
        "updateOne" => store
            .update_one(ns, &filter, &update, &update_options)
            .map(|r| update_result(&r)),
        "updateMany" => store
            .update_many(ns, &filter, &update, &update_options)
            .map(|r| update_result(&r)),
        "replaceOne" => store
            .replace_one(ns, &filter, replacement, &update_options)
            .map(|r| update_result(&r)),
        "deleteOne" => store
            .delete_one(ns, &filter)
            .map(|n| Bson::Document(bson::doc! {"deletedCount": n as i64})),
        "deleteMany" => store
            .delete_many(ns, &filter)
            .map(|n| Bson::Document(bson::doc! {"deletedCount": n as i64})),
        "findOneAndUpdate" => store
            .find_one_and_update(ns, &filter, &update, &modify_options(args))
            .map(or_null),
        "findOneAndReplace" => store
            .find_one_and_replace(ns, &filter, replacement, &modify_options(args))
            .map(or_null),
        "findOneAndDelete" => store
            .find_one_and_delete(ns, &filter, &modify_options(args))
            .map(or_null),
        "aggregate" => {
            let pipeline: Vec<Document> = args
                .get_array("pipeline")
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| d.as_document().cloned())
                .collect();
            store
                .aggregate(ns, &pipeline)
                .map(|docs| Bson::Array(docs.into_iter().map(Bson::Document).collect()))
        }
        "bulkWrite" => bulk_write(store, ns, args),
        "createIndex" => store
            .create_index(
                ns,
                IndexModel {
                    keys: doc_of(args.get("keys")),
                    name: args.get_str("name").ok().map(str::to_owned),
                    unique: args.get_bool("unique").unwrap_or(false),
                },
            )
            .map(Bson::String),
        "dropCollection" => store.drop_collection(ns).map(|_| Bson::Null),
        "createCollection" => store.create_collection(ns).map(|_| Bson::Null),
        other => {
            return Err(format!(
                "operation `{other}` is not supported by this runner"
            ))
        }
    })
}

#[derive(Default)]
struct BulkCounts {
    inserted: i64,
    matched: i64,
    modified: i64,
    deleted: i64,
    upserted: i64,
    inserted_ids: Document,
    upserted_ids: Document,
}

fn bulk_write(store: &dyn Store, ns: &Namespace, args: &Document) -> OpResult {
    let ordered = args.get_bool("ordered").unwrap_or(true);
    let mut counts = BulkCounts::default();
    let mut first_error = None;
    let requests = args.get_array("requests").cloned().unwrap_or_default();
    for (index, request) in requests.iter().filter_map(Bson::as_document).enumerate() {
        let Some((kind, Bson::Document(spec))) = request.iter().next() else {
            continue;
        };
        if let Err(error) = bulk_one(store, ns, kind, spec, index, &mut counts) {
            first_error.get_or_insert(error);
            if ordered {
                break;
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    Ok(Bson::Document(bson::doc! {
        "insertedCount": counts.inserted, "matchedCount": counts.matched, "modifiedCount": counts.modified,
        "deletedCount": counts.deleted, "upsertedCount": counts.upserted,
        "insertedIds": counts.inserted_ids, "upsertedIds": counts.upserted_ids,
    }))
}

fn bulk_one(
    store: &dyn Store,
    ns: &Namespace,
    kind: &str,
    spec: &Document,
    index: usize,
    counts: &mut BulkCounts,
) -> Result<(), StoreError> {
    let filter = doc_of(spec.get("filter"));
    let options = UpdateOptions {
        upsert: spec.get_bool("upsert").unwrap_or(false),
        array_filters: array_filters(spec),
        sort: spec.get_document("sort").ok().cloned(),
    };
    let update = spec.get("update").cloned().unwrap_or(Bson::Null);
    let result = match kind {
        "insertOne" => {
            let id = store.insert_one(ns, doc_of(spec.get("document")))?;
            counts.inserted += 1;
            counts.inserted_ids.insert(index.to_string(), id);
            return Ok(());
        }
        "deleteOne" | "deleteMany" => {
            counts.deleted += if kind == "deleteOne" {
                store.delete_one(ns, &filter)?
            } else {
                store.delete_many(ns, &filter)?
            } as i64;
            return Ok(());
        }
        "updateOne" => store.update_one(ns, &filter, &update, &options)?,
        "updateMany" => store.update_many(ns, &filter, &update, &options)?,
        "replaceOne" => {
            store.replace_one(ns, &filter, doc_of(spec.get("replacement")), &options)?
        }
        _ => {
            return Err(StoreError::Conflict(format!(
                "unknown bulk request `{kind}`"
            )))
        }
    };
    counts.matched += result.matched_count as i64;
    counts.modified += result.modified_count as i64;
    if let Some(id) = result.upserted_id {
        counts.upserted += 1;
        counts.upserted_ids.insert(index.to_string(), id);
    }
    Ok(())
}

fn check_operation(store: &dyn Store, entities: &Entities, op: &Document) -> Result<(), String> {
    let name = op.get_str("name").unwrap_or_default();
    let object = op.get_str("object").unwrap_or_default();
    let ns = namespace(entities, object)?;
    let args = doc_of(op.get("arguments"));
    let outcome = run_operation(store, &ns, name, &args)?;
    match (op.get_document("expectError").ok(), outcome) {
        (Some(_), Ok(result)) => Err(format!("`{name}` expected an error, got {result}")),
        (Some(_), Err(_)) => Ok(()),
        (None, Err(error)) => Err(format!("`{name}` failed: {error}")),
        (None, Ok(result)) => match op.get("expectResult") {
            Some(expected) => matches(expected, Some(&result), true, name),
            None => Ok(()),
        },
    }
}

fn check_outcome(store: &dyn Store, test: &Document) -> Result<(), String> {
    for data in test
        .get_array("outcome")
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(Bson::as_document)
    {
        let ns = Namespace::new(
            data.get_str("databaseName").unwrap_or_default(),
            data.get_str("collectionName").unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        let options = FindOptions {
            sort: Some(bson::doc! {"_id": 1}),
            ..FindOptions::default()
        };
        let actual = store
            .find(&ns, options)
            .and_then(|c| c.collect_all())
            .map_err(|e| format!("outcome: {e}"))?;
        let actual = Bson::Array(actual.into_iter().map(Bson::Document).collect());
        let expected = data
            .get("documents")
            .cloned()
            .unwrap_or(Bson::Array(Vec::new()));
        matches(&expected, Some(&actual), true, &format!("outcome {ns}"))?;
    }
    Ok(())
}

fn run_test(file: &Document, entities: &Entities, test: &Document) -> Verdict {
    if let Some(reason) = scope_reason(test, entities) {
        return Verdict::OutOfScope(reason);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let steps = || -> Result<(), String> {
        setup(&store, file)?;
        for op in test
            .get_array("operations")
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(Bson::as_document)
        {
            check_operation(&store, entities, op)?;
        }
        check_outcome(&store, test)
    };
    match steps() {
        Ok(()) => Verdict::Pass,
        Err(reason) => Verdict::Fail(reason),
    }
}

fn passing_list() -> BTreeSet<String> {
    std::fs::read_to_string(dir().join("PASSING.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn crud_unified() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let listed = passing_list();
    let mut seen = BTreeSet::new();
    let mut totals = BTreeMap::from([("pass", 0), ("fail", 0), ("out of scope", 0)]);
    let mut regressions = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Bson::Document(file) = to_bson(&json) else {
            panic!("{name} is not a document")
        };
        let entities = entities(&file);
        let file_reason = requirements_reason(file.get("runOnRequirements"));
        let (mut pass, mut fail, mut out) = (0, 0, 0);
        for test in file
            .get_array("tests")
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(Bson::as_document)
        {
            let description = test.get_str("description").unwrap_or_default();
            let key = format!("{name} :: {description}");
            let verdict = match &file_reason {
                Some(reason) => Verdict::OutOfScope(reason.clone()),
                None => run_test(&file, &entities, test),
            };
            match &verdict {
                Verdict::Pass => {
                    pass += 1;
                    println!("PASS {key}");
                    if !listed.contains(&key) {
                        println!("  newly passing, add it to PASSING.txt: {key}");
                    }
                }
                Verdict::Fail(reason) => {
                    fail += 1;
                    println!("FAIL {key}: {reason}");
                }
                Verdict::OutOfScope(reason) => {
                    out += 1;
                    println!("OUT  {key}: {reason}");
                }
            }
            if verdict != Verdict::Pass && listed.contains(&key) {
                regressions.push(key.clone());
            }
            seen.insert(key);
        }
        println!("== {name}: {pass} pass, {fail} fail, {out} out of scope");
        *totals.entry("pass").or_default() += pass;
        *totals.entry("fail").or_default() += fail;
        *totals.entry("out of scope").or_default() += out;
    }
    println!("== total: {totals:?}");
    let unknown: Vec<&String> = listed.difference(&seen).collect();
    assert!(
        unknown.is_empty(),
        "PASSING.txt lists tests that do not exist: {unknown:?}"
    );
    assert!(
        regressions.is_empty(),
        "listed in PASSING.txt but not passing: {regressions:#?}"
    );
}
