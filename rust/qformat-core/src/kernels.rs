//! Slice kernels: convert whole arrays of bit patterns, in parallel.
//!
//! The meaning of every conversion is `FloatFormat::encode` (the generic
//! engine). The kernels here only choose a faster way to compute the same
//! bits, and each is tested equal to the engine:
//! * sources of at most 16 bits go through a lookup table filled by the engine;
//! * float32 → narrower float with round-to-nearest-even runs the branch-free
//!   [`Fp32Narrowing`] kernel, which LLVM auto-vectorises;
//! * everything else calls the engine element by element.
//!
//! Work is split into fixed chunks over rayon; stochastic draws depend on the
//! flat index only, so results never depend on the thread count.

use rayon::prelude::*;

use crate::error::Error;
use crate::format::{float_builtin, low_mask, FloatFormat, NanEncoding};
use crate::options::{EncodeOptions, NanPolicy, Overflow};
use crate::random::draw;
use crate::rounding::RoundingMode;
use crate::value::Value;

/// Elements per parallel task: big enough to amortise scheduling, small
/// enough to balance two to a hundred cores.
pub const CHUNK: usize = 1 << 16;

/// Unsigned storage words (u8/u16/u32/u64) holding a bit pattern.
pub trait Bits: Copy + Send + Sync + Default + 'static {
    fn to_u64(self) -> u64;
    fn from_u64(x: u64) -> Self;
}

macro_rules! impl_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            #[inline(always)]
            fn to_u64(self) -> u64 { self as u64 }
            #[inline(always)]
            fn from_u64(x: u64) -> Self { x as $t }
        }
    )*};
}
impl_bits!(u8, u16, u32, u64);

/// Reject the conversion if a NaN meets a policy that forbids it.
fn check_nans<S: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    dst: &FloatFormat,
    opts: &EncodeOptions,
) -> Result<(), Error> {
    if !opts.nan_is_error(dst) {
        return Ok(());
    }
    let first = src
        .par_iter()
        .position_first(|b| src_fmt.is_nan(b.to_u64()));
    match first {
        Some(index) if opts.nan == NanPolicy::Error => Err(Error::NanInput { index }),
        Some(index) => Err(Error::invalid(format!(
            "NaN at flat index {index} but {} has no NaN encoding; pass nan=<bit pattern> \
             (e.g. nan=0) to choose what NaN becomes",
            dst.name
        ))),
        None => Ok(()),
    }
}

/// One element through the engine, with the f64→f32 double-rounding quirk
/// applied when asked for.
#[inline]
fn encode_one(
    src_fmt: &FloatFormat,
    dst: &FloatFormat,
    fp32: &FloatFormat,
    bits: u64,
    opts: &EncodeOptions,
    index: u64,
) -> u64 {
    let mut v = src_fmt.unpack(bits);
    if opts.via_fp32 && src_fmt.bits() > 32 {
        v = fp32.round_value(v, &EncodeOptions::nearest_even(), 0);
    }
    let random = if opts.rounding == RoundingMode::Stochastic {
        draw(opts.seed, index)
    } else {
        0
    };
    dst.encode(v, opts, random)
}

/// Lookup table of `dst` codes for every pattern of a ≤16-bit source.
fn encode_table(src_fmt: &FloatFormat, dst: &FloatFormat, opts: &EncodeOptions) -> Vec<u64> {
    let fp32 = float_builtin("fp32");
    (0..1u64 << src_fmt.bits())
        .map(|b| encode_one(src_fmt, dst, &fp32, b, opts, 0))
        .collect()
}

/// Convert `src` (patterns of `src_fmt`) into `dst` patterns of `dst_fmt`.
pub fn encode_slice<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    dst_fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
) -> Result<(), Error> {
    if src.len() != dst.len() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    opts.validate_for(dst_fmt)?;
    check_nans(src_fmt, src, dst_fmt, opts)?;
    if src_fmt.bits() <= 16 && opts.rounding != RoundingMode::Stochastic {
        let table: Vec<D> = encode_table(src_fmt, dst_fmt, opts)
            .into_iter()
            .map(D::from_u64)
            .collect();
        par_map(src, dst, |_, s| table[s.to_u64() as usize]);
        return Ok(());
    }
    if src_fmt.bits() == 32 && src_fmt.exp_bits == 8 {
        if let Some(k) = Fp32Narrowing::new(dst_fmt, opts) {
            par_chunks(src, dst, |_, s, d| k.convert_chunk(s, d));
            return Ok(());
        }
    }
    let fp32 = float_builtin("fp32");
    par_map(src, dst, |i, s| {
        D::from_u64(encode_one(
            src_fmt,
            dst_fmt,
            &fp32,
            s.to_u64(),
            opts,
            i as u64,
        ))
    });
    Ok(())
}

