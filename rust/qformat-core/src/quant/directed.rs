//! The integer code loop of the directed, odd and stochastic modes (and of
//! nearest-away under PyTorch's arithmetic): every element's code from a
//! float quotient, with a verdict on whether the exact quotient could round
//! otherwise. It computes in f64 for any data and scale, or in float32
//! (twice the lanes per vector) for float32 data with float32 scales, and
//! each mode family ([`family`]) gets its own compiled loop: a stochastic
//! draw is two 64-bit multiplies per element, which a shared vectorised
//! loop would compute and discard in every other mode, and the masks that
//! pick the other modes' increments would cost the stochastic and
//! toward-zero loops a third of their instructions (`perf annotate`).

// `!(a >= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use std::ops::{Add, Mul, Neg, Sub};

use super::constants::Run;
use super::emit::Emit;
use super::options::{Arithmetic, QuantOptions};
use super::real::Real;
use crate::engine::random::{draw_keyed, draw_of_state, state_at, stream_key, STATE_STEP};
use crate::engine::rounding::{family, RoundingMode};
use crate::fast::simd::{at_least, at_most};

/// The loop-invariant choices of [`fast_directed`]: which increment of the
/// magnitude applies (as masks, so the loop has no per-element branch).
#[derive(Clone, Copy, Debug)]
pub(super) struct Directed {
    up: bool,
    down: bool,
    odd: bool,
    stochastic: bool,
    away: bool,
    /// PyTorch's arithmetic: `q` is exact by definition (no doubt but the draw's).
    torch: bool,
    key: u64,
    qmin: f64,
    qmax: f64,
}

/// The float type a directed loop computes in, with the bounds that make
/// its verdict safe. `f64` serves every data type and scale; `f32` only
/// float32 data whose scales, inverses, codes and zero points pass
/// `Params::fits_f32` (float32 scales with normal inverses, |codes| and
/// |zero points| below 2^20), which its bounds assume.
pub(super) trait Lane:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const HALF: Self;
    const ONE: Self;
    /// |q| at and above which every mode gives the same clamped code.
    const BIG: Self;
    /// With exact arithmetic the quotient `q` is within `|q|·REL + ABS` of
    /// the exact one.
    const REL: Self;
    const ABS: Self;
    /// Twice the resolution of [`Lane::unit`]: a safe margin around the draw.
    const DRAW_MARGIN: Self;
    fn abs(self) -> Self;
    fn floor(self) -> Self;
    /// `self` with the sign of `sign` (one bitwise select in a vector).
    fn copysign(self, sign: Self) -> Self;
    fn is_nan(self) -> bool;
    /// Whether the integer `t` (0 ≤ t ≤ BIG) is even.
    fn even(self) -> bool;
    /// The top bits of a draw as a fraction `u`: u ≤ random/2^64 < u + DRAW_MARGIN/2.
    fn unit(random: u64) -> Self;
    fn from_f64(x: f64) -> Self;
    /// Element `i`'s quotient: `x * inv` in this type (PyTorch's float32
    /// `x * inv32` when `torch`).
    fn quotient<T: Real, R: Run>(x: T, r: R, i: usize, torch: bool) -> Self;
    /// Element `i`'s clamped code as an output word or value.
    fn emit<O, E: Emit<O>, R: Run>(e: &E, code: Self, r: R, i: usize) -> O;
    fn zp<R: Run>(r: R, i: usize) -> Self;
}

