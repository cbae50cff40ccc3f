//! `$setWindowFields`: for each document, values computed over a window of the documents of
//! its partition, in sort order.
//!
//! As in MongoDB, the output is sorted by the partition key, then by `sortBy`; window
//! functions see the input documents (without the fields being added). Windows are either
//! `documents: [lower, upper]` (positions relative to the current document, `"current"` or
//! `"unbounded"`) or `range: [lower, upper]` (values relative to the current document's single
//! `sortBy` field, a number, or a date with `unit`); without `window` a function sees the
//! whole partition. Supported functions: every `$group` accumulator but `$mergeObjects`,
//! `$covariancePop`, `$covarianceSamp`, `$derivative`, `$integral`, `$expMovingAvg`, `$rank`,
//! `$denseRank`, `$documentNumber`, `$shift`, `$locf`, `$linearFill` and `$minMaxScaler`.
//!
//! Growing windows (lower bound `unbounded`) run the `$group` accumulators, as the server's
//! non-removable executors do; sliding ones run the server's removable states in
//! `removable.rs`.

mod removable;
mod scaler;
mod series;

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::group::{ListAccumulator, MAX_GROUP_STAGE_BYTES};
use super::lookup::set_path;
use crate::error::{MqlError, Result};
use crate::expr::{approximate_size, arithmetic, integral, is_time_unit, Expr, Variables};
use crate::path::FieldPath;
use crate::sort::SortSpec;
use crate::value::compare_values;

const OP: &str = "$setWindowFields";

/// Most documents one `$setWindowFields` reads across the windows it cannot compute in one
/// pass (a sliding window reads each of its documents once per position).
pub const MAX_WINDOW_VISITS: usize = 20_000_000;

#[derive(Debug, Clone)]
pub(crate) struct SetWindowFields {
    partition: Option<Expr>,
    sort: Option<SortSpec>,
    /// The single `sortBy` field, for range windows.
    sort_field: Option<Expr>,
    outputs: Vec<Output>,
    /// [`MAX_WINDOW_VISITS`], smaller in tests.
    max_visits: usize,
}

#[derive(Debug, Clone)]
struct Output {
    path: Vec<String>,
    function: Function,
    window: Window,
}

#[derive(Debug, Clone)]
enum Function {
    Accumulate(ListAccumulator),
    Rank,
    DenseRank,
    DocumentNumber,
    Shift {
        output: Expr,
        by: i64,
        /// The value past the partition's ends (a constant).
        default: Option<Bson>,
    },
    Locf(Expr),
    /// `$linearFill`: nulls between two numbers interpolated along the `sortBy` field.
    LinearFill(Expr),
    /// `$derivative`: rise over run between the window's first and last documents, the run
    /// in `unit`s (milliseconds each) of a date `sortBy`, else in its numbers.
    Derivative {
        input: Expr,
        unit_ms: Option<i64>,
    },
    /// `$integral`: the area under the input along the `sortBy` field, by the trapezoidal
    /// rule, in `unit`s of a date `sortBy`.
    Integral {
        input: Expr,
        unit_ms: Option<i64>,
    },
    /// `$covariancePop` and `$covarianceSamp` of `[x, y]` pairs.
    Covariance {
        input: Expr,
        sample: bool,
    },
    /// `$expMovingAvg`: an exponentially weighted running average, `alpha` the weight of
    /// each new value.
    ExpMovingAvg {
        input: Expr,
        alpha: crate::decimal::Decimal,
    },
    /// `$minMaxScaler`: the input rescaled from its window's extremes to a constant range.
    MinMaxScaler(scaler::MinMaxScaler),
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    Unbounded,
    Current,
    /// A position (documents) or a value (range) relative to the current document.
    Offset(f64),
}

#[derive(Debug, Clone)]
enum Window {
    Documents(Bound, Bound),
    Range(Bound, Bound, Option<String>),
}

impl Window {
    /// Whether documents leave the window as it moves (a bounded lower end): MongoDB runs
    /// such windows through its removable window functions, the others through the
    /// `$group` accumulators.
    fn removable(&self) -> bool {
        let (Window::Documents(lower, _) | Window::Range(lower, _, _)) = self;
        !matches!(lower, Bound::Unbounded)
    }
}

