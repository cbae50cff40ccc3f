#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Property tests: the store (with and without secondary indexes) gives the same results as
//! `rampart_mql::find`/`update`/`delete` over a `Vec<Document>`, the naive reference, and
//! `find_raw` gives the documents of `find`.

use bson::{doc, Bson, Document};
use proptest::prelude::*;
use rampart_store::{EmbeddedStore, FindOptions, IndexModel, Namespace, Store, UpdateOptions};

fn scalar() -> BoxedStrategy<Bson> {
    prop_oneof![
        (0..4i32).prop_map(Bson::Int32),
        (0..4i64).prop_map(Bson::Int64),
        prop_oneof![Just(1.0), Just(2.5), Just(-0.0), Just(f64::NAN)].prop_map(Bson::Double),
        Just(Bson::Null),
        prop_oneof![Just("x"), Just("y")].prop_map(|s| Bson::String(s.to_owned())),
        any::<bool>().prop_map(Bson::Boolean),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Bson> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Bson::Array),
        1 => scalar().prop_map(|b| Bson::Document(doc! {"b": b})),
        1 => prop::collection::vec(scalar().prop_map(|b| Bson::Document(doc! {"b": b})), 0..3)
            .prop_map(Bson::Array),
    ]
    .boxed()
}

/// Documents with distinct `_id`s in ascending order (the store's natural order), so the
/// reference's "first match" is the store's.
fn documents() -> BoxedStrategy<Vec<Document>> {
    prop::collection::vec(
        (
            prop::option::of(value()),
            prop::option::of(value()),
            0..3i32,
        ),
        0..12,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (a, c, n))| {
                let mut doc = doc! {"_id": i as i32, "n": n};
                if let Some(a) = a {
                    doc.insert("a", a);
                }
                if let Some(c) = c {
                    doc.insert("c", c);
                }
                doc
            })
            .collect()
    })
    .boxed()
}

fn predicate() -> BoxedStrategy<Document> {
    let path = prop_oneof![Just("a"), Just("a.b"), Just("c"), Just("n"), Just("_id")];
    (path, scalar(), scalar(), 0..9u8)
        .prop_map(|(path, v, w, kind)| match kind {
            0 => doc! {path: v},
            1 => doc! {path: {"$gt": v}},
            2 => doc! {path: {"$lte": v}},
            3 => doc! {path: {"$in": [v, w]}},
            4 => doc! {path: {"$gte": v, "$lt": w}},
            5 => doc! {path: {"$exists": matches!(v, Bson::Boolean(true))}},
            6 => doc! {path: {"$ne": v}},
            7 => doc! {path: [v]},
            _ => doc! {path: {"$elemMatch": {"$gte": v}}},
        })
        .boxed()
}

fn filter() -> BoxedStrategy<Document> {
    prop_oneof![
        3 => predicate(),
        1 => (predicate(), predicate()).prop_map(|(x, y)| {
            let mut both = x;
            both.extend(y);
            both
        }),
        1 => (predicate(), predicate()).prop_map(|(x, y)| doc! {"$or": [x, y]}),
        1 => Just(doc! {}),
    ]
    .boxed()
}

fn update() -> BoxedStrategy<Document> {
    prop_oneof![
        value().prop_map(|v| doc! {"$set": {"a": v}}),
        Just(doc! {"$inc": {"n": 1}}),
        Just(doc! {"$unset": {"a": ""}}),
        scalar().prop_map(|v| doc! {"$push": {"c": v}}),
        value().prop_map(|v| doc! {"$set": {"a.b": v}}),
    ]
    .boxed()
}

fn index() -> BoxedStrategy<Option<Document>> {
    prop_oneof![
        Just(None),
        Just(Some(doc! {"a": 1})),
        Just(Some(doc! {"a.b": 1})),
        Just(Some(doc! {"c": -1, "n": 1})),
        Just(Some(doc! {"n": 1})),
    ]
    .boxed()
}

