//! Collection-level operations over an in-memory `Vec<Document>`: the reference semantics the
//! stores, the playground and the rules simulator share.

use bson::oid::ObjectId;
use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::Variables;
use crate::filter::Filter;
use crate::pipeline::{CollectionSource, Pipeline};
use crate::projection::Projection;
use crate::sort::SortSpec;
use crate::update::{Update, UpdateContext};

/// Options of a find.
#[derive(Debug, Clone, Default)]
pub struct FindOptions {
    /// The query filter (empty matches everything).
    pub filter: Document,
    /// Projection, if any.
    pub projection: Option<Document>,
    /// Sort, if any; without one, documents come in stored order.
    pub sort: Option<Document>,
    /// Documents to skip after sorting.
    pub skip: u64,
    /// Maximum number of documents to return; `None` or 0 means no limit.
    pub limit: Option<u64>,
    /// Variables for `$expr` and computed projections (the `let` option), a fixed `$$NOW`, a
    /// seed for `$rand` and `$sampleRate`.
    pub variables: Variables,
}

/// Runs a find over `docs`.
pub fn find(docs: &[Document], options: &FindOptions) -> Result<Vec<Document>> {
    // One `$$NOW` and one sequence of random numbers for the whole find.
    let variables = options.variables.pinned();
    let filter = Filter::compile(&options.filter)?.with_variables(variables.clone());
    let projection = options
        .projection
        .as_ref()
        .map(Projection::compile)
        .transpose()?;
    if let Some(projection) = &projection {
        projection.check_filter(&options.filter)?;
    }
    let sort = options.sort.as_ref().map(SortSpec::compile).transpose()?;
    let mut hits: Vec<(&Document, Option<usize>)> = Vec::new();
    for doc in docs {
        let outcome = filter.evaluate(doc)?;
        if outcome.matched {
            hits.push((doc, outcome.array_position));
        }
    }
    if let Some(sort) = sort.as_ref().filter(|sort| !sort.is_empty()) {
        // One key extraction per document (which also raises MongoDB's parallel-array error),
        // then a stable sort: ties keep stored order.
        let mut keyed = hits
            .into_iter()
            .map(|hit| Ok((sort.try_key(hit.0)?, hit)))
            .collect::<Result<Vec<_>>>()?;
        keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
        hits = keyed.into_iter().map(|(_, hit)| hit).collect();
    }
    let skip = usize::try_from(options.skip).unwrap_or(usize::MAX);
    let limit = match options.limit {
        None | Some(0) => usize::MAX,
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
    };
    hits.into_iter()
        .skip(skip)
        .take(limit)
        .map(|(doc, position)| match &projection {
            Some(projection) => projection.apply_with(doc, position, &variables),
            None => Ok(doc.clone()),
        })
        .collect()
}

/// Options of an update.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// Update every matching document rather than the first.
    pub many: bool,
    /// Insert a document when none matches.
    pub upsert: bool,
    /// The `arrayFilters` option.
    pub array_filters: Vec<Document>,
    /// Variables for update pipelines and a fixed `$$NOW`.
    pub variables: Variables,
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateOutcome {
    /// Documents the filter matched (at most 1 without `many`).
    pub matched_count: u64,
    /// Documents actually changed.
    pub modified_count: u64,
    /// The `_id` of the upserted document, if one was inserted.
    pub upserted_id: Option<Bson>,
}

/// Runs an update (`update` is an operator document, a replacement or a pipeline) over `docs`.
/// All or nothing: if any document fails, `docs` is unchanged.
pub fn update(
    docs: &mut Vec<Document>,
    filter: &Document,
    update: &Bson,
    options: &UpdateOptions,
) -> Result<UpdateOutcome> {
    // One `$$NOW` and one sequence of random numbers for the whole update.
    let variables = options.variables.pinned();
    let compiled_filter = Filter::compile(filter)?.with_variables(variables.clone());
    let compiled = Update::parse(update, &options.array_filters)?;
    if compiled.is_replacement() && options.many {
        return Err(MqlError::bad_value(
            "a replacement document cannot update many documents",
        ));
    }
    let mut outcome = UpdateOutcome::default();
    let mut changes: Vec<(usize, Document)> = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        let matched = compiled_filter.evaluate(doc)?;
        if !matched.matched {
            continue;
        }
        outcome.matched_count += 1;
        let context = UpdateContext {
            matched_position: matched.array_position,
            is_upsert_insert: false,
            variables: variables.clone(),
        };
        let mut updated = doc.clone();
        if compiled.apply(&mut updated, &context)? {
            crate::limits::check_depth(&updated)?;
            crate::limits::check_size(&updated)?;
            changes.push((index, updated));
        }
        if !options.many {
            break;
        }
    }
    if outcome.matched_count == 0 && options.upsert {
        let context = UpdateContext {
            matched_position: None,
            is_upsert_insert: true,
            variables: variables.clone(),
        };
        let mut inserted = compiled.upsert_document(&compiled_filter, &context)?;
        let id = ensure_id(&mut inserted);
        crate::limits::check_depth(&inserted)?;
        crate::limits::check_size(&inserted)?;
        docs.push(inserted);
        outcome.upserted_id = Some(id);
        return Ok(outcome);
    }
    outcome.modified_count = changes.len() as u64;
    for (index, updated) in changes {
        if let Some(slot) = docs.get_mut(index) {
            *slot = updated;
        }
    }
    Ok(outcome)
}

/// Puts `_id` first, generating an ObjectId when there is none, as MongoDB does on insert.
pub fn with_id_first(mut doc: Document) -> Document {
    let id = doc
        .remove("_id")
        .unwrap_or_else(|| Bson::ObjectId(ObjectId::new()));
    let mut out = Document::new();
    out.insert("_id", id);
    out.extend(doc);
    out
}

/// [`with_id_first`] in place; returns the `_id`.
pub(crate) fn ensure_id(doc: &mut Document) -> Bson {
    *doc = with_id_first(std::mem::take(doc));
    doc.get("_id").cloned().unwrap_or(Bson::Null)
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Delete every matching document rather than the first.
    pub many: bool,
    /// Variables for `$expr` (the `let` option), a fixed `$$NOW`, a seed for `$rand` and
    /// `$sampleRate`.
    pub variables: Variables,
}

/// Deletes the first (or every, with `many`) document matching `filter`; returns the count.
/// All or nothing (Rampart's choice: MongoDB's `deleteMany` keeps the deletions made before a
/// failing document): if the filter fails on any document, `docs` is unchanged.
pub fn delete(docs: &mut Vec<Document>, filter: &Document, options: &DeleteOptions) -> Result<u64> {
    // One `$$NOW` and one sequence of random numbers for the whole delete.
    let compiled = Filter::compile(filter)?.with_variables(options.variables.pinned());
    let mut doomed = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        if compiled.matches(doc)? {
            doomed.push(index);
            if !options.many {
                break;
            }
        }
    }
    // `doomed` is ascending: one pass keeps every other document.
    let mut next = doomed.iter().copied().peekable();
    let mut position = 0;
    docs.retain(|_| {
        let keep = next.next_if_eq(&position).is_none();
        position += 1;
        keep
    });
    Ok(doomed.len() as u64)
}

/// Runs an aggregation pipeline over `docs`.
pub fn aggregate(
    docs: &[Document],
    pipeline: &[Document],
    source: &dyn CollectionSource,
    variables: &Variables,
) -> Result<Vec<Document>> {
    Pipeline::compile(pipeline)?.run(docs.to_vec(), source, variables)
}
