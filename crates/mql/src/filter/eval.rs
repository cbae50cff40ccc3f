//! Matching: MongoDB's path traversal (server `matcher/path.cpp`) and the per-value tests.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::{BitsOp, CmpOp, Cond, InList, Leaf, Node, Part, Pred, RegexPred, MAX_SAME};
use crate::decimal::Decimal;
use crate::error::{MqlError, Result};
use crate::expr::{truthy, Expr, Variables};
use crate::value::{compare_values, number, type_number, type_rank, Number};

/// What a path is looked up in: a document, or an array read as a document whose field names
/// are the indexes (an `$elemMatch` object filter applied to an array element).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Container<D, A> {
    Doc(D),
    Arr(A),
}

/// What a value is to the traversal: a document to descend into, an array to iterate, or a
/// leaf.
pub(crate) enum Shape<D, A> {
    Doc(D),
    Arr(A),
    Leaf,
}

/// A read-only view of BSON values that the matcher walks. Implemented for decoded values
/// (`&Bson`) and for raw bytes ([`super::raw::RawValue`]) so that both share one traversal,
/// the part of matching whose rules are subtle; only the per-value tests differ.
pub(crate) trait View<'a>: Copy {
    type Doc: Copy;
    type Arr: Copy;
    type Items: Iterator<Item = Result<Self>>;
    /// What one evaluation remembers of the lookups in its top-level document, so that a
    /// filter with several paths does not read the same fields again (see [`eval`]).
    type Lookups;

    /// The lookup memory for one evaluation over `root`; `several` tells whether the filter
    /// can look up more than one field there (otherwise remembering costs more than it saves).
    fn lookups(root: Container<Self::Doc, Self::Arr>, several: bool) -> Self::Lookups;
    fn shape(self) -> Shape<Self::Doc, Self::Arr>;
    /// The first field named `name`.
    fn field(doc: Self::Doc, name: &str, lookups: &mut Self::Lookups) -> Result<Option<Self>>;
    fn index(arr: Self::Arr, index: usize) -> Result<Option<Self>>;
    fn items(arr: Self::Arr) -> Self::Items;
    /// Tests a predicate that looks at one value only: every predicate but `$elemMatch`'s,
    /// which recurse through [`test`] and are never passed here.
    fn test_value(pred: &Pred, value: Option<Self>) -> Result<bool>;
    fn expr(doc: Self::Doc, expr: &Expr, variables: &Variables) -> Result<bool>;
}

type Root<'a, V> = Container<<V as View<'a>>::Doc, <V as View<'a>>::Arr>;

fn get<'a, V: View<'a>>(
    container: Root<'a, V>,
    part: &Part,
    lookups: &mut V::Lookups,
) -> Result<Option<V>> {
    match container {
        Container::Doc(doc) => V::field(doc, &part.name, lookups),
        Container::Arr(items) => match part.index {
            Some(index) => V::index(items, index),
            None => Ok(None),
        },
    }
}

