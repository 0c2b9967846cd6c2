"""``finfo`` and ``iinfo``: NumPy-style machine limits of a format, as
exact values decoded by the core."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ._convert import encode
from ._formats import FloatFormat, FormatSpec, IntFormat, float_format, format

__all__ = ["FormatInfo", "IntInfo", "finfo", "iinfo"]


def _nearest_code(f: FloatFormat, x: Fraction) -> int:
    """Pattern of a positive exact value, rounded to nearest even."""
    return int(encode(np.float64(x), f))


@dataclass(frozen=True)
class FormatInfo:
    """Machine limits of a float format, with numpy.finfo's field names."""

    name: str
    bits: int
    eps: float
    epsneg: float
    max: float
    min: float
    tiny: float
    smallest_normal: float
    smallest_subnormal: float
    maxexp: int
    minexp: int
    nexp: int
    nmant: int
    precision: int
    resolution: float
    dtype: np.dtype

    def __repr__(self) -> str:
        return (f"finfo(name={self.name}, bits={self.bits}, eps={self.eps!r}, max={self.max!r}, "
                f"smallest_normal={self.smallest_normal!r}, "
                f"smallest_subnormal={self.smallest_subnormal!r})")


@dataclass(frozen=True)
class IntInfo:
    """Limits of an integer format, with numpy.iinfo's field names."""

    name: str
    bits: int
    min: int
    max: int
    dtype: np.dtype


def finfo(fmt: FormatSpec) -> FormatInfo:
    """numpy.finfo-style limits of a float format (floats are exact values)."""
    f = float_format(fmt)
    m = f.man_bits
    max_v = f.value_of(f.max_code)
    # 2**emin, the value of the smallest normal code. Formats without
    # exponent bits (P3109 signed P = K) have no normal number: 2**emin then
    # lies above max, as in gfloat's FormatInfo, and every non-zero value
    # is subnormal (tiny in IEEE's sense).
    smallest_normal = Fraction(2) ** f.emin
    smallest_sub = f.value_of(1) if (f.has_zero and m > 0) else smallest_normal
    neg_max = -max_v if f.signed else (f.value_of(0) if not f.has_zero else Fraction(0))
    # numpy's definitions: precision = int(-log10(eps)), which ml_dtypes
    # raises to 1 for its 8-bit floats; resolution = 10**-precision rounded
    # into the format; epsneg = 1 - (the largest value below 1).
    eps = Fraction(1, 2**m)
    precision = int(-math.log10(eps))
    if f.bits == 8:
        precision = max(precision, 1)
    one = _nearest_code(f, Fraction(1))
    below_one = f.value_of(one - 1) if one > 0 else Fraction(0)
    resolution = f.value_of(_nearest_code(f, Fraction(1, 10**precision)))
    return FormatInfo(
        name=f.name,
        bits=f.bits,
        eps=float(eps),
        epsneg=float(1 - below_one),
        max=float(max_v),
        min=float(neg_max),
        tiny=float(smallest_normal),
        smallest_normal=float(smallest_normal),
        smallest_subnormal=float(smallest_sub),
        maxexp=f.emax + 1,
        minexp=f.emin,
        nexp=f.exp_bits,
        nmant=m,
        precision=precision,
        resolution=float(resolution),
        dtype=f.storage_dtype,
    )


def iinfo(fmt: FormatSpec) -> IntInfo:
    """numpy.iinfo-style limits of an integer format."""
    f = format(fmt)
    if not isinstance(f, IntFormat):
        raise ValueError(f"{f.name} is a float format; use qf.finfo")
    return IntInfo(name=f.name, bits=f.bits, min=f.min, max=f.max, dtype=f.storage_dtype)
