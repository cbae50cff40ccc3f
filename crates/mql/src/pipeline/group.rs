//! `$group` and `$sortByCount`.
//!
//! Groups come out in the order their keys first appear in the input: MongoDB promises no
//! order, and first appearance makes results reproducible.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::{
    accumulator_input, add_numbers, approximate_size, extreme_of, merge_into, sample, validate_n,
    Expr, Num, Pick, PickN, Quantiles, Total, ValueSet, Variables,
};
use crate::limits::MAX_DOCUMENT_BYTES;
use crate::sort::SortSpec;

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
    /// `$sum` of a constant number in `$group`: added as it comes (int32, then int64, then
    /// double), without the compensated sum, as the server's constant-sum path does.
    PlainSum,
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
    /// `$firstN`, `$lastN`, `$minN`, `$maxN`.
    PickN(Pick),
    /// `$top`, `$topN`, `$bottom`, `$bottomN`; `single` for the forms without `n`.
    TopBottom {
        bottom: bool,
        single: bool,
    },
    /// `$percentile` and `$median`.
    Quantile,
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
        "$top" => AccOp::TopBottom {
            bottom: false,
            single: true,
        },
        "$topN" => AccOp::TopBottom {
            bottom: false,
            single: false,
        },
        "$bottom" => AccOp::TopBottom {
            bottom: true,
            single: true,
        },
        "$bottomN" => AccOp::TopBottom {
            bottom: true,
            single: false,
        },
        "$percentile" | "$median" => AccOp::Quantile,
        other => AccOp::PickN(Pick::named(other)?),
    })
}

#[derive(Debug, Clone)]
struct Accumulator {
    field: String,
    op: AccOp,
    name: String,
    /// The value accumulated (`output` of `$top` and the others).
    expr: Expr,
    /// `n` of the accumulators that keep several values, evaluated once per group against
    /// `{_id: <group key>}`, as in MongoDB.
    n: Option<Expr>,
    /// `sortBy` of `$top` and the others.
    sort: Option<TopSort>,
    /// What `$percentile` and `$median` compute.
    quantiles: Option<Quantiles>,
}

impl Accumulator {
    /// An accumulator of `expr` with no `n`, `sortBy` or percentiles.
    fn new(field: &str, op: AccOp, name: &str, expr: Expr) -> Accumulator {
        Accumulator {
            field: field.to_owned(),
            op,
            name: name.to_owned(),
            expr,
            n: None,
            sort: None,
            quantiles: None,
        }
    }
}

/// The order of `$top`, `$topN`, `$bottom` and `$bottomN`: each sort field's value is read as
/// an expression (`"$field"`) into a key document `{k0: ..., k1: ...}`, which a sort spec over
/// those keys compares (arrays by their smallest element ascending, largest descending).
#[derive(Debug, Clone)]
struct TopSort {
    spec: SortSpec,
    fields: Vec<Expr>,
}

impl TopSort {
    fn compile(name: &str, sort_by: &Bson) -> Result<TopSort> {
        let Bson::Document(sort_by) = sort_by else {
            return Err(MqlError::parse(format!(
                "`{name}` requires `sortBy` to be a sort document"
            )));
        };
        if sort_by.is_empty() {
            return Err(MqlError::parse(format!(
                "`{name}` requires a non-empty `sortBy`"
            )));
        }
        // Checks the directions and field names as a sort does.
        SortSpec::compile(sort_by)?;
        let mut keys = Document::new();
        let mut fields = Vec::with_capacity(sort_by.len());
        for (index, (field, direction)) in sort_by.iter().enumerate() {
            keys.insert(format!("k{index}"), direction.clone());
            fields.push(Expr::compile(&Bson::String(format!("${field}")))?);
        }
        Ok(TopSort {
            spec: SortSpec::compile(&keys)?,
            fields,
        })
    }

    fn key(&self, doc: &Document, vars: &Variables) -> Result<Document> {
        let mut key = Document::new();
        for (index, field) in self.fields.iter().enumerate() {
            if let Some(value) = field.evaluate(doc, vars)? {
                key.insert(format!("k{index}"), value);
            }
        }
        Ok(key)
    }
}

