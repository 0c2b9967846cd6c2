"""Block-scaled float formats against a reference written from the OCP
Microscaling Formats (MX) v1.0 spec text, independent of qformat's engine:

    shared_exp = floor(log2(max_i |V_i|)) - emax_elem      (clamped to e8m0's range)
    X = 2^shared_exp
    P_i = quantize_to_element_format(V_i / X)  (round to nearest even, saturating)
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import qformat as qf

# (exp_bits, man_bits, bias, emax_elem, max_normal) from the spec's element table
ELEMENTS = {
    "fp8_e4m3fn": (4, 3, 7, 8, 448.0),
    "fp8_e5m2": (5, 2, 15, 15, 57344.0),
    "fp6_e2m3fn": (2, 3, 1, 2, 7.5),
    "fp6_e3m2fn": (3, 2, 3, 4, 28.0),
    "fp4_e2m1fn": (2, 1, 1, 2, 6.0),
}


def positive_grid(e, m, bias, maxv):
    """Every non-negative finite value of an ExMy format up to max_normal."""
    vals = [Fraction(f, 2**m) * Fraction(2) ** (1 - bias) for f in range(2**m)]  # subnormals
    for b in range(1, 2**e):
        for f in range(2**m):
            vals.append((1 + Fraction(f, 2**m)) * Fraction(2) ** (b - bias))
    return [v for v in vals if v <= maxv]


def round_to_grid(v: Fraction, grid) -> Fraction:
    """Nearest grid value, ties to the even index (= even mantissa), saturating."""
    a = min(abs(v), grid[-1])
    lo = max(i for i, g in enumerate(grid) if g <= a)
    if lo + 1 < len(grid):
        d0, d1 = a - grid[lo], grid[lo + 1] - a
        if d1 < d0 or (d1 == d0 and lo % 2 == 1):
            lo += 1
    return grid[lo] if v >= 0 else -grid[lo]


def mx_reference(x: np.ndarray, fmt: str, block=32):
    e, m, bias, emax, maxv = ELEMENTS[fmt]
    grid = positive_grid(e, m, bias, Fraction(maxv))
    scales, elems = [], []
    for blk in x.reshape(-1, block):
        amax = max(abs(Fraction(float(v))) for v in blk)
        if amax == 0:
            shared = -127
        else:
            shared = math.floor(math.log2(amax))
            # exact floor(log2) for Fractions
            while Fraction(2) ** shared > amax:
                shared -= 1
            while Fraction(2) ** (shared + 1) <= amax:
                shared += 1
            shared = max(-127, min(127, shared - emax))
        X = Fraction(2) ** shared
        scales.append(X)
        elems.append([round_to_grid(Fraction(float(v)) / X, grid) for v in blk])
    return scales, elems


@pytest.mark.parametrize("fmt", sorted(ELEMENTS))
def test_mx_matches_spec_reference(fmt):
    rng = np.random.default_rng(abs(hash(fmt)) % 2**32)
    x = (rng.standard_normal((8, 64)) * rng.choice([1e-3, 1.0, 300.0], (8, 1))).astype(np.float32)
    x[0, :32] = 0.0  # an all-zero block
    x[1, 5] = 2.0**-140  # tiny values
    scales, elems = mx_reference(x, fmt)
    q = qf.quantize(x, fmt, axis=-1, group_size=32, scale_format="fp8_e8m0fnu")
    assert q.scale.shape == (8, 2, 1)
    assert [Fraction(float(s)) for s in q.scale.reshape(-1)] == scales
    got = qf.decode(q.values, fmt).reshape(-1, 32)
    want = np.array([[float(v) for v in row] for row in elems])
    np.testing.assert_array_equal(np.abs(got), np.abs(want))
    np.testing.assert_array_equal(np.signbit(got) & (want != 0), np.signbit(want) & (want != 0))
    fake = qf.fake_quantize(x, fmt, axis=-1, group_size=32, scale_format="e8m0")
    np.testing.assert_array_equal(fake, q.dequantize())
    np.testing.assert_array_equal(
        q.dequantize(np.float64).reshape(-1, 32),
        want * np.array([float(s) for s in scales])[:, None],
    )


def test_mx_ties_and_saturation():
    # block max 6.0 -> shared exp 2 - 2 = 0 (X = 1) for fp4; 5.0 is a tie between 4 and 6 -> 4
    x = np.zeros(32, np.float32)
    x[:5] = [6.0, 5.0, 2.5, -0.25, 0.75]
    q = qf.quantize(x, "fp4_e2m1fn", group_size=32, scale_format="e8m0")
    assert float(q.scale.reshape(-1)[0]) == 1.0
    assert qf.decode(q.values[:5], "fp4_e2m1fn").tolist() == [6.0, 4.0, 2.0, -0.0, 1.0]
    # 7.5 -> X = 2^(2-2) = 1, 7.5 saturates to 6
    x[0] = 7.5
    q = qf.quantize(x, "fp4_e2m1fn", group_size=32, scale_format="e8m0")
    assert qf.decode(q.values[:1], "fp4_e2m1fn").tolist() == [6.0]


def test_mxint8():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(64).astype(np.float32)
    q = qf.quantize(x, "int8", group_size=32, scale_format="e8m0")
    for b in range(2):
        blk = x[32 * b : 32 * (b + 1)].astype(np.float64)
        X = 2.0 ** math.floor(math.log2(np.abs(blk).max()))
        assert float(q.scale[b, 0]) == X / 64  # element = code * 2^-6
        want = np.clip(np.round(blk / X * 64), -127, 127)  # exact: X is a power of two
        np.testing.assert_array_equal(q.values[32 * b : 32 * (b + 1)], want)


def test_nvfp4_style_scales():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 32)).astype(np.float32)
    q = qf.quantize(x, "fp4_e2m1fn", group_size=16, scale_format="fp8_e4m3fn")
    e4 = positive_grid(4, 3, 7, Fraction(448))
    fp4 = positive_grid(2, 1, 1, Fraction(6))
    for i, blk in enumerate(x.reshape(-1, 16)):
        amax = max(abs(Fraction(float(v))) for v in blk)
        s = round_to_grid(amax / 6, e4)
        assert Fraction(float(q.scale.reshape(-1)[i])) == s
        want = [float(round_to_grid(Fraction(float(v)) / s, fp4)) for v in blk]
        got = qf.decode(q.values.reshape(-1, 16)[i], "fp4_e2m1fn")
        np.testing.assert_array_equal(np.abs(got), np.abs(want))


def test_float_elements_with_float32_scales_and_nbytes():
    x = np.random.default_rng(2).standard_normal((2, 64)).astype(np.float32)
    q = qf.quantize(x, "fp8_e4m3fn", axis=-1, group_size=32)
    np.testing.assert_allclose(
        q.scale.reshape(-1), np.abs(x.reshape(-1, 32)).max(1) / 448, rtol=1e-7
    )
    mx = qf.quantize(x, "fp4_e2m1fn", group_size=32, scale_format="e8m0")
    assert mx.nbytes == 128 // 2 + 4  # 4.25 bits per element
    with pytest.raises(ValueError, match="NaN"):
        qf.quantize(
            np.array([np.nan] * 32, np.float32), "fp4_e2m1fn", group_size=32, scale_format="e8m0"
        )


MX_RECIPE_NAMES = ("mxfp8", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4", "mxint8")


def _recipe_data(shape: tuple, dtype: type) -> np.ndarray:
    """Blocks of every scale: ordinary, all zero (±0), float32-subnormal
    (e8m0's smallest scale, where a product may be a subnormal), and huge
    (up to the type's largest: with ``rceil`` an mxfp4 block there
    dequantizes to ±inf in float32, by both routes)."""
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) * rng.choice([1e-30, 1e-3, 1.0, 300.0, 1e30], shape)
    flat = x.reshape(-1)
    flat[: min(40, flat.size)] = 0.0
    flat[40:50] = -0.0
    flat[50:90] = rng.standard_normal(flat[50:90].size) * 2.0**-135
    flat[90:95] = [3e38, -3e38, 1e-45, -1e-45, 2.0**-126][: flat[90:95].size]
    top = float(np.finfo(dtype).max)
    return np.clip(x, -top, top).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name", MX_RECIPE_NAMES)
def test_fake_quantize_by_mx_recipe_equals_its_dequantized_codes(name, dtype):
    """``fake_quantize`` of an MX recipe takes the fused quantizer; its
    values and type are those of ``quantize(...).dequantize()`` in x's float
    type, bit for bit (-0 included), whatever the shape and scale rule."""
    for shape in [(7, 96), (3, 64), (96,), (2, 3, 64)]:
        x = _recipe_data(shape, dtype)
        for rule in ("floor", "rceil"):
            got = qf.fake_quantize(x, name, scale_rule=rule)
            want_type = np.float64 if dtype == np.float64 else np.float32
            want = qf.quantize(x, name, scale_rule=rule).dequantize(want_type)
            assert got.dtype == want_type and got.shape == shape
            unsigned = {4: np.uint32, 8: np.uint64}[got.itemsize]
            np.testing.assert_array_equal(got.view(unsigned), want.view(unsigned),
                                          err_msg=f"{name} {shape} {rule}")


def test_fake_quantize_by_mx_recipe_mistakes():
    """The fused route keeps the recipe's checks: fixed options stay fixed,
    and a NaN is refused as ``quantize`` refuses it."""
    x = np.ones((2, 64), np.float32)
    with pytest.raises(ValueError, match="fixed recipe; rounding"):
        qf.fake_quantize(x, "mxfp8", rounding="toward_zero")
    with pytest.raises(ValueError, match="fixed recipe; group_size"):
        qf.fake_quantize(x, "mxfp4", group_size=16)
    x[1, 3] = np.nan
    for bad in (x, np.ones((3, 50), np.float32)):
        with pytest.raises(ValueError) as fused:
            qf.fake_quantize(bad, "mxfp8")
        with pytest.raises(ValueError) as codes:
            qf.quantize(bad, "mxfp8")
        assert str(fused.value) == str(codes.value)
