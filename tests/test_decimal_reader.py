"""The exact number reader: agreement with Python/NumPy on a million random
strings, with an exact Fraction reference in every rounding mode (ties and
one digit off a tie included), a fuzz test over arbitrary text, and hostile
inputs that must answer fast."""

from __future__ import annotations

import math
import random
import struct
import time
from fractions import Fraction

import numpy as np
import pytest
import qformat as qf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qformat import _native

MODES = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic")


def read_many(strings: list[str], fmt: str, rounding: str = "nearest_even", seed=None):
    return _native.read_encode_many("\n".join(strings), qf.format(fmt), rounding, seed)


def random_decimal_strings(n: int, seed: int, exp_lo: int, exp_hi: int) -> list[str]:
    """Mantissas of 1..40 digits with the point anywhere, signs, exponents."""
    rng = np.random.default_rng(seed)
    heads = rng.integers(0, 10**18, n)
    tails = rng.integers(0, 10**18, n)
    lens = rng.integers(1, 41, n)
    points = rng.integers(0, 41, n)
    exps = rng.integers(exp_lo, exp_hi, n)
    signs = rng.integers(0, 3, n)
    out = []
    for h, t, ln, p, e, s in zip(heads.tolist(), tails.tolist(), lens.tolist(), points.tolist(),
                                 exps.tolist(), signs.tolist()):
        digits = (str(h) + str(t).zfill(18) + "1234")[:ln]
        if p < ln:
            digits = digits[:p] + "." + digits[p:]
        sign = "-" if s == 0 else ("+" if s == 1 and e % 7 == 0 else "")
        out.append(f"{sign}{digits}e{e}" if e % 5 else f"{sign}{digits}")
    return out


def test_agrees_with_python_float_and_numpy_float32_on_a_million_strings():
    strings = random_decimal_strings(1_000_000, 1, -345, 330)
    got64 = read_many(strings, "fp64")
    want64 = np.array([float(s) for s in strings], dtype=np.float64).view(np.uint64)
    bad = np.flatnonzero(got64 != want64)
    assert bad.size == 0, [strings[i] for i in bad[:5]]

    strings32 = random_decimal_strings(1_000_000, 2, -50, 42)
    got32 = read_many(strings32, "fp32")
    with np.errstate(over="ignore"):
        want32 = np.array(strings32).astype(np.float32).view(np.uint32)
    bad = np.flatnonzero(got32 != want32)
    # np.float32(str) goes through float64 first (double rounding); any
    # disagreement must be such a case, decided by the exact reference.
    for i in bad:
        assert got32[i] == ref_bits(Fraction(strings32[i]), "fp32", "nearest_even")


def test_classic_hard_cases_in_fp64():
    cases = ["2.2250738585072011e-308", "2.2250738585072012e-308", "4.9406564584124654e-324",
             "2.4703282292062327e-324", "2.4703282292062328e-324", "1.7976931348623158e308",
             "1.7976931348623159e308", "9007199254740993", "0.1", "1e23", "8.5e-323",
             "1.00000000000000011102230246251565404236316680908203125",
             "1.00000000000000011102230246251565404236316680908203125" + "0" * 3000 + "1",
             "0x1.fffffffffffff8p1023", "0x1.fffffffffffff7ffffp1023", "-0x1p-1074", "0x1p-1075",
             "0x1.0000000000001p-1075"]
    got = read_many(cases, "fp64")
    for s, g in zip(cases, got):
        try:
            want = float.fromhex(s) if "0x" in s else float(s)
        except OverflowError:  # fromhex refuses what rounds to inf
            want = math.inf
        assert int(g) == struct.unpack("<Q", struct.pack("<d", want))[0], s


# --- an exact reference, written from the format definition --------------------------

def finite_values(fmt: str) -> list[tuple[int, Fraction]]:
    """(code, value) of every non-negative finite pattern, in value order."""
    f = qf.format(fmt)
    out = []
    for code in range(f.max_code + 1):
        v = f.value_of(code)
        if isinstance(v, Fraction) and not (v == 0 and code != 0):
            out.append((code, v))
    return out


_TABLES: dict[str, tuple[list[int], list[Fraction]]] = {}


def ref_bits(x: Fraction, fmt: str, mode: str) -> int:
    """Correct rounding of the exact ``x`` (within the finite range, or just
    beyond it for IEEE formats) by the book: two neighbours and a rule."""
    f = qf.format(fmt)
    if fmt not in _TABLES:
        vals = finite_values(fmt)
        _TABLES[fmt] = ([c for c, _ in vals], [v for _, v in vals])
    codes, values = _TABLES[fmt]
    neg, a = x < 0, abs(x)
    import bisect
    i = bisect.bisect_right(values, a) - 1
    if values[i] == a:
        code = codes[i]
    else:
        assert i + 1 < len(codes), "the reference covers the finite range only"
        code = choose((codes[i], values[i]), (codes[i + 1], values[i + 1]), a, neg, mode)
    return (f.sign_bit if neg and (code or f.nan != "fnuz") else 0) | code


def choose(lo, hi, a, neg, mode):
    (cl, vl), (ch, vh) = lo, hi
    away = {"toward_zero": False, "up": not neg, "down": neg, "odd": cl % 2 == 0}.get(mode)
    if away is None:
        d = (a - vl) - (vh - a)
        away = d > 0 or (d == 0 and (mode == "nearest_away" or cl % 2 == 1))
    return ch if away else cl


