"""IEEE P3109 formats against gfloat (an independent implementation of the
interim report): every code decodes alike, and rounding agrees in every
rounding mode and both overflow modes gfloat has (sat=False: the format's
rule; sat=True: SatFinite) for every P3109 format with K <= 8 bits and a
sample of wider ones, signed P = K (no exponent bits) included.

gfloat's rounding does not map negative inputs into unsigned formats (it
returns them negative), so unsigned formats are compared on non-negative
inputs; qformat's rule for those (NaN, or 0 for values that round to zero)
is tested separately.

K = 2: binary2p1se and binary2p2se (values 0, ±inf, NaN) have no non-zero
finite value and qformat refuses them (ValueError; gfloat builds them, but
its ``max`` is 0 and ``emax`` fails); for binary2p2ue (0, 0.5, inf, NaN)
gfloat's ``format_info.max`` is 0.75, not a value of the format (its own
decode table's largest finite is 0.5), so where gfloat's rounding returns
that 0.75 the comparison expects 0.5.

Signed P = K: the K - 1 trailing bits are a fixed-point magnitude in steps
of 2**(2 - K) (gfloat's bias floor(2**-1) = 0), qformat's
``FloatFormat(0, K - 1, bias=0)``. Every non-zero value is subnormal.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import qformat as qf

gfloat = pytest.importorskip("gfloat")
from gfloat.formats import format_info_p3109  # noqa: E402
from gfloat.types import Domain, RoundMode, Signedness  # noqa: E402

MODES = {"toward_zero": RoundMode.TowardZero, "down": RoundMode.TowardNegative,
         "up": RoundMode.TowardPositive, "nearest_even": RoundMode.TiesToEven,
         "nearest_away": RoundMode.TiesToAway}


def _cases(ks, ps=None):
    for k in ks:
        for p in ps or range(1, k + 1):
            if p > k:
                continue
            for signed in (True, False):
                for extended in (True, False):
                    yield k, p, signed, extended


# binary2p1se and binary2p2se: 0, ±inf and NaN only (refused, see above)
REFUSED = [(2, 1, True, True), (2, 2, True, True)]
SMALL = [c for c in _cases(range(2, 9)) if c not in REFUSED]
# gfloat's max for binary2p2ue is 0.75; the format's largest finite is 0.5
GFLOAT_WRONG_MAX = {"binary2p2ue": (0.75, 0.5)}
WIDE = [c for c in _cases([10, 12, 16], [3, 5, 8, 11]) if c[0] - c[1] + (not c[2]) <= 10]
# signed P = K for K = 9..16: every code, and every value and midpoint
NO_EXPONENT_WIDE = [(k, k, True, ext) for k in (9, 11, 13, 16) for ext in (True, False)]


def _pair(k, p, signed, extended):
    fi = format_info_p3109(k, p, Signedness.Signed if signed else Signedness.Unsigned,
                           Domain.Extended if extended else Domain.Finite)
    return qf.p3109(k, p, signed=signed, extended=extended), fi


def _inputs(fmt, signed: bool) -> np.ndarray:
    """Every value of the format, the midpoints between neighbours and
    their float64 neighbours, values beyond the range, specials, random."""
    codes = np.arange(1 << fmt.bits, dtype=np.uint64).astype(fmt.storage_dtype)
    v = np.unique(np.abs(qf.decode(codes, fmt)))
    v = v[np.isfinite(v)]
    if v.size < 2:  # binary2p1se: 0 is its only finite value; probe around 1
        v = np.array([0.0, 1.0])
    mids = (v[:-1] + v[1:]) / 2
    top = v[-1] * 2
    near = np.concatenate([np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf)])
    rng = np.random.default_rng(fmt.bits * 131 + fmt.man_bits)
    rand = np.exp2(rng.uniform(np.log2(v[1]) - 3, np.log2(top) + 1, 2000))
    x = np.concatenate([v, mids, near, [v[-1] * 1.25, top, 1e300, np.inf, np.nan], rand,
                        v[1] * np.array([0.25, 0.5, 0.75])])
    return np.concatenate([x, -x]) if signed else x


def _check(k, p, signed, extended) -> int:
    fmt, fi = _pair(k, p, signed, extended)
    codes = np.arange(1 << k, dtype=np.uint64)
    ours = qf.decode(codes.astype(fmt.storage_dtype), fmt)
    theirs = gfloat.decode_ndarray(fi, codes)
    np.testing.assert_array_equal(ours, theirs, err_msg=f"decode {fmt.name}")
    x = _inputs(fmt, signed)
    n = codes.size
    for mode, rnd in MODES.items():
        for sat, overflow in ((False, None), (True, "sat_finite")):
            got = qf.round(x, fmt, rounding=mode, overflow=overflow)
            want = gfloat.round_ndarray(fi, x, rnd, sat)
            if fmt.name in GFLOAT_WRONG_MAX:
                wrong, right = GFLOAT_WRONG_MAX[fmt.name]
                want = np.where(want == wrong, right, want)
            bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
            assert not bad.any(), (f"{fmt.name} {mode} sat={sat}: x={x[bad][:5]} "
                                   f"ours {got[bad][:5]} gfloat {want[bad][:5]}")
            n += x.size
    return n


@pytest.mark.parametrize("k,p,signed,extended", SMALL)
def test_p3109_small_formats_equal_gfloat(k, p, signed, extended):
    assert _check(k, p, signed, extended) > 0


@pytest.mark.parametrize("k,p,signed,extended", WIDE + NO_EXPONENT_WIDE)
def test_p3109_wide_formats_equal_gfloat(k, p, signed, extended):
    assert _check(k, p, signed, extended) > 0


@pytest.mark.parametrize("k,p,signed,extended", REFUSED)
def test_p3109_formats_without_finite_nonzero_values_are_refused(k, p, signed, extended):
    with pytest.raises(ValueError, match="no non-zero finite value"):
        qf.p3109(k, p, signed=signed, extended=extended)


def test_signed_p_equals_k_codes():
    """binary8p8se as gfloat decodes it: 0x7e = 126/64, +inf at 0x7f, the
    NaN at 0x80, -1/64 at 0x81, -inf at 0xff; a FloatFormat without
    exponent bits and bias 0."""
    f = qf.format("binary8p8se")
    assert f == qf.p3109(8, 8) == qf.FloatFormat(0, 7, bias=0, inf=True, nan="fnuz")
    assert (f.exp_bits, f.man_bits, f.bias, f.name) == (0, 7, 0, "binary8p8se")
    codes = np.array([0x00, 0x01, 0x7E, 0x7F, 0x80, 0x81, 0xFF], np.uint8)
    np.testing.assert_array_equal(qf.decode(codes, f),
                                  [0, 1 / 64, 126 / 64, np.inf, np.nan, -1 / 64, -np.inf])
    np.testing.assert_array_equal(qf.decode(np.arange(8, dtype=np.uint8), qf.p3109(3, 3)),
                                  [0, 0.5, 1, np.inf, np.nan, -0.5, -1, -np.inf])
    assert qf.format("binary8p8sf").max_code == 0x7F
    assert qf.decode(np.array([0x7F], np.uint8), "binary8p8sf")[0] == 127 / 64


@pytest.mark.parametrize("k", range(2, 17))
@pytest.mark.parametrize("extended", [True, False])
def test_signed_p_equals_k_limits_equal_gfloat(k, extended):
    """finfo against gfloat's FormatInfo. With no normal numbers,
    smallest_normal (= tiny) is 2**emin = 2, above max, as in gfloat: every
    non-zero value is subnormal, so every inexact result is tiny; eps is
    2**-(P-1), gfloat's machine epsilon, not the step at 1.0 (2**(2-K))."""
    if (k, k, True, extended) in REFUSED:
        pytest.skip("no non-zero finite value")
    f, fi = _pair(k, k, True, extended)
    info = qf.finfo(f)
    assert (info.max, info.min) == (float(fi.max), -float(fi.max))
    assert info.smallest_subnormal == fi.smallest_subnormal == 2.0 ** (2 - k)
    assert info.smallest_normal == info.tiny == fi.smallest_normal == 2.0
    assert info.eps == fi.eps
    assert (info.maxexp, info.minexp, info.nexp, info.nmant) == (fi.maxexp, 1, 0, k - 1)
    assert info.epsneg == 2.0 ** (2 - k)          # 1 - (the largest value below 1)


