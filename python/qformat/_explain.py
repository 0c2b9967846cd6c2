"""Exact queries: "can this format represent X?".

:func:`explain` reads the input exactly (strings never pass through float64;
ints, floats, Fractions and Decimals are handed over exactly), rounds it once
into the format with the core's encoder and reports everything about the
result: the stored value as a Fraction and as its full decimal expansion, the
shortest decimal that reads back to the same bits, the bit fields, the
neighbours, and the error.

About ``abs_error`` / ``rel_error``: they are exact Fractions whenever the
input's exact value can be built cheaply (at most 4000 significant digits and
a decimal exponent within ±10000; always for int/float/Fraction inputs). For
text such as ``"1e-999999999"`` or a megabyte of digits they are ``None``
(unless the value is stored exactly, then 0): the flags ``exact``,
``overflow`` and ``underflow`` are still exact, because the core decides them
from the input's exact value without materialising it.
"""

from __future__ import annotations

import html
import math
import numbers
from dataclasses import dataclass, field, fields, replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Any, Optional, Union

import numpy as np

from . import _args, _native
from . import _explain_scaled as scaled
from ._formats import FloatFormat, FormatSpec, IntFormat, float_format
from ._formats import format as resolve_format
from ._profiles import ProfileSpec
from ._profiles import profile as _profile

__all__ = ["Explanation", "explain", "representable", "explain_bits"]

Number = Union[str, int, float, Fraction, Decimal]

# Inputs larger than this are not rebuilt as a Fraction (see module docs).
_MAX_EXACT_DIGITS = 4000
_MAX_EXACT_EXP10 = 10_000
_MAX_EXACT_EXP2 = 40_000

# Colours of the three fields (the usual IEEE 754 diagram: sign, exponent, fraction).
SIGN_COLOUR, EXP_COLOUR, FRAC_COLOUR = "#1e88e5", "#43a047", "#e53935"


