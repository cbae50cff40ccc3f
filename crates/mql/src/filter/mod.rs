//! Query filters: compile a filter document once, match many documents.
//!
//! Matching follows the MongoDB server's classic matcher: a path predicate is tested against
//! every value the path reaches (`path.cpp`'s element iterator: arrays on the way are traversed,
//! numeric components also index arrays, a leaf array yields its elements and then itself) and
//! matches when any of them does. Negations (`$ne`, `$nin`, `$not`, `$exists: false`, `$nor`)
//! negate the whole path predicate, so they are exact complements of their positive forms.
//!
//! The same matching runs on decoded documents (`evaluate`) and on BSON bytes (`evaluate_raw`,
//! what a store holds: no decoding and no allocation, except for `$expr` and comparisons of
//! DBPointer or code-with-scope values): `eval.rs` walks either through its `View` trait,
//! `raw.rs` reads the bytes and compares them with the compiled operands in place.
//! `tests/filter_raw.rs` checks that both give identical outcomes.

mod analysis;
mod eval;
mod parse;
pub(crate) mod raw;

use bson::{Bson, Document, RawDocument};

use crate::error::Result;
use crate::expr::{Expr, Variables};
use crate::path::FieldPath;

/// A compiled query filter.
#[derive(Debug, Clone)]
pub struct Filter {
    root: Node,
    variables: Variables,
    /// When the root is one top-level equality with a string or an ObjectId: its operand as
    /// stored bytes, for [`Filter::quick_raw`].
    quick_eq: Option<raw::QuickEq>,
    /// The outcome for every document, when the filter decides it without reading one (`{}`,
    /// `$in: []`, `$all: []`, a conjunction holding one of them): no document is read.
    constant: Option<bool>,
    /// Whether the filter can look up several paths in a document, so that one evaluation
    /// remembers the fields it has read (see [`raw::Lookups`]).
    several: bool,
}

/// The result of matching one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatchOutcome {
    /// Whether the document matches.
    pub matched: bool,
    /// For the positional `$` operator (update and projection): the index of the first element
    /// of the array the filter matched through, if it matched through one.
    pub array_position: Option<usize>,
}

/// A constraint on one path that every matching document satisfies, taken from the filter's
/// top-level conjunction; used to choose an index and to seed upserts.
///
/// Each constraint is necessary on its own, in terms of the values MongoDB's path traversal
/// reaches (array elements included, as a multikey index stores them): a document matches the
/// filter only if some value at the path satisfies the constraint. Two constraints on the same
/// path may be satisfied by different array elements (`{a: {$gt: 1, $lt: 3}}` matches
/// `{a: [0, 5]}`), so each range bound is reported as its own constraint and a store must not
/// intersect them for a multikey path. Null equality, `$exists`, negations and regexes are never
/// reported. A store always re-checks the full filter on the documents it fetches.
// The variants' shapes are the agreed public contract; constraints are few and short-lived.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum PathConstraint {
    /// The value at the path equals one of these (implicit equality, `$eq`, `$in` without regex).
    AnyOf(Vec<Bson>),
    /// The value at the path lies in this range; bounds are `(value, inclusive)`, both of the
    /// same canonical type bracket as MongoDB applies to `$gt`/`$lt` and friends. An open end
    /// stops at the end of the bound's type bracket (`$gt: 5` matches no strings).
    Range {
        /// Lower bound, if any.
        lower: Option<(Bson, bool)>,
        /// Upper bound, if any.
        upper: Option<(Bson, bool)>,
    },
}

/// A dotted path split once at compile time.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    dotted: String,
    parts: Vec<Part>,
}

/// One path component; `index` is set when the component is a canonical array index ("0",
/// "12", not "01"), which is how MongoDB compares it with array field names.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    name: String,
    index: Option<usize>,
}

impl Path {
    fn new(dotted: &str) -> Path {
        let parts = dotted
            .split('.')
            .map(|name| Part {
                name: name.to_owned(),
                index: crate::path::array_index(name).filter(|index| index.to_string() == name),
            })
            .collect();
        Path {
            dotted: dotted.to_owned(),
            parts,
        }
    }
}

/// A compiled filter node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
    Not(Box<Node>),
    Leaf(Box<Leaf>),
    /// Predicates on one path that must all hold (`{a: {$gt: 1, $lt: 5}}`, `$all`): the
    /// conjunction of these leaves, in order, found with one walk of the path. Two to
    /// [`MAX_SAME`] leaves, all on the same path and all traversing a leaf array alike.
    Same(Box<[Leaf]>),
    Expr(Box<Expr>),
    Const(bool),
}

/// The most leaves one [`Node::Same`] holds; a longer run of predicates on one path is split.
pub(crate) const MAX_SAME: usize = 8;

/// A predicate applied to the values at a path.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    path: Path,
    pred: Pred,
}

