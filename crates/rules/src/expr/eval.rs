//! Evaluation: expansions resolved against the scope, tests run as MongoDB filters.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::sync::Arc;

use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document, RawDocument};
use rampart_mql::{lookup, Filter};

use super::{Conversion, Node, Operand, Reference, Source, Test, MAX_EVALUATION_STEPS};
use crate::function::FunctionSet;

/// Why an evaluation failed. A failed evaluation never grants anything: the caller counts it as
/// "does not apply" and records it in the explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The decision spent more evaluation steps than allowed.
    #[error("evaluation exceeded {0} steps")]
    StepLimit(u32),
    /// A document expansion or field name where no document is available.
    #[error("the expression reads a document but none is available here")]
    DocumentUnavailable,
    /// The query engine rejected a test (for example `$in` with a non-array).
    #[error("invalid comparison: {0}")]
    Query(String),
    /// `%stringToOid` and friends got a value they cannot convert.
    #[error("{0}")]
    Conversion(String),
    /// A `%function` call failed.
    #[error("function `{name}` failed: {message}")]
    Function {
        /// The function name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// The parts of an evaluation that are fixed for a whole request: the user, App Values, the
/// environment, the `%%request` values and the functions.
#[derive(Debug, Clone, Default)]
pub struct RequestScope {
    pub(crate) user: Option<Bson>,
    pub(crate) values: Option<Bson>,
    pub(crate) environment: Option<Bson>,
    pub(crate) request: Option<Bson>,
    pub(crate) functions: Option<Arc<FunctionSet>>,
    /// Tests prepared for this request, by slot (empty outside an authorizer).
    pub(crate) prepared: super::Slots,
}

/// Everything an expression can see.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) request: &'a RequestScope,
    pub(crate) root: Option<Image<'a>>,
    pub(crate) prev_root: Option<Image<'a>>,
    pub(crate) this: Option<&'a Bson>,
    pub(crate) prev: Option<&'a Bson>,
}

/// A document an expression reads: decoded, or stored BSON bytes that tests match in place and
/// that are decoded (once) only when an expression needs the values themselves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Image<'a> {
    Decoded(&'a Document),
    Raw(&'a RawImage<'a>),
}

/// Stored bytes and, once something needed it, their decoded form.
#[derive(Debug)]
pub(crate) struct RawImage<'a> {
    raw: &'a RawDocument,
    decoded: OnceCell<Result<Document, String>>,
}

impl<'a> RawImage<'a> {
    pub(crate) fn new(raw: &'a RawDocument) -> Self {
        RawImage {
            raw,
            decoded: OnceCell::new(),
        }
    }
}

impl<'a> Image<'a> {
    /// The decoded document; decodes stored bytes the first time. Malformed bytes are an
    /// evaluation error (which never grants).
    pub(crate) fn decoded(self) -> Result<&'a Document, EvalError> {
        match self {
            Image::Decoded(document) => Ok(document),
            Image::Raw(image) => image
                .decoded
                .get_or_init(|| Document::try_from(image.raw).map_err(|error| error.to_string()))
                .as_ref()
                .map_err(|error| EvalError::Query(format!("malformed stored document: {error}"))),
        }
    }

    /// Whether `filter` matches the document, on the bytes when it has them.
    pub(crate) fn matches(self, filter: &Filter) -> Result<bool, EvalError> {
        match self {
            Image::Decoded(document) => filter.matches(document),
            Image::Raw(image) => filter.matches_raw(image.raw),
        }
        .map_err(|error| EvalError::Query(error.to_string()))
    }

    /// [`Image::matches`] with any error as `None`, for a caller that leaves errors to a full
    /// evaluation: the outcome comes back in a register (see [`Filter::matches_raw_ok`]).
    #[inline(always)]
    pub(crate) fn matches_ok(self, filter: &Filter) -> Option<bool> {
        match self {
            Image::Decoded(document) => filter.matches(document).ok(),
            Image::Raw(image) => filter.matches_raw_ok(image.raw),
        }
    }
}

