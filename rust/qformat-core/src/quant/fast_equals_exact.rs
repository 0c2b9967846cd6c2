//! The fast loops against the element-by-element exact path, on random
//! data and on inputs placed on and next to every rounding boundary: any
//! restructuring of the vector loops must keep every output bit.

use super::exact::{div_value, round_int_exact};
use super::*;
use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::format::{float_builtin, FloatFormat};

/// xorshift64*: a fixed, dependency-free stream of test inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` inputs for scale `s`: random values over (and past) the code range,
/// exact half-integer multiples of `s` with their float32 neighbours, and
/// a few NaN, infinities and zeros.
fn inputs(rng: &mut Rng, n: usize, s: f64, qmax: f64) -> Vec<f64> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let k = rng.next() % 8;
        let q = (rng.unit() * 2.0 - 1.0) * qmax * 1.2;
        let x = match k {
            0..=3 => q * s,
            4..=6 => {
                // On and next to half-integers (nearest modes) and integers
                // (directed modes) of x / s.
                let half = if rng.next() & 1 == 0 { 0.5 } else { 0.0 };
                let t = ((q.floor() + half) * s) as f32;
                let d = (rng.next() % 3) as i32 - 1;
                f32::from_bits((t.to_bits() as i32 + d) as u32) as f64
            }
            _ => [f64::NAN, f64::INFINITY, -0.0, 0.0, f64::NEG_INFINITY][rng.next() as usize % 5],
        };
        v.push(x);
    }
    v
}

/// The exact code of element `index`, as the element-by-element path computes it.
fn code_ref(x: f64, s: f64, zp: i64, o: &QuantOptions, index: usize) -> f64 {
    if x.is_nan() {
        return o.nan.unwrap() as f64;
    }
    let random = if o.rounding == RoundingMode::Stochastic {
        crate::engine::random::seeded_addend(o.seed, index as u64)
    } else {
        0
    };
    let r = match o.arithmetic {
        Arithmetic::Exact => round_int_exact(Value::from_f64(x), s, o.rounding, random),
        Arithmetic::Torch => {
            let t = (x as f32 * (1.0f32 / s as f32)) as f64;
            round_int_exact(Value::from_f64(t), 1.0, o.rounding, random)
        }
    };
    (r + zp as f64).clamp(o.qmin as f64, o.qmax as f64)
}

/// The scale index of every element of `l` (flat order).
fn param_of(l: &Layout) -> Vec<usize> {
    let mut p = vec![0; l.size()];
    for k in 0..l.n_params() {
        l.for_each_in_param(k, |i| p[i] = k);
    }
    p
}

fn layouts() -> Vec<Layout> {
    let shape = [6, 160, 40];
    [
        (None, None),
        (Some(0), None),
        (Some(1), None),
        (Some(-1), None),
        (Some(-1), Some(8)),
        (Some(1), Some(32)),
        (Some(0), Some(3)),
    ]
    .into_iter()
    .map(|(a, g)| Layout::new(&shape, a, g).unwrap())
    .collect()
}

/// Scales (float32 values, some not) and zero points for `l`.
fn scales(rng: &mut Rng, l: &Layout, f32_scales: bool) -> (Vec<f64>, Vec<i64>) {
    (0..l.n_params())
        .map(|_| {
            let s = 0.001 + rng.unit() * 3.0;
            let s = if f32_scales { s as f32 as f64 } else { s };
            (s, (rng.next() % 21) as i64 - 10)
        })
        .unzip()
}

fn check_int<T: Real + std::fmt::Debug>(cast: fn(f64) -> T) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for l in layouts() {
        let param = param_of(&l);
        for ((arith, mode, f32_scales), symmetric) in [
            (Arithmetic::Exact, RoundingMode::NearestEven, true),
            (Arithmetic::Exact, RoundingMode::NearestEven, false),
            (Arithmetic::Exact, RoundingMode::NearestAway, true),
            (Arithmetic::Torch, RoundingMode::NearestEven, true),
            (Arithmetic::Exact, RoundingMode::TowardZero, true),
            (Arithmetic::Exact, RoundingMode::TowardZero, false),
            (Arithmetic::Exact, RoundingMode::Up, false),
            (Arithmetic::Exact, RoundingMode::Down, true),
            (Arithmetic::Exact, RoundingMode::Odd, false),
            (Arithmetic::Exact, RoundingMode::Stochastic, false),
            (Arithmetic::Exact, RoundingMode::Stochastic, true),
            (Arithmetic::Torch, RoundingMode::NearestAway, true),
            (Arithmetic::Torch, RoundingMode::Up, true),
            (Arithmetic::Torch, RoundingMode::Odd, true),
            (Arithmetic::Torch, RoundingMode::Stochastic, true),
        ]
        .into_iter()
        .flat_map(|case| [(case, false), (case, true)])
        {
            let (s, mut z) = scales(&mut rng, &l, f32_scales);
            if symmetric {
                // All zero points 0: per-element runs read `ZeroPoints0`.
                z.fill(0);
            }
            let o = QuantOptions {
                rounding: mode,
                seed: 3,
                arithmetic: arith,
                qmin: -128,
                qmax: 127,
                nan: Some(-1),
            };
            let x: Vec<T> = (0..l.size())
                .flat_map(|i| inputs(&mut rng, 1, s[param[i]], 130.0))
                .map(cast)
                .collect();
            let mut codes = vec![0u32; x.len()];
            quantize(&x, &l, &s, &z, &o, &mut codes).unwrap();
            let mut fake = vec![T::default(); x.len()];
            fake_quantize(&x, &l, &s, &z, &o, &mut fake).unwrap();
            for i in 0..x.len() {
                let (sp, zp) = (s[param[i]], z[param[i]]);
                let c = code_ref(x[i].to_f64(), sp, zp, &o, i);
                let msg = format!("{l:?} {arith:?} {mode:?} x={:?} s={sp} zp={zp}", x[i]);
                assert_eq!(codes[i] as i32 as f64, c, "{msg}");
                let want = T::from_f64((c - zp as f64) * sp);
                assert_eq!(fake[i].to_f64().to_bits(), want.to_f64().to_bits(), "{msg}");
            }
        }
    }
}

