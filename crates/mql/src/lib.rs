//! MongoDB's query language, in process: Extended JSON, filters, update operators, projection,
//! sort and aggregation over `bson` documents, with MongoDB's documented semantics.
//!
//! Pure: no IO, no async, no global state; the clock (`$$NOW`) and the operating system's
//! randomness (`$rand`, `$sample`) are read only where a caller does not fix them
//! (`Variables::with_now`, `Variables::with_seed`). Everything compiles once (`Filter::compile`,
//! `Update::parse`, `Projection::compile`, `SortSpec::compile`, `Pipeline::compile`) and then
//! evaluates many documents. Anything this engine does not support is an error naming the
//! operator, never silently ignored.
//!
//! Decimal128 values compare exactly (filters, sort, grouping, equality), as MongoDB's do, and
//! add, subtract, multiply, divide, take remainders and round as decimal128 arithmetic (34
//! digits, half to even; `$add`, `$sum`, `$avg`, `$mod`, `$round`, `$inc`, `$mul`, ...); the
//! transcendental functions (`$sqrt`, `$exp`, `$ln`, `$log`, `$pow`) compute decimals in double
//! precision.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod decimal;
mod ejson;
mod error;
mod expr;
mod filter;
mod limits;
mod ops;
mod path;
mod pipeline;
mod projection;
mod random;
pub mod raw;
mod sort;
mod update;
mod value;

pub use crate::decimal::decimal_floor;
pub use crate::ejson::{
    from_json_value, parse_document, parse_documents, parse_value, to_json_string, to_json_value,
    to_plain_json, ExtJsonMode, WRAPPER_KEYS,
};
pub use crate::error::{ErrorKind, MqlError, Result};
pub use crate::expr::{truthy, Expr, Variables};
pub use crate::filter::{Filter, MatchOutcome, PathConstraint};
pub use crate::limits::{
    check_depth, check_size, compile_regex, MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_INPUT_DEPTH,
};
pub use crate::ops::{
    aggregate, delete, find, update, with_id_first, DeleteOptions, FindOptions, UpdateOptions,
    UpdateOutcome,
};
pub use crate::path::{array_index, lookup, FieldPath};
pub use crate::pipeline::{
    CollectionSource, NoCollections, Pipeline, MAX_ACCUMULATED_BYTES, MAX_GROUPS,
    MAX_GROUP_STAGE_BYTES, MAX_PIPELINE_DEPTH,
};
pub use crate::projection::Projection;
pub use crate::sort::{SortKey, SortSpec};
pub use crate::update::{Update, UpdateContext};
pub use crate::value::{
    compare_documents, compare_values, is_number, number, type_name, type_number,
    type_number_for_alias, type_rank, values_equal, Number,
};
