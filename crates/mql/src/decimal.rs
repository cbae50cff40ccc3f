//! Decimal128 values compared exactly, as MongoDB compares them: a decimal against another
//! decimal or an integer by exact value, against a double by the double rounded to 34
//! significant digits (the server's `compareDecimalToDouble` converts the double with
//! `kRoundTo34Digits`). NaN equals NaN and sorts below every other number; zeros are equal
//! whatever their sign and exponent.
//!
//! Decimal arithmetic is not done here: expressions and updates still compute decimals in
//! double precision (see `crate::value::number`).

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
            let coefficient = if coefficient < LIMIT {
                coefficient
            } else {
                0
            };
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

    /// A double rounded to 34 significant digits (exact for every double with at most 34).
    pub(crate) fn from_f64(value: f64) -> Decimal {
        if value.is_nan() {
            return Decimal::NaN;
        }
        if value.is_infinite() {
            return Decimal::Infinite {
                negative: value < 0.0,
            };
        }
        let negative = value.is_sign_negative();
        if value == 0.0 {
            return Decimal::Finite {
                negative,
                coefficient: 0,
                exponent: 0,
            };
        }
        // `d.ddd…e±x` with 34 significant digits, correctly rounded from the exact value.
        let text = format!("{:.*e}", (DIGITS - 1) as usize, value.abs());
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let coefficient = mantissa
            .bytes()
            .filter(u8::is_ascii_digit)
            .fold(0u128, |acc, digit| acc * 10 + u128::from(digit - b'0'));
        let exponent = exponent.parse::<i32>().unwrap_or(0) - (DIGITS as i32 - 1);
        Decimal::Finite {
            negative,
            coefficient,
            exponent,
        }
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
    let (
        Decimal::Finite {
            coefficient: left_coefficient,
            exponent: left_exponent,
            ..
        },
        Decimal::Finite {
            coefficient: right_coefficient,
            exponent: right_exponent,
            ..
        },
    ) = (left, right)
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

    #[test]
    fn non_canonical_coefficients_read_as_zero() {
        // Coefficient 10^34 (one past the largest), exponent 0.
        let bits = (u128::from(BIAS as u32) << 113) | LIMIT;
        let decimal = Decimal::from_bytes(bits.to_le_bytes());
        assert_eq!(decimal.compare(Decimal::from_i64(0)), Ordering::Equal);
    }
}
