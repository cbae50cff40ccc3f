//! What each operator does at its target: parsing operands and computing new values.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::Num;
use crate::filter::Filter;
use crate::value::{compare_values, number, type_name, values_equal};

use super::parse::UpdatePath;
use super::push::{parse_push, PushSpec};

/// The operand of one modifier, parsed.
#[derive(Debug, Clone)]
pub(super) enum Action {
    Set(Bson),
    SetOnInsert(Bson),
    Unset,
    Inc(Bson),
    Mul(Bson),
    Min(Bson),
    Max(Bson),
    CurrentDate {
        timestamp: bool,
    },
    Push(PushSpec),
    AddToSet(Vec<Bson>),
    Pop {
        first: bool,
    },
    Pull(PullMatcher),
    PullAll(Vec<Bson>),
    Bit(Vec<(BitOp, Bson)>),
    /// Applied at the destination path; `from` is the source.
    Rename {
        from: Vec<String>,
        from_dotted: String,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) enum BitOp {
    And,
    Or,
    Xor,
}

/// How `$pull` recognises the elements to remove.
#[derive(Debug, Clone)]
pub(super) enum PullMatcher {
    /// A plain value: elements equal to it.
    Equal(Bson),
    /// A query on fields: document elements matching it.
    Document(Filter),
    /// Operators on the element itself (`{$gte: 6}`) or a regex, matched against
    /// `{PULL_FIELD: element}`.
    Wrapped(Filter),
}

const PULL_FIELD: &str = "element";

/// What a modifier did to an existing value.
pub(super) enum Outcome {
    Unchanged,
    /// Changed in place.
    Changed,
    Replace(Bson),
    Remove,
}

impl Action {
    pub(super) fn parse(operator: &str, path: &UpdatePath, value: &Bson) -> Result<Action> {
        let field = path.dotted.as_str();
        Ok(match operator {
            "$set" => Action::Set(value.clone()),
            "$setOnInsert" => Action::SetOnInsert(value.clone()),
            "$unset" => Action::Unset,
            "$inc" => Action::Inc(arithmetic_operand(operator, field, value)?),
            "$mul" => Action::Mul(arithmetic_operand(operator, field, value)?),
            "$min" => Action::Min(value.clone()),
            "$max" => Action::Max(value.clone()),
            "$currentDate" => parse_current_date(field, value)?,
            "$push" => Action::Push(parse_push(field, value)?),
            "$addToSet" => Action::AddToSet(parse_add_to_set(field, value)?),
            "$pop" => parse_pop(field, value)?,
            "$pull" => Action::Pull(parse_pull(value)?),
            "$pullAll" => match value {
                Bson::Array(items) => Action::PullAll(items.clone()),
                other => {
                    return Err(MqlError::bad_value(format!(
                        "`$pullAll` requires an array argument but was given {} at `{field}`",
                        type_name(other)
                    )))
                }
            },
            "$bit" => Action::Bit(parse_bit(field, value)?),
            other => return Err(MqlError::unknown_operator(other, "update operator")),
        })
    }

    /// Whether a missing path is created (and a path through a scalar is an error) rather than
    /// ignored.
    pub(super) fn creates(&self) -> bool {
        !matches!(
            self,
            Action::Unset | Action::Pop { .. } | Action::Pull(_) | Action::PullAll(_)
        )
    }

    /// The value to create where the target is missing; `None` leaves it missing.
    pub(super) fn on_missing(&self, now: bson::DateTime) -> Option<Bson> {
        match self {
            Action::Set(value)
            | Action::SetOnInsert(value)
            | Action::Inc(value)
            | Action::Min(value)
            | Action::Max(value) => Some(value.clone()),
            Action::Mul(operand) => Some(zero_like(operand)),
            Action::CurrentDate { timestamp } => Some(current_date(*timestamp, now)),
            Action::Push(spec) => {
                let mut items = Vec::new();
                spec.apply(&mut items);
                Some(Bson::Array(items))
            }
            Action::AddToSet(values) => Some(Bson::Array(values.clone())),
            Action::Bit(ops) => apply_bits(&Bson::Int32(0), ops),
            Action::Unset
            | Action::Pop { .. }
            | Action::Pull(_)
            | Action::PullAll(_)
            | Action::Rename { .. } => None,
        }
    }

