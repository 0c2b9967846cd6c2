"""Stochastic rounding with the caller's own random bits (``random_bits=``)
and a chosen number of them (``sr_bits=``).

The rule: round away from zero exactly when the low ``sr_bits`` bits of the
element's random word, added to as many top discarded bits, carry out. The
references here are independent of qformat: the usual hand-written NumPy
"add 16 random bits to the float32 pattern, then truncate" bfloat16 method,
gfloat's P3109 ``StochasticFastest`` (the same carry, written as
``delta + srbits·2^-n >= 1``), and exact probabilities for the seeded draw.
"""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf

N_BF16 = 1 << 20


def _fp32_patterns(n: int, seed: int) -> np.ndarray:
    """float32 patterns of every kind: random bits (both signs, NaNs,
    infinities), subnormals, values next to bf16's overflow threshold."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    sub = rng.integers(0, 1 << 23, n // 8, dtype=np.uint64).astype(np.uint32)
    top = np.arange(0x7F7F0000, 0x7F800000, 97, dtype=np.uint32)  # below/at fp32 max
    specials = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFFFFFFF,
                         0x7F800001, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF,
                         0x7F7F8000, 0x7F7F7FFF], dtype=np.uint32)
    bits = np.concatenate([raw, sub, sub | 0x80000000, top, top | 0x80000000, specials])
    return bits.view(np.float32)


def _bf16_add_and_truncate(x: np.ndarray, r16: np.ndarray) -> np.ndarray:
    """The common bf16 stochastic rounding, written by hand: add 16 random
    bits to the float32 pattern and keep the top 16 bits. NaNs are quieted
    (the carry would otherwise be free to reach the sign bit)."""
    b = x.view(np.uint32)
    out = ((b + r16.astype(np.uint32)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    out[nan] = ((b[nan] >> 16) | 0x0040).astype(np.uint16)
    return out


def test_random_bits_reproduce_the_bf16_add_and_truncate_method():
    x = _fp32_patterns(N_BF16, 1)
    assert x.size >= 1_000_000
    rng = np.random.default_rng(2)
    r16 = rng.integers(0, 1 << 16, x.size, dtype=np.uint64).astype(np.uint16)
    want = _bf16_add_and_truncate(x, r16)
    got = qf.encode(x, "bf16", rounding="stochastic", random_bits=r16)
    np.testing.assert_array_equal(got, want)
    # uint32 words whose high half is noise: sr_bits=16 uses the low half only.
    r32 = r16.astype(np.uint32) | (rng.integers(0, 1 << 16, x.size, dtype=np.uint64)
                                   .astype(np.uint32) << 16)
    got32 = qf.encode(x, "bf16", rounding="stochastic", random_bits=r32, sr_bits=16)
    np.testing.assert_array_equal(got32, want)
    # round() is the same decision, widened back to float32.
    back = qf.round(x, "bf16", rounding="stochastic", random_bits=r16)
    np.testing.assert_array_equal(back.view(np.uint32), want.astype(np.uint32) << 16)
    # float64 inputs take the exact engine, not the float32 kernel: same bits.
    with np.errstate(invalid="ignore"):  # signalling NaNs quieted by the copy
        x64 = x.astype(np.float64)
    got64 = qf.encode(x64, "bf16", rounding="stochastic", random_bits=r16)
    np.testing.assert_array_equal(got64, want)


def test_the_carry_rounds_as_the_method_says_at_the_edges():
    one_plus = np.array([np.float32(1) + np.float32(2.0**-9)], dtype=np.float32)  # 0x3F804000
    low16 = one_plus.view(np.uint32)[0] & 0xFFFF
    assert low16 == 0x4000
    stay = np.array([0xFFFF - low16], dtype=np.uint16)    # sum 0xFFFF: no carry
    move = np.array([0x10000 - low16], dtype=np.uint16)   # sum 0x10000: carry
    assert qf.encode(one_plus, "bf16", rounding="stochastic", random_bits=stay)[0] == 0x3F80
    assert qf.encode(one_plus, "bf16", rounding="stochastic", random_bits=move)[0] == 0x3F81
    # The largest float32 rounds to bf16's max or, on a carry, to infinity.
    big = np.array([3.4028235e38], dtype=np.float32)
    assert qf.encode(big, "bf16", rounding="stochastic",
                     random_bits=np.array([0], np.uint16))[0] == 0x7F7F
    assert qf.encode(big, "bf16", rounding="stochastic",
                     random_bits=np.array([1], np.uint16))[0] == 0x7F80
    assert qf.encode(big, "bf16", rounding="stochastic", overflow="saturate",
                     random_bits=np.array([1], np.uint16))[0] == 0x7F7F


@pytest.mark.parametrize("fmt", ["fp16", "fp8_e4m3fn", "fp8_e5m2", "fp6_e3m2fn", "bf16"])
@pytest.mark.parametrize("sr_bits", [1, 4, 11, 16, 32])
def test_float32_kernel_equals_the_engine_with_random_bits(fmt, sr_bits):
    """float32 inputs run the fast kernel, their exact float64 copies the
    engine; the caller's words must give both the same bits."""
    x = _fp32_patterns(1 << 16, sr_bits)
    x = x[np.isfinite(x)]
    r = np.random.default_rng(sr_bits).integers(0, 1 << 32, x.size, dtype=np.uint64)
    r = r.astype(np.uint32)
    kw = {"rounding": "stochastic", "random_bits": r, "sr_bits": sr_bits, "overflow": "saturate"}
    np.testing.assert_array_equal(qf.encode(x, fmt, **kw),
                                  qf.encode(x.astype(np.float64), fmt, **kw))


