//! Rampart's side of `bench/rules-vs-casl`: reads the generated documents (JSON Lines, not
//! timed), encodes them once to BSON back to back in one buffer (as a store page holds them;
//! not timed), compiles the policy of `benches/support/policy.rs`, and for each user times role
//! choice plus redaction over every document: `Authorizer::read_raw_into` on the stored bytes,
//! the copies of a batch appended to one buffer (what the Data API runs, one document at a
//! time), and, reported on its own line, `Authorizer::read` on decoded `bson::Document`s
//! (which must give the same output). Writes, per run, the visible
//! output for the comparison with CASL (`visible-<roles>-<user>.txt`: one line per document,
//! `-` when withheld, else its visible top-level field names sorted and comma-separated;
//! `sample-<roles>-<user>.jsonl`: the first 1,000 visible documents, keys sorted) and prints a
//! JSON summary on stdout.
//!
//! ```text
//! casl_compare --docs docs.jsonl --users u0,u1 --roles 2 --scale-roles 1,10,50 \
//!     --scale-user u0 --explained true --decoded true --out-dir DIR
//! ```
//!
//! Runs are timed without per-document explanations (`Authorizer::without_explanations`, as a
//! server answers reads); `--explained true` adds one run with them, `--decoded true` one run
//! of `read` on decoded documents.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../benches/support/policy.rs"]
mod policy;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bson::{Document, RawDocument, RawDocumentBuf};
use policy::Shape;
use rampart_rules::{RawVisible, RuleSet, User};
use serde_json::{json, Map, Value};

/// Documents decided between two clock readings; cloning the next batch is not timed.
const BATCH: usize = 10_000;
/// Visible documents written for the exact comparison.
const SAMPLE: usize = 1_000;

struct Args {
    docs: PathBuf,
    users: Vec<String>,
    roles: usize,
    scale_roles: Vec<usize>,
    scale_user: Option<String>,
    /// Also time the main policy with full explanations, for the scale user.
    explained: bool,
    /// Also time `read` on decoded documents, for the scale user.
    decoded: bool,
    warmup: usize,
    out_dir: PathBuf,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_args() -> Args {
    let mut args = Args {
        docs: PathBuf::new(),
        users: vec!["u0".to_owned()],
        roles: 2,
        scale_roles: Vec::new(),
        scale_user: None,
        explained: false,
        decoded: false,
        warmup: 100_000,
        out_dir: PathBuf::from("."),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw
            .next()
            .unwrap_or_else(|| panic!("`{flag}` needs a value"));
        match flag.as_str() {
            "--docs" => args.docs = PathBuf::from(value),
            "--users" => args.users = list(&value),
            "--roles" => args.roles = value.parse().expect("--roles: a number"),
            "--scale-roles" => {
                args.scale_roles = list(&value)
                    .iter()
                    .map(|item| item.parse().expect("--scale-roles: numbers"))
                    .collect();
            }
            "--scale-user" => args.scale_user = Some(value),
            "--explained" => args.explained = value == "true",
            "--decoded" => args.decoded = value == "true",
            "--warmup" => args.warmup = value.parse().expect("--warmup: a number"),
            "--out-dir" => args.out_dir = PathBuf::from(value),
            other => panic!("unknown argument `{other}`"),
        }
    }
    assert!(!args.docs.as_os_str().is_empty(), "--docs is required");
    args
}

fn load(path: &Path) -> Vec<Document> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(file)
        .lines()
        .map(|line| line.unwrap())
        .filter(|line| !line.trim().is_empty())
        .map(|line| rampart_mql::parse_document(&line).unwrap())
        .collect()
}

fn rule_set(roles: usize) -> RuleSet {
    RuleSet::from_collection_json(
        (policy::SERVICE, policy::DATABASE, policy::COLLECTION),
        Some(&policy::rules_json(Shape::with_roles(roles))),
        None,
        None,
    )
    .unwrap()
}

/// The visible output of one run, built outside the timed sections.
struct Output {
    lines: String,
    sample: String,
    sampled: usize,
    visible: usize,
}

impl Output {
    fn record(&mut self, decided: Option<Document>) {
        let Some(document) = decided else {
            self.lines.push_str("-\n");
            return;
        };
        self.visible += 1;
        let mut keys: Vec<&String> = document.keys().collect();
        keys.sort();
        let names: Vec<&str> = keys.iter().map(|key| key.as_str()).collect();
        self.lines.push_str(&names.join(","));
        self.lines.push('\n');
        if self.sampled < SAMPLE {
            self.sampled += 1;
            let mut map = Map::new();
            for key in keys {
                map.insert(key.clone(), rampart_mql::to_plain_json(&document[key]));
            }
            writeln!(self.sample, "{}", Value::Object(map)).unwrap();
        }
    }
}

/// The documents as BSON, back to back in one buffer.
struct Arena {
    bytes: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl Arena {
    fn new(docs: &[Document]) -> Arena {
        let mut arena = Arena {
            bytes: Vec::new(),
            ranges: Vec::with_capacity(docs.len()),
        };
        for document in docs {
            let raw = RawDocumentBuf::try_from(document).unwrap();
            let start = arena.bytes.len();
            arena.bytes.extend_from_slice(raw.as_bytes());
            arena.ranges.push(start..arena.bytes.len());
        }
        arena
    }

    fn documents(&self) -> impl Iterator<Item = &RawDocument> {
        self.ranges
            .iter()
            .map(|range| RawDocument::from_bytes(&self.bytes[range.clone()]).unwrap())
    }
}

/// Which read is timed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    /// `read_raw_into` on the stored bytes.
    Raw,
    /// `read` on decoded documents (cloned outside the timed sections).
    Decoded,
}

