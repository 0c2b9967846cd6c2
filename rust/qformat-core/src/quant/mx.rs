//! Float elements with shared scales (OCP MX, NVFP4-style, per-tensor
//! fp8 scaling): element codes of `x / scale`, rounded by the engine.

use super::codes::Arithmetic;
use super::constants::{Params, Run};
use super::exact::{div_value, value_to_f64};
use super::layout::{drive, Kernel, Layout};
use super::real::Real;
use crate::error::Error;
use crate::format::FloatFormat;
use crate::kernels::{Bits, Fp32Narrowing};
use crate::options::{EncodeOptions, NanPolicy, Overflow};
use crate::random::draw;
use crate::rounding::RoundingMode;
use crate::value::Value;

/// Options of the float-element code pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatQuantOptions {
    pub rounding: RoundingMode,
    pub seed: u64,
    /// The element code a NaN gets; None makes NaN an error.
    pub nan: Option<u64>,
}

/// Float element codes (or their dequantized values).
pub(super) struct FloatKernel<'a, E> {
    elem: &'a FloatFormat,
    enc: EncodeOptions,
    o: &'a FloatQuantOptions,
    /// Fast float32 path for nearest even with power-of-two scales.
    fast: Option<Fp32Narrowing>,
    pow2: bool,
    emit: E,
}

/// What the float-element pass writes.
pub(super) trait FloatEmit<O>: Sync {
    fn emit(&self, code: u64, scale: f64) -> O;
}

pub(super) struct ElemCodes;
impl<D: Bits> FloatEmit<D> for ElemCodes {
    #[inline(always)]
    fn emit(&self, code: u64, _: f64) -> D {
        D::from_u64(code)
    }
}

/// Decoded element times scale, via a table of the element format's values.
pub(super) struct ElemDequant(Vec<f64>);
impl<T: Real> FloatEmit<T> for ElemDequant {
    #[inline(always)]
    fn emit(&self, code: u64, scale: f64) -> T {
        T::from_f64(self.0[code as usize] * scale)
    }
}

impl<E> FloatKernel<'_, E> {
    fn code<T: Real>(&self, x: T, scale: f64, index: usize) -> Result<u64, Error> {
        let xf = x.to_f64();
        if xf.is_nan() {
            return self.o.nan.ok_or(Error::NanInput { index });
        }
        let random = if self.o.rounding == RoundingMode::Stochastic {
            draw(self.o.seed, index as u64)
        } else {
            0
        };
        let v = div_value(Value::from_f64(xf), Value::from_f64(scale));
        Ok(self.elem.encode(v, &self.enc, random))
    }
}

impl<T: Real, O: Copy, E: FloatEmit<O>> Kernel<T, O> for FloatKernel<'_, E> {
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error> {
        if let (Some(k), true, true) = (self.fast, self.pow2, std::mem::size_of::<T>() == 4) {
            let mut nan = false;
            for (i, (&x, y)) in xs.iter().zip(out.iter_mut()).enumerate() {
                // x * 2^-k is exact in float32 (down to float32's subnormals,
                // far below every element format's smallest value).
                let v = x.to_f32() * r.inv(i) as f32;
                nan |= v.is_nan();
                *y = self.emit.emit(k.convert(v.to_bits(), 0) as u64, r.scale(i));
            }
            if !nan {
                return Ok(());
            }
        }
        for (i, (&x, y)) in xs.iter().zip(out.iter_mut()).enumerate() {
            *y = self
                .emit
                .emit(self.code(x, r.scale(i), base + i)?, r.scale(i));
        }
        Ok(())
    }
}

impl<'a, E> FloatKernel<'a, E> {
    fn new(
        elem: &'a FloatFormat,
        o: &'a FloatQuantOptions,
        scales: &[f64],
        emit: E,
    ) -> Result<Self, Error> {
        if elem.bits() > 16 {
            return Err(Error::invalid(format!(
                "{} is too wide to be a block-scaled element format",
                elem.name
            )));
        }
        if let Some(c) = o.nan {
            if c >> elem.bits() != 0 {
                return Err(Error::invalid(format!(
                    "nan={c:#x} does not fit in the {} bits of {}",
                    elem.bits(),
                    elem.name
                )));
            }
        }
        let enc = EncodeOptions {
            rounding: o.rounding,
            overflow: Overflow::Saturate,
            nan: NanPolicy::Canonical,
            seed: o.seed,
            ..EncodeOptions::default()
        };
        let pow2 = scales.iter().all(|&s| {
            let b = s.to_bits();
            b & ((1u64 << 52) - 1) == 0
                && s.is_finite()
                && s > 0.0
                && (s as f32).is_normal()
                && (1.0 / s as f32).is_normal()
        });
        let fast = if o.rounding == RoundingMode::NearestEven {
            Fp32Narrowing::new(elem, &enc)
        } else {
            None
        };
        Ok(FloatKernel {
            elem,
            enc,
            o,
            fast,
            pow2,
            emit,
        })
    }
}

pub(super) fn float_params(scales: &[f64]) -> Result<Params, Error> {
    let zps = vec![0; scales.len()];
    Params::new(scales, &zps, Arithmetic::Exact)
}

/// Element codes of `x / scale` in `elem` (nearest-even or the chosen mode,
/// saturating at ±max, as OCP MX v1.0 prescribes).
pub fn quantize_float<T: Real, D: Bits>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [D],
) -> Result<(), Error> {
    let p = float_params(scales)?;
    let k = FloatKernel::new(elem, o, scales, ElemCodes)?;
    drive(x, out, l, &p, &k)
}

/// `decode(code) * scale` fused with [`quantize_float`].
pub fn fake_quantize_float<T: Real>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [T],
) -> Result<(), Error> {
    let p = float_params(scales)?;
    let table = (0..1u64 << elem.bits())
        .map(|c| value_to_f64(elem.unpack(c)))
        .collect();
    let k = FloatKernel::new(elem, o, scales, ElemDequant(table))?;
    drive(x, out, l, &p, &k)
}
