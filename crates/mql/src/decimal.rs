//! Decimal128 values compared exactly, as MongoDB compares them: a decimal against another
//! decimal or an integer by exact value, against a double by the double rounded to 34
//! significant digits (the server's `compareDecimalToDouble` converts the double with
//! `kRoundTo34Digits`). NaN equals NaN and sorts below every other number; zeros are equal
//! whatever their sign and exponent.
//!
//! Arithmetic is exact and then rounded to 34 significant digits, half to even, as decimal128
//! arithmetic is (`add`, `multiply`, `divide`, and rounding to a decimal place), with the
//! standard's preferred exponents (`1.10 × 2` is `2.20`). A double taking part in arithmetic with
//! a decimal is first rounded to 15 significant digits, as the server's `Decimal128(double)`
//! does by default; `$sum` and `$avg` instead join the exact value of their double-double sum
//! (`from_f64_exact`). The transcendental functions (`$sqrt`, `$exp`, `$ln`, `$log`, `$pow`) and
//! `$mod` still compute decimals in double precision.

use std::cmp::Ordering;

use bson::Bson;

/// The most significant digits a decimal128 holds.
const DIGITS: u32 = 34;

/// The exponent bias of decimal128.
const BIAS: i32 = 6176;

/// A decimal128 value decoded from its IEEE 754-2008 BID encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decimal {
    NaN,
    Infinite {
        negative: bool,
    },
    /// `±coefficient × 10^exponent`, the coefficient below `10^34`.
    Finite {
        negative: bool,
        coefficient: u128,
        exponent: i32,
    },
}

impl Decimal {
    /// Decodes the 16 bytes of a decimal128 (little-endian, as BSON stores them). A
    /// coefficient of more than 34 digits is non-canonical and reads as zero, as the standard
    /// says.
    pub(crate) fn from_bytes(bytes: [u8; 16]) -> Decimal {
        let bits = u128::from_le_bytes(bytes);
        let negative = bits >> 127 == 1;
        let high = (bits >> 64) as u64;
        match (high >> 58) & 0x1F {
            0x1F => return Decimal::NaN,
            0x1E => return Decimal::Infinite { negative },
            _ => {}
        }
        let (biased, coefficient) = if (high >> 61) & 0b11 == 0b11 {
            // The large-coefficient form: always above 10^34 - 1, so non-canonical.
            (((high >> 47) & 0x3FFF) as i32, 0)
        } else {
            let coefficient = bits & ((1u128 << 113) - 1);
            let coefficient = if coefficient < LIMIT { coefficient } else { 0 };
            (((high >> 49) & 0x3FFF) as i32, coefficient)
        };
        Decimal::Finite {
            negative,
            coefficient,
            exponent: biased - BIAS,
        }
    }

    /// An integer, exactly.
    pub(crate) fn from_i64(value: i64) -> Decimal {
        Decimal::Finite {
            negative: value < 0,
            coefficient: u128::from(value.unsigned_abs()),
            exponent: 0,
        }
    }

    /// A double rounded to 34 significant digits (exact for every double with at most 34), as
    /// comparisons take it.
    pub(crate) fn from_f64(value: f64) -> Decimal {
        Decimal::from_f64_digits(value, DIGITS)
    }

    /// The decimal form of a BSON number, `None` for any other value.
    pub(crate) fn of(value: &Bson) -> Option<Decimal> {
        Some(match value {
            Bson::Int32(value) => Decimal::from_i64(i64::from(*value)),
            Bson::Int64(value) => Decimal::from_i64(*value),
            Bson::Double(value) => Decimal::from_f64(*value),
            Bson::Decimal128(value) => Decimal::from_bytes(value.bytes()),
            _ => return None,
        })
    }

    /// MongoDB's order: NaN first (and equal to NaN), then by value; zeros are equal.
    pub(crate) fn compare(self, other: Decimal) -> Ordering {
        match (self.signed_class(), other.signed_class()) {
            (left, right) if left != right => left.cmp(&right),
            // Both NaN, both zero, or both the same infinity.
            (-3 | 0 | 2 | -2, _) => Ordering::Equal,
            (class, _) => {
                let magnitude = magnitude(self, other);
                if class < 0 {
                    magnitude.reverse()
                } else {
                    magnitude
                }
            }
        }
    }

    /// NaN -3, -Infinity -2, negative -1, zero 0, positive 1, Infinity 2.
    fn signed_class(self) -> i8 {
        match self {
            Decimal::NaN => -3,
            Decimal::Infinite { negative: true } => -2,
            Decimal::Infinite { negative: false } => 2,
            Decimal::Finite { coefficient: 0, .. } => 0,
            Decimal::Finite { negative: true, .. } => -1,
            Decimal::Finite {
                negative: false, ..
            } => 1,
        }
    }
}

/// One past the largest coefficient: `10^34`.
const LIMIT: u128 = 10u128.pow(DIGITS);

/// The largest exponent of a decimal128 (with a 34-digit coefficient: 9.99…E+6144).
const MAX_EXPONENT: i64 = 6111;
/// The smallest exponent of a decimal128.
const MIN_EXPONENT: i64 = -6176;

/// How an inexact result loses its last digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rounding {
    /// To the nearest, a tie to the even digit.
    HalfEven,
    /// Towards zero.
    Down,
    /// Towards negative infinity.
    Floor,
    /// Towards positive infinity.
    Ceiling,
}

