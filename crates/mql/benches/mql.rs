//! Engine throughput over ~10k generated documents of ~20 fields: filter matching (on decoded
//! documents and, `*_raw`, on their BSON bytes), update application, projection, sort, a small
//! aggregation pipeline, and a date part in UTC, at an offset and in a named time zone.
//!
//! `cargo bench -p rampart-mql --bench mql`; each group reports documents per second.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use bson::{doc, Bson, Document, RawDocumentBuf};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rampart_mql::{
    Expr, Filter, NoCollections, Pipeline, Projection, SortSpec, Update, UpdateContext, Variables,
};

const DOCUMENTS: usize = 10_000;

/// xorshift64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const CITIES: &[&str] = &[
    "Paris", "Lyon", "Berlin", "Madrid", "Rome", "Oslo", "Lisbon", "Vienna",
];
const CATEGORIES: &[&str] = &["a", "b", "c", "d", "e", "f"];
const TAGS: &[&str] = &["red", "green", "blue", "new", "sale", "hot", "cold"];

fn generate(count: usize) -> Vec<Document> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|i| {
            let tags: Vec<Bson> = (0..rng.below(5))
                .map(|_| Bson::String(rng.pick(TAGS).to_owned()))
                .collect();
            let counts: Vec<Bson> = (0..rng.below(8))
                .map(|_| Bson::Int32(rng.below(100) as i32))
                .collect();
            let items: Vec<Bson> = (0..1 + rng.below(4))
                .map(|k| {
                    Bson::Document(doc! {
                        "sku": format!("sku-{}", rng.below(1000)),
                        "qty": rng.below(10) as i32,
                        "price": (rng.below(5000) as f64) / 100.0,
                        "line": k as i32,
                    })
                })
                .collect();
            doc! {
                "_id": i as i32,
                "name": format!("user{i}"),
                "email": format!("user{i}@example.com"),
                "age": 18 + rng.below(60) as i32,
                "score": (rng.below(10_000) as f64) / 100.0,
                "active": rng.below(2) == 0,
                "city": rng.pick(CITIES),
                "category": rng.pick(CATEGORIES),
                "rating": rng.below(6) as i32,
                "balance": rng.below(1_000_000) as i64,
                "level": rng.below(10) as i32,
                "group": rng.below(100) as i32,
                "created": bson::DateTime::from_millis(1_600_000_000_000 + rng.below(100_000_000_000) as i64),
                "tags": tags,
                "counts": counts,
                "address": {
                    "street": format!("{} Main St", rng.below(500)),
                    "city": rng.pick(CITIES),
                    "zip": format!("{:05}", rng.below(100_000)),
                    "geo": { "lat": (rng.below(18_000) as f64) / 100.0 - 90.0, "lng": (rng.below(36_000) as f64) / 100.0 - 180.0 },
                },
                "items": items,
                "notes": "lorem ipsum dolor sit amet, consectetur adipiscing elit",
                "version": 1,
            }
        })
        .collect()
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn filters(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(docs.len() as u64));
    let cases = [
        ("equality", doc! { "city": "Paris" }),
        // No document has the field: every element of every document is read (on bytes).
        ("missing_field", doc! { "nickname": { "$exists": false } }),
        // A late field, then an early one: on bytes, the second is found among those read.
        (
            "late_then_early",
            doc! { "version": 1, "age": { "$gte": 30 } },
        ),
        (
            "range_in",
            doc! { "age": { "$gte": 30, "$lt": 50 }, "category": { "$in": ["a", "b", "c"] } },
        ),
        (
            "elemmatch_or",
            doc! {
                "items": { "$elemMatch": { "qty": { "$gt": 5 }, "price": { "$lt": 20.0 } } },
                "$or": [ { "active": true }, { "rating": { "$gte": 4 } } ],
            },
        ),
    ];
    // The same documents as BSON bytes, as a store holds them, for `matches_raw`.
    let raws: Vec<RawDocumentBuf> = docs
        .iter()
        .map(|doc| RawDocumentBuf::try_from(doc).unwrap())
        .collect();
    for (name, spec) in cases {
        let filter = Filter::compile(&spec).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut hits = 0usize;
                for doc in &docs {
                    hits += usize::from(filter.matches(black_box(doc)).unwrap());
                }
                hits
            })
        });
        group.bench_function(format!("{name}_raw"), |b| {
            b.iter(|| {
                let mut hits = 0usize;
                for raw in &raws {
                    hits += usize::from(filter.matches_raw(black_box(raw)).unwrap());
                }
                hits
            })
        });
    }
    group.finish();
}

