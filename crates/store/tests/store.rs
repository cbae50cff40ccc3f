#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every `Store` method and every bad-input error, against a temporary data directory.

use std::sync::Arc;

use bson::{doc, oid::ObjectId, Bson, Document};
use rampart_store::{
    EmbeddedStore, FindOneAndModifyOptions, FindOptions, IndexModel, Namespace, ReturnDocument,
    Store, StoreError, UpdateOptions,
};

fn open() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("data")).unwrap();
    (dir, store)
}

fn ns(coll: &str) -> Namespace {
    Namespace::new("app", coll).unwrap()
}

fn all(store: &dyn Store, ns: &Namespace) -> Vec<Document> {
    store
        .find(ns, FindOptions::default())
        .unwrap()
        .collect_all()
        .unwrap()
}

fn find(store: &dyn Store, ns: &Namespace, filter: Document) -> Vec<Document> {
    store
        .find(ns, FindOptions::filter(filter))
        .unwrap()
        .collect_all()
        .unwrap()
}

fn ids(docs: &[Document]) -> Vec<Bson> {
    docs.iter()
        .map(|doc| doc.get("_id").cloned().unwrap())
        .collect()
}

fn seed(store: &dyn Store, ns: &Namespace, docs: Vec<Document>) {
    store.insert_many(ns, docs, true).unwrap();
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("data");
    {
        let store = EmbeddedStore::open(&path).unwrap();
        store
            .insert_one(&ns("c"), doc! {"_id": 1, "a": "x"})
            .unwrap();
        store
            .create_index(
                &ns("c"),
                IndexModel {
                    keys: doc! {"a": 1},
                    name: None,
                    unique: true,
                },
            )
            .unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(all(&store, &ns("c")), vec![doc! {"_id": 1, "a": "x"}]);
    assert_eq!(store.list_indexes(&ns("c")).unwrap().len(), 2);
    assert!(path.join(rampart_store::FILE_NAME).exists());
}

#[test]
fn second_open_of_the_same_directory_is_locked() {
    let (dir, store) = open();
    let error = EmbeddedStore::open(&dir.path().join("data")).unwrap_err();
    assert!(matches!(error, StoreError::Locked(_)), "{error}");
    assert!(error.to_string().contains("already open"), "{error}");
    drop(store);
    EmbeddedStore::open(&dir.path().join("data")).unwrap();
}

#[test]
fn foreign_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(rampart_store::FILE_NAME),
        b"hello, not a database at all",
    )
    .unwrap();
    let error = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(!error.to_string().contains("hello"), "{error}");
    // The file is left as it was.
    assert_eq!(
        std::fs::read(dir.path().join(rampart_store::FILE_NAME)).unwrap(),
        b"hello, not a database at all"
    );
}

#[test]
fn redb_file_of_another_program_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(dir.path().join(rampart_store::FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, &str>::new("other"))
            .unwrap()
            .insert("k", "v")
            .unwrap();
        txn.commit().unwrap();
    }
    let error = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

