"""Type stubs for the compiled core binding ``qformat._native``.

Checked against the built module with ``python -m mypy.stubtest qformat._native``.
Formats cross as the native ``FloatFormat`` / ``IntFormat`` objects; option
dicts as built by ``_args.conversion_options``.
"""

from fractions import Fraction
from typing import Any, Literal, Optional, Union, final

import numpy as np
import numpy.typing as npt

__version__: str


_Words = npt.NDArray[Any]

class QFormatError(ValueError): ...
class NanInputError(QFormatError): ...
class RangeError(QFormatError): ...
class ParseError(QFormatError): ...
class CpuNotAvailableError(RuntimeError): ...

# formats: frozen native classes, compared and hashed by layout (not name)
_NanLayout = Literal["ieee", "fn", "fnuz", "none"]

@final
class FloatFormat:
    def __new__(
        cls,
        exp_bits: int,
        man_bits: int,
        *,
        bias: Optional[int] = None,
        signed: bool = True,
        inf: bool = True,
        nan: Optional[_NanLayout] = None,
        name: Optional[str] = None,
        zero: bool = True,
    ) -> FloatFormat: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def exp_bits(self) -> int: ...
    @property
    def man_bits(self) -> int: ...
    @property
    def bias(self) -> int: ...
    @property
    def signed(self) -> bool: ...
    @property
    def has_inf(self) -> bool: ...
    @property
    def nan(self) -> str: ...
    @property
    def has_zero(self) -> bool: ...
    @property
    def bits(self) -> int: ...
    @property
    def emin(self) -> int: ...
    @property
    def emax(self) -> int: ...
    @property
    def max_code(self) -> int: ...
    @property
    def inf_code(self) -> Optional[int]: ...
    @property
    def nan_code(self) -> Optional[int]: ...
    @property
    def sign_bit(self) -> int: ...
    @property
    def storage_dtype(self) -> np.dtype[Any]: ...
    def is_nan(self, bits: int) -> bool: ...
    def value_of(self, bits: int) -> Union[Fraction, float]: ...
    def __getnewargs_ex__(self) -> tuple[tuple[int, int], dict[str, Any]]: ...

@final
class IntFormat:
    def __new__(
        cls, bits: int, *, signed: bool = True, name: Optional[str] = None
    ) -> IntFormat: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def bits(self) -> int: ...
    @property
    def signed(self) -> bool: ...
    @property
    def min(self) -> int: ...
    @property
    def max(self) -> int: ...
    @property
    def storage_dtype(self) -> np.dtype[Any]: ...
    def __getnewargs_ex__(self) -> tuple[tuple[int], dict[str, Any]]: ...

def builtin_table() -> list[tuple[str, list[str], Union[FloatFormat, IntFormat]]]: ...

# profiles
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
def convert_float(
    src: _Words,
    src_fmt: FloatFormat,
    out: _Words,
    fmt: FloatFormat,
    opts: dict[str, Any],
    round_trip: bool,
    random: Optional[npt.NDArray[np.uint64]] = ...,
) -> None: ...
def encode_int_source(
    src: npt.NDArray[Union[np.int64, np.uint64]],
    out: _Words,
    dst_fmt: FloatFormat,
    opts: dict[str, Any],
) -> None: ...
def decode_float(src: _Words, fmt: FloatFormat, out: _Words, wide: bool) -> None: ...

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
    fmt: FloatFormat,
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
    fmt: FloatFormat,
    rounding: str = ...,
    seed: Optional[int] = ...,
    profile: Optional[Profile] = ...,
    ftz: Optional[bool] = ...,
    daz: Optional[bool] = ...,
) -> tuple[int, bool, bool, bool]: ...
def read_encode_many(
    text: str, fmt: FloatFormat, rounding: str = ..., seed: Optional[int] = ...
) -> npt.NDArray[np.uint64]: ...
def scan_number(text: str) -> tuple[str, bool, Optional[str], int, int]: ...
def exact_decimal(bits: int, fmt: FloatFormat) -> str: ...
def shortest_decimal(bits: int, fmt: FloatFormat) -> str: ...
def shortest_many(bits: npt.NDArray[np.uint64], fmt: FloatFormat) -> list[str]: ...

# integer casts (encode/round to int formats); src_fmt None = int64/uint64 source
def cast_to_int(
    src: _Words,
    src_fmt: Optional[FloatFormat],
    out: _Words,
    fmt: IntFormat,
    opts: dict[str, Any],
    out_fmt: Optional[FloatFormat] = ...,
    nan_value: Optional[int] = ...,
) -> None: ...

# quantization over flat float32/float64 data of `shape`
_Floats = npt.NDArray[Union[np.float32, np.float64]]
def quant_params(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    spec: dict[str, Any],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def quant_int(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], zps: npt.NDArray[np.int64], opts: dict[str, Any],
    out: Union[_Words, _Floats], fused: bool,
) -> None: ...
def quant_float(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], elem: FloatFormat, opts: dict[str, Any],
    out: Union[_Words, _Floats], fused: bool,
) -> None: ...

# QuantizedArray.dequantize's arithmetic into out (flat float32/float64)
def dequantize_codes(
    codes: _Words, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], zps: npt.NDArray[np.int64],
    elem: Optional[FloatFormat], signed: bool, out: _Floats,
) -> None: ...

# error statistics of a conversion (flat float32/float64 arrays of equal length)
def error_stats(
    reference: _Floats, approx: _Floats
) -> dict[str, Union[int, float]]: ...
# encode_float plus the statistics of its results, from the same pass
def encode_float_stats(
    src: _Words, src_fmt: FloatFormat, out: _Words, dst_fmt: FloatFormat, opts: dict[str, Any]
) -> dict[str, Union[int, float]]: ...
# the statistics of a quantization, from its codes (no dequantized copy)
def quant_error_stats(
    x: _Floats, shape: tuple[int, ...], axis: Optional[int], group: Optional[int],
    scales: npt.NDArray[np.float64], zps: npt.NDArray[np.int64], codes: _Words,
    elem: Optional[FloatFormat], signed: bool,
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
def nvfp4_dequantize(
    packed: npt.NDArray[np.uint8], scales: npt.NDArray[np.uint8], tensor_scale: float,
    out: npt.NDArray[np.float32],
) -> None: ...

# DeepSeek-V3 FP8 blocks (qformat_core::quant::fp8_block)
def fp8_block_quantize(
    w: npt.NDArray[np.float32], rows: int, cols: int, pow2: bool,
    codes: npt.NDArray[np.uint8], scales: npt.NDArray[np.float32],
) -> None: ...
def fp8_block_dequantize(
    codes: npt.NDArray[np.uint8], rows: int, cols: int, scales: npt.NDArray[np.float32],
    out: npt.NDArray[np.float32],
) -> None: ...
