//! Slice kernels: convert whole arrays of bit patterns, in parallel.
//!
//! The meaning of every conversion is `FloatFormat::encode` (the generic
//! engine). The kernels here only choose a faster way to compute the same
//! bits, and each is tested equal to the engine:
//! * sources of at most 16 bits go through a lookup table filled by the
//!   engine (`table.rs`: the tables, their builder and the gather loop);
//! * float32 → narrower float (and back, for `round` and `decode`) runs the
//!   branch-free [`Fp32Narrowing`] kernel of `fp32.rs` (float64 inputs through `fp64_front.rs`);
//! * float32 → a narrower-range float (fp8, fp6, fp4, ...) under
//!   nearest-even with the format's own rules runs the lean loop of
//!   `fp32_nearest.rs`;
//! * the same formats in the directed modes and stochastic rounding with
//!   the format's own rules run the lean loop of `fp32_directed.rs`;
//! * float32 → IEEE binary16 under the IEEE defaults runs the F16C
//!   instruction where the CPU has it (`fp16_hw.rs`);
//! * float32 → float64 runs the exact bit formula of `fp32_widen.rs`;
//! * everything else calls the engine element by element.
//!
//! Work is split into fixed chunks over rayon; stochastic draws depend on the
//! flat index only, so results never depend on the thread count.

use rayon::prelude::*;

use crate::engine::options::{EncodeOptions, NanPolicy};
use crate::engine::random::{Draws, Given};
use crate::engine::rounding::RoundingMode;
use crate::error::Error;
use crate::fast::fp16_hw;
use crate::fast::fp32::Fp32Narrowing;
use crate::fast::fp32_directed::DirectedNarrowing;
use crate::fast::fp32_nearest::NearestNarrowing;
use crate::fast::fp32_widen::Fp32ToFp64;
use crate::fast::fp64_front::Fp64Front;
use crate::fast::table::{self, par_lookup};
use crate::fast::words::{line_head, par_chunks, par_map, Bits, IntWord};
use crate::format::{float_layout, FloatFormat};

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
    random: u64,
) -> u64 {
    let mut v = opts.daz_input(src_fmt, bits);
    if opts.via_fp32 && src_fmt.bits() > 32 {
        v = fp32.round_value(v, &EncodeOptions::nearest_even(), 0);
    }
    dst.encode(v, opts, random)
}

/// The stochastic-rounding addend of element `index` (0 in the other modes).
#[inline(always)]
fn element_addend(opts: &EncodeOptions, draws: &impl Draws, index: usize) -> u64 {
    if opts.rounding == RoundingMode::Stochastic {
        draws.addend(index)
    } else {
        0
    }
}

/// Check the caller's own random words (`random_bits=`) against a
/// conversion of `len` elements.
fn given_draws<'a>(words: &'a [u64], len: usize, opts: &EncodeOptions) -> Result<Given<'a>, Error> {
    if opts.rounding != RoundingMode::Stochastic {
        return Err(Error::invalid(
            "random_bits= applies to rounding='stochastic' only",
        ));
    }
    if words.len() != len {
        return Err(Error::invalid(format!(
            "random_bits has {} elements but the input has {len}; give one word per element",
            words.len()
        )));
    }
    Ok(Given {
        words,
        n: opts.sr_bits,
    })
}

/// Convert `src` (patterns of `src_fmt`) into `dst` patterns of `dst_fmt`.
pub fn encode_slice<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    dst_fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
) -> Result<(), Error> {
    narrow(src_fmt, src, dst_fmt, dst, opts, &opts.seeded(), false)
}

/// [`encode_slice`] with the caller's own stochastic-rounding words: the
/// low `opts.sr_bits` bits of `random[i]` are element `i`'s random bits.
pub fn encode_slice_with_bits<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    dst_fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
    random: &[u64],
) -> Result<(), Error> {
    let draws = given_draws(random, src.len(), opts)?;
    narrow(src_fmt, src, dst_fmt, dst, opts, &draws, false)
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
    check_round_words::<D>(src_fmt)?;
    narrow(src_fmt, src, fmt, dst, opts, &opts.seeded(), true)
}

/// [`round_slice`] with the caller's own stochastic-rounding words (see
/// [`encode_slice_with_bits`]).
pub fn round_slice_with_bits<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
    random: &[u64],
) -> Result<(), Error> {
    check_round_words::<D>(src_fmt)?;
    let draws = given_draws(random, src.len(), opts)?;
    narrow(src_fmt, src, fmt, dst, opts, &draws, true)
}