/// Times one read over every document for one user; returns the seconds spent deciding.
#[allow(clippy::too_many_arguments)]
fn run(
    set: &RuleSet,
    user: &str,
    explained: bool,
    input: Input,
    docs: &[Document],
    arena: &Arena,
    warmup: usize,
    output: &mut Output,
) -> f64 {
    let user = User {
        id: user.to_owned(),
        user_type: "normal".to_owned(),
        ..User::default()
    };
    let start = Instant::now();
    let mut authorizer = set.authorizer(
        policy::SERVICE,
        policy::DATABASE,
        policy::COLLECTION,
        Some(&user),
        None,
    );
    if !explained {
        // What a server does when it does not return explanations.
        authorizer = authorizer.without_explanations();
    }
    let mut elapsed = start.elapsed();
    if input == Input::Decoded {
        for document in docs.iter().take(warmup) {
            std::hint::black_box(authorizer.read(document.clone()));
        }
        let mut decided: Vec<Option<Document>> = Vec::with_capacity(BATCH);
        for chunk in docs.chunks(BATCH) {
            let batch = chunk.to_vec();
            let start = Instant::now();
            decided.extend(batch.into_iter().map(|doc| authorizer.read(doc).document));
            elapsed += start.elapsed();
            for document in decided.drain(..) {
                output.record(document);
            }
        }
        return Duration::as_secs_f64(&elapsed);
    }
    let mut copies: Vec<u8> = Vec::new();
    for raw in arena.documents().take(warmup) {
        copies.clear();
        std::hint::black_box(authorizer.read_raw_into(raw, &mut copies));
    }
    let raws: Vec<&RawDocument> = arena.documents().collect();
    let mut decided: Vec<RawVisible> = Vec::with_capacity(BATCH);
    for chunk in raws.chunks(BATCH) {
        // The redacted copies of a batch go back to back into one buffer, as a server's page
        // of answers would (the buffer keeps its size from batch to batch).
        copies.clear();
        let start = Instant::now();
        decided.extend(
            chunk
                .iter()
                .map(|raw| authorizer.read_raw_into(raw, &mut copies).visible),
        );
        elapsed += start.elapsed();
        for (raw, visible) in chunk.iter().zip(decided.drain(..)) {
            let shown = visible.document(raw, &copies);
            output.record(shown.map(|raw| Document::try_from(raw).unwrap()));
        }
    }
    Duration::as_secs_f64(&elapsed)
}

#[allow(clippy::too_many_arguments)]
fn one(
    args: &Args,
    docs: &[Document],
    arena: &Arena,
    roles: usize,
    user: &str,
    explained: bool,
    input: Input,
    runs: &mut Vec<Value>,
) -> std::io::Result<()> {
    let set = rule_set(roles);
    let mut output = Output {
        lines: String::with_capacity(docs.len() * 24),
        sample: String::new(),
        sampled: 0,
        visible: 0,
    };
    let seconds = run(
        &set,
        user,
        explained,
        input,
        docs,
        arena,
        args.warmup,
        &mut output,
    );
    let mut suffix = if explained { "-explained" } else { "" }.to_owned();
    if input == Input::Decoded {
        suffix.push_str("-decoded");
    }
    std::fs::write(
        args.out_dir
            .join(format!("visible-{roles}-{user}{suffix}.txt")),
        &output.lines,
    )?;
    std::fs::write(
        args.out_dir
            .join(format!("sample-{roles}-{user}{suffix}.jsonl")),
        &output.sample,
    )?;
    let rate = docs.len() as f64 / seconds;
    eprintln!(
        "rampart: {roles} roles{suffix}, user {user}: {} docs in {seconds:.3} s = {rate:.0} docs/s ({} visible)",
        docs.len(),
        output.visible
    );
    runs.push(json!({
        "roles": roles, "user": user, "explained": explained,
        "input": if input == Input::Raw { "raw" } else { "decoded" },
        "docs": docs.len(),
        "visible": output.visible,
        "seconds": seconds, "docs_per_sec": rate,
    }));
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    std::fs::create_dir_all(&args.out_dir)?;
    let started = Instant::now();
    let docs = load(&args.docs);
    eprintln!(
        "rampart: loaded {} documents in {:.1} s",
        docs.len(),
        started.elapsed().as_secs_f64()
    );
    let arena = Arena::new(&docs);
    let mut runs = Vec::new();
    for user in &args.users {
        one(
            &args,
            &docs,
            &arena,
            args.roles,
            user,
            false,
            Input::Raw,
            &mut runs,
        )?;
    }
    let scale_user = args
        .scale_user
        .clone()
        .or_else(|| args.users.first().cloned())
        .unwrap_or_else(|| "u0".to_owned());
    for roles in &args.scale_roles {
        one(
            &args,
            &docs,
            &arena,
            *roles,
            &scale_user,
            false,
            Input::Raw,
            &mut runs,
        )?;
    }
    if args.explained {
        one(
            &args,
            &docs,
            &arena,
            args.roles,
            &scale_user,
            true,
            Input::Raw,
            &mut runs,
        )?;
    }
    if args.decoded {
        one(
            &args,
            &docs,
            &arena,
            args.roles,
            &scale_user,
            false,
            Input::Decoded,
            &mut runs,
        )?;
    }
    let summary = json!({"engine": "rampart-rules", "runs": runs});
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{summary}")?;
    Ok(())
}
