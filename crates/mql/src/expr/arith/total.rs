//! Sums as MongoDB's `$sum` and `$avg` compute them (`accumulator_sum.cpp`,
//! `accumulator_avg.cpp`): integers and doubles in one compensated double-double sum (exact
//! for any run of 64-bit integers, about 107 bits for doubles), decimals in a separate decimal
//! sum, and the narrowest type that holds the result. Summing `[0.1, 0.2, 0.3]` this way gives
//! `0.6`, where adding doubles one by one gives `0.6000000000000001`.

use super::Num;
use crate::decimal::Decimal;

/// MongoDB's `DoubleDoubleSummation` (`util/summation.h`): an unevaluated sum of a rounded
/// `sum` and the `addend` it lost, kept exact by the 2Sum and Fast2Sum steps; `special` is a
/// plain sum, answered when the compensated one turned NaN through an infinity.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct DoubleDouble {
    sum: f64,
    addend: f64,
    special: f64,
}

impl DoubleDouble {
    pub(crate) fn add_double(&mut self, x: f64) {
        self.special += x;
        let (x, addend) = fast_two_sum(x, self.addend);
        self.addend = addend;
        let (sum, x) = two_sum(self.sum, x);
        self.sum = sum;
        self.addend += x;
    }

    /// A 64-bit integer as two doubles (its high and low 32 bits), so that the sum stays exact.
    pub(crate) fn add_long(&mut self, x: i64) {
        let high = x / (1 << 32) * (1 << 32);
        let low = x - high;
        self.add_double(low as f64);
        self.add_double(high as f64);
    }

    /// The double nearest the sum.
    pub(crate) fn double(&self) -> f64 {
        if self.sum.is_nan() {
            self.special
        } else {
            self.sum
        }
    }

    /// The sum as a decimal: both parts converted as `binary64_to_bid128` does, and added.
    pub(crate) fn decimal(&self) -> Decimal {
        if !self.sum.is_finite() {
            return Decimal::from_f64_exact(self.special);
        }
        Decimal::from_f64_exact(self.sum).add(Decimal::from_f64_exact(self.addend))
    }

    /// Whether the sum, rounded to an integer, is within the range of a 64-bit integer.
    pub(crate) fn fits_long(&self) -> bool {
        const MIN: f64 = i64::MIN as f64;
        const MAX: f64 = i64::MAX as f64; // 2^63: i64::MAX rounds up
        if self.sum > MIN && self.sum < MAX {
            return true;
        }
        if self.sum == MAX {
            return self.addend < -0.5;
        }
        if self.sum == MIN {
            return self.addend >= -0.5;
        }
        false
    }

    /// The sum rounded to the nearest integer (halves away from zero), if it fits.
    pub(crate) fn long(&self) -> Option<i64> {
        if !self.fits_long() {
            return None;
        }
        if self.sum == i64::MAX as f64 {
            // 2^63 plus a negative addend: computed from the other end to stay in range.
            return (round_to_long(self.addend)?).checked_sub(i64::MIN);
        }
        let sum = round_to_long(self.sum)?;
        sum.checked_add(round_to_long((self.sum - sum as f64) + self.addend)?)
    }
}

/// Rounds half away from zero into an `i64` (`llround`), `None` outside its range or for NaN.
fn round_to_long(x: f64) -> Option<i64> {
    let rounded = x.round();
    // Both bounds are exact doubles (-2^63 and 2^63); in range, the cast is exact.
    (rounded >= i64::MIN as f64 && rounded < i64::MAX as f64).then_some(rounded as i64)
}

/// `a + b` and its rounding error, for `|b| <= |a|` (Dekker).
fn fast_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let z = s - a;
    (s, b - z)
}

/// `a + b` and its rounding error, for any `a` and `b` (Møller, Knuth).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let a_prime = s - b;
    let b_prime = s - a_prime;
    (s, (a - a_prime) + (b - b_prime))
}

/// The widest numeric type seen, in MongoDB's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    #[default]
    Int,
    Long,
    Double,
    Decimal,
}

