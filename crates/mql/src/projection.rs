//! Find projections: inclusion, exclusion, `_id` rules, dotted paths, `$slice`, `$elemMatch`,
//! positional `$`, and aggregation expressions as values (MongoDB 4.4+).
//!
//! The parser follows the server's projection AST rules (the projection type is fixed by the first
//! non-`_id` inclusion, exclusion or expression; `$slice`, `$elemMatch` and `_id` decide only when
//! nothing else does), and the executor follows the server's two phases: first the inclusions or
//! exclusions in the input document's field order, then computed fields in the projection's order,
//! then the find-only `$slice` and positional operators on the result.

use bson::{doc, Bson, Document};

use crate::error::{ErrorKind, MqlError, Result};
use crate::expr::{Expr, Variables};
use crate::filter::Filter;
use crate::path::FieldPath;

/// A compiled projection.
#[derive(Debug, Clone)]
pub struct Projection {
    inclusion: bool,
    root: Node,
    /// `$slice` and positional operators, applied to the projected document in projection order.
    post: Vec<PostOp>,
    has_positional: bool,
}

#[derive(Debug, Clone, Default)]
struct Node {
    entries: Vec<(String, Entry)>,
    /// Whether this subtree holds a computed field (expression or `$elemMatch`): such a subtree
    /// turns scalars and missing values on its path into documents of the computed values.
    has_computed: bool,
    /// How many entries phase one looks for in a document, so it can stop early.
    projected: usize,
}

#[derive(Debug, Clone)]
enum Entry {
    /// `1`/`true` (or `0`/`false`).
    Flag(bool),
    Child(Node),
    Computed(Computed),
    /// The path of a `$slice`: included in an inclusion projection, untouched in an exclusion one.
    Slice,
    /// The path of a positional `field.$`: always an inclusion.
    Positional,
}

#[derive(Debug, Clone)]
enum Computed {
    Expr(Expr),
    ElemMatch { field: String, filter: Filter },
}

#[derive(Debug, Clone)]
enum PostOp {
    Slice {
        path: Vec<String>,
        skip: Option<i64>,
        limit: i64,
    },
    Positional {
        path: Vec<String>,
        dotted: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inclusion,
    Exclusion,
}

#[derive(Default)]
struct ParseContext {
    mode: Option<Mode>,
    id_specified: bool,
    id_included_entirely: bool,
    id_excluded_entirely: bool,
    has_positional: bool,
    has_elem_match: bool,
    has_slice: bool,
    post: Vec<PostOp>,
}

impl Projection {
    /// Compiles a projection; mixing inclusion and exclusion (other than `_id`) is an error.
    pub fn compile(spec: &Document) -> Result<Projection> {
        let mut ctx = ParseContext::default();
        let mut root = Node::default();
        for (key, value) in spec {
            ctx.id_specified |= key == "_id" || key.starts_with("_id.");
            parse_element(&mut ctx, &mut root, &[], key, value)?;
        }
        let mode = match ctx.mode {
            Some(mode) => mode,
            None => default_mode(&ctx),
        };
        match mode {
            Mode::Inclusion => {
                if !ctx.id_specified {
                    add_at_path(&mut root, &["_id".to_owned()], "_id", Entry::Flag(true))?;
                }
            }
            Mode::Exclusion => {
                if ctx.id_included_entirely {
                    root.entries.retain(|(name, _)| name != "_id");
                }
            }
        }
        root.finish(mode == Mode::Inclusion);
        Ok(Projection {
            inclusion: mode == Mode::Inclusion,
            root,
            post: ctx.post,
            has_positional: ctx.has_positional,
        })
    }

    /// True for an inclusion projection (only the named fields, plus `_id` unless excluded); false
    /// for an exclusion projection (everything but the named fields), which includes `{}`.
    pub fn is_inclusion(&self) -> bool {
        self.inclusion
    }

    /// True when the projection has a positional `field.$`, so [`Projection::apply`] needs the
    /// filter's matched array position.
    pub fn needs_position(&self) -> bool {
        self.has_positional
    }

    /// The path of the positional projection (`grades` for `"grades.$": 1`), if any.
    pub fn positional_path(&self) -> Option<&str> {
        self.post.iter().find_map(|op| match op {
            PostOp::Positional { dotted, .. } => Some(dotted.as_str()),
            PostOp::Slice { .. } => None,
        })
    }

