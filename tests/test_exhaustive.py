"""Every bit pattern of every float format of at most 16 bits (tf32's 2^19
too, and a few custom ExMy formats): decoding agrees with ml_dtypes, numpy
and torch where they have the format and with the exact reference in
``_exact.py`` everywhere; NaN patterns widen by the documented bit-shift
rule; encode(decode(b)) == b for every non-NaN pattern (from float64 and
float32); and ``round`` is idempotent on every pattern in every mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qformat as qf
from _exact import MODES, Layout
from _optional import lazy, resolve

ml_dtypes = lazy("ml_dtypes")
torch = lazy("torch")

CUSTOM = {
    "e3m2": qf.FloatFormat(3, 2),
    "e5m4_b10": qf.FloatFormat(5, 4, bias=10),
    "e6m1fn": qf.FloatFormat(6, 1, inf=False, nan="fn"),
    "e4m3b11fnuz": qf.FloatFormat(4, 3, bias=11, inf=False, nan="fnuz"),
    "e4m3_ieee": qf.FloatFormat(4, 3),
    "e3m4": qf.FloatFormat(3, 4),
    "ue5m3": qf.FloatFormat(5, 3, signed=False),
    "e2m0nonan": qf.FloatFormat(2, 0, inf=False, nan="none"),
    "e7m8": qf.FloatFormat(7, 8, bias=70),
    "e8m0fnu_like_b100": qf.FloatFormat(8, 0, bias=100, signed=False, inf=False, nan="fn",
                                        zero=False),
}
BUILTIN = ["fp16", "bf16", "fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2", "fp8_e5m2fnuz",
           "fp8_e8m0fnu", "fp6_e2m3fn", "fp6_e3m2fn", "fp4_e2m1fn", "tf32"]
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

ALL = [pytest.param(qf.format(n), id=n) for n in BUILTIN] + [
    pytest.param(f, id=k) for k, f in CUSTOM.items()]

# Library decoders: (format, function from uint codes to float64).
ML = {
    "bf16": "ml_dtypes.bfloat16", "fp8_e4m3fn": "ml_dtypes.float8_e4m3fn",
    "fp8_e4m3fnuz": "ml_dtypes.float8_e4m3fnuz", "fp8_e5m2": "ml_dtypes.float8_e5m2",
    "fp8_e5m2fnuz": "ml_dtypes.float8_e5m2fnuz", "fp8_e8m0fnu": "ml_dtypes.float8_e8m0fnu",
    "fp6_e2m3fn": "ml_dtypes.float6_e2m3fn", "fp6_e3m2fn": "ml_dtypes.float6_e3m2fn",
    "fp4_e2m1fn": "ml_dtypes.float4_e2m1fn", "e4m3b11fnuz": "ml_dtypes.float8_e4m3b11fnuz",
    "e4m3_ieee": "ml_dtypes.float8_e4m3", "e3m4": "ml_dtypes.float8_e3m4", "fp16": np.float16,
}
TORCH = {
    "fp16": "torch.float16", "bf16": "torch.bfloat16", "fp8_e4m3fn": "torch.float8_e4m3fn",
    "fp8_e4m3fnuz": "torch.float8_e4m3fnuz", "fp8_e5m2": "torch.float8_e5m2",
    "fp8_e5m2fnuz": "torch.float8_e5m2fnuz", "fp8_e8m0fnu": "torch.float8_e8m0fnu",
}


def _key(fmt) -> str:
    for k, f in CUSTOM.items():
        if f is fmt:
            return k
    return fmt.name


def _codes(fmt) -> np.ndarray:
    return np.arange(1 << fmt.bits, dtype=np.uint64).astype(fmt.storage_dtype)


def _same_values(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal as values, signed zeros told apart, NaN equal to NaN."""
    nan = np.isnan(theirs)
    np.testing.assert_array_equal(np.isnan(ours), nan)
    a, b = ours[~nan], theirs[~nan]
    bad = np.flatnonzero((a != b) | (np.signbit(a) != np.signbit(b)))
    first = bad[:5]
    assert bad.size == 0, f"mismatches at non-NaN positions {first}: {a[first]} vs {b[first]}"


def _fits(fmt, m: int, emin: int, emax: int) -> bool:
    """True when every finite value of ``fmt`` is a value of the IEEE format
    with ``m`` fraction bits and normal exponents emin..emax."""
    L = Layout.of(fmt)
    top = L.max_code >> L.m
    fmt_emax = L.emin + top - (1 if L.has_zero else 0)
    return L.m <= m and fmt_emax <= emax and L.emin - L.m >= emin - m


def _fits_f32(fmt) -> bool:
    return _fits(fmt, 23, -126, 127)


@pytest.mark.parametrize("fmt", ALL)
def test_decode_matches_exact_reference(fmt):
    L = Layout.of(fmt)
    codes = _codes(fmt)
    ours = qf.decode(codes, fmt)
    assert ours.dtype == np.float64 and ours.shape == codes.shape
    ref = np.array([float(L.value(int(c))) for c in codes])
    _same_values(ours, ref)
    if _fits_f32(fmt):
        _same_values(qf.decode(codes, fmt, dtype=np.float32).astype(np.float64), ref)


