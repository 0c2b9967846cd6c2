//! The integer slice conversions: the engine's [`cast_value`] over whole
//! arrays in parallel (first error by flat index, whatever the threads),
//! and the branch-free float32/float64 → integer loop for the common
//! nearest-even, saturating case, tested equal to the engine.

use rayon::prelude::*;

use crate::engine::int_cast::{cast_value, through_sentinel, IntCastOptions, IntNan, IntOverflow};
use crate::engine::options::{read_source, EncodeOptions};
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::error::Error;
use crate::fast::words::{par_map, Bits, IntWord, CHUNK};
use crate::format::{float_layout, FloatFormat, IntFormat};

/// Integer values as words of the format's storage type (two's complement).
#[inline]
fn to_word<D: Bits>(x: i128) -> D {
    D::from_u64(x as i64 as u64)
}

/// Run `f(index, element)` over fixed chunks in parallel, stopping at the
/// first error (the one with the smallest index, whatever the threads).
fn par_try_map<S: Copy + Send + Sync, D: Bits, F>(
    src: &[S],
    dst: &mut [D],
    f: F,
) -> Result<(), Error>
where
    F: Fn(usize, S) -> Result<D, Error> + Sync,
{
    if src.len() != dst.len() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    let errors: Vec<Error> = dst
        .par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .filter_map(|(c, (d, s))| {
            let base = c * CHUNK;
            for (j, (o, &x)) in d.iter_mut().zip(s).enumerate() {
                match f(base + j, x) {
                    Ok(v) => *o = v,
                    Err(e) => return Some(e),
                }
            }
            None
        })
        .collect();
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Convert float patterns of `src_fmt` to integers of `fmt`.
pub fn cast_float_slice<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &IntFormat,
    dst: &mut [D],
    opts: &IntCastOptions,
) -> Result<(), Error> {
    opts.validate_for(fmt)?;
    if let Some(r) = fast_nearest_even(src_fmt, src, fmt, dst, opts) {
        return r;
    }
    if let Some(r) = fast_c_cast(src_fmt, src, fmt, dst, opts) {
        return r;
    }
    par_try_map(src, dst, |i, s| {
        cast_value(read_source(src_fmt, s.to_u64(), opts.daz), fmt, opts, i).map(to_word)
    })
}

/// Convert exact integers to integers of `fmt`.
pub fn cast_int_slice<I: IntWord, D: Bits>(
    src: &[I],
    fmt: &IntFormat,
    dst: &mut [D],
    opts: &IntCastOptions,
) -> Result<(), Error> {
    opts.validate_for(fmt)?;
    par_try_map(src, dst, |i, s| {
        cast_value(s.value(), fmt, opts, i).map(to_word)
    })
}

/// `round(x, int_fmt)`: the integer result written back as patterns of
/// the float format `out_fmt` (rounded to nearest even if it does not fit).
pub fn round_float_slice<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &IntFormat,
    out_fmt: &FloatFormat,
    dst: &mut [D],
    opts: &IntCastOptions,
) -> Result<(), Error> {
    round_back(src, fmt, out_fmt, dst, opts, |s| {
        read_source(src_fmt, s.to_u64(), opts.daz)
    })
}

/// Same as [`round_float_slice`] for integer sources.
pub fn round_int_slice<I: IntWord, D: Bits>(
    src: &[I],
    fmt: &IntFormat,
    out_fmt: &FloatFormat,
    dst: &mut [D],
    opts: &IntCastOptions,
) -> Result<(), Error> {
    round_back(src, fmt, out_fmt, dst, opts, |s| s.value())
}

/// The pass behind [`round_float_slice`] and [`round_int_slice`], which
/// differ only in how an element becomes its exact `value`: cast to `fmt`,
/// then written back as a pattern of `out_fmt` (nearest even).
fn round_back<S: Copy + Send + Sync, D: Bits>(
    src: &[S],
    fmt: &IntFormat,
    out_fmt: &FloatFormat,
    dst: &mut [D],
    opts: &IntCastOptions,
    value: impl Fn(S) -> Value + Sync,
) -> Result<(), Error> {
    opts.validate_for(fmt)?;
    let back = EncodeOptions::nearest_even();
    par_try_map(src, dst, |i, s| {
        let x = cast_value(value(s), fmt, opts, i)?;
        Ok(D::from_u64(out_fmt.encode(int_value(x), &back, 0)))
    })
}

/// Exact value of an integer result (always within ±2^64).
fn int_value(x: i128) -> Value {
    if x < 0 {
        Value::from_parts(true, x.unsigned_abs() as u64, 0)
    } else {
        Value::from_u64(x as u64)
    }
}

/// Branch-free float32/float64 → integer with nearest-even and saturation,
/// the common case; None where it does not apply. Proven equal to
/// [`cast_value`] by the tests below.
fn fast_nearest_even<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &IntFormat,
    dst: &mut [D],
    opts: &IntCastOptions,
) -> Option<Result<(), Error>> {
    if opts.rounding != RoundingMode::NearestEven
        || opts.overflow != IntOverflow::Saturate
        || fmt.bits > 32
        || src.len() != dst.len()
    {
        return None;
    }
    // DAZ changes no nearest-even result (a subnormal rounds to 0 either
    // way), so the reader skips its test.
    let as_f64 = ieee_source::<S>(src_fmt, false)?;
    if let Some(index) = src.par_iter().position_first(|&s| as_f64(s).is_nan()) {
        match opts.nan {
            IntNan::Value(_) => return None,
            _ => return Some(Err(Error::NanInput { index })),
        }
    }
    let (lo, hi) = (fmt.min() as f64, fmt.max() as f64);
    par_map(src, dst, |_, s| {
        let x = as_f64(s).clamp(lo, hi);
        D::from_u64(rne_f64(x) as i64 as u64)
    });
    Some(Ok(()))
}

