//! Arithmetic operators with MongoDB's result-type rules: int32 overflows into int64, int64
//! into double; any double makes a double, any decimal a decimal. Decimal addition,
//! subtraction, multiplication, division and rounding are exact decimal arithmetic
//! (`crate::decimal`); the transcendental functions and `$mod` compute decimals in double
//! precision.

mod more;
mod total;

pub(crate) use total::Total;

use std::cmp::Ordering;

use bson::Bson;

use super::compile::Arity;
use super::{is_nullish, take, type_of};
use crate::decimal::{Decimal, Rounding};
use crate::error::{ErrorKind, MqlError, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ArithOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Mod,
    Abs,
    Ceil,
    Floor,
    Round,
    Trunc,
    Sqrt,
    Pow,
    Exp,
    Ln,
    Log,
    Log10,
    Sum,
    Avg,
    Min,
    Max,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    DegreesToRadians,
    RadiansToDegrees,
    BitAnd,
    BitOr,
    BitXor,
    BitNot,
}

pub(crate) fn lookup(name: &str) -> Option<(ArithOp, Arity)> {
    use ArithOp::*;
    Some(match name {
        "$add" => (Add, Arity::Any),
        "$subtract" => (Subtract, Arity::Exact(2)),
        "$multiply" => (Multiply, Arity::Any),
        "$divide" => (Divide, Arity::Exact(2)),
        "$mod" => (Mod, Arity::Exact(2)),
        "$abs" => (Abs, Arity::Exact(1)),
        "$ceil" => (Ceil, Arity::Exact(1)),
        "$floor" => (Floor, Arity::Exact(1)),
        "$round" => (Round, Arity::Range(1, 2)),
        "$trunc" => (Trunc, Arity::Range(1, 2)),
        "$sqrt" => (Sqrt, Arity::Exact(1)),
        "$pow" => (Pow, Arity::Exact(2)),
        "$exp" => (Exp, Arity::Exact(1)),
        "$ln" => (Ln, Arity::Exact(1)),
        "$log" => (Log, Arity::Exact(2)),
        "$log10" => (Log10, Arity::Exact(1)),
        "$sum" => (Sum, Arity::Any),
        "$avg" => (Avg, Arity::Any),
        "$min" => (Min, Arity::Any),
        "$max" => (Max, Arity::Any),
        "$sin" => (Sin, Arity::Exact(1)),
        "$cos" => (Cos, Arity::Exact(1)),
        "$tan" => (Tan, Arity::Exact(1)),
        "$asin" => (Asin, Arity::Exact(1)),
        "$acos" => (Acos, Arity::Exact(1)),
        "$atan" => (Atan, Arity::Exact(1)),
        "$atan2" => (Atan2, Arity::Exact(2)),
        "$sinh" => (Sinh, Arity::Exact(1)),
        "$cosh" => (Cosh, Arity::Exact(1)),
        "$tanh" => (Tanh, Arity::Exact(1)),
        "$asinh" => (Asinh, Arity::Exact(1)),
        "$acosh" => (Acosh, Arity::Exact(1)),
        "$atanh" => (Atanh, Arity::Exact(1)),
        "$degreesToRadians" => (DegreesToRadians, Arity::Exact(1)),
        "$radiansToDegrees" => (RadiansToDegrees, Arity::Exact(1)),
        "$bitAnd" => (BitAnd, Arity::Any),
        "$bitOr" => (BitOr, Arity::Any),
        "$bitXor" => (BitXor, Arity::Any),
        "$bitNot" => (BitNot, Arity::Exact(1)),
        _ => return None,
    })
}

/// A number with its BSON type kept, for the result-type rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I32(i32),
    I64(i64),
    F64(f64),
    Dec(Decimal),
}

impl Num {
    pub(crate) fn of(value: &Bson) -> Option<Num> {
        match value {
            Bson::Int32(v) => Some(Num::I32(*v)),
            Bson::Int64(v) => Some(Num::I64(*v)),
            Bson::Double(v) => Some(Num::F64(*v)),
            Bson::Decimal128(v) => Some(Num::Dec(Decimal::from_bytes(v.bytes()))),
            _ => None,
        }
    }

