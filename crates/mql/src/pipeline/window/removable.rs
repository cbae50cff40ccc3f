//! MongoDB's removable window functions, replayed add for add and remove for remove.
//!
//! A window whose lower bound is not `unbounded` is computed by the server as it slides: the
//! documents entering it are added to a running state and those leaving it removed
//! (`window_function_exec_removable_*.cpp`). Floating-point sums kept that way differ in
//! their last bits from sums computed afresh over each window, so `$sum`, `$avg`, `$stdDevPop`,
//! `$stdDevSamp`, `$covariancePop`, `$covarianceSamp` and `$integral` run the same states in the
//! same order here ([`slide`]): `RemovableSum` (`window_function_sum.h`), `WindowFunctionAvg`,
//! `WindowFunctionStdDev`, `WindowFunctionCovariance` and `WindowFunctionIntegral`.

use std::collections::VecDeque;

use bson::Bson;

use crate::decimal::{Decimal, Rounding};
use crate::error::{MqlError, Result};
use crate::expr::{arithmetic, Num, Total};

/// A running window state.
pub(super) trait Removable {
    /// Adds `value` (`quantity` 1) or removes it again (-1), as the server's `add` and
    /// `remove`.
    fn update(&mut self, value: &Bson, quantity: i64) -> Result<()>;
    /// The value for the window as it stands (some states settle themselves when read).
    fn value(&mut self) -> Result<Bson>;
}

/// Runs `state` over each window (`(first, last)` positions, empty when first > last), adding
/// the values entering a window before removing those leaving it, as the server does; `value`
/// gives a position's value (evaluated once, when it enters). Returns one value per window
/// and counts the values added against `visits`.
pub(super) fn slide(
    windows: &[(usize, usize)],
    mut value: impl FnMut(usize) -> Result<Bson>,
    state: &mut dyn Removable,
    visits: &mut usize,
) -> Result<Vec<Bson>> {
    let mut held: VecDeque<Bson> = VecDeque::new();
    // The positions held, `first..next`.
    let (mut first_held, mut next) = (0usize, 0usize);
    let mut column = Vec::with_capacity(windows.len());
    for &(first, last) in windows {
        if first > last {
            while let Some(old) = held.pop_front() {
                state.update(&old, -1)?;
            }
            (first_held, next) = (next, next);
            column.push(state.value()?);
            continue;
        }
        if held.is_empty() || first < first_held || last + 1 < next {
            // A new window, or one that moved back (which the server's windows never do).
            while let Some(old) = held.pop_front() {
                state.update(&old, -1)?;
            }
            (first_held, next) = (first, first);
        }
        while next <= last {
            let entering = value(next)?;
            state.update(&entering, 1)?;
            held.push_back(entering);
            next += 1;
            *visits = visits.saturating_add(1);
        }
        while first_held < first {
            if let Some(old) = held.pop_front() {
                state.update(&old, -1)?;
            }
            first_held += 1;
        }
        column.push(state.value()?);
    }
    Ok(column)
}

/// An arithmetic expression operator on two values (`$subtract`, ...), null for null.
fn evaluate(op: &str, a: Bson, b: Bson) -> Result<Bson> {
    Ok(arithmetic(op, a, b)?.unwrap_or(Bson::Null))
}

/// `RemovableSum`: a `$sum` whose values can be taken out again (by adding their negation),
/// with NaN and the infinities counted apart so that they leave cleanly, and the result
/// narrowed back to the types of the values still in the window.
#[derive(Debug, Clone, Default)]
pub(super) struct RemovableSum {
    total: Total,
    positive_infinities: i64,
    negative_infinities: i64,
    nans: i64,
    doubles: i64,
    decimals: i64,
}

impl RemovableSum {
    fn sum(&self) -> Num {
        let special = |value: f64| {
            if self.decimals > 0 {
                Num::Dec(Decimal::from_f64_exact(value))
            } else {
                Num::F64(value)
            }
        };
        if self.nans > 0 || (self.positive_infinities > 0 && self.negative_infinities > 0) {
            return special(f64::NAN);
        }
        if self.positive_infinities > 0 {
            return special(f64::INFINITY);
        }
        if self.negative_infinities > 0 {
            return special(f64::NEG_INFINITY);
        }
        match self.total.sum() {
            Num::Dec(total) if self.decimals == 0 => {
                if self.doubles > 0 {
                    return Num::F64(total.to_f64());
                }
                match total.round_to(0, Rounding::HalfEven).truncated_i64() {
                    Some(long) => Num::int_or_long(long),
                    None => Num::F64(total.to_f64()),
                }
            }
            Num::F64(total)
                if self.doubles == 0 && total > i64::MIN as f64 && total < i64::MAX as f64 =>
            {
                Num::int_or_long(total.round() as i64)
            }
            Num::I64(long) => Num::int_or_long(long),
            other => other,
        }
    }
}

