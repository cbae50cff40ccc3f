//! Rules throughput over 10k generated documents of ~20 fields (owners spread over 1,000
//! users): the policy "the owner reads and writes everything; others read `title`, `status`
//! and `tags`" (`benches/support/policy.rs`), decided by `Authorizer::read` (role choice and
//! redaction) with 1, 2, 10 and 50 roles, with full explanations and without
//! (`Authorizer::without_explanations`), and `authorize_update` of a small change.
//!
//! `cargo bench -p rampart-rules --bench rules`; each group reports documents per second.
//! The side-by-side comparison with CASL is `bench/rules-vs-casl/run.sh`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/policy.rs"]
mod policy;

use std::hint::black_box;
use std::time::Duration;

use bson::{doc, Bson, Document, RawDocument, RawDocumentBuf};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use policy::Shape;
use rampart_rules::{RuleSet, User, WriteOutcome};

const DOCUMENTS: usize = 10_000;
const USERS: u64 = 1_000;

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

const STATUSES: &[&str] = &["draft", "open", "review", "done", "archived"];
const TAGS: &[&str] = &["red", "green", "blue", "new", "sale", "hot", "cold"];
const REGIONS: &[&str] = &["eu", "us", "apac", "latam"];

fn generate(count: usize) -> Vec<Document> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|i| {
            let tags: Vec<Bson> = (0..rng.below(4))
                .map(|_| Bson::String(rng.pick(TAGS).to_owned()))
                .collect();
            doc! {
                "_id": i as i64,
                "owner": format!("u{}", rng.below(USERS)),
                "title": format!("item {i}"),
                "status": rng.pick(STATUSES),
                "tags": tags,
                "region": rng.pick(REGIONS),
                "priority": rng.below(5) as i32,
                "score": (rng.below(10_000) as f64) / 100.0,
                "price": rng.below(100_000) as i64,
                "quantity": rng.below(500) as i32,
                "archived": rng.below(10) == 0,
                "description": "lorem ipsum dolor sit amet, consectetur adipiscing elit",
                "category": format!("cat-{}", rng.below(20)),
                "created": 1_600_000_000_000i64 + rng.below(100_000_000_000) as i64,
                "updated": 1_700_000_000_000i64 + rng.below(10_000_000_000) as i64,
                "assignee": format!("u{}", rng.below(USERS)),
                "location": {"city": format!("city-{}", rng.below(50)), "zip": format!("{:05}", rng.below(100_000))},
                "views": rng.below(1_000_000) as i64,
                "rating": rng.below(6) as i32,
                "version": 1,
            }
        })
        .collect()
}

fn rule_set(shape: Shape) -> RuleSet {
    RuleSet::from_collection_json(
        (policy::SERVICE, policy::DATABASE, policy::COLLECTION),
        Some(&policy::rules_json(shape)),
        None,
        None,
    )
    .unwrap()
}