/// A test of one value (`None` is a missing value).
#[derive(Debug, Clone)]
pub(crate) enum Pred {
    Cmp(CmpOp, Bson),
    In(InList),
    Regex(RegexPred),
    Exists,
    Type(u32),
    Mod { divisor: i64, remainder: i64 },
    Bits(BitsOp, Vec<u64>),
    Size(usize),
    ElemObject(Box<Node>),
    ElemValue(Vec<Cond>),
    Never,
}

/// One condition of an operator document: a predicate or a negated group (`$ne`, `$not`).
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Is(Pred),
    Not(Vec<Cond>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BitsOp {
    AllSet,
    AllClear,
    AnySet,
    AnyClear,
}

/// `$in`'s operand: values sorted in BSON order for binary search, plus the regexes.
#[derive(Debug, Clone)]
pub(crate) struct InList {
    values: Vec<Bson>,
    has_null: bool,
    regexes: Vec<RegexPred>,
}

#[derive(Debug, Clone)]
pub(crate) struct RegexPred {
    regex: regex::Regex,
    pattern: String,
    options: String,
}

impl Leaf {
    /// Whether the walk tests a leaf array's elements (and then the array) rather than only
    /// the array as a whole (`$size`, `$elemMatch`).
    fn traverses_leaf(&self) -> bool {
        !matches!(
            self.pred,
            Pred::Size(_) | Pred::ElemObject(_) | Pred::ElemValue(_)
        )
    }
}

impl MatchOutcome {
    fn new(matched: bool, position: Option<usize>) -> MatchOutcome {
        MatchOutcome {
            matched,
            array_position: if matched { position } else { None },
        }
    }
}

/// The byte form of a root that is one top-level equality with a string or an ObjectId.
fn quick_eq(root: &Node) -> Option<raw::QuickEq> {
    match top_leaf(root)? {
        (leaf, false) => match &leaf.pred {
            Pred::Cmp(CmpOp::Eq, operand) => raw::QuickEq::new(operand),
            _ => None,
        },
        (_, true) => None,
    }
}

/// The outcome of `node` on any document, when it does not depend on the document (a
/// conjunction with a clause that never holds, and so on); `None` when it may.
fn constant(node: &Node) -> Option<bool> {
    match node {
        Node::Const(value) => Some(*value),
        Node::Leaf(leaf) => matches!(leaf.pred, Pred::Never).then_some(false),
        Node::Same(leaves) => leaves
            .iter()
            .any(|leaf| matches!(leaf.pred, Pred::Never))
            .then_some(false),
        Node::Expr(_) => None,
        Node::Not(child) => constant(child).map(|value| !value),
        Node::And(children) => all_or_any(children, false),
        Node::Or(children) => all_or_any(children, true),
        Node::Nor(children) => all_or_any(children, true).map(|value| !value),
    }
}

/// For a conjunction (`decisive` false) or a disjunction (`decisive` true): `decisive` when a
/// child is constantly `decisive`, the other outcome when all children are constantly that.
fn all_or_any(children: &[Node], decisive: bool) -> Option<bool> {
    let mut all_constant = true;
    for child in children {
        match constant(child) {
            Some(value) if value == decisive => return Some(decisive),
            Some(_) => {}
            None => all_constant = false,
        }
    }
    all_constant.then_some(!decisive)
}

/// The leaf a root of one top-level test is, and whether it is negated.
fn top_leaf(root: &Node) -> Option<(&Leaf, bool)> {
    let (leaf, negated) = match root {
        Node::Leaf(leaf) => (leaf, false),
        Node::Not(inner) => match inner.as_ref() {
            Node::Leaf(leaf) => (leaf, true),
            _ => return None,
        },
        _ => return None,
    };
    (leaf.path.parts.len() == 1).then_some((leaf.as_ref(), negated))
}

impl Filter {
    /// Compiles `filter`; unknown operators and malformed operands are errors.
    pub fn compile(filter: &Document) -> Result<Filter> {
        let root = parse::parse_filter(filter, parse::Scope::top())?;
        Ok(Filter {
            quick_eq: quick_eq(&root),
            constant: constant(&root),
            several: eval::several_paths(&root),
            root,
            variables: Variables::new(),
        })
    }

    /// The filter with `variables` for its `$expr` and `$sampleRate` (user variables, `$$NOW`,
    /// the random numbers; see [`Variables`]) wherever it is matched without others.
    pub fn with_variables(mut self, variables: Variables) -> Filter {
        self.variables = variables;
        self
    }

    /// Whether `doc` matches. Errors only from `$expr` evaluation.
    pub fn matches(&self, doc: &Document) -> Result<bool> {
        self.matches_with(doc, &self.variables)
    }

    /// [`Filter::matches`] with `variables` for `$expr` and `$sampleRate`, wherever they are
    /// in the filter: a `$match` in a `$lookup` sub-pipeline sees the `let` variables.
    pub fn matches_with(&self, doc: &Document, variables: &Variables) -> Result<bool> {
        if let Some(matched) = self.constant {
            return Ok(matched);
        }
        let mut position = None;
        eval::eval::<&Bson>(
            &self.root,
            self.several,
            eval::Container::Doc(doc),
            variables,
            &mut position,
        )
    }

    /// Matches `doc` and reports the array position for the positional operator.
    pub fn evaluate(&self, doc: &Document) -> Result<MatchOutcome> {
        if let Some(matched) = self.constant {
            return Ok(MatchOutcome::new(matched, None));
        }
        let mut position = None;
        let matched = eval::eval::<&Bson>(
            &self.root,
            self.several,
            eval::Container::Doc(doc),
            &self.variables,
            &mut position,
        )?;
        Ok(MatchOutcome::new(matched, position))
    }

    /// [`Filter::matches`] on a document's BSON bytes, without decoding it (a filter with
    /// `$expr` decodes it for that operator). Same results as matching the decoded document;
    /// malformed bytes are an error.
    pub fn matches_raw(&self, doc: &RawDocument) -> Result<bool> {
        let mut position = None;
        if let Some(matched) = self.quick_raw(doc, &mut position) {
            return matched;
        }
        let root = raw::RawDoc::new(doc);
        root.warm();
        eval::eval::<raw::RawValue<'_>>(
            &self.root,
            self.several,
            eval::Container::Doc(root),
            &self.variables,
            &mut position,
        )
    }

    /// [`Filter::matches_raw`] with any error as `None`, for a caller that leaves errors to
    /// another path (a role gate falls back to the full evaluation, which reports them). The
    /// outcome comes back in a register: `matches_raw`'s `Result` goes through memory, and
    /// `perf annotate` put a third of a role gate's time on reading it back (the caller loads
    /// the `bool` as four bytes; a failed store-to-load forward is the likely cause, not
    /// confirmed with counters).
    #[inline(never)]
    pub fn matches_raw_ok(&self, doc: &RawDocument) -> Option<bool> {
        if let Some(matched) = self.constant {
            return Some(matched);
        }
        if let Some((leaf, negated)) = top_leaf(&self.root) {
            let mut position = None;
            return raw::top_leaf_inline(
                leaf,
                self.quick_eq.as_ref(),
                negated,
                doc,
                &self.variables,
                &mut position,
            )
            .ok();
        }
        self.matches_raw(doc).ok()
    }

    /// [`Filter::evaluate`] on a document's BSON bytes (see [`Filter::matches_raw`]).
    pub fn evaluate_raw(&self, doc: &RawDocument) -> Result<MatchOutcome> {
        let mut position = None;
        if let Some(matched) = self.quick_raw(doc, &mut position) {
            return matched.map(|matched| MatchOutcome::new(matched, position));
        }
        let root = raw::RawDoc::new(doc);
        root.warm();
        let matched = eval::eval::<raw::RawValue<'_>>(
            &self.root,
            self.several,
            eval::Container::Doc(root),
            &self.variables,
            &mut position,
        )?;
        Ok(MatchOutcome::new(matched, position))
    }

    /// A constant filter, or one of one top-level test (or its negation: `$ne`, `$nin`, `$not`,
    /// `$exists: false`) matched on `doc`'s bytes ([`raw::top_leaf`]); `None` for any other
    /// filter.
    fn quick_raw(&self, doc: &RawDocument, position: &mut Option<usize>) -> Option<Result<bool>> {
        if let Some(matched) = self.constant {
            return Some(Ok(matched));
        }
        let (leaf, negated) = top_leaf(&self.root)?;
        Some(raw::top_leaf(
            leaf,
            self.quick_eq.as_ref(),
            negated,
            doc,
            &self.variables,
            position,
        ))
    }

    /// Constraints per path from the top-level conjunction (see [`PathConstraint`]).
    pub fn constraints(&self) -> Vec<(FieldPath, PathConstraint)> {
        analysis::constraints(&self.root)
    }

    /// The document an upsert starts from: the equality predicates of the filter (implicit,
    /// `$eq`, and those inside a top-level `$and`), as MongoDB seeds it. Errors when two
    /// predicates set conflicting paths.
    ///
    /// As in MongoDB, the filter is read after its single-element `$in` and single-clause
    /// `$or` are simplified to their one condition, so `{a: {$in: [1]}}` seeds `{a: 1}`; a path
    /// with two equalities is an error even when they agree (`$all: [1, 2]` is two equalities).
    pub fn upsert_seed(&self) -> Result<Document> {
        analysis::upsert_seed(&self.root)
    }
}

#[cfg(test)]
mod tests;