    pub(crate) fn f(self) -> f64 {
        match self {
            Num::I32(v) => f64::from(v),
            Num::I64(v) => v as f64,
            Num::F64(v) => v,
            Num::Dec(v) => v.to_f64(),
        }
    }

    /// The decimal form of a number taking part in decimal arithmetic: integers exactly, a
    /// double rounded to 15 significant digits (the server's `Decimal128(double)`).
    pub(crate) fn decimal(self) -> Decimal {
        match self {
            Num::I32(v) => Decimal::from_i64(i64::from(v)),
            Num::I64(v) => Decimal::from_i64(v),
            Num::F64(v) => Decimal::from_f64_digits(v, 15),
            Num::Dec(v) => v,
        }
    }

    /// Zero, exactly (a decimal too small for a double is not zero).
    fn is_zero(self) -> bool {
        match self {
            Num::Dec(v) => v.is_zero(),
            other => other.f() == 0.0,
        }
    }

    fn int(self) -> Option<i64> {
        match self {
            Num::I32(v) => Some(i64::from(v)),
            Num::I64(v) => Some(v),
            _ => None,
        }
    }

    /// An int32 when `long` fits in one, else an int64.
    pub(crate) fn int_or_long(long: i64) -> Num {
        i32::try_from(long).map_or(Num::I64(long), Num::I32)
    }

    pub(crate) fn into_bson(self) -> Bson {
        match self {
            Num::I32(v) => Bson::Int32(v),
            Num::I64(v) => Bson::Int64(v),
            Num::F64(v) => Bson::Double(v),
            Num::Dec(v) => Bson::Decimal128(v.to_decimal128()),
        }
    }

    /// The same kind of number holding `value` (a double result for integer kinds).
    fn float_like(self, value: f64) -> Num {
        match self {
            Num::Dec(_) => Num::Dec(decimal_of(value)),
            _ => Num::F64(value),
        }
    }
}

/// The decimal of a double result computed for a decimal operand: its shortest form.
fn decimal_of(value: f64) -> Decimal {
    match decimal(value) {
        Bson::Decimal128(value) => Decimal::from_bytes(value.bytes()),
        _ => Decimal::from_f64(value),
    }
}

/// A decimal128 for `value`.
pub(crate) fn decimal(value: f64) -> Bson {
    let text = if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{value}")
    };
    text.parse::<bson::Decimal128>()
        .map_or(Bson::Double(value), Bson::Decimal128)
}

/// Applies a binary operation with the type rules: exact integer arithmetic while it fits,
/// decimal arithmetic when either is a decimal.
fn combine(
    a: Num,
    b: Num,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
    dec: fn(Decimal, Decimal) -> Decimal,
) -> Num {
    match (a, b) {
        (Num::Dec(_), _) | (_, Num::Dec(_)) => Num::Dec(dec(a.decimal(), b.decimal())),
        (Num::I32(x), Num::I32(y)) => match int(i64::from(x), i64::from(y)) {
            Some(r) => Num::int_or_long(r),
            None => Num::F64(float(a.f(), b.f())),
        },
        (Num::I32(_) | Num::I64(_), Num::I32(_) | Num::I64(_)) => {
            match a.int().zip(b.int()).and_then(|(x, y)| int(x, y)) {
                Some(r) => Num::I64(r),
                None => Num::F64(float(a.f(), b.f())),
            }
        }
        _ => Num::F64(float(a.f(), b.f())),
    }
}

pub(crate) fn add_numbers(a: Num, b: Num) -> Num {
    combine(a, b, i64::checked_add, |x, y| x + y, Decimal::add)
}

fn expect_number(op: &str, value: &Bson) -> Result<Num> {
    Num::of(value).ok_or_else(|| {
        MqlError::type_mismatch(format!(
            "`{op}` only supports numeric types, not {}",
            crate::value::type_name(value)
        ))
    })
}

fn eval_error(message: impl Into<String>) -> MqlError {
    MqlError::new(ErrorKind::ExpressionEvaluation, message)
}

