#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Crash safety: a child process (this test binary, re-executed) inserts under load and prints
//! each acknowledged `_id`; the parent SIGKILLs it at random moments, reopens the store and
//! checks that every acknowledged write is there and the file opens cleanly.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bson::{doc, Bson};
use rampart_store::{EmbeddedStore, FindOptions, IndexModel, Namespace, Store};

const CHILD_ENV: &str = "RAMPART_CRASH_CHILD_DIR";
const ROUNDS: u64 = 20;

fn ns() -> Namespace {
    Namespace::new("crash", "docs").unwrap()
}

/// The child: inserts forever (single documents and small batches, with a unique index to
/// maintain), printing `ACK <id>` after each acknowledged write. Does nothing unless started
/// by `acknowledged_writes_survive_sigkill`.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let base: i64 = std::env::var("RAMPART_CRASH_BASE")
        .unwrap()
        .parse()
        .unwrap();
    let store = EmbeddedStore::open(std::path::Path::new(&dir)).unwrap();
    store
        .create_index(
            &ns(),
            IndexModel {
                keys: doc! {"k": 1},
                name: None,
                unique: true,
            },
        )
        .unwrap();
    let mut out = std::io::stdout().lock();
    let mut id = base;
    loop {
        if id % 3 == 0 {
            let docs = (id..id + 5)
                .map(|i| doc! {"_id": i, "k": i, "pad": "p".repeat(200)})
                .collect();
            store.insert_many(&ns(), docs, true).unwrap();
            for i in id..id + 5 {
                writeln!(out, "ACK {i}").unwrap();
            }
            id += 5;
        } else {
            store
                .insert_one(&ns(), doc! {"_id": id, "k": id, "pad": "p".repeat(200)})
                .unwrap();
            writeln!(out, "ACK {id}").unwrap();
            id += 1;
        }
        out.flush().unwrap();
    }
}

/// A small xorshift generator seeded from the clock: no dependency, different moments each run.
struct Random(u64);

impl Random {
    fn new() -> Random {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Random(nanos | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn run_child_and_kill(dir: &std::path::Path, base: i64, after: Duration) -> Vec<i64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env("RAMPART_CRASH_BASE", base.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ") {
                if sender.send(id.parse::<i64>().unwrap()).is_err() {
                    break;
                }
            }
        }
    });
    // Wait for the first acknowledgement so every round kills a writer under load.
    let first = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the child never wrote");
    let started = Instant::now();
    while started.elapsed() < after {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap();
    std::iter::once(first).chain(receiver.try_iter()).collect()
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut random = Random::new();
    let mut acknowledged = Vec::new();
    for round in 0..ROUNDS {
        let base = (round as i64 + 1) * 1_000_000;
        let after = Duration::from_millis(random.below(250));
        let acked = run_child_and_kill(dir.path(), base, after);
        assert!(!acked.is_empty());
        acknowledged.extend(acked);
        let store = EmbeddedStore::open(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let stored: std::collections::BTreeSet<i64> = store
            .find(
                &ns(),
                FindOptions {
                    projection: Some(doc! {"_id": 1}),
                    ..FindOptions::default()
                },
            )
            .unwrap()
            .map(|doc| stored_id(&doc.unwrap()))
            .collect();
        let missing: Vec<&i64> = acknowledged
            .iter()
            .filter(|id| !stored.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged but lost: {missing:?}"
        );
        // Every stored document is reachable through the unique index too.
        let probe = *acknowledged.last().unwrap();
        let via_index = store
            .find(&ns(), FindOptions::filter(doc! {"k": probe}))
            .unwrap()
            .count();
        assert_eq!(via_index, 1, "round {round}: index entry for {probe}");
        assert_eq!(
            store.count_documents(&ns(), &doc! {}, 0, None).unwrap(),
            stored.len() as u64
        );
    }
    println!(
        "{} acknowledged writes survived {ROUNDS} kills",
        acknowledged.len()
    );
}

fn stored_id(doc: &bson::Document) -> i64 {
    match doc.get("_id") {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        other => panic!("unexpected `_id` {other:?}"),
    }
}
