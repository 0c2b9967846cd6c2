"""Array plumbing shared by the public functions: read any array-like as the
bit patterns of a source format without copying where possible, and check
``out=`` arguments. No numerics here."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._formats import FloatFormat, _lookup_name

_FLOAT_SOURCES = {
    "float16": "fp16",
    "float32": "fp32",
    "float64": "fp64",
}


# Source formats by dtype, filled on first use: reading ``dtype.name`` runs
# NumPy's Python-level name builder (several microseconds, twice per call),
# a fixed cost that showed in every conversion's set-up.
_SOURCE_BY_DTYPE: dict[np.dtype, FloatFormat | None] = {}


def float_source_format(dtype: np.dtype) -> FloatFormat | None:
    """The float format whose patterns an array of ``dtype`` holds, if any
    (NumPy floats and the ml_dtypes float types)."""
    try:
        return _SOURCE_BY_DTYPE[dtype]
    except KeyError:
        pass
    found = _source_format_by_name(dtype)
    if len(_SOURCE_BY_DTYPE) < 256:  # bounded: structured dtypes are endless
        _SOURCE_BY_DTYPE[dtype] = found
    return found


def _source_format_by_name(dtype: np.dtype) -> FloatFormat | None:
    """:func:`float_source_format` from the dtype's name (uncached)."""
    name = _FLOAT_SOURCES.get(dtype.name, dtype.name)
    if dtype.kind in "fV" or name.startswith(("bfloat", "float")):
        found = _lookup_name(name)
        return found if isinstance(found, FloatFormat) else None
    return None


def _torch_to_numpy(t: Any) -> np.ndarray:
    """A torch tensor as a NumPy array; float types NumPy lacks (bfloat16,
    float8) come back as the matching ml_dtypes array, bit for bit."""
    import torch

    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16,) or "float8" in str(t.dtype):
        import ml_dtypes

        name = str(t.dtype).replace("torch.", "")
        int_type = torch.int16 if t.element_size() == 2 else torch.uint8
        raw = t.contiguous().view(int_type).numpy()
        return raw.view(getattr(ml_dtypes, name))
    return t.numpy()


def as_array(x: Any) -> np.ndarray:
    """``np.asarray`` with clear errors for things that are not numbers
    (torch tensors are read bit for bit, bfloat16 and float8 included)."""
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = _torch_to_numpy(x)
    arr = np.asarray(x)
    if arr.dtype.kind in "OUSMmc":
        raise TypeError(
            f"expected a real numeric array, got dtype {arr.dtype} "
            "(strings, objects, complex and dates are not numbers qformat converts)"
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    return arr


def native_contiguous(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous, native-byte-order version of ``arr`` (a view when it
    already is one, so in-place data is read without a copy)."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


# The unsigned word dtype of each item size (a dtype parsed from its name on
# every call was a fixed cost of each conversion, twice).
_WORDS = {n: np.dtype(f"uint{n * 8}") for n in (1, 2, 4, 8)}


def words(arr: np.ndarray) -> np.ndarray:
    """Flat unsigned-word view of a contiguous array (the array itself when
    it already is one)."""
    flat = arr if arr.ndim == 1 else arr.reshape(-1)
    word = _WORDS[arr.dtype.itemsize]
    return flat if flat.dtype == word else flat.view(word)


def prepare_out(out: np.ndarray | None, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Allocate the result, or check that ``out`` has the right shape and dtype."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"out has shape {out.shape} and dtype {out.dtype}; expected shape {tuple(shape)} "
            f"and dtype {dtype}"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def run_into(out: np.ndarray, fill, source: np.ndarray | None = None) -> np.ndarray:
    """Call ``fill(flat_words)`` on ``out``, through a temporary when ``out``
    is not C-contiguous, not in native byte order, or shares memory with
    ``source`` (``round(a, fmt, out=a)`` works in place this way: the core
    never reads and writes the same buffer at once)."""
    aliased = source is not None and np.may_share_memory(out, source)
    if out.flags.c_contiguous and out.dtype.isnative and not aliased:
        fill(words(out))
        return out
    tmp = np.empty(out.shape, dtype=out.dtype.newbyteorder("="))
    fill(words(tmp))
    out[...] = tmp
    return out