    /// The server's check that a positional projection goes with a query on the same array: some
    /// condition of `filter` (inside `$and`/`$or`/`$nor` too) must be on a path whose first
    /// component is the positional path's first component. Call it once per query, next to
    /// `compile`; without a positional projection it always succeeds.
    pub fn check_filter(&self, filter: &Document) -> Result<()> {
        let Some(path) = self.positional_path() else {
            return Ok(());
        };
        let head = path.split('.').next().unwrap_or(path);
        if filter_mentions(filter, head) {
            Ok(())
        } else {
            Err(MqlError::bad_value(format!(
                "positional projection `{path}.$` does not match the query document"
            )))
        }
    }

    /// True when the projection returns documents unchanged (`{}`).
    pub fn is_identity(&self) -> bool {
        !self.inclusion && self.root.entries.is_empty() && self.post.is_empty()
    }

    /// Projects `doc`. `matched_position` is the filter's array position, for `field.$`.
    pub fn apply(&self, doc: &Document, matched_position: Option<usize>) -> Result<Document> {
        self.apply_with(doc, matched_position, &Variables::new())
    }

    /// [`Projection::apply`] with `variables` for the computed fields' expressions (a find's
    /// `let`, a fixed `$$NOW`, the random numbers of `$rand`).
    pub fn apply_with(
        &self,
        doc: &Document,
        matched_position: Option<usize>,
        variables: &Variables,
    ) -> Result<Document> {
        if self.is_identity() {
            return Ok(doc.clone());
        }
        let mut output = if self.inclusion {
            include_document(&self.root, doc, doc, variables)?
        } else {
            let mut output = exclude_document(&self.root, doc);
            elem_match_in_place(&self.root, doc, &mut output)?;
            output
        };
        for op in &self.post {
            match op {
                PostOp::Slice { path, skip, limit } => slice_path(&mut output, path, *skip, *limit),
                PostOp::Positional { path, dotted } => {
                    positional(&mut output, path, dotted, matched_position)?
                }
            }
        }
        Ok(output)
    }
}

fn filter_mentions(filter: &Document, head: &str) -> bool {
    filter.iter().any(|(key, value)| match key.as_str() {
        "$and" | "$or" | "$nor" => match value {
            Bson::Array(clauses) => clauses.iter().any(|clause| match clause {
                Bson::Document(inner) => filter_mentions(inner, head),
                _ => false,
            }),
            _ => false,
        },
        other => other.split('.').next() == Some(head),
    })
}

/// The server's rules for a projection with no field that fixes its type.
fn default_mode(ctx: &ParseContext) -> Mode {
    if ctx.has_slice {
        if ctx.id_included_entirely {
            Mode::Inclusion
        } else {
            Mode::Exclusion
        }
    } else if ctx.has_elem_match || ctx.id_included_entirely {
        Mode::Inclusion
    } else {
        Mode::Exclusion
    }
}

impl Node {
    fn get(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, entry)| entry)
    }

    /// Computes the derived flags once the tree is complete.
    fn finish(&mut self, inclusion: bool) -> bool {
        let mut has_computed = false;
        let mut projected = 0;
        for (_, entry) in &mut self.entries {
            match entry {
                Entry::Child(child) => {
                    has_computed |= child.finish(inclusion);
                    projected += 1;
                }
                Entry::Computed(_) => has_computed = true,
                Entry::Flag(true) | Entry::Slice | Entry::Positional => projected += 1,
                Entry::Flag(false) => projected += usize::from(!inclusion),
            }
        }
        self.has_computed = has_computed;
        self.projected = projected;
        has_computed
    }
}

