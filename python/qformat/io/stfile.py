"""Tensor files read and written one tensor (or one run of rows) at a time.

Safetensors is read through its header and positioned reads (or views of
the read-only memory-mapped file, whose pages are dropped from the process
once a run of rows is converted), and written
by streaming: the header is computed up front from shapes and dtypes, then
each tensor's bytes go to their place. ``safetensors.save_file`` would need
every tensor in memory at once; this keeps peak memory near one chunk.
The format: 8-byte little-endian header length, a JSON header
``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}``
padded with spaces to a multiple of 8, then the raw little-endian bytes.
``.npz`` (a zip of ``.npy``) and ``.npy`` are supported the same way, less
the positioned reads for ``.npz`` members.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import sys
import tokenize
import zipfile
import zlib
from typing import Any, BinaryIO, Iterator, Optional

import numpy as np

from .._convert import decode

# safetensors dtype code -> (NumPy dtype of the stored words, source float format or None).
# Floats NumPy lacks (bf16, fp8) are read as unsigned words and decoded exactly by qformat,
# so ml_dtypes is not needed.
ST_DTYPES: dict = {
    "F64": (np.float64, None), "F32": (np.float32, None), "F16": (np.float16, None),
    "BF16": (np.uint16, "bf16"), "F8_E4M3": (np.uint8, "fp8_e4m3fn"),
    "F8_E5M2": (np.uint8, "fp8_e5m2"), "F8_E8M0": (np.uint8, "fp8_e8m0fnu"),
    "I64": (np.int64, None), "I32": (np.int32, None), "I16": (np.int16, None),
    "I8": (np.int8, None), "U64": (np.uint64, None), "U32": (np.uint32, None),
    "U16": (np.uint16, None), "U8": (np.uint8, None), "BOOL": (np.bool_, None),
}
_NP_TO_ST = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
             "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32",
             "uint16": "U16", "uint8": "U8", "bool": "BOOL"}
# qformat float formats that have a safetensors (and torch) dtype of their own.
FORMAT_TO_ST = {"fp64": "F64", "fp32": "F32", "fp16": "F16", "bf16": "BF16",
                "fp8_e4m3fn": "F8_E4M3", "fp8_e5m2": "F8_E5M2", "fp8_e8m0fnu": "F8_E8M0"}
_MAX_HEADER = 100 * 1024 * 1024


class TensorFileError(ValueError):
    """A tensor file that cannot be read or written as asked."""


def st_dtype_of(dtype: np.dtype) -> str:
    """The safetensors code of a NumPy dtype."""
    code = _NP_TO_ST.get(np.dtype(dtype).name)
    if code is None:
        raise TensorFileError(f"dtype {dtype} has no safetensors code")
    return code


def itemsize(code: str) -> int:
    """Bytes per element of a safetensors dtype code."""
    return np.dtype(ST_DTYPES[code][0]).itemsize


class TensorInfo:
    """Name, safetensors dtype code and shape of one stored tensor."""

    def __init__(self, name: str, dtype: str, shape: tuple, begin: int = 0) -> None:
        self.name, self.dtype, self.shape, self.begin = name, dtype, tuple(shape), begin

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * itemsize(self.dtype)

    @property
    def row_bytes(self) -> int:
        """Bytes of one index along axis 0 (the whole tensor for 0-d)."""
        return self.nbytes // self.shape[0] if self.shape and self.shape[0] else self.nbytes


# ---------------------------------------------------------------------------
# Reading


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise TensorFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise TensorFileError(f"{path}: is a directory, not a tensor file")
    if not os.access(path, os.R_OK):
        raise TensorFileError(f"{path}: not readable")


def _no_duplicates(pairs: list) -> dict:
    """``json`` object hook: a name given twice would silently drop a tensor."""
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise TensorFileError(f"the name {k!r} appears twice in the header")
        out[k] = v
    return out


def _read_header_json(path: str, text: bytes) -> dict:
    """The header as a dict, every malformation a :class:`TensorFileError`."""
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TensorFileError(f"{path}: not a safetensors file (its header is not JSON)") from None
    except RecursionError:
        raise TensorFileError(f"{path}: not a safetensors file (its header nests too "
                              "deeply)") from None
    except TensorFileError as e:
        raise TensorFileError(f"{path}: not a valid safetensors file ({e})") from None
    if not isinstance(header, dict):
        raise TensorFileError(f"{path}: not a safetensors file (its header is not a JSON object)")
    return header


def _metadata(path: str, meta: Any) -> dict:
    if meta is None:
        return {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise TensorFileError(f"{path}: its __metadata__ must map strings to strings")
    return dict(meta)


def _entry(path: str, name: str, d: Any, data_start: int) -> TensorInfo:
    """One header entry, checked for types, dtype and size."""
    try:
        code, dims, offsets = d["dtype"], d["shape"], d["data_offsets"]
        ok = (isinstance(code, str) and isinstance(dims, list) and isinstance(offsets, list)
              and len(offsets) == 2
              and all(type(v) is int and v >= 0 for v in [*dims, *offsets]))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise TensorFileError(f"{path}: malformed header entry for tensor {name!r}")
    if code not in ST_DTYPES:
        raise TensorFileError(
            f"{path}: tensor {name!r} has dtype {code}, which qformat does not read "
            f"(supported: {', '.join(ST_DTYPES)})")
    b, e = offsets
    info = TensorInfo(name, code, tuple(dims), data_start + b)
    if not b <= e or e - b != info.nbytes:
        raise TensorFileError(f"{path}: tensor {name!r} has offsets [{b}, {e}] that do not "
                              f"match its shape {dims} and dtype {code}")
    return info


def _check_tiling(path: str, order: list, data_start: int, data_len: int) -> None:
    """Tensors must tile the data exactly, as the safetensors library demands:
    no overlap (two names for the same bytes), no gap, nothing past the end."""
    pos = 0
    for t in order:
        if t.begin - data_start != pos:
            what = "overlaps the one before it" if t.begin - data_start < pos else (
                "leaves a gap before it")
            raise TensorFileError(f"{path}: tensor {t.name!r} {what} (offset "
                                  f"{t.begin - data_start}, expected {pos})")
        pos += t.nbytes
    if pos != data_len:
        raise TensorFileError(f"{path}: the header describes {pos} bytes of data but the file "
                              f"holds {data_len}")


def _parse_st_header(path: str, f: BinaryIO) -> tuple:
    """(tensors by name in file order, metadata) after checking every offset."""
    size = os.fstat(f.fileno()).st_size
    head = f.read(8)
    if len(head) < 8:
        raise TensorFileError(f"{path}: not a safetensors file (shorter than its 8-byte header)")
    (n,) = struct.unpack("<Q", head)
    if n > _MAX_HEADER or 8 + n > size:
        raise TensorFileError(f"{path}: not a safetensors file (header length {n} is impossible)")
    header = _read_header_json(path, f.read(n))
    meta = _metadata(path, header.pop("__metadata__", None))
    data_start, data_len = 8 + n, size - 8 - n
    order = sorted((_entry(path, name, d, data_start) for name, d in header.items()),
                   key=lambda t: (t.begin, t.nbytes))
    _check_tiling(path, order, data_start, data_len)
    return {t.name: t for t in order}, meta


class TensorReader:
    """Read-only access to the tensors of a .safetensors, .npz or .npy file.

    ``read(name, start, stop)`` returns rows ``start:stop`` along axis 0 as a
    fresh array in the stored words (bf16/fp8 as unsigned words; see
    ``ST_DTYPES``), so only that slice is ever in memory. ``view`` returns
    the same rows without a copy where the file allows (a read-only window
    into the memory-mapped safetensors file), for callers that only read
    them before the reader closes.
    """

    def __init__(self, path: str) -> None:
        path = os.fspath(path)
        _check_readable(path)
        self.path = path
        self.kind = _kind(path)
        self._file: Any = None
        self._map: Optional[mmap.mmap] = None
        self._npz: Any = None
        self._npy: Optional[np.ndarray] = None
        self.metadata: dict = {}
        try:
            getattr(self, f"_open_{self.kind}")()
        except TensorFileError:
            self.close()
            raise
        except _BROKEN as e:
            self.close()
            raise TensorFileError(f"{path}: cannot read it as a {self.kind} file "
                                  f"({first_line(e)})") from None

    def _open_safetensors(self) -> None:
        self._file = open(self.path, "rb")
        self.tensors, self.metadata = _parse_st_header(self.path, self._file)

    def _open_npz(self) -> None:
        self._npz = np.load(self.path, allow_pickle=False)
        if not isinstance(self._npz, np.lib.npyio.NpzFile):
            raise TensorFileError(f"{self.path}: not a .npz archive")
        self.tensors = {}
        for name in self._npz.files:
            if name == "__qformat__":
                self.metadata = _metadata(self.path, json.loads(bytes(self._npz[name]).decode()))
                continue
            self.tensors[name] = self._npz_info(name)

    def _npz_info(self, name: str) -> TensorInfo:
        with self._npz.zip.open(f"{name}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(fh)
        return TensorInfo(name, _array_code(self.path, name, np.dtype(dtype)), shape)

    def _open_npy(self) -> None:
        try:
            self._npy = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            raise TensorFileError(f"{self.path}: not a .npy array file ({e})") from None
        name = os.path.splitext(os.path.basename(self.path))[0]
        self.tensors = {name: TensorInfo(name, _array_code(self.path, name, self._npy.dtype),
                                         self._npy.shape)}

    def view(self, name: str, start: int = 0, stop: Optional[int] = None) -> np.ndarray:
        """Rows ``start:stop`` of tensor ``name`` like :meth:`read`, but as a
        read-only view of the memory-mapped file where one can be taken (a
        safetensors file on a little-endian machine, the rows aligned to
        their word size); a copy otherwise. The view is valid until
        :meth:`close`: the caller must not keep it."""
        info = self.tensors[name]
        mapped = self._mapping()
        word = np.dtype(ST_DTYPES[info.dtype][0])
        if not info.shape:
            start, stop = 0, 1
        stop = (info.shape[0] if info.shape else 1) if stop is None else stop
        offset = info.begin + start * info.row_bytes
        count = (stop - start) * (info.row_bytes // word.itemsize if info.shape else 1)
        if (mapped is None or count == 0 or offset % word.itemsize
                or offset + count * word.itemsize > len(mapped)):
            return self.read(name, start, stop)
        flat = np.frombuffer(mapped, dtype=word, count=count, offset=offset)
        return flat.reshape((stop - start,) + info.shape[1:] if info.shape else ())

    def release(self, name: str, start: int = 0, stop: Optional[int] = None) -> None:
        """Drop the mapped pages of rows ``start:stop`` of ``name`` from this
        process (they stay in the page cache), once no view of them is in
        use: a file read through the map then never holds more than a run
        of rows in resident memory."""
        info = self.tensors[name]
        if self._map is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        stop = (info.shape[0] if info.shape else 1) if stop is None else stop
        page = mmap.PAGESIZE
        lo = -(-(info.begin + start * info.row_bytes) // page) * page  # whole pages only
        hi = (info.begin + stop * info.row_bytes) // page * page
        if hi > lo:
            self._map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def _mapping(self) -> Optional[mmap.mmap]:
        """The whole safetensors file mapped read-only (None for other kinds,
        big-endian machines, or a file that cannot be mapped)."""
        if self._map is None and self._file is not None and sys.byteorder == "little":
            try:
                self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                return None
        return self._map

    def read(self, name: str, start: int = 0, stop: Optional[int] = None) -> np.ndarray:
        """Rows ``start:stop`` of tensor ``name`` (all of a 0-d tensor)."""
        try:
            return self._read(name, start, stop)
        except TensorFileError:
            raise
        except _BROKEN as e:
            raise TensorFileError(f"{self.path}: cannot read tensor {name!r} "
                                  f"({first_line(e)})") from None

    def _read(self, name: str, start: int, stop: Optional[int]) -> np.ndarray:
        info = self.tensors[name]
        if not info.shape:
            start, stop = 0, 1
        stop = (info.shape[0] if info.shape else 1) if stop is None else stop
        word = np.dtype(ST_DTYPES[info.dtype][0]).newbyteorder("<")
        if self._file is not None:
            out = np.empty((stop - start,) + info.shape[1:], dtype=word)
            self._file.seek(info.begin + start * info.row_bytes)
            got = self._file.readinto(out.reshape(-1).view(np.uint8).data)
            if got != out.nbytes:
                raise TensorFileError(f"{self.path}: truncated data for tensor {name!r}")
            out = out.astype(word.newbyteorder("="), copy=False)
            return out if info.shape else out.reshape(())
        arr = self._npy if self._npy is not None else self._npz[name]
        if arr.shape != info.shape:
            raise TensorFileError(f"{self.path}: array {name!r} changed shape while read")
        part = np.asarray(arr[start:stop] if info.shape else arr)
        return np.array(part, dtype=np.dtype(ST_DTYPES[info.dtype][0]), copy=True)

    def close(self) -> None:
        """Release the file handles (a mapping that a caller's view still
        uses is released when that view is)."""
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass
        for h in (self._file, self._npz):
            if h is not None:
                h.close()
        self._file = self._npz = self._npy = self._map = None

    def __enter__(self) -> TensorReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# What a damaged file can raise from NumPy, zipfile and zlib while being read.
# (NumPy parses .npy headers with ``tokenize`` and ``ast``, hence TokenError,
# SyntaxError and TypeError for damaged ones; zipfile raises RuntimeError for
# encrypted members.)
_BROKEN = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError,
           SyntaxError, tokenize.TokenError, zipfile.BadZipFile, zlib.error, RecursionError,
           MemoryError, OverflowError, NotImplementedError, RuntimeError)


def first_line(e: BaseException) -> str:
    """An exception's message as one line (its type name when empty)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".safetensors", ".npz", ".npy"):
        return ext[1:]
    raise TensorFileError(f"{path}: unknown file type {ext or '(none)'!r}; "
                          "use .safetensors, .npz or .npy")


