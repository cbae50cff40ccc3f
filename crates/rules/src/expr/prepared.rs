//! Compile once: each `<subject>: <test>` becomes a `rampart_mql::Filter` as early as its
//! operands allow, so evaluating a document only matches an already-compiled filter.
//!
//! - Literal operands: the filter is compiled with the rules (`Plan::Compiled`).
//! - Operands that read the request (`%%user`, `%%values`, `%%environment`, `%%request`,
//!   `%function`): compiled the first time the request needs it and kept in the request's
//!   [`Slots`] (`Plan::PerRequest`). A test whose subject also comes from the request is decided
//!   outright, once per request.
//! - Operands that read the document (`%%root.x`, `%%prevRoot`, `%%this`, `%%prev` on the value
//!   side): built and compiled at each evaluation (`Plan::PerDocument`), as before.
//!
//! Matching is always `rampart-mql`'s: the filter is the one `eval::build` writes, only
//! compiled earlier, so arrays, type brackets, `null` and missing values behave as in a query.

use std::sync::OnceLock;

use bson::{Bson, Document};
use rampart_mql::Filter;

use super::eval::{build, run_test};
use super::{Budget, EvalError};
use super::{
    Comparison, Node, Operand, Plan, Reference, RequestScope, Scope, Source, Test, TestNode,
};

/// Steps charged for matching a prepared filter, as for building and compiling one.
const MATCH_STEPS: u32 = 10;

/// A test made ready to match documents.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    /// The outcome does not depend on the document: the subject comes from the request, or
    /// an operand has no value (which matches nothing, fail closed).
    Decided(bool),
    /// Preparing failed (an operand errs, or the query engine rejects the filter): every
    /// evaluation fails with this error.
    Failed(EvalError),
    /// Filters over the subject.
    Match(Box<Matcher>),
}

/// The compiled filters of a test on a document-reading subject.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    /// Over the subject's own path, matched against the document holding it (`%%root.a`:
    /// `{"a": ...}` on the document). Present when the subject has a path.
    direct: Option<Filter>,
    /// The query `direct` was compiled from: what a store runs to push the test down.
    pub(super) direct_spec: Option<Document>,
    /// Over `v.<path>`, matched against `{"v": <value>}`: subjects with no path, and `%%this` or
    /// `%%prev` holding an array.
    wrapped: Option<Filter>,
    /// For a subject with no path and a test that only asks `$exists`: the answer when the
    /// value is present and when it is missing, so the value is never copied.
    presence: Option<(bool, bool)>,
}

/// The tests a request has prepared, by slot. `OnceLock` keeps an `Authorizer` shareable
/// across threads; each slot is filled at most once per request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slots(Vec<OnceLock<Prepared>>);

impl Slots {
    /// `count` empty slots (a namespace's `NamespaceRules::slots`).
    pub(crate) fn new(count: usize) -> Self {
        Slots((0..count).map(|_| OnceLock::new()).collect())
    }
}

/// Parses-time construction: classify the test and, when its operands are literals, prepare
/// it now.
pub(super) fn test_node(subject: Reference, test: Test) -> Node {
    let mut needs = Needs::default();
    needs.test(&test);
    let plan = if needs.document {
        Plan::PerDocument
    } else if needs.request || subject_reads_request(&subject) {
        Plan::PerRequest(usize::MAX)
    } else {
        // Literal operands: no request is needed to prepare it.
        let empty = RequestScope::default();
        Plan::Compiled(prepare(&subject, &test, &empty))
    };
    Node::Test(Box::new(TestNode {
        subject,
        test,
        plan,
    }))
}

fn subject_reads_request(subject: &Reference) -> bool {
    matches!(
        subject.source,
        Source::User | Source::Values | Source::Environment | Source::Request
    )
}

/// What a test's operands read.
#[derive(Debug, Default)]
struct Needs {
    document: bool,
    request: bool,
}

impl Needs {
    fn test(&mut self, test: &Test) {
        match test {
            Test::Equals(operand) => self.operand(operand),
            Test::Compare(entries) => {
                for (_, operand) in entries {
                    self.operand(operand);
                }
            }
            Test::All(tests) | Test::Any(tests) => {
                for inner in tests {
                    self.test(inner);
                }
            }
        }
    }

