//! The exact value every conversion starts from: sign, a normalised 64-bit
//! significand, an exponent and a sticky bit. Any f16/bf16/f32/f64/fp8
//! pattern or 64-bit integer unpacks into it without loss, and the decimal
//! reader produces it (with `sticky` standing for digits beyond 64 bits), so
//! one rounding routine serves every source. This is what makes "round once
//! from the exact input" true by construction.

use crate::format::{FloatFormat, NanEncoding};

/// An exactly known input value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Zero {
        neg: bool,
    },
    Inf {
        neg: bool,
    },
    /// `payload` holds the source fraction field left-aligned at bit 63
    /// (bit 63 is the IEEE quiet bit); fnuz NaNs carry the quiet bit alone.
    Nan {
        neg: bool,
        payload: u64,
    },
    /// `|x| = sig / 2^63 * 2^exp` with bit 63 of `sig` set, plus `sticky`
    /// when the true value lies strictly above that (within one unit of bit 0).
    Finite {
        neg: bool,
        sig: u64,
        exp: i64,
        sticky: bool,
    },
}

impl Value {
    /// The same value with a positive sign.
    pub fn abs(self) -> Value {
        match self {
            Value::Zero { .. } => Value::Zero { neg: false },
            Value::Inf { .. } => Value::Inf { neg: false },
            Value::Nan { payload, .. } => Value::Nan {
                neg: false,
                payload,
            },
            Value::Finite {
                sig, exp, sticky, ..
            } => Value::Finite {
                neg: false,
                sig,
                exp,
                sticky,
            },
        }
    }

    /// A finite value from an unnormalised significand `mant * 2^exp2`.
    pub fn from_parts(neg: bool, mant: u64, exp2: i64) -> Value {
        if mant == 0 {
            return Value::Zero { neg };
        }
        let lz = mant.leading_zeros();
        Value::Finite {
            neg,
            sig: mant << lz,
            exp: exp2 + 63 - lz as i64,
            sticky: false,
        }
    }

    /// Exact value of a signed 64-bit integer.
    pub fn from_i64(x: i64) -> Value {
        Value::from_parts(x < 0, x.unsigned_abs(), 0)
    }

    /// Exact value of an unsigned 64-bit integer.
    pub fn from_u64(x: u64) -> Value {
        Value::from_parts(false, x, 0)
    }

    /// Exact value of an `f64`.
    pub fn from_f64(x: f64) -> Value {
        let bits = x.to_bits();
        let neg = bits >> 63 != 0;
        let b = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        match b {
            0x7ff if frac == 0 => Value::Inf { neg },
            0x7ff => Value::Nan {
                neg,
                payload: frac << 12,
            },
            0 => Value::from_parts(neg, frac, -1074),
            _ => Value::Finite {
                neg,
                sig: (frac << 11) | (1u64 << 63),
                exp: b - 1023,
                sticky: false,
            },
        }
    }
}

impl FloatFormat {
    /// Decode a bit pattern of this format into its exact value.
    #[inline]
    pub fn unpack(&self, bits: u64) -> Value {
        let m = self.man_bits;
        let neg = bits & self.sign_bit() != 0;
        let mag = bits & self.magnitude_mask();
        if self.is_nan(bits) {
            // IEEE and fn NaNs carry their fraction field as payload (so
            // widening is a plain bit shift); fnuz and fraction-less NaNs
            // carry the quiet bit alone.
            let frac = mag & crate::format::low_mask(m);
            let payload = match self.nan {
                NanEncoding::Ieee | NanEncoding::Fn if m > 0 => frac << (64 - m),
                _ => 1u64 << 63,
            };
            return Value::Nan { neg, payload };
        }
        if Some(mag) == self.inf_code() {
            return Value::Inf { neg };
        }
        let b = (mag >> m) as i64;
        let frac = mag & crate::format::low_mask(m);
        if b == 0 && self.has_zero {
            // zero or subnormal: frac * 2^(1 - bias - m)
            return Value::from_parts(neg, frac, 1 - self.bias as i64 - m as i64);
        }
        let sig = if m == 0 {
            1u64 << 63
        } else {
            (frac << (63 - m)) | (1u64 << 63)
        };
        Value::Finite {
            neg,
            sig,
            exp: b - self.bias as i64,
            sticky: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gfloat's p3109_k8p8se: codes 0, 1/64 .. 126/64, +inf at 0x7f, NaN
    /// at 0x80, -1/64 at 0x81, -inf at 0xff; every non-zero value subnormal.
    #[test]
    fn no_exponent_bits_is_a_fixed_point_grid() {
        let f = FloatFormat::new(None, 0, 7, None, true, true, NanEncoding::Fnuz, true).unwrap();
        assert_eq!((f.bias, f.max_code(), f.inf_code()), (0, 0x7e, Some(0x7f)));
        assert_eq!((f.emin(), f.emax()), (1, 0));
        assert!(f.is_nan(0x80) && !f.is_nan(0x00));
        let value = |bits| match f.unpack(bits) {
            Value::Finite { neg, sig, exp, .. } => {
                let v = sig as f64 * 2f64.powi(exp as i32 - 63);
                if neg {
                    -v
                } else {
                    v
                }
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(value(0x01), 1.0 / 64.0);
        assert_eq!(value(0x7e), 126.0 / 64.0);
        assert_eq!(value(0x81), -1.0 / 64.0);
        assert_eq!(f.unpack(0xff), Value::Inf { neg: true });
    }
}
