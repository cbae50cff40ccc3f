//! Find projections: inclusion, exclusion, `_id` rules, dotted paths, `$slice`, `$elemMatch`,
//! positional `$`.
// PLACEHOLDER: implemented by the projection work; signatures are the contract.

use bson::Document;

use crate::error::{MqlError, Result};

/// A compiled projection.
#[derive(Debug, Clone)]
pub struct Projection {
    _source: Document,
}

fn pending() -> MqlError {
    MqlError::new(
        crate::ErrorKind::UnknownOperator,
        "projections are not implemented yet",
    )
}

impl Projection {
    /// Compiles a projection; mixing inclusion and exclusion (other than `_id`) is an error.
    pub fn compile(spec: &Document) -> Result<Projection> {
        let _ = spec;
        Err(pending())
    }

    /// Projects `doc`. `matched_position` is the filter's array position, for `field.$`.
    pub fn apply(&self, doc: &Document, matched_position: Option<usize>) -> Result<Document> {
        let _ = (doc, matched_position);
        Err(pending())
    }
}