#[test]
fn int_codes_equal_exact_path_f32() {
    check_int::<f32>(|v| v as f32);
}

#[test]
fn int_codes_equal_exact_path_f64() {
    check_int::<f64>(|v| v);
}

/// The engine's element code of `x / s` (saturating).
fn elem_ref(elem: &FloatFormat, x: f64, s: f64, rounding: RoundingMode) -> u64 {
    let enc = EncodeOptions {
        rounding,
        overflow: Overflow::Saturate,
        nan: NanPolicy::Canonical,
        ..EncodeOptions::default()
    };
    if x.is_nan() {
        return 0x7;
    }
    elem.encode(div_value(Value::from_f64(x), Value::from_f64(s)), &enc, 0)
}

/// Element codes by every fast loop (power-of-two scales in float32, any
/// scale through the interval loop, every non-stochastic mode) equal the
/// engine's, on inputs at and next to the elements' rounding boundaries.
#[test]
fn mx_codes_equal_engine() {
    let mut rng = Rng(7);
    let modes = RoundingMode::DETERMINISTIC;
    for name in ["fp4_e2m1fn", "fp8_e4m3fn", "fp8_e5m2", "fp6_e3m2fn"] {
        let elem = float_builtin(name);
        let values: Vec<f64> = (0..1u64 << elem.bits())
            .map(|c| value_to_f64(elem.unpack(c)))
            .filter(|v| v.is_finite())
            .collect();
        for l in layouts() {
            for (k, &rounding) in modes.iter().enumerate() {
                let pow2 = k % 2 == 0;
                let param = param_of(&l);
                let s: Vec<f64> = (0..l.n_params())
                    .map(|_| {
                        let p = 2f64.powi((rng.next() % 40) as i32 - 20);
                        if pow2 {
                            p
                        } else {
                            p * (1.0 + rng.unit())
                        }
                    })
                    .collect();
                // Random values, element values, and midpoints of neighbours,
                // times the scale, with their float32 neighbours.
                let x: Vec<f32> = (0..l.size())
                    .map(|i| {
                        let sp = s[param[i]];
                        let j = rng.next() as usize % values.len();
                        let v = match rng.next() % 3 {
                            0 => inputs(&mut rng, 1, sp, 600.0)[0] / 4.0,
                            1 => values[j] * sp,
                            _ => (values[j] + values[(j + 1) % values.len()]) / 2.0 * sp,
                        };
                        let d = (rng.next() % 3) as i32 - 1;
                        f32::from_bits(((v as f32).to_bits() as i32).wrapping_add(d) as u32)
                    })
                    .collect();
                let o = FloatQuantOptions {
                    rounding,
                    seed: 0,
                    nan: Some(0x7),
                };
                let mut out = vec![0u16; x.len()];
                quantize_float(&x, &l, &s, &elem, &o, &mut out).unwrap();
                let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                let mut out64 = vec![0u16; x.len()];
                quantize_float(&x64, &l, &s, &elem, &o, &mut out64).unwrap();
                for i in 0..x.len() {
                    let want = elem_ref(&elem, x[i] as f64, s[param[i]], rounding);
                    let msg = format!("{name} {l:?} {rounding:?} x={} s={}", x[i], s[param[i]]);
                    assert_eq!(out[i] as u64, want, "{msg}");
                    assert_eq!(out64[i] as u64, want, "f64 {msg}");
                }
            }
        }
    }
}

/// The fused scale pass equals ranges-then-params, errors included.
#[test]
fn fused_params_equal_two_pass() {
    let mut rng = Rng(11);
    let specs = [
        ParamSpec {
            scheme: Scheme::Symmetric,
            qmin: -6.0,
            qmax: 6.0,
            rule: ScaleRule::Pow2 {
                emax_elem: 2,
                frac_bits: 0,
                rule: Pow2Rule::Floor,
            },
            integer: false,
        },
        ParamSpec {
            scheme: Scheme::Asymmetric,
            qmin: -8.0,
            qmax: 7.0,
            rule: ScaleRule::Round(float_builtin("fp32")),
            integer: true,
        },
    ];
    // Groups of 40 along the contiguous axis: the fused per-block pass
    // runs its vector lanes (two of 16) as well as the remainder (8), and
    // the special lands in the lanes (element 0 of a group).
    let lanes = Layout::new(&[6, 160, 40], Some(-1), Some(40)).unwrap();
    for spec in &specs {
        for l in layouts().into_iter().chain([lanes]) {
            for special in [None, Some(f32::NAN), Some(f32::INFINITY)] {
                let mut x: Vec<f32> = (0..l.size())
                    .map(|_| ((rng.unit() - 0.3) * 2f64.powi((rng.next() % 30) as i32 - 15)) as f32)
                    .collect();
                if let Some(v) = special {
                    x[l.size() / 2] = v;
                }
                for nan_ok in [false, true] {
                    let src = RangeSource::Extremes;
                    let two =
                        ranges(&x, &l, src, spec.scheme, nan_ok).and_then(|r| params(&r, spec));
                    let one = qparams(&x, &l, src, spec, nan_ok);
                    assert_eq!(format!("{one:?}"), format!("{two:?}"), "{l:?} {special:?}");
                }
            }
        }
    }
}
