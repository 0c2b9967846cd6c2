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
