"""Quantize whole checkpoint files (.safetensors, .npz, .npy) tensor by tensor.

``quantize_file`` converts every floating-point tensor of a file to a float
format (bf16, fp8, ...) or quantizes it to integers / MX blocks with its
scales, and reports the error of each. Large tensors are processed in runs
of rows wherever the quantization allows (float targets, per-channel along
axis 0, groups), so peak memory stays near one such run plus the largest
tensor that cannot be split, never the whole file. ``load`` and
``dequantize_file`` turn a file written here back into float32 arrays.

Stored layout (recorded as JSON under the ``"qformat"`` key of the
safetensors ``__metadata__``, or in a ``__qformat__`` member of an .npz):

* float targets: the format's bit patterns under the tensor's own name, in
  the safetensors dtype where one exists (BF16, F16, F8_E4M3, F8_E5M2,
  F8_E8M0 — loadable by ``safetensors.torch``), else unsigned words (4-bit
  formats two per byte, low nibble first); tf32 is stored as its F32 values;
* integer and block-scaled (MX) targets: the codes under the name, plus
  ``<name>.scale`` (and ``<name>.zero_point`` for integers) shaped like
  :class:`qformat.QuantizedArray`'s, so ``x ≈ (codes - zero_point) * scale``
  after grouping;
* kept tensors (1-D, skipped, non-float): their original bytes.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import signal
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from .. import _args
from .._convert import decode, encode, encode_with_stats
from .._formats import _BUILTINS, FloatFormat, Format, IntFormat, format
from .._gguf import GGUF_TYPES
from .._qarray import QuantizedArray, pack, unpack
from .._quant import quantize_with_stats
from .gguf import quantize_file_gguf
from .stats import ErrorStats
from .stfile import (
    FORMAT_TO_ST,
    ST_DTYPES,
    TensorFileError,
    TensorInfo,
    TensorReader,
    TensorWriter,
    as_float,
    first_line,
    row_chunks,
    st_dtype_of,
)

__all__ = ["quantize_file", "dequantize_file", "load", "CheckpointError", "MX_ALIASES"]

CheckpointError = TensorFileError
META_KEY = "qformat"
LAYOUT_VERSION = 2  # 2: format records carry `zero` and are rebuilt from their fields
CHUNK_BYTES = 32 * 1024 * 1024  # input bytes per run of rows: big enough for full-speed kernels
_FLOAT_CODES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0")

# --to names for OCP MX v1.0 block formats: (element format, block size, scale format).
MX_ALIASES = {
    "mxfp8": ("fp8_e4m3fn", 32, "fp8_e8m0fnu"), "mxfp8_e4m3": ("fp8_e4m3fn", 32, "fp8_e8m0fnu"),
    "mxfp8_e5m2": ("fp8_e5m2", 32, "fp8_e8m0fnu"), "mxfp6": ("fp6_e2m3fn", 32, "fp8_e8m0fnu"),
    "mxfp6_e2m3": ("fp6_e2m3fn", 32, "fp8_e8m0fnu"),
    "mxfp6_e3m2": ("fp6_e3m2fn", 32, "fp8_e8m0fnu"), "mxfp4": ("fp4_e2m1fn", 32, "fp8_e8m0fnu"),
    "mxint8": ("int8", 32, "fp8_e8m0fnu"),
}

Progress = Callable[[str, int, int], None]


# ---------------------------------------------------------------------------
# What to do with each tensor


class Target:
    """The resolved ``--to`` and its options: ``kind`` is "float" (an
    elementwise cast), "int" (integer codes with scales and zero points) or
    "block" (float element codes with scales, e.g. MX)."""

    def __init__(self, to: Any, scheme: str, axis: Any, group_size: Optional[int],
                 clip: Any, percentile: Optional[float], scale_format: Any, rounding: str,
                 overflow: Optional[str], nan: Any = "error", force: bool = False) -> None:
        alias = MX_ALIASES.get(str(to).lower()) if isinstance(to, str) else None
        if alias is not None:
            to = alias[0]
            group_size = alias[1] if group_size is None else group_size
            scale_format = scale_format or alias[2]
        self.fmt: Format = format(to)
        self.label = str(to)
        self.scale_format = format(scale_format) if scale_format is not None else None
        quantized = (isinstance(self.fmt, IntFormat) or group_size is not None
                     or self.scale_format is not None)
        self.kind = "float" if not quantized else (
            "int" if isinstance(self.fmt, IntFormat) else "block")
        self.scheme, self.axis, self.group_size = scheme, axis, group_size
        self.clip, self.percentile, self.rounding = clip, percentile, rounding
        self.overflow = overflow if overflow is not None or self.kind != "float" else "saturate"
        self.nan = _nan_option(nan)
        self._check(force)

    def _check(self, force: bool) -> None:
        if self.kind == "float":
            extras = [n for n, v in (("clip", self.clip), ("percentile", self.percentile))
                      if v is not None]
            if self.scheme != "symmetric":
                extras.append("scheme")
            if self.axis not in ("auto", None):
                extras.append("axis")
            if extras:
                raise CheckpointError(
                    f"{', '.join(extras)} applies to integer or block-scaled targets; "
                    f"{self.fmt.name} without --group-size is an elementwise cast")
            if not force:
                _check_cast_target(self.fmt)
        if self.group_size is not None and (isinstance(self.group_size, bool)
                                            or int(self.group_size) <= 0):
            raise CheckpointError(f"group size must be a positive integer, not {self.group_size}")
        if self.group_size is not None and self.axis is None:
            raise CheckpointError("groups (--group-size, or an MX target's blocks of 32) run "
                                  "along an axis; --axis none (one scale per tensor) cannot "
                                  "have them")

    def tensor_axis(self, info: TensorInfo) -> Optional[int]:
        """The axis of one tensor's scales (None: one scale for the tensor).
        ``"auto"`` means per output channel (axis 0) without groups and
        groups along the last (input) axis with them."""
        nd = len(info.shape)
        if self.axis is None and self.group_size is None:
            return None
        if nd == 0:
            raise CheckpointError(f"tensor {info.name!r} is a scalar; it has no axis for "
                                  "per-channel or group scales (use --skip or --axis none)")
        if self.axis in ("auto", None):
            a = 0 if self.group_size is None else -1
        else:
            a = int(self.axis)
        k = _args.axis_index(a, nd)
        if k is None:
            raise CheckpointError(f"axis {a} is out of range for tensor {info.name!r} of shape "
                                  f"{list(info.shape)}")
        if self.group_size is not None and info.shape[k] % self.group_size:
            raise CheckpointError(
                f"group size {self.group_size} does not divide axis {k} (length {info.shape[k]}) "
                f"of tensor {info.name!r}; pick another --group-size or --skip it")
        return k

    def describe(self) -> dict:
        """JSON-ready record of the options, for the file metadata and reports."""
        d: dict[str, Any] = {"to": self.label, "kind": self.kind, "rounding": self.rounding,
                             "format": _format_record(self.fmt)}
        if self.kind == "float":
            d["overflow"] = self.overflow
        else:
            d.update(scheme=self.scheme, group_size=self.group_size, clip=self.clip,
                     percentile=self.percentile,
                     scale_format=_format_record(self.scale_format) if self.scale_format else None)
        return d


def _nan_option(nan: Any) -> Any:
    """``"error"`` or an int code (what NaN inputs become)."""
    if nan is None or nan == "error":
        return "error"
    if isinstance(nan, str):
        try:
            return int(nan, 0)
        except ValueError:
            raise CheckpointError(f"--nan takes 'error' or an integer code, not {nan!r}") from None
    if isinstance(nan, bool) or not isinstance(nan, (int, np.integer)):
        raise CheckpointError(f"nan must be 'error' or an integer code, not {nan!r}")
    return int(nan)


def _check_cast_target(fmt: Format) -> None:
    """Refuse an elementwise cast that would turn ordinary weights into NaN:
    a format without a sign (negative values) or without zero (e8m0 scales)."""
    lacks = [w for w, ok in (("a sign", fmt.signed), ("a zero", fmt.has_zero)) if not ok]
    if lacks:
        raise CheckpointError(
            f"{fmt.name} has no {' and no '.join(w.split()[1] for w in lacks)}: negative "
            "weights and zeros would become NaN or be lost (it is a scale format); pass "
            "--force (force=True) to convert anyway")


def _format_record(f: Any) -> dict:
    """The whole layout of a (possibly custom) format, so reading the file
    back rebuilds exactly this format from its fields (never via its name,
    which may be an alias of a different format)."""
    if isinstance(f, IntFormat):
        return {"name": f.name, "bits": f.bits, "signed": f.signed}
    return {"name": f.name, "exp_bits": f.exp_bits, "man_bits": f.man_bits, "bias": f.bias,
            "signed": f.signed, "inf": f.has_inf, "nan": f.nan, "zero": f.has_zero}


def _format_from_record(r: Any) -> Format:
    """The format a record describes, built from its fields. Records of
    layout version 1 lack ``zero``: a built-in's canonical name whose fields
    match stands for that built-in (it knows ``zero``), else zero=True."""
    if not isinstance(r, dict) or not isinstance(r.get("name"), str):
        raise CheckpointError("a format record is not an object with a name")
    try:
        if "bits" in r:
            return IntFormat(_int(r["bits"]), signed=_bool(r["signed"]), name=r["name"])
        zero = r.get("zero")
        if zero is None:
            old = _BUILTINS.get(r["name"])
            if isinstance(old, FloatFormat) and _format_record(old) == {**r, "zero": old.has_zero}:
                return old
            zero = True
        return FloatFormat(_int(r["exp_bits"]), _int(r["man_bits"]), bias=_int(r["bias"]),
                           signed=_bool(r["signed"]), inf=_bool(r["inf"]), nan=str(r["nan"]),
                           zero=_bool(zero), name=r["name"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"format record {r.get('name')!r} is malformed "
                              f"({first_line(e)})") from None


def _int(v: Any) -> int:
    if type(v) is not int:
        raise TypeError(f"expected an integer, got {v!r}")
    return v


def _bool(v: Any) -> bool:
    if type(v) is not bool:
        raise TypeError(f"expected true or false, got {v!r}")
    return v


def _keep_reason(info: TensorInfo, skip: Sequence[str], keep_1d: bool) -> Optional[str]:
    if info.dtype not in _FLOAT_CODES:
        return "not float"
    if any(fnmatch.fnmatchcase(info.name, p) for p in skip):
        return "skipped"
    if keep_1d and len(info.shape) <= 1:
        return "1-D kept"
    return None


def _code_info(name: str, fmt: Format, shape: tuple) -> tuple:
    """(TensorInfo of the stored codes, packed?) for codes of ``fmt``."""
    n = int(np.prod(shape, dtype=np.int64))
    if fmt.bits == 4:
        return TensorInfo(name, "U8", (-(-n // 2),)), True
    if isinstance(fmt, FloatFormat):
        if fmt.name == "tf32":
            return TensorInfo(name, "F32", shape), False
        code = FORMAT_TO_ST.get(fmt.name) or st_dtype_of(fmt.storage_dtype)
        return TensorInfo(name, code, shape), False
    return TensorInfo(name, st_dtype_of(fmt.storage_dtype), shape), False


def _scale_code(target: Target, info: TensorInfo) -> str:
    sf = target.scale_format
    if sf is not None:
        return FORMAT_TO_ST.get(sf.name) or st_dtype_of(sf.storage_dtype)
    return "F64" if info.dtype == "F64" else "F32"


class _Plan:
    """One input tensor's fate: its stored tensors and the metadata entry."""

    def __init__(self, info: TensorInfo, target: Target, skip: Sequence[str], keep_1d: bool):
        self.info = info
        self.reason = _keep_reason(info, skip, keep_1d)
        self.k: Optional[int] = None
        self.packed = False
        if self.reason is not None:
            self.outputs = [TensorInfo(info.name, info.dtype, info.shape)]
            self.entry: dict = {"kind": "kept", "reason": self.reason}
            return
        codes, self.packed = _code_info(info.name, target.fmt, info.shape)
        self.outputs = [codes]
        self.entry = {"kind": target.kind, "format": _format_record(target.fmt),
                      "shape": list(info.shape), "source_dtype": info.dtype, "packed": self.packed}
        if target.kind == "float":
            self.entry.update(rounding=target.rounding, overflow=target.overflow)
            return
        self.k = target.tensor_axis(info)
        pshape = _args.param_shape(info.shape, self.k, target.group_size)
        self.outputs.append(TensorInfo(f"{info.name}.scale", _scale_code(target, info), pshape))
        if target.kind == "int":
            zp = st_dtype_of(target.fmt.storage_dtype)
            self.outputs.append(TensorInfo(f"{info.name}.zero_point", zp, pshape))
        self.entry.update(scheme=target.scheme, axis=self.k, group_size=target.group_size,
                          scale_format=(_format_record(target.scale_format)
                                        if target.scale_format else None),
                          rounding=target.rounding)

    def row_multiple(self, target: Target) -> Optional[int]:
        """Rows per run must be a multiple of this; None: the tensor cannot be
        split (its scales depend on all rows)."""
        if self.reason is not None or target.kind == "float":
            m = 1
        elif self.k == 0:
            m = target.group_size or 1
        elif self.k is not None and target.group_size is not None:
            m = 1
        else:
            return None
        row = self.info.size // self.info.shape[0] if self.info.shape and self.info.shape[0] else 1
        return m * 2 if self.packed and row % 2 and m % 2 else m


