"""An exact reference for float formats, written from the format's definition
with Python integers and fractions, sharing no code with qformat's engine.

It reads only the layout attributes of a qformat ``FloatFormat``
(``exp_bits``, ``man_bits``, ``bias``, ``signed``, ``has_inf``, ``nan``,
``has_zero``) and rebuilds everything else: what each bit pattern means, the
largest finite code, the two representable neighbours of any real number, and
the code each rounding mode and overflow/subnormal policy must produce.

A value is handled as an exact dyadic rational ``N * 2**-K`` (``N`` > 0), the
form every binary float input has, so the reference is fast enough to check
tens of thousands of inputs per format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

NEAREST = ("nearest_even", "nearest_away")
MODES = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd")


@dataclass(frozen=True)
class Layout:
    """A float format's fields and the constants derived from them."""

    e: int
    m: int
    bias: int
    signed: bool
    has_inf: bool
    nan: str
    has_zero: bool

    @classmethod
    def of(cls, fmt) -> Layout:
        return cls(fmt.exp_bits, fmt.man_bits, fmt.bias, fmt.signed, fmt.has_inf, fmt.nan,
                   getattr(fmt, "has_zero", True))

    @property
    def bits(self) -> int:
        return self.e + self.m + int(self.signed)

    @property
    def mag_mask(self) -> int:
        return (1 << (self.e + self.m)) - 1

    @property
    def sign_bit(self) -> int:
        return (1 << (self.e + self.m)) if self.signed else 0

    @property
    def inf_code(self) -> int | None:
        return ((1 << self.e) - 1) << self.m if self.has_inf else None

    @property
    def max_code(self) -> int:
        """Largest finite magnitude code."""
        if self.nan == "ieee":
            return (((1 << self.e) - 2) << self.m) | ((1 << self.m) - 1)
        if self.nan == "fn":
            return self.mag_mask - 1
        return self.mag_mask

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal value (the subnormal quantum is 2**(emin-m))."""
        return 1 - self.bias if self.has_zero else -self.bias

    def is_nan(self, bits: int) -> bool:
        mag = bits & self.mag_mask
        if self.nan == "ieee":
            return mag > self.inf_code
        if self.nan == "fn":
            return mag == self.mag_mask
        if self.nan == "fnuz":
            return bits == self.sign_bit
        return False

    def default_nan(self, neg: bool) -> int:
        """The format's default NaN carrying ``neg`` where it can."""
        if self.nan == "ieee":
            code = self.inf_code | (1 << (self.m - 1))
        elif self.nan == "fn":
            code = self.mag_mask
        elif self.nan == "fnuz":
            return self.sign_bit
        else:
            raise ValueError("format has no NaN")
        return code | (self.sign_bit if neg else 0)

    def pack(self, neg: bool, code: int) -> int:
        """Attach the sign; formats without -0 (fnuz) keep zero positive."""
        if neg and (code != 0 or self.nan != "fnuz"):
            return code | self.sign_bit
        return code

    # -- decoding -----------------------------------------------------------

    def magnitude(self, code: int) -> Fraction:
        """Exact value of a finite magnitude code (no sign)."""
        exp_field, frac = code >> self.m, code & ((1 << self.m) - 1)
        if exp_field == 0 and self.has_zero:
            return Fraction(frac) * Fraction(2) ** (self.emin - self.m)
        scale = exp_field - 1 if self.has_zero else exp_field
        return Fraction((1 << self.m) + frac) * Fraction(2) ** (self.emin + scale - self.m)

    def value(self, bits: int):
        """Exact value of a bit pattern: a Fraction, ±math.inf or math.nan.
        A negative zero is returned as the float -0.0."""
        if self.is_nan(bits):
            return math.nan
        neg = bool(bits & self.sign_bit)
        mag = bits & self.mag_mask
        if self.has_inf and mag == self.inf_code:
            return -math.inf if neg else math.inf
        v = self.magnitude(mag)
        if neg and v == 0:
            return -0.0
        return -v if neg else v

    # -- rounding -----------------------------------------------------------

    def neighbours(self, num: int, k: int) -> tuple[int, int, int]:
        """For a = num * 2**-k > 0: the code of the representable value just
        below or equal to a on the format's grid (exponent unbounded above),
        the discarded remainder R and the unit U, so that the fraction of a
        unit discarded is R / U. Returns (code, R, U)."""
        exp = num.bit_length() - 1 - k           # floor(log2 a)
        e = max(exp, self.emin)
        shift = k + e - self.m                    # a / 2**(e-m) = num / 2**shift
        if shift <= 0:
            n, rem, unit = num << -shift, 0, 1
        else:
            n, rem, unit = num >> shift, num & ((1 << shift) - 1), 1 << shift
        if n < (1 << self.m):                     # subnormal (has_zero formats only)
            return n, rem, unit
        biased = e - self.emin + (1 if self.has_zero else 0)
        return (biased << self.m) + n - (1 << self.m), rem, unit

    def round_finite(self, neg: bool, num: int, k: int, mode: str, *, subnormals: bool = True,
                     overflow: str | None = None, up: bool | None = None) -> int:
        """Bits of ±num*2**-k rounded with ``mode``; for "stochastic", ``up``
        says which neighbour the draw picked."""
        if not self.has_zero and k + self.emin > 0 and num < (1 << (k + self.emin)):
            # Below the smallest value 2**emin of a zero-less format (e8m0):
            # that value is the nearest in every mode (nothing lies below it).
            return 0
        code, rem, unit = self.neighbours(num, k)
        twice = 2 * rem
        inexact = rem != 0
        if mode == "nearest_even":
            inc = twice > unit or (twice == unit and code & 1 == 1)
        elif mode == "nearest_away":
            inc = twice >= unit and inexact
        elif mode == "toward_zero":
            inc = False
        elif mode == "up":
            inc = inexact and not neg
        elif mode == "down":
            inc = inexact and neg
        elif mode == "odd":
            inc = inexact and code & 1 == 0
        elif mode == "stochastic":
            inc = inexact and bool(up)
        else:
            raise ValueError(mode)
        code += int(inc)
        if code > self.max_code:
            return self.overflow(neg, mode, overflow)
        if not subnormals and code < (1 << self.m) and self.has_zero:
            code = 0
        return self.pack(neg, code)

    def overflow(self, neg: bool, mode: str, policy: str | None) -> int:
        """Bits of a finite value whose rounded magnitude exceeds the largest."""
        if policy == "saturate":
            return self.pack(neg, self.max_code)
        if policy == "nan":
            return self.default_nan(neg)
        if policy == "inf":
            return self.pack(neg, self.inf_code)
        toward_zero = mode in ("toward_zero", "odd") or (mode == "up" and neg) or (
            mode == "down" and not neg)
        if toward_zero:
            return self.pack(neg, self.max_code)
        if self.has_inf:
            return self.pack(neg, self.inf_code)
        if self.nan != "none":
            return self.default_nan(neg)
        return self.pack(neg, self.max_code)

    def round_float(self, x: float, mode: str, **kw) -> int:
        """Bits of the Python float (or float32 value) ``x`` rounded into the format."""
        if math.isnan(x):
            raise ValueError("NaN has no value to round")
        neg = math.copysign(1.0, x) < 0
        if math.isinf(x):
            policy = kw.get("overflow")
            if policy == "saturate":
                return self.pack(neg, self.max_code)
            if policy == "nan" or (not self.has_inf and policy is None and self.nan != "none"):
                return self.default_nan(neg)
            if self.has_inf:
                return self.pack(neg, self.inf_code)
            return self.pack(neg, self.max_code)
        if x == 0:
            if not self.has_zero:
                return self.default_nan(neg)
            return self.pack(neg, 0)
        num, den = abs(x).as_integer_ratio()
        return self.round_finite(neg, num, den.bit_length() - 1, mode, **kw)

    def finite_values(self) -> list[Fraction]:
        """Every finite non-negative value, in increasing order (small formats only)."""
        return [self.magnitude(c) for c in range(self.max_code + 1)]