def _array_code(path: str, name: str, dtype: np.dtype) -> str:
    if dtype.kind == "V" or dtype.name not in _NP_TO_ST:
        raise TensorFileError(f"{path}: array {name!r} has dtype {dtype}, which qformat does not "
                              "read (floats, integers and bools only)")
    return _NP_TO_ST[dtype.name]


# ---------------------------------------------------------------------------
# Writing


class TensorWriter:
    """Writes a tensor file whose layout (names, dtypes, shapes) is known up
    front, tensor by tensor or piece by piece, into a temporary file in the
    destination directory that becomes ``path`` only on :meth:`commit`.

    ``write(name, array)`` appends the next piece of tensor ``name`` in C
    order; each tensor must be written completely, in layout order.
    """

    def __init__(self, path: str, layout: list, metadata: dict, *, force: bool = False) -> None:
        self.path = os.fspath(path)
        self.kind = _kind(self.path)
        if self.kind == "npy":
            raise TensorFileError(f"{self.path}: a .npy file holds one array without format "
                                  "metadata; write .safetensors or .npz")
        if os.path.exists(self.path) and not force:
            raise TensorFileError(f"{self.path}: already exists (pass --force / force=True to "
                                  "overwrite it)")
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise TensorFileError(f"{self.path}: directory {folder} does not exist")
        self.layout = {t.name: t for t in layout}
        self.tmp = os.path.join(folder, f".{os.path.basename(self.path)}.qformat-tmp-{os.getpid()}")
        try:
            self._f = open(self.tmp, "wb")
        except OSError as e:
            raise TensorFileError(f"{self.path}: cannot write there ({e.strerror})") from None
        self._remaining: dict = {}
        self._zip: Optional[zipfile.ZipFile] = None
        self._member: Any = None
        self._current: Optional[str] = None
        try:
            self._start(layout, metadata)
        except BaseException:
            self.abort()
            raise

    def _start(self, layout: list, metadata: dict) -> None:
        if self.kind == "safetensors":
            self._f.write(st_header(layout, metadata))
        else:
            self._zip = zipfile.ZipFile(self._f, "w", zipfile.ZIP_STORED, allowZip64=True)
            blob = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
            with self._zip.open("__qformat__.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, blob, allow_pickle=False)

    def write(self, name: str, piece: np.ndarray) -> None:
        """Append the next C-order piece of tensor ``name``."""
        info = self.layout[name]
        if name != self._current:
            self._finish_member()
            self._current = name
            self._remaining[name] = info.nbytes
            if self._zip is not None:
                self._member = self._zip.open(f"{name}.npy", "w", force_zip64=True)
                dt = np.dtype(ST_DTYPES[info.dtype][0])
                np.lib.format.write_array_header_2_0(
                    self._member, {"descr": np.lib.format.dtype_to_descr(dt),
                                   "fortran_order": False, "shape": info.shape})
        data = np.ascontiguousarray(piece)
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        self._remaining[name] -= data.nbytes
        if self._remaining[name] < 0:
            raise TensorFileError(f"internal: too many bytes written for tensor {name!r}")
        (self._member or self._f).write(data.reshape(-1).view(np.uint8).data)

    def _finish_member(self) -> None:
        if self._current is not None and self._remaining.get(self._current):
            raise TensorFileError(f"internal: tensor {self._current!r} was not written completely")
        if self._member is not None:
            self._member.close()
            self._member = None

    def commit(self) -> None:
        """Check every tensor was written, flush, and rename into place."""
        self._finish_member()
        missing = [n for n in self.layout if n not in self._remaining]
        if missing:
            raise TensorFileError(f"internal: tensors never written: {missing[:3]}")
        if self._zip is not None:
            self._zip.close()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the temporary file (nothing half-written is left behind)."""
        for h in (self._member, self._zip):
            try:
                if h is not None:
                    h.close()
            except Exception:  # noqa: BLE001 - cleanup must not mask the original error
                pass
        self._f.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


def st_header(layout: list, metadata: dict) -> bytes:
    """The 8-byte length plus JSON header for tensors stored in ``layout`` order."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    pos = 0
    for t in layout:
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape),
                          "data_offsets": [pos, pos + t.nbytes]}
        pos += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def row_chunks(n_rows: int, row_bytes: int, target: int, multiple: int = 1) -> Iterator[tuple]:
    """``(start, stop)`` runs of rows of about ``target`` bytes, each a
    multiple of ``multiple`` rows except possibly the last."""
    if n_rows <= 1:
        yield 0, n_rows
        return
    rows = max(multiple, (max(1, target // max(row_bytes, 1)) // multiple) * multiple)
    for start in range(0, n_rows, rows):
        yield start, min(start + rows, n_rows)


def as_float(raw: np.ndarray, code: str) -> np.ndarray:
    """Stored words of a float tensor as a NumPy float array, exactly."""
    src = ST_DTYPES[code][1]
    return decode(raw, src, dtype=np.float32) if src is not None else raw
