//! `$minMaxScaler` (MongoDB 8.2): each document's input rescaled from its window's
//! `[min, max]` to a constant output range, as the server's
//! `window_function_min_max_scaler_util.cpp` computes it.
//!
//! The window must hold the current document (a numeric lower bound at most 0, an upper one at
//! least 0), and every input must be a number: since each document lies in its own window, one
//! non-numeric input fails the stage, as on the server. The window's extremes come from two
//! monotonic queues, so a partition costs one pass whatever the window's size.

use std::cmp::Ordering;
use std::collections::VecDeque;

use bson::{Bson, Document};

use super::{Bound, Window};
use crate::error::{MqlError, Result};
use crate::expr::{arithmetic, type_of, Expr, Variables};
use crate::value::{compare_values, is_number};

const NAME: &str = "$minMaxScaler";

/// A compiled `$minMaxScaler`: the input and the output range's low end and width
/// (`max - min`, computed once).
#[derive(Debug, Clone)]
pub(super) struct MinMaxScaler {
    input: Expr,
    low: Bson,
    span: Bson,
}

impl MinMaxScaler {
    /// `{input, min, max}` (`min` and `max` both or neither, default 0 and 1), or the input
    /// expression alone.
    pub(super) fn compile(argument: &Bson) -> Result<MinMaxScaler> {
        let spec = match argument {
            // An operator expression (`{$add: ...}`) is an input, not the arguments object.
            Bson::Document(spec) if !spec.keys().next().is_some_and(|k| k.starts_with('$')) => spec,
            input => {
                return MinMaxScaler::new(Expr::compile(input)?, Bson::Int32(0), Bson::Int32(1))
            }
        };
        let mut input = None;
        let (mut low, mut high) = (None, None);
        for (key, value) in spec {
            match key.as_str() {
                "input" => input = Some(Expr::compile(value)?),
                "min" => low = Some(value),
                "max" => high = Some(value),
                other => {
                    return Err(MqlError::parse(format!(
                        "`{NAME}` found an unknown argument `{other}`"
                    )))
                }
            }
        }
        let input = input.ok_or_else(|| MqlError::parse(format!("`{NAME}` requires `input`")))?;
        let (low, high) = match (low, high) {
            (None, None) => (Bson::Int32(0), Bson::Int32(1)),
            (Some(low), Some(high)) => {
                (constant_number("min", low)?, constant_number("max", high)?)
            }
            _ => {
                return Err(MqlError::parse(format!(
                    "Only one of 'min' and 'max' were specified as an argument to {NAME}. \
                     Neither or both must be specified"
                )))
            }
        };
        if compare_values(&low, &high) != Ordering::Less {
            return Err(MqlError::parse(format!(
                "the 'max' must be strictly greater than 'min', as arguments to {NAME}"
            )));
        }
        MinMaxScaler::new(input, low, high)
    }

    fn new(input: Expr, low: Bson, high: Bson) -> Result<MinMaxScaler> {
        let span = arithmetic("$subtract", high, low.clone())?.unwrap_or(Bson::Null);
        Ok(MinMaxScaler { input, low, span })
    }

