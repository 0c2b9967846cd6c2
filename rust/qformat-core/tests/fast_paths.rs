//! The fast paths are not a second specification: they must give the
//! generic engine's bits. These tests sweep structured and random float32
//! inputs through both for every built-in target and several policies.

use qformat_core::engine::random::seeded_addend;
use qformat_core::fast::fp32::Fp32Narrowing;
use qformat_core::fast::slices::{encode_slice, round_slice};
use qformat_core::format::{builtins, float_builtin, FloatFormat, Format, NanEncoding};
use qformat_core::{EncodeOptions, NanPolicy, Overflow, RoundingMode};

/// Every float32 pattern whose low 12 bits are 0/1/0x7ff/0x800/0x801/0xfff
/// (all exponents, signs and tie neighbourhoods), plus a random sample.
fn probe_inputs() -> Vec<u32> {
    let mut v = Vec::new();
    for hi in 0u32..(1 << 20) {
        for lo in [0u32, 1, 0x7ff, 0x800, 0x801, 0xfff] {
            v.push((hi << 12) | lo);
        }
    }
    let mut s = 0x1234_5678_9abc_def0u64;
    for _ in 0..2_000_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.push((s >> 32) as u32);
    }
    v
}

fn option_sets() -> Vec<EncodeOptions> {
    let base = EncodeOptions::default();
    let mut v = mxcsr_option_sets();
    v.extend([
        base,
        EncodeOptions {
            overflow: Overflow::Saturate,
            ..base
        },
        EncodeOptions {
            subnormals: false,
            ..base
        },
        EncodeOptions {
            nan: NanPolicy::SignedCanonical,
            ..base
        },
        EncodeOptions {
            nan: NanPolicy::Bits(0x1),
            ..base
        },
        EncodeOptions {
            nan: NanPolicy::Preserve,
            ..base
        },
        EncodeOptions {
            nan: NanPolicy::PerSign {
                pos: 0x7f,
                neg: 0x3,
            },
            ..base
        },
    ]);
    v
}

/// x86 MXCSR emulation: FTZ, DAZ and both, in every deterministic rounding
/// mode (and stochastic with a seed): the kernel takes them all.
fn mxcsr_option_sets() -> Vec<EncodeOptions> {
    let mut v = Vec::new();
    for rounding in RoundingMode::ALL {
        for (ftz, daz) in [(true, false), (false, true), (true, true)] {
            v.push(EncodeOptions {
                rounding,
                ftz,
                daz,
                seed: 11,
                ..Default::default()
            });
        }
    }
    v
}

/// The built-in float formats and the layouts without exponent bits
/// (P3109's binary8p8se/sf and binary3p3sf, a NaN-less fixed point), whose
/// every non-zero code is subnormal: a kernel that takes them must give
/// the engine's bits, one that does not must leave them to the engine.
fn float_formats() -> Vec<FloatFormat> {
    let no_exponent = |m, inf, nan| FloatFormat::new(None, 0, m, None, true, inf, nan, true);
    let mut v: Vec<FloatFormat> = builtins()
        .into_iter()
        .filter_map(|b| match b.format {
            Format::Float(f) => Some(f),
            Format::Int(_) => None,
        })
        .collect();
    v.extend(
        [
            no_exponent(7, true, NanEncoding::Fnuz),
            no_exponent(7, false, NanEncoding::Fnuz),
            no_exponent(2, false, NanEncoding::Fnuz),
            no_exponent(5, false, NanEncoding::None),
        ]
        .map(|f| f.expect("formats without exponent bits are valid")),
    );
    v
}

#[test]
fn fp32_narrowing_equals_engine() {
    let inputs = probe_inputs();
    let fp32 = float_builtin("fp32");
    let mut checked = 0;
    for fmt in float_formats() {
        for opts in option_sets() {
            if opts.validate_for(&fmt).is_err() || opts.nan_is_error(&fmt) {
                continue;
            }
            let Some(k) = Fp32Narrowing::new(&fmt, &opts) else {
                continue;
            };
            checked += 1;
            for (i, &x) in inputs.iter().enumerate() {
                let random = if opts.rounding == RoundingMode::Stochastic {
                    qformat_core::engine::random::draw(opts.seed, i as u64)
                } else {
                    0
                };
                let want = fmt.encode(opts.daz_input(&fp32, x as u64), &opts, random);
                assert_eq!(
                    k.convert(x, random) as u64,
                    want,
                    "{} {:?} input {x:#010x}",
                    fmt.name,
                    opts
                );
            }
        }
    }
    // bf16, fp16, tf32 and the four sign-and-zero fp8 types at least, with
    // every MXCSR option set among them.
    assert!(
        checked >= 7 * (3 + mxcsr_option_sets().len()),
        "only {checked} fast-path configurations were exercised"
    );
}