    fn operand(&mut self, operand: &Operand) {
        match operand {
            Operand::Literal(_) => {}
            Operand::Reference(reference) => {
                self.document |= reference.source.reads_document();
                self.request |= subject_reads_request(reference);
            }
            Operand::Array(items) => items.iter().for_each(|item| self.operand(item)),
            Operand::Document(entries) => entries.iter().for_each(|(_, item)| self.operand(item)),
            Operand::Function { arguments, .. } => {
                self.request = true;
                arguments.iter().for_each(|item| self.operand(item));
            }
            Operand::Convert(_, inner) => self.operand(inner),
        }
    }
}

/// The test prepared as evaluation sees it (the request's own slot when it has one, so a
/// `%function` operand is called once and every use agrees); `None` when an operand reads the
/// document.
pub(super) fn prepared_of<'a>(
    node: &'a TestNode,
    request: &'a RequestScope,
) -> Option<std::borrow::Cow<'a, Prepared>> {
    use std::borrow::Cow;
    match &node.plan {
        Plan::Compiled(prepared) => Some(Cow::Borrowed(prepared)),
        Plan::PerRequest(slot) => Some(match request.prepared.0.get(*slot) {
            Some(cell) => {
                Cow::Borrowed(cell.get_or_init(|| prepare(&node.subject, &node.test, request)))
            }
            None => Cow::Owned(prepare(&node.subject, &node.test, request)),
        }),
        Plan::PerDocument => None,
    }
}

/// The compiled filter a test on a `%%root` field matches the document with, when it has one
/// (its operands do not read the document, and preparing it succeeded): what
/// [`super::Expression::root_filters`] hands to callers that match it directly.
pub(super) fn root_filter<'a>(node: &'a TestNode, request: &'a RequestScope) -> Option<&'a Filter> {
    if node.subject.source != Source::Root {
        return None;
    }
    let prepared = match &node.plan {
        Plan::Compiled(prepared) => prepared,
        Plan::PerRequest(slot) => request
            .prepared
            .0
            .get(*slot)?
            .get_or_init(|| prepare(&node.subject, &node.test, request)),
        Plan::PerDocument => return None,
    };
    match prepared {
        Prepared::Match(matcher) => matcher.direct.as_ref(),
        Prepared::Decided(_) | Prepared::Failed(_) => None,
    }
}

/// Evaluates a test through its plan.
pub(super) fn run(node: &TestNode, scope: &Scope<'_>, budget: &Budget) -> Result<bool, EvalError> {
    match &node.plan {
        Plan::Compiled(prepared) => apply(prepared, node, scope, budget),
        Plan::PerRequest(slot) => match scope.request.prepared.0.get(*slot) {
            Some(cell) => {
                let prepared =
                    cell.get_or_init(|| prepare(&node.subject, &node.test, scope.request));
                apply(prepared, node, scope, budget)
            }
            // A scope made outside an authorizer has no slots: prepare for this use only.
            None => apply(
                &prepare(&node.subject, &node.test, scope.request),
                node,
                scope,
                budget,
            ),
        },
        Plan::PerDocument => run_test(&node.subject, &node.test, scope, budget),
    }
}

/// Prepares a test whose operands do not read the document. Spends its own budget: the
/// result is shared by every decision of the request, so it must not depend on how much one
/// decision had already spent.
fn prepare(subject: &Reference, test: &Test, request: &RequestScope) -> Prepared {
    let budget = Budget::default();
    let scope = Scope::request_only(request);
    if !subject.source.reads_document() {
        return match run_test(subject, test, &scope, &budget) {
            Ok(holds) => Prepared::Decided(holds),
            Err(error) => Prepared::Failed(error),
        };
    }
    match matcher(subject, test, &scope, &budget) {
        Ok(Some(matcher)) => Prepared::Match(Box::new(matcher)),
        Ok(None) => Prepared::Decided(false),
        Err(error) => Prepared::Failed(error),
    }
}