/// A compiled `$group`.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    id: Expr,
    accumulators: Vec<Accumulator>,
    /// Whether an accumulator's `n` reads the group key.
    needs_key: bool,
}

/// Running state of one accumulator in one group.
#[derive(Clone)]
enum State {
    Sum(Total),
    Avg(Total, u64),
    Extreme(Option<Bson>, Ordering),
    First(Option<Bson>),
    Last(Option<Bson>),
    Push(Vec<Bson>, usize),
    Set(ValueSet, usize),
    /// `$count` and a constant `$sum`: plain running addition.
    Plain(Num),
    /// Welford's running count, mean and sum of squared deviations; the flag marks the
    /// sample (rather than population) deviation.
    StdDev(bool, u64, f64, f64),
    Merge(Document),
    PickN(PickN),
    /// Up to `n` (sort key, output) pairs in ascending key order (later arrivals after equal
    /// keys), and the bytes they take.
    TopBottom {
        n: usize,
        bottom: bool,
        single: bool,
        items: Vec<(Document, Bson)>,
        bytes: usize,
    },
    /// The numbers seen, as doubles (the percentiles asked for are the accumulator's).
    Quantile(Vec<f64>),
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
            needs_key: accumulators.iter().any(|acc| acc.n.is_some()),
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
            accumulators: vec![Accumulator::new(
                "count",
                AccOp::PlainSum,
                "$sum",
                Expr::compile(&Bson::Int32(1))?,
            )],
            needs_key: false,
        })
    }

    pub(crate) fn run(&self, input: Vec<Document>, vars: &Variables) -> Result<Vec<Document>> {
        let mut keys = ValueSet::default();
        let mut states: Vec<Vec<State>> = Vec::new();
        let mut stage_bytes = 0usize;
        for doc in input {
            let key = self.id.evaluate(&doc, vars)?.unwrap_or(Bson::Null);
            let key_bytes = approximate_size(&key, MAX_ACCUMULATED_BYTES);
            let group_key = self.needs_key.then(|| key.clone());
            let (position, is_new) = keys.insert(key);
            if is_new {
                stage_bytes += key_bytes;
                if states.len() >= MAX_GROUPS {
                    return Err(MqlError::limit(format!(
                        "`$group` has more than {MAX_GROUPS} groups"
                    )));
                }
                let group_key = group_key.unwrap_or(Bson::Null);
                states.push(
                    self.accumulators
                        .iter()
                        .map(|acc| initial(acc, &group_key, vars))
                        .collect::<Result<_>>()?,
                );
            }
            let Some(group) = states.get_mut(position) else {
                continue;
            };
            for (acc, state) in self.accumulators.iter().zip(group.iter_mut()) {
                let value = acc.expr.evaluate(&doc, vars)?;
                let sort = match &acc.sort {
                    Some(sort) => Some((&sort.spec, sort.key(&doc, vars)?)),
                    None => None,
                };
                stage_bytes += update(state, value, sort)?;
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
                doc.insert(acc.field.clone(), finish(acc, state));
            }
            out.push(doc);
        }
        Ok(out)
    }
}

/// One `$group` accumulator run over any list of documents: a window of `$setWindowFields`,
/// a bucket of `$bucketAuto`.
#[derive(Debug, Clone)]
pub(crate) struct ListAccumulator(Accumulator);

impl ListAccumulator {
    /// `name` is the accumulator (`$sum`), `argument` its operand.
    pub(crate) fn compile(field: &str, name: &str, argument: &Bson) -> Result<ListAccumulator> {
        let mut spec = Document::new();
        spec.insert(name, argument.clone());
        let mut accumulator = compile_accumulator(field, &Bson::Document(spec))?;
        // Window functions sum constants with compensation too (`WindowFunctionSum`).
        if accumulator.op == AccOp::PlainSum {
            accumulator.op = AccOp::Sum;
        }
        Ok(ListAccumulator(accumulator))
    }

