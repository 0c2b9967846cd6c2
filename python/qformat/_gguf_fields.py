"""Reading the fields of GGUF blocks: element codes, per-group scales and
minimums, as NumPy arrays (``GGUFArray.values`` / ``scale`` / ``minimum``).

Every type's values satisfy ``x = (code - zero_point) * scale + minimum``
per group, in float32 with the same roundings as gguf-py's ``dequantize``
(the super-block types' ``scale`` is the product ``d * sc`` and their
``minimum`` is ``-(dmin * m)``). ``blocks`` is ``(n_blocks, type_size)``
uint8; codes come back ``(n_blocks, block_size)``, scales and minimums
``(n_blocks, groups_per_block)``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

# recipe -> (code bits, zero point, values per scale)
LAYOUT = {"q8_0": (8, 0, 32), "q4_0": (4, 8, 32), "q4_1": (4, 0, 32), "q5_0": (5, 16, 32),
          "q5_1": (5, 0, 32), "gguf_mxfp4": (4, 0, 32), "q4_k": (4, 0, 32), "q5_k": (5, 0, 32),
          "q6_k": (6, 32, 16), "tq1_0": (2, 1, 256), "tq2_0": (2, 1, 256)}


def _f16(b: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def _bits(b: np.ndarray, shifts: list, mask: int) -> np.ndarray:
    """``(b >> s) & mask`` for each shift, stacked on a new axis before the last."""
    return np.stack([(b >> s) & mask for s in shifts], axis=-2)


def _scale_min_k4(packed: np.ndarray) -> tuple:
    """The eight 6-bit scales and minimums of Q4_K/Q5_K (``get_scale_min_k4``)."""
    d, m, md = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
    sc = np.concatenate([d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)], axis=1)
    mn = np.concatenate([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], axis=1)
    return sc.astype(np.float32), mn.astype(np.float32)


def codes(recipe: str, b: np.ndarray) -> np.ndarray:
    """Element codes (uint8; int8 for q8_0) in value order."""
    n = b.shape[0]
    if recipe == "q8_0":
        return b[:, 2:].view(np.int8)
    if recipe in ("q4_0", "q4_1", "q5_0", "q5_1", "gguf_mxfp4"):
        lo = b[:, -16:]
        q = np.concatenate([lo & 0x0F, lo >> 4], axis=1)
        if recipe.startswith("q5"):
            q |= np.unpackbits(b[:, -20:-16], axis=1, bitorder="little") << 4
        return q
    if recipe in ("q4_k", "q5_k"):
        q = _bits(b[:, -128:].reshape(n, 4, 32), [0, 4], 0x0F).reshape(n, 256)
        if recipe == "q5_k":
            q |= (_bits(b[:, 16:48], list(range(8)), 1).reshape(n, 256) << 4).astype(np.uint8)
        return q
    if recipe == "q6_k":
        lo = _bits(b[:, :128].reshape(n, 2, 64), [0, 4], 0x0F).reshape(n, 256)
        hi = _bits(b[:, 128:192].reshape(n, 2, 32), [0, 2, 4, 6], 0x03).reshape(n, 256)
        return lo | (hi << 4)
    if recipe == "tq2_0":
        return _bits(b[:, :64].reshape(n, 2, 32), [0, 2, 4, 6], 0x03).reshape(n, 256)
    if recipe == "tq1_0":
        parts = [(b[:, :32], 5), (b[:, 32:48], 5), (b[:, 48:52], 4)]
        digits = [np.stack([(p * np.uint8(3**k)) for k in range(m)], axis=1).reshape(n, -1)
                  for p, m in parts]
        return ((np.concatenate(digits, axis=1).astype(np.uint16) * 3) >> 8).astype(np.uint8)
    raise ValueError(f"{recipe!r} is not a GGUF block type")


def scales(recipe: str, b: np.ndarray) -> np.ndarray:
    """Each group's float32 scale (``d``, or ``d * sc`` for the K-quants)."""
    if recipe == "gguf_mxfp4":
        return np.ldexp(np.float32(1), b[:, :1].astype(np.int32) - 127).astype(np.float32)
    if recipe in ("q4_k", "q5_k"):
        return _f16(b[:, 0:2]) * _scale_min_k4(b[:, 4:16])[0]
    if recipe == "q6_k":
        return _f16(b[:, 208:210]) * b[:, 192:208].view(np.int8).astype(np.float32)
    if recipe == "tq1_0":
        return _f16(b[:, 52:54])
    if recipe == "tq2_0":
        return _f16(b[:, 64:66])
    return _f16(b[:, 0:2])


def minimums(recipe: str, b: np.ndarray) -> Optional[np.ndarray]:
    """Each group's float32 minimum (q4_1/q5_1: ``m``; q4_k/q5_k:
    ``-(dmin * m)``), or None for the types without one."""
    if recipe in ("q4_1", "q5_1"):
        return _f16(b[:, 2:4])
    if recipe in ("q4_k", "q5_k"):
        return -(_f16(b[:, 2:4]) * _scale_min_k4(b[:, 4:16])[1])
    return None
