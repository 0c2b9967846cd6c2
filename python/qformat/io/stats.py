"""Error statistics of converted tensors, summed over runs of rows."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import _native

__all__ = ["ErrorStats"]


class ErrorStats:
    """Error statistics of a tensor, summed over runs of rows, each run's
    sums from one Rust pass (float64 sums, GIL released): the converting
    pass of a float cast, the pass over the input and the codes of a
    quantization, or ``_native.error_stats`` over two arrays (:meth:`add`).

    Errors (max/mean absolute, RMSE, SQNR) are over the elements whose input
    and result are both finite; NaN and infinities among the inputs and the
    results are counted, so a conversion that makes NaN or inf never reports
    "no error"; so are the nonzero inputs flushed to zero and, for float
    casts (whose sums come from the converting pass itself, which knows the
    target's range), the finite inputs beyond the largest finite value."""

    _KEYS = ("n", "finite", "max_abs", "sum_abs", "noise", "signal", "nan_in", "inf_in",
             "nan_out", "inf_out", "amax", "overflow", "flushed")
    _MAXIMA = ("max_abs", "amax")

    def __init__(self) -> None:
        self.sums: dict = dict.fromkeys(self._KEYS, 0)
        self.sums.update(dict.fromkeys(self._MAXIMA, 0.0))
        self.limits = False  # True once a sum with an overflow count is added

    def add(self, ref: np.ndarray, approx: np.ndarray) -> None:
        """Add one run of rows (float32 or float64 arrays of the same size)."""
        r = _flat_float(ref)
        a = _flat_float(approx)
        self.merge_sums(_native.error_stats(r, a))

    def merge_sums(self, other: dict, limits: bool = False) -> None:
        """Add sums of the native keys; ``limits``: they count overflow
        against the target's range (``overflow`` is reported only then)."""
        for k in self._KEYS:
            if k in self._MAXIMA:
                self.sums[k] = max(self.sums[k], other[k])
            else:
                self.sums[k] += other[k]
        self.limits |= limits

    def merge(self, other: ErrorStats) -> None:
        """Add another tensor's sums (for the file totals)."""
        self.merge_sums(other.sums, other.limits)

    def to_dict(self) -> dict:
        """The report's numbers: errors over finite pairs, non-finite counts."""
        s = self.sums
        m = s["finite"]
        if s["noise"] == 0:
            sqnr: Optional[float] = math.inf
        else:
            sqnr = 10 * math.log10(s["signal"] / s["noise"]) if s["signal"] else -math.inf
        out = {"max_abs": s["max_abs"], "mean_abs": s["sum_abs"] / m if m else 0.0,
               "rmse": math.sqrt(s["noise"] / m) if m else 0.0, "sqnr_db": sqnr,
               "nan_in": s["nan_in"], "inf_in": s["inf_in"], "nan_out": s["nan_out"],
               "inf_out": s["inf_out"], "amax": s["amax"], "flushed": s["flushed"]}
        if self.limits:
            out["overflow"] = s["overflow"]
        return out


def _flat_float(a: np.ndarray) -> np.ndarray:
    """A flat, contiguous float32/float64 view (a copy only for other types)."""
    if a.dtype not in (np.float32, np.float64) or not a.dtype.isnative:
        a = a.astype(np.float64)
    return np.ascontiguousarray(a).reshape(-1)