fn updates(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    let mut group = c.benchmark_group("update");
    group.throughput(Throughput::Elements(docs.len() as u64));
    let cases = [
        (
            "set_inc",
            doc! { "$set": { "address.city": "Nowhere", "active": false }, "$inc": { "age": 1, "balance": 10 } },
        ),
        (
            "push_each_slice",
            doc! { "$push": { "counts": { "$each": [1, 2, 3], "$slice": -10 } } },
        ),
    ];
    let context = UpdateContext::default();
    for (name, spec) in cases {
        let update = Update::parse(&Bson::Document(spec), &[]).unwrap();
        group.bench_function(name, |b| {
            b.iter_batched(
                || docs.clone(),
                |mut batch| {
                    for doc in &mut batch {
                        update.apply(black_box(doc), &context).unwrap();
                    }
                    batch
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn projections(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    let mut group = c.benchmark_group("projection");
    group.throughput(Throughput::Elements(docs.len() as u64));
    let cases = [
        (
            "inclusion_5",
            doc! { "name": 1, "age": 1, "city": 1, "score": 1, "active": 1 },
        ),
        ("exclusion", doc! { "items": 0, "notes": 0, "tags": 0 }),
        (
            "dotted",
            doc! { "address.geo.lat": 1, "items.sku": 1, "_id": 0 },
        ),
    ];
    for (name, spec) in cases {
        let projection = Projection::compile(&spec).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut fields = 0usize;
                for doc in &docs {
                    fields += projection.apply(black_box(doc), None).unwrap().len();
                }
                fields
            })
        });
    }
    group.finish();
}

fn sorts(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    let mut group = c.benchmark_group("sort");
    group.throughput(Throughput::Elements(docs.len() as u64));
    let spec = SortSpec::compile(&doc! { "category": 1, "score": -1 }).unwrap();
    group.bench_function("two_keys_extracted", |b| {
        b.iter(|| {
            let mut keyed: Vec<_> = docs
                .iter()
                .enumerate()
                .map(|(index, doc)| (spec.key(doc), index))
                .collect();
            keyed.sort_by(|a, b| spec.compare_keys(&a.0, &b.0));
            keyed.first().map(|(_, index)| *index)
        })
    });
    group.bench_function("two_keys_compare", |b| {
        b.iter(|| {
            let mut refs: Vec<&Document> = docs.iter().collect();
            refs.sort_by(|a, b| spec.compare(a, b));
            refs.first().map(|doc| doc.len())
        })
    });
    group.finish();
}

fn pipelines(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(docs.len() as u64));
    let stages = vec![
        doc! { "$match": { "active": true } },
        doc! { "$group": { "_id": "$category", "total": { "$sum": "$balance" }, "avg": { "$avg": "$score" } } },
        doc! { "$sort": { "total": -1 } },
    ];
    let pipeline = Pipeline::compile(&stages).unwrap();
    let variables = Variables::new();
    group.bench_function("match_group_sort", |b| {
        b.iter_batched(
            || docs.clone(),
            |input| pipeline.run(input, &NoCollections, &variables).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// A date part in UTC, at a fixed offset, and in a zone of the time zone database (whose offset
/// is looked up for each date).
fn dates(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    let mut group = c.benchmark_group("date");
    group.throughput(Throughput::Elements(docs.len() as u64));
    let variables = Variables::new();
    for (name, zone) in [
        ("hour_utc", "UTC"),
        ("hour_offset", "+05:30"),
        ("hour_named_zone", "America/New_York"),
    ] {
        let spec = Bson::Document(doc! {"$hour": {"date": "$created", "timezone": zone}});
        let expr = Expr::compile(&spec).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                for doc in &docs {
                    black_box(expr.evaluate(doc, &variables).unwrap());
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = filters, updates, projections, sorts, pipelines, dates
}
criterion_main!(benches);
