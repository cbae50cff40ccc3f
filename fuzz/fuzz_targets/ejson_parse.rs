//! Extended JSON reading never panics, and whatever it accepts survives the canonical round
//! trip: canonical text -> parse -> canonical text is the identity.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_mql::{parse_document, parse_documents, parse_value, to_json_string, ExtJsonMode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = parse_value(text) {
        let canonical = to_json_string(&value, ExtJsonMode::Canonical);
        let again = parse_value(&canonical)
            .unwrap_or_else(|error| panic!("canonical output {canonical} does not parse: {error}"));
        assert_eq!(to_json_string(&again, ExtJsonMode::Canonical), canonical);
        // Relaxed output must at least be readable.
        let relaxed = to_json_string(&value, ExtJsonMode::Relaxed);
        if let Err(error) = parse_value(&relaxed) {
            panic!("relaxed output {relaxed} does not parse: {error}");
        }
    }
    if let Ok(docs) = parse_documents(text) {
        for doc in docs {
            // A top-level document's own keys are never a type wrapper, so it goes back
            // through `parse_document`, not `parse_value`.
            let canonical = to_json_string(&bson::Bson::Document(doc), ExtJsonMode::Canonical);
            let again = parse_document(&canonical).unwrap_or_else(|error| {
                panic!("canonical output {canonical} does not parse: {error}")
            });
            assert_eq!(
                to_json_string(&bson::Bson::Document(again), ExtJsonMode::Canonical),
                canonical
            );
        }
    }
});