def test_signed_p_equals_k_explain_and_flags():
    e = qf.explain_bits(0x81, "binary8p8se")
    assert (e.value, e.category, e.binary) == (Fraction(-1, 64), "subnormal", "1 0000001")
    assert (e.next_up, e.next_down) == (Fraction(0), Fraction(-2, 64))
    assert e.fields_of_bits() == ("1", "", "0000001")       # no exponent field
    assert "| sign | fraction |" in str(e) and "0.fraction x 2^1" in str(e)
    e = qf.explain(1.0 / 128, "binary8p8se")                 # a tie below 1/64
    assert (e.value, e.underflow, e.exact) == (Fraction(0), True, False)
    e = qf.explain(1.0 + 1 / 64, "binary8p8se")
    assert e.exact and not e.underflow and e.ulp == Fraction(1, 64)
    e = qf.explain(1.99, "binary8p8se")
    assert e.overflow and e.category == "inf"
    assert qf.explain(1.99, "binary8p8se", rounding="toward_zero").value == Fraction(126, 64)


def test_no_exponent_bits_layouts():
    """FloatFormat(0, m) is any sign-magnitude fixed point with a NaN rule
    that needs no exponent field; the rest is refused with the reason."""
    g = qf.FloatFormat(0, 4, bias=-2, inf=False, nan="none")
    np.testing.assert_array_equal(qf.decode(np.array([0, 15, 17], np.uint8), g),
                                  [0, 15 / 2, -1 / 2])
    assert qf.round(np.array([100.0, -0.3]), g, nan=0).tolist() == [7.5, -0.5]
    assert qf.FloatFormat(0, 7, inf=False, nan="fnuz").bias == 0
    # subnormals=False flushes every value that stays within the range, but
    # one that rounds past the largest code (15/64 > 14/64) still overflows,
    # from float32 (the fast kernel) as from float64
    h = qf.FloatFormat(0, 4, bias=3, inf=False, nan="fn")
    for dtype in (np.float32, np.float64):
        x = np.array([0.2306, -0.2306, 0.1], dtype)
        assert qf.encode(x, h, subnormals=False).tolist() == [0x0F, 0x1F, 0x00]
    with pytest.raises(ValueError, match="all-ones exponent"):
        qf.FloatFormat(0, 7)                          # nan="ieee" needs an exponent
    with pytest.raises(ValueError, match="no exponent field"):
        qf.FloatFormat(0, 7, inf=False, nan="fn", zero=False)
    with pytest.raises(ValueError, match="at least 2 bits"):
        qf.FloatFormat(0, 0, inf=False, nan="none")
    with pytest.raises(ValueError, match="P > K would need more bits"):
        qf.p3109(8, 9, signed=False)