impl SetWindowFields {
    pub(crate) fn compile(spec: &Document) -> Result<SetWindowFields> {
        let mut partition = None;
        let mut sort = None;
        let mut sort_field = None;
        let mut outputs = None;
        // Why `sortBy` cannot order a range window, if it cannot.
        let mut range_sort_problem = None;
        for (key, value) in spec {
            match key.as_str() {
                "partitionBy" => partition = Some(Expr::compile(value)?),
                "sortBy" => {
                    let Bson::Document(by) = value else {
                        return Err(MqlError::parse(format!(
                            "`{OP}` requires `sortBy` to be an object"
                        )));
                    };
                    range_sort_problem = by
                        .values()
                        .next()
                        .filter(|direction| crate::value::as_f64(direction) != Some(1.0))
                        .map(|_| "Range-based bounds require an ascending sortBy");
                    if by.len() == 1 {
                        if let Some(field) = by.keys().next() {
                            FieldPath::parse(field)?;
                            sort_field = Some(Expr::compile(&Bson::String(format!("${field}")))?);
                        }
                    }
                    sort = Some(SortSpec::compile(by)?);
                }
                "output" => {
                    let Bson::Document(fields) = value else {
                        return Err(MqlError::parse(format!(
                            "`{OP}` requires `output` to be an object"
                        )));
                    };
                    outputs = Some(fields);
                }
                other => {
                    return Err(MqlError::parse(format!(
                        "`{OP}` found an unknown argument `{other}`"
                    )))
                }
            }
        }
        let fields = outputs.ok_or_else(|| MqlError::parse(format!("`{OP}` requires `output`")))?;
        let mut compiled = Vec::with_capacity(fields.len());
        for (field, value) in fields {
            compiled.push(compile_output(
                field,
                value,
                sort.is_some(),
                sort_field.is_some(),
            )?);
        }
        let ranged = compiled
            .iter()
            .any(|output| matches!(output.window, Window::Range(..)));
        if let (true, Some(problem)) = (ranged, range_sort_problem) {
            return Err(MqlError::parse(problem));
        }
        Ok(SetWindowFields {
            partition,
            sort,
            sort_field,
            outputs: compiled,
            max_visits: MAX_WINDOW_VISITS,
        })
    }

    pub(crate) fn run(&self, docs: Vec<Document>, vars: &Variables) -> Result<Vec<Document>> {
        let mut keyed = Vec::with_capacity(docs.len());
        for doc in docs {
            let key = match &self.partition {
                Some(expr) => expr.evaluate(&doc, vars)?.unwrap_or(Bson::Null),
                None => Bson::Null,
            };
            keyed.push((key, doc));
        }
        keyed.sort_by(|(a_key, a), (b_key, b)| {
            compare_values(a_key, b_key).then_with(|| match &self.sort {
                Some(spec) => spec.compare(a, b),
                None => Ordering::Equal,
            })
        });
        let mut out = Vec::with_capacity(keyed.len());
        let (mut visits, mut bytes) = (0, 0);
        // Partitions are runs of keys equal by value (1 and 1.0 are one partition).
        let mut partition: Vec<Document> = Vec::new();
        let mut current: Option<Bson> = None;
        for (key, doc) in keyed {
            let same = current
                .as_ref()
                .is_some_and(|current| compare_values(current, &key) == Ordering::Equal);
            if !same && !partition.is_empty() {
                let done = std::mem::take(&mut partition);
                out.extend(self.run_partition(done, vars, &mut visits, &mut bytes)?);
            }
            if !same {
                current = Some(key);
            }
            partition.push(doc);
        }
        if !partition.is_empty() {
            out.extend(self.run_partition(partition, vars, &mut visits, &mut bytes)?);
        }
        Ok(out)
    }

    fn run_partition(
        &self,
        docs: Vec<Document>,
        vars: &Variables,
        visits: &mut usize,
        bytes: &mut usize,
    ) -> Result<Vec<Document>> {
        let mut values: Vec<Vec<Bson>> = Vec::with_capacity(self.outputs.len());
        for output in &self.outputs {
            values.push(self.compute(output, &docs, vars, visits, bytes)?);
        }
        let mut out = docs;
        for (output, column) in self.outputs.iter().zip(values) {
            for (doc, value) in out.iter_mut().zip(column) {
                set_path(doc, &output.path, value);
            }
        }
        Ok(out)
    }

