//! x86-64: which wider levels the CPU runs, and the AVX2 / AVX-512 builds
//! of a closure (the dispatcher in `mod.rs` chooses among them).

use super::Level;

/// Append the wider levels this CPU runs to `levels`, lowest first.
pub(super) fn add_detected(levels: &mut Vec<Level>) {
    use std::arch::is_x86_feature_detected as has;
    if has!("avx2") {
        levels.push(Level::Avx2);
    }
    if has!("avx512f") && has!("avx512bw") && has!("avx512vl") {
        levels.push(Level::Avx512);
    }
}

/// `f` compiled with AVX2. Safety: the CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn with_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// `f` compiled with AVX-512 (F, BW, VL). Safety: the CPU must have them.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn with_avx512<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}
