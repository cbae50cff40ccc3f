//! Trigonometric and bitwise operators, with MongoDB's domains and result types
//! (`expression_trigonometric.h`, `$bitAnd` and the others of 6.3): trigonometry gives a
//! double (a decimal for a decimal operand, computed through a double), an operand outside
//! the function's domain is an error, NaN gives NaN; bitwise operators take ints and longs only
//! and give a long when any operand is one.

use bson::Bson;

use super::super::{is_nullish, take};
use super::{eval_error, expect_number, ArithOp, Num};
use crate::error::{MqlError, Result};

/// The operator's name, and the interval its operand must lie in (`None`: any number).
fn trig_spec(op: ArithOp) -> (&'static str, Option<Domain>) {
    use ArithOp::*;
    let closed = |low, high| {
        Some(Domain {
            low,
            high,
            open: false,
        })
    };
    let finite = Some(Domain {
        low: f64::NEG_INFINITY,
        high: f64::INFINITY,
        open: true,
    });
    match op {
        Sin => ("$sin", finite),
        Cos => ("$cos", finite),
        Tan => ("$tan", finite),
        Asin => ("$asin", closed(-1.0, 1.0)),
        Acos => ("$acos", closed(-1.0, 1.0)),
        Atanh => ("$atanh", closed(-1.0, 1.0)),
        Acosh => ("$acosh", closed(1.0, f64::INFINITY)),
        Atan => ("$atan", None),
        Sinh => ("$sinh", None),
        Cosh => ("$cosh", None),
        Tanh => ("$tanh", None),
        Asinh => ("$asinh", None),
        DegreesToRadians => ("$degreesToRadians", None),
        _ => ("$radiansToDegrees", None),
    }
}

#[derive(Clone, Copy)]
struct Domain {
    low: f64,
    high: f64,
    /// Both ends excluded (the finite numbers), else both included.
    open: bool,
}

impl Domain {
    fn contains(self, x: f64) -> bool {
        if self.open {
            self.low < x && x < self.high
        } else {
            self.low <= x && x <= self.high
        }
    }

    fn describe(self) -> String {
        let show = |x: f64| {
            if x.is_infinite() {
                if x > 0.0 { "inf" } else { "-inf" }.to_owned()
            } else {
                format!("{x}")
            }
        };
        if self.open {
            format!("({},{})", show(self.low), show(self.high))
        } else {
            format!("[{},{}]", show(self.low), show(self.high))
        }
    }
}

/// A one-operand trigonometric operator.
pub(super) fn trig(op: ArithOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let (name, domain) = trig_spec(op);
    let [value] = take::<1>(args);
    let Some(value) = value.filter(|value| !is_nullish(Some(value))) else {
        return Ok(Some(Bson::Null));
    };
    let n = expect_number(name, &value)?;
    let x = n.f();
    if x.is_nan() {
        return Ok(Some(n.float_like(f64::NAN).into_bson()));
    }
    if let Some(domain) = domain {
        if !domain.contains(x) {
            return Err(eval_error(format!(
                "cannot apply `{name}` to {x}, value must be in {}",
                domain.describe()
            )));
        }
    }
    use ArithOp::*;
    let result = match op {
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Asin => x.asin(),
        Acos => x.acos(),
        Atan => x.atan(),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Tanh => x.tanh(),
        Asinh => x.asinh(),
        Acosh => x.acosh(),
        Atanh => x.atanh(),
        DegreesToRadians => x.to_radians(),
        _ => x.to_degrees(),
    };
    Ok(Some(n.float_like(result).into_bson()))
}

/// `$atan2`: the angle of the point (x, y), from `[y, x]`.
pub(super) fn atan2(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [y, x] = take::<2>(args);
    let (Some(y), Some(x)) = (
        y.filter(|value| !is_nullish(Some(value))),
        x.filter(|value| !is_nullish(Some(value))),
    ) else {
        return Ok(Some(Bson::Null));
    };
    let (y, x) = (expect_number("$atan2", &y)?, expect_number("$atan2", &x)?);
    let result = y.f().atan2(x.f());
    // A decimal operand makes a decimal result.
    let like = if matches!(x, Num::Dec(_)) { x } else { y };
    Ok(Some(like.float_like(result).into_bson()))
}

/// `$bitAnd`, `$bitOr`, `$bitXor` (any number of operands) and `$bitNot` (one).
pub(super) fn bitwise(op: ArithOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let name = match op {
        ArithOp::BitAnd => "$bitAnd",
        ArithOp::BitOr => "$bitOr",
        ArithOp::BitXor => "$bitXor",
        _ => "$bitNot",
    };
    let mut long = false;
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            None | Some(Bson::Null | Bson::Undefined) => return Ok(Some(Bson::Null)),
            Some(Bson::Int32(v)) => values.push(i64::from(v)),
            Some(Bson::Int64(v)) => {
                long = true;
                values.push(v);
            }
            Some(other) => {
                return Err(MqlError::type_mismatch(format!(
                    "all operands of `{name}` must be ints or longs, found {}",
                    crate::value::type_name(&other)
                )))
            }
        }
    }
    let result = match op {
        ArithOp::BitAnd => values.into_iter().fold(-1, |acc, v| acc & v),
        ArithOp::BitOr => values.into_iter().fold(0, |acc, v| acc | v),
        ArithOp::BitXor => values.into_iter().fold(0, |acc, v| acc ^ v),
        _ => !values.first().copied().unwrap_or(0),
    };
    Ok(Some(if long {
        Bson::Int64(result)
    } else {
        // Every operand was an int, so the result fits one.
        Bson::Int32(i32::try_from(result).unwrap_or_default())
    }))
}