pub(crate) fn apply(op: ArithOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    use ArithOp::*;
    match op {
        Add => add(args),
        Multiply => multiply(args),
        Subtract => subtract(args),
        Divide | Mod | Pow | Log => binary(op, args),
        Round | Trunc => round(op, args),
        Sum | Avg | Min | Max => summary(op, args),
        Atan2 => more::atan2(args),
        BitAnd | BitOr | BitXor | BitNot => more::bitwise(op, args),
        Sin | Cos | Tan | Asin | Acos | Atan | Sinh | Cosh | Tanh | Asinh | Acosh | Atanh
        | DegreesToRadians | RadiansToDegrees => more::trig(op, args),
        _ => unary(op, args),
    }
}

/// `$add`, as the server's `AddState`: numbers add in their widest type (no compensation);
/// once a date is seen, the total so far and then each later number join its milliseconds one
/// at a time, a double rounded half away from zero and a decimal half to even.
fn add(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let mut total = Num::I32(0);
    let mut date: Option<i64> = None;
    for arg in args {
        let value = match arg {
            None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
            Some(value) => value,
        };
        if let Bson::DateTime(when) = value {
            if date.is_some() {
                return Err(MqlError::type_mismatch(
                    "only one date allowed in an `$add` expression",
                ));
            }
            date = Some(add_to_date(when.timestamp_millis(), total)?);
            continue;
        }
        let number = Num::of(&value).ok_or_else(|| {
            MqlError::type_mismatch(format!(
                "`$add` only supports numeric or date types, not {}",
                crate::value::type_name(&value)
            ))
        })?;
        match date {
            Some(millis) => date = Some(add_to_date(millis, number)?),
            None => total = add_numbers(total, number),
        }
    }
    Ok(Some(match date {
        Some(millis) => Bson::DateTime(bson::DateTime::from_millis(millis)),
        None => total.into_bson(),
    }))
}

/// `millis` plus one number as whole milliseconds (`AddState::addToDateValue`).
fn add_to_date(millis: i64, number: Num) -> Result<i64> {
    let overflow = || eval_error("date overflow in `$add`");
    let delta = match number {
        Num::I32(v) => i64::from(v),
        Num::I64(v) => v,
        Num::F64(v) => {
            let rounded = v.round();
            // -2^63 is allowed, 2^63 (which i64::MAX rounds up to) is not; NaN neither.
            if !(rounded >= i64::MIN as f64 && rounded < i64::MAX as f64) {
                return Err(overflow());
            }
            rounded as i64
        }
        Num::Dec(v) => v
            .round_to(0, Rounding::HalfEven)
            .truncated_i64()
            .ok_or_else(overflow)?,
    };
    millis.checked_add(delta).ok_or_else(overflow)
}

/// `millis` plus (`sign` 1) or minus (`sign` -1) `delta`, as a date; a fractional delta is
/// rounded to the nearest millisecond.
fn offset_date(op: &str, millis: i64, delta: Num, sign: i64) -> Result<Bson> {
    let delta = match delta.int() {
        Some(whole) => Some(whole),
        None => {
            let rounded = delta.f().round();
            // In range of i64 (and not NaN), so the cast is exact.
            (rounded.is_finite() && rounded.abs() < 9.2e18).then_some(rounded as i64)
        }
    };
    delta
        .and_then(|delta| delta.checked_mul(sign))
        .and_then(|delta| millis.checked_add(delta))
        .map(|millis| Bson::DateTime(bson::DateTime::from_millis(millis)))
        .ok_or_else(|| eval_error(format!("date overflow in `{op}`")))
}

fn multiply(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let mut product = Num::I32(1);
    for arg in args {
        let Some(value) = arg.filter(|value| !is_nullish(Some(value))) else {
            return Ok(Some(Bson::Null));
        };
        let number = expect_number("$multiply", &value)?;
        product = combine(
            product,
            number,
            i64::checked_mul,
            |x, y| x * y,
            Decimal::multiply,
        );
    }
    Ok(Some(product.into_bson()))
}