impl<'a> View<'a> for &'a Bson {
    type Doc = &'a Document;
    type Arr = &'a [Bson];
    type Items = BsonItems<'a>;
    type Lookups = ();

    fn lookups(_: Container<&'a Document, &'a [Bson]>, _: bool) {}

    fn shape(self) -> Shape<&'a Document, &'a [Bson]> {
        match self {
            Bson::Document(doc) => Shape::Doc(doc),
            Bson::Array(items) => Shape::Arr(items),
            _ => Shape::Leaf,
        }
    }

    fn field(doc: &'a Document, name: &str, _: &mut ()) -> Result<Option<&'a Bson>> {
        Ok(get_field(doc, name))
    }

    fn index(arr: &'a [Bson], index: usize) -> Result<Option<&'a Bson>> {
        Ok(arr.get(index))
    }

    fn items(arr: &'a [Bson]) -> BsonItems<'a> {
        BsonItems(arr.iter())
    }

    fn test_value(pred: &Pred, value: Option<&'a Bson>) -> Result<bool> {
        Ok(match pred {
            Pred::Cmp(op, operand) => compare(*op, operand, value),
            Pred::In(list) => in_list(list, value),
            Pred::Regex(regex) => value.is_some_and(|value| regex_matches(regex, value)),
            Pred::Exists => value.is_some(),
            Pred::Type(bits) => value.is_some_and(|value| bits & type_bit(type_number(value)) != 0),
            Pred::Mod { divisor, remainder } => value
                .and_then(mod_dividend)
                .is_some_and(|dividend| dividend.wrapping_rem(*divisor) == *remainder),
            Pred::Bits(op, positions) => {
                value.is_some_and(|value| bits_match(*op, positions, value))
            }
            Pred::Size(size) => matches!(value, Some(Bson::Array(items)) if items.len() == *size),
            Pred::ElemObject(_) | Pred::ElemValue(_) | Pred::Never => false,
        })
    }

    fn expr(doc: &'a Document, expr: &Expr, variables: &Variables) -> Result<bool> {
        Ok(truthy(expr.evaluate(doc, variables)?.as_ref()))
    }
}

/// The elements of a decoded array, as the infallible case of [`View::items`].
pub(crate) struct BsonItems<'a>(std::slice::Iter<'a, Bson>);

impl<'a> Iterator for BsonItems<'a> {
    type Item = Result<&'a Bson>;

    fn next(&mut self) -> Option<Result<&'a Bson>> {
        self.0.next().map(Ok)
    }
}

/// Small documents are faster to scan than to hash into.
fn get_field<'a>(doc: &'a Document, name: &str) -> Option<&'a Bson> {
    if doc.len() <= 8 {
        doc.iter()
            .find(|(key, _)| key.as_str() == name)
            .map(|(_, value)| value)
    } else {
        doc.get(name)
    }
}

/// Evaluates `node`; `position` receives the array offset the way MongoDB's `MatchDetails`
/// records its elem-match key: each matching leaf that went through an array overwrites it, a
/// failing conjunction clears it.
///
/// One evaluation shares one [`View::Lookups`] among its paths: `{a: 1, b: 2}` or
/// `{a: {$gt: 1, $lt: 5}}` read the top-level document's fields once.
/// `several` is [`several_paths`] of `node`, computed once per filter.
pub(crate) fn eval<'a, V: View<'a>>(
    node: &Node,
    several: bool,
    root: Root<'a, V>,
    variables: &Variables,
    position: &mut Option<usize>,
) -> Result<bool> {
    let mut lookups = V::lookups(root, several);
    eval_node::<V>(node, root, variables, position, &mut lookups)
}

/// Whether `node` can look up more than one path in its root document.
pub(crate) fn several_paths(node: &Node) -> bool {
    root_paths(node) > 1
}

/// How many paths `node` looks up in its root (counting stops at 2).
#[inline]
fn root_paths(node: &Node) -> usize {
    match node {
        Node::Leaf(_) | Node::Same(_) => 1,
        Node::Not(child) => root_paths(child),
        Node::And(children) | Node::Or(children) | Node::Nor(children) => {
            let mut count = 0;
            for child in children {
                count += root_paths(child);
                if count > 1 {
                    break;
                }
            }
            count
        }
        Node::Expr(_) | Node::Const(_) => 0,
    }
}

