//! `$percentile` and `$median`, as array expressions here and as `$group` and window
//! accumulators through [`Quantiles`]. Rules from MongoDB's `accumulator_percentile.cpp` and
//! `percentile_algo_*.cpp` (7.0+):
//! - only numbers count, read as doubles (the results are doubles); NaN is skipped;
//! - `p` is a constant, non-empty array of numbers in `[0, 1]`;
//! - `discrete` takes the value at 0-based rank `ceil(n·p) - 1` (at least 0; `n - 1` for
//!   `p = 1`); `continuous` interpolates linearly at rank `p·(n - 1)`; next to an infinity the
//!   result is that infinity;
//! - `approximate` is computed as `discrete`. MongoDB's expression does the same; its `$group`
//!   accumulator uses a t-digest whose answer is the discrete one while the group is small
//!   (every centroid holds one value) and an approximation of it beyond;
//! - with no numbers, `$percentile` gives one null per `p` and `$median` null.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use bson::Bson;

use super::compile::{named_args, required, Compiler};
use super::{Cx, Expr, Node};
use crate::error::{MqlError, Result};

/// What `$percentile` or `$median` computes: the percentiles `ps` by one method.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quantiles {
    ps: Vec<f64>,
    continuous: bool,
    /// `$median`: one value rather than an array.
    median: bool,
}

impl Quantiles {
    /// Reads `{input, p, method}` (`{input, method}` for `$median`); returns the `input`
    /// operand, uncompiled, with the spec.
    pub(crate) fn parse<'a>(op: &str, operand: &'a Bson) -> Result<(&'a Bson, Quantiles)> {
        let median = op == "$median";
        let names: &[&str] = if median {
            &["input", "method"]
        } else {
            &["input", "p", "method"]
        };
        let args = named_args(op, operand, names)?;
        let mut args = args.into_iter();
        let input = required(op, "input", args.next().flatten())?;
        let ps = if median {
            vec![0.5]
        } else {
            percentiles(op, required(op, "p", args.next().flatten())?)?
        };
        let continuous = match required(op, "method", args.next().flatten())? {
            Bson::String(method) if method == "approximate" || method == "discrete" => false,
            Bson::String(method) if method == "continuous" => true,
            other => {
                return Err(MqlError::bad_value(format!(
                    "`{op}` requires `method` to be \"approximate\", \"discrete\" or \"continuous\", found {other}"
                )))
            }
        };
        Ok((
            input,
            Quantiles {
                ps,
                continuous,
                median,
            },
        ))
    }

    /// The result over `samples` (numbers as doubles, NaN already left out); sorts them.
    pub(crate) fn finish(&self, samples: &mut [f64]) -> Bson {
        samples.sort_unstable_by(f64::total_cmp);
        let values = self
            .ps
            .iter()
            .map(|&p| match percentile(samples, p, self.continuous) {
                Some(value) => Bson::Double(value),
                None => Bson::Null,
            });
        self.format(values)
    }

    /// An empty running computation of these percentiles.
    pub(crate) fn running(&self) -> RunningQuantiles {
        RunningQuantiles {
            quantiles: self.clone(),
            running: self
                .ps
                .iter()
                .map(|&p| Running {
                    p,
                    ..Running::default()
                })
                .collect(),
        }
    }

    /// The result when every percentile is `value`: the input was one number.
    fn constant(&self, value: f64) -> Bson {
        self.format(self.ps.iter().map(|_| Bson::Double(value)))
    }

    fn format(&self, mut values: impl Iterator<Item = Bson>) -> Bson {
        if self.median {
            values.next().unwrap_or(Bson::Null)
        } else {
            Bson::Array(values.collect())
        }
    }
}

/// A value `$percentile` and `$median` count: a number other than NaN, as a double.
pub(crate) fn sample(value: &Bson) -> Option<f64> {
    crate::value::as_f64(value).filter(|value| !value.is_nan())
}