fn subtract(args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [left, right] = take::<2>(args);
    let (Some(left), Some(right)) = (left, right) else {
        return Ok(Some(Bson::Null));
    };
    if is_nullish(Some(&left)) || is_nullish(Some(&right)) {
        return Ok(Some(Bson::Null));
    }
    match (&left, &right) {
        (Bson::DateTime(a), Bson::DateTime(b)) => a
            .timestamp_millis()
            .checked_sub(b.timestamp_millis())
            .map(|diff| Some(Bson::Int64(diff)))
            .ok_or_else(|| eval_error("date overflow in `$subtract`")),
        (Bson::DateTime(a), other) => match Num::of(other) {
            Some(delta) => offset_date("$subtract", a.timestamp_millis(), delta, -1).map(Some),
            None => Err(subtract_types(&left, &right)),
        },
        _ => match (Num::of(&left), Num::of(&right)) {
            (Some(a), Some(b)) => Ok(Some(
                combine(
                    a,
                    b,
                    i64::checked_sub,
                    |x, y| x - y,
                    |x, y| x.add(y.negate()),
                )
                .into_bson(),
            )),
            _ => Err(subtract_types(&left, &right)),
        },
    }
}

fn subtract_types(left: &Bson, right: &Bson) -> MqlError {
    MqlError::type_mismatch(format!(
        "can't `$subtract` {} from {}",
        crate::value::type_name(right),
        crate::value::type_name(left)
    ))
}

fn binary(op: ArithOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let name = match op {
        ArithOp::Divide => "$divide",
        ArithOp::Mod => "$mod",
        ArithOp::Pow => "$pow",
        _ => "$log",
    };
    let [left, right] = take::<2>(args);
    let (Some(left), Some(right)) = (left, right) else {
        return Ok(Some(Bson::Null));
    };
    if is_nullish(Some(&left)) || is_nullish(Some(&right)) {
        return Ok(Some(Bson::Null));
    }
    let (a, b) = match (Num::of(&left), Num::of(&right)) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(MqlError::type_mismatch(format!(
                "`{name}` only supports numeric types, not {} and {}",
                crate::value::type_name(&left),
                crate::value::type_name(&right)
            )))
        }
    };
    let result = match op {
        ArithOp::Divide => {
            if b.is_zero() {
                return Err(eval_error("can't `$divide` by zero"));
            }
            match (a, b) {
                (Num::Dec(_), _) | (_, Num::Dec(_)) => Num::Dec(a.decimal().divide(b.decimal())),
                _ => Num::F64(a.f() / b.f()),
            }
        }
        ArithOp::Mod => {
            if b.is_zero() {
                return Err(eval_error("can't `$mod` by zero"));
            }
            combine(
                a,
                b,
                |x, y| Some(x.checked_rem(y).unwrap_or(0)),
                |x, y| x % y,
                Decimal::remainder,
            )
        }
        ArithOp::Pow => pow(a, b)?,
        _ => {
            if a.f() <= 0.0 || b.f() <= 0.0 || b.f() == 1.0 {
                return Err(eval_error(
                    "`$log`'s argument must be a positive number and its base a positive number other than 1",
                ));
            }
            combine_float(a, b, a.f().ln() / b.f().ln())
        }
    };
    Ok(Some(result.into_bson()))
}

/// A double result, or a decimal if either operand was one.
fn combine_float(a: Num, b: Num, value: f64) -> Num {
    if matches!(a, Num::Dec(_)) || matches!(b, Num::Dec(_)) {
        Num::Dec(decimal_of(value))
    } else {
        Num::F64(value)
    }
}

fn pow(base: Num, exponent: Num) -> Result<Num> {
    if base.f() == 0.0 && exponent.f() < 0.0 {
        return Err(eval_error(
            "`$pow` cannot take a base of 0 and a negative exponent",
        ));
    }
    let (Some(b), Some(e)) = (base.int(), exponent.int()) else {
        return Ok(combine_float(base, exponent, base.f().powf(exponent.f())));
    };
    let both_int32 = matches!((base, exponent), (Num::I32(_), Num::I32(_)));
    let exact = if e < 0 {
        // Only 1 and -1 keep an integral result under a negative exponent.
        match b {
            1 => Some(1),
            -1 => Some(if e % 2 == 0 { 1 } else { -1 }),
            _ => None,
        }
    } else {
        u32::try_from(e).ok().and_then(|e| b.checked_pow(e))
    };
    Ok(match exact {
        Some(r) if both_int32 => i32::try_from(r).map_or(Num::I64(r), Num::I32),
        Some(r) => Num::I64(r),
        None => Num::F64(base.f().powf(exponent.f())),
    })
}

