//! Small helpers for loops that must vectorise: run a closure compiled
//! for a wider instruction set, and branch-free min/max. Shared by the
//! float32 kernel and the quantizers.
//!
//! This file is the one dispatcher: it picks a [`Level`] and runs the
//! closure's portable build (the baseline) where no wider one applies.
//! Each instruction set's builds and detection live in a file of their
//! own (`x86.rs` for AVX2 and AVX-512).

use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "x86_64")]
mod x86;

/// Run a fast loop compiled for AVX-512 or AVX2 where the CPU has it (the
/// crate is built for baseline x86-64, whose SSE2 vectors are a quarter
/// as wide). The closure's loops must be `#[inline(always)]` so that they
/// are compiled inside the wrapper with its features. They use no fused
/// multiply-add and no reassociation, so every build computes the same bits.
#[inline(always)]
pub(crate) fn wide<R, F: FnOnce() -> R>(f: F) -> R {
    at_level(chosen(), f)
}

/// The level the loops run at: the forced one, else the best available.
fn chosen() -> Level {
    match FORCED.load(Ordering::Relaxed) {
        1 => Level::Baseline,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => [Level::Avx512, Level::Avx2]
            .into_iter()
            .find(|&l| runs(l))
            .unwrap_or(Level::Baseline),
    }
}

/// Whether the float16 conversion instructions (F16C) may stand in for the
/// float32 kernel: above the baseline level, on a CPU that has them, with
/// MXCSR's FTZ and DAZ clear in this thread (they would change the result).
fn hardware_f16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let level = chosen();
        level != Level::Baseline && runs(level) && x86::has_f16c() && x86::flush_bits_clear()
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// float32 → IEEE binary16 patterns under the IEEE defaults (nearest even,
/// subnormals kept, overflow to infinity, NaNs quieted with their leading
/// payload) by VCVTPS2PH, which computes exactly those bits. Returns false,
/// writing nothing, where the hardware path does not run
/// ([`hardware_f16`]): the caller then runs its portable kernel.
pub(crate) fn f32_to_f16(src: &[u32], dst: &mut [u16]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if hardware_f16() {
        // SAFETY: `hardware_f16` checked AVX2 and F16C.
        unsafe { x86::f32_to_f16(src, dst) };
        return true;
    }
    let _ = (src, dst);
    false
}

/// [`f32_to_f16`] widened back to float32 (`round` to fp16): VCVTPH2PS is
/// exact and keeps the quieted NaN's payload, as `decode` does.
pub(crate) fn f32_round_f16(src: &[u32], dst: &mut [u32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if hardware_f16() {
        // SAFETY: `hardware_f16` checked AVX2 and F16C.
        unsafe { x86::f32_round_f16(src, dst) };
        return true;
    }
    let _ = (src, dst);
    false
}

/// The level forced by [`force_level`] (0: none, the best available).
static FORCED: AtomicU8 = AtomicU8::new(0);

/// Make every vector loop run the build for `level` (`None`: the best the
/// CPU has) in every thread, so that the conformance tests can prove each
/// build gives the engine's bits. Only speed depends on it: every level
/// computes the same bits, and a level the CPU lacks runs the baseline.
pub fn force_level(level: Option<Level>) {
    let code = match level {
        None => 0,
        Some(Level::Baseline) => 1,
        Some(Level::Avx2) => 2,
        Some(Level::Avx512) => 3,
    };
    FORCED.store(code, Ordering::Relaxed);
}

/// An instruction-set level the vector loops are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Baseline,
    Avx2,
    Avx512,
}

impl Level {
    /// The levels this CPU runs, lowest first.
    pub fn available() -> Vec<Level> {
        [Level::Baseline, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|&l| runs(l))
            .collect()
    }
}

/// Whether this CPU runs `level`. The CPU is asked once: every vector loop
/// checks its level per chunk, and a fresh detection (and list) each time
/// was a fixed cost on every call.
fn runs(level: Level) -> bool {
    static WIDER: std::sync::OnceLock<(bool, bool)> = std::sync::OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    let detect = x86::detected;
    #[cfg(not(target_arch = "x86_64"))]
    let detect = || (false, false);
    let (avx2, avx512) = *WIDER.get_or_init(detect);
    match level {
        Level::Baseline => true,
        Level::Avx2 => avx2,
        Level::Avx512 => avx512,
    }
}

/// Run `f` compiled for `level` (tests use it to check every level gives
/// the same bits). A level the CPU lacks runs the baseline build.
#[inline(always)]
pub(crate) fn at_level<R, F: FnOnce() -> R>(level: Level, f: F) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if level != Level::Baseline && runs(level) {
            // SAFETY: the level's features were just detected.
            return unsafe {
                match level {
                    Level::Avx512 => x86::with_avx512(f),
                    _ => x86::with_avx2(f),
                }
            };
        }
    }
    let _ = level;
    f()
}

/// `max` / `min` that vectorise to single instructions; a NaN `a` gives `b`.
#[inline(always)]
pub(crate) fn at_least<T: PartialOrd>(a: T, b: T) -> T {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
pub(crate) fn at_most<T: PartialOrd>(a: T, b: T) -> T {
    if a < b {
        a
    } else {
        b
    }
}
