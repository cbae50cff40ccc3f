//! Array and set operators, and the scoped `$map`, `$filter` and `$reduce`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use bson::{Bson, Document};

use super::arith::integral;
use super::compile::{named_args, required, Arity, Compiler};
use super::{
    approximate_size, check_budget, is_nullish, take, truthy, type_of, Cx, Node, MAX_VALUE_BYTES,
};
use crate::error::{MqlError, Result};
use crate::limits::MAX_DEPTH;
use crate::value::{type_rank, values_equal};

/// Most elements `$range` may produce.
pub(crate) const MAX_RANGE_ELEMENTS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ArrOp {
    Size,
    ArrayElemAt,
    First,
    Last,
    In,
    Slice,
    ConcatArrays,
    ReverseArray,
    IsArray,
    Range,
    IndexOfArray,
    ArrayToObject,
    ObjectToArray,
    SetUnion,
    SetIntersection,
    SetDifference,
    SetEquals,
    SetIsSubset,
    AnyElementTrue,
    AllElementsTrue,
}

pub(crate) fn lookup(name: &str) -> Option<(ArrOp, Arity)> {
    use ArrOp::*;
    Some(match name {
        "$size" => (Size, Arity::Exact(1)),
        "$arrayElemAt" => (ArrayElemAt, Arity::Exact(2)),
        "$first" => (First, Arity::Exact(1)),
        "$last" => (Last, Arity::Exact(1)),
        "$in" => (In, Arity::Exact(2)),
        "$slice" => (Slice, Arity::Range(2, 3)),
        "$concatArrays" => (ConcatArrays, Arity::Any),
        "$reverseArray" => (ReverseArray, Arity::Exact(1)),
        "$isArray" => (IsArray, Arity::Exact(1)),
        "$range" => (Range, Arity::Range(2, 3)),
        "$indexOfArray" => (IndexOfArray, Arity::Range(2, 4)),
        "$arrayToObject" => (ArrayToObject, Arity::Exact(1)),
        "$objectToArray" => (ObjectToArray, Arity::Exact(1)),
        "$setUnion" => (SetUnion, Arity::Any),
        "$setIntersection" => (SetIntersection, Arity::Any),
        "$setDifference" => (SetDifference, Arity::Exact(2)),
        "$setEquals" => (SetEquals, Arity::AtLeast(2)),
        "$setIsSubset" => (SetIsSubset, Arity::Exact(2)),
        "$anyElementTrue" => (AnyElementTrue, Arity::Exact(1)),
        "$allElementsTrue" => (AllElementsTrue, Arity::Exact(1)),
        _ => return None,
    })
}

fn name_of(op: ArrOp) -> &'static str {
    use ArrOp::*;
    match op {
        Size => "$size",
        ArrayElemAt => "$arrayElemAt",
        First => "$first",
        Last => "$last",
        In => "$in",
        Slice => "$slice",
        ConcatArrays => "$concatArrays",
        ReverseArray => "$reverseArray",
        IsArray => "$isArray",
        Range => "$range",
        IndexOfArray => "$indexOfArray",
        ArrayToObject => "$arrayToObject",
        ObjectToArray => "$objectToArray",
        SetUnion => "$setUnion",
        SetIntersection => "$setIntersection",
        SetDifference => "$setDifference",
        SetEquals => "$setEquals",
        SetIsSubset => "$setIsSubset",
        AnyElementTrue => "$anyElementTrue",
        AllElementsTrue => "$allElementsTrue",
    }
}

fn not_array(op: ArrOp, value: Option<&Bson>) -> MqlError {
    MqlError::type_mismatch(format!(
        "`{}` requires an array argument, found {}",
        name_of(op),
        type_of(value)
    ))
}

/// The array in `value`; `Ok(None)` for null and missing, an error for other types.
fn array_or_null(op: ArrOp, value: Option<Bson>) -> Result<Option<Vec<Bson>>> {
    match value {
        Some(Bson::Array(items)) => Ok(Some(items)),
        value if is_nullish(value.as_ref()) => Ok(None),
        other => Err(not_array(op, other.as_ref())),
    }
}