/// A round trip writes patterns of the source format: its words must hold them.
fn check_round_words<D: Bits>(src_fmt: &FloatFormat) -> Result<(), Error> {
    if std::mem::size_of::<D>() * 8 < src_fmt.bits() as usize {
        return Err(Error::invalid(
            "output words are narrower than the input format",
        ));
    }
    Ok(())
}

/// The one conversion routine behind [`encode_slice`] and [`round_slice`]:
/// each element is encoded into `fmt` and, when `round_trip`, widened back
/// into `src_fmt` exactly as `decode` widens (NaN payloads kept as they are).
fn narrow<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
    draws: &impl Draws,
    round_trip: bool,
) -> Result<(), Error> {
    if src.len() != dst.len() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    let conversion = Conversion::new(src_fmt, fmt, opts, round_trip)?;
    conversion.check_nans(src)?;
    let wide_pattern = std::sync::atomic::AtomicBool::new(false);
    par_chunks(src, dst, |base, s, d| {
        // The elements before the source's first cache-line start go alone,
        // so that the rest of the chunk reads whole lines ([`line_head`]).
        let (s_head, s_rest) = s.split_at(line_head(s));
        let (d_head, d_rest) = d.split_at_mut(s_head.len());
        let head = conversion.run_chunk(base, s_head, d_head, draws);
        let rest = conversion.run_chunk(base + s_head.len(), s_rest, d_rest, draws);
        if !(head && rest) {
            wide_pattern.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    if wide_pattern.into_inner() {
        return Err(conversion.wide_pattern_error());
    }
    Ok(())
}

/// How a prepared [`Conversion`] computes its bits, chosen once per call.
enum Route<D> {
    /// Sources of at most 16 bits: every result precomputed by the engine.
    Table(Vec<D>),
    /// float32 sources through the branch-free kernel.
    Fp32(Fp32Narrowing),
    /// float32 sources, nearest even with the format's own rules: the
    /// lean loop.
    Nearest(NearestNarrowing),
    /// float32 sources, the directed modes and stochastic rounding with
    /// the format's own rules: the lean loop.
    Directed(DirectedNarrowing),
    /// float32 → binary16 under the IEEE defaults: the F16C instruction
    /// where this level and thread run it, else the kernel.
    Fp16Hardware(Fp32Narrowing),
    /// float32 → float64, the exact bit formula.
    Widen(Fp32ToFp64),
    /// float64 sources through the float32 kernel.
    Fp64(Fp64Front),
    /// Anything else: the engine, element by element.
    Engine,
}

/// A float conversion prepared once for a whole slice (options validated,
/// the fastest route chosen, a lookup table filled) and then run chunk by
/// chunk. [`narrow`] runs it over fixed chunks; a caller that needs more
/// than the bits (the statistics of a checkpoint conversion) runs it the
/// same way and does its own work on each chunk while it is in cache.
pub struct Conversion<'a, D> {
    src_fmt: &'a FloatFormat,
    fmt: &'a FloatFormat,
    opts: &'a EncodeOptions,
    round_trip: bool,
    route: Route<D>,
}

impl<'a, D: Bits> Conversion<'a, D> {
    /// Prepare `src_fmt` → `fmt` under `opts` (and back into `src_fmt`
    /// when `round_trip`); an option the format cannot honour is an error.
    pub fn new(
        src_fmt: &'a FloatFormat,
        fmt: &'a FloatFormat,
        opts: &'a EncodeOptions,
        round_trip: bool,
    ) -> Result<Self, Error> {
        opts.validate_for(fmt)?;
        let mut c = Conversion {
            src_fmt,
            fmt,
            opts,
            round_trip,
            route: Route::Engine,
        };
        c.route = c.choose_route();
        Ok(c)
    }

    fn choose_route(&self) -> Route<D> {
        let (src_fmt, fmt, opts) = (self.src_fmt, self.fmt, self.opts);
        let fp32 = float_layout("fp32");
        if src_fmt.bits() <= 16 && opts.rounding != RoundingMode::Stochastic {
            return Route::Table(table::build(src_fmt.bits(), |b| self.one(b, 0)));
        }
        if *src_fmt == *fp32 {
            if let Some(k) = Fp32Narrowing::new(fmt, opts) {
                if fp16_hw::applies(fmt, opts) {
                    return Route::Fp16Hardware(k);
                }
                if let Some(n) = NearestNarrowing::new(fmt, opts) {
                    return Route::Nearest(n);
                }
                if let Some(d) = DirectedNarrowing::new(fmt, opts) {
                    return Route::Directed(d);
                }
                return Route::Fp32(k);
            }
            if *fmt == *float_layout("fp64") && !self.round_trip {
                if let Some(w) = Fp32ToFp64::new(opts) {
                    return Route::Widen(w);
                }
            }
        }
        if *src_fmt == *float_layout("fp64") {
            if let Some(f) = Fp64Front::new(fmt, opts) {
                return Route::Fp64(f);
            }
        }
        Route::Engine
    }

    /// Which route this conversion runs (for tests and traces): "table",
    /// "fp32", "fp32-nearest", "fp32-directed", "fp16-hardware", "widen", "fp64" or "engine".
    pub fn route_name(&self) -> &'static str {
        match self.route {
            Route::Table(_) => "table",
            Route::Fp32(_) => "fp32",
            Route::Nearest(_) => "fp32-nearest",
            Route::Directed(_) => "fp32-directed",
            Route::Fp16Hardware(_) => "fp16-hardware",
            Route::Widen(_) => "widen",
            Route::Fp64(_) => "fp64",
            Route::Engine => "engine",
        }
    }

    /// One element through the engine (and back into the source format
    /// for a round trip).
    fn one(&self, bits: u64, random: u64) -> u64 {
        let fp32 = float_layout("fp32");
        let code = encode_one(self.src_fmt, self.fmt, fp32, bits, self.opts, random);
        if !self.round_trip {
            return code;
        }
        let back = EncodeOptions {
            nan: NanPolicy::Preserve,
            ..EncodeOptions::nearest_even()
        };
        self.src_fmt.encode(self.fmt.unpack(code), &back, 0)
    }

    /// Refuse the whole conversion, before any chunk runs, if a NaN meets
    /// a policy that forbids it.
    pub fn check_nans<S: Bits>(&self, src: &[S]) -> Result<(), Error> {
        check_nans(self.src_fmt, src, self.fmt, self.opts)
    }

    /// Convert one chunk whose first element has flat index `base`.
    /// Returns false if a source pattern was wider than the source format
    /// (only the table route reads such patterns; see [`Self::wide_pattern_error`]).
    pub fn run_chunk<S: Bits>(
        &self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) -> bool {
        match &self.route {
            Route::Table(t) => return table::lookup_chunk(t, src, dst),
            Route::Fp16Hardware(_) if fp16_hw::convert_chunk(src, dst, self.round_trip) => {}
            Route::Fp32(k) | Route::Fp16Hardware(k) if self.round_trip => {
                k.round_chunk(base, src, dst, draws)
            }
            Route::Fp32(k) | Route::Fp16Hardware(k) => k.convert_chunk(base, src, dst, draws),
            Route::Nearest(n) if self.round_trip => n.round_chunk(src, dst),
            Route::Nearest(n) => n.convert_chunk(src, dst),
            Route::Directed(d) if self.round_trip => d.round_chunk(base, src, dst, draws),
            Route::Directed(d) => d.convert_chunk(base, src, dst, draws),
            Route::Fp64(f) if self.round_trip => f.round_chunk(base, src, dst, draws),
            Route::Fp64(f) => f.convert_chunk(base, src, dst, draws),
            Route::Widen(w) => {
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o = D::from_u64(w.widen(x.to_u64() as u32));
                }
            }
            Route::Engine => {
                for (j, (o, &x)) in dst.iter_mut().zip(src).enumerate() {
                    let random = element_addend(self.opts, draws, base + j);
                    *o = D::from_u64(self.one(x.to_u64(), random));
                }
            }
        }
        true
    }

    /// The error for a source pattern wider than the source format.
    pub fn wide_pattern_error(&self) -> Error {
        Error::invalid(format!(
            "bit patterns must be below 2^{}",
            self.src_fmt.bits()
        ))
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
    let seeded = opts.seeded();
    par_map(src, dst, |i, x| {
        D::from_u64(dst_fmt.encode(x.value(), opts, element_addend(opts, &seeded, i)))
    });
    Ok(())
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
    if *out_fmt == *float_layout("fp32") {
        if let Some(k) = Fp32Narrowing::new(fmt, &EncodeOptions::default()) {
            par_chunks(src, dst, |_, s, d| k.widen_chunk(s, d));
            return Ok(());
        }
    }
    if fmt.bits() <= 16 {
        par_lookup(&table::decode_table(fmt, out_fmt), src, dst)?;
    } else {
        // Widening is exact; NaNs keep sign and payload bit for bit (no quieting).
        let opts = EncodeOptions {
            nan: NanPolicy::Preserve,
            ..EncodeOptions::nearest_even()
        };
        par_map(src, dst, |_, s| {
            D::from_u64(out_fmt.encode(fmt.unpack(s.to_u64()), &opts, 0))
        });
    }
    Ok(())
}
