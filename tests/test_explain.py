"""qf.explain / qf.representable: the lecture's quiz answered exactly, for
fp32 and the small formats, against values computed here with Fractions."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import qformat as qf

PI = "3.14159265358979323846264338327950288"
QUIZ = [PI, "1.1e26", "1.1e49", "1.1e-20", "0.0000000000000000000432", "900000000000000000000000"]


def nearest_even(x: Fraction, e_bits: int, m_bits: int, fn: bool = False):
    """Round x > 0 to the ExMy format with IEEE bias, nearest-even, by hand.
    Returns the stored Fraction, or "inf" / "nan" for overflow."""
    bias = 2 ** (e_bits - 1) - 1
    emin = 1 - bias
    emax = (2**e_bits - 1 - bias) if fn else (2**e_bits - 2 - bias)
    top_frac = (2**m_bits - 2) if fn else (2**m_bits - 1)
    largest = (1 + Fraction(top_frac, 2**m_bits)) * Fraction(2) ** emax
    e = max(emin, x.numerator.bit_length() - x.denominator.bit_length())
    while Fraction(2) ** e > x and e > emin:
        e -= 1
    while Fraction(2) ** (e + 1) <= x:
        e += 1
    ulp = Fraction(2) ** (e - m_bits)
    q, r = divmod(x, ulp)
    q += 1 if r > ulp / 2 or (r == ulp / 2 and q % 2 == 1) else 0
    v = q * ulp
    if v > largest:
        return "nan" if fn else "inf"
    return v


def exact_decimal(v: Fraction) -> str:
    """Exact positional decimal of a dyadic Fraction, computed independently."""
    k = 0
    while (v * 10**k).denominator != 1:
        k += 1
    n = str((v * 10**k).numerator).rjust(k + 1, "0")
    return f"{n[:-k]}.{n[-k:]}" if k else n


FORMATS = {"fp32": (8, 23, False), "fp16": (5, 10, False), "bf16": (8, 7, False),
           "fp8_e4m3fn": (4, 3, True)}


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("text", QUIZ)
def test_quiz_questions_exactly(text, fmt):
    e_bits, m_bits, fn = FORMATS[fmt]
    want = nearest_even(Fraction(text), e_bits, m_bits, fn)
    got = qf.explain(text, fmt)
    assert not got.exact
    assert not qf.representable(text, fmt)
    if want in ("inf", "nan"):
        assert got.category == want and got.overflow and got.value is None
        assert got.abs_error is None
        return
    assert got.value == want
    assert got.decimal == (exact_decimal(want) if want else "0")
    assert got.abs_error == abs(want - Fraction(text))
    if want == 0:
        assert got.underflow and got.category == "zero"
    else:
        assert got.rel_error == got.abs_error / Fraction(text)
        # the shortest text reads back to the same bits
        assert qf.explain(got.shortest, fmt).bits == got.bits


def test_the_lecture_answers_in_fp32():
    pi = qf.explain(PI, "fp32")
    assert pi.decimal == "3.1415927410125732421875"
    assert pi.hex == "0x40490fdb" and pi.binary == "0 10000000 10010010000111111011011"
    assert pi.shortest == "3.1415927" and pi.exponent == 1 and pi.category == "normal"
    assert pi.significand == Fraction(0x490FDB | 1 << 23, 1 << 23)
    big = qf.explain("1.1e26", "fp32")
    assert big.decimal == "110000000946866311755988992"
    assert qf.explain("1.1e49", "fp32").decimal == "inf"
    small = Fraction(float(np.float32("1.1e-20")))
    assert qf.explain("1.1e-20", "fp32").decimal == exact_decimal(small)
    assert qf.explain("900000000000000000000000", "fp32").decimal == "899999998052066261991424"
    assert qf.representable("0.5", "fp32") and qf.representable("16777216", "fp32")
    assert not qf.representable("16777217", "fp32")


def test_neighbours_ulp_and_fields():
    one = qf.explain("1", "fp32")
    assert one.exact and one.ulp == Fraction(1, 2**23)
    assert one.next_up == 1 + Fraction(1, 2**23) and one.next_down == 1 - Fraction(1, 2**24)
    zero = qf.explain("-0", "fp16")
    assert zero.sign == 1 and zero.category == "zero" and zero.exact
    assert zero.next_up == Fraction(1, 2**24) and zero.next_down == -Fraction(1, 2**24)
    top = qf.explain("448", "e4m3fn")
    assert top.exact and top.next_up is None and top.next_down == 416
    inf = qf.explain("-inf", "fp32")
    assert inf.value is None and inf.next_up == -qf.explain("3.4028234663852886e38", "fp32").value
    sub = qf.explain("1e-45", "fp32")
    assert sub.category == "subnormal" and sub.exponent == -126 and sub.bits == 1
    assert sub.significand == Fraction(1, 2**23) and sub.underflow
    unsigned = qf.explain("0.75", "e8m0")
    assert unsigned.binary == "01111110" and unsigned.value == Fraction(1, 2)


def test_every_input_type_is_exact():
    f = Fraction(1, 10)
    same = {qf.explain(v, "fp32").bits for v in ("0.1", f, Decimal("0.1"), 0.1, np.float64(0.1))}
    assert same == {0x3DCCCCCD}
    # 0.1 as a float64 is a different number than 1/10: the error says so
    assert qf.explain(0.1, "fp64").exact and not qf.explain("0.1", "fp64").exact
    assert qf.explain(Fraction(1, 3), "fp64").value == Fraction(1 / 3)
    assert qf.explain(2**200 + 1, "fp64").value == 2**200
    assert qf.explain(10**400, "fp64").overflow
    assert qf.explain(-(2**24) - 1, "fp32").value == -(2**24)
    assert qf.explain(np.float32(0.1), "fp32").exact
    assert qf.explain(Decimal("-Infinity"), "bf16").category == "inf"
    assert qf.explain(Decimal("1e-999999999"), "bf16").category == "zero"
    assert qf.explain(float("nan"), "fp16").category == "nan"
    assert qf.representable("nan", "fp16") and not qf.representable("nan", "fp4_e2m1fn")
    assert not qf.representable("inf", "fp8_e4m3fn")


def test_rounding_modes_and_custom_formats():
    assert qf.explain("1.00390625", "bf16").bits == 0x3F80
    assert qf.explain("1.00390625", "bf16", rounding="nearest_away").bits == 0x3F81
    assert qf.explain("-1.001", "bf16", rounding="down").bits == 0xBF81
    assert qf.explain("1e39", "fp32", rounding="toward_zero").bits == 0x7F7FFFFF
    s = {qf.explain("1.001", "bf16", rounding="stochastic", seed=k).bits for k in range(64)}
    assert s == {0x3F80, 0x3F81}
    with pytest.raises(ValueError, match="seed"):
        qf.explain("1.001", "bf16", rounding="stochastic")
    custom = qf.FloatFormat(3, 4, name="e3m4")
    e = qf.explain("0.1", custom)
    # 0.1 is subnormal in e3m4 (ulp 2^-6): 6.4 ulps round to 6
    assert e.format == "e3m4" and e.binary.count(" ") == 2 and e.value == Fraction(6, 64)


def test_reports_and_json():
    e = qf.explain(PI, "bf16")
    d = e.to_dict()
    json.dumps(d)
    assert d["value"] == "201/64" and d["exact"] is False and d["bits"] == 0x4049
    text = str(e)
    for needle in ("3.140625", "sign", "exponent", "fraction", "|  0   |", "10000000", "1001001"):
        assert needle in text
    page = e._repr_html_()
    assert "<table>" in page and "color:" in page and "1001001" in page
    assert "1.5703125" in e.meaning()


def test_explain_bits_and_mistakes():
    e = qf.explain_bits(0x7E, "fp8_e4m3fn")
    assert e.value == 448 and e.exact
    assert qf.explain_bits(0x7F, "fp8_e4m3fn").category == "nan"
    with pytest.raises(ValueError, match="does not fit"):
        qf.explain_bits(0x1FF, "fp8_e4m3fn")
    assert qf.explain("1", "int8").value == 1     # integer formats are explained too
    with pytest.raises(ValueError, match="unknown format"):
        qf.explain("1", "fp33")
    with pytest.raises(TypeError):
        qf.explain(True, "fp32")
    with pytest.raises(TypeError):
        qf.explain([1.0], "fp32")
    with pytest.raises(ValueError, match="no NaN"):
        qf.explain("nan", "fp6_e2m3fn")
