"""Exact queries for formats that are not plain floats: integer formats
(``explain(7, "int4")``) and block formats under a given block scale
(``explain(x, "mxfp4", scale=2.0**-3)``).

Integers round the input's exact value (a Fraction) with Python integer
arithmetic and saturate, as integer conversions do by default. Block
formats divide the input exactly by the block's scale (which must be a
value of the block's scale format) and explain the quotient in the
element format; the stored value is then element × scale.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, Optional

from . import _native
from ._formats import IntFormat, float_format

__all__ = ["text_value", "round_to_int", "int_explanation", "BLOCK_FORMATS", "block_parts",
           "scaled"]

# Far below the spacing of float64 at any magnitude under 2**52.
_NUDGE = Fraction(1, 2**1100)


def text_value(text: str) -> Optional[Fraction]:
    """The value of number text too long to rebuild exactly, for integer
    rounding: the core reads it into float64 toward zero (exactly deciding
    whether anything was dropped); below 2**52 a dropped tail is a nudge
    toward the next float64, which keeps every floor, ceil and tie
    decision; from 2**64 up every integer format saturates anyway.
    None for inf/nan."""
    kind, neg = _native.scan_number(text)[:2]
    if kind != "finite":
        return None
    fp64 = float_format("fp64")
    bits, exact, _, _ = _native.read_encode(text, fp64, "toward_zero", None)
    t = fp64.value_of(int(bits))
    assert isinstance(t, Fraction)
    if exact or abs(t) >= 2**64:
        return t
    if abs(t) < 2**52:
        return t - _NUDGE if neg else t + _NUDGE
    raise ValueError(f"{text[:30]}… has too many digits to round exactly into an integer "
                     "format between 2**52 and 2**64")


def round_to_int(v: Fraction, rounding: str) -> int:
    """``v`` rounded to an integer in one of the deterministic modes."""
    fl = math.floor(v)
    frac = v - fl
    if frac == 0:
        return fl
    half = Fraction(1, 2)
    up = {
        "nearest_even": frac > half or (frac == half and fl % 2 == 1),
        "nearest_away": frac > half or (frac == half and v > 0),
        "toward_zero": v < 0,
        "up": True,
        "down": False,
        "odd": fl % 2 == 0,
    }
    if rounding not in up:
        raise ValueError(f"explain() rounds into integer formats with nearest_even, "
                         f"nearest_away, toward_zero, up, down or odd, not {rounding!r}")
    return fl + int(up[rounding])


def int_binary(f: IntFormat, bits: int) -> str:
    """The pattern in binary; a signed format's sign bit stands apart."""
    s = format(bits, f"0{f.bits}b")
    return f"{s[0]} {s[1:]}" if f.signed and f.bits > 1 else s


def int_explanation(cls: Any, f: IntFormat, value: int, display: str, rounding: str,
                    x: Optional[Fraction], overflow: bool, known: bool) -> Any:
    """The Explanation of the integer ``value`` stored in ``f`` for the
    input ``x`` (None: inf); ``known`` says x is the input's exact value."""
    bits = value & ((1 << f.bits) - 1)
    stored = Fraction(value)
    exact = x is not None and known and x == stored
    abs_error = rel_error = None
    if exact:
        abs_error = rel_error = Fraction(0)
    elif x is not None and known:
        abs_error = abs(stored - x)
        rel_error = abs_error / abs(x) if x != 0 else None
    return cls(
        input=display, format=f.name, rounding=rounding, exact=exact, value=stored,
        decimal=str(value), shortest=str(value), bits=bits,
        hex=f"0x{bits:0{(f.bits + 3) // 4}x}", binary=int_binary(f, bits),
        sign=int(value < 0), exponent=0, significand=abs(stored),
        category="zero" if value == 0 else "normal", overflow=overflow, underflow=False,
        abs_error=abs_error, rel_error=rel_error, ulp=Fraction(1),
        next_up=Fraction(value + 1) if value < f.max else None,
        next_down=Fraction(value - 1) if value > f.min else None,
        _int_fmt=f,
    )


# Block formats: element format and scale format. MX (OCP): e8m0 scales,
# powers of two; NVFP4: e4m3 block scales, times a float32 tensor scale.
BLOCK_FORMATS = {
    "mxfp8": ("fp8_e4m3fn", "fp8_e8m0fnu"), "mxfp8_e4m3": ("fp8_e4m3fn", "fp8_e8m0fnu"),
    "mxfp8_e5m2": ("fp8_e5m2", "fp8_e8m0fnu"), "mxfp6_e2m3": ("fp6_e2m3fn", "fp8_e8m0fnu"),
    "mxfp6_e3m2": ("fp6_e3m2fn", "fp8_e8m0fnu"), "mxfp4": ("fp4_e2m1fn", "fp8_e8m0fnu"),
    "mxint8": ("int8", "fp8_e8m0fnu"), "nvfp4": ("fp4_e2m1fn", "fp8_e4m3fn"),
}


