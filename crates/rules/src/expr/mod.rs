//! The App Services expression language: parsed once into a tree, evaluated against a scope
//! (the request's user, values, environment and request, and the documents being decided).
//!
//! Matching follows MongoDB query semantics: each test on a value is turned into a small
//! MongoDB filter over that value and run by `rampart-mql`, so arrays, type brackets, `null`
//! and missing fields behave exactly as in a query.

mod eval;
mod parse;
mod prepared;
mod translate;

use bson::Bson;
use rampart_mql::Filter;

pub use eval::RequestScope;
pub(crate) use eval::{Budget, EvalError, Image, RawImage, Scope};
pub(crate) use parse::{parse_expression, parse_operand};
pub(crate) use prepared::Slots;
pub(crate) use translate::Translation;

/// The deepest nesting an expression may have (operators, documents, arrays).
pub const MAX_EXPRESSION_DEPTH: usize = 32;

/// Evaluation steps one decision may spend before it is denied.
pub const MAX_EVALUATION_STEPS: u32 = 100_000;

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct Expression {
    node: Node,
    reads_document: bool,
    reads_value: bool,
}

impl Expression {
    /// The constant `true`, the meaning of an absent `apply_when`.
    pub(crate) fn always() -> Self {
        Expression {
            node: Node::Constant(true),
            reads_document: false,
            reads_value: false,
        }
    }

    /// Whether the expression refers to `%%root`, `%%prevRoot`, `%%this`, `%%prev` or a bare
    /// field name: only such expressions must be evaluated per document.
    pub(crate) fn reads_document(&self) -> bool {
        self.reads_document
    }

    /// Whether the expression refers to `%%this` or `%%prev`, the value of the field being
    /// decided: only then must a field permission see that value decoded.
    pub(crate) fn reads_value(&self) -> bool {
        self.reads_value
    }

    /// Evaluates the expression; `Err` is an evaluation error, which callers count as "does
    /// not apply" and record.
    pub(crate) fn evaluate(&self, scope: &Scope<'_>, budget: &Budget) -> Result<bool, EvalError> {
        eval::node(&self.node, scope, budget)
    }

    /// [`Expression::evaluate`], with `filters` (this expression's
    /// [`Expression::root_filters`], prepared for the scope's request) matched directly on the
    /// scope's document when given: the outcome is the same. A match that fails (malformed
    /// bytes) is left to the evaluation, which fails the same way and reports the error.
    #[inline]
    pub(crate) fn evaluate_matching(
        &self,
        filters: Option<&[Filter]>,
        scope: &Scope<'_>,
        budget: &Budget,
    ) -> Result<bool, EvalError> {
        let direct = match (filters, scope.root) {
            (Some(filters), Some(root)) => match_all(filters, root),
            _ => None,
        };
        match direct {
            Some(holds) => Ok(holds),
            None => self.evaluate(scope, budget),
        }
    }

    /// When this expression is a test of a `%%root` field (or a bare field name) whose
    /// operands do not read the document, or a conjunction of such tests, as role gates
    /// usually are (`{"owner": "%%user.id"}`, `{"owner": "%%user.id", "region": "eu"}`): each
    /// test's compiled filter, in order, prepared for `request`. Matching them in order on the
    /// stored document is then the whole evaluation (the first false test ends it, as in
    /// [`Expression::evaluate`]); when one fails to match, evaluating the expression from the
    /// start fails the same way and records the error (matching has no effects). `None` for
    /// any other expression.
    pub(crate) fn root_filters(&self, request: &RequestScope) -> Option<Vec<Filter>> {
        let tests: &[Node] = match &self.node {
            Node::All(children) if !children.is_empty() => children,
            Node::Test(_) => std::slice::from_ref(&self.node),
            Node::All(_) | Node::Any(_) | Node::Constant(_) => return None,
        };
        tests
            .iter()
            .map(|test| match test {
                Node::Test(test) => prepared::root_filter(test, request).cloned(),
                _ => None,
            })
            .collect()
    }

    /// Gives each test that is prepared once per request its slot in the request's
    /// [`Slots`], counting from `next`.
    pub(crate) fn number_slots(&mut self, next: &mut usize) {
        number_node(&mut self.node, next);
    }
}

/// Whether every filter matches `root`; `None` when one fails to match.
fn match_all(filters: &[Filter], root: Image<'_>) -> Option<bool> {
    for filter in filters {
        if !root.matches_ok(filter)? {
            return Some(false);
        }
    }
    Some(true)
}

fn number_node(node: &mut Node, next: &mut usize) {
    match node {
        Node::Constant(_) => {}
        Node::All(children) | Node::Any(children) => {
            for child in children {
                number_node(child, next);
            }
        }
        Node::Test(test) => {
            if let Plan::PerRequest(slot) = &mut test.plan {
                *slot = *next;
                *next += 1;
            }
        }
    }
}

