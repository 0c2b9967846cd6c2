"""The result of quantizing: :class:`QuantizedArray` (codes plus the
scales that give them meaning), ``dequantize``, and the 4-bit packing that
stores two codes per byte."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _args, _native
from ._arrays import words
from ._convert import decode
from ._formats import FloatFormat, Format, FormatSpec, IntFormat, format

__all__ = ["QuantizedArray", "dequantize", "pack", "unpack"]


class QuantizedArray:
    """Codes plus the scales that give them meaning.

    ``values``: integer codes (NumPy integers of ``format.storage_dtype``), or
    bit patterns of a float element ``format``. ``scale`` / ``zero_point``:
    arrays that broadcast against ``values`` after grouping (see
    :meth:`grouped_values`): shape ``()`` per tensor, 1s except ``axis`` per
    channel, ``shape[:axis] + (groups, 1) + shape[axis+1:]`` per group.
    ``x ≈ (values - zero_point) * scale``; for float elements
    ``x ≈ decode(values) * scale``.
    """

    def __init__(
        self,
        values: np.ndarray,
        scale: np.ndarray,
        zero_point: np.ndarray,
        format: Format,
        scheme: str,
        axis: Optional[int],
        group_size: Optional[int],
        scale_format: Optional[Format] = None,
    ) -> None:
        self.values = values
        self.scale = scale
        self.zero_point = zero_point
        self.format = format
        self.scheme = scheme
        self.axis = axis
        self.group_size = group_size
        self.scale_format = scale_format

    @property
    def shape(self) -> tuple:
        """Shape of the quantized array."""
        return self.values.shape

    @property
    def nbytes(self) -> int:
        """Bytes when stored packed: the codes at ``format.bits`` each (two
        int4 per byte), the scales in ``scale_format`` (their own dtype when
        None) and, for the asymmetric scheme, the zero points in the code format."""
        total = -(-self.values.size * self.format.bits // 8)
        sbits = (
            self.scale_format.bits
            if self.scale_format is not None
            else self.scale.dtype.itemsize * 8
        )
        total += -(-self.scale.size * sbits // 8)
        if self.scheme == "asymmetric":
            total += -(-self.zero_point.size * self.format.bits // 8)
        return total

    def grouped_values(self) -> np.ndarray:
        """``values`` with the grouped axis split into (groups, group_size)."""
        shape = _args.grouped_shape(self.values.shape, self.axis, self.group_size)
        return self.values.reshape(shape)

    def dequantize(self, dtype: Any = np.float32) -> np.ndarray:
        """``(values - zero_point) * scale`` in ``dtype`` (float32 or float64).

        Integer codes: ``values - zero_point`` and the scale are converted to
        ``dtype`` (exact while they fit its significand) and their product
        is rounded once. Float elements: the product of the code's exact
        value and the float64 scale is rounded to float64, then to ``dtype``:
        two roundings when ``dtype`` is float32, which can differ from the
        exact product rounded once in the last bit."""
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, not {dt}")
        fast = self._dequantize_native(dt)
        if fast is not None:
            return fast
        v = self.grouped_values()
        if isinstance(self.format, FloatFormat):
            r = decode(v, self.format) * self.scale.astype(np.float64)
            return r.astype(dt).reshape(self.values.shape)
        d = (v.astype(np.int64) - self.zero_point).astype(dt)
        return (d * self.scale.astype(dt)).reshape(self.values.shape)

    def _dequantize_native(self, dt: np.dtype) -> Optional[np.ndarray]:
        """:meth:`dequantize` by one parallel Rust pass over the codes
        (``_native.dequantize_codes``, the same arithmetic bit for bit), or
        None when the array is not in the layout ``quantize`` gives (codes
        of integer words, scales and zero points of the parameter shape),
        and the NumPy formula runs instead."""
        v, scale, zp = self.values, np.asarray(self.scale), np.asarray(self.zero_point)
        k, g, shape = self.axis, self.group_size, np.shape(self.values)
        if not (isinstance(v, np.ndarray) and v.size and v.dtype.kind in "iu"):
            return None
        if k is None and g is not None or k is not None and not 0 <= k < len(shape):
            return None
        pshape = _args.param_shape(shape, k, g)
        if scale.shape != pshape or scale.dtype.kind != "f" or scale.dtype.itemsize > 8:
            return None
        is_float = isinstance(self.format, FloatFormat)
        if not is_float and (v.dtype.itemsize > 4 or zp.dtype.kind not in "iu"
                             or zp.shape not in ((), pshape)):
            return None
        zps = np.zeros(0, np.int64) if is_float else (
            np.broadcast_to(zp, pshape).astype(np.int64).reshape(-1))
        out = np.empty(shape, dt)
        _native.dequantize_codes(words(np.ascontiguousarray(v)), shape, k, g,
                                 scale.astype(np.float64).reshape(-1), zps,
                                 self.format if is_float else None, v.dtype.kind == "i",
                                 out.reshape(-1))
        return out

    def __repr__(self) -> str:
        g = f", group_size={self.group_size}" if self.group_size else ""
        sf = f", scale_format={self.scale_format.name}" if self.scale_format is not None else ""
        return (
            f"QuantizedArray(shape={self.values.shape}, format={self.format.name}, "
            f"scheme={self.scheme!r}, axis={self.axis}{g}{sf}, nbytes={self.nbytes})"
        )


def dequantize(q: QuantizedArray, *, dtype: Any = np.float32) -> np.ndarray:
    """``(q.values - q.zero_point) * q.scale`` in ``dtype``."""
    if not isinstance(q, QuantizedArray):
        raise TypeError(
            f"dequantize takes a QuantizedArray, not {type(q).__name__} "
            "(for raw codes use (codes - zero_point) * scale)"
        )
    return q.dequantize(dtype)


def _nibble_format(fmt: FormatSpec) -> Format:
    f = format(fmt)
    if f.bits != 4:
        raise ValueError(
            f"pack/unpack handle 4-bit formats (int4, uint4, fp4_e2m1fn); {f.name} "
            f"has {f.bits} bits"
        )
    return f


def pack(values: Any, fmt: FormatSpec) -> np.ndarray:
    """Two 4-bit codes per byte, low nibble first, in C order (an odd count
    pads the last high nibble with 0). Returns a flat uint8 array."""
    f = _nibble_format(fmt)
    v = np.asarray(values).reshape(-1)
    if v.dtype.kind not in "iu":
        raise TypeError(f"pack takes integer codes, not {v.dtype}")
    lo, hi = (f.min, f.max) if isinstance(f, IntFormat) else (0, 15)
    if v.size and (int(v.min()) < lo or int(v.max()) > hi):
        raise ValueError(f"values outside [{lo}, {hi}] are not {f.name} codes")
    nib = (v.astype(np.int64) & 0xF).astype(np.uint8)
    if nib.size % 2:
        nib = np.concatenate([nib, np.zeros(1, np.uint8)])
    return nib[0::2] | (nib[1::2] << 4)


def unpack(packed: Any, fmt: FormatSpec, shape: Any) -> np.ndarray:
    """Inverse of :func:`pack`: codes of ``fmt`` (int4 sign-extended into
    int8) in ``shape``."""
    f = _nibble_format(fmt)
    p = np.asarray(packed)
    if p.dtype != np.uint8:
        raise TypeError(f"packed data must be uint8, not {p.dtype}")
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64))
    if p.size != -(-n // 2):
        raise ValueError(
            f"{p.size} packed bytes hold {2 * p.size} codes, not {n} for shape {shape}"
        )
    p = p.reshape(-1)
    nib = np.empty(2 * p.size, dtype=np.uint8)
    nib[0::2] = p & 0xF
    nib[1::2] = p >> 4
    nib = nib[:n]
    if isinstance(f, IntFormat) and f.signed:
        out = nib.astype(np.int8)
        out[out > 7] -= 16
        return out.reshape(shape)
    return nib.astype(f.storage_dtype).reshape(shape)