impl<'a> Scope<'a> {
    /// A scope with no document: filters' `apply_when` and per-request role evaluation.
    pub(crate) fn request_only(request: &'a RequestScope) -> Self {
        Scope {
            request,
            root: None,
            prev_root: None,
            this: None,
            prev: None,
        }
    }
}

/// Steps left for one decision.
#[derive(Debug)]
pub(crate) struct Budget {
    spent: Cell<u32>,
    limit: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            spent: Cell::new(0),
            limit: MAX_EVALUATION_STEPS,
        }
    }
}

impl Budget {
    pub(crate) fn spend(&self, steps: u32) -> Result<(), EvalError> {
        let spent = self.spent.get().saturating_add(steps);
        self.spent.set(spent);
        if spent > self.limit {
            return Err(EvalError::StepLimit(self.limit));
        }
        Ok(())
    }
}

pub(super) fn node(node_: &Node, scope: &Scope<'_>, budget: &Budget) -> Result<bool, EvalError> {
    budget.spend(1)?;
    match node_ {
        Node::Constant(value) => Ok(*value),
        Node::All(children) => {
            for child in children {
                if !node(child, scope, budget)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Any(children) => {
            // An erroring branch never grants; another branch that holds still does.
            let mut failure = None;
            for child in children {
                match node(child, scope, budget) {
                    Ok(true) => return Ok(true),
                    Ok(false) => {}
                    Err(error) => {
                        failure.get_or_insert(error);
                    }
                }
            }
            failure.map_or(Ok(false), Err)
        }
        Node::Test(test) => super::prepared::run(test, scope, budget),
    }
}

/// Evaluates a test from scratch: resolve its operands, build the MongoDB filter, compile and
/// match it. Tests whose operands read the document take this path at each evaluation; the
/// others take it once (see `prepared.rs`).
pub(super) fn run_test(
    subject: &Reference,
    test: &Test,
    scope: &Scope<'_>,
    budget: &Budget,
) -> Result<bool, EvalError> {
    let (holder, path) = target(subject, scope)?;
    // An unresolved expansion on the right matches nothing (fail closed).
    let Some(filter) = build(&path, test, scope, budget)? else {
        return Ok(false);
    };
    budget.spend(10)?;
    let compiled = Filter::compile(&filter).map_err(|e| EvalError::Query(e.to_string()))?;
    compiled
        .matches(&holder)
        .map_err(|e| EvalError::Query(e.to_string()))
}

/// The document a test runs on and the dotted path of the subject inside it. Document sources
/// are used in place; other values are wrapped as `{"v": value}`.
pub(super) fn target<'a>(
    subject: &Reference,
    scope: &Scope<'a>,
) -> Result<(Cow<'a, Document>, String), EvalError> {
    let base: Option<Cow<'a, Bson>> = match subject.source {
        Source::Root => {
            let root = scope
                .root
                .ok_or(EvalError::DocumentUnavailable)?
                .decoded()?;
            if !subject.path.is_empty() {
                return Ok((Cow::Borrowed(root), subject.path.join(".")));
            }
            Some(Cow::Owned(Bson::Document(root.clone())))
        }
        Source::PrevRoot => match scope.prev_root.map(Image::decoded).transpose()? {
            Some(prev) if !subject.path.is_empty() => {
                return Ok((Cow::Borrowed(prev), subject.path.join(".")));
            }
            prev => prev.map(|doc| Cow::Owned(Bson::Document(doc.clone()))),
        },
        Source::This => scope.this.map(Cow::Borrowed),
        Source::Prev => scope.prev.map(Cow::Borrowed),
        Source::True => Some(Cow::Owned(Bson::Boolean(true))),
        Source::False => Some(Cow::Owned(Bson::Boolean(false))),
        Source::User => scope.request.user.as_ref().map(Cow::Borrowed),
        Source::Values => scope.request.values.as_ref().map(Cow::Borrowed),
        Source::Environment => scope.request.environment.as_ref().map(Cow::Borrowed),
        Source::Request => scope.request.request.as_ref().map(Cow::Borrowed),
    };
    let base = match base {
        Some(Cow::Borrowed(Bson::Document(doc))) if !subject.path.is_empty() => {
            return Ok((Cow::Borrowed(doc), subject.path.join(".")));
        }
        other => other,
    };
    let mut holder = Document::new();
    if let Some(value) = base {
        holder.insert("v", value.into_owned());
    }
    let mut path = String::from("v");
    for part in &subject.path {
        path.push('.');
        path.push_str(part);
    }
    Ok((Cow::Owned(holder), path))
}

