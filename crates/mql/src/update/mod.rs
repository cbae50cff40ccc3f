//! Update operators, replacement documents and update pipelines.
//!
//! An operator update is parsed once into a list of modifiers sorted the way MongoDB 5.0+
//! applies them (field names in lexicographic order, numeric names in numeric order), so new
//! fields are appended in the same order a server appends them. Conflicts, paths, operands and
//! array filters are all checked in [`Update::parse`]; [`Update::apply`] only walks documents.

mod apply;
mod modifiers;
mod parse;
mod push;
#[cfg(test)]
mod tests;

use bson::{Bson, Document};

use crate::error::{ErrorKind, MqlError, Result};
use crate::expr::Variables;
use crate::filter::Filter;
use crate::pipeline::{NoCollections, Pipeline};
use crate::value::values_equal;

use self::parse::OperatorUpdate;

/// A compiled update: operator document, replacement, or pipeline.
#[derive(Debug, Clone)]
pub struct Update {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Operators(OperatorUpdate),
    Replacement(Document),
    Pipeline(Pipeline),
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

/// The only stages MongoDB accepts in an update pipeline.
const PIPELINE_STAGES: &[&str] = &[
    "$addFields",
    "$set",
    "$project",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
];

impl Update {
    /// Parses an update: a document of operators, a replacement document (no `$` keys), or an
    /// array of pipeline stages. `array_filters` are the `arrayFilters` option.
    pub fn parse(update: &Bson, array_filters: &[Document]) -> Result<Update> {
        let kind = match update {
            Bson::Document(doc) => match doc.keys().next() {
                Some(first) if first.starts_with('$') => {
                    Kind::Operators(OperatorUpdate::parse(doc, array_filters)?)
                }
                _ => Kind::Replacement(parse_replacement(doc, array_filters)?),
            },
            Bson::Array(stages) => Kind::Pipeline(parse_pipeline(stages, array_filters)?),
            other => {
                return Err(MqlError::parse(format!(
                    "an update must be a document or a pipeline, not {}",
                    crate::value::type_name(other)
                )))
            }
        };
        Ok(Update { kind })
    }

    /// True for a replacement document.
    pub fn is_replacement(&self) -> bool {
        matches!(self.kind, Kind::Replacement(_))
    }

    /// True for an update pipeline.
    pub fn is_pipeline(&self) -> bool {
        matches!(self.kind, Kind::Pipeline(_))
    }

    /// Applies the update to `doc` in place; returns whether anything changed. On error `doc`
    /// is left unchanged.
    pub fn apply(&self, doc: &mut Document, context: &UpdateContext) -> Result<bool> {
        match &self.kind {
            Kind::Operators(update) => {
                update.apply_in_place(doc, context, context.is_upsert_insert)
            }
            Kind::Replacement(replacement) => replace(doc, replacement.clone()),
            Kind::Pipeline(pipeline) => {
                let new = run_pipeline(pipeline, doc.clone(), &context.variables)?;
                replace(doc, new)
            }
        }
    }

    /// The document an upsert inserts: the filter's seed (see [`Filter::upsert_seed`]) with the
    /// update applied as an insert; a replacement keeps only the seed's `_id`. Does not add an
    /// `_id` when neither gives one: the caller does.
    pub fn upsert_document(&self, filter: &Filter, context: &UpdateContext) -> Result<Document> {
        let seed = filter.upsert_seed()?;
        let doc = match &self.kind {
            Kind::Operators(update) => update.apply(&seed, context, true)?.0,
            Kind::Replacement(replacement) => keep_id(replacement.clone(), seed.get("_id"))?,
            Kind::Pipeline(pipeline) => {
                let id = seed.get("_id").cloned();
                let new = run_pipeline(pipeline, seed, &context.variables)?;
                keep_id(new, id.as_ref())?
            }
        };
        Ok(id_first(doc))
    }
}

fn parse_replacement(doc: &Document, array_filters: &[Document]) -> Result<Document> {
    if let Some(key) = doc.keys().find(|key| key.starts_with('$')) {
        return Err(MqlError::new(
            ErrorKind::InvalidFieldName,
            format!(
                "the dollar ($) prefixed field `{key}` is not allowed in a replacement document; \
                 use update operators or a pipeline"
            ),
        ));
    }
    reject_array_filters(array_filters, "replacement")?;
    Ok(doc.clone())
}

fn reject_array_filters(array_filters: &[Document], form: &str) -> Result<()> {
    if array_filters.is_empty() {
        return Ok(());
    }
    Err(MqlError::new(
        ErrorKind::NoSuchArrayFilter,
        format!("`arrayFilters` cannot be used with a {form} update: no array filter is used"),
    ))
}

fn parse_pipeline(stages: &[Bson], array_filters: &[Document]) -> Result<Pipeline> {
    reject_array_filters(array_filters, "pipeline")?;
    let mut docs = Vec::with_capacity(stages.len());
    for stage in stages {
        let Bson::Document(stage) = stage else {
            return Err(MqlError::parse(format!(
                "each stage of an update pipeline must be a document, not {}",
                crate::value::type_name(stage)
            )));
        };
        let name = stage.keys().next().map(String::as_str).unwrap_or("");
        if !PIPELINE_STAGES.contains(&name) {
            return Err(MqlError::bad_value(format!(
                "`{name}` is not allowed in an update pipeline \
                 (only $addFields, $set, $project, $unset, $replaceRoot and $replaceWith)"
            )));
        }
        docs.push(stage.clone());
    }
    Pipeline::compile(&docs)
}

fn run_pipeline(pipeline: &Pipeline, doc: Document, variables: &Variables) -> Result<Document> {
    let mut output = pipeline
        .run(vec![doc], &NoCollections, variables)?
        .into_iter();
    match (output.next(), output.next()) {
        (Some(doc), None) => Ok(doc),
        _ => Err(MqlError::bad_value(
            "an update pipeline must produce exactly one document",
        )),
    }
}

/// A replacement keeps the original `_id` (first) and may not change it.
fn keep_id(mut new: Document, id: Option<&Bson>) -> Result<Document> {
    let Some(id) = id else {
        return Ok(new);
    };
    match new.get("_id") {
        Some(new_id) if values_equal(new_id, id) => Ok(new),
        Some(new_id) => Err(MqlError::new(
            ErrorKind::ImmutableField,
            format!(
                "after applying the update, the (immutable) field `_id` was found to have been \
                 altered to _id: {}",
                modifiers::show(new_id)
            ),
        )),
        None => {
            let mut with_id = Document::new();
            with_id.insert("_id", id.clone());
            with_id.extend(std::mem::take(&mut new));
            Ok(with_id)
        }
    }
}

/// MongoDB's replacement: a no-op only when the new document, as given (before the original
/// `_id` is put back), is byte-for-byte the old one, so a replacement without `_id` always
/// counts as a modification.
fn replace(doc: &mut Document, new: Document) -> Result<bool> {
    if modifiers::documents_identical(doc, &new) {
        return Ok(false);
    }
    *doc = keep_id(new, doc.get("_id"))?;
    Ok(true)
}

/// MongoDB stores `_id` as the first field of an inserted document.
fn id_first(mut doc: Document) -> Document {
    if matches!(doc.keys().next(), Some(key) if key == "_id") {
        return doc;
    }
    let Some(id) = doc.remove("_id") else {
        return doc;
    };
    let mut ordered = Document::new();
    ordered.insert("_id", id);
    ordered.extend(doc);
    ordered
}
