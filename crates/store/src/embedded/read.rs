//! Running queries over one snapshot: a read transaction for `Store` reads, or the write
//! transaction itself for reads inside a transaction (which then see its own writes).

use std::collections::{BTreeSet, VecDeque};
use std::ops::Bound;

use bson::{Bson, Document, RawDocument};
use rampart_mql::{array_index, compare_values, Filter, Projection, SortSpec};
use redb::{ReadOnlyTable, ReadableTable};

use crate::api::{BatchSource, FindOptions};
use crate::embedded::catalog::{BytesTable, CollectionEntry};
use crate::embedded::plan::{Access, KeyRange, Plan};
use crate::error::{Result, StoreError};

/// Opens documents and index tables by name, in a read or a write transaction.
pub(crate) trait Tables {
    type Table<'a>: ReadableTable<&'static [u8], &'static [u8]>
    where
        Self: 'a;

    fn table<'a>(&'a self, name: &str) -> Result<Self::Table<'a>>;
}

impl Tables for redb::ReadTransaction {
    type Table<'a> = ReadOnlyTable<&'static [u8], &'static [u8]>;

    fn table<'a>(&'a self, name: &str) -> Result<Self::Table<'a>> {
        Ok(self.open_table(BytesTable::new(name))?)
    }
}

impl Tables for redb::WriteTransaction {
    type Table<'a> = redb::Table<'a, &'static [u8], &'static [u8]>;

    fn table<'a>(&'a self, name: &str) -> Result<Self::Table<'a>> {
        Ok(self.open_table(BytesTable::new(name))?)
    }
}

/// A matching document: its primary key, the document, and the array position the filter
/// matched through (for the positional `$`).
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub key: Vec<u8>,
    pub doc: Document,
    pub position: Option<usize>,
}

/// Candidate documents still to visit, in `_id` order.
#[derive(Debug)]
pub(crate) enum Candidates {
    /// Ranges of the documents table.
    Ranges(VecDeque<KeyRange>),
    /// Primary keys found through a secondary index (deduplicated: a multikey document has
    /// several entries).
    Keys(VecDeque<Vec<u8>>),
}

impl Candidates {
    pub(crate) fn new<T: Tables>(tables: &T, plan: &Plan) -> Result<Candidates> {
        Ok(match &plan.access {
            Access::Scan => {
                Candidates::Ranges(VecDeque::from([(Bound::Unbounded, Bound::Unbounded)]))
            }
            Access::Primary { ranges, .. } => Candidates::Ranges(ranges.iter().cloned().collect()),
            Access::Index { index, ranges } => {
                let table = tables.table(&index.table_name())?;
                let mut keys = BTreeSet::new();
                for range in ranges {
                    for entry in table.range::<&[u8]>(borrow(range))? {
                        let (_, id) = entry?;
                        keys.insert(id.value().to_vec());
                    }
                }
                Candidates::Keys(keys.into_iter().collect())
            }
        })
    }

