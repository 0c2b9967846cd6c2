"""Integer targets of ``encode`` and ``round`` (``encode(x, "int8")``): the
exact input value rounded once to an integer (any rounding mode), then the
overflow policy ("saturate" by default, "wrap", "error") and the NaN policy
("error" by default, or an int). ``profile="torch-cpu"`` / ``"numpy"``
reproduce those libraries' casts (truncation, then the trip through int32).
The work happens in ``qformat_core::engine::int_cast`` (the rule) and
``qformat_core::fast::int`` (whole arrays)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _native
from ._arrays import prepare_out, run_into
from ._formats import IntFormat, format

__all__ = ["encode_int", "round_int"]


def _source_args(src: Any) -> tuple:
    """The flat source array and its float format (None for integer sources)."""
    if src.fmt is None:
        return src.ints, None
    return src.words, src.fmt


def _nan_value(opts: dict) -> tuple:
    """Split ``nan=`` (None, "error" or an int value, negative allowed) into
    the option dict's name and a separate int value."""
    nan = opts.get("nan")
    if nan is None or isinstance(nan, str):
        if nan not in (None, "error"):
            raise ValueError(
                f"nan={nan!r} does not apply to integer formats; use 'error' "
                "(the default) or an int value"
            )
        return opts, None
    if isinstance(nan, bool) or not isinstance(nan, (int, np.integer)):
        raise TypeError(f"nan must be 'error' or an int, not {type(nan).__name__}")
    if not -(2**63) <= int(nan) < 2**63:
        raise ValueError(f"nan={nan} does not fit in int64")
    return dict(opts, nan=None), int(nan)


def encode_int(src: Any, fmt: IntFormat, opts: dict, out: Optional[np.ndarray]) -> np.ndarray:
    """Integer values of ``src`` (a ``_convert._Source``) in ``fmt.storage_dtype``."""
    opts, nan_value = _nan_value(opts)
    result = prepare_out(out, src.shape, fmt.storage_dtype)
    data, spec = _source_args(src)
    return run_into(
        result, lambda w: _native.cast_to_int(data, spec, w, fmt, opts, None, nan_value), data
    )


def round_int(src: Any, fmt: IntFormat, opts: dict, out: Optional[np.ndarray]) -> np.ndarray:
    """The integers of :func:`encode_int` as floats of the input's own float
    dtype (float64 for integer inputs)."""
    if src.fmt is None:
        dtype, out_fmt = np.dtype(np.float64), format("fp64")
    else:
        dtype, out_fmt = src.dtype, src.fmt
    opts, nan_value = _nan_value(opts)
    result = prepare_out(out, src.shape, dtype)
    data, spec = _source_args(src)
    return run_into(
        result,
        lambda w: _native.cast_to_int(data, spec, w, fmt, opts, out_fmt, nan_value),
        data,
    )