/// `p`: it must be a constant, after folding expressions of constants as MongoDB does.
fn percentiles(op: &str, p: &Bson) -> Result<Vec<f64>> {
    let Some(value) = Expr::compile(p)?.folded().transpose()?.flatten() else {
        return Err(MqlError::bad_value(format!(
            "`{op}` requires `p` to be an array of constant values, found {p}"
        )));
    };
    let invalid = |found: &dyn std::fmt::Display| {
        MqlError::bad_value(format!(
            "`{op}` requires `p` to be an array of numbers from [0.0, 1.0], found {found}"
        ))
    };
    let items = match &value {
        Bson::Array(items) if !items.is_empty() => items,
        other => return Err(invalid(other)),
    };
    items
        .iter()
        .map(|item| {
            let p = crate::value::as_f64(item).ok_or_else(|| invalid(item))?;
            if (0.0..=1.0).contains(&p) {
                Ok(p)
            } else {
                Err(invalid(&p))
            }
        })
        .collect()
}

/// Where the `p` percentile of `n` values lies, by 0-based rank in ascending order: the ranks
/// of the two values it reads (the same one for `discrete`, or when the rank is whole) and the
/// rank itself; `None` when `n` is 0.
fn ranks(n: usize, p: f64, continuous: bool) -> Option<(usize, usize, f64)> {
    let last = n.checked_sub(1)?;
    if !continuous {
        let rank = if p >= 1.0 {
            last
        } else {
            // `n·p` is at most `n`, so the cast cannot overflow.
            ((n as f64 * p).ceil() as usize).saturating_sub(1).min(last)
        };
        return Some((rank, rank, rank as f64));
    }
    let rank = p * last as f64;
    let floor = (rank.floor() as usize).min(last);
    Some((floor, (rank.ceil() as usize).min(last), rank))
}

/// The percentile from the values at its two ranks: next to an infinity it is that infinity
/// (the lower one first), else the linear interpolation.
fn between((floor, ceil, rank): (usize, usize, f64), low: f64, high: f64) -> f64 {
    if low == f64::NEG_INFINITY || high == f64::INFINITY || floor == ceil {
        return if low == f64::NEG_INFINITY { low } else { high };
    }
    (ceil as f64 - rank) * low + (rank - floor as f64) * high
}

/// The `p` percentile of `sorted` (ascending, no NaN); `None` when it is empty.
fn percentile(sorted: &[f64], p: f64, continuous: bool) -> Option<f64> {
    let at = ranks(sorted.len(), p, continuous)?;
    Some(between(at, *sorted.get(at.0)?, *sorted.get(at.1)?))
}

/// A double ordered by `total_cmp`, for the heaps of [`Running`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Total(f64);

impl Eq for Total {}