    /// Up to `want` more matches of `filter`, reading as many candidates as that takes
    /// (fewer matches only when the candidates run out). Each candidate is matched on its
    /// stored BSON bytes; only the matches are decoded.
    pub(crate) fn next_matches(
        &mut self,
        docs: &impl ReadableTable<&'static [u8], &'static [u8]>,
        filter: &Filter,
        want: usize,
    ) -> Result<Vec<Hit>> {
        let mut out = Vec::new();
        match self {
            Candidates::Keys(keys) => {
                while out.len() < want {
                    let Some(key) = keys.pop_front() else { break };
                    if let Some(bytes) = docs.get(key.as_slice())? {
                        if let Some(hit) = match_stored(filter, key, bytes.value())? {
                            out.push(hit);
                        }
                    }
                }
            }
            Candidates::Ranges(ranges) => {
                while out.len() < want {
                    let Some(range) = ranges.pop_front() else {
                        break;
                    };
                    let mut last = None;
                    for entry in docs.range::<&[u8]>(borrow(&range))? {
                        let (key, bytes) = entry?;
                        let key = key.value().to_vec();
                        if let Some(hit) = match_stored(filter, key.clone(), bytes.value())? {
                            out.push(hit);
                        }
                        last = Some(key);
                        if out.len() >= want {
                            break;
                        }
                    }
                    if let (Some(last), true) = (last, out.len() >= want) {
                        // Resume after the last key read, within the same range.
                        ranges.push_front((Bound::Excluded(last), range.1));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Matches one stored document on its bytes and decodes it only when it matches.
fn match_stored(filter: &Filter, key: Vec<u8>, bytes: &[u8]) -> Result<Option<Hit>> {
    let outcome = RawDocument::from_bytes(bytes)
        .map_err(|_| undecodable())
        .and_then(|raw| match filter.evaluate_raw(raw) {
            Ok(outcome) => Ok(outcome),
            // Corrupt bytes are a storage error, as when decoding; a query error stays one.
            Err(error) => match decode(bytes) {
                Ok(_) => Err(error.into()),
                Err(storage) => Err(storage),
            },
        })?;
    if !outcome.matched {
        return Ok(None);
    }
    Ok(Some(Hit {
        key,
        doc: decode(bytes)?,
        position: outcome.array_position,
    }))
}

fn undecodable() -> StoreError {
    StoreError::Storage("a stored document cannot be decoded".to_owned())
}

fn borrow(range: &KeyRange) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        range.0.as_ref().map(Vec::as_slice),
        range.1.as_ref().map(Vec::as_slice),
    )
}

/// Decodes a stored document.
pub(crate) fn decode(bytes: &[u8]) -> Result<Document> {
    Document::from_reader(bytes).map_err(|_| undecodable())
}

/// Every matching document, in `_id` order; stops after `stop_after` matches.
pub(crate) fn matching<T: Tables>(
    tables: &T,
    entry: &CollectionEntry,
    filter: &Filter,
    plan: &Plan,
    stop_after: Option<usize>,
) -> Result<Vec<Hit>> {
    let docs = tables.table(&entry.docs_table_name())?;
    let mut candidates = Candidates::new(tables, plan)?;
    let mut hits = Vec::new();
    loop {
        let want = stop_after.map_or(256, |limit| limit.saturating_sub(hits.len()).min(256));
        let batch = candidates.next_matches(&docs, filter, want)?;
        if batch.is_empty() {
            return Ok(hits);
        }
        hits.extend(batch);
        if stop_after.is_some_and(|limit| hits.len() >= limit) {
            return Ok(hits);
        }
    }
}

/// Sorts hits by `sort` (stable, so ties stay in `_id` order).
pub(crate) fn sort_hits(hits: &mut [Hit], sort: &SortSpec) {
    hits.sort_by(|a, b| sort.compare(&a.doc, &b.doc));
}

/// `skip` and `limit` (0 or `None` meaning none) as usizes.
pub(crate) fn window(skip: u64, limit: Option<u64>) -> (usize, usize) {
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    let limit = match limit {
        None | Some(0) => usize::MAX,
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
    };
    (skip, limit)
}

/// A compiled find: filter, projection, sort.
pub(crate) struct CompiledFind {
    pub filter: Filter,
    pub projection: Option<Projection>,
    pub sort: Option<SortSpec>,
    pub skip: usize,
    pub limit: usize,
}

impl CompiledFind {
    pub(crate) fn compile(options: &FindOptions) -> Result<CompiledFind> {
        let (skip, limit) = window(options.skip, options.limit);
        Ok(CompiledFind {
            filter: Filter::compile(&options.filter)?,
            projection: options
                .projection
                .as_ref()
                .map(Projection::compile)
                .transpose()?,
            sort: options.sort.as_ref().map(SortSpec::compile).transpose()?,
            skip,
            limit,
        })
    }

    fn project(&self, hit: Hit) -> Result<Document> {
        match &self.projection {
            Some(projection) => Ok(projection.apply(&hit.doc, hit.position)?),
            None => Ok(hit.doc),
        }
    }
}

/// A finished result, handed out batch by batch (sorted finds must read everything first).
pub(crate) struct Materialized(pub VecDeque<Document>);

impl BatchSource for Materialized {
    fn next_batch(&mut self, size: usize) -> Result<Vec<Document>> {
        let take = size.min(self.0.len());
        Ok(self.0.drain(..take).collect())
    }
}

/// An unsorted find streamed from a read snapshot: each batch reads only as many candidates
/// as it needs.
pub(crate) struct Streaming {
    pub docs: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pub candidates: Candidates,
    pub find: CompiledFind,
    pub to_skip: usize,
    pub remaining: usize,
}

impl BatchSource for Streaming {
    fn next_batch(&mut self, size: usize) -> Result<Vec<Document>> {
        let mut out = Vec::new();
        while out.len() < size && self.remaining > 0 {
            let want = (size - out.len()).min(self.to_skip.saturating_add(self.remaining));
            let batch = self
                .candidates
                .next_matches(&self.docs, &self.find.filter, want)?;
            if batch.is_empty() {
                break;
            }
            for hit in batch {
                if self.to_skip > 0 {
                    self.to_skip -= 1;
                    continue;
                }
                if self.remaining == 0 {
                    break;
                }
                self.remaining -= 1;
                out.push(self.find.project(hit)?);
            }
        }
        Ok(out)
    }
}

/// Sorts, windows and projects all hits of a sorted find.
pub(crate) fn finish_sorted(mut hits: Vec<Hit>, find: &CompiledFind) -> Result<VecDeque<Document>> {
    if let Some(sort) = &find.sort {
        sort_hits(&mut hits, sort);
    }
    hits.into_iter()
        .skip(find.skip)
        .take(find.limit)
        .map(|hit| find.project(hit))
        .collect()
}

/// The values of `path` in `doc` as `distinct` sees them: arrays of documents are traversed,
/// a terminal array contributes its elements, a missing field contributes nothing.
pub(crate) fn distinct_values(doc: &Document, path: &[String], out: &mut Vec<Bson>) {
    if let Some((head, rest)) = path.split_first() {
        if let Some(value) = doc.get(head) {
            distinct_walk(value, rest, out);
        }
    }
}

fn distinct_walk(value: &Bson, path: &[String], out: &mut Vec<Bson>) {
    let Some((head, rest)) = path.split_first() else {
        match value {
            Bson::Array(items) => out.extend(items.iter().cloned()),
            other => out.push(other.clone()),
        }
        return;
    };
    match value {
        Bson::Document(doc) => {
            if let Some(inner) = doc.get(head) {
                distinct_walk(inner, rest, out);
            }
        }
        Bson::Array(items) => {
            if let Some(item) = array_index(head).and_then(|position| items.get(position)) {
                distinct_walk(item, rest, out);
                return;
            }
            for item in items {
                if let Bson::Document(inner) = item {
                    if let Some(value) = inner.get(head) {
                        distinct_walk(value, rest, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Sorts values in MongoDB's order and removes duplicates (`1` and `1.0` count once).
pub(crate) fn dedup_values(mut values: Vec<Bson>) -> Vec<Bson> {
    values.sort_by(compare_values);
    values.dedup_by(|a, b| compare_values(a, b) == std::cmp::Ordering::Equal);
    values
}