/// Integer source words (i64 or u64) read exactly.
pub trait IntWord: Copy + Send + Sync + 'static {
    fn value(self) -> Value;
}
impl IntWord for i64 {
    #[inline]
    fn value(self) -> Value {
        Value::from_i64(self)
    }
}
impl IntWord for u64 {
    #[inline]
    fn value(self) -> Value {
        Value::from_u64(self)
    }
}

/// Encode exact integers into a float format (one rounding, from the integer).
pub fn encode_ints_slice<I: IntWord, D: Bits>(
    src: &[I],
    dst_fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
) -> Result<(), Error> {
    if src.len() != dst.len() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    opts.validate_for(dst_fmt)?;
    let work = |d: &mut [D], s: &[I], base: usize| {
        for (j, (o, &x)) in d.iter_mut().zip(s).enumerate() {
            let random = if opts.rounding == RoundingMode::Stochastic {
                draw(opts.seed, (base + j) as u64)
            } else {
                0
            };
            *o = D::from_u64(dst_fmt.encode(x.value(), opts, random));
        }
    };
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (d, s))| work(d, s, c * CHUNK));
    Ok(())
}

/// `f(first_index, src_chunk, dst_chunk)` over fixed chunks in parallel.
/// Kernels that vectorise take whole chunks so that their inner loop is a
/// plain slice loop the compiler can see through.
pub fn par_chunks<S: Copy + Send + Sync, D: Bits, F>(src: &[S], dst: &mut [D], f: F)
where
    F: Fn(usize, &[S], &mut [D]) + Sync,
{
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (d, s))| f(c * CHUNK, s, d));
}

/// `dst[i] = f(i, src[i])` over fixed chunks in parallel.
pub fn par_map<S: Copy + Send + Sync, D: Bits, F>(src: &[S], dst: &mut [D], f: F)
where
    F: Fn(usize, S) -> D + Sync,
{
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (d, s))| {
            let base = c * CHUNK;
            for (j, (o, &x)) in d.iter_mut().zip(s).enumerate() {
                *o = f(base + j, x);
            }
        });
}

/// Widen every pattern of `fmt` into `out_fmt` (fp32 or fp64), exactly; NaN
/// payloads are carried over left-aligned with their sign.
pub fn decode_slice<S: Bits, D: Bits>(
    fmt: &FloatFormat,
    src: &[S],
    out_fmt: &FloatFormat,
    dst: &mut [D],
) -> Result<(), Error> {
    if src.len() != dst.len() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    // Widening is exact; NaNs keep sign and payload bit for bit (no quieting).
    let opts = EncodeOptions {
        nan: NanPolicy::Preserve,
        ..EncodeOptions::nearest_even()
    };
    if fmt.bits() <= 16 {
        let table: Vec<D> = (0..1u64 << fmt.bits())
            .map(|b| D::from_u64(out_fmt.encode(fmt.unpack(b), &opts, 0)))
            .collect();
        par_map(src, dst, |_, s| table[s.to_u64() as usize]);
    } else {
        par_map(src, dst, |_, s| {
            D::from_u64(out_fmt.encode(fmt.unpack(s.to_u64()), &opts, 0))
        });
    }
    Ok(())
}

