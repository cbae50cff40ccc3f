//! `$group` and `$sortByCount`.
//!
//! Groups come out in the order their keys first appear in the input: MongoDB promises no
//! order, and first appearance makes results reproducible.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::{
    add_numbers, approximate_size, extreme_of, merge_into, Expr, Num, ValueSet, Variables,
};
use crate::limits::MAX_DOCUMENT_BYTES;

/// Most distinct groups one `$group` may hold.
pub const MAX_GROUPS: usize = 1_000_000;
/// Most bytes the values kept by `$push`/`$addToSet` of one group may take (a group's output
/// must fit in one document).
pub const MAX_ACCUMULATED_BYTES: usize = MAX_DOCUMENT_BYTES;
/// Most bytes all values kept by one `$group` may take (MongoDB's per-stage memory limit).
pub const MAX_GROUP_STAGE_BYTES: usize = 100 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum AccOp {
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    Push,
    AddToSet,
    Count,
    StdDevPop,
    StdDevSamp,
    MergeObjects,
}

fn accumulator(name: &str) -> Option<AccOp> {
    Some(match name {
        "$sum" => AccOp::Sum,
        "$avg" => AccOp::Avg,
        "$min" => AccOp::Min,
        "$max" => AccOp::Max,
        "$first" => AccOp::First,
        "$last" => AccOp::Last,
        "$push" => AccOp::Push,
        "$addToSet" => AccOp::AddToSet,
        "$count" => AccOp::Count,
        "$stdDevPop" => AccOp::StdDevPop,
        "$stdDevSamp" => AccOp::StdDevSamp,
        "$mergeObjects" => AccOp::MergeObjects,
        _ => return None,
    })
}

#[derive(Debug, Clone)]
struct Accumulator {
    field: String,
    op: AccOp,
    expr: Expr,
}

/// A compiled `$group`.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    id: Expr,
    accumulators: Vec<Accumulator>,
}

/// Running state of one accumulator in one group.
enum State {
    Sum(Num),
    Avg(Num, u64),
    Extreme(Option<Bson>, Ordering),
    First(Option<Bson>),
    Last(Option<Bson>),
    Push(Vec<Bson>, usize),
    Set(ValueSet, usize),
    Count(Num),
    /// Welford's running count, mean and sum of squared deviations; the flag marks the
    /// sample (rather than population) deviation.
    StdDev(bool, u64, f64, f64),
    Merge(Document),
}

impl Group {
    pub(crate) fn compile(spec: &Document) -> Result<Group> {
        let id = spec
            .get("_id")
            .ok_or_else(|| MqlError::parse("`$group` requires an `_id` field"))?;
        let mut accumulators = Vec::new();
        for (field, value) in spec {
            if field == "_id" {
                continue;
            }
            accumulators.push(compile_accumulator(field, value)?);
        }
        Ok(Group {
            id: Expr::compile(id)?,
            accumulators,
        })
    }

    /// `$sortByCount`: a group counting documents per key.
    pub(crate) fn count_by(expr: &Bson) -> Result<Group> {
        let valid = match expr {
            Bson::String(path) => path.starts_with('$'),
            Bson::Document(doc) => doc.len() == 1 && doc.keys().all(|key| key.starts_with('$')),
            _ => false,
        };
        if !valid {
            return Err(MqlError::parse(
                "`$sortByCount` requires a field path or an expression object",
            ));
        }
        Ok(Group {
            id: Expr::compile(expr)?,
            accumulators: vec![Accumulator {
                field: "count".to_owned(),
                op: AccOp::Sum,
                expr: Expr::compile(&Bson::Int32(1))?,
            }],
        })
    }

    pub(crate) fn run(&self, input: Vec<Document>, vars: &Variables) -> Result<Vec<Document>> {
        let mut keys = ValueSet::default();
        let mut states: Vec<Vec<State>> = Vec::new();
        let mut stage_bytes = 0usize;
        for doc in input {
            let key = self.id.evaluate(&doc, vars)?.unwrap_or(Bson::Null);
            let key_bytes = approximate_size(&key, MAX_ACCUMULATED_BYTES);
            let (position, is_new) = keys.insert(key);
            if is_new {
                stage_bytes += key_bytes;
                if states.len() >= MAX_GROUPS {
                    return Err(MqlError::limit(format!(
                        "`$group` has more than {MAX_GROUPS} groups"
                    )));
                }
                states.push(
                    self.accumulators
                        .iter()
                        .map(|acc| initial(acc.op))
                        .collect(),
                );
            }
            let Some(group) = states.get_mut(position) else {
                continue;
            };
            for (acc, state) in self.accumulators.iter().zip(group.iter_mut()) {
                let value = acc.expr.evaluate(&doc, vars)?;
                stage_bytes += update(state, value)?;
                if stage_bytes > MAX_GROUP_STAGE_BYTES {
                    return Err(MqlError::limit(format!(
                        "`$group` kept more than {MAX_GROUP_STAGE_BYTES} bytes of values"
                    )));
                }
            }
        }
        let mut out = Vec::with_capacity(states.len());
        for (key, group) in keys.into_values().into_iter().zip(states) {
            let mut doc = Document::new();
            doc.insert("_id", key);
            for (acc, state) in self.accumulators.iter().zip(group) {
                doc.insert(acc.field.clone(), finish(state));
            }
            out.push(doc);
        }
        Ok(out)
    }
}