impl Lane for f64 {
    const ZERO: Self = 0.0;
    const HALF: Self = 0.5;
    const ONE: Self = 1.0;
    // Codes and zero points lie within int32.
    const BIG: Self = (1u64 << 33) as f64;
    // Product and inverse each err by 2^-53 relative; the exact quotient's
    // 64-bit significand truncates below 2^-63 |q| and 2^-64.
    const REL: Self = 1.0 / (1u64 << 49) as f64;
    const ABS: Self = 1.0 / (1u64 << 60) as f64;
    const DRAW_MARGIN: Self = 1.0 / (1u64 << 52) as f64;
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    fn floor(self) -> Self {
        f64::floor(self)
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        f64::copysign(self, sign)
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    #[inline(always)]
    fn even(self) -> bool {
        // SAFETY: 0 <= self <= 2^33 (a NaN quotient was replaced by BIG).
        let t = unsafe { self.to_int_unchecked::<i64>() };
        t & 1 == 0
    }
    #[inline(always)]
    fn unit(random: u64) -> Self {
        (random >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn quotient<T: Real, R: Run>(x: T, r: R, i: usize, torch: bool) -> Self {
        if torch {
            (x.to_f32() * r.inv32(i)) as f64
        } else {
            x.to_f64() * r.inv(i)
        }
    }
    #[inline(always)]
    fn emit<O, E: Emit<O>, R: Run>(e: &E, code: Self, r: R, i: usize) -> O {
        e.emit(code, r.zp(i), r.scale(i))
    }
    #[inline(always)]
    fn zp<R: Run>(r: R, i: usize) -> Self {
        r.zp(i)
    }
}

impl Lane for f32 {
    const ZERO: Self = 0.0;
    const HALF: Self = 0.5;
    const ONE: Self = 1.0;
    // Past 2^22, |q + zp| > 2^21 exceeds every code range `fits_f32` allows.
    const BIG: Self = (1u32 << 22) as f32;
    // The inverse (1/s rounded to f64, then to f32) and the product each
    // err by at most 2^-24 (1 + 2^-28) relative, so |q| 2^-22 bounds the
    // total with room to spare; a product below 2^-126 errs by 2^-150
    // absolute instead.
    const REL: Self = 1.0 / (1u32 << 21) as f32;
    const ABS: Self = f32::MIN_POSITIVE;
    const DRAW_MARGIN: Self = 1.0 / (1u32 << 23) as f32;
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn floor(self) -> Self {
        f32::floor(self)
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        f32::copysign(self, sign)
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline(always)]
    fn even(self) -> bool {
        // SAFETY: 0 <= self <= 2^22 (a NaN quotient was replaced by BIG).
        let t = unsafe { self.to_int_unchecked::<i32>() };
        t & 1 == 0
    }
    #[inline(always)]
    fn unit(random: u64) -> Self {
        // 24 bits: exact in float32.
        (random >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn quotient<T: Real, R: Run>(x: T, r: R, i: usize, _torch: bool) -> Self {
        // The same product for both arithmetics; only the inverse differs.
        x.to_f32() * r.inv32(i)
    }
    #[inline(always)]
    fn emit<O, E: Emit<O>, R: Run>(e: &E, code: Self, r: R, i: usize) -> O {
        e.emit32(code, r.zp32(i), r.scale32(i))
    }
    #[inline(always)]
    fn zp<R: Run>(r: R, i: usize) -> Self {
        r.zp32(i)
    }
}

impl Directed {
    /// The loop for `o`, or None for the modes the nearest-even loops serve.
    pub(super) fn new(o: &QuantOptions) -> Option<Self> {
        use RoundingMode as M;
        let torch = o.arithmetic == Arithmetic::Torch;
        let served = match o.rounding {
            M::NearestEven => false,
            M::NearestAway => torch,
            _ => true,
        };
        served.then_some(Directed {
            up: o.rounding == M::Up,
            down: o.rounding == M::Down,
            odd: o.rounding == M::Odd,
            stochastic: o.rounding == M::Stochastic,
            away: o.rounding == M::NearestAway,
            torch,
            key: stream_key(o.seed),
            qmin: o.qmin as f64,
            qmax: o.qmax as f64,
        })
    }

    /// The [`family`] of loop these modes take.
    pub(super) fn family(&self) -> u8 {
        if self.stochastic {
            family::STOCHASTIC
        } else if self.up | self.down | self.odd | self.away {
            family::MASKED
        } else {
            family::TOWARD_ZERO
        }
    }

    /// The unclamped code of quotient `q` (of a zero `x` when `zero`) whose
    /// element's draw is `random`, and whether the exact quotient could
    /// round differently.
    ///
    /// |q| = t + f (integer part and fraction, both exact below `L::BIG`).
    /// With exact arithmetic `q` is within `err` = [`Slack::at`] |q| of the
    /// exact quotient, so every decision is sure unless f is within `err`
    /// of 0, of 1, of a half (nearest-away) or of the draw (stochastic:
    /// [`stochastic_code`]).
    /// `FAMILY` is [`Self::family`], fixed at compile time, so each loop
    /// computes only its own modes' increment and verdict.
    #[inline(always)]
    fn code<L: Lane, const FAMILY: u8>(
        &self,
        q: L,
        zero: bool,
        random: u64,
        slack: Slack<L>,
    ) -> (L, bool) {
        if FAMILY == family::STOCHASTIC {
            return stochastic_code(q, random, slack);
        }
        let neg = q < L::ZERO;
        let a = at_most(q.abs(), L::BIG);
        let t = a.floor();
        let f = a - t;
        // The test of `torch` repeats the slack's zeros, but lets the
        // compiler split these loops by arithmetic, which their verdict
        // reads again below (without it toward zero took 0.34 ms per 2^20
        // elements instead of 0.31, one thread).
        let err = if self.torch { L::ZERO } else { slack.at(a) };
        let (inc, near_half) = match FAMILY {
            family::TOWARD_ZERO => (false, false),
            _ => {
                let inexact = f > L::ZERO;
                let inc = (self.up & inexact & !neg)
                    | (self.down & inexact & neg)
                    | (self.odd & inexact & t.even())
                    | (self.away & (f >= L::HALF));
                (inc, self.away & ((f - L::HALF).abs() <= err))
            }
        };
        let mag = if inc { t + L::ONE } else { t };
        let signed = if neg { -mag } else { mag };
        // A zero x is exact; a q that underflowed to 0 from a non-zero x is not.
        let near_int = (f <= err && !zero) || f >= L::ONE - err;
        let doubt = q.is_nan() | (a < L::BIG) & ((!self.torch & near_int) | near_half);
        (signed, doubt)
    }

    /// Element `i` of a block, whose draw is `random` (read by the
    /// stochastic family only): its unclamped code and whether the exact
    /// quotient could round otherwise.
    #[inline(always)]
    fn candidate<L: Lane, T: Real, R: Run, const FAMILY: u8>(
        &self,
        x: T,
        r: R,
        i: usize,
        random: u64,
        slack: Slack<L>,
    ) -> (L, bool) {
        let q = L::quotient(x, r, i, self.torch);
        self.code::<L, FAMILY>(q, x.to_f64() == 0.0, random, slack)
    }

    /// Whether [`fast_directed`] doubts element `i` of a block whose first
    /// flat index is `first` (its own verdict, recomputed one element at a time).
    #[inline(always)]
    pub(super) fn doubts<L: Lane, T: Real, R: Run, const FAMILY: u8>(
        &self,
        x: T,
        r: R,
        i: usize,
        first: u64,
    ) -> bool {
        let random = if FAMILY == family::STOCHASTIC {
            draw_keyed(self.key, first + i as u64)
        } else {
            0
        };
        self.candidate::<L, T, R, FAMILY>(x, r, i, random, Slack::of(self))
            .1
    }
}

/// How far the loop's quotient `q` may lie from the exact one: |q|·rel +
/// abs, with `L::REL` and `L::ABS` under exact arithmetic and zero under
/// PyTorch's (whose `q` is exact by definition). Values rather than a test
/// of the arithmetic in the loop: that test was a branch and three
/// register clears per vector in the stochastic loop.
#[derive(Clone, Copy)]
struct Slack<L> {
    rel: L,
    abs: L,
}

impl<L: Lane> Slack<L> {
    #[inline(always)]
    fn of(d: &Directed) -> Self {
        if d.torch {
            Slack {
                rel: L::ZERO,
                abs: L::ZERO,
            }
        } else {
            Slack {
                rel: L::REL,
                abs: L::ABS,
            }
        }
    }

    /// The bound at |q| = `a` (0 under PyTorch's arithmetic for every
    /// finite `a`; NaN for an infinite one, which no verdict then reads:
    /// such an `a` is past `L::BIG`).
    #[inline(always)]
    fn at(self, a: L) -> L {
        a * self.rel + self.abs
    }
}

/// The stochastic family's [`Directed::code`]: |q| rounds away from zero
/// when the draw's fraction `u` ([`Lane::unit`]) is below the fraction
/// `f` of |q|, and the exact quotient could round otherwise only where
/// [`near_draw`] says so. |q| is not clamped to `L::BIG` (this family
/// takes no parity of it), so a NaN quotient reaches the verdict, whose
/// compares are all true for NaN: the NaN needs no test of its own, and
/// an infinite or huge |q| (never near the draw's test, which reads
/// `a < L::BIG` first) gives an infinite or huge code that the clamp to
/// the code range settles. The sign is `q`'s own (a select, not a
/// compare and a negation): a negative q whose magnitude rounds to 0
/// gives −0, which `+ zp` makes the same code as +0.
#[inline(always)]
fn stochastic_code<L: Lane>(q: L, random: u64, slack: Slack<L>) -> (L, bool) {
    let a = q.abs();
    let t = a.floor();
    let f = a - t;
    let u = L::unit(random);
    let mag = if u < f { t + L::ONE } else { t };
    let doubt = !(a >= L::BIG) & near_draw(u, f, slack.at(a));
    (mag.copysign(q), doubt)
}

/// Whether stochastic rounding's code from the fraction `f` of |q| and
/// the draw's fraction `u` ([`Lane::unit`]) could differ from the exact
/// quotient's, |q| being within `err` of it, their integer parts
/// included: the stochastic loop then needs no test of `f` near 0 or 1
/// nor of a zero `x` (three of its eight vector compares, replaced by
/// one; the loop is bound by its compares: 3.8 → 3.0 ms per 2^23
/// float32 elements, one thread).
///
/// The exact code is T + [D < F] for the exact |Q| = T + F and the
/// draw D = draw/2^64, the loop's t + [u < f], with u ≤ D < u + M/2
/// (M = `DRAW_MARGIN`). With d = |u − f|, and err < 1/2 (else every d
/// is near):
/// * T = t (|F − f| ≤ err): the decisions agree unless d ≤ err + M/2;
/// * T = t − 1 (|Q| just below the integer t: f ≤ err, F ≥ 1 + f − err):
///   the codes agree when u ≥ f and D < F, which fail only for d ≤ err
///   and for u − f > 1 − err − M/2;
/// * T = t + 1 (f ≥ 1 − err, F ≤ f − 1 + err): they agree when u < f and
///   D ≥ F, which fail only for d < err and for f − u > 1 − err.
///
/// Hence near for d ≤ err + M or d ≥ 1 − 2M − err, with room for the
/// rounding of d (exact unless |q| < 1) and of the bounds, each below M/4.
/// A zero or underflowed q is the first case (t = f = 0). Near for a NaN
/// `d` or `err` too (see [`stochastic_code`]).
#[inline(always)]
fn near_draw<L: Lane>(u: L, f: L, err: L) -> bool {
    let d = (u - f).abs();
    let wrap = L::ONE - (L::DRAW_MARGIN + L::DRAW_MARGIN) - err;
    // Written as negations, so that a NaN d or err is near.
    !(d > err + L::DRAW_MARGIN) | !(d < wrap)
}

/// The fast loop of [`Directed`]'s modes of family `FAMILY` in lane type
/// `L`. Writes every element's candidate; returns true when some element of
/// the block is doubtful (the caller redoes those exactly). The draws come
/// from a running generator state (see [`state_at`]): the same bits as
/// [`draw_keyed`] without a 64-bit multiply per element.
#[inline(always)]
pub(super) fn fast_directed<L: Lane, T: Real, O, R: Run, E: Emit<O>, const FAMILY: u8>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    d: &Directed,
    first: u64,
    emit: &E,
) -> bool {
    let n = xb.len().min(ob.len());
    let (xb, ob) = (&xb[..n], &mut ob[..n]);
    let (qmin, qmax) = (L::from_f64(d.qmin), L::from_f64(d.qmax));
    let slack = Slack::of(d);
    let mut any = false;
    let mut state = state_at(d.key, first);
    for i in 0..n {
        let random = if FAMILY == family::STOCHASTIC {
            draw_of_state(state)
        } else {
            0
        };
        state = state.wrapping_add(STATE_STEP);
        let (c, doubt) = d.candidate::<L, _, _, FAMILY>(xb[i], r, i, random, slack);
        let c = at_most(at_least(c + L::zp(r, i), qmin), qmax);
        any |= doubt;
        ob[i] = L::emit(emit, c, r, i);
    }
    any
}
