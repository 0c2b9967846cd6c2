"""``explain`` for integer formats and for block formats under a given
block scale, against independent references: Python's ``decimal`` module
(its own rounding modes) and integer arithmetic for integers, the array
conversions for float inputs, and ``qf.quantize`` of blocks whose scale is
the one given for MX."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
    localcontext,
)
from fractions import Fraction

import numpy as np
import pytest
import qformat as qf

INT_FORMATS = [n for n in qf.formats() if isinstance(qf.format(n), qf.IntFormat)]
DECIMAL_MODES = {"nearest_even": ROUND_HALF_EVEN, "nearest_away": ROUND_HALF_UP,
                 "toward_zero": ROUND_DOWN, "up": ROUND_CEILING, "down": ROUND_FLOOR}
MODES = [*DECIMAL_MODES, "odd"]


def _reference_int(x: Fraction, mode: str, lo: int, hi: int) -> tuple[int, bool]:
    """Round with the decimal module (odd: truncate, then make an inexact
    result odd), then saturate."""
    with localcontext() as ctx:
        ctx.prec = 400
        d = Decimal(x.numerator) / Decimal(x.denominator)
        if mode == "odd":
            r = int(d.to_integral_value(rounding=ROUND_DOWN))
            if r != x and r % 2 == 0:
                r += 1 if x > 0 else -1
        else:
            r = int(d.to_integral_value(rounding=DECIMAL_MODES[mode]))
    return min(max(r, lo), hi), not lo <= r <= hi


def _inputs(f: qf.IntFormat) -> list:
    span = [f.min, f.max, 0, 1, -1, f.min - 1, f.max + 1, 2 * f.max + 7, -(2**70)]
    halves = [Fraction(2 * k + 1, 2) for k in (f.min - 1, -1, 0, 1, f.max - 1, f.max)]
    rng = np.random.default_rng(f.bits)
    odd = [Fraction(int(n), 8) for n in rng.integers(-8 * 40, 8 * 40, 30)]
    return span + halves + odd + [Fraction(f.max) + Fraction(1, 3)]


@pytest.mark.parametrize("name", sorted(set(INT_FORMATS) | {"int64", "uint64"}))
@pytest.mark.parametrize("mode", MODES)
def test_integer_explain_equals_decimal_rounding(name, mode):
    f = qf.format(name)
    for x in _inputs(f):
        want, over = _reference_int(Fraction(x), mode, f.min, f.max)
        e = qf.explain(x, name, rounding=mode)
        assert e.value == want and e.overflow == over, (name, mode, x, e.value)
        assert e.exact == (Fraction(x) == want)
        assert e.abs_error == abs(Fraction(x) - want)
        assert e.bits == want & ((1 << f.bits) - 1)
        assert e.hex == f"0x{e.bits:0{(f.bits + 3) // 4}x}"
        assert e.binary.replace(" ", "") == format(e.bits, f"0{f.bits}b")
        assert e.category == ("zero" if want == 0 else "normal") and e.ulp == 1
        assert e.next_up == (want + 1 if want < f.max else None)
        assert e.next_down == (want - 1 if want > f.min else None)
        assert qf.explain_bits(e.bits, name).value == want


@pytest.mark.parametrize("name", INT_FORMATS)
@pytest.mark.parametrize("mode", MODES)
def test_integer_explain_equals_the_array_cast(name, mode):
    """The array conversion (the core's integer cast) of float64 inputs."""
    f = qf.format(name)
    x = np.array([float(v) for v in _inputs(f) if abs(v) < 2**60], np.float64)
    got = qf.encode(x, name, rounding=mode)
    for xi, gi in zip(x, got):
        assert qf.explain(float(xi), name, rounding=mode).value == int(gi), (name, mode, xi)


def test_the_examples_and_flags():
    e = qf.explain(7, "int4")
    assert (e.value, e.exact, e.overflow, e.hex, e.binary) == (7, True, False, "0x7", "0 111")
    e = qf.explain("-9", "int4")
    assert (e.value, e.overflow, e.exact, e.bits) == (-8, True, False, 0x8)
    assert qf.explain("2.5", "uint8").value == 2
    assert qf.explain("2.5", "uint8", rounding="nearest_away").value == 3
    assert qf.explain("-0.5", "uint8").value == 0
    assert qf.explain("-3", "uint8").overflow
    assert qf.explain_bits(0xF, "int4").value == -1
    assert qf.explain_bits(0x1, "int1").value == -1
    assert qf.explain_bits(0x1, "uint1").value == 1
    assert qf.explain("inf", "int8").value == 127 and qf.explain("-inf", "int8").value == -128
    assert qf.explain(Fraction(-7, 2), "int8").value == -4
    assert qf.explain(Decimal("2.5000000001"), "int8").value == 3
    assert qf.representable(7, "int4") and not qf.representable(8, "int4")
    assert not qf.representable("0.5", "int8")
    assert "two's complement" in str(qf.explain(-1, "int4"))
    assert json.loads(json.dumps(qf.explain(-1, "int4").to_dict()))["value"] == "-1"


def test_text_of_any_length_into_integers():
    assert qf.explain("1e-999999999", "int8", rounding="up").value == 1
    assert qf.explain("-1e-999999999", "int8", rounding="down").value == -1
    assert qf.explain("1e-999999999", "int8").value == 0
    e = qf.explain("1e999999999", "int64")
    assert e.value == 2**63 - 1 and e.overflow
    assert qf.explain("2." + "5" * 5000, "int8").value == 3      # above the tie
    assert qf.explain("2.5" + "0" * 5000, "int8").value == 2     # the tie itself, even
    assert qf.explain("3.5" + "0" * 5000 + "1", "int8", rounding="toward_zero").value == 3


def test_integer_errors():
    with pytest.raises(ValueError, match="NaN"):
        qf.explain("nan", "int8")
    with pytest.raises(ValueError, match="stochastic"):
        qf.explain(1.5, "int8", rounding="stochastic", seed=1)
    with pytest.raises(ValueError, match="float formats"):
        qf.explain(1, "int8", profile="torch-cpu")
    with pytest.raises(ValueError, match="fit"):
        qf.explain_bits(16, "int4")


MX = {"mxfp8": "fp8_e4m3fn", "mxfp8_e5m2": "fp8_e5m2", "mxfp6_e2m3": "fp6_e2m3fn",
      "mxfp6_e3m2": "fp6_e3m2fn", "mxfp4": "fp4_e2m1fn"}


@pytest.mark.parametrize("name", MX)
@pytest.mark.parametrize("k", [-20, -3, 0, 5])
def test_mx_explain_equals_quantize_of_a_block_with_that_scale(name, k):
    """A block whose amax is 2^(k + emax) gets the scale 2^k (the OCP rule);
    every other element of it must be what explain says."""
    elem = qf.format(MX[name])
    emax = elem.emax
    scale = 2.0**k
    amax = 2.0 ** (k + emax)
    rng = np.random.default_rng(k + 100)
    x = (rng.uniform(-1, 1, 31 * 20) * amax).astype(np.float32).reshape(20, 31)
    blocks = np.concatenate([np.full((20, 1), amax, np.float32), x], axis=1)
    q = qf.quantize(blocks, name)
    assert np.all(np.asarray(q.scale) == scale)
    values = q.values.reshape(20, 32)
    for i in range(20):
        for j in range(1, 32, 3):
            xv = float(blocks[i, j])
            e = qf.explain(xv, name, scale=scale)
            assert e.bits == int(values[i, j]), (name, k, xv)
            assert e.value == e.element * Fraction(scale)
            assert e.value == Fraction(float(qf.decode(values[i, j:j + 1], elem)[0])) * \
                Fraction(scale)
            assert e.abs_error == abs(e.value - Fraction(xv))
            assert e.scale_bits == k + 127 and e.scale_format == "fp8_e8m0fnu"


def test_block_scale_must_be_a_value_of_the_scale_format():
    e = qf.explain(0.3, "mxfp4", scale=2.0**-3)
    assert (e.element, e.value, e.scale) == (2, Fraction(1, 4), Fraction(1, 8))
    assert e.next_up == Fraction(3, 8) and e.ulp == Fraction(1, 8)
    for bad in (0.3, 0, -0.125, 2.0**128, float("inf")):
        with pytest.raises((ValueError, TypeError)):
            qf.explain(0.3, "mxfp4", scale=bad)
    with pytest.raises(ValueError, match="power"):
        qf.explain(0.3, "mxfp8", scale=3)
    with pytest.raises(ValueError, match="scale"):
        qf.explain(0.3, "mxfp4")
    with pytest.raises(ValueError, match="block formats"):
        qf.explain(0.3, "fp32", scale=1)
    with pytest.raises(ValueError, match="nvfp4"):
        qf.explain(0.3, "mxfp4", scale=1, tensor_scale=2)


def test_nvfp4_block_and_tensor_scales():
    s, t = Fraction(13, 8), Fraction(3, 1024)   # an e4m3 value, a float32 value
    e = qf.explain("0.01", "nvfp4", scale=1.625, tensor_scale=3 / 1024)
    x = Fraction(1, 100)
    want = qf.explain(x / (s * t), "fp4_e2m1fn")
    assert e.bits == want.bits and e.element == want.value
    assert e.value == want.value * s * t and e.abs_error == abs(e.value - x)
    assert e.scale == s * t and e.scale_format == "fp8_e4m3fn"
    assert e.scale_bits == qf.explain(1.625, "fp8_e4m3fn").bits
    with pytest.raises(ValueError, match="e4m3"):
        qf.explain(1, "nvfp4", scale=1.7)       # not an e4m3 value
    with pytest.raises(ValueError, match="float32"):
        qf.explain(1, "nvfp4", scale=1, tensor_scale=0.1)


def test_mxint8_elements_are_integers_times_the_scale():
    e = qf.explain(1.3, "mxint8", scale=2.0**-6)
    assert e.element == 83 and e.value == Fraction(83, 64)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "qformat", *args], capture_output=True,
                          text=True, timeout=60)


def test_cli_explains_integers_and_blocks():
    p = _cli("explain", "7", "int4", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)[0]["value"] == "7"
    p = _cli("explain", "0.3", "mxfp4", "--scale", "0.125", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)[0]
    assert (d["value"], d["element"], d["scale"], d["scale_bits"]) == ("1/4", "2", "1/8", 124)
    p = _cli("explain", "0.3", "mxfp4", "--scale", "0.3")
    assert p.returncode == 2 and "power" in p.stderr
    p = _cli("explain", "0.3", "mxfp4", "--scale", "0.125")
    assert p.returncode == 0 and "block scale" in p.stdout
