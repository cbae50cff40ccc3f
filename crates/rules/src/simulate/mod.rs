//! Decision cases in the format of the conformance suite (`tests/conformance/README.md`):
//! run one against an in-memory collection (`rampart rules simulate`) and compare the outcome
//! with its `expected` (`rampart rules test`). This is a reference caller of the decision API,
//! doing in memory what the Data API does over a store.

mod compare;
mod run;

pub use compare::check_expected;
pub use run::simulate;

/// A case file that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// The case is not in the documented format.
    #[error("malformed case: {0}")]
    Malformed(String),
    /// The case's rules do not load (every problem found).
    #[error("invalid rules: {0}")]
    Rules(#[from] crate::ConfigErrors),
}