@dataclass(frozen=True)
class Explanation:
    """Everything about one value stored in one float format.

    ``value``, ``significand``, ``ulp``, ``next_up``, ``next_down`` and the
    errors are exact Fractions (``None`` where they do not exist: inf/NaN, no
    finite neighbour, or an input too large to rebuild). ``exponent`` is the
    unbiased exponent with ``|value| == significand * 2**exponent`` (``emin``
    for zero and subnormals, ``None`` for inf/NaN).

    Integer formats: ``value`` is the stored integer, ``bits`` its two's
    complement pattern, ``exponent`` 0, ``ulp`` 1, ``category`` "zero" or
    "normal". Block formats explained under a given scale also fill
    ``scale`` (the block's scale, times the tensor scale where there is
    one), ``scale_bits`` (the block scale's code in ``scale_format``),
    ``element`` and ``element_format``: ``value == element * scale``; the
    bit fields, ``exponent`` and ``significand`` are the element's.
    """

    input: str
    format: str
    rounding: str
    exact: bool
    value: Optional[Fraction]
    decimal: str
    shortest: str
    bits: int
    hex: str
    binary: str
    sign: int
    exponent: Optional[int]
    significand: Optional[Fraction]
    category: str
    overflow: bool
    underflow: bool
    abs_error: Optional[Fraction]
    rel_error: Optional[Fraction]
    ulp: Optional[Fraction]
    next_up: Optional[Fraction]
    next_down: Optional[Fraction]
    #: Why the x86 MXCSR bits (``ftz``/``daz``) changed the stored value,
    #: in words ("" when they did not, or were not asked about).
    note: str = ""
    _fmt: Optional[FloatFormat] = field(default=None, repr=False, compare=False)
    scale: Optional[Fraction] = None
    scale_bits: Optional[int] = None
    scale_format: Optional[str] = None
    element: Optional[Fraction] = None
    element_format: Optional[str] = None
    _int_fmt: Optional[IntFormat] = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: Fractions become exact strings ("p/q" or "p")."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            v = getattr(self, f.name)
            out[f.name] = fraction_str(v) if isinstance(v, Fraction) else v
        return out

    def fields_of_bits(self) -> tuple[str, str, str]:
        """The sign, exponent and fraction fields as bit strings ('' if absent)."""
        parts = self.binary.split(" ")
        if self._int_fmt is not None:  # two's complement: sign bit, then the rest
            return (parts[0], "", parts[1]) if len(parts) == 2 else ("", "", parts[0])
        fmt = self._fmt if self._fmt is not None else _lookup(self.format)
        sign = parts.pop(0) if fmt is None or fmt.signed else ""
        has_exp = fmt is None or fmt.exp_bits > 0  # exp_bits=0: all fraction
        exp = parts.pop(0) if parts and has_exp else ""
        frac = parts.pop(0) if parts else ""
        return sign, exp, frac

    def __str__(self) -> str:
        lines = [f"{_clip(self.input)} in {self.format} (rounding {self.rounding})"]
        verdict = "yes, stored exactly" if self.exact else "no, it is rounded"
        if self.overflow:
            verdict += " (overflow)"
        elif self.underflow:
            verdict += " (underflow)"
        rows = [
            ("exact?", verdict),
            ("stored value", _clip(self.decimal, 120)),
            ("shortest", self.shortest),
            ("abs error", _approx(self.abs_error)),
            ("rel error", _approx(self.rel_error)),
            ("category", self.category),
            ("ulp", _approx(self.ulp)),
            ("next down/up", f"{_approx(self.next_down)} / {_approx(self.next_up)}"),
            ("bits", f"{self.hex}  {self.binary}"),
        ]
        if self.scale is not None:
            rows += [("block scale", f"{_approx(self.scale)} ({self.scale_format} code "
                                     f"{self.scale_bits:#04x})"),
                     ("element", f"{_approx(self.element)} in {self.element_format} "
                                 f"(value = element x scale)")]
        lines += [f"  {k:<13} {v}" for k, v in rows]
        lines += ["", *self.layout_lines()]
        return "\n".join(lines)

    def layout_lines(self) -> list[str]:
        """The textbook bit diagram: one box per field, with what it means below."""
        sign, exp, frac = self.fields_of_bits()
        rest = "value bits" if self._int_fmt is not None else "fraction"
        cells = [(c, t) for c, t in ((sign, "sign"), (exp, "exponent"), (frac, rest)) if c]
        widths = [max(len(c), len(t)) + 2 for c, t in cells]
        border = "+" + "+".join("-" * w for w in widths) + "+"
        title = "|" + "|".join(t.center(w) for (_, t), w in zip(cells, widths)) + "|"
        body = "|" + "|".join(c.center(w) for (c, _), w in zip(cells, widths)) + "|"
        lines = ["  " + border, "  " + title, "  " + border, "  " + body, "  " + border]
        lines.append("  " + self.meaning())
        return lines

    def meaning(self) -> str:
        """One line: how the fields make the value."""
        s = "-" if self.sign else "+"
        if self._int_fmt is not None:
            signed = self._int_fmt.signed
            return f"= {self.decimal}" + (" (two's complement)" if signed else "")
        if self.category in ("inf", "nan"):
            return f"{s}{self.category}" if self.category == "inf" else "NaN (not a number)"
        assert self.significand is not None and self.exponent is not None
        if not self.fields_of_bits()[2]:
            return f"= {s} 2^{self.exponent}"
        kind = "0." if self.category in ("zero", "subnormal") else "1."
        return (f"= {s} {kind}fraction x 2^{self.exponent} = {s} "
                f"{_approx(self.significand)} x 2^{self.exponent}")

    def _repr_html_(self) -> str:
        sign, exp, frac = self.fields_of_bits()
        bits_html = " ".join(
            f'<span style="color:{c};font-weight:bold" title="{t}">{b}</span>'
            for b, c, t in ((sign, SIGN_COLOUR, "sign"), (exp, EXP_COLOUR, "exponent"),
                            (frac, FRAC_COLOUR, "fraction")) if b)
        rows = [
            ("exact?", "yes" if self.exact else "no"),
            ("stored value", html.escape(_clip(self.decimal, 200))),
            ("shortest", html.escape(self.shortest)),
            ("abs / rel error", f"{_approx(self.abs_error)} / {_approx(self.rel_error)}"),
            ("category", self.category + (" (overflow)" if self.overflow else "")
             + (" (underflow)" if self.underflow else "")),
            ("bits", f"<code>{self.hex}</code> <code>{bits_html}</code>"),
            ("meaning", html.escape(self.meaning())),
        ]
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>"
                       for k, v in rows)
        head = html.escape(f"{_clip(self.input)} in {self.format}")
        return f"<div><b>{head}</b><table>{body}</table></div>"


def int_str(n: int) -> str:
    """``str(n)`` for ints of any size: Python refuses to print ints of more
    than 4300 digits (``sys.set_int_max_str_digits``); Decimal prints them
    exactly without touching that process-wide limit."""
    return str(n) if abs(n) < 10**4000 else str(Decimal(n))


