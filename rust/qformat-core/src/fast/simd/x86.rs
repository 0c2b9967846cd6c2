//! x86-64: which wider levels the CPU runs, and the AVX2 / AVX-512 builds
//! of a closure (the dispatcher in `mod.rs` chooses among them).

/// Whether this CPU runs the AVX2 build and the AVX-512 build.
pub(super) fn detected() -> (bool, bool) {
    use std::arch::is_x86_feature_detected as has;
    // DQ: eight 64-bit multiplies per instruction (the stochastic draws).
    let avx512 = has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq");
    (has!("avx2"), avx512)
}

/// `f` compiled with AVX2. Safety: the CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn with_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// `f` compiled with AVX-512 (F, BW, VL, DQ). Safety: the CPU must have them.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn with_avx512<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Whether this CPU converts between float32 and float16 in hardware.
pub(super) fn has_f16c() -> bool {
    std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx2")
}

/// MXCSR of the calling thread: FTZ and DAZ change what the conversion
/// instructions give, so the hardware path runs only where both are clear.
pub(super) fn flush_bits_clear() -> bool {
    const FTZ: u32 = 1 << 15;
    const DAZ: u32 = 1 << 6;
    let mut csr: u32 = 0;
    // SAFETY: STMXCSR stores the 32-bit register into `csr` and nothing else.
    unsafe {
        std::arch::asm!(
            "stmxcsr [{}]",
            in(reg) &mut csr,
            options(nostack, preserves_flags)
        );
    }
    csr & (FTZ | DAZ) == 0
}

/// Eight float32 lanes of `src` (padded with zeros past its end) to
/// float16 by VCVTPS2PH with immediate 0: round to nearest even whatever
/// MXCSR.RC says, NaNs quieted with their leading payload bits.
#[target_feature(enable = "avx2,f16c")]
fn narrow8(src: &[u32]) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::*;
    let mut lanes = [0u32; 8];
    lanes[..src.len()].copy_from_slice(src);
    // SAFETY: `lanes` holds eight float32 lanes.
    let v = unsafe { _mm256_loadu_ps(lanes.as_ptr().cast()) };
    _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v)
}

/// float32 patterns → float16 patterns, eight at a time by VCVTPS2PH.
/// Safety: the CPU must have AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn f32_to_f16(src: &[u32], dst: &mut [u16]) {
    use std::arch::x86_64::*;
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let mut s8 = src.chunks_exact(8);
    let mut d8 = dst.chunks_exact_mut(8);
    for (s, d) in (&mut s8).zip(&mut d8) {
        // SAFETY: `s` and `d` hold eight lanes each (unaligned moves).
        unsafe {
            let v = _mm256_loadu_ps(s.as_ptr().cast());
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm_storeu_si128(d.as_mut_ptr().cast(), h);
        }
    }
    let (s, d) = (s8.remainder(), d8.into_remainder());
    if !s.is_empty() {
        let mut h = [0u16; 8];
        // SAFETY: `h` holds eight 16-bit lanes.
        unsafe { _mm_storeu_si128(h.as_mut_ptr().cast(), narrow8(s)) };
        d.copy_from_slice(&h[..d.len()]);
    }
}

/// float32 patterns rounded to float16 and widened back (VCVTPS2PH then
/// VCVTPH2PS, which is exact and keeps the quieted NaN's payload).
/// Safety: the CPU must have AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn f32_round_f16(src: &[u32], dst: &mut [u32]) {
    use std::arch::x86_64::*;
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let mut s8 = src.chunks_exact(8);
    let mut d8 = dst.chunks_exact_mut(8);
    for (s, d) in (&mut s8).zip(&mut d8) {
        // SAFETY: `s` and `d` hold eight lanes each (unaligned moves).
        unsafe {
            let v = _mm256_loadu_ps(s.as_ptr().cast());
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm256_storeu_ps(d.as_mut_ptr().cast(), _mm256_cvtph_ps(h));
        }
    }
    let (s, d) = (s8.remainder(), d8.into_remainder());
    if !s.is_empty() {
        let mut w = [0u32; 8];
        // SAFETY: `w` holds eight float32 lanes.
        unsafe { _mm256_storeu_ps(w.as_mut_ptr().cast(), _mm256_cvtph_ps(narrow8(s))) };
        d.copy_from_slice(&w[..d.len()]);
    }
}