/// Option sets that make NaN codes: NaN inputs under every NaN policy
/// (errors included), overflow to NaN, and the format rule, under which
/// fnuz and e4m3fn formats overflow to NaN.
fn nan_option_sets(fmt: &FloatFormat) -> Vec<EncodeOptions> {
    let nan = fmt.canonical_nan().unwrap_or(0);
    let policies = [
        NanPolicy::Quiet,
        NanPolicy::Preserve,
        NanPolicy::Canonical,
        NanPolicy::SignedCanonical,
        NanPolicy::Bits(nan),
        NanPolicy::PerSign {
            pos: nan,
            neg: nan | fmt.sign_bit(),
        },
        NanPolicy::Error,
    ];
    let overflows = [
        Overflow::FormatRule,
        Overflow::Nan,
        Overflow::Inf,
        Overflow::Saturate,
    ];
    let mut v = Vec::new();
    for nan in policies {
        for overflow in overflows {
            v.push(EncodeOptions {
                nan,
                overflow,
                ..Default::default()
            });
        }
    }
    v
}

/// Float inputs of `src`: every pattern of a ≤16-bit format, else random
/// patterns plus NaNs with payloads (quiet and signalling), infinities,
/// zeros and the largest finite values.
fn source_patterns(src: &FloatFormat) -> Vec<u64> {
    if src.bits() <= 16 {
        return (0..1u64 << src.bits()).collect();
    }
    let (m, sign) = (src.man_bits, src.sign_bit());
    let inf = src.inf_code().unwrap();
    let mut v = vec![
        0,
        sign,
        inf,
        inf | sign,
        src.max_code(),
        src.max_code() | sign,
    ];
    for payload in [1u64, 2, 3, 1 << (m - 1), (1 << (m - 1)) | 5, (1 << m) - 1] {
        v.extend([inf | payload, inf | payload | sign]);
    }
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..60_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.push(s >> (64 - src.bits()));
    }
    v
}

/// `encode_slice` and `round_slice` (lookup tables for fp16/bf16 sources,
/// the float32 kernel, the float64 front, the engine) give the engine's
/// bits when NaN codes are produced: from NaN inputs under every policy,
/// from overflow, and in fnuz formats. `round` widens a NaN code back as
/// `decode` does (payload kept). A policy that makes NaN an error must
/// fail, not write anything NaN-shaped.
#[test]
fn slice_kernels_equal_engine_where_nan_codes_are_produced() {
    let keep = EncodeOptions {
        nan: NanPolicy::Preserve,
        ..EncodeOptions::nearest_even()
    };
    let mut nan_codes = 0usize;
    let mut errors = 0usize;
    for src_name in ["fp16", "bf16", "fp32", "fp64"] {
        let sf = float_builtin(src_name);
        let input = source_patterns(&sf);
        for fmt in float_formats() {
            for opts in nan_option_sets(&fmt) {
                if opts.validate_for(&fmt).is_err() {
                    continue;
                }
                let mut out = vec![0u64; input.len()];
                let got = encode_slice(&sf, &input, &fmt, &mut out, &opts);
                if opts.nan_is_error(&fmt) {
                    assert!(got.is_err(), "{src_name} -> {} {opts:?}", fmt.name);
                    errors += 1;
                    continue;
                }
                got.unwrap();
                let mut back = vec![0u64; input.len()];
                round_slice(&sf, &input, &fmt, &mut back, &opts).unwrap();
                for (i, &x) in input.iter().enumerate() {
                    let code = fmt.encode(sf.unpack(x), &opts, 0);
                    let what = || format!("{src_name} {x:#x} -> {} {opts:?}", fmt.name);
                    assert_eq!(out[i], code, "{}", what());
                    let widened = sf.encode(fmt.unpack(code), &keep, 0);
                    assert_eq!(back[i], widened, "round {}", what());
                    nan_codes += fmt.is_nan(code) as usize;
                }
            }
        }
    }
    assert!(nan_codes > 1_000_000, "only {nan_codes} NaN codes");
    assert!(errors > 20, "only {errors} NaN errors");
}

/// Inputs for the stochastic tests: more than three chunks of the
/// parallel split, so that every thread count cuts them differently.
fn stochastic_input(src: &FloatFormat) -> Vec<u64> {
    let fp64 = float_builtin("fp64");
    let keep = EncodeOptions::nearest_even();
    (0..3 * 65_536 + 12_345u64)
        .map(|i| {
            let x = 1.0 + (i % 1000) as f64 / 997.0 + (i as f64) * 1e-3;
            let neg = if i % 3 == 0 { -x } else { x };
            let v = fp64.unpack(neg.to_bits());
            src.encode(v, &keep, 0)
        })
        .collect()
}