impl Decimal {
    /// A double rounded to `digits` significant digits (at most 34), the last ones possibly
    /// zeros (the server's `Decimal128(double)` keeps 15, `kRoundTo34Digits` 34).
    pub(crate) fn from_f64_digits(value: f64, digits: u32) -> Decimal {
        if value.is_nan() {
            return Decimal::NaN;
        }
        let negative = value.is_sign_negative();
        if value.is_infinite() {
            return Decimal::Infinite { negative };
        }
        if value == 0.0 {
            return Decimal::Finite {
                negative,
                coefficient: 0,
                exponent: 0,
            };
        }
        // `d.ddd…e±x` with `digits` significant digits, correctly rounded from the exact value.
        let digits = digits.clamp(1, DIGITS);
        let text = format!("{:.*e}", (digits - 1) as usize, value.abs());
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let coefficient = mantissa
            .bytes()
            .filter(u8::is_ascii_digit)
            .fold(0u128, |acc, digit| acc * 10 + u128::from(digit - b'0'));
        Decimal::Finite {
            negative,
            coefficient,
            exponent: exponent.parse::<i32>().unwrap_or(0) - (digits as i32 - 1),
        }
    }

    /// A double as the server's `binary64_to_bid128` converts it (`Decimal128(double,
    /// kRoundTo34Digits)`, which `$sum` and `$avg` use): its exact value in as few digits as
    /// it takes, at exponent 0 or below (`2.5` is `2.5`, `1.0` is `1`, `1e22` is
    /// `10000000000000000000000`), or rounded to 34 digits when the exact value needs more
    /// (`0.1` is `0.1000000000000000055511151231257827`).
    pub(crate) fn from_f64_exact(value: f64) -> Decimal {
        if !value.is_finite() || value == 0.0 {
            return Decimal::from_f64_digits(value, DIGITS);
        }
        // value = ±m × 2^e with m odd; its exact decimal form is m × 2^e at exponent 0 when
        // e ≥ 0, else m × 5^-e at exponent e (no trailing zeros: m × 5^k is odd).
        let bits = value.to_bits();
        let biased = i32::try_from((bits >> 52) & 0x7FF).unwrap_or(0);
        let fraction = bits & ((1 << 52) - 1);
        let (mut m, mut e) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), biased - 1075)
        };
        let zeros = m.trailing_zeros();
        m >>= zeros;
        e += i32::try_from(zeros).unwrap_or(0);
        let m = u128::from(m);
        let exact = if e >= 0 {
            let shift = e.unsigned_abs();
            (shift < m.leading_zeros()).then(|| (m << shift, 0))
        } else {
            5u128
                .checked_pow(e.unsigned_abs())
                .and_then(|scale| m.checked_mul(scale))
                .map(|coefficient| (coefficient, e))
        };
        match exact.filter(|&(coefficient, _)| coefficient < LIMIT) {
            Some((coefficient, exponent)) => Decimal::Finite {
                negative: value.is_sign_negative(),
                coefficient,
                exponent,
            },
            None => Decimal::from_f64_digits(value, DIGITS),
        }
    }

    /// The BSON value: canonical BID encoding.
    pub(crate) fn to_decimal128(self) -> bson::Decimal128 {
        let bits = match self {
            Decimal::NaN => 0x7C_u128 << 120,
            Decimal::Infinite { negative } => (0x78_u128 << 120) | (u128::from(negative) << 127),
            Decimal::Finite {
                negative,
                coefficient,
                exponent,
            } => {
                let biased = u128::try_from(i64::from(exponent) + i64::from(BIAS)).unwrap_or(0);
                (u128::from(negative) << 127) | (biased << 113) | coefficient
            }
        };
        bson::Decimal128::from_bytes(bits.to_le_bytes())
    }

    /// The nearest double.
    pub(crate) fn to_f64(self) -> f64 {
        crate::value::decimal_to_f64(&self.to_decimal128())
    }

    pub(crate) fn is_zero(self) -> bool {
        matches!(self, Decimal::Finite { coefficient: 0, .. })
    }

    pub(crate) fn negate(self) -> Decimal {
        match self {
            Decimal::NaN => Decimal::NaN,
            Decimal::Infinite { negative } => Decimal::Infinite {
                negative: !negative,
            },
            Decimal::Finite {
                negative,
                coefficient,
                exponent,
            } => Decimal::Finite {
                negative: !negative,
                coefficient,
                exponent,
            },
        }
    }

    pub(crate) fn abs(self) -> Decimal {
        match self {
            Decimal::Infinite { .. } => Decimal::Infinite { negative: false },
            Decimal::Finite {
                coefficient,
                exponent,
                ..
            } => Decimal::Finite {
                negative: false,
                coefficient,
                exponent,
            },
            nan => nan,
        }
    }

    /// `self + other`, exact then rounded; the exponent of an exact sum is the smaller one.
    pub(crate) fn add(self, other: Decimal) -> Decimal {
        let (
            Some((left_negative, left, left_exponent)),
            Some((right_negative, right, right_exponent)),
        ) = (self.parts(), other.parts())
        else {
            return match (self, other) {
                (Decimal::NaN, _) | (_, Decimal::NaN) => Decimal::NaN,
                (Decimal::Infinite { negative: a }, Decimal::Infinite { negative: b })
                    if a != b =>
                {
                    Decimal::NaN
                }
                (infinite @ Decimal::Infinite { .. }, _) | (_, infinite) => infinite,
            };
        };
        let exponent = i64::from(left_exponent.min(right_exponent));
        if left == 0 && right == 0 {
            return finish(
                left_negative && right_negative,
                vec![0],
                exponent,
                Rounding::HalfEven,
            );
        }
        // Aligned on the smaller exponent. An operand more than 80 places below a nonzero
        // other one only decides how the sum rounds: it stands as one unit 80 places down.
        let mut terms = [
            (left_negative, left, i64::from(left_exponent)),
            (right_negative, right, i64::from(right_exponent)),
        ];
        let [(_, first, first_exponent), (_, second, second_exponent)] = terms;
        let exponent = if first != 0 && second != 0 && (first_exponent - second_exponent).abs() > 80
        {
            let top = first_exponent.max(second_exponent);
            for term in &mut terms {
                if term.2 < top {
                    *term = (term.0, 1, top - 80);
                }
            }
            top - 80
        } else {
            exponent
        };
        let [(a_negative, a, a_exponent), (b_negative, b, b_exponent)] = terms;
        let a = shifted(a, a_exponent - exponent);
        let b = shifted(b, b_exponent - exponent);
        let (negative, digits) = if a_negative == b_negative {
            (a_negative, add_digits(&a, &b))
        } else {
            match compare_digits(&a, &b) {
                Ordering::Less => (b_negative, subtract_digits(&b, &a)),
                // An exact zero is positive (rounding to nearest).
                Ordering::Equal => (false, vec![0]),
                Ordering::Greater => (a_negative, subtract_digits(&a, &b)),
            }
        };
        finish(negative, digits, exponent, Rounding::HalfEven)
    }

    /// `self × other`, exact then rounded; the exponent is the sum of the exponents.
    pub(crate) fn multiply(self, other: Decimal) -> Decimal {
        match (self, other) {
            (
                Decimal::Finite {
                    negative: a_negative,
                    coefficient: a,
                    exponent: a_exponent,
                },
                Decimal::Finite {
                    negative: b_negative,
                    coefficient: b,
                    exponent: b_exponent,
                },
            ) => finish(
                a_negative != b_negative,
                multiply_digits(&digits_of(a), &digits_of(b)),
                i64::from(a_exponent) + i64::from(b_exponent),
                Rounding::HalfEven,
            ),
            (Decimal::NaN, _) | (_, Decimal::NaN) => Decimal::NaN,
            (zero, Decimal::Infinite { .. }) | (Decimal::Infinite { .. }, zero)
                if zero.is_zero() =>
            {
                Decimal::NaN
            }
            _ => Decimal::Infinite {
                negative: self.is_negative() != other.is_negative(),
            },
        }
    }

    /// `self ÷ other`, rounded to 34 digits; an exact quotient takes the exponent closest to
    /// the difference of the exponents (`6.0 / 2` is `3.0`, `1 / 4` is `0.25`). Division by
    /// zero gives an infinity (`0 / 0` NaN): callers that refuse it check first.
    pub(crate) fn divide(self, other: Decimal) -> Decimal {
        let negative = self.is_negative() != other.is_negative();
        let (Some((_, dividend, dividend_exponent)), Some((_, divisor, divisor_exponent))) =
            (self.parts(), other.parts())
        else {
            return match (self, other) {
                (Decimal::NaN, _) | (_, Decimal::NaN) => Decimal::NaN,
                (Decimal::Infinite { .. }, Decimal::Infinite { .. }) => Decimal::NaN,
                (Decimal::Infinite { .. }, _) => Decimal::Infinite { negative },
                _ => finish(negative, vec![0], MIN_EXPONENT, Rounding::HalfEven),
            };
        };
        let ideal = i64::from(dividend_exponent) - i64::from(divisor_exponent);
        if divisor == 0 {
            return if dividend == 0 {
                Decimal::NaN
            } else {
                Decimal::Infinite { negative }
            };
        }
        if dividend == 0 {
            return finish(negative, vec![0], ideal, Rounding::HalfEven);
        }
        // Long division, digit by digit: the remainder stays below the divisor (< 10^34),
        // so ten times it fits a u128.
        let mut quotient = Vec::with_capacity(40);
        let mut remainder = 0u128;
        let mut exponent = ideal;
        for digit in digits_of(dividend) {
            remainder = remainder * 10 + u128::from(digit);
            quotient.push((remainder / divisor) as u8);
            remainder %= divisor;
        }
        while remainder != 0 && significant(&quotient) < DIGITS as usize + 1 {
            remainder *= 10;
            quotient.push((remainder / divisor) as u8);
            remainder %= divisor;
            exponent -= 1;
        }
        if remainder != 0 {
            // Below the digit that decides the rounding, something: a sticky unit.
            quotient.push(1);
            exponent -= 1;
        } else {
            while exponent < ideal && quotient.last() == Some(&0) && quotient.len() > 1 {
                quotient.pop();
                exponent += 1;
            }
        }
        finish(negative, quotient, exponent, Rounding::HalfEven)
    }

    /// The integer part, if it fits an i64 (truncation toward zero, as MongoDB reads a `$mod`
    /// dividend); none for NaN and infinities.
    pub(crate) fn truncated_i64(self) -> Option<i64> {
        let (negative, coefficient, exponent) = self.parts()?;
        let magnitude = if coefficient == 0 {
            0
        } else if exponent >= 0 {
            10u128
                .checked_pow(exponent.unsigned_abs())
                .and_then(|scale| coefficient.checked_mul(scale))?
        } else {
            10u128
                .checked_pow(exponent.unsigned_abs())
                .map_or(0, |scale| coefficient / scale)
        };
        let magnitude = i128::try_from(magnitude).ok()?;
        i64::try_from(if negative { -magnitude } else { magnitude }).ok()
    }

    /// `self` modulo `other`, with the sign of `self`, exactly (decimal128's `fmod`, which
    /// MongoDB's `$mod` computes): the remainder is below both operands, so it never needs
    /// more than 34 digits, and it takes the smaller exponent (`10.5 mod 3` is `1.5`). NaN for
    /// a NaN, an infinite dividend or a zero divisor; an infinite divisor leaves the dividend.
    pub(crate) fn remainder(self, other: Decimal) -> Decimal {
        let (Some((negative, dividend, dividend_exponent)), Some((_, divisor, divisor_exponent))) =
            (self.parts(), other.parts())
        else {
            return match (self, other) {
                (Decimal::Finite { .. }, Decimal::Infinite { .. }) => self,
                _ => Decimal::NaN,
            };
        };
        if divisor == 0 {
            return Decimal::NaN;
        }
        let coefficient = if dividend_exponent >= divisor_exponent {
            // dividend × 10^shift mod divisor, four digits at a time: the remainder stays
            // below the divisor (< 10^34), so 10^4 times it fits a u128.
            let mut remainder = dividend % divisor;
            let mut shift = dividend_exponent.abs_diff(divisor_exponent);
            while shift > 0 && remainder != 0 {
                let step = shift.min(4);
                remainder = remainder * 10u128.pow(step) % divisor;
                shift -= step;
            }
            remainder
        } else {
            // A divisor scaled past a u128 is above the dividend (< 10^34), the remainder.
            10u128
                .checked_pow(dividend_exponent.abs_diff(divisor_exponent))
                .and_then(|scale| divisor.checked_mul(scale))
                .map_or(dividend, |scaled| dividend % scaled)
        };
        Decimal::Finite {
            negative,
            coefficient,
            exponent: dividend_exponent.min(divisor_exponent),
        }
    }

    /// Rounds to `places` decimal places (negative: to tens, hundreds, ...) with `rounding`;
    /// a value with no more places than that is returned as it is.
    pub(crate) fn round_to(self, places: i32, rounding: Rounding) -> Decimal {
        let Decimal::Finite {
            negative,
            coefficient,
            exponent,
        } = self
        else {
            return self;
        };
        let target = -i64::from(places);
        let exponent = i64::from(exponent);
        if exponent >= target {
            return self;
        }
        let dropped = usize::try_from(target - exponent).unwrap_or(usize::MAX);
        let mut digits = digits_of(coefficient);
        let (digits, dropped) = if dropped > digits.len() + DIGITS as usize {
            // Far below the place: only that it is a nonzero fraction of a unit matters.
            (vec![0, 0, u8::from(coefficient != 0)], 2)
        } else {
            // Keep at least one digit to round into.
            if digits.len() <= dropped {
                let pad = dropped + 1 - digits.len();
                digits.splice(0..0, std::iter::repeat_n(0, pad));
            }
            (digits, dropped)
        };
        finish(
            negative,
            round_off(&digits, dropped, negative, rounding),
            target,
            rounding,
        )
    }

    /// The value with trailing zeros added down to `places` decimal places, as decimal128's
    /// quantize writes the result of `$round` and `$trunc` (`1.5` to 3 places is `1.500`), but
    /// never beyond the 34 digits a decimal128 holds (`1.298` to 100 places keeps 34 digits).
    /// A value already at or below that place is unchanged.
    pub(crate) fn pad_to(self, places: i32) -> Decimal {
        let Decimal::Finite {
            negative,
            coefficient,
            exponent,
        } = self
        else {
            return self;
        };
        let room =
            DIGITS.saturating_sub(u32::try_from(digits_of(coefficient).len()).unwrap_or(DIGITS));
        let room = i32::try_from(room).unwrap_or(0);
        let target = exponent.saturating_sub(room).max(places.saturating_neg());
        if target >= exponent {
            return self;
        }
        let scale = 10u128.pow(exponent.abs_diff(target));
        Decimal::Finite {
            negative,
            coefficient: coefficient.saturating_mul(scale),
            exponent: target,
        }
    }

    /// The sign, coefficient and exponent of a finite value.
    fn parts(self) -> Option<(bool, u128, i32)> {
        match self {
            Decimal::Finite {
                negative,
                coefficient,
                exponent,
            } => Some((negative, coefficient, exponent)),
            _ => None,
        }
    }

    pub(crate) fn is_negative(self) -> bool {
        match self {
            Decimal::NaN => false,
            Decimal::Infinite { negative } | Decimal::Finite { negative, .. } => negative,
        }
    }
}

