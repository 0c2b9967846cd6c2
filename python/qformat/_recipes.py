"""Quantization recipes by name: ``qf.quantize(x, "q8_0")``.

A recipe fixes everything a generic ``quantize`` call would be told (block
size, scale format, rounding, storage layout) to reproduce one library's
quantizer bit for bit. Each returns a :class:`QuantizedArray` whose
``tobytes()`` gives the recipe's own storage layout.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._fp8block import quantize_fp8_block
from ._gguf import GGUF_TYPES, quantize_gguf
from ._nvfp4 import quantize_nvfp4
from ._qarray import QuantizedArray, pack
from ._quant import _data, fake_quantize, quantize

__all__ = ["RECIPES", "is_recipe", "quantize_recipe", "fake_quantize_recipe"]


def _gguf(name: str) -> Callable[..., QuantizedArray]:
    def run(x: Any) -> QuantizedArray:
        return quantize_gguf(x, name)

    return run


# OCP MX names: (element format), blocks of 32 along the last axis, e8m0 scales.
MX_RECIPES = {"mxfp8": "fp8_e4m3fn", "mxfp8_e5m2": "fp8_e5m2", "mxfp6_e2m3": "fp6_e2m3fn",
              "mxfp6_e3m2": "fp6_e3m2fn", "mxfp4": "fp4_e2m1fn", "mxint8": "int8"}


class MXArray(QuantizedArray):
    """An OCP MX recipe's result: a :class:`QuantizedArray` whose
    ``tobytes()`` is the element codes as torchao stores them (fp4 two per
    byte, element 0 in the low nibble; wider elements one per byte)."""

    def tobytes(self) -> bytes:
        """The element codes, packed as torchao's to_mx returns them."""
        if self.format.bits == 4:
            return pack(self.values, self.format).tobytes()
        return self.values.tobytes()


def _mx_options(scale_rule: str = "floor") -> dict:
    """The generic quantizer's options that make an OCP MX recipe: blocks
    of 32 along the last axis, e8m0 scales by ``scale_rule``."""
    return {"group_size": 32, "scale_format": "fp8_e8m0fnu", "scale_rule": scale_rule}


def _mx(name: str) -> Callable[..., QuantizedArray]:
    def run(x: Any, scale_rule: str = "floor") -> QuantizedArray:
        q = quantize(x, MX_RECIPES[name], **_mx_options(scale_rule))
        mx = MXArray.__new__(MXArray)
        mx.__dict__.update(q.__dict__)
        return mx

    return run


RECIPES: dict = {**{name: _gguf(name) for name in GGUF_TYPES}, "nvfp4": quantize_nvfp4,
                 "fp8_block128": quantize_fp8_block, **{n: _mx(n) for n in MX_RECIPES}}


def is_recipe(fmt: Any) -> bool:
    """True when ``fmt`` names a recipe rather than a format."""
    return isinstance(fmt, str) and fmt.lower() in RECIPES


# The options each recipe takes (every other option must keep its default).
RECIPE_OPTIONS = {"fp8_block128": ("pow2_scales",), **{n: ("scale_rule",) for n in MX_RECIPES}}


def _checked(name: str, given: dict) -> str:
    """The recipe's name in lower case, once ``given`` (the options the
    caller set to something other than their defaults) holds only options
    of ``RECIPE_OPTIONS`` for it."""
    name = name.lower()
    allowed = RECIPE_OPTIONS.get(name, ())
    wrong = sorted(k for k in given if k not in allowed)
    if wrong:
        raise ValueError(f"{name} is a fixed recipe; {', '.join(wrong)} do not apply to it")
    return name


def quantize_recipe(x: Any, name: str, given: dict) -> QuantizedArray:
    """Quantize ``x`` by the recipe ``name``. ``given`` holds the options
    the caller set to something other than their defaults; a recipe takes
    only those of ``RECIPE_OPTIONS``."""
    name = _checked(name, given)
    return RECIPES[name](x, **given)


def fake_quantize_recipe(x: Any, name: str, given: dict) -> np.ndarray:
    """``dequantize(quantize_recipe(x, name, given))`` in ``x``'s float type
    (float32 for float32 and narrower floats, float64 otherwise). An OCP MX
    recipe is a generic quantizer's configuration, so it takes the fused
    one-pass quantizer (about five times faster than codes, scales and a
    dequantize pass, and the same values: each element's value is its code
    times its block's scale, rounded once to the output type). The others
    (GGUF, NVFP4, fp8_block128) have their own codecs and go through them."""
    name = _checked(name, given)
    if name in MX_RECIPES:
        return fake_quantize(x, MX_RECIPES[name], **_mx_options(**given))
    out = np.float32 if _data(x).dtype == np.float32 else np.float64
    return RECIPES[name](x, **given).dequantize(out)