    /// One output's value for every document of a partition.
    fn compute(
        &self,
        output: &Output,
        docs: &[Document],
        vars: &Variables,
        visits: &mut usize,
        bytes: &mut usize,
    ) -> Result<Vec<Bson>> {
        let count = docs.len();
        let mut column = Vec::with_capacity(count);
        match &output.function {
            Function::DocumentNumber => {
                column.extend((1..=count).map(int_or_long));
            }
            Function::Rank | Function::DenseRank => {
                let dense = matches!(output.function, Function::DenseRank);
                let (mut rank, mut distinct) = (0i64, 0i64);
                for (index, doc) in docs.iter().enumerate() {
                    let tied = index > 0
                        && docs.get(index - 1).zip(self.sort.as_ref()).is_some_and(
                            |(previous, spec)| spec.compare(previous, doc) == Ordering::Equal,
                        );
                    if !tied {
                        rank = i64::try_from(index).unwrap_or(i64::MAX) + 1;
                        distinct += 1;
                    }
                    let value = if dense { distinct } else { rank };
                    column.push(int_or_long(usize::try_from(value).unwrap_or(usize::MAX)));
                }
            }
            Function::Shift {
                output,
                by,
                default,
            } => {
                for index in 0..count {
                    let target = i64::try_from(index).ok().and_then(|i| i.checked_add(*by));
                    let shifted = target
                        .and_then(|t| usize::try_from(t).ok())
                        .and_then(|t| docs.get(t));
                    let value = match (shifted, default) {
                        (Some(doc), _) => output.evaluate(doc, vars)?,
                        (None, Some(default)) => Some(default.clone()),
                        (None, None) => None,
                    };
                    column.push(value.unwrap_or(Bson::Null));
                }
            }
            Function::Locf(expr) => {
                let mut last = Bson::Null;
                for doc in docs {
                    match expr.evaluate(doc, vars)? {
                        Some(value) if !matches!(value, Bson::Null | Bson::Undefined) => {
                            last = value.clone();
                            column.push(value);
                        }
                        _ => column.push(last.clone()),
                    }
                }
            }
            Function::Accumulate(accumulator) => {
                let windows = self.windows(output, docs, vars)?;
                let sliding: Option<Box<dyn removable::Removable>> =
                    match (accumulator.name(), output.window.removable()) {
                        ("$sum", true) => Some(Box::<removable::RemovableSum>::default()),
                        ("$avg", true) => Some(Box::<removable::RemovableAvg>::default()),
                        ("$stdDevPop", true) => Some(Box::new(removable::StdDev::new(false))),
                        ("$stdDevSamp", true) => Some(Box::new(removable::StdDev::new(true))),
                        _ => None,
                    };
                column = match sliding {
                    Some(mut state) => {
                        let value = |at: usize| -> Result<Bson> {
                            let doc = docs.get(at).ok_or_else(missing_document)?;
                            Ok(accumulator.input(doc, vars)?.unwrap_or(Bson::Null))
                        };
                        let column = removable::slide(&windows, value, state.as_mut(), visits)?;
                        self.check_visits(*visits)?;
                        column
                    }
                    None => {
                        let budget = (visits, self.max_visits);
                        accumulate(accumulator, docs, &windows, vars, budget, bytes)?
                    }
                };
            }
            Function::LinearFill(input) => column = self.linear_fill(input, docs, vars)?,
            Function::Integral { input, unit_ms } => {
                let windows = self.windows(output, docs, vars)?;
                let point = |at: usize| -> Result<Bson> {
                    let doc = docs.get(at).ok_or_else(missing_document)?;
                    self.integral_point(input, *unit_ms, doc, vars)
                };
                let mut state = removable::Integral::new(*unit_ms);
                column = removable::slide(&windows, point, &mut state, visits)?;
                self.check_visits(*visits)?;
            }
            Function::Covariance { input, sample } => {
                // The server runs `WindowFunctionCovariance` for every window, growing or
                // sliding.
                let windows = self.windows(output, docs, vars)?;
                let pair = |at: usize| -> Result<Bson> {
                    let doc = docs.get(at).ok_or_else(missing_document)?;
                    Ok(input.evaluate(doc, vars)?.unwrap_or(Bson::Null))
                };
                let mut state = removable::Covariance::new(*sample);
                column = removable::slide(&windows, pair, &mut state, visits)?;
                self.check_visits(*visits)?;
            }
            Function::ExpMovingAvg { input, alpha } => {
                column = self.exp_moving_avg(input, *alpha, docs, vars)?;
            }
            Function::MinMaxScaler(scaler) => {
                let inputs = scaler.inputs(docs, vars)?;
                let windows = self.windows(output, docs, vars)?;
                let growing = !output.window.removable();
                column = scaler.column(&inputs, &windows, growing, visits, self.max_visits)?;
            }
            Function::Derivative { input, unit_ms } => {
                for (first, last) in self.windows(output, docs, vars)? {
                    let (Some(left), Some(right)) = (docs.get(first), docs.get(last)) else {
                        column.push(Bson::Null);
                        continue;
                    };
                    column.push(self.derivative(input, *unit_ms, left, right, vars)?);
                }
            }
        }
        Ok(column)
    }

    /// The window of every document of a partition, as `(first, last)` positions (empty when
    /// first > last).
    fn windows(
        &self,
        output: &Output,
        docs: &[Document],
        vars: &Variables,
    ) -> Result<Vec<(usize, usize)>> {
        let count = docs.len();
        let keys = match &output.window {
            Window::Range(..) => Some(self.range_keys(docs, &output.window, vars)?),
            Window::Documents(..) => None,
        };
        let mut windows = Vec::with_capacity(count);
        for index in 0..count {
            windows.push(match (&output.window, &keys) {
                (Window::Documents(lower, upper), _) => {
                    documents_window(*lower, *upper, index, count)
                }
                (Window::Range(lower, upper, unit), Some(keys)) => {
                    range_window(*lower, *upper, unit.as_deref(), keys, index)?
                }
                _ => (1, 0),
            });
        }
        Ok(windows)
    }

