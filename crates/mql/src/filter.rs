//! Query filters: compile a filter document once, match many documents.
// PLACEHOLDER: implemented by the filter work; signatures are the contract.

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::path::FieldPath;

/// A compiled query filter.
#[derive(Debug, Clone)]
pub struct Filter {
    _source: Document,
}

/// The result of matching one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatchOutcome {
    /// Whether the document matches.
    pub matched: bool,
    /// For the positional `$` operator (update and projection): the index of the first element
    /// of the array the filter matched through, if it matched through one.
    pub array_position: Option<usize>,
}

/// A constraint on one path that every matching document satisfies, taken from the filter's
/// top-level conjunction; used to choose an index and to seed upserts.
#[derive(Debug, Clone, PartialEq)]
pub enum PathConstraint {
    /// The value at the path equals one of these (implicit equality, `$eq`, `$in` without regex).
    AnyOf(Vec<Bson>),
    /// The value at the path lies in this range; bounds are `(value, inclusive)`, both of the
    /// same canonical type bracket as MongoDB applies to `$gt`/`$lt` and friends.
    Range {
        /// Lower bound, if any.
        lower: Option<(Bson, bool)>,
        /// Upper bound, if any.
        upper: Option<(Bson, bool)>,
    },
}

fn pending() -> MqlError {
    MqlError::new(
        crate::ErrorKind::UnknownOperator,
        "filters are not implemented yet",
    )
}

impl Filter {
    /// Compiles `filter`; unknown operators and malformed operands are errors.
    pub fn compile(filter: &Document) -> Result<Filter> {
        let _ = filter;
        Err(pending())
    }

    /// Whether `doc` matches. Errors only from `$expr` evaluation.
    pub fn matches(&self, doc: &Document) -> Result<bool> {
        Ok(self.evaluate(doc)?.matched)
    }

    /// Matches `doc` and reports the array position for the positional operator.
    pub fn evaluate(&self, doc: &Document) -> Result<MatchOutcome> {
        let _ = doc;
        Err(pending())
    }

    /// Constraints per path from the top-level conjunction (see [`PathConstraint`]).
    pub fn constraints(&self) -> Vec<(FieldPath, PathConstraint)> {
        Vec::new()
    }

    /// The document an upsert starts from: the equality predicates of the filter (implicit,
    /// `$eq`, and those inside a top-level `$and`), as MongoDB seeds it. Errors when two
    /// predicates set conflicting paths.
    pub fn upsert_seed(&self) -> Result<Document> {
        Err(pending())
    }
}
