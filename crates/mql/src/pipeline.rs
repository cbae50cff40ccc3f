//! Aggregation pipelines.
// PLACEHOLDER: implemented by the aggregation work; signatures are the contract.

use bson::Document;

use crate::error::{MqlError, Result};
use crate::expr::Variables;

/// Where `$lookup` reads its foreign collection from.
pub trait CollectionSource {
    /// All documents of `collection` in the current database.
    fn documents(&self, collection: &str) -> Result<Vec<Document>>;
}

/// A source with no collections: `$lookup` fails with a clear error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCollections;

impl CollectionSource for NoCollections {
    fn documents(&self, collection: &str) -> Result<Vec<Document>> {
        Err(MqlError::bad_value(format!(
            "`$lookup` cannot read collection `{collection}` here"
        )))
    }
}

/// A compiled pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    _stages: Vec<Document>,
}

impl Pipeline {
    /// Compiles `stages`; unknown or unsupported stages are errors naming the stage.
    pub fn compile(stages: &[Document]) -> Result<Pipeline> {
        let _ = stages;
        Err(MqlError::new(
            crate::ErrorKind::UnknownOperator,
            "pipelines are not implemented yet",
        ))
    }

    /// Runs the pipeline over `input`.
    pub fn run(
        &self,
        input: Vec<Document>,
        source: &dyn CollectionSource,
        variables: &Variables,
    ) -> Result<Vec<Document>> {
        let _ = (input, source, variables);
        Err(MqlError::new(
            crate::ErrorKind::UnknownOperator,
            "pipelines are not implemented yet",
        ))
    }
}
