//! Worked examples and exact references for the whole module.

use super::*;
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::format::float_builtin;

fn exact_ref(x: f64, s: f64) -> f64 {
    // Reference through exact binary fractions: x and s are dyadic, so
    // compare 2x against (2n+1)s with i128 arithmetic after scaling.
    let (xm, xe) = frexp_int(x);
    let (sm, se) = frexp_int(s);
    let e = xe.min(se);
    let xi = (xm as i128) << (xe - e);
    let si = (sm as i128) << (se - e);
    let fl = xi.div_euclid(si);
    let rem2 = 2 * xi.rem_euclid(si);
    let n = if rem2 > si || (rem2 == si && fl % 2 != 0) {
        fl + 1
    } else {
        fl
    };
    n as f64
}

fn frexp_int(x: f64) -> (i64, i64) {
    match Value::from_f64(x) {
        Value::Finite { neg, sig, exp, .. } => {
            let m = (sig >> 11) as i64;
            (if neg { -m } else { m }, exp - 52)
        }
        _ => (0, 0),
    }
}

fn opts(arith: Arithmetic) -> QuantOptions {
    QuantOptions {
        rounding: RoundingMode::NearestEven,
        seed: 0,
        arithmetic: arith,
        qmin: -1 << 20,
        qmax: 1 << 20,
        nan: None,
    }
}

#[test]
fn exact_equals_rational_reference_near_ties() {
    let s = 0.1f32 as f64;
    let mut xs = Vec::new();
    for n in -3000i32..3000 {
        let tie = (n as f64 + 0.5) * s;
        let t = tie as f32;
        xs.extend([
            t,
            f32::from_bits(t.to_bits() + 1),
            f32::from_bits(t.to_bits().wrapping_sub(1)),
        ]);
    }
    let l = Layout::new(&[xs.len()], None, None).unwrap();
    let mut out = vec![0u32; xs.len()];
    quantize(&xs, &l, &[s], &[0], &opts(Arithmetic::Exact), &mut out).unwrap();
    for (&x, &q) in xs.iter().zip(&out) {
        assert_eq!(q as i32 as f64, exact_ref(x as f64, s), "{x}");
    }
}

#[test]
fn ties_resolved_exactly() {
    // 2.5 * s is exactly representable: a true tie → even.
    let s = 0.5f64;
    let xs = [1.25f32, 1.75, -1.25, 0.25];
    let l = Layout::new(&[4], None, None).unwrap();
    let mut out = [0u8; 4];
    quantize(&xs, &l, &[s], &[0], &opts(Arithmetic::Exact), &mut out).unwrap();
    assert_eq!(out.map(|b| b as i8), [2, 4, -2, 0]);
}

#[test]
fn layouts_and_params() {
    let l = Layout::new(&[2, 6, 3], Some(1), Some(2)).unwrap();
    assert_eq!(l.n_params(), 2 * 3 * 3);
    assert!(Layout::new(&[2, 6, 3], Some(1), Some(4)).is_err());
    assert!(Layout::new(&[2, 6], Some(2), None).is_err());
    let x: Vec<f32> = (0..36).map(|i| i as f32 - 10.0).collect();
    for l in [
        Layout::new(&[2, 6, 3], None, None).unwrap(),
        Layout::new(&[2, 6, 3], Some(1), None).unwrap(),
        Layout::new(&[2, 6, 3], Some(-1), None).unwrap(),
        Layout::new(&[2, 6, 3], Some(0), None).unwrap(),
        Layout::new(&[2, 6, 3], Some(1), Some(3)).unwrap(),
        Layout::new(&[2, 6, 3], Some(2), Some(3)).unwrap(),
    ] {
        let r = ranges(&x, &l, RangeSource::Extremes, Scheme::Symmetric, false).unwrap();
        for (k, &(lo, hi)) in r.iter().enumerate() {
            let mut v = Vec::new();
            l.for_each_in_param(k, |i| v.push(x[i] as f64));
            assert_eq!(lo, v.iter().copied().fold(f64::INFINITY, f64::min));
            assert_eq!(hi, v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        }
    }
}

#[test]
fn worked_examples() {
    let spec = ParamSpec {
        scheme: Scheme::Symmetric,
        qmin: -127.0,
        qmax: 127.0,
        rule: ScaleRule::Round(float_builtin("fp32")),
        integer: true,
    };
    let (s, z) = params(&[(-3.0, 10.8f32 as f64)], &spec).unwrap();
    assert_eq!(s[0], (10.8f32 as f64 / 127.0) as f32 as f64);
    assert_eq!(z[0], 0);
    let spec = ParamSpec {
        scheme: Scheme::Asymmetric,
        qmin: -128.0,
        qmax: 127.0,
        ..spec
    };
    let (_, z) = params(&[(-7.59, 10.8)], &spec).unwrap();
    assert_eq!(z[0], -23);
    // Constant slice: exact.
    let (s, _) = params(&[(0.3, 0.3)], &spec).unwrap();
    assert_eq!(s[0], 0.3f32 as f64);
}

#[test]
fn div_value_exact() {
    let v = div_value(Value::from_f64(1.0), Value::from_f64(3.0));
    assert!(matches!(v, Value::Finite { sticky: true, .. }));
    assert_eq!(value_to_f64(v), 1.0 / 3.0);
    let v = div_value(Value::from_f64(-6.0), Value::from_f64(1.5));
    assert_eq!(v, Value::from_f64(-4.0));
}

#[test]
fn torch_formula() {
    let s = 0.001f64;
    let xs: Vec<f32> = (0..1000).map(|i| i as f32 * 0.0005).collect();
    let l = Layout::new(&[xs.len()], None, None).unwrap();
    let mut out = vec![0u32; xs.len()];
    quantize(&xs, &l, &[s], &[3], &opts(Arithmetic::Torch), &mut out).unwrap();
    let inv = 1.0f32 / s as f32;
    for (&x, &q) in xs.iter().zip(&out) {
        assert_eq!(q as i32, 3 + (x * inv).round_ties_even() as i32);
    }
}