/// The decimal digits of `value`, most significant first (`[0]` for zero).
fn digits_of(value: u128) -> Vec<u8> {
    if value == 0 {
        return vec![0];
    }
    let mut digits = Vec::with_capacity(39);
    let mut rest = value;
    while rest > 0 {
        digits.push((rest % 10) as u8);
        rest /= 10;
    }
    digits.reverse();
    digits
}

/// `value`'s digits followed by `zeros` zeros.
fn shifted(value: u128, zeros: i64) -> Vec<u8> {
    let mut digits = digits_of(value);
    digits.resize(digits.len() + usize::try_from(zeros).unwrap_or(0), 0);
    digits
}

/// The digits from the first nonzero one (at least one digit).
fn trimmed(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|digit| *digit != 0)
        .unwrap_or(digits.len().saturating_sub(1));
    digits.get(first..).unwrap_or(digits)
}

fn significant(digits: &[u8]) -> usize {
    digits.iter().skip_while(|digit| **digit == 0).count()
}

fn compare_digits(left: &[u8], right: &[u8]) -> Ordering {
    let (left, right) = (trimmed(left), trimmed(right));
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

/// The sum of two digit strings aligned at their last digit.
fn add_digits(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut sum = Vec::with_capacity(left.len().max(right.len()) + 1);
    let mut carry = 0u8;
    let (mut a, mut b) = (left.iter().rev(), right.iter().rev());
    loop {
        let (x, y) = (a.next(), b.next());
        if x.is_none() && y.is_none() {
            break;
        }
        let total = x.copied().unwrap_or(0) + y.copied().unwrap_or(0) + carry;
        sum.push(total % 10);
        carry = total / 10;
    }
    if carry > 0 {
        sum.push(carry);
    }
    sum.reverse();
    sum
}

/// `left - right`, with `left` at least `right`, aligned at their last digit.
fn subtract_digits(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut difference = Vec::with_capacity(left.len());
    let mut borrow = 0i8;
    let mut b = right.iter().rev();
    for x in left.iter().rev() {
        let mut digit = *x as i8 - b.next().copied().unwrap_or(0) as i8 - borrow;
        borrow = i8::from(digit < 0);
        if digit < 0 {
            digit += 10;
        }
        difference.push(digit as u8);
    }
    difference.reverse();
    difference
}

fn multiply_digits(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut product = vec![0u32; left.len() + right.len()];
    for (i, x) in left.iter().rev().enumerate() {
        for (j, y) in right.iter().rev().enumerate() {
            if let Some(slot) = product.get_mut(i + j) {
                *slot += u32::from(*x) * u32::from(*y);
            }
        }
    }
    let mut carry = 0u32;
    for slot in &mut product {
        let total = *slot + carry;
        *slot = total % 10;
        carry = total / 10;
    }
    product.iter().rev().map(|digit| *digit as u8).collect()
}

/// Drops the last `dropped` digits (at most all but one), rounding the rest by `rounding`: the
/// kept digits, one longer when a carry ran through all of them (`99` up is `100`).
fn round_off(digits: &[u8], dropped: usize, negative: bool, rounding: Rounding) -> Vec<u8> {
    let keep = digits.len().saturating_sub(dropped).max(1);
    let (kept, rest) = digits.split_at(keep.min(digits.len()));
    let mut kept = kept.to_vec();
    let nonzero = rest.iter().any(|digit| *digit != 0);
    let up = match rounding {
        Rounding::HalfEven => match rest.first() {
            Some(first) if *first > 5 => true,
            Some(5) => {
                rest.iter().skip(1).any(|digit| *digit != 0)
                    || kept.last().is_some_and(|digit| digit % 2 == 1)
            }
            _ => false,
        },
        Rounding::Down => false,
        Rounding::Floor => negative && nonzero,
        Rounding::Ceiling => !negative && nonzero,
    };
    if !up {
        return kept;
    }
    for digit in kept.iter_mut().rev() {
        if *digit == 9 {
            *digit = 0;
        } else {
            *digit += 1;
            return kept;
        }
    }
    // All nines: 10…0, one digit longer.
    kept.insert(0, 1);
    kept
}

/// The decimal128 nearest (by `rounding`) to `±digits × 10^exponent`: at most 34 digits, the
/// exponent within range (an overflow is an infinity, an underflow rounds towards zero).
fn finish(negative: bool, digits: Vec<u8>, exponent: i64, rounding: Rounding) -> Decimal {
    let mut digits = trimmed(&digits).to_vec();
    let mut exponent = exponent;
    if digits.len() > DIGITS as usize {
        let dropped = digits.len() - DIGITS as usize;
        digits = round_off(&digits, dropped, negative, rounding);
        exponent += dropped as i64;
        if digits.len() > DIGITS as usize {
            // A carry made it 10…0: its last zero goes.
            digits.pop();
            exponent += 1;
        }
    }
    if exponent < MIN_EXPONENT {
        // Below the smallest unit: round to it.
        let dropped = usize::try_from(MIN_EXPONENT - exponent).unwrap_or(usize::MAX);
        let width = digits.len();
        digits = if dropped > width + DIGITS as usize {
            vec![0]
        } else if dropped >= width {
            let mut padded = vec![0; dropped - width + 1];
            padded.extend_from_slice(&digits);
            round_off(&padded, dropped, negative, rounding)
        } else {
            round_off(&digits, dropped, negative, rounding)
        };
        exponent = MIN_EXPONENT;
    }
    let zero = digits.iter().all(|digit| *digit == 0);
    if exponent > MAX_EXPONENT {
        if zero {
            exponent = MAX_EXPONENT;
        } else {
            while exponent > MAX_EXPONENT && digits.len() < DIGITS as usize {
                digits.push(0);
                exponent -= 1;
            }
            if exponent > MAX_EXPONENT {
                return Decimal::Infinite { negative };
            }
        }
    }
    let coefficient = digits
        .iter()
        .fold(0u128, |acc, digit| acc * 10 + u128::from(*digit));
    Decimal::Finite {
        negative,
        coefficient,
        exponent: i32::try_from(exponent).unwrap_or(0),
    }
}

/// `10^0` to `10^38`: every power of ten a `u128` holds.
// Evaluated at compile time only: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const POWERS: [u128; 39] = {
    let mut powers = [1u128; 39];
    let mut index = 1;
    while index < 39 {
        powers[index] = powers[index - 1] * 10;
        index += 1;
    }
    powers
};

