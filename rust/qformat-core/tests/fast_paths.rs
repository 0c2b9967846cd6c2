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
        let r = qformat_core::engine::random::draw(42, i as u64);
        assert_eq!(
            whole[i] as u64,
            bf16.encode(fp32.unpack(x as u64), &opts, r)
        );
    }
}
