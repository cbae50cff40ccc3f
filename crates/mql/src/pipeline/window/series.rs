//! Window functions over a series ordered by its single `sortBy` field: `$integral` (the
//! trapezoidal rule, `window_function_integral.cpp`) and `$expMovingAvg`
//! (`accumulator_exp_moving_avg.cpp`).

use bson::{Bson, Document};

use super::{Function, SetWindowFields};
use crate::decimal::Decimal;
use crate::error::{MqlError, Result};
use crate::expr::{Expr, Num, Variables};

/// A `unit` of `$derivative` or `$integral` in milliseconds: a week or shorter, since longer
/// units vary in length.
fn unit_millis(op: &str, value: &Bson) -> Result<i64> {
    let millis = match value {
        Bson::String(unit) => match unit.as_str() {
            "week" => Some(604_800_000),
            "day" => Some(86_400_000),
            "hour" => Some(3_600_000),
            "minute" => Some(60_000),
            "second" => Some(1_000),
            "millisecond" => Some(1),
            _ => None,
        },
        _ => None,
    };
    millis.ok_or_else(|| {
        MqlError::bad_value(format!(
            "`{op}` requires `unit` to be \"week\" or a shorter unit (day, hour, minute, second, \
             millisecond), found {value}"
        ))
    })
}

/// `{$integral: {input, unit}}`.
pub(super) fn compile_integral(argument: &Bson) -> Result<Function> {
    let (input, unit_ms) = input_and_unit("$integral", argument)?;
    Ok(Function::Integral { input, unit_ms })
}

/// The `{input, unit}` argument of `$derivative` and `$integral`.
pub(super) fn input_and_unit(op: &str, argument: &Bson) -> Result<(Expr, Option<i64>)> {
    let Bson::Document(spec) = argument else {
        return Err(MqlError::parse(format!("`{op}` requires an object")));
    };
    let mut input = None;
    let mut unit_ms = None;
    for (key, value) in spec {
        match key.as_str() {
            "input" => input = Some(Expr::compile(value)?),
            "unit" => unit_ms = Some(unit_millis(op, value)?),
            other => {
                return Err(MqlError::parse(format!(
                    "`{op}` found an unknown argument `{other}`"
                )))
            }
        }
    }
    let input = input.ok_or_else(|| MqlError::parse(format!("`{op}` requires `input`")))?;
    Ok((input, unit_ms))
}

/// `{$expMovingAvg: {input, N}}` or `{input, alpha}`: the weight of each new value is `alpha`,
/// or `2 / (N + 1)`, kept as a decimal as the server keeps it.
pub(super) fn compile_exp_moving_avg(argument: &Bson) -> Result<Function> {
    let op = "$expMovingAvg";
    let shape = || {
        MqlError::parse(format!(
            "`{op}` requires an object with exactly two fields: `input`, and either `N` or `alpha`"
        ))
    };
    let Bson::Document(spec) = argument else {
        return Err(shape());
    };
    let (Some(input), 2) = (spec.get("input"), spec.len()) else {
        return Err(shape());
    };
    let input = Expr::compile(input)?;
    let alpha = if let Some(n) = spec.get("N") {
        let not_whole = || {
            MqlError::parse(format!(
                "`{op}` requires `N` to be a whole number (use `alpha` for other weights), \
                 found {n}"
            ))
        };
        // Read as the server's `safeNumberLong` reads it: integers exactly, other numbers
        // saturating at the ends of the int64 range.
        let n = match n {
            Bson::Int32(v) => i64::from(*v),
            Bson::Int64(v) => *v,
            other => {
                let whole = crate::value::as_f64(other)
                    .filter(|n| n.fract() == 0.0 || n.is_infinite())
                    .ok_or_else(not_whole)?;
                if whole >= 9_223_372_036_854_775_808.0 {
                    i64::MAX
                } else if whole <= -9_223_372_036_854_775_808.0 {
                    i64::MIN
                } else {
                    whole as i64
                }
            }
        };
        if n < 1 {
            return Err(MqlError::bad_value(format!(
                "`{op}` requires `N` to be greater than zero, found {n}"
            )));
        }
        Decimal::from_i64(2).divide(Decimal::from_i64(n).add(Decimal::from_i64(1)))
    } else if let Some(alpha) = spec.get("alpha") {
        let weight = Num::of(alpha)
            .map(Num::decimal)
            .ok_or_else(|| MqlError::parse(format!("`{op}` requires `alpha` to be a number")))?;
        let inside = weight.compare(Decimal::from_i64(0)).is_gt()
            && weight.compare(Decimal::from_i64(1)).is_lt();
        if !inside {
            return Err(MqlError::bad_value(format!(
                "`{op}` requires `alpha` to be between 0 and 1 (exclusive), found {alpha}"
            )));
        }
        weight
    } else {
        return Err(shape());
    };
    Ok(Function::ExpMovingAvg { input, alpha })
}

impl SetWindowFields {
    /// The point `[x, y]` of a document for `$integral`, checked as the server checks what
    /// it adds: `y` a number, `x` a date with a `unit` and a number without.
    pub(super) fn integral_point(
        &self,
        input: &Expr,
        unit_ms: Option<i64>,
        doc: &Document,
        vars: &Variables,
    ) -> Result<Bson> {
        let x = match &self.sort_field {
            Some(field) => field.evaluate(doc, vars)?,
            None => None,
        };
        let y = input.evaluate(doc, vars)?;
        let (Some(x), Some(y)) = (x, y) else {
            return Err(point_error());
        };
        let is_number = |value: &Bson| Num::of(value).is_some();
        if !is_number(&y) || !(is_number(&x) || matches!(x, Bson::DateTime(_))) {
            return Err(point_error());
        }
        match (unit_ms.is_some(), matches!(x, Bson::DateTime(_))) {
            (true, false) => {
                return Err(MqlError::type_mismatch(
                    "`$integral` with `unit` requires the `sortBy` field to be a date",
                ))
            }
            (false, true) => {
                return Err(MqlError::type_mismatch(
                    "`$integral` without `unit` requires the `sortBy` field to be a number (a \
                     date needs `unit`)",
                ))
            }
            _ => {}
        }
        Ok(Bson::Array(vec![x, y]))
    }

    /// `$expMovingAvg` over a partition in order: the first number is the average, each later
    /// one weighs `alpha` against the average's `1 - alpha`, in decimal arithmetic; values
    /// that are not numbers leave it as it was. The result is null before the first number,
    /// then a double, or a decimal once a decimal was seen.
    pub(super) fn exp_moving_avg(
        &self,
        input: &Expr,
        alpha: Decimal,
        docs: &[Document],
        vars: &Variables,
    ) -> Result<Vec<Bson>> {
        let keep = Decimal::from_i64(1).add(alpha.negate());
        let mut average: Option<Decimal> = None;
        let mut decimal = false;
        let mut column = Vec::with_capacity(docs.len());
        for doc in docs {
            if let Some(number) = input.evaluate(doc, vars)?.as_ref().and_then(Num::of) {
                decimal |= matches!(number, Num::Dec(_));
                let value = number.decimal();
                average = Some(match average {
                    None => value,
                    Some(average) => value.multiply(alpha).add(average.multiply(keep)),
                });
            }
            column.push(match average {
                None => Bson::Null,
                Some(average) if decimal => Bson::Decimal128(average.to_decimal128()),
                Some(average) => Bson::Double(average.to_f64()),
            });
        }
        Ok(column)
    }
}

fn point_error() -> MqlError {
    MqlError::type_mismatch(
        "`$integral` requires the input to be a number and the `sortBy` field a number or a date",
    )
}
