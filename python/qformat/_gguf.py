"""GGUF block types (llama.cpp): ``qf.quantize(x, "q8_0")`` and ``.gguf`` files.

Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and GGUF's MXFP4 (``"gguf_mxfp4"``) put 32
consecutive values of the last axis in a block with a half-precision scale
(and minimum, for the ``_1`` types; an e8m0 exponent for MXFP4). The bytes
equal those of gguf-py's ``gguf.quants.quantize``; the Rust core
(``qformat_core::quant::gguf``) repeats its float32 arithmetic step by step.
The ternary TQ1_0/TQ2_0 (256 values, codes -1/0/+1 times ``d = absmax``)
are gguf-py's too.

The K-quants Q4_K, Q5_K and Q6_K put 256 values in a super-block of
sub-blocks (8 of 32 with a scale and a minimum, or 16 of 16 with a signed
scale) whose 6- or 8-bit scales are themselves scaled by a half-precision
``d`` (and ``dmin``). gguf-py only reads them; the bytes here are those of
llama.cpp's reference quantizer (``quantize_row_q4_K_ref`` and friends),
and the values those of gguf-py's ``dequantize``. A last axis that is not a
multiple of the block size is a ValueError (``qf.quantize``), or keeps the
tensor in float32 in a ``.gguf`` file (noted in the report).
Writing ``.gguf`` files is ``qformat.io.gguf``.

Layouts of one block (little-endian, as on disk):

* q8_0: ``d`` (f16), 32 int8 codes; ``x = d * q``
* q4_0: ``d`` (f16), 16 bytes of nibbles; ``x = d * (q - 8)``
* q4_1: ``d``, ``m`` (f16), 16 bytes of nibbles; ``x = d * q + m``
* q5_0: ``d``, 4 bytes of 5th bits, 16 bytes of nibbles; ``x = d * (q - 16)``
* q5_1: ``d``, ``m``, 4 bytes of 5th bits, 16 bytes of nibbles; ``x = d * q + m``
* gguf_mxfp4: ``e`` (e8m0), 16 bytes of e2m1 nibbles; ``x = 2^(e-127) * e2m1(q)``
* q4_k, q5_k, q6_k, tq1_0, tq2_0 (256 values): ``_gguf_fields.py`` reads
  them; the Rust modules ``quant::gguf_kquants`` and ``quant::gguf_ternary``
  describe them byte by byte.

Nibbles: element ``j`` in the low nibble of byte ``j``, element ``j + 16``
in its high nibble; the 5th bit of element ``j`` is bit ``j`` of a
little-endian uint32.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _gguf_fields as fields
from . import _native
from ._formats import Format, IntFormat, format
from ._qarray import QuantizedArray

__all__ = ["GGUF_TYPES", "GGUFArray", "quantize_gguf"]

# recipe name -> name in the Rust core and gguf-py's GGMLQuantizationType member
GGUF_TYPES = {
    "q8_0": ("q8_0", "Q8_0"),
    "q4_0": ("q4_0", "Q4_0"),
    "q4_1": ("q4_1", "Q4_1"),
    "q5_0": ("q5_0", "Q5_0"),
    "q5_1": ("q5_1", "Q5_1"),
    "gguf_mxfp4": ("mxfp4", "MXFP4"),
    "q4_k": ("q4_k", "Q4_K"),
    "q5_k": ("q5_k", "Q5_K"),
    "q6_k": ("q6_k", "Q6_K"),
    "tq1_0": ("tq1_0", "TQ1_0"),
    "tq2_0": ("tq2_0", "TQ2_0"),
}


def block_size(recipe: str) -> int:
    """Values per block of a GGUF type: 32, or 256 (K-quants, ternary)."""
    return int(_native.gguf_block_shape(GGUF_TYPES[recipe][0])[0])


class GGUFArray(QuantizedArray):
    """A tensor in GGUF blocks: ``blocks`` holds the bytes exactly as a
    ``.gguf`` file stores them (``tobytes()``); ``values``, ``scale``,
    ``zero_point`` (and ``minimum`` for q4_1/q5_1/q4_k/q5_k) are read out
    of them.

    ``x ≈ (values - zero_point) * scale + minimum`` after grouping along the
    last axis in groups of ``group_size`` (32; 16 for q6_k, whose 256-value
    super-blocks hold 16 scales; 256 for tq1_0/tq2_0); for gguf_mxfp4
    ``x ≈ decode(values, fp4_e2m1fn) * scale``. The K-quants' ``scale`` is
    the float32 product of the super-block's ``d`` and the sub-block's
    6- or 8-bit scale (``scale_format`` fp32), exactly as dequantized.
    """

    def __init__(self, blocks: np.ndarray, recipe: str, shape: tuple) -> None:
        self.blocks = blocks
        self.recipe = recipe
        self._shape = tuple(shape)
        self.scheme = ("asymmetric" if recipe in ("q4_1", "q5_1", "q4_k", "q5_k")
                       else "symmetric")
        self.axis = len(shape) - 1
        self.group_size = fields.LAYOUT[recipe][2]
        mx = recipe == "gguf_mxfp4"
        self.format: Format = format("fp4_e2m1fn") if mx else _code_format(recipe)
        two_level = recipe in ("q4_k", "q5_k", "q6_k")
        self.scale_format = format("fp8_e8m0fnu" if mx else "fp32" if two_level else "fp16")

    @property
    def shape(self) -> tuple:
        """Shape of the quantized array."""
        return self._shape

    @property
    def nbytes(self) -> int:
        """Bytes on disk: the blocks, scales included."""
        return int(self.blocks.nbytes)

    def tobytes(self) -> bytes:
        """The blocks, row after row, exactly as a .gguf file stores them."""
        return self.blocks.tobytes()

    def _fields(self) -> np.ndarray:
        return self.blocks.reshape(-1, _native.gguf_block_shape(GGUF_TYPES[self.recipe][0])[1])

    @property
    def values(self) -> np.ndarray:  # type: ignore[override]
        """Element codes (uint8; int8 for q8_0), shaped like the array."""
        return fields.codes(self.recipe, self._fields()).reshape(self._shape)

    @property
    def scale(self) -> np.ndarray:  # type: ignore[override]
        """Each group's scale as float32, shaped ``(..., groups, 1)``."""
        return fields.scales(self.recipe, self._fields()).reshape(self._group_shape())

    @property
    def zero_point(self) -> np.ndarray:  # type: ignore[override]
        """The code offset (8 for q4_0, 16 for q5_0, 32 for q6_k, 1 for
        tq1_0/tq2_0, else 0), per group."""
        return np.full(self._group_shape(), fields.LAYOUT[self.recipe][1], dtype=np.int64)

    @property
    def minimum(self) -> Optional[np.ndarray]:
        """q4_1/q5_1: each block's minimum ``m``; q4_k/q5_k: each
        sub-block's ``-(dmin * m)``; as float32. None for the other types."""
        m = fields.minimums(self.recipe, self._fields())
        return None if m is None else m.reshape(self._group_shape())

    def _group_shape(self) -> tuple:
        return self._shape[:-1] + (self._shape[-1] // self.group_size, 1)

    def dequantize(self, dtype: Any = np.float32) -> np.ndarray:
        """The values gguf-py's ``dequantize`` gives (float32 arithmetic),
        in ``dtype`` (float32 or float64)."""
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, not {dt}")
        out = np.empty(int(np.prod(self._shape, dtype=np.int64)), dtype=np.float32)
        _native.gguf_dequantize(self.blocks.reshape(-1), GGUF_TYPES[self.recipe][0], out)
        return out.reshape(self._shape).astype(dt, copy=False)

    def __repr__(self) -> str:
        return f"GGUFArray(shape={self._shape}, recipe={self.recipe!r}, nbytes={self.nbytes})"


def _code_format(recipe: str) -> Format:
    bits, offset, _ = fields.LAYOUT[recipe]
    return IntFormat(bits, signed=recipe == "q8_0", name=None)


def quantize_gguf(x: Any, recipe: str) -> GGUFArray:
    """``x`` (any float array whose last axis is a multiple of the type's
    block size, 32 or 256; converted to float32 first, as gguf-py does) in
    GGUF blocks of type ``recipe``."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{recipe} quantizes numbers, not {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    core, _ = GGUF_TYPES[recipe]
    block, type_size = _native.gguf_block_shape(core)
    if arr.ndim == 0 or arr.shape[-1] % block:
        raise ValueError(
            f"{recipe} needs a last axis that is a multiple of {block} (GGUF blocks); "
            f"got shape {arr.shape}"
        )
    blocks = np.empty(arr.shape[:-1] + (arr.shape[-1] // block * type_size,), dtype=np.uint8)
    _native.gguf_quantize(arr.reshape(-1), core, blocks.reshape(-1))
    return GGUFArray(blocks, recipe, arr.shape)
