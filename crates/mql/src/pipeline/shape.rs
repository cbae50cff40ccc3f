//! `$project`, `$addFields`/`$set` and `$unset`: reshaping documents with aggregation
//! projection semantics.

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::{Expr, Variables};

/// One node of a projection tree, keyed by a single path component.
#[derive(Debug, Clone)]
pub(crate) enum Spec {
    Include,
    Exclude,
    Computed(Expr),
    Nested(Vec<(String, Spec)>),
}

/// A compiled `$project`, `$addFields` or `$unset`.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Inclusion(Vec<(String, Spec)>),
    Exclusion(Vec<(String, Spec)>),
    AddFields(Vec<(String, Spec)>),
}

/// What a `$project` value means.
fn classify(stage: &str, value: &Bson) -> Result<Option<Spec>> {
    Ok(Some(match value {
        Bson::Boolean(flag) => flag_spec(*flag),
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            flag_spec(crate::expr::truthy(Some(value)))
        }
        Bson::Document(doc) => {
            if doc.keys().next().is_some_and(|key| key.starts_with('$')) {
                Spec::Computed(Expr::compile(value)?)
            } else if doc.is_empty() {
                return Err(MqlError::parse(format!(
                    "`{stage}`: an empty sub-projection is not a valid value"
                )));
            } else {
                return Ok(None);
            }
        }
        other => Spec::Computed(Expr::compile(other)?),
    }))
}

fn flag_spec(include: bool) -> Spec {
    if include {
        Spec::Include
    } else {
        Spec::Exclude
    }
}

/// Inserts `spec` at the dotted `path` of `tree`, failing on a path collision.
fn insert(tree: &mut Vec<(String, Spec)>, path: &str, spec: Spec, stage: &str) -> Result<()> {
    let collision = || MqlError::parse(format!("`{stage}`: path collision at `{path}`"));
    let mut parts = path.split('.').peekable();
    let mut level = tree;
    while let Some(part) = parts.next() {
        if part.is_empty() || part.starts_with('$') {
            return Err(MqlError::parse(format!(
                "`{stage}`: invalid field path `{path}`"
            )));
        }
        let position = level.iter().position(|(name, _)| name == part);
        if parts.peek().is_none() {
            if position.is_some() {
                return Err(collision());
            }
            level.push((part.to_owned(), spec));
            return Ok(());
        }
        let index = match position {
            Some(index) => index,
            None => {
                level.push((part.to_owned(), Spec::Nested(Vec::new())));
                level.len() - 1
            }
        };
        level = match level.get_mut(index) {
            Some((_, Spec::Nested(children))) => children,
            _ => return Err(collision()),
        };
    }
    Ok(())
}

/// Adds every field of a `$project`/`$addFields` document below `prefix`.
fn collect(
    tree: &mut Vec<(String, Spec)>,
    doc: &Document,
    prefix: &str,
    stage: &str,
    add_fields: bool,
) -> Result<()> {
    for (key, value) in doc {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let spec = if add_fields {
            match value {
                Bson::Document(inner)
                    if !inner.keys().next().is_some_and(|k| k.starts_with('$')) =>
                {
                    if inner.is_empty() {
                        Some(Spec::Computed(Expr::compile(value)?))
                    } else {
                        None
                    }
                }
                other => Some(Spec::Computed(Expr::compile(other)?)),
            }
        } else {
            classify(stage, value)?
        };
        match spec {
            Some(spec) => insert(tree, &path, spec, stage)?,
            None => match value {
                Bson::Document(inner) => collect(tree, inner, &path, stage, add_fields)?,
                _ => return Err(MqlError::parse(format!("`{stage}`: invalid value"))),
            },
        }
    }
    Ok(())
}