/// A running `$sum`: the compensated sum of the integers and doubles, the decimal sum of the
/// decimals, and the widest type seen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Total {
    kind: Kind,
    binary: DoubleDouble,
    decimal: Decimal,
}

impl Default for Total {
    fn default() -> Self {
        Total {
            kind: Kind::Int,
            binary: DoubleDouble::default(),
            decimal: Decimal::from_i64(0),
        }
    }
}

impl Total {
    pub(crate) fn add(&mut self, number: Num) {
        let kind = match number {
            Num::I32(v) => {
                self.binary.add_double(f64::from(v));
                Kind::Int
            }
            Num::I64(v) => {
                self.binary.add_long(v);
                Kind::Long
            }
            Num::F64(v) => {
                self.binary.add_double(v);
                Kind::Double
            }
            Num::Dec(v) => {
                self.decimal = self.decimal.add(v);
                Kind::Decimal
            }
        };
        self.kind = self.kind.max(kind);
    }

    /// The sum in the narrowest type: an int32 while it fits, an int64 (for integers only, the
    /// int64 kind staying int64), a double when it does not fit or a double was added, a
    /// decimal when a decimal was.
    pub(crate) fn sum(&self) -> Num {
        match self.kind {
            Kind::Int => match self.binary.long() {
                Some(long) => Num::int_or_long(long),
                None => Num::F64(self.binary.double()),
            },
            Kind::Long => match self.binary.long() {
                Some(long) => Num::I64(long),
                None => Num::F64(self.binary.double()),
            },
            Kind::Double => Num::F64(self.binary.double()),
            Kind::Decimal => Num::Dec(self.decimal.add(self.binary.decimal())),
        }
    }

