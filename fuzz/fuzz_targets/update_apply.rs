//! Parsing and applying any update to any document never panics; a failed apply leaves the
//! document as it was, and a successful one reports a change exactly when one happened.
//!
//! Input layout: the first byte picks the matched array position and whether this is an
//! upsert insert; the rest is two BSON documents back to back: the update (an `update` field
//! holding a document or a pipeline array, optional `arrayFilters`) and the target document.

#![no_main]

use bson::{Bson, Document};
use libfuzzer_sys::fuzz_target;
use rampart_mql::{Update, UpdateContext, Variables};

fuzz_target!(|data: &[u8]| {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let Ok(spec) = Document::from_reader(&mut rest) else {
        return;
    };
    let Ok(target) = Document::from_reader(&mut rest) else {
        return;
    };
    let update = spec
        .get("update")
        .cloned()
        .unwrap_or(Bson::Document(spec.clone()));
    let array_filters: Vec<Document> = match spec.get("arrayFilters") {
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_document().cloned())
            .collect(),
        _ => Vec::new(),
    };
    let Ok(parsed) = Update::parse(&update, &array_filters) else {
        return;
    };
    let context = UpdateContext {
        matched_position: (control & 0x80 == 0).then_some(usize::from(control & 0x07)),
        is_upsert_insert: control & 0x40 != 0,
        variables: Variables::new().with_now(bson::DateTime::from_millis(1_700_000_000_000)),
    };
    let mut doc = target.clone();
    let outcome = parsed.apply(&mut doc, &context);
    // Compared as bytes: `PartialEq` says NaN differs from itself.
    let unchanged = doc.to_vec().ok() == target.to_vec().ok();
    match outcome {
        Ok(false) => assert!(
            unchanged,
            "apply reported no change but changed the document"
        ),
        Ok(true) => {}
        Err(_) => assert!(unchanged, "a failed apply changed the document"),
    }
});