# ---------------------------------------------------------------------------
# Error statistics, accumulated over runs of rows


# ---------------------------------------------------------------------------
# Converting one tensor


def _decode32(codes: np.ndarray, fmt: Any) -> np.ndarray:
    try:
        return decode(codes, fmt, dtype=np.float32)
    except ValueError:  # wider than float32 (fp64): keep every bit
        return decode(codes, fmt)


def _store_scale(scale: np.ndarray, target: Target) -> np.ndarray:
    if target.scale_format is None:
        return scale
    return encode(scale, target.scale_format)  # exact: scales are already in that format


class _TensorJob:
    """Reads one tensor in runs of rows, converts each run and writes the
    codes; scales and zero points follow once all codes are written. With
    ``report`` each run's error statistics come from Rust: out of the
    converting pass for a float cast, out of one pass over the input and
    the codes for integer and block-scaled targets."""

    def __init__(self, reader: TensorReader, writer: TensorWriter, plan: _Plan, target: Target,
                 tick: Callable[[int], None], report: bool = True) -> None:
        self.reader, self.writer, self.plan = reader, writer, plan
        self.target, self.tick, self.report = target, tick, report
        self.stats = ErrorStats()
        self.scales: list = []
        self.zps: list = []

    def run(self) -> None:
        """Convert and write the whole tensor, run by run."""
        info = self.plan.info
        rows = info.shape[0] if info.shape else 1
        m = self.plan.row_multiple(self.target)
        runs = row_chunks(rows, info.row_bytes, CHUNK_BYTES, m) if m else [(0, rows)]
        for start, stop in runs:
            raw = self.reader.view(info.name, start, stop)  # no copy: the run is only read
            try:
                self._convert(raw)
            except ValueError as e:
                where = start * (info.size // rows if rows else 0)
                raise CheckpointError(f"tensor {info.name!r}: "
                                      f"{_cli_words(_shift_index(first_line(e), where))}"
                                      ) from None
            del raw  # the view is done with: its pages can leave resident memory
            self.reader.release(info.name, start, stop)
            self.tick((stop - start) * info.row_bytes if info.shape else info.nbytes)
        for suffix, parts in ((".scale", self.scales), (".zero_point", self.zps)):
            for p in parts:
                self.writer.write(info.name + suffix, p)

    def _convert(self, raw: np.ndarray) -> None:
        name = self.plan.info.name
        if self.plan.reason is not None:
            self.writer.write(name, raw)
            return
        t = self.target
        if t.kind == "float":
            stored = self._cast(raw)
        else:
            x = as_float(raw, self.plan.info.dtype)
            q, sums = quantize_with_stats(
                x, t.fmt, self.report, scheme=t.scheme, axis=self.plan.k,
                group_size=t.group_size, clip=t.clip, percentile=t.percentile,
                rounding=t.rounding, scale_format=t.scale_format, nan=t.nan)
            stored = q.values
            self.scales.append(_store_scale(q.scale, t))
            if t.kind == "int":
                self.zps.append(q.zero_point.astype(t.fmt.storage_dtype))
            if sums is not None:
                self.stats.merge_sums(sums)
        if self.plan.packed:
            stored = pack(stored, t.fmt)
        self.writer.write(name, stored)

    def _cast(self, raw: np.ndarray) -> np.ndarray:
        """A float target: the codes of one run, read straight from the
        stored words (bf16/fp8 inputs are not widened first); with
        ``report`` the statistics come out of the same Rust pass."""
        t, code = self.target, self.plan.info.dtype
        source = ST_DTYPES[code][1]
        nan = None if t.nan == "error" else t.nan
        if self.report:
            codes, sums = encode_with_stats(raw, t.fmt, source=source, rounding=t.rounding,
                                            overflow=t.overflow, nan=nan)
            self.stats.merge_sums(sums, limits=True)
        else:
            codes = encode(as_float(raw, code), t.fmt, rounding=t.rounding,
                           overflow=t.overflow, nan=nan)
        return _decode32(codes, t.fmt) if t.fmt.name == "tf32" else codes


def _shift_index(message: str, offset: int) -> str:
    """A core message's 'flat index N' is within the run of rows; make it
    the index within the whole tensor."""
    return re.sub(r"flat index (\d+)", lambda m: f"flat index {int(m.group(1)) + offset}",
                  message)


def _cli_words(message: str) -> str:
    """The core's ``nan=`` hint, spelled for both the API and the command line."""
    if "nan=" not in message:
        return message
    head = re.split(r"[;(]\s*pass nan=", message)[0].rstrip(" ;(")
    return f"{head}; pass --nan CODE (nan=CODE in the API) to choose what NaN becomes"


# ---------------------------------------------------------------------------
# Public functions


def _plans(reader: TensorReader, target: Target, skip: Sequence[str], keep_1d: bool) -> list:
    plans = [_Plan(info, target, skip, keep_1d) for info in reader.tensors.values()]
    names = set(reader.tensors)
    for p in plans:
        for extra in p.outputs[1:]:
            if extra.name in names:
                raise CheckpointError(f"tensor {extra.name!r} exists in the input, so the scales "
                                      f"of {p.info.name!r} cannot be stored under that name")
    return plans


def _file_metadata(reader: TensorReader, target: Target, plans: list) -> dict:
    meta = {k: v for k, v in reader.metadata.items() if k != META_KEY}
    record = {"version": LAYOUT_VERSION, "target": target.describe(),
              "tensors": {p.info.name: p.entry for p in plans}}
    meta[META_KEY] = json.dumps(record, separators=(",", ":"))
    return meta


def _row(plan: _Plan, job: _TensorJob, target: Target, report: bool = True) -> dict:
    after = sum(o.nbytes for o in plan.outputs)
    row: dict = {"name": plan.info.name, "shape": list(plan.info.shape), "dtype": plan.info.dtype,
                 "bytes_before": plan.info.nbytes, "bytes_after": after}
    if plan.reason is not None:
        row.update(format=plan.info.dtype, note=plan.reason)
        return row
    label = target.label
    if target.kind != "float":
        where = "tensor" if plan.k is None else f"ax{plan.k}"
        if target.group_size:
            where += f" g{target.group_size}"
        label = f"{label} {target.scheme[:3]} {where}"
    row.update(format=label, **(job.stats.to_dict() if report else {}))
    return row


def _check_paths(src: str, dst: str) -> None:
    if os.path.exists(dst) and os.path.exists(src) and os.path.samefile(src, dst):
        raise CheckpointError(f"{dst}: the output would replace the input; choose another name")


def quantize_file(src: Union[str, os.PathLike], dst: Union[str, os.PathLike], to: Any, *,
                  scheme: str = "symmetric", axis: Any = "auto",
                  group_size: Optional[int] = None, clip: Any = None,
                  percentile: Optional[float] = None, scale_format: Any = None,
                  rounding: str = "nearest_even", overflow: Optional[str] = None,
                  skip: Iterable[str] = (), keep_1d: bool = True, force: bool = False,
                  progress: Optional[Progress] = None, nan: Any = "error",
                  report: bool = True) -> dict:
    """Convert every float tensor of ``src`` to ``to`` and write ``dst``.

    ``to``: a float format (an elementwise cast; ``overflow`` defaults to
    "saturate" here, as weights should not become inf/NaN), an integer format
    (codes + scales + zero points), or an MX name (``mxfp8``, ``mxfp6``,
    ``mxfp4``, ``mxint8``); a float format with ``group_size`` or
    ``scale_format`` is block-scaled. ``axis="auto"``: one scale per output
    channel (axis 0), or groups along the last axis with ``group_size``;
    ``axis=None``: one scale per tensor. 1-D tensors are kept unless
    ``keep_1d=False``; names matching a ``skip`` glob are kept. ``dst`` is
    written to a temporary file and renamed at the end; an existing ``dst``
    is refused unless ``force``; so is a cast to a format without a sign or
    a zero (e8m0fnu: weights would become NaN). ``nan``: "error" (a NaN
    input is refused, naming the tensor) or the code NaN becomes.
    ``progress(name, done, total)`` is called with input bytes after each
    run of rows. ``report=False`` skips the error statistics (faster).

    Returns the report: ``{"input", "output", "target", "tensors": [row],
    "totals", "seconds"}``; each row has name, shape, dtype, format,
    bytes_before, bytes_after and, for converted tensors, max_abs, mean_abs,
    rmse and sqnr_db of the dequantized values against the originals (over
    the elements where both are finite), nan_in, inf_in, nan_out, inf_out:
    the non-finite values among the inputs and the results, amax (the
    largest finite |input|), flushed (nonzero inputs that became zero) and,
    for float casts, overflow (finite inputs beyond the target's largest
    finite value, which saturated or became inf/NaN). A float cast takes
    these statistics in the same Rust pass that converts, reading the file
    through a memory map.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if dst.lower().endswith(".gguf"):  # GGUF block recipes, written by gguf's own writer
        _check_paths(src, dst)
        return quantize_file_gguf(src, dst, _gguf_recipe(to), skip=skip, keep_1d=keep_1d,
                                  force=force, progress=progress)
    t0 = time.perf_counter()
    target = Target(to, scheme, axis, group_size, clip, percentile, scale_format, rounding,
                    overflow, nan, force)
    skip = [skip] if isinstance(skip, str) else list(skip)
    with TensorReader(src) as reader:
        _check_paths(src, dst)
        plans = _plans(reader, target, skip, keep_1d)
        writer = TensorWriter(dst, [o for p in plans for o in p.outputs],
                              _file_metadata(reader, target, plans), force=force)
        try:
            with _cleanup_on_signals(writer):
                rows, totals = _run(reader, writer, plans, target, progress, report)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    totals["seconds"] = time.perf_counter() - t0
    return {"input": src, "output": dst, "target": target.describe(), "tensors": rows,
            "totals": totals}


@contextlib.contextmanager
def _cleanup_on_signals(writer: TensorWriter) -> Iterator[None]:
    """While the output is being written, SIGTERM (and SIGHUP) end the work
    with ``SystemExit(128 + signal)`` instead of killing the process, so the
    caller's ``except BaseException: writer.abort()`` removes the temporary
    file; SIGINT already raises KeyboardInterrupt. Handlers can only be set
    from the main thread; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    sigs = [sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
            if sig is not None]
    old = {sig: signal.signal(sig, stop) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _gguf_recipe(to: Any) -> str:
    name = str(to).lower()
    if name == "mxfp4":
        name = "gguf_mxfp4"
    if name not in GGUF_TYPES:
        raise CheckpointError(f"a .gguf output takes a GGUF block type ({', '.join(GGUF_TYPES)}),"
                              f" not {to!r}")
    return name


def _run(reader: TensorReader, writer: TensorWriter, plans: list, target: Target,
         progress: Optional[Progress], report: bool = True) -> tuple:
    total = sum(p.info.nbytes for p in plans)
    done = 0
    rows, overall = [], ErrorStats()
    for plan in plans:
        def tick(n: int, name: str = plan.info.name) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(name, done, total)
        job = _TensorJob(reader, writer, plan, target, tick, report)
        job.run()
        overall.merge(job.stats)
        rows.append(_row(plan, job, target, report))
    totals = {"tensors": len(rows), "converted": sum(p.reason is None for p in plans),
              "bytes_before": sum(r["bytes_before"] for r in rows),
              "bytes_after": sum(r["bytes_after"] for r in rows),
              **(overall.to_dict() if report else {})}
    return rows, totals


# ---------------------------------------------------------------------------
# Reading files back


def _record(reader: TensorReader, required: bool = False) -> dict:
    """The file's qformat record, every entry checked against the tensors
    actually stored (a damaged record is one :class:`CheckpointError`).
    Without a record: ``{"tensors": {}}``, or with ``required`` an error."""
    raw = reader.metadata.get(META_KEY)
    if raw is None:
        if required:
            raise CheckpointError(f"{reader.path}: not a qformat file (it has no qformat "
                                  "metadata, so there is nothing to dequantize)")
        return {"tensors": {}}
    try:
        rec = raw if isinstance(raw, dict) else json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{reader.path}: its qformat metadata is not JSON") from None
    bad = _bad_record(rec)
    if bad:
        raise CheckpointError(f"{reader.path}: its qformat metadata is damaged ({bad})")
    if rec.get("version", 0) > LAYOUT_VERSION:
        raise CheckpointError(f"{reader.path}: written by a newer qformat (layout version "
                              f"{rec['version']}); upgrade qformat to read it")
    for name, e in rec["tensors"].items():
        try:
            _check_entry(reader, name, e)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{reader.path}: qformat metadata of tensor {name!r} does "
                                  f"not match the file ({first_line(err)})") from None
    return rec


def _bad_record(rec: Any) -> Optional[str]:
    """Why ``rec`` is not a layout record, or None."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    if type(rec.get("version", 0)) is not int:
        return "its version is not an integer"
    if not isinstance(rec.get("tensors"), dict):
        return "no table of tensors"
    for name, e in rec["tensors"].items():
        if not isinstance(e, dict) or e.get("kind") not in ("kept", "float", "int", "block"):
            return f"tensor {name!r} has no known kind"
    return None


def _check_entry(reader: TensorReader, name: str, e: dict) -> None:
    """Raise (KeyError/TypeError/ValueError) unless entry ``e`` describes the
    stored tensor ``name`` and its companions."""
    if name not in reader.tensors:
        raise KeyError("the tensor is missing")
    if e["kind"] == "kept":
        return
    fmt = _format_from_record(e["format"])
    shape = tuple(_int(n) for n in e["shape"])
    if any(n < 0 for n in shape):
        raise ValueError("negative dimension")
    expect, packed = _code_info(name, fmt, shape)
    if e.get("packed", False) is not packed:
        raise ValueError("its packing does not match the format")
    _same(reader.tensors[name], expect, "codes", loose=reader.kind != "safetensors")
    if e["kind"] == "float":
        return
    k, g = e.get("axis"), e.get("group_size")
    if k is not None and not 0 <= _int(k) < len(shape):
        raise ValueError(f"axis {k} is out of range")
    if g is not None and (_int(g) <= 0 or k is None or shape[k] % g):
        raise ValueError(f"group size {g} does not fit axis {k}")
    if e.get("scheme") not in ("symmetric", "asymmetric"):
        raise ValueError(f"unknown scheme {e.get('scheme')!r}")
    sf = _format_from_record(e["scale_format"]) if e.get("scale_format") else None
    pshape = _args.param_shape(shape, k, g)
    scale = reader.tensors.get(f"{name}.scale")
    if scale is None:
        raise KeyError(f"{name}.scale is missing")
    codes = ("F32", "F64") if sf is None else (_code_info("", sf, pshape)[0].dtype,)
    if scale.dtype not in codes or scale.shape != pshape:
        raise ValueError(f"{name}.scale has dtype {scale.dtype} and shape {list(scale.shape)}")
    zp = reader.tensors.get(f"{name}.zero_point")
    if zp is not None and (zp.dtype[0] not in "IU" or zp.shape != pshape):
        raise ValueError(f"{name}.zero_point has dtype {zp.dtype} and shape {list(zp.shape)}")


def _same(info: TensorInfo, expect: TensorInfo, what: str, loose: bool = False) -> None:
    """Raise unless ``info`` is stored as ``expect`` says. ``loose``: only the
    storage words must match (.npz/.npy have no bf16 or fp8 dtype, so those
    codes come back as the unsigned words they were written as)."""
    dtype = info.dtype
    if loose and np.dtype(ST_DTYPES[dtype][0]) == np.dtype(ST_DTYPES[expect.dtype][0]):
        dtype = expect.dtype
    if (dtype, info.shape) != (expect.dtype, expect.shape):
        raise ValueError(f"its {what} are stored as {info.dtype} {list(info.shape)}, not "
                         f"{expect.dtype} {list(expect.shape)}")


def _aux_names(rec: dict) -> set:
    out = set()
    for name, e in rec["tensors"].items():
        if e["kind"] in ("int", "block"):
            out |= {f"{name}.scale", f"{name}.zero_point"}
    return out


def _restore(reader: TensorReader, name: str, entry: Optional[dict]) -> np.ndarray:
    """One tensor of a qformat-written file as float32 (integers unchanged)."""
    try:
        return _restore_checked(reader, name, entry)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{reader.path}: cannot restore tensor {name!r} "
                              f"({first_line(e)})") from None


def _restore_checked(reader: TensorReader, name: str, entry: Optional[dict]) -> np.ndarray:
    raw = reader.read(name)
    info = reader.tensors[name]
    if entry is None or entry["kind"] == "kept":
        if info.dtype in _FLOAT_CODES:
            return as_float(raw, info.dtype).astype(np.float32, copy=False)
        return raw
    fmt = _format_from_record(entry["format"])
    shape = tuple(entry["shape"])
    codes = raw
    if entry.get("packed"):
        codes = unpack(raw, fmt, shape)
    if entry["kind"] == "float":
        if info.dtype in ("F64", "F32", "F16"):  # stored as its values (tf32, fp16, ...)
            return raw.astype(np.float32, copy=False)
        return _decode32(codes.reshape(shape), fmt).astype(np.float32, copy=False)
    scale = reader.read(f"{name}.scale")
    sf = _format_from_record(entry["scale_format"]) if entry.get("scale_format") else None
    if sf is not None:
        scale = decode(scale, sf, dtype=np.float32)
    zp_name = f"{name}.zero_point"
    zp = reader.read(zp_name).astype(np.int64) if zp_name in reader.tensors else np.zeros_like(
        scale, dtype=np.int64)
    q = QuantizedArray(codes.reshape(shape), scale, zp, fmt, entry["scheme"], entry["axis"],
                       entry["group_size"], sf)
    return q.dequantize(np.float32)


def load(path: Union[str, os.PathLike]) -> dict:
    """Every tensor of a file written by :func:`quantize_file` (or any
    .safetensors/.npz/.npy file) as float32 NumPy arrays, dequantized; the
    ``.scale``/``.zero_point`` companions are consumed, integer tensors
    that were kept come back unchanged."""
    with TensorReader(os.fspath(path)) as reader:
        rec = _record(reader)
        aux = _aux_names(rec)
        return {n: _restore(reader, n, rec["tensors"].get(n))
                for n in reader.tensors if n not in aux}


def dequantize_file(src: Union[str, os.PathLike], dst: Union[str, os.PathLike], *,
                    force: bool = False, progress: Optional[Progress] = None) -> dict:
    """Write the float32 tensors :func:`load` would return to ``dst``
    (.safetensors or .npz), one tensor in memory at a time. Returns
    ``{"input", "output", "tensors", "bytes"}``."""
    src, dst = os.fspath(src), os.fspath(dst)
    with TensorReader(src) as reader:
        _check_paths(src, dst)
        rec = _record(reader, required=True)
        aux = _aux_names(rec)
        names = [n for n in reader.tensors if n not in aux]
        layout = [_restored_info(reader, n, rec["tensors"].get(n)) for n in names]
        meta = {k: v for k, v in reader.metadata.items() if k != META_KEY}
        writer = TensorWriter(dst, layout, meta, force=force)
        try:
            done, total = 0, sum(t.nbytes for t in layout)
            with _cleanup_on_signals(writer):
                for info in layout:
                    writer.write(info.name,
                                 _restore(reader, info.name, rec["tensors"].get(info.name)))
                    done += info.nbytes
                    if progress is not None:
                        progress(info.name, done, total)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return {"input": src, "output": dst, "tensors": len(layout), "bytes": total}


def _restored_info(reader: TensorReader, name: str, entry: Optional[dict]) -> TensorInfo:
    info = reader.tensors[name]
    if entry is None or entry["kind"] == "kept":
        code = "F32" if info.dtype in _FLOAT_CODES else info.dtype
        return TensorInfo(name, code, info.shape)
    return TensorInfo(name, "F32", tuple(entry["shape"]))