def test_results_are_per_element_whatever_the_split():
    x = np.random.default_rng(5).standard_normal(300_000).astype(np.float32)
    r = np.random.default_rng(6).integers(0, 1 << 8, x.size, dtype=np.uint64).astype(np.uint8)
    whole = qf.encode(x, "fp8_e4m3fn", rounding="stochastic", random_bits=r)
    parts = np.concatenate([
        qf.encode(x[a:b], "fp8_e4m3fn", rounding="stochastic", random_bits=r[a:b])
        for a, b in ((0, 1), (1, 70_001), (70_001, 300_000))])
    np.testing.assert_array_equal(whole, parts)
    # A 2-D input takes words of its own shape.
    x2, r2 = x[:1000].reshape(20, 50), r[:1000].reshape(20, 50)
    np.testing.assert_array_equal(
        qf.encode(x2, "fp8_e4m3fn", rounding="stochastic", random_bits=r2).ravel(), whole[:1000])


@pytest.mark.parametrize("sr_bits,frac,p", [
    (None, 0.3, 0.3),          # 64 bits: the exact probability
    (2, 0.3, 0.25),            # top 2 discarded bits: 0.3 -> 0.01b = 1/4
    (3, 0.3, 0.25),            # 0.3 = 0.0100110...b -> 0.010b = 2/8
    (4, 0.3, 0.25),            # -> 0.0100b
    (5, 0.3, 0.28125),         # -> 0.01001b = 9/32
    (1, 0.75, 0.5),
    (1, 0.4, 0.0),             # below half with one bit: never rounds away
])
def test_seeded_sr_bits_is_unbiased_up_to_its_quantised_probability(sr_bits, frac, p):
    """Mean of many draws of a value between two codes is lo + P·(hi−lo),
    where P = floor(frac·2^N)/2^N: the discarded bits below the N compared
    ones never carry. Checked within 5σ, and P is not frac when it must not be."""
    n = 1_000_000
    lo, hi = 1.0, 1.0 + 2.0**-7   # neighbouring bf16 values
    x = np.full(n, lo + frac * (hi - lo))
    got = qf.round(x, "bf16", rounding="stochastic", seed=12345, sr_bits=sr_bits)
    assert set(np.unique(got)) <= {lo, hi}
    mean_p = (got.mean() - lo) / (hi - lo)
    sigma = max(np.sqrt(p * (1 - p) / n), 1e-12)
    assert abs(mean_p - p) <= 5 * sigma, (mean_p, p, sigma)
    if p != frac:
        assert abs(mean_p - frac) > 5 * max(sigma, np.sqrt(frac * (1 - frac) / n))


def test_seeded_default_is_unchanged_by_naming_all_64_bits():
    x = np.random.default_rng(3).standard_normal(10_000)
    a = qf.encode(x, "fp8_e5m2", rounding="stochastic", seed=9)
    b = qf.encode(x, "fp8_e5m2", rounding="stochastic", seed=9, sr_bits=64)
    np.testing.assert_array_equal(a, b)


