//! Matching: MongoDB's path traversal (server `matcher/path.cpp`) and the per-value tests.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::{BitsOp, CmpOp, Cond, InList, Leaf, Node, Part, Pred, RegexPred};
use crate::error::{MqlError, Result};
use crate::expr::{truthy, Variables};
use crate::value::{compare_values, number, type_number, type_rank, Number};

/// What a path is looked up in: a document, or an array read as a document whose field names
/// are the indexes (an `$elemMatch` object filter applied to an array element).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Container<'a> {
    Doc(&'a Document),
    Arr(&'a [Bson]),
}

impl<'a> Container<'a> {
    fn get(self, part: &Part) -> Option<&'a Bson> {
        match self {
            Container::Doc(doc) => get_field(doc, &part.name),
            Container::Arr(items) => items.get(part.index?),
        }
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
pub(crate) fn eval(
    node: &Node,
    root: Container<'_>,
    variables: &Variables,
    position: &mut Option<usize>,
) -> Result<bool> {
    match node {
        Node::Leaf(leaf) => eval_leaf(leaf, root, variables, position),
        Node::And(children) => {
            for child in children {
                if !eval(child, root, variables, position)? {
                    *position = None;
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Or(children) => {
            for child in children {
                if eval(child, root, variables, position)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Node::Nor(children) => {
            for child in children {
                if eval(child, root, variables, &mut None)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Not(child) => Ok(!eval(child, root, variables, &mut None)?),
        Node::Expr(expr) => match root {
            Container::Doc(doc) => Ok(truthy(expr.evaluate(doc, variables)?.as_ref())),
            Container::Arr(_) => Err(MqlError::bad_value(
                "`$expr` can only be applied to the top-level document",
            )),
        },
        Node::Const(value) => Ok(*value),
    }
}

fn eval_leaf(
    leaf: &Leaf,
    root: Container<'_>,
    variables: &Variables,
    position: &mut Option<usize>,
) -> Result<bool> {
    let walker = Walker {
        parts: &leaf.path.parts,
        traverse_leaf: !matches!(
            leaf.pred,
            Pred::Size(_) | Pred::ElemObject(_) | Pred::ElemValue(_)
        ),
    };
    let mut outcome: Result<Option<Option<usize>>> = Ok(None);
    walker.walk(root, 0, None, &mut |value, offset| {
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
    });
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
/// of the outermost array traversed implicitly to reach it. `visit` returns true to stop.
struct Walker<'p> {
    parts: &'p [Part],
    /// False for `$size` and `$elemMatch`, which look at a leaf array as a whole.
    traverse_leaf: bool,
}

impl Walker<'_> {
    /// The server's `getFieldDottedOrArray`: follows documents from `from` until the path ends,
    /// goes missing, or meets an array; returns the value and the index of its component.
    fn descend<'a>(&self, start: Container<'a>, from: usize) -> (Option<&'a Bson>, usize) {
        let mut current = start;
        let mut index = from;
        loop {
            let Some(value) = self.parts.get(index).and_then(|part| current.get(part)) else {
                return (None, index);
            };
            match value {
                Bson::Document(inner) => {
                    index += 1;
                    if index >= self.parts.len() {
                        return (Some(value), index);
                    }
                    current = Container::Doc(inner);
                }
                Bson::Array(_) => return (Some(value), index),
                _ if index + 1 < self.parts.len() => return (None, index),
                _ => return (Some(value), index),
            }
        }
    }

    fn walk<'a, F>(
        &self,
        start: Container<'a>,
        from: usize,
        outer: Option<usize>,
        visit: &mut F,
    ) -> bool
    where
        F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
    {
        match self.descend(start, from) {
            (Some(array @ Bson::Array(items)), index) => {
                self.in_array(array, items, index + 1, outer, visit)
            }
            (value, _) => visit(value, outer),
        }
    }

    /// Iterates an array met at the component before `rest`.
    fn in_array<'a, F>(
        &self,
        array: &'a Bson,
        items: &'a [Bson],
        rest: usize,
        outer: Option<usize>,
        visit: &mut F,
    ) -> bool
    where
        F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
    {
        let at_leaf = rest >= self.parts.len();
        if at_leaf && !self.traverse_leaf {
            return visit(Some(array), outer);
        }
        for (index, item) in items.iter().enumerate() {
            let stop = if at_leaf {
                visit(Some(item), outer.or(Some(index)))
            } else {
                self.element(item, index, rest, outer, visit)
            };
            if stop {
                return true;
            }
        }
        // A leaf array is also a value in its own right (`{a: [1, 2]}` equals `[1, 2]`).
        at_leaf && visit(Some(array), outer)
    }

    /// One element of an array with path left over: documents continue the path (by name,
    /// including a numeric component as a field name); the element whose index is the next
    /// component is also entered by position.
    fn element<'a, F>(
        &self,
        item: &'a Bson,
        index: usize,
        rest: usize,
        outer: Option<usize>,
        visit: &mut F,
    ) -> bool
    where
        F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
    {
        let by_position = self
            .parts
            .get(rest)
            .is_some_and(|part| part.index == Some(index));
        let last = rest + 1 >= self.parts.len();
        match item {
            Bson::Document(doc) => {
                if self.walk(Container::Doc(doc), rest, outer.or(Some(index)), visit) {
                    return true;
                }
                if !by_position {
                    false
                } else if last {
                    visit(Some(item), outer)
                } else {
                    self.walk(Container::Doc(doc), rest + 1, outer, visit)
                }
            }
            _ if !by_position => false,
            _ if last => visit(Some(item), outer),
            Bson::Array(inner) => self.in_array(item, inner, rest + 1, outer, visit),
            _ => false,
        }
    }
}

/// Tests one value; `element` receives the matching element's index for `$elemMatch`.
fn test(
    pred: &Pred,
    value: Option<&Bson>,
    variables: &Variables,
    element: &mut Option<usize>,
) -> Result<bool> {
    Ok(match pred {
        Pred::Cmp(op, operand) => compare(*op, operand, value),
        Pred::In(list) => in_list(list, value),
        Pred::Regex(regex) => value.is_some_and(|value| regex_matches(regex, value)),
        Pred::Exists => value.is_some(),
        Pred::Type(bits) => value.is_some_and(|value| bits & type_bit(type_number(value)) != 0),
        Pred::Mod { divisor, remainder } => value
            .and_then(integer_value)
            .is_some_and(|dividend| dividend.wrapping_rem(*divisor) == *remainder),
        Pred::Bits(op, positions) => value.is_some_and(|value| bits_match(*op, positions, value)),
        Pred::Size(size) => matches!(value, Some(Bson::Array(items)) if items.len() == *size),
        Pred::ElemObject(filter) => return elem_object(filter, value, variables, element),
        Pred::ElemValue(conds) => return elem_value(conds, value, variables, element),
        Pred::Never => false,
    })
}

fn elem_object(
    filter: &Node,
    value: Option<&Bson>,
    variables: &Variables,
    element: &mut Option<usize>,
) -> Result<bool> {
    let Some(Bson::Array(items)) = value else {
        return Ok(false);
    };
    for (index, item) in items.iter().enumerate() {
        let container = match item {
            Bson::Document(doc) => Container::Doc(doc),
            Bson::Array(inner) => Container::Arr(inner),
            _ => continue,
        };
        if eval(filter, container, variables, &mut None)? {
            *element = Some(index);
            return Ok(true);
        }
    }
    Ok(false)
}

fn elem_value(
    conds: &[Cond],
    value: Option<&Bson>,
    variables: &Variables,
    element: &mut Option<usize>,
) -> Result<bool> {
    let Some(Bson::Array(items)) = value else {
        return Ok(false);
    };
    for (index, item) in items.iter().enumerate() {
        if all_conds(conds, Some(item), variables)? {
            *element = Some(index);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Conditions applied to one value without traversal (`$elemMatch`'s value form).
fn all_conds(conds: &[Cond], value: Option<&Bson>, variables: &Variables) -> Result<bool> {
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
    let operand_rank = type_rank(operand);
    if value_rank != operand_rank {
        let nullish =
            |rank: u8| rank == type_rank(&Bson::Null) || rank == type_rank(&Bson::Undefined);
        if nullish(value_rank) && nullish(operand_rank) {
            return matches!(op, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte);
        }
        return match operand {
            Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
            Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
            _ => false,
        };
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

fn holds(op: CmpOp, order: Ordering) -> bool {
    match op {
        CmpOp::Eq => order == Ordering::Equal,
        CmpOp::Gt => order == Ordering::Greater,
        CmpOp::Gte => order != Ordering::Less,
        CmpOp::Lt => order == Ordering::Less,
        CmpOp::Lte => order != Ordering::Greater,
    }
}

fn is_nan(value: &Bson) -> bool {
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
fn integer_value(value: &Bson) -> Option<i64> {
    match number(value)? {
        Number::Int(value) => Some(value),
        Number::Double(value) => super::parse::truncate_to_i64(value),
    }
}

/// `$bits*`: numbers that are whole and fit an i64 (two's complement, sign-extended past bit
/// 63) and BinData (little-endian bytes, zero past the end).
fn bits_match(op: BitsOp, positions: &[u64], value: &Bson) -> bool {
    let source = match value {
        Bson::Binary(binary) => BitSource::Bytes(&binary.bytes),
        other => match number(other) {
            Some(Number::Int(value)) => BitSource::Int(value),
            Some(Number::Double(value)) if value.fract() == 0.0 => {
                match super::parse::truncate_to_i64(value) {
                    Some(value) => BitSource::Int(value),
                    None => return false,
                }
            }
            _ => return false,
        },
    };
    match op {
        BitsOp::AllSet => positions.iter().all(|p| source.bit(*p)),
        BitsOp::AllClear => positions.iter().all(|p| !source.bit(*p)),
        BitsOp::AnySet => positions.iter().any(|p| source.bit(*p)),
        BitsOp::AnyClear => positions.iter().any(|p| !source.bit(*p)),
    }
}

enum BitSource<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl BitSource<'_> {
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