fn unary(op: ArithOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [value] = take::<1>(args);
    let Some(value) = value.filter(|value| !is_nullish(Some(value))) else {
        return Ok(Some(Bson::Null));
    };
    let name = match op {
        ArithOp::Abs => "$abs",
        ArithOp::Ceil => "$ceil",
        ArithOp::Floor => "$floor",
        ArithOp::Sqrt => "$sqrt",
        ArithOp::Exp => "$exp",
        ArithOp::Ln => "$ln",
        _ => "$log10",
    };
    let n = expect_number(name, &value)?;
    let result = match op {
        ArithOp::Abs => match n {
            Num::I32(v) => v.checked_abs().map_or(Num::I64(-i64::from(v)), Num::I32),
            Num::I64(v) => Num::I64(
                v.checked_abs()
                    .ok_or_else(|| eval_error("can't take `$abs` of long long min"))?,
            ),
            Num::Dec(v) => Num::Dec(v.abs()),
            other => other.float_like(other.f().abs()),
        },
        ArithOp::Ceil | ArithOp::Floor => match n {
            Num::I32(_) | Num::I64(_) => n,
            Num::Dec(v) if op == ArithOp::Ceil => Num::Dec(v.round_to(0, Rounding::Ceiling)),
            Num::Dec(v) => Num::Dec(v.round_to(0, Rounding::Floor)),
            other if op == ArithOp::Ceil => other.float_like(other.f().ceil()),
            other => other.float_like(other.f().floor()),
        },
        ArithOp::Sqrt => {
            if n.f() < 0.0 {
                return Err(eval_error(
                    "`$sqrt`'s argument must be greater than or equal to 0",
                ));
            }
            n.float_like(n.f().sqrt())
        }
        ArithOp::Exp => n.float_like(n.f().exp()),
        _ => {
            if n.f() <= 0.0 {
                return Err(eval_error(format!(
                    "`{name}`'s argument must be a positive number, but is {}",
                    n.f()
                )));
            }
            n.float_like(if op == ArithOp::Ln {
                n.f().ln()
            } else {
                n.f().log10()
            })
        }
    };
    Ok(Some(result.into_bson()))
}

fn round(op: ArithOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let name = if op == ArithOp::Round {
        "$round"
    } else {
        "$trunc"
    };
    let has_place = args.len() > 1;
    let [value, place] = take::<2>(args);
    if is_nullish(value.as_ref()) || (has_place && is_nullish(place.as_ref())) {
        return Ok(Some(Bson::Null));
    }
    let n = expect_number(name, value.as_ref().unwrap_or(&Bson::Null))?;
    let place = match place {
        None => 0,
        Some(place) => match Num::of(&place) {
            Some(p) if p.f().fract() == 0.0 && (-20.0..=100.0).contains(&p.f()) => p.f() as i32,
            _ => {
                return Err(MqlError::bad_value(format!(
                    "`{name}` requires an integral place in range [-20, 100]"
                )))
            }
        },
    };
    let rounding = |x: f64| {
        if op == ArithOp::Round {
            x.round_ties_even()
        } else {
            x.trunc()
        }
    };
    let result = match n {
        Num::I32(_) | Num::I64(_) if place >= 0 => n,
        // An int that no longer fits becomes a long (2147483647 to -1 places is 2147483650);
        // a long that no longer fits is an error (MongoDB's 51080).
        Num::I32(v) => {
            let rounded = round_int(i64::from(v), place, op);
            match i32::try_from(rounded) {
                Ok(fits) => Num::I32(fits),
                Err(_) => Num::I64(long_result(name, rounded)?),
            }
        }
        Num::I64(v) => Num::I64(long_result(name, round_int(v, place, op))?),
        Num::Dec(v) => Num::Dec(
            v.round_to(
                place,
                if op == ArithOp::Round {
                    Rounding::HalfEven
                } else {
                    Rounding::Down
                },
            )
            .pad_to(place),
        ),
        other => {
            let scale = 10f64.powi(place);
            other.float_like(rounding(other.f() * scale) / scale)
        }
    };
    Ok(Some(result.into_bson()))
}

