#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `Store::find_raw` gives exactly the documents of `Store::find`, in the same order and the
//! same batches, and fails with the same errors.

use bson::{doc, Bson, Document, RawDocumentBuf};
use rampart_store::{EmbeddedStore, FindOptions, IndexModel, Namespace, Store};

fn open() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

fn ns(coll: &str) -> Namespace {
    Namespace::new("app", coll).unwrap()
}

/// 60 documents with ties, arrays, nested documents and missing fields, and an index on `k`.
fn seeded() -> (tempfile::TempDir, EmbeddedStore) {
    let (dir, store) = open();
    let index = IndexModel {
        keys: doc! {"k": 1},
        name: None,
        unique: false,
    };
    store.create_index(&ns("c"), index).unwrap();
    let docs = (0..60)
        .map(|i| {
            let mut doc = doc! {
                "_id": i,
                "k": i % 7,
                "name": format!("n{}", i % 5),
                "a": {"b": (i * 13) % 11},
                "tags": [i % 3, i % 4],
            };
            if i % 6 == 0 {
                doc.remove("k");
            }
            if i % 9 == 0 {
                doc.insert("tags", Bson::Array(Vec::new()));
            }
            doc
        })
        .collect();
    store.insert_many(&ns("c"), docs, true).unwrap();
    (dir, store)
}

fn decode(raw: &RawDocumentBuf) -> Document {
    Document::try_from(raw.as_ref()).unwrap()
}

fn bytes(docs: &[Document]) -> Vec<Vec<u8>> {
    docs.iter().map(|doc| doc.to_vec().unwrap()).collect()
}

/// Both cursors batch by batch: the same batch sizes, the same documents.
fn batches(store: &EmbeddedStore, ns: &Namespace, options: &FindOptions) -> Vec<Vec<Document>> {
    let mut decoded = store.find(ns, options.clone()).unwrap();
    let mut raw = store.find_raw(ns, options.clone()).unwrap();
    let mut out = Vec::new();
    loop {
        let expected = decoded.next_batch().unwrap();
        let actual: Vec<Document> = raw.next_batch().unwrap().iter().map(decode).collect();
        assert_eq!(bytes(&expected), bytes(&actual), "options {options:?}");
        if expected.is_empty() {
            return out;
        }
        out.push(expected);
    }
}

/// The documents of both cursors, checked equal (as BSON, so NaN equals itself).
fn same_results(store: &EmbeddedStore, ns: &Namespace, options: FindOptions) -> Vec<Document> {
    let expected = store
        .find(ns, options.clone())
        .unwrap()
        .collect_all()
        .unwrap();
    let actual: Vec<Document> = store
        .find_raw(ns, options.clone())
        .unwrap()
        .collect_all()
        .unwrap()
        .iter()
        .map(decode)
        .collect();
    assert_eq!(bytes(&expected), bytes(&actual), "options {options:?}");
    batches(store, ns, &options);
    expected
}

#[test]
fn empty_filter_gives_every_document_in_id_order() {
    let (_dir, store) = seeded();
    let docs = same_results(&store, &ns("c"), FindOptions::default());
    assert_eq!(docs.len(), 60);
    assert_eq!(docs[59].get("_id"), Some(&Bson::Int32(59)));
}

#[test]
fn raw_documents_are_the_stored_bytes() {
    let (_dir, store) = open();
    let doc = doc! {"_id": 1, "x": {"y": [1.5, "z", null]}, "big": i64::MAX};
    store.insert_one(&ns("c"), doc.clone()).unwrap();
    let raw = store
        .find_raw(&ns("c"), FindOptions::default())
        .unwrap()
        .collect_all()
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].as_bytes(), doc.to_vec().unwrap().as_slice());
}

#[test]
fn filters_served_by_indexes_and_scans() {
    let (_dir, store) = seeded();
    let filters = [
        doc! {"k": 3},
        doc! {"k": {"$in": [1, 5, 99]}},
        doc! {"k": {"$gte": 4}},
        doc! {"k": null},
        doc! {"_id": {"$in": [3, 30, 300]}},
        doc! {"_id": {"$gt": 40}},
        doc! {"_id": 7, "name": "n2"},
        doc! {"a.b": {"$lt": 4}, "tags": 2},
        doc! {"$or": [{"k": 1}, {"name": "n4"}]},
        doc! {"tags": {"$size": 0}},
        doc! {"nothing": {"$exists": true}},
    ];
    for filter in filters {
        let plan = store.explain(&ns("c"), &filter, None).unwrap();
        let docs = same_results(&store, &ns("c"), FindOptions::filter(filter.clone()));
        assert!(
            filter.contains_key("nothing") || !docs.is_empty(),
            "{filter} ({}) found nothing",
            plan.stage
        );
    }
}

