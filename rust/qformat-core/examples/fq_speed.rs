//! Times the two passes of float-element fake quantization on 2^25
//! float32 values, into a reused output (no fresh pages): the range pass
//! (`qparams`), the code pass (`fake_quantize_float`) and `round_slice`
//! to the same format as their yardstick, per tensor and in MX blocks:
//! `cargo run --release --example fq_speed [rows]`.
use qformat_core::fast::slices::round_slice;
use qformat_core::format::float_builtin;
use qformat_core::quant::{
    fake_quantize_float, qparams, FloatQuantOptions, Layout, ParamSpec, Pow2Rule, RangeSource,
    ScaleRule, Scheme,
};
use qformat_core::{EncodeOptions, RoundingMode};
use std::time::Instant;

/// The best of `reps` timings of `f`, in milliseconds.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |k: &str| only.is_empty() || only.iter().any(|o| o == k);
    // FQ_LOG2N and FQ_REPS shrink the run for callgrind's instruction counts.
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = 1usize << env("FQ_LOG2N", 25);
    let mut s = 0x9e37_79b9u32;
    let x: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            f32::from_bits((s & 0x807f_ffff) | ((s >> 8 & 7) + 124) << 23)
        })
        .collect();
    let words: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
    let (fp32, e4m3) = (float_builtin("fp32"), float_builtin("fp8_e4m3fn"));
    let mut out = vec![0f32; n];
    let mut wout = vec![0u32; n];
    let tensor = Layout::new(&[n / 8192, 8192], None, None).unwrap();
    let groups = Layout::new(&[n / 8192, 8192], Some(-1), Some(32)).unwrap();
    let spec = |rule| ParamSpec {
        scheme: Scheme::Symmetric,
        qmin: -448.0,
        qmax: 448.0,
        rule,
        integer: false,
    };
    let per_tensor = spec(ScaleRule::Round(fp32.clone()));
    let mx = spec(ScaleRule::Pow2 {
        emax_elem: 8,
        frac_bits: 0,
        rule: Pow2Rule::Floor,
    });
    let reps = env("FQ_REPS", 9);
    let row = |name: &str, ms: f64| println!("{name:>14}: {ms:7.2} ms");
    for (name, rounding) in [
        ("round", RoundingMode::NearestEven),
        ("round_tz", RoundingMode::TowardZero),
        ("round_sr", RoundingMode::Stochastic),
    ] {
        if want(name) {
            let o = EncodeOptions {
                rounding,
                seed: 1,
                ..EncodeOptions::default()
            };
            let go = || round_slice(&fp32, &words, &e4m3, &mut wout, &o).unwrap();
            row(&format!("{name} out"), best(reps, go));
        }
    }
    if want("read") {
        // The memory's bound on the range pass: one parallel read, an
        // OR of the words (no float work).
        row(
            "read",
            best(reps, || {
                use rayon::prelude::*;
                let w = words
                    .par_chunks(1 << 16)
                    .map(|c| c.iter().fold(0u32, |a, &b| a | b))
                    .reduce(|| 0, |a, b| a | b);
                std::hint::black_box(w);
            }),
        );
    }
    let (ts, _) = qparams(&x, &tensor, RangeSource::Extremes, &per_tensor, false).unwrap();
    if want("range") {
        row(
            "range",
            best(reps, || {
                qparams(&x, &tensor, RangeSource::Extremes, &per_tensor, false).unwrap();
            }),
        );
    }
    let fq = |l: &Layout, scales: &[f64], mode, out: &mut [f32]| {
        let o = FloatQuantOptions {
            rounding: mode,
            seed: 1,
            nan: None,
        };
        fake_quantize_float(&x, l, scales, &e4m3, &o, out).unwrap()
    };
    for (name, mode) in [
        ("code", RoundingMode::NearestEven),
        ("code_tz", RoundingMode::TowardZero),
        ("code_sr", RoundingMode::Stochastic),
    ] {
        if want(name) {
            row(name, best(reps, || fq(&tensor, &ts, mode, &mut out)));
        }
    }
    let (ms, _) = qparams(&x, &groups, RangeSource::Extremes, &mx, false).unwrap();
    if want("mxrange") {
        row(
            "mx range",
            best(reps, || {
                qparams(&x, &groups, RangeSource::Extremes, &mx, false).unwrap();
            }),
        );
    }
    for (name, mode) in [
        ("mxcode", RoundingMode::NearestEven),
        ("mxcode_tz", RoundingMode::TowardZero),
        ("mxcode_sr", RoundingMode::Stochastic),
    ] {
        if want(name) {
            row(name, best(reps, || fq(&groups, &ms, mode, &mut out)));
        }
    }
}