fn strict_array(op: ArrOp, value: Option<Bson>) -> Result<Vec<Bson>> {
    match value {
        Some(Bson::Array(items)) => Ok(items),
        other => Err(not_array(op, other.as_ref())),
    }
}

pub(crate) fn apply(op: ArrOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    use ArrOp::*;
    let null = Ok(Some(Bson::Null));
    match op {
        Size => {
            let [value] = take::<1>(args);
            let items = strict_array(op, value)?;
            Ok(Some(Bson::Int32(
                i32::try_from(items.len()).unwrap_or(i32::MAX),
            )))
        }
        ArrayElemAt => element_at(args),
        First | Last => {
            let [value] = take::<1>(args);
            let Some(mut items) = array_or_null(op, value)? else {
                return null;
            };
            Ok(if op == First {
                (!items.is_empty()).then(|| items.swap_remove(0))
            } else {
                items.pop()
            })
        }
        In => {
            let [needle, hay] = take::<2>(args);
            let hay = match hay {
                Some(Bson::Array(items)) => items,
                other => {
                    return Err(MqlError::type_mismatch(format!(
                        "`$in` requires an array as a second argument, found {}",
                        type_of(other.as_ref())
                    )))
                }
            };
            let needle = needle.unwrap_or(Bson::Undefined);
            let found = hay.iter().any(|item| values_equal(item, &needle));
            Ok(Some(Bson::Boolean(found)))
        }
        Slice => slice(args),
        ConcatArrays => {
            let mut out = Vec::new();
            let mut bytes = 0;
            for arg in args {
                let Some(items) = array_or_null(op, arg)? else {
                    return null;
                };
                for item in &items {
                    bytes += approximate_size(item, MAX_VALUE_BYTES);
                }
                check_budget("$concatArrays", bytes)?;
                out.extend(items);
            }
            Ok(Some(Bson::Array(out)))
        }
        ReverseArray => {
            let [value] = take::<1>(args);
            let Some(mut items) = array_or_null(op, value)? else {
                return null;
            };
            items.reverse();
            Ok(Some(Bson::Array(items)))
        }
        IsArray => Ok(Some(Bson::Boolean(matches!(
            args.first(),
            Some(Some(Bson::Array(_)))
        )))),
        Range => range(args),
        IndexOfArray => index_of_array(args),
        ArrayToObject => array_to_object(args),
        ObjectToArray => object_to_array(args),
        SetUnion | SetIntersection | SetDifference | SetEquals | SetIsSubset => sets(op, args),
        AnyElementTrue | AllElementsTrue => {
            let [value] = take::<1>(args);
            let items = strict_array(op, value)?;
            let result = if op == AnyElementTrue {
                items.iter().any(|item| truthy(Some(item)))
            } else {
                items.iter().all(|item| truthy(Some(item)))
            };
            Ok(Some(Bson::Boolean(result)))
        }
    }
}

fn int32_arg(op: &str, what: &str, value: Option<&Bson>) -> Result<i64> {
    let number = integral(op, what, value)?;
    if i32::try_from(number).is_err() {
        return Err(MqlError::bad_value(format!(
            "`{op}` requires {what} to be representable as a 32-bit integer"
        )));
    }
    Ok(number)
}

fn element_at(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [array, index] = take::<2>(args);
    if is_nullish(array.as_ref()) || is_nullish(index.as_ref()) {
        return Ok(Some(Bson::Null));
    }
    let Some(Bson::Array(mut items)) = array else {
        return Err(MqlError::type_mismatch(format!(
            "`$arrayElemAt`'s first argument must be an array, found {}",
            type_of(array.as_ref())
        )));
    };
    let index = int32_arg("$arrayElemAt", "the index", index.as_ref())?;
    let position = if index < 0 {
        i64::try_from(items.len()).unwrap_or(i64::MAX) + index
    } else {
        index
    };
    match usize::try_from(position) {
        Ok(position) if position < items.len() => Ok(Some(items.swap_remove(position))),
        _ => Ok(None),
    }
}

