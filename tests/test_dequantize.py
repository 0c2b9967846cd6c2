"""``QuantizedArray.dequantize`` takes one parallel Rust pass over the codes
(``_native.dequantize_codes``); its NumPy formula, written out here as the
spec, must give the same array bit for bit: every code of each element
format (NaN codes included), scales that are not powers of two (and not
float32 values), zero points, every layout, both output types."""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf
from qformat._qarray import QuantizedArray


def numpy_formula(q: QuantizedArray, dt: type) -> np.ndarray:
    """The formula ``dequantize`` documents: float element codes as
    ``decode(code) * scale`` in float64, then ``dt``; integer codes as
    ``dt(code - zero_point) * dt(scale)`` in ``dt``."""
    v = q.grouped_values()
    if isinstance(q.format, qf.FloatFormat):
        r = qf.decode(v, q.format) * np.asarray(q.scale).astype(np.float64)
        return r.astype(dt).reshape(q.values.shape)
    d = (v.astype(np.int64) - q.zero_point).astype(dt)
    return (d * np.asarray(q.scale).astype(dt)).reshape(q.values.shape)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bits (NaN payloads and -0 included)."""
    word = {4: np.uint32, 8: np.uint64}[a.itemsize]
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.view(word), b.view(word))


LAYOUTS = [(None, None), (0, None), (1, None), (1, 32), (0, 32)]
FORMATS = ["int8", "uint8", "int4", "int16", "int32", "fp8_e4m3fn", "fp8_e5m2", "fp4_e2m1fn",
           "fp6_e3m2fn", "fp8_e4m3fnuz"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("axis,group", LAYOUTS)
def test_dequantize_of_quantize_equals_the_numpy_formula(fmt, axis, group):
    rng = np.random.default_rng(len(fmt) * 7 + (axis or 0))
    for src in (np.float32, np.float64):
        x = (rng.standard_normal((64, 96)) * rng.choice([1e-3, 1.0, 1e4], (64, 96))).astype(src)
        kw = {"scheme": "asymmetric"} if fmt.startswith("uint") else {}
        if fmt.startswith("fp"):
            kw["scale_format"] = "e8m0" if group else None
        q = qf.quantize(x, fmt, axis=axis, group_size=group, **kw)
        for dt in (np.float32, np.float64):
            assert q._dequantize_native(np.dtype(dt)) is not None  # the Rust pass runs
            assert same_bits(q.dequantize(dt), numpy_formula(q, dt)), (src, dt)


def _handmade(fmt: str, axis, group, rng) -> QuantizedArray:
    """Every code of ``fmt`` (random order), non-float32 scales from tiny to
    huge, random zero points: arrays no quantizer writes."""
    f = qf.format(fmt)
    shape = (64, 96)
    k = axis
    pshape = (() if k is None else tuple(n if i == k else 1 for i, n in enumerate(shape))
              if group is None else shape[:k] + (shape[k] // group, 1) + shape[k + 1:])
    if isinstance(f, qf.FloatFormat):
        codes = rng.integers(0, 2**f.bits, shape).astype(f.storage_dtype)
        zp = np.zeros(pshape, np.int64)
    else:
        codes = rng.integers(f.min, f.max + 1, shape).astype(f.storage_dtype)
        zp = rng.integers(f.min, f.max + 1, pshape).astype(np.int64)
    scale = (rng.uniform(0.5, 1.5, pshape) * np.exp2(rng.integers(-150, 130, pshape)) / 3)
    return QuantizedArray(codes, scale.astype(np.float64), zp, f, "asymmetric", k, group)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("axis,group", LAYOUTS)
def test_dequantize_of_any_codes_equals_the_numpy_formula(fmt, axis, group):
    rng = np.random.default_rng(len(fmt) + 3 * (group or 1))
    q = _handmade(fmt, axis, group, rng)
    for dt in (np.float32, np.float64):
        with np.errstate(all="ignore"):
            want = numpy_formula(q, dt)
        got = q.dequantize(dt)
        assert q._dequantize_native(np.dtype(dt)) is not None
        assert same_bits(got, want), f"{fmt} {dt}: {np.sum(got != want)} values differ"


def test_dequantize_outside_the_quantizer_layout_keeps_the_numpy_formula():
    """Arrays the Rust pass does not take (a scalar scale per channel, a
    group with no axis, an empty one) still give the formula's values, and
    so does a 3-D grouped one, which it takes."""
    rng = np.random.default_rng(5)
    f = qf.format("int8")
    codes = rng.integers(-128, 128, (4, 64)).astype(np.int8)
    cases = [
        QuantizedArray(codes, np.float64(0.37), np.int64(3), f, "asymmetric", 0, None),
        QuantizedArray(codes, np.float32(0.37), np.int64(0), f, "symmetric", None, 32),
        QuantizedArray(codes.reshape(2, 2, 64), np.full((2, 2, 2, 1), 0.3), np.zeros((2, 2, 2, 1),
                       np.int64), f, "symmetric", 2, 32),
        QuantizedArray(codes[:0], np.float64(1.0), np.int64(0), f, "symmetric", None, None),
    ]
    for q in cases:
        for dt in (np.float32, np.float64):
            assert same_bits(q.dequantize(dt), numpy_formula(q, dt))
