//! `$sample`, `$rand` and `$sampleRate` draw random numbers: these tests check what their
//! output must look like over many draws (each document picked as often as the others, every
//! order as likely, the requested fraction kept) and that a seed makes a run reproducible.
//! Every run is seeded, so the tests are deterministic; the bounds are 5 to 6 standard
//! deviations wide, loose enough for a correct generator and tight enough to catch a biased
//! or constant one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{doc, Bson, Document};
use rampart_mql::{
    aggregate, delete, find, update, DeleteOptions, Filter, FindOptions, NoCollections, Projection,
    Update, UpdateContext, UpdateOptions, Variables,
};

fn numbered(count: i32) -> Vec<Document> {
    (0..count).map(|id| doc! { "_id": id }).collect()
}

fn ids(docs: &[Document]) -> Vec<i32> {
    docs.iter().map(|doc| doc.get_i32("_id").unwrap()).collect()
}

fn sample(docs: &[Document], size: i32, variables: &Variables) -> Vec<i32> {
    let pipeline = [doc! { "$sample": { "size": size } }];
    ids(&aggregate(docs, &pipeline, &NoCollections, variables).unwrap())
}

#[test]
fn a_seed_fixes_the_output_and_other_seeds_change_it() {
    let docs = numbered(50);
    let first = sample(&docs, 10, &Variables::new().with_seed(7));
    assert_eq!(first, sample(&docs, 10, &Variables::new().with_seed(7)));
    assert_ne!(first, sample(&docs, 10, &Variables::new().with_seed(8)));
    // Without a seed, two runs are independent: 10 of 50 in order alike by chance about once
    // in 3.7 * 10^16.
    assert_ne!(
        sample(&docs, 10, &Variables::new()),
        sample(&docs, 10, &Variables::new())
    );
}

#[test]
fn sample_picks_distinct_documents_each_as_often() {
    let docs = numbered(20);
    let runs = 4_000;
    let mut picked = [0u32; 20];
    for seed in 0..runs {
        let out = sample(&docs, 5, &Variables::new().with_seed(seed));
        let mut sorted = out.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 5, "seed {seed}: {out:?}");
        for id in out {
            picked[usize::try_from(id).unwrap()] += 1;
        }
    }
    // Each document is in a sample with probability 1/4: 1,000 times expected, standard
    // deviation sqrt(4000 * 1/4 * 3/4) = 27.4.
    for (id, count) in picked.iter().enumerate() {
        assert!((850..=1_150).contains(count), "document {id}: {picked:?}");
    }
}

#[test]
fn sample_of_everything_shuffles() {
    let docs = numbered(4);
    let runs = 4_000;
    let mut first = [0u32; 4];
    let mut last = [0u32; 4];
    for seed in 0..runs {
        let out = sample(&docs, 10, &Variables::new().with_seed(seed));
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3]);
        first[usize::try_from(out[0]).unwrap()] += 1;
        last[usize::try_from(out[3]).unwrap()] += 1;
    }
    // Each document comes first (and last) a quarter of the time: 1,000 expected, standard
    // deviation 27.4. Input order kept, or reversed, would put everything in one bucket.
    for count in first.iter().chain(&last) {
        assert!(
            (850..=1_150).contains(count),
            "first {first:?}, last {last:?}"
        );
    }
}

#[test]
fn sample_rate_keeps_that_fraction() {
    let docs = numbered(20_000);
    let options = |seed| FindOptions {
        filter: doc! { "$sampleRate": 0.3 },
        variables: Variables::new().with_seed(seed),
        ..FindOptions::default()
    };
    let kept = find(&docs, &options(11)).unwrap();
    // 6,000 expected, standard deviation sqrt(20000 * 0.3 * 0.7) = 64.8.
    assert!((5_650..=6_350).contains(&kept.len()), "{}", kept.len());
    // The same seed keeps the same documents, in the stored order.
    assert_eq!(ids(&find(&docs, &options(11)).unwrap()), ids(&kept));
    // One seeded generator goes on from where it was: a second find with the same
    // variables draws new numbers.
    let shared = options(11);
    let first = ids(&find(&docs, &shared).unwrap());
    assert_eq!(first, ids(&kept));
    assert_ne!(ids(&find(&docs, &shared).unwrap()), first);
    let mut sorted = ids(&kept);
    sorted.sort_unstable();
    assert_eq!(sorted, ids(&kept));
}