/// The MongoDB filter for `path: test`; `None` when an operand is unresolved.
pub(super) fn build(
    path: &str,
    test: &Test,
    scope: &Scope<'_>,
    budget: &Budget,
) -> Result<Option<Document>, EvalError> {
    budget.spend(1)?;
    match test {
        Test::Equals(right) => {
            let Some(value) = operand(right, scope, budget)? else {
                return Ok(None);
            };
            Ok(Some(match value {
                // Equality with an array on the right also accepts membership: the documented
                // `{"email": "%%user.custom_data.manages"}` example depends on it.
                Bson::Array(items) => doc! {"$or": [
                    {path: {"$eq": Bson::Array(items.clone())}},
                    {path: {"$in": Bson::Array(items)}},
                ]},
                value => doc! {path: {"$eq": value}},
            }))
        }
        Test::Compare(entries) => {
            let mut operators = Document::new();
            for (comparison, right) in entries {
                let Some(value) = operand(right, scope, budget)? else {
                    return Ok(None);
                };
                operators.insert(comparison.mongo_name(), value);
            }
            Ok(Some(doc! {path: operators}))
        }
        Test::All(tests) => {
            let mut clauses = Vec::with_capacity(tests.len());
            for inner in tests {
                let Some(clause) = build(path, inner, scope, budget)? else {
                    return Ok(None);
                };
                clauses.push(Bson::Document(clause));
            }
            if clauses.is_empty() {
                return Ok(Some(Document::new()));
            }
            Ok(Some(doc! {"$and": clauses}))
        }
        Test::Any(tests) => {
            let mut clauses = Vec::with_capacity(tests.len());
            for inner in tests {
                if let Some(clause) = build(path, inner, scope, budget)? {
                    clauses.push(Bson::Document(clause));
                }
            }
            if clauses.is_empty() {
                return Ok(None);
            }
            Ok(Some(doc! {"$or": clauses}))
        }
    }
}

/// Resolves a value; `Ok(None)` when an expansion in it has no value.
pub(super) fn operand(
    value: &Operand,
    scope: &Scope<'_>,
    budget: &Budget,
) -> Result<Option<Bson>, EvalError> {
    budget.spend(1)?;
    match value {
        Operand::Literal(literal) => Ok(Some(literal.clone())),
        Operand::Reference(reference) => resolve(reference, scope),
        Operand::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                let Some(resolved) = operand(item, scope, budget)? else {
                    return Ok(None);
                };
                values.push(resolved);
            }
            Ok(Some(Bson::Array(values)))
        }
        Operand::Document(entries) => {
            let mut doc = Document::new();
            for (key, item) in entries {
                let Some(resolved) = operand(item, scope, budget)? else {
                    return Ok(None);
                };
                doc.insert(key.clone(), resolved);
            }
            Ok(Some(Bson::Document(doc)))
        }
        Operand::Function { name, arguments } => call(name, arguments, scope, budget),
        Operand::Convert(kind, inner) => match operand(inner, scope, budget)? {
            None => Ok(None),
            Some(input) => convert(*kind, input).map(Some),
        },
    }
}

