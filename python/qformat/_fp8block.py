"""DeepSeek-V3's FP8 weights: ``qf.quantize(w, "fp8_block128")``.

A 2-D weight is cut into 128×128 blocks (edge blocks as if zero-padded);
each block gets the float32 scale ``s = amax / 448`` (``pow2_scales=True``:
``2**ceil(log2(amax / 448))``, so that dividing by it is exact) and its
elements become fp8_e4m3fn codes of ``x / s`` (a float32 division, then
torch's nearest-even cast), as DeepSeek-V3's ``weight_quant`` kernel does.
The scales are stored as ``weight_scale_inv`` of shape
``(ceil(M/128), ceil(N/128))``: the factor that dequantizes a block.
An all-zero block gets scale 1 (DeepSeek's formula would divide 0 by 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._convert import decode, encode
from ._formats import Format, format
from ._qarray import QuantizedArray

__all__ = ["FP8BlockArray", "quantize_fp8_block"]

BLOCK = 128
E4M3_MAX = np.float32(448.0)


class FP8BlockArray(QuantizedArray):
    """A weight in DeepSeek-V3's FP8 layout: ``values`` (fp8_e4m3fn codes,
    uint8, the weight's shape; ``tobytes()``) and ``weight_scale_inv``
    (float32 per 128×128 block; also ``scale``)."""

    def __init__(self, values: np.ndarray, weight_scale_inv: np.ndarray) -> None:
        self.values = values
        self.weight_scale_inv = weight_scale_inv
        self.scheme = "symmetric"
        self.axis = None
        self.group_size = BLOCK
        self.format: Format = format("fp8_e4m3fn")
        self.scale_format = format("fp32")

    @property
    def scale(self) -> np.ndarray:  # type: ignore[override]
        """``weight_scale_inv``: one float32 per 128×128 block."""
        return self.weight_scale_inv

    @property
    def zero_point(self) -> np.ndarray:  # type: ignore[override]
        """Always 0."""
        return np.zeros(self.weight_scale_inv.shape, np.int64)

    @property
    def nbytes(self) -> int:
        """One byte per element plus the float32 scales."""
        return int(self.values.nbytes + self.weight_scale_inv.nbytes)

    def tobytes(self) -> bytes:
        """The fp8 codes, row-major, as the checkpoint's ``weight`` tensor."""
        return self.values.tobytes()

    def dequantize(self, dtype: Any = np.float32) -> np.ndarray:
        """``decode(values) * weight_scale_inv`` per block, in float32 (as
        DeepSeek's ``weight_dequant``), then ``dtype``."""
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, not {dt}")
        m, n = self.values.shape
        s = np.repeat(np.repeat(self.weight_scale_inv, BLOCK, 0), BLOCK, 1)[:m, :n]
        v = decode(self.values, "fp8_e4m3fn", dtype=np.float32)
        return (v * s).astype(dt, copy=False)

    def __repr__(self) -> str:
        return f"FP8BlockArray(shape={self.values.shape}, nbytes={self.nbytes})"


def _block_amax(w: np.ndarray) -> np.ndarray:
    """Largest magnitude of every 128×128 block (edge blocks zero-padded)."""
    m, n = w.shape
    bm, bn = -(-m // BLOCK), -(-n // BLOCK)
    padded = np.zeros((bm * BLOCK, bn * BLOCK), np.float32)
    padded[:m, :n] = np.abs(w)
    return padded.reshape(bm, BLOCK, bn, BLOCK).max(axis=(1, 3))


def _pow2_at_least(q: np.ndarray) -> np.ndarray:
    """The smallest power of two ``>= amax / 448``, decided exactly:
    ``2^k >= amax / 448`` iff ``2^k * 448 >= amax`` (exact in float64)."""
    amax = np.where(q == 0, 448.0, q.astype(np.float64))  # zero blocks: any k, replaced later
    k = np.ceil(np.log2(amax / 448.0))
    k = np.where(np.ldexp(448.0, (k - 1).astype(np.int32)) >= amax, k - 1, k)
    k = np.where(np.ldexp(448.0, k.astype(np.int32)) < amax, k + 1, k)
    return np.ldexp(np.float32(1), k.astype(np.int32)).astype(np.float32)


def quantize_fp8_block(x: Any, pow2_scales: bool = False) -> FP8BlockArray:
    """A 2-D weight (finite floats, converted to float32) in DeepSeek-V3's
    128×128 FP8 blocks; see the module docstring."""
    w = np.asarray(x)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"fp8_block128 quantizes numbers, not {w.dtype}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"fp8_block128 quantizes 2-D weights; got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("fp8_block128 holds finite values; the weight has NaN or inf")
    amax = _block_amax(w)
    with np.errstate(divide="ignore"):
        s = _pow2_at_least(amax) if pow2_scales else amax / E4M3_MAX
    s = np.where(amax == 0, np.float32(1), s).astype(np.float32)
    # amax below 448 * 2^-149 would give a zero scale: the smallest float32 instead.
    s = np.maximum(s, np.float32(2.0**-149))
    m, n = w.shape
    per_element = np.repeat(np.repeat(s, BLOCK, 0), BLOCK, 1)[:m, :n]
    codes = encode(w / per_element, "fp8_e4m3fn", profile="torch-cpu")
    return FP8BlockArray(codes, s)
