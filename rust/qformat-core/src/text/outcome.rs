//! What rounding a value into a format did, beyond the bits: exactness and
//! the IEEE overflow / underflow flags.

use crate::engine::options::EncodeOptions;
use crate::engine::rounding::{round_code, split};
use crate::engine::value::Value;
use crate::format::FloatFormat;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub bits: u64,
    /// The stored value equals the input (NaN counts as exact when stored as NaN).
    pub exact: bool,
    /// A finite input whose rounded magnitude exceeds the largest finite value.
    pub overflow: bool,
    /// A non-zero finite input below the smallest normal that was not stored exactly.
    pub underflow: bool,
}

/// Encode `v` and report exactness and the IEEE overflow/underflow flags.
pub fn encode_outcome(fmt: &FloatFormat, v: Value, opts: &EncodeOptions, random: u64) -> Outcome {
    let bits = fmt.encode(v, opts, random);
    let stored = fmt.unpack(bits);
    let exact = match (v, stored) {
        (Value::Nan { .. }, Value::Nan { .. }) => true,
        (Value::Zero { neg: a }, Value::Zero { neg: b }) => a == b || !fmt.has_negative_zero(),
        (Value::Finite { sticky: true, .. }, _) => false,
        _ => v == stored,
    };
    let (overflow, underflow) = match v {
        Value::Finite {
            neg,
            sig,
            exp,
            sticky,
        } => {
            let tiny = exp < fmt.emin();
            let over = rounds_above_max(fmt, neg, sig, exp, sticky, opts, random);
            (over, tiny && !exact)
        }
        _ => (false, false),
    };
    Outcome {
        bits,
        exact,
        overflow,
        underflow,
    }
}

/// True when the magnitude `sig/2^63 · 2^exp` rounds (with an unbounded
/// exponent range, in the given mode) above the format's largest finite
/// value. Uses the encoder's own split and decision, so the two agree.
fn rounds_above_max(
    fmt: &FloatFormat,
    neg: bool,
    sig: u64,
    exp: i64,
    sticky: bool,
    opts: &EncodeOptions,
    random: u64,
) -> bool {
    let m = fmt.man_bits as i64;
    let b = exp + fmt.bias as i64;
    let top = (fmt.max_code() >> fmt.man_bits) as i64;
    if b > top + 1 {
        return true;
    }
    if b < fmt.min_normal_biased() {
        return false;
    }
    let (q, rem) = split(sig, (63 - m) as u64, sticky);
    let t = (((b - 1) << m) + q as i64) as u64;
    round_code(t, rem, neg, opts.rounding, random) > fmt.max_code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rounding::RoundingMode;
    use crate::format::float_builtin;
    use crate::text::read::read;

    #[test]
    fn outcome_flags() {
        let f = float_builtin("fp32");
        let o = EncodeOptions::nearest_even();
        let oc = encode_outcome(&f, read("1.1e49").unwrap(), &o, 0);
        assert!(oc.overflow && !oc.exact && !oc.underflow);
        let oc = encode_outcome(&f, read("1e-50").unwrap(), &o, 0);
        assert!(oc.underflow && !oc.overflow && oc.bits == 0);
        let oc = encode_outcome(&f, read("0.5").unwrap(), &o, 0);
        assert!(oc.exact && !oc.overflow && !oc.underflow);
        let tz = EncodeOptions {
            rounding: RoundingMode::TowardZero,
            ..Default::default()
        };
        let oc = encode_outcome(&f, read("1e39").unwrap(), &tz, 0);
        assert!(oc.overflow && oc.bits == 0x7f7f_ffff);
        // just below the overflow tie: rounds to max, no overflow
        let oc = encode_outcome(
            &f,
            read("340282356779733661637539395458142568447").unwrap(),
            &o,
            0,
        );
        assert!(!oc.overflow && oc.bits == 0x7f7f_ffff);
        let e4 = float_builtin("fp8_e4m3fn");
        // 464 is the tie between max 448 (even code 0x7e) and 480: it stays.
        assert!(!encode_outcome(&e4, read("464").unwrap(), &o, 0).overflow);
        assert!(encode_outcome(&e4, read("464.001").unwrap(), &o, 0).overflow);
    }
}