#[test]
fn unknown_format_version_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    drop(EmbeddedStore::open(dir.path()).unwrap());
    {
        let db = redb::Database::create(dir.path().join(rampart_store::FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        let meta = redb::TableDefinition::<&str, u64>::new("meta");
        txn.open_table(meta)
            .unwrap()
            .insert("format_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let error = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("format version 99"), "{error}");
}

#[test]
fn damaged_file_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let docs = (0..200)
            .map(|i| doc! {"_id": i, "pad": "x".repeat(100)})
            .collect();
        seed(&store, &ns("c"), docs);
    }
    let file = dir.path().join(rampart_store::FILE_NAME);
    let mut bytes = std::fs::read(&file).unwrap();
    let len = bytes.len();
    for byte in bytes.iter_mut().skip(4096).take(len - 4096) {
        *byte ^= 0x5A;
    }
    std::fs::write(&file, &bytes).unwrap();
    let error = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

#[test]
fn invalid_names_are_rejected() {
    let (_dir, store) = open();
    assert_eq!(Namespace::new("a.b", "c").unwrap_err().code(), 73);
    assert_eq!(Namespace::new("db", "system.x").unwrap_err().code(), 73);
    assert_eq!(store.list_collections("a b").unwrap_err().code(), 73);
    assert_eq!(store.drop_database("").unwrap_err().code(), 73);
    let error = Namespace::new("db", "a$b").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid namespace `db.a$b`: collection names cannot contain `$`"
    );
}

#[test]
fn databases_and_collections() {
    let (_dir, store) = open();
    store.create_collection(&ns("b")).unwrap();
    store.insert_one(&ns("a"), doc! {"x": 1}).unwrap();
    store
        .insert_one(&Namespace::new("other", "z").unwrap(), doc! {"x": 1})
        .unwrap();
    assert_eq!(store.list_databases().unwrap(), vec!["app", "other"]);
    assert_eq!(store.list_collections("app").unwrap(), vec!["a", "b"]);
    let error = store.create_collection(&ns("b")).unwrap_err();
    assert_eq!(error.code(), 48);
    assert!(store.drop_collection(&ns("a")).unwrap());
    assert!(!store.drop_collection(&ns("a")).unwrap());
    assert_eq!(all(&store, &ns("a")), Vec::<Document>::new());
    assert!(store.drop_database("other").unwrap());
    assert!(!store.drop_database("other").unwrap());
    assert_eq!(store.list_databases().unwrap(), vec!["app"]);
}

#[test]
fn insert_generates_object_id_first() {
    let (_dir, store) = open();
    let id = store.insert_one(&ns("c"), doc! {"a": 1}).unwrap();
    assert!(matches!(id, Bson::ObjectId(_)));
    let stored = all(&store, &ns("c"));
    assert_eq!(stored[0].keys().next().unwrap(), "_id");
    // An explicit `_id` moves to the front too.
    store.insert_one(&ns("d"), doc! {"a": 1, "_id": 7}).unwrap();
    assert_eq!(all(&store, &ns("d")), vec![doc! {"_id": 7, "a": 1}]);
    let ids = store
        .insert_many(&ns("e"), vec![doc! {"_id": 2}, doc! {}], true)
        .unwrap();
    assert_eq!(ids[0], Bson::Int32(2));
    assert!(matches!(ids[1], Bson::ObjectId(_)));
}

#[test]
fn duplicate_id_is_a_duplicate_key() {
    let (_dir, store) = open();
    store
        .insert_one(&ns("c"), doc! {"_id": 1, "v": "first"})
        .unwrap();
    let error = store
        .insert_one(&ns("c"), doc! {"_id": 1.0, "v": "second"})
        .unwrap_err();
    assert_eq!(error.code(), 11000);
    assert!(error.to_string().contains("`_id_`"), "{error}");
    assert_eq!(all(&store, &ns("c")), vec![doc! {"_id": 1, "v": "first"}]);
}

fn unique_a(store: &dyn Store, coll: &str) {
    store
        .create_index(
            &ns(coll),
            IndexModel {
                keys: doc! {"a": 1},
                name: None,
                unique: true,
            },
        )
        .unwrap();
}

#[test]
fn insert_many_ordered_stops_at_the_first_duplicate() {
    let (_dir, store) = open();
    unique_a(&store, "c");
    let docs = vec![
        doc! {"_id": 1, "a": 1},
        doc! {"_id": 2, "a": 1},
        doc! {"_id": 3, "a": 3},
    ];
    let error = store.insert_many(&ns("c"), docs, true).unwrap_err();
    let StoreError::BulkWrite(failure) = &error else {
        panic!("{error}")
    };
    assert_eq!(
        failure.inserted_ids.keys().copied().collect::<Vec<_>>(),
        vec![0]
    );
    assert_eq!(failure.errors.len(), 1);
    assert_eq!(failure.errors[0].0, 1);
    assert_eq!(failure.errors[0].1.code(), 11000);
    assert_eq!(error.code(), 11000);
    assert_eq!(ids(&all(&store, &ns("c"))), vec![Bson::Int32(1)]);
}

#[test]
fn insert_many_unordered_continues_after_duplicates() {
    let (_dir, store) = open();
    unique_a(&store, "c");
    let docs = vec![
        doc! {"_id": 1, "a": 1},
        doc! {"_id": 2, "a": 1},
        doc! {"_id": 1, "a": 9},
        doc! {"_id": 3, "a": 3},
    ];
    let error = store.insert_many(&ns("c"), docs, false).unwrap_err();
    let StoreError::BulkWrite(failure) = &error else {
        panic!("{error}")
    };
    assert_eq!(
        failure.inserted_ids.keys().copied().collect::<Vec<_>>(),
        vec![0, 3]
    );
    let failed: Vec<usize> = failure.errors.iter().map(|(index, _)| *index).collect();
    assert_eq!(failed, vec![1, 2]);
    assert_eq!(
        ids(&all(&store, &ns("c"))),
        vec![Bson::Int32(1), Bson::Int32(3)]
    );
    // The failed documents left no index entries behind: their keys are free.
    store.insert_one(&ns("c"), doc! {"_id": 9, "a": 9}).unwrap();
}

#[test]
fn unique_index_rejects_duplicates_on_update_and_keeps_state() {
    let (_dir, store) = open();
    unique_a(&store, "c");
    seed(
        &store,
        &ns("c"),
        vec![doc! {"_id": 1, "a": 1}, doc! {"_id": 2, "a": 2}],
    );
    let error = store
        .update_one(
            &ns("c"),
            &doc! {"_id": 2},
            &Bson::Document(doc! {"$set": {"a": 1}}),
            &UpdateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(error.code(), 11000);
    assert!(error.to_string().contains("`a_1`"), "{error}");
    let error = store
        .update_many(
            &ns("c"),
            &doc! {},
            &Bson::Document(doc! {"$set": {"a": 5}}),
            &UpdateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(error.code(), 11000);
    // update_many is atomic: nothing changed.
    assert_eq!(
        all(&store, &ns("c")),
        vec![doc! {"_id": 1, "a": 1}, doc! {"_id": 2, "a": 2}]
    );
    // A document may keep its own key.
    store
        .replace_one(
            &ns("c"),
            &doc! {"_id": 1},
            doc! {"a": 1, "b": true},
            &UpdateOptions::default(),
        )
        .unwrap();
    // Missing fields index as null: one document without `a` is fine, two are not.
    store.insert_one(&ns("c"), doc! {"_id": 3}).unwrap();
    assert_eq!(
        store
            .insert_one(&ns("c"), doc! {"_id": 4})
            .unwrap_err()
            .code(),
        11000
    );
}

#[test]
fn unique_index_over_duplicates_fails_and_leaves_nothing() {
    let (_dir, store) = open();
    seed(
        &store,
        &ns("c"),
        vec![doc! {"_id": 1, "a": 1}, doc! {"_id": 2, "a": 1.0}],
    );
    let error = store
        .create_index(
            &ns("c"),
            IndexModel {
                keys: doc! {"a": 1},
                name: None,
                unique: true,
            },
        )
        .unwrap_err();
    assert_eq!(error.code(), 11000);
    let names: Vec<String> = store
        .list_indexes(&ns("c"))
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec!["_id_"]);
    assert_eq!(all(&store, &ns("c")).len(), 2);
    // The same index without `unique` builds.
    store
        .create_index(
            &ns("c"),
            IndexModel {
                keys: doc! {"a": 1},
                name: None,
                unique: false,
            },
        )
        .unwrap();
}

#[test]
fn index_management() {
    let (_dir, store) = open();
    let name = store
        .create_index(
            &ns("c"),
            IndexModel {
                keys: doc! {"a": 1, "b": -1},
                name: None,
                unique: false,
            },
        )
        .unwrap();
    assert_eq!(name, "a_1_b_-1");
    // Creating it again is a no-op; a conflicting spec is an error.
    store
        .create_index(
            &ns("c"),
            IndexModel {
                keys: doc! {"a": 1, "b": -1},
                name: None,
                unique: false,
            },
        )
        .unwrap();
    let conflict = store
        .create_index(
            &ns("c"),
            IndexModel {
                keys: doc! {"a": 1, "b": -1},
                name: None,
                unique: true,
            },
        )
        .unwrap_err();
    assert!(
        matches!(conflict, StoreError::InvalidIndex { .. }),
        "{conflict}"
    );
    let bad = store
        .create_index(
            &ns("c"),
            IndexModel {
                keys: doc! {"a": "text"},
                name: None,
                unique: false,
            },
        )
        .unwrap_err();
    assert!(matches!(bad, StoreError::InvalidIndex { .. }), "{bad}");
    let indexes = store.list_indexes(&ns("c")).unwrap();
    assert_eq!(indexes[0].name, "_id_");
    assert!(indexes[0].unique);
    assert_eq!(indexes[1].keys, doc! {"a": 1, "b": -1});
    assert_eq!(store.drop_index(&ns("c"), "nope").unwrap_err().code(), 27);
    assert!(store.drop_index(&ns("c"), "_id_").is_err());
    store.drop_index(&ns("c"), "a_1_b_-1").unwrap();
    assert_eq!(store.list_indexes(&ns("c")).unwrap().len(), 1);
    assert_eq!(store.list_indexes(&ns("missing")).unwrap_err().code(), 26);
}

#[test]
fn oversized_and_too_deep_documents_are_rejected() {
    let (_dir, store) = open();
    seed(&store, &ns("c"), vec![doc! {"_id": 1, "a": 1}]);
    let big = doc! {"_id": 2, "blob": "x".repeat(16 * 1024 * 1024)};
    let error = store.insert_one(&ns("c"), big).unwrap_err();
    assert!(
        matches!(error, StoreError::DocumentTooLarge { .. }),
        "{error}"
    );
    let mut deep = Bson::Int32(1);
    for _ in 0..120 {
        deep = Bson::Document(doc! {"a": deep});
    }
    let error = store
        .insert_one(&ns("c"), doc! {"_id": 3, "d": deep.clone()})
        .unwrap_err();
    assert_eq!(error.code(), 10334, "{error}");
    let error = store
        .replace_one(
            &ns("c"),
            &doc! {"_id": 1},
            doc! {"d": deep},
            &UpdateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(error.code(), 10334, "{error}");
    assert_eq!(all(&store, &ns("c")), vec![doc! {"_id": 1, "a": 1}]);
}

#[test]
fn invalid_field_names_are_rejected() {
    let (_dir, store) = open();
    for bad in [doc! {"": 1}, doc! {"_id": [1, 2]}, doc! {"_id": {"$a": 1}}] {
        assert!(store.insert_one(&ns("c"), bad).is_err());
    }
    // `$`-prefixed and dotted names are stored as they are, as in MongoDB 5.0+.
    store
        .insert_one(&ns("c"), doc! {"$a": 1, "b": {"$c": 1}, "d.e": 2})
        .unwrap();
    assert_eq!(all(&store, &ns("c")).len(), 1);
}

fn numbers(store: &dyn Store, coll: &str, n: i32) {
    let docs = (1..=n)
        .map(|i| doc! {"_id": i, "n": i, "even": i % 2 == 0})
        .collect();
    seed(store, &ns(coll), docs);
}

#[test]
fn find_with_sort_skip_limit_projection_and_batches() {
    let (_dir, store) = open();
    numbers(&store, "c", 10);
    let options = FindOptions {
        filter: doc! {"even": true},
        projection: Some(doc! {"n": 1, "_id": 0}),
        sort: Some(doc! {"n": -1}),
        skip: 1,
        limit: Some(3),
        batch_size: None,
    };
    let docs = store
        .find(&ns("c"), options)
        .unwrap()
        .collect_all()
        .unwrap();
    assert_eq!(docs, vec![doc! {"n": 8}, doc! {"n": 6}, doc! {"n": 4}]);
    let mut cursor = store
        .find(
            &ns("c"),
            FindOptions {
                batch_size: Some(4),
                skip: 1,
                ..FindOptions::default()
            },
        )
        .unwrap();
    let sizes: Vec<usize> = std::iter::from_fn(|| {
        let batch = cursor.next_batch().unwrap();
        (!batch.is_empty()).then_some(batch.len())
    })
    .collect();
    assert_eq!(sizes, vec![4, 4, 1]);
    assert!(find(&store, &ns("missing"), doc! {}).is_empty());
}

#[test]
fn cursor_reads_one_snapshot() {
    let (_dir, store) = open();
    numbers(&store, "c", 10);
    let mut cursor = store
        .find(
            &ns("c"),
            FindOptions {
                batch_size: Some(3),
                ..FindOptions::default()
            },
        )
        .unwrap();
    let first = cursor.next_batch().unwrap();
    store.delete_many(&ns("c"), &doc! {}).unwrap();
    store.insert_one(&ns("c"), doc! {"_id": 100}).unwrap();
    let rest: Vec<Document> = cursor.map(Result::unwrap).collect();
    assert_eq!(first.len() + rest.len(), 10);
}

#[test]
fn count_distinct_and_estimated_count() {
    let (_dir, store) = open();
    seed(
        &store,
        &ns("c"),
        vec![
            doc! {"_id": 1, "tags": ["a", "b"], "x": {"y": 1}},
            doc! {"_id": 2, "tags": "a", "x": [{"y": 2}, {"y": 1.0}]},
            doc! {"_id": 3, "x": {"y": 3}},
        ],
    );
    assert_eq!(
        store.count_documents(&ns("c"), &doc! {}, 0, None).unwrap(),
        3
    );
    assert_eq!(
        store
            .count_documents(&ns("c"), &doc! {}, 1, Some(1))
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_documents(&ns("c"), &doc! {"tags": "a"}, 0, None)
            .unwrap(),
        2
    );
    // skip and limit bound the count (a limit stops the scan early).
    for (skip, limit, expected) in [
        (0, Some(2), 2),
        (2, Some(5), 1),
        (3, Some(1), 0),
        (5, None, 0),
        (0, Some(0), 3),
        (u64::MAX, Some(u64::MAX), 0),
        (1, Some(u64::MAX), 2),
    ] {
        assert_eq!(
            store
                .count_documents(&ns("c"), &doc! {}, skip, limit)
                .unwrap(),
            expected,
            "skip {skip}, limit {limit:?}"
        );
    }
    assert_eq!(store.estimated_document_count(&ns("c")).unwrap(), 3);
    assert_eq!(store.estimated_document_count(&ns("none")).unwrap(), 0);
    let tags = store.distinct(&ns("c"), "tags", &doc! {}).unwrap();
    assert_eq!(
        tags,
        vec![Bson::String("a".into()), Bson::String("b".into())]
    );
    let ys = store
        .distinct(&ns("c"), "x.y", &doc! {"_id": {"$lt": 3}})
        .unwrap();
    assert_eq!(ys.len(), 2);
}

fn update(doc: Document) -> Bson {
    Bson::Document(doc)
}

#[test]
fn updates_replacements_and_upserts() {
    let (_dir, store) = open();
    numbers(&store, "c", 4);
    let c = ns("c");
    let none = UpdateOptions::default();
    let result = store
        .update_one(
            &c,
            &doc! {"even": true},
            &update(doc! {"$inc": {"n": 10}}),
            &none,
        )
        .unwrap();
    assert_eq!((result.matched_count, result.modified_count), (1, 1));
    assert_eq!(
        find(&store, &c, doc! {"_id": 2})[0].get_i32("n").unwrap(),
        12
    );
    let result = store
        .update_many(&c, &doc! {}, &update(doc! {"$set": {"even": false}}), &none)
        .unwrap();
    assert_eq!((result.matched_count, result.modified_count), (4, 2));
    let upsert = UpdateOptions {
        upsert: true,
        ..UpdateOptions::default()
    };
    let result = store
        .update_one(
            &c,
            &doc! {"_id": 9},
            &update(doc! {"$set": {"n": 9}}),
            &upsert,
        )
        .unwrap();
    assert_eq!(result.upserted_id, Some(Bson::Int32(9)));
    assert_eq!(
        find(&store, &c, doc! {"_id": 9}),
        vec![doc! {"_id": 9, "n": 9}]
    );
    let result = store
        .replace_one(
            &c,
            &doc! {"_id": 1},
            doc! {"r": true},
            &UpdateOptions::default(),
        )
        .unwrap();
    assert_eq!(result.modified_count, 1);
    assert_eq!(
        find(&store, &c, doc! {"_id": 1}),
        vec![doc! {"_id": 1, "r": true}]
    );
    let error = store
        .replace_one(
            &c,
            &doc! {"_id": 1},
            doc! {"$set": {"a": 1}},
            &UpdateOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(error, StoreError::Query(_)), "{error}");
    let error = store
        .replace_one(
            &c,
            &doc! {"_id": 1},
            doc! {"_id": 5},
            &UpdateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(error.code(), 66);
    let result = store
        .replace_one(
            &c,
            &doc! {"_id": 20},
            doc! {"r": 20},
            &UpdateOptions {
                upsert: true,
                ..UpdateOptions::default()
            },
        )
        .unwrap();
    assert_eq!(result.upserted_id, Some(Bson::Int32(20)));
    assert_eq!(
        store
            .delete_one(&c, &doc! {"r": {"$exists": true}})
            .unwrap(),
        1
    );
    assert_eq!(
        store.delete_many(&c, &doc! {"_id": {"$gte": 3}}).unwrap(),
        4
    );
    assert_eq!(ids(&all(&store, &c)), vec![Bson::Int32(2)]);
}

#[test]
fn update_one_and_replace_one_follow_sort() {
    let (_dir, store) = open();
    numbers(&store, "c", 4);
    let c = ns("c");
    let last_first = UpdateOptions {
        sort: Some(doc! {"n": -1}),
        ..UpdateOptions::default()
    };
    store
        .update_one(
            &c,
            &doc! {},
            &update(doc! {"$set": {"hit": 1}}),
            &last_first,
        )
        .unwrap();
    assert_eq!(
        ids(&find(&store, &c, doc! {"hit": 1})),
        vec![Bson::Int32(4)]
    );
    store
        .replace_one(
            &c,
            &doc! {"n": {"$lt": 4}},
            doc! {"replaced": true},
            &last_first,
        )
        .unwrap();
    assert_eq!(
        ids(&find(&store, &c, doc! {"replaced": true})),
        vec![Bson::Int32(3)]
    );
}

#[test]
fn find_one_and_modify() {
    let (_dir, store) = open();
    numbers(&store, "c", 4);
    let c = ns("c");
    let mut options = FindOneAndModifyOptions {
        sort: Some(doc! {"n": -1}),
        projection: Some(doc! {"n": 1}),
        ..FindOneAndModifyOptions::default()
    };
    let before = store
        .find_one_and_update(&c, &doc! {}, &update(doc! {"$inc": {"n": 1}}), &options)
        .unwrap();
    assert_eq!(before, Some(doc! {"_id": 4, "n": 4}));
    options.return_document = ReturnDocument::After;
    let after = store
        .find_one_and_update(&c, &doc! {}, &update(doc! {"$inc": {"n": 1}}), &options)
        .unwrap();
    assert_eq!(after, Some(doc! {"_id": 4, "n": 6}));
    let replaced = store
        .find_one_and_replace(&c, &doc! {"_id": 1}, doc! {"n": 0}, &options)
        .unwrap();
    assert_eq!(replaced, Some(doc! {"_id": 1, "n": 0}));
    options.upsert = true;
    let upserted = store
        .find_one_and_update(
            &c,
            &doc! {"_id": 7},
            &update(doc! {"$set": {"n": 7}}),
            &options,
        )
        .unwrap();
    assert_eq!(upserted, Some(doc! {"_id": 7, "n": 7}));
    options.projection = None;
    let deleted = store
        .find_one_and_delete(&c, &doc! {"n": {"$lt": 3}}, &options)
        .unwrap();
    assert_eq!(deleted, Some(doc! {"_id": 2, "n": 2, "even": true}));
    assert!(store
        .find_one_and_delete(&c, &doc! {"n": 100}, &options)
        .unwrap()
        .is_none());
}

#[test]
fn aggregate_with_lookup() {
    let (_dir, store) = open();
    seed(
        &store,
        &ns("orders"),
        vec![
            doc! {"_id": 1, "item": "a", "qty": 2},
            doc! {"_id": 2, "item": "b", "qty": 5},
        ],
    );
    seed(
        &store,
        &ns("items"),
        vec![doc! {"_id": "a", "price": 3}, doc! {"_id": "b", "price": 1}],
    );
    let pipeline = vec![
        doc! {"$match": {"qty": {"$gt": 1}}},
        doc! {"$lookup": {"from": "items", "localField": "item", "foreignField": "_id", "as": "item"}},
        doc! {"$project": {"_id": 1, "price": {"$first": "$item.price"}}},
    ];
    let out = store.aggregate(&ns("orders"), &pipeline).unwrap();
    assert_eq!(
        out,
        vec![doc! {"_id": 1, "price": 3}, doc! {"_id": 2, "price": 1}]
    );
}

#[test]
fn explain_names_the_access_path() {
    let (_dir, store) = open();
    numbers(&store, "c", 3);
    store
        .create_index(
            &ns("c"),
            IndexModel {
                keys: doc! {"n": 1},
                name: None,
                unique: false,
            },
        )
        .unwrap();
    let plan = store.explain(&ns("c"), &doc! {"_id": 1}, None).unwrap();
    assert_eq!(
        (plan.stage, plan.index.as_deref()),
        ("IDHACK", Some("_id_"))
    );
    let plan = store
        .explain(&ns("c"), &doc! {"n": {"$in": [1, 2]}}, Some(&doc! {"n": 1}))
        .unwrap();
    assert_eq!((plan.stage, plan.index.as_deref()), ("IXSCAN", Some("n_1")));
    assert!(plan.in_memory_sort);
    assert!(plan.constraint.unwrap().contains("`n`"));
    let plan = store.explain(&ns("c"), &doc! {"n": null}, None).unwrap();
    assert_eq!(plan.stage, "COLLSCAN");
    let plan = store.explain(&ns("c"), &doc! {"even": true}, None).unwrap();
    assert_eq!(plan.stage, "COLLSCAN");
}

#[test]
fn indexed_queries_find_arrays_mixed_numbers_and_ranges() {
    let (_dir, store) = open();
    let c = ns("c");
    store
        .create_index(
            &c,
            IndexModel {
                keys: doc! {"a": 1},
                name: None,
                unique: false,
            },
        )
        .unwrap();
    store
        .create_index(
            &c,
            IndexModel {
                keys: doc! {"s.t": 1, "u": 1},
                name: None,
                unique: false,
            },
        )
        .unwrap();
    seed(
        &store,
        &c,
        vec![
            doc! {"_id": 1, "a": 5, "s": {"t": "x"}},
            doc! {"_id": 2, "a": 5.0, "s": [{"t": "x"}, {"t": "y"}]},
            doc! {"_id": 3, "a": Bson::Int64(5)},
            doc! {"_id": 4, "a": [3, 12]},
            doc! {"_id": 5, "a": [[5]]},
            doc! {"_id": 6, "a": "5"},
            doc! {"_id": 7},
            doc! {"_id": 8, "a": [5, 6]},
            doc! {"_id": 9, "a": []},
        ],
    );
    let cases = [
        doc! {"a": 5},
        doc! {"a": {"$in": [5, "5"]}},
        doc! {"a": {"$gt": 5, "$lt": 10}},
        doc! {"a": {"$gte": 5}},
        doc! {"a": {"$lt": 5}},
        doc! {"a": [5]},
        doc! {"a": [3, 12]},
        doc! {"a": []},
        doc! {"a": null},
        doc! {"s.t": "x"},
        doc! {"s.t": {"$gte": "y"}},
    ];
    for filter in cases {
        let indexed = find(&store, &c, filter.clone());
        let docs = all(&store, &c);
        let naive = rampart_mql::find(
            &docs,
            &rampart_mql::FindOptions {
                filter: filter.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(indexed, naive, "{filter}");
    }
    assert_eq!(
        ids(&find(&store, &c, doc! {"a": {"$gt": 5, "$lt": 10}})),
        vec![Bson::Int32(4), Bson::Int32(8)]
    );
}

#[test]
fn transaction_commits_all_or_nothing() {
    let (_dir, store) = open();
    let c = ns("c");
    store
        .transaction(&mut |txn| {
            txn.insert(&c, doc! {"_id": 1, "n": 1})?;
            txn.insert(&c, doc! {"_id": 2, "n": 2})?;
            // Reads see the transaction's own writes.
            assert_eq!(txn.find(&c, &doc! {})?.len(), 2);
            assert!(txn.replace(&c, doc! {"_id": 1, "n": 10})?);
            assert!(txn.delete(&c, &Bson::Int32(2))?);
            assert!(!txn.delete(&c, &Bson::Int32(2))?);
            Ok(())
        })
        .unwrap();
    assert_eq!(all(&store, &c), vec![doc! {"_id": 1, "n": 10}]);
    let error = store
        .transaction(&mut |txn| {
            txn.insert(&c, doc! {"_id": 3})?;
            txn.update(
                &c,
                &doc! {"_id": 1},
                &update(doc! {"$set": {"n": 0}}),
                false,
                &UpdateOptions::default(),
            )?;
            txn.insert(&c, doc! {"_id": 1})?;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(error.code(), 11000);
    assert_eq!(all(&store, &c), vec![doc! {"_id": 1, "n": 10}]);
    store
        .transaction(&mut |txn| {
            assert_eq!(
                txn.get(&c, &Bson::Int32(1))?,
                Some(doc! {"_id": 1, "n": 10})
            );
            assert_eq!(txn.delete_matching(&c, &doc! {}, true)?, 1);
            Err(StoreError::Aborted("the body gave up".into()))
        })
        .unwrap_err();
    assert_eq!(all(&store, &c).len(), 1);
}

#[test]
fn read_decide_write_transactions_lose_no_updates() {
    let (_dir, store) = open();
    let store: Arc<dyn Store> = Arc::new(store);
    let c = ns("counter");
    store.insert_one(&c, doc! {"_id": "k", "n": 0}).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            let c = c.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    store
                        .transaction(&mut |txn| {
                            let doc = txn.get(&c, &Bson::String("k".into()))?.unwrap();
                            let n = doc.get_i32("n").unwrap();
                            txn.replace(&c, doc! {"_id": "k", "n": n + 1})?;
                            Ok(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(all(store.as_ref(), &c), vec![doc! {"_id": "k", "n": 100}]);
}

#[test]
fn documents_come_in_id_order() {
    let (_dir, store) = open();
    let c = ns("c");
    let first = ObjectId::new();
    let second = ObjectId::new();
    seed(&store, &c, vec![doc! {"_id": second}, doc! {"_id": first}]);
    assert_eq!(
        ids(&all(&store, &c)),
        vec![Bson::ObjectId(first), Bson::ObjectId(second)]
    );
}

#[test]
fn errors_have_stable_codes_and_plain_messages() {
    let error = StoreError::NamespaceNotFound("app.c".into());
    assert_eq!((error.code(), error.code_name()), (26, "NamespaceNotFound"));
    assert_eq!(error.to_string(), "namespace `app.c` does not exist");
}

#[test]
fn readers_are_not_blocked_by_an_open_write_transaction() {
    use std::sync::mpsc;
    use std::time::Duration;

    let (_dir, store) = open();
    let store = Arc::new(store);
    let c = ns("c");
    seed(store.as_ref(), &c, vec![doc! {"_id": 1, "n": 1}]);

    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let writer = {
        let store = Arc::clone(&store);
        let c = c.clone();
        std::thread::spawn(move || {
            store
                .transaction(&mut |txn| {
                    txn.insert(&c, doc! {"_id": 2, "n": 2})?;
                    txn.replace(&c, doc! {"_id": 1, "n": 100})?;
                    inside_tx.send(()).unwrap();
                    // Hold the write transaction open until the reader has finished.
                    release_rx.recv().unwrap();
                    Ok(())
                })
                .unwrap();
        })
    };
    inside_rx.recv().unwrap();

    // The read runs on another thread so a blocked read shows up as a missing answer rather
    // than a hung test; the generous deadline only detects a deadlock, it measures nothing.
    let (answer_tx, answer_rx) = mpsc::channel();
    {
        let store = Arc::clone(&store);
        let c = c.clone();
        std::thread::spawn(move || answer_tx.send(all(store.as_ref(), &c)).unwrap());
    }
    let seen = answer_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a read waited for the open write transaction");
    // The reader sees the last committed snapshot, not the uncommitted writes.
    assert_eq!(seen, vec![doc! {"_id": 1, "n": 1}]);

    release_tx.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(
        all(store.as_ref(), &c),
        vec![doc! {"_id": 1, "n": 100}, doc! {"_id": 2, "n": 2}]
    );
}
