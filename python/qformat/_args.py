"""Every check of a caller's options, axes, seeds and shapes, in one place.

The public functions (conversion, quantization, explanation, the checkpoint
writer, the dask adapter) call these before any work, so one option is
checked once, by one rule, with one message. Nothing here converts data.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Union

import numpy as np

from ._profiles import ProfileSpec
from ._profiles import profile as resolve_profile

__all__ = ["ROUNDINGS", "Clip", "NanOption", "seed", "rounding", "conversion_options",
           "sr_bits", "random_words",
           "axis_index", "quant_axis", "param_shape", "grouped_shape", "clip_range",
           "quant_nan_code"]

# The rounding modes, as the Rust core names them (its parser is the judge;
# this list serves help texts and early messages).
ROUNDINGS = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic")

NanOption = Optional[Union[str, int]]
Clip = Optional[Union[float, tuple]]


def _is_int(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (numbers.Integral, np.integer))


def seed(value: Any) -> Optional[int]:
    """A seed as the core takes it: None, or an int reduced modulo 2**64."""
    if value is None:
        return None
    if not _is_int(value):
        raise TypeError("seed must be an int")
    return int(value) % (1 << 64)


def sr_bits(value: Any) -> Optional[int]:
    """A stochastic-rounding bit count: None (all bits) or 1 to 64."""
    if value is None:
        return None
    if not _is_int(value):
        raise TypeError(f"sr_bits must be None or an int, not {value!r}")
    if not 1 <= int(value) <= 64:
        raise ValueError(f"sr_bits={int(value)} is out of range: stochastic rounding "
                         "compares 1 to 64 random bits")
    return int(value)


def random_words(words: Optional[np.ndarray], bits: Optional[int],
                 shape: tuple) -> tuple[Optional[np.ndarray], Optional[int]]:
    """The caller's stochastic-rounding words (``random_bits=``, already an
    array) as flat uint64, and the number of their low bits each decision
    uses (default: the whole word). They must be unsigned, shaped like the
    input, and hold ``bits`` bits."""
    if words is None:
        return None, bits
    if words.dtype.kind != "u":
        raise TypeError("random_bits must be an unsigned integer array (uint8, uint16, uint32 "
                        f"or uint64), not {words.dtype}: the words are raw random bits")
    if words.shape != shape:
        raise ValueError(f"random_bits has shape {words.shape} but x has shape {shape}; "
                         "give one random word per element")
    width = words.dtype.itemsize * 8
    if bits is None:
        bits = width
    elif bits > width:
        raise ValueError(f"sr_bits={bits} but random_bits is {words.dtype}, which holds "
                         f"only {width} bits per element")
    return np.ascontiguousarray(words.reshape(-1), dtype=np.uint64), bits


def rounding(value: Any, *, optional: bool = False) -> Optional[str]:
    """A rounding name (None allowed when ``optional``: the profile decides)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        what = "None or a str" if optional else "a str"
        raise TypeError(f"rounding must be {what}, one of {', '.join(ROUNDINGS)}")
    return value


def _flag(name: str, value: Any) -> Optional[bool]:
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be None, True or False, not {value!r}")
    return None if value is None else bool(value)


def _nan(nan: NanOption) -> NanOption:
    if isinstance(nan, bool) or (nan is not None and not isinstance(nan, (str, int, np.integer))):
        raise TypeError("nan must be None, a policy name or an int bit pattern")
    if isinstance(nan, (int, np.integer)) and int(nan) < 0:
        raise ValueError("nan= bit pattern must be non-negative")
    return int(nan) if isinstance(nan, np.integer) else nan


