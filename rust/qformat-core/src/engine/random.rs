//! The random bits of stochastic rounding.
//!
//! Every stochastic decision is one carry: the element's random bits,
//! aligned at the top of a 64-bit word (the *addend*), are added to the
//! discarded part of the significand (`Remainder::frac`, a 64-bit fraction
//! of one unit in the last kept place); a carry out rounds away from zero.
//! With `n` random bits only the top `n` discarded bits take part, which is
//! what hardware does (CUDA `cvt.rs`) and what the "add 16 random bits to
//! the float32 pattern, then truncate" bfloat16 method does. The addend
//! comes from one of two [`Draws`]:
//! * [`Seeded`]: a counter-based generator; the draw for an element depends
//!   only on (seed, flat index), so results are identical for any thread
//!   count or chunking (the Philox/Threefry idea, here with the SplitMix64
//!   finaliser, which passes BigCrush as a counter-mode generator);
//! * [`Given`]: the caller's own words, one per element (`random_bits=`).

use crate::error::Error;

#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform 64-bit draw for element `index` under `seed`.
#[inline]
pub fn draw(seed: u64, index: u64) -> u64 {
    let key = mix64(seed ^ 0x9e37_79b9_7f4a_7c15);
    mix64(mix64(index.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ key).wrapping_add(key))
}

/// The full 64-bit addend of element `index` under `seed`. It is the
/// complement of the draw so that `frac + addend` carries exactly when
/// `draw < frac`: the rule every release before `sr_bits` used, kept so
/// that seeded results do not change.
#[inline]
pub fn seeded_addend(seed: u64, index: u64) -> u64 {
    !draw(seed, index)
}

/// The most random bits a decision can use.
pub const MAX_SR_BITS: u32 = 64;

/// Check an `sr_bits` count: 1 to 64 random bits.
pub fn check_sr_bits(n: u32) -> Result<(), Error> {
    if (1..=MAX_SR_BITS).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "sr_bits={n} is out of range: stochastic rounding compares 1 to 64 random bits"
        )))
    }
}

/// The low `n` bits of `word` moved to the top of a 64-bit addend (the
/// bits below stay zero, so they can never carry).
#[inline(always)]
pub fn align_low_bits(word: u64, n: u32) -> u64 {
    if n >= 64 {
        word
    } else {
        word << (64 - n)
    }
}

/// The top `n` bits of `word`, the rest cleared.
#[inline(always)]
fn keep_top_bits(word: u64, n: u32) -> u64 {
    if n >= 64 {
        word
    } else {
        word & !(u64::MAX >> n)
    }
}

/// Where each element's stochastic-rounding addend comes from.
pub trait Draws: Sync {
    /// The addend of the element at flat index `index`.
    fn addend(&self, index: usize) -> u64;
}

/// The seeded generator, keeping `n` of its bits.
#[derive(Clone, Copy, Debug)]
pub struct Seeded {
    pub seed: u64,
    pub n: u32,
}

impl Draws for Seeded {
    #[inline(always)]
    fn addend(&self, index: usize) -> u64 {
        keep_top_bits(seeded_addend(self.seed, index as u64), self.n)
    }
}

/// The caller's words: the low `n` bits of word `index` are its random bits.
#[derive(Clone, Copy, Debug)]
pub struct Given<'a> {
    pub words: &'a [u64],
    pub n: u32,
}

impl Draws for Given<'_> {
    #[inline(always)]
    fn addend(&self, index: usize) -> u64 {
        align_low_bits(self.words[index], self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_enough() {
        // Mean of the top bit over many indices must be near 1/2.
        let n = 100_000u64;
        let ones: u64 = (0..n).map(|i| draw(7, i) >> 63).sum();
        let p = ones as f64 / n as f64;
        assert!((p - 0.5).abs() < 0.01, "{p}");
        assert_ne!(draw(1, 5), draw(2, 5));
    }

    #[test]
    fn addends_keep_only_their_bits() {
        let g = Given {
            words: &[0xABCD, u64::MAX],
            n: 8,
        };
        assert_eq!(g.addend(0), 0xCD << 56);
        assert_eq!(g.addend(1), 0xFF << 56);
        let s = Seeded { seed: 3, n: 4 };
        assert_eq!(s.addend(9), seeded_addend(3, 9) & (0xF << 60));
        let all = Seeded { seed: 3, n: 64 };
        assert_eq!(all.addend(9), !draw(3, 9));
        assert!(check_sr_bits(0).is_err() && check_sr_bits(65).is_err());
        assert!(check_sr_bits(1).is_ok() && check_sr_bits(64).is_ok());
    }
}