/// Round `src` (patterns of `src_fmt`) to `fmt` and back into `src_fmt`:
/// `decode(encode(x))` in the input's own format, fused so that no
/// intermediate array is written.
pub fn round_slice<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
) -> Result<(), Error> {
    if src.len() != dst.len() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    if std::mem::size_of::<D>() * 8 < src_fmt.bits() as usize {
        return Err(Error::invalid(
            "output words are narrower than the input format",
        ));
    }
    opts.validate_for(fmt)?;
    check_nans(src_fmt, src, fmt, opts)?;
    let back = EncodeOptions::nearest_even();
    if src_fmt.bits() <= 16 && opts.rounding != RoundingMode::Stochastic {
        let fp32 = float_builtin("fp32");
        let table: Vec<D> = (0..1u64 << src_fmt.bits())
            .map(|b| {
                let code = encode_one(src_fmt, fmt, &fp32, b, opts, 0);
                D::from_u64(src_fmt.encode(fmt.unpack(code), &back, 0))
            })
            .collect();
        par_map(src, dst, |_, s| table[s.to_u64() as usize]);
        return Ok(());
    }
    if src_fmt.bits() == 32 && src_fmt.exp_bits == 8 && fmt.bits() <= 16 {
        if let Some(k) = Fp32Narrowing::new(fmt, opts) {
            let table: Vec<u32> = (0..1u64 << fmt.bits())
                .map(|c| src_fmt.encode(fmt.unpack(c), &back, 0) as u32)
                .collect();
            par_chunks(src, dst, |_, s, d| {
                let mut codes = vec![0u32; s.len()];
                k.convert_chunk(s, &mut codes);
                for (o, &c) in d.iter_mut().zip(&codes) {
                    *o = D::from_u64(table[c as usize] as u64);
                }
            });
            return Ok(());
        }
    }
    let fp32 = float_builtin("fp32");
    par_map(src, dst, |i, s| {
        let code = encode_one(src_fmt, fmt, &fp32, s.to_u64(), opts, i as u64);
        D::from_u64(src_fmt.encode(fmt.unpack(code), &back, 0))
    });
    Ok(())
}

/// Branch-free float32 → narrower float, round to nearest even.
///
/// Normal results use the integer "add half-ulp minus one plus the kept
/// lsb, then shift" trick; subnormal results add a power of two whose ulp is
/// the target's subnormal spacing, so the FPU's own nearest-even rounding
/// does the work (requires the default rounding mode and no FTZ/DAZ, which
/// Rust guarantees). The two are blended with selects, so the loop has no
/// branches and auto-vectorises.
#[derive(Clone, Copy, Debug)]
pub struct Fp32Narrowing {
    shift: u32,
    rebias: u32,
    magic: f32,
    min_normal_bits: u32,
    max_code: u32,
    overflow_code: u32,
    nan_base: [u32; 2],
    nan_payload_mask: u32,
    nan_nonzero_fix: u32,
    sign_shift: u32,
    flush_below: u32,
    neg_zero: bool,
}

impl Fp32Narrowing {
    /// The kernel for `fmt` under `opts`, or None where it does not apply
    /// (other rounding modes, wider exponent range, unsigned or zero-less formats).
    pub fn new(fmt: &FloatFormat, opts: &EncodeOptions) -> Option<Self> {
        let m = fmt.man_bits;
        let eligible = opts.rounding == RoundingMode::NearestEven
            && !opts.via_fp32
            && fmt.signed
            && fmt.has_zero
            && m < 23
            && fmt.bits() <= 32
            && fmt.emin() >= -126
            && fmt.emax() <= 127
            && fmt.emin() - m as i64 >= -149
            && !matches!(opts.overflow, Overflow::Wrap | Overflow::Error);
        if !eligible {
            return None;
        }
        let shift = 23 - m;
        // Overflow under nearest-even gives the same pattern as infinity
        // (inf, NaN or max by the format rule or the explicit policy).
        let over = |neg: bool| {
            fmt.encode(
                Value::Finite {
                    neg,
                    sig: 1 << 63,
                    exp: fmt.emax() + 1,
                    sticky: false,
                },
                opts,
                0,
            ) as u32
        };
        let sign_bit = fmt.sign_bit() as u32;
        let (nan_base, nan_payload_mask, nan_nonzero_fix) = match (opts.nan, fmt.nan) {
            (NanPolicy::Quiet, NanEncoding::Ieee) => {
                let q = (fmt.inf_code().unwrap() | 1 << (m - 1)) as u32;
                ([q, q | sign_bit], low_mask(m) as u32, 0)
            }
            (NanPolicy::Preserve, NanEncoding::Ieee) => {
                let q = fmt.inf_code().unwrap() as u32;
                ([q, q | sign_bit], low_mask(m) as u32, 1)
            }
            _ => {
                let n = |neg| {
                    fmt.encode(
                        Value::Nan {
                            neg,
                            payload: 1 << 63,
                        },
                        opts,
                        0,
                    ) as u32
                };
                ([n(false), n(true)], 0, 0)
            }
        };
        let k = Fp32Narrowing {
            shift,
            rebias: ((127 - fmt.bias) as u32) << m,
            magic: f32::from_bits((((fmt.emin() - m as i64 + 23) + 127) as u32) << 23),
            min_normal_bits: ((fmt.emin() + 127) as u32) << 23,
            max_code: fmt.max_code() as u32,
            overflow_code: over(false),
            nan_base,
            nan_payload_mask,
            nan_nonzero_fix,
            sign_shift: 31 - (fmt.bits() - 1),
            flush_below: if opts.subnormals { 0 } else { 1 << m },
            neg_zero: fmt.has_negative_zero(),
        };
        // The overflow pattern must be the positive one with the sign bit added.
        (over(true) == (k.overflow_code | sign_bit) || sign_bit == 0).then_some(k)
    }