fn slice(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let three = args.len() == 3;
    if args.iter().any(|arg| is_nullish(arg.as_ref())) {
        return Ok(Some(Bson::Null));
    }
    let [array, first, second] = take::<3>(args);
    let Some(Bson::Array(items)) = array else {
        return Err(MqlError::type_mismatch(format!(
            "`$slice` requires an array as its first argument, found {}",
            type_of(array.as_ref())
        )));
    };
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let (start, count) = if three {
        let position = int32_arg("$slice", "the position", first.as_ref())?;
        let count = int32_arg("$slice", "the count", second.as_ref())?;
        if count <= 0 {
            return Err(MqlError::bad_value(format!(
                "`$slice` requires the count to be positive, found {count}"
            )));
        }
        let start = if position < 0 {
            (len + position).max(0)
        } else {
            position.min(len)
        };
        (start, count)
    } else {
        let count = int32_arg("$slice", "the count", first.as_ref())?;
        if count < 0 {
            ((len + count).max(0), -count)
        } else {
            (0, count)
        }
    };
    let start = usize::try_from(start).unwrap_or(0);
    let count = usize::try_from(count).unwrap_or(0);
    Ok(Some(Bson::Array(
        items.into_iter().skip(start).take(count).collect(),
    )))
}

fn range(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let has_step = args.len() == 3;
    let [start, end, step] = take::<3>(args);
    let start = int32_arg("$range", "the starting value", start.as_ref())?;
    let end = int32_arg("$range", "the ending value", end.as_ref())?;
    let step = if has_step {
        int32_arg("$range", "the step", step.as_ref())?
    } else {
        1
    };
    if step == 0 {
        return Err(MqlError::bad_value("`$range` requires a non-zero step"));
    }
    let span = if step > 0 { end - start } else { start - end };
    let count = if span <= 0 {
        0
    } else {
        (span + step.abs() - 1) / step.abs()
    };
    if count > MAX_RANGE_ELEMENTS as i64 {
        return Err(MqlError::limit(format!(
            "`$range` would produce {count} elements, over the limit of {MAX_RANGE_ELEMENTS}"
        )));
    }
    let values = (0..count)
        .map(|i| Bson::Int32(i32::try_from(start + i * step).unwrap_or(i32::MAX)))
        .collect();
    Ok(Some(Bson::Array(values)))
}

fn index_of_array(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let has_end = args.len() == 4;
    let [array, needle, start, end] = take::<4>(args);
    let Some(items) = array_or_null(ArrOp::IndexOfArray, array)? else {
        return Ok(Some(Bson::Null));
    };
    let bound = |value: Option<Bson>, what: &str| -> Result<usize> {
        let number = integral("$indexOfArray", what, value.as_ref())?;
        usize::try_from(number).map_err(|_| {
            MqlError::bad_value(format!(
                "`$indexOfArray` requires {what} to be non-negative"
            ))
        })
    };
    let start = if start.is_some() {
        bound(start, "the starting index")?
    } else {
        0
    };
    let end = if has_end {
        bound(end, "the ending index")?.min(items.len())
    } else {
        items.len()
    };
    let needle = needle.unwrap_or(Bson::Undefined);
    let found = items
        .iter()
        .enumerate()
        .take(end)
        .skip(start)
        .find(|(_, item)| values_equal(item, &needle))
        .map_or(-1, |(at, _)| i32::try_from(at).unwrap_or(i32::MAX));
    Ok(Some(Bson::Int32(found)))
}

fn array_to_object(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [value] = take::<1>(args);
    let Some(items) = array_or_null(ArrOp::ArrayToObject, value)? else {
        return Ok(Some(Bson::Null));
    };
    let mut out = Document::new();
    let mut pairs_form: Option<bool> = None;
    for item in items {
        let is_pair = matches!(item, Bson::Array(_));
        if pairs_form.is_some_and(|form| form != is_pair) {
            return Err(MqlError::bad_value(
                "`$arrayToObject` requires a consistent input format: all [k, v] pairs or all {k, v} documents",
            ));
        }
        pairs_form = Some(is_pair);
        let (key, value) = match item {
            Bson::Array(pair) => match <[Bson; 2]>::try_from(pair) {
                Ok([Bson::String(key), value]) => (key, value),
                _ => {
                    return Err(MqlError::bad_value(
                        "`$arrayToObject` requires each [k, v] pair to have exactly two elements, the first a string",
                    ))
                }
            },
            Bson::Document(mut doc) => match (doc.remove("k"), doc.remove("v")) {
                (Some(Bson::String(key)), Some(value)) if doc.is_empty() => (key, value),
                _ => {
                    return Err(MqlError::bad_value(
                        "`$arrayToObject` requires each document to have exactly the fields `k` (a string) and `v`",
                    ))
                }
            },
            other => {
                return Err(MqlError::type_mismatch(format!(
                    "`$arrayToObject` requires arrays or documents as elements, found {}",
                    crate::value::type_name(&other)
                )))
            }
        };
        if key.contains('\0') {
            return Err(MqlError::bad_value(
                "`$arrayToObject` keys may not contain a null byte",
            ));
        }
        out.insert(key, value);
    }
    Ok(Some(Bson::Document(out)))
}

