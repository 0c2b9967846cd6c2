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
//!   count or chunking;
//! * [`Given`]: the caller's own words, one per element (`random_bits=`).
//!
//! The seeded draw of element `i` is the `i`-th output of SplitMix64 started
//! at a key derived from the seed: `mix64(key + i·γ)`. SplitMix64 passes
//! BigCrush and costs two 64-bit multiplies per element, and `key + i·γ` is
//! a running sum, so a loop over consecutive elements vectorises (AVX-512DQ
//! multiplies eight lanes at once). Stream history: until this generator,
//! the draw was `mix64(mix64(i·c ^ key) + key)` (two more multiplies);
//! seeded stochastic results changed once, when it was replaced.

use crate::error::Error;

/// SplitMix64's increment γ (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (Stafford's variant 13 finaliser).
#[inline(always)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator state of element 0 under `seed` (loops compute it once).
#[inline(always)]
pub fn stream_key(seed: u64) -> u64 {
    mix64(seed ^ GAMMA)
}

/// Element `index`'s draw given its seed's [`stream_key`].
#[inline(always)]
pub fn draw_keyed(key: u64, index: u64) -> u64 {
    draw_of_state(state_at(key, index))
}

/// The generator state of element `index` under its seed's [`stream_key`].
/// Element `index + 1`'s state is this plus [`STATE_STEP`] (wrapping), so a
/// loop over consecutive elements keeps a running sum rather than a 64-bit
/// multiply per element, and gets the same draws.
#[inline(always)]
pub fn state_at(key: u64, index: u64) -> u64 {
    key.wrapping_add(index.wrapping_mul(GAMMA))
}

/// What [`state_at`] adds from one element to the next.
pub const STATE_STEP: u64 = GAMMA;

/// The draw of the element whose generator state is `state`.
#[inline(always)]
pub fn draw_of_state(state: u64) -> u64 {
    mix64(state)
}

/// Uniform 64-bit draw for element `index` under `seed`.
#[inline]
pub fn draw(seed: u64, index: u64) -> u64 {
    draw_keyed(stream_key(seed), index)
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

    /// The top 32 bits of the addends of elements `first`, `first + 1`, …
    /// into `out` (the same bits as [`Self::addend`]'s, which a source may
    /// compute more cheaply for a run of consecutive elements): a loop in
    /// 32-bit lanes that reads no more of them keeps twice the lanes per
    /// vector, and takes an element's full addend from [`Self::addend`]
    /// where it needs it.
    #[inline(always)]
    fn fill_tops(&self, first: usize, out: &mut [u32]) {
        for (i, t) in out.iter_mut().enumerate() {
            *t = (self.addend(first.wrapping_add(i)) >> 32) as u32;
        }
    }
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

    /// A running generator state ([`fill_running`]): no 64-bit multiply
    /// per element for the index, the same draws' top halves.
    #[inline(always)]
    fn fill_tops(&self, first: usize, out: &mut [u32]) {
        let n = self.n;
        fill_running(stream_key(self.seed), first as u64, out, |a| {
            (keep_top_bits(a, n) >> 32) as u32
        });
    }
}

/// The full 64-bit addends (complements of the draws, as [`seeded_addend`]
/// forms them) of elements `first`, `first + 1`, … of stream `key`, each
/// passed through `keep` into `out`, from a running generator state
/// ([`state_at`]): the indexed bits without a 64-bit multiply per element.
/// `keep` may narrow the word (a loop in 32-bit lanes keeps the top half),
/// so the scratch it fills is no wider than what its reader needs.
#[inline(always)]
pub fn fill_running<W>(key: u64, first: u64, out: &mut [W], keep: impl Fn(u64) -> W) {
    let mut state = state_at(key, first);
    for a in out.iter_mut() {
        *a = keep(!draw_of_state(state));
        state = state.wrapping_add(STATE_STEP);
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
        // Every one of the 64 bits must be set about half the time, and
        // neighbouring draws must not agree in their top bits more than chance.
        let n = 100_000u64;
        let d: Vec<u64> = (0..n).map(|i| draw(7, i)).collect();
        for bit in 0..64 {
            let ones = d.iter().filter(|&&x| x >> bit & 1 == 1).count();
            let p = ones as f64 / n as f64;
            assert!((p - 0.5).abs() < 0.01, "bit {bit}: {p}");
        }
        let same = d.windows(2).filter(|w| w[0] >> 48 == w[1] >> 48).count();
        assert!(same < 10, "{same} neighbours share their top 16 bits");
        assert_ne!(draw(1, 5), draw(2, 5));
    }

    /// The pinned stream: a change of generator must be deliberate.
    #[test]
    fn the_stream_is_splitmix64_from_the_seed_key() {
        assert_eq!(draw(0, 0), mix64(mix64(GAMMA)));
        assert_eq!(
            draw(3, 10),
            mix64(stream_key(3).wrapping_add(GAMMA.wrapping_mul(10)))
        );
        // SplitMix64's published first output from state 0 (state += γ first).
        assert_eq!(mix64(GAMMA), 0xe220_a839_7b1d_cdaf);
    }

    /// A running state gives the indexed draws, across the wrap of u64.
    #[test]
    fn running_states_give_the_indexed_draws() {
        let key = stream_key(11);
        let first = u64::MAX - 3;
        let mut state = state_at(key, first);
        for k in 0..8 {
            assert_eq!(draw_of_state(state), draw_keyed(key, first.wrapping_add(k)));
            state = state.wrapping_add(STATE_STEP);
        }
    }

    /// A run's full addends ([`fill_running`]) are the indexed ones, across
    /// the wrap of the index.
    #[test]
    fn running_addends_are_the_indexed_ones() {
        for first in [0u64, 12_345, u64::MAX - 3] {
            let mut out = [0u64; 9];
            fill_running(stream_key(5), first, &mut out, |a| a);
            for (k, &a) in out.iter().enumerate() {
                let want = seeded_addend(5, first.wrapping_add(k as u64));
                assert_eq!(a, want, "first={first} k={k}");
            }
        }
    }

    /// A run's top halves are the indexed addends', across the wrap of
    /// the index, for the seeded draws and the caller's words alike.
    #[test]
    fn filled_tops_are_the_indexed_addends_top_halves() {
        let words: Vec<u64> = (0..40u64).map(|k| k.wrapping_mul(GAMMA)).collect();
        let given = Given {
            words: &words,
            n: 40,
        };
        let mut out = [0u32; 9];
        given.fill_tops(30, &mut out);
        for (k, &t) in out.iter().enumerate() {
            assert_eq!(t, (given.addend(30 + k) >> 32) as u32, "given k={k}");
        }
        for n in [1, 7, 33, 64] {
            let s = Seeded { seed: 5, n };
            for first in [0, 12_345, usize::MAX - 3] {
                s.fill_tops(first, &mut out);
                for (k, &t) in out.iter().enumerate() {
                    let a = s.addend(first.wrapping_add(k));
                    assert_eq!(t, (a >> 32) as u32, "n={n} first={first} k={k}");
                }
            }
        }
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