def conversion_options(rounding_: Optional[str], subnormals: Optional[bool],
                       overflow: Optional[str], nan: NanOption, profile: ProfileSpec,
                       seed_: Optional[int], ftz: Optional[bool] = None,
                       daz: Optional[bool] = None, sr_bits_: Optional[int] = None) -> dict:
    """The option dict the native conversions read; None means "not given",
    so the profile (then the IEEE default) decides that option."""
    if overflow is not None and not isinstance(overflow, str):
        raise TypeError("overflow must be None or a str")
    return {"rounding": rounding(rounding_, optional=True),
            "subnormals": _flag("subnormals", subnormals), "overflow": overflow,
            "nan": _nan(nan), "profile": resolve_profile(profile), "seed": seed(seed_),
            "sr_bits": sr_bits(sr_bits_), "ftz": _flag("ftz", ftz), "daz": _flag("daz", daz)}


def axis_index(axis: int, ndim: int) -> Optional[int]:
    """``axis`` counted from 0 (negative counts from the end), or None when
    an array of ``ndim`` dimensions has no such axis."""
    return axis % ndim if ndim and -ndim <= axis < ndim else None


def quant_axis(shape: tuple, axis: Optional[int], group_size: Optional[int]) -> Optional[int]:
    """The axis of a quantizer's scales (None: per tensor); a group without
    an axis groups along the last axis, and must divide it."""
    if axis is None and group_size is None:
        return None
    if axis is not None and not _is_int(axis):
        raise TypeError(f"axis must be an int or None, not {type(axis).__name__}")
    if group_size is not None and not _is_int(group_size):
        raise TypeError(f"group_size must be an int or None, not {type(group_size).__name__}")
    a = -1 if axis is None else int(axis)
    k = axis_index(a, len(shape))
    if k is None:
        raise ValueError(f"axis {a} is out of bounds for an array of {len(shape)} dimensions")
    if group_size is not None:
        if group_size <= 0:
            raise ValueError(f"group_size must be positive, got {group_size}")
        if shape[k] % group_size:
            raise ValueError(
                f"group_size {group_size} does not divide the length {shape[k]} of axis {k}")
    return k


def param_shape(shape: tuple, k: Optional[int], group_size: Optional[int]) -> tuple:
    """Shape of the scale array: () per tensor, 1s except the axis per
    channel, ``shape[:k] + (groups, 1) + shape[k+1:]`` per group (it
    broadcasts against the values reshaped into groups)."""
    if k is None:
        return ()
    if group_size is None:
        return tuple(n if i == k else 1 for i, n in enumerate(shape))
    return shape[:k] + (shape[k] // group_size, 1) + shape[k + 1:]


def grouped_shape(shape: tuple, k: Optional[int], group_size: Optional[int]) -> tuple:
    """Shape of the values with the grouped axis split into (groups, group_size)."""
    if k is None or group_size is None:
        return shape
    return shape[:k] + (shape[k] // group_size, group_size) + shape[k + 1:]


def clip_range(clip: Clip, percentile: Optional[float]) -> tuple:
    """Validated (clip pair or None, percentile or None)."""
    if clip is not None and percentile is not None:
        raise ValueError("pass clip= or percentile=, not both")
    pair = None
    if clip is not None:
        if isinstance(clip, (tuple, list, np.ndarray)):
            if len(clip) != 2:
                raise ValueError(f"clip must be a positive number or a pair (lo, hi), got {clip!r}")
            pair = (float(clip[0]), float(clip[1]))
        else:
            c = float(clip)
            if not c > 0:
                raise ValueError(f"clip must be positive, got {clip!r}")
            pair = (-c, c)
        if not (math.isfinite(pair[0]) and math.isfinite(pair[1]) and pair[0] <= pair[1]):
            raise ValueError(f"clip range {pair} must be finite with lo <= hi")
    if percentile is not None:
        percentile = float(percentile)
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    return pair, percentile


def quant_nan_code(nan: Any) -> Optional[int]:
    """The code a quantizer gives NaN elements (None: NaN is an error)."""
    if isinstance(nan, str):
        if nan != "error":
            raise ValueError(f"nan must be 'error' or an int code, not {nan!r}")
        return None
    if not _is_int(nan):
        raise TypeError(f"nan must be 'error' or an int code, not {type(nan).__name__}")
    return int(nan)
