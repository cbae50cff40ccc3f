//! Pipeline compile and run must never panic: the input is two BSON documents back to back,
//! a document whose document values are the stages, and an input document. The input runs
//! once alone and once alongside a copy of itself, and `$lookup` reads a collection of the
//! same documents.
#![no_main]

use std::io::Cursor;

use bson::{Bson, Document};
use libfuzzer_sys::fuzz_target;
use rampart_mql::{CollectionSource, Pipeline, Variables};

struct Same(Vec<Document>);

impl CollectionSource for Same {
    fn documents(&self, _collection: &str) -> rampart_mql::Result<Vec<Document>> {
        Ok(self.0.clone())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let Ok(spec) = Document::from_reader(&mut cursor) else {
        return;
    };
    let stages: Vec<Document> = spec
        .into_iter()
        .filter_map(|(_, value)| match value {
            Bson::Document(stage) => Some(stage),
            _ => None,
        })
        .collect();
    let Ok(pipeline) = Pipeline::compile(&stages) else {
        return;
    };
    let doc = Document::from_reader(&mut cursor).unwrap_or_default();
    let input = vec![doc.clone(), doc];
    let source = Same(input.clone());
    let variables = Variables::new()
        .with_now(bson::DateTime::from_millis(1_700_000_000_000))
        .with("x", Bson::Int32(1));
    let _ = pipeline.run(input.clone(), &source, &variables);
    let _ = pipeline.run(Vec::new(), &source, &variables);
    if let Ok(first) = pipeline.run(input.clone(), &source, &variables) {
        // Deterministic: the same input gives the same output. Compared as bytes, where NaN
        // equals itself (`Bson`'s `==` follows IEEE: NaN != NaN).
        let again = pipeline.run(input, &source, &variables).ok();
        assert_eq!(again.map(|docs| bytes_of(&docs)), Some(bytes_of(&first)));
    }
});

fn bytes_of(documents: &[Document]) -> Vec<Vec<u8>> {
    documents
        .iter()
        .map(|document| {
            let mut bytes = Vec::new();
            document.to_writer(&mut bytes).unwrap_or_default();
            bytes
        })
        .collect()
}
