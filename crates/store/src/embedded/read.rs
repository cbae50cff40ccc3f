//! Running queries over one snapshot: a read transaction for `Store` reads, or the write
//! transaction itself for reads inside a transaction (which then see its own writes).

use std::collections::{BTreeSet, VecDeque};
use std::marker::PhantomData;
use std::ops::Bound;

use bson::{Bson, Document, RawDocument, RawDocumentBuf};
use rampart_mql::{array_index, compare_values, Filter, Projection, SortKey, SortSpec};
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

/// A matching document: its primary key, the document (decoded, or its bytes for
/// `find_raw`), and the array position the filter matched through (for the positional `$`).
#[derive(Debug, Clone)]
pub(crate) struct Hit<D = Document> {
    pub key: Vec<u8>,
    pub doc: D,
    pub position: Option<usize>,
}

/// What a scan hands out for each matching stored document: the decoded [`Document`]
/// (`find`, writes) or a copy of its bytes (`find_raw`).
pub(crate) trait Stored: Sized + Send + 'static {
    /// The output for a matching document's stored bytes.
    fn from_stored(raw: &RawDocument) -> Result<Self>;
    /// `projection` applied to the document.
    fn project(self, projection: &Projection, position: Option<usize>) -> Result<Self>;
    /// Sorts hits by `sort`, stably (ties stay in `_id` order).
    fn sort(hits: Vec<Hit<Self>>, sort: &SortSpec) -> Result<Vec<Hit<Self>>>;
}

impl Stored for Document {
    fn from_stored(raw: &RawDocument) -> Result<Document> {
        decode(raw.as_bytes())
    }

    fn project(self, projection: &Projection, position: Option<usize>) -> Result<Document> {
        Ok(projection.apply(&self, position)?)
    }

    fn sort(hits: Vec<Hit>, sort: &SortSpec) -> Result<Vec<Hit>> {
        Ok(sorted_by_key(hits, |hit| &hit.doc, sort))
    }
}

/// Nothing of a matching document: what counting needs. Hits of it are never projected or
/// sorted (`count_documents` has neither).
pub(crate) struct Counted;

impl Stored for Counted {
    fn from_stored(_: &RawDocument) -> Result<Counted> {
        Ok(Counted)
    }

    fn project(self, _: &Projection, _: Option<usize>) -> Result<Counted> {
        Ok(Counted)
    }

    fn sort(hits: Vec<Hit<Counted>>, _: &SortSpec) -> Result<Vec<Hit<Counted>>> {
        Ok(hits)
    }
}

impl Stored for RawDocumentBuf {
    fn from_stored(raw: &RawDocument) -> Result<RawDocumentBuf> {
        Ok(raw.to_owned())
    }

    /// A projection builds a new document: decode, project, encode.
    fn project(self, projection: &Projection, position: Option<usize>) -> Result<RawDocumentBuf> {
        let projected = projection.apply(&decode(self.as_bytes())?, position)?;
        RawDocumentBuf::try_from(&projected).map_err(StoreError::storage)
    }

    /// Decodes only the top-level fields the sort paths start with: a sort key never looks
    /// outside them, so comparing these partial documents orders as the whole documents do.
    fn sort(hits: Vec<Hit<RawDocumentBuf>>, sort: &SortSpec) -> Result<Vec<Hit<RawDocumentBuf>>> {
        let heads: Vec<&str> = sort
            .fields()
            .filter_map(|(path, _)| path.parts().first().map(String::as_str))
            .collect();
        let with_fields = hits
            .into_iter()
            .map(|hit| Ok((sort_fields(&hit.doc, &heads)?, hit)))
            .collect::<Result<Vec<_>>>()?;
        let sorted = sorted_by_key(with_fields, |(fields, _)| fields, sort);
        Ok(sorted.into_iter().map(|(_, hit)| hit).collect())
    }
}

/// `items` in `sort` order of the document `doc_of` gives for each, stably (ties keep their
/// order); each sort key is extracted once, not once per comparison.
fn sorted_by_key<T>(items: Vec<T>, doc_of: impl Fn(&T) -> &Document, sort: &SortSpec) -> Vec<T> {
    let order: Vec<usize> = {
        let mut keyed: Vec<(SortKey<'_>, usize)> = items
            .iter()
            .enumerate()
            .map(|(index, item)| (sort.key(doc_of(item)), index))
            .collect();
        keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
        keyed.into_iter().map(|(_, index)| index).collect()
    };
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|index| slots.get_mut(index).and_then(Option::take))
        .collect()
}