    /// The mean of `count` numbers: a decimal when a decimal was added, else a double.
    pub(crate) fn mean(&self, count: u64) -> Num {
        match self.kind {
            Kind::Decimal => Num::Dec(
                self.decimal
                    .add(self.binary.decimal())
                    .divide(Decimal::from_i64(i64::try_from(count).unwrap_or(i64::MAX))),
            ),
            _ => Num::F64(self.binary.double() / count as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(numbers: &[Num]) -> Num {
        let mut total = Total::default();
        for &number in numbers {
            total.add(number);
        }
        total.sum()
    }

    #[test]
    fn doubles_are_summed_with_compensation() {
        let sum = total(&[Num::F64(0.1), Num::F64(0.2), Num::F64(0.3)]);
        assert_eq!(sum, Num::F64(0.6));
        // Doubles of every magnitude: the compensated sum is the correctly rounded one, which
        // adding them one by one misses (vectors from the server's `summation_test.cpp`).
        let values = [
            1.4831356930199802e-05,
            -3.121724665346865,
            3041897608700.073,
            1001318343149.7166,
            -1714.6229586696593,
            1731390114894580.8,
            6.256645803154374e-08,
            -107144114533844.25,
            -0.08839485091750919,
            -265119153.02185738,
            -0.02450615965231944,
            0.0002684331017079073,
            32079040427.68358,
            -0.04733295911845742,
            0.061381859083076085,
            -25329.59126796951,
            -0.0009567520620034965,
            -1553879364344.9932,
            -2.1101077525869814e-08,
            -298421079729.5547,
            0.03182394834273594,
            22.201944843278916,
            -33.35667991109125,
            11496013.960449915,
            -40652595.33210472,
            3.8496066090328163,
            2.5074042398147304e-08,
            -0.02208724071782122,
            -134211.37290639878,
            0.17640433666616578,
            4.463787499171126,
            9.959669945399718,
            129265976.35224283,
            1.5865526187526546e-07,
            -4746011.710555799,
            -712048598925.0789,
            582214206210.4034,
            0.025236204812875362,
            530078170.91147506,
            -14.865307666195053,
            1.6727994895185032e-05,
            -113386276.03121366,
            -6.135827207137054,
            10644945799901.145,
            -100848907797.1582,
            2.2404406961625282e-08,
            1.315662618424494e-09,
            -0.832190208349044,
            -9.779323414999364,
            -546522170658.2997,
        ];
        let numbers: Vec<Num> = values.iter().map(|&x| Num::F64(x)).collect();
        assert_eq!(total(&numbers), Num::F64(1636336982012512.5));
        assert_ne!(values.iter().sum::<f64>(), 1636336982012512.5);
    }

    #[test]
    fn sums_of_longs_are_exact_modulo_two_to_the_64() {
        let values = [
            i64::MIN,
            i64::MIN + 1,
            i64::MIN / 2,
            -(1 << 53),
            -(1 << 32),
            -0xff,
            -1,
            0,
            1,
            0x55,
            1 << 31,
            1 << 52,
            1 << 53,
            i64::MAX / 2,
            i64::MAX - 511, // halfway between two doubles
            i64::MAX - 1,
            i64::MAX,
        ];
        for &x in &values {
            for &y in &values {
                for &z in &values {
                    let mut sum = DoubleDouble::default();
                    for v in [x, y, z] {
                        sum.add_long(v);
                    }
                    while !sum.fits_long() {
                        let two_64 = 18_446_744_073_709_551_616.0;
                        sum.add_double(if sum.double() < 0.0 { two_64 } else { -two_64 });
                    }
                    let expected = x.wrapping_add(y).wrapping_add(z);
                    assert_eq!(sum.long(), Some(expected), "{x} + {y} + {z}");
                }
            }
        }
    }

    #[test]
    fn integers_keep_the_narrowest_type() {
        assert_eq!(total(&[Num::I32(1), Num::I32(2)]), Num::I32(3));
        assert_eq!(
            total(&[Num::I32(i32::MAX), Num::I32(1)]),
            Num::I64(i64::from(i32::MAX) + 1)
        );
        assert_eq!(total(&[Num::I64(1), Num::I32(2)]), Num::I64(3));
        // Exact beyond 2^53, where doubles would round.
        let big = (1i64 << 60) + 1;
        assert_eq!(total(&[Num::I64(big), Num::I64(big)]), Num::I64(2 * big));
        // Past 2^63 the sum becomes a double.
        assert_eq!(
            total(&[Num::I64(i64::MAX), Num::I64(1)]),
            Num::F64(9_223_372_036_854_775_808.0)
        );
        assert_eq!(
            total(&[Num::I64(i64::MAX), Num::I64(-1)]),
            Num::I64(i64::MAX - 1)
        );
        assert_eq!(total(&[Num::I64(i64::MIN)]), Num::I64(i64::MIN));
        assert_eq!(total(&[]), Num::I32(0));
    }

    #[test]
    fn infinities_and_nan() {
        assert_eq!(
            total(&[Num::F64(f64::INFINITY), Num::F64(1.0)]),
            Num::F64(f64::INFINITY)
        );
        let Num::F64(nan) = total(&[Num::F64(f64::INFINITY), Num::F64(f64::NEG_INFINITY)]) else {
            panic!("a double");
        };
        assert!(nan.is_nan());
    }

    #[test]
    fn decimals_are_summed_apart_and_joined_at_the_end() {
        let one = Decimal::from_i64(1);
        let Num::Dec(sum) = total(&[Num::Dec(one), Num::Dec(one)]) else {
            panic!("a decimal");
        };
        assert_eq!(sum.to_decimal128().to_string(), "2");
        // The double part joins in its exact value, rounded to 34 digits when longer.
        let Num::Dec(sum) = total(&[Num::Dec(one), Num::F64(1.0)]) else {
            panic!("a decimal");
        };
        assert_eq!(sum.to_decimal128().to_string(), "2");
        let Num::Dec(sum) = total(&[Num::Dec(one), Num::F64(0.1)]) else {
            panic!("a decimal");
        };
        assert_eq!(
            sum.to_decimal128().to_string(),
            "1.100000000000000005551115123125783"
        );
    }

    #[test]
    fn means() {
        let mut total = Total::default();
        for x in [0.1, 0.2, 0.3] {
            total.add(Num::F64(x));
        }
        assert_eq!(total.mean(3), Num::F64(0.6 / 3.0));
    }
}