fn object_to_array(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [value] = take::<1>(args);
    match value {
        Some(Bson::Document(doc)) => Ok(Some(Bson::Array(
            doc.into_iter()
                .map(|(k, v)| {
                    let mut pair = Document::new();
                    pair.insert("k", k);
                    pair.insert("v", v);
                    Bson::Document(pair)
                })
                .collect(),
        ))),
        value if is_nullish(value.as_ref()) => Ok(Some(Bson::Null)),
        other => Err(MqlError::type_mismatch(format!(
            "`$objectToArray` requires a document input, found {}",
            type_of(other.as_ref())
        ))),
    }
}

fn sets(op: ArrOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let nullable = matches!(
        op,
        ArrOp::SetUnion | ArrOp::SetIntersection | ArrOp::SetDifference
    );
    let mut arrays = Vec::with_capacity(args.len());
    let mut saw_null = false;
    for arg in args {
        match arg {
            Some(Bson::Array(items)) => arrays.push(items),
            arg if nullable && is_nullish(arg.as_ref()) => saw_null = true,
            other => {
                return Err(MqlError::type_mismatch(format!(
                    "all operands of `{}` must be arrays, found {}",
                    name_of(op),
                    type_of(other.as_ref())
                )))
            }
        }
    }
    if saw_null {
        return Ok(Some(Bson::Null));
    }
    let mut arrays = arrays.into_iter();
    let first = ValueSet::from_values(arrays.next().unwrap_or_default());
    let result = match op {
        ArrOp::SetUnion => {
            let mut union = first;
            for items in arrays {
                for item in items {
                    union.insert(item);
                }
            }
            Bson::Array(union.into_values())
        }
        ArrOp::SetIntersection => {
            let others: Vec<ValueSet> = arrays.map(ValueSet::from_values).collect();
            let kept = first
                .into_values()
                .into_iter()
                .filter(|item| others.iter().all(|other| other.contains(item)))
                .collect();
            Bson::Array(kept)
        }
        ArrOp::SetDifference => {
            let other = ValueSet::from_values(arrays.next().unwrap_or_default());
            let kept = first
                .into_values()
                .into_iter()
                .filter(|item| !other.contains(item))
                .collect();
            Bson::Array(kept)
        }
        ArrOp::SetEquals => {
            let others: Vec<ValueSet> = arrays.map(ValueSet::from_values).collect();
            Bson::Boolean(others.iter().all(|other| {
                other.len() == first.len() && first.values().iter().all(|v| other.contains(v))
            }))
        }
        _ => {
            let other = ValueSet::from_values(arrays.next().unwrap_or_default());
            Bson::Boolean(first.values().iter().all(|v| other.contains(v)))
        }
    };
    Ok(Some(result))
}

/// Distinct values by BSON equality (`1` and `1.0` are one value), in first-seen order.
#[derive(Debug, Default, Clone)]
pub(crate) struct ValueSet {
    values: Vec<Bson>,
    index: HashMap<u64, Vec<usize>>,
}

impl ValueSet {
    pub(crate) fn from_values(values: Vec<Bson>) -> ValueSet {
        let mut set = ValueSet::default();
        for value in values {
            set.insert(value);
        }
        set
    }