fn eval_node<'a, V: View<'a>>(
    node: &Node,
    root: Root<'a, V>,
    variables: &Variables,
    position: &mut Option<usize>,
    lookups: &mut V::Lookups,
) -> Result<bool> {
    match node {
        Node::Leaf(leaf) => eval_leaf::<V>(leaf, root, variables, position, lookups),
        Node::Same(leaves) => {
            let matched = eval_same::<V>(leaves, root, variables, position, lookups)?;
            if !matched {
                // As a failing conjunction does.
                *position = None;
            }
            Ok(matched)
        }
        Node::And(children) => {
            for child in children {
                if !eval_node::<V>(child, root, variables, position, lookups)? {
                    *position = None;
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Or(children) => {
            for child in children {
                if eval_node::<V>(child, root, variables, position, lookups)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Node::Nor(children) => {
            for child in children {
                if eval_node::<V>(child, root, variables, &mut None, lookups)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Not(child) => Ok(!eval_node::<V>(child, root, variables, &mut None, lookups)?),
        Node::Expr(expr) => match root {
            Container::Doc(doc) => V::expr(doc, expr, variables),
            Container::Arr(_) => Err(MqlError::bad_value(
                "`$expr` can only be applied to the top-level document",
            )),
        },
        Node::Const(value) => Ok(*value),
    }
}

fn eval_leaf<'a, V: View<'a>>(
    leaf: &Leaf,
    root: Root<'a, V>,
    variables: &Variables,
    position: &mut Option<usize>,
    lookups: &mut V::Lookups,
) -> Result<bool> {
    let walker = walker(leaf);
    // The most common leaf, a top-level field, is tested on the field's value.
    if let ([part], Container::Doc(doc)) = (walker.parts, root) {
        let value = V::field(doc, &part.name, lookups)?;
        return top_leaf::<V>(leaf, value, variables, position, lookups);
    }
    leaf_walk::<V>(leaf, walker, root, None, variables, position, lookups)
}

/// `leaf`, whose path is one top-level name, given that field's `value`. A value that is not
/// an array is tested without the walk (whose result it would be: the one value, reached
/// through no array); an array is walked from there.
#[inline(always)]
pub(crate) fn top_leaf<'a, V: View<'a>>(
    leaf: &Leaf,
    value: Option<V>,
    variables: &Variables,
    position: &mut Option<usize>,
    lookups: &mut V::Lookups,
) -> Result<bool> {
    match (value, value.map(View::shape)) {
        (Some(value), Some(Shape::Arr(items))) => leaf_walk::<V>(
            leaf,
            walker(leaf),
            Container::Arr(items),
            Some((value, items)),
            variables,
            position,
            lookups,
        ),
        _ => {
            let mut element = None;
            let matched = test(&leaf.pred, value, variables, &mut element)?;
            if matched && element.is_some() {
                *position = element;
            }
            Ok(matched)
        }
    }
}

fn walker(leaf: &Leaf) -> Walker<'_> {
    Walker {
        parts: &leaf.path.parts,
        traverse_leaf: leaf.traverses_leaf(),
    }
}

/// A [`Node::Same`]: its leaves' conjunction, with the path walked once. The outcome, the
/// error and the array position are those of evaluating the leaves one after the other: each
/// leaf's first decisive value (a match or an error) is the same in one walk as in its own.
/// Out of line: inlined into `eval_node`, it moved `Walker::descend` out of line and made every
/// dotted-path filter 9-37% slower.
#[inline(never)]
fn eval_same<'a, V: View<'a>>(
    leaves: &[Leaf],
    root: Root<'a, V>,
    variables: &Variables,
    position: &mut Option<usize>,
    lookups: &mut V::Lookups,
) -> Result<bool> {
    let Some(first) = leaves.first() else {
        return Ok(true);
    };
    let walker = walker(first);
    let mut array = None;
    if let ([part], Container::Doc(doc)) = (walker.parts, root) {
        let value = V::field(doc, &part.name, lookups)?;
        match (value, value.map(View::shape)) {
            (Some(value), Some(Shape::Arr(items))) => array = Some((value, items)),
            _ => {
                // One value, reached through no array: each leaf tests it, and none has an
                // array position to give (`$elemMatch` needs an array).
                for leaf in leaves {
                    if !test(&leaf.pred, value, variables, &mut None)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
        }
    }
    let all = (1u32 << leaves.len().min(MAX_SAME)) - 1;
    let mut decided = 0u32;
    let mut held = 0u32;
    let mut hits = [None; MAX_SAME];
    // The first leaf (in order) that failed, and its error.
    let mut failure: Option<(usize, MqlError)> = None;
    let mut visit = |value, offset: Option<usize>| {
        for (index, (leaf, hit)) in leaves.iter().zip(hits.iter_mut()).enumerate() {
            let bit = 1 << index;
            if decided & bit != 0 {
                continue;
            }
            let mut element = None;
            match test(&leaf.pred, value, variables, &mut element) {
                Ok(false) => {}
                Ok(true) => {
                    decided |= bit;
                    held |= bit;
                    *hit = offset.or(element);
                }
                Err(error) => {
                    decided |= bit;
                    if failure.as_ref().is_none_or(|(first, _)| index < *first) {
                        failure = Some((index, error));
                    }
                }
            }
        }
        decided == all
    };
    match array {
        Some((value, items)) => {
            walker.in_array::<V, _>(value, items, 1, None, lookups, &mut visit)?
        }
        None => walker.walk::<V, _>(root, 0, None, lookups, &mut visit)?,
    };
    for (index, hit) in hits.iter().take(leaves.len()).enumerate() {
        if held & (1 << index) == 0 {
            return match failure {
                Some((failed, error)) if failed == index => Err(error),
                _ => Ok(false),
            };
        }
        if hit.is_some() {
            *position = *hit;
        }
    }
    Ok(true)
}

/// The walk of `leaf`'s path from `root`, or through `array` (the value of its first
/// component) when given.
fn leaf_walk<'a, V: View<'a>>(
    leaf: &Leaf,
    walker: Walker<'_>,
    root: Root<'a, V>,
    array: Option<(V, V::Arr)>,
    variables: &Variables,
    position: &mut Option<usize>,
    lookups: &mut V::Lookups,
) -> Result<bool> {
    let mut outcome: Result<Option<Option<usize>>> = Ok(None);
    let mut visit = |value, offset: Option<usize>| {
        let mut element = None;
        match test(&leaf.pred, value, variables, &mut element) {
            Ok(false) => false,
            Ok(true) => {
                outcome = Ok(Some(offset.or(element)));
                true
            }
            Err(error) => {
                outcome = Err(error);
                true
            }
        }
    };
    match array {
        Some((value, items)) => {
            walker.in_array::<V, _>(value, items, 1, None, lookups, &mut visit)?
        }
        None => walker.walk::<V, _>(root, 0, None, lookups, &mut visit)?,
    };
    match outcome? {
        Some(hit) => {
            if hit.is_some() {
                *position = hit;
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The server's `BSONElementIterator`: yields every value a path reaches, each with the offset
/// of the outermost array traversed implicitly to reach it. `visit` returns true to stop; the
/// walk fails only on malformed raw BSON.
struct Walker<'p> {
    parts: &'p [Part],
    /// False for `$size` and `$elemMatch`, which look at a leaf array as a whole.
    traverse_leaf: bool,
}

impl Walker<'_> {
    /// The server's `getFieldDottedOrArray`: follows documents from `from` until the path ends,
    /// goes missing, or meets an array; returns the value and the index of its component.
    /// Always inlined: each instantiation of the walk needs it in its own body.
    #[inline(always)]
    fn descend<'a, V: View<'a>>(
        &self,
        start: Root<'a, V>,
        from: usize,
        lookups: &mut V::Lookups,
    ) -> Result<(Option<V>, usize)> {
        let mut current = start;
        let mut index = from;
        loop {
            let Some(part) = self.parts.get(index) else {
                return Ok((None, index));
            };
            let Some(value) = get::<V>(current, part, lookups)? else {
                return Ok((None, index));
            };
            match value.shape() {
                Shape::Doc(inner) => {
                    index += 1;
                    if index >= self.parts.len() {
                        return Ok((Some(value), index));
                    }
                    current = Container::Doc(inner);
                }
                Shape::Arr(_) => return Ok((Some(value), index)),
                Shape::Leaf if index + 1 < self.parts.len() => return Ok((None, index)),
                Shape::Leaf => return Ok((Some(value), index)),
            }
        }
    }

    fn walk<'a, V: View<'a>, F>(
        &self,
        start: Root<'a, V>,
        from: usize,
        outer: Option<usize>,
        lookups: &mut V::Lookups,
        visit: &mut F,
    ) -> Result<bool>
    where
        F: FnMut(Option<V>, Option<usize>) -> bool,
    {
        let (value, index) = self.descend::<V>(start, from, lookups)?;
        if let Some(array) = value {
            if let Shape::Arr(items) = array.shape() {
                return self.in_array(array, items, index + 1, outer, lookups, visit);
            }
        }
        Ok(visit(value, outer))
    }

    /// Iterates an array met at the component before `rest`.
    fn in_array<'a, V: View<'a>, F>(
        &self,
        array: V,
        items: V::Arr,
        rest: usize,
        outer: Option<usize>,
        lookups: &mut V::Lookups,
        visit: &mut F,
    ) -> Result<bool>
    where
        F: FnMut(Option<V>, Option<usize>) -> bool,
    {
        let at_leaf = rest >= self.parts.len();
        if at_leaf && !self.traverse_leaf {
            return Ok(visit(Some(array), outer));
        }
        let mut index = 0;
        // Counted by hand: an `enumerate()` adapter is not always inlined, and each item then
        // travels through memory (measured: 1 % of the raw matching benchmark).
        #[allow(clippy::explicit_counter_loop)]
        for item in V::items(items) {
            let item = item?;
            let stop = if at_leaf {
                visit(Some(item), outer.or(Some(index)))
            } else {
                self.element(item, index, rest, outer, lookups, visit)?
            };
            if stop {
                return Ok(true);
            }
            index += 1;
        }
        // A leaf array is also a value in its own right (`{a: [1, 2]}` equals `[1, 2]`).
        Ok(at_leaf && visit(Some(array), outer))
    }

    /// One element of an array with path left over: documents continue the path (by name,
    /// including a numeric component as a field name); the element whose index is the next
    /// component is also entered by position.
    fn element<'a, V: View<'a>, F>(
        &self,
        item: V,
        index: usize,
        rest: usize,
        outer: Option<usize>,
        lookups: &mut V::Lookups,
        visit: &mut F,
    ) -> Result<bool>
    where
        F: FnMut(Option<V>, Option<usize>) -> bool,
    {
        let by_position = self
            .parts
            .get(rest)
            .is_some_and(|part| part.index == Some(index));
        let last = rest + 1 >= self.parts.len();
        match item.shape() {
            Shape::Doc(doc) => {
                let outer_index = outer.or(Some(index));
                if self.walk::<V, F>(Container::Doc(doc), rest, outer_index, lookups, visit)? {
                    return Ok(true);
                }
                if !by_position {
                    Ok(false)
                } else if last {
                    Ok(visit(Some(item), outer))
                } else {
                    self.walk::<V, F>(Container::Doc(doc), rest + 1, outer, lookups, visit)
                }
            }
            _ if !by_position => Ok(false),
            _ if last => Ok(visit(Some(item), outer)),
            Shape::Arr(inner) => self.in_array(item, inner, rest + 1, outer, lookups, visit),
            Shape::Leaf => Ok(false),
        }
    }
}

/// Tests one value; `element` receives the matching element's index for `$elemMatch`.
fn test<'a, V: View<'a>>(
    pred: &Pred,
    value: Option<V>,
    variables: &Variables,
    element: &mut Option<usize>,
) -> Result<bool> {
    match pred {
        Pred::ElemObject(filter) => elem_object(filter, value, variables, element),
        Pred::ElemValue(conds) => elem_value(conds, value, variables, element),
        _ => V::test_value(pred, value),
    }
}

fn elem_object<'a, V: View<'a>>(
    filter: &Node,
    value: Option<V>,
    variables: &Variables,
    element: &mut Option<usize>,
) -> Result<bool> {
    let Some(Shape::Arr(items)) = value.map(View::shape) else {
        return Ok(false);
    };
    let several = root_paths(filter) > 1;
    let mut index = 0;
    // Counted by hand, as in `Walker::in_array`.
    #[allow(clippy::explicit_counter_loop)]
    for item in V::items(items) {
        let container = match item?.shape() {
            Shape::Doc(doc) => Some(Container::Doc(doc)),
            Shape::Arr(inner) => Some(Container::Arr(inner)),
            Shape::Leaf => None,
        };
        if let Some(container) = container {
            let mut lookups = V::lookups(container, several);
            if eval_node::<V>(filter, container, variables, &mut None, &mut lookups)? {
                *element = Some(index);
                return Ok(true);
            }
        }
        index += 1;
    }
    Ok(false)
}

fn elem_value<'a, V: View<'a>>(
    conds: &[Cond],
    value: Option<V>,
    variables: &Variables,
    element: &mut Option<usize>,
) -> Result<bool> {
    let Some(Shape::Arr(items)) = value.map(View::shape) else {
        return Ok(false);
    };
    let mut index = 0;
    // Counted by hand, as in `Walker::in_array`.
    #[allow(clippy::explicit_counter_loop)]
    for item in V::items(items) {
        if all_conds(conds, Some(item?), variables)? {
            *element = Some(index);
            return Ok(true);
        }
        index += 1;
    }
    Ok(false)
}

/// Conditions applied to one value without traversal (`$elemMatch`'s value form).
fn all_conds<'a, V: View<'a>>(
    conds: &[Cond],
    value: Option<V>,
    variables: &Variables,
) -> Result<bool> {
    for cond in conds {
        let holds = match cond {
            Cond::Is(pred) => test(pred, value, variables, &mut None)?,
            Cond::Not(inner) => !all_conds(inner, value, variables)?,
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The server's `ComparisonMatchExpressionBase::matchesSingleElement`. A missing value has
/// the canonical type of `undefined`, which compares equal to `null`.
pub(crate) fn compare(op: CmpOp, operand: &Bson, value: Option<&Bson>) -> bool {
    // Same-type fast paths: these compare exactly as `compare_values` would.
    match (value, operand) {
        (Some(Bson::String(a)), Bson::String(b)) => {
            return holds(op, a.as_bytes().cmp(b.as_bytes()))
        }
        (Some(Bson::Int32(a)), Bson::Int32(b)) => return holds(op, a.cmp(b)),
        (Some(Bson::Int64(a)), Bson::Int64(b)) => return holds(op, a.cmp(b)),
        (Some(Bson::Boolean(a)), Bson::Boolean(b)) => return holds(op, a.cmp(b)),
        _ => {}
    }
    let value_rank = value.map_or(type_rank(&Bson::Undefined), type_rank);
    if value_rank != type_rank(operand) {
        return compare_across_types(op, value_rank, operand);
    }
    let Some(value) = value else {
        // Both missing/undefined: only reachable with an undefined operand, which is refused.
        return false;
    };
    let (value_nan, operand_nan) = (is_nan(value), is_nan(operand));
    if value_nan || operand_nan {
        let both = value_nan && operand_nan;
        return match op {
            CmpOp::Lt | CmpOp::Gt => false,
            CmpOp::Eq | CmpOp::Lte | CmpOp::Gte => both,
        };
    }
    holds(op, compare_values(value, operand))
}

/// A comparison between values of different type ranks: only null and undefined (and
/// missing) equal each other, and MinKey/MaxKey bound everything.
pub(crate) fn compare_across_types(op: CmpOp, value_rank: u8, operand: &Bson) -> bool {
    let nullish = |rank: u8| rank == type_rank(&Bson::Null) || rank == type_rank(&Bson::Undefined);
    if nullish(value_rank) && nullish(type_rank(operand)) {
        return matches!(op, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte);
    }
    match operand {
        Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
        Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
        _ => false,
    }
}

pub(crate) fn holds(op: CmpOp, order: Ordering) -> bool {
    match op {
        CmpOp::Eq => order == Ordering::Equal,
        CmpOp::Gt => order == Ordering::Greater,
        CmpOp::Gte => order != Ordering::Less,
        CmpOp::Lt => order == Ordering::Less,
        CmpOp::Lte => order != Ordering::Greater,
    }
}

pub(crate) fn is_nan(value: &Bson) -> bool {
    matches!(number(value), Some(Number::Double(value)) if value.is_nan())
}

fn in_list(list: &InList, value: Option<&Bson>) -> bool {
    let Some(value) = value.filter(|value| !matches!(value, Bson::Undefined)) else {
        return list.has_null;
    };
    list.values
        .binary_search_by(|probe| compare_values(probe, value))
        .is_ok()
        || list.regexes.iter().any(|regex| regex_matches(regex, value))
}

/// A regex matches strings and symbols by pattern, and a stored regex with the same pattern
/// and options.
fn regex_matches(regex: &RegexPred, value: &Bson) -> bool {
    match value {
        Bson::String(text) | Bson::Symbol(text) => regex.regex.is_match(text),
        Bson::RegularExpression(stored) => {
            stored.pattern.as_str() == regex.pattern && stored.options.as_str() == regex.options
        }
        _ => false,
    }
}

/// The bit of a BSON type number in a `$type` set.
pub(crate) fn type_bit(code: i32) -> u32 {
    match code {
        1..=19 => 1 << code,
        -1 => 1 << 20,
        127 => 1 << 21,
        _ => 0,
    }
}

/// A number's integer value for `$mod` (doubles truncated; NaN, infinities and values out of
/// the 64-bit range never match).
/// A number as `$mod` reads it, a dividend or an operand: truncated toward zero to an int64,
/// a decimal exactly (through a double, `2.99999999999999999999` would read as 3); none for
/// NaN, infinities and values past int64.
pub(crate) fn mod_dividend(value: &Bson) -> Option<i64> {
    match value {
        Bson::Decimal128(decimal) => Decimal::from_bytes(decimal.bytes()).truncated_i64(),
        other => number(other).and_then(integer_value),
    }
}

pub(crate) fn integer_value(value: Number) -> Option<i64> {
    match value {
        Number::Int(value) => Some(value),
        Number::Double(value) => super::parse::truncate_to_i64(value),
    }
}

/// `$bits*`: numbers that are whole and fit an i64 (two's complement, sign-extended past bit
/// 63) and BinData (little-endian bytes, zero past the end).
fn bits_match(op: BitsOp, positions: &[u64], value: &Bson) -> bool {
    let source = match value {
        Bson::Binary(binary) => BitSource::Bytes(&binary.bytes),
        other => match number(other).and_then(BitSource::number) {
            Some(source) => source,
            None => return false,
        },
    };
    source.test(op, positions)
}

pub(crate) enum BitSource<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl BitSource<'_> {
    /// A number's bits: only whole numbers that fit an i64 have any.
    pub(crate) fn number(value: Number) -> Option<BitSource<'static>> {
        match value {
            Number::Int(value) => Some(BitSource::Int(value)),
            Number::Double(value) if value.fract() == 0.0 => {
                super::parse::truncate_to_i64(value).map(BitSource::Int)
            }
            Number::Double(_) => None,
        }
    }

    pub(crate) fn test(&self, op: BitsOp, positions: &[u64]) -> bool {
        match op {
            BitsOp::AllSet => positions.iter().all(|p| self.bit(*p)),
            BitsOp::AllClear => positions.iter().all(|p| !self.bit(*p)),
            BitsOp::AnySet => positions.iter().any(|p| self.bit(*p)),
            BitsOp::AnyClear => positions.iter().any(|p| !self.bit(*p)),
        }
    }

    fn bit(&self, position: u64) -> bool {
        match self {
            BitSource::Bytes(bytes) => usize::try_from(position / 8)
                .ok()
                .and_then(|byte| bytes.get(byte))
                .is_some_and(|byte| byte >> (position % 8) & 1 == 1),
            BitSource::Int(value) if position < 64 => value >> position & 1 == 1,
            BitSource::Int(value) => *value < 0,
        }
    }
}