    /// `$linearFill` over a partition, as MongoDB's `window_function_exec_linear_fill.cpp`:
    /// values must be numbers or nullish, `sortBy` values numbers or dates (not both) and never
    /// repeated; a null between two numbers becomes `y1 + (x - x1) * ((y2 - y1) / (x2 - x1))`
    /// in expression arithmetic, other nulls stay null.
    fn linear_fill(&self, input: &Expr, docs: &[Document], vars: &Variables) -> Result<Vec<Bson>> {
        let op = "$linearFill";
        let mut points: Vec<(Bson, Option<Bson>)> = Vec::with_capacity(docs.len());
        for doc in docs {
            let value = match input.evaluate(doc, vars)? {
                None | Some(Bson::Null | Bson::Undefined) => None,
                Some(value) if crate::value::is_number(&value) => Some(value),
                Some(other) => {
                    return Err(MqlError::type_mismatch(format!(
                        "`{op}`: the value to fill must be a number or null, found {}",
                        crate::value::type_name(&other)
                    )))
                }
            };
            let x = match &self.sort_field {
                Some(field) => field.evaluate(doc, vars)?,
                None => None,
            };
            let x = match x {
                Some(x) if crate::value::is_number(&x) || matches!(x, Bson::DateTime(_)) => x,
                other => {
                    return Err(MqlError::type_mismatch(format!(
                        "`{op}`: the `sortBy` field must be a number or a date, found {}",
                        other.as_ref().map_or("missing", crate::value::type_name)
                    )))
                }
            };
            if let Some((previous, _)) = points.last() {
                if matches!(previous, Bson::DateTime(_)) != matches!(x, Bson::DateTime(_)) {
                    return Err(MqlError::type_mismatch(format!(
                        "`{op}`: the `sortBy` field mixes numbers and dates"
                    )));
                }
                if compare_values(previous, &x) == Ordering::Equal {
                    return Err(MqlError::bad_value(format!(
                        "`{op}`: there can be no repeated values in the `sortBy` field"
                    )));
                }
            }
            points.push((x, value));
        }
        // The next known point after each position.
        let mut next: Vec<Option<usize>> = vec![None; points.len()];
        let mut seen = None;
        for (index, (_, value)) in points.iter().enumerate().rev() {
            if let Some(slot) = next.get_mut(index) {
                *slot = seen;
            }
            if value.is_some() {
                seen = Some(index);
            }
        }
        let mut column = Vec::with_capacity(points.len());
        let mut previous: Option<usize> = None;
        for (index, (x, value)) in points.iter().enumerate() {
            if let Some(value) = value {
                previous = Some(index);
                column.push(value.clone());
                continue;
            }
            let known = |at: Option<usize>| {
                at.and_then(|at| points.get(at))
                    .and_then(|(x, y)| y.as_ref().map(|y| (x.clone(), y.clone())))
            };
            let after = next.get(index).copied().flatten();
            let (Some((x1, y1)), Some((x2, y2))) = (known(previous), known(after)) else {
                column.push(Bson::Null);
                continue;
            };
            let value = |v: Option<Bson>| v.unwrap_or(Bson::Null);
            let slope = arithmetic(
                "$divide",
                value(arithmetic("$subtract", y2, y1.clone())?),
                value(arithmetic("$subtract", x2, x1.clone())?),
            )?;
            let offset = arithmetic(
                "$multiply",
                value(arithmetic("$subtract", x.clone(), x1)?),
                value(slope),
            )?;
            column.push(value(arithmetic("$add", y1, value(offset))?));
        }
        Ok(column)
    }

    /// `$derivative` between two documents, as MongoDB's `window_function_exec_derivative.cpp`
    /// computes it: `$subtract` for rise and run, null when the run is zero, `$divide`, then
    /// `$multiply` by the unit's milliseconds.
    fn derivative(
        &self,
        input: &Expr,
        unit_ms: Option<i64>,
        left: &Document,
        right: &Document,
        vars: &Variables,
    ) -> Result<Bson> {
        let time = |doc: &Document| -> Result<Bson> {
            let value = match &self.sort_field {
                Some(field) => field.evaluate(doc, vars)?,
                None => None,
            };
            let fits = match (&value, unit_ms) {
                (Some(Bson::DateTime(_)), Some(_)) => true,
                (Some(value), None) => crate::value::number(value).is_some(),
                _ => false,
            };
            if !fits {
                return Err(MqlError::type_mismatch(match unit_ms {
                    Some(_) => "`$derivative` with `unit` requires the `sortBy` field to be a date",
                    None => "`$derivative` without `unit` requires the `sortBy` field to be a number (a date needs `unit`)",
                }));
            }
            Ok(value.unwrap_or(Bson::Null))
        };
        let (from, to) = (time(left)?, time(right)?);
        let run = arithmetic("$subtract", to, from)?.unwrap_or(Bson::Null);
        let value = |doc: &Document| -> Result<Bson> {
            Ok(input.evaluate(doc, vars)?.unwrap_or(Bson::Null))
        };
        let rise = arithmetic("$subtract", value(right)?, value(left)?)?;
        if matches!(rise, None | Some(Bson::Null | Bson::Undefined)) {
            return Err(MqlError::type_mismatch(
                "`$derivative` input must not be null or missing",
            ));
        }
        if crate::value::number(&run).is_some_and(|run| run.as_f64() == 0.0) {
            return Ok(Bson::Null);
        }
        let rise = rise.unwrap_or(Bson::Null);
        let mut result = arithmetic("$divide", rise, run)?.unwrap_or(Bson::Null);
        if let Some(unit_ms) = unit_ms {
            result = arithmetic("$multiply", result, Bson::Int64(unit_ms))?.unwrap_or(Bson::Null);
        }
        Ok(result)
    }

