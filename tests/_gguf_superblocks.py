"""Test data for the 256-value GGUF types (K-quants, TQ1_0/TQ2_0): 2^20
float32 values in rows of 4096, Gaussian super-blocks of mixed magnitude
with the edge cases of llama.cpp's reference quantizers placed at random
super-blocks."""

from __future__ import annotations

import numpy as np

QK_K = 256
ROWS, COLS = 256, 4096  # 2^20 values, 4096 super-blocks


def edge_superblocks(rng: np.random.Generator) -> np.ndarray:
    """Super-blocks at the edges of the searches and of float32/half range."""
    blocks = []
    z = np.zeros(QK_K, np.float32)
    blocks += [z, -z, np.where(rng.random(QK_K) < 0.5, z, -z)]  # all-zero, -0, mixed ±0
    for c in (3.25, -3.25, 1e-20, 7e4):  # constant: max == min in every sub-block
        blocks.append(np.full(QK_K, c, np.float32))
    g = rng.standard_normal(QK_K).astype(np.float32)
    blocks += [np.abs(g) + 1, -np.abs(g) - 1]  # all positive (min clamps to 0), all negative
    one_zero = g.copy()
    one_zero[32:64] = 0  # a zero sub-block among normal ones (stored scale 0)
    blocks.append(one_zero)
    tiny_sub = g.copy()
    tiny_sub[16:32] = 1e-17  # below GROUP_MAX_EPS in one Q6_K sub-block
    blocks.append(tiny_sub)
    mixed = g.copy()
    mixed[:128] *= 1e-6  # sub-blocks whose 6-bit scale rounds to 0
    blocks.append(mixed)
    fmax = np.finfo(np.float32).max
    for big in (fmax, -fmax, 1e30, 65504.0 * 63, 65504.0 * 128):  # overflows, half scales to inf
        b = g.copy()
        b[rng.integers(0, QK_K)] = big
        blocks.append(b)
    blocks.append(np.where(rng.random(QK_K) < 0.5, fmax, -fmax).astype(np.float32))
    for tiny in (1e-38, 1e-40, 1e-44, 2.0**-149):  # subnormal inputs, half scales underflow
        blocks.append((rng.standard_normal(QK_K) * tiny).astype(np.float32))
    for k in (-14, 0, 15):  # half-step grids, where nearest_int meets its ties
        blocks.append((rng.integers(-64, 64, QK_K) / 2.0 * 2.0**k).astype(np.float32))
    ternary = rng.integers(-1, 2, QK_K).astype(np.float32) * np.float32(0.75)
    blocks += [ternary, ternary * 0.5 + np.float32(0.375) * np.sign(ternary)]  # TQ ties
    return np.stack(blocks).astype(np.float32)


def superblock_data(seed: int = 0) -> np.ndarray:
    """``(ROWS, COLS)`` float32 values: each super-block Gaussian with its
    own magnitude (and some with a shifted mean), edge blocks mixed in."""
    rng = np.random.default_rng(seed)
    n = ROWS * COLS // QK_K
    mags = rng.choice([1e-30, 1e-6, 1e-2, 1.0, 300.0, 1e5], (n, 1))
    shift = rng.choice([0.0, 0.0, 1.0, -2.0], (n, 1))
    x = ((rng.standard_normal((n, QK_K)) + shift) * mags).astype(np.float32)
    edges = edge_superblocks(rng)
    x[rng.choice(n, len(edges), replace=False)] = edges
    return x.reshape(ROWS, COLS)
