//! Lookup tables: every result of a conversion from a narrow source.
//!
//! Why a table: a source of at most 16 bits has at most 65,536 patterns
//! (256 for fp8 and the MX element formats), so the engine can compute
//! every result once, exactly, in less time than a large array takes to
//! convert, and each element then costs one load. The results are the
//! engine's by construction, whatever the format or option set, so no
//! per-format kernel is needed to stay proven equal to it; a gather runs
//! at memory speed.
//!
//! * [`build`] — a table from a function of the pattern (the engine);
//! * [`decode_table`] — the exact values of a narrow format's patterns in a
//!   wider float format (what `decode` and the statistics read);
//! * [`par_lookup`] / [`lookup_chunk`] — the gather over a whole slice or
//!   one chunk, catching any pattern wider than the table.

use crate::engine::options::{EncodeOptions, NanPolicy};
use crate::error::Error;
use crate::fast::simd::wide;
use crate::fast::words::{par_chunks, Bits};
use crate::format::FloatFormat;

/// `table[b] = result(b)` for every pattern `b` of a `bits`-bit source.
pub fn build<D: Bits>(bits: u32, result: impl Fn(u64) -> u64) -> Vec<D> {
    (0..1u64 << bits).map(|b| D::from_u64(result(b))).collect()
}

/// The pattern in `out_fmt` of every pattern of `fmt` (at most 16 bits),
/// widened exactly; NaNs keep their sign and payload (no quieting).
pub fn decode_table<D: Bits>(fmt: &FloatFormat, out_fmt: &FloatFormat) -> Vec<D> {
    let keep = EncodeOptions {
        nan: NanPolicy::Preserve,
        ..EncodeOptions::nearest_even()
    };
    build(fmt.bits(), |b| out_fmt.encode(fmt.unpack(b), &keep, 0))
}

/// `dst[i] = table[src[i]]` over fixed chunks in parallel, for a table of
/// `2^bits` entries. The index is masked to the table, so the loop has no
/// bounds check and vectorises (gathers); a pattern wider than the table
/// is still caught, by an OR of the high bits in the same pass.
pub fn par_lookup<S: Bits, D: Bits>(table: &[D], src: &[S], dst: &mut [D]) -> Result<(), Error> {
    debug_assert!(table.len().is_power_of_two());
    let wide_pattern = std::sync::atomic::AtomicBool::new(false);
    par_chunks(src, dst, |_, s, d| {
        if !lookup_chunk(table, s, d) {
            wide_pattern.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    if wide_pattern.into_inner() {
        return Err(Error::invalid(format!(
            "bit patterns must be below 2^{}",
            table.len().trailing_zeros()
        )));
    }
    Ok(())
}

/// `dst[i] = table[src[i]]` over one chunk; false if a pattern was wider
/// than the table (the index is masked, so the loop has no bounds check
/// and vectorises, and the OR of the high bits catches such a pattern).
#[inline]
pub fn lookup_chunk<S: Bits, D: Bits>(table: &[D], src: &[S], dst: &mut [D]) -> bool {
    let mask = table.len() - 1;
    let t = &table[..=mask];
    let high = wide(
        #[inline(always)]
        || {
            let mut high = 0u64;
            for (o, &x) in dst.iter_mut().zip(src) {
                let i = x.to_u64();
                high |= i;
                *o = t[i as usize & mask];
            }
            high
        },
    );
    high & !(mask as u64) == 0
}