    /// The position of `value`, if present.
    pub(crate) fn position(&self, value: &Bson) -> Option<usize> {
        self.index.get(&hash_of(value)).and_then(|slots| {
            slots.iter().copied().find(|&slot| {
                self.values
                    .get(slot)
                    .is_some_and(|known| values_equal(known, value))
            })
        })
    }

    pub(crate) fn contains(&self, value: &Bson) -> bool {
        self.position(value).is_some()
    }

    /// Adds `value` unless an equal one is present; returns its position and whether it was
    /// new.
    pub(crate) fn insert(&mut self, value: Bson) -> (usize, bool) {
        let hash = hash_of(&value);
        if let Some(position) = self.position(&value) {
            return (position, false);
        }
        let position = self.values.len();
        self.values.push(value);
        self.index.entry(hash).or_default().push(position);
        (position, true)
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn values(&self) -> &[Bson] {
        &self.values
    }

    pub(crate) fn into_values(self) -> Vec<Bson> {
        self.values
    }
}

/// A hash consistent with `values_equal`: equal values (across numeric types too) hash alike.
pub(crate) fn hash_of(value: &Bson) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hash_value(value, &mut hasher);
    hasher.finish()
}

fn hash_value(value: &Bson, hasher: &mut impl Hasher) {
    type_rank(value).hash(hasher);
    match value {
        Bson::String(text) | Bson::Symbol(text) => text.hash(hasher),
        Bson::Document(doc) => {
            for (key, inner) in doc {
                key.hash(hasher);
                hash_value(inner, hasher);
            }
        }
        Bson::Array(items) => items.iter().for_each(|item| hash_value(item, hasher)),
        Bson::Binary(binary) => binary.bytes.hash(hasher),
        Bson::ObjectId(id) => id.bytes().hash(hasher),
        Bson::Boolean(flag) => flag.hash(hasher),
        Bson::DateTime(when) => when.timestamp_millis().hash(hasher),
        Bson::Timestamp(ts) => (ts.time, ts.increment).hash(hasher),
        other => {
            if let Some(number) = crate::value::number(other) {
                let float = number.as_f64();
                // -0.0 equals 0.0 and all NaNs are equal: hash them alike.
                let canonical = if float == 0.0 || float.is_nan() {
                    0.0f64
                } else {
                    float
                };
                canonical.to_bits().hash(hasher);
            }
        }
    }
}

/// Fails if `value` nests deeper than the document depth limit.
pub(crate) fn check_value_depth(op: &str, value: &Bson) -> Result<()> {
    fn depth_ok(value: &Bson, remaining: usize) -> bool {
        match value {
            Bson::Document(doc) => {
                remaining > 0 && doc.values().all(|inner| depth_ok(inner, remaining - 1))
            }
            Bson::Array(items) => {
                remaining > 0 && items.iter().all(|inner| depth_ok(inner, remaining - 1))
            }
            _ => true,
        }
    }
    if depth_ok(value, MAX_DEPTH) {
        Ok(())
    } else {
        Err(MqlError::limit(format!(
            "`{op}` built a value nested deeper than {MAX_DEPTH} levels"
        )))
    }
}

fn input_array(op: &str, value: Option<Bson>) -> Result<Option<Vec<Bson>>> {
    match value {
        Some(Bson::Array(items)) => Ok(Some(items)),
        value if is_nullish(value.as_ref()) => Ok(None),
        other => Err(MqlError::type_mismatch(format!(
            "input to `{op}` must be an array, not {}",
            type_of(other.as_ref())
        ))),
    }
}

fn variable_name<'a>(op: &str, value: Option<&'a Bson>) -> Result<&'a str> {
    match value {
        None => Ok("this"),
        Some(Bson::String(name)) => Ok(name),
        Some(other) => Err(MqlError::parse(format!(
            "`{op}` requires `as` to be a string, found {}",
            crate::value::type_name(other)
        ))),
    }
}

/// `$map`.
#[derive(Debug, Clone)]
pub(crate) struct MapSpec {
    input: Node,
    slot: usize,
    body: Node,
}