#[test]
fn sample_rate_in_a_pipeline_match_uses_the_pipeline_seed() {
    let docs = numbered(1_000);
    let pipeline = [doc! { "$match": { "$sampleRate": 0.5 } }];
    let run = |seed| {
        ids(&aggregate(
            &docs,
            &pipeline,
            &NoCollections,
            &Variables::new().with_seed(seed),
        )
        .unwrap())
    };
    let once = run(3);
    assert_eq!(once, run(3));
    assert_ne!(once, run(4));
    // 500 expected, standard deviation 15.8.
    assert!((420..=580).contains(&once.len()), "{}", once.len());
}

#[test]
fn rand_averages_one_half() {
    let docs = numbered(10_000);
    let pipeline = [
        doc! { "$project": { "r": { "$rand": {} } } },
        doc! { "$group": {
            "_id": null,
            "mean": { "$avg": "$r" },
            "low": { "$min": "$r" },
            "high": { "$max": "$r" },
            "distinct": { "$addToSet": "$r" },
        } },
    ];
    let out = aggregate(
        &docs,
        &pipeline,
        &NoCollections,
        &Variables::new().with_seed(5),
    )
    .unwrap();
    let stats = &out[0];
    // A uniform value has standard deviation 1/sqrt(12): the mean of 10,000 has 0.0029.
    let mean = stats.get_f64("mean").unwrap();
    assert!((0.485..=0.515).contains(&mean), "{mean}");
    assert!(stats.get_f64("low").unwrap() < 0.001);
    assert!(stats.get_f64("high").unwrap() > 0.999);
    assert_eq!(stats.get_array("distinct").unwrap().len(), 10_000);
}

#[test]
fn rand_in_an_update_pipeline_draws_for_each_document() {
    let run = |seed| {
        let mut docs = numbered(100);
        let options = UpdateOptions {
            many: true,
            variables: Variables::new().with_seed(seed),
            ..UpdateOptions::default()
        };
        let pipeline = Bson::Array(vec![Bson::Document(
            doc! { "$set": { "r": { "$rand": {} } } },
        )]);
        let outcome = update(&mut docs, &doc! {}, &pipeline, &options).unwrap();
        assert_eq!(outcome.modified_count, 100);
        docs.iter()
            .map(|doc| doc.get_f64("r").unwrap())
            .collect::<Vec<_>>()
    };
    let values = run(9);
    assert_eq!(values, run(9));
    assert_ne!(values, run(10));
    let mut distinct = values.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert_eq!(distinct.len(), 100);
    assert!(values.iter().all(|r| (0.0..1.0).contains(r)));
}