/// Whether a tree has inclusions (or computed fields) and exclusions, `_id` aside at the top:
/// it may be included or excluded in either kind of projection.
fn modes(tree: &[(String, Spec)], top: bool, include: &mut bool, exclude: &mut Option<String>) {
    for (name, spec) in tree {
        match spec {
            Spec::Include | Spec::Exclude if top && name == "_id" => {}
            Spec::Include | Spec::Computed(_) => *include = true,
            Spec::Exclude => *exclude = Some(name.clone()),
            Spec::Nested(children) => modes(children, false, include, exclude),
        }
    }
}

fn has_computed(tree: &[(String, Spec)]) -> bool {
    tree.iter().any(|(_, spec)| match spec {
        Spec::Computed(_) => true,
        Spec::Nested(children) => has_computed(children),
        _ => false,
    })
}

impl Shape {
    pub(crate) fn project(spec: &Document) -> Result<Shape> {
        if spec.is_empty() {
            return Err(MqlError::parse(
                "`$project` requires at least one output field",
            ));
        }
        let mut tree = Vec::new();
        collect(&mut tree, spec, "", "$project", false)?;
        let mut include = false;
        let mut exclude = None;
        modes(&tree, true, &mut include, &mut exclude);
        let id_included = tree
            .iter()
            .any(|(name, spec)| name == "_id" && matches!(spec, Spec::Include));
        if id_included {
            if exclude.is_some() {
                // `{_id: 1, a: 0}` excludes `a` and keeps the rest, `_id` as always.
                tree.retain(|(name, _)| name != "_id");
            } else {
                // `{_id: 1}` alone keeps only `_id`.
                include = true;
            }
        }
        if let (true, Some(field)) = (include, &exclude) {
            return Err(MqlError::parse(format!(
                "`$project`: cannot do exclusion on field `{field}` in an inclusion projection"
            )));
        }
        let id_excluded = tree
            .iter()
            .any(|(name, spec)| name == "_id" && matches!(spec, Spec::Exclude));
        if include {
            tree.retain(|(name, spec)| !(name == "_id" && matches!(spec, Spec::Exclude)));
            if !id_excluded && !tree.iter().any(|(name, _)| name == "_id") {
                tree.insert(0, ("_id".to_owned(), Spec::Include));
            }
            Ok(Shape::Inclusion(tree))
        } else {
            Ok(Shape::Exclusion(tree))
        }
    }

    pub(crate) fn add_fields(stage: &str, spec: &Document) -> Result<Shape> {
        if spec.is_empty() {
            return Err(MqlError::parse(format!(
                "`{stage}` requires at least one field"
            )));
        }
        let mut tree = Vec::new();
        collect(&mut tree, spec, "", stage, true)?;
        Ok(Shape::AddFields(tree))
    }

    pub(crate) fn unset(value: &Bson) -> Result<Shape> {
        let names: Vec<&Bson> = match value {
            Bson::Array(items) if !items.is_empty() => items.iter().collect(),
            Bson::String(_) => vec![value],
            _ => {
                return Err(MqlError::parse(
                    "`$unset` requires a string or a non-empty array of strings",
                ))
            }
        };
        let mut tree = Vec::new();
        for name in names {
            let Bson::String(path) = name else {
                return Err(MqlError::parse(
                    "`$unset` requires a string or a non-empty array of strings",
                ));
            };
            insert(&mut tree, path, Spec::Exclude, "$unset")?;
        }
        Ok(Shape::Exclusion(tree))
    }

    pub(crate) fn apply(&self, doc: Document, vars: &Variables) -> Result<Document> {
        match self {
            Shape::Inclusion(tree) => include_level(Some(&doc), tree, &doc, vars),
            Shape::Exclusion(tree) => {
                let mut doc = doc;
                exclude_level(&mut doc, tree);
                Ok(doc)
            }
            Shape::AddFields(tree) => {
                let values = evaluate_tree(tree, &doc, vars)?;
                let mut doc = doc;
                set_level(&mut doc, &values);
                Ok(doc)
            }
        }
    }
}

