"""Formats as values: built-ins, custom ExMy floats, integers, and ``format()``,
the one function that turns any spec (name, alias, NumPy / ml_dtypes / torch
dtype) into a :class:`Format`. The classes, their validation and their
decoding live in the Rust core; this module only looks formats up."""

from __future__ import annotations

import abc
import difflib
import re
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


class Format(abc.ABC):
    """A number format: :class:`FloatFormat` or :class:`IntFormat` (both
    native, frozen, compared and hashed by value). Every format has
    ``name``, ``bits``, ``kind`` ("float" or "int") and ``storage_dtype``
    (the NumPy dtype ``encode`` returns)."""

    name: str
    bits: int
    kind: str
    storage_dtype: np.dtype


# The format classes are the core's structs, exposed by the binding: the
# layout is checked once, when a format is made, and every call borrows it.
FloatFormat = _native.FloatFormat
IntFormat = _native.IntFormat
Format.register(FloatFormat)
Format.register(IntFormat)


_BUILTINS: dict[str, Format] = {}
_ALIASES: dict[str, str] = {}
for _name, _aliases, _builtin in _native.builtin_table():
    _BUILTINS[_name] = _builtin
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
    signed, all-ones unsigned), no −0, and ±inf at the top magnitude codes
    when ``extended``. Named ``binary{k}p{p}{s|u}{e|f}``
    (``qf.format("binary8p3se")`` works too).

    The bias is P3109's ``floor(2**(k - p - 1))`` signed and ``2**(k - p)``
    unsigned. Signed ``p == k`` leaves no exponent bits: the ``k - 1``
    trailing bits are a fixed-point magnitude in steps of ``2**(2 - k)``
    (``binary8p8se`` holds 0, 1/64, …, 126/64, ±inf and NaN), which is a
    ``FloatFormat`` with ``exp_bits=0`` and bias 0. Unsigned formats spend
    no bit on a sign, so their precision is at most ``k`` too and they
    always keep at least one exponent bit."""
    for label, v in (("k", k), ("p", p)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{label} must be an int, not {type(v).__name__}")
    k, p = int(k), int(p)
    if not (2 <= k <= 16 and 1 <= p <= k):
        raise ValueError(f"P3109 formats have 2 <= K <= 16 bits and 1 <= P <= K (P counts the "
                         f"implicit bit, so P > K would need more bits than the format has); "
                         f"got K={k}, P={p}")
    exp_bits = k - p + (0 if signed else 1)
    bias = (1 << (k - p - 1) if p < k else 0) if signed else 1 << (k - p)
    name = f"binary{k}p{p}{'s' if signed else 'u'}{'e' if extended else 'f'}"
    return FloatFormat(exp_bits, p - 1, bias=bias, signed=signed,
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
