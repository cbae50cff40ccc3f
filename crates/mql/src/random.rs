//! Random numbers for `$rand`, `$sampleRate` and `$sample`.
//!
//! MongoDB draws these from a per-thread pseudo-random generator; so does this engine, with
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
//! 2014): a 64-bit counter advanced by a fixed odd constant and mixed into each output. Neither
//! is meant for secrets. A run seeded with [`crate::Variables::with_seed`] draws the same
//! numbers every time; an unseeded one starts from the operating system's randomness (through
//! the keys of std's `RandomState`) and the clock.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64's increment: 2^64 divided by the golden ratio, made odd.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A generator shared by the clones of one [`crate::Variables`], so that every document of
/// a pipeline run draws from one sequence. Atomic, so that it can be shared between threads;
/// the draws of one run happen in document order on one thread, which keeps a seeded run
/// reproducible.
#[derive(Debug, Clone)]
pub(crate) struct Random {
    state: Arc<AtomicU64>,
}

impl Random {
    /// A generator whose sequence is fixed by `seed`.
    pub(crate) fn seeded(seed: u64) -> Random {
        Random {
            state: Arc::new(AtomicU64::new(seed)),
        }
    }

    /// A generator started from fresh randomness.
    pub(crate) fn from_entropy() -> Random {
        Random::seeded(entropy())
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&self) -> u64 {
        let before = self.state.fetch_add(GOLDEN_GAMMA, Ordering::Relaxed);
        mix(before.wrapping_add(GOLDEN_GAMMA))
    }

    /// A double uniform in [0, 1): 53 random bits, so every value is a multiple of 2^-53.
    pub(crate) fn next_f64(&self) -> f64 {
        unit_double(self.next_u64())
    }

    /// An integer uniform in `0..bound` (`bound` > 0; 0 gives 0), without modulo bias:
    /// Lemire's multiply-and-shift, drawing again in the rare case that would be biased.
    pub(crate) fn below(&self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // 2^64 mod bound: low products under it would make small results too likely.
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            // The low half of a 128-bit product of two 64-bit values.
            let low = product as u64;
            if low >= threshold {
                return (product >> 64) as u64;
            }
        }
    }
}

/// One draw for a context that holds no generator: a generator started from fresh randomness
/// for this one number.
pub(crate) fn fresh_f64() -> f64 {
    unit_double(mix(entropy()))
}

fn unit_double(bits: u64) -> f64 {
    // 2^-53: the top 53 bits as a fraction of one.
    const SCALE: f64 = 1.0 / 9_007_199_254_740_992.0;
    (bits >> 11) as f64 * SCALE
}

/// SplitMix64's output function (the variant `Mix13` of Stafford's MurmurHash3 finalizers).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64 bits nobody can predict: std seeds each thread's `RandomState` keys from the operating
/// system and changes them for every new one; the clock is mixed in as well.
fn entropy() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    RandomState::new().hash_one(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_fixes_the_sequence() {
        let a = Random::seeded(7);
        let b = Random::seeded(7);
        let c = Random::seeded(8);
        let first: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let second: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let other: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(first, second);
        assert_ne!(first, other);
        // Clones share one sequence.
        let shared = a.clone();
        assert_ne!(a.next_u64(), shared.next_u64());
    }

    #[test]
    fn splitmix64_reference_values() {
        // The first outputs of SplitMix64 from seed 1234567 as published for the reference
        // C implementation (Vigna, prng.di.unimi.it/splitmix64.c), recomputed apart in Python.
        let random = Random::seeded(1_234_567);
        assert_eq!(random.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(random.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(random.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn doubles_are_in_the_unit_interval_and_spread() {
        let random = Random::seeded(42);
        let mut buckets = [0u32; 10];
        let draws = 100_000;
        for _ in 0..draws {
            let x = random.next_f64();
            assert!((0.0..1.0).contains(&x), "{x}");
            buckets[(x * 10.0) as usize] += 1;
        }
        // Each tenth expects 10,000 with a standard deviation of about 95: six of them away
        // would fail a correct generator about once in 10^8 seeds.
        for count in buckets {
            assert!((9_430..=10_570).contains(&count), "{buckets:?}");
        }
        assert_eq!(unit_double(u64::MAX), 1.0 - f64::EPSILON / 2.0);
        assert_eq!(unit_double(0), 0.0);
        let fresh = fresh_f64();
        assert!((0.0..1.0).contains(&fresh));
    }

    #[test]
    fn below_is_in_range_and_unbiased() {
        let random = Random::seeded(3);
        assert_eq!(random.below(0), 0);
        assert_eq!(random.below(1), 0);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[random.below(3) as usize] += 1;
        }
        // 10,000 expected each, standard deviation about 82.
        for count in counts {
            assert!((9_500..=10_500).contains(&count), "{counts:?}");
        }
        // A bound just over 2^63 rejects almost half of the raw draws: still in range.
        let big = (1u64 << 63) + 1;
        for _ in 0..100 {
            assert!(random.below(big) < big);
        }
    }

    #[test]
    fn unseeded_generators_differ() {
        let a = Random::from_entropy().next_u64();
        let b = Random::from_entropy().next_u64();
        assert_ne!(a, b);
    }
}