/// Orders `$sortByCount` output by count, highest first, keeping first-appearance order
/// among equal counts.
pub(crate) fn sort_by_count(docs: &mut [Document]) {
    docs.sort_by(|a, b| {
        let count = |doc: &Document| doc.get("count").cloned().unwrap_or(Bson::Null);
        crate::value::compare_values(&count(b), &count(a))
    });
}

fn compile_accumulator(field: &str, value: &Bson) -> Result<Accumulator> {
    if field.starts_with('$') || field.contains('.') {
        return Err(MqlError::parse(format!(
            "`$group` output field `{field}` may not start with `$` or contain `.`"
        )));
    }
    let spec = match value {
        Bson::Document(spec) if spec.len() == 1 => spec,
        _ => {
            return Err(MqlError::parse(format!(
                "`$group` field `{field}` must be an object with exactly one accumulator"
            )))
        }
    };
    let Some((name, argument)) = spec.iter().next() else {
        return Err(MqlError::parse("`$group` accumulator is empty"));
    };
    let op =
        accumulator(name).ok_or_else(|| MqlError::unknown_operator(name, "group accumulator"))?;
    if let Bson::Array(_) = argument {
        return Err(MqlError::parse(format!(
            "the `{name}` accumulator is a unary operator and takes no array argument"
        )));
    }
    let expr = if op == AccOp::Count {
        if !matches!(argument, Bson::Document(doc) if doc.is_empty()) {
            return Err(MqlError::parse(
                "the `$count` accumulator takes no arguments: `{$count: {}}`",
            ));
        }
        Expr::compile(&Bson::Int32(1))?
    } else {
        Expr::compile(argument)?
    };
    Ok(Accumulator {
        field: field.to_owned(),
        op,
        expr,
    })
}

fn initial(op: AccOp) -> State {
    match op {
        AccOp::Sum => State::Sum(Num::I32(0)),
        AccOp::Count => State::Count(Num::I32(0)),
        AccOp::Avg => State::Avg(Num::I32(0), 0),
        AccOp::Min => State::Extreme(None, Ordering::Less),
        AccOp::Max => State::Extreme(None, Ordering::Greater),
        AccOp::First => State::First(None),
        AccOp::Last => State::Last(None),
        AccOp::Push => State::Push(Vec::new(), 0),
        AccOp::AddToSet => State::Set(ValueSet::default(), 0),
        AccOp::StdDevPop => State::StdDev(false, 0, 0.0, 0.0),
        AccOp::StdDevSamp => State::StdDev(true, 0, 0.0, 0.0),
        AccOp::MergeObjects => State::Merge(Document::new()),
    }
}

/// Folds one value into a state; returns the bytes newly kept.
fn update(state: &mut State, value: Option<Bson>) -> Result<usize> {
    match state {
        State::Sum(total) | State::Count(total) => {
            if let Some(number) = value.as_ref().and_then(Num::of) {
                *total = add_numbers(*total, number);
            }
        }
        State::Avg(total, count) => {
            if let Some(number) = value.as_ref().and_then(Num::of) {
                *total = add_numbers(*total, number);
                *count += 1;
            }
        }
        State::Extreme(best, wanted) => {
            let candidates = best.take().into_iter().chain(value);
            *best = extreme_of(candidates, *wanted);
        }
        State::First(slot) => {
            if slot.is_none() {
                *slot = Some(value.unwrap_or(Bson::Null));
            }
        }
        State::Last(slot) => *slot = Some(value.unwrap_or(Bson::Null)),
        State::Push(items, bytes) => {
            if let Some(value) = value {
                let size = approximate_size(&value, MAX_ACCUMULATED_BYTES);
                *bytes += size;
                check_accumulated("$push", *bytes)?;
                items.push(value);
                return Ok(size);
            }
        }
        State::Set(set, bytes) => {
            if let Some(value) = value {
                let size = approximate_size(&value, MAX_ACCUMULATED_BYTES);
                if set.insert(value).1 {
                    *bytes += size;
                    check_accumulated("$addToSet", *bytes)?;
                    return Ok(size);
                }
            }
        }
        State::StdDev(_, count, mean, m2) => {
            if let Some(x) = value.as_ref().and_then(Num::of).map(Num::f) {
                *count += 1;
                let delta = x - *mean;
                *mean += delta / *count as f64;
                *m2 += delta * (x - *mean);
            }
        }
        State::Merge(doc) => merge_into(doc, value, 0)?,
    }
    Ok(0)
}

fn check_accumulated(op: &str, bytes: usize) -> Result<()> {
    if bytes > MAX_ACCUMULATED_BYTES {
        return Err(MqlError::limit(format!(
            "`{op}` accumulated more than {MAX_ACCUMULATED_BYTES} bytes in one group"
        )));
    }
    Ok(())
}

fn finish(state: State) -> Bson {
    match state {
        State::Sum(total) | State::Count(total) => total.into_bson(),
        State::Avg(total, count) => {
            if count == 0 {
                Bson::Null
            } else {
                crate::expr::mean(total, count).into_bson()
            }
        }
        State::Extreme(value, _) => value.unwrap_or(Bson::Null),
        State::First(value) | State::Last(value) => value.unwrap_or(Bson::Null),
        State::Push(items, _) => Bson::Array(items),
        State::Set(set, _) => Bson::Array(set.into_values()),
        State::StdDev(sample, count, _, m2) => {
            let divisor = if sample {
                count.saturating_sub(1)
            } else {
                count
            };
            if divisor == 0 {
                Bson::Null
            } else {
                Bson::Double((m2 / divisor as f64).sqrt())
            }
        }
        State::Merge(doc) => Bson::Document(doc),
    }
}