/// float32/float64 → int32 or int64 under the C-cast rule of its own width
/// (x86 `CVT(T)SS2SI`/`CVT(T)SD2SI`: NaN, ±inf and out-of-range give the
/// minimum, the "integer indefinite"), in the five deterministic modes that
/// the float64 unit rounds exactly, with DAZ; None elsewhere. Proven equal
/// to [`cast_value`] by the conformance tests.
fn fast_c_cast<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &IntFormat,
    dst: &mut [D],
    opts: &IntCastOptions,
) -> Option<Result<(), Error>> {
    let round: fn(f64) -> f64 = match opts.rounding {
        RoundingMode::NearestEven => f64::round_ties_even,
        RoundingMode::NearestAway => f64::round,
        RoundingMode::TowardZero => f64::trunc,
        RoundingMode::Up => f64::ceil,
        RoundingMode::Down => f64::floor,
        _ => return None,
    };
    let through = opts.overflow == IntOverflow::Through { bits: fmt.bits };
    if !through || !fmt.signed || opts.nan != IntNan::Through || src.len() != dst.len() {
        return None;
    }
    let as_f64 = ieee_source::<S>(src_fmt, opts.daz)?;
    let lim = (fmt.bits - 1) as i32;
    let (lo, hi) = (-(2f64.powi(lim)), 2f64.powi(lim));
    let sentinel = through_sentinel(fmt.bits);
    par_map(src, dst, |_, s| {
        let r = round(as_f64(s));
        // NaN fails both comparisons: the sentinel.
        let v = if r >= lo && r < hi {
            r as i64 as u64
        } else {
            sentinel
        };
        D::from_u64(v)
    });
    Some(Ok(()))
}

/// The reader of a float32 or float64 source as f64 (an exact widening;
/// under `daz` a subnormal reads as +0, which every mode rounds to the
/// same integer as -0), or None for any other source format: the fast
/// loops use the hardware's IEEE arithmetic, which only these layouts match.
fn ieee_source<S: Bits>(src_fmt: &FloatFormat, daz: bool) -> Option<impl Fn(S) -> f64 + Sync> {
    let wide = *src_fmt == *float_layout("fp64");
    if !wide && *src_fmt != *float_layout("fp32") {
        return None;
    }
    let exp_mask = if wide {
        0x7ff0_0000_0000_0000u64
    } else {
        0x7f80_0000
    };
    Some(move |s: S| {
        let b = s.to_u64();
        if daz && b & exp_mask == 0 {
            0.0
        } else if wide {
            f64::from_bits(b)
        } else {
            f32::from_bits(b as u32) as f64
        }
    })
}

/// Round to nearest even for |x| < 2^51 with plain adds (no SSE4.1
/// `roundpd` needed, so the loop vectorises on baseline x86-64).
#[inline(always)]
pub fn rne_f64(x: f64) -> f64 {
    const M: f64 = 6755399441055744.0; // 1.5 * 2^52
    (x + M) - M
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::float_builtin;

    fn int(bits: u32, signed: bool) -> IntFormat {
        IntFormat::new(None, bits, signed).unwrap()
    }

    #[test]
    fn daz_reads_a_subnormal_as_zero_before_rounding() {
        // CVTSS2SI under RC=up: the smallest positive float32 subnormal
        // rounds up to 1, or reads as +0 under DAZ and gives 0.
        let (fp32, i32f) = (float_layout("fp32"), int(32, true));
        let up = IntCastOptions {
            rounding: RoundingMode::Up,
            ..Default::default()
        };
        let mut out = [0u32; 2];
        cast_float_slice(fp32, &[1u32, 0x8000_0001], &i32f, &mut out, &up).unwrap();
        assert_eq!(out, [1, 0]);
        let daz = IntCastOptions { daz: true, ..up };
        cast_float_slice(fp32, &[1u32, 0x8000_0001], &i32f, &mut out, &daz).unwrap();
        assert_eq!(out, [0, 0]);
        // a normal input is untouched
        cast_float_slice(fp32, &[0x0080_0000u32, 0], &i32f, &mut out, &daz).unwrap();
        assert_eq!(out, [1, 0]);
    }

    #[test]
    fn fast_path_equals_engine() {
        let fp32 = float_builtin("fp32");
        let mut xs: Vec<u32> = (0..200_000u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .filter(|&b| !f32::from_bits(b).is_nan())
            .collect();
        xs.extend(
            [
                0.5f32, 1.5, 2.5, -0.5, -2.5, 127.5, -128.5, 126.5, 1e30, -0.0,
            ]
            .map(f32::to_bits),
        );
        for f in [
            int(8, true),
            int(8, false),
            int(16, true),
            int(4, true),
            int(32, true),
        ] {
            let o = IntCastOptions::default();
            let mut fast = vec![0u32; xs.len()];
            cast_float_slice(&fp32, &xs, &f, &mut fast, &o).unwrap();
            for (i, (&x, &got)) in xs.iter().zip(&fast).enumerate() {
                let want = cast_value(fp32.unpack(x as u64), &f, &o, i).unwrap();
                assert_eq!(
                    got as i32 as i128 & ((1i128 << f.bits) - 1),
                    want & ((1i128 << f.bits) - 1),
                    "{}",
                    f32::from_bits(x)
                );
            }
        }
    }
}