    /// Convert a chunk of float32 patterns (words of 32 bits), with the
    /// widest vector instructions this CPU has (the loop is the same code,
    /// compiled three times; the results are identical by construction).
    pub fn convert_chunk<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { self.convert_chunk_avx512(src, dst) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { self.convert_chunk_avx2(src, dst) };
            }
        }
        self.convert_chunk_portable(src, dst)
    }

    /// The same loop compiled for the baseline instruction set only.
    #[inline(always)]
    pub fn convert_chunk_portable<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        for (o, &x) in dst.iter_mut().zip(src) {
            *o = D::from_u64(self.convert(x.to_u64() as u32) as u64);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn convert_chunk_avx2<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        self.convert_chunk_portable(src, dst)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn convert_chunk_avx512<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        self.convert_chunk_portable(src, dst)
    }

    /// Convert one float32 pattern. Every choice is a mask blend, so the
    /// compiler emits no branch and vectorises the calling loop.
    #[inline(always)]
    pub fn convert(&self, bits: u32) -> u32 {
        let sign_in = bits & 0x8000_0000;
        let abs = bits ^ sign_in;
        let lsb = (abs >> self.shift) & 1;
        let normal =
            ((abs + (1 << (self.shift - 1)) - 1 + lsb) >> self.shift).wrapping_sub(self.rebias);
        let sub = (f32::from_bits(abs) + self.magic)
            .to_bits()
            .wrapping_sub(self.magic.to_bits());
        let code = select(abs < self.min_normal_bits, sub, normal);
        let code = select(code < self.flush_below, 0, code);
        let sign = sign_in >> self.sign_shift;
        let keep_sign = select(code != 0 || self.neg_zero, sign, 0);
        let finite = code | keep_sign;
        let over = self.overflow_code | sign;
        let payload = (abs >> self.shift) & self.nan_payload_mask;
        let base = select(sign_in != 0, self.nan_base[1], self.nan_base[0]);
        let nan = base | payload | (self.nan_nonzero_fix & (payload == 0) as u32);
        let r = select(abs >= 0x7f80_0000 || code > self.max_code, over, finite);
        select(abs > 0x7f80_0000, nan, r)
    }
}

/// `if c { a } else { b }` as a mask blend (no branch).
#[inline(always)]
fn select(c: bool, a: u32, b: u32) -> u32 {
    let m = (c as u32).wrapping_neg();
    (a & m) | (b & !m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{builtins, Format};

    /// The three compiled versions of the vector loop give the scalar bits.
    #[test]
    fn every_instruction_set_level_agrees() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let input: Vec<u32> = (0..200_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    (x as u32) & 0xff80_1fff
                } else {
                    x as u32
                }
            })
            .collect();
        for b in builtins() {
            let Format::Float(f) = b.format else { continue };
            let Some(k) = Fp32Narrowing::new(&f, &EncodeOptions::default()) else {
                continue;
            };
            let want: Vec<u32> = input.iter().map(|&v| k.convert(v)).collect();
            let mut got = vec![0u32; input.len()];
            k.convert_chunk_portable(&input, &mut got);
            assert_eq!(got, want, "portable {}", f.name);
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    got.fill(0);
                    unsafe { k.convert_chunk_avx2(&input, &mut got) };
                    assert_eq!(got, want, "avx2 {}", f.name);
                }
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    got.fill(0);
                    unsafe { k.convert_chunk_avx512(&input, &mut got) };
                    assert_eq!(got, want, "avx512 {}", f.name);
                }
            }
        }
    }
}
