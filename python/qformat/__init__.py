"""qformat: bit-exact emulation of the number formats of machine learning.

>>> import qformat as qf
>>> qf.encode([0.1, 448.0, 1e6], "fp8_e4m3fn")
>>> qf.round(x, qf.bf16)
>>> qf.explain("1.1e26", "fp32")

Each public function documents its options in its docstring; every cast is
cross-checked against torch, NumPy and ml_dtypes.
"""

from __future__ import annotations

from . import _native
from ._convert import decode, encode, round
from ._dispatch import fake_quantize, quantize
from ._explain import Explanation, explain, explain_bits, representable
from ._formats import (
    FloatFormat,
    Format,
    IntFormat,
    format,
    formats,
    p3109,
)
from ._limits import FormatInfo, IntInfo, finfo, iinfo
from ._native import NanInputError, ParseError, QFormatError, RangeError
from ._profiles import Profile, profile, profiles
from ._qarray import QuantizedArray, dequantize, pack, unpack
from ._quant import error_stats, qparams, quantize_affine
from .io.checkpoint import dequantize_file, load, quantize_file

__version__ = _native.__version__

# The exception classes live in the compiled module; they belong to the
# public package (tracebacks print ``qformat.QFormatError``).
for _exc in (QFormatError, NanInputError, RangeError, ParseError):
    _exc.__module__ = "qformat"
del _exc

__all__ = [
    "Format", "FloatFormat", "IntFormat", "FormatInfo", "IntInfo",
    "format", "formats", "finfo", "iinfo", "p3109",
    "encode", "decode", "round", "profiles", "profile", "Profile",
    "explain", "representable", "explain_bits", "Explanation",
    "QFormatError", "NanInputError", "RangeError", "ParseError",
    "qparams", "quantize", "dequantize", "fake_quantize", "quantize_affine",
    "error_stats", "pack", "unpack", "QuantizedArray",
    "quantize_file", "dequantize_file", "load",
]


def __getattr__(name: str) -> Format:
    """Built-in formats as attributes: ``qf.bf16``, ``qf.fp8_e4m3fn`` …"""
    from ._formats import _BUILTINS

    if name in _BUILTINS:
        return _BUILTINS[name]
    raise AttributeError(f"module 'qformat' has no attribute {name!r}")


def __dir__() -> list[str]:
    from ._formats import _BUILTINS

    return sorted(set(__all__) | set(_BUILTINS) | set(globals()))