@pytest.mark.parametrize("key", sorted(ML))
def test_decode_matches_ml_dtypes_and_numpy(key):
    fmt = CUSTOM.get(key) or qf.format(key)
    codes = _codes(fmt)
    ml = resolve(ML[key])
    theirs = codes.view(ml) if fmt.bits in (8, 16) else codes.astype(np.uint8).view(ml)
    theirs64 = theirs.astype(np.float64)
    _same_values(qf.decode(codes, fmt), theirs64)
    if _fits_f32(fmt):
        _same_values(qf.decode(codes, fmt, dtype=np.float32), theirs.astype(np.float32))


@pytest.mark.parametrize("key", sorted(TORCH))
def test_decode_matches_torch(key):
    fmt = qf.format(key)
    codes = _codes(fmt)
    t = torch.from_numpy(codes.view(np.int16 if fmt.bits == 16 else np.int8).copy())
    theirs = t.view(resolve(TORCH[key])).to(torch.float64).numpy()
    _same_values(qf.decode(codes, fmt), theirs)


def _shift_nan(L: Layout, code: int, out_m: int, out_e: int) -> int:
    """A NaN pattern widened by the bit-shift rule: sign kept, fraction bits
    left-aligned; where that leaves no fraction (fn/fnuz patterns without
    payload, e8m0) the wide format's default quiet NaN with the sign
    (fnuz NaN is the negative-zero pattern, so it is negative)."""
    neg = bool(code & L.sign_bit) or L.nan == "fnuz"
    frac = code & ((1 << L.m) - 1)
    wide_frac = frac << (out_m - L.m)
    if L.nan == "fnuz" or wide_frac == 0:
        wide_frac = 1 << (out_m - 1)
    return (int(neg) << (out_e + out_m)) | (((1 << out_e) - 1) << out_m) | wide_frac


@pytest.mark.parametrize("fmt", [p for p in ALL if Layout.of(p.values[0]).nan != "none"])
def test_decoded_nan_bits_follow_the_shift_rule(fmt):
    L = Layout.of(fmt)
    codes = np.array([c for c in range(1 << fmt.bits) if L.is_nan(c)], dtype=np.uint64)
    assert codes.size > 0
    codes = codes.astype(fmt.storage_dtype)
    wide = qf.decode(codes, fmt).view(np.uint64)
    assert [int(w) for w in wide] == [_shift_nan(L, int(c), 52, 11) for c in codes]
    if _fits_f32(fmt):
        narrow = qf.decode(codes, fmt, dtype=np.float32).view(np.uint32)
        assert [int(w) for w in narrow] == [_shift_nan(L, int(c), 23, 8) for c in codes]


@pytest.mark.parametrize("fmt", ALL)
def test_encode_of_decode_is_identity(fmt):
    L = Layout.of(fmt)
    codes = _codes(fmt)
    keep = np.array([not L.is_nan(int(c)) for c in codes])
    codes = codes[keep]
    np.testing.assert_array_equal(qf.encode(qf.decode(codes, fmt), fmt), codes)
    if _fits_f32(fmt):
        f32 = qf.decode(codes, fmt, dtype=np.float32)
        np.testing.assert_array_equal(qf.encode(f32, fmt), codes)
        if _fits(fmt, 10, -14, 15):
            # every value of these formats is a float16: the 16-bit table path
            np.testing.assert_array_equal(qf.encode(f32.astype(np.float16), fmt), codes)


@pytest.mark.parametrize("fmt", ALL)
@pytest.mark.parametrize("rounding", MODES + ("stochastic",))
def test_round_is_idempotent(fmt, rounding):
    kw = {"seed": 7} if rounding == "stochastic" else {}
    if Layout.of(fmt).nan == "none":
        kw["nan"] = 0
    x = qf.decode(_codes(fmt), fmt)
    once = qf.round(x, fmt, rounding=rounding, **kw)
    fin = ~np.isnan(x)
    # representable values come back unchanged, bit for bit (signed zeros too)
    np.testing.assert_array_equal(once[fin].view(np.uint64), x[fin].view(np.uint64))
    twice = qf.round(once, fmt, rounding=rounding, **kw)
    np.testing.assert_array_equal(twice.view(np.uint64), once.view(np.uint64))
    if _fits_f32(fmt):
        x32 = x.astype(np.float32)
        once32 = qf.round(x32, fmt, rounding=rounding, **kw)
        assert once32.dtype == np.float32
        np.testing.assert_array_equal(once32[fin].view(np.uint32), x32[fin].view(np.uint32))
        again = qf.round(once32, fmt, rounding=rounding, **kw)
        np.testing.assert_array_equal(again.view(np.uint32), once32.view(np.uint32))


def test_reference_itself_agrees_with_ml_dtypes():
    """Guard on the reference: it decodes e4m3fn exactly as ml_dtypes does."""
    L = Layout.of(qf.fp8_e4m3fn)
    theirs = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float64)
    for c in range(256):
        v = L.value(c)
        assert (math.isnan(v) and math.isnan(theirs[c])) or float(v) == theirs[c]
