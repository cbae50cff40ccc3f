//! Rampart's side of the `bench/mql-vs-mingo` benchmark (run it through
//! `bench/mql-vs-mingo/run.sh`, which builds this in release and compares with mingo).
//!
//! ```text
//! mingo_compare --docs docs.jsonl --filters filters.json --updates updates.json \
//!               --out-dir DIR [--reps 5] [--update-reps 3] [--check-docs 0] [--skip-decoded]
//! ```
//!
//! Reads the documents (JSON Lines, parsed as Extended JSON: plain JSON numbers become int32,
//! int64 or double) and encodes each once to BSON bytes (`RawDocumentBuf`, not timed), then the
//! filters and the updates. For each filter: compiles it once, runs one untimed warm-up pass,
//! then `--reps` timed passes of `Filter::matches_raw` over every document's bytes (the reported
//! figure), and the same with `Filter::matches` over the decoded documents (reported apart;
//! both must match the same documents); only the matching loop is timed. For each update: parses it once, then for each of `--update-reps` repetitions
//! clones all documents (not timed) and applies the update to every clone (timed). Writes the
//! updated documents of the last repetition (the first `--check-docs`, 0 = all) to
//! `DIR/update-<n>.jsonl` as relaxed Extended JSON, and prints one JSON object of results on
//! stdout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use bson::{Bson, Document, RawDocument, RawDocumentBuf};
use rampart_mql::{
    from_json_value, parse_documents, to_json_value, ExtJsonMode, Filter, Update, UpdateContext,
};
use serde_json::{json, Value};

struct Args {
    docs: PathBuf,
    filters: PathBuf,
    updates: PathBuf,
    out_dir: PathBuf,
    reps: usize,
    update_reps: usize,
    check_docs: usize,
    /// Skip timing `Filter::matches` on decoded documents (for profiling the raw path).
    skip_decoded: bool,
}

fn parse_args() -> Args {
    let mut docs = None;
    let mut filters = None;
    let mut updates = None;
    let mut out_dir = None;
    let mut reps = 5;
    let mut update_reps = 3;
    let mut check_docs = 0;
    let mut skip_decoded = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--docs" => docs = Some(PathBuf::from(value())),
            "--filters" => filters = Some(PathBuf::from(value())),
            "--updates" => updates = Some(PathBuf::from(value())),
            "--out-dir" => out_dir = Some(PathBuf::from(value())),
            "--reps" => reps = value().parse().expect("--reps: a number"),
            "--update-reps" => update_reps = value().parse().expect("--update-reps: a number"),
            "--check-docs" => check_docs = value().parse().expect("--check-docs: a number"),
            "--skip-decoded" => skip_decoded = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let bench = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/mql-vs-mingo");
    Args {
        docs: docs.expect("--docs FILE is required"),
        filters: filters.unwrap_or_else(|| bench.join("filters.json")),
        updates: updates.unwrap_or_else(|| bench.join("updates.json")),
        out_dir: out_dir.unwrap_or_else(std::env::temp_dir),
        reps: reps.max(1),
        update_reps: update_reps.max(1),
        check_docs,
        skip_decoded,
    }
}

