//! The x86 MXCSR options of the engine: FTZ flushes results that are tiny
//! *after* rounding (x86's tininess rule), DAZ reads subnormal inputs of the
//! source format as ±0. The values were measured on the instructions
//! (docs/verification/cpu.md); qformat-cpu's tests run them.

use qformat_core::fast::slices::encode_slice;
use qformat_core::format::float_builtin;
use qformat_core::{EncodeOptions, RoundingMode};

fn to_f32(x: &[f64], opts: &EncodeOptions) -> Vec<u32> {
    let bits: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
    let mut out = vec![0u32; x.len()];
    let (s, d) = (float_builtin("fp64"), float_builtin("fp32"));
    encode_slice(&s, &bits, &d, &mut out, opts).unwrap();
    out
}

#[test]
fn ftz_flushes_what_is_tiny_after_rounding() {
    let p = 2f64.powi(-126);
    let x = [
        p - 2f64.powi(-151),                   // rounds to 2^-126 at full precision
        p - 2f64.powi(-151) - 2f64.powi(-170), // rounds to 2^-126 - 2^-150: tiny
        -(2f64.powi(-140)),
        2f64.powi(-149), // exact, still tiny: flushed
    ];
    let ftz = EncodeOptions {
        ftz: true,
        ..Default::default()
    };
    assert_eq!(to_f32(&x, &ftz), [0x0080_0000, 0, 0x8000_0000, 0]);
    let down = EncodeOptions {
        rounding: RoundingMode::Down,
        ..ftz
    };
    assert_eq!(to_f32(&x, &down)[0], 0, "rounds down to a tiny value");
    let nosub = EncodeOptions {
        subnormals: false,
        ..Default::default()
    };
    assert_eq!(
        to_f32(&x, &nosub)[1],
        0x0080_0000,
        "subnormals=false differs"
    );
}

#[test]
fn daz_reads_source_subnormals_as_zero() {
    let x = [f64::from_bits(1), -f64::from_bits(1)];
    let up = EncodeOptions {
        rounding: RoundingMode::Up,
        ..Default::default()
    };
    assert_eq!(to_f32(&x, &up), [1, 0x8000_0000]);
    let daz = EncodeOptions { daz: true, ..up };
    assert_eq!(to_f32(&x, &daz), [0, 0x8000_0000]);
}
