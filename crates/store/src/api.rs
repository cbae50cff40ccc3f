//! The `Store` trait and its option and result types, shaped like the MongoDB driver's
//! database and collection API so that the embedded and the MongoDB backends are
//! interchangeable behind `Arc<dyn Store>`.

use std::collections::VecDeque;

use bson::{Bson, Document, RawDocumentBuf};

use crate::error::Result;
use crate::namespace::Namespace;

/// Default number of documents a [`Cursor`] fetches at a time.
pub const DEFAULT_BATCH_SIZE: usize = 101;

/// An index to create: `keys` maps each field to 1 or -1 (compound indexes list several).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexModel {
    /// Field → direction (1 or -1), in order.
    pub keys: Document,
    /// The index name; MongoDB's default (`a_1_b_-1`) when absent.
    pub name: Option<String>,
    /// Reject two documents with the same key values.
    pub unique: bool,
}

/// An index as `list_indexes` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDescription {
    /// The index name (`_id_` for the primary key).
    pub name: String,
    /// Field → direction.
    pub keys: Document,
    /// Whether the index is unique (`_id_` always is).
    pub unique: bool,
}

/// Options of a find.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindOptions {
    /// The query filter; empty matches everything.
    pub filter: Document,
    /// Projection, if any.
    pub projection: Option<Document>,
    /// Sort, if any; without one, documents come in `_id` order.
    pub sort: Option<Document>,
    /// Documents to skip after sorting.
    pub skip: u64,
    /// Maximum number of documents; `None` or 0 means no limit.
    pub limit: Option<u64>,
    /// Documents fetched at a time; `None` means [`DEFAULT_BATCH_SIZE`].
    pub batch_size: Option<usize>,
}

impl FindOptions {
    /// Options with only a filter.
    pub fn filter(filter: Document) -> FindOptions {
        FindOptions {
            filter,
            ..FindOptions::default()
        }
    }
}

/// Options of `update_one` / `update_many`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOptions {
    /// Insert a document when none matches.
    pub upsert: bool,
    /// The `arrayFilters` option.
    pub array_filters: Vec<Document>,
    /// For `update_one` and `replace_one`: which matching document goes first (MongoDB 8.0's
    /// `sort` option); `_id` order without one. Ignored by `update_many`.
    pub sort: Option<Document>,
}

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateResult {
    /// Documents the filter matched.
    pub matched_count: u64,
    /// Documents actually changed.
    pub modified_count: u64,
    /// The `_id` of the upserted document, if one was inserted.
    pub upserted_id: Option<Bson>,
}

/// Which version of the document `find_one_and_*` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReturnDocument {
    /// The document as it was before the write (MongoDB's default).
    #[default]
    Before,
    /// The document as the write left it.
    After,
}

/// Options of `find_one_and_update`, `find_one_and_replace` and `find_one_and_delete`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindOneAndModifyOptions {
    /// Which matching document to pick first.
    pub sort: Option<Document>,
    /// Projection of the returned document.
    pub projection: Option<Document>,
    /// Insert when nothing matches (ignored by delete).
    pub upsert: bool,
    /// Before or after the write (ignored by delete).
    pub return_document: ReturnDocument,
    /// The `arrayFilters` option (update only).
    pub array_filters: Vec<Document>,
}

/// How a query would run: which index, on which constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// `IDHACK` (point lookups on `_id`), `IXSCAN` or `COLLSCAN`.
    pub stage: &'static str,
    /// The index used, if any (`_id_` for the primary key).
    pub index: Option<String>,
    /// The constraint that selected it, in words.
    pub constraint: Option<String>,
    /// True when a sort runs in memory after the scan (always, for now, when there is a sort).
    pub in_memory_sort: bool,
}

