"""Opt-in: the K-quants (and TQ1_0/TQ2_0) byte for byte against llama.cpp's
own reference quantizers, ``quantize_row_q4_K_ref`` and friends, called
through ctypes from a library built by ``scripts/build_ggml_ref.sh``.

Skipped unless ``QFORMAT_GGML_LIB`` names that library (see
docs/verification/gguf.md): ggml is C code compiled on the test machine,
not a Python package, so the default suite cannot assume it.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import pytest
import qformat as qf
from _gguf_superblocks import QK_K, superblock_data

LIB = os.environ.get("QFORMAT_GGML_LIB")
pytestmark = pytest.mark.skipif(
    not LIB, reason="set QFORMAT_GGML_LIB to a libggml-quants-ref.so built by "
                    "scripts/build_ggml_ref.sh to compare with llama.cpp's quantizers")

# recipe -> (ggml function, bytes per block)
REFS = {"q4_k": ("quantize_row_q4_K_ref", 144), "q5_k": ("quantize_row_q5_K_ref", 176),
        "q6_k": ("quantize_row_q6_K_ref", 210), "tq1_0": ("quantize_row_tq1_0_ref", 54),
        "tq2_0": ("quantize_row_tq2_0_ref", 66)}


def _ggml_quantize(name: str, x: np.ndarray) -> np.ndarray:
    lib = ctypes.CDLL(str(LIB))
    fn_name, size = REFS[name]
    fn = getattr(lib, fn_name)
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    out = np.zeros(x.size // QK_K * size, np.uint8)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    return out


@pytest.mark.parametrize("name", sorted(REFS))
@pytest.mark.parametrize("seed", [0, 1])
def test_blocks_equal_llama_cpp(name, seed):
    x = superblock_data(seed)  # 2^20 values each
    want = _ggml_quantize(name, x)
    got = qf.quantize(x, name).blocks.reshape(-1)
    bad = np.nonzero(got != want)[0]
    size = REFS[name][1]
    assert bad.size == 0, (f"{bad.size} bytes differ in {np.unique(bad // size).size} of "
                           f"{want.size // size} blocks, first at byte {bad[0]} "
                           f"(block {bad[0] // size}, offset {bad[0] % size})")
