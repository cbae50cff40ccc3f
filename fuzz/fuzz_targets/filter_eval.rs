//! Filter compile and evaluate must never panic: the input is two BSON documents back to back,
//! a filter and a document to match it against.
#![no_main]

use std::io::Cursor;

use bson::Document;
use libfuzzer_sys::fuzz_target;
use rampart_mql::Filter;

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let Ok(filter) = Document::from_reader(&mut cursor) else {
        return;
    };
    let Ok(compiled) = Filter::compile(&filter) else {
        return;
    };
    let _ = compiled.constraints();
    let _ = compiled.upsert_seed();
    let doc = Document::from_reader(&mut cursor).unwrap_or_default();
    if let Ok(outcome) = compiled.evaluate(&doc) {
        assert_eq!(compiled.matches(&doc).ok(), Some(outcome.matched));
        assert!(outcome.matched || outcome.array_position.is_none());
    }
});
