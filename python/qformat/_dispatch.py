"""``qf.quantize`` and ``qf.fake_quantize``: a recipe by name
(``_recipes``), a dask array (``_dask``, given the eager function), or the
generic quantizer of ``_quant``. This module sits above all three, so none
of them imports another's caller."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from . import _dask, _quant
from ._args import Clip
from ._formats import FormatSpec
from ._qarray import QuantizedArray
from ._recipes import fake_quantize_recipe, is_recipe, quantize_recipe

__all__ = ["quantize", "fake_quantize"]


def _options(params: dict) -> dict:
    """The quantizer options among a public function's parameters (its
    ``locals()`` on entry), by the names of ``_quant.OPTION_DEFAULTS``: one
    list of options for both functions, so neither can drop one."""
    return {k: params[k] for k in _quant.OPTION_DEFAULTS}


def _changed(options: dict) -> dict:
    """The options the caller set to something other than their defaults."""
    return {k: v for k, v in options.items()
            if not (v is _quant.OPTION_DEFAULTS[k]
                    or (isinstance(v, str) and v == _quant.OPTION_DEFAULTS[k]))}


def quantize(
    x: Any,
    fmt: FormatSpec = "int8",
    *,
    scheme: str = "symmetric",
    axis: Optional[int] = None,
    group_size: Optional[int] = None,
    clip: Clip = None,
    percentile: Optional[float] = None,
    narrow_range: Optional[bool] = None,
    rounding: str = "nearest_even",
    seed: Optional[int] = None,
    arithmetic: str = "exact",
    nan: Union[str, int] = "error",
    scale_format: Any = None,
    scale_rule: str = "floor",
    pow2_scales: Optional[bool] = None,
) -> QuantizedArray:
    """Quantize ``x`` to ``fmt``: ``q = clamp(round(x / scale) + zero_point)``
    with one scale per tensor, per channel (``axis``) or per group of
    ``group_size`` along ``axis``; one pass for the ranges, one for the
    codes, both in Rust on all cores. ``nan`` is "error" or the code NaN
    elements get. ``scale_rule`` picks MX power-of-two scales ("floor",
    the OCP rule, "ceil", "even", "rceil": bit-equal to torchao's
    ScaleCalculationMode of that name). ``fmt`` may also name a recipe
    ("q8_0", "nvfp4", "fp8_block128" with ``pow2_scales``, "mxfp4", …: see
    the quantization page of the documentation). Returns a
    :class:`QuantizedArray`."""
    options = _options(locals())
    if is_recipe(fmt):
        return quantize_recipe(x, fmt, _changed(options))
    return _quant.quantize(x, fmt, **options)


def fake_quantize(
    x: Any,
    fmt: FormatSpec = "int8",
    *,
    scheme: str = "symmetric",
    axis: Optional[int] = None,
    group_size: Optional[int] = None,
    clip: Clip = None,
    percentile: Optional[float] = None,
    narrow_range: Optional[bool] = None,
    rounding: str = "nearest_even",
    seed: Optional[int] = None,
    arithmetic: str = "exact",
    nan: Union[str, int] = "error",
    scale_format: Any = None,
    scale_rule: str = "floor",
    pow2_scales: Optional[bool] = None,
) -> np.ndarray:
    """``dequantize(quantize(x, ...))`` fused in one pass, in x's float type
    (float32 for float32 and narrower floats, float64 otherwise). A dask
    array gives a lazy dask array with the scales of the whole array."""
    options = _options(locals())
    if is_recipe(fmt):
        return fake_quantize_recipe(x, fmt, _changed(options))
    if _dask.is_dask(x):  # lazy, with whole-array scales
        return _dask.fake_quantize(fake_quantize, x, fmt, **options)
    return _quant.fake_quantize(x, fmt, **options)