/// Compiles the filters a document-reading subject needs; `None` when an operand has no value.
fn matcher(
    subject: &Reference,
    test: &Test,
    scope: &Scope<'_>,
    budget: &Budget,
) -> Result<Option<Matcher>, EvalError> {
    let compile = |path: &str| -> Result<Option<(Filter, Document)>, EvalError> {
        let Some(spec) = build(path, test, scope, budget)? else {
            return Ok(None);
        };
        Filter::compile(&spec)
            .map(|filter| Some((filter, spec)))
            .map_err(|error| EvalError::Query(error.to_string()))
    };
    let mut wrapped_path = String::from("v");
    for part in &subject.path {
        wrapped_path.push('.');
        wrapped_path.push_str(part);
    }
    let (direct, direct_spec) = if subject.path.is_empty() {
        (None, None)
    } else {
        match compile(&subject.path.join("."))? {
            None => return Ok(None),
            Some((filter, spec)) => (Some(filter), Some(spec)),
        }
    };
    let wrapped =
        if subject.path.is_empty() || matches!(subject.source, Source::This | Source::Prev) {
            match compile(&wrapped_path)? {
                None => return Ok(None),
                Some((filter, _)) => Some(filter),
            }
        } else {
            None
        };
    let presence = match (&wrapped, subject.path.is_empty() && only_exists(test)) {
        (Some(filter), true) => {
            let present = bson::doc! {"v": true};
            let matches = |doc: &Document| {
                filter
                    .matches(doc)
                    .map_err(|error| EvalError::Query(error.to_string()))
            };
            Some((matches(&present)?, matches(&Document::new())?))
        }
        _ => None,
    };
    Ok(Some(Matcher {
        direct,
        direct_spec,
        wrapped,
        presence,
    }))
}

/// True when the test asks nothing but `$exists` (whose answer depends only on presence).
fn only_exists(test: &Test) -> bool {
    match test {
        Test::Equals(_) => false,
        Test::Compare(entries) => entries
            .iter()
            .all(|(comparison, _)| *comparison == Comparison::Exists),
        Test::All(tests) | Test::Any(tests) => tests.iter().all(only_exists),
    }
}

/// Matches a prepared test against the documents in `scope`.
fn apply(
    prepared: &Prepared,
    node: &TestNode,
    scope: &Scope<'_>,
    budget: &Budget,
) -> Result<bool, EvalError> {
    // Reading `%%root` without a document is an error whatever the operands turned out to be.
    if node.subject.source == Source::Root && scope.root.is_none() {
        return Err(EvalError::DocumentUnavailable);
    }
    let matcher = match prepared {
        Prepared::Decided(holds) => return Ok(*holds),
        Prepared::Failed(error) => return Err(error.clone()),
        Prepared::Match(matcher) => matcher,
    };
    budget.spend(MATCH_STEPS)?;
    let value: Option<&Bson> = match node.subject.source {
        Source::Root | Source::PrevRoot => {
            let document = if node.subject.source == Source::Root {
                scope.root
            } else {
                scope.prev_root
            };
            if let Some(filter) = &matcher.direct {
                return match document {
                    Some(document) => document.matches(filter),
                    None => matches(filter, &Document::new()),
                };
            }
            // No path: the whole document is the value.
            return match (matcher.presence, document) {
                (Some((present, _)), Some(_)) => Ok(present),
                (Some((_, missing)), None) => Ok(missing),
                (None, Some(document)) => {
                    wrapped(matcher, Some(&Bson::Document(document.decoded()?.clone())))
                }
                (None, None) => wrapped(matcher, None),
            };
        }
        Source::This => scope.this,
        Source::Prev => scope.prev,
        // Subjects from the request are always `Decided`; run them in full if one is not.
        _ => return run_test(&node.subject, &node.test, scope, budget),
    };
    match (&matcher.direct, value) {
        (Some(filter), Some(Bson::Document(document))) => matches(filter, document),
        // An array is traversed as MongoDB does, through the wrapped filter.
        (Some(_), Some(Bson::Array(_))) => wrapped(matcher, value),
        // A scalar or missing value has no fields: the path is missing either way.
        (Some(filter), _) => matches(filter, &Document::new()),
        (None, value) => match matcher.presence {
            Some((present, missing)) => Ok(if value.is_some() { present } else { missing }),
            None => wrapped(matcher, value),
        },
    }
}

fn matches(filter: &Filter, document: &Document) -> Result<bool, EvalError> {
    filter
        .matches(document)
        .map_err(|error| EvalError::Query(error.to_string()))
}

/// Matches the wrapped filter against `{"v": value}`. Copies the value: kept for subjects
/// with no path and arrays under `%%this`/`%%prev`.
fn wrapped(matcher: &Matcher, value: Option<&Bson>) -> Result<bool, EvalError> {
    let Some(filter) = &matcher.wrapped else {
        return Err(EvalError::Query(
            "internal: a test was prepared without the filter it needs".to_owned(),
        ));
    };
    let mut holder = Document::new();
    if let Some(value) = value {
        holder.insert("v", value.clone());
    }
    matches(filter, &holder)
}
