"""Integer targets of ``encode`` and ``round`` (``encode(x, "int8")``): the
exact input value rounded once to an integer (any rounding mode), then the
overflow policy ("saturate" by default, "wrap", "error") and the NaN policy
("error" by default, or an int). ``profile="torch-cpu"`` / ``"numpy"``
reproduce those libraries' casts (truncation, then the trip through int32).
The work happens in ``qformat_core::int_cast``."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _native
from ._arrays import prepare_out, run_into
from ._formats import IntFormat, format

__all__ = ["encode_int", "round_int"]


def _source_args(src: Any) -> tuple:
    """The flat source array and its float spec (None for integer sources)."""
    if src.fmt is None:
        return src.ints, None
    return src.words, src.fmt._spec


def encode_int(src: Any, fmt: IntFormat, opts: dict, out: Optional[np.ndarray]) -> np.ndarray:
    """Integer values of ``src`` (a ``_convert._Source``) in ``fmt.storage_dtype``."""
    result = prepare_out(out, src.shape, fmt.storage_dtype)
    data, spec = _source_args(src)
    return run_into(result, lambda w: _native.encode_to_int(data, spec, w, fmt._spec, opts))


def round_int(src: Any, fmt: IntFormat, opts: dict, out: Optional[np.ndarray]) -> np.ndarray:
    """The integers of :func:`encode_int` as floats of the input's own float
    dtype (float64 for integer inputs)."""
    if src.fmt is None:
        dtype, out_fmt = np.dtype(np.float64), format("fp64")
    else:
        dtype, out_fmt = src.dtype, src.fmt
    result = prepare_out(out, src.shape, dtype)
    data, spec = _source_args(src)
    return run_into(result, lambda w: _native.round_to_int(data, spec, w, fmt._spec, out_fmt._spec, opts))