def test_random_bits_errors_are_clear():
    x = np.ones(4, np.float32)
    r = np.zeros(4, np.uint16)
    with pytest.raises(ValueError, match="stochastic"):
        qf.encode(x, "bf16", random_bits=r)
    with pytest.raises(ValueError, match="stochastic"):
        qf.encode(x, "bf16", rounding="nearest_even", random_bits=r)
    with pytest.raises(ValueError, match="stochastic"):
        qf.encode(x, "bf16", sr_bits=8)
    with pytest.raises(ValueError, match="shape"):
        qf.encode(x, "bf16", rounding="stochastic", random_bits=r[:3])
    with pytest.raises(TypeError, match="unsigned"):
        qf.encode(x, "bf16", rounding="stochastic", random_bits=r.astype(np.int32))
    with pytest.raises(TypeError, match="unsigned"):
        qf.encode(x, "bf16", rounding="stochastic", random_bits=r.astype(np.float32))
    for bad in (0, 65, -1):
        with pytest.raises(ValueError, match="sr_bits"):
            qf.encode(x, "bf16", rounding="stochastic", seed=1, sr_bits=bad)
    with pytest.raises(TypeError, match="sr_bits"):
        qf.encode(x, "bf16", rounding="stochastic", seed=1, sr_bits=True)
    with pytest.raises(ValueError, match="holds only 16 bits"):
        qf.encode(x, "bf16", rounding="stochastic", random_bits=r, sr_bits=17)
    with pytest.raises(ValueError, match="not both"):
        qf.encode(x, "bf16", rounding="stochastic", random_bits=r, seed=3)
    with pytest.raises(ValueError, match="integer"):
        qf.encode(x, "int8", rounding="stochastic", random_bits=r)
    with pytest.raises(ValueError, match="integer"):
        qf.encode(np.ones(4, np.int32), "bf16", rounding="stochastic", random_bits=r)
    with pytest.raises(ValueError, match="stochastic"):
        qf.round(x, "bf16", random_bits=r)


gfloat = pytest.importorskip("gfloat")


def _p3109_cases():
    # (8, 8), (5, 5), (3, 3): signed P = K has no exponent bits (fixed point)
    for k, p in ((8, 3), (8, 4), (8, 1), (6, 3), (4, 2), (3, 1), (8, 8), (5, 5), (3, 3)):
        for signed in (True, False):
            for extended in (True, False):
                yield k, p, signed, extended


@pytest.mark.parametrize("k,p,signed,extended", list(_p3109_cases()))
@pytest.mark.parametrize("srnumbits", [1, 3, 8, 13])
def test_p3109_random_bits_equal_gfloat_stochastic_fastest(k, p, signed, extended, srnumbits):
    """gfloat's StochasticFastest rounds away when delta + srbits·2^-n >= 1,
    the carry of sr_bits=n: every result must be equal, with saturation off
    and on (SatFinite)."""
    from gfloat.formats import format_info_p3109
    from gfloat.types import Domain, RoundMode, Signedness

    fmt = qf.p3109(k, p, signed=signed, extended=extended)
    fi = format_info_p3109(k, p, Signedness.Signed if signed else Signedness.Unsigned,
                           Domain.Extended if extended else Domain.Finite)
    codes = np.arange(1 << k, dtype=np.uint64).astype(fmt.storage_dtype)
    v = np.abs(qf.decode(codes, fmt))
    top = np.nanmax(v[np.isfinite(v)])
    rng = np.random.default_rng(k * 100 + p)
    low = -max(2 * (1 << (k - p)), k + 2)  # below the smallest subnormal
    x = np.exp2(rng.uniform(low, np.log2(top) + 1, 40_000)).astype(np.float32)
    x = np.concatenate([x, [0, np.inf]]).astype(np.float64)
    if signed:
        x = np.concatenate([x, -x])
    srbits = rng.integers(0, 1 << srnumbits, x.size, dtype=np.int64)
    for sat, overflow in ((False, None), (True, "sat_finite")):
        want = gfloat.round_ndarray(fi, x, RoundMode.StochasticFastest, sat, srbits, srnumbits)
        got = qf.round(x, fmt, rounding="stochastic", overflow=overflow,
                       random_bits=srbits.astype(np.uint16), sr_bits=srnumbits)
        bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
        assert not bad.any(), (fmt.name, sat, x[bad][:5], got[bad][:5], want[bad][:5])
