"""Torch tensors in, torch tensors out: ``encode``, ``decode`` and ``round``
given a torch tensor return one, sharing the NumPy result's memory (no
copy) and on the input's device.

``encode`` to a float format torch has a dtype for (bf16, fp16, fp8_e4m3fn,
…) returns a tensor of that dtype, so ``qf.encode(t, "fp8_e4m3fn")`` can be
used as a torch tensor directly; other formats return the unsigned or
integer words as the matching torch integer type.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .._formats import FloatFormat, format

# qformat canonical name -> torch dtype attribute
_TORCH_FLOATS = {
    "fp64": "float64", "fp32": "float32", "fp16": "float16", "bf16": "bfloat16",
    "fp8_e4m3fn": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2",
    "fp8_e4m3fnuz": "float8_e4m3fnuz", "fp8_e5m2fnuz": "float8_e5m2fnuz",
    "fp8_e8m0fnu": "float8_e8m0fnu",
}
_SIGNED = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


def is_torch(x: Any) -> bool:
    """True for a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _torch_dtype(name: str) -> Any:
    import torch

    attr = _TORCH_FLOATS.get(name)
    return getattr(torch, attr, None) if attr else None


def to_torch(result: np.ndarray, like: Any, dtype_name: str | None = None) -> Any:
    """``result`` as a tensor sharing its memory, on ``like``'s device: viewed
    as the torch float type of the qformat format ``dtype_name`` when given,
    as ``like``'s dtype when ``result`` holds a float NumPy lacks (ml_dtypes
    bfloat16/float8, from ``round``), else as the matching torch type."""
    import torch

    arr = result if result.flags.c_contiguous else result.copy()
    target = _torch_dtype(dtype_name) if dtype_name else None
    if target is None and arr.dtype.name.startswith(("bfloat", "float8")):
        target = like.dtype
    if target is not None and target.itemsize == arr.itemsize:
        t = torch.from_numpy(arr.view(_SIGNED[arr.itemsize])).view(target)
    else:
        t = torch.from_numpy(arr)
    return t if like.device.type == "cpu" else t.to(like.device)


def torch_in_torch_out(encode: bool = False) -> Callable:
    """Decorator: a torch first argument gets a torch result (see module docs)."""
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(x: Any, fmt: Any, *args: Any, **kwargs: Any) -> Any:
            result = fn(x, fmt, *args, **kwargs)
            if not is_torch(x) or not isinstance(result, np.ndarray):
                return result
            name = None
            if encode:

                f = format(fmt)
                name = f.name if isinstance(f, FloatFormat) else None
            return to_torch(result, x, name)
        return wrapper
    return deco