fn projection() -> BoxedStrategy<Option<Document>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(doc! {"a": 1})),
        1 => Just(Some(doc! {"a.b": 1, "_id": 0})),
        1 => Just(Some(doc! {"c": 0, "n": 0})),
        1 => Just(Some(doc! {"a.$": 1})),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
enum Op {
    Update {
        filter: Document,
        update: Document,
        many: bool,
        upsert_id: Option<i32>,
    },
    Delete {
        filter: Document,
        many: bool,
    },
}

fn op() -> BoxedStrategy<Op> {
    prop_oneof![
        (
            filter(),
            update(),
            any::<bool>(),
            prop::option::of(20..23i32)
        )
            .prop_map(|(filter, update, many, upsert_id)| Op::Update {
                filter,
                update,
                many,
                upsert_id
            }),
        (filter(), any::<bool>()).prop_map(|(filter, many)| Op::Delete { filter, many }),
    ]
    .boxed()
}

fn setup(
    docs: &[Document],
    index: &Option<Document>,
) -> (tempfile::TempDir, EmbeddedStore, Namespace) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let ns = Namespace::new("model", "c").unwrap();
    if let Some(keys) = index {
        store
            .create_index(
                &ns,
                IndexModel {
                    keys: keys.clone(),
                    name: None,
                    unique: false,
                },
            )
            .unwrap();
    }
    if !docs.is_empty() {
        store.insert_many(&ns, docs.to_vec(), true).unwrap();
    }
    (dir, store, ns)
}

fn contents(store: &EmbeddedStore, ns: &Namespace) -> Vec<Document> {
    store
        .find(ns, FindOptions::default())
        .unwrap()
        .collect_all()
        .unwrap()
}

fn sort_by_id(docs: &mut [Document]) {
    docs.sort_by(|x, y| rampart_mql::compare_values(x.get("_id").unwrap(), y.get("_id").unwrap()));
}

fn has_duplicate_ids(docs: &[Document]) -> bool {
    docs.windows(2).any(|pair| {
        rampart_mql::values_equal(pair[0].get("_id").unwrap(), pair[1].get("_id").unwrap())
    })
}