/// A node of the tree.
#[derive(Debug, Clone)]
enum Node {
    Constant(bool),
    /// Keys of one object, and `%and`: all must hold (empty holds).
    All(Vec<Node>),
    /// `%or`: one must hold (empty fails).
    Any(Vec<Node>),
    /// `<subject>: <test>`.
    Test(Box<TestNode>),
}

/// One `<subject>: <test>` and how much of it was decided ahead of evaluation.
#[derive(Debug, Clone)]
struct TestNode {
    subject: Reference,
    test: Test,
    plan: Plan,
}

/// When a test is turned into a matcher (see `prepared.rs`).
#[derive(Debug, Clone)]
enum Plan {
    /// Every operand is a literal: prepared once, when the rules are compiled.
    Compiled(prepared::Prepared),
    /// The test reads the request (`%%user`, `%%values`, `%%environment`, `%%request`,
    /// `%function`) but no operand reads the document: prepared once per request, kept in the
    /// request's slot with this index (numbered by [`Expression::number_slots`]).
    PerRequest(usize),
    /// An operand reads the document: built and compiled at each evaluation.
    PerDocument,
}

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Root,
    PrevRoot,
    This,
    Prev,
    User,
    Values,
    Environment,
    Request,
    True,
    False,
}

impl Source {
    pub(super) fn reads_document(self) -> bool {
        matches!(
            self,
            Source::Root | Source::PrevRoot | Source::This | Source::Prev
        )
    }

    /// `%%this` and `%%prev`: the value of the field being decided.
    pub(super) fn reads_value(self) -> bool {
        matches!(self, Source::This | Source::Prev)
    }
}

/// An expansion (`%%user.data.email`) or a bare field name (`owner.id`, meaning `%%root.owner.id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    source: Source,
    path: Vec<String>,
}

/// What a subject's value must satisfy.
#[derive(Debug, Clone)]
enum Test {
    /// Equality (an array on the right also accepts membership, see `docs/rules-semantics.md`).
    Equals(Operand),
    /// Query operators, all of which must hold.
    Compare(Vec<(Comparison, Operand)>),
    /// `%and` on a value.
    All(Vec<Test>),
    /// `%or` on a value.
    Any(Vec<Test>),
}

/// A query operator usable in expressions; written with `%` or `$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    Exists,
}

impl Comparison {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Comparison::Eq,
            "ne" => Comparison::Ne,
            "gt" => Comparison::Gt,
            "gte" => Comparison::Gte,
            "lt" => Comparison::Lt,
            "lte" => Comparison::Lte,
            "in" => Comparison::In,
            "nin" => Comparison::Nin,
            "exists" => Comparison::Exists,
            _ => return None,
        })
    }

    fn mongo_name(self) -> &'static str {
        match self {
            Comparison::Eq => "$eq",
            Comparison::Ne => "$ne",
            Comparison::Gt => "$gt",
            Comparison::Gte => "$gte",
            Comparison::Lt => "$lt",
            Comparison::Lte => "$lte",
            Comparison::In => "$in",
            Comparison::Nin => "$nin",
            Comparison::Exists => "$exists",
        }
    }
}

/// A value: literal, expansion, a document or array holding expansions, or a value operator.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Literal(Bson),
    Reference(Reference),
    Array(Vec<Operand>),
    Document(Vec<(String, Operand)>),
    Function {
        name: String,
        arguments: Vec<Operand>,
    },
    Convert(Conversion, Box<Operand>),
}

impl Operand {
    pub(crate) fn reads_document(&self) -> bool {
        self.reads(Source::reads_document)
    }

    /// Whether an expansion in the operand comes from a source `wanted` accepts.
    pub(super) fn reads(&self, wanted: fn(Source) -> bool) -> bool {
        match self {
            Operand::Literal(_) => false,
            Operand::Reference(reference) => wanted(reference.source),
            Operand::Array(items) => items.iter().any(|item| item.reads(wanted)),
            Operand::Document(entries) => entries.iter().any(|(_, item)| item.reads(wanted)),
            Operand::Function { arguments, .. } => arguments.iter().any(|item| item.reads(wanted)),
            Operand::Convert(_, inner) => inner.reads(wanted),
        }
    }

    /// Resolves the operand; `Ok(None)` when an expansion in it has no value.
    pub(crate) fn resolve(
        &self,
        scope: &Scope<'_>,
        budget: &Budget,
    ) -> Result<Option<Bson>, EvalError> {
        eval::operand(self, scope, budget)
    }
}

/// `%stringToOid`, `%oidToString`, `%stringToUuid`, `%uuidToString`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    StringToOid,
    OidToString,
    StringToUuid,
    UuidToString,
}

#[cfg(test)]
mod tests;