    /// Applies the modifier to an existing value at `at`.
    pub(super) fn on_existing(
        &self,
        operator: &str,
        current: &mut Bson,
        at: &str,
        now: bson::DateTime,
    ) -> Result<Outcome> {
        match self {
            Action::Set(value) | Action::SetOnInsert(value) => {
                Ok(replace_unless_identical(current, value))
            }
            Action::Unset => Ok(Outcome::Remove),
            Action::Inc(operand) | Action::Mul(operand) => {
                arithmetic(operator, current, operand, at)
            }
            Action::Min(value) => Ok(replace_if(current, value, Ordering::Less)),
            Action::Max(value) => Ok(replace_if(current, value, Ordering::Greater)),
            Action::CurrentDate { timestamp } => {
                Ok(Outcome::Replace(current_date(*timestamp, now)))
            }
            Action::Push(spec) => {
                let items = array_for(operator, current, at)?;
                Ok(changed(spec.apply(items)))
            }
            Action::AddToSet(values) => {
                let items = array_for(operator, current, at)?;
                Ok(changed(add_to_set(items, values)))
            }
            Action::Pop { first } => pop(current, *first, at),
            Action::Pull(matcher) => {
                let items = array_for(operator, current, at)?;
                pull(items, |item| matcher.matches(item))
            }
            Action::PullAll(values) => {
                let items = array_for(operator, current, at)?;
                pull(items, |item| {
                    Ok(values.iter().any(|value| values_equal(item, value)))
                })
            }
            Action::Bit(ops) => bit(current, ops, at),
            Action::Rename { .. } => Ok(Outcome::Unchanged),
        }
    }
}

fn changed(did: bool) -> Outcome {
    if did {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    }
}

fn replace_unless_identical(current: &Bson, value: &Bson) -> Outcome {
    if identical(current, value) {
        Outcome::Unchanged
    } else {
        Outcome::Replace(value.clone())
    }
}

/// `$min`/`$max`: replace when the new value sorts `wanted` relative to the current one.
fn replace_if(current: &Bson, value: &Bson, wanted: Ordering) -> Outcome {
    if compare_values(value, current) == wanted {
        Outcome::Replace(value.clone())
    } else {
        Outcome::Unchanged
    }
}

fn array_for<'a>(operator: &str, current: &'a mut Bson, at: &str) -> Result<&'a mut Vec<Bson>> {
    match current {
        Bson::Array(items) => Ok(items),
        other => Err(MqlError::bad_value(format!(
            "cannot apply `{operator}` to a non-array value: the field `{at}` must be an \
                 array but is of type {}",
            type_name(other)
        ))),
    }
}

fn arithmetic_operand(operator: &str, field: &str, value: &Bson) -> Result<Bson> {
    match value {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            Ok(value.clone())
        }
        other => Err(MqlError::type_mismatch(format!(
            "cannot apply `{operator}` with non-numeric argument {}",
            show_field(field, other)
        ))),
    }
}

/// `$mul` on a missing field stores zero of the multiplier's type (a decimal zero is the
/// product of zero and the multiplier, so it keeps the multiplier's exponent).
fn zero_like(operand: &Bson) -> Bson {
    match operand {
        Bson::Int64(_) => Bson::Int64(0),
        Bson::Double(_) => Bson::Double(0.0),
        Bson::Decimal128(_) => compute(true, &Bson::Int32(0), operand).unwrap_or(Bson::Int32(0)),
        _ => Bson::Int32(0),
    }
}