#[test]
fn sorts_keep_ties_in_id_order() {
    let (_dir, store) = seeded();
    let sorts = [
        doc! {"k": 1},
        doc! {"k": -1},
        doc! {"name": 1, "k": -1},
        doc! {"a.b": 1},
        doc! {"tags": -1},
        doc! {"tags": 1, "_id": -1},
        doc! {"missing": 1},
        doc! {},
    ];
    for sort in sorts {
        let options = FindOptions {
            sort: Some(sort),
            ..FindOptions::default()
        };
        assert_eq!(same_results(&store, &ns("c"), options).len(), 60);
    }
    let options = FindOptions {
        filter: doc! {"k": {"$gte": 2}},
        sort: Some(doc! {"name": -1}),
        skip: 3,
        limit: Some(11),
        batch_size: Some(4),
        ..FindOptions::default()
    };
    assert_eq!(same_results(&store, &ns("c"), options).len(), 11);
}

#[test]
fn skip_limit_and_batch_sizes() {
    let (_dir, store) = seeded();
    for (skip, limit) in [
        (0, None),
        (0, Some(0)),
        (5, Some(7)),
        (55, Some(10)),
        (70, None),
    ] {
        for batch_size in [None, Some(0), Some(1), Some(3), Some(59), Some(500)] {
            for filter in [doc! {}, doc! {"k": {"$in": [2, 4]}}, doc! {"name": "n1"}] {
                let options = FindOptions {
                    filter,
                    skip,
                    limit,
                    batch_size,
                    ..FindOptions::default()
                };
                same_results(&store, &ns("c"), options);
            }
        }
    }
    let options = FindOptions {
        skip: 1,
        batch_size: Some(4),
        filter: doc! {"_id": {"$lt": 10}},
        ..FindOptions::default()
    };
    let sizes: Vec<usize> = batches(&store, &ns("c"), &options)
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, vec![4, 4, 1]);
}

#[test]
fn projections_streamed_and_sorted() {
    let (_dir, store) = seeded();
    let cases = [
        (doc! {}, doc! {"name": 1}),
        (doc! {"k": 2}, doc! {"a": 0, "tags": 0}),
        (doc! {"tags": 3}, doc! {"tags.$": 1, "_id": 0}),
        (doc! {}, doc! {"a.b": 1, "k": 1}),
    ];
    for (filter, projection) in cases {
        for sort in [None, Some(doc! {"k": -1})] {
            let options = FindOptions {
                filter: filter.clone(),
                projection: Some(projection.clone()),
                sort,
                skip: 1,
                limit: Some(20),
                ..FindOptions::default()
            };
            assert!(!same_results(&store, &ns("c"), options).is_empty());
        }
    }
}

#[test]
fn missing_collection_is_empty() {
    let (_dir, store) = seeded();
    let options = FindOptions {
        filter: doc! {"k": 1},
        sort: Some(doc! {"k": 1}),
        ..FindOptions::default()
    };
    assert!(same_results(&store, &ns("missing"), options).is_empty());
    assert!(same_results(&store, &ns("missing"), FindOptions::default()).is_empty());
}

#[test]
fn bad_queries_fail_as_find_does() {
    let (_dir, store) = seeded();
    let cases = [
        FindOptions::filter(doc! {"k": {"$bogus": 1}}),
        FindOptions::filter(doc! {"$where": "true"}),
        FindOptions {
            sort: Some(doc! {"k": 2}),
            ..FindOptions::default()
        },
        FindOptions {
            sort: Some(doc! {"$natural": 1}),
            ..FindOptions::default()
        },
        FindOptions {
            projection: Some(doc! {"a": 1, "k": 0}),
            ..FindOptions::default()
        },
        // Fails on the first document, not at compile time.
        FindOptions {
            projection: Some(doc! {"tags.$": 1}),
            ..FindOptions::default()
        },
    ];
    for options in cases {
        for ns in [ns("c"), ns("missing")] {
            let expected = store
                .find(&ns, options.clone())
                .and_then(|cursor| cursor.collect_all());
            let actual = store
                .find_raw(&ns, options.clone())
                .and_then(|cursor| cursor.collect_all());
            match (expected, actual) {
                (Err(expected), Err(actual)) => {
                    assert_eq!(expected.code(), actual.code(), "{options:?}");
                    assert_eq!(expected.to_string(), actual.to_string(), "{options:?}");
                }
                // A missing collection has no document to fail on.
                (Ok(expected), Ok(actual)) if ns.collection() == "missing" => {
                    assert_eq!(expected.len(), actual.len())
                }
                (expected, actual) => {
                    panic!("{options:?} on {ns}: find {expected:?}, find_raw {actual:?}")
                }
            }
        }
    }
}

#[test]
fn raw_cursor_reads_one_snapshot() {
    let (_dir, store) = seeded();
    let mut cursor = store
        .find_raw(
            &ns("c"),
            FindOptions {
                batch_size: Some(7),
                ..FindOptions::default()
            },
        )
        .unwrap();
    let first = cursor.next_batch().unwrap();
    store.delete_many(&ns("c"), &doc! {}).unwrap();
    store.insert_one(&ns("c"), doc! {"_id": 100}).unwrap();
    let rest: Vec<RawDocumentBuf> = cursor.map(Result::unwrap).collect();
    assert_eq!(first.len() + rest.len(), 60);
}
