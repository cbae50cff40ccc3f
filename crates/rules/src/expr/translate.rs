//! Expressions to store queries, for pushing role conditions down into a read.
//!
//! INVARIANT: a translation is a superset. Every document for which the expression evaluates
//! to `Ok(true)` (with this request's `%%user`, `%%values`, `%%environment`, `%%request`)
//! matches the translated query. Pushing it down may let through documents the rules then
//! withhold, never hide a document the rules would return. Where a construct has no exact
//! query, the translation widens (a dropped conjunct, or "every document"), never narrows.

use std::borrow::Cow;

use bson::{doc, Bson, Document};

use super::prepared::{prepared_of, Prepared};
use super::{Expression, Node, RequestScope, Source, TestNode};

/// A query that holds for at least the documents an expression holds for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Translation {
    /// No restriction. The reason says why the expression could not be narrowed; `None` when
    /// it genuinely holds for every document.
    Everything(Option<String>),
    /// Holds for no document.
    Nothing,
    /// Holds for the documents this query matches (and possibly more).
    Query(Document),
}

impl Translation {
    /// Both must hold. A conjunct that cannot be narrowed is dropped: `A and B` implies `A`.
    pub(crate) fn and(parts: Vec<Translation>) -> Translation {
        let mut queries = Vec::new();
        let mut widened = None;
        for part in parts {
            match part {
                Translation::Nothing => return Translation::Nothing,
                Translation::Everything(reason) => widened = widened.or(Some(reason)),
                Translation::Query(query) => queries.push(query),
            }
        }
        match queries.len() {
            0 => Translation::Everything(widened.flatten()),
            1 => queries
                .pop()
                .map_or(Translation::Nothing, Translation::Query),
            _ => Translation::Query(doc! {"$and": to_array(queries)}),
        }
    }

    /// One must hold. A branch that cannot be narrowed widens the whole to every document.
    pub(crate) fn or(parts: Vec<Translation>) -> Translation {
        let mut queries = Vec::new();
        for part in parts {
            match part {
                Translation::Nothing => {}
                everything @ Translation::Everything(_) => return everything,
                Translation::Query(query) => queries.push(query),
            }
        }
        match queries.len() {
            0 => Translation::Nothing,
            1 => queries
                .pop()
                .map_or(Translation::Nothing, Translation::Query),
            _ => Translation::Query(doc! {"$or": to_array(queries)}),
        }
    }
}

fn to_array(queries: Vec<Document>) -> Vec<Bson> {
    queries.into_iter().map(Bson::Document).collect()
}

impl Expression {
    /// The store query this expression amounts to for one request (see the module's
    /// invariant).
    pub(crate) fn translate(&self, request: &RequestScope) -> Translation {
        node(&self.node, request)
    }

    /// True when the expression is the literal `value` (`true`/`false` in the config).
    pub(crate) fn is_constant(&self, value: bool) -> bool {
        matches!(self.node, Node::Constant(constant) if constant == value)
    }
}

fn node(tree: &Node, request: &RequestScope) -> Translation {
    match tree {
        Node::Constant(true) => Translation::Everything(None),
        Node::Constant(false) => Translation::Nothing,
        Node::All(children) => {
            Translation::and(children.iter().map(|child| node(child, request)).collect())
        }
        // An erroring branch never makes `%or` hold, so a branch translated as `Nothing`
        // because it errs is exact.
        Node::Any(children) => {
            Translation::or(children.iter().map(|child| node(child, request)).collect())
        }
        Node::Test(test) => test_node(test, request),
    }
}

fn test_node(test: &TestNode, request: &RequestScope) -> Translation {
    let subject = &test.subject;
    match subject.source {
        Source::Root if subject.path.is_empty() => {
            return widen("it tests the whole document `%%root`");
        }
        Source::Root => {}
        Source::PrevRoot => return widen("it reads `%%prevRoot`"),
        Source::This | Source::Prev => return widen("it reads `%%this` or `%%prev`"),
        Source::User
        | Source::Values
        | Source::Environment
        | Source::Request
        | Source::True
        | Source::False => {}
    }
    let Some(prepared) = prepared_of(test, request) else {
        return widen("a value it compares with is read from the document");
    };
    match prepared {
        Cow::Borrowed(prepared) => from_prepared(prepared),
        Cow::Owned(prepared) => from_prepared(&prepared),
    }
}

/// The prepared test is exactly what evaluation matches, so its query is exact.
fn from_prepared(prepared: &Prepared) -> Translation {
    match prepared {
        Prepared::Decided(true) => Translation::Everything(None),
        // Unresolved operands match nothing; a test that errs never holds.
        Prepared::Decided(false) | Prepared::Failed(_) => Translation::Nothing,
        Prepared::Match(matcher) => match &matcher.direct_spec {
            Some(spec) => Translation::Query(spec.clone()),
            None => widen("it tests a value with no field path"),
        },
    }
}

fn widen(reason: &str) -> Translation {
    Translation::Everything(Some(reason.to_owned()))
}
