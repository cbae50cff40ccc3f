//! Runs every vendored App Services rules case (`tests/conformance/cases`, see its README for
//! the source and format) through the public API and compares it with its `expected`.
//!
//! Every case must pass except those in `KNOWN_FAILURES`, a list that only shrinks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use rampart_rules::simulate::{check_expected, simulate};

/// Cases that do not pass yet, each with the reason.
const KNOWN_FAILURES: &[&str] = &[];

#[test]
fn conformance_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 61, "the vendored suite has 61 cases");
    let mut failures = Vec::new();
    let mut passed = 0;
    for path in &paths {
        let id = path.file_stem().unwrap().to_string_lossy().into_owned();
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let outcome = simulate(&case)
            .map_err(|error| error.to_string())
            .and_then(|actual| check_expected(&case, &actual));
        match outcome {
            Ok(()) => passed += 1,
            Err(reason) => failures.push(format!("{id}: {reason}")),
        }
    }
    println!("{passed} of {} cases pass", paths.len());
    let unexpected: Vec<_> = failures
        .iter()
        .filter(|failure| {
            !KNOWN_FAILURES
                .iter()
                .any(|id| failure.starts_with(&format!("{id}:")))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "failing cases:\n{}",
        unexpected
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