/// Stochastic results depend only on (seed, flat index): the same for 1,
/// 2, 3 and 8 threads, for every path (float32 kernel, engine from fp16,
/// float32 and float64), and for the float32 kernel called on pieces of
/// any size at any offset. The reference is the engine element by element.
#[test]
fn stochastic_results_do_not_depend_on_chunking_or_threads() {
    let paths = [
        ("fp32", "bf16"),
        ("fp32", "fp8_e5m2"),
        ("fp16", "fp8_e4m3fn"),
        ("fp64", "bf16"),
    ];
    for seed in [42, u64::MAX] {
        let opts = EncodeOptions {
            rounding: RoundingMode::Stochastic,
            seed,
            ..Default::default()
        };
        for (src_name, dst_name) in paths {
            let (sf, df) = (float_builtin(src_name), float_builtin(dst_name));
            let input = stochastic_input(&sf);
            let want: Vec<u64> = input
                .iter()
                .enumerate()
                .map(|(i, &x)| df.encode(sf.unpack(x), &opts, seeded_addend(seed, i as u64)))
                .collect();
            let nearest = EncodeOptions::default();
            let moved = input
                .iter()
                .zip(&want)
                .filter(|&(&x, &w)| df.encode(sf.unpack(x), &nearest, 0) != w)
                .count();
            assert!(
                moved > input.len() / 20,
                "{src_name} -> {dst_name}: the draws changed only {moved} results"
            );
            for threads in [1, 2, 3, 8] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut got = vec![0u64; input.len()];
                pool.install(|| encode_slice(&sf, &input, &df, &mut got, &opts))
                    .unwrap();
                assert!(
                    got == want,
                    "{src_name} -> {dst_name}, seed {seed}, {threads} threads"
                );
            }
        }
        let (fp32, bf16) = (float_builtin("fp32"), float_builtin("bf16"));
        let k = Fp32Narrowing::new(&bf16, &opts).expect("bf16 takes the kernel in every mode");
        let input: Vec<u32> = stochastic_input(&fp32).iter().map(|&x| x as u32).collect();
        let want: Vec<u64> = input
            .iter()
            .enumerate()
            .map(|(i, &x)| bf16.encode(fp32.unpack(x as u64), &opts, seeded_addend(seed, i as u64)))
            .collect();
        for piece in [1, 7, 1000, 65_536, 65_539, 100_003] {
            let mut got = vec![0u64; input.len()];
            let mut base = 0;
            for (s, d) in input.chunks(piece).zip(got.chunks_mut(piece)) {
                k.convert_chunk(base, s, d, &opts.seeded());
                base += s.len();
            }
            assert!(got == want, "pieces of {piece}, seed {seed}");
        }
    }
}

/// Stochastic and nearest results, of the float kernels and of the
/// quantizers, are the same bits whatever the number of threads: every
/// draw depends on (seed, flat index) only, and every chunk writes its own
/// elements. Run in pools of 1, 2 and 3 threads (3 splits the chunks
/// unevenly over a 2-core machine too).
#[test]
fn results_do_not_depend_on_the_thread_count() {
    use qformat_core::quant::{self, Arithmetic, Layout, QuantOptions};
    use qformat_core::RoundingMode;
    let fp32 = float_builtin("fp32");
    // Long enough for several parallel chunks, with an uneven tail.
    let n = 5 * qformat_core::fast::words::CHUNK + 1234;
    let input: Vec<u32> = (0..n as u32)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) >> 2) ^ 0x3c00_0000)
        .collect();
    let xs: Vec<f32> = input.iter().map(|&b| f32::from_bits(b)).collect();
    let l = Layout::new(&[n], None, None).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut outs: Vec<Vec<u32>> = Vec::new();
            for (name, mode) in [
                ("bf16", RoundingMode::Stochastic),
                ("fp8_e4m3fn", RoundingMode::Stochastic),
                ("bf16", RoundingMode::NearestEven),
            ] {
                let opts = EncodeOptions {
                    rounding: mode,
                    seed: 9,
                    ..Default::default()
                };
                let f = float_builtin(name);
                let mut codes = vec![0u32; n];
                encode_slice(&fp32, &input, &f, &mut codes, &opts).unwrap();
                let mut back = vec![0u32; n];
                round_slice(&fp32, &input, &f, &mut back, &opts).unwrap();
                outs.extend([codes, back]);
            }
            for rounding in [RoundingMode::Stochastic, RoundingMode::TowardZero] {
                let o = QuantOptions {
                    rounding,
                    seed: 9,
                    arithmetic: Arithmetic::Exact,
                    qmin: -128,
                    qmax: 127,
                    nan: Some(0),
                };
                let mut codes = vec![0u32; n];
                quant::quantize(&xs, &l, &[0.013], &[0], &o, &mut codes).unwrap();
                outs.push(codes);
            }
            // binary16 in its own words (the F16C path) and float elements
            // with a scale that is not a power of two (the one-quotient loop).
            let fp16 = float_builtin("fp16");
            let mut half = vec![0u16; n];
            encode_slice(&fp32, &input, &fp16, &mut half, &EncodeOptions::default()).unwrap();
            outs.push(half.iter().map(|&h| h as u32).collect());
            let e4m3 = float_builtin("fp8_e4m3fn");
            let fo = quant::FloatQuantOptions {
                rounding: RoundingMode::NearestEven,
                seed: 0,
                nan: Some(0x7f),
            };
            let mut fake = vec![0f32; n];
            quant::fake_quantize_float(&xs, &l, &[0.013], &e4m3, &fo, &mut fake).unwrap();
            outs.push(fake.iter().map(|v| v.to_bits()).collect());
            outs
        })
    };
    let one = run(1);
    assert_eq!(run(2), one, "2 threads");
    assert_eq!(run(3), one, "3 threads");
}