def fraction_str(v: Fraction) -> str:
    """``str(v)`` ("p/q" or "p") for Fractions of any size."""
    if v.denominator == 1:
        return int_str(v.numerator)
    return f"{int_str(v.numerator)}/{int_str(v.denominator)}"


def readable_shortest(f: FloatFormat, bits: int, value: Optional[Fraction], fast: str) -> str:
    """The ``shortest`` field: the shortest decimal that reads back to
    ``bits`` *and* does not mislead about the value. The rule:

    * an integer value below 10**17 is written in full ("448", not "450.0";
      "57344", not "57340.0");
    * otherwise, the fewest significant digits n such that the value
      correctly rounded (half even) to n digits reads back to the same bits
      and is within 1% of the value, so its leading digits are right (the
      e8m0 maximum 2**127 = 1.7014e38 is "1.7e+38", not "2e+38"; fp32's 0.1
      stays "0.1");
    * zero, inf and NaN as the core writes them (``fast``).
    """
    if value is None or value == 0:
        return fast
    if value.denominator == 1 and abs(value) < 10**17:
        return str(value.numerator)
    n = max(1, len(fast.split("e")[0].lstrip("-0.").replace(".", "")))
    while True:
        with localcontext() as ctx:
            ctx.prec, ctx.rounding = n, ROUND_HALF_EVEN
            d = Decimal(value.numerator) / Decimal(value.denominator)
        if abs(Fraction(d) - value) * 100 <= abs(value):
            text = _float_style(d)
            if _native.read_encode(text, f)[0] == bits:
                return text
        n += 1


def _float_style(d: Decimal) -> str:
    """Decimal text as Python writes floats: positional for exponents -4..15
    (with ".0" on integers), else "d.ddde+XX"."""
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e10 = exp + len(digits) - 1
    neg = "-" if sign else ""
    if -4 <= e10 < 16:
        text = format(Decimal(f"{ds[0]}.{ds[1:] or '0'}e{e10}"), "f")
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return neg + (text if "." in text else text + ".0")
    mant = ds[0] + (f".{ds[1:]}" if len(ds) > 1 else "")
    return f"{neg}{mant}e{'+' if e10 >= 0 else '-'}{abs(e10):02d}"


def _lookup(name: str) -> Optional[FloatFormat]:
    try:
        return float_format(name)
    except (ValueError, TypeError):
        return None


def _clip(s: str, n: int = 60) -> str:
    """Shorten a long string for display, saying how long it was."""
    return s if len(s) <= n else f"{s[: n - 20]}…{s[-8:]} ({len(s)} characters)"


