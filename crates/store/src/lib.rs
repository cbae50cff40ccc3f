//! Rampart's document store: the [`Store`] trait, shaped like the MongoDB driver's database
//! and collection API, and its embedded backend, [`EmbeddedStore`], on one redb file.
//!
//! Query semantics (filters, updates, projection, sort, aggregation) come from `rampart-mql`;
//! the store adds persistence, transactions and indexes, and must give the same results as
//! `rampart_mql::find`/`update`/`delete` over a `Vec<Document>` (the property tests check it).
//!
//! The trait is synchronous and object-safe (`Arc<dyn Store>`): the async server calls it
//! through `spawn_blocking`.
//!
//! [`Store::find`] returns a [`Cursor`] of decoded documents; [`Store::find_raw`] the same
//! documents as BSON bytes (a [`RawCursor`], `Cursor<bson::RawDocumentBuf>`), for callers that
//! redact, filter or forward documents and decode only what they keep.
//!
//! # The embedded backend
//! - One file, `rampart.redb`, in the data directory; redb's file lock turns a second open
//!   into [`StoreError::Locked`]; a foreign, damaged or unknown-version file is
//!   [`StoreError::Corrupt`] (a `meta` table holds the format version; redb's integrity
//!   check runs on every open).
//! - Every write is one redb write transaction with immediate durability, so an acknowledged
//!   write survives a crash (`tests/crash.rs` SIGKILLs a writer 20 times). redb admits one
//!   writer at a time, which is what makes [`Store::transaction`] serializable: nothing can
//!   change between a body's read and its write. Readers use MVCC snapshots and never wait;
//!   a [`Cursor`] reads one snapshot for its whole life.
//! - Documents are keyed by an order-preserving encoding of `_id` (type-rank byte, then a
//!   per-type encoding; the four numeric types share one space, so `1`, `1.0` and
//!   `NumberLong(1)` are the same key, while distinct int64s stay distinct). Results without a
//!   sort come in `_id` order, whatever index served them.
//! - Secondary indexes (single or compound, unique or not) store the encoded values of each
//!   document (an array as its elements, an empty array as undefined, a missing field as
//!   null, as MongoDB does). A query uses one index: an `_id` constraint, else an equality/`$in`
//!   or a one-sided range on an index's leading field. An index only proposes candidates:
//!   every candidate is re-checked against the whole filter, so index use can never change a
//!   result; the planner refuses constraints it cannot bound soundly (null, arrays as range
//!   bounds, two-sided ranges on multikey indexes).
//! - Scans match each stored document on its bytes and decode only the matches; `find_raw`
//!   decodes none: it copies each match's bytes out of the page. With a sort it decodes only
//!   the top-level fields the sort reads; a projection decodes, projects and re-encodes.
//! - Limits on every write: 16 MiB ([`StoreError::DocumentTooLarge`]) and depth 100.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod api;
mod embedded;
mod error;
mod keys;
mod namespace;

pub use crate::api::{
    BatchSource, Cursor, FindOneAndModifyOptions, FindOptions, IndexDescription, IndexModel,
    QueryPlan, RawCursor, ReturnDocument, Store, Transaction, TransactionBody, UpdateOptions,
    UpdateResult, DEFAULT_BATCH_SIZE,
};
pub use crate::embedded::{EmbeddedStore, FILE_NAME};
pub use crate::error::{BulkWriteFailure, Result, StoreError};
pub use crate::namespace::{validate_database, Namespace};
