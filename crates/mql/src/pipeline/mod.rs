//! Aggregation pipelines: stages compiled once, run over a `Vec<Document>` that moves from
//! stage to stage.

mod bucket_auto;
mod densify;
mod group;
mod lookup;
mod redact;
mod shape;
mod window;

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::{Expr, Variables};
use crate::filter::Filter;
use crate::sort::SortSpec;

pub use group::{MAX_ACCUMULATED_BYTES, MAX_GROUPS, MAX_GROUP_STAGE_BYTES};

/// Deepest nesting of sub-pipelines (`$lookup`, `$facet`), as in MongoDB.
pub const MAX_PIPELINE_DEPTH: usize = 20;

/// Where `$lookup` and `$unionWith` read other collections from.
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
            "cannot read collection `{collection}` here (`$lookup` and `$unionWith` need a database)"
        )))
    }
}

/// A compiled pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
enum Stage {
    Match(Box<Filter>),
    Shape(shape::Shape),
    Sort(SortSpec),
    Skip(usize),
    Limit(usize),
    /// `$sample`: this many documents picked at random.
    Sample(u64),
    Count(String),
    Group(Box<group::Group>),
    SortByCount(Box<group::Group>),
    /// `$bucket`: a group by boundaries, sorted by bucket.
    Bucket(Box<group::Group>),
    BucketAuto(Box<bucket_auto::BucketAuto>),
    SetWindowFields(Box<window::SetWindowFields>),
    /// `$densify`: sorted, with documents added in the gaps.
    Densify(Box<densify::Densify>),
    /// `$unionWith`: the input, then another collection (or a `$documents` stage) through a
    /// sub-pipeline.
    UnionWith(Box<(Option<String>, Pipeline)>),
    Unwind(lookup::Unwind),
    ReplaceRoot(Expr),
    Lookup(Box<lookup::Lookup>),
    Facet(Vec<(String, Pipeline)>),
    Redact(redact::Redact),
    /// A stage MongoDB rewrites into other stages (`$fill`), run as they are.
    Rewritten(Box<Pipeline>),
    /// `$documents`: the documents an expression gives, in place of any input. Only first in
    /// a `$lookup` or `$unionWith` sub-pipeline.
    Documents(Expr),
}

/// Where a sub-pipeline may take its documents from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Origin {
    /// The top level, or a `$facet`: the documents it is given.
    Input,
    /// A `$lookup` or `$unionWith` sub-pipeline: a collection, or a first `$documents` stage.
    Source,
}

impl Pipeline {
    /// Compiles `stages`; unknown or unsupported stages are errors naming the stage.
    pub fn compile(stages: &[Document]) -> Result<Pipeline> {
        Self::compile_nested(stages, 0, Origin::Input)
    }