/// `random_bits=`: the caller's words reach the engine unchanged through
/// every slice path (float32 kernel, float64 and 16-bit sources on the
/// engine), for several bit counts.
#[test]
fn caller_random_words_equal_engine_on_every_path() {
    use qformat_core::engine::random::{Draws, Given};
    use qformat_core::fast::slices::{encode_slice_with_bits, round_slice_with_bits};
    let words: Vec<u64> = (0..50_000u64)
        .map(|i| qformat_core::engine::random::draw(99, i))
        .collect();
    let n = words.len();
    let f32s: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
    let f64s: Vec<u64> = words.iter().map(|w| w.rotate_left(17)).collect();
    let f16s: Vec<u16> = (0..n).map(|i| i as u16).collect();
    for dst in ["bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2", "fp6_e2m3fn"] {
        let fmt = float_builtin(dst);
        for sr_bits in [1, 8, 16, 64] {
            let opts = EncodeOptions {
                rounding: qformat_core::RoundingMode::Stochastic,
                sr_bits,
                nan: NanPolicy::Bits(0),
                ..Default::default()
            };
            let draws = Given {
                words: &words,
                n: sr_bits,
            };
            macro_rules! check {
                ($src:expr, $xs:expr, $w:ty) => {{
                    let sf = float_builtin($src);
                    let mut out = vec![0u64; n];
                    encode_slice_with_bits(&sf, $xs, &fmt, &mut out, &opts, &words).unwrap();
                    let mut back = vec![0 as $w; n];
                    round_slice_with_bits(&sf, $xs, &fmt, &mut back, &opts, &words).unwrap();
                    for (i, &x) in $xs.iter().enumerate() {
                        let code = fmt.encode(sf.unpack(x as u64), &opts, draws.addend(i));
                        assert_eq!(out[i], code, "{} -> {dst} sr_bits={sr_bits} i={i}", $src);
                        let keep = EncodeOptions {
                            nan: NanPolicy::Preserve,
                            ..Default::default()
                        };
                        assert_eq!(back[i] as u64, sf.encode(fmt.unpack(code), &keep, 0));
                    }
                }};
            }
            check!("fp32", &f32s, u32);
            check!("fp64", &f64s, u64);
            check!("fp16", &f16s, u16);
        }
    }
}

/// `random_bits=` is refused where it cannot apply: another rounding mode,
/// or a word count that is not one per element.
#[test]
fn caller_random_words_are_checked() {
    use qformat_core::fast::slices::encode_slice_with_bits;
    let fp32 = float_builtin("fp32");
    let bf16 = float_builtin("bf16");
    let x = [0u32; 4];
    let mut out = [0u16; 4];
    let rne = EncodeOptions::default();
    assert!(encode_slice_with_bits(&fp32, &x, &bf16, &mut out, &rne, &[0; 4]).is_err());
    let sr = EncodeOptions {
        rounding: qformat_core::RoundingMode::Stochastic,
        ..Default::default()
    };
    assert!(encode_slice_with_bits(&fp32, &x, &bf16, &mut out, &sr, &[0; 3]).is_err());
    assert!(encode_slice_with_bits(&fp32, &x, &bf16, &mut out, &sr, &[0; 4]).is_ok());
    let zero_bits = EncodeOptions { sr_bits: 0, ..sr };
    assert!(encode_slice_with_bits(&fp32, &x, &bf16, &mut out, &zero_bits, &[0; 4]).is_err());
}