fn include_level(
    source: Option<&Document>,
    tree: &[(String, Spec)],
    root: &Document,
    vars: &Variables,
) -> Result<Document> {
    let mut out = Document::new();
    if let Some(source) = source {
        for (key, value) in source {
            match tree
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, spec)| spec)
            {
                Some(Spec::Include) => {
                    out.insert(key.clone(), value.clone());
                }
                Some(Spec::Nested(children)) => {
                    if let Some(value) = include_value(value, children, root, vars)? {
                        out.insert(key.clone(), value);
                    }
                }
                _ => {}
            }
        }
    }
    for (key, spec) in tree {
        match spec {
            Spec::Computed(expr) => {
                if let Some(value) = expr.evaluate(root, vars)? {
                    out.insert(key.clone(), value);
                }
            }
            Spec::Nested(children) if !out.contains_key(key) && has_computed(children) => {
                let built = include_level(None, children, root, vars)?;
                out.insert(key.clone(), built);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn include_value(
    value: &Bson,
    tree: &[(String, Spec)],
    root: &Document,
    vars: &Variables,
) -> Result<Option<Bson>> {
    Ok(match value {
        Bson::Document(doc) => Some(Bson::Document(include_level(Some(doc), tree, root, vars)?)),
        Bson::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(projected) = include_value(item, tree, root, vars)? {
                    out.push(projected);
                }
            }
            Some(Bson::Array(out))
        }
        _ if has_computed(tree) => Some(Bson::Document(include_level(None, tree, root, vars)?)),
        _ => None,
    })
}

fn exclude_level(doc: &mut Document, tree: &[(String, Spec)]) {
    for (key, spec) in tree {
        match spec {
            Spec::Exclude => {
                doc.remove(key);
            }
            Spec::Nested(children) => {
                if let Some(value) = doc.get_mut(key) {
                    exclude_value(value, children);
                }
            }
            _ => {}
        }
    }
}

fn exclude_value(value: &mut Bson, tree: &[(String, Spec)]) {
    match value {
        Bson::Document(doc) => exclude_level(doc, tree),
        Bson::Array(items) => items.iter_mut().for_each(|item| exclude_value(item, tree)),
        _ => {}
    }
}

/// `$addFields` values computed against the input document before any is set.
enum Computed {
    Value(Option<Bson>),
    Nested(Vec<(String, Computed)>),
}

fn evaluate_tree(
    tree: &[(String, Spec)],
    root: &Document,
    vars: &Variables,
) -> Result<Vec<(String, Computed)>> {
    let mut out = Vec::with_capacity(tree.len());
    for (key, spec) in tree {
        let computed = match spec {
            Spec::Computed(expr) => Computed::Value(expr.evaluate(root, vars)?),
            Spec::Nested(children) => Computed::Nested(evaluate_tree(children, root, vars)?),
            Spec::Include | Spec::Exclude => continue,
        };
        out.push((key.clone(), computed));
    }
    Ok(out)
}

fn set_level(doc: &mut Document, values: &[(String, Computed)]) {
    for (key, computed) in values {
        match computed {
            Computed::Value(Some(value)) => {
                doc.insert(key.clone(), value.clone());
            }
            Computed::Value(None) => {
                doc.remove(key);
            }
            Computed::Nested(children) => match doc.get_mut(key) {
                Some(existing @ (Bson::Document(_) | Bson::Array(_))) => {
                    set_value(existing, children);
                }
                _ => {
                    let mut inner = Document::new();
                    set_level(&mut inner, children);
                    doc.insert(key.clone(), inner);
                }
            },
        }
    }
}

/// Sets nested values in a document, or in every element of an array (elements that are not
/// documents become documents holding just the new fields).
fn set_value(value: &mut Bson, children: &[(String, Computed)]) {
    match value {
        Bson::Document(doc) => set_level(doc, children),
        Bson::Array(items) => items.iter_mut().for_each(|item| set_value(item, children)),
        other => {
            let mut inner = Document::new();
            set_level(&mut inner, children);
            *other = Bson::Document(inner);
        }
    }
}