fn read_json(path: &PathBuf) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn to_document(value: &Value, what: &str) -> std::result::Result<Document, String> {
    match from_json_value(value) {
        Ok(Bson::Document(doc)) => Ok(doc),
        Ok(other) => Err(format!("{what}: expected a document, got {other:?}")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn median(times: &[u128]) -> u128 {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

fn id_json(doc: &Document) -> Value {
    doc.get("_id")
        .map_or(Value::Null, |id| to_json_value(id, ExtJsonMode::Relaxed))
}

/// Times `passes` (one untimed warm-up, then `reps` timed) of `matches` over every document;
/// returns the matching positions of the last pass, the error count, the first error and the
/// pass times.
fn time_passes<D>(
    docs: &[D],
    reps: usize,
    matches: impl Fn(&D) -> rampart_mql::Result<bool>,
) -> (Vec<usize>, usize, Option<String>, Vec<u128>) {
    let mut matched: Vec<usize> = Vec::with_capacity(docs.len());
    let mut errors = 0usize;
    let mut first_error: Option<String> = None;
    let mut times = Vec::with_capacity(reps);
    for rep in 0..=reps {
        matched.clear();
        errors = 0;
        let start = Instant::now();
        for (i, doc) in docs.iter().enumerate() {
            match matches(doc) {
                Ok(true) => matched.push(i),
                Ok(false) => {}
                Err(e) => {
                    errors += 1;
                    if first_error.is_none() {
                        first_error = Some(e.to_string());
                    }
                }
            }
        }
        let elapsed = start.elapsed().as_nanos();
        black_box(&matched);
        if rep > 0 {
            times.push(elapsed);
        }
    }
    (matched, errors, first_error, times)
}

/// Matches on the documents' BSON bytes (`Filter::matches_raw`, the reported figure) and on
/// the decoded `bson::Document`s (`Filter::matches`, for comparison); both must agree.
fn run_filter(
    entry: &Value,
    docs: &[Document],
    raws: &[&RawDocument],
    reps: usize,
    skip_decoded: bool,
) -> Value {
    let name = entry["name"].as_str().unwrap_or("?").to_owned();
    let filter = match to_document(&entry["filter"], &name) {
        Ok(doc) => doc,
        Err(e) => return json!({ "name": name, "error": e }),
    };
    let compiled = match Filter::compile(&filter) {
        Ok(f) => f,
        Err(e) => return json!({ "name": name, "error": format!("compile: {e}") }),
    };
    let (matched, errors, first_error, times) =
        time_passes(raws, reps, |raw| compiled.matches_raw(raw));
    let decoded_reps = if skip_decoded { 0 } else { reps };
    let (decoded_matched, decoded_errors, _, decoded_times) =
        time_passes(docs, decoded_reps, |doc| compiled.matches(doc));
    if decoded_matched != matched || decoded_errors != errors {
        return json!({
            "name": name,
            "error": format!(
                "raw and decoded matching differ: {} vs {} matches, {errors} vs {decoded_errors} errors",
                matched.len(),
                decoded_matched.len()
            ),
        });
    }
    let ids: Vec<Value> = matched.iter().map(|&i| id_json(&docs[i])).collect();
    json!({
        "name": name,
        "count": matched.len(),
        "ids": ids,
        "errors": errors,
        "first_error": first_error,
        "ns": times,
        "median_ns": median(&times) as u64,
        "best_ns": *times.iter().min().unwrap() as u64,
        "decoded_median_ns": (!skip_decoded).then(|| median(&decoded_times) as u64),
    })
}

fn run_update(
    index: usize,
    entry: &Value,
    docs: &[Document],
    reps: usize,
    check_docs: usize,
    out_dir: &std::path::Path,
) -> Value {
    let name = entry["name"].as_str().unwrap_or("?").to_owned();
    let update = match from_json_value(&entry["update"]) {
        Ok(b) => b,
        Err(e) => return json!({ "name": name, "error": format!("update: {e}") }),
    };
    let mut array_filters = Vec::new();
    if let Some(list) = entry.get("array_filters").and_then(Value::as_array) {
        for (k, item) in list.iter().enumerate() {
            match to_document(item, &format!("{name}: array filter {k}")) {
                Ok(doc) => array_filters.push(doc),
                Err(e) => return json!({ "name": name, "error": e }),
            }
        }
    }
    let parsed = match Update::parse(&update, &array_filters) {
        Ok(u) => u,
        Err(e) => return json!({ "name": name, "error": format!("parse: {e}") }),
    };
    let context = UpdateContext::default();
    let mut times = Vec::with_capacity(reps);
    let mut modified = 0usize;
    let mut errors: Vec<usize> = Vec::new();
    let mut first_error: Option<String> = None;
    let mut result: Vec<Document> = Vec::new();
    let mut copy_times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let copy_start = Instant::now();
        let mut copies: Vec<Document> = docs.to_vec(); // not timed (reported apart)
        copy_times.push(copy_start.elapsed().as_nanos());
        modified = 0;
        errors.clear();
        let start = Instant::now();
        for (i, doc) in copies.iter_mut().enumerate() {
            match parsed.apply(doc, &context) {
                Ok(true) => modified += 1,
                Ok(false) => {}
                Err(e) => {
                    errors.push(i);
                    if first_error.is_none() {
                        first_error = Some(e.to_string());
                    }
                }
            }
        }
        times.push(start.elapsed().as_nanos());
        black_box(&copies);
        result = copies;
    }
    let limit = if check_docs == 0 {
        result.len()
    } else {
        check_docs.min(result.len())
    };
    let path = out_dir.join(format!("update-{index}.jsonl"));
    let file = fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BufWriter::new(file);
    for doc in &result[..limit] {
        let value = to_json_value(&Bson::Document(doc.clone()), ExtJsonMode::Relaxed);
        serde_json::to_writer(&mut out, &value).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    let error_ids: Vec<Value> = errors.iter().map(|&i| id_json(&docs[i])).collect();
    json!({
        "name": name,
        "modified": modified,
        "errors": errors.len(),
        "error_ids": error_ids,
        "first_error": first_error,
        "output": path.display().to_string(),
        "output_docs": limit,
        "ns": times,
        "median_ns": median(&times) as u64,
        "best_ns": *times.iter().min().unwrap() as u64,
        "copy_median_ns": median(&copy_times) as u64,
    })
}

/// The floor under any matcher: one hand-written top-level lookup per document (the work of
/// the filter `{status: "active"}`), timed like the filters. `lookup` returns whether the
/// document's `status` is `"active"`.
fn baseline<D>(name: &str, docs: &[D], reps: usize, lookup: impl Fn(&D) -> bool) -> Value {
    let mut times = Vec::with_capacity(reps);
    let mut matched: Vec<usize> = Vec::with_capacity(docs.len());
    for rep in 0..=reps {
        matched.clear();
        let start = Instant::now();
        for (i, doc) in docs.iter().enumerate() {
            if lookup(doc) {
                matched.push(i);
            }
        }
        let elapsed = start.elapsed().as_nanos();
        black_box(&matched);
        if rep > 0 {
            times.push(elapsed);
        }
    }
    json!({
        "name": name,
        "count": matched.len(),
        "median_ns": median(&times) as u64,
        "best_ns": *times.iter().min().unwrap() as u64,
    })
}

fn main() {
    let args = parse_args();
    let load_start = Instant::now();
    let text =
        fs::read_to_string(&args.docs).unwrap_or_else(|e| panic!("{}: {e}", args.docs.display()));
    let docs = parse_documents(&text).expect("documents");
    drop(text);
    let load_ms = load_start.elapsed().as_millis() as u64;
    let filters = read_json(&args.filters);
    let updates = read_json(&args.updates);
    fs::create_dir_all(&args.out_dir).expect("out dir");

    // Matching reads the BSON bytes as they come from a file, a store page or the wire: the
    // collection is encoded once into one contiguous buffer, documents back to back, untimed
    // (as mingo parses its JSON once). Each document is a borrowed `&RawDocument` into it.
    let mut arena: Vec<u8> = Vec::new();
    let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(docs.len());
    for doc in &docs {
        let encoded = RawDocumentBuf::try_from(doc).expect("encodable document");
        let start = arena.len();
        arena.extend_from_slice(encoded.as_bytes());
        bounds.push((start, arena.len()));
    }
    let raws: Vec<&RawDocument> = bounds
        .iter()
        .map(|&(start, end)| RawDocument::from_bytes(&arena[start..end]).expect("valid bson"))
        .collect();

    let target = Bson::String("active".to_owned());
    let floor = baseline(
        "bare bson::Document::get(\"status\") == \"active\"",
        &docs,
        args.reps,
        |doc| doc.get(black_box("status")) == Some(&target),
    );
    let raw_floor = baseline(
        "bare bson::RawDocument::get_str(\"status\") == \"active\"",
        &raws,
        args.reps,
        |raw| matches!(raw.get_str(black_box("status")), Ok("active")),
    );
    let mut filter_results = Vec::new();
    for entry in filters["filters"]
        .as_array()
        .expect("filters.json: a \"filters\" array")
    {
        filter_results.push(run_filter(
            entry,
            &docs,
            &raws,
            args.reps,
            args.skip_decoded,
        ));
    }
    let mut update_results = Vec::new();
    let update_list = updates["updates"]
        .as_array()
        .expect("updates.json: an \"updates\" array");
    for (index, entry) in update_list.iter().enumerate() {
        update_results.push(run_update(
            index,
            entry,
            &docs,
            args.update_reps,
            args.check_docs,
            &args.out_dir,
        ));
    }
    let report = json!({
        "engine": "rampart-mql",
        "version": env!("CARGO_PKG_VERSION"),
        "docs": docs.len(),
        "reps": args.reps,
        "update_reps": args.update_reps,
        "load_ms": load_ms,
        "baseline": floor,
        "raw_baseline": raw_floor,
        "filters": filter_results,
        "updates": update_results,
    });
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    serde_json::to_writer(&mut lock, &report).unwrap();
    lock.write_all(b"\n").unwrap();
}
