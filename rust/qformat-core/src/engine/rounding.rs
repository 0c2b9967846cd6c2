//! Rounding modes and the one decision every conversion shares: given the
//! kept part of a value (as an encoded code) and the discarded part, which
//! neighbour do we return? Keeping this in one place (the SoftFloat
//! "round and pack" idea) means float and integer targets cannot disagree.

use crate::error::Error;

/// IEEE 754 rounding-direction attributes plus round-to-odd and stochastic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoundingMode {
    NearestEven,
    NearestAway,
    TowardZero,
    Up,
    Down,
    Odd,
    Stochastic,
}

impl RoundingMode {
    /// Every mode, in the API's order.
    pub const ALL: [RoundingMode; 7] = [
        RoundingMode::NearestEven,
        RoundingMode::NearestAway,
        RoundingMode::TowardZero,
        RoundingMode::Up,
        RoundingMode::Down,
        RoundingMode::Odd,
        RoundingMode::Stochastic,
    ];

    /// Every mode whose result depends on the value alone: [`Self::ALL`]
    /// without stochastic rounding, in the same order. Derived, so a mode
    /// added to `ALL` reaches every test that iterates this list; a second
    /// mode that needs random bits stops the build here until it is sorted.
    pub const DETERMINISTIC: [RoundingMode; Self::ALL.len() - 1] = {
        let mut out = [RoundingMode::NearestEven; Self::ALL.len() - 1];
        let (mut i, mut n) = (0, 0);
        while i < Self::ALL.len() {
            if !matches!(Self::ALL[i], RoundingMode::Stochastic) {
                out[n] = Self::ALL[i];
                n += 1;
            }
            i += 1;
        }
        assert!(n == out.len(), "ALL must hold exactly one stochastic mode");
        out
    };

    /// This mode, checked against the seed it comes with: stochastic
    /// rounding needs a seed so that results are reproducible. Every option
    /// reader (conversions, exact queries, quantizers) checks through here.
    pub fn with_seed(self, seed: Option<u64>) -> Result<Self, Error> {
        if self == Self::Stochastic && seed.is_none() {
            return Err(Error::invalid(
                "rounding='stochastic' needs seed=<int> so that results are reproducible",
            ));
        }
        Ok(self)
    }

    /// Parse the API's spelling.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "nearest_even" | "rne" | "nearest" => Self::NearestEven,
            "nearest_away" | "rna" => Self::NearestAway,
            "toward_zero" | "rtz" | "truncate" => Self::TowardZero,
            "up" | "toward_positive" | "ceil" => Self::Up,
            "down" | "toward_negative" | "floor" => Self::Down,
            "odd" | "round_to_odd" => Self::Odd,
            "stochastic" => Self::Stochastic,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown rounding {s:?}; choose one of nearest_even, nearest_away, \
                     toward_zero, up, down, odd, stochastic"
                )))
            }
        })
    }

    /// The API's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::NearestEven => "nearest_even",
            Self::NearestAway => "nearest_away",
            Self::TowardZero => "toward_zero",
            Self::Up => "up",
            Self::Down => "down",
            Self::Odd => "odd",
            Self::Stochastic => "stochastic",
        }
    }

    /// True when this mode, for a value of sign `neg`, never moves away from
    /// zero past the largest finite value: such modes overflow to ±max.
    pub fn overflows_to_max(self, neg: bool) -> bool {
        match self {
            Self::TowardZero | Self::Odd => true,
            Self::Up => neg,
            Self::Down => !neg,
            _ => false,
        }
    }
}

/// The discarded low part of a significand: `frac / 2^64` of one unit in the
/// last kept place, with `sticky` set if anything non-zero lies below that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remainder {
    pub frac: u64,
    pub sticky: bool,
}

impl Remainder {
    /// True when nothing was discarded.
    #[inline]
    pub fn is_exact(&self) -> bool {
        self.frac == 0 && !self.sticky
    }
}

/// Split `sig` into `sig >> shift` and the discarded bits, for any `shift`
/// (including 64 and more), folding `sticky` in.
#[inline]
pub fn split(sig: u64, shift: u64, sticky: bool) -> (u64, Remainder) {
    match shift {
        0 => (sig, Remainder { frac: 0, sticky }),
        1..=63 => (
            sig >> shift,
            Remainder {
                frac: sig << (64 - shift),
                sticky,
            },
        ),
        64 => (0, Remainder { frac: sig, sticky }),
        65..=127 => {
            let s = shift - 64;
            (
                0,
                Remainder {
                    frac: sig >> s,
                    sticky: sticky || (sig << (64 - s)) != 0,
                },
            )
        }
        _ => (
            0,
            Remainder {
                frac: 0,
                sticky: sticky || sig != 0,
            },
        ),
    }
}