fn parse_element(
    ctx: &mut ParseContext,
    root: &mut Node,
    parent: &[String],
    key: &str,
    value: &Bson,
) -> Result<()> {
    let positional = find_positional(key);
    if let Some((_, end)) = positional {
        let rest = key.get(end..).unwrap_or("");
        if !rest.is_empty() && !rest.split('.').any(|part| part == "$") {
            // MongoDB 4.4 and later (SERVER-43334); earlier versions ignored the rest.
            return Err(MqlError::bad_value(format!(
                "positional projection `{key}`: the positional operator `$` may only end a \
                 path (use `{}`)",
                key.get(..end - 1).unwrap_or(key)
            )));
        }
    }
    let is_top_level_id = parent.is_empty() && key == "_id";
    match value {
        Bson::Document(sub) => {
            if positional.is_some() {
                return Err(MqlError::bad_value(format!(
                    "positional projection `{key}` cannot be used with an expression or sub object"
                )));
            }
            let path = join(parent, &field_path(parent, key)?);
            parse_sub_object(ctx, root, path, sub)
        }
        Bson::Boolean(_)
        | Bson::Int32(_)
        | Bson::Int64(_)
        | Bson::Double(_)
        | Bson::Decimal128(_) => {
            let include = match crate::value::number(value) {
                Some(number) => number.as_f64() != 0.0,
                None => matches!(value, Bson::Boolean(true)),
            };
            if include {
                parse_inclusion(ctx, root, parent, key, positional, is_top_level_id)
            } else {
                if positional.is_some() {
                    return Err(MqlError::bad_value(format!(
                        "cannot exclude array elements with the positional operator `{key}`"
                    )));
                }
                let path = join(parent, &field_path(parent, key)?);
                add_at_path(root, &path, &path.join("."), Entry::Flag(false))?;
                if is_top_level_id {
                    ctx.id_excluded_entirely = true;
                } else {
                    if ctx.mode == Some(Mode::Inclusion) {
                        return Err(MqlError::bad_value(format!(
                            "cannot do exclusion on field `{}` in inclusion projection",
                            path.join(".")
                        )));
                    }
                    ctx.mode = Some(Mode::Exclusion);
                }
                Ok(())
            }
        }
        literal => {
            if positional.is_some() {
                return Err(MqlError::bad_value(format!(
                    "positional projection `{key}` cannot be used with a literal"
                )));
            }
            let path = join(parent, &field_path(parent, key)?);
            let dotted = path.join(".");
            if ctx.mode == Some(Mode::Exclusion) {
                return Err(MqlError::bad_value(format!(
                    "cannot use an expression for `{dotted}` in an exclusion projection"
                )));
            }
            let expr = Expr::compile(literal)?;
            add_at_path(root, &path, &dotted, Entry::Computed(Computed::Expr(expr)))?;
            ctx.mode = Some(Mode::Inclusion);
            Ok(())
        }
    }
}

fn parse_inclusion(
    ctx: &mut ParseContext,
    root: &mut Node,
    parent: &[String],
    key: &str,
    positional: Option<(usize, usize)>,
    is_top_level_id: bool,
) -> Result<()> {
    let dotted;
    match positional {
        None => {
            let path = join(parent, &field_path(parent, key)?);
            dotted = path.join(".");
            add_at_path(root, &path, &dotted, Entry::Flag(true))?;
            if is_top_level_id {
                ctx.id_included_entirely = true;
            }
        }
        Some((begin, end)) => {
            if ctx.has_positional {
                return Err(MqlError::bad_value(
                    "cannot specify more than one positional projection per query",
                ));
            }
            if ctx.has_elem_match {
                return Err(MqlError::bad_value(
                    "cannot specify positional operator and `$elemMatch`",
                ));
            }
            if key.ends_with(".$.") {
                return Err(MqlError::bad_value(format!(
                    "projection path `{key}` cannot end with '.$.'"
                )));
            }
            let rest = key.get(end..).unwrap_or("");
            if find_positional(rest).is_some() || rest == "$" {
                return Err(MqlError::bad_value(format!(
                    "cannot use positional operator twice: `{key}`"
                )));
            }
            let before = key.get(..begin).unwrap_or("");
            let path = join(parent, &field_path(parent, before)?);
            dotted = path.join(".");
            add_at_path(root, &path, &dotted, Entry::Positional)?;
            ctx.post.push(PostOp::Positional {
                path,
                dotted: dotted.clone(),
            });
            ctx.has_positional = true;
        }
    }
    if !is_top_level_id {
        if ctx.mode == Some(Mode::Exclusion) {
            return Err(MqlError::bad_value(format!(
                "cannot do inclusion on field `{dotted}` in exclusion projection"
            )));
        }
        ctx.mode = Some(Mode::Inclusion);
    }
    Ok(())
}

fn parse_sub_object(
    ctx: &mut ParseContext,
    root: &mut Node,
    path: Vec<String>,
    sub: &Document,
) -> Result<()> {
    let dotted = path.join(".");
    let mut fields = sub.iter();
    if let (Some((operator, argument)), None) = (fields.next(), fields.next()) {
        if operator.starts_with('$') {
            return parse_operator(ctx, root, path, &dotted, operator, argument, sub);
        }
    }
    if sub.is_empty() {
        return Err(MqlError::bad_value(format!(
            "an empty sub-projection is not a valid value, found empty object at path `{dotted}`"
        )));
    }
    // A sub-object is a layer of the tree even before any of its fields is added, so that
    // `{a: {...}}` collides with `a: 1` like `"a.b": 1` does.
    add_layer(root, &path, &dotted)?;
    for (key, value) in sub {
        parse_element(ctx, root, &path, key, value)?;
    }
    Ok(())
}

