""".gguf files (llama.cpp): a safetensors checkpoint's float tensors
quantized to one GGUF block type and written with gguf-py's own writer."""

from __future__ import annotations

import fnmatch
import os
import time
from typing import Any, Optional

import numpy as np

from .._gguf import GGUF_TYPES, block_size, quantize_gguf
from .stats import ErrorStats
from .stfile import TensorFileError, TensorReader, as_float

__all__ = ["quantize_file_gguf"]



def _gguf_module() -> Any:
    try:
        import gguf
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "writing .gguf files needs the gguf package: pip install 'qformat[gguf]'"
        ) from e
    return gguf


def _tensor_fate(info: Any, skip: Any, keep_1d: bool, block: int) -> Optional[str]:
    """Why a tensor is stored as it is rather than quantized (None: quantize)."""
    if info.dtype not in ("F64", "F32", "F16", "BF16"):
        return "not float"
    if any(fnmatch.fnmatchcase(info.name, p) for p in skip):
        return "skipped"
    if keep_1d and len(info.shape) <= 1:
        return "1-D kept"
    if not info.shape or info.shape[-1] % block:
        return f"last axis not a multiple of {block}"
    return None


_KEPT_DTYPES = {"F32": np.float32, "F16": np.float16, "I8": np.int8, "I16": np.int16,
                "I32": np.int32, "I64": np.int64, "F64": np.float64}


def quantize_file_gguf(src: str, dst: str, to: str, *, skip: Any = (), keep_1d: bool = True,
                       force: bool = False, progress: Any = None) -> dict:
    """Write ``src``'s tensors to the GGUF file ``dst`` with gguf's own
    writer: float tensors quantized to the block type ``to`` (tensors that
    cannot be, as float32), the rest unchanged. The file is written beside
    ``dst`` and renamed at the end. Returns the report of ``quantize_file``."""
    gguf = _gguf_module()
    if os.path.exists(dst) and not force:
        raise TensorFileError(f"{dst} exists; pass force=True (--force) to replace it")
    t0 = time.perf_counter()
    skip = [skip] if isinstance(skip, str) else list(skip)
    tmp = f"{dst}.tmp-{os.getpid()}"
    rows, overall = [], ErrorStats()
    with TensorReader(src) as reader:
        writer = gguf.GGUFWriter(tmp, "qformat", use_temp_file=True)
        try:
            total = sum(info.nbytes for info in reader.tensors.values())
            done = 0
            for info in reader.tensors.values():
                row, stats = _add_tensor(gguf, writer, reader, info, to, skip, keep_1d)
                rows.append(row)
                if stats is not None:
                    overall.merge(stats)
                done += info.nbytes
                if progress is not None:
                    progress(info.name, done, total)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
            writer.close()
            os.replace(tmp, dst)
        except BaseException:
            writer.close()
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    totals = {"tensors": len(rows), "converted": sum("note" not in r for r in rows),
              "bytes_before": sum(r["bytes_before"] for r in rows),
              "bytes_after": sum(r["bytes_after"] for r in rows), **overall.to_dict(),
              "seconds": time.perf_counter() - t0}
    return {"input": src, "output": dst, "target": {"recipe": to, "container": "gguf"},
            "tensors": rows, "totals": totals}


def _add_tensor(gguf: Any, writer: Any, reader: Any, info: Any, to: str, skip: Any,
                keep_1d: bool) -> tuple:
    """Quantize (or keep) one tensor into the writer: (report row, stats or None)."""
    raw = reader.read(info.name)
    row: dict = {"name": info.name, "shape": list(info.shape), "dtype": info.dtype,
                 "bytes_before": info.nbytes}
    reason = _tensor_fate(info, skip, keep_1d, block_size(to))
    if reason is not None:
        if info.dtype == "BF16":  # GGUF readers widen it anyway; float32 holds it exactly
            data = as_float(raw, info.dtype)
        elif info.dtype in _KEPT_DTYPES:
            data = np.asarray(raw).view(_KEPT_DTYPES[info.dtype])
        else:
            raise TensorFileError(f"{info.name}: GGUF has no type for {info.dtype} tensors")
        data = np.ascontiguousarray(data.reshape(info.shape))
        writer.add_tensor(info.name, data)
        row.update(format=str(data.dtype), note=reason, bytes_after=int(data.nbytes))
        return row, None
    x = as_float(raw, info.dtype).reshape(info.shape)
    q = quantize_gguf(x, to)
    writer.add_tensor(info.name, q.blocks,
                      raw_dtype=getattr(gguf.GGMLQuantizationType, GGUF_TYPES[to][1]))
    stats = ErrorStats()
    stats.add(np.asarray(x, dtype=np.float32), q.dequantize())
    row.update(format=to, bytes_after=q.nbytes, **stats.to_dict())
    return row, stats