    fn compile_nested(stages: &[Document], depth: usize, origin: Origin) -> Result<Pipeline> {
        if depth > MAX_PIPELINE_DEPTH {
            return Err(MqlError::limit(format!(
                "sub-pipelines nest deeper than {MAX_PIPELINE_DEPTH} levels"
            )));
        }
        let stages = stages
            .iter()
            .enumerate()
            .map(|(position, stage)| {
                if stage.contains_key("$documents") {
                    check_documents_place(position, depth, origin)?;
                }
                compile_stage(stage, depth)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Pipeline { stages })
    }

    /// Whether the first stage is `$documents`, which makes the pipeline its own source.
    fn starts_with_documents(&self) -> bool {
        matches!(self.stages.first(), Some(Stage::Documents(_)))
    }

    /// Runs the pipeline over `input`.
    pub fn run(
        &self,
        input: Vec<Document>,
        source: &dyn CollectionSource,
        variables: &Variables,
    ) -> Result<Vec<Document>> {
        let variables = variables.pinned();
        self.run_pinned(input, source, &variables)
    }

    fn run_pinned(
        &self,
        input: Vec<Document>,
        source: &dyn CollectionSource,
        vars: &Variables,
    ) -> Result<Vec<Document>> {
        self.run_stages(0, input, source, vars)
    }

    /// Runs the first stage alone, on no input (a `$documents` making its documents).
    fn run_first(&self, source: &dyn CollectionSource, vars: &Variables) -> Result<Vec<Document>> {
        match self.stages.first() {
            Some(stage) => stage.run(Vec::new(), source, vars),
            None => Ok(Vec::new()),
        }
    }

    /// Runs the stages from position `first` on.
    fn run_stages(
        &self,
        first: usize,
        input: Vec<Document>,
        source: &dyn CollectionSource,
        vars: &Variables,
    ) -> Result<Vec<Document>> {
        let mut docs = input;
        for stage in self.stages.iter().skip(first) {
            docs = stage.run(docs, source, vars)?;
        }
        Ok(docs)
    }
}

fn compile_stage(stage: &Document, depth: usize) -> Result<Stage> {
    let mut fields = stage.iter();
    let (Some((name, spec)), None) = (fields.next(), fields.next()) else {
        return Err(MqlError::parse(format!(
            "a pipeline stage must be an object with exactly one field, found {}",
            stage.len()
        )));
    };
    let as_doc = || match spec {
        Bson::Document(doc) => Ok(doc),
        other => Err(MqlError::parse(format!(
            "`{name}` requires an object, found {}",
            crate::value::type_name(other)
        ))),
    };
    Ok(match name.as_str() {
        "$match" => Stage::Match(Box::new(Filter::compile(as_doc()?)?)),
        "$project" => Stage::Shape(shape::Shape::project(as_doc()?)?),
        "$addFields" | "$set" => Stage::Shape(shape::Shape::add_fields(name, as_doc()?)?),
        "$unset" => Stage::Shape(shape::Shape::unset(spec)?),
        "$sort" => {
            let doc = as_doc()?;
            if doc.is_empty() {
                return Err(MqlError::parse("`$sort` requires at least one sort key"));
            }
            Stage::Sort(SortSpec::compile(doc)?)
        }
        "$skip" => Stage::Skip(count_argument("$skip", spec, false)?),
        "$limit" => Stage::Limit(count_argument("$limit", spec, true)?),
        "$count" => Stage::Count(count_field(spec)?),
        "$group" => Stage::Group(Box::new(group::Group::compile(as_doc()?)?)),
        "$sortByCount" => Stage::SortByCount(Box::new(group::Group::count_by(spec)?)),
        "$bucket" => Stage::Bucket(Box::new(group::bucket(as_doc()?)?)),
        "$bucketAuto" => Stage::BucketAuto(Box::new(bucket_auto::BucketAuto::compile(as_doc()?)?)),
        "$unionWith" => Stage::UnionWith(Box::new(compile_union(spec, depth)?)),
        "$setWindowFields" => {
            Stage::SetWindowFields(Box::new(window::SetWindowFields::compile(as_doc()?)?))
        }
        "$unwind" => Stage::Unwind(lookup::Unwind::compile(spec)?),
        "$replaceRoot" => {
            let doc = as_doc()?;
            if let Some(extra) = doc.keys().find(|key| *key != "newRoot") {
                return Err(MqlError::parse(format!(
                    "`$replaceRoot` found an unknown argument `{extra}`"
                )));
            }
            let root = doc
                .get("newRoot")
                .ok_or_else(|| MqlError::parse("`$replaceRoot` requires a `newRoot` argument"))?;
            Stage::ReplaceRoot(Expr::compile(root)?)
        }
        "$replaceWith" => Stage::ReplaceRoot(Expr::compile(spec)?),
        "$lookup" => Stage::Lookup(Box::new(lookup::Lookup::compile(as_doc()?, depth)?)),
        "$facet" => Stage::Facet(compile_facet(as_doc()?, depth)?),
        "$redact" => Stage::Redact(redact::Redact::compile(spec)?),
        "$densify" => Stage::Densify(Box::new(densify::Densify::compile(as_doc()?)?)),
        "$fill" => Stage::Rewritten(Box::new(compile_fill(as_doc()?, depth)?)),
        "$documents" => Stage::Documents(Expr::compile(spec)?),
        "$out" | "$merge" => {
            return Err(MqlError::new(
                crate::ErrorKind::UnknownOperator,
                format!("`{name}` is not supported in this context"),
            ))
        }
        "$sample" => Stage::Sample(sample_size(spec)?),
        other => return Err(MqlError::unknown_operator(other, "pipeline stage")),
    })
}

/// `$fill`, rewritten as MongoDB's `document_source_fill.cpp` does: `method` outputs become
/// one `$setWindowFields` (`$locf` or `$linearFill` of the field, with `sortBy` and the
/// partition), `value` outputs then one `$addFields` of `{$ifNull: ["$field", value]}`.
fn compile_fill(spec: &Document, depth: usize) -> Result<Pipeline> {
    let op = "$fill";
    let mut window = Document::new();
    let mut output = None;
    for (key, value) in spec {
        match key.as_str() {
            "sortBy" => {
                window.insert("sortBy", value.clone());
            }
            "partitionBy" => {
                if spec.contains_key("partitionByFields") {
                    return Err(MqlError::parse(format!(
                        "`{op}` takes at most one of `partitionBy` and `partitionByFields`"
                    )));
                }
                if !matches!(value, Bson::String(_) | Bson::Document(_)) {
                    return Err(MqlError::parse(format!(
                        "`{op}` requires `partitionBy` to be a string or an object"
                    )));
                }
                window.insert("partitionBy", value.clone());
            }
            "partitionByFields" => {
                let not_names = || {
                    MqlError::parse(format!(
                        "`{op}` requires `partitionByFields` to be an array of field names"
                    ))
                };
                let Bson::Array(fields) = value else {
                    return Err(not_names());
                };
                let mut by = Document::new();
                for field in fields {
                    let Bson::String(field) = field else {
                        return Err(not_names());
                    };
                    crate::path::FieldPath::parse(field)?;
                    by.insert(field.clone(), format!("${field}"));
                }
                window.insert("partitionBy", by);
            }
            "output" => output = Some(value),
            other => {
                return Err(MqlError::parse(format!(
                    "`{op}` found an unknown argument `{other}`"
                )))
            }
        }
    }
    let fields = match output {
        Some(Bson::Document(fields)) if !fields.is_empty() => fields,
        _ => {
            return Err(MqlError::parse(format!(
                "`{op}` requires `output` to be an object with at least one field"
            )))
        }
    };
    let mut methods = Document::new();
    let mut values = Document::new();
    for (field, spec) in fields {
        let Bson::Document(spec) = spec else {
            return Err(MqlError::parse(format!(
                "`{op}`: output `{field}` must be an object with `method` or `value`"
            )));
        };
        if let Some(unknown) = spec.keys().find(|key| *key != "method" && *key != "value") {
            return Err(MqlError::parse(format!(
                "`{op}`: output `{field}` found an unknown argument `{unknown}`"
            )));
        }
        match (spec.get("method"), spec.get("value")) {
            (Some(_), Some(_)) => {
                return Err(MqlError::parse(format!(
                "`{op}`: output `{field}` must have exactly one of `method` or `value`, not both"
            )))
            }
            (Some(Bson::String(method)), None) if method == "locf" || method == "linear" => {
                let function = if method == "locf" {
                    "$locf"
                } else {
                    "$linearFill"
                };
                methods.insert(field.clone(), bson::doc! { function: format!("${field}") });
            }
            (Some(other), None) => {
                return Err(MqlError::bad_value(format!(
                    "`{op}`: `method` must be \"locf\" or \"linear\", found {other}"
                )))
            }
            (None, Some(value)) => {
                values.insert(
                    field.clone(),
                    bson::doc! { "$ifNull": [format!("${field}"), value.clone()] },
                );
            }
            (None, None) => {
                return Err(MqlError::parse(format!(
                    "`{op}`: output `{field}` must have `method` or `value`"
                )))
            }
        }
    }
    let mut stages = Vec::new();
    if !methods.is_empty() {
        window.insert("output", methods);
        stages.push(bson::doc! { "$setWindowFields": window });
    }
    if !values.is_empty() {
        stages.push(bson::doc! { "$addFields": values });
    }
    Pipeline::compile_nested(&stages, depth, Origin::Input)
}

/// `$documents` only starts a `$lookup` or `$unionWith` sub-pipeline: a collection's
/// pipeline reads the collection (MongoDB runs it first in a pipeline of `{aggregate: 1}`,
/// which reads no collection), and a `$facet` reads its input.
fn check_documents_place(position: usize, depth: usize, origin: Origin) -> Result<()> {
    if position > 0 {
        return Err(MqlError::parse(
            "$documents is only valid as the first stage in a pipeline",
        ));
    }
    if origin == Origin::Input {
        return Err(MqlError::parse(if depth == 0 {
            "`$documents` cannot start a collection's pipeline: use it in a `$lookup` or \
             `$unionWith` sub-pipeline"
        } else {
            "`$documents` is not allowed to be used within a `$facet` stage"
        }));
    }
    Ok(())
}

/// `$sample`'s `{size: n}`: a positive number, truncated toward zero (MongoDB 8.1 and later
/// refuse 0, which earlier versions took to mean no documents).
fn sample_size(spec: &Bson) -> Result<u64> {
    let Bson::Document(spec) = spec else {
        return Err(MqlError::parse(
            "the $sample stage specification must be an object",
        ));
    };
    let mut size = None;
    for (name, value) in spec {
        if name != "size" {
            return Err(MqlError::parse(format!(
                "unrecognized option to $sample: {name}"
            )));
        }
        let number = crate::value::number(value)
            .ok_or_else(|| MqlError::parse("size argument to $sample must be a number"))?;
        size = Some(number.saturating_long());
    }
    let size = size.ok_or_else(|| MqlError::parse("$sample stage must specify a size"))?;
    u64::try_from(size)
        .ok()
        .filter(|size| *size > 0)
        .ok_or_else(|| MqlError::bad_value("size argument to $sample must be a positive integer"))
}

/// A `$skip` or `$limit` count: a non-negative (for `$limit`, positive) whole number.
fn count_argument(stage: &str, spec: &Bson, positive: bool) -> Result<usize> {
    let number = crate::value::as_f64(spec);
    match number {
        Some(n) if n.fract() == 0.0 && n >= 0.0 && !(positive && n == 0.0) => {
            Ok(if n >= usize::MAX as f64 {
                usize::MAX
            } else {
                n as usize
            })
        }
        _ => Err(MqlError::bad_value(format!(
            "`{stage}` requires a {} whole number, found {spec}",
            if positive { "positive" } else { "non-negative" }
        ))),
    }
}

fn count_field(spec: &Bson) -> Result<String> {
    match spec {
        Bson::String(name) if !name.is_empty() && !name.starts_with('$') && !name.contains('.') => {
            Ok(name.clone())
        }
        _ => Err(MqlError::bad_value(
            "`$count` requires a non-empty field name without `$` or `.`",
        )),
    }
}

fn compile_facet(spec: &Document, depth: usize) -> Result<Vec<(String, Pipeline)>> {
    if spec.is_empty() {
        return Err(MqlError::parse(
            "`$facet` requires at least one output field",
        ));
    }
    let mut facets = Vec::with_capacity(spec.len());
    for (name, value) in spec {
        if name.is_empty() || name.starts_with('$') || name.contains('.') {
            return Err(MqlError::parse(format!(
                "`$facet` output field `{name}` may not be empty, start with `$` or contain `.`"
            )));
        }
        let stages = stage_list("$facet", value)?;
        if stages.is_empty() {
            return Err(MqlError::parse(format!(
                "`$facet` sub-pipeline `{name}` may not be empty"
            )));
        }
        for stage in &stages {
            if let Some(inner) = ["$facet", "$out", "$merge"]
                .into_iter()
                .find(|forbidden| stage.contains_key(*forbidden))
            {
                return Err(MqlError::parse(format!(
                    "`{inner}` is not allowed inside a `$facet` sub-pipeline"
                )));
            }
        }
        facets.push((
            name.clone(),
            Pipeline::compile_nested(&stages, depth + 1, Origin::Input)?,
        ));
    }
    Ok(facets)
}

/// `$unionWith`: a collection name, or `{coll, pipeline}`.
fn compile_union(spec: &Bson, depth: usize) -> Result<(Option<String>, Pipeline)> {
    let op = "$unionWith";
    let (collection, stages) = match spec {
        Bson::String(name) => (Some(name.clone()), Vec::new()),
        Bson::Document(doc) => {
            let mut collection = None;
            let mut stages = Vec::new();
            for (key, value) in doc {
                match (key.as_str(), value) {
                    ("coll", Bson::String(name)) => collection = Some(name.clone()),
                    ("coll", _) => {
                        return Err(MqlError::type_mismatch(format!(
                            "`{op}` requires `coll` to be a string"
                        )))
                    }
                    ("pipeline", value) => stages = stage_list(op, value)?,
                    (other, _) => {
                        return Err(MqlError::parse(format!(
                            "`{op}` found an unknown argument `{other}`"
                        )))
                    }
                }
            }
            (collection, stages)
        }
        other => {
            return Err(MqlError::parse(format!(
                "`{op}` requires a collection name or an object, found {}",
                crate::value::type_name(other)
            )))
        }
    };
    if collection.as_deref() == Some("") {
        return Err(MqlError::parse(format!(
            "`{op}` requires a non-empty `coll`"
        )));
    }
    for stage in &stages {
        if let Some(inner) = ["$out", "$merge"]
            .into_iter()
            .find(|forbidden| stage.contains_key(*forbidden))
        {
            return Err(MqlError::parse(format!(
                "`{inner}` is not allowed inside a `$unionWith` sub-pipeline"
            )));
        }
    }
    let pipeline = Pipeline::compile_nested(&stages, depth + 1, Origin::Source)?;
    // Without a collection the sub-pipeline must make its own documents.
    if collection.is_none() && !pipeline.starts_with_documents() {
        return Err(MqlError::parse(format!(
            "{op} stage without explicit collection must have a pipeline with $documents as \
             first stage"
        )));
    }
    Ok((collection, pipeline))
}

/// The stages of a sub-pipeline given as an array of documents.
fn stage_list(stage: &str, value: &Bson) -> Result<Vec<Document>> {
    let Bson::Array(items) = value else {
        return Err(MqlError::parse(format!(
            "`{stage}` requires a sub-pipeline as an array of stages"
        )));
    };
    items
        .iter()
        .map(|item| match item {
            Bson::Document(doc) => Ok(doc.clone()),
            _ => Err(MqlError::parse(format!(
                "`{stage}` sub-pipeline stages must be objects"
            ))),
        })
        .collect()
}

impl Stage {
    fn run(
        &self,
        mut docs: Vec<Document>,
        source: &dyn CollectionSource,
        vars: &Variables,
    ) -> Result<Vec<Document>> {
        match self {
            Stage::Match(filter) => {
                let mut kept = Vec::with_capacity(docs.len());
                for doc in docs {
                    if filter.matches_with(&doc, vars)? {
                        kept.push(doc);
                    }
                }
                Ok(kept)
            }
            Stage::Shape(shape) => docs.into_iter().map(|doc| shape.apply(doc, vars)).collect(),
            Stage::Sort(spec) => {
                spec.sort(&mut docs)?;
                Ok(docs)
            }
            Stage::Skip(count) => Ok(docs.into_iter().skip(*count).collect()),
            Stage::Limit(count) => {
                docs.truncate(*count);
                Ok(docs)
            }
            Stage::Sample(size) => {
                sample(&mut docs, *size, vars);
                Ok(docs)
            }
            Stage::Count(field) => Ok(count_stage(field, docs.len())),
            Stage::Group(group) => group.run(docs, vars),
            Stage::SortByCount(group) => {
                let mut out = group.run(docs, vars)?;
                group::sort_by_count(&mut out);
                Ok(out)
            }
            Stage::Bucket(group) => {
                let mut out = group.run(docs, vars)?;
                group::sort_by_id(&mut out);
                Ok(out)
            }
            Stage::BucketAuto(stage) => stage.run(docs, vars),
            Stage::SetWindowFields(stage) => stage.run(docs, vars),
            Stage::Densify(stage) => stage.run(docs, vars),
            Stage::UnionWith(union) => {
                let (collection, pipeline) = union.as_ref();
                let other = match collection {
                    Some(name) if !pipeline.starts_with_documents() => source.documents(name)?,
                    _ => Vec::new(),
                };
                docs.extend(pipeline.run_pinned(other, source, vars)?);
                Ok(docs)
            }
            Stage::Documents(expr) => documents(expr, vars),
            Stage::Unwind(unwind) => unwind.run(docs),
            Stage::ReplaceRoot(expr) => docs
                .into_iter()
                .map(|doc| replace_root(expr, &doc, vars))
                .collect(),
            Stage::Lookup(lookup) => lookup.run(docs, source, vars),
            Stage::Redact(redact) => redact.run(docs, vars),
            Stage::Rewritten(pipeline) => pipeline.run_pinned(docs, source, vars),
            Stage::Facet(facets) => {
                let mut out = Document::new();
                for (name, pipeline) in facets {
                    let results = pipeline.run_pinned(docs.clone(), source, vars)?;
                    out.insert(
                        name.clone(),
                        Bson::Array(results.into_iter().map(Bson::Document).collect()),
                    );
                }
                crate::limits::check_size(&out)?;
                Ok(vec![out])
            }
        }
    }
}

/// Keeps `size` documents picked uniformly at random without replacement, in random order
/// (all of them, shuffled, when there are no more than `size`), as MongoDB's `$sample` (a
/// random key per document, sorted, the first `size` kept): the first steps of a
/// Fisher-Yates shuffle.
fn sample(docs: &mut Vec<Document>, size: u64, vars: &Variables) {
    let len = docs.len();
    let keep = usize::try_from(size).unwrap_or(usize::MAX).min(len);
    for at in 0..keep {
        let remaining = (len - at) as u64;
        let offset = usize::try_from(vars.random_below(remaining)).unwrap_or(0);
        docs.swap(at, at + offset);
    }
    docs.truncate(keep);
}

fn count_stage(field: &str, count: usize) -> Vec<Document> {
    if count == 0 {
        return Vec::new();
    }
    let value = match i32::try_from(count) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(i64::try_from(count).unwrap_or(i64::MAX)),
    };
    let mut doc = Document::new();
    doc.insert(field, value);
    vec![doc]
}

/// `$documents`: the expression, evaluated once against an empty document, must give an
/// array of documents.
fn documents(expr: &Expr, vars: &Variables) -> Result<Vec<Document>> {
    let items = match expr.evaluate(&Document::new(), vars)? {
        Some(Bson::Array(items)) => items,
        other => {
            return Err(MqlError::bad_value(format!(
                "`$documents` requires an array of documents, found {}",
                other.as_ref().map_or("missing", crate::value::type_name)
            )))
        }
    };
    items
        .into_iter()
        .map(|item| match item {
            Bson::Document(doc) => Ok(doc),
            other => Err(MqlError::type_mismatch(format!(
                "elements within the array passed to `$documents` must be documents, found {}",
                crate::value::type_name(&other)
            ))),
        })
        .collect()
}

fn replace_root(expr: &Expr, doc: &Document, vars: &Variables) -> Result<Document> {
    match expr.evaluate(doc, vars)? {
        Some(Bson::Document(root)) => Ok(root),
        other => Err(MqlError::type_mismatch(format!(
            "`$replaceRoot` requires `newRoot` to evaluate to an object, found {}",
            other.as_ref().map_or("missing", crate::value::type_name)
        ))),
    }
}