fn parse_operator(
    ctx: &mut ParseContext,
    root: &mut Node,
    path: Vec<String>,
    dotted: &str,
    operator: &str,
    argument: &Bson,
    sub: &Document,
) -> Result<()> {
    match operator {
        "$slice" => match find_slice_arguments(argument) {
            Ok((skip, limit)) => {
                add_at_path(root, &path, dotted, Entry::Slice)?;
                ctx.post.push(PostOp::Slice { path, skip, limit });
                ctx.has_slice = true;
                Ok(())
            }
            // `$slice` is also an aggregation operator; the server falls back to it when the
            // argument is not of the find form.
            Err(find_error) => match parse_expression(ctx, root, &path, dotted, sub) {
                Ok(()) => Ok(()),
                Err(expr_error) => Err(MqlError::new(
                    find_error.kind(),
                    format!(
                        "invalid `$slice` syntax at `{dotted}`: {}; as an expression: {}",
                        find_error.message(),
                        expr_error.message()
                    ),
                )),
            },
        },
        "$elemMatch" => {
            let Bson::Document(condition) = argument else {
                return Err(MqlError::bad_value(format!(
                    "`$elemMatch` needs an object argument, got {}",
                    crate::value::type_name(argument)
                )));
            };
            if ctx.has_positional {
                return Err(MqlError::bad_value(
                    "cannot specify positional operator and `$elemMatch`",
                ));
            }
            let [field] = path.as_slice() else {
                return Err(MqlError::bad_value(format!(
                    "cannot use `$elemMatch` projection on a nested field `{dotted}`"
                )));
            };
            let mut wrapped = Document::new();
            wrapped.insert(field.clone(), doc! { "$elemMatch": condition.clone() });
            let filter = Filter::compile(&wrapped)?;
            let entry = Entry::Computed(Computed::ElemMatch {
                field: field.clone(),
                filter,
            });
            add_at_path(root, &path, dotted, entry)?;
            ctx.has_elem_match = true;
            Ok(())
        }
        "$meta" => Err(MqlError::new(
            ErrorKind::UnknownOperator,
            "projection operator `$meta` is not supported",
        )),
        _ => parse_expression(ctx, root, &path, dotted, sub),
    }
}

fn parse_expression(
    ctx: &mut ParseContext,
    root: &mut Node,
    path: &[String],
    dotted: &str,
    sub: &Document,
) -> Result<()> {
    if ctx.mode == Some(Mode::Exclusion) {
        return Err(MqlError::bad_value(format!(
            "cannot use an expression for `{dotted}` in an exclusion projection"
        )));
    }
    let expr = Expr::compile(&Bson::Document(sub.clone()))?;
    add_at_path(root, path, dotted, Entry::Computed(Computed::Expr(expr)))?;
    ctx.mode = Some(Mode::Inclusion);
    Ok(())
}

/// The find form of `$slice`: a number, or `[skip, limit]` with a positive limit. Numbers are read
/// as 32-bit integers, truncated, as the server does.
fn find_slice_arguments(argument: &Bson) -> Result<(Option<i64>, i64)> {
    if let Some(limit) = slice_int(argument) {
        return Ok((None, limit));
    }
    let Bson::Array(items) = argument else {
        return Err(MqlError::bad_value(
            "`$slice` only supports numbers and [skip, limit] arrays",
        ));
    };
    let [skip, limit] = items.as_slice() else {
        return Err(MqlError::bad_value(
            "`$slice` array argument should be of form [skip, limit]",
        ));
    };
    let skip = slice_int(skip).ok_or_else(|| {
        MqlError::bad_value(format!(
            "`$slice` expects the skip argument to be a number, got {}",
            crate::value::type_name(skip)
        ))
    })?;
    let limit = slice_int(limit).ok_or_else(|| {
        MqlError::bad_value(format!(
            "`$slice` expects the limit argument to be a number, got {}",
            crate::value::type_name(limit)
        ))
    })?;
    if limit <= 0 {
        return Err(MqlError::bad_value(format!(
            "`$slice` limit must be positive, got {limit}"
        )));
    }
    Ok((Some(skip), limit))
}

fn slice_int(value: &Bson) -> Option<i64> {
    let clamp = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    match crate::value::number(value)? {
        crate::value::Number::Int(v) => Some(clamp(v)),
        crate::value::Number::Double(v) if v.is_nan() => Some(0),
        crate::value::Number::Double(v) => {
            Some(v.trunc().clamp(i32::MIN.into(), i32::MAX.into()) as i64)
        }
    }
}

/// Where the first positional operator is in a projection key: `.$.` inside, `.$` at the end, or
/// the whole key `$`.
fn find_positional(key: &str) -> Option<(usize, usize)> {
    if let Some(begin) = key.find(".$.") {
        return Some((begin, begin + 3));
    }
    if key.ends_with(".$") {
        return Some((key.len() - 2, key.len()));
    }
    if key == "$" {
        return Some((0, key.len()));
    }
    None
}