fn arithmetic(operator: &str, current: &Bson, operand: &Bson, at: &str) -> Result<Outcome> {
    if number(current).is_none() {
        return Err(MqlError::type_mismatch(format!(
            "cannot apply `{operator}` to a value of non-numeric type {} at `{at}`",
            type_name(current)
        )));
    }
    let multiply = operator == "$mul";
    let result = compute(multiply, current, operand).ok_or_else(|| {
        MqlError::bad_value(format!(
            "failed to apply `{operator}` to the current value {} at `{at}`: the result \
             overflows a 64-bit integer",
            show(current)
        ))
    })?;
    Ok(replace_unless_identical(current, &result))
}

/// MongoDB's SafeNum rules: int32 with int32 stays int32 unless it overflows (then int64);
/// any int64 makes int64, whose overflow is an error (`None`); any double makes a double; any
/// decimal makes a decimal, computed exactly (a double rounded to 15 digits first).
fn compute(multiply: bool, a: &Bson, b: &Bson) -> Option<Bson> {
    match (a, b) {
        (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_)) => {
            let (x, y) = (Num::of(a)?.decimal(), Num::of(b)?.decimal());
            let result = if multiply { x.multiply(y) } else { x.add(y) };
            Some(Bson::Decimal128(result.to_decimal128()))
        }
        (Bson::Int32(x), Bson::Int32(y)) => {
            let exact = if multiply {
                x.checked_mul(*y)
            } else {
                x.checked_add(*y)
            };
            Some(match exact {
                Some(value) => Bson::Int32(value),
                None if multiply => Bson::Int64(i64::from(*x) * i64::from(*y)),
                None => Bson::Int64(i64::from(*x) + i64::from(*y)),
            })
        }
        (Bson::Double(_), _) | (_, Bson::Double(_)) => {
            let (x, y) = (number(a)?.as_f64(), number(b)?.as_f64());
            Some(Bson::Double(if multiply { x * y } else { x + y }))
        }
        _ => {
            let (x, y) = (integer(a)?, integer(b)?);
            let value = if multiply {
                x.checked_mul(y)
            } else {
                x.checked_add(y)
            };
            value.map(Bson::Int64)
        }
    }
}

fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        _ => None,
    }
}

fn parse_current_date(field: &str, value: &Bson) -> Result<Action> {
    match value {
        Bson::Boolean(_) => Ok(Action::CurrentDate { timestamp: false }),
        Bson::Document(spec) => {
            let mut timestamp = None;
            for (key, option) in spec {
                match (key.as_str(), option) {
                    ("$type", Bson::String(kind)) if kind == "date" => timestamp = Some(false),
                    ("$type", Bson::String(kind)) if kind == "timestamp" => timestamp = Some(true),
                    ("$type", _) => {
                        return Err(MqlError::bad_value(format!(
                            "the `$type` of `$currentDate` must be 'date' or 'timestamp' (at \
                             `{field}`)"
                        )))
                    }
                    (other, _) => {
                        return Err(MqlError::bad_value(format!(
                            "unrecognized `$currentDate` option `{other}` at `{field}`"
                        )))
                    }
                }
            }
            let timestamp = timestamp.ok_or_else(|| {
                MqlError::bad_value(format!(
                    "`$currentDate` at `{field}` needs a `$type` of 'date' or 'timestamp'"
                ))
            })?;
            Ok(Action::CurrentDate { timestamp })
        }
        other => Err(MqlError::bad_value(format!(
            "{} is not a valid type for `$currentDate`; use true or {{$type: 'date' or \
             'timestamp'}} (at `{field}`)",
            type_name(other)
        ))),
    }
}

fn current_date(timestamp: bool, now: bson::DateTime) -> Bson {
    if timestamp {
        let seconds = now.timestamp_millis().div_euclid(1000);
        Bson::Timestamp(bson::Timestamp {
            time: u32::try_from(seconds).unwrap_or(0),
            increment: 1,
        })
    } else {
        Bson::DateTime(now)
    }
}

fn parse_pop(field: &str, value: &Bson) -> Result<Action> {
    match unit_sign(value) {
        Some(positive) => Ok(Action::Pop { first: !positive }),
        None => Err(MqlError::parse(format!(
            "`$pop` expects 1 or -1, found {} at `{field}`",
            show(value)
        ))),
    }
}

