//! `$bucketAuto`: documents sorted by `groupBy` and cut into `buckets` buckets of about equal
//! size, as MongoDB's `document_source_bucket_auto.cpp` cuts them:
//! - each bucket takes `round(n / buckets)` documents (at least one), the last one all that
//!   remain; documents whose key equals the bucket's last key join it too, so one key never
//!   spans two buckets and there may be fewer buckets than asked;
//! - a bucket's `_id` is `{min, max}`: its first key, and the next bucket's first key (its own
//!   last key for the last bucket);
//! - with a `granularity`, keys must be non-negative numbers; `max` is the last key rounded up
//!   in the series (documents below it join the bucket) and `min` the previous bucket's `max`
//!   (the first key rounded down for the first);
//! - the accumulators of `output` (default `{count: {$sum: 1}}`) see a bucket's documents in
//!   their input order, as the server's positional accumulators (`$first`, `$push`, ...) do.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::group::ListAccumulator;
use crate::decimal::Decimal;
use crate::error::{MqlError, Result};
use crate::expr::{arithmetic, Expr, Variables};
use crate::value::{as_f64, compare_values};

const OP: &str = "$bucketAuto";

/// A compiled `$bucketAuto`.
#[derive(Debug, Clone)]
pub(crate) struct BucketAuto {
    group_by: Expr,
    buckets: usize,
    output: Vec<ListAccumulator>,
    granularity: Option<Granularity>,
}

impl BucketAuto {
    pub(crate) fn compile(spec: &Document) -> Result<BucketAuto> {
        let mut group_by = None;
        let mut buckets = None;
        let mut output = None;
        let mut granularity = None;
        for (key, value) in spec {
            match key.as_str() {
                "groupBy" => group_by = Some(compile_group_by(value)?),
                "buckets" => buckets = Some(bucket_count(value)?),
                "output" => output = Some(compile_output(value)?),
                "granularity" => granularity = Some(Granularity::named(value)?),
                other => {
                    return Err(MqlError::parse(format!(
                        "`{OP}` found an unknown argument `{other}`"
                    )))
                }
            }
        }
        let (Some(group_by), Some(buckets)) = (group_by, buckets) else {
            return Err(MqlError::parse(format!(
                "`{OP}` requires `groupBy` and `buckets`"
            )));
        };
        let output = match output {
            Some(output) if !output.is_empty() => output,
            _ => vec![ListAccumulator::compile_field(
                "count",
                &Bson::Document(bson::doc! { "$sum": 1 }),
            )?],
        };
        Ok(BucketAuto {
            group_by,
            buckets,
            output,
            granularity,
        })
    }

    pub(crate) fn run(&self, docs: Vec<Document>, vars: &Variables) -> Result<Vec<Document>> {
        let mut keyed = Vec::with_capacity(docs.len());
        for (position, doc) in docs.iter().enumerate() {
            let key = self.group_by.evaluate(doc, vars)?.unwrap_or(Bson::Null);
            if let Some(granularity) = &self.granularity {
                granularity.check(&key)?;
            }
            keyed.push((key, position));
        }
        // Stable: equal keys keep their input order.
        keyed.sort_by(|(a, _), (b, _)| compare_values(a, b));
        let total = keyed.len();
        let size = ((total as f64 / self.buckets as f64).round() as usize).max(1);
        let same = |a: &Bson, b: &Bson| compare_values(a, b) == Ordering::Equal;
        let mut out = Vec::new();
        let mut start = 0;
        let mut previous_max: Option<Bson> = None;
        while start < total && out.len() < self.buckets {
            let last_bucket = out.len() + 1 == self.buckets;
            let mut end = if last_bucket {
                total
            } else {
                (start + size).min(total)
            };
            let key_at = |index: usize| keyed.get(index).map(|(key, _)| key);
            let (Some(first), Some(mut max)) = (key_at(start), key_at(end - 1)) else {
                break;
            };
            let (min, max) = match &self.granularity {
                None => {
                    while key_at(end).is_some_and(|next| same(next, max)) {
                        end += 1;
                    }
                    (first.clone(), key_at(end).unwrap_or(max).clone())
                }
                Some(granularity) => {
                    let min = match previous_max.take() {
                        Some(previous) => previous,
                        None => granularity.round(first, false)?,
                    };
                    let boundary = granularity.round(max, true)?;
                    while let Some(next) = key_at(end) {
                        if compare_values(&boundary, next) == Ordering::Greater || same(max, next) {
                            max = next;
                            end += 1;
                        } else {
                            break;
                        }
                    }
                    let max = match key_at(end) {
                        Some(next) if as_f64(&boundary) == Some(0.0) => {
                            granularity.round(next, false)?
                        }
                        _ => boundary,
                    };
                    (min, max)
                }
            };
            let mut members: Vec<usize> = keyed
                .get(start..end)
                .unwrap_or_default()
                .iter()
                .map(|(_, position)| *position)
                .collect();
            members.sort_unstable();
            let mut bucket = Document::new();
            bucket.insert("_id", bson::doc! { "min": min, "max": max.clone() });
            for accumulator in &self.output {
                let members = members.iter().filter_map(|&position| docs.get(position));
                let value = accumulator.evaluate(members, vars)?;
                bucket.insert(accumulator.field(), value);
            }
            out.push(bucket);
            previous_max = Some(max);
            start = end;
        }
        Ok(out)
    }
}

