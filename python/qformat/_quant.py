"""Integer quantization and block-scaled float formats.

``q = clamp(round(x / scale) + zero_point, qmin, qmax)`` and
``x ≈ (q - zero_point) * scale`` (PyTorch's convention), with one scale per
tensor, per channel (``axis=k``) or per group of ``group_size`` elements
along ``axis``. With a float ``fmt`` (fp8/fp6/fp4) the elements are that
format's codes and ``scale_format="fp8_e8m0fnu"`` gives OCP MX blocks
(MXFP8, MXFP6, MXFP4; ``fmt="int8"`` gives MXINT8). The range statistics
and the codes are each one parallel pass in Rust (``qformat_core::quant``);
this module validates arguments and shapes the results.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional, Union

import numpy as np

from . import _args, _native
from ._args import Clip
from ._arrays import as_array, native_contiguous, words
from ._formats import FloatFormat, Format, FormatSpec, IntFormat, format
from ._qarray import QuantizedArray

__all__ = [
    "qparams",
    "quantize",
    "fake_quantize",
    "quantize_affine",
    "error_stats",
]

_E8M0 = "fp8_e8m0fnu"

# The keyword defaults of quantize/fake_quantize: a recipe refuses any other value.
OPTION_DEFAULTS = {"scheme": "symmetric", "axis": None, "group_size": None, "clip": None,
                   "percentile": None, "narrow_range": None, "rounding": "nearest_even",
                   "seed": None, "arithmetic": "exact", "nan": "error", "scale_format": None,
                   "scale_rule": "floor", "pow2_scales": None}


# ---------------------------------------------------------------------------
# Argument checking


def _data(x: Any) -> np.ndarray:
    """``x`` as a C-contiguous float32 or float64 array (a view when it
    already is one). Narrower floats widen to float32, integers to float64,
    both exactly."""
    arr = as_array(x)
    if arr.dtype in (np.float32, np.float64):
        return native_contiguous(arr)
    if arr.dtype.kind in "iub":
        if arr.dtype.itemsize == 8 and arr.size and np.abs(arr.astype(np.float64)).max() > 2**53:
            raise ValueError(
                "integers beyond 2**53 cannot be quantized exactly; convert them first"
            )
        return np.ascontiguousarray(arr, dtype=np.float64)
    return np.ascontiguousarray(arr.astype(np.float32))


def _code_range(fmt: Format, scheme: str, narrow_range: Optional[bool]) -> tuple:
    """(qmin, qmax) of an integer target, or (-max, max) of a float element."""
    if scheme not in ("symmetric", "asymmetric"):
        raise ValueError(f"scheme must be 'symmetric' or 'asymmetric', not {scheme!r}")
    if isinstance(fmt, FloatFormat):
        if scheme != "symmetric":
            raise ValueError(
                f"scheme='asymmetric' needs an integer format; {fmt.name} is a float "
                "format (its elements are symmetric, with zero point 0)"
            )
        if narrow_range is not None:
            raise ValueError(
                f"narrow_range applies to integer formats; {fmt.name} is a float format"
            )
        if not fmt.signed or not fmt.has_zero:
            raise ValueError(f"{fmt.name} cannot be an element format (it needs a sign and a zero)")
        m = float(fmt.value_of(fmt.max_code))
        return -m, m
    if scheme == "symmetric" and not fmt.signed:
        raise ValueError(
            f"scheme='symmetric' needs a signed format; {fmt.name} has no negative "
            "codes (use scheme='asymmetric')"
        )
    narrow = scheme == "symmetric" if narrow_range is None else bool(narrow_range)
    return fmt.min + int(narrow), fmt.max


_POW2_RULES = ("floor", "ceil", "even", "rceil")


def _scale_rule(fmt: Format, scale_format: Any, rule: str = "floor") -> dict:
    """How scales are rounded: to the data's type, to a float format, or
    MX powers of two (e8m0) chosen by ``rule`` (torchao's
    ScaleCalculationMode names; "floor" is OCP MX v1.0's)."""
    if rule not in _POW2_RULES:
        raise ValueError(f"scale_rule must be one of {', '.join(_POW2_RULES)}, not {rule!r}")
    if isinstance(fmt, FloatFormat):
        element = (rule, fmt.man_bits, float(fmt.value_of(fmt.max_code)))
    else:  # MXINT8: 1.6 fixed point, largest magnitude 127/64
        element = (rule, max(fmt.bits - 2, 0), fmt.max / 2 ** (fmt.bits - 2))
    if scale_format is None or format(scale_format) != format(_E8M0):
        if rule != "floor":
            raise ValueError("scale_rule applies to power-of-two scales (scale_format='e8m0')")
    if scale_format is None:
        return {"scale_format": None, "pow2": None, "scale_rule": element}
    sf = format(scale_format)
    if not isinstance(sf, FloatFormat):
        raise ValueError(f"scale_format must be a float format, not {sf.name}")
    if sf == format(_E8M0):
        if isinstance(fmt, FloatFormat):
            return {"scale_format": None, "pow2": (fmt.emax, 0), "scale_rule": element}
        # MXINT8: elements are fixed point with bits-2 fraction bits (1.6 for int8).
        return {"scale_format": None, "pow2": (0, fmt.bits - 2), "scale_rule": element}
    return {"scale_format": sf, "pow2": None, "scale_rule": element}


# ---------------------------------------------------------------------------
# Public functions


def _params(
    arr: np.ndarray,
    fmt: Format,
    scheme: str,
    k: Optional[int],
    group_size: Optional[int],
    clip: Clip,
    percentile: Optional[float],
    narrow_range: Optional[bool],
    nan_ok: bool,
    scale_format: Any,
    scale_rule: str = "floor",
) -> tuple:
    """Scales (float64, flat) and zero points (int64, flat) from one Rust pass."""
    qmin, qmax = _code_range(fmt, scheme, narrow_range)
    pair, pct = _args.clip_range(clip, percentile)
    spec = {
        "scheme": scheme,
        "qmin": float(qmin),
        "qmax": float(qmax),
        "integer": isinstance(fmt, IntFormat),
        "clip": pair,
        "percentile": pct,
        "nan_ok": nan_ok,
        **_scale_rule(fmt, scale_format, scale_rule),
    }
    scales, zps = _native.quant_params(arr.reshape(-1), arr.shape, k, group_size, spec)
    return scales, zps, (qmin, qmax)


def _format(fmt: FormatSpec) -> Format:
    f = format(fmt)
    if isinstance(f, IntFormat) and f.bits > 32:
        raise ValueError(f"quantization targets have at most 32 bits; {f.name} has {f.bits}")
    if isinstance(f, FloatFormat) and f.bits > 16:
        raise ValueError(f"{f.name} is too wide for an element format (use encode/round)")
    return f


def qparams(
    x: Any,
    fmt: FormatSpec = "int8",
    *,
    scheme: str = "symmetric",
    axis: Optional[int] = None,
    group_size: Optional[int] = None,
    clip: Clip = None,
    percentile: Optional[float] = None,
    narrow_range: Optional[bool] = None,
    scale_format: Any = None,
    nan: Union[str, int] = "error",
    scale_rule: str = "floor",
) -> tuple:
    """``(scale, zero_point)`` for quantizing ``x`` to ``fmt``.

    Symmetric: ``scale = absmax / qmax``, zero point 0. Asymmetric:
    ``scale = (max - min) / (qmax - qmin)`` over the range widened to
    include 0, ``zero_point = qmin - round(min / scale)``. A constant slice
    ``c`` gets ``scale = |c|`` (1 when all zero) so it dequantizes exactly.
    Scales are rounded once (nearest even) to the data's float type or to
    ``scale_format``; with e8m0 scales ``scale_rule`` picks the power of
    two ("floor", "ceil", "even", "rceil": torchao's ScaleCalculationMode).
    Shapes as :class:`QuantizedArray`'s.
    """
    f = _format(fmt)
    arr = _data(x)
    k = _args.quant_axis(arr.shape, axis, group_size)
    _args.quant_nan_code(nan)
    scales, zps, _ = _params(
        arr, f, scheme, k, group_size, clip, percentile, narrow_range, nan != "error",
        scale_format, scale_rule,
    )
    pshape = _args.param_shape(arr.shape, k, group_size)
    return scales.astype(arr.dtype).reshape(pshape), zps.reshape(pshape)


def _code_opts(
    rounding: str,
    seed: Optional[int],
    arithmetic: str,
    qmin: float,
    qmax: float,
    nan: Optional[int],
) -> dict:
    if arithmetic not in ("exact", "torch"):
        raise ValueError(f"arithmetic must be 'exact' or 'torch', not {arithmetic!r}")
    return {
        "rounding": _args.rounding(rounding),
        "seed": _args.seed(seed),
        "arithmetic": arithmetic,
        "qmin": int(qmin),
        "qmax": int(qmax),
        "nan": nan,
    }


def _check_float_target(f: Format, arithmetic: str) -> None:
    if isinstance(f, FloatFormat) and arithmetic != "exact":
        raise ValueError(
            f"arithmetic={arithmetic!r} applies to integer formats; {f.name} elements "
            "are always rounded exactly"
        )


class _CodePass(NamedTuple):
    """Everything :func:`quantize` and :func:`fake_quantize` share: the
    checked arguments, the scales from the range pass and the options of
    the code pass, which :meth:`run` then makes into codes or fused values."""

    f: Format
    arr: np.ndarray
    k: Optional[int]
    group_size: Optional[int]
    scales: np.ndarray
    zps: np.ndarray
    opts: dict

    @classmethod
    def plan(
        cls,
        *,
        x: Any,
        fmt: FormatSpec,
        scheme: str,
        axis: Optional[int],
        group_size: Optional[int],
        clip: Clip,
        percentile: Optional[float],
        narrow_range: Optional[bool],
        rounding: str,
        seed: Optional[int],
        arithmetic: str,
        nan: Union[str, int],
        scale_format: Any,
        scale_rule: str = "floor",
        pow2_scales: Optional[bool] = None,
    ) -> _CodePass:
        """Check the arguments (in the public functions' order) and run the
        range pass. Takes the public functions' keyword arguments by name."""
        if pow2_scales is not None:
            raise ValueError("pow2_scales applies to the fp8_block128 recipe")
        f = _format(fmt)
        _check_float_target(f, arithmetic)
        arr = _data(x)
        k = _args.quant_axis(arr.shape, axis, group_size)
        nan_code = _args.quant_nan_code(nan)
        scales, zps, (qmin, qmax) = _params(
            arr,
            f,
            scheme,
            k,
            group_size,
            clip,
            percentile,
            narrow_range,
            nan_code is not None,
            scale_format,
            scale_rule,
        )
        if isinstance(f, FloatFormat):  # the code range is the element format's own
            qmin = qmax = 0
        opts = _code_opts(rounding, seed, arithmetic, qmin, qmax, nan_code)
        return cls(f, arr, k, group_size, scales, zps, opts)

    def run(self, out: np.ndarray, fused: bool) -> None:
        """The code pass into the flat ``out``: storage words of the codes,
        or with ``fused`` the dequantized values in the data's float type."""
        x, shape, k, g, s = (
            self.arr.reshape(-1),
            self.arr.shape,
            self.k,
            self.group_size,
            self.scales,
        )
        if isinstance(self.f, FloatFormat):
            _native.quant_float(x, shape, k, g, s, self.f, self.opts, out, fused)
        else:
            _native.quant_int(x, shape, k, g, s, self.zps, self.opts, out, fused)

    def stats(self, codes: np.ndarray) -> dict:
        """``error_stats``' sums of the dequantized ``codes`` (the flat words
        :meth:`run` wrote) against the input, without writing them."""
        x, shape, k, g = self.arr.reshape(-1), self.arr.shape, self.k, self.group_size
        if isinstance(self.f, FloatFormat):
            return _native.quant_error_stats(x, shape, k, g, self.scales,
                                             np.zeros(0, np.int64), codes, self.f, False)
        return _native.quant_error_stats(x, shape, k, g, self.scales, self.zps, codes, None,
                                         self.f.signed)


def quantize(x: Any, fmt: FormatSpec = "int8", **options: Any) -> QuantizedArray:
    """The generic quantizer behind ``qf.quantize`` (which adds recipes by
    name and spells out the options): one pass for the ranges, one for the
    codes, both in Rust. ``options`` are ``qf.quantize``'s keywords; those
    left out take their defaults (:data:`OPTION_DEFAULTS`)."""
    return quantize_with_stats(x, fmt, False, **options)[0]


def quantize_with_stats(x: Any, fmt: FormatSpec, report: bool, **options: Any) -> tuple:
    """``(quantize(x, fmt, **options), sums or None)``: what a checkpoint
    writer needs for its codes and its error report. With ``report`` the
    sums are ``error_stats``' of ``fake_quantize(x, ...)`` against ``x``,
    bit for bit, but taken from the codes in one Rust pass that reads the
    input and the codes (``_native.quant_error_stats``) instead of a second
    code pass that writes the dequantized values."""
    given = {**OPTION_DEFAULTS, **options}
    p = _CodePass.plan(x=x, fmt=fmt, **given)
    values = np.empty(p.arr.shape, dtype=p.f.storage_dtype)
    p.run(words(values), fused=False)
    sums = p.stats(words(values)) if report else None
    g, sf = given["group_size"], given["scale_format"]
    pshape = _args.param_shape(p.arr.shape, p.k, g)
    q = QuantizedArray(values, p.scales.astype(p.arr.dtype).reshape(pshape),
                       p.zps.reshape(pshape), p.f, given["scheme"], p.k, g,
                       format(sf) if sf is not None else None)
    return q, sums


def fake_quantize(x: Any, fmt: FormatSpec = "int8", **options: Any) -> np.ndarray:
    """The generic fused quantize-dequantize behind ``qf.fake_quantize``
    (which adds recipes by name and dask arrays); ``options`` as in
    :func:`quantize`."""
    p = _CodePass.plan(x=x, fmt=fmt, **{**OPTION_DEFAULTS, **options})
    out = np.empty(p.arr.shape, dtype=p.arr.dtype)
    p.run(out.reshape(-1), fused=True)
    return out


def quantize_affine(
    x: Any,
    scale: Any,
    zero_point: Any = 0,
    fmt: FormatSpec = "int8",
    *,
    axis: Optional[int] = None,
    group_size: Optional[int] = None,
    rounding: str = "nearest_even",
    arithmetic: str = "exact",
    seed: Optional[int] = None,
    nan: Union[str, int] = "error",
    narrow_range: bool = False,
) -> np.ndarray:
    """Integer codes ``clamp(round(x / scale) + zero_point)`` for given
    scales: one value per tensor, per index along ``axis``, or per group
    (``scale`` may have :class:`QuantizedArray`'s scale shape or be flat).
    The scale is used exactly as given (float64); ``arithmetic="torch"``
    rounds it to float32 as PyTorch does."""
    f = _format(fmt)
    if not isinstance(f, IntFormat):
        raise ValueError(f"quantize_affine produces integer codes; {f.name} is a float format")
    arr = _data(x)
    k = _args.quant_axis(arr.shape, axis, group_size)
    n = int(np.prod(_args.param_shape(arr.shape, k, group_size), dtype=np.int64))
    s = np.asarray(scale, dtype=np.float64).reshape(-1)
    z = np.asarray(zero_point)
    if z.dtype.kind not in "iub":
        if not np.all(z == np.round(z)):
            raise ValueError("zero_point must hold integers")
    z = z.astype(np.int64).reshape(-1)
    for name, a in (("scale", s), ("zero_point", z)):
        if a.size not in (1, n):
            raise ValueError(
                f"{name} has {a.size} values; expected 1 or {n} for this axis/group_size"
            )
    s = np.ascontiguousarray(np.broadcast_to(s, (n,)))
    z = np.ascontiguousarray(np.broadcast_to(z, (n,)))
    qmin, qmax = f.min + int(bool(narrow_range)), f.max
    opts = _code_opts(rounding, seed, arithmetic, qmin, qmax, _args.quant_nan_code(nan))
    values = np.empty(arr.shape, dtype=f.storage_dtype)
    _native.quant_int(arr.reshape(-1), arr.shape, k, group_size, s, z, opts, words(values),
                      False)
    return values


def error_stats(reference: Any, approx: Any) -> dict:
    """``max_abs``, ``mean_abs``, ``rmse`` and ``sqnr_db`` (signal to
    quantization-noise ratio, inf when exact) of ``approx`` against
    ``reference``, computed in float64."""
    r = np.asarray(reference, dtype=np.float64)
    a = np.asarray(approx, dtype=np.float64)
    if r.shape != a.shape:
        raise ValueError(f"shapes differ: {r.shape} vs {a.shape}")
    if r.size == 0:
        raise ValueError("error_stats needs at least one element")
    e = a - r
    noise = float(np.sum(e * e))
    signal = float(np.sum(r * r))
    if noise == 0:
        sqnr = math.inf
    elif signal == 0:
        sqnr = -math.inf
    else:
        sqnr = 10 * math.log10(signal / noise)
    return {
        "max_abs": float(np.max(np.abs(e))),
        "mean_abs": float(np.mean(np.abs(e))),
        "rmse": math.sqrt(noise / r.size),
        "sqnr_db": sqnr,
    }


