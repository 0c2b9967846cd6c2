"""Comparison and classification: each mismatching element gets a class
(NaN bits, signed zero, subnormal flush, rounding direction, overflow rule,
int out of range, other); counts and first examples are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from .._convert import decode
from .._formats import FloatFormat, IntFormat
from .._limits import finfo
from .backends import word_dtype
from .sampling import all_codes

CLASSES = ("nan_bits", "signed_zero", "subnormal_flush", "rounding_direction",
           "overflow_rule", "int_out_of_range", "other")
EXAMPLES = 5                 # first examples kept per class and case

# ---------------------------------------------------------------------------
# comparison and classification


@dataclass
class Tally:
    """Mismatch counts and first examples of one case; ``tolerated`` holds
    the NaN-bit differences of decoding, which do not fail the check."""

    counts: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)
    tolerated: dict = field(default_factory=dict)
    tolerated_examples: dict = field(default_factory=dict)

    def add(self, classes: np.ndarray, row: Callable[[int], dict], tolerated: bool = False) -> None:
        """Count ``classes`` (class ids) and keep the first examples of each;
        ``row(j)`` builds the example of element j (only called for kept ones)."""
        counts = self.tolerated if tolerated else self.counts
        examples = self.tolerated_examples if tolerated else self.examples
        for cid, k in enumerate(np.bincount(classes, minlength=len(CLASSES)).tolist()):
            if not k:
                continue
            name = CLASSES[cid]
            counts[name] = counts.get(name, 0) + k
            keep = examples.setdefault(name, [])
            if len(keep) < EXAMPLES:
                keep += [row(j) for j in np.flatnonzero(classes == cid)[:EXAMPLES - len(keep)]]

    @property
    def mismatches(self) -> int:
        return sum(self.counts.values())


_CID = {name: np.int8(i) for i, name in enumerate(CLASSES)}


class ValueTable:
    """Exact values of every code of a <=16-bit float format, for
    classification by lookup (float32 holds all of them exactly)."""

    def __init__(self, fmt: FloatFormat, dtype: np.dtype) -> None:
        with np.errstate(invalid="ignore"):
            self.values = decode(all_codes(fmt), fmt).astype(dtype)
        info = finfo(fmt)
        self.max, self.tiny = dtype.type(info.max), dtype.type(info.smallest_normal)
        self.signed = fmt.signed


def classify_float(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
                    table: ValueTable) -> np.ndarray:
    """A class id per mismatching element of a float target (later rules win:
    rounding < flush < signed zero < overflow < NaN bits)."""
    dt = table.values.dtype
    xv = x.astype(dt)
    if not table.signed:                  # unsigned scale formats: compare magnitudes
        xv = np.abs(xv)
    a, b = table.values[ours], table.values[theirs]
    nan_in, an, bn = np.isnan(xv), np.isnan(a), np.isnan(b)
    ax = np.abs(xv)
    cls = np.full(x.shape, _CID["other"], np.int8)
    with np.errstate(invalid="ignore"):
        lo, hi = np.fmin(a, b), np.fmax(a, b)
        cls[(lo <= xv) & (xv <= hi)] = _CID["rounding_direction"]
        # a zero on one side is a flush unless x lies strictly between the
        # two results (then it is a rounding choice, e.g. double rounding)
        strictly = (lo < xv) & (xv < hi)
        cls[((a == 0) ^ (b == 0)) & (ax < table.tiny) & (xv != 0) & ~an & ~bn & ~strictly] = \
            _CID["subnormal_flush"]
        cls[(a == 0) & (b == 0)] = _CID["signed_zero"]
        cls[(ax > table.max) & ~nan_in] = _CID["overflow_rule"]
    cls[nan_in | (an & bn)] = _CID["nan_bits"]
    return cls


def classify_int(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
                  fmt: IntFormat) -> np.ndarray:
    """A class id per mismatching element of an integer target."""
    xv = x.astype(np.float64)
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    cls = np.full(x.shape, _CID["other"], np.int8)
    with np.errstate(invalid="ignore"):
        between = (np.fmin(a, b) <= xv) & (xv <= np.fmax(a, b)) & (np.abs(a - b) == 1)
        cls[between] = _CID["rounding_direction"]
        cls[~((xv >= fmt.min) & (xv <= fmt.max))] = _CID["int_out_of_range"]  # NaN, inf too
    return cls


def classify_decode(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
                     ints: bool) -> tuple:
    """Class ids, and the tolerated mask (both results NaN), for X -> f32;
    ``ints``: x holds integer values (int -> float32 rounding), not codes."""
    a, b = ours.view(np.float32), theirs.view(np.float32)
    cls = np.full(x.shape, _CID["other"], np.int8)
    if ints:
        xv, av, bv = x.astype(np.float64), a.astype(np.float64), b.astype(np.float64)
        cls[(np.fmin(av, bv) <= xv) & (xv <= np.fmax(av, bv))] = _CID["rounding_direction"]
    cls[(a == 0) & (b == 0)] = _CID["signed_zero"]
    cls[np.isnan(a) | np.isnan(b)] = _CID["nan_bits"]
    return cls, np.isnan(a) & np.isnan(b)


def _hex(v: Any, width: int) -> str:
    return f"0x{int(v):0{width}x}"


def row_maker(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
               values: Optional[tuple] = None) -> Callable[[int], dict]:
    """Example builder: input bits and value, our and their result bits (and
    the integer values for integer targets)."""
    xw = x.view(word_dtype(x.dtype))
    width, ow = 2 * x.dtype.itemsize, 2 * ours.dtype.itemsize

    def row(j: int) -> dict:
        r = {"input": _hex(xw[j], width), "value": repr(x[j].item()),
             "ours": _hex(ours[j], ow), "theirs": _hex(theirs[j], ow)}
        if values is not None:
            r["ours_value"], r["theirs_value"] = values[0][j].item(), values[1][j].item()
        return r
    return row


