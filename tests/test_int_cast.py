"""encode/round to integer formats: every rounding mode against an exact
rational reference, the overflow and NaN policies, and the torch-cpu /
numpy profile against the real libraries."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import qformat as qf
from _exact import MODES
from _optional import lazy, resolve

torch = lazy("torch")


def ref_round(x: float, mode: str) -> int:
    """Round the exact value of x to an integer (reference, via Fraction)."""
    f = Fraction(x)
    fl = math.floor(f)
    r = f - fl
    if r == 0:
        return fl
    if mode == "nearest_even":
        return fl + (r > Fraction(1, 2) or (r == Fraction(1, 2) and fl % 2 == 1))
    if mode == "nearest_away":
        return fl + (r > Fraction(1, 2) or (r == Fraction(1, 2) and f > 0))
    if mode == "toward_zero":
        return fl + (f < 0)
    if mode == "up":
        return fl + 1
    if mode == "down":
        return fl
    if mode == "odd":
        return fl if fl % 2 else fl + 1
    raise AssertionError(mode)


def sample_values(rng, n=3000):
    ties = np.arange(-300, 300) + 0.5
    near = np.concatenate([np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf)])
    rnd = rng.uniform(-400, 400, n)
    return np.concatenate([ties, near, rnd, [0.0, -0.0, 1e-300, -1e-300, 127.5, -128.5, 2.0**40]])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", ["int8", "uint8", "int16", "int4"])
def test_rounding_modes_against_fractions(mode, fmt):
    rng = np.random.default_rng(1)
    x = sample_values(rng)
    f = qf.format(fmt)
    got = qf.encode(x, f, rounding=mode)
    assert got.dtype == f.storage_dtype
    want = [min(max(ref_round(v, mode), f.min), f.max) for v in x]
    assert got.astype(np.int64).tolist() == want


def test_float32_source_and_round_keeps_dtype():
    x = np.array([2.5, 3.5, -2.5, 1e9, -1e9, 0.49999997], np.float32)
    np.testing.assert_array_equal(qf.encode(x, "int8"), [2, 4, -2, 127, -128, 0])
    r = qf.round(x, "int8")
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, [2, 4, -2, 127, -128, 0])
    assert qf.round(np.array([7, 300]), "int8").dtype == np.float64


def test_wrap_is_modulo_of_exact_rounded_integer():
    x = np.array([300.0, -129.0, 255.6, 2.0**70 + 2.0**20, -(2.0**64) - 2**12, 1e300])
    got = qf.encode(x, "int8", overflow="wrap")
    want = []
    for v in x:
        n = ref_round(v, "nearest_even") % 256
        want.append(n - 256 if n >= 128 else n)
    assert got.tolist() == want
    assert qf.encode([2.0**63], "int64", overflow="wrap").tolist() == [-(2**63)]
    with pytest.raises(ValueError, match="inf"):
        qf.encode([np.inf], "int8", overflow="wrap")


def test_overflow_error_and_nan_policies():
    with pytest.raises(qf.RangeError, match="flat index 1"):
        qf.encode([1.0, 128.0], "int8", overflow="error")
    assert qf.encode([1.0, 127.4], "int8", overflow="error").tolist() == [1, 127]
    with pytest.raises(qf.NanInputError, match="flat index 2"):
        qf.encode(np.array([1.0, 2.0, np.nan], np.float32), "int8")
    assert qf.encode([np.nan, 1.0], "int8", nan=-7).tolist() == [-7, 1]
    with pytest.raises(ValueError, match="outside the range"):
        qf.encode([np.nan], "uint8", nan=-1)
    with pytest.raises(ValueError, match="integer formats"):
        qf.encode([1.0], "int8", overflow="inf")
    assert qf.encode([np.inf, -np.inf], "int16").tolist() == [32767, -32768]


def test_stochastic_rounding_reproducible_and_unbiased():
    x = np.full(200_000, 0.25)
    a = qf.encode(x, "int8", rounding="stochastic", seed=3)
    b = qf.encode(x, "int8", rounding="stochastic", seed=3)
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 0.25) < 0.01
    assert set(np.unique(a)) == {0, 1}
    with pytest.raises(ValueError, match="seed"):
        qf.encode(x, "int8", rounding="stochastic")


def test_integer_sources():
    x = np.array([-(2**63), -129, 5, 2**40], np.int64)
    assert qf.encode(x, "int8").tolist() == [-128, -128, 5, 127]
    assert qf.encode(x, "int8", overflow="wrap").tolist() == [0, 127, 5, 0]
    u = np.array([2**64 - 1, 3], np.uint64)
    assert qf.encode(u, "uint16").tolist() == [65535, 3]


# --- the torch-cpu profile -------------------------------------------------------------

SPECIALS = [
    0.0,
    -0.0,
    2.7,
    -2.7,
    2.5,
    -0.9,
    128,
    200,
    255,
    256,
    300,
    -1,
    -129,
    -200,
    -300,
    32768,
    65535,
    70000,
    -32769,
    2147483520.0,
    1e10,
    -1e10,
    2.0**31,
    -2147483904.0,
    1e12,
    1e20,
    -1e20,
    2.0**63,
    1e19,
    np.nan,
    np.inf,
    -np.inf,
]
TORCH = {"int8": "torch.int8", "uint8": "torch.uint8", "int16": "torch.int16",
         "int32": "torch.int32"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", sorted(TORCH))
def test_torch_cpu_profile_equals_torch(fmt, dtype):
    rng = np.random.default_rng(7)
    rnd = np.concatenate(
        [
            rng.uniform(-3e9, 3e9, 20_000),
            rng.uniform(-70000, 70000, 20_000),
            rng.standard_normal(5000) * 300,
        ]
    )
    x = np.concatenate([np.array(SPECIALS), rnd]).astype(dtype)
    want = torch.from_numpy(x).to(resolve(TORCH[fmt])).numpy()
    got = qf.encode(x, fmt, profile="torch-cpu")
    np.testing.assert_array_equal(got, want)
    # NumPy's C cast differs from torch's for float64 → uint8 only (int32 vs
    # int64 trip), so the numpy profile is checked against NumPy itself.
    with np.errstate(invalid="ignore", over="ignore"):
        want_np = x.astype(np.dtype(fmt))
    np.testing.assert_array_equal(qf.encode(x, fmt, profile="numpy"), want_np)


def test_torch_cpu_profile_int64():
    x = np.array(SPECIALS + [-(2.0**63), 9.2e18], np.float64)
    want = torch.from_numpy(x).to(torch.int64).numpy()
    np.testing.assert_array_equal(qf.encode(x, qf.IntFormat(64), profile="torch-cpu"), want)


def test_profile_explicit_options_override():
    # explicit overflow replaces the int32 trip; NaN then follows nan= (default error)
    assert qf.encode([300.0], "int8", profile="torch-cpu", overflow="saturate").tolist() == [127]
    # ml_dtypes arrays cast to integers through NumPy: same rule.
    x = np.array([300.7, -1e10, np.nan, 2.5])
    np.testing.assert_array_equal(qf.encode(x, "uint8", profile="ml_dtypes"),
                                  qf.encode(x, "uint8", profile="numpy"))
    with pytest.raises(ValueError, match="unknown profile"):
        qf.encode([1.0], "int8", profile="tensorflow")