fn pop(current: &mut Bson, first: bool, at: &str) -> Result<Outcome> {
    let Bson::Array(items) = current else {
        return Err(MqlError::type_mismatch(format!(
            "cannot apply `$pop`: path `{at}` contains an element of non-array type {}",
            type_name(current)
        )));
    };
    if items.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    if first {
        items.remove(0);
    } else {
        items.pop();
    }
    Ok(Outcome::Changed)
}

fn parse_add_to_set(field: &str, value: &Bson) -> Result<Vec<Bson>> {
    let candidates = match value {
        Bson::Document(spec) if spec.contains_key("$each") => {
            if spec.len() > 1 {
                return Err(MqlError::bad_value(format!(
                    "found unexpected fields after `$each` in `$addToSet` at `{field}`: {}",
                    show(value)
                )));
            }
            match spec.get("$each") {
                Some(Bson::Array(items)) => items.as_slice(),
                other => {
                    return Err(MqlError::bad_value(format!(
                        "the argument to `$each` in `$addToSet` must be an array but it was of \
                         type {} at `{field}`",
                        other.map(type_name).unwrap_or("missing")
                    )))
                }
            }
        }
        single => std::slice::from_ref(single),
    };
    let mut unique: Vec<Bson> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if !unique.iter().any(|seen| values_equal(seen, candidate)) {
            unique.push(candidate.clone());
        }
    }
    Ok(unique)
}

fn add_to_set(items: &mut Vec<Bson>, values: &[Bson]) -> bool {
    let mut added = false;
    for value in values {
        if !items.iter().any(|item| values_equal(item, value)) {
            items.push(value.clone());
            added = true;
        }
    }
    added
}

fn parse_pull(value: &Bson) -> Result<PullMatcher> {
    match value {
        Bson::Document(condition) => {
            let first = condition.keys().next().map(String::as_str).unwrap_or("");
            if is_element_operator(first) {
                let mut wrapped = Document::new();
                wrapped.insert(PULL_FIELD, value.clone());
                Ok(PullMatcher::Wrapped(Filter::compile(&wrapped)?))
            } else {
                Ok(PullMatcher::Document(Filter::compile(condition)?))
            }
        }
        Bson::RegularExpression(_) => {
            let mut wrapped = Document::new();
            wrapped.insert(PULL_FIELD, value.clone());
            Ok(PullMatcher::Wrapped(Filter::compile(&wrapped)?))
        }
        other => Ok(PullMatcher::Equal(other.clone())),
    }
}

/// An operator that applies to a value (`$gt`, `$in`, `$elemMatch`), as opposed to the
/// top-level query operators that combine whole-document conditions.
fn is_element_operator(key: &str) -> bool {
    key.starts_with('$')
        && !matches!(
            key,
            "$and" | "$or" | "$nor" | "$expr" | "$where" | "$text" | "$comment" | "$jsonSchema"
        )
}

impl PullMatcher {
    fn matches(&self, item: &Bson) -> Result<bool> {
        match self {
            PullMatcher::Equal(value) => Ok(values_equal(item, value)),
            PullMatcher::Document(filter) => match item {
                Bson::Document(doc) => filter.matches(doc),
                _ => Ok(false),
            },
            PullMatcher::Wrapped(filter) => {
                let mut wrapped = Document::new();
                wrapped.insert(PULL_FIELD, item.clone());
                filter.matches(&wrapped)
            }
        }
    }
}

fn pull(items: &mut Vec<Bson>, mut remove: impl FnMut(&Bson) -> Result<bool>) -> Result<Outcome> {
    let mut doomed = Vec::with_capacity(items.len());
    for item in items.iter() {
        doomed.push(remove(item)?);
    }
    if !doomed.contains(&true) {
        return Ok(Outcome::Unchanged);
    }
    let mut flags = doomed.into_iter();
    items.retain(|_| !flags.next().unwrap_or(false));
    Ok(Outcome::Changed)
}

