//! `$unwind` and `$lookup`.

use bson::{Bson, Document};

use super::{stage_list, CollectionSource, Origin, Pipeline};
use crate::error::{MqlError, Result};
use crate::expr::{Expr, Variables};
use crate::value::values_equal;

/// A compiled `$unwind`.
#[derive(Debug, Clone)]
pub(crate) struct Unwind {
    path: Vec<String>,
    index_field: Option<Vec<String>>,
    preserve: bool,
}

fn split_path(stage: &str, path: &str) -> Result<Vec<String>> {
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    if parts
        .iter()
        .any(|part| part.is_empty() || part.starts_with('$'))
    {
        return Err(MqlError::parse(format!(
            "`{stage}`: invalid field path `{path}`"
        )));
    }
    Ok(parts)
}

impl Unwind {
    pub(crate) fn compile(spec: &Bson) -> Result<Unwind> {
        let (path, index_field, preserve) = match spec {
            Bson::String(path) => (path.as_str(), None, false),
            Bson::Document(doc) => {
                if let Some(extra) = doc.keys().find(|key| {
                    !matches!(
                        key.as_str(),
                        "path" | "includeArrayIndex" | "preserveNullAndEmptyArrays"
                    )
                }) {
                    return Err(MqlError::parse(format!(
                        "`$unwind` found an unknown argument `{extra}`"
                    )));
                }
                let path = match doc.get("path") {
                    Some(Bson::String(path)) => path.as_str(),
                    _ => return Err(MqlError::parse("`$unwind` requires a string `path`")),
                };
                let index = match doc.get("includeArrayIndex") {
                    None => None,
                    Some(Bson::String(name)) if !name.is_empty() && !name.starts_with('$') => {
                        Some(split_path("$unwind", name)?)
                    }
                    Some(_) => {
                        return Err(MqlError::parse(
                            "`$unwind` requires `includeArrayIndex` to be a field name not starting with `$`",
                        ))
                    }
                };
                let preserve = match doc.get("preserveNullAndEmptyArrays") {
                    None => false,
                    Some(Bson::Boolean(flag)) => *flag,
                    Some(_) => {
                        return Err(MqlError::parse(
                            "`$unwind` requires `preserveNullAndEmptyArrays` to be a boolean",
                        ))
                    }
                };
                (path, index, preserve)
            }
            _ => {
                return Err(MqlError::parse(
                    "`$unwind` requires a field path string or an object",
                ))
            }
        };
        let Some(path) = path.strip_prefix('$') else {
            return Err(MqlError::parse(format!(
                "`$unwind` path `{path}` must be prefixed with `$`"
            )));
        };
        Ok(Unwind {
            path: split_path("$unwind", path)?,
            index_field,
            preserve,
        })
    }

    pub(crate) fn run(&self, docs: Vec<Document>) -> Result<Vec<Document>> {
        let mut out = Vec::with_capacity(docs.len());
        for mut doc in docs {
            match take_path(&mut doc, &self.path) {
                Some(Bson::Array(items)) if !items.is_empty() => {
                    for (index, item) in items.into_iter().enumerate() {
                        let mut copy = doc.clone();
                        set_path(&mut copy, &self.path, item);
                        self.set_index(&mut copy, Bson::Int64(index as i64));
                        out.push(copy);
                    }
                }
                Some(Bson::Array(_)) => {
                    // An empty array is removed from a preserved document.
                    if self.preserve {
                        remove_path(&mut doc, &self.path);
                        self.set_index(&mut doc, Bson::Null);
                        out.push(doc);
                    }
                }
                None | Some(Bson::Null) if !self.preserve => {}
                Some(value) => {
                    set_path(&mut doc, &self.path, value);
                    self.set_index(&mut doc, Bson::Null);
                    out.push(doc);
                }
                None => {
                    self.set_index(&mut doc, Bson::Null);
                    out.push(doc);
                }
            }
        }
        Ok(out)
    }

    fn set_index(&self, doc: &mut Document, index: Bson) {
        if let Some(field) = &self.index_field {
            set_path(doc, field, index);
        }
    }
}

/// Moves the value at `path` (through documents only) out of `doc`, leaving `null` there.
fn take_path(doc: &mut Document, path: &[String]) -> Option<Bson> {
    let (last, parents) = path.split_last()?;
    let mut current = doc;
    for part in parents {
        current = match current.get_mut(part)? {
            Bson::Document(inner) => inner,
            _ => return None,
        };
    }
    current
        .get_mut(last)
        .map(|slot| std::mem::replace(slot, Bson::Null))
}