/// Rounds (half to even) or truncates an integer to a negative decimal place (at most 20).
fn round_int(value: i64, place: i32, op: ArithOp) -> i128 {
    let value = i128::from(value);
    let scale = 10i128.pow(place.unsigned_abs().min(20));
    let quotient = value / scale;
    let remainder = value % scale;
    if op == ArithOp::Trunc {
        return quotient * scale;
    }
    let twice = remainder.abs() * 2;
    let up = match twice.cmp(&scale) {
        Ordering::Greater => true,
        Ordering::Equal => quotient % 2 != 0,
        Ordering::Less => false,
    };
    let adjusted = if up {
        quotient + value.signum()
    } else {
        quotient
    };
    adjusted * scale
}

fn long_result(name: &str, rounded: i128) -> Result<i64> {
    i64::try_from(rounded).map_err(|_| {
        eval_error(format!(
            "`{name}`: the result {rounded} does not fit in a long"
        ))
    })
}

/// `$sum`, `$avg`, `$min` and `$max` as expressions: one array argument stands for its
/// elements; with several arguments arrays are just non-numeric values.
fn summary(op: ArithOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let values: Vec<Bson> = match <[Option<Bson>; 1]>::try_from(args) {
        Ok([Some(Bson::Array(items))]) => items,
        Ok([single]) => single.into_iter().collect(),
        Err(args) => args.into_iter().flatten().collect(),
    };
    Ok(Some(match op {
        ArithOp::Sum => sum_of(values.iter()).into_bson(),
        ArithOp::Avg => avg_of(values.iter()),
        _ => {
            let wanted = if op == ArithOp::Min {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            extreme_of(values.into_iter(), wanted).unwrap_or(Bson::Null)
        }
    }))
}

/// Sum of the numbers among `values` (others ignored), as `$sum` computes it; int32 0 if
/// there are none.
pub(crate) fn sum_of<'a>(values: impl Iterator<Item = &'a Bson>) -> Num {
    let mut total = Total::default();
    values
        .filter_map(Num::of)
        .for_each(|number| total.add(number));
    total.sum()
}

/// Mean of the numbers among `values` as a double (a decimal if any was one); `null` if there
/// are none.
pub(crate) fn avg_of<'a>(values: impl Iterator<Item = &'a Bson>) -> Bson {
    let mut count = 0u64;
    let mut total = Total::default();
    for number in values.filter_map(Num::of) {
        count += 1;
        total.add(number);
    }
    if count == 0 {
        return Bson::Null;
    }
    total.mean(count).into_bson()
}

/// The least (`Less`) or greatest (`Greater`) value in BSON order, ignoring null and
/// undefined.
pub(crate) fn extreme_of(values: impl Iterator<Item = Bson>, wanted: Ordering) -> Option<Bson> {
    let mut best: Option<Bson> = None;
    for value in values.filter(|value| !is_nullish(Some(value))) {
        let better = match &best {
            None => true,
            Some(current) => crate::value::compare_values(&value, current) == wanted,
        };
        if better {
            best = Some(value);
        }
    }
    best
}

/// Reads an integral argument (any numeric type with no fraction) that fits an i64.
pub(crate) fn integral(op: &str, what: &str, value: Option<&Bson>) -> Result<i64> {
    let number = value.and_then(Num::of);
    match number {
        Some(Num::I32(v)) => Ok(i64::from(v)),
        Some(Num::I64(v)) => Ok(v),
        Some(number @ (Num::F64(_) | Num::Dec(_)))
            if number.f().fract() == 0.0 && number.f().abs() < 9.2e18 =>
        {
            Ok(number.f() as i64)
        }
        _ => Err(MqlError::bad_value(format!(
            "`{op}` requires {what} to be an integral number, found {}",
            match (number, value) {
                (Some(n), _) => n.f().to_string(),
                (None, value) => type_of(value).to_owned(),
            }
        ))),
    }
}