/// The components of a projection key, which must be a valid field path without `$` names.
fn field_path(parent: &[String], key: &str) -> Result<Vec<String>> {
    let full = if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{}.{key}", parent.join("."))
    };
    if key.is_empty() {
        return Err(MqlError::bad_value(format!(
            "projection field path `{full}` is empty"
        )));
    }
    let path = FieldPath::parse(key).map_err(|_| {
        MqlError::bad_value(format!(
            "projection field path `{full}` has an empty component"
        ))
    })?;
    if let Some(part) = path.parts().iter().find(|part| part.starts_with('$')) {
        return Err(MqlError::bad_value(format!(
            "projection field `{full}`: field names may not start with '$' (`{part}`)"
        )));
    }
    Ok(path.parts().to_vec())
}

fn join(parent: &[String], path: &[String]) -> Vec<String> {
    parent.iter().chain(path).cloned().collect()
}

fn collision(dotted: &str) -> MqlError {
    MqlError::bad_value(format!("path collision at `{dotted}`"))
}

/// Adds `entry` at `path`, creating the layers on the way; any overlap with an existing entry is a
/// path collision.
fn add_at_path(root: &mut Node, path: &[String], dotted: &str, entry: Entry) -> Result<()> {
    let Some((last, layers)) = path.split_last() else {
        return Err(collision(dotted));
    };
    let node = descend(root, layers, dotted)?;
    if node.get(last).is_some() {
        return Err(collision(dotted));
    }
    node.entries.push((last.clone(), entry));
    Ok(())
}

fn add_layer(root: &mut Node, path: &[String], dotted: &str) -> Result<()> {
    descend(root, path, dotted).map(|_| ())
}

fn descend<'n>(root: &'n mut Node, layers: &[String], dotted: &str) -> Result<&'n mut Node> {
    let mut node = root;
    for layer in layers {
        let position = match node.entries.iter().position(|(key, _)| key == layer) {
            Some(position) => position,
            None => {
                node.entries
                    .push((layer.clone(), Entry::Child(Node::default())));
                node.entries.len() - 1
            }
        };
        node = match node.entries.get_mut(position) {
            Some((_, Entry::Child(child))) => child,
            _ => return Err(collision(dotted)),
        };
    }
    Ok(node)
}

// ---------------------------------------------------------------------------------------------
// Execution.

/// Inclusion: phase one copies the included fields in the document's order (recursing into
/// children), phase two sets computed fields in the projection's order.
fn include_document(
    node: &Node,
    doc: &Document,
    root: &Document,
    variables: &Variables,
) -> Result<Document> {
    let mut output = Document::new();
    let mut found = 0;
    for (key, value) in doc {
        if found >= node.projected {
            break;
        }
        match node.get(key) {
            Some(Entry::Flag(true) | Entry::Slice | Entry::Positional) => {
                found += 1;
                output.insert(key.clone(), value.clone());
            }
            Some(Entry::Child(child)) => {
                found += 1;
                if let Some(projected) = include_value(child, value, root, variables)? {
                    output.insert(key.clone(), projected);
                }
            }
            _ => {}
        }
    }
    if node.has_computed {
        for (key, entry) in &node.entries {
            match entry {
                Entry::Computed(computed) => {
                    if let Some(value) = evaluate(computed, root, variables)? {
                        output.insert(key.clone(), value);
                    }
                }
                // A child with computed fields that phase one did not output (the field is
                // missing) still yields a document of its computed values.
                Entry::Child(child) if child.has_computed && !output.contains_key(key) => {
                    let computed = include_document(child, &Document::new(), root, variables)?;
                    output.insert(key.clone(), computed);
                }
                _ => {}
            }
        }
    }
    Ok(output)
}

/// The projection of one value under a child node: documents recurse, arrays project each
/// element (nested arrays too, as find does), scalars are dropped unless the subtree computes
/// fields, in which case they become a document of the computed values.
fn include_value(
    node: &Node,
    value: &Bson,
    root: &Document,
    variables: &Variables,
) -> Result<Option<Bson>> {
    match value {
        Bson::Document(inner) => Ok(Some(Bson::Document(include_document(
            node, inner, root, variables,
        )?))),
        Bson::Array(items) => {
            let mut projected = Vec::with_capacity(items.len());
            for item in items {
                if let Some(value) = include_value(node, item, root, variables)? {
                    projected.push(value);
                }
            }
            Ok(Some(Bson::Array(projected)))
        }
        _ if node.has_computed => Ok(Some(Bson::Document(include_document(
            node,
            &Document::new(),
            root,
            variables,
        )?))),
        _ => Ok(None),
    }
}