    /// The `sortBy` value of every document, as a number (or a date's milliseconds with a
    /// `unit`), for range windows.
    fn range_keys(&self, docs: &[Document], window: &Window, vars: &Variables) -> Result<Vec<f64>> {
        let Window::Range(_, _, unit) = window else {
            return Ok(Vec::new());
        };
        let Some(field) = &self.sort_field else {
            return Err(MqlError::bad_value(format!(
                "`{OP}`: a range window requires `sortBy` with exactly one field"
            )));
        };
        docs.iter()
            .map(|doc| {
                let value = field.evaluate(doc, vars)?;
                match (value, unit) {
                    (Some(Bson::DateTime(when)), Some(_)) => Ok(when.timestamp_millis() as f64),
                    (Some(value), None) => crate::value::as_f64(&value)
                        .ok_or_else(|| not_a_number(Some(&value), "a number")),
                    (other, Some(_)) => Err(not_a_number(other.as_ref(), "a date")),
                    (None, None) => Err(not_a_number(None, "a number")),
                }
            })
            .collect()
    }
}

impl SetWindowFields {
    fn check_visits(&self, visits: usize) -> Result<()> {
        check_visits(visits, self.max_visits)
    }
}

/// The error once the windows have read more than `max_visits` documents in all.
fn check_visits(visits: usize, max_visits: usize) -> Result<()> {
    if visits > max_visits {
        return Err(MqlError::limit(format!(
            "`{OP}` would read more than {max_visits} documents across its windows; use \
             smaller windows or partitions"
        )));
    }
    Ok(())
}

fn missing_document() -> MqlError {
    MqlError::bad_value(format!("`{OP}`: a window reached past its partition"))
}

/// A position or rank: an int, or a long past 32 bits.
fn int_or_long(n: usize) -> Bson {
    match i32::try_from(n) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX)),
    }
}

/// The accumulator over each window (`(first, last)` positions; empty when first > last).
/// Windows that all start at the partition's first document and whose ends do not go back
/// (cumulative totals, the whole partition) take one pass; others read each window, counted
/// against [`MAX_WINDOW_VISITS`].
fn accumulate(
    accumulator: &ListAccumulator,
    docs: &[Document],
    windows: &[(usize, usize)],
    vars: &Variables,
    (visits, max_visits): (&mut usize, usize),
    bytes: &mut usize,
) -> Result<Vec<Bson>> {
    let ends: Vec<usize> = windows
        .iter()
        .map(|&(first, last)| if first > last { 0 } else { last + 1 })
        .collect();
    let prefixes = windows
        .iter()
        .zip(&ends)
        .all(|(&(first, last), &end)| first == 0 || first > last || end == 0)
        && ends.windows(2).all(|pair| matches!(pair, [a, b] if a <= b));
    let mut column = Vec::with_capacity(windows.len());
    let mut keep = |value: Bson, bytes: &mut usize| -> Result<()> {
        *bytes = bytes.saturating_add(approximate_size(&value, MAX_GROUP_STAGE_BYTES));
        if *bytes > MAX_GROUP_STAGE_BYTES {
            return Err(MqlError::limit(format!(
                "`{OP}` computed more than {MAX_GROUP_STAGE_BYTES} bytes of values"
            )));
        }
        column.push(value);
        Ok(())
    };
    if prefixes {
        *visits = visits.saturating_add(docs.len());
        accumulator.evaluate_prefixes(docs, &ends, vars, |value| keep(value, bytes))?;
        return Ok(column);
    }
    for &(first, last) in windows {
        let window = docs.get(first..=last).unwrap_or_default();
        *visits = visits.saturating_add(window.len());
        check_visits(*visits, max_visits)?;
        keep(accumulator.evaluate(window.iter(), vars)?, bytes)?;
    }
    Ok(column)
}

fn not_a_number(value: Option<&Bson>, wanted: &str) -> MqlError {
    MqlError::type_mismatch(format!(
        "`{OP}`: a range window requires the `sortBy` field to be {wanted}, found {}",
        value.map_or("missing", crate::value::type_name)
    ))
}