def decimal_text(x: Fraction) -> str:
    """Exact positional decimal of a Fraction with a finite expansion."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    k = 0
    while (x * 10**k).denominator != 1:
        k += 1
    n = str((x * 10**k).numerator).rjust(k + 1, "0")
    return f"{sign}{n[:-k]}.{n[-k:]}" if k else sign + n


def cases_for(fmt: str, n_pairs: int, seed: int):
    """Exact values, ties, one digit off ties, and interior points."""
    rng = random.Random(seed)
    vals = finite_values(fmt)
    pairs = list(zip(vals, vals[1:]))
    if len(pairs) > n_pairs:
        pairs = pairs[:20] + rng.sample(pairs, n_pairs - 40) + pairs[-20:]
    out = []
    for (_, vl), (_, vh) in pairs:
        sign = -1 if rng.random() < 0.5 else 1
        tie = (vl + vh) / 2
        t = decimal_text(tie)
        # one unit in the digit just after the tie's last digit
        step = Fraction(1, 10 ** (len(t.split(".")[1]) + 1)) if "." in t else Fraction(1, 10)
        inside = vl + (vh - vl) * Fraction(rng.randint(1, 999), 1000)
        out += [sign * x for x in (vl, tie, tie + step, tie - step, inside)]
    return out


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2"])
def test_exact_reference_in_every_mode_on_ties_and_near_ties(fmt):
    xs = cases_for(fmt, 1500, seed=len(fmt))
    texts = [decimal_text(x) for x in xs]
    for mode in MODES:
        got = read_many(texts, fmt, mode, seed=7 if mode == "stochastic" else None)
        for x, g, t in zip(xs, got.tolist(), texts):
            if mode == "stochastic":
                # one of the two neighbours (the value itself when exact)
                assert g in (ref_bits(x, fmt, "up"), ref_bits(x, fmt, "down")), t
            else:
                assert g == ref_bits(x, fmt, mode), (fmt, mode, t)


def test_one_digit_off_a_tie_is_decided_by_that_digit():
    # 1 + 2^-8 is the tie between bf16 1.0 and 1.0078125.
    assert read_many(["1.00390625", "1.003906250000000000000000001", "1.00390624999999999"],
                     "bf16").tolist() == [0x3F80, 0x3F81, 0x3F80]


# --- fuzzing and hostile input ---------------------------------------------------------

@settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_never_crashes(text):
    try:
        bits, *_ = _native.read_encode(text, qf.fp32)
    except ValueError as e:
        assert "cannot read" in str(e)
    else:
        assert 0 <= bits < 2**32


NUMBERISH = st.from_regex(
    r"\A[ \t]?[+-]?([0-9]{0,25}\.?[0-9]{0,25}|inf|nan|Infinity)([eE][+-]?[0-9]{0,4})?[ \t]?\Z",
    fullmatch=True)


@settings(max_examples=600, deadline=1000)
@given(NUMBERISH)
def test_number_like_text_agrees_with_float(text):
    try:
        want = float(text)
    except ValueError:
        with pytest.raises(ValueError):
            _native.read_encode(text, qf.fp64)
        return
    bits = _native.read_encode(text, qf.fp64)[0]
    if math.isnan(want):
        assert qf.fp64.is_nan(bits)
    else:
        assert bits == struct.unpack("<Q", struct.pack("<d", want))[0], text


@pytest.mark.parametrize("text,want", [
    ("1e-999999999", 0),
    ("-1e-999999999", 0x80000000),
    ("1e999999999999999999", 0x7F800000),
    ("1e999999999999999999999999999999999999999", 0x7F800000),
    ("0." + "0" * 10**6 + "1", 0),
    ("9" * 10**6, 0x7F800000),
    ("0." + "3" * 10**6, 0x3EAAAAAB),
    ("0x1p-99999999999999", 0),
    ("0x" + "f" * 10**6, 0x7F800000),
])
def test_hostile_inputs_answer_fast(text, want):
    t0 = time.perf_counter()
    bits, exact, overflow, underflow = _native.read_encode(text, qf.fp32)
    assert time.perf_counter() - t0 < 1.0
    assert bits == want
    assert not exact
    assert overflow == (want == 0x7F800000)
    assert underflow == (want in (0, 0x80000000))


def test_hostile_explain_is_fast_too():
    for text in ("1e-999999999", "1e999999999999999999", "0." + "0" * 10**6 + "1", "9" * 10**6):
        t0 = time.perf_counter()
        e = qf.explain(text, "fp32")
        assert time.perf_counter() - t0 < 1.0
        assert e.category in ("zero", "inf") and not e.exact


@pytest.mark.parametrize("text,needle", [
    ("", "empty"), ("1_000", "separators"), ("1,5", "separators"), ("1e", "exponent"),
    ("1.2.3", "position 4"), ("0x", "hex digits"), ("--1", "position 2"), ("1e5x", "'x'"),
    ("nanx", "'n'"), ("٣", "position 1"),
])
def test_malformed_text_says_what_is_wrong(text, needle):
    with pytest.raises(ValueError, match="cannot read") as info:
        qf.explain(text, "fp32")
    assert needle in str(info.value)


def test_bulk_reader_reports_the_line():
    with pytest.raises(ValueError, match="line 2"):
        read_many(["1", "x", "3"], "fp32")