fn evaluate(computed: &Computed, root: &Document, variables: &Variables) -> Result<Option<Bson>> {
    match computed {
        Computed::Expr(expr) => expr.evaluate(root, variables),
        Computed::ElemMatch { field, filter } => elem_match(field, filter, root),
    }
}

/// The first element of the array `field` that matches, as a one-element array; nothing when no
/// element matches or the field is not an array.
fn elem_match(field: &str, filter: &Filter, root: &Document) -> Result<Option<Bson>> {
    let Some(Bson::Array(items)) = root.get(field) else {
        return Ok(None);
    };
    let outcome = filter.evaluate(root)?;
    if !outcome.matched {
        return Ok(None);
    }
    if let Some(item) = outcome.array_position.and_then(|index| items.get(index)) {
        return Ok(Some(Bson::Array(vec![item.clone()])));
    }
    // The filter matched without reporting a position: find the element one at a time.
    for item in items {
        let mut single = Document::new();
        single.insert(field, Bson::Array(vec![item.clone()]));
        if filter.matches(&single)? {
            return Ok(Some(Bson::Array(vec![item.clone()])));
        }
    }
    Ok(None)
}

/// Exclusion: everything but the excluded fields, recursing through documents and arrays; scalars
/// in arrays are kept.
fn exclude_document(node: &Node, doc: &Document) -> Document {
    let mut output = Document::new();
    for (key, value) in doc {
        match node.get(key) {
            Some(Entry::Flag(false)) => {}
            Some(Entry::Child(child)) => {
                output.insert(key.clone(), exclude_value(child, value));
            }
            _ => {
                output.insert(key.clone(), value.clone());
            }
        }
    }
    output
}

/// The `$elemMatch` fields of an exclusion projection (top-level fields, as `$elemMatch` allows
/// no other): the server sets each one on the projected document, where it stays in place with
/// the first matching element, or goes when no element matches.
fn elem_match_in_place(root: &Node, doc: &Document, output: &mut Document) -> Result<()> {
    for (key, entry) in &root.entries {
        if let Entry::Computed(Computed::ElemMatch { field, filter }) = entry {
            match elem_match(field, filter, doc)? {
                Some(value) => {
                    output.insert(key.clone(), value);
                }
                None => {
                    output.remove(key);
                }
            }
        }
    }
    Ok(())
}

fn exclude_value(node: &Node, value: &Bson) -> Bson {
    match value {
        Bson::Document(inner) => Bson::Document(exclude_document(node, inner)),
        Bson::Array(items) => {
            Bson::Array(items.iter().map(|item| exclude_value(node, item)).collect())
        }
        other => other.clone(),
    }
}

/// Find `$slice` at `path` of the projected document: the array at the end of the path is sliced;
/// arrays of documents on the way are sliced in each document; anything else is left alone.
fn slice_path(doc: &mut Document, path: &[String], skip: Option<i64>, limit: i64) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match doc.get_mut(first) {
        Some(Bson::Array(items)) => {
            if rest.is_empty() {
                slice_array(items, skip, limit);
            } else {
                for item in items.iter_mut() {
                    if let Bson::Document(inner) = item {
                        slice_path(inner, rest, skip, limit);
                    }
                }
            }
        }
        Some(Bson::Document(inner)) if !rest.is_empty() => slice_path(inner, rest, skip, limit),
        _ => {}
    }
}

fn slice_array(items: &mut Vec<Bson>, skip: Option<i64>, limit: i64) {
    let len = items.len() as i64;
    let (start, count) = match skip {
        None if limit < 0 => {
            let start = (len + limit).max(0);
            (start, len - start)
        }
        None => (0, len.min(limit)),
        Some(skip) if skip < 0 => {
            let start = (len + skip).max(0);
            (start, (len - start).min(limit))
        }
        Some(skip) => {
            let start = len.min(skip);
            (start, (len - start).min(limit))
        }
    };
    let start = usize::try_from(start).unwrap_or(0);
    let count = usize::try_from(count).unwrap_or(0);
    items.truncate(start.saturating_add(count));
    items.drain(..start.min(items.len()));
}

