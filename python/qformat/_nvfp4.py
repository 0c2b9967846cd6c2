"""NVFP4: ``qf.quantize(x, "nvfp4")``, NVIDIA's two-level FP4 as torchao
quantizes it (``torchao.prototype.mx_formats.nvfp4_tensor.nvfp4_quantize``
with ``per_tensor_amax_to_scale(amax)``).

Elements are e2m1 (fp4_e2m1fn), one e4m3 (fp8_e4m3fn) scale per 16
consecutive values of the last axis and one float32 scale per tensor,
``amax / (448 * 6)``. The Rust core (``qformat_core::quant::nvfp4``) repeats
torchao's float32 operations in order, so codes and scales are bit-equal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _native
from ._convert import decode
from ._formats import Format, format
from ._qarray import QuantizedArray

__all__ = ["NVFP4Array", "quantize_nvfp4"]

BLOCK = 16
# The smallest per-tensor scale whose float32 reciprocal is finite (2^-127).
_SMALLEST_TENSOR_SCALE = float(np.ldexp(1.0, -127))


class NVFP4Array(QuantizedArray):
    """A tensor in NVFP4. ``packed``: e2m1 pairs, element ``2i`` in the low
    nibble (torch's ``float4_e2m1fn_x2``; ``tobytes()``), shaped
    ``(..., last // 2)``; ``scale_codes``: e4m3 bytes, one per block,
    shaped ``(..., last // 16)``; ``tensor_scale``: the float32 per-tensor
    scale. ``scale`` is their float32 product per block, as torchao's
    ``get_hp_scales``, so ``x ≈ decode(values) * scale`` after grouping."""

    def __init__(self, packed: np.ndarray, scale_codes: np.ndarray, tensor_scale: float,
                 shape: tuple) -> None:
        self.packed = packed
        self.scale_codes = scale_codes
        self.tensor_scale = np.float32(tensor_scale)
        self._shape = tuple(shape)
        self.scheme = "symmetric"
        self.axis = len(shape) - 1
        self.group_size = BLOCK
        self.format: Format = format("fp4_e2m1fn")
        self.scale_format = format("fp8_e4m3fn")

    @property
    def shape(self) -> tuple:
        """Shape of the quantized array."""
        return self._shape

    @property
    def nbytes(self) -> int:
        """Packed elements, e4m3 block scales and the float32 tensor scale."""
        return int(self.packed.nbytes + self.scale_codes.nbytes + 4)

    def tobytes(self) -> bytes:
        """The packed fp4x2 elements, as torch's float4_e2m1fn_x2 stores them."""
        return self.packed.tobytes()

    @property
    def values(self) -> np.ndarray:  # type: ignore[override]
        """e2m1 codes (uint8), shaped like the array."""
        p = self.packed.reshape(-1)
        codes = np.empty(2 * p.size, np.uint8)
        codes[0::2], codes[1::2] = p & 0x0F, p >> 4
        return codes.reshape(self._shape)

    @property
    def scale(self) -> np.ndarray:  # type: ignore[override]
        """Per-block float32 scale ``tensor_scale * e4m3(scale_codes)``,
        shaped ``(..., blocks, 1)``."""
        s = decode(self.scale_codes, "fp8_e4m3fn", dtype=np.float32) * self.tensor_scale
        return s.astype(np.float32).reshape(self._shape[:-1] + (self._shape[-1] // BLOCK, 1))

    @property
    def zero_point(self) -> np.ndarray:  # type: ignore[override]
        """Always 0 (e2m1 elements are symmetric)."""
        return np.zeros(self._shape[:-1] + (self._shape[-1] // BLOCK, 1), np.int64)

    def dequantize(self, dtype: Any = np.float32) -> np.ndarray:
        """``decode(values) * scale`` in float32 (torchao's ``dequantize``),
        then ``dtype`` (float32 or float64). One parallel Rust pass
        (``quant::nvfp4::dequantize``, GIL released) forms the same bits as
        that NumPy formula without its decoded and broadcast temporaries."""
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, not {dt}")
        out = np.empty(self._shape, np.float32)
        _native.nvfp4_dequantize(np.ascontiguousarray(self.packed, np.uint8).reshape(-1),
                                 np.ascontiguousarray(self.scale_codes, np.uint8).reshape(-1),
                                 float(self.tensor_scale), out.reshape(-1))
        return out.astype(dt, copy=False)

    def __repr__(self) -> str:
        return (f"NVFP4Array(shape={self._shape}, tensor_scale={float(self.tensor_scale)!r}, "
                f"nbytes={self.nbytes})")


def quantize_nvfp4(x: Any) -> NVFP4Array:
    """``x`` (floats whose last axis is a multiple of 16, converted to
    float32 first) in NVFP4 with the per-tensor scale of its amax."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"nvfp4 quantizes numbers, not {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.ndim == 0 or arr.shape[-1] % BLOCK:
        raise ValueError(f"nvfp4 needs a last axis that is a multiple of {BLOCK}; "
                         f"got shape {arr.shape}")
    flat = arr.reshape(-1)
    t = _native.nvfp4_tensor_scale(flat)
    if t < _SMALLEST_TENSOR_SCALE:
        # All zero, or so small that 1/t overflows float32 (torchao then
        # produces NaN codes): a usable scale instead; the codes are zeros.
        t = _SMALLEST_TENSOR_SCALE
    packed = np.empty(arr.shape[:-1] + (arr.shape[-1] // 2,), np.uint8)
    scales = np.empty(arr.shape[:-1] + (arr.shape[-1] // BLOCK,), np.uint8)
    _native.nvfp4_quantize(flat, t, scales.reshape(-1), packed.reshape(-1))
    return NVFP4Array(packed, scales, t, arr.shape)