    /// The `$group` accumulator's name (`$sum`).
    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    /// The accumulated value's expression, evaluated on `doc`.
    pub(crate) fn input(&self, doc: &Document, vars: &Variables) -> Result<Option<Bson>> {
        self.0.expr.evaluate(doc, vars)
    }

    /// `field: {<accumulator>: <argument>}`, as in a `$group`.
    pub(crate) fn compile_field(field: &str, spec: &Bson) -> Result<ListAccumulator> {
        compile_accumulator(field, spec).map(ListAccumulator)
    }

    /// The output field.
    pub(crate) fn field(&self) -> &str {
        &self.0.field
    }

    /// Whether `name` is an accumulator a window can run.
    pub(crate) fn known(name: &str) -> bool {
        accumulator(name).is_some_and(|op| op != AccOp::MergeObjects)
    }

    /// The accumulated value over `docs` (`n` is evaluated against `{_id: null}`).
    pub(crate) fn evaluate<'a>(
        &self,
        docs: impl Iterator<Item = &'a Document>,
        vars: &Variables,
    ) -> Result<Bson> {
        let mut state = initial(&self.0, &Bson::Null, vars)?;
        for doc in docs {
            self.add(&mut state, doc, vars)?;
        }
        Ok(finish(&self.0, state))
    }

    /// The accumulated value over each prefix `docs[..ends[i]]` (`ends` must not decrease),
    /// handed to `emit` in order, in one pass: for windows that start at the partition's first
    /// document.
    pub(crate) fn evaluate_prefixes(
        &self,
        docs: &[Document],
        ends: &[usize],
        vars: &Variables,
        mut emit: impl FnMut(Bson) -> Result<()>,
    ) -> Result<()> {
        if let Some(quantiles) = &self.0.quantiles {
            // Percentiles of a growing set, kept in heaps: no sort per document.
            let mut running = quantiles.running();
            let mut added = 0;
            for &end in ends {
                while added < end {
                    if let Some(doc) = docs.get(added) {
                        let value = self.0.expr.evaluate(doc, vars)?;
                        if let Some(x) = value.as_ref().and_then(sample) {
                            running.insert(x);
                        }
                    }
                    added += 1;
                }
                emit(running.value())?;
            }
            return Ok(());
        }
        let mut state = initial(&self.0, &Bson::Null, vars)?;
        let mut added = 0;
        for &end in ends {
            while added < end {
                if let Some(doc) = docs.get(added) {
                    self.add(&mut state, doc, vars)?;
                }
                added += 1;
            }
            emit(finish(&self.0, state.clone()))?;
        }
        Ok(())
    }

    fn add(&self, state: &mut State, doc: &Document, vars: &Variables) -> Result<()> {
        let acc = &self.0;
        let value = acc.expr.evaluate(doc, vars)?;
        let sort = match &acc.sort {
            Some(sort) => Some((&sort.spec, sort.key(doc, vars)?)),
            None => None,
        };
        update(state, value, sort)?;
        Ok(())
    }
}