/// The first and last positions of a documents window at `index` (empty when first > last).
fn documents_window(lower: Bound, upper: Bound, index: usize, count: usize) -> (usize, usize) {
    let at = |bound: Bound, unbounded: i64| -> i64 {
        match bound {
            Bound::Unbounded => unbounded,
            Bound::Current => i64::try_from(index).unwrap_or(i64::MAX),
            Bound::Offset(offset) => i64::try_from(index)
                .unwrap_or(i64::MAX)
                .saturating_add(offset as i64),
        }
    };
    let last = i64::try_from(count).unwrap_or(i64::MAX) - 1;
    let low = at(lower, 0).max(0);
    let high = at(upper, last).min(last);
    if low > high {
        return (1, 0);
    }
    (
        usize::try_from(low).unwrap_or(0),
        usize::try_from(high).unwrap_or(0),
    )
}

/// The positions of the documents whose key lies within the range around document `index`,
/// as MongoDB's `PartitionIterator::getEndpointsRangeBased` finds them over keys in ascending
/// order: `"current"` is the current document's position (not every document with its key),
/// `"unbounded"` the partition's end, and an offset the first (last) document whose key is not
/// below (not above) the current key plus the offset. Keys compare in MongoDB's order, with
/// NaN below every number and equal to itself. Binary searches: a partition costs
/// `n log n` whatever its windows.
fn range_window(
    lower: Bound,
    upper: Bound,
    unit: Option<&str>,
    keys: &[f64],
    index: usize,
) -> Result<(usize, usize)> {
    const EMPTY: (usize, usize) = (1, 0);
    let Some(&current) = keys.get(index) else {
        return Ok(EMPTY);
    };
    let threshold = |offset: f64| -> Result<f64> {
        Ok(match unit {
            // A date moved by whole units on the calendar, as `$dateAdd` moves it.
            Some(unit) => crate::expr::add_in_utc(OP, current as i64, unit, offset as i64)? as f64,
            None => current + offset,
        })
    };
    let first = match lower {
        Bound::Current => index,
        Bound::Unbounded => 0,
        Bound::Offset(offset) => {
            let threshold = threshold(offset)?;
            keys.partition_point(|&key| key_below(key, threshold))
        }
    };
    let last = match upper {
        Bound::Current => index,
        Bound::Unbounded => keys.len().saturating_sub(1),
        Bound::Offset(offset) => {
            let threshold = threshold(offset)?;
            // The first key above the threshold ends the window.
            let end = keys.partition_point(|&key| !key_below(threshold, key));
            if end <= first {
                return Ok(EMPTY);
            }
            end - 1
        }
    };
    Ok(if first <= last { (first, last) } else { EMPTY })
}

/// `a < b` in MongoDB's order of numbers: NaN below every number and equal to itself.
fn key_below(a: f64, b: f64) -> bool {
    match (a.is_nan(), b.is_nan()) {
        (true, true) | (false, true) => false,
        (true, false) => true,
        (false, false) => a < b,
    }
}

fn compile_output(field: &str, value: &Bson, sorted: bool, one_sort_field: bool) -> Result<Output> {
    let path = FieldPath::parse(field)
        .map_err(|_| MqlError::parse(format!("`{OP}`: invalid output field `{field}`")))?;
    if path.parts().iter().any(|part| part.starts_with('$')) {
        return Err(MqlError::parse(format!(
            "`{OP}`: output field `{field}` may not start with `$`"
        )));
    }
    let Bson::Document(spec) = value else {
        return Err(MqlError::parse(format!(
            "`{OP}`: output field `{field}` must be an object with a window function"
        )));
    };
    let mut function = None;
    let mut window = None;
    for (key, argument) in spec {
        if key == "window" {
            window = Some(argument);
        } else if function.is_some() {
            return Err(MqlError::parse(format!(
                "`{OP}`: output field `{field}` has more than one window function"
            )));
        } else {
            function = Some((key.as_str(), argument));
        }
    }
    let Some((name, argument)) = function else {
        return Err(MqlError::parse(format!(
            "`{OP}`: output field `{field}` has no window function"
        )));
    };
    let needs_sort = |what: &str| MqlError::parse(format!("`{OP}`: `{what}` requires `sortBy`"));
    let needs_one_field = |what: &str| {
        MqlError::parse(format!(
            "`{OP}`: `{what}` requires `sortBy` with exactly one field"
        ))
    };
    let no_window =
        |what: &str| MqlError::parse(format!("`{OP}`: `{what}` does not accept a `window`"));
    let function = match name {
        "$rank" | "$denseRank" | "$documentNumber" => {
            if !matches!(argument, Bson::Document(doc) if doc.is_empty()) {
                return Err(MqlError::parse(format!(
                    "`{name}` takes no arguments: `{{}}`"
                )));
            }
            if !one_sort_field {
                return Err(needs_one_field(name));
            }
            if window.is_some() {
                return Err(no_window(name));
            }
            match name {
                "$rank" => Function::Rank,
                "$denseRank" => Function::DenseRank,
                _ => Function::DocumentNumber,
            }
        }
        "$shift" => {
            if !sorted {
                return Err(needs_sort(name));
            }
            if window.is_some() {
                return Err(no_window(name));
            }
            compile_shift(argument)?
        }
        "$locf" => {
            if window.is_some() {
                return Err(no_window(name));
            }
            Function::Locf(Expr::compile(argument)?)
        }
        "$linearFill" => {
            if !one_sort_field {
                return Err(needs_one_field(name));
            }
            if window.is_some() {
                return Err(no_window(name));
            }
            Function::LinearFill(Expr::compile(argument)?)
        }
        "$covariancePop" | "$covarianceSamp" => Function::Covariance {
            input: Expr::compile(argument)?,
            sample: name == "$covarianceSamp",
        },
        "$derivative" => {
            if !one_sort_field {
                return Err(needs_one_field(name));
            }
            if window.is_none() {
                return Err(MqlError::parse(format!(
                    "`{name}` requires explicit window bounds"
                )));
            }
            let (input, unit_ms) = series::input_and_unit(name, argument)?;
            Function::Derivative { input, unit_ms }
        }
        "$integral" => {
            if !one_sort_field {
                return Err(needs_one_field(name));
            }
            series::compile_integral(argument)?
        }
        "$expMovingAvg" => {
            if !sorted {
                return Err(needs_sort(name));
            }
            if window.is_some() {
                return Err(no_window(name));
            }
            series::compile_exp_moving_avg(argument)?
        }
        "$minMaxScaler" => Function::MinMaxScaler(scaler::MinMaxScaler::compile(argument)?),
        _ if ListAccumulator::known(name) => {
            Function::Accumulate(ListAccumulator::compile(field, name, argument)?)
        }
        _ => return Err(MqlError::unknown_operator(name, "window function")),
    };
    let window = match window {
        None => Window::Documents(Bound::Unbounded, Bound::Unbounded),
        Some(spec) => compile_window(spec, sorted, one_sort_field)?,
    };
    if matches!(function, Function::MinMaxScaler(_)) {
        scaler::MinMaxScaler::check_window(&window)?;
    }
    Ok(Output {
        path: path.parts().to_vec(),
        function,
        window,
    })
}

