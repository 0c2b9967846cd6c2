//! Small helpers for loops that must vectorise: run a closure compiled
//! for a wider instruction set, and branch-free min/max.

/// Run a fast loop compiled for AVX-512 or AVX2 where the CPU has it (the
/// crate is built for baseline x86-64, whose SSE2 vectors are a quarter
/// as wide). The closure's loops must be `#[inline(always)]` so that they
/// are compiled inside the wrapper with its features. They use no fused
/// multiply-add and no reassociation, so every build computes the same bits.
#[inline(always)]
pub(super) fn wide<R, F: FnOnce() -> R>(f: F) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vl") {
            // SAFETY: the features were just detected.
            return unsafe { with_avx512(f) };
        }
        if has!("avx2") {
            // SAFETY: the feature was just detected.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn with_avx512<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// `max` / `min` that vectorise to single instructions; a NaN `a` gives `b`.
#[inline(always)]
pub(super) fn at_least<T: PartialOrd>(a: T, b: T) -> T {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
pub(super) fn at_most<T: PartialOrd>(a: T, b: T) -> T {
    if a < b {
        a
    } else {
        b
    }
}
