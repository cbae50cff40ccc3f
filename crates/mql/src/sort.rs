//! Multi-key sort in MongoDB's order.
// PLACEHOLDER: implemented by the projection work; signatures are the contract.

use std::cmp::Ordering;

use bson::Document;

use crate::error::{MqlError, Result};

/// A compiled sort specification (`{a: 1, "b.c": -1}`).
#[derive(Debug, Clone)]
pub struct SortSpec {
    _source: Document,
}

impl SortSpec {
    /// Compiles a sort document; values must be 1 or -1 (any numeric type).
    pub fn compile(spec: &Document) -> Result<SortSpec> {
        let _ = spec;
        Err(MqlError::new(
            crate::ErrorKind::UnknownOperator,
            "sort is not implemented yet",
        ))
    }

    /// Compares two documents by the sort keys (arrays sort by their smallest element
    /// ascending, their largest descending; missing sorts as null).
    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        let _ = (a, b);
        Ordering::Equal
    }
}
