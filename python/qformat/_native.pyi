"""Type stubs for the compiled core binding ``qformat._native``.

Checked against the built module with ``python -m mypy.stubtest qformat._native``.
Format specs cross as tuples; option dicts as built by ``_convert._options``.
"""

from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

__version__: str

FloatSpec = tuple[str, int, int, int, bool, bool, str, bool]
IntSpec = tuple[str, int, bool]
Words = npt.NDArray[Any]

class QFormatError(ValueError): ...
class NanInputError(QFormatError): ...
class RangeError(QFormatError): ...
class ParseError(QFormatError): ...

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
) -> FloatSpec: ...
def int_format(bits: int, signed: bool, name: Optional[str]) -> IntSpec: ...
def builtin_table() -> list[tuple[str, list[str], str, Union[FloatSpec, IntSpec]]]: ...
def float_limits(
    spec: FloatSpec,
) -> tuple[int, Optional[int], Optional[int], int, int, int]: ...
def profile_table() -> list[dict[str, Any]]: ...

# float conversions over flat unsigned-word arrays
def encode_float(
    src: Words, src_fmt: FloatSpec, out: Words, dst_fmt: FloatSpec, opts: dict[str, Any]
) -> None: ...
def encode_int_source(
    src: npt.NDArray[Union[np.int64, np.uint64]],
    out: Words,
    dst_fmt: FloatSpec,
    opts: dict[str, Any],
) -> None: ...
def round_float(
    src: Words, src_fmt: FloatSpec, out: Words, fmt: FloatSpec, opts: dict[str, Any]
) -> None: ...
def decode_float(src: Words, fmt: FloatSpec, out: Words, wide: bool) -> None: ...