impl Removable for RemovableSum {
    fn update(&mut self, value: &Bson, quantity: i64) -> Result<()> {
        let Some(number) = Num::of(value) else {
            return Ok(());
        };
        match number {
            Num::I32(v) => {
                if v == i32::MIN && quantity == -1 {
                    self.total.add(Num::I32(i32::MAX));
                    self.total.add(Num::I32(1));
                } else {
                    self.total.add(Num::I32(if quantity < 0 { -v } else { v }));
                }
            }
            Num::I64(v) => {
                if v == i64::MIN && quantity == -1 {
                    self.total.add(Num::I64(i64::MAX));
                    self.total.add(Num::I32(1));
                } else {
                    self.total.add(Num::I64(if quantity < 0 { -v } else { v }));
                }
            }
            Num::F64(v) => {
                self.doubles += quantity;
                if v.is_nan() {
                    self.nans += quantity;
                } else if v == f64::INFINITY {
                    self.positive_infinities += quantity;
                } else if v == f64::NEG_INFINITY {
                    self.negative_infinities += quantity;
                } else {
                    self.total.add(Num::F64(v * quantity as f64));
                }
            }
            Num::Dec(v) => {
                self.decimals += quantity;
                match v {
                    Decimal::NaN => self.nans += quantity,
                    Decimal::Infinite { negative: false } => self.positive_infinities += quantity,
                    Decimal::Infinite { negative: true } => self.negative_infinities += quantity,
                    finite => self.total.add(Num::Dec(if quantity < 0 {
                        finite.negate()
                    } else {
                        finite
                    })),
                }
            }
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Bson> {
        Ok(self.sum().into_bson())
    }
}

/// `WindowFunctionAvg`: a removable sum and a count of the numbers in the window.
#[derive(Debug, Clone, Default)]
pub(super) struct RemovableAvg {
    sum: RemovableSum,
    count: i64,
}

impl RemovableAvg {
    fn mean(&self) -> Result<Bson> {
        if self.count == 0 {
            return Ok(Bson::Null);
        }
        Ok(match self.sum.sum() {
            Num::I32(v) => Bson::Double(f64::from(v) / self.count as f64),
            Num::I64(v) => Bson::Double(v as f64 / self.count as f64),
            Num::F64(v) if !v.is_finite() => Bson::Double(v),
            Num::F64(v) => Bson::Double(v / self.count as f64),
            Num::Dec(v @ (Decimal::NaN | Decimal::Infinite { .. })) => Num::Dec(v).into_bson(),
            Num::Dec(v) => Num::Dec(v.divide(Decimal::from_i64(self.count))).into_bson(),
        })
    }
}

impl Removable for RemovableAvg {
    fn update(&mut self, value: &Bson, quantity: i64) -> Result<()> {
        if Num::of(value).is_some() {
            self.sum.update(value, quantity)?;
            self.count += quantity;
        }
        Ok(())
    }
    fn value(&mut self) -> Result<Bson> {
        self.mean()
    }
}

/// `WindowFunctionStdDev`: running sums of the values and of the squared differences, NaN
/// while a non-finite value is in the window.
#[derive(Debug, Clone)]
pub(super) struct StdDev {
    sample: bool,
    sum: Total,
    m2: Total,
    count: i64,
    non_finite: i64,
}

impl StdDev {
    pub(super) fn new(sample: bool) -> StdDev {
        StdDev {
            sample,
            sum: Total::default(),
            m2: Total::default(),
            count: 0,
            non_finite: 0,
        }
    }
}

impl Removable for StdDev {
    fn update(&mut self, value: &Bson, quantity: i64) -> Result<()> {
        let Some(number) = Num::of(value) else {
            return Ok(());
        };
        let finite = match number {
            Num::F64(v) => v.is_finite(),
            Num::Dec(v) => matches!(v, Decimal::Finite { .. }),
            _ => true,
        };
        if !finite {
            self.non_finite += quantity;
            self.count += quantity;
            return Ok(());
        }
        if self.count == 0 {
            self.count += 1;
            self.sum.add(number);
            return Ok(());
        }
        if self.count + quantity == 0 {
            *self = StdDev::new(self.sample);
            return Ok(());
        }
        let x = self.count as f64 * number.f() - self.sum.sum().f();
        self.count += quantity;
        self.sum.add(Num::F64(number.f() * quantity as f64));
        let scale = self.count.saturating_mul(self.count - quantity) as f64;
        self.m2.add(Num::F64(x * x * quantity as f64 / scale));
        Ok(())
    }
    fn value(&mut self) -> Result<Bson> {
        if self.non_finite > 0 {
            return Ok(Bson::Double(f64::NAN));
        }
        let adjusted = if self.sample {
            self.count - 1
        } else {
            self.count
        };
        if adjusted == 0 {
            return Ok(Bson::Null);
        }
        let squared = self.m2.sum().f();
        if squared < 0.0 || (!self.sample && self.count == 1) {
            // A small negative sum from rounding: the server resets it to zero and answers 0.
            self.m2 = Total::default();
            return Ok(Bson::Int32(0));
        }
        Ok(Bson::Double((squared / adjusted as f64).sqrt()))
    }
}

/// `WindowFunctionCovariance`: the means as removable averages and the co-moment as a
/// removable sum, in expression arithmetic (decimals stay decimal); pairs holding NaN or an
/// infinity go into the co-moment as that special value.
#[derive(Debug, Clone, Default)]
pub(super) struct Covariance {
    sample: bool,
    count: i64,
    mean_x: RemovableAvg,
    mean_y: RemovableAvg,
    c_xy: RemovableSum,
}

impl Covariance {
    pub(super) fn new(sample: bool) -> Covariance {
        Covariance {
            sample,
            ..Covariance::default()
        }
    }

    /// The pair `[x, y]` of numbers, if `value` is one.
    fn pair(value: &Bson) -> Option<(Bson, Bson)> {
        let Bson::Array(items) = value else {
            return None;
        };
        let [x, y] = items.as_slice() else {
            return None;
        };
        (Num::of(x).is_some() && Num::of(y).is_some()).then(|| (x.clone(), y.clone()))
    }

    /// The special value a pair holding NaN or an infinity stands for, if it holds one.
    fn non_finite(x: &Bson, y: &Bson) -> Option<Bson> {
        let (mut positive, mut negative, mut nan, mut decimal) = (0, 0, 0, false);
        let mut special = false;
        for value in [x, y] {
            match Num::of(value) {
                Some(Num::F64(v)) if v.is_nan() => (nan, special) = (nan + 1, true),
                Some(Num::F64(v)) if v.is_infinite() => {
                    special = true;
                    if v > 0.0 {
                        positive += 1;
                    } else {
                        negative += 1;
                    }
                }
                // A decimal NaN counts as a NaN only: the server marks the result decimal for
                // finite and infinite decimals (`convertNonFiniteInputValue`).
                Some(Num::Dec(Decimal::NaN)) => (nan, special) = (nan + 1, true),
                Some(Num::Dec(v)) => {
                    decimal = true;
                    if let Decimal::Infinite { negative: minus } = v {
                        special = true;
                        if minus {
                            negative += 1;
                        } else {
                            positive += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        if !special {
            return None;
        }
        let value = if nan > 0 || positive * negative > 0 {
            f64::NAN
        } else if positive > 0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
        Some(if decimal {
            Num::Dec(Decimal::from_f64_exact(value)).into_bson()
        } else {
            Bson::Double(value)
        })
    }

    fn add(&mut self, value: &Bson) -> Result<()> {
        let Some((x, y)) = Covariance::pair(value) else {
            return Ok(());
        };
        if let Some(special) = Covariance::non_finite(&x, &y) {
            self.c_xy.update(&special, 1)?;
            return Ok(());
        }
        self.count += 1;
        let delta_x = evaluate("$subtract", x.clone(), self.mean_x.mean()?)?;
        self.mean_x.update(&x, 1)?;
        self.mean_y.update(&y, 1)?;
        let delta_y = evaluate("$subtract", y, self.mean_y.mean()?)?;
        let delta = evaluate("$multiply", delta_x, delta_y)?;
        self.c_xy.update(&delta, 1)?;
        Ok(())
    }

    fn remove(&mut self, value: &Bson) -> Result<()> {
        let Some((x, y)) = Covariance::pair(value) else {
            return Ok(());
        };
        if let Some(special) = Covariance::non_finite(&x, &y) {
            self.c_xy.update(&special, -1)?;
            return Ok(());
        }
        if self.count == 0 {
            return Err(MqlError::bad_value(
                "`$setWindowFields`: removed a covariance value that was never added",
            ));
        }
        self.count -= 1;
        if self.count == 0 {
            *self = Covariance::new(self.sample);
            return Ok(());
        }
        self.mean_x.update(&x, -1)?;
        let delta_x = evaluate("$subtract", x, self.mean_x.mean()?)?;
        let delta_y = evaluate("$subtract", y.clone(), self.mean_y.mean()?)?;
        let delta = evaluate("$multiply", delta_x, delta_y)?;
        self.c_xy.update(&delta, -1)?;
        self.mean_y.update(&y, -1)?;
        Ok(())
    }
}

impl Removable for Covariance {
    fn update(&mut self, value: &Bson, quantity: i64) -> Result<()> {
        if quantity > 0 {
            self.add(value)
        } else {
            self.remove(value)
        }
    }

    fn value(&mut self) -> Result<Bson> {
        if self.count == 1 && !self.sample {
            return Ok(Bson::Double(0.0));
        }
        let adjusted = if self.sample {
            self.count - 1
        } else {
            self.count
        };
        if adjusted <= 0 {
            return Ok(Bson::Null);
        }
        Ok(match self.c_xy.sum() {
            Num::Dec(total) => evaluate(
                "$divide",
                Num::Dec(total).into_bson(),
                Bson::Double(adjusted as f64),
            )?,
            other => Bson::Double(other.f() / adjusted as f64),
        })
    }
}

/// `WindowFunctionIntegral`: the points in the window, in order, and the removable sum of the
/// trapezoids between consecutive ones.
#[derive(Debug, Clone, Default)]
pub(super) struct Integral {
    unit_ms: Option<i64>,
    points: VecDeque<Bson>,
    nans: i64,
    areas: RemovableSum,
}

impl Integral {
    pub(super) fn new(unit_ms: Option<i64>) -> Integral {
        Integral {
            unit_ms,
            ..Integral::default()
        }
    }

    /// The point's `[x, y]`, both known to be checked (`super::series`).
    fn xy(point: &Bson) -> (Bson, Bson) {
        match point {
            Bson::Array(items) => (
                items.first().cloned().unwrap_or(Bson::Null),
                items.get(1).cloned().unwrap_or(Bson::Null),
            ),
            _ => (Bson::Null, Bson::Null),
        }
    }

    fn is_nan(value: &Bson) -> bool {
        match Num::of(value) {
            Some(Num::F64(v)) => v.is_nan(),
            Some(Num::Dec(v)) => v == Decimal::NaN,
            _ => false,
        }
    }

    fn has_nan(point: &Bson) -> bool {
        let (x, y) = Integral::xy(point);
        Integral::is_nan(&x) || Integral::is_nan(&y)
    }

    /// `(y1 + y2) * (x2 - x1) / 2.0`, or 0 when either point holds NaN.
    fn trapezoid(left: &Bson, right: &Bson) -> Result<Bson> {
        if Integral::has_nan(left) || Integral::has_nan(right) {
            return Ok(Bson::Int32(0));
        }
        let ((x1, y1), (x2, y2)) = (Integral::xy(left), Integral::xy(right));
        let run = evaluate("$subtract", x2, x1)?;
        let rise = evaluate("$add", y2, y1)?;
        let area = evaluate("$multiply", rise, run)?;
        evaluate("$divide", area, Bson::Double(2.0))
    }

    fn add(&mut self, point: &Bson) -> Result<()> {
        if Integral::has_nan(point) {
            self.nans += 1;
        }
        if let Some(last) = self.points.back() {
            let area = Integral::trapezoid(last, point)?;
            self.areas.update(&area, 1)?;
        }
        self.points.push_back(point.clone());
        Ok(())
    }

    fn remove(&mut self, point: &Bson) -> Result<()> {
        if Integral::has_nan(point) {
            self.nans -= 1;
        }
        self.points.pop_front();
        if let Some(first) = self.points.front() {
            let area = Integral::trapezoid(point, first)?;
            self.areas.update(&area, -1)?;
        }
        Ok(())
    }
}

impl Removable for Integral {
    fn update(&mut self, value: &Bson, quantity: i64) -> Result<()> {
        if quantity > 0 {
            self.add(value)
        } else {
            self.remove(value)
        }
    }

    fn value(&mut self) -> Result<Bson> {
        if self.points.is_empty() {
            return Ok(Bson::Null);
        }
        if self.nans > 0 {
            return Ok(Bson::Double(f64::NAN));
        }
        let sum = self.areas.sum().into_bson();
        match self.unit_ms {
            Some(ms) => evaluate("$divide", sum, Bson::Int64(ms)),
            None => Ok(sum),
        }
    }
}