fn remove_path(doc: &mut Document, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = doc;
    for part in parents {
        current = match current.get_mut(part) {
            Some(Bson::Document(inner)) => inner,
            _ => return,
        };
    }
    current.remove(last);
}

/// Sets `value` at `path`, creating (or replacing non-document values with) documents on the
/// way.
pub(crate) fn set_path(doc: &mut Document, path: &[String], value: Bson) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        doc.insert(first.clone(), value);
        return;
    }
    if !matches!(doc.get(first), Some(Bson::Document(_))) {
        doc.insert(first.clone(), Document::new());
    }
    if let Some(Bson::Document(inner)) = doc.get_mut(first) {
        set_path(inner, rest, value);
    }
}

/// A compiled `$lookup`.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    /// `None`: the pipeline starts with `$documents`.
    from: Option<String>,
    /// `localField` and `foreignField`, for the equality form.
    fields: Option<(Vec<String>, Vec<String>)>,
    lets: Vec<(String, Expr)>,
    pipeline: Option<Pipeline>,
    output: Vec<String>,
}

fn string_arg<'a>(spec: &'a Document, name: &str) -> Result<Option<&'a str>> {
    match spec.get(name) {
        None => Ok(None),
        Some(Bson::String(value)) => Ok(Some(value)),
        Some(_) => Err(MqlError::parse(format!(
            "`$lookup` requires `{name}` to be a string"
        ))),
    }
}

impl Lookup {
    pub(crate) fn compile(spec: &Document, depth: usize) -> Result<Lookup> {
        let known = [
            "from",
            "localField",
            "foreignField",
            "as",
            "let",
            "pipeline",
        ];
        if let Some(extra) = spec.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(MqlError::parse(format!(
                "`$lookup` found an unknown argument `{extra}`"
            )));
        }
        let from = string_arg(spec, "from")?;
        if from.is_none() && !spec.contains_key("pipeline") {
            return Err(MqlError::parse(
                "must specify 'pipeline' when 'from' is empty",
            ));
        }
        let output = string_arg(spec, "as")?
            .ok_or_else(|| MqlError::parse("`$lookup` requires an `as` field"))?;
        let fields = match (
            string_arg(spec, "localField")?,
            string_arg(spec, "foreignField")?,
        ) {
            (Some(local), Some(foreign)) => Some((
                split_path("$lookup", local)?,
                split_path("$lookup", foreign)?,
            )),
            (None, None) => None,
            _ => {
                return Err(MqlError::parse(
                    "`$lookup` requires both `localField` and `foreignField`, or neither",
                ))
            }
        };
        let pipeline = match spec.get("pipeline") {
            Some(stages) => Some(Pipeline::compile_nested(
                &stage_list("$lookup", stages)?,
                depth + 1,
                Origin::Source,
            )?),
            None => None,
        };
        let makes_documents = pipeline
            .as_ref()
            .is_some_and(Pipeline::starts_with_documents);
        if from.is_none() && !makes_documents {
            return Err(MqlError::parse(
                "$lookup stage without explicit collection must have a pipeline with $documents as first stage",
            ));
        }
        if fields.is_none() && pipeline.is_none() {
            return Err(MqlError::parse(
                "`$lookup` requires `localField` and `foreignField`, or a `pipeline`",
            ));
        }
        let lets = match spec.get("let") {
            None => Vec::new(),
            Some(Bson::Document(lets)) if pipeline.is_some() => lets
                .iter()
                .map(|(name, value)| Ok((name.clone(), Expr::compile(value)?)))
                .collect::<Result<Vec<_>>>()?,
            Some(_) => {
                return Err(MqlError::parse(
                    "`$lookup` requires `let` to be an object, used with a `pipeline`",
                ))
            }
        };
        Ok(Lookup {
            from: from.filter(|_| !makes_documents).map(str::to_owned),
            fields,
            lets,
            pipeline,
            output: split_path("$lookup", output)?,
        })
    }

    pub(crate) fn run(
        &self,
        docs: Vec<Document>,
        source: &dyn CollectionSource,
        vars: &Variables,
    ) -> Result<Vec<Document>> {
        let foreign = match &self.from {
            Some(from) => source.documents(from)?,
            None => Vec::new(),
        };
        let mut out = Vec::with_capacity(docs.len());
        for mut doc in docs {
            let joined = match &self.pipeline {
                Some(pipeline) => {
                    let mut scoped = vars.clone();
                    for (name, expr) in &self.lets {
                        // A field path to nothing leaves the variable missing, not null.
                        let value = expr.evaluate(&doc, vars)?;
                        scoped = scoped.with_optional(name.clone(), value);
                    }
                    if self.from.is_none() {
                        // The equality applies to what `$documents` makes, before the rest.
                        let generated = pipeline.run_first(source, &scoped)?;
                        let candidates = self.equal(&doc, &generated);
                        pipeline.run_stages(1, candidates, source, &scoped)?
                    } else {
                        let candidates = self.equal(&doc, &foreign);
                        pipeline.run_pinned(candidates, source, &scoped)?
                    }
                }
                None => self.equal(&doc, &foreign),
            };
            let joined = Bson::Array(joined.into_iter().map(Bson::Document).collect());
            set_path(&mut doc, &self.output, joined);
            out.push(doc);
        }
        Ok(out)
    }

    /// Copies of the `candidates` whose `foreignField` equals the local document's
    /// `localField`, with the equality form; of all of them without.
    fn equal(&self, doc: &Document, candidates: &[Document]) -> Vec<Document> {
        let Some((local, foreign_field)) = &self.fields else {
            return candidates.to_vec();
        };
        let wanted = local_values(doc, local);
        candidates
            .iter()
            .filter(|candidate| {
                let found = foreign_values(candidate, foreign_field);
                found
                    .iter()
                    .any(|value| wanted.iter().any(|w| values_equal(w, value)))
            })
            .cloned()
            .collect()
    }
}