def _approx(x: Optional[Fraction]) -> str:
    """A Fraction to 8 significant digits for display ('-' for None)."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    try:
        f = float(x)
        if f != 0 and math.isfinite(f):
            return f"{f:.8g}"
    except OverflowError:
        pass
    with localcontext() as ctx:
        ctx.prec = 8
        return f"{Decimal(x.numerator) / Decimal(x.denominator):.8g}"


def _text_fraction(text: str) -> Optional[Fraction]:
    """The exact value of number text when it is cheap to build, else None
    (also None for inf/nan)."""
    kind, neg, digits, radix, exp = _native.scan_number(text)
    if kind != "finite" or digits is None or len(digits) > _MAX_EXACT_DIGITS:
        return None
    limit = _MAX_EXACT_EXP10 if radix == 10 else _MAX_EXACT_EXP2
    if abs(exp) > limit:
        return None
    v = Fraction(int(digits, radix)) * Fraction(10 if radix == 10 else 2) ** exp
    return -v if neg else v


class _Source:
    """An input, normalised: its display text, exact value (when cheap) and
    how the core reads it (number text or a ratio)."""

    def __init__(self, value: Any) -> None:
        self.ratio: Optional[tuple[bool, str, str]] = None
        self.nan = False
        if isinstance(value, str):
            self.text = self.display = value
            self.exact = _text_fraction(value)
            self.nan = _native.scan_number(value)[0] == "nan"
        elif isinstance(value, bool):
            raise TypeError("explain() takes a number or number text, not a bool")
        elif isinstance(value, numbers.Integral):
            v = int(value)
            self.text, self.exact = hex(v), Fraction(v)
            self.display = str(v) if abs(v) < 10**50 else f"{hex(v)} (an int)"
        elif isinstance(value, Fraction):
            self._from_fraction(value, fraction_str(value))
        elif isinstance(value, Decimal):
            self._from_decimal(value)
        elif isinstance(value, np.ndarray) and value.shape == ():
            self.__init__(value.item())  # type: ignore[misc]  # a 0-d array
        elif isinstance(value, numbers.Real) or hasattr(value, "__float__"):
            self._from_float(value)
        else:
            raise TypeError(
                f"explain() takes str, int, float, Fraction or Decimal, not {type(value).__name__}")

    def _from_fraction(self, v: Fraction, display: str) -> None:
        self.display, self.exact = display, v
        self.ratio = (v < 0, f"{abs(v.numerator):x}", f"{v.denominator:x}")

    def _from_decimal(self, v: Decimal) -> None:
        if v.is_nan():
            self.text, self.nan = ("-nan" if v.is_signed() else "nan"), True
        elif v.is_infinite():
            self.text = "-inf" if v.is_signed() else "inf"
        else:
            self.text = str(v)
        self.display = str(v)
        self.exact = None if v.is_nan() or v.is_infinite() else _text_fraction(self.text)

    def _from_float(self, value: Any) -> None:
        f = float(value)
        if not math.isfinite(f) or type(value) is float or getattr(value, "itemsize", 8) <= 8:
            self.text, self.display = f.hex(), repr(f) if type(value) is float else str(value)
            self.exact = Fraction(f) if math.isfinite(f) else None
            self.nan = math.isnan(f)
        else:  # np.longdouble and friends: exact via their integer ratio
            n, d = value.as_integer_ratio()
            self._from_fraction(Fraction(n, d), str(value))

    def encode(self, fmt: FloatFormat, rounding: str, seed: Optional[int],
               csr: Optional[dict] = None) -> tuple:
        """``(bits, exact, overflow, underflow)`` from the core; ``csr`` holds
        the profile and the ftz/daz options of :func:`explain`."""
        kw = csr or {}
        if self.ratio is not None:
            neg, num, den = self.ratio
            return _native.ratio_encode(neg, num, den, fmt, rounding, seed, **kw)
        return _native.read_encode(self.text, fmt, rounding, seed, **kw)


def explain(value: Number, fmt: FormatSpec, *, rounding: str = "nearest_even",
            seed: Optional[int] = None, profile: Optional[ProfileSpec] = None,
            ftz: Optional[bool] = None, daz: Optional[bool] = None,
            scale: Any = None, tensor_scale: Any = None) -> Explanation:
    """Round ``value`` exactly into the format ``fmt`` and explain the result.

    Integer formats (``explain(7, "int4")``): the value is rounded with
    ``rounding`` (any mode but stochastic) and saturated to the format's
    range; saturation is reported as ``overflow``. Block formats ("mxfp8",
    "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4", "mxint8", "nvfp4")
    need the block's ``scale``: what does the format store for ``value`` in
    a block with that scale? MX scales are powers of two (e8m0); nvfp4's is
    a positive e4m3 value, times an optional float32 ``tensor_scale``. The
    value is divided exactly by the scale (the quantizers' own float32
    arithmetic can differ from the exact quotient for nvfp4).

    ``value`` may be number text of any length (decimal, scientific, hex float
    such as "0x1.8p3", "inf", "nan"), an int, a float, a Fraction or a
    Decimal; it is never rounded on the way in. ``rounding`` is one of the
    seven modes of :func:`qformat.encode` ("stochastic" needs ``seed``).
    Malformed text raises ``ValueError`` naming the problem.
    ``ftz``/``daz`` are the x86 MXCSR bits (None: what ``profile``'s
    instruction does, else clear); the value is read as a float64 source,
    as C reads a literal, so DAZ zeroes values below 2^-1022 and FTZ flushes
    results that are tiny after rounding:
    ``explain("1e-40", "fp32", profile="x86-sse", ftz=True)`` is +0.

    >>> str(explain("3.14159265358979", "fp32").decimal)
    '3.1415927410125732421875'
    """
    name = fmt.lower() if isinstance(fmt, str) else None
    if name in scaled.BLOCK_FORMATS or scale is not None or tensor_scale is not None:
        return _explain_block(value, name, rounding, seed, scale, tensor_scale)
    g = resolve_format(fmt)
    rounding, seed = _args.rounding(rounding), _args.seed(seed)
    if isinstance(g, IntFormat):
        if profile is not None or ftz is not None or daz is not None:
            raise ValueError(f"profile=, ftz= and daz= apply to float formats, not {g.name}")
        return _explain_int(value, g, rounding)
    f = float_format(fmt)
    src = _Source(value)
    for name, flag in (("ftz", ftz), ("daz", daz)):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(f"{name} must be None, True or False, not {flag!r}")
    csr = {"profile": None if profile is None else _profile(profile), "ftz": ftz, "daz": daz}
    bits, exact, overflow, underflow = src.encode(f, rounding, seed, csr)
    e = _build(f, bits, src.display, rounding, exact, overflow, underflow, src.exact)
    if ftz or daz or profile is not None:
        e = replace(e, note=_mxcsr_note(src, f, rounding, seed, csr, bits))
    return e


def _mxcsr_note(src: _Source, f: FloatFormat, rounding: str, seed: Optional[int],
                csr: dict, bits: int) -> str:
    """Why FTZ/DAZ changed the stored bits: the same query with both clear,
    then with DAZ alone, tells which bit did it."""
    clear = src.encode(f, rounding, seed, dict(csr, ftz=False, daz=False))[0]
    if clear == bits:
        return ""
    sign = "-" if bits & f.sign_bit else "+"
    plain = f"0x{clear:0{(f.bits + 3) // 4}x}"
    daz_only = src.encode(f, rounding, seed, dict(csr, ftz=False))[0]
    if daz_only == bits:
        return (f"MXCSR.DAZ: the input is a float64 subnormal (below 2^-1022), read as "
                f"{sign}0 before rounding; with DAZ clear it stores {plain}. A -ffast-math "
                f"build sets DAZ (and FTZ) at start-up.")
    return (f"MXCSR.FTZ: the result is tiny after rounding (below {f.name}'s smallest normal, "
            f"2^{f.emin}) and is flushed to {sign}0 instead of {plain}. A -ffast-math build "
            f"sets FTZ (and DAZ) at start-up, so this is what it stores.")


def _explain_int(value: Number, f: IntFormat, rounding: str) -> Explanation:
    """``value`` rounded into the integer format ``f`` (saturating)."""
    src = _Source(value)
    if src.nan:
        raise ValueError(f"{f.name} has no NaN: an integer format cannot store {src.display}")
    x = src.exact if src.exact is not None else scaled.text_value(src.text)
    if x is None:  # ±inf: saturates
        neg = _native.scan_number(src.text)[1]
        return scaled.int_explanation(Explanation, f, f.min if neg else f.max, src.display,
                                      rounding, None, True, False)
    r = scaled.round_to_int(x, rounding)
    stored = min(max(r, f.min), f.max)
    return scaled.int_explanation(Explanation, f, stored, src.display, rounding, x,
                                  stored != r, src.exact is not None)


def _explain_block(value: Number, name: Optional[str], rounding: str, seed: Optional[int],
                   scale: Any, tensor_scale: Any) -> Explanation:
    """``value`` in a block of the block format ``name`` whose scale is ``scale``."""
    if name not in scaled.BLOCK_FORMATS:
        raise ValueError("scale= and tensor_scale= apply to block formats: "
                         + ", ".join(scaled.BLOCK_FORMATS))
    assert name is not None
    if scale is None:
        raise ValueError(f"{name} is a block format: give the block's scale (scale=...) to ask "
                         "what it stores for a value")
    elem, s, code, scale_fmt = scaled.block_parts(name, scale, tensor_scale)
    src = _Source(value)
    x = src.exact
    if x is not None:
        inner = explain(x / s, elem, rounding=rounding, seed=seed)
    elif src.nan or _native.scan_number(src.text)[0] == "inf":
        inner = explain(src.text, elem, rounding=rounding, seed=seed)
    else:
        raise ValueError(f"{src.display[:40]}… is too long to divide exactly by the block scale")
    return scaled.scaled(inner, name, src.display, s, code, scale_fmt, x)


def representable(value: Number, fmt: FormatSpec) -> bool:
    """True when ``fmt`` stores ``value`` without any error (NaN counts as
    representable in formats that have a NaN)."""
    g = resolve_format(fmt)
    if isinstance(g, IntFormat):
        v = _Source(value).exact
        return v is not None and v.denominator == 1 and g.min <= v <= g.max
    f = float_format(fmt)
    src = _Source(value)
    if src.nan and f.nan == "none":
        return False
    return bool(src.encode(f, "nearest_even", None)[1])


def explain_bits(bits: int, fmt: FormatSpec) -> Explanation:
    """Explain what the bit pattern ``bits`` means in ``fmt`` (``qformat decode``);
    integer formats read it as two's complement (``explain_bits(0xF, "int4")`` is -1)."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise TypeError("bits must be an int")
    bits = int(bits)
    g = resolve_format(fmt)
    if isinstance(g, IntFormat):
        if not 0 <= bits < (1 << g.bits):
            raise ValueError(f"{bits:#x} does not fit in the {g.bits} bits of {g.name}")
        v = bits - (1 << g.bits) if g.signed and bits >> (g.bits - 1) else bits
        text = f"0x{bits:0{(g.bits + 3) // 4}x}"
        return scaled.int_explanation(Explanation, g, v, text, "nearest_even", Fraction(v),
                                      False, True)
    f = float_format(fmt)
    if not 0 <= bits < (1 << f.bits):
        raise ValueError(f"{bits:#x} does not fit in the {f.bits} bits of {f.name}")
    text = f"0x{bits:0{(f.bits + 3) // 4}x}"
    value = f.value_of(bits)
    exact_in = value if isinstance(value, Fraction) else None
    return _build(f, bits, text, "nearest_even", True, False, False, exact_in)