def test_p3109_names_builtins_and_limits():
    f = qf.format("binary8p3se")
    assert f == qf.p3109(8, 3) and f.name == "binary8p3se"
    assert qf.p3109(8, 4, extended=False) == qf.fp8_e4m3fnuz
    assert qf.p3109(8, 3, extended=False) == qf.fp8_e5m2fnuz
    assert qf.finfo(f).max == 49152.0
    codes = np.array([0x7E, 0x7F, 0x80, 0xFF], np.uint8)
    np.testing.assert_array_equal(qf.decode(codes, f), [49152.0, np.inf, np.nan, -np.inf])
    u = qf.p3109(8, 3, signed=False)
    np.testing.assert_array_equal(qf.decode(np.array([0x80, 0xFE, 0xFF], np.uint8), u),
                                  [1.0, np.inf, np.nan])
    with pytest.raises(ValueError, match="no non-zero finite value"):
        qf.p3109(2, 1, extended=True)       # binary2p1se: 0, ±inf, NaN
    np.testing.assert_array_equal(
        qf.decode(np.arange(4, dtype=np.uint8), qf.p3109(2, 2, signed=False)),
        [0.0, 0.5, np.inf, np.nan])
    with pytest.raises(ValueError):
        qf.p3109(17, 3)


def test_p3109_overflow_projections():
    f = qf.p3109(8, 3)
    x = np.array([1e9, np.inf, -np.inf, -1e9])
    assert list(qf.encode(x, f, overflow="sat_finite")) == [0x7E, 0x7E, 0xFE, 0xFE]
    assert list(qf.encode(x, f, overflow="sat_propagate")) == [0x7E, 0x7F, 0xFF, 0xFE]
    assert list(qf.encode(x, f, overflow="ovf_inf")) == [0x7F, 0x7F, 0xFF, 0xFF]
    assert list(qf.encode(x, f)) == [0x7F, 0x7F, 0xFF, 0xFF]
    # unsigned formats: negative values are NaN, those that round to 0 give 0
    u = qf.p3109(8, 3, signed=False)
    assert list(qf.encode(np.array([-1.0, -1e-30]), u)) == [0xFF, 0x00]


def test_p3109_overflow_projections_without_exponent_bits():
    f = qf.p3109(8, 8)
    x = np.array([1.99, np.inf, -np.inf, -1.99, 2.5])
    assert list(qf.encode(x, f, overflow="sat_finite")) == [0x7E, 0x7E, 0xFE, 0xFE, 0x7E]
    assert list(qf.encode(x, f, overflow="sat_propagate")) == [0x7E, 0x7F, 0xFF, 0xFE, 0x7E]
    assert list(qf.encode(x, f, overflow="ovf_inf")) == [0x7F, 0x7F, 0xFF, 0xFF, 0x7F]
    assert list(qf.encode(x, f)) == [0x7F, 0x7F, 0xFF, 0xFF, 0x7F]
    # round-to-odd and toward zero stop at ±max; the finite format has no inf
    assert list(qf.encode(x[[0, 3]], f, rounding="odd")) == [0x7E, 0xFE]
    fin = qf.p3109(8, 8, extended=False)
    assert list(qf.encode(x, fin)) == [0x7F, 0x80, 0x80, 0xFF, 0x80]