fn compile_shift(argument: &Bson) -> Result<Function> {
    let Bson::Document(spec) = argument else {
        return Err(MqlError::parse("`$shift` requires an object"));
    };
    let mut output = None;
    let mut by = None;
    let mut default = None;
    for (key, value) in spec {
        match key.as_str() {
            "output" => output = Some(Expr::compile(value)?),
            "by" => by = Some(integral("$shift", "`by`", Some(value))?),
            "default" => {
                // Folded first, as the server's `optimize()` does: `{$add: [1, 2]}` is 3.
                let Some(folded) = Expr::compile(value)?.folded() else {
                    return Err(MqlError::parse(
                        "'$shift:default' expression must yield a constant value.",
                    ));
                };
                default = Some(folded?.unwrap_or(Bson::Null));
            }
            other => {
                return Err(MqlError::parse(format!(
                    "`$shift` found an unknown argument `{other}`"
                )))
            }
        }
    }
    Ok(Function::Shift {
        output: output.ok_or_else(|| MqlError::parse("`$shift` requires `output`"))?,
        by: by.ok_or_else(|| MqlError::parse("`$shift` requires `by`"))?,
        default,
    })
}

fn compile_window(spec: &Bson, sorted: bool, one_sort_field: bool) -> Result<Window> {
    let Bson::Document(spec) = spec else {
        return Err(MqlError::parse(format!(
            "`{OP}`: `window` must be an object"
        )));
    };
    let mut documents = None;
    let mut range = None;
    let mut unit = None;
    for (key, value) in spec {
        match key.as_str() {
            "documents" => documents = Some(bounds(value, "documents")?),
            "range" => range = Some(bounds(value, "range")?),
            "unit" => match value {
                Bson::String(name) if is_time_unit(name) => unit = Some(name.clone()),
                _ => {
                    return Err(MqlError::bad_value(format!(
                        "`{OP}`: `unit` must be a time unit (year to millisecond), found {value}"
                    )))
                }
            },
            other => {
                return Err(MqlError::parse(format!(
                    "`{OP}`: `window` found an unknown argument `{other}`"
                )))
            }
        }
    }
    match (documents, range) {
        (Some(_), Some(_)) => Err(MqlError::parse(format!(
            "`{OP}`: a window has either `documents` or `range`, not both"
        ))),
        (Some((lower, upper)), None) => {
            if unit.is_some() {
                return Err(MqlError::parse(format!(
                    "`{OP}`: `unit` goes with a `range` window only"
                )));
            }
            let bounded = !matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded));
            if bounded && !sorted {
                return Err(MqlError::parse(format!(
                    "`{OP}`: a bounded `documents` window requires `sortBy`"
                )));
            }
            ordered(lower, upper)?;
            Ok(Window::Documents(lower, upper))
        }
        (None, Some((lower, upper))) => {
            if !one_sort_field {
                return Err(MqlError::parse(format!(
                    "`{OP}`: a `range` window requires `sortBy` with exactly one field"
                )));
            }
            if unit.is_some()
                && [lower, upper]
                    .iter()
                    .any(|bound| matches!(bound, Bound::Offset(f) if f.fract() != 0.0))
            {
                return Err(MqlError::bad_value(format!(
                    "`{OP}`: with a `unit`, range bounds must be whole numbers"
                )));
            }
            ordered(lower, upper)?;
            Ok(Window::Range(lower, upper, unit))
        }
        (None, None) => Err(MqlError::parse(format!(
            "`{OP}`: a window needs `documents` or `range`"
        ))),
    }
}