/// Positional `field.$`: the first array on `path` of the projected document is replaced by its
/// element at the filter's matched position.
fn positional(
    doc: &mut Document,
    path: &[String],
    dotted: &str,
    matched_position: Option<usize>,
) -> Result<()> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    match doc.get_mut(first) {
        Some(Bson::Array(items)) => {
            let Some(position) = matched_position else {
                return Err(MqlError::bad_value(format!(
                    "positional operator `{dotted}.$` couldn't find a matching element in the array"
                )));
            };
            let Some(element) = items.get(position).cloned() else {
                return Err(MqlError::bad_value(format!(
                    "positional operator `{dotted}.$` element mismatch: position {position} is past the end of the array"
                )));
            };
            *items = vec![element];
            Ok(())
        }
        Some(Bson::Document(inner)) => positional(inner, rest, dotted, matched_position),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(spec: Document, doc: Document) -> Document {
        Projection::compile(&spec)
            .unwrap()
            .apply(&doc, None)
            .unwrap()
    }

    fn assert_same(actual: Document, expected: Document) {
        assert_eq!(
            actual.iter().collect::<Vec<_>>(),
            expected.iter().collect::<Vec<_>>(),
            "\n actual: {actual}\n expected: {expected}"
        );
    }

    fn error(spec: Document) -> String {
        Projection::compile(&spec).unwrap_err().message().to_owned()
    }

    #[test]
    fn empty_projection_is_identity() {
        let doc = doc! {"_id": 1, "a": 1, "b": {"c": 2}};
        let projection = Projection::compile(&doc! {}).unwrap();
        assert!(projection.is_identity());
        assert!(!projection.is_inclusion());
        assert_same(projection.apply(&doc, None).unwrap(), doc);
    }

    #[test]
    fn inclusion_keeps_document_order_and_id() {
        let doc = doc! {"_id": 1, "c": 3, "a": 1, "b": 2};
        assert_same(
            project(doc! {"b": 1, "c": true}, doc.clone()),
            doc! {"_id": 1, "c": 3, "b": 2},
        );
        assert_same(
            project(doc! {"b": 1.5, "_id": 0}, doc.clone()),
            doc! {"b": 2},
        );
        assert_same(project(doc! {"_id": 1}, doc.clone()), doc! {"_id": 1});
        assert_same(project(doc! {"zz": 1}, doc), doc! {"_id": 1});
    }

    #[test]
    fn exclusion_and_id() {
        let doc = doc! {"_id": 1, "a": 1, "b": 2};
        assert_same(project(doc! {"a": 0}, doc.clone()), doc! {"_id": 1, "b": 2});
        assert_same(project(doc! {"_id": 0}, doc.clone()), doc! {"a": 1, "b": 2});
        assert_same(
            project(doc! {"_id": 1, "a": false}, doc.clone()),
            doc! {"_id": 1, "b": 2},
        );
        assert!(!Projection::compile(&doc! {"_id": 0})
            .unwrap()
            .is_inclusion());
        assert!(Projection::compile(&doc! {"_id": 1})
            .unwrap()
            .is_inclusion());
    }

    #[test]
    fn dotted_inclusion_through_arrays() {
        let doc = doc! {"_id": 1, "a": [{"b": 1, "c": 2}, {"c": 3}, 5, [{"b": 4, "d": 1}]], "x": 1};
        assert_same(
            project(doc! {"a.b": 1}, doc.clone()),
            doc! {"_id": 1, "a": [{"b": 1}, {}, [{"b": 4}]]},
        );
        assert_same(
            project(doc! {"a.b": 0}, doc),
            doc! {"_id": 1, "a": [{"c": 2}, {"c": 3}, 5, [{"d": 1}]], "x": 1},
        );
        assert_same(
            project(doc! {"a": {"b": 1}}, doc! {"a": {"b": 1, "c": 2}, "_id": 3}),
            doc! {"a": {"b": 1}, "_id": 3},
        );
        assert_same(
            project(doc! {"a.b": 1}, doc! {"_id": 1, "a": 7}),
            doc! {"_id": 1},
        );
    }

    #[test]
    fn mixing_and_collisions_fail() {
        assert!(error(doc! {"a": 1, "b": 0})
            .contains("cannot do exclusion on field `b` in inclusion projection"));
        assert!(error(doc! {"a": 0, "b": 1})
            .contains("cannot do inclusion on field `b` in exclusion projection"));
        assert!(error(doc! {"a": 1, "a.b": 1}).contains("path collision at `a.b`"));
        assert!(error(doc! {"a.b": 1, "a": 1}).contains("path collision at `a`"));
        assert!(error(doc! {"a": {}}).contains("empty sub-projection"));
        assert!(error(doc! {"a": {"$meta": "textScore"}}).contains("`$meta`"));
        assert!(error(doc! {"a.b": {"$elemMatch": {"c": 1}}}).contains("nested field"));
        assert!(error(doc! {"a.$": 1, "b.$": 1}).contains("more than one positional"));
        let limit = find_slice_arguments(&bson::bson!([1, 0])).unwrap_err();
        assert!(limit.message().contains("limit must be positive"));
        assert!(find_slice_arguments(&bson::bson!([1])).is_err());
        assert!(find_slice_arguments(&Bson::String("x".into())).is_err());
    }

    #[test]
    fn slice_forms() {
        let doc = doc! {"_id": 1, "a": [1, 2, 3, 4, 5], "b": 1};
        let case = |slice: Bson| -> Bson {
            project(doc! {"a": {"$slice": slice}}, doc.clone())
                .get("a")
                .cloned()
                .unwrap()
        };
        assert_eq!(case(Bson::Int32(2)), bson::bson!([1, 2]));
        assert_eq!(case(Bson::Int32(-2)), bson::bson!([4, 5]));
        assert_eq!(case(Bson::Int32(0)), bson::bson!([]));
        assert_eq!(case(Bson::Int32(10)), bson::bson!([1, 2, 3, 4, 5]));
        assert_eq!(case(bson::bson!([1, 2])), bson::bson!([2, 3]));
        assert_eq!(case(bson::bson!([-2, 5])), bson::bson!([4, 5]));
        assert_eq!(case(bson::bson!([-10, 2])), bson::bson!([1, 2]));
        assert_eq!(case(bson::bson!([10, 2])), bson::bson!([]));
        // Exclusion-like: other fields kept.
        assert_same(
            project(doc! {"a": {"$slice": 1}}, doc.clone()),
            doc! {"_id": 1, "a": [1], "b": 1},
        );
        // With `_id: 1`: inclusion.
        assert_same(
            project(doc! {"_id": 1, "a": {"$slice": 1}}, doc.clone()),
            doc! {"_id": 1, "a": [1]},
        );
        // With an exclusion.
        assert_same(
            project(doc! {"b": 0, "a": {"$slice": -1}}, doc),
            doc! {"_id": 1, "a": [5]},
        );
    }

    #[test]
    fn positional_uses_matched_position() {
        let doc = doc! {"_id": 1, "g": [5, 6, 7], "x": 1};
        let projection = Projection::compile(&doc! {"g.$": 1}).unwrap();
        assert!(projection.needs_position());
        assert_same(
            projection.apply(&doc, Some(1)).unwrap(),
            doc! {"_id": 1, "g": [6]},
        );
        assert!(projection
            .apply(&doc, None)
            .unwrap_err()
            .message()
            .contains("couldn't find a matching element"));
        assert!(projection.apply(&doc, Some(9)).is_err());
        // Not an array: left as included.
        assert_same(
            projection.apply(&doc! {"_id": 2, "g": 3}, None).unwrap(),
            doc! {"_id": 2, "g": 3},
        );
        let nested = Projection::compile(&doc! {"a.b.$": 1}).unwrap();
        assert_same(
            nested
                .apply(&doc! {"_id": 1, "a": {"b": [1, 2], "c": 1}}, Some(0))
                .unwrap(),
            doc! {"_id": 1, "a": {"b": [1]}},
        );
    }

    #[test]
    fn positional_needs_a_query_on_the_array() {
        let projection = Projection::compile(&doc! {"grades.$": 1}).unwrap();
        assert_eq!(projection.positional_path(), Some("grades"));
        assert!(projection
            .check_filter(&doc! {"grades": {"$gt": 1}})
            .is_ok());
        assert!(projection.check_filter(&doc! {"grades.mean": 1}).is_ok());
        assert!(projection
            .check_filter(&doc! {"$or": [{"x": 1}, {"$and": [{"grades": 2}]}]})
            .is_ok());
        let error = projection.check_filter(&doc! {"x": 1}).unwrap_err();
        assert!(error
            .message()
            .contains("does not match the query document"));
        assert!(projection.check_filter(&doc! {}).is_err());
        assert!(projection
            .check_filter(&doc! {"$expr": {"$eq": ["$grades", 1]}})
            .is_err());
        let plain = Projection::compile(&doc! {"a": 1}).unwrap();
        assert!(plain.check_filter(&doc! {}).is_ok());
        assert_eq!(plain.positional_path(), None);
    }

    #[test]
    fn slice_in_arrays_of_documents() {
        let doc = doc! {"_id": 1, "a": [{"b": [1, 2, 3], "c": 1}, {"b": [4, 5]}, 7]};
        assert_same(
            project(doc! {"a.b": {"$slice": 1}}, doc.clone()),
            doc! {"_id": 1, "a": [{"b": [1], "c": 1}, {"b": [4]}, 7]},
        );
        assert_same(
            project(doc! {"_id": 0, "x": 1, "a.b": {"$slice": -1}}, doc),
            doc! {"a": [{"b": [3]}, {"b": [5]}]},
        );
    }
}