def _category(f: FloatFormat, bits: int) -> str:
    mag = bits & ((1 << (f.exp_bits + f.man_bits)) - 1)
    if f.is_nan(bits):
        return "nan"
    if f.inf_code is not None and mag == f.inf_code:
        return "inf"
    if not f.has_zero or mag >> f.man_bits:
        return "normal"
    return "zero" if mag == 0 else "subnormal"


def _binary(f: FloatFormat, bits: int) -> str:
    s = format(bits, f"0{f.bits}b")
    parts = []
    if f.signed:
        parts.append(s[0])
        s = s[1:]
    if f.exp_bits:  # exp_bits=0: the magnitude is all fraction (fixed point)
        parts.append(s[: f.exp_bits])
    if f.man_bits:
        parts.append(s[f.exp_bits:])
    return " ".join(parts)


def _ordinal(f: FloatFormat, bits: int, category: str) -> int:
    """Position on the value line: magnitude code with the value's sign
    (±(max_code + 1) for infinities), so neighbours are ±1 away."""
    mag = bits & ((1 << (f.exp_bits + f.man_bits)) - 1)
    if category == "inf":
        mag = f.max_code + 1
    return -mag if bits & f.sign_bit else mag


def _at_ordinal(f: FloatFormat, o: int) -> Optional[Fraction]:
    """The finite value at ordinal ``o``, or None where there is none."""
    if abs(o) > f.max_code or (o < 0 and not f.signed):
        return None
    v = f.value_of(-o | f.sign_bit if o < 0 else o)
    return v if isinstance(v, Fraction) else None


