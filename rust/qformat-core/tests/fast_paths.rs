//! The fast paths are not a second specification: they must give the
//! generic engine's bits. These tests sweep structured and random float32
//! inputs through both for every built-in target and several policies.

use qformat_core::fast::fp32::Fp32Narrowing;
use qformat_core::fast::slices::{encode_slice, round_slice};
use qformat_core::format::{builtins, float_builtin, Format};
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
    for rounding in [
        RoundingMode::NearestEven,
        RoundingMode::NearestAway,
        RoundingMode::TowardZero,
        RoundingMode::Up,
        RoundingMode::Down,
        RoundingMode::Odd,
        RoundingMode::Stochastic,
    ] {
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

#[test]
fn fp32_narrowing_equals_engine() {
    let inputs = probe_inputs();
    let fp32 = float_builtin("fp32");
    let mut checked = 0;
    for b in builtins() {
        let Format::Float(fmt) = b.format else {
            continue;
        };
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

#[test]
fn slice_kernels_equal_engine_for_all_16_bit_sources() {
    // Table-driven paths: every fp16 and bf16 pattern into every built-in float.
    for src in ["fp16", "bf16"] {
        let sf = float_builtin(src);
        let input: Vec<u16> = (0..=u16::MAX).collect();
        for b in builtins() {
            let Format::Float(fmt) = b.format else {
                continue;
            };
            let opts = EncodeOptions {
                nan: NanPolicy::Bits(0),
                ..Default::default()
            };
            let mut out = vec![0u64; input.len()];
            encode_slice(&sf, &input, &fmt, &mut out, &opts).unwrap();
            for (&x, &y) in input.iter().zip(&out) {
                assert_eq!(y, fmt.encode(sf.unpack(x as u64), &opts, 0));
            }
            let mut back = vec![0u16; input.len()];
            round_slice(&sf, &input, &fmt, &mut back, &opts).unwrap();
            for (&x, &y) in input.iter().zip(&back) {
                let code = fmt.encode(sf.unpack(x as u64), &opts, 0);
                assert_eq!(
                    y as u64,
                    sf.encode(fmt.unpack(code), &EncodeOptions::default(), 0)
                );
            }
        }
    }
}

#[test]
fn stochastic_results_do_not_depend_on_chunking() {
    let fp32 = float_builtin("fp32");
    let bf16 = float_builtin("bf16");
    let opts = EncodeOptions {
        rounding: qformat_core::RoundingMode::Stochastic,
        seed: 42,
        ..Default::default()
    };
    let input: Vec<u32> = (0..300_000u32).map(|i| 0x3f80_0000 + i * 7).collect();
    let mut whole = vec![0u16; input.len()];
    encode_slice(&fp32, &input, &bf16, &mut whole, &opts).unwrap();
    // Element-by-element with the same flat indices gives the same bits.
    for (i, &x) in input.iter().enumerate().step_by(997) {
        let r = qformat_core::engine::random::seeded_addend(42, i as u64);
        assert_eq!(
            whole[i] as u64,
            bf16.encode(fp32.unpack(x as u64), &opts, r)
        );
    }
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