fn compile_group_by(value: &Bson) -> Result<Expr> {
    match value {
        Bson::String(path) if path.len() > 1 && path.starts_with('$') => Expr::compile(value),
        Bson::Document(doc) if doc.keys().next().is_some_and(|key| key.starts_with('$')) => {
            Expr::compile(value)
        }
        _ => Err(MqlError::parse(format!(
            "`{OP}` requires `groupBy` to be a `$`-prefixed path or an expression object, found {value}"
        ))),
    }
}

fn bucket_count(value: &Bson) -> Result<usize> {
    if !crate::value::is_number(value) {
        return Err(MqlError::type_mismatch(format!(
            "`{OP}` requires `buckets` to be a number, found {}",
            crate::value::type_name(value)
        )));
    }
    let count = crate::expr::integral(OP, "`buckets`", Some(value))?;
    let count = i32::try_from(count).map_err(|_| {
        MqlError::bad_value(format!(
            "`{OP}` requires `buckets` to fit a 32-bit integer, found {count}"
        ))
    })?;
    if count <= 0 {
        return Err(MqlError::bad_value(format!(
            "`{OP}` requires `buckets` to be greater than 0, found {count}"
        )));
    }
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

fn compile_output(value: &Bson) -> Result<Vec<ListAccumulator>> {
    let Bson::Document(fields) = value else {
        return Err(MqlError::parse(format!(
            "`{OP}` requires `output` to be an object"
        )));
    };
    fields
        .iter()
        .map(|(field, spec)| ListAccumulator::compile_field(field, spec))
        .collect()
}

/// A `granularity`: a series of preferred numbers (repeated at every power of ten) or the
/// powers of two.
#[derive(Debug, Clone, Copy)]
enum Granularity {
    Series(&'static [f64]),
    PowersOfTwo,
}

// The series as MongoDB's `granularity_rounder_preferred_numbers.cpp` has them.
const R5: &[f64] = &[10.0, 16.0, 25.0, 40.0, 63.0];
const R10: &[f64] = &[
    100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 800.0,
];
const R20: &[f64] = &[
    100.0, 112.0, 125.0, 140.0, 160.0, 180.0, 200.0, 224.0, 250.0, 280.0, 315.0, 355.0, 400.0,
    450.0, 500.0, 560.0, 630.0, 710.0, 800.0, 900.0,
];
const R40: &[f64] = &[
    100.0, 106.0, 112.0, 118.0, 125.0, 132.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0, 200.0,
    212.0, 224.0, 236.0, 250.0, 265.0, 280.0, 300.0, 315.0, 355.0, 375.0, 400.0, 425.0, 450.0,
    475.0, 500.0, 530.0, 560.0, 600.0, 630.0, 670.0, 710.0, 750.0, 800.0, 850.0, 900.0, 950.0,
];
const R80: &[f64] = &[
    103.0, 109.0, 115.0, 122.0, 128.0, 136.0, 145.0, 155.0, 165.0, 175.0, 185.0, 195.0, 206.0,
    218.0, 230.0, 243.0, 258.0, 272.0, 290.0, 307.0, 325.0, 345.0, 365.0, 387.0, 412.0, 437.0,
    462.0, 487.0, 515.0, 545.0, 575.0, 615.0, 650.0, 690.0, 730.0, 775.0, 825.0, 875.0, 925.0,
    975.0,
];
const SERIES_125: &[f64] = &[10.0, 20.0, 50.0];
const E6: &[f64] = &[10.0, 15.0, 22.0, 33.0, 47.0, 68.0];
const E12: &[f64] = &[
    10.0, 12.0, 15.0, 18.0, 22.0, 27.0, 33.0, 39.0, 47.0, 56.0, 68.0, 82.0,
];
const E24: &[f64] = &[
    10.0, 11.0, 12.0, 13.0, 15.0, 16.0, 18.0, 20.0, 22.0, 24.0, 27.0, 30.0, 33.0, 36.0, 39.0, 43.0,
    47.0, 51.0, 56.0, 62.0, 68.0, 75.0, 82.0, 91.0,
];
const E48: &[f64] = &[
    100.0, 105.0, 110.0, 115.0, 121.0, 127.0, 133.0, 140.0, 147.0, 154.0, 162.0, 169.0, 178.0,
    187.0, 196.0, 205.0, 215.0, 226.0, 237.0, 249.0, 261.0, 274.0, 287.0, 301.0, 316.0, 332.0,
    348.0, 365.0, 383.0, 402.0, 422.0, 442.0, 464.0, 487.0, 511.0, 536.0, 562.0, 590.0, 619.0,
    649.0, 681.0, 715.0, 750.0, 787.0, 825.0, 866.0, 909.0, 953.0,
];
const E96: &[f64] = &[
    100.0, 102.0, 105.0, 107.0, 110.0, 113.0, 115.0, 118.0, 121.0, 124.0, 127.0, 130.0, 133.0,
    137.0, 140.0, 143.0, 147.0, 150.0, 154.0, 158.0, 162.0, 165.0, 169.0, 174.0, 178.0, 182.0,
    187.0, 191.0, 196.0, 200.0, 205.0, 210.0, 215.0, 221.0, 226.0, 232.0, 237.0, 243.0, 249.0,
    255.0, 261.0, 267.0, 274.0, 280.0, 287.0, 294.0, 301.0, 309.0, 316.0, 324.0, 332.0, 340.0,
    348.0, 357.0, 365.0, 374.0, 383.0, 392.0, 402.0, 412.0, 422.0, 432.0, 442.0, 453.0, 464.0,
    475.0, 487.0, 499.0, 511.0, 523.0, 536.0, 549.0, 562.0, 576.0, 590.0, 604.0, 619.0, 634.0,
    649.0, 665.0, 681.0, 698.0, 715.0, 732.0, 750.0, 768.0, 787.0, 806.0, 825.0, 845.0, 866.0,
    887.0, 909.0, 931.0, 953.0, 976.0,
];
const E192: &[f64] = &[
    100.0, 101.0, 102.0, 104.0, 105.0, 106.0, 107.0, 109.0, 110.0, 111.0, 113.0, 114.0, 115.0,
    117.0, 118.0, 120.0, 121.0, 123.0, 124.0, 126.0, 127.0, 129.0, 130.0, 132.0, 133.0, 135.0,
    137.0, 138.0, 140.0, 142.0, 143.0, 145.0, 147.0, 149.0, 150.0, 152.0, 154.0, 156.0, 158.0,
    160.0, 162.0, 164.0, 165.0, 167.0, 169.0, 172.0, 174.0, 176.0, 178.0, 180.0, 182.0, 184.0,
    187.0, 189.0, 191.0, 193.0, 196.0, 198.0, 200.0, 203.0, 205.0, 208.0, 210.0, 213.0, 215.0,
    218.0, 221.0, 223.0, 226.0, 229.0, 232.0, 234.0, 237.0, 240.0, 243.0, 246.0, 249.0, 252.0,
    255.0, 258.0, 261.0, 264.0, 267.0, 271.0, 274.0, 277.0, 280.0, 284.0, 287.0, 291.0, 294.0,
    298.0, 301.0, 305.0, 309.0, 312.0, 316.0, 320.0, 324.0, 328.0, 332.0, 336.0, 340.0, 344.0,
    348.0, 352.0, 357.0, 361.0, 365.0, 370.0, 374.0, 379.0, 383.0, 388.0, 392.0, 397.0, 402.0,
    407.0, 412.0, 417.0, 422.0, 427.0, 432.0, 437.0, 442.0, 448.0, 453.0, 459.0, 464.0, 470.0,
    475.0, 481.0, 487.0, 493.0, 499.0, 505.0, 511.0, 517.0, 523.0, 530.0, 536.0, 542.0, 549.0,
    556.0, 562.0, 569.0, 576.0, 583.0, 590.0, 597.0, 604.0, 612.0, 619.0, 626.0, 634.0, 642.0,
    649.0, 657.0, 665.0, 673.0, 681.0, 690.0, 698.0, 706.0, 715.0, 723.0, 732.0, 741.0, 750.0,
    759.0, 768.0, 777.0, 787.0, 796.0, 806.0, 816.0, 825.0, 835.0, 845.0, 856.0, 866.0, 876.0,
    887.0, 898.0, 909.0, 920.0, 931.0, 942.0, 953.0, 965.0, 976.0, 988.0,
];

impl Granularity {
    fn named(value: &Bson) -> Result<Granularity> {
        let Bson::String(name) = value else {
            return Err(MqlError::type_mismatch(format!(
                "`{OP}` requires `granularity` to be a string, found {}",
                crate::value::type_name(value)
            )));
        };
        Ok(Granularity::Series(match name.as_str() {
            "R5" => R5,
            "R10" => R10,
            "R20" => R20,
            "R40" => R40,
            "R80" => R80,
            "1-2-5" => SERIES_125,
            "E6" => E6,
            "E12" => E12,
            "E24" => E24,
            "E48" => E48,
            "E96" => E96,
            "E192" => E192,
            "POWERSOF2" => return Ok(Granularity::PowersOfTwo),
            other => {
                return Err(MqlError::bad_value(format!(
                    "`{OP}`: unknown `granularity` \"{other}\""
                )))
            }
        }))
    }

    /// A key must be a non-negative number. Infinities are refused too, and positive keys
    /// below 1e-300: the server's rounding loops never end on either (its multiplier reaches
    /// infinity or zero).
    fn check(&self, key: &Bson) -> Result<()> {
        let numeric = |what: &str| {
            MqlError::bad_value(format!(
                "`{OP}` can specify a `granularity` with {what} only, but found {key}"
            ))
        };
        let (negative, nan, infinite, tiny) = match key {
            Bson::Decimal128(decimal) => {
                let decimal = Decimal::from_bytes(decimal.bytes());
                let tiny = Decimal::from_f64_digits(1e-300, 1);
                let magnitude = decimal.abs();
                (
                    decimal.is_negative() && !decimal.is_zero(),
                    matches!(decimal, Decimal::NaN),
                    matches!(decimal, Decimal::Infinite { .. }),
                    !decimal.is_zero() && magnitude.compare(tiny) == Ordering::Less,
                )
            }
            other => {
                let Some(value) = as_f64(other) else {
                    return Err(MqlError::type_mismatch(format!(
                        "`{OP}` can specify a `granularity` with numeric boundaries only, but found a value of type {}",
                        crate::value::type_name(key)
                    )));
                };
                (
                    value < 0.0,
                    value.is_nan(),
                    value.is_infinite(),
                    value != 0.0 && value.abs() < 1e-300,
                )
            }
        };
        if nan {
            return Err(numeric("numeric boundaries"));
        }
        if negative {
            return Err(numeric("non-negative numbers"));
        }
        if infinite || tiny {
            return Err(numeric("finite keys of at least 1e-300 (or zero)"));
        }
        Ok(())
    }

    /// `value` rounded up (to the least series value above it) or down (to the greatest below
    /// it); zero stays as it is. Keys were checked by [`Granularity::check`].
    fn round(&self, value: &Bson, up: bool) -> Result<Bson> {
        self.check(value)?;
        if as_f64(value) == Some(0.0) {
            return Ok(value.clone());
        }
        Ok(match (self, value) {
            (Granularity::Series(series), Bson::Decimal128(decimal)) => {
                let steps: Vec<Decimal> = series
                    .iter()
                    .map(|&step| Decimal::from_f64_digits(step, 15))
                    .collect();
                let number = Decimal::from_bytes(decimal.bytes());
                Bson::Decimal128(round_in(&steps, number, up).to_decimal128())
            }
            (Granularity::Series(series), _) => {
                Bson::Double(round_in(series, as_f64(value).unwrap_or(0.0), up))
            }
            (Granularity::PowersOfTwo, _) => power_of_two(value, up)?,
        })
    }
}

/// The number types a series rounds in: doubles, and decimals for decimal keys.
trait Scalable: Copy {
    fn one() -> Self;
    fn ten() -> Self;
    fn times(self, other: Self) -> Self;
    fn over(self, other: Self) -> Self;
    fn order(self, other: Self) -> Ordering;
}

impl Scalable for f64 {
    fn one() -> f64 {
        1.0
    }
    fn ten() -> f64 {
        10.0
    }
    fn times(self, other: f64) -> f64 {
        self * other
    }
    fn over(self, other: f64) -> f64 {
        self / other
    }
    fn order(self, other: f64) -> Ordering {
        self.total_cmp(&other)
    }
}

impl Scalable for Decimal {
    fn one() -> Decimal {
        Decimal::from_i64(1)
    }
    fn ten() -> Decimal {
        Decimal::from_i64(10)
    }
    fn times(self, other: Decimal) -> Decimal {
        self.multiply(other)
    }
    fn over(self, other: Decimal) -> Decimal {
        self.divide(other)
    }
    fn order(self, other: Decimal) -> Ordering {
        self.compare(other)
    }
}

/// `number` (positive, at least 1e-300, finite) rounded up to the least series value above it
/// or down to the greatest below it: MongoDB's loop, step for step, so that the multiplier
/// carries the same rounding, in doubles or in decimals (the series then as `Decimal128(double)`
/// makes them, with 15 digits).
fn round_in<T: Scalable>(series: &[T], number: T, up: bool) -> T {
    let (Some(&first), Some(&last)) = (series.first(), series.last()) else {
        return number;
    };
    let below = |a: T, b: T| a.order(b) == Ordering::Less;
    let mut multiplier = T::one();
    if up {
        while !below(number, last.times(multiplier)) {
            multiplier = multiplier.times(T::ten());
        }
        while below(number, first.times(multiplier)) {
            let previous_min = first.times(multiplier);
            multiplier = multiplier.over(T::ten());
            if !below(number, last.times(multiplier)) {
                return previous_min;
            }
        }
        let at = series.partition_point(|&step| !below(number, step.times(multiplier)));
        series
            .get(at)
            .map_or(number, |&step| step.times(multiplier))
    } else {
        while !below(first.times(multiplier), number) {
            multiplier = multiplier.over(T::ten());
        }
        while below(last.times(multiplier), number) {
            let previous_max = last.times(multiplier);
            multiplier = multiplier.times(T::ten());
            if !below(first.times(multiplier), number) {
                return previous_max;
            }
        }
        let at = series.partition_point(|&step| below(step.times(multiplier), number));
        at.checked_sub(1)
            .and_then(|below| series.get(below))
            .map_or(number, |&step| step.times(multiplier))
    }
}

/// `POWERSOF2`: `2^e` as MongoDB computes it, through `$pow(2, e)`: an int or long from an
/// integer or double key (a double for a negative exponent or past a long), and for a decimal
/// key a decimal of 34 significant digits (`Decimal128::power` rounds to the full precision).
fn power_of_two(value: &Bson, up: bool) -> Result<Bson> {
    let exponent: i64 = match value {
        Bson::Int32(_) | Bson::Int64(_) => {
            let number = match value {
                Bson::Int32(n) => i64::from(*n),
                Bson::Int64(n) => *n,
                _ => 0,
            };
            let bits = 64 - i64::from(number.leading_zeros());
            if up {
                bits
            } else if number.count_ones() == 1 {
                bits - 2
            } else {
                bits - 1
            }
        }
        other => {
            let log = as_f64(other).unwrap_or(1.0).log2();
            if up {
                log.floor() as i64 + 1
            } else {
                log.ceil() as i64 - 1
            }
        }
    };
    if let Bson::Decimal128(_) = value {
        // 2^e is exact in a double over the whole range a key can reach, and 34 digits of
        // it, correctly rounded, are what the decimal power gives.
        let power = 2f64.powi(i32::try_from(exponent).unwrap_or(i32::MAX));
        return Ok(Bson::Decimal128(Decimal::from_f64(power).to_decimal128()));
    }
    let exponent = i32::try_from(exponent).unwrap_or(i32::MAX);
    Ok(arithmetic("$pow", Bson::Int32(2), Bson::Int32(exponent))?.unwrap_or(Bson::Null))
}