/// The top-level fields of `raw` named in `heads`, decoded (a repeated name keeps its last
/// value, as decoding the whole document does).
fn sort_fields(raw: &RawDocument, heads: &[&str]) -> Result<Document> {
    let mut fields = Document::new();
    for element in raw.iter_elements() {
        let element = element.map_err(|_| undecodable())?;
        let key = element.key().as_str();
        if heads.contains(&key) {
            let value = Bson::try_from(element).map_err(|_| undecodable())?;
            fields.insert(key, value);
        }
    }
    Ok(fields)
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
    /// stored BSON bytes; only the matches are decoded (or copied, for raw output).
    pub(crate) fn next_matches<D: Stored>(
        &mut self,
        docs: &impl ReadableTable<&'static [u8], &'static [u8]>,
        filter: &Filter,
        want: usize,
    ) -> Result<Vec<Hit<D>>> {
        let mut out = Vec::new();
        match self {
            Candidates::Keys(keys) => {
                while out.len() < want {
                    let Some(key) = keys.pop_front() else { break };
                    if let Some(bytes) = docs.get(key.as_slice())? {
                        if let Some((doc, position)) = match_stored(filter, bytes.value())? {
                            out.push(Hit { key, doc, position });
                        }
                    }
                }
            }
            Candidates::Ranges(ranges) => {
                while out.len() < want {
                    let Some(range) = ranges.pop_front() else {
                        break;
                    };
                    for entry in docs.range::<&[u8]>(borrow(&range))? {
                        let (key, bytes) = entry?;
                        if let Some((doc, position)) = match_stored(filter, bytes.value())? {
                            let key = key.value().to_vec();
                            out.push(Hit { key, doc, position });
                        }
                        if out.len() >= want {
                            // Resume after the last key read, within the same range.
                            let resume = Bound::Excluded(key.value().to_vec());
                            ranges.push_front((resume, range.1));
                            break;
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Matches one stored document on its bytes and decodes (or copies) it only when it matches;
/// returns it with the matched array position.
fn match_stored<D: Stored>(filter: &Filter, bytes: &[u8]) -> Result<Option<(D, Option<usize>)>> {
    let raw = RawDocument::from_bytes(bytes).map_err(|_| undecodable())?;
    let outcome = match filter.evaluate_raw(raw) {
        Ok(outcome) => outcome,
        // Corrupt bytes are a storage error, as when decoding; a query error stays one.
        Err(error) => {
            decode(bytes)?;
            return Err(error.into());
        }
    };
    if !outcome.matched {
        return Ok(None);
    }
    Ok(Some((D::from_stored(raw)?, outcome.array_position)))
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
pub(crate) fn matching<D: Stored, T: Tables>(
    tables: &T,
    entry: &CollectionEntry,
    filter: &Filter,
    plan: &Plan,
    stop_after: Option<usize>,
) -> Result<Vec<Hit<D>>> {
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

    fn project<D: Stored>(&self, hit: Hit<D>) -> Result<D> {
        match &self.projection {
            Some(projection) => hit.doc.project(projection, hit.position),
            None => Ok(hit.doc),
        }
    }
}

/// A finished result, handed out batch by batch (sorted finds must read everything first).
pub(crate) struct Materialized<D = Document>(pub VecDeque<D>);

impl<D: Stored> BatchSource<D> for Materialized<D> {
    fn next_batch(&mut self, size: usize) -> Result<Vec<D>> {
        let take = size.min(self.0.len());
        Ok(self.0.drain(..take).collect())
    }
}

/// An unsorted find streamed from a read snapshot: each batch reads only as many candidates
/// as it needs.
pub(crate) struct Streaming<D = Document> {
    pub docs: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pub candidates: Candidates,
    pub find: CompiledFind,
    pub to_skip: usize,
    pub remaining: usize,
    pub output: PhantomData<fn() -> D>,
}

impl<D: Stored> BatchSource<D> for Streaming<D> {
    fn next_batch(&mut self, size: usize) -> Result<Vec<D>> {
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
pub(crate) fn finish_sorted<D: Stored>(
    mut hits: Vec<Hit<D>>,
    find: &CompiledFind,
) -> Result<VecDeque<D>> {
    if let Some(sort) = &find.sort {
        hits = D::sort(hits, sort)?;
    }
    hits.into_iter()
        .skip(find.skip)
        .take(find.limit)
        .map(|hit| find.project(hit))
        .collect()
}

/// The values of `path` in `doc` as `distinct` sees them: arrays of documents are traversed,
/// a terminal array contributes its elements, a missing field contributes nothing.
pub(crate) fn distinct_values(
    doc: &RawDocument,
    path: &[String],
    out: &mut Vec<Bson>,
) -> Result<()> {
    // Only the path's top-level field is decoded.
    if let Some((head, rest)) = path.split_first() {
        if let Some(value) = doc.get(head).map_err(StoreError::storage)? {
            let value = Bson::try_from(value).map_err(StoreError::storage)?;
            distinct_walk(&value, rest, out);
        }
    }
    Ok(())
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