/// Read and write access inside one atomic transaction. Every read sees the writes made
/// before it in the same transaction; no other writer can change anything the body read
/// before the transaction commits. A failed single-document call changes nothing; a failed
/// multi-document `update`/`delete_matching` may leave the documents it already wrote, so a
/// body should return the error (which aborts everything) rather than carry on.
pub trait Transaction {
    /// Documents of `ns` matching `filter`, in `_id` order.
    fn find(&mut self, ns: &Namespace, filter: &Document) -> Result<Vec<Document>>;
    /// The document with this `_id`.
    fn get(&mut self, ns: &Namespace, id: &Bson) -> Result<Option<Document>>;
    /// Inserts `doc` (adding an ObjectId `_id` first when it has none); returns its `_id`.
    fn insert(&mut self, ns: &Namespace, doc: Document) -> Result<Bson>;
    /// Replaces the stored document with `doc`'s `_id`; false when there is none.
    fn replace(&mut self, ns: &Namespace, doc: Document) -> Result<bool>;
    /// Deletes the document with this `_id`; false when there is none.
    fn delete(&mut self, ns: &Namespace, id: &Bson) -> Result<bool>;
    /// Runs an update (operators, replacement or pipeline) on the first or every match.
    fn update(
        &mut self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        many: bool,
        options: &UpdateOptions,
    ) -> Result<UpdateResult>;
    /// Deletes the first or every match; returns the count.
    fn delete_matching(&mut self, ns: &Namespace, filter: &Document, many: bool) -> Result<u64>;
}

/// The body of a transaction.
pub type TransactionBody<'a> = dyn FnMut(&mut dyn Transaction) -> Result<()> + 'a;