/// `$bucket`: MongoDB rewrites it into a `$group` whose `_id` is a `$switch` over the
/// boundaries (`[b0, b1)` is bucket `b0`; the `default` bucket takes the rest), followed by a
/// sort on `_id`; so does this.
pub(crate) fn bucket(spec: &Document) -> Result<Group> {
    let op = "$bucket";
    let mut group_by = None;
    let mut boundaries = None;
    let mut default = None;
    let mut output = None;
    for (key, value) in spec {
        match key.as_str() {
            "groupBy" => group_by = Some(value),
            "boundaries" => boundaries = Some(value),
            "default" => default = Some(value),
            "output" => output = Some(value),
            other => {
                return Err(MqlError::parse(format!(
                    "`{op}` found an unknown argument `{other}`"
                )))
            }
        }
    }
    let group_by = match group_by {
        Some(Bson::String(path)) if path.starts_with('$') => Bson::String(path.clone()),
        Some(Bson::Document(expr)) => Bson::Document(expr.clone()),
        Some(_) => {
            return Err(MqlError::parse(format!(
                "`{op}` requires `groupBy` to be a `$`-prefixed path or an expression object"
            )))
        }
        None => return Err(MqlError::parse(format!("`{op}` requires `groupBy`"))),
    };
    let boundaries = match boundaries {
        Some(Bson::Array(items)) if items.len() >= 2 => items,
        _ => {
            return Err(MqlError::parse(format!(
                "`{op}` requires `boundaries` to be an array of at least two values"
            )))
        }
    };
    let bracket = |value: &Bson| crate::value::type_rank(value);
    let first = boundaries.first().map(bracket);
    if boundaries.iter().any(|b| Some(bracket(b)) != first) {
        return Err(MqlError::bad_value(format!(
            "`{op}`: all values in `boundaries` must be of the same type"
        )));
    }
    for pair in boundaries.windows(2) {
        if let [low, high] = pair {
            if crate::value::compare_values(low, high) != Ordering::Less {
                return Err(MqlError::bad_value(format!(
                    "`{op}`: the values in `boundaries` must be sorted in ascending order, \
                     found {low} before {high}"
                )));
            }
        }
    }
    if let (Some(default), Some(low), Some(high)) = (default, boundaries.first(), boundaries.last())
    {
        let inside = Some(bracket(default)) == first
            && crate::value::compare_values(default, low) != Ordering::Less
            && crate::value::compare_values(default, high) == Ordering::Less;
        if inside {
            return Err(MqlError::bad_value(format!(
                "`{op}`: `default` must be less than the lowest boundary or greater than or \
                 equal to the highest boundary"
            )));
        }
    }
    let literal = |value: &Bson| Bson::Document(bson::doc! { "$literal": value.clone() });
    let branches: Vec<Bson> = boundaries
        .windows(2)
        .filter_map(|pair| match pair {
            [low, high] => Some(Bson::Document(bson::doc! {
                "case": { "$and": [
                    { "$gte": [group_by.clone(), literal(low)] },
                    { "$lt": [group_by.clone(), literal(high)] },
                ] },
                "then": literal(low),
            })),
            _ => None,
        })
        .collect();
    let mut switch = bson::doc! { "branches": branches };
    if let Some(default) = default {
        switch.insert("default", literal(default));
    }
    let mut group = bson::doc! { "_id": { "$switch": switch } };
    match output {
        None => {
            group.insert("count", bson::doc! { "$sum": 1 });
        }
        Some(Bson::Document(fields)) => {
            for (field, accumulator) in fields {
                group.insert(field.clone(), accumulator.clone());
            }
        }
        Some(_) => {
            return Err(MqlError::parse(format!(
                "`{op}` requires `output` to be an object"
            )))
        }
    }
    Group::compile(&group)
}

/// Orders `$bucket` output by bucket (`_id`), in BSON order.
pub(crate) fn sort_by_id(docs: &mut [Document]) {
    const NULL: &Bson = &Bson::Null;
    docs.sort_by(|a, b| {
        let (a, b) = (a.get("_id").unwrap_or(NULL), b.get("_id").unwrap_or(NULL));
        crate::value::compare_values(a, b)
    });
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
    if let AccOp::PickN(_) | AccOp::TopBottom { .. } = op {
        return compile_several(field, name, op, argument);
    }
    if op == AccOp::Quantile {
        let (input, quantiles) = accumulator_input(name, argument)?;
        return Ok(Accumulator {
            quantiles: Some(quantiles),
            ..Accumulator::new(field, op, name, Expr::compile(&input)?)
        });
    }
    if let Bson::Array(_) = argument {
        return Err(MqlError::parse(format!(
            "the `{name}` accumulator is a unary operator and takes no array argument"
        )));
    }
    if op == AccOp::Count {
        if !matches!(argument, Bson::Document(doc) if doc.is_empty()) {
            return Err(MqlError::parse(
                "the `$count` accumulator takes no arguments: `{$count: {}}`",
            ));
        }
        return Ok(Accumulator::new(
            field,
            op,
            name,
            Expr::compile(&Bson::Int32(1))?,
        ));
    }
    let expr = Expr::compile(argument)?;
    let op = if op == AccOp::Sum && constant_number(&expr) {
        AccOp::PlainSum
    } else {
        op
    };
    Ok(Accumulator::new(field, op, name, expr))
}

