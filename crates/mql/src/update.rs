//! Update operators, replacement documents and update pipelines.
// PLACEHOLDER: implemented by the update work; signatures are the contract.

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::Variables;
use crate::filter::Filter;

/// A compiled update: operator document, replacement, or pipeline.
#[derive(Debug, Clone)]
pub struct Update {
    _source: Bson,
}

/// What an update needs to know besides the document.
#[derive(Debug, Clone, Default)]
pub struct UpdateContext {
    /// The array position the query matched through (for the positional `$`).
    pub matched_position: Option<usize>,
    /// True when the update builds a new document for an upsert (`$setOnInsert` applies).
    pub is_upsert_insert: bool,
    /// Variables for update pipelines; also fixes `$$NOW` and `$currentDate`.
    pub variables: Variables,
}

impl Update {
    /// Parses an update: a document of operators, a replacement document (no `$` keys), or an
    /// array of pipeline stages. `array_filters` are the `arrayFilters` option.
    pub fn parse(update: &Bson, array_filters: &[Document]) -> Result<Update> {
        let _ = (update, array_filters);
        Err(MqlError::new(
            crate::ErrorKind::UnknownOperator,
            "updates are not implemented yet",
        ))
    }

    /// True for a replacement document.
    pub fn is_replacement(&self) -> bool {
        false
    }

    /// Applies the update to `doc` in place; returns whether anything changed. On error `doc`
    /// is left unchanged.
    pub fn apply(&self, doc: &mut Document, context: &UpdateContext) -> Result<bool> {
        let _ = (doc, context);
        Err(MqlError::new(
            crate::ErrorKind::UnknownOperator,
            "updates are not implemented yet",
        ))
    }

    /// The document an upsert inserts: the filter's seed (see [`Filter::upsert_seed`]) with the
    /// update applied as an insert; a replacement keeps only the seed's `_id`. Does not add an
    /// `_id` when neither gives one: the caller does.
    pub fn upsert_document(&self, filter: &Filter, context: &UpdateContext) -> Result<Document> {
        let _ = (filter, context);
        Err(MqlError::new(
            crate::ErrorKind::UnknownOperator,
            "updates are not implemented yet",
        ))
    }
}