/// The values a `localField` offers for matching, as MongoDB's `visitAllValuesAtPath` finds
/// them: arrays met on the way are walked through their documents, and an array at the end
/// stands for its elements, one level deep (`k: [[1, 2]]` offers `[1, 2]`, not 1 and 2). A
/// missing field offers `null`.
fn local_values(doc: &Document, path: &[String]) -> Vec<Bson> {
    let mut out = Vec::new();
    if !visit_local(doc, path, &mut out) {
        return vec![Bson::Null];
    }
    out
}

/// Collects the values at `path` into `out`; false when the path leads nowhere (a missing
/// field, or a scalar before its end, outside any array): the field is then missing.
fn visit_local(doc: &Document, path: &[String], out: &mut Vec<Bson>) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    match doc.get(first) {
        Some(value) => visit_local_value(value, rest, out),
        None => false,
    }
}

fn visit_local_value(value: &Bson, rest: &[String], out: &mut Vec<Bson>) -> bool {
    match value {
        Bson::Array(items) if rest.is_empty() => out.extend(items.iter().cloned()),
        _ if rest.is_empty() => out.push(value.clone()),
        Bson::Document(inner) => return visit_local(inner, rest, out),
        Bson::Array(items) => {
            for item in items {
                if let Bson::Document(inner) = item {
                    visit_local(inner, rest, out);
                }
            }
        }
        _ => return false,
    }
    true
}

/// The values a foreign document matches on, with query semantics: arrays match through
/// their elements as well as whole, and a missing field matches `null`.
fn foreign_values(doc: &Document, path: &[String]) -> Vec<Bson> {
    let mut out = Vec::new();
    collect_query_values(doc, path, &mut out);
    if out.is_empty() {
        out.push(Bson::Null);
    }
    out
}

fn collect_query_values(doc: &Document, path: &[String], out: &mut Vec<Bson>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(value) = doc.get(first) else {
        return;
    };
    collect_from_value(value, rest, out);
}

fn collect_from_value(value: &Bson, rest: &[String], out: &mut Vec<Bson>) {
    if rest.is_empty() {
        if let Bson::Array(items) = value {
            out.extend(items.iter().cloned());
        }
        out.push(value.clone());
        return;
    }
    match value {
        Bson::Document(inner) => collect_query_values(inner, rest, out),
        Bson::Array(items) => {
            if let Some(element) = rest
                .first()
                .and_then(|part| crate::path::array_index(part))
                .and_then(|index| items.get(index))
            {
                collect_from_value(element, rest.get(1..).unwrap_or(&[]), out);
            }
            for item in items {
                if let Bson::Document(inner) = item {
                    collect_query_values(inner, rest, out);
                }
            }
        }
        _ => {}
    }
}
