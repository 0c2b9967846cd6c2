"""``encode``, ``decode`` and ``round``: the bit-exact conversions of the API.
Each resolves formats and options, hands flat word views to the Rust core
(which releases the GIL and works on all cores) and reshapes the result."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _args, _dask, _native
from ._args import NanOption
from ._arrays import as_array, float_source_format, native_contiguous, prepare_out, run_into, words
from ._formats import FloatFormat, Format, FormatSpec, IntFormat, format
from ._ints import encode_int, round_int
from ._profiles import ProfileSpec
from .io.torchio import torch_in_torch_out

__all__ = ["encode", "decode", "round", "encode_with_stats"]


class _Source:
    """An input array seen as bit patterns of a float format, or as integers."""

    def __init__(self, x: Any) -> None:
        arr = native_contiguous(as_array(x))
        self.shape = arr.shape
        self.dtype = arr.dtype
        fmt = float_source_format(arr.dtype)
        if fmt is not None:
            self.fmt: Optional[FloatFormat] = fmt
            self.words = words(arr)
            self.ints = None
        elif arr.dtype.kind in "iu":
            self.fmt = None
            self.words = None
            self.ints = arr.reshape(-1).astype(np.uint64 if arr.dtype == np.uint64 else np.int64,
                                               copy=False)
        else:
            raise TypeError(f"cannot convert arrays of dtype {arr.dtype}")


# The conversion options encode and round share, in their signatures' order.
_OPTIONS = ("rounding", "subnormals", "overflow", "nan", "profile", "seed", "ftz", "daz",
            "random_bits", "sr_bits")


def _options(params: dict) -> dict:
    """The conversion options among ``encode``'s or ``round``'s parameters
    (its ``locals()`` on entry): one list for both, for ``_prepare`` and
    for the dask path alike."""
    return {k: params[k] for k in _OPTIONS}


def _prepare(x: Any, fmt: FormatSpec, *, rounding: Optional[str], subnormals: Optional[bool],
             overflow: Optional[str], nan: NanOption, profile: ProfileSpec,
             seed: Optional[int], ftz: Optional[bool], daz: Optional[bool],
             random_bits: Any, sr_bits: Optional[int]
             ) -> tuple[Format, dict, _Source, Optional[np.ndarray]]:
    """What encode and round share: the format, the checked options, the
    input seen as source patterns and the caller's random words (flat
    uint64, or None). Integer formats take ``nan=`` as an int value
    (negative allowed), so it is checked by ``_ints``, not here."""
    f = format(fmt)
    float_nan = None if isinstance(f, IntFormat) else nan
    opts = _args.conversion_options(rounding, subnormals, overflow, float_nan, profile, seed,
                                    ftz, daz, sr_bits)
    src = _Source(x)
    given = None if random_bits is None else as_array(random_bits)
    random, opts["sr_bits"] = _args.random_words(given, opts["sr_bits"], src.shape)
    if random is not None and (isinstance(f, IntFormat) or src.fmt is None):
        raise ValueError("random_bits= applies to float inputs converted to float formats; "
                         "integer formats and integer inputs take seed= only")
    return f, opts, src, random


@torch_in_torch_out(encode=True)
def encode(x: Any, fmt: FormatSpec, *, rounding: Optional[str] = None,
           subnormals: Optional[bool] = None, overflow: Optional[str] = None,
           nan: NanOption = None, profile: ProfileSpec = "ieee", seed: Optional[int] = None,
           ftz: Optional[bool] = None, daz: Optional[bool] = None,
           random_bits: Any = None, sr_bits: Optional[int] = None,
           out: Optional[np.ndarray] = None) -> np.ndarray:
    """Bit patterns of ``x`` rounded once, from its exact value, into ``fmt``.

    Float formats return unsigned words of ``fmt.storage_dtype``; integer
    formats return the integer values. Options left at None are decided by
    ``profile`` (a name such as ``"torch-cpu"`` or ``"ml_dtypes@0.6"``, or a
    :class:`Profile`), then by IEEE 754 (nearest even, subnormals kept, the
    format's overflow rule, NaNs quieted); an option you give always wins.
    ``ftz``/``daz`` are the x86 MXCSR bits (``profile="x86-sse"``): FTZ
    flushes results that are tiny after rounding to ±0, DAZ reads subnormal
    inputs of ``x``'s own format as ±0 (docs/verification/cpu.md).
    ``rounding="stochastic"`` draws from ``seed`` (reproducible per element
    position), or takes the caller's own ``random_bits`` (an unsigned array
    shaped like ``x``): it rounds away from zero when the low ``sr_bits``
    bits of the word (default: all of them; with a seed, all 64), added to
    as many top discarded bits, carry out, which is how CUDA ``cvt.rs`` and
    the "add random bits, then truncate" bfloat16 method round.
    See docs/conversion.md in the repository for every option.
    """
    options = _options(locals())
    if _dask.is_dask(x):  # lazy and blockwise: _dask.py
        return _dask.elementwise(encode, x, fmt, out, options)
    f, opts, src, random = _prepare(x, fmt, **options)
    if isinstance(f, IntFormat):
        return encode_int(src, f, dict(opts, nan=nan), out)
    result = prepare_out(out, src.shape, f.storage_dtype)
    if src.fmt is None:
        ints = src.ints
        return run_into(result, lambda w: _native.encode_int_source(ints, w, f, opts))
    sf = src.fmt
    return run_into(result,
                    lambda w: _native.convert_float(src.words, sf, w, f, opts, False, random),
                    src.words)


def encode_with_stats(x: np.ndarray, fmt: FormatSpec, *, source: Optional[FormatSpec] = None,
                      rounding: Optional[str] = None, overflow: Optional[str] = None,
                      nan: NanOption = None) -> tuple[np.ndarray, dict]:
    """``encode(x, fmt)`` into a float format, plus the statistics of the
    results against the inputs, taken by the core in the same pass (each
    chunk is compared while it is in cache; no decoded copy is made).

    ``source``: the float format whose bit patterns the unsigned array
    ``x`` holds (bf16 or fp8 words read from a file, which NumPy has no
    dtype for); by default ``x``'s own float dtype. The statistics are sums
    (``n``, ``finite``, ``max_abs``, ``sum_abs``, ``noise``, ``signal`` over
    the pairs where input and result are both finite; ``nan_in``,
    ``inf_in``, ``nan_out``, ``inf_out``; ``amax``, the largest finite
    |input|; ``overflow``, finite inputs above ``fmt``'s largest finite
    value; ``flushed``, nonzero inputs that became zero), for
    :class:`qformat.io.stats.ErrorStats`.
    """
    f = format(fmt)
    if not isinstance(f, FloatFormat):
        raise TypeError(f"encode_with_stats converts into float formats, not {f.name}")
    opts = _args.conversion_options(rounding, None, overflow, nan, "ieee", None)
    arr = native_contiguous(as_array(x))
    if source is None:
        sf = float_source_format(arr.dtype)
        if sf is None:
            raise TypeError(f"cannot convert arrays of dtype {arr.dtype}; name the format of "
                            "its bit patterns with source=")
    else:
        sf = format(source)
        if not isinstance(sf, FloatFormat) or arr.dtype != np.dtype(sf.storage_dtype):
            raise TypeError(f"source={source!r} needs an array of {sf.name}'s storage words, "
                            f"not {arr.dtype}")
    codes = np.empty(arr.shape, dtype=f.storage_dtype)
    stats = _native.encode_float_stats(words(arr), sf, words(codes), f, opts)
    return codes, stats


@torch_in_torch_out()
def decode(bits: Any, fmt: FormatSpec, *, dtype: Any = np.float64,
           out: Optional[np.ndarray] = None) -> np.ndarray:
    """Exact values of bit patterns of ``fmt`` as float64 (or float32 where
    the format fits in it). Integer formats decode their integer values."""
    f = format(fmt)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"decode dtype must be float64 or float32, not {dt}")
    arr = native_contiguous(as_array(bits))
    if arr.dtype.kind not in "iu":
        raise TypeError(f"bit patterns must be an integer array, not {arr.dtype}")
    result = prepare_out(out, arr.shape, dt)
    if isinstance(f, IntFormat):
        if arr.size and (arr.min() < f.min or arr.max() > f.max):
            raise ValueError(f"values outside [{f.min}, {f.max}] are not {f.name} values")
        result[...] = arr
        return result
    if not _holds_patterns_only(arr.dtype, f.bits) and arr.size and (
            arr.min() < 0 or int(arr.max()) >= (1 << f.bits)):
        raise ValueError(f"bit patterns of {f.name} are in [0, 2**{f.bits}); got values outside")
    if dt == np.float32 and (f.emax > 127 or f.emin - f.man_bits < -149 or f.man_bits > 23):
        raise ValueError(f"{f.name} does not fit in float32; decode to float64")
    w = words(native_contiguous(arr.astype(f.storage_dtype, copy=False)))
    return run_into(result, lambda o: _native.decode_float(w, f, o, dt == np.float64), w)


def _holds_patterns_only(dtype: np.dtype, bits: int) -> bool:
    """Whether every value of an integer ``dtype`` is a pattern of a
    ``bits``-bit format (uint16 for bf16): the range check would then be
    two whole passes over the codes that can never fail."""
    return dtype.kind == "u" and dtype.itemsize * 8 <= bits


@torch_in_torch_out()
def round(x: Any, fmt: FormatSpec, *, rounding: Optional[str] = None,  # noqa: A001
          subnormals: Optional[bool] = None, overflow: Optional[str] = None,
          nan: NanOption = None, profile: ProfileSpec = "ieee", seed: Optional[int] = None,
          ftz: Optional[bool] = None, daz: Optional[bool] = None,
          random_bits: Any = None, sr_bits: Optional[int] = None,
          out: Optional[np.ndarray] = None) -> np.ndarray:
    """``decode(encode(x, fmt))`` in x's own float dtype (float64 for integer
    inputs): the fake-quantize of a float format, fused in one pass. Takes
    every option of :func:`encode`, ``random_bits``/``sr_bits`` included."""
    options = _options(locals())
    if _dask.is_dask(x):  # lazy and blockwise: _dask.py
        return _dask.elementwise(round, x, fmt, out, options)
    f, opts, src, random = _prepare(x, fmt, **options)
    if isinstance(f, IntFormat):
        return round_int(src, f, dict(opts, nan=nan), out)
    if src.fmt is None:
        codes = encode(x, f, rounding=rounding, subnormals=subnormals, overflow=overflow,
                       nan=nan, profile=profile, seed=seed, ftz=ftz, daz=daz, sr_bits=sr_bits)
        return decode(codes, f, out=out)
    result = prepare_out(out, src.shape, src.dtype)
    sf = src.fmt
    return run_into(result,
                    lambda w: _native.convert_float(src.words, sf, w, f, opts, True, random),
                    src.words)