def _build(f: FloatFormat, bits: int, display: str, rounding: str, exact: bool,
           overflow: bool, underflow: bool, x: Optional[Fraction]) -> Explanation:
    category = _category(f, bits)
    stored = f.value_of(bits)
    value = stored if isinstance(stored, Fraction) else None
    exponent = significand = ulp = None
    if value is not None:
        biased = (bits & ((1 << (f.exp_bits + f.man_bits)) - 1)) >> f.man_bits
        exponent = f.emin if category in ("zero", "subnormal") else biased - f.bias
        significand = abs(value) / Fraction(2) ** exponent
        ulp = Fraction(2) ** (exponent - f.man_bits)
    abs_error = rel_error = None
    if exact and value is not None:
        abs_error = rel_error = Fraction(0)
    elif x is not None and value is not None:
        abs_error = abs(value - x)
        rel_error = abs_error / abs(x) if x != 0 else None
    ordinal = _ordinal(f, bits, category)
    nan = category == "nan"
    return Explanation(
        input=display, format=f.name, rounding=rounding, exact=bool(exact), value=value,
        decimal=_native.exact_decimal(bits, f),
        shortest=readable_shortest(f, bits, value, _native.shortest_decimal(bits, f)),
        bits=bits, hex=f"0x{bits:0{(f.bits + 3) // 4}x}", binary=_binary(f, bits),
        sign=1 if bits & f.sign_bit else 0, exponent=exponent, significand=significand,
        category=category, overflow=bool(overflow), underflow=bool(underflow),
        abs_error=abs_error, rel_error=rel_error, ulp=ulp,
        next_up=None if nan else _at_ordinal(f, ordinal + 1),
        next_down=None if nan else _at_ordinal(f, ordinal - 1),
        _fmt=f,
    )