/// The number of decimal digits of a coefficient (at least 1).
fn digits(coefficient: u128) -> u32 {
    POWERS
        .iter()
        .skip(1)
        .position(|power| coefficient < *power)
        .map_or(39, |position| position as u32 + 1)
}

/// Compares the absolute values of two finite, nonzero decimals.
fn magnitude(left: Decimal, right: Decimal) -> Ordering {
    let (Some((_, left_coefficient, left_exponent)), Some((_, right_coefficient, right_exponent))) =
        (left.parts(), right.parts())
    else {
        return Ordering::Equal;
    };
    let (left_digits, right_digits) = (digits(left_coefficient), digits(right_coefficient));
    // The position of the leading digit decides, unless it is the same.
    let left_lead = i64::from(left_exponent) + i64::from(left_digits);
    let right_lead = i64::from(right_exponent) + i64::from(right_digits);
    if left_lead != right_lead {
        return left_lead.cmp(&right_lead);
    }
    // Same leading position: pad the shorter coefficient with zeros (both stay within 34
    // digits, below u128's 39).
    let width = left_digits.max(right_digits);
    let scale = |coefficient: u128, digits: u32| {
        POWERS
            .get((width - digits) as usize)
            .map_or(u128::MAX, |power| coefficient.saturating_mul(*power))
    };
    scale(left_coefficient, left_digits).cmp(&scale(right_coefficient, right_digits))
}