fn parse_bit(field: &str, value: &Bson) -> Result<Vec<(BitOp, Bson)>> {
    let Bson::Document(spec) = value else {
        return Err(MqlError::bad_value(format!(
            "the `$bit` modifier is not compatible with a {} argument at `{field}`; use \
             {{and|or|xor: <int>}}",
            type_name(value)
        )));
    };
    if spec.is_empty() {
        return Err(MqlError::bad_value(format!(
            "`$bit` at `{field}` needs at least one bitwise operation: {{and|or|xor: <int>}}"
        )));
    }
    let mut ops = Vec::with_capacity(spec.len());
    for (name, operand) in spec {
        let op = match name.as_str() {
            "and" => BitOp::And,
            "or" => BitOp::Or,
            "xor" => BitOp::Xor,
            other => {
                return Err(MqlError::bad_value(format!(
                    "the `$bit` modifier only supports 'and', 'or' and 'xor', not `{other}` (at \
                     `{field}`)"
                )))
            }
        };
        if !matches!(operand, Bson::Int32(_) | Bson::Int64(_)) {
            return Err(MqlError::bad_value(format!(
                "the `$bit` modifier field must be an integer (32 or 64 bit); {} is not \
                 supported (at `{field}`)",
                type_name(operand)
            )));
        }
        ops.push((op, operand.clone()));
    }
    Ok(ops)
}

/// Folds the bitwise operations over `start`; int32 with int32 stays int32, anything with an
/// int64 becomes int64. `None` when `start` is not an integer.
fn apply_bits(start: &Bson, ops: &[(BitOp, Bson)]) -> Option<Bson> {
    let mut acc = start.clone();
    for (op, operand) in ops {
        acc = match (&acc, operand) {
            (Bson::Int32(x), Bson::Int32(y)) => Bson::Int32(match op {
                BitOp::And => x & y,
                BitOp::Or => x | y,
                BitOp::Xor => x ^ y,
            }),
            _ => {
                let (x, y) = (integer(&acc)?, integer(operand)?);
                Bson::Int64(match op {
                    BitOp::And => x & y,
                    BitOp::Or => x | y,
                    BitOp::Xor => x ^ y,
                })
            }
        };
    }
    Some(acc)
}

fn bit(current: &Bson, ops: &[(BitOp, Bson)], at: &str) -> Result<Outcome> {
    let result = match current {
        Bson::Int32(_) | Bson::Int64(_) => apply_bits(current, ops),
        _ => None,
    };
    match result {
        Some(result) => Ok(replace_unless_identical(current, &result)),
        None => Err(MqlError::bad_value(format!(
            "cannot apply `$bit` to a value of non-integral type {} at `{at}`",
            type_name(current)
        ))),
    }
}

/// `Some(true)` for a number equal to 1, `Some(false)` for -1, else `None`.
pub(super) fn unit_sign(value: &Bson) -> Option<bool> {
    let number = number(value)?.as_f64();
    if number == 1.0 {
        Some(true)
    } else if number == -1.0 {
        Some(false)
    } else {
        None
    }
}

/// Byte-for-byte equality of values (types included, `1` differs from `1.0`): MongoDB's test
/// for a modifier that changes nothing.
pub(super) fn identical(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x.to_bits() == y.to_bits(),
        (Bson::Document(x), Bson::Document(y)) => documents_identical(x, y),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| identical(p, q))
        }
        _ => a == b,
    }
}

/// [`identical`] for documents: same fields in the same order with identical values.
pub(super) fn documents_identical(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
}

const SHOW_LIMIT: usize = 120;

/// A value for an error message, shortened to one manageable line.
pub(super) fn show(value: &Bson) -> String {
    let text = value.to_string();
    if text.len() <= SHOW_LIMIT {
        return text;
    }
    let mut end = SHOW_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", text.get(..end).unwrap_or(""))
}

/// `{name: value}` for an error message.
pub(super) fn show_field(name: &str, value: &Bson) -> String {
    format!("{{{name}: {}}}", show(value))
}