impl MapSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<MapSpec> {
        let args = named_args("$map", operand, &["input", "as", "in"])?;
        let mut args = args.into_iter();
        let input = cc.compile(required("$map", "input", args.next().flatten())?)?;
        let name = variable_name("$map", args.next().flatten())?;
        let body = required("$map", "in", args.next().flatten())?;
        let slot = cc.bind(name)?;
        let body = cc.compile(body);
        cc.unbind(1);
        Ok(MapSpec {
            input,
            slot,
            body: body?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let Some(items) = input_array("$map", self.input.eval(cx)?)? else {
            return Ok(Some(Bson::Null));
        };
        let mut out = Vec::with_capacity(items.len());
        let mut bytes = 0;
        for item in items {
            cx.bind(self.slot, Some(item));
            let value = self.body.eval(cx)?.unwrap_or(Bson::Null);
            bytes += approximate_size(&value, MAX_VALUE_BYTES);
            check_budget("$map", bytes)?;
            out.push(value);
        }
        Ok(Some(Bson::Array(out)))
    }
}

/// `$filter`.
#[derive(Debug, Clone)]
pub(crate) struct FilterSpec {
    input: Node,
    slot: usize,
    cond: Node,
    limit: Option<Node>,
}

impl FilterSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<FilterSpec> {
        let args = named_args("$filter", operand, &["input", "as", "cond", "limit"])?;
        let mut args = args.into_iter();
        let input = cc.compile(required("$filter", "input", args.next().flatten())?)?;
        let name = variable_name("$filter", args.next().flatten())?;
        let cond = required("$filter", "cond", args.next().flatten())?;
        let limit = cc.compile_opt(args.next().flatten())?;
        let slot = cc.bind(name)?;
        let cond = cc.compile(cond);
        cc.unbind(1);
        Ok(FilterSpec {
            input,
            slot,
            cond: cond?,
            limit,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let input = self.input.eval(cx)?;
        let limit = match &self.limit {
            None => usize::MAX,
            Some(node) => match node.eval(cx)? {
                value if is_nullish(value.as_ref()) => usize::MAX,
                value => {
                    let limit = integral("$filter", "`limit`", value.as_ref())?;
                    if limit < 1 {
                        return Err(MqlError::bad_value(
                            "`$filter` requires `limit` to be greater than 0",
                        ));
                    }
                    usize::try_from(limit).unwrap_or(usize::MAX)
                }
            },
        };
        let Some(items) = input_array("$filter", input)? else {
            return Ok(Some(Bson::Null));
        };
        let mut out = Vec::new();
        for item in items {
            if out.len() >= limit {
                break;
            }
            cx.bind(self.slot, Some(item));
            if truthy(self.cond.eval(cx)?.as_ref()) {
                if let Some(Some(kept)) = cx.locals.get_mut(self.slot).map(Option::take) {
                    out.push(kept);
                }
            }
        }
        Ok(Some(Bson::Array(out)))
    }
}

/// `$reduce`: `$$value` is bound at `slot`, `$$this` at `slot + 1`.
#[derive(Debug, Clone)]
pub(crate) struct ReduceSpec {
    input: Node,
    initial: Node,
    slot: usize,
    body: Node,
}

impl ReduceSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<ReduceSpec> {
        let args = named_args("$reduce", operand, &["input", "initialValue", "in"])?;
        let mut args = args.into_iter();
        let input = cc.compile(required("$reduce", "input", args.next().flatten())?)?;
        let initial = cc.compile(required("$reduce", "initialValue", args.next().flatten())?)?;
        let body = required("$reduce", "in", args.next().flatten())?;
        let slot = cc.bind("value")?;
        cc.bind("this")?;
        let body = cc.compile(body);
        cc.unbind(2);
        Ok(ReduceSpec {
            input,
            initial,
            slot,
            body: body?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let input = self.input.eval(cx)?;
        let Some(items) = input_array("$reduce", input)? else {
            return Ok(Some(Bson::Null));
        };
        let mut value = self.initial.eval(cx)?;
        for item in items {
            cx.bind(self.slot, value);
            cx.bind(self.slot + 1, Some(item));
            value = self.body.eval(cx)?;
            if let Some(built @ (Bson::Array(_) | Bson::Document(_))) = &value {
                check_budget("$reduce", approximate_size(built, MAX_VALUE_BYTES))?;
                check_value_depth("$reduce", built)?;
            }
        }
        Ok(value)
    }
}