/// Whether a `$sum` argument folds to a constant int32, int64 or double (`1`,
/// `{$literal: 2.5}`, `{$const: 2}`, `{$add: [1, 1]}`), as the server's optimizer leaves it.
fn constant_number(expr: &Expr) -> bool {
    matches!(
        expr.folded(),
        Some(Ok(Some(Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))))
    )
}

/// An accumulator that keeps several values: `{n, input}` for `$firstN` and the others,
/// `{n, sortBy, output}` for `$topN` and `$bottomN`, `{sortBy, output}` for `$top` and
/// `$bottom`.
fn compile_several(field: &str, name: &str, op: AccOp, argument: &Bson) -> Result<Accumulator> {
    let Bson::Document(spec) = argument else {
        return Err(MqlError::parse(format!(
            "the `{name}` accumulator requires an object argument"
        )));
    };
    let (takes_n, value_name, takes_sort) = match op {
        AccOp::TopBottom { single, .. } => (!single, "output", true),
        _ => (true, "input", false),
    };
    let mut n = None;
    let mut value = None;
    let mut sort = None;
    for (key, argument) in spec {
        match key.as_str() {
            "n" if takes_n => n = Some(Expr::compile(argument)?),
            "sortBy" if takes_sort => sort = Some(TopSort::compile(name, argument)?),
            other if other == value_name => value = Some(Expr::compile(argument)?),
            other => {
                return Err(MqlError::parse(format!(
                    "the `{name}` accumulator found an unknown argument `{other}`"
                )))
            }
        }
    }
    let missing =
        |what: &str| MqlError::parse(format!("the `{name}` accumulator is missing `{what}`"));
    if takes_n && n.is_none() {
        return Err(missing("n"));
    }
    if takes_sort && sort.is_none() {
        return Err(missing("sortBy"));
    }
    Ok(Accumulator {
        n,
        sort,
        ..Accumulator::new(field, op, name, value.ok_or_else(|| missing(value_name))?)
    })
}

/// A group's starting state for `acc`; `n` (of the accumulators that have one) is evaluated
/// against `{_id: group_key}`.
fn initial(acc: &Accumulator, group_key: &Bson, vars: &Variables) -> Result<State> {
    let n = || -> Result<usize> {
        match &acc.n {
            Some(n) => {
                let scope = bson::doc! { "_id": group_key.clone() };
                validate_n(&acc.name, n.evaluate(&scope, vars)?.as_ref())
            }
            None => Ok(1),
        }
    };
    Ok(match acc.op {
        AccOp::Sum => State::Sum(Total::default()),
        AccOp::Count | AccOp::PlainSum => State::Plain(Num::I32(0)),
        AccOp::Avg => State::Avg(Total::default(), 0),
        AccOp::Min => State::Extreme(None, Ordering::Less),
        AccOp::Max => State::Extreme(None, Ordering::Greater),
        AccOp::First => State::First(None),
        AccOp::Last => State::Last(None),
        AccOp::Push => State::Push(Vec::new(), 0),
        AccOp::AddToSet => State::Set(ValueSet::default(), 0),
        AccOp::StdDevPop => State::StdDev(false, 0, 0.0, 0.0),
        AccOp::StdDevSamp => State::StdDev(true, 0, 0.0, 0.0),
        AccOp::MergeObjects => State::Merge(Document::new()),
        AccOp::PickN(pick) => State::PickN(PickN::new(pick, n()?)),
        AccOp::TopBottom { bottom, single } => State::TopBottom {
            n: n()?,
            bottom,
            single,
            items: Vec::new(),
            bytes: 0,
        },
        AccOp::Quantile => State::Quantile(Vec::new()),
    })
}