/// `floor(value)` as an `i64`, and whether `value` is that integer; `None` for NaN, an
/// infinity, or a value outside the `i64` range. For index keys, which must keep the order
/// of exact comparison (see the store's `keys`).
pub fn decimal_floor(value: &bson::Decimal128) -> Option<(i64, bool)> {
    let Decimal::Finite {
        negative,
        coefficient,
        exponent,
    } = Decimal::from_bytes(value.bytes())
    else {
        return None;
    };
    let (whole, exact) = if exponent >= 0 {
        let power = POWERS.get(usize::try_from(exponent).ok()?)?;
        (coefficient.checked_mul(*power)?, true)
    } else {
        match POWERS.get(exponent.unsigned_abs() as usize) {
            Some(power) => (coefficient / power, coefficient % power == 0),
            // Below 10^-38 of a coefficient under 10^34: only a fraction.
            None => (0, coefficient == 0),
        }
    };
    let whole = i128::try_from(whole).ok()?;
    let floor = if negative {
        -whole - i128::from(!exact)
    } else {
        whole
    };
    Some((i64::try_from(floor).ok()?, exact))
}

/// Compares two BSON numbers of which at least one is a decimal128, exactly; `None` when one
/// is not a number.
pub(crate) fn compare_with_decimal(left: &Bson, right: &Bson) -> Option<Ordering> {
    Some(Decimal::of(left)?.compare(Decimal::of(right)?))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Bson {
        Bson::Decimal128(bson::Decimal128::from_str(text).unwrap())
    }

    fn order(left: &Bson, right: &Bson) -> Ordering {
        compare_with_decimal(left, right).unwrap()
    }

    #[test]
    fn decimals_compare_exactly() {
        let pairs = [
            (
                "12345678901234567890",
                "12345678901234567891",
                Ordering::Less,
            ),
            ("1.00000000000000001", "1.00000000000000002", Ordering::Less),
            ("1.0", "1.00", Ordering::Equal),
            ("0", "-0.000", Ordering::Equal),
            ("-1", "0", Ordering::Less),
            ("-2", "-1", Ordering::Less),
            ("1E+10", "9999999999", Ordering::Greater),
            ("1E-6176", "0", Ordering::Greater),
            (
                "9.999999999999999999999999999999999E+6144",
                "Infinity",
                Ordering::Less,
            ),
            (
                "-Infinity",
                "-9.999999999999999999999999999999999E+6144",
                Ordering::Less,
            ),
            ("NaN", "-Infinity", Ordering::Less),
            ("NaN", "NaN", Ordering::Equal),
            ("Infinity", "Infinity", Ordering::Equal),
        ];
        for (left, right, expected) in pairs {
            assert_eq!(
                order(&dec(left), &dec(right)),
                expected,
                "{left} vs {right}"
            );
            assert_eq!(
                order(&dec(right), &dec(left)),
                expected.reverse(),
                "{right} vs {left}"
            );
        }
    }

    #[test]
    fn integers_compare_exactly_and_doubles_by_34_digits() {
        let long = Bson::Int64(9_007_199_254_740_993);
        assert_eq!(order(&dec("9007199254740993"), &long), Ordering::Equal);
        assert_eq!(order(&dec("9007199254740992"), &long), Ordering::Less);
        assert_eq!(order(&dec("-5"), &Bson::Int32(-5)), Ordering::Equal);
        assert_eq!(
            order(&dec("-9223372036854775808"), &Bson::Int64(i64::MIN)),
            Ordering::Equal
        );
        // The double 0.1 is 0.1000000000000000055511151231257827… (34 digits kept).
        assert_eq!(order(&dec("0.1"), &Bson::Double(0.1)), Ordering::Less);
        assert_eq!(
            order(
                &dec("0.1000000000000000055511151231257827"),
                &Bson::Double(0.1)
            ),
            Ordering::Equal
        );
        assert_eq!(order(&dec("0.5"), &Bson::Double(0.5)), Ordering::Equal);
        assert_eq!(order(&dec("-0"), &Bson::Double(0.0)), Ordering::Equal);
        // 10^22 is a double exactly; the double nearest 10^308 is above it.
        assert_eq!(order(&dec("1E+22"), &Bson::Double(1e22)), Ordering::Equal);
        assert_eq!(order(&dec("1E+308"), &Bson::Double(1e308)), Ordering::Less);
        assert_eq!(order(&dec("NaN"), &Bson::Double(f64::NAN)), Ordering::Equal);
        assert_eq!(
            order(&dec("-Infinity"), &Bson::Double(f64::NEG_INFINITY)),
            Ordering::Equal
        );
        assert_eq!(
            order(&dec("1E+400"), &Bson::Double(f64::MAX)),
            Ordering::Greater
        );
    }

    #[test]
    fn floors_are_exact() {
        let floor = |text: &str| decimal_floor(&bson::Decimal128::from_str(text).unwrap());
        assert_eq!(floor("2.5"), Some((2, false)));
        assert_eq!(floor("-2.5"), Some((-3, false)));
        assert_eq!(floor("-3"), Some((-3, true)));
        assert_eq!(floor("1.0E+3"), Some((1000, true)));
        assert_eq!(floor("-0.001"), Some((-1, false)));
        assert_eq!(floor("0E-10"), Some((0, true)));
        assert_eq!(floor("9223372036854775807"), Some((i64::MAX, true)));
        assert_eq!(floor("-9223372036854775808"), Some((i64::MIN, true)));
        assert_eq!(floor("-9223372036854775807.5"), Some((i64::MIN, false)));
        assert_eq!(floor("9223372036854775808"), None);
        assert_eq!(floor("1E-40"), Some((0, false)));
        assert_eq!(floor("NaN"), None);
    }

    fn parse(text: &str) -> Decimal {
        Decimal::from_bytes(bson::Decimal128::from_str(text).unwrap().bytes())
    }

    fn show(value: Decimal) -> String {
        value.to_decimal128().to_string()
    }

    #[test]
    fn sums_are_exact_with_the_smaller_exponent() {
        let sums = [
            ("0.1", "0.2", "0.3"),
            ("1.10", "2", "3.10"),
            ("12345678901234567890", "1", "12345678901234567891"),
            (
                "9999999999999999999999999999999999",
                "1",
                "1.000000000000000000000000000000000E+34",
            ),
            (
                "1E+100",
                "1E-100",
                "1.000000000000000000000000000000000E+100",
            ),
            (
                "1E+100",
                "-1E-100",
                "1.000000000000000000000000000000000E+100",
            ),
            ("1", "-1", "0"),
            ("1.0", "-1", "0.0"),
            ("-0", "-0", "-0"),
            ("-1.5", "0.25", "-1.25"),
            ("0.5", "-2", "-1.5"),
            ("Infinity", "-Infinity", "NaN"),
            ("Infinity", "-1E+6000", "Infinity"),
            ("NaN", "1", "NaN"),
            // 34 nines and a half: a tie, to the even neighbour.
            (
                "9999999999999999999999999999999998",
                "0.5",
                "9999999999999999999999999999999998",
            ),
            (
                "9999999999999999999999999999999997",
                "0.5",
                "9999999999999999999999999999999998",
            ),
            (
                "9.999999999999999999999999999999999E+6144",
                "1E+6144",
                "Infinity",
            ),
        ];
        let underflows = [
            ("1E-6176", "0.5", "0E-6176"),
            ("1E-6176", "0.6", "1E-6176"),
            ("3E-6176", "0.5", "2E-6176"),
            ("1E-6100", "1E-100", "0E-6176"),
        ];
        for (left, right, expected) in underflows {
            assert_eq!(
                show(parse(left).multiply(parse(right))),
                expected,
                "{left} × {right}"
            );
        }
        for (left, right, expected) in sums {
            assert_eq!(
                show(parse(left).add(parse(right))),
                expected,
                "{left} + {right}"
            );
            assert_eq!(
                show(parse(right).add(parse(left))),
                expected,
                "{right} + {left}"
            );
        }
    }

    #[test]
    fn remainders_are_exact_with_the_dividends_sign() {
        let cases = [
            ("10.5", "3", "1.5"),
            ("-7", "2", "-1"),
            ("7", "-2", "1"),
            ("7.00", "2", "1.00"),
            ("10", "3.0", "1.0"),
            ("-6", "3", "-0"),
            // Past a double's 16 digits.
            ("12345678901234567890.5", "10", "0.5"),
            ("9999999999999999999999999999999999", "97", "85"),
            // 10^6000 mod 7: 10^6 is 1 mod 7.
            ("1E+6000", "7", "1"),
            ("25", "1E+1", "5"),
            ("1", "1E+40", "1"),
            ("1", "Infinity", "1"),
            ("Infinity", "1", "NaN"),
            ("1", "0", "NaN"),
            ("NaN", "1", "NaN"),
        ];
        for (left, right, expected) in cases {
            assert_eq!(
                show(parse(left).remainder(parse(right))),
                expected,
                "{left} mod {right}"
            );
        }
    }

    #[test]
    fn products_and_quotients_are_rounded_to_34_digits() {
        let products = [
            ("1.10", "2", "2.20"),
            ("0.1", "0.1", "0.01"),
            ("-3", "0.5", "-1.5"),
            (
                "9999999999999999999999999999999999",
                "9999999999999999999999999999999999",
                "9.999999999999999999999999999999998E+67",
            ),
            ("0", "-1.5", "-0.0"),
            ("Infinity", "0", "NaN"),
            ("-Infinity", "2", "-Infinity"),
        ];
        for (left, right, expected) in products {
            assert_eq!(
                show(parse(left).multiply(parse(right))),
                expected,
                "{left} × {right}"
            );
        }
        let quotients = [
            ("1", "3", "0.3333333333333333333333333333333333"),
            ("2", "3", "0.6666666666666666666666666666666667"),
            // The 35th digit is a 5 with more after it: up, though the 34th is even.
            ("1", "7", "0.1428571428571428571428571428571429"),
            ("6.0", "2", "3.0"),
            ("1", "4", "0.25"),
            ("10", "4", "2.5"),
            ("100", "10", "10"),
            ("1E+2", "1", "1E+2"),
            ("-1", "8", "-0.125"),
            ("0", "5", "0"),
            ("1", "0", "Infinity"),
            ("0", "0", "NaN"),
            ("1", "Infinity", "0E-6176"),
        ];
        for (left, right, expected) in quotients {
            assert_eq!(
                show(parse(left).divide(parse(right))),
                expected,
                "{left} ÷ {right}"
            );
        }
    }

    #[test]
    fn rounding_to_a_place() {
        let cases = [
            ("2.5", 0, Rounding::HalfEven, "2"),
            ("3.5", 0, Rounding::HalfEven, "4"),
            ("-2.5", 0, Rounding::HalfEven, "-2"),
            ("1.25", 1, Rounding::HalfEven, "1.2"),
            ("1.35", 1, Rounding::HalfEven, "1.4"),
            ("1.25", 1, Rounding::Down, "1.2"),
            ("-1.29", 1, Rounding::Down, "-1.2"),
            ("1234.5", -2, Rounding::HalfEven, "1.2E+3"),
            ("9.99", 1, Rounding::HalfEven, "10.0"),
            ("0.001", 0, Rounding::HalfEven, "0"),
            ("-2.5", 0, Rounding::Floor, "-3"),
            ("2.1", 0, Rounding::Ceiling, "3"),
            ("-2.1", 0, Rounding::Ceiling, "-2"),
            ("1E-100", 0, Rounding::Ceiling, "1"),
            ("1E-100", 0, Rounding::HalfEven, "0"),
            ("7", 2, Rounding::HalfEven, "7"),
            (
                "12345678901234567.85",
                1,
                Rounding::HalfEven,
                "12345678901234567.8",
            ),
        ];
        for (value, places, rounding, expected) in cases {
            assert_eq!(
                show(parse(value).round_to(places, rounding)),
                expected,
                "{value} to {places} places, {rounding:?}"
            );
        }
    }

    #[test]
    fn doubles_enter_arithmetic_with_15_digits() {
        let tenth = Decimal::from_f64_digits(0.1, 15);
        assert_eq!(show(tenth), "0.100000000000000");
        assert_eq!(show(parse("0.1").add(tenth)), "0.200000000000000");
        assert_eq!(
            show(Decimal::from_f64_digits(-2.5, 15)),
            "-2.50000000000000"
        );
    }

    #[test]
    fn non_canonical_coefficients_read_as_zero() {
        // Coefficient 10^34 (one past the largest), exponent 0.
        let bits = (u128::from(BIAS as u32) << 113) | LIMIT;
        let decimal = Decimal::from_bytes(bits.to_le_bytes());
        assert_eq!(decimal.compare(Decimal::from_i64(0)), Ordering::Equal);
    }
}

