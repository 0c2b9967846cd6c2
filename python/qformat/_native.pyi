"""Type stubs for the compiled core binding ``qformat._native``.

Checked against the built module with ``python -m mypy.stubtest qformat._native``.
Format specs cross as tuples; option dicts as built by ``_convert._options``.
"""

from typing import Any, Optional, Union, final

import numpy as np
import numpy.typing as npt

__version__: str


_FloatSpec = tuple[str, int, int, int, bool, bool, str, bool]
_IntSpec = tuple[str, int, bool]
_Words = npt.NDArray[Any]

class QFormatError(ValueError): ...
class NanInputError(QFormatError): ...
class RangeError(QFormatError): ...
class ParseError(QFormatError): ...
class CpuNotAvailableError(RuntimeError): ...

# formats and profiles
def float_format(
    exp_bits: int,
    man_bits: int,
    bias: Optional[int],
    signed: bool,
    inf: bool,
    nan: str,
    zero: bool,
    name: Optional[str],
) -> _FloatSpec: ...
def int_format(bits: int, signed: bool, name: Optional[str]) -> _IntSpec: ...
def builtin_table() -> list[tuple[str, list[str], str, Union[_FloatSpec, _IntSpec]]]: ...
def float_limits(
    spec: _FloatSpec,
) -> tuple[int, Optional[int], Optional[int], int, int, int]: ...
def profile_table() -> list[dict[str, Any]]: ...

@final
class Profile:
    def __new__(
        cls, spec: str, installed: Optional[list[tuple[str, str]]] = ...
    ) -> Profile: ...
    @property
    def name(self) -> str: ...
    @property
    def library(self) -> str: ...
    @property
    def version(self) -> Optional[str]: ...
    @property
    def versions(self) -> str: ...
    @property
    def checked_on(self) -> list[str]: ...
    @property
    def verified(self) -> bool: ...
    @property
    def guessed(self) -> bool: ...

# float conversions over flat unsigned-word arrays
def encode_float(
    src: _Words, src_fmt: _FloatSpec, out: _Words, dst_fmt: _FloatSpec, opts: dict[str, Any]
) -> None: ...
def encode_int_source(
    src: npt.NDArray[Union[np.int64, np.uint64]],
    out: _Words,
    dst_fmt: _FloatSpec,
    opts: dict[str, Any],
) -> None: ...
def round_float(
    src: _Words, src_fmt: _FloatSpec, out: _Words, fmt: _FloatSpec, opts: dict[str, Any]
) -> None: ...
def decode_float(src: _Words, fmt: _FloatSpec, out: _Words, wide: bool) -> None: ...

# qformat-cpu: the processor's own conversion instructions
def cpu_convert(
    name: str,
    src: _Words,
    out: _Words,
    imm: int = ...,
    rc: int = ...,
    ftz: bool = ...,
    daz: bool = ...,
) -> None: ...
def cpu_features() -> list[tuple[str, bool]]: ...
# exact queries (number text, rationals, exact and shortest decimals)
def read_encode(
    text: str,
    fmt: _FloatSpec,
    rounding: str = ...,
    seed: Optional[int] = ...,
    profile: Optional[Profile] = ...,
    ftz: Optional[bool] = ...,
    daz: Optional[bool] = ...,
) -> tuple[int, bool, bool, bool]: ...
def ratio_encode(
    neg: bool,
    num_hex: str,
    den_hex: str,
    fmt: _FloatSpec,
    rounding: str = ...,
    seed: Optional[int] = ...,
    profile: Optional[Profile] = ...,
    ftz: Optional[bool] = ...,
    daz: Optional[bool] = ...,
) -> tuple[int, bool, bool, bool]: ...
def read_encode_many(
    text: str, fmt: _FloatSpec, rounding: str = ..., seed: Optional[int] = ...
) -> npt.NDArray[np.uint64]: ...
def scan_number(text: str) -> tuple[str, bool, Optional[str], int, int]: ...
def exact_decimal(bits: int, fmt: _FloatSpec) -> str: ...
def shortest_decimal(bits: int, fmt: _FloatSpec) -> str: ...
def shortest_many(bits: npt.NDArray[np.uint64], fmt: _FloatSpec) -> list[str]: ...

# integer casts (encode/round to int formats); src_fmt None = int64/uint64 source
def encode_to_int(
    src: _Words, src_fmt: Optional[_FloatSpec], out: _Words, fmt: _IntSpec, opts: dict[str, Any],
    nan_value: Optional[int] = ...,
) -> None: ...
def round_to_int(
    src: _Words,
    src_fmt: Optional[_FloatSpec],
    out: _Words,
    fmt: _IntSpec,
    out_fmt: _FloatSpec,
    opts: dict[str, Any],
    nan_value: Optional[int] = ...,
) -> None: ...

# quantization over flat float32/float64 data of `shape`
_Floats = npt.NDArray[Union[np.float32, np.float64]]
def quant_params(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    spec: dict[str, Any],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def quant_codes(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], zps: npt.NDArray[np.int64], opts: dict[str, Any],
    out: _Words,
) -> None: ...
def quant_fake(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], zps: npt.NDArray[np.int64], opts: dict[str, Any],
    out: _Floats,
) -> None: ...
def quant_float_codes(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], elem: _FloatSpec, opts: dict[str, Any], out: _Words,
) -> None: ...
def quant_float_fake(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], elem: _FloatSpec, opts: dict[str, Any], out: _Floats,
) -> None: ...

# error statistics of a conversion (flat float32/float64 arrays of equal length)
def error_stats(
    reference: _Floats, approx: _Floats
) -> dict[str, Union[int, float]]: ...

# GGUF block types (qformat_core::quant::gguf)
def gguf_quantize(
    x: npt.NDArray[np.float32], name: str, out: npt.NDArray[np.uint8]
) -> None: ...
def gguf_dequantize(
    data: npt.NDArray[np.uint8], name: str, out: npt.NDArray[np.float32]
) -> None: ...
def gguf_block_shape(name: str) -> tuple[int, int]: ...

# NVFP4 (qformat_core::quant::nvfp4)
def nvfp4_tensor_scale(x: npt.NDArray[np.float32]) -> float: ...
def nvfp4_quantize(
    x: npt.NDArray[np.float32], tensor_scale: float, scales: npt.NDArray[np.uint8],
    packed: npt.NDArray[np.uint8],
) -> None: ...

# DeepSeek-V3 FP8 blocks (qformat_core::quant::fp8_block)
def fp8_block_quantize(
    w: npt.NDArray[np.float32], rows: int, cols: int, pow2: bool,
    codes: npt.NDArray[np.uint8], scales: npt.NDArray[np.float32],
) -> None: ...