/// Folds one value into a state (with its sort key, for `$top` and the others); returns the
/// bytes newly kept.
fn update(
    state: &mut State,
    value: Option<Bson>,
    sort: Option<(&SortSpec, Document)>,
) -> Result<usize> {
    match state {
        State::PickN(picked) => return picked.offer(value),
        State::TopBottom {
            n,
            bottom,
            items,
            bytes,
            ..
        } => {
            let Some((spec, key)) = sort else {
                return Ok(0);
            };
            return keep_top(spec, *n, *bottom, items, bytes, key, value);
        }
        State::Sum(total) => {
            if let Some(number) = value.as_ref().and_then(Num::of) {
                total.add(number);
            }
        }
        State::Plain(total) => {
            if let Some(number) = value.as_ref().and_then(Num::of) {
                *total = add_numbers(*total, number);
            }
        }
        State::Avg(total, count) => {
            if let Some(number) = value.as_ref().and_then(Num::of) {
                total.add(number);
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
        State::Quantile(samples) => {
            if let Some(x) = value.as_ref().and_then(sample) {
                samples.push(x);
                return Ok(std::mem::size_of::<f64>());
            }
        }
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

fn finish(acc: &Accumulator, state: State) -> Bson {
    match state {
        State::Sum(total) => total.sum().into_bson(),
        State::Plain(total) => total.into_bson(),
        State::Avg(total, count) => {
            if count == 0 {
                Bson::Null
            } else {
                total.mean(count).into_bson()
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
        State::PickN(picked) => Bson::Array(picked.finish()),
        State::TopBottom { single, items, .. } => {
            let mut outputs = items.into_iter().map(|(_, output)| output);
            if single {
                outputs.next().unwrap_or(Bson::Null)
            } else {
                Bson::Array(outputs.collect())
            }
        }
        State::Quantile(mut samples) => match &acc.quantiles {
            Some(quantiles) => quantiles.finish(&mut samples),
            None => Bson::Null,
        },
    }
}

/// Offers (key, output) to the `n` kept by `$topN` (the first `n` in sort order) or
/// `$bottomN` (the last `n`). Only a strictly better key displaces a kept one: among equal
/// keys the first seen stays, as in MongoDB. A missing output is kept as null.
fn keep_top(
    spec: &SortSpec,
    n: usize,
    bottom: bool,
    items: &mut Vec<(Document, Bson)>,
    bytes: &mut usize,
    key: Document,
    output: Option<Bson>,
) -> Result<usize> {
    if items.len() >= n {
        let displaced = if bottom {
            match items.first() {
                Some((least, _)) if spec.compare(&key, least) == Ordering::Greater => {
                    Some(items.remove(0))
                }
                _ => return Ok(0),
            }
        } else {
            match items.last() {
                Some((greatest, _)) if spec.compare(greatest, &key) == Ordering::Greater => {
                    items.pop()
                }
                _ => return Ok(0),
            }
        };
        if let Some((old_key, old_output)) = displaced {
            let size = approximate_size(&Bson::Document(old_key), MAX_ACCUMULATED_BYTES)
                + approximate_size(&old_output, MAX_ACCUMULATED_BYTES);
            *bytes = bytes.saturating_sub(size);
        }
    }
    let output = output.unwrap_or(Bson::Null);
    let size = approximate_size(&output, MAX_ACCUMULATED_BYTES)
        + key
            .iter()
            .map(|(_, value)| approximate_size(value, MAX_ACCUMULATED_BYTES))
            .sum::<usize>();
    *bytes += size;
    let name = if bottom {
        "$bottom/$bottomN"
    } else {
        "$top/$topN"
    };
    check_accumulated(name, *bytes)?;
    let at = items.partition_point(|(kept, _)| spec.compare(kept, &key) != Ordering::Greater);
    items.insert(at, (key, output));
    Ok(size)
}