fn user(id: &str) -> User {
    User {
        id: id.to_owned(),
        user_type: "normal".to_owned(),
        ..User::default()
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn reads(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    // One user who owns ~0.1% of the documents, as every user does.
    let reader = user("u7");
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(docs.len() as u64));
    // The floor of any `read`: taking each document and dropping it, deciding nothing.
    group.bench_function("consume_only", |b| {
        b.iter_batched(
            || docs.clone(),
            |batch| {
                let mut fields = 0usize;
                for doc in batch {
                    fields += black_box(doc).len();
                }
                fields
            },
            BatchSize::LargeInput,
        )
    });
    for (roles, explanations) in [1usize, 2, 10, 50]
        .into_iter()
        .flat_map(|roles| [(roles, true), (roles, false)])
    {
        let set = rule_set(Shape::with_roles(roles));
        let mut authorizer = set.authorizer(
            policy::SERVICE,
            policy::DATABASE,
            policy::COLLECTION,
            Some(&reader),
            None,
        );
        // `explained`: every document's explanation in full, as `rules simulate` shows it;
        // `lean`: without the per-role and per-field parts, as the Data API serves reads.
        let mode = if explanations {
            "explained"
        } else {
            authorizer = authorizer.without_explanations();
            "lean"
        };
        group.bench_function(format!("{roles}_roles_{mode}"), |b| {
            b.iter_batched(
                || docs.clone(),
                |batch| {
                    let mut fields = 0usize;
                    for doc in batch {
                        if let Some(visible) = authorizer.read(black_box(doc)).document {
                            fields += visible.len();
                        }
                    }
                    fields
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// `Authorizer::read_raw_into` over the same documents as stored BSON, back to back in one
/// buffer: what the Data API runs on documents from the store.
fn raw_reads(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    let mut arena = Vec::new();
    let mut ranges = Vec::with_capacity(docs.len());
    for doc in &docs {
        let raw = RawDocumentBuf::try_from(doc).unwrap();
        let start = arena.len();
        arena.extend_from_slice(raw.as_bytes());
        ranges.push(start..arena.len());
    }
    let raws: Vec<&RawDocument> = ranges
        .iter()
        .map(|range| RawDocument::from_bytes(&arena[range.clone()]).unwrap())
        .collect();
    let reader = user("u7");
    let mut group = c.benchmark_group("read_raw");
    group.throughput(Throughput::Elements(raws.len() as u64));
    // The floor of a field-level `read_raw`: visiting every element of every document.
    group.bench_function("walk_only", |b| {
        b.iter(|| {
            let mut keys = 0usize;
            for raw in &raws {
                for element in rampart_mql::raw::raw_elements(black_box(raw)) {
                    keys += element.unwrap().key().len();
                }
            }
            keys
        })
    });
    for roles in [1usize, 2, 10, 50] {
        let set = rule_set(Shape::with_roles(roles));
        let authorizer = set
            .authorizer(
                policy::SERVICE,
                policy::DATABASE,
                policy::COLLECTION,
                Some(&reader),
                None,
            )
            .without_explanations();
        // As the Data API reads: each redacted copy into one reused buffer.
        let mut copy = Vec::new();
        group.bench_function(format!("{roles}_roles_lean"), |b| {
            b.iter(|| {
                let mut bytes = 0usize;
                for raw in &raws {
                    copy.clear();
                    let decision = authorizer.read_raw_into(black_box(raw), &mut copy);
                    if let Some(visible) = decision.visible.document(raw, &copy) {
                        bytes += visible.as_bytes().len();
                    }
                }
                bytes
            })
        });
    }
    group.finish();
}

fn updates(c: &mut Criterion) {
    let docs = generate(DOCUMENTS);
    // Every document written by its owner: role choice, document write, the changed field.
    let owned: Vec<(Document, Document, User)> = docs
        .into_iter()
        .map(|before| {
            let owner = user(before.get_str("owner").unwrap());
            let mut after = before.clone();
            after.insert("status", "done");
            (before, after, owner)
        })
        .collect();
    let set = rule_set(Shape::with_roles(2));
    let authorizers: Vec<_> = (0..USERS)
        .map(|id| {
            set.authorizer(
                policy::SERVICE,
                policy::DATABASE,
                policy::COLLECTION,
                Some(&user(&format!("u{id}"))),
                None,
            )
        })
        .collect();
    let mut group = c.benchmark_group("update");
    group.throughput(Throughput::Elements(owned.len() as u64));
    group.bench_function("owner_sets_status", |b| {
        b.iter(|| {
            let mut allowed = 0usize;
            for (before, after, owner) in &owned {
                let index: usize = owner.id[1..].parse().unwrap();
                let check = authorizers[index].authorize_update(black_box(before), after);
                allowed += usize::from(check.outcome == WriteOutcome::Allowed);
            }
            assert_eq!(allowed, owned.len());
            allowed
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = reads, raw_reads, updates
}
criterion_main!(benches);