/// Round the truncated code `t` (magnitude of a value of sign `neg`) given
/// the discarded remainder. `random` is the stochastic-rounding addend
/// (`random.rs`), used only by that mode. Ties-to-even looks at the lowest bit of the *code*,
/// which is the IEEE definition also for formats without fraction bits.
#[inline]
pub fn round_code(t: u64, rem: Remainder, neg: bool, mode: RoundingMode, random: u64) -> u64 {
    const HALF: u64 = 1 << 63;
    let inexact = !rem.is_exact();
    let inc = match mode {
        RoundingMode::NearestEven => {
            rem.frac > HALF || (rem.frac == HALF && (rem.sticky || t & 1 == 1))
        }
        RoundingMode::NearestAway => rem.frac >= HALF,
        RoundingMode::TowardZero => false,
        RoundingMode::Up => inexact && !neg,
        RoundingMode::Down => inexact && neg,
        RoundingMode::Odd => return t | inexact as u64,
        // Round away when adding the random bits to the discarded ones
        // carries out: P = frac / 2^64 for a uniform 64-bit addend, the
        // top n discarded bits / 2^n for n random bits. The sticky tail
        // below 2^-64 of a unit never carries (as in hardware).
        RoundingMode::Stochastic => stochastic_carry(rem.frac, random),
    };
    t + inc as u64
}

/// True when `frac + addend` carries out of 64 bits.
#[inline(always)]
pub fn stochastic_carry(frac: u64, addend: u64) -> bool {
    addend > !frac
}

/// The rounding-mode families the lean loops are compiled for (their
/// `FAMILY` const parameter): the float32 directed loop
/// (`fast/fp32_directed.rs`) and the integer quantizers' directed loop
/// (`quant/directed.rs`) each pick one per call, so that a loop's body
/// holds only its family's increment.
pub mod family {
    /// Up, down, odd and nearest-away: the increment chosen by masks.
    pub const MASKED: u8 = 0;
    /// Toward zero: never an increment.
    pub const TOWARD_ZERO: u8 = 1;
    /// Stochastic: an increment from the element's random draw.
    pub const STOCHASTIC: u8 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_is_all_but_stochastic_in_order() {
        let want: Vec<RoundingMode> = RoundingMode::ALL
            .into_iter()
            .filter(|&m| m != RoundingMode::Stochastic)
            .collect();
        assert_eq!(RoundingMode::DETERMINISTIC.to_vec(), want);
    }

    #[test]
    fn split_all_shifts() {
        let sig = 0xF000_0000_0000_0001u64;
        assert_eq!(
            split(sig, 0, false),
            (
                sig,
                Remainder {
                    frac: 0,
                    sticky: false
                }
            )
        );
        let (q, r) = split(sig, 60, false);
        assert_eq!(q, 0xF);
        assert_eq!(r.frac, 1 << 4);
        let (q, r) = split(sig, 66, false);
        assert_eq!(q, 0);
        assert_eq!(r.frac, sig >> 2);
        assert!(r.sticky);
        let (_, r) = split(sig, 500, false);
        assert!(r.sticky && r.frac == 0);
    }

    #[test]
    fn ties() {
        const HALF: u64 = 1 << 63;
        let half = Remainder {
            frac: 1 << 63,
            sticky: false,
        };
        assert_eq!(round_code(2, half, false, RoundingMode::NearestEven, 0), 2);
        assert_eq!(round_code(3, half, false, RoundingMode::NearestEven, 0), 4);
        assert_eq!(round_code(2, half, false, RoundingMode::NearestAway, 0), 3);
        assert_eq!(round_code(2, half, true, RoundingMode::Up, 0), 2);
        assert_eq!(round_code(2, half, true, RoundingMode::Down, 0), 3);
        assert_eq!(round_code(2, half, false, RoundingMode::Odd, 0), 3);
        assert_eq!(round_code(3, half, false, RoundingMode::Odd, 0), 3);
        // A half plus an addend of a half carries; one less does not.
        assert_eq!(round_code(2, half, false, RoundingMode::Stochastic, 0), 2);
        assert_eq!(
            round_code(2, half, false, RoundingMode::Stochastic, HALF - 1),
            2
        );
        assert_eq!(
            round_code(2, half, false, RoundingMode::Stochastic, HALF),
            3
        );
        let exact = Remainder {
            frac: 0,
            sticky: false,
        };
        let tail_only = Remainder {
            frac: 0,
            sticky: true,
        };
        for r in [exact, tail_only] {
            assert_eq!(
                round_code(2, r, false, RoundingMode::Stochastic, u64::MAX),
                2
            );
        }
    }
}
