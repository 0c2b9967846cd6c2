"""IEEE P3109 formats against gfloat (an independent implementation of the
interim report): every code decodes alike, and rounding agrees in every
rounding mode and both overflow modes gfloat has (sat=False: the format's
rule; sat=True: SatFinite) for every P3109 format with K <= 8 bits and a
sample of wider ones.

gfloat's rounding does not map negative inputs into unsigned formats (it
returns them negative), so unsigned formats are compared on non-negative
inputs; qformat's rule for those (NaN, or 0 for values that round to zero)
is tested separately.

K = 2: binary2p1se (values 0, ±inf, NaN) has no non-zero finite value and
qformat refuses it (ValueError); for binary2p2ue (0, 0.5, inf, NaN) gfloat's
``format_info.max`` is 0.75, not a value of the format (its own decode
table's largest finite is 0.5), so where gfloat's rounding returns that
0.75 the comparison expects 0.5. Signed P = K (no exponent bits; gfloat
decodes them as fixed point) is refused: qformat's float model needs at
least one exponent bit.
"""

from __future__ import annotations

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
            for signed in (True, False):
                if (signed and p >= k) or p > k:
                    continue
                for extended in (True, False):
                    yield k, p, signed, extended


SMALL = [c for c in _cases(range(2, 9)) if c != (2, 1, True, True)]
# gfloat's max for binary2p2ue is 0.75; the format's largest finite is 0.5
GFLOAT_WRONG_MAX = {"binary2p2ue": (0.75, 0.5)}
WIDE = [c for c in _cases([10, 12, 16], [3, 5, 8, 11]) if c[0] - c[1] + (not c[2]) <= 10]


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


@pytest.mark.parametrize("k,p,signed,extended", WIDE)
def test_p3109_wide_formats_equal_gfloat(k, p, signed, extended):
    assert _check(k, p, signed, extended) > 0


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
    with pytest.raises(ValueError):
        qf.p3109(8, 8)                      # signed, no exponent bits
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