/// A document store with MongoDB's collection semantics. Synchronous: the async server calls
/// it through `spawn_blocking`. Mutating methods are atomic: they change everything or nothing
/// (except `insert_many`, which keeps the documents stored before a failure, as MongoDB does).
pub trait Store: Send + Sync {
    /// Names of databases holding at least one collection, sorted.
    fn list_databases(&self) -> Result<Vec<String>>;
    /// Drops every collection of `database`; false when it had none.
    fn drop_database(&self, database: &str) -> Result<bool>;
    /// Names of the collections of `database`, sorted.
    fn list_collections(&self, database: &str) -> Result<Vec<String>>;
    /// Creates an empty collection; `NamespaceExists` if it exists.
    fn create_collection(&self, ns: &Namespace) -> Result<()>;
    /// Drops a collection and its indexes; false when it did not exist.
    fn drop_collection(&self, ns: &Namespace) -> Result<bool>;
    /// Creates an index (and the collection if missing); returns its name. Creating an index
    /// that exists with the same keys, name and options does nothing.
    fn create_index(&self, ns: &Namespace, index: IndexModel) -> Result<String>;
    /// Drops the named index; the `_id_` index cannot be dropped.
    fn drop_index(&self, ns: &Namespace, name: &str) -> Result<()>;
    /// The indexes of a collection, `_id_` first.
    fn list_indexes(&self, ns: &Namespace) -> Result<Vec<IndexDescription>>;
    /// Runs a query; the cursor reads from one consistent snapshot.
    fn find(&self, ns: &Namespace, options: FindOptions) -> Result<Cursor>;
    /// As [`Store::find`], but each document comes as its BSON bytes, not decoded: for callers
    /// that redact, filter or forward documents and decode only what they keep. Same results,
    /// order, batching and errors as `find`. The embedded backend hands out the stored bytes
    /// and decodes nothing, except the fields a `sort` reads; with a `projection` each returned
    /// document is decoded, projected and re-encoded.
    fn find_raw(&self, ns: &Namespace, options: FindOptions) -> Result<RawCursor>;
    /// Counts the documents matching `filter` after `skip`, up to `limit` (0 = none).
    fn count_documents(
        &self,
        ns: &Namespace,
        filter: &Document,
        skip: u64,
        limit: Option<u64>,
    ) -> Result<u64>;
    /// Counts every document of the collection (from its metadata, no filter).
    fn estimated_document_count(&self, ns: &Namespace) -> Result<u64>;
    /// The distinct values of `field` among matching documents; arrays are unwound one level.
    fn distinct(&self, ns: &Namespace, field: &str, filter: &Document) -> Result<Vec<Bson>>;
    /// Inserts one document; returns its `_id`.
    fn insert_one(&self, ns: &Namespace, doc: Document) -> Result<Bson>;
    /// Inserts documents; `ordered` stops at the first failure, otherwise every document is
    /// tried. Stored documents stay; failures come back as `StoreError::BulkWrite`.
    fn insert_many(&self, ns: &Namespace, docs: Vec<Document>, ordered: bool) -> Result<Vec<Bson>>;
    /// Updates the first matching document.
    fn update_one(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        options: &UpdateOptions,
    ) -> Result<UpdateResult>;
    /// Updates every matching document, atomically.
    fn update_many(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        options: &UpdateOptions,
    ) -> Result<UpdateResult>;
    /// Replaces the first matching document (by `options.sort`); operator documents are
    /// rejected; `options.array_filters` does not apply.
    fn replace_one(
        &self,
        ns: &Namespace,
        filter: &Document,
        replacement: Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult>;
    /// Deletes the first matching document; returns the count (0 or 1).
    fn delete_one(&self, ns: &Namespace, filter: &Document) -> Result<u64>;
    /// Deletes every matching document, atomically; returns the count.
    fn delete_many(&self, ns: &Namespace, filter: &Document) -> Result<u64>;
    /// Updates the first document by `options.sort` and returns it (before or after).
    fn find_one_and_update(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Bson,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>>;
    /// Replaces the first document by `options.sort` and returns it (before or after).
    fn find_one_and_replace(
        &self,
        ns: &Namespace,
        filter: &Document,
        replacement: Document,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>>;
    /// Deletes the first document by `options.sort` and returns it.
    fn find_one_and_delete(
        &self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOneAndModifyOptions,
    ) -> Result<Option<Document>>;
    /// Runs an aggregation pipeline; `$lookup` reads the same snapshot.
    fn aggregate(&self, ns: &Namespace, pipeline: &[Document]) -> Result<Vec<Document>>;
    /// How a find with this filter and sort would run.
    fn explain(
        &self,
        ns: &Namespace,
        filter: &Document,
        sort: Option<&Document>,
    ) -> Result<QueryPlan>;
    /// Runs `body` in one transaction: everything it writes commits atomically, or nothing
    /// does if it returns an error.
    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<()>;
}

/// Where a [`Cursor`] gets its next batch from: decoded documents by default, or
/// [`RawDocumentBuf`]s for a [`RawCursor`].
pub trait BatchSource<T = Document>: Send {
    /// Up to `size` more documents; an empty batch means the end.
    fn next_batch(&mut self, size: usize) -> Result<Vec<T>>;
}

/// The documents of a find, fetched `batch_size` at a time from one read snapshot: decoded
/// [`Document`]s from [`Store::find`], or BSON bytes from [`Store::find_raw`] ([`RawCursor`]).
pub struct Cursor<T = Document> {
    source: Box<dyn BatchSource<T>>,
    buffer: VecDeque<T>,
    batch_size: usize,
    exhausted: bool,
}

/// The documents of [`Store::find_raw`], each as its BSON bytes.
pub type RawCursor = Cursor<RawDocumentBuf>;

impl<T> Cursor<T> {
    /// A cursor over `source`.
    pub fn new(source: Box<dyn BatchSource<T>>, batch_size: Option<usize>) -> Cursor<T> {
        Cursor {
            source,
            buffer: VecDeque::new(),
            batch_size: batch_size
                .filter(|size| *size > 0)
                .unwrap_or(DEFAULT_BATCH_SIZE),
            exhausted: false,
        }
    }

    /// The next batch of documents; empty at the end.
    pub fn next_batch(&mut self) -> Result<Vec<T>> {
        if !self.buffer.is_empty() {
            return Ok(self.buffer.drain(..).collect());
        }
        if self.exhausted {
            return Ok(Vec::new());
        }
        let batch = self.source.next_batch(self.batch_size)?;
        if batch.is_empty() {
            self.exhausted = true;
        }
        Ok(batch)
    }

    /// Reads every remaining document.
    pub fn collect_all(self) -> Result<Vec<T>> {
        self.collect()
    }
}

impl<T> Iterator for Cursor<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.exhausted {
            match self.source.next_batch(self.batch_size) {
                Ok(batch) if batch.is_empty() => self.exhausted = true,
                Ok(batch) => self.buffer.extend(batch),
                Err(error) => {
                    self.exhausted = true;
                    return Some(Err(error));
                }
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

impl<T> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("buffered", &self.buffer.len())
            .field("batch_size", &self.batch_size)
            .field("exhausted", &self.exhausted)
            .finish()
    }
}
