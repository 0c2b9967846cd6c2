"""Quantization recipes by name: ``qf.quantize(x, "q8_0")``.

A recipe fixes everything a generic ``quantize`` call would be told (block
size, scale format, rounding, storage layout) to reproduce one library's
quantizer bit for bit. Each returns a :class:`QuantizedArray` whose
``tobytes()`` gives the recipe's own storage layout.
"""

from __future__ import annotations

from typing import Any, Callable

from ._gguf import GGUF_TYPES, quantize_gguf
from ._nvfp4 import quantize_nvfp4
from ._quant import QuantizedArray

__all__ = ["RECIPES", "is_recipe", "quantize_recipe"]


def _gguf(name: str) -> Callable[..., QuantizedArray]:
    def run(x: Any) -> QuantizedArray:
        return quantize_gguf(x, name)

    return run


RECIPES: dict = {**{name: _gguf(name) for name in GGUF_TYPES}, "nvfp4": quantize_nvfp4}


def is_recipe(fmt: Any) -> bool:
    """True when ``fmt`` names a recipe rather than a format."""
    return isinstance(fmt, str) and fmt.lower() in RECIPES


def quantize_recipe(x: Any, name: str, given: dict) -> QuantizedArray:
    """Quantize ``x`` by the recipe ``name``. ``given`` holds the generic
    options the caller set to something other than their defaults; a fixed
    recipe accepts none of them."""
    if given:
        raise ValueError(
            f"{name} is a fixed recipe; {', '.join(sorted(given))} do not apply to it"
        )
    return RECIPES[name.lower()](x)
