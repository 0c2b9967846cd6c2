"""Formats as values: built-ins, custom ExMy floats, integers, and ``format()``,
the one function that turns any spec (name, alias, NumPy / ml_dtypes / torch
dtype) into a :class:`Format`. The definitions and their validation live in
the Rust core; this module only wraps them."""

from __future__ import annotations

import difflib
import math
import re
from fractions import Fraction
from typing import Any, Union

import numpy as np

from . import _native

__all__ = [
    "Format",
    "FloatFormat",
    "IntFormat",
    "format",
    "formats",
    "p3109",
]


def _storage_dtype(bits: int, signed_int: bool | None = None) -> np.dtype:
    """Smallest NumPy word holding ``bits`` (signed for integer formats)."""
    for width in (8, 16, 32, 64):
        if bits <= width:
            if signed_int is None:
                return np.dtype(f"uint{width}")
            return np.dtype(f"{'int' if signed_int else 'uint'}{width}")
    raise ValueError(f"{bits} bits do not fit in a NumPy word")


class Format:
    """Base of :class:`FloatFormat` and :class:`IntFormat`."""

    name: str
    bits: int
    kind: str

    @property
    def storage_dtype(self) -> np.dtype:
        """The NumPy dtype that ``encode`` returns for this format."""
        raise NotImplementedError

    def _key(self) -> tuple:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Format) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class FloatFormat(Format):
    """A binary float format ``[sign] exponent fraction`` (ExMy).

    ``bias=None`` is the IEEE bias ``2**(exp_bits-1) - 1`` (one more for
    ``nan="fnuz"``). ``nan`` is "ieee" (all-ones exponent, non-zero fraction),
    "fn" (only the all-ones pattern), "fnuz" (the negative-zero pattern) or
    "none". ``inf=True`` with "fn"/"fnuz" puts ±inf at the largest magnitude
    code that is not NaN (P3109's extended formats, see :func:`p3109`).
    ``zero=False`` describes scale formats such as e8m0fnu whose zero
    pattern means ``2**-bias``.
    """

    kind = "float"

    def __init__(
        self,
        exp_bits: int,
        man_bits: int,
        *,
        bias: int | None = None,
        signed: bool = True,
        inf: bool = True,
        nan: str = "ieee",
        name: str | None = None,
        zero: bool = True,
    ) -> None:
        for label, v in (("exp_bits", exp_bits), ("man_bits", man_bits)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{label} must be an int, not {type(v).__name__}")
            if not 0 <= int(v) <= 64:
                raise ValueError(f"{label}={v} is out of range")
        if not isinstance(nan, str):
            raise TypeError("nan must be 'ieee', 'fn', 'fnuz' or 'none'")
        spec = _native.float_format(
            int(exp_bits), int(man_bits), None if bias is None else int(bias),
            bool(signed), bool(inf), nan, bool(zero), name,
        )
        self._set(spec)

    @classmethod
    def _from_spec(cls, spec: tuple) -> FloatFormat:
        self = cls.__new__(cls)
        self._set(spec)
        return self

    def _set(self, spec: tuple) -> None:
        (self.name, self.exp_bits, self.man_bits, self.bias, self.signed,
         self.has_inf, self.nan, self.has_zero) = spec
        self._spec = tuple(spec)
        self.bits = self.exp_bits + self.man_bits + int(self.signed)
        (self._max_code, self._inf_code, self._nan_code, self._sign_bit,
         self.emin, self.emax) = _native.float_limits(self._spec)

    @property
    def storage_dtype(self) -> np.dtype:
        return _storage_dtype(self.bits)

    def _key(self) -> tuple:
        return ("float",) + self._spec[1:]

    def value_of(self, bits: int) -> Fraction | float:
        """Exact value of a bit pattern (a Fraction; ±inf or nan as float)."""
        bits = int(bits)
        mask = (1 << (self.exp_bits + self.man_bits)) - 1
        neg = bool(bits & self._sign_bit)
        mag = bits & mask
        if self._inf_code is not None and mag == self._inf_code:
            return -math.inf if neg else math.inf
        if self._is_nan(bits):
            return math.nan
        b, frac = mag >> self.man_bits, mag & ((1 << self.man_bits) - 1)
        if b == 0 and self.has_zero:
            v = Fraction(frac) * Fraction(2) ** (1 - self.bias - self.man_bits)
        else:
            scale = Fraction(2) ** (b - self.bias - self.man_bits)
            v = Fraction((1 << self.man_bits) + frac) * scale
        return -v if neg else v

    def _is_nan(self, bits: int) -> bool:
        mask = (1 << (self.exp_bits + self.man_bits)) - 1
        mag = bits & mask
        if self.nan == "ieee":
            return mag > (self._inf_code or 0)
        if self.nan == "fn":
            return mag == mask
        if self.nan == "fnuz":
            return bits == self._sign_bit
        return False

    def __repr__(self) -> str:
        extras = []
        if self.nan != "ieee":
            extras.append(f"nan={self.nan!r}")
        if not self.has_inf:
            extras.append("inf=False")
        if not self.signed:
            extras.append("signed=False")
        if not self.has_zero:
            extras.append("zero=False")
        extras.append(f"bias={self.bias}")
        extras.append(f"name={self.name!r}")
        return f"FloatFormat({self.exp_bits}, {self.man_bits}, {', '.join(extras)})"


class IntFormat(Format):
    """A two's-complement (``signed=True``) or unsigned integer format."""

    kind = "int"

    def __init__(self, bits: int, *, signed: bool = True, name: str | None = None) -> None:
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
            raise TypeError(f"bits must be an int, not {type(bits).__name__}")
        if not 0 <= int(bits) <= 1024:
            raise ValueError(f"bits={bits} is out of range")
        self._set(_native.int_format(int(bits), bool(signed), name))

    @classmethod
    def _from_spec(cls, spec: tuple) -> IntFormat:
        self = cls.__new__(cls)
        self._set(spec)
        return self

    def _set(self, spec: tuple) -> None:
        self.name, self.bits, self.signed = spec
        self._spec = tuple(spec)
        self.min = -(1 << (self.bits - 1)) if self.signed else 0
        self.max = (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def storage_dtype(self) -> np.dtype:
        return _storage_dtype(self.bits, self.signed)

    def _key(self) -> tuple:
        return ("int", self.bits, self.signed)

    def __repr__(self) -> str:
        return f"IntFormat({self.bits}, signed={self.signed}, name={self.name!r})"


_BUILTINS: dict[str, Format] = {}
_ALIASES: dict[str, str] = {}
for _name, _aliases, _kind, _spec in _native.builtin_table():
    _BUILTINS[_name] = (
        FloatFormat._from_spec(_spec) if _kind == "float" else IntFormat._from_spec(_spec)
    )
    for _a in _aliases:
        _ALIASES[_a] = _name

# ml_dtypes types that are not built-ins but are plain ExMy formats.
_EXTRA_DTYPES = {
    "int64": lambda: IntFormat(64, name="int64"),
    "uint32": lambda: IntFormat(32, signed=False, name="uint32"),
    "uint64": lambda: IntFormat(64, signed=False, name="uint64"),
}

FormatSpec = Union[Format, str, Any]


def formats() -> list[str]:
    """Canonical names of the built-in formats."""
    return list(_BUILTINS)


_P3109_NAME = re.compile(r"binary(\d{1,2})p(\d{1,2})([su])([ef])")


def p3109(k: int, p: int, *, signed: bool = True, extended: bool = True) -> FloatFormat:
    """An IEEE P3109 format (interim report v3, as gfloat implements it):
    ``k`` bits, precision ``p`` (``p - 1`` fraction bits), one NaN (0x80
    signed, all-ones unsigned), no −0, bias 2**(exponent bits − 1), and
    ±inf at the top magnitude codes when ``extended``. Named
    ``binary{k}p{p}{s|u}{e|f}`` (``qf.format("binary8p3se")`` works too).
    Signed formats need at least one exponent bit (``p < k``)."""
    for label, v in (("k", k), ("p", p)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{label} must be an int, not {type(v).__name__}")
    k, p = int(k), int(p)
    if not (2 <= k <= 16 and 1 <= p <= k):
        raise ValueError(f"P3109 formats have 2 <= K <= 16 bits and 1 <= P <= K; got K={k}, P={p}")
    exp_bits = k - p + (0 if signed else 1)
    if exp_bits < 1:
        raise ValueError(f"binary{k}p{p}s has no exponent bits; qformat needs at least one")
    name = f"binary{k}p{p}{'s' if signed else 'u'}{'e' if extended else 'f'}"
    return FloatFormat(exp_bits, p - 1, bias=1 << (exp_bits - 1), signed=signed,
                       inf=extended, nan="fnuz" if signed else "fn", name=name)


def _lookup_name(name: str) -> Format | None:
    key = name.strip().lower()
    m = _P3109_NAME.fullmatch(key)
    if m:
        k, p, sign, domain = m.groups()
        return p3109(int(k), int(p), signed=sign == "s", extended=domain == "e")
    if key.startswith("torch."):
        key = key[len("torch."):]
    if key in _BUILTINS:
        return _BUILTINS[key]
    if key in _ALIASES:
        return _BUILTINS[_ALIASES[key]]
    if key in _EXTRA_DTYPES:
        return _EXTRA_DTYPES[key]()
    return None


def format(spec: FormatSpec) -> Format:  # noqa: A001 - the API's name
    """Turn ``spec`` into a :class:`Format`.

    ``spec`` may be a Format, a canonical name or alias ("bf16", "e4m3"), a
    NumPy dtype (``np.float16``), an ml_dtypes dtype, or a torch dtype.
    Unknown specs raise ``ValueError`` naming the close matches.
    """
    if isinstance(spec, Format):
        return spec
    if spec is None:  # np.dtype(None) would silently mean float64
        raise TypeError("a format is required (a name such as 'bf16', a qf.FloatFormat, or a "
                        "NumPy/ml_dtypes/torch dtype), not None")
    if isinstance(spec, str):
        found = _lookup_name(spec)
        if found is not None:
            return found
        names = list(_BUILTINS) + list(_ALIASES)
        close = difflib.get_close_matches(spec.strip().lower(), names, n=4, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"unknown format {spec!r}{hint} (qf.formats() lists the built-ins; "
            "qf.FloatFormat(e, m) makes a custom one)"
        )
    mod = type(spec).__module__
    if mod.startswith("torch"):
        found = _lookup_name(str(spec))
        if found is None:
            raise ValueError(f"torch dtype {spec} has no qformat equivalent")
        return found
    try:
        dt = np.dtype(spec)
    except TypeError:
        raise TypeError(
            f"cannot use {type(spec).__name__} {spec!r} as a format; pass a name such as "
            "'bf16', a qf.FloatFormat, or a NumPy/ml_dtypes/torch dtype"
        ) from None
    found = _lookup_name(dt.name)
    if found is None:
        raise ValueError(f"dtype {dt} has no qformat equivalent")
    return found


def float_format(spec: FormatSpec) -> FloatFormat:
    """Like :func:`format` but insists on a float format."""
    f = format(spec)
    if not isinstance(f, FloatFormat):
        raise ValueError(f"{f.name} is an integer format; this needs a float format")
    return f