#[test]
fn seeded_variables_reach_every_entry_point() {
    let docs = numbered(200);
    // A filter given seeded variables: the same seed picks the same documents.
    let pick = |seed| {
        let filter = Filter::compile(&doc! { "$sampleRate": 0.5 })
            .unwrap()
            .with_variables(Variables::new().with_seed(seed));
        docs.iter()
            .filter(|doc| filter.matches(doc).unwrap())
            .count()
    };
    assert_eq!(pick(1), pick(1));
    let filter = Filter::compile(&doc! { "$sampleRate": 0.5 }).unwrap();
    let with = |seed| {
        let vars = Variables::new().with_seed(seed);
        docs.iter()
            .map(|doc| filter.matches_with(doc, &vars).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(with(2), with(2));
    assert_ne!(with(2), with(3));
    // A projection's computed field.
    let projection = Projection::compile(&doc! { "r": { "$rand": {} } }).unwrap();
    let project = |seed| {
        let vars = Variables::new().with_seed(seed);
        projection
            .apply_with(&docs[0], None, &vars)
            .unwrap()
            .get_f64("r")
            .unwrap()
    };
    assert_eq!(project(4), project(4));
    // An update pipeline applied document by document with one seeded context: each
    // document draws its own number.
    let pipeline = Bson::Array(vec![Bson::Document(
        doc! { "$set": { "r": { "$rand": {} } } },
    )]);
    let update = Update::parse(&pipeline, &[]).unwrap();
    let context = UpdateContext {
        variables: Variables::new().with_seed(5),
        ..UpdateContext::default()
    };
    let mut first = doc! { "_id": 1 };
    let mut second = doc! { "_id": 2 };
    update.apply(&mut first, &context).unwrap();
    update.apply(&mut second, &context).unwrap();
    assert_ne!(first.get_f64("r").unwrap(), second.get_f64("r").unwrap());
}

/// A seeded `deleteMany` with `$sampleRate` removes the same documents each time, about the
/// requested fraction of them, and keeps the others in their stored order.
#[test]
fn seeded_delete_with_sample_rate_is_reproducible() {
    let run = |seed| {
        let mut docs = numbered(10_000);
        let options = DeleteOptions {
            many: true,
            variables: Variables::new().with_seed(seed),
        };
        let deleted = delete(&mut docs, &doc! { "$sampleRate": 0.25 }, &options).unwrap();
        let kept = ids(&docs);
        assert_eq!(deleted as usize + kept.len(), 10_000);
        assert!(kept.windows(2).all(|pair| pair[0] < pair[1]), "order kept");
        kept
    };
    let kept = run(11);
    assert_eq!(kept, run(11));
    assert_ne!(kept, run(12));
    // 2,500 expected deleted; the standard deviation is about 43.
    let deleted = 10_000 - kept.len();
    assert!((2_250..=2_750).contains(&deleted), "{deleted} deleted");
    // Without `many`, one document at most.
    let mut docs = numbered(100);
    let options = DeleteOptions {
        many: false,
        variables: Variables::new().with_seed(11),
    };
    assert_eq!(
        delete(&mut docs, &doc! { "_id": { "$gte": 50 } }, &options).unwrap(),
        1
    );
    assert_eq!(docs.len(), 99);
    assert!(!ids(&docs).contains(&50));
}

#[test]
fn sample_rate_between_zero_and_one_inside_or_and_lookup() {
    let docs: Vec<Document> = (0..2_000)
        .map(|id| doc! { "_id": id, "k": id % 2 })
        .collect();
    // In `$or` with a test that never holds, `$sampleRate` decides alone: about half.
    let options = |filter| FindOptions {
        filter,
        variables: Variables::new().with_seed(21),
        ..FindOptions::default()
    };
    let kept = find(
        &docs,
        &options(doc! { "$or": [{ "k": 7 }, { "$sampleRate": 0.5 }] }),
    )
    .unwrap();
    // 1,000 expected, standard deviation 22.4.
    assert!((880..=1_120).contains(&kept.len()), "{}", kept.len());
    // In `$and` with `k: 1`: half of the odd documents.
    let kept = find(
        &docs,
        &options(doc! { "$and": [{ "k": 1 }, { "$sampleRate": 0.5 }] }),
    )
    .unwrap();
    assert!(kept.iter().all(|doc| doc.get_i32("k").unwrap() == 1));
    // 500 expected, standard deviation 15.8.
    assert!((420..=580).contains(&kept.len()), "{}", kept.len());
    // In a `$lookup` sub-pipeline, seeded through the pipeline's variables.
    let pipeline = [
        doc! { "$limit": 1 },
        doc! { "$lookup": {
            "pipeline": [
                { "$documents": { "$map": { "input": { "$range": [0, 1000] }, "in": { "i": "$$this" } } } },
                { "$match": { "$sampleRate": 0.25 } },
            ],
            "as": "picked",
        } },
    ];
    let run = |seed| {
        aggregate(
            &docs,
            &pipeline,
            &NoCollections,
            &Variables::new().with_seed(seed),
        )
        .unwrap()[0]
            .get_array("picked")
            .unwrap()
            .len()
    };
    let once = run(8);
    assert_eq!(once, run(8));
    // 250 expected, standard deviation 13.7.
    assert!((180..=320).contains(&once), "{once}");
}