/// A window's two bounds.
fn bounds(value: &Bson, kind: &str) -> Result<(Bound, Bound)> {
    let Bson::Array(items) = value else {
        return Err(MqlError::parse(format!(
            "`{OP}`: `{kind}` must be an array of two bounds"
        )));
    };
    let [lower, upper] = items.as_slice() else {
        return Err(MqlError::parse(format!(
            "`{OP}`: `{kind}` must be an array of two bounds"
        )));
    };
    let bound = |value: &Bson| -> Result<Bound> {
        match value {
            Bson::String(text) if text == "unbounded" => Ok(Bound::Unbounded),
            Bson::String(text) if text == "current" => Ok(Bound::Current),
            other => match crate::value::as_f64(other) {
                Some(offset) if offset.is_finite() && (kind == "range" || offset.fract() == 0.0) => {
                    Ok(Bound::Offset(offset))
                }
                _ => Err(MqlError::bad_value(format!(
                    "`{OP}`: a `{kind}` bound must be \"unbounded\", \"current\" or {}, found {other}",
                    if kind == "range" { "a number" } else { "an integer" }
                ))),
            },
        }
    };
    Ok((bound(lower)?, bound(upper)?))
}

/// The lower bound may not come after the upper one.
fn ordered(lower: Bound, upper: Bound) -> Result<()> {
    let position = |bound: Bound, unbounded: f64| match bound {
        Bound::Unbounded => unbounded,
        Bound::Current => 0.0,
        Bound::Offset(offset) => offset,
    };
    if position(lower, f64::NEG_INFINITY) <= position(upper, f64::INFINITY) {
        return Ok(());
    }
    Err(MqlError::bad_value(format!(
        "`{OP}`: the lower bound of a window must not be after its upper bound"
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use bson::doc;

    use super::*;

    fn stage(window: Bson) -> SetWindowFields {
        let mut stage = SetWindowFields::compile(&doc! {
            "sortBy": { "i": 1 },
            "output": { "s": { "$sum": "$i", "window": window } },
        })
        .unwrap();
        stage.max_visits = 1000;
        stage
    }

    fn docs(count: i32) -> Vec<Document> {
        (0..count).map(|i| doc! { "i": i }).collect()
    }

    #[test]
    fn windows_from_the_first_document_take_one_pass() {
        // 2,000 documents: reading each cumulative window would be 2,001,000 visits.
        for (window, first) in [
            (doc! { "documents": ["unbounded", "current"] }, 0),
            (doc! { "documents": ["unbounded", "unbounded"] }, 1_999_000),
            (doc! { "range": ["unbounded", 0] }, 0),
        ] {
            let out = stage(Bson::Document(window))
                .run(docs(2000), &Variables::new())
                .unwrap();
            assert_eq!(out.len(), 2000);
            assert_eq!(out.first().unwrap().get("s"), Some(&Bson::Int32(first)));
        }
        let out = stage(Bson::Document(
            doc! { "documents": ["unbounded", "current"] },
        ))
        .run(docs(2000), &Variables::new())
        .unwrap();
        assert_eq!(out.last().unwrap().get("s"), Some(&Bson::Int32(1_999_000)));
    }

    #[test]
    fn the_values_computed_are_bounded() {
        let stage = SetWindowFields::compile(&doc! {
            "sortBy": { "i": 1 },
            "output": { "all": { "$push": "$s", "window": { "documents": ["unbounded", "current"] } } },
        })
        .unwrap();
        let text = "x".repeat(100);
        let docs: Vec<Document> = (0..3000)
            .map(|i| doc! { "i": i, "s": text.as_str() })
            .collect();
        let error = stage.run(docs, &Variables::new()).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::LimitExceeded);
        assert!(error.message().contains("bytes of values"), "{error}");
    }

    #[test]
    fn sliding_windows_are_bounded() {
        let sliding = stage(Bson::Document(doc! { "documents": [-100, 0] }));
        let error = sliding.run(docs(2000), &Variables::new()).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::LimitExceeded);
        assert!(error.message().contains("1000 documents"), "{error}");
        // Small enough to fit.
        let out = sliding.run(docs(9), &Variables::new()).unwrap();
        assert_eq!(out.last().unwrap().get("s"), Some(&Bson::Int32(36)));
    }
}
