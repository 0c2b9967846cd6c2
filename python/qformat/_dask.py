"""Dask arrays in ``qf.round``, ``qf.encode`` and ``qf.fake_quantize``.

Each returns a lazy dask array whose blocks are computed by the in-memory
functions, so results are bit-identical to calling them on the whole array
(on a laptop or a ``dask.distributed`` cluster). Elementwise conversions
are one ``map_blocks``. ``fake_quantize`` needs each scale's statistics
over the whole slice it covers: per tensor and per channel (when a channel
spans several blocks) the min and max come from a dask reduction, and each
block is quantized together with those two extremes appended, so its
scales are exactly the whole-array ones while the codes still come from
the one Rust implementation. Groups are made block-local by rechunking the
grouped axis to a multiple of the group size.

Dask is optional: nothing here imports it until a dask array is passed.
This module is an adapter: it is given the eager function and never imports
the modules that call it.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

import numpy as np

from . import _args

__all__ = ["is_dask", "elementwise", "fake_quantize"]


def is_dask(x: Any) -> bool:
    """True for a ``dask.array.Array`` (without importing dask otherwise)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def _no_out(out: Any) -> None:
    if out is not None:
        raise ValueError("out= is not supported for dask arrays (the result is lazy)")


def _check_positional_rng(x: Any, rounding: str) -> None:
    """Stochastic rounding draws one random number per flat element index;
    a block does not know its elements' global indices."""
    if rounding == "stochastic" and any(n > 1 for n in x.numblocks):
        raise ValueError("rounding='stochastic' depends on each element's position in the whole "
                         "array; with a dask array of several blocks use x.rechunk(-1) first")


def elementwise(eager: Callable, x: Any, fmt: Any, out: Any, opts: dict) -> Any:
    """``eager(x, fmt, **opts)`` (``qf.encode`` or ``qf.round``) of a dask
    array, lazily, block by block."""
    _no_out(out)
    if opts.get("random_bits") is not None:
        raise ValueError("random_bits= is not taken with a dask array: its words are one per "
                         "element of the whole array; compute x (or pass a NumPy array) first")
    _check_positional_rng(x, opts.get("rounding") or "nearest_even")
    sample = eager(np.zeros((1,), dtype=x.dtype), fmt, **opts)  # options checked here, eagerly
    return x.map_blocks(lambda b: eager(b, fmt, **opts), dtype=sample.dtype)


def _result_dtype(dtype: np.dtype) -> np.dtype:
    """fake_quantize's output type: float32/float64 stay, integers give
    float64, narrower floats float32."""
    if dtype in (np.float32, np.float64):
        return np.dtype(dtype)
    return np.dtype(np.float64 if dtype.kind in "iub" else np.float32)


def fake_quantize(fq: Callable, x: Any, fmt: Any, *, axis: Optional[int] = None,
                  group_size: Optional[int] = None, percentile: Optional[float] = None,
                  nan: Any = "error", **opts: Any) -> Any:
    """The eager ``fq`` (``qf.fake_quantize``) of a dask array, lazily, with
    the scales of the whole array (see the module docstring)."""
    _check_positional_rng(x, opts.get("rounding", "nearest_even"))
    kw = dict(opts, axis=axis, group_size=group_size, percentile=percentile, nan=nan)
    dt = _result_dtype(x.dtype)
    k = _args.quant_axis(x.shape, axis, group_size)
    if percentile is not None and any(n > 1 for n in x.numblocks):
        raise ValueError("percentile= needs every value of a slice at once; use x.rechunk(-1) or "
                         "an in-memory array")
    if group_size is not None and k is not None:
        x = _group_chunks(x, k, int(group_size))
        return x.map_blocks(lambda b: fq(b, fmt, **dict(kw, axis=k)), dtype=dt)
    if k is not None and all(n == 1 for i, n in enumerate(x.numblocks) if i != k):
        return x.map_blocks(lambda b: fq(b, fmt, **kw), dtype=dt)  # channels are block-local
    lo, hi = _extremes(x, k, nan != "error")
    return x.map_blocks(_with_extremes, lo, hi, k=k, fq=fq, fmt=fmt, kw=kw, dtype=dt)


def _group_chunks(x: Any, k: int, g: int) -> Any:
    """Rechunk axis k so every block holds whole groups of g."""
    if x.shape[k] % g:
        raise ValueError(f"group_size {g} does not divide the length {x.shape[k]} of axis {k}")
    if all(c % g == 0 for c in x.chunks[k]):
        return x
    target = max(g, (max(x.chunks[k]) // g) * g)
    return x.rechunk({k: target})


def _extremes(x: Any, k: Optional[int], skip_nan: bool) -> tuple:
    """Min and max over everything but axis k (everything for None), as dask
    arrays that broadcast against x's blocks."""
    import dask.array as da
    other = tuple(i for i in range(x.ndim) if i != k)
    lo_fn, hi_fn = (da.nanmin, da.nanmax) if skip_nan else (da.min, da.max)
    return lo_fn(x, axis=other, keepdims=True), hi_fn(x, axis=other, keepdims=True)


def _with_extremes(block: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, k: Optional[int],
                   fq: Any, fmt: Any, kw: dict) -> np.ndarray:
    """fake_quantize of ``block`` with the extremes of its whole slices
    appended, so its scales are the whole-array ones; the extra elements
    are dropped again."""
    if k is None:
        flat = np.concatenate([block.reshape(-1), lo.reshape(-1), hi.reshape(-1)])
        return fq(flat, fmt, **kw)[:block.size].reshape(block.shape)
    j = 1 if k == 0 else 0
    edge = block.shape[:j] + (1,) + block.shape[j + 1:]
    aug = np.concatenate([block, np.broadcast_to(lo, edge), np.broadcast_to(hi, edge)], axis=j)
    return np.take(fq(aug, fmt, **kw), np.arange(block.shape[j]), axis=j)