impl PartialOrd for Total {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Total {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One percentile of a set that only grows (a window from the partition's first document):
/// `lower` holds the values up to the percentile's first rank, `upper` the others, so that a
/// value costs `O(log n)` instead of a sort.
#[derive(Debug, Clone, Default)]
struct Running {
    p: f64,
    lower: BinaryHeap<Total>,
    upper: BinaryHeap<Reverse<Total>>,
}

impl Running {
    fn insert(&mut self, value: f64, continuous: bool) {
        match self.lower.peek() {
            Some(top) if Total(value) < *top => self.lower.push(Total(value)),
            _ => self.upper.push(Reverse(Total(value))),
        }
        let n = self.lower.len() + self.upper.len();
        let wanted = ranks(n, self.p, continuous).map_or(0, |(floor, _, _)| floor + 1);
        while self.lower.len() > wanted {
            if let Some(top) = self.lower.pop() {
                self.upper.push(Reverse(top));
            }
        }
        while self.lower.len() < wanted {
            match self.upper.pop() {
                Some(Reverse(least)) => self.lower.push(least),
                None => break,
            }
        }
    }

    fn value(&self, continuous: bool) -> Option<f64> {
        let n = self.lower.len() + self.upper.len();
        let at = ranks(n, self.p, continuous)?;
        let low = self.lower.peek()?.0;
        let high = if at.1 > at.0 {
            self.upper.peek().map_or(low, |Reverse(least)| least.0)
        } else {
            low
        };
        Some(between(at, low, high))
    }
}

/// [`Quantiles`] over a set that only grows, one [`Running`] per percentile.
#[derive(Debug, Clone)]
pub(crate) struct RunningQuantiles {
    quantiles: Quantiles,
    running: Vec<Running>,
}

impl RunningQuantiles {
    pub(crate) fn insert(&mut self, value: f64) {
        for running in &mut self.running {
            running.insert(value, self.quantiles.continuous);
        }
    }

    pub(crate) fn value(&self) -> Bson {
        let continuous = self.quantiles.continuous;
        self.quantiles.format(
            self.running
                .iter()
                .map(|running| match running.value(continuous) {
                    Some(value) => Bson::Double(value),
                    None => Bson::Null,
                }),
        )
    }
}

/// `$percentile` and `$median` as expressions: over the numbers of an array, or one number.
#[derive(Debug, Clone)]
pub(crate) struct QuantileSpec {
    input: Node,
    quantiles: Quantiles,
}

impl QuantileSpec {
    pub(crate) fn compile(cc: &mut Compiler, op: &str, operand: &Bson) -> Result<QuantileSpec> {
        let (input, quantiles) = Quantiles::parse(op, operand)?;
        Ok(QuantileSpec {
            input: cc.compile(input)?,
            quantiles,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let result = match self.input.eval(cx)? {
            Some(Bson::Array(items)) => {
                let mut samples: Vec<f64> = items.iter().filter_map(sample).collect();
                self.quantiles.finish(&mut samples)
            }
            Some(value) => match crate::value::number(&value) {
                Some(number) => self.quantiles.constant(number.as_f64()),
                None => self.quantiles.finish(&mut []),
            },
            None => self.quantiles.finish(&mut []),
        };
        Ok(Some(result))
    }
}

/// The operand of a `$group` accumulator `{$percentile: {...}}`, split into its input.
pub(crate) fn accumulator_input(op: &str, operand: &Bson) -> Result<(Bson, Quantiles)> {
    if !matches!(operand, Bson::Document(_)) {
        return Err(MqlError::parse(format!(
            "the `{op}` accumulator requires an object argument"
        )));
    }
    let (input, quantiles) = Quantiles::parse(op, operand)?;
    Ok((input.clone(), quantiles))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(values: &[f64], p: f64, continuous: bool) -> Option<f64> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        percentile(&sorted, p, continuous)
    }

    #[test]
    fn discrete_takes_the_lower_rank() {
        let values = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(at(&values, 0.5, false), Some(2.0));
        assert_eq!(at(&values, 0.0, false), Some(1.0));
        assert_eq!(at(&values, 0.26, false), Some(2.0));
        assert_eq!(at(&values, 0.25, false), Some(1.0));
        assert_eq!(at(&values, 1.0, false), Some(4.0));
        assert_eq!(at(&[], 0.5, false), None);
    }

    #[test]
    fn continuous_interpolates() {
        let values = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(at(&values, 0.5, true), Some(2.5));
        assert_eq!(at(&values, 1.0, true), Some(4.0));
        assert_eq!(at(&values, 0.0, true), Some(1.0));
        assert_eq!(at(&[1.0, f64::INFINITY], 0.5, true), Some(f64::INFINITY));
        assert_eq!(
            at(&[f64::NEG_INFINITY, f64::INFINITY], 0.5, true),
            Some(f64::NEG_INFINITY)
        );
    }

    #[test]
    fn running_percentiles_agree_with_sorting() {
        let values = [
            5.0,
            -1.0,
            3.5,
            3.5,
            8.0,
            f64::INFINITY,
            0.0,
            -7.25,
            2.0,
            f64::NEG_INFINITY,
            4.0,
            1.0,
        ];
        for continuous in [false, true] {
            for p in [0.0, 0.1, 0.25, 0.5, 0.51, 0.9, 1.0] {
                let mut running = Running {
                    p,
                    ..Running::default()
                };
                for (count, &value) in values.iter().enumerate() {
                    running.insert(value, continuous);
                    let expected = at(&values[..=count], p, continuous);
                    let got = running.value(continuous);
                    assert!(
                        got == expected
                            || got
                                .zip(expected)
                                .is_some_and(|(a, b)| a.is_nan() && b.is_nan()),
                        "p {p} continuous {continuous} after {count}: {got:?} vs {expected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn p_must_be_constant_numbers_in_range() {
        for bad in [
            bson::bson!([]),
            bson::bson!([1.5]),
            bson::bson!(["a"]),
            bson::bson!(0.5),
            bson::bson!(["$x"]),
        ] {
            let spec =
                Bson::Document(bson::doc! { "input": "$x", "p": bad, "method": "approximate" });
            assert!(Quantiles::parse("$percentile", &spec).is_err());
        }
        let spec = Bson::Document(
            bson::doc! { "input": "$x", "p": { "$literal": [0, 1] }, "method": "discrete" },
        );
        assert!(Quantiles::parse("$percentile", &spec).is_ok());
    }
}