def _exact_number(v: Any, what: str) -> Fraction:
    if isinstance(v, bool):
        raise TypeError(f"{what} must be a number, not a bool")
    if isinstance(v, str):
        if len(v) > 200:
            raise ValueError(f"{what} text is too long")
        q = text_value(v)
        if q is None:
            raise ValueError(f"{what} must be finite, not {v!r}")
        return q
    try:
        return Fraction(v)
    except (OverflowError, ValueError) as e:
        raise ValueError(f"{what} must be finite, not {v!r}") from e
    except TypeError as e:
        raise TypeError(f"{what} must be a number, not {v!r}") from e


def block_parts(name: str, scale: Any, tensor_scale: Any) -> tuple[str, Fraction, int, str]:
    """(element format name, the total scale, the block scale's code in its
    scale format, the scale format name) for the block format ``name``;
    ValueError when the scale is not a value of the scale format."""
    elem, scale_fmt = BLOCK_FORMATS[name]
    s = _exact_number(scale, "scale")
    sf = float_format(scale_fmt)
    code = int(_native.ratio_encode(s < 0, f"{abs(s.numerator):x}", f"{s.denominator:x}",
                                    sf, "nearest_even", None)[0]) if s > 0 else None
    if code is None or sf.value_of(code) != s:
        if scale_fmt == "fp8_e8m0fnu":
            raise ValueError(f"{name} block scales are powers of two from 2**-127 to 2**127 "
                             f"(e8m0); {scale!r} is not one")
        raise ValueError(f"{name} block scales are positive {scale_fmt} values; "
                         f"{scale!r} is not one")
    total = s
    if tensor_scale is not None:
        if scale_fmt == "fp8_e8m0fnu":
            raise ValueError(f"tensor_scale= applies to nvfp4; {name} has block scales only")
        t = _exact_number(tensor_scale, "tensor_scale")
        fp32 = float_format("fp32")
        if not t > 0 or fp32.value_of(int(_native.ratio_encode(
                False, f"{t.numerator:x}", f"{t.denominator:x}", fp32,
                "nearest_even", None)[0])) != t:
            raise ValueError(f"nvfp4's tensor scale is a positive float32; {tensor_scale!r} "
                             "is not one")
        total = s * t
    return elem, total, code, scale_fmt


def exact_decimal(v: Fraction) -> str:
    """The exact decimal expansion of a dyadic Fraction."""
    if v.denominator == 1:
        return str(v.numerator)
    k = v.denominator.bit_length() - 1
    digits = abs(v.numerator) * 5**k
    with localcontext() as ctx:
        ctx.prec = len(str(digits)) + 2
        d = Decimal(digits).scaleb(-k)
    text = format(d, "f")
    return ("-" if v < 0 else "") + text


def scaled(elem_expl: Any, name: str, display: str, s: Fraction, code: int, scale_fmt: str,
           x: Optional[Fraction]) -> Any:
    """An element explanation turned into the block format's: values,
    neighbours and ulp times the scale, errors against the input ``x``."""
    def times(q: Optional[Fraction]) -> Optional[Fraction]:
        return None if q is None else q * s

    value = times(elem_expl.value)
    abs_error, rel_error = elem_expl.abs_error, elem_expl.rel_error
    if value is not None and x is not None:
        abs_error = abs(value - x)
        rel_error = abs_error / abs(x) if x != 0 else None
    elif abs_error is not None:
        abs_error = abs_error * s
    shortest = elem_expl.shortest
    if value is not None:
        f = float(value)
        shortest = repr(f) if Fraction(f) == value else exact_decimal(value)
    return dataclasses.replace(
        elem_expl, input=display, format=name, value=value,
        decimal=elem_expl.decimal if value is None else exact_decimal(value),
        shortest=shortest, abs_error=abs_error, rel_error=rel_error, ulp=times(elem_expl.ulp),
        next_up=times(elem_expl.next_up), next_down=times(elem_expl.next_down),
        scale=s, scale_bits=code, scale_format=scale_fmt, element=elem_expl.value,
        element_format=elem_expl.format)