    /// The window must always hold the current document.
    pub(super) fn check_window(window: &Window) -> Result<()> {
        let (Window::Documents(lower, upper) | Window::Range(lower, upper, _)) = window;
        let ends = [
            ("Lower", "greater than", *lower, 1.0),
            ("Upper", "less than", *upper, -1.0),
        ];
        for (end, relation, bound, outside) in ends {
            if let Bound::Offset(offset) = bound {
                if offset * outside > 0.0 {
                    return Err(MqlError::parse(format!(
                        "{end} specified bound cannot be {relation} 0 (the current doc), as \
                         {NAME} must ensure that the current document being processed is \
                         always within the configured window. {end} specified bound = \
                         {offset:.6}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every input of a partition: numbers only.
    pub(super) fn inputs(&self, docs: &[Document], vars: &Variables) -> Result<Vec<Bson>> {
        docs.iter()
            .map(|doc| match self.input.evaluate(doc, vars)? {
                Some(value) if is_number(&value) => Ok(value),
                other => Err(MqlError::type_mismatch(format!(
                    "'input' argument to {NAME} must evaluate to a numeric type, got: {}",
                    type_of(other.as_ref())
                ))),
            })
            .collect()
    }

    /// The scaled value of every document of a partition, given its inputs and windows.
    pub(super) fn column(
        &self,
        inputs: &[Bson],
        windows: &[(usize, usize)],
        growing: bool,
        visits: &mut usize,
        max_visits: usize,
    ) -> Result<Vec<Bson>> {
        let mut extremes = Extremes::new(inputs, growing);
        let mut column = Vec::with_capacity(inputs.len());
        for (value, &(first, last)) in inputs.iter().zip(windows) {
            let Some((min, max)) = extremes.of(first, last, visits) else {
                column.push(Bson::Null);
                continue;
            };
            super::check_visits(*visits, max_visits)?;
            column.push(self.scale(value, min, max)?);
        }
        Ok(column)
    }

    /// `((x - min) / (max - min)) * (high - low) + low` in expression arithmetic; `low` when
    /// the window holds one value only.
    fn scale(&self, x: &Bson, min: &Bson, max: &Bson) -> Result<Bson> {
        if compare_values(min, max) == Ordering::Equal {
            return Ok(self.low.clone());
        }
        let value = |result: Option<Bson>| result.unwrap_or(Bson::Null);
        let unit = arithmetic(
            "$divide",
            value(arithmetic("$subtract", x.clone(), min.clone())?),
            value(arithmetic("$subtract", max.clone(), min.clone())?),
        )?;
        let scaled = arithmetic("$multiply", value(unit), self.span.clone())?;
        Ok(value(arithmetic("$add", value(scaled), self.low.clone())?))
    }
}

/// `min` or `max`: a constant number (a literal, `$literal`, or an expression of constants
/// such as `{$multiply: [5, 2]}`, folded first as the server does).
fn constant_number(name: &str, value: &Bson) -> Result<Bson> {
    let Some(folded) = Expr::compile(value)?.folded() else {
        return Err(MqlError::parse(format!(
            "'{name}' argument to {NAME} must be a constant"
        )));
    };
    match folded? {
        Some(constant) if is_number(&constant) => Ok(constant),
        _ => Err(MqlError::parse(format!(
            "'{name}' argument to {NAME} must be a numeric type"
        ))),
    }
}

/// The smallest and the largest value of windows that move forward, from two monotonic
/// queues of positions: each position enters and leaves each queue once. A window that moves
/// back (which sorted windows never do) is read in full.
///
/// Among equal values (which may differ in type: `0` and `NumberDecimal("0")`, and the
/// result's type follows the one chosen) the server keeps the first one seen as the minimum;
/// as the maximum, the first one in a growing window (its running `MinAndMax` replaces only
/// on a strictly greater value) and the last one in a sliding window (its ordered multiset
/// inserts after equal values).
struct Extremes<'a> {
    values: &'a [Bson],
    /// Whether the windows start at the partition's first document.
    growing: bool,
    /// Positions of increasing values: the front is the window's minimum.
    lows: VecDeque<usize>,
    /// Positions of decreasing values: the front is the window's maximum.
    highs: VecDeque<usize>,
    /// The next position to enter the queues.
    next: usize,
    /// The first position of the last window read through the queues.
    first: usize,
}

impl<'a> Extremes<'a> {
    fn new(values: &'a [Bson], growing: bool) -> Extremes<'a> {
        Extremes {
            values,
            growing,
            lows: VecDeque::new(),
            highs: VecDeque::new(),
            next: 0,
            first: 0,
        }
    }

    /// The extremes of positions `first..=last`; `None` for an empty window.
    fn of(
        &mut self,
        first: usize,
        last: usize,
        visits: &mut usize,
    ) -> Option<(&'a Bson, &'a Bson)> {
        if first > last || last >= self.values.len() {
            return None;
        }
        if first < self.first || last + 1 < self.next {
            return self.scan(first, last, visits);
        }
        self.first = first;
        while self.next <= last {
            let value = self.values.get(self.next)?;
            self.push(self.next, value);
            self.next += 1;
            *visits += 1;
        }
        let values = self.values;
        let outside = |at: &usize| *at < first;
        while self.lows.front().is_some_and(outside) {
            self.lows.pop_front();
        }
        while self.highs.front().is_some_and(outside) {
            self.highs.pop_front();
        }
        let min = values.get(*self.lows.front()?)?;
        let max = values.get(*self.highs.front()?)?;
        Some((min, max))
    }

    fn push(&mut self, at: usize, value: &Bson) {
        let values = self.values;
        let compare = |other: &usize| {
            values
                .get(*other)
                .map_or(Ordering::Equal, |other| compare_values(other, value))
        };
        // A later equal value never displaces an earlier minimum.
        while self
            .lows
            .back()
            .is_some_and(|back| compare(back) == Ordering::Greater)
        {
            self.lows.pop_back();
        }
        self.lows.push_back(at);
        // It displaces an equal maximum in a sliding window only.
        let growing = self.growing;
        let displaced = |order: Ordering| match order {
            Ordering::Less => true,
            Ordering::Equal => !growing,
            Ordering::Greater => false,
        };
        while self
            .highs
            .back()
            .is_some_and(|back| displaced(compare(back)))
        {
            self.highs.pop_back();
        }
        self.highs.push_back(at);
    }

    /// The extremes of a window read in full.
    fn scan(&self, first: usize, last: usize, visits: &mut usize) -> Option<(&'a Bson, &'a Bson)> {
        let window = self.values.get(first..=last)?;
        *visits += window.len();
        let (mut min, mut max) = (window.first()?, window.first()?);
        for value in window {
            if compare_values(value, min) == Ordering::Less {
                min = value;
            }
            match compare_values(value, max) {
                Ordering::Greater => max = value,
                Ordering::Equal if !self.growing => max = value,
                _ => {}
            }
        }
        Some((min, max))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// The queues agree with a full read of every window, for windows of every shape over
    /// values with ties, mixed numeric types and NaN.
    #[test]
    fn queues_agree_with_reading_each_window() {
        let values: Vec<Bson> = [
            3.0,
            1.0,
            4.0,
            1.0,
            5.0,
            9.0,
            2.0,
            6.0,
            f64::NAN,
            5.0,
            3.0,
            5.0,
        ]
        .iter()
        .enumerate()
        .map(|(i, v)| match i % 3 {
            0 if v.fract() == 0.0 => Bson::Int32(*v as i32),
            1 if v.fract() == 0.0 => Bson::Int64(*v as i64),
            _ => Bson::Double(*v),
        })
        .collect();
        let n = values.len();
        for growing in [false, true] {
            for before in 0..=n {
                for after in 0..n {
                    // `before == n`: the window starts at the first document.
                    let mut extremes = Extremes::new(&values, growing);
                    let mut visits = 0;
                    for at in 0..n {
                        let first = if before == n {
                            0
                        } else {
                            at.saturating_sub(before)
                        };
                        let last = (at + after).min(n - 1);
                        let (min, max) = extremes.of(first, last, &mut visits).unwrap();
                        let (want_min, want_max) = Extremes::new(&values, growing)
                            .scan(first, last, &mut 0)
                            .unwrap();
                        // The same value, and the same one of equal values (by position).
                        assert!(std::ptr::eq(min, want_min), "min of {first}..={last}");
                        assert!(std::ptr::eq(max, want_max), "max of {first}..={last}");
                    }
                    assert_eq!(visits, n, "one pass for a forward-moving window");
                }
            }
        }
    }
}