fn resolve(reference: &Reference, scope: &Scope<'_>) -> Result<Option<Bson>, EvalError> {
    let base: Option<Cow<'_, Bson>> = match reference.source {
        Source::Root => {
            let root = scope
                .root
                .ok_or(EvalError::DocumentUnavailable)?
                .decoded()?;
            return Ok(resolve_in(root, &reference.path));
        }
        Source::PrevRoot => {
            return Ok(match scope.prev_root {
                Some(prev) => resolve_in(prev.decoded()?, &reference.path),
                None => None,
            });
        }
        Source::This => scope.this.map(Cow::Borrowed),
        Source::Prev => scope.prev.map(Cow::Borrowed),
        Source::True => Some(Cow::Owned(Bson::Boolean(true))),
        Source::False => Some(Cow::Owned(Bson::Boolean(false))),
        Source::User => scope.request.user.as_ref().map(Cow::Borrowed),
        Source::Values => scope.request.values.as_ref().map(Cow::Borrowed),
        Source::Environment => scope.request.environment.as_ref().map(Cow::Borrowed),
        Source::Request => scope.request.request.as_ref().map(Cow::Borrowed),
    };
    let Some(base) = base else {
        return Ok(None);
    };
    if reference.path.is_empty() {
        return Ok(Some(base.into_owned()));
    }
    match base.as_ref() {
        Bson::Document(doc) => Ok(lookup(doc, &reference.path).cloned()),
        _ => Ok(None),
    }
}

fn resolve_in(doc: &Document, path: &[String]) -> Option<Bson> {
    if path.is_empty() {
        return Some(Bson::Document(doc.clone()));
    }
    lookup(doc, path).cloned()
}

fn call(
    name: &str,
    arguments: &[Operand],
    scope: &Scope<'_>,
    budget: &Budget,
) -> Result<Option<Bson>, EvalError> {
    budget.spend(100)?;
    let mut values = Vec::with_capacity(arguments.len());
    for argument in arguments {
        // A function is not called with an unresolved argument (fail closed).
        let Some(value) = operand(argument, scope, budget)? else {
            return Ok(None);
        };
        values.push(value);
    }
    let Some(functions) = &scope.request.functions else {
        return Err(EvalError::Function {
            name: name.to_owned(),
            message: "no functions are defined".to_owned(),
        });
    };
    functions.call(name, &values, scope.request.user.as_ref())
}

fn convert(kind: Conversion, input: Bson) -> Result<Bson, EvalError> {
    match (kind, input) {
        (Conversion::StringToOid, Bson::String(text)) => bson::oid::ObjectId::parse_str(&text)
            .map(Bson::ObjectId)
            .map_err(|_| {
                EvalError::Conversion(format!("`%stringToOid`: `{text}` is not an ObjectId"))
            }),
        (Conversion::OidToString, Bson::ObjectId(id)) => Ok(Bson::String(id.to_hex())),
        (Conversion::StringToUuid, Bson::String(text)) => parse_uuid(&text)
            .map(|bytes| {
                Bson::Binary(Binary {
                    subtype: BinarySubtype::Uuid,
                    bytes,
                })
            })
            .ok_or_else(|| {
                EvalError::Conversion(format!("`%stringToUuid`: `{text}` is not a UUID"))
            }),
        (Conversion::UuidToString, Bson::Binary(binary))
            if binary.subtype == BinarySubtype::Uuid && binary.bytes.len() == 16 =>
        {
            Ok(Bson::String(format_uuid(&binary.bytes)))
        }
        (kind, value) => Err(EvalError::Conversion(format!(
            "`{}` cannot convert a value of type {}",
            conversion_name(kind),
            rampart_mql::type_name(&value)
        ))),
    }
}

fn conversion_name(kind: Conversion) -> &'static str {
    match kind {
        Conversion::StringToOid => "%stringToOid",
        Conversion::OidToString => "%oidToString",
        Conversion::StringToUuid => "%stringToUuid",
        Conversion::UuidToString => "%uuidToString",
    }
}

fn parse_uuid(text: &str) -> Option<Vec<u8>> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || text.len() != 36 && text.len() != 32 {
        return None;
    }
    (0..16)
        .map(|index| {
            let pair = hex.get(index * 2..index * 2 + 2)?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

fn format_uuid(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default().to_owned();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}
