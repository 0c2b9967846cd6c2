"""Properties every rounding must have, checked by hypothesis on arbitrary
float64/float32 inputs and formats (built-in and custom): monotonic,
idempotent, sign-symmetric, within half an ulp for the nearest modes,
down <= x <= up; and results that do not depend on how the array is
chunked, on the other elements, or on the number of threads."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import qformat as qf
from _exact import MODES, NEAREST, Layout
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FORMATS = [qf.fp16, qf.bf16, qf.tf32, qf.fp8_e4m3fn, qf.fp8_e4m3fnuz, qf.fp8_e5m2,
           qf.fp8_e5m2fnuz, qf.fp6_e2m3fn, qf.fp6_e3m2fn, qf.fp4_e2m1fn,
           qf.FloatFormat(3, 2), qf.FloatFormat(5, 4, bias=10),
           qf.FloatFormat(6, 1, inf=False, nan="fn"), qf.FloatFormat(9, 14),
           # no exponent bits (P3109 signed P = K; a NaN-less fixed point)
           qf.p3109(8, 8), qf.p3109(8, 8, extended=False), qf.p3109(3, 3), qf.p3109(16, 16),
           qf.FloatFormat(0, 6, bias=-4, inf=False, nan="none")]
SYMMETRIC = ("nearest_even", "nearest_away", "toward_zero", "odd")

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

fmts = st.sampled_from(FORMATS)
modes = st.sampled_from(MODES)
dtypes = st.sampled_from([np.float64, np.float32])
SETTINGS = settings(max_examples=60, deadline=None)


def _arrays(dtype, min_size=1, max_size=40):
    return hnp.arrays(dtype, st.integers(min_size, max_size),
                      elements=st.floats(allow_nan=False, width=np.dtype(dtype).itemsize * 8))


@st.composite
def arrays(draw, min_size=1):
    dtype = draw(dtypes)
    return draw(_arrays(dtype, min_size))


def _kw(fmt) -> dict:
    return {"nan": 0} if fmt.nan == "none" else {}


def _max(fmt) -> float:
    return qf.finfo(fmt).max


def _in_range(x: np.ndarray, fmt) -> np.ndarray:
    """The finite elements of x within ±max of fmt, compared in float64 (a
    Python float compared with a float32 array is cast to float32 first, and
    the max of a format wider than float32 would become inf)."""
    a = np.abs(x.astype(np.float64))
    return x[np.isfinite(a) & (a <= _max(fmt))]


@SETTINGS
@given(x=arrays(min_size=2), fmt=fmts, mode=modes)
def test_monotonic(x, fmt, mode):
    x = np.sort(x)
    r = qf.round(x, fmt, rounding=mode, **_kw(fmt))
    fin = ~np.isnan(r)
    r = r[fin]
    assert (r[:-1] <= r[1:]).all(), (x[fin], r)


@SETTINGS
@given(x=arrays(), fmt=fmts, mode=modes)
def test_idempotent(x, fmt, mode):
    once = qf.round(x, fmt, rounding=mode, **_kw(fmt))
    twice = qf.round(once, fmt, rounding=mode, **_kw(fmt))
    np.testing.assert_array_equal(twice.view(f"u{x.itemsize}"), once.view(f"u{x.itemsize}"))
    codes = qf.encode(x, fmt, rounding=mode, **_kw(fmt))
    # A value of a format wider than x's dtype (e9m14 from float32) can round
    # beyond the dtype's range: round() then gives inf, a different value.
    kept = np.isfinite(once) | ~np.isfinite(x)
    np.testing.assert_array_equal(qf.encode(once, fmt, rounding=mode, **_kw(fmt))[kept],
                                  codes[kept])


@SETTINGS
@given(x=arrays(), fmt=fmts, mode=st.sampled_from(SYMMETRIC))
def test_sign_symmetric(x, fmt, mode):
    a = qf.round(x, fmt, rounding=mode, **_kw(fmt))
    b = qf.round(-x, fmt, rounding=mode, **_kw(fmt))
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    fin = ~np.isnan(a)
    np.testing.assert_array_equal(-a[fin], b[fin])
    if fmt.nan != "fnuz":       # formats with -0 keep the sign bit exactly
        np.testing.assert_array_equal(np.signbit(a[fin]), ~np.signbit(b[fin]))


def _ulp(L: Layout, a: Fraction) -> Fraction:
    """Grid spacing of the format at |a| (a != 0)."""
    num, den = a.numerator, a.denominator
    exp = num.bit_length() - den.bit_length()
    if Fraction(2) ** exp > a:
        exp -= 1
    return Fraction(2) ** (max(exp, L.emin) - L.m)


@SETTINGS
@given(x=arrays(), fmt=fmts, mode=st.sampled_from(NEAREST))
def test_within_half_ulp(x, fmt, mode):
    L = Layout.of(fmt)
    x = _in_range(x, fmt)
    r = qf.round(x, fmt, rounding=mode)
    for xi, ri in zip(x.tolist(), r.tolist()):
        if xi == 0:
            assert ri == 0
            continue
        err = abs(Fraction(xi) - Fraction(ri))
        assert err <= _ulp(L, abs(Fraction(xi))) / 2, (xi, ri)


@SETTINGS
@given(x=arrays(), fmt=fmts)
def test_down_le_x_le_up(x, fmt):
    x = _in_range(x, fmt)
    down = qf.round(x, fmt, rounding="down")
    up = qf.round(x, fmt, rounding="up")
    tz = qf.round(x, fmt, rounding="toward_zero")
    ne = qf.round(x, fmt)
    assert (down <= x).all() and (x <= up).all()
    assert (np.abs(tz) <= np.abs(x)).all()
    assert ((ne == down) | (ne == up)).all()
    # adjacent: nothing representable strictly between down and up
    inexact = down != up
    if inexact.any():
        mid = qf.round((down[inexact] + up[inexact]) / 2, fmt, rounding="toward_zero")
        assert np.isin(mid, np.concatenate([down[inexact], up[inexact]])).all()


@SETTINGS
@given(x=arrays(), fmt=fmts, seed=st.integers(0, 2**64 - 1))
def test_stochastic_between_down_and_up(x, fmt, seed):
    x = _in_range(x, fmt)
    s = qf.round(x, fmt, rounding="stochastic", seed=seed)
    down = qf.round(x, fmt, rounding="down")
    up = qf.round(x, fmt, rounding="up")
    assert ((s == down) | (s == up)).all()


# ---------------------------------------------------------------------------
# Independence from chunking, neighbours and threads

def _big(n=300_000, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32).astype(dtype)
    x[::7] = rng.standard_normal(x[::7].size)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_slices_agree_with_the_whole(dtype, mode):
    x = _big(dtype=dtype)
    fmt = qf.fp8_e4m3fn
    whole = qf.encode(x, fmt, rounding=mode)
    for a, b in [(0, 1), (5, 70_000), (65_535, 65_537), (131_000, 300_000), (299_999, 300_000)]:
        np.testing.assert_array_equal(qf.encode(x[a:b], fmt, rounding=mode), whole[a:b])
    np.testing.assert_array_equal(qf.encode(x[::3], fmt, rounding=mode), whole[::3])
    np.testing.assert_array_equal(qf.round(x, qf.bf16, rounding=mode)[1000:2000],
                                  qf.round(x[1000:2000], qf.bf16, rounding=mode))


@pytest.mark.parametrize("fmt", [qf.bf16, qf.fp8_e5m2, qf.FloatFormat(5, 4, bias=10)])
def test_stochastic_depends_only_on_seed_position_and_value(fmt):
    """An element's stochastic result is a function of (seed, flat position,
    value): changing every other element, the layout (Fortran order, a 2-D
    shape) or the chunk it falls in leaves it alone."""
    x = _big(200_000, np.float64, seed=1)
    x = x[np.isfinite(x)][:180_000]
    base = qf.encode(x, fmt, rounding="stochastic", seed=42)
    y = x.copy()
    y[1::2] = np.random.default_rng(3).standard_normal(y[1::2].size)
    np.testing.assert_array_equal(qf.encode(y, fmt, rounding="stochastic", seed=42)[::2],
                                  base[::2])
    x2 = x.reshape(600, 300)
    np.testing.assert_array_equal(
        qf.encode(np.asfortranarray(x2), fmt, rounding="stochastic", seed=42).reshape(-1), base)
    other = qf.encode(x, fmt, rounding="stochastic", seed=43)
    assert (other != base).mean() > 0.01


_THREAD_SCRIPT = """
import hashlib, numpy as np, qformat as qf
rng = np.random.default_rng(5)
x = rng.standard_normal(1 << 20).astype(np.float32) * 3
h = hashlib.sha256()
for fmt in ("bf16", "fp16", "fp8_e4m3fn"):
    for mode in ("nearest_even", "stochastic", "odd"):
        h.update(qf.encode(x, fmt, rounding=mode, seed=9).tobytes())
        h.update(qf.round(x.astype(np.float64), fmt, rounding=mode, seed=9).tobytes())
print(h.hexdigest())
"""


def test_results_do_not_depend_on_thread_count():
    digests = set()
    for threads in ("1", "2", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert len(next(iter(digests))) == len(hashlib.sha256().hexdigest())
