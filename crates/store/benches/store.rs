#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Embedded store throughput at 10k and 100k documents (and 1M with `RAMPART_BENCH_1M=1`):
//! point lookups by `_id`, indexed equality finds, full scans and inserts. Criterion prints
//! elements per second per size, so the growth with collection size is visible side by side.
//!
//! `find_vs_raw`: reading a whole 10k-document collection (20 fields each) with `find`
//! (decoded documents) and `find_raw` (BSON bytes), unsorted and sorted, in documents per
//! second.

use std::hint::black_box;
use std::time::Duration;

use bson::{doc, Document};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rampart_store::{EmbeddedStore, FindOptions, IndexModel, Namespace, Store};

fn sizes() -> Vec<u64> {
    let mut sizes = vec![10_000, 100_000];
    if std::env::var("RAMPART_BENCH_1M").is_ok_and(|v| v == "1") {
        sizes.push(1_000_000);
    }
    sizes
}

fn document(i: u64) -> Document {
    doc! {
        "_id": i as i64,
        "k": (i * 7919 % 1_000_003) as i64,
        "name": format!("user-{i}"),
        "tags": ["a", "b"],
        "score": (i % 100) as f64 / 3.0,
    }
}

/// A store with `size` documents and an index on `k`, built once per size.
fn build(size: u64) -> (tempfile::TempDir, EmbeddedStore, Namespace) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let ns = Namespace::new("bench", "users").unwrap();
    store
        .create_index(
            &ns,
            IndexModel {
                keys: doc! {"k": 1},
                name: None,
                unique: false,
            },
        )
        .unwrap();
    let mut next = 0;
    while next < size {
        let end = (next + 10_000).min(size);
        store
            .insert_many(&ns, (next..end).map(document).collect(), true)
            .unwrap();
        next = end;
    }
    (dir, store, ns)
}

fn bench_store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for size in sizes() {
        let (_dir, store, ns) = build(size);
        let mut probe = 0u64;
        let mut next_probe = move || {
            probe = (probe + 7_919) % size;
            probe
        };
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("find_by_id", size), &size, |b, _| {
            b.iter(|| {
                let filter = doc! {"_id": next_probe() as i64};
                black_box(store.find(&ns, FindOptions::filter(filter)).unwrap().next())
            })
        });
        group.bench_with_input(BenchmarkId::new("find_indexed_eq", size), &size, |b, _| {
            b.iter(|| {
                let filter = doc! {"k": (next_probe() * 7919 % 1_000_003) as i64};
                black_box(
                    store
                        .find(&ns, FindOptions::filter(filter))
                        .unwrap()
                        .count(),
                )
            })
        });
        let mut id = size;
        group.bench_with_input(BenchmarkId::new("insert_one", size), &size, |b, _| {
            b.iter(|| {
                id += 1;
                black_box(store.insert_one(&ns, document(id)).unwrap())
            })
        });
        group.throughput(Throughput::Elements(size));
        group.bench_with_input(BenchmarkId::new("full_scan", size), &size, |b, _| {
            b.iter(|| {
                black_box(
                    store
                        .count_documents(&ns, &doc! {"name": "nobody"}, 0, None)
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

/// A document of 20 fields: numbers, strings, a date, an array and a nested document.
fn wide_document(i: u64) -> Document {
    let status = ["new", "paid", "shipped", "closed"][(i % 4) as usize];
    let mut doc = doc! {
        "_id": i as i64,
        "owner_id": format!("user-{}", i % 97),
        "title": format!("order number {i}"),
        "status": status,
        "total": (i % 1000) as f64 * 1.25,
        "quantity": (i % 13) as i32,
        "created": bson::DateTime::from_millis(1_700_000_000_000 + i as i64 * 1000),
        "tags": ["alpha", "beta", "gamma"],
        "address": {"street": format!("{i} main street"), "city": "springfield", "zip": "12345"},
        "notes": "a free-text note of moderate length, as such fields usually are",
    };
    for field in 0..10 {
        doc.insert(format!("f{field}"), (i * 31 + field) as i64);
    }
    doc
}

fn bench_find_vs_raw(c: &mut Criterion) {
    const SIZE: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let ns = Namespace::new("bench", "orders").unwrap();
    store
        .insert_many(&ns, (0..SIZE).map(wide_document).collect(), true)
        .unwrap();
    let mut group = c.benchmark_group("find_vs_raw");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(SIZE));
    let sorted = || FindOptions {
        sort: Some(doc! {"quantity": 1, "total": -1}),
        ..FindOptions::default()
    };
    group.bench_function("find", |b| {
        b.iter(|| black_box(store.find(&ns, FindOptions::default()).unwrap().count()))
    });
    group.bench_function("find_raw", |b| {
        b.iter(|| black_box(store.find_raw(&ns, FindOptions::default()).unwrap().count()))
    });
    group.bench_function("find_sorted", |b| {
        b.iter(|| black_box(store.find(&ns, sorted()).unwrap().count()))
    });
    group.bench_function("find_raw_sorted", |b| {
        b.iter(|| black_box(store.find_raw(&ns, sorted()).unwrap().count()))
    });
    // Scans that test every stored document and return nothing, by where the field is: the
    // last of 20 (every element before it is read), one no document has (all are read) and
    // the second (read at once). How a scan's cost depends on where its field lies.
    for (name, filter) in [
        ("count_late_field", doc! {"f9": -1}),
        ("count_missing_field", doc! {"absent": "x"}),
        ("count_early_field", doc! {"owner_id": "nobody"}),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(store.count_documents(&ns, &filter, 0, None).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_store, bench_find_vs_raw);
criterion_main!(benches);
