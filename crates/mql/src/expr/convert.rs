//! Type operators: `$type`, `$isNumber`, the `$toX` shorthands and `$convert`.

use bson::oid::ObjectId;
use bson::Bson;

use super::arith::decimal;
use super::compile::{named_args, required, Arity, Compiler};
use super::{is_nullish, take, Cx, Node};
use crate::error::{MqlError, Result};

/// A `$convert` target type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    Double,
    String,
    ObjectId,
    Bool,
    Date,
    Int,
    Long,
    Decimal,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Double => "double",
            Target::String => "string",
            Target::ObjectId => "objectId",
            Target::Bool => "bool",
            Target::Date => "date",
            Target::Int => "int",
            Target::Long => "long",
            Target::Decimal => "decimal",
        }
    }

    fn parse(value: &Bson) -> Result<Target> {
        let target = match value {
            Bson::String(name) => match name.as_str() {
                "double" => Some(Target::Double),
                "string" => Some(Target::String),
                "objectId" => Some(Target::ObjectId),
                "bool" => Some(Target::Bool),
                "date" => Some(Target::Date),
                "int" => Some(Target::Int),
                "long" => Some(Target::Long),
                "decimal" => Some(Target::Decimal),
                _ => None,
            },
            other => match crate::value::as_f64(other) {
                Some(1.0) => Some(Target::Double),
                Some(2.0) => Some(Target::String),
                Some(7.0) => Some(Target::ObjectId),
                Some(8.0) => Some(Target::Bool),
                Some(9.0) => Some(Target::Date),
                Some(16.0) => Some(Target::Int),
                Some(18.0) => Some(Target::Long),
                Some(19.0) => Some(Target::Decimal),
                _ => None,
            },
        };
        target.ok_or_else(|| {
            MqlError::bad_value(format!("`$convert` does not support conversion to {value}"))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ConvOp {
    Type,
    IsNumber,
    To(Target),
    TsSecond,
    TsIncrement,
    BsonSize,
    BinarySize,
}

pub(crate) fn lookup(name: &str) -> Option<(ConvOp, Arity)> {
    let op = match name {
        "$type" => ConvOp::Type,
        "$isNumber" => ConvOp::IsNumber,
        "$toDouble" => ConvOp::To(Target::Double),
        "$toString" => ConvOp::To(Target::String),
        "$toObjectId" => ConvOp::To(Target::ObjectId),
        "$toBool" => ConvOp::To(Target::Bool),
        "$toDate" => ConvOp::To(Target::Date),
        "$toInt" => ConvOp::To(Target::Int),
        "$toLong" => ConvOp::To(Target::Long),
        "$toDecimal" => ConvOp::To(Target::Decimal),
        "$tsSecond" => ConvOp::TsSecond,
        "$tsIncrement" => ConvOp::TsIncrement,
        "$bsonSize" => ConvOp::BsonSize,
        "$binarySize" => ConvOp::BinarySize,
        _ => return None,
    };
    Some((op, Arity::Exact(1)))
}

pub(crate) fn apply(op: ConvOp, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    let [value] = take::<1>(args);
    match op {
        ConvOp::Type => Ok(Some(Bson::String(
            super::type_of(value.as_ref()).to_owned(),
        ))),
        ConvOp::IsNumber => Ok(Some(Bson::Boolean(
            value.as_ref().is_some_and(crate::value::is_number),
        ))),
        ConvOp::To(target) => match value {
            Some(value) if !is_nullish(Some(&value)) => convert(value, target).map(Some),
            _ => Ok(Some(Bson::Null)),
        },
        ConvOp::TsSecond | ConvOp::TsIncrement | ConvOp::BsonSize | ConvOp::BinarySize => {
            match value {
                Some(value) if !is_nullish(Some(&value)) => measure(op, value).map(Some),
                _ => Ok(Some(Bson::Null)),
            }
        }
    }
}

/// `$tsSecond` and `$tsIncrement` (a timestamp's parts, as longs), `$bsonSize` (a document's
/// encoded size) and `$binarySize` (the bytes of a string or binary value).
fn measure(op: ConvOp, value: Bson) -> Result<Bson> {
    let size =
        |bytes: usize| i32::try_from(bytes).map_or_else(|_| Bson::Int64(i64::MAX), Bson::Int32);
    match (op, value) {
        (ConvOp::TsSecond, Bson::Timestamp(ts)) => Ok(Bson::Int64(i64::from(ts.time))),
        (ConvOp::TsIncrement, Bson::Timestamp(ts)) => Ok(Bson::Int64(i64::from(ts.increment))),
        (ConvOp::TsSecond | ConvOp::TsIncrement, other) => Err(MqlError::type_mismatch(format!(
            "the argument to `{}` must be a timestamp, found {}",
            if op == ConvOp::TsSecond {
                "$tsSecond"
            } else {
                "$tsIncrement"
            },
            crate::value::type_name(&other)
        ))),
        (ConvOp::BsonSize, Bson::Document(doc)) => {
            let bytes = bson::RawDocumentBuf::try_from(&doc).map_err(|error| {
                failed(format!("`$bsonSize` cannot encode the document: {error}"))
            })?;
            Ok(size(bytes.as_bytes().len()))
        }
        (ConvOp::BsonSize, other) => Err(MqlError::type_mismatch(format!(
            "`$bsonSize` requires a document input, found {}",
            crate::value::type_name(&other)
        ))),
        (_, Bson::String(text)) => Ok(size(text.len())),
        (_, Bson::Binary(binary)) => Ok(size(binary.bytes.len())),
        (_, other) => Err(MqlError::type_mismatch(format!(
            "`$binarySize` requires a string or binary argument, found {}",
            crate::value::type_name(&other)
        ))),
    }
}

fn unsupported(value: &Bson, target: Target) -> MqlError {
    MqlError::type_mismatch(format!(
        "unsupported conversion from {} to {} in `$convert` with no onError value",
        crate::value::type_name(value),
        target.name()
    ))
}

fn failed(message: String) -> MqlError {
    MqlError::new(crate::ErrorKind::ExpressionEvaluation, message)
}

/// Converts `value` (not null) to `target` as `$convert` does.
pub(crate) fn convert(value: Bson, target: Target) -> Result<Bson> {
    match target {
        Target::Double => to_double(value),
        Target::String => to_string(value),
        Target::ObjectId => match value {
            Bson::ObjectId(_) => Ok(value),
            Bson::String(text) => ObjectId::parse_str(&text).map(Bson::ObjectId).map_err(|_| {
                failed(format!(
                    "failed to parse objectId '{text}' in `$convert` with no onError value"
                ))
            }),
            other => Err(unsupported(&other, target)),
        },
        Target::Bool => match value {
            Bson::Boolean(_) => Ok(value),
            Bson::String(_) | Bson::ObjectId(_) | Bson::DateTime(_) => Ok(Bson::Boolean(true)),
            other => match crate::value::number(&other) {
                Some(n) => Ok(Bson::Boolean(n.as_f64() != 0.0)),
                None => Err(unsupported(&other, target)),
            },
        },
        Target::Date => to_date(value),
        Target::Int => {
            let whole = to_integer(value, target)?;
            i32::try_from(whole)
                .map(Bson::Int32)
                .map_err(|_| overflow())
        }
        Target::Long => to_integer(value, target).map(Bson::Int64),
        Target::Decimal => match value {
            Bson::Decimal128(_) => Ok(value),
            Bson::String(text) => match text.trim().parse::<f64>() {
                Ok(_) => text
                    .parse::<bson::Decimal128>()
                    .map(Bson::Decimal128)
                    .map_err(|_| failed(format!("failed to parse number '{text}' in `$convert`"))),
                Err(_) => Err(failed(format!(
                    "failed to parse number '{text}' in `$convert` with no onError value"
                ))),
            },
            other => match to_double(other.clone()) {
                Ok(Bson::Double(v)) => Ok(match other {
                    Bson::Int32(i) => decimal_from_text(&i.to_string(), v),
                    Bson::Int64(i) => decimal_from_text(&i.to_string(), v),
                    _ => decimal(v),
                }),
                _ => Err(unsupported(&other, target)),
            },
        },
    }
}

fn decimal_from_text(text: &str, fallback: f64) -> Bson {
    text.parse::<bson::Decimal128>()
        .map_or_else(|_| decimal(fallback), Bson::Decimal128)
}

fn overflow() -> MqlError {
    failed("conversion would overflow the target type in `$convert` with no onError value".into())
}

fn to_double(value: Bson) -> Result<Bson> {
    match value {
        Bson::Double(_) => Ok(value),
        Bson::Boolean(flag) => Ok(Bson::Double(if flag { 1.0 } else { 0.0 })),
        Bson::DateTime(when) => Ok(Bson::Double(when.timestamp_millis() as f64)),
        Bson::String(text) => parse_double(&text).map(Bson::Double).ok_or_else(|| {
            failed(format!(
                "failed to parse number '{text}' in `$convert` with no onError value"
            ))
        }),
        other => match crate::value::number(&other) {
            Some(n) => Ok(Bson::Double(n.as_f64())),
            None => Err(unsupported(&other, Target::Double)),
        },
    }
}

fn parse_double(text: &str) -> Option<f64> {
    match text {
        "Infinity" | "inf" => return Some(f64::INFINITY),
        "-Infinity" | "-inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let valid = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if valid {
        text.parse().ok()
    } else {
        None
    }
}

fn to_integer(value: Bson, target: Target) -> Result<i64> {
    match value {
        Bson::Int32(v) => Ok(i64::from(v)),
        Bson::Int64(v) => Ok(v),
        Bson::Boolean(flag) => Ok(i64::from(flag)),
        Bson::DateTime(when) if target == Target::Long => Ok(when.timestamp_millis()),
        Bson::String(text) => {
            let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(failed(format!(
                    "failed to parse number '{text}' in `$convert` with no onError value"
                )));
            }
            text.parse::<i64>().map_err(|_| overflow())
        }
        Bson::Double(_) | Bson::Decimal128(_) => {
            let float = crate::value::number(&value).map_or(f64::NAN, |n| n.as_f64());
            if !float.is_finite() {
                return Err(failed(format!(
                    "attempt to convert a non-finite value ({float}) to an integer in `$convert`"
                )));
            }
            let whole = float.trunc();
            if whole.abs() >= 9.223_372_036_854_775e18 {
                return Err(overflow());
            }
            Ok(whole as i64)
        }
        other => Err(unsupported(&other, target)),
    }
}

fn to_date(value: Bson) -> Result<Bson> {
    let millis = match &value {
        Bson::DateTime(_) => return Ok(value),
        Bson::Int64(v) => *v,
        Bson::Double(_) | Bson::Decimal128(_) => to_integer(value.clone(), Target::Long)?,
        Bson::ObjectId(id) => id.timestamp().timestamp_millis(),
        Bson::Timestamp(ts) => i64::from(ts.time) * 1000,
        Bson::String(text) => super::date::parse_iso(text).ok_or_else(|| {
            failed(format!(
                "failed to parse date '{text}' in `$convert` with no onError value"
            ))
        })?,
        other => return Err(unsupported(other, Target::Date)),
    };
    Ok(Bson::DateTime(bson::DateTime::from_millis(millis)))
}

fn to_string(value: Bson) -> Result<Bson> {
    let text = match value {
        Bson::String(_) => return Ok(value),
        Bson::Boolean(flag) => flag.to_string(),
        Bson::Int32(v) => v.to_string(),
        Bson::Int64(v) => v.to_string(),
        Bson::Double(v) => double_to_string(v),
        Bson::Decimal128(v) => v.to_string(),
        Bson::ObjectId(id) => id.to_hex(),
        Bson::DateTime(when) => super::date::iso_string(when.timestamp_millis())?,
        other => return Err(unsupported(&other, Target::String)),
    };
    Ok(Bson::String(text))
}

/// A double as MongoDB's `$toString` prints it (`fmt::format("{}")` in its
/// `performFormatDouble`): the shortest digits that read back as the same double, in plain
/// notation while the decimal exponent is from -4 to 15 (`0.0001`, `1000000`, `2.5`), else in
/// exponent notation with a sign and at least two exponent digits (`1e-05`, `1e+16`,
/// `1.2345e+20`); `-0` for negative zero, `NaN`, `Infinity` and `-Infinity`. (MongoDB 7.0
/// and earlier printed six significant digits, `%g`; 8.x prints them all, as here.)
pub(crate) fn double_to_string(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e20`, `5e-7`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{fraction}e{exponent_sign}{:02}",
            exponent.abs()
        );
    }
    let point = exponent + 1; // digits before the decimal point
    let text = if point <= 0 {
        let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
        format!("0.{zeros}{digits}")
    } else {
        let point = usize::try_from(point).unwrap_or(0);
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            let (whole, fraction) = digits.split_at(point);
            format!("{whole}.{fraction}")
        }
    };
    format!("{sign}{text}")
}

/// `$convert`.
#[derive(Debug, Clone)]
pub(crate) struct ConvertSpec {
    input: Node,
    to: Node,
    /// The target when `to` is a constant.
    fixed: Option<Target>,
    on_error: Option<Node>,
    on_null: Option<Node>,
}

impl ConvertSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<ConvertSpec> {
        let args = named_args("$convert", operand, &["input", "to", "onError", "onNull"])?;
        let mut args = args.into_iter();
        let input = cc.compile(required("$convert", "input", args.next().flatten())?)?;
        let to = cc.compile(required("$convert", "to", args.next().flatten())?)?;
        let fixed = match &to {
            Node::Const(value) if !is_nullish(Some(value)) => Some(Target::parse(value)?),
            _ => None,
        };
        Ok(ConvertSpec {
            input,
            to,
            fixed,
            on_error: cc.compile_opt(args.next().flatten())?,
            on_null: cc.compile_opt(args.next().flatten())?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let input = self.input.eval(cx)?;
        let target = match self.fixed {
            Some(target) => target,
            None => match self.to.eval(cx)? {
                value if is_nullish(value.as_ref()) => return Ok(Some(Bson::Null)),
                Some(value) => Target::parse(&value)?,
                None => return Ok(Some(Bson::Null)),
            },
        };
        let value = match input {
            Some(value) if !is_nullish(Some(&value)) => value,
            _ => {
                return match &self.on_null {
                    Some(node) => node.eval(cx),
                    None => Ok(Some(Bson::Null)),
                }
            }
        };
        match convert(value, target) {
            Ok(converted) => Ok(Some(converted)),
            Err(error) => match &self.on_error {
                Some(node) => node.eval(cx),
                None => Err(error),
            },
        }
    }
}
