"""DeepSeek-V3's FP8 weights: ``qf.quantize(w, "fp8_block128")``.

A 2-D weight is cut into 128×128 blocks (edge blocks as if zero-padded);
each block gets the float32 scale ``s = amax / 448`` (``pow2_scales=True``:
``2**ceil(log2(amax / 448))``, so that dividing by it is exact) and its
elements become fp8_e4m3fn codes of ``x / s`` (a float32 division, then
torch's nearest-even cast), as DeepSeek-V3's ``weight_quant`` kernel does.
The scales are stored as ``weight_scale_inv`` of shape
``(ceil(M/128), ceil(N/128))``: the factor that dequantizes a block.
An all-zero block gets scale 1 (DeepSeek's formula would divide 0 by 0);
a scale that underflows to 0 becomes 2**-149. The Rust core
(``qformat_core::quant::fp8_block``) does the work, block rows in parallel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native
from ._formats import Format, format
from ._qarray import QuantizedArray

__all__ = ["FP8BlockArray", "quantize_fp8_block"]

BLOCK = 128


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
        DeepSeek's ``weight_dequant``), then ``dtype``: one parallel Rust
        pass (``quant::fp8_block::dequantize``, GIL released)."""
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, not {dt}")
        m, n = self.values.shape
        out = np.empty((m, n), np.float32)
        _native.fp8_block_dequantize(np.ascontiguousarray(self.values, np.uint8).reshape(-1),
                                     m, n,
                                     np.ascontiguousarray(self.weight_scale_inv,
                                                          np.float32).reshape(-1),
                                     out.reshape(-1))
        return out.astype(dt, copy=False)

    def __repr__(self) -> str:
        return f"FP8BlockArray(shape={self.values.shape}, nbytes={self.nbytes})"


def quantize_fp8_block(x: Any, pow2_scales: bool = False) -> FP8BlockArray:
    """A 2-D weight (finite floats, converted to float32) in DeepSeek-V3's
    128×128 FP8 blocks; see the module docstring."""
    w = np.asarray(x)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"fp8_block128 quantizes numbers, not {w.dtype}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"fp8_block128 quantizes 2-D weights; got shape {w.shape}")
    m, n = w.shape
    codes = np.empty((m, n), np.uint8)
    scales = np.empty((-(-m // BLOCK), -(-n // BLOCK)), np.float32)
    _native.fp8_block_quantize(w.reshape(-1), m, n, bool(pow2_scales), codes.reshape(-1),
                               scales.reshape(-1))
    return FP8BlockArray(codes, scales)