/// Compares documents by their BSON bytes: NaN is not equal to itself under `PartialEq`.
fn same(x: &[Document], y: &[Document]) -> bool {
    x.len() == y.len()
        && x.iter()
            .zip(y)
            .all(|(a, b)| a.to_vec().unwrap() == b.to_vec().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn find_matches_the_reference(
        docs in documents(),
        index in index(),
        filters in prop::collection::vec(filter(), 1..6),
        sort in prop_oneof![Just(None), Just(Some(doc! {"n": 1})), Just(Some(doc! {"a": -1, "n": 1}))],
        skip in 0..3u64,
        limit in prop_oneof![Just(None), (0..4u64).prop_map(Some)],
    ) {
        let (_dir, store, ns) = setup(&docs, &index);
        for filter in filters {
            let reference = rampart_mql::FindOptions { filter: filter.clone(), sort: sort.clone(), skip, limit, ..Default::default() };
            let expected = rampart_mql::find(&docs, &reference);
            let options = FindOptions { filter: filter.clone(), sort: sort.clone(), skip, limit, batch_size: Some(2), ..FindOptions::default() };
            let actual = store.find(&ns, options).and_then(|c| c.collect_all());
            match (expected, actual) {
                (Ok(expected), Ok(actual)) => prop_assert!(same(&expected, &actual), "filter {filter} index {index:?}\nexpected {expected:?}\nactual {actual:?}"),
                (Err(_), Err(_)) => {}
                (expected, actual) => prop_assert!(false, "filter {filter}: reference {expected:?}, store {actual:?}"),
            }
            let all = rampart_mql::FindOptions { filter: filter.clone(), ..Default::default() };
            if let Ok(expected) = rampart_mql::find(&docs, &all) {
                prop_assert_eq!(store.count_documents(&ns, &filter, 0, None).unwrap(), expected.len() as u64);
            }
        }
    }

    #[test]
    fn find_raw_matches_find(
        docs in documents(),
        index in index(),
        filter in filter(),
        sort in prop_oneof![Just(None), Just(Some(doc! {"n": 1})), Just(Some(doc! {"a": -1, "n": 1})), Just(Some(doc! {"a.b": 1, "c": -1}))],
        projection in projection(),
        skip in 0..3u64,
        limit in prop_oneof![Just(None), (0..4u64).prop_map(Some)],
        batch_size in prop::option::of(0..4usize),
    ) {
        let (_dir, store, ns) = setup(&docs, &index);
        let options = FindOptions { filter, projection, sort, skip, limit, batch_size };
        let decoded = store.find(&ns, options.clone()).and_then(|c| c.collect_all());
        let raw = store.find_raw(&ns, options.clone()).and_then(|c| c.collect_all());
        match (decoded, raw) {
            (Ok(decoded), Ok(raw)) => {
                let raw: Vec<Document> = raw.iter().map(|raw| Document::try_from(raw.as_ref()).unwrap()).collect();
                prop_assert!(same(&decoded, &raw), "{options:?} index {index:?}\nfind {decoded:?}\nfind_raw {raw:?}");
            }
            (Err(decoded), Err(raw)) => prop_assert_eq!(decoded.to_string(), raw.to_string()),
            (decoded, raw) => prop_assert!(false, "{options:?}: find {decoded:?}, find_raw {raw:?}"),
        }
    }

    #[test]
    fn writes_match_the_reference(docs in documents(), index in index(), ops in prop::collection::vec(op(), 1..6)) {
        let (_dir, store, ns) = setup(&docs, &index);
        let mut model = docs.clone();
        for op in ops {
            match &op {
                Op::Update { filter, update, many, upsert_id } => {
                    let mut filter = filter.clone();
                    if let Some(id) = upsert_id {
                        // An upsert takes its `_id` from the filter, so both sides agree on it.
                        filter.insert("_id", *id);
                    }
                    let options = rampart_mql::UpdateOptions { many: *many, upsert: upsert_id.is_some(), ..Default::default() };
                    let before = model.clone();
                    let mut expected = rampart_mql::update(&mut model, &filter, &Bson::Document(update.clone()), &options);
                    sort_by_id(&mut model);
                    if has_duplicate_ids(&model) {
                        // The reference does not enforce `_id` uniqueness; the store must
                        // refuse the upsert with DuplicateKey and change nothing.
                        model = before;
                        expected = Err(rampart_mql::MqlError::bad_value("duplicate `_id`"));
                    }
                    let store_options = UpdateOptions { upsert: upsert_id.is_some(), ..UpdateOptions::default() };
                    let update = Bson::Document(update.clone());
                    let actual = if *many {
                        store.update_many(&ns, &filter, &update, &store_options)
                    } else {
                        store.update_one(&ns, &filter, &update, &store_options)
                    };
                    match (expected, actual) {
                        (Ok(expected), Ok(actual)) => {
                            prop_assert_eq!(expected.matched_count, actual.matched_count, "{:?}", op);
                            prop_assert_eq!(expected.modified_count, actual.modified_count, "{:?}", op);
                            prop_assert_eq!(expected.upserted_id, actual.upserted_id, "{:?}", op);
                        }
                        (Err(_), Err(_)) => {}
                        (expected, actual) => prop_assert!(false, "{op:?}: reference {expected:?}, store {actual:?}"),
                    }
                }
                Op::Delete { filter, many } => {
                    let options = rampart_mql::DeleteOptions { many: *many, ..Default::default() };
                    let expected = rampart_mql::delete(&mut model, filter, &options);
                    let actual = if *many { store.delete_many(&ns, filter) } else { store.delete_one(&ns, filter) };
                    match (expected, actual) {
                        (Ok(expected), Ok(actual)) => prop_assert_eq!(expected, actual, "{:?}", op),
                        (Err(_), Err(_)) => {}
                        (expected, actual) => prop_assert!(false, "{op:?}: reference {expected:?}, store {actual:?}"),
                    }
                }
            }
            let stored = contents(&store, &ns);
            prop_assert!(same(&model, &stored), "after {op:?} index {index:?}\nreference {model:?}\nstore {stored:?}");
        }
    }
}