#[cfg(test)]
mod exact_tests {
    use super::Decimal;

    fn exact(value: f64) -> String {
        Decimal::from_f64_exact(value).to_decimal128().to_string()
    }

    #[test]
    fn doubles_convert_to_their_exact_value_in_as_few_digits_as_it_takes() {
        assert_eq!(exact(2.5), "2.5");
        assert_eq!(exact(1.0), "1");
        assert_eq!(exact(-0.0009765625), "-0.0009765625");
        assert_eq!(exact(1e22), "10000000000000000000000");
        assert_eq!(exact(2f64.powi(100)), "1267650600228229401496703205376");
        assert_eq!(exact(0.1), "0.1000000000000000055511151231257827");
        assert_eq!(exact(1e300), "1.000000000000000052504760255204420E+300");
        assert_eq!(exact(0.0), "0");
    }

    /// Against the slow oracle: the double's full decimal expansion, trailing zeros dropped
    /// down to the units, when it has at most 34 significant digits.
    #[test]
    fn the_exactness_test_agrees_with_the_full_expansion() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Doubles of few significant bits and every magnitude, exact in decimal or not.
            let mantissa = (state >> 40) as f64;
            let exponent = ((state & 0xFF) as i32) - 128;
            let value = mantissa * 2f64.powi(exponent);
            let text = format!("{value:.1100}");
            let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
            let fraction = fraction.trim_end_matches('0');
            let digits = format!("{whole}{fraction}");
            let significant = digits.trim_start_matches('0').len();
            if significant > 34 || value == 0.0 {
                continue;
            }
            let expected = if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            };
            let got = Decimal::from_f64_exact(value).to_decimal128().to_string();
            let parsed: f64 = got.parse().unwrap_or(f64::NAN);
            assert_eq!(parsed, value, "{value:e}: {got}");
            // The same significant digits, none dropped or added.
            let digits_of = |text: &str| -> String {
                let mantissa = text.split(['E', 'e']).next().unwrap_or(text);
                let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
                digits.trim_start_matches('0').to_owned()
            };
            assert_eq!(
                digits_of(&got),
                digits_of(&expected),
                "{value:e}: {got} against {expected}"
            );
        }
    }
}
